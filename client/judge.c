#include "judge.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "upper.h"

/* Expected bytes made on the stack per round of judge_upper_difference. */
#define JUDGE_BLOCK 4096

uint32_t judge_frame_limit(uint32_t len)
{
    return len > 2 + WIRE_REASON_MAX ? len : 2 + WIRE_REASON_MAX;
}

enum judge_header judge_header(const struct wire_header *h, uint64_t id, uint32_t len)
{
    if (h->type == WIRE_TYPE_ERROR)
        return JUDGE_HEADER_ERROR_FRAME;
    if (h->type != WIRE_TYPE_REPLY)
        return JUDGE_HEADER_WRONG_TYPE;
    if (h->id != id)
        return JUDGE_HEADER_WRONG_ID;
    if (h->length != len)
        return JUDGE_HEADER_WRONG_LENGTH;
    return JUDGE_HEADER_REPLY;
}

int judge_header_why(char *out, size_t cap, enum judge_header verdict, const struct wire_header *h,
                     uint64_t id, uint32_t len)
{
    switch (verdict) {
    case JUDGE_HEADER_WRONG_TYPE:
        return snprintf(out, cap, "frame type %u, expected %u", (unsigned)h->type,
                        (unsigned)WIRE_TYPE_REPLY);
    case JUDGE_HEADER_WRONG_ID:
        return snprintf(out, cap, "id %" PRIu64 ", expected %" PRIu64, h->id, id);
    case JUDGE_HEADER_WRONG_LENGTH:
        return snprintf(out, cap, "length %" PRIu32 ", expected %" PRIu32, h->length, len);
    case JUDGE_HEADER_REPLY:
    case JUDGE_HEADER_ERROR_FRAME:
        break;
    }
    return snprintf(out, cap, "%s", "");
}

size_t judge_first_difference(const uint8_t *want, const uint8_t *got, size_t len)
{
    /* memcmp first: a right reply, the usual case, is judged at memcmp's speed. */
    if (len == 0 || memcmp(want, got, len) == 0)
        return len;
    size_t i = 0;
    while (want[i] == got[i])
        i++;
    return i;
}

size_t judge_upper_difference(const uint8_t *request, const uint8_t *got, size_t len)
{
    uint8_t expected[JUDGE_BLOCK];
    for (size_t off = 0; off < len; off += JUDGE_BLOCK) {
        size_t n = len - off < JUDGE_BLOCK ? len - off : JUDGE_BLOCK;
        upper_ascii(expected, request + off, n);
        size_t diff = judge_first_difference(expected, got + off, n);
        if (diff < n)
            return off + diff;
    }
    return len;
}

int judge_error_reason(const uint8_t *payload, size_t len, char reason[WIRE_REASON_MAX + 1])
{
    reason[0] = '\0';
    if (len < 2)
        return -1;
    size_t n = len - 2 < WIRE_REASON_MAX ? len - 2 : WIRE_REASON_MAX;
    for (size_t i = 0; i < n; i++)
        reason[i] = payload[2 + i] >= 0x20 && payload[2 + i] < 0x7F ? (char)payload[2 + i] : '?';
    reason[n] = '\0';
    return payload[0] << 8 | payload[1];
}
