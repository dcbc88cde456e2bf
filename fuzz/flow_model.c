#include "flow_model.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_model.h"

int flow_model_init(struct flow_model *m, bool udp, bool framed, uint32_t size, uint32_t window)
{
    *m = (struct flow_model){.udp = udp, .framed = framed, .size = size, .window = window};
    /* flow.h: the larger of four windows and 1024, rounded up to a power of two. */
    uint64_t want = (uint64_t)window * 4 > 1024 ? (uint64_t)window * 4 : 1024;
    m->history = 1;
    while (m->history < want)
        m->history <<= 1;
    uint32_t limit = size > FLOW_MODEL_ERROR_MAX ? size : FLOW_MODEL_ERROR_MAX;
    m->reply_cap = FLOW_MODEL_HEADER + (size_t)limit;
    m->reply = malloc(m->reply_cap);
    return m->reply ? 0 : -1;
}

void flow_model_free(struct flow_model *m)
{
    free(m->req);
    free(m->reply);
    free(m->rights);
    *m = (struct flow_model){0};
}

size_t flow_model_request_len(const struct flow_model *m)
{
    return (m->framed ? FLOW_MODEL_HEADER : 0) + (size_t)m->size;
}

void flow_model_payload(uint64_t seq, uint32_t size, uint8_t *out)
{
    for (uint32_t i = 0; i < size; i++) {
        if (i < FLOW_MODEL_TAG_LEN)
            out[i] = (uint8_t)('a' + ((seq >> (4 * i)) & 15));
        else
            out[i] = (uint8_t)('a' + (i + seq % 26) % 26);
    }
}

size_t flow_model_right_reply(const struct flow_model *m, uint64_t seq, uint8_t *out)
{
    size_t at = 0;
    if (m->framed) {
        out[0] = 0xF5, out[1] = 0x55, out[2] = 1, out[3] = 2;
        fuzz_model_store_be(out + 4, m->size, 4);
        fuzz_model_store_be(out + 8, seq, 8);
        at = FLOW_MODEL_HEADER;
    }
    flow_model_payload(seq, m->size, out + at);
    for (uint32_t i = 0; i < m->size; i++)
        out[at + i] = fuzz_model_upper(out[at + i]);
    return at + m->size;
}

bool flow_model_can_send(const struct flow_model *m)
{
    if (m->in_flight >= m->window)
        return false;
    return !m->udp || m->next_seq - m->oldest < m->history;
}

int flow_model_send(struct flow_model *m, bool measured, uint64_t intended_ns, uint64_t sent_ns)
{
    if (m->next_seq == m->req_cap) {
        uint64_t cap = m->req_cap ? m->req_cap * 2 : 64;
        struct flow_model_request *req = realloc(m->req, cap * sizeof *req);
        if (!req)
            return -1;
        m->req = req;
        m->req_cap = cap;
    }
    m->req[m->next_seq] = (struct flow_model_request){
        .intended_ns = intended_ns ? intended_ns : sent_ns,
        .sent_ns = sent_ns,
        .measured = measured,
        .fate = FLOW_MODEL_IN_FLIGHT,
    };
    if (m->in_flight == 0)
        m->oldest = m->next_seq;
    m->next_seq++;
    m->in_flight++;
    if (measured) {
        m->counts.sent++;
        m->counts.bytes_sent += flow_model_request_len(m);
    }
    return 0;
}

static void flow_model_note_right(struct flow_model *m, uint64_t seq)
{
    if (m->rights_len == m->rights_cap) {
        size_t cap = m->rights_cap ? m->rights_cap * 2 : 16;
        uint64_t *r = realloc(m->rights, cap * sizeof *r);
        if (!r)
            abort();
        m->rights = r;
        m->rights_cap = cap;
    }
    m->rights[m->rights_len++] = seq;
}

/* Request seq's reply of reply_len bytes came whole at now: right or not. */
static void flow_model_complete(struct flow_model *m, uint64_t seq, bool right, size_t reply_len,
                                uint64_t now_ns)
{
    struct flow_model_request *r = &m->req[seq];
    r->fate = right ? FLOW_MODEL_RIGHT : FLOW_MODEL_WRONG;
    r->done_ns = now_ns;
    m->in_flight--;
    if (r->measured) {
        m->counts.bytes_received += reply_len;
        if (right)
            m->counts.received++;
    }
    if (right)
        flow_model_note_right(m, seq);
    while (m->oldest < m->next_seq && m->req[m->oldest].fate != FLOW_MODEL_IN_FLIGHT)
        m->oldest++;
}

/* Byte i of request seq's payload as the server returns it: uppercased. */
static uint8_t flow_model_expected(uint64_t seq, uint32_t i)
{
    uint8_t b = i < FLOW_MODEL_TAG_LEN ? (uint8_t)('a' + ((seq >> (4 * i)) & 15))
                                       : (uint8_t)('a' + (i + seq % 26) % 26);
    return fuzz_model_upper(b);
}

/* Whether payload p of size bytes is request seq's, uppercased. */
static bool flow_model_payload_right(const struct flow_model *m, uint64_t seq, const uint8_t *p)
{
    for (uint32_t i = 0; i < m->size; i++)
        if (p[i] != flow_model_expected(seq, i))
            return false;
    return true;
}

/* A header the client can follow: magic, version 1, a type of 1 to 3. */
static bool flow_model_header_known(const uint8_t *h)
{
    return h[0] == 0xF5 && h[1] == 0x55 && h[2] == 1 && h[3] >= 1 && h[3] <= 3;
}

/*
 * TCP: the bytes of the head request's reply gathered since the last look.
 * A reply is counted wrong as soon as its bytes show it (flow.h: a
 * mismatch is counted when it arrives, not when its reply ends): by its
 * header once that is whole, or by its first wrong payload byte.
 */
static void flow_model_scan_tcp(struct flow_model *m, uint64_t seq)
{
    const uint8_t *p = m->reply;
    size_t at = m->framed ? FLOW_MODEL_HEADER : 0;
    if (m->framed && m->scanned < at) {
        if (m->reply_len < at)
            return;
        m->scanned = at;
        if (p[3] == 3) {
            m->reply_error = true;
            return;
        }
        if (p[3] != 2 || fuzz_model_load_be(p + 8, 8) != seq ||
            fuzz_model_load_be(p + 4, 4) != m->size) {
            m->reply_wrong = true;
            m->counts.mismatches++;
        }
    }
    for (; m->scanned < m->reply_len; m->scanned++) {
        if (m->reply_wrong || m->reply_error)
            break;
        if (p[m->scanned] != flow_model_expected(seq, (uint32_t)(m->scanned - at))) {
            m->reply_wrong = true;
            m->counts.mismatches++;
        }
    }
}

/* TCP: the head request's whole reply is in m->reply, and scanned. */
static void flow_model_judge_tcp(struct flow_model *m, uint64_t seq, uint64_t now_ns)
{
    /* An error frame is the server's error, counted as such and not as a mismatch. */
    if (m->reply_error)
        m->counts.error_frames++;
    flow_model_complete(m, seq, !m->reply_wrong && !m->reply_error, m->reply_len, now_ns);
    m->reply_len = m->scanned = 0;
    m->reply_wrong = m->reply_error = false;
}

int flow_model_tcp_take(struct flow_model *m, const uint8_t *in, size_t len, uint64_t now_ns)
{
    m->rights_len = 0;
    int completed = 0;
    uint32_t limit = m->size > FLOW_MODEL_ERROR_MAX ? m->size : FLOW_MODEL_ERROR_MAX;
    while (len > 0 && !m->broken) {
        if (m->in_flight == 0) {
            m->counts.mismatches++;
            m->broken = true;
            break;
        }
        /* How long the head's reply is, as far as is known yet. */
        size_t need = m->size;
        if (m->framed) {
            need = FLOW_MODEL_HEADER;
            if (m->reply_len >= FLOW_MODEL_HEADER)
                need += fuzz_model_load_be(m->reply + 4, 4);
        }
        size_t take = need - m->reply_len < len ? need - m->reply_len : len;
        memcpy(m->reply + m->reply_len, in, take);
        m->reply_len += take;
        in += take, len -= take;
        if (m->framed && m->reply_len == FLOW_MODEL_HEADER && need == FLOW_MODEL_HEADER) {
            /* The header is whole: one the client cannot follow ends the stream. */
            uint64_t length = fuzz_model_load_be(m->reply + 4, 4);
            if (!flow_model_header_known(m->reply) || length > limit) {
                m->counts.mismatches++;
                m->broken = true;
                break;
            }
            need += length;
        }
        flow_model_scan_tcp(m, m->oldest);
        if (m->reply_len < need)
            continue;
        flow_model_judge_tcp(m, m->oldest, now_ns);
        completed++;
    }
    return m->broken ? -1 : completed;
}

/* UDP: whether a datagram names a request, and which (*seq); a mismatch is counted. */
static bool flow_model_udp_sequence(struct flow_model *m, const uint8_t *d, size_t n, uint64_t *seq)
{
    if (n > flow_model_request_len(m)) {
        m->counts.mismatches++;
        return false;
    }
    if (!m->framed) {
        if (n != m->size) {
            m->counts.mismatches++;
            return false;
        }
        uint64_t v = 0;
        for (int i = 0; i < FLOW_MODEL_TAG_LEN; i++) {
            if (d[i] < 'A' || d[i] > 'P') {
                m->counts.mismatches++;
                return false;
            }
            v |= (uint64_t)(d[i] - 'A') << (4 * i);
        }
        *seq = v;
        return true;
    }
    if (n >= FLOW_MODEL_HEADER && flow_model_header_known(d) && d[3] == 3) {
        /* An error frame is counted, and answers nothing: its request is lost in time. */
        m->counts.error_frames++;
        return false;
    }
    if (n < FLOW_MODEL_HEADER || !flow_model_header_known(d) || d[3] != 2 ||
        fuzz_model_load_be(d + 4, 4) != m->size || n - FLOW_MODEL_HEADER != m->size) {
        m->counts.mismatches++;
        return false;
    }
    *seq = fuzz_model_load_be(d + 8, 8);
    return true;
}

int flow_model_udp_take(struct flow_model *m, const uint8_t *d, size_t n, uint64_t now_ns)
{
    m->rights_len = 0;
    uint64_t seq;
    if (!flow_model_udp_sequence(m, d, n, &seq))
        return 0;
    if (seq >= m->next_seq) {
        m->counts.mismatches++; /* a reply to a request never sent */
        return 0;
    }
    if (m->next_seq - seq > m->history || m->req[seq].fate == FLOW_MODEL_LOST) {
        m->counts.late++;
        return 0;
    }
    struct flow_model_request *r = &m->req[seq];
    if (r->fate != FLOW_MODEL_IN_FLIGHT) {
        if (r->measured)
            m->counts.duplicates++;
        return 0;
    }
    size_t at = m->framed ? FLOW_MODEL_HEADER : 0;
    bool right = flow_model_payload_right(m, seq, d + at);
    if (!right)
        m->counts.mismatches++;
    if (seq + 1 < m->newest_done && r->measured)
        m->counts.reordered++;
    if (seq + 1 > m->newest_done)
        m->newest_done = seq + 1;
    flow_model_complete(m, seq, right, n, now_ns);
    return 1;
}

uint32_t flow_model_expire_all(struct flow_model *m)
{
    if (!m->udp)
        return 0;
    uint32_t lost = 0;
    for (uint64_t seq = m->oldest; seq < m->next_seq; seq++) {
        struct flow_model_request *r = &m->req[seq];
        if (r->fate != FLOW_MODEL_IN_FLIGHT)
            continue;
        r->fate = FLOW_MODEL_LOST;
        m->in_flight--;
        if (r->measured)
            m->counts.lost++;
        lost++;
    }
    m->oldest = m->next_seq;
    return lost;
}
