#include "dgram.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "gso.h"
#include "sockperf.h"
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

/* The clock the budgets run on, which also sizes them on the first datagram. */
static uint64_t dgram_budget_clock(struct dgrams *dgrams)
{
    struct timespec now;
    dgrams->kernel->clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    if (!dgrams->policy_ready) {
        const struct options *opts = dgrams->opts;
        /* options.c keeps the rates and burst within ratelimit's caps, so this cannot fail. */
        udp_policy_init(&dgrams->policy, dgrams->rate_slots, dgrams->rate_slot_count,
                        opts->udp_rate_per_ip, opts->udp_rate_burst, opts->udp_rate, dgrams->secret,
                        now_ns);
        dgrams->policy.limit_loopback = opts->udp_rate_loopback;
        dgrams->policy.ipv6_prefix = opts->ipv6_prefix;
        dgrams->policy_ready = true;
    }
    return now_ns;
}

/* Answer a datagram on the main port in place; returns the reply's length, 0 for none. */
static size_t dgram_answer_shout(struct dgrams *dgrams, uint8_t *dgram, size_t len)
{
    struct udp_answer answer = udp_answer(dgram, len, dgrams->max_payload, dgram);
    if (answer.verdict == UDP_DROP_EMPTY) {
        dgrams->stats.dropped_empty++;
        return 0;
    }
    if (answer.verdict == UDP_DROP_TOO_SHORT) {
        dgrams->stats.dropped_short++;
        return 0;
    }
    if (answer.verdict == UDP_REPLY_ERROR) {
        dgrams->stats.error_replies++;
        dgrams->counters->errors[answer.error]++;
    }
    return answer.reply_len;
}

/* Answer a datagram on the sockperf port in place; returns the reply's length, 0 for none. */
static size_t dgram_answer_sockperf(struct dgrams *dgrams, uint8_t *dgram, size_t len)
{
    switch (sockperf_answer_datagram(dgram, len, dgrams->max_payload, dgram)) {
    case SOCKPERF_REPLY:
        /* sockperf_replies is counted once the rate limits let the reply go. */
        dgrams->counters->sockperf_messages++;
        return len;
    case SOCKPERF_NO_REPLY:
        dgrams->counters->sockperf_messages++;
        return 0;
    case SOCKPERF_BAD_LENGTH:
        dgrams->counters->sockperf_bad_length++;
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
static void dgram_count_reply(struct dgrams *dgrams, ssize_t n)
{
    if (n < 0) {
        dgrams->stats.send_failed++;
        return;
    }
    dgrams->stats.replies++;
    dgrams->stats.bytes_out += (uint64_t)n;
}

/* Each reply of a run in a message of its own: where the kernel would not segment it. */
static void dgram_send_singly(struct dgrams *dgrams, int fd, const struct mmsghdr *replies,
                              const struct dgram_run *run)
{
    for (int i = run->first; i < run->first + run->count; i++) {
        struct msghdr one = replies[i].msg_hdr;
        one.msg_control = NULL;
        one.msg_controllen = 0;
        ssize_t n;
        do
            n = dgrams->kernel->sendmsg(fd, &one, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        dgram_count_reply(dgrams, n);
    }
}

/*
 * Send every reply, in runs (dgram_plan_runs), with one sendmmsg while the
 * socket takes them. A run the kernel refuses to segment goes out reply by
 * reply; one that fails for any other reason (a full socket buffer, an
 * unreachable peer) is lost, as UDP may, and counted.
 */
static void dgram_send_replies(struct dgrams *dgrams, int fd, struct mmsghdr *replies, int count)
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
        int sent =
            dgrams->kernel->sendmmsg(fd, out + done, (unsigned)(n_runs - done), MSG_DONTWAIT);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0) {
            const struct dgram_run *run = &runs[done];
            if (run->count > 1 && (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP))
                dgram_send_singly(dgrams, fd, replies, run);
            else
                dgrams->stats.send_failed += (uint64_t)run->count;
            done++;
            continue;
        }
        for (int r = done; r < done + sent; r++) {
            dgrams->stats.replies += (uint64_t)runs[r].count;
            dgrams->stats.bytes_out += out[r].msg_len;
        }
        done += sent;
    }
}

/* How a verdict of the policy is counted. */
static void dgram_count_drop(struct dgrams *dgrams, enum udp_policy_verdict verdict)
{
    if (verdict == UDP_POLICY_DROP_SOURCE_PORT)
        dgrams->stats.dropped_source_port++;
    else if (verdict == UDP_POLICY_DROP_RATE)
        dgrams->stats.dropped_rate++;
    else if (verdict == UDP_POLICY_DROP_GLOBAL_RATE)
        dgrams->stats.dropped_global_rate++;
}

/*
 * Decide one datagram, read from peer, in place: its reply's length once
 * every check and budget lets it go, 0 for none (each drop counted).
 */
static size_t dgram_decide(struct dgrams *dgrams, bool sockperf, uint8_t *dgram, size_t len,
                           const struct sockaddr_storage *peer, uint64_t now_ns)
{
    dgrams->stats.datagrams++;
    dgrams->stats.bytes_in += len;
    uint16_t own_port = sockperf ? dgrams->sockperf_port : dgrams->port;
    /* An empty datagram is counted as empty whatever its source. */
    enum udp_policy_verdict verdict =
        len > 0 ? udp_policy_source_port(peer, own_port) : UDP_POLICY_SEND;
    if (verdict != UDP_POLICY_SEND) {
        dgram_count_drop(dgrams, verdict);
        return 0;
    }
    size_t reply_len = sockperf ? dgram_answer_sockperf(dgrams, dgram, len)
                                : dgram_answer_shout(dgrams, dgram, len);
    if (reply_len == 0)
        return 0;
    verdict = udp_policy_allow(&dgrams->policy, peer, now_ns);
    if (verdict != UDP_POLICY_SEND) {
        dgram_count_drop(dgrams, verdict);
        return 0;
    }
    if (sockperf)
        dgrams->counters->sockperf_replies++;
    return reply_len;
}

/* Answer one batch; returns how many datagrams were read (0 when drained). */
static int dgram_answer_batch(struct dgrams *dgrams, int fd, bool sockperf)
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
    int got = dgrams->kernel->recvmmsg(fd, msgs, DGRAM_BATCH, MSG_DONTWAIT);
    if (got <= 0)
        return 0;

    uint64_t now_ns = dgram_budget_clock(dgrams);
    struct mmsghdr replies[DGRAM_BATCH];
    int reply_count = 0;
    for (int i = 0; i < got; i++) {
        size_t reply_len =
            dgram_decide(dgrams, sockperf, dgram_bufs[i], msgs[i].msg_len, &peers[i], now_ns);
        if (reply_len == 0)
            continue;
        iovs[i].iov_len = reply_len;
        replies[reply_count++] = (struct mmsghdr){.msg_hdr = msgs[i].msg_hdr};
        replies[reply_count - 1].msg_hdr.msg_flags = 0;
    }

    dgram_send_replies(dgrams, fd, replies, reply_count);
    return got;
}

/*
 * Answer one datagram with the plain calls: what ping-pong traffic gets
 * (lib/udp_pace.h says why). Returns how many were read, 0 or 1.
 */
static int dgram_answer_one(struct dgrams *dgrams, int fd, bool sockperf)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    uint8_t *dgram = dgram_bufs[0];
    ssize_t got = dgrams->kernel->recvfrom(fd, dgram, DGRAM_MAX_LEN, MSG_DONTWAIT,
                                           (struct sockaddr *)&peer, &peer_len);
    if (got < 0)
        return 0;
    size_t reply_len =
        dgram_decide(dgrams, sockperf, dgram, (size_t)got, &peer, dgram_budget_clock(dgrams));
    if (reply_len == 0)
        return 1;
    ssize_t sent;
    do
        sent = dgrams->kernel->sendto(fd, dgram, reply_len, MSG_DONTWAIT,
                                      (const struct sockaddr *)&peer, peer_len);
    while (sent < 0 && errno == EINTR);
    dgram_count_reply(dgrams, sent);
    return 1;
}

/*
 * Read the socket until it is empty or DGRAM_ROUNDS batches were read, as
 * its pace says: one datagram, or batches.
 */
static void dgram_drain(struct dgram_socket *socket, bool sockperf)
{
    struct dgrams *dgrams = socket->source.owner;
    int fd = socket->source.fd;
    for (int round = 0; round < DGRAM_ROUNDS; round++) {
        unsigned asked = udp_pace_next(&socket->pace, DGRAM_BATCH);
        int got = asked == 1 ? dgram_answer_one(dgrams, fd, sockperf)
                             : dgram_answer_batch(dgrams, fd, sockperf);
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
