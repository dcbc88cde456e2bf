#include "stats_http.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The end of the head: a blank line (CRLF CRLF, or bare LFs as some tools send). */
static bool stats_http_head_complete(const char *req, size_t len)
{
    for (size_t i = 1; i < len; i++) {
        if (req[i] != '\n')
            continue;
        if (req[i - 1] == '\n' || (i >= 2 && req[i - 1] == '\r' && req[i - 2] == '\n'))
            return true;
    }
    return false;
}

static bool stats_http_is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

/* The request line "METHOD SP TARGET SP HTTP/1.x", judged once it is whole. */
static enum stats_http_verdict stats_http_line(const char *line, size_t len, int *head_only)
{
    size_t method_len = 0;
    while (method_len < len && stats_http_is_upper(line[method_len]))
        method_len++;
    if (method_len == 0 || method_len >= len || line[method_len] != ' ')
        return STATS_HTTP_BAD;
    const char *target = line + method_len + 1;
    const char *space = memchr(target, ' ', len - method_len - 1);
    if (space == NULL || space == target)
        return STATS_HTTP_BAD;
    size_t version_len = len - (size_t)(space + 1 - line);
    if (version_len != 8 || memcmp(space + 1, "HTTP/1.", 7) != 0 ||
        (space[8] != '0' && space[8] != '1'))
        return STATS_HTTP_BAD;
    bool get = method_len == 3 && memcmp(line, "GET", 3) == 0;
    bool head = method_len == 4 && memcmp(line, "HEAD", 4) == 0;
    if (!get && !head)
        return STATS_HTTP_BAD_METHOD;
    *head_only = head;
    /* A query string changes nothing: Prometheus may add one. */
    size_t path_len = (size_t)(space - target);
    const char *query = memchr(target, '?', path_len);
    if (query != NULL)
        path_len = (size_t)(query - target);
    if (path_len == 8 && memcmp(target, "/metrics", 8) == 0)
        return STATS_HTTP_METRICS;
    if ((path_len == 11 && memcmp(target, "/stats.json", 11) == 0) || path_len == 1)
        return target[0] == '/' ? STATS_HTTP_JSON : STATS_HTTP_NOT_FOUND;
    return STATS_HTTP_NOT_FOUND;
}

enum stats_http_verdict stats_http_parse(const char *req, size_t len, int *head_only)
{
    *head_only = 0;
    /* Refuse a stream that cannot become a request line at its first wrong byte. */
    size_t i = 0;
    while (i < len && stats_http_is_upper(req[i]))
        i++;
    if (i < len && (i == 0 || req[i] != ' '))
        return STATS_HTTP_BAD;
    const char *eol = memchr(req, '\n', len);
    if (eol == NULL || !stats_http_head_complete(req, len))
        return len >= STATS_HTTP_REQUEST_MAX ? STATS_HTTP_TOO_LARGE : STATS_HTTP_NEED_MORE;
    size_t line_len = (size_t)(eol - req);
    if (line_len > 0 && req[line_len - 1] == '\r')
        line_len--;
    return stats_http_line(req, line_len, head_only);
}

size_t stats_http_reply(enum stats_http_verdict verdict, int head_only, const char *body,
                        size_t body_len, char *out, size_t cap)
{
    const char *status, *type = "text/plain; charset=utf-8";
    switch (verdict) {
    case STATS_HTTP_JSON:
        status = "200 OK";
        type = "application/json";
        break;
    case STATS_HTTP_METRICS:
        status = "200 OK";
        type = "text/plain; version=0.0.4; charset=utf-8";
        break;
    case STATS_HTTP_NOT_FOUND:
        status = "404 Not Found";
        body = "shoutd serves /metrics and /stats.json\n";
        break;
    case STATS_HTTP_BAD_METHOD:
        status = "405 Method Not Allowed";
        body = "GET /metrics or GET /stats.json\n";
        break;
    case STATS_HTTP_TOO_LARGE:
        status = "431 Request Header Fields Too Large";
        body = "request head over 1024 bytes\n";
        break;
    case STATS_HTTP_BAD:
    case STATS_HTTP_NEED_MORE:
    default:
        status = "400 Bad Request";
        body = "not an HTTP/1.x request\n";
        break;
    }
    if (verdict != STATS_HTTP_JSON && verdict != STATS_HTTP_METRICS)
        body_len = strlen(body);
    int n = snprintf(out, cap,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nCache-Control: no-store\r\n\r\n",
                     status, type, body_len);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t len = (size_t)n;
    if (head_only)
        return len;
    if (body_len > cap - len)
        return 0;
    memcpy(out + len, body, body_len);
    return len + body_len;
}
