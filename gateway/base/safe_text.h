/* selgw: text that came from outside (record strings in a bundle, annotations typed by
 * people, a device's strings) checked before it is stored and escaped before it is shown.
 *
 * A record's strings are data. Printed raw, a newline, a carriage return or a terminal
 * escape sequence in them could draw a line that looks like the program's own (a fake
 * "VERIFIED:"), and bidirectional-override characters could reorder what a reader sees.
 * Pure functions. */
#ifndef SELGW_SAFE_TEXT_H
#define SELGW_SAFE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1..4) of the well-formed UTF-8 sequence at p (n bytes available) and its
 * code point; 0 when the bytes there are not well-formed UTF-8 (a stray continuation
 * byte, a truncated sequence, an overlong form, a surrogate, a value past U+10FFFF). */
size_t selgw_utf8_sequence(const unsigned char *p, size_t n, uint32_t *code_point);

/* Whether the code point changes how text around it is shown rather than being shown:
 * C0 and C1 controls (tab and newline included), DEL, line and paragraph separators,
 * bidirectional marks, embeddings, overrides and isolates, zero-width space and the
 * byte-order mark. */
bool selgw_code_point_is_control(uint32_t cp);

/* Whether s[0..n) is well-formed UTF-8 with no control code point (above): what a
 * single-line text typed by a person may hold. */
bool selgw_text_is_clean(const char *s, size_t n);

/* Appends s[0..n) to buf snprintf-style (see text_writer.h: never past cap, *len grows by
 * the full length needed) so that it shows as one inert line: `\` as `\\`, newline, CR
 * and tab as `\n`, `\r`, `\t`, other control bytes and bytes of malformed UTF-8 as
 * `\xHH`, control code points above U+007F as `\uHHHH`; all else unchanged (Chinese
 * text stays readable). */
void selgw_text_escape(char *buf, size_t cap, size_t *len, const char *s, size_t n);

/* The same into a new NUL-terminated string (malloc); NULL when out of memory. */
char *selgw_text_escape_dup(const char *s, size_t n);

/* A decimal number at s: digits only (no sign, no space before), no overflow; *end is set
 * past its last digit. */
bool selgw_parse_u64(const char *s, const char **end, uint64_t *out);

#endif
