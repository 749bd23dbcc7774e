/* selgw (internal): writing text into a caller's buffer, snprintf-style, for the encoders
 * (reading and record JSON, InfluxDB line protocol).
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
#include <string.h>

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
 * characters (a NUL byte too, as \u0000); passes UTF-8 through. */
static inline void selgw_json_string_n(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    selgw_text_char(buf, cap, len, '"');
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
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
        default:
            if (p[i] < 0x20 || p[i] == 0x7f)
                selgw_text_format(buf, cap, len, "\\u%04x", p[i]);
            else
                selgw_text_char(buf, cap, len, (char)p[i]);
        }
    }
    selgw_text_char(buf, cap, len, '"');
}

/* A number as JSON: null when not finite (JSON has no NaN). 15 significant digits print
 * 0.1-step values (23.4) without binary noise and keep every integer below 10^15 exact. */
static inline void selgw_json_number(char *buf, size_t cap, size_t *len, double v)
{
    if (!isfinite(v))
        selgw_text_bytes(buf, cap, len, "null", 4);
    else
        selgw_text_format(buf, cap, len, "%.15g", v);
}

#endif
