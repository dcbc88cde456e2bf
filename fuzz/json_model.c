#include "json_model.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* jansson's JSON_PARSER_MAX_DEPTH: every value counts, the root being 1. */
#define JSON_MODEL_MAX_DEPTH 2048

struct json_model_reader {
    const unsigned char *text;
    size_t len;
    size_t at;
    struct json_model_value *values; /* one per value at most: every value takes a byte */
    size_t value_count;
    struct json_model_member *members;
    size_t member_count;
    char *chars; /* decoded keys, each with its NUL */
    size_t char_count;
    char *scratch; /* a number's text, NUL-terminated, for strtoll and strtod */
};

static const struct json_model_value *json_model_value(struct json_model_reader *r, int depth);

static bool json_model_at_end(const struct json_model_reader *r)
{
    return r->at >= r->len;
}

static void json_model_skip_space(struct json_model_reader *r)
{
    while (!json_model_at_end(r) && (r->text[r->at] == ' ' || r->text[r->at] == '\t' ||
                                     r->text[r->at] == '\n' || r->text[r->at] == '\r'))
        r->at++;
}

/* The next byte is c: take it. */
static bool json_model_take(struct json_model_reader *r, unsigned char c)
{
    if (json_model_at_end(r) || r->text[r->at] != c)
        return false;
    r->at++;
    return true;
}

static struct json_model_value *json_model_new(struct json_model_reader *r,
                                               enum json_model_kind kind)
{
    struct json_model_value *v = &r->values[r->value_count++];
    *v = (struct json_model_value){.kind = kind};
    return v;
}

static int json_model_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u": the code unit, or -1. */
static long json_model_code_unit(struct json_model_reader *r)
{
    if (r->len - r->at < 4)
        return -1;
    long unit = 0;
    for (int i = 0; i < 4; i++) {
        int digit = json_model_hex(r->text[r->at + (size_t)i]);
        if (digit < 0)
            return -1;
        unit = unit << 4 | digit;
    }
    r->at += 4;
    return unit;
}

static void json_model_put_utf8(struct json_model_reader *r, uint32_t cp, bool keep)
{
    if (!keep)
        return;
    char *out = r->chars + r->char_count;
    if (cp < 0x80) {
        out[0] = (char)cp;
        r->char_count += 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        r->char_count += 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        r->char_count += 3;
    } else {
        out[0] = (char)(0xF0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        r->char_count += 4;
    }
}

/* A "\u" escape (the backslash and u taken): false for a NUL or a lone surrogate. */
static bool json_model_unicode_escape(struct json_model_reader *r, bool keep)
{
    long unit = json_model_code_unit(r);
    if (unit <= 0 || (unit >= 0xDC00 && unit <= 0xDFFF))
        return false;
    uint32_t cp = (uint32_t)unit;
    if (unit >= 0xD800 && unit <= 0xDBFF) {
        if (!json_model_take(r, '\\') || !json_model_take(r, 'u'))
            return false;
        long low = json_model_code_unit(r);
        if (low < 0xDC00 || low > 0xDFFF)
            return false;
        cp = 0x10000 + (((uint32_t)unit - 0xD800) << 10) + ((uint32_t)low - 0xDC00);
    }
    json_model_put_utf8(r, cp, keep);
    return true;
}

/* One UTF-8 character whose first byte (0x80 or more) is at r->at: false if it is not one. */
static bool json_model_utf8(struct json_model_reader *r, bool keep)
{
    unsigned char first = r->text[r->at];
    size_t extra;
    uint32_t cp;
    if (first >= 0xC2 && first <= 0xDF) {
        extra = 1;
        cp = first & 0x1F;
    } else if (first >= 0xE0 && first <= 0xEF) {
        extra = 2;
        cp = first & 0x0F;
    } else if (first >= 0xF0 && first <= 0xF4) {
        extra = 3;
        cp = first & 0x07;
    } else {
        return false;
    }
    if (r->len - r->at <= extra)
        return false;
    for (size_t i = 1; i <= extra; i++) {
        unsigned char next = r->text[r->at + i];
        if ((next & 0xC0) != 0x80)
            return false;
        cp = cp << 6 | (next & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
    if (keep) {
        memcpy(r->chars + r->char_count, r->text + r->at, extra + 1);
        r->char_count += extra + 1;
    }
    r->at += extra + 1;
    return true;
}

/* A string (the opening quote taken); kept as a key when keep. */
static bool json_model_string(struct json_model_reader *r, bool keep)
{
    for (;;) {
        if (json_model_at_end(r))
            return false;
        unsigned char c = r->text[r->at];
        if (c == '"') {
            r->at++;
            if (keep)
                r->chars[r->char_count++] = '\0';
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            if (!json_model_utf8(r, keep))
                return false;
            continue;
        }
        r->at++;
        if (c != '\\') {
            if (keep)
                r->chars[r->char_count++] = (char)c;
            continue;
        }
        if (json_model_at_end(r))
            return false;
        unsigned char e = r->text[r->at++];
        static const char escapes[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
        const char *known = e != 0 ? strchr(escapes, e) : NULL;
        if (known != NULL) {
            if (keep)
                r->chars[r->char_count++] = decoded[known - escapes];
        } else if (e != 'u' || !json_model_unicode_escape(r, keep)) {
            return false;
        }
    }
}

/*
 * jansson (2.14) reads one byte past a number or a word to see where it
 * ends, and puts it back; a NUL byte put back is lost. So one NUL right
 * after a number, true, false or null is dropped, and the client accepts
 * "[1\0]". Seen by testing jansson itself (its documentation does not say):
 * the model drops it too, since its verdict must be the client's.
 */
static void json_model_drop_nul_after_token(struct json_model_reader *r)
{
    if (!json_model_at_end(r) && r->text[r->at] == '\0')
        r->at++;
}

static bool json_model_digit(const struct json_model_reader *r)
{
    return !json_model_at_end(r) && r->text[r->at] >= '0' && r->text[r->at] <= '9';
}

static void json_model_digits(struct json_model_reader *r)
{
    while (json_model_digit(r))
        r->at++;
}

/* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, an integer without . or e. */
static const struct json_model_value *json_model_number(struct json_model_reader *r)
{
    size_t start = r->at;
    json_model_take(r, '-');
    if (json_model_take(r, '0')) {
        if (json_model_digit(r))
            return NULL;
    } else if (json_model_digit(r)) {
        json_model_digits(r);
    } else {
        return NULL;
    }
    bool real = false;
    if (json_model_take(r, '.')) {
        if (!json_model_digit(r))
            return NULL;
        json_model_digits(r);
        real = true;
    }
    if (json_model_take(r, 'e') || json_model_take(r, 'E')) {
        if (!json_model_take(r, '+'))
            json_model_take(r, '-');
        if (!json_model_digit(r))
            return NULL;
        json_model_digits(r);
        real = true;
    }
    size_t len = r->at - start;
    memcpy(r->scratch, r->text + start, len);
    r->scratch[len] = '\0';
    json_model_drop_nul_after_token(r);
    errno = 0;
    if (!real) {
        long long integer = strtoll(r->scratch, NULL, 10);
        if (errno == ERANGE)
            return NULL;
        struct json_model_value *v = json_model_new(r, JSON_MODEL_INTEGER);
        v->integer = integer;
        return v;
    }
    double value = strtod(r->scratch, NULL);
    if (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL))
        return NULL;
    struct json_model_value *v = json_model_new(r, JSON_MODEL_REAL);
    v->real = value;
    return v;
}

/* true, false or null; jansson reads a run of letters as one word. */
static const struct json_model_value *json_model_word(struct json_model_reader *r)
{
    size_t start = r->at;
    while (!json_model_at_end(r) && ((r->text[r->at] >= 'a' && r->text[r->at] <= 'z') ||
                                     (r->text[r->at] >= 'A' && r->text[r->at] <= 'Z')))
        r->at++;
    size_t len = r->at - start;
    const char *word = (const char *)r->text + start;
    json_model_drop_nul_after_token(r);
    if (len == 4 && memcmp(word, "null", 4) == 0)
        return json_model_new(r, JSON_MODEL_NULL);
    if ((len == 4 && memcmp(word, "true", 4) == 0) || (len == 5 && memcmp(word, "false", 5) == 0))
        return json_model_new(r, JSON_MODEL_BOOL);
    return NULL;
}

static const struct json_model_value *json_model_array(struct json_model_reader *r, int depth)
{
    json_model_skip_space(r);
    if (json_model_take(r, ']'))
        return json_model_new(r, JSON_MODEL_ARRAY);
    for (;;) {
        if (json_model_value(r, depth) == NULL)
            return NULL;
        json_model_skip_space(r);
        if (json_model_take(r, ']'))
            return json_model_new(r, JSON_MODEL_ARRAY);
        if (!json_model_take(r, ','))
            return NULL;
    }
}

static const struct json_model_value *json_model_object(struct json_model_reader *r, int depth)
{
    struct json_model_member *first = NULL, *last = NULL;
    json_model_skip_space(r);
    if (!json_model_take(r, '}')) {
        for (;;) {
            json_model_skip_space(r);
            if (!json_model_take(r, '"'))
                return NULL;
            const char *key = r->chars + r->char_count;
            if (!json_model_string(r, true))
                return NULL;
            for (const struct json_model_member *m = first; m != NULL; m = m->next)
                if (strcmp(m->key, key) == 0)
                    return NULL;
            json_model_skip_space(r);
            if (!json_model_take(r, ':'))
                return NULL;
            const struct json_model_value *value = json_model_value(r, depth);
            if (value == NULL)
                return NULL;
            struct json_model_member *m = &r->members[r->member_count++];
            *m = (struct json_model_member){.key = key, .value = value};
            if (last != NULL)
                last->next = m;
            else
                first = m;
            last = m;
            json_model_skip_space(r);
            if (json_model_take(r, '}'))
                break;
            if (!json_model_take(r, ','))
                return NULL;
        }
    }
    struct json_model_value *v = json_model_new(r, JSON_MODEL_OBJECT);
    v->members = first;
    return v;
}

static const struct json_model_value *json_model_value(struct json_model_reader *r, int depth)
{
    if (++depth > JSON_MODEL_MAX_DEPTH)
        return NULL;
    json_model_skip_space(r);
    if (json_model_at_end(r))
        return NULL;
    unsigned char c = r->text[r->at];
    if (c == '{' || c == '[') {
        r->at++;
        return c == '{' ? json_model_object(r, depth) : json_model_array(r, depth);
    }
    if (c == '"') {
        r->at++;
        return json_model_string(r, false) ? json_model_new(r, JSON_MODEL_STRING) : NULL;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return json_model_number(r);
    return json_model_word(r);
}

int json_model_parse(struct json_model *m, const char *text, size_t len)
{
    /* Every value and every member takes a byte of text; a key, its bytes and a NUL. */
    size_t slots = len + 1, chars = 2 * slots;
    char *block = malloc(
        slots * (sizeof(struct json_model_value) + sizeof(struct json_model_member) + 1) + chars);
    if (block == NULL)
        return -1;
    struct json_model_reader r = {
        .text = (const unsigned char *)text,
        .len = len,
        .values = (struct json_model_value *)(void *)block,
    };
    r.members = (struct json_model_member *)(void *)(r.values + slots);
    r.chars = (char *)(r.members + slots);
    r.scratch = r.chars + chars;
    m->block = block;
    /* Only an object or an array at the top, and nothing but white space after it. */
    json_model_skip_space(&r);
    m->root = NULL;
    if (json_model_at_end(&r) || (r.text[r.at] != '{' && r.text[r.at] != '['))
        return 0;
    const struct json_model_value *root = json_model_value(&r, 0);
    json_model_skip_space(&r);
    if (root != NULL && json_model_at_end(&r))
        m->root = root;
    return 0;
}

void json_model_free(struct json_model *m)
{
    free(m->block);
    *m = (struct json_model){0};
}

const struct json_model_value *json_model_get(const struct json_model_value *obj, const char *key)
{
    if (obj == NULL || obj->kind != JSON_MODEL_OBJECT)
        return NULL;
    for (const struct json_model_member *m = obj->members; m != NULL; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m->value;
    return NULL;
}
