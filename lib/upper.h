/*
 * upper: the ASCII uppercase kernel, with the semantics of Python's
 * bytes.upper(): bytes 'a'..'z' become 'A'..'Z' and every other byte, UTF-8
 * included, is copied unchanged, so the output always has the input's length.
 *
 * upper_ascii() is the fast path (eight bytes a step, word-at-a-time);
 * upper_ascii_scalar() is the obviously-correct reference the fast path is
 * tested against. Both write len bytes to dst, which may be src itself (in
 * place) but must not otherwise overlap it. Neither allocates.
 */
#ifndef SHOUT_UPPER_H
#define SHOUT_UPPER_H

#include <stddef.h>
#include <stdint.h>

void upper_ascii(uint8_t *dst, const uint8_t *src, size_t len);
void upper_ascii_scalar(uint8_t *dst, const uint8_t *src, size_t len);

#endif
