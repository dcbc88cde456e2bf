/*
 * units: the one parser and printer of durations, sizes and rates that every
 * shout program uses (like wrk's units.c), so that `1m` or `4K` means the
 * same thing on every command line and in every printout.
 *
 *   durations  10, 1.5 (seconds), 10s, 500ms, 250us, 100ns, 2m, 1h
 *   sizes      64, 1k, 1K, 1Ki, 1KiB, 1KB, 4M, 1m, 2G, 1T    BINARY: k = 1024
 *   rates      10, 10k, 1.5M, 2G (per second)                 DECIMAL: k = 1000
 *
 * Sizes are binary because shoutd documented "K and M suffixes are binary"
 * for --max-frame before this module existed, and because buffers and frames
 * are sized in pages and powers of two; the suffix letter is case-blind and
 * may be followed by `i`, `iB` or `B`, all meaning the same (1KB = 1KiB =
 * 1024). Rates are decimal because "10k requests per second" means 10000 to
 * everyone who types it (wrk, iperf3). A rate takes no `m` (it would read as
 * milli); a duration's `m` is minutes.
 *
 * Numbers are plain decimal: digits, optionally a point and at most 9 more
 * digits. No sign, blanks, exponents, hex, inf or nan (strtod would take
 * them). A duration or size must come out whole in nanoseconds or bytes
 * (1.5K is 1536; 0.1K is refused), so every value parses exactly.
 *
 * Pure: no allocation, no locale, no errno. Parsers return 0 with the value,
 * -EINVAL when the text is not such a number, or -ERANGE when it is above
 * `max` (the value is then left alone). Formatters write into the caller's
 * buffer and return what snprintf returns; their output parses back to the
 * same value.
 */
#ifndef SHOUT_UNITS_H
#define SHOUT_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define UNITS_NS_PER_S 1000000000ull
/* Enough for any formatted value, the NUL included. */
#define UNITS_TEXT_MAX 32

int units_parse_duration_ns(const char *text, uint64_t max_ns, uint64_t *ns);
int units_parse_size(const char *text, uint64_t max, uint64_t *bytes);
int units_parse_rate(const char *text, double max_per_s, double *per_s);

/* The shortest exact form: 0, 250us, 1.5s, 2m, 1h (units_parse_duration_ns reads it back). */
int units_format_duration(uint64_t ns, char *out, size_t cap);
/* The largest binary unit that divides it: 64, 1536, 4K, 1M, 2G (units_parse_size reads it). */
int units_format_size(uint64_t bytes, char *out, size_t cap);
/* Decimal, with k, M or G, at most 4 significant digits: 950, 10k, 1.5M, 2.34G. */
int units_format_rate(double per_s, char *out, size_t cap);

#endif
