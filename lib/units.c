#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* At most 9 decimals: nanoseconds of a second, and the exact-division trick below stays in 64 bits.
 */
#define UNITS_MAX_DECIMALS 9

/* A decimal number as whole + num/den, den a power of ten, num < den. */
struct units_number {
    uint64_t whole;
    uint64_t num;
    uint64_t den;
};

/* Reads digits[.digits] from *text and leaves *text at the first byte after them. */
static int units_scan_number(const char **text, struct units_number *n)
{
    const char *p = *text;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    bool too_big = false;
    n->whole = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (n->whole > (UINT64_MAX - digit) / 10)
            too_big = true;
        else
            n->whole = n->whole * 10 + digit;
    }
    n->num = 0;
    n->den = 1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        int decimals = 0;
        for (; *p >= '0' && *p <= '9'; p++, decimals++) {
            if (decimals >= UNITS_MAX_DECIMALS) {
                /* Trailing zeros past the limit change nothing; other digits are too precise. */
                if (*p != '0')
                    return -EINVAL;
                continue;
            }
            n->num = n->num * 10 + (uint64_t)(*p - '0');
            n->den *= 10;
        }
    }
    *text = p;
    /* Well-formed but past 2^64: a range error, not a syntax error. */
    return too_big ? -ERANGE : 0;
}

/* n x scale exactly, or -EINVAL when it is not whole, -ERANGE past max. */
static int units_scale_exact(const struct units_number *n, uint64_t scale, uint64_t max,
                             uint64_t *value)
{
    /*
     * num/den x scale = num x (scale/den) + num x (scale%den) / den. num < den
     * <= 10^9 keeps both products in 64 bits, and the first is below scale.
     */
    uint64_t q = scale / n->den, r = scale % n->den;
    uint64_t rest = n->num * r;
    if (rest % n->den != 0)
        return -EINVAL;
    uint64_t frac = n->num * q + rest / n->den;
    if (n->whole > (UINT64_MAX - frac) / scale)
        return -ERANGE;
    uint64_t total = n->whole * scale + frac;
    if (total > max)
        return -ERANGE;
    *value = total;
    return 0;
}

int units_parse_duration_ns(const char *text, uint64_t max_ns, uint64_t *ns)
{
    static const struct {
        const char *suffix;
        uint64_t ns;
    } suffixes[] = {
        {"", UNITS_NS_PER_S},
        {"s", UNITS_NS_PER_S},
        {"ms", 1000000},
        {"us", 1000},
        {"ns", 1},
        {"m", 60 * UNITS_NS_PER_S},
        {"h", 3600 * UNITS_NS_PER_S},
    };
    struct units_number n;
    int rc = units_scan_number(&text, &n);
    if (rc == -EINVAL)
        return rc;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (strcmp(text, suffixes[i].suffix) == 0)
            return rc != 0 ? rc : units_scale_exact(&n, suffixes[i].ns, max_ns, ns);
    }
    return -EINVAL;
}

int units_parse_size(const char *text, uint64_t max, uint64_t *bytes)
{
    struct units_number n;
    int rc = units_scan_number(&text, &n);
    if (rc == -EINVAL)
        return rc;
    uint64_t scale = 1;
    const char *letter = strchr("kmgt", *text | 0x20);
    if (*text != '\0' && letter) {
        for (const char *l = "kmgt"; l <= letter; l++)
            scale *= 1024;
        text++;
        if (*text == 'i')
            text++;
    }
    if (*text == 'B')
        text++;
    if (*text != '\0')
        return -EINVAL;
    return rc != 0 ? rc : units_scale_exact(&n, scale, max, bytes);
}

int units_parse_rate(const char *text, double max_per_s, double *per_s)
{
    struct units_number n;
    int rc = units_scan_number(&text, &n);
    if (rc == -EINVAL)
        return rc;
    double scale = 1;
    if (*text == 'k' || *text == 'K')
        scale = 1e3;
    else if (*text == 'M')
        scale = 1e6;
    else if (*text == 'G')
        scale = 1e9;
    if (scale != 1)
        text++;
    if (*text != '\0')
        return -EINVAL;
    if (rc != 0)
        return rc;
    double value = ((double)n.whole + (double)n.num / (double)n.den) * scale;
    if (value > max_per_s)
        return -ERANGE;
    *per_s = value;
    return 0;
}

/* whole.frac (frac over den, trailing zeros dropped) followed by unit. */
static int units_format_fixed(char *out, size_t cap, uint64_t value, uint64_t den, const char *unit)
{
    uint64_t frac = value % den;
    if (frac == 0)
        return snprintf(out, cap, "%" PRIu64 "%s", value / den, unit);
    int digits = 0;
    for (uint64_t d = den; d > 1; d /= 10)
        digits++;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    return snprintf(out, cap, "%" PRIu64 ".%0*" PRIu64 "%s", value / den, digits, frac, unit);
}

int units_format_duration(uint64_t ns, char *out, size_t cap)
{
    if (ns == 0)
        return snprintf(out, cap, "0");
    /* Minutes and hours only when whole: 90s reads better than 1.5m. */
    if (ns % (3600 * UNITS_NS_PER_S) == 0)
        return units_format_fixed(out, cap, ns, 3600 * UNITS_NS_PER_S, "h");
    if (ns % (60 * UNITS_NS_PER_S) == 0)
        return units_format_fixed(out, cap, ns, 60 * UNITS_NS_PER_S, "m");
    if (ns >= UNITS_NS_PER_S)
        return units_format_fixed(out, cap, ns, UNITS_NS_PER_S, "s");
    if (ns >= 1000000)
        return units_format_fixed(out, cap, ns, 1000000, "ms");
    if (ns >= 1000)
        return units_format_fixed(out, cap, ns, 1000, "us");
    return units_format_fixed(out, cap, ns, 1, "ns");
}

int units_format_size(uint64_t bytes, char *out, size_t cap)
{
    static const char letters[] = "KMGT";
    int unit = -1;
    uint64_t value = bytes;
    while (value != 0 && value % 1024 == 0 && unit < 3) {
        value /= 1024;
        unit++;
    }
    if (unit < 0)
        return snprintf(out, cap, "%" PRIu64, bytes);
    return snprintf(out, cap, "%" PRIu64 "%c", value, letters[unit]);
}

int units_format_rate(double per_s, char *out, size_t cap)
{
    if (!isfinite(per_s) || per_s < 0)
        return snprintf(out, cap, "%g", per_s);
    const char *unit = "";
    double value = per_s;
    if (per_s >= 999.95e6) {
        value = per_s / 1e9;
        unit = "G";
    } else if (per_s >= 999.95e3) {
        value = per_s / 1e6;
        unit = "M";
    } else if (per_s >= 999.95) {
        value = per_s / 1e3;
        unit = "k";
    }
    /* %.4g would switch to an exponent past 9999 (only G values get there). */
    if (value >= 9999.5)
        return snprintf(out, cap, "%.0f%s", value, unit);
    return snprintf(out, cap, "%.4g%s", value, unit);
}
