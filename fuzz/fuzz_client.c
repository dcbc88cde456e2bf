/*
 * fuzz_client: the client's reply check (client/check.c) fed hostile server
 * bytes. The client must not crash, hang, or take a wrong reply for a
 * right one; a server that lies is exactly what it is there to catch.
 *
 * Input (fuzz_split.h): a flags byte (bit 0 framed, else text; bit 1 build
 * the right reply; bit 2 corrupt one byte of it; bit 3 cut it short; bit 4
 * append the rest of the input to it), the request's length (be16), its id
 * (be64), the byte to corrupt (be16, modulo the reply's length) and the xor
 * to corrupt it with (0 means 0x20, a case flip), the cuts, then the
 * request's bytes and, when the reply is not built, the server's reply.
 *
 * The right reply R is made here from the document, not from lib/: text,
 * the request uppercased; framed, F5 55 01 02, the request's length and id,
 * then the payload uppercased. The reply S is fed to check_feed in the
 * fuzzer's pieces, then check_end. Oracles:
 * - The verdict is CHECK_DONE exactly when S is R, byte for byte: a right
 *   reply is always accepted, and anything else (one byte flipped, a byte
 *   short, a byte extra) never is.
 * - Framed, it is CHECK_SERVER_ERROR exactly when S starts with a whole
 *   type-3 frame no longer than the check's limit (the request's length, or
 *   an error code and a 64-byte reason), and its message names the code.
 * - Once decided, a verdict never changes, except that a right reply
 *   followed by more bytes becomes a mismatch.
 * - check_why() is one line of printable ASCII whatever the server sent (a
 *   terminal must not get the server's control bytes).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz_check.h"
#include "fuzz_model.h"
#include "fuzz_split.h"

#define CLIENT_FRAMED  0x01
#define CLIENT_BUILD   0x02
#define CLIENT_CORRUPT 0x04
#define CLIENT_SHORT   0x08
#define CLIENT_EXTRA   0x10

struct client_case {
    bool framed;
    const uint8_t *request;
    size_t request_len;
    uint64_t id;
    uint8_t *right; /* R */
    size_t right_len;
    uint8_t *reply; /* S */
    size_t reply_len;
};

/* R, the one reply the check must accept, into c->right. */
static void client_build_right(struct client_case *c)
{
    size_t header_len = c->framed ? 16 : 0;
    c->right_len = header_len + c->request_len;
    c->right = malloc(c->right_len ? c->right_len : 1);
    FUZZ_CHECK(c->right != NULL, "out of memory");
    if (c->framed) {
        const uint8_t start[4] = {0xF5, 0x55, 1, 2};
        memcpy(c->right, start, sizeof start);
        fuzz_model_store_be(c->right + 4, c->request_len, 4);
        fuzz_model_store_be(c->right + 8, c->id, 8);
    }
    fuzz_model_upper_copy(c->right + header_len, c->request, c->request_len);
}

/*
 * S, into a buffer of exactly its length (so that ASan sees a read past it):
 * the fuzzer's bytes as they are, or R made wrong as the flags say.
 */
static void client_build_reply(struct client_case *c, uint8_t flags, size_t at, uint8_t flip,
                               const uint8_t *rest, size_t rest_len)
{
    bool build = flags & CLIENT_BUILD;
    size_t base_len = build ? c->right_len : 0;
    if (build && (flags & CLIENT_SHORT) && c->right_len)
        base_len = at % c->right_len;
    if (build && !(flags & CLIENT_EXTRA))
        rest_len = 0;
    c->reply_len = base_len + rest_len;
    c->reply = malloc(c->reply_len ? c->reply_len : 1);
    FUZZ_CHECK(c->reply != NULL, "out of memory");
    if (base_len)
        memcpy(c->reply, c->right, base_len);
    if (build && (flags & CLIENT_CORRUPT) && base_len)
        c->reply[at % base_len] ^= flip ? flip : 0x20;
    if (rest_len)
        memcpy(c->reply + base_len, rest, rest_len);
}

/* Whether S starts with a whole error frame that the check can take (see the opening). */
static bool client_is_error_frame(const struct client_case *c, uint32_t *code)
{
    const uint8_t *s = c->reply;
    if (!c->framed || c->reply_len < 16 || s[0] != 0xF5 || s[1] != 0x55 || s[2] != 1 || s[3] != 3)
        return false;
    uint64_t length = fuzz_model_load_be(s + 4, 4);
    uint64_t limit = c->request_len > 66 ? c->request_len : 66;
    if (length > limit || c->reply_len - 16 < length)
        return false;
    *code = length >= 2 ? (uint32_t)fuzz_model_load_be(s + 16, 2) : UINT32_MAX;
    return true;
}

static void client_check_why(const struct check *chk)
{
    const char *why = check_why(chk);
    size_t n = strnlen(why, CHECK_WHY_MAX);
    FUZZ_CHECK(n > 0 && n < CHECK_WHY_MAX, "why is empty or not terminated");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(why[i] >= 0x20 && why[i] < 0x7F, "why has byte 0x%02X at %zu",
                   (unsigned)(uint8_t)why[i], i);
}

/* A verdict once given stands; only a right reply with more after it turns into a mismatch. */
static void client_check_step(enum check_status before, enum check_status after)
{
    if (before == CHECK_NEED_MORE || before == after)
        return;
    FUZZ_CHECK(before == CHECK_DONE && after == CHECK_MISMATCH, "verdict %d changed to %d",
               (int)before, (int)after);
}

static void client_run(const struct client_case *c, struct fuzz_split *split)
{
    struct check chk;
    if (c->framed)
        check_init_framed(&chk, c->request, (uint32_t)c->request_len, c->id);
    else
        check_init_text(&chk, c->request, c->request_len);

    enum check_status status = check_status(&chk);
    size_t fed = 0;
    do {
        size_t piece = fuzz_split_next(split, c->reply_len - fed);
        enum check_status now = check_feed(&chk, c->reply + fed, piece);
        FUZZ_CHECK(now == check_status(&chk), "check_feed and check_status disagree");
        client_check_step(status, now);
        status = now;
        fed += piece;
    } while (fed < c->reply_len);
    enum check_status verdict = check_end(&chk);
    client_check_step(status, verdict);

    bool right = c->reply_len == c->right_len &&
                 (c->right_len == 0 || memcmp(c->reply, c->right, c->right_len) == 0);
    uint32_t code = 0;
    bool error_frame = client_is_error_frame(c, &code);
    if (right)
        FUZZ_CHECK(verdict == CHECK_DONE, "the right reply was refused: %s", check_why(&chk));
    else if (error_frame)
        FUZZ_CHECK(verdict == CHECK_SERVER_ERROR, "error frame taken as %d", (int)verdict);
    else
        FUZZ_CHECK(verdict == CHECK_MISMATCH, "a wrong reply was taken as %d", (int)verdict);

    if (verdict != CHECK_DONE)
        client_check_why(&chk);
    if (verdict == CHECK_SERVER_ERROR && code != UINT32_MAX) {
        char want[32];
        snprintf(want, sizeof want, "server error %u (", (unsigned)code);
        FUZZ_CHECK(strncmp(check_why(&chk), want, strlen(want)) == 0,
                   "error message does not name code %u: %s", (unsigned)code, check_why(&chk));
    }
    check_free(&chk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];
    struct fuzz_reader r = fuzz_reader_init(size ? data : empty, size);
    uint8_t flags = fuzz_read_u8(&r);
    size_t request_len = fuzz_read_be16(&r);
    uint64_t id = fuzz_read_be64(&r);
    size_t at = fuzz_read_be16(&r);
    uint8_t flip = fuzz_read_u8(&r);
    struct fuzz_split split = fuzz_read_split(&r);

    if (request_len > r.left)
        request_len = r.left;
    struct client_case c = {
        .framed = flags & CLIENT_FRAMED,
        .request = r.bytes,
        .request_len = request_len,
        .id = id,
    };
    const uint8_t *rest = r.bytes + request_len;
    size_t rest_len = r.left - request_len;
    client_build_right(&c);
    client_build_reply(&c, flags, at, flip, rest, rest_len);
    client_run(&c, &split);
    free(c.reply);
    free(c.right);
    return 0;
}
