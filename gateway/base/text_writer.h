/* selgw (internal): writing text into a caller's buffer, snprintf-style, for the encoders
 * (record JSON, InfluxDB line protocol).
 *
 * Every function appends at *len, never writes at or past cap, keeps the text
 * NUL-terminated when there is room, and advances *len by the full length the text needs,
 * so that a caller can size a buffer from a first pass with cap 0 (buf may then be NULL).
 * Header-only (static inline) so that the encoders share one copy without a library of
 * their own. */
#ifndef SELGW_TEXT_WRITER_H
#define SELGW_TEXT_WRITER_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/safe_text.h"

static inline void selgw_text_char(char *buf, size_t cap, size_t *len, char c)
{
    if (*len + 1 < cap) {
        buf[*len] = c;
        buf[*len + 1] = '\0';
    }
    (*len)++;
}

static inline void selgw_text_bytes(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + 1 < cap) {
        size_t room = cap - *len - 1;
        size_t copy = n < room ? n : room;
        if (copy)
            memcpy(buf + *len, s, copy);
        buf[*len + copy] = '\0';
    }
    *len += n;
}

/* A string literal: its length is known when compiling, so no strlen and no format. */
#define SELGW_TEXT_LITERAL(buf, cap, len, literal)                                                 \
    selgw_text_bytes(buf, cap, len, "" literal, sizeof(literal) - 1)

/* A NUL-terminated string as it is (no escaping). */
static inline void selgw_text_str(char *buf, size_t cap, size_t *len, const char *s)
{
    selgw_text_bytes(buf, cap, len, s, strlen(s));
}

/* v in decimal, as printf's "%llu": the encoders write many of these, and vsnprintf costs
 * about twenty times as much. */
static inline void selgw_text_uint(char *buf, size_t cap, size_t *len, unsigned long long v)
{
    char text[20];
    size_t n = sizeof text;
    do {
        text[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    selgw_text_bytes(buf, cap, len, text + n, sizeof text - n);
}

/* v in decimal, as printf's "%lld". */
static inline void selgw_text_int(char *buf, size_t cap, size_t *len, long long v)
{
    if (v < 0) {
        selgw_text_char(buf, cap, len, '-');
        selgw_text_uint(buf, cap, len, 0ULL - (unsigned long long)v);
    } else {
        selgw_text_uint(buf, cap, len, (unsigned long long)v);
    }
}

static inline void selgw_text_format(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline void selgw_text_format(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = *len < cap ? cap - *len : 0;
    int n = vsnprintf(room ? buf + *len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

/* s[0..n) as a JSON string literal with its quotes. Escapes `"`, `\` and control
 * characters (a NUL byte too, as \u0000); passes well-formed UTF-8 through, and writes
 * each byte that is not (a damaged record, a device's garbage) as U+FFFD, so that the JSON
 * is always valid UTF-8. */
static inline void selgw_json_string_n(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (*len + n + 3 <= cap) {
        /* Room for the whole string unescaped, both quotes and the NUL: the usual case
         * (names, units, times) is copied byte by byte as it is scanned, without a second
         * pass or a memcpy call, up to the first byte that needs more than a copy. */
        char *out = buf + *len;
        *out++ = '"';
        while (i < n && p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            *out++ = (char)p[i++];
        if (i == n) {
            *out++ = '"';
            *out = '\0';
            *len += n + 2;
            return;
        }
        *out = '\0';
        *len += i + 1;
    } else {
        selgw_text_char(buf, cap, len, '"');
    }
    while (i < n) {
        /* A run of printable ASCII that needs no escape goes in one copy. */
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            selgw_text_bytes(buf, cap, len, s + i, run - i);
            i = run;
            continue;
        }
        if (p[i] >= 0x80) {
            uint32_t cp;
            size_t seq = selgw_utf8_sequence(p + i, n - i, &cp);
            if (seq == 0) {
                selgw_text_bytes(buf, cap, len, "\xef\xbf\xbd", 3); /* U+FFFD */
                i++;
            } else {
                selgw_text_bytes(buf, cap, len, s + i, seq);
                i += seq;
            }
            continue;
        }
        switch (p[i]) {
        case '"':
            selgw_text_bytes(buf, cap, len, "\\\"", 2);
            break;
        case '\\':
            selgw_text_bytes(buf, cap, len, "\\\\", 2);
            break;
        case '\n':
            selgw_text_bytes(buf, cap, len, "\\n", 2);
            break;
        case '\r':
            selgw_text_bytes(buf, cap, len, "\\r", 2);
            break;
        case '\t':
            selgw_text_bytes(buf, cap, len, "\\t", 2);
            break;
        default: { /* the other control characters and DEL: backslash, u, four hex digits */
            char esc[6] = {'\\', 'u', '0', '0', hex[p[i] >> 4], hex[p[i] & 0xf]};
            selgw_text_bytes(buf, cap, len, esc, sizeof esc);
        }
        }
        i++;
    }
    selgw_text_char(buf, cap, len, '"');
}

/* A NUL-terminated s as a JSON string literal, as selgw_json_string_n; NULL as "". */
static inline void selgw_json_string(char *buf, size_t cap, size_t *len, const char *s)
{
    selgw_json_string_n(buf, cap, len, s ? s : "", s ? strlen(s) : 0);
}

/* A finite double as printf's "%.15g" writes it: 15 significant digits print 0.1-step
 * values (23.4) without binary noise and keep every integer below 10^15 exact.
 *
 * glibc formats through multi-precision arithmetic, which made number formatting a third
 * of the cost of draining a backlog into InfluxDB. Sensor values are moderate, so the
 * usual case rounds |v| * 10^d to an integer in extended precision and places the point;
 * the extended product is close enough to the exact one, and rounding half to even as
 * printf does, that the result agrees with
 * printf's (tests/unit/test_lineproto.c compares the two over millions of values). Very
 * large or small magnitudes take printf's path. */
static inline void selgw_text_double(char *buf, size_t cap, size_t *len, double v)
{
    double mag = fabs(v);
    if (!(mag >= 1e-4 && mag < 1e15)) { /* also 0 and -0, which printf writes "-0" */
        selgw_text_format(buf, cap, len, "%.15g", v);
        return;
    }
    int exp10 = (int)floor(log10(mag)); /* position of the first significant digit */
    int decimals = 14 - exp10;          /* 15 significant digits */
    static const long double pow10[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,
                                        1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
                                        1e14L, 1e15L, 1e16L, 1e17L, 1e18L};
    if (decimals < 0 || decimals > 18) {
        selgw_text_format(buf, cap, len, "%.15g", v);
        return;
    }
    long double scaled = (long double)mag * pow10[decimals];
    if (scaled >= 999999999999999.5L && decimals > 0) { /* log10 was one short */
        decimals--;
        scaled = (long double)mag * pow10[decimals];
    } else if (scaled < 99999999999999.5L && decimals < 18) { /* or one long */
        decimals++;
        scaled = (long double)mag * pow10[decimals];
    }
    /* Within a hair of a rounding tie the extended product cannot tell which way the exact
     * value lies: printf decides those (a few in a thousand). */
    if (decimals < 0 || scaled >= 999999999999999.5L || scaled < 99999999999999.5L) {
        selgw_text_format(buf, cap, len, "%.15g", v);
        return;
    }
    unsigned long long digits = (unsigned long long)scaled; /* truncates: positive */
    long double frac = scaled - (long double)digits;
    if (frac > 0.499L && frac < 0.501L) {
        selgw_text_format(buf, cap, len, "%.15g", v);
        return;
    }
    digits += frac > 0.5L;
    while (decimals > 0 && digits % 10 == 0) { /* %g drops trailing zeros */
        digits /= 10;
        decimals--;
    }
    char text[48];
    int n = 0;
    char rev[24];
    int r = 0;
    do {
        rev[r++] = (char)('0' + digits % 10);
        digits /= 10;
    } while (digits);
    if (v < 0)
        text[n++] = '-';
    if (r <= decimals) { /* 0.000ddd */
        text[n++] = '0';
        text[n++] = '.';
        for (int z = 0; z < decimals - r; z++)
            text[n++] = '0';
        while (r)
            text[n++] = rev[--r];
    } else {
        while (r > decimals)
            text[n++] = rev[--r];
        if (decimals) {
            text[n++] = '.';
            while (r)
                text[n++] = rev[--r];
        }
    }
    selgw_text_bytes(buf, cap, len, text, (size_t)n);
}

/* A number as JSON: null when not finite (JSON has no NaN). */
static inline void selgw_json_number(char *buf, size_t cap, size_t *len, double v)
{
    if (!isfinite(v))
        selgw_text_bytes(buf, cap, len, "null", 4);
    else
        selgw_text_double(buf, cap, len, v);
}

/* A finite double as the shortest of %.15g, %.16g and %.17g that reads back as exactly the
 * same value (JSON numbers in evidence: two different calibrations never print alike, and
 * ordinary values keep their short form); null otherwise. */
static inline void selgw_json_number_exact(char *buf, size_t cap, size_t *len, double v)
{
    if (!isfinite(v)) {
        selgw_text_bytes(buf, cap, len, "null", 4);
        return;
    }
    char text[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    selgw_text_bytes(buf, cap, len, text, strlen(text));
}

#endif
