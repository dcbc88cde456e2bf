#include "dgram.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sockperf.h"
#include "source.h"
#include "udp.h"

/*
 * Datagrams per recvmmsg (the client's sendmmsg batch too), and batches per
 * wakeup. A socket is read until it is empty or DGRAM_ROUNDS batches were
 * read: draining it saves an epoll_wait per batch while the datagrams keep
 * coming, and the bound (1024 datagrams, about a millisecond of work here)
 * is how long one flooded socket may keep the TCP connections and the other
 * sockets waiting before the loop gives them their turn.
 */
#define DGRAM_BATCH  64
#define DGRAM_ROUNDS 16
/* Larger than any UDP payload over IPv4 or IPv6 without jumbograms. */
#define DGRAM_MAX_LEN 65536

static uint8_t dgram_bufs[DGRAM_BATCH][DGRAM_MAX_LEN];

/*
 * Ports below 1024 are services (DNS, NTP, chargen...) that a spoofed source
 * would aim our reply at; port 0 cannot be sent from; our own port would
 * start an echo loop between two shoutds. None of these is a real client.
 */
static bool dgram_source_port_ok(const struct sockaddr_storage *peer, uint16_t own_port)
{
    uint16_t port;
    if (peer->ss_family == AF_INET)
        port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    else if (peer->ss_family == AF_INET6)
        port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
    else
        return false;
    return port >= 1024 && port != own_port;
}

static uint64_t dgram_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* The budgets are sized once, on the first datagram, from the options. */
static void dgram_rate_init(struct server *server, uint64_t now_ns)
{
    struct server_udp_rate *rate = &server->udp_rate;
    const struct options *opts = &server->opts;
    /* options.c keeps the rates and burst within ratelimit's caps, so this cannot fail. */
    ratelimit_init(&rate->per_ip, rate->slots, SERVER_UDP_RATE_SLOTS, opts->udp_rate_per_ip,
                   opts->udp_rate_burst, &server->source_secret);
    ratelimit_bucket_init(&rate->global, opts->udp_rate, now_ns);
    rate->ready = true;
}

/*
 * Whether a reply to peer fits both budgets, counting the drop if not. The
 * source's own budget is asked first, so that a flooding source does not
 * spend the tokens every other source shares.
 */
static bool dgram_rate_allows(struct server *server, const struct sockaddr_storage *peer,
                              uint64_t now_ns)
{
    struct server_udp_rate *rate = &server->udp_rate;
    /*
     * Loopback is exempt from both budgets unless --udp-rate-loopback: a
     * spoofed 127/8 or ::1 source cannot arrive from outside, and loopback
     * is where shout load and the benchmarks run at hundreds of thousands
     * of replies a second.
     */
    if (!server->opts.udp_rate_loopback && source_is_loopback(peer))
        return true;
    struct source_key key;
    source_key_of(peer, server->opts.ipv6_prefix, &key);
    if (!ratelimit_allow(&rate->per_ip, &key, now_ns)) {
        server->stats.udp_dropped_rate++;
        return false;
    }
    if (!ratelimit_bucket_take(&rate->global, server->opts.udp_rate, server->opts.udp_rate,
                               now_ns)) {
        server->stats.udp_dropped_global_rate++;
        return false;
    }
    return true;
}

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
    if (answer.verdict == UDP_REPLY_ERROR) {
        server->stats.udp_error_replies++;
        server->counters.errors[answer.error]++;
    }
    return answer.reply_len;
}

/* Answer a datagram on the sockperf port in place; returns the reply's length, 0 for none. */
static size_t dgram_answer_sockperf(struct server *server, uint8_t *dgram, size_t len)
{
    switch (sockperf_answer_datagram(dgram, len, server->limits.max_payload, dgram)) {
    case SOCKPERF_REPLY:
        /* sockperf_replies is counted once the rate limits let the reply go. */
        server->counters.sockperf_messages++;
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

    uint64_t now_ns = dgram_now_ns();
    if (!server->udp_rate.ready)
        dgram_rate_init(server, now_ns);
    uint16_t own_port = sockperf ? server->sockperf_listeners.port : server->listeners.port;
    struct mmsghdr replies[DGRAM_BATCH];
    int reply_count = 0;
    for (int i = 0; i < got; i++) {
        server->stats.udp_datagrams++;
        server->stats.udp_bytes_in += msgs[i].msg_len;
        /* An empty datagram is counted as empty whatever its source. */
        if (msgs[i].msg_len > 0 && !dgram_source_port_ok(&peers[i], own_port)) {
            server->stats.udp_dropped_source_port++;
            continue;
        }
        size_t reply_len = sockperf ? dgram_answer_sockperf(server, dgram_bufs[i], msgs[i].msg_len)
                                    : dgram_answer_shout(server, dgram_bufs[i], msgs[i].msg_len);
        if (reply_len == 0 || !dgram_rate_allows(server, &peers[i], now_ns))
            continue;
        if (sockperf)
            server->counters.sockperf_replies++;
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
