/*
 * fuzz_stats_json: the answer of shoutd's stats port as the client reads it
 * (client/report_stats.c), taken as untrusted: whatever listens on that port
 * may send anything. The whole input is the answer, given to
 * report_parse_stats, what report_fetch_server does once it has read it.
 *
 * Oracles (besides no crash, leak or hang under ASan and UBSan):
 * - A refused answer leaves every output exactly as it was.
 * - It is accepted exactly when the model accepts it. The model reads the
 *   text with its own JSON reader (json_model.h), not with jansson, which
 *   the client uses, and applies docs/protocol.md's "stats port" as
 *   the client needs it: an object; tcp.requests, tcp.text_bytes,
 *   tcp.bytes_in, tcp.bytes_out, udp.replies, udp.bytes_in, udp.bytes_out
 *   and every member of errors non-negative integers (errors' total within
 *   64 bits); rusage.user_s and rusage.system_s non-negative numbers; cpu
 *   and pinned_cpu integers from -1 to 2^20; sockperf optional, but with a
 *   non-negative integer replies when present.
 * - An accepted answer gives the model's values: requests is framed plus
 *   sockperf replies, bytes in and out add TCP and UDP, errors add every
 *   code, and it is known, with its CPU time.
 * - The outputs for the CPU numbers are optional: leaving them out (NULL)
 *   changes nothing else. The change from an answer to itself is all zeros
 *   and known.
 * - The round trip: the input's bytes are also taken as the server's
 *   counters (below 2^60 each, so that the client's sums cannot overflow,
 *   and jansson, which reads integers as int64, can read them) and its
 *   process figures, written by shoutd's own stats_format and read by the
 *   client: always accepted, and every value it derives is what the
 *   counters say (framed requests plus sockperf replies, TCP plus UDP bytes,
 *   every error code), the CPU numbers and times included.
 * FUZZ_JSON_MODEL_CHECK=1 in the environment also holds the model's reader
 * to jansson's acceptance, document by document: a check of the model (it
 * found jansson dropping a NUL after a number), not of the client.
 */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "json_model.h"
#include "report.h"
#include "stats.h"

#define STATS_SENTINEL_CPU 12345

/* member of obj as a non-negative integer; false if it is not one. */
static bool stats_model_count(const struct json_model_value *obj, const char *key, uint64_t *out)
{
    const struct json_model_value *v = json_model_get(obj, key);
    if (v == NULL || v->kind != JSON_MODEL_INTEGER || v->integer < 0)
        return false;
    *out = (uint64_t)v->integer;
    return true;
}

static bool stats_model_seconds(const struct json_model_value *obj, const char *key, double *out)
{
    const struct json_model_value *v = json_model_get(obj, key);
    if (v == NULL || (v->kind != JSON_MODEL_INTEGER && v->kind != JSON_MODEL_REAL))
        return false;
    double seconds = v->kind == JSON_MODEL_INTEGER ? (double)v->integer : v->real;
    if (!(seconds >= 0))
        return false;
    *out = seconds;
    return true;
}

static bool stats_model_cpu(const struct json_model_value *root, const char *key, int *out)
{
    const struct json_model_value *v = json_model_get(root, key);
    if (v == NULL || v->kind != JSON_MODEL_INTEGER || v->integer < -1 || v->integer > 1 << 20)
        return false;
    *out = (int)v->integer;
    return true;
}

static bool stats_model_errors(const struct json_model_value *errors, uint64_t *total)
{
    if (errors == NULL || errors->kind != JSON_MODEL_OBJECT)
        return false;
    *total = 0;
    for (const struct json_model_member *m = errors->members; m != NULL; m = m->next) {
        const struct json_model_value *v = m->value;
        if (v->kind != JSON_MODEL_INTEGER || v->integer < 0 ||
            (uint64_t)v->integer > UINT64_MAX - *total)
            return false;
        *total += (uint64_t)v->integer;
    }
    return true;
}

/* The model's reading of root: true and the values, or false for a refusal. */
static bool stats_model_read(const struct json_model_value *root, struct server_counters *want,
                             int *cpu, int *pinned)
{
    if (root == NULL || root->kind != JSON_MODEL_OBJECT)
        return false;
    const struct json_model_value *tcp = json_model_get(root, "tcp");
    const struct json_model_value *udp = json_model_get(root, "udp");
    const struct json_model_value *rusage = json_model_get(root, "rusage");
    const struct json_model_value *sockperf = json_model_get(root, "sockperf");
    uint64_t framed, tcp_in, tcp_out, udp_in, udp_out, sockperf_replies = 0;
    *want = (struct server_counters){.known = true, .cpu.known = true};
    if (sockperf && !stats_model_count(sockperf, "replies", &sockperf_replies))
        return false;
    if (!stats_model_count(tcp, "requests", &framed) ||
        !stats_model_count(tcp, "text_bytes", &want->text_bytes) ||
        !stats_model_count(tcp, "bytes_in", &tcp_in) ||
        !stats_model_count(tcp, "bytes_out", &tcp_out) ||
        !stats_model_count(udp, "replies", &want->udp_replies) ||
        !stats_model_count(udp, "bytes_in", &udp_in) ||
        !stats_model_count(udp, "bytes_out", &udp_out) ||
        !stats_model_errors(json_model_get(root, "errors"), &want->errors) ||
        !stats_model_seconds(rusage, "user_s", &want->cpu.user_s) ||
        !stats_model_seconds(rusage, "system_s", &want->cpu.system_s) ||
        !stats_model_cpu(root, "cpu", cpu) || !stats_model_cpu(root, "pinned_cpu", pinned))
        return false;
    /* Each is at most 2^63 - 1 (a JSON integer), so no sum of two wraps. */
    want->requests = framed + sockperf_replies;
    want->bytes_in = tcp_in + udp_in;
    want->bytes_out = tcp_out + udp_out;
    return true;
}

static bool stats_same(const struct server_counters *a, const struct server_counters *b)
{
    return a->known == b->known && a->requests == b->requests && a->text_bytes == b->text_bytes &&
           a->udp_replies == b->udp_replies && a->bytes_in == b->bytes_in &&
           a->bytes_out == b->bytes_out && a->errors == b->errors && a->cpu.known == b->cpu.known &&
           a->cpu.user_s == b->cpu.user_s && a->cpu.system_s == b->cpu.system_s;
}

static void stats_check_delta_to_itself(const struct server_counters *s)
{
    struct server_counters delta;
    report_server_delta(s, s, &delta);
    struct server_counters zero = {.known = true, .cpu.known = true};
    FUZZ_CHECK(stats_same(&delta, &zero), "an answer minus itself is not zero");
}

/* The next 8 input bytes as a counter below 2^60 (0 once the input runs out). */
static uint64_t stats_take_counter(const uint8_t **data, size_t *size)
{
    uint64_t v = 0;
    for (int i = 0; i < 8 && *size > 0; i++, (*data)++, (*size)--)
        v = v << 8 | **data;
    return v & ((UINT64_C(1) << 60) - 1);
}

/* shoutd writes its counters, the client reads them: every derived value must survive. */
static void stats_check_round_trip(const uint8_t *data, size_t size)
{
    struct stats_counters c = {0};
    uint64_t *fields[] = {
        &c.engine.requests,  &c.engine.text_bytes,       &c.engine.bytes_in,
        &c.engine.bytes_out, &c.engine.sockperf_replies, &c.udp.replies,
        &c.udp.bytes_in,     &c.udp.bytes_out,           &c.tcp.accepted,
        &c.loop_wakeups,
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        *fields[i] = stats_take_counter(&data, &size);
    for (int code = 1; code <= WIRE_ERROR_CODE_MAX; code++)
        c.engine.errors[code] = stats_take_counter(&data, &size);
    uint64_t cpus = stats_take_counter(&data, &size);
    struct stats_process process = {
        .pid = 1,
        .cpu = (int)(cpus % ((1 << 20) + 2)) - 1,
        .pinned_cpu = (int)((cpus >> 21) % ((1 << 20) + 2)) - 1,
        /* Whole microseconds: what %.6f writes is then exactly what was meant. */
        .user_s = (double)(stats_take_counter(&data, &size) % 1000000000000) / 1e6,
        .system_s = (double)(stats_take_counter(&data, &size) % 1000000000000) / 1e6,
    };
    char json[STATS_JSON_MAX];
    size_t len = stats_format(&c, &process, json, sizeof json);
    FUZZ_CHECK(len > 0, "stats_format ran out of room");
    struct server_counters got;
    int cpu, pinned;
    FUZZ_CHECK(report_parse_stats(json, len, &got, &cpu, &pinned) == 0,
               "the client refused shoutd's own answer: %.*s", (int)len, json);
    uint64_t errors = 0;
    for (int code = 1; code <= WIRE_ERROR_CODE_MAX; code++)
        errors += c.engine.errors[code];
    FUZZ_CHECK(got.known && got.requests == c.engine.requests + c.engine.sockperf_replies &&
                   got.text_bytes == c.engine.text_bytes && got.udp_replies == c.udp.replies &&
                   got.bytes_in == c.engine.bytes_in + c.udp.bytes_in &&
                   got.bytes_out == c.engine.bytes_out + c.udp.bytes_out && got.errors == errors &&
                   cpu == process.cpu && pinned == process.pinned_cpu,
               "the client read shoutd's counters wrong: %.*s", (int)len, json);
    FUZZ_CHECK(fabs(got.cpu.user_s - process.user_s) < 1e-6 &&
                   fabs(got.cpu.system_s - process.system_s) < 1e-6,
               "CPU times %f, %f read as %f, %f", process.user_s, process.system_s, got.cpu.user_s,
               got.cpu.system_s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char empty[1];
    const char *text = size ? (const char *)data : empty;

    /* Filled with a pattern that a refusal must leave alone, padding included. */
    struct server_counters got, untouched;
    memset(&got, 0xA5, sizeof got);
    memcpy(&untouched, &got, sizeof got);
    int cpu = STATS_SENTINEL_CPU, pinned = STATS_SENTINEL_CPU;
    int rc = report_parse_stats(text, size, &got, &cpu, &pinned);

    struct json_model doc;
    FUZZ_CHECK(json_model_parse(&doc, text, size) == 0, "out of memory for the model");
    struct server_counters want;
    int want_cpu = -1, want_pinned = -1;
    bool accepted = stats_model_read(doc.root, &want, &want_cpu, &want_pinned);
    if (getenv("FUZZ_JSON_MODEL_CHECK")) {
        json_error_t error;
        json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &error);
        FUZZ_CHECK((root != NULL) == (doc.root != NULL), "jansson %d, model %d: %s", root != NULL,
                   doc.root != NULL, error.text);
        json_decref(root);
    }
    json_model_free(&doc);

    if (!accepted) {
        FUZZ_CHECK(rc < 0, "accepted an answer the model refuses");
        FUZZ_CHECK(memcmp(&got, &untouched, sizeof got) == 0 && cpu == STATS_SENTINEL_CPU &&
                       pinned == STATS_SENTINEL_CPU,
                   "a refused answer (rc %d) changed the outputs", rc);
    } else {
        FUZZ_CHECK(rc == 0, "refused (rc %d) an answer the model accepts", rc);
        FUZZ_CHECK(stats_same(&got, &want) && cpu == want_cpu && pinned == want_pinned,
                   "values differ from the model's");
        FUZZ_CHECK(isfinite(got.cpu.user_s) && isfinite(got.cpu.system_s), "CPU time not finite");
        stats_check_delta_to_itself(&got);
    }

    struct server_counters without_cpus;
    int rc_without = report_parse_stats(text, size, &without_cpus, NULL, NULL);
    FUZZ_CHECK(rc_without == rc && (rc < 0 || stats_same(&without_cpus, &got)),
               "leaving out the CPU outputs changed the answer");
    stats_check_round_trip(data, size);
    return 0;
}
