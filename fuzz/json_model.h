/*
 * json_model: a naive JSON reader for fuzz_stats_json's model, so that the
 * model does not share the parser it checks (the client reads the stats
 * port's answer with jansson). Written from RFC 8259 and from what jansson's
 * documentation says it refuses when called as the client calls it
 * (json_loadb with JSON_REJECT_DUPLICATES): the top level must be an object
 * or an array; a duplicate key, "\u0000", a lone surrogate, bytes that are
 * not UTF-8, an integer outside int64, a real that overflows a double, and
 * nesting deeper than 2048 values are errors; nothing but white space may
 * follow the value.
 *
 * It keeps only what the model reads: each value's kind and number, and
 * each object's members. Memory: json_model_parse takes one block, sized
 * from the input, which json_model_free releases; every value and key
 * points into it.
 */
#ifndef SHOUT_FUZZ_JSON_MODEL_H
#define SHOUT_FUZZ_JSON_MODEL_H

#include <stdbool.h>
#include <stddef.h>

enum json_model_kind {
    JSON_MODEL_NULL,
    JSON_MODEL_BOOL,
    JSON_MODEL_INTEGER,
    JSON_MODEL_REAL,
    JSON_MODEL_STRING,
    JSON_MODEL_ARRAY,
    JSON_MODEL_OBJECT,
};

struct json_model_member;

struct json_model_value {
    enum json_model_kind kind;
    long long integer;                       /* JSON_MODEL_INTEGER */
    double real;                             /* JSON_MODEL_REAL */
    const struct json_model_member *members; /* JSON_MODEL_OBJECT: the first, or NULL */
};

struct json_model_member {
    const char *key; /* decoded, NUL-terminated ("\u0000" is refused, so no NUL inside) */
    const struct json_model_value *value;
    const struct json_model_member *next;
};

struct json_model {
    void *block;
    const struct json_model_value *root; /* NULL: the text is refused */
};

/* Read text[0..len). 0, or -1 when out of memory (then *m holds nothing). */
int json_model_parse(struct json_model *m, const char *text, size_t len);
void json_model_free(struct json_model *m);

/* The member of an object with that key, or NULL (NULL too when obj is not an object). */
const struct json_model_value *json_model_get(const struct json_model_value *obj, const char *key);

#endif
