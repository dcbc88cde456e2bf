#include "dgram.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "gso.h"
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

/*
 * Replies go out with UDP generic segmentation offload where they can: a
 * run of replies to one peer, all of one length, is one message whose
 * payload the kernel cuts into datagrams of that length at the end of the
 * stack, so the run costs about one datagram's way through it. The peer
 * receives them as separate datagrams, as before. The limits are the
 * kernel's (lib/gso.h), and a length that fits any path's MTU (IPv6's
 * minimum of 1280 less the headers): a larger segment than the route's MTU
 * is refused, and would be refused for every reply of the run.
 */
#define DGRAM_GSO_MAX_SEGMENT 1200

/* One message to send: replies[first .. first + count), count > 1 segmented. */
struct dgram_run {
    int first;
    int count;
    size_t bytes;
};

static bool dgram_same_peer(const struct msghdr *a, const struct msghdr *b)
{
    return a->msg_namelen == b->msg_namelen &&
           memcmp(a->msg_name, b->msg_name, a->msg_namelen) == 0;
}

/* Split replies[0..count) into runs that one segmented send can carry; returns how many. */
static int dgram_plan_runs(const struct mmsghdr *replies, int count, struct dgram_run *runs)
{
    int n = 0;
    for (int i = 0; i < count; i++) {
        const struct msghdr *h = &replies[i].msg_hdr;
        size_t len = h->msg_iov[0].iov_len;
        struct dgram_run *run = n > 0 ? &runs[n - 1] : NULL;
        const struct msghdr *head = run ? &replies[run->first].msg_hdr : NULL;
        bool joins = run != NULL && len <= DGRAM_GSO_MAX_SEGMENT &&
                     head->msg_iov[0].iov_len == len && run->count < GSO_MAX_SEGMENTS &&
                     run->bytes + len <= GSO_MAX_BYTES && dgram_same_peer(head, h);
        if (joins) {
            run->count++;
            run->bytes += len;
        } else {
            runs[n++] = (struct dgram_run){.first = i, .count = 1, .bytes = len};
        }
    }
    return n;
}

/* One reply's send, as the counters see it: sent (n bytes) or lost (n < 0). */
static void dgram_count_reply(struct server *server, ssize_t n)
{
    if (n < 0) {
        server->stats.udp_send_failed++;
        return;
    }
    server->stats.udp_replies++;
    server->stats.udp_bytes_out += (uint64_t)n;
}

/* Each reply of a run in a message of its own: where the kernel would not segment it. */
static void dgram_send_singly(struct server *server, int fd, const struct mmsghdr *replies,
                              const struct dgram_run *run)
{
    for (int i = run->first; i < run->first + run->count; i++) {
        struct msghdr one = replies[i].msg_hdr;
        one.msg_control = NULL;
        one.msg_controllen = 0;
        ssize_t n;
        do
            n = sendmsg(fd, &one, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        dgram_count_reply(server, n);
    }
}

/*
 * Send every reply, in runs (dgram_plan_runs), with one sendmmsg while the
 * socket takes them. A run the kernel refuses to segment goes out reply by
 * reply; one that fails for any other reason (a full socket buffer, an
 * unreachable peer) is lost, as UDP may, and counted.
 */
static void dgram_send_replies(struct server *server, int fd, struct mmsghdr *replies, int count)
{
    struct dgram_run runs[DGRAM_BATCH];
    struct mmsghdr out[DGRAM_BATCH];
    struct iovec gathered[DGRAM_BATCH];
    union gso_control controls[DGRAM_BATCH];
    int n_runs = dgram_plan_runs(replies, count, runs);
    for (int r = 0; r < n_runs; r++) {
        const struct dgram_run *run = &runs[r];
        for (int i = 0; i < run->count; i++)
            gathered[run->first + i] = replies[run->first + i].msg_hdr.msg_iov[0];
        out[r] = (struct mmsghdr){.msg_hdr = replies[run->first].msg_hdr};
        out[r].msg_hdr.msg_iov = &gathered[run->first];
        out[r].msg_hdr.msg_iovlen = (size_t)run->count;
        if (run->count > 1)
            gso_attach(&out[r].msg_hdr, &controls[r],
                       (uint16_t)replies[run->first].msg_hdr.msg_iov[0].iov_len);
    }
    int done = 0;
    while (done < n_runs) {
        int sent = sendmmsg(fd, out + done, (unsigned)(n_runs - done), MSG_DONTWAIT);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0) {
            const struct dgram_run *run = &runs[done];
            if (run->count > 1 && (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP))
                dgram_send_singly(server, fd, replies, run);
            else
                server->stats.udp_send_failed += (uint64_t)run->count;
            done++;
            continue;
        }
        for (int r = done; r < done + sent; r++) {
            server->stats.udp_replies += (uint64_t)runs[r].count;
            server->stats.udp_bytes_out += out[r].msg_len;
        }
        done += sent;
    }
}

/*
 * Decide one datagram, read from peer, in place: its reply's length once
 * every check and budget lets it go, 0 for none (each drop counted).
 */
static size_t dgram_decide(struct server *server, bool sockperf, uint8_t *dgram, size_t len,
                           const struct sockaddr_storage *peer, uint64_t now_ns)
{
    server->stats.udp_datagrams++;
    server->stats.udp_bytes_in += len;
    uint16_t own_port = sockperf ? server->sockperf_listeners.port : server->listeners.port;
    /* An empty datagram is counted as empty whatever its source. */
    if (len > 0 && !dgram_source_port_ok(peer, own_port)) {
        server->stats.udp_dropped_source_port++;
        return 0;
    }
    size_t reply_len = sockperf ? dgram_answer_sockperf(server, dgram, len)
                                : dgram_answer_shout(server, dgram, len);
    if (reply_len == 0 || !dgram_rate_allows(server, peer, now_ns))
        return 0;
    if (sockperf)
        server->counters.sockperf_replies++;
    return reply_len;
}

/* The clock the budgets run on, which also sizes them on the first datagram. */
static uint64_t dgram_budget_clock(struct server *server)
{
    uint64_t now_ns = dgram_now_ns();
    if (!server->udp_rate.ready)
        dgram_rate_init(server, now_ns);
    return now_ns;
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

    uint64_t now_ns = dgram_budget_clock(server);
    struct mmsghdr replies[DGRAM_BATCH];
    int reply_count = 0;
    for (int i = 0; i < got; i++) {
        size_t reply_len =
            dgram_decide(server, sockperf, dgram_bufs[i], msgs[i].msg_len, &peers[i], now_ns);
        if (reply_len == 0)
            continue;
        iovs[i].iov_len = reply_len;
        replies[reply_count++] = (struct mmsghdr){.msg_hdr = msgs[i].msg_hdr};
        replies[reply_count - 1].msg_hdr.msg_flags = 0;
    }

    dgram_send_replies(server, fd, replies, reply_count);
    return got;
}

/*
 * Answer one datagram with the plain calls: what ping-pong traffic gets
 * (lib/udp_pace.h says why). Returns how many were read, 0 or 1.
 */
static int dgram_answer_one(struct server *server, int fd, bool sockperf)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    uint8_t *dgram = dgram_bufs[0];
    ssize_t got =
        recvfrom(fd, dgram, DGRAM_MAX_LEN, MSG_DONTWAIT, (struct sockaddr *)&peer, &peer_len);
    if (got < 0)
        return 0;
    size_t reply_len =
        dgram_decide(server, sockperf, dgram, (size_t)got, &peer, dgram_budget_clock(server));
    if (reply_len == 0)
        return 1;
    ssize_t sent;
    do
        sent = sendto(fd, dgram, reply_len, MSG_DONTWAIT, (const struct sockaddr *)&peer, peer_len);
    while (sent < 0 && errno == EINTR);
    dgram_count_reply(server, sent);
    return 1;
}

/*
 * Read the socket until it is empty or DGRAM_ROUNDS batches were read, as
 * its pace says: one datagram, or batches.
 */
static void dgram_drain(struct dgram_socket *socket, bool sockperf)
{
    struct server *server = socket->source.owner;
    int fd = socket->source.fd;
    for (int round = 0; round < DGRAM_ROUNDS; round++) {
        unsigned asked = udp_pace_next(&socket->pace, DGRAM_BATCH);
        int got = asked == 1 ? dgram_answer_one(server, fd, sockperf)
                             : dgram_answer_batch(server, fd, sockperf);
        udp_pace_saw(&socket->pace, asked, (unsigned)got);
        /* A single read leaves any queue behind it to the next wake-up, which comes at once. */
        if ((unsigned)got < asked || asked == 1)
            return;
    }
}

void dgram_on_ready(struct loop_source *socket_source, uint32_t events)
{
    (void)events;
    dgram_drain(LIST_ENTRY(socket_source, struct dgram_socket, source), false);
}

void dgram_on_sockperf_ready(struct loop_source *socket_source, uint32_t events)
{
    (void)events;
    dgram_drain(LIST_ENTRY(socket_source, struct dgram_socket, source), true);
}
