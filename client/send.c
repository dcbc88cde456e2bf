#include "send.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "check.h"
#include "upper.h"
#include "wire.h"

struct send_session {
    const struct send_options *opt;
    struct peer peer;
    uint64_t next_id; /* framed: ids start at 1 and go up by one per request */
    bool first;       /* no request has been sent on this link yet */
};

static int send_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int send_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shout: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static int send_exit_for(enum peer_status status)
{
    switch (status) {
    case PEER_OK:
        return SEND_EXIT_OK;
    case PEER_NETWORK:
        return SEND_EXIT_NETWORK;
    case PEER_TIMEOUT:
        return SEND_EXIT_TIMEOUT;
    case PEER_SERVER_ERROR:
        return SEND_EXIT_SERVER_ERROR;
    case PEER_MISMATCH:
        return SEND_EXIT_MISMATCH;
    case PEER_NO_MEMORY:
        break;
    }
    return SEND_EXIT_LOCAL;
}

/* Refuse, before anything is sent, a request this transport and mode cannot carry. */
static int send_validate(const struct send_session *s, const uint8_t *req, size_t len)
{
    bool udp = s->opt->peer.udp;
    if (s->opt->framed) {
        if (udp && len > SEND_UDP_MAX - WIRE_HEADER_LEN)
            return send_fail(SEND_EXIT_USAGE,
                             "a %zu-byte request is over the %d bytes a framed "
                             "UDP datagram can carry",
                             len, SEND_UDP_MAX - WIRE_HEADER_LEN);
        if (len > UINT32_MAX)
            return send_fail(SEND_EXIT_USAGE, "a %zu-byte request is over the frame length limit",
                             len);
        return 0;
    }
    if (udp && len == 0)
        return send_fail(SEND_EXIT_USAGE,
                         "an empty request cannot go over text UDP: the server does not answer "
                         "empty datagrams");
    if (udp && len > SEND_UDP_MAX)
        return send_fail(SEND_EXIT_USAGE,
                         "a %zu-byte request is over the %d bytes a UDP datagram can carry", len,
                         SEND_UDP_MAX);
    /* The server reads a leading 0xF5 (on a connection, or in a datagram) as a frame. */
    if (len > 0 && req[0] == WIRE_MAGIC_0 && (udp || s->first))
        return send_fail(SEND_EXIT_USAGE,
                         "text that starts with byte 0xF5 would be read as a frame; use --framed");
    return 0;
}

/*
 * Print a reply the check found right. It is byte for byte the uppercased
 * request, so the request is uppercased in place and printed: a
 * multi-megabyte reply needs no second buffer.
 */
static int send_print(uint8_t *req, size_t len, bool always_newline)
{
    upper_ascii(req, req, len);
    if (len > 0)
        fwrite(req, 1, len, stdout);
    if (always_newline || len == 0 || req[len - 1] != '\n')
        fputc('\n', stdout);
    /* Flush each reply, so that an interactive session sees it at once. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        /*
         * The reader went away (shout send | head): a filter stops quietly
         * then. SIGPIPE is ignored for the sockets' sake, so the status a
         * filter killed by it would have is given by hand.
         */
        if (errno == EPIPE)
            return SEND_EXIT_STDOUT_CLOSED;
        return send_fail(SEND_EXIT_LOCAL, "writing standard output: %s", strerror(errno));
    }
    return SEND_EXIT_OK;
}

/* Exchange one request with the server and print its reply. */
static int send_one(struct send_session *s, uint8_t *req, size_t len, bool always_newline)
{
    int rc = send_validate(s, req, len);
    if (rc != 0)
        return rc;
    struct peer_request pr = {.payload = req, .payload_len = len};
    struct check chk;
    if (s->opt->framed) {
        struct wire_header h = {
            .version = WIRE_VERSION,
            .type = WIRE_TYPE_REQUEST,
            .length = (uint32_t)len,
            .id = s->next_id++,
        };
        wire_encode_header(pr.header, &h);
        pr.header_len = WIRE_HEADER_LEN;
        check_init_framed(&chk, req, h.length, h.id);
    } else {
        check_init_text(&chk, req, len);
    }
    enum peer_status status = peer_exchange(&s->peer, &pr, &chk);
    check_free(&chk);
    s->first = false;
    if (status != PEER_OK)
        return send_fail(send_exit_for(status), "%s", peer_why(&s->peer));
    return send_print(req, len, always_newline);
}

static int send_open(struct send_session *s)
{
    enum peer_status status = peer_open(&s->peer, &s->opt->peer);
    if (status != PEER_OK)
        return send_fail(send_exit_for(status), "%s", peer_why(&s->peer));
    return SEND_EXIT_OK;
}

/* The TEXT arguments joined by single spaces; NULL if memory runs out. */
static uint8_t *send_join(char *const *texts, size_t n_texts, size_t *len)
{
    size_t total = n_texts - 1;
    for (size_t i = 0; i < n_texts; i++)
        total += strlen(texts[i]);
    uint8_t *req = malloc(total ? total : 1);
    if (!req)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < n_texts; i++) {
        if (i > 0)
            req[at++] = ' ';
        size_t n = strlen(texts[i]);
        memcpy(req + at, texts[i], n);
        at += n;
    }
    *len = total;
    return req;
}

static int send_texts(struct send_session *s, char *const *texts, size_t n_texts)
{
    size_t len;
    uint8_t *req = send_join(texts, n_texts, &len);
    if (!req)
        return send_fail(SEND_EXIT_LOCAL, "out of memory");
    /* A request the transport cannot carry is a usage error before any connect. */
    int rc = send_validate(s, req, len);
    if (rc == 0)
        rc = send_open(s);
    if (rc == 0)
        rc = send_one(s, req, len, true);
    free(req);
    return rc;
}

/*
 * One request per line, read with getline so a line of any length is one
 * request. The next line is read only after the reply to this one is
 * printed, which is what an interactive user expects. The connection opens
 * once the first line is read: shoutd closes a connection whose first
 * request has not come within --frame-timeout (10 s), and a user may take
 * longer than that to type it. With no line at all it still opens, so that
 * an unreachable server is reported.
 */
static int send_lines(struct send_session *s)
{
    int rc = SEND_EXIT_OK;
    bool open = false;
    char *line = NULL;
    size_t cap = 0;
    while (rc == SEND_EXIT_OK) {
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (ferror(stdin) || errno == ENOMEM)
                rc = send_fail(SEND_EXIT_LOCAL, "reading standard input: %s", strerror(errno));
            break;
        }
        if (!open) {
            rc = send_open(s);
            open = true;
        }
        if (rc == SEND_EXIT_OK)
            rc = send_one(s, (uint8_t *)line, (size_t)n, false);
    }
    free(line);
    if (rc == SEND_EXIT_OK && !open)
        rc = send_open(s);
    return rc;
}

int send_run(const struct send_options *opt, char *const *texts, size_t n_texts)
{
    struct send_session s = {.opt = opt, .peer = {.fd = -1}, .next_id = 1, .first = true};
    int rc = n_texts > 0 ? send_texts(&s, texts, n_texts) : send_lines(&s);
    peer_close(&s.peer);
    return rc;
}
