#include "dgram.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "udp.h"

/* Datagrams per recvmmsg, and batches per wakeup so that TCP gets its turn. */
#define DGRAM_BATCH  16
#define DGRAM_ROUNDS 4
/* Larger than any UDP payload over IPv4 or IPv6 without jumbograms. */
#define DGRAM_MAX_LEN 65536

static uint8_t dgram_bufs[DGRAM_BATCH][DGRAM_MAX_LEN];

/* Answer one batch; returns how many datagrams were read (0 when drained). */
static int dgram_answer_batch(struct server *server, int fd)
{
    struct sockaddr_storage peers[DGRAM_BATCH];
    struct iovec iovs[DGRAM_BATCH];
    struct mmsghdr msgs[DGRAM_BATCH];
    for (int i = 0; i < DGRAM_BATCH; i++) {
        iovs[i] = (struct iovec){.iov_base = dgram_bufs[i], .iov_len = DGRAM_MAX_LEN};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &peers[i],
                                               .msg_namelen = sizeof peers[i],
                                               .msg_iov = &iovs[i],
                                               .msg_iovlen = 1}};
    }
    int got = recvmmsg(fd, msgs, DGRAM_BATCH, MSG_DONTWAIT, NULL);
    if (got <= 0)
        return 0;

    struct mmsghdr replies[DGRAM_BATCH];
    int reply_count = 0;
    for (int i = 0; i < got; i++) {
        struct udp_answer answer =
            udp_answer(dgram_bufs[i], msgs[i].msg_len, server->limits.max_payload, dgram_bufs[i]);
        server->stats.udp_datagrams++;
        if (answer.verdict == UDP_DROP_EMPTY) {
            server->stats.udp_dropped_empty++;
            continue;
        }
        if (answer.verdict == UDP_DROP_TOO_SHORT) {
            server->stats.udp_dropped_short++;
            continue;
        }
        if (answer.verdict == UDP_REPLY_ERROR)
            server->counters.errors[answer.error]++;
        iovs[i].iov_len = answer.reply_len;
        replies[reply_count++] = (struct mmsghdr){.msg_hdr = msgs[i].msg_hdr};
        replies[reply_count - 1].msg_hdr.msg_flags = 0;
    }

    int sent_total = 0;
    int failed = 0;
    while (sent_total < reply_count) {
        int sent =
            sendmmsg(fd, replies + sent_total, (unsigned)(reply_count - sent_total), MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            /* A full socket buffer or an unreachable peer: UDP is allowed to lose it. */
            failed++;
            sent = 1;
        }
        sent_total += sent;
    }
    server->stats.udp_send_failed += (uint64_t)failed;
    server->stats.udp_replies += (uint64_t)(reply_count - failed);
    return got;
}

void dgram_on_ready(struct loop_source *socket_source, uint32_t events)
{
    (void)events;
    struct server *server = socket_source->owner;
    for (int round = 0; round < DGRAM_ROUNDS; round++) {
        if (dgram_answer_batch(server, socket_source->fd) < DGRAM_BATCH)
            return;
    }
}
