/* selgw: standard base64 (RFC 4648 section 4, with padding) decoding for evidence bundles.
 *
 * libsodium's decoder is constant-time, which secret keys need and public records do not,
 * and at about 200 MB/s it was half of the time verifying a season's bundle took. This
 * one takes four characters a step through a table. It accepts what
 * sodium_base642bin(..., sodium_base64_VARIANT_ORIGINAL) accepts with no characters to
 * ignore: a length that is a multiple of four, padding only at the end, and unused bits of
 * the last character zero (so every payload has one spelling); and it refuses bytes
 * 0x80..0xFF, which Debian 12's libsodium 1.0.18 reads as '/' (fixed upstream). Pure. */
#ifndef SELGW_BASE64_H
#define SELGW_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes in[0..len) into out (cap bytes); false if it is not canonical base64 or does
 * not fit. */
bool selgw_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif
