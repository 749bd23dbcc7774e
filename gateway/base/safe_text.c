#include "base/safe_text.h"

#include <errno.h>
#include <stdlib.h>

#include "base/text_writer.h"

size_t selgw_utf8_sequence(const unsigned char *p, size_t n, uint32_t *code_point)
{
    if (n == 0)
        return 0;
    unsigned char b = p[0];
    size_t len;
    uint32_t cp, min;
    if (b < 0x80) {
        *code_point = b;
        return 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
        len = 2, cp = b & 0x1f, min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3, cp = b & 0x0f, min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4, cp = b & 0x07, min = 0x10000;
    } else {
        return 0; /* a continuation byte, 0xc0/0xc1 (always overlong) or past U+10FFFF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *code_point = cp;
    return len;
}

bool selgw_code_point_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200b ||
           cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

bool selgw_text_is_clean(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = selgw_utf8_sequence(p + i, n - i, &cp);
        if (len == 0 || selgw_code_point_is_control(cp))
            return false;
        i += len;
    }
    return true;
}

void selgw_text_escape(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* the longest run that needs no escaping goes out in one copy */
        size_t run = i;
        uint32_t cp = 0;
        size_t seq = 0;
        while (run < n && (seq = selgw_utf8_sequence(p + run, n - run, &cp)) != 0 &&
               !selgw_code_point_is_control(cp) && cp != '\\')
            run += seq;
        if (run > i)
            selgw_text_bytes(buf, cap, len, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        if (seq == 0) {
            selgw_text_format(buf, cap, len, "\\x%02x", p[i]);
            i++;
        } else if (cp == '\\') {
            selgw_text_bytes(buf, cap, len, "\\\\", 2);
            i++;
        } else if (cp == '\n') {
            selgw_text_bytes(buf, cap, len, "\\n", 2);
            i++;
        } else if (cp == '\r') {
            selgw_text_bytes(buf, cap, len, "\\r", 2);
            i++;
        } else if (cp == '\t') {
            selgw_text_bytes(buf, cap, len, "\\t", 2);
            i++;
        } else if (cp < 0x80) {
            selgw_text_format(buf, cap, len, "\\x%02x", (unsigned)cp);
            i++;
        } else {
            selgw_text_format(buf, cap, len, "\\u%04x", (unsigned)cp);
            i += seq;
        }
    }
}

char *selgw_text_escape_dup(const char *s, size_t n)
{
    size_t need = 0;
    selgw_text_escape(NULL, 0, &need, s, n);
    char *out = malloc(need + 1);
    if (!out)
        return NULL;
    size_t len = 0;
    out[0] = '\0';
    selgw_text_escape(out, need + 1, &len, s, n);
    return out;
}

bool selgw_parse_u64(const char *s, const char **end, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *e;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno)
        return false;
    *out = v;
    *end = e;
    return true;
}
