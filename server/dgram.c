#include "dgram.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "sockperf.h"
#include "udp.h"

/* Datagrams per recvmmsg, and batches per wakeup so that TCP gets its turn. */
#define DGRAM_BATCH  16
#define DGRAM_ROUNDS 4
/* Larger than any UDP payload over IPv4 or IPv6 without jumbograms. */
#define DGRAM_MAX_LEN 65536

static uint8_t dgram_bufs[DGRAM_BATCH][DGRAM_MAX_LEN];

/* Answer a datagram on the main port in place; returns the reply's length, 0 for none. */
static size_t dgram_answer_shout(struct server *server, uint8_t *dgram, size_t len)
{
    struct udp_answer answer = udp_answer(dgram, len, server->limits.max_payload, dgram);
    if (answer.verdict == UDP_DROP_EMPTY) {
        server->stats.udp_dropped_empty++;
        return 0;
    }
    if (answer.verdict == UDP_DROP_TOO_SHORT) {
        server->stats.udp_dropped_short++;
        return 0;
    }
    if (answer.verdict == UDP_REPLY_ERROR)
        server->counters.errors[answer.error]++;
    return answer.reply_len;
}

/* Answer a datagram on the sockperf port in place; returns the reply's length, 0 for none. */
static size_t dgram_answer_sockperf(struct server *server, uint8_t *dgram, size_t len)
{
    switch (sockperf_answer_datagram(dgram, len, server->limits.max_payload, dgram)) {
    case SOCKPERF_REPLY:
        server->counters.sockperf_messages++;
        server->counters.sockperf_replies++;
        return len;
    case SOCKPERF_NO_REPLY:
        server->counters.sockperf_messages++;
        return 0;
    case SOCKPERF_BAD_LENGTH:
        server->counters.sockperf_bad_length++;
        return 0;
    }
    return 0;
}

/* Answer one batch; returns how many datagrams were read (0 when drained). */
static int dgram_answer_batch(struct server *server, int fd, bool sockperf)
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
        server->stats.udp_datagrams++;
        server->stats.udp_bytes_in += msgs[i].msg_len;
        size_t reply_len = sockperf ? dgram_answer_sockperf(server, dgram_bufs[i], msgs[i].msg_len)
                                    : dgram_answer_shout(server, dgram_bufs[i], msgs[i].msg_len);
        if (reply_len == 0)
            continue;
        iovs[i].iov_len = reply_len;
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
            sent_total++;
            continue;
        }
        for (int j = sent_total; j < sent_total + sent; j++)
            server->stats.udp_bytes_out += replies[j].msg_len;
        sent_total += sent;
    }
    server->stats.udp_send_failed += (uint64_t)failed;
    server->stats.udp_replies += (uint64_t)(reply_count - failed);
    return got;
}

static void dgram_drain(struct server *server, int fd, bool sockperf)
{
    for (int round = 0; round < DGRAM_ROUNDS; round++) {
        if (dgram_answer_batch(server, fd, sockperf) < DGRAM_BATCH)
            return;
    }
}

void dgram_on_ready(struct loop_source *socket_source, uint32_t events)
{
    (void)events;
    dgram_drain(socket_source->owner, socket_source->fd, false);
}

void dgram_on_sockperf_ready(struct loop_source *socket_source, uint32_t events)
{
    (void)events;
    dgram_drain(socket_source->owner, socket_source->fd, true);
}
