/*
 * stats_http: the stats port's HTTP side, pure. shoutd is not a web
 * server: it understands one request per connection, `GET /metrics`
 * (Prometheus's text format) or `GET /stats.json` (the JSON object), so
 * that curl and a Prometheus scraper read the counters, and it answers and
 * closes. The request's head must fit in STATS_HTTP_REQUEST_MAX bytes; a
 * larger one is refused (431) before more of it is read, so a client costs
 * the port that buffer and no more.
 *
 * Like picohttpparser, stats_http_parse decides from what has arrived and
 * never does I/O; stats_http_reply writes into a buffer that the caller
 * owns. Nothing is allocated.
 */
#ifndef SHOUTD_STATS_HTTP_H
#define SHOUTD_STATS_HTTP_H

#include <stddef.h>

/* Request line and headers; curl sends about 80 bytes, Prometheus about 250. */
#define STATS_HTTP_REQUEST_MAX 1024

enum stats_http_verdict {
    STATS_HTTP_NEED_MORE,  /* the head is not complete yet */
    STATS_HTTP_JSON,       /* GET /stats.json (or /): the JSON object */
    STATS_HTTP_METRICS,    /* GET /metrics: Prometheus text format */
    STATS_HTTP_NOT_FOUND,  /* 404: another path */
    STATS_HTTP_BAD_METHOD, /* 405: not GET (or HEAD) */
    STATS_HTTP_BAD,        /* 400: not an HTTP/1.x request line */
    STATS_HTTP_TOO_LARGE,  /* 431: the head did not fit in STATS_HTTP_REQUEST_MAX */
};

/*
 * What req[0..len) asks for. A request line that is already wrong is
 * refused without waiting for the rest of the head. *head_only is set for
 * HEAD (headers without the body).
 */
enum stats_http_verdict stats_http_parse(const char *req, size_t len, int *head_only);

/*
 * The whole response for verdict (not NEED_MORE) in out[0..cap): status
 * line, Content-Type, Content-Length, Connection: close, then body[0..
 * body_len) unless head_only (the body is used by JSON and METRICS only).
 * Returns its length, or 0 if cap was short.
 */
size_t stats_http_reply(enum stats_http_verdict verdict, int head_only, const char *body,
                        size_t body_len, char *out, size_t cap);

#endif
