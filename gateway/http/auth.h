/* selgw: the HTTP server's optional password (HTTP Basic authentication).
 *
 * The config holds only a libsodium crypto_pwhash_str string (Argon2id), written by
 * `selgw passwd`; a request's credentials are checked against it with
 * crypto_pwhash_str_verify. That costs tens of milliseconds and tens of MiB on purpose, so
 * a page load of ten requests must not pay it ten times: the last few credentials that
 * verified are remembered, as a keyed BLAKE2b hash (the key random per server, the
 * credentials themselves never kept), and a request whose hash matches one (compared in
 * constant time) passes without a new verify. The user name is not checked: there is one
 * password. Nothing here logs. */
#ifndef SELGW_HTTP_AUTH_H
#define SELGW_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* Room for a hash string, its NUL included (crypto_pwhash_STRBYTES). */
#define SELGW_PASSWORD_HASH_SIZE 128

typedef struct selgw_http_auth selgw_http_auth;

/* hash: a crypto_pwhash_str string. SELGW_ERR_INVALID when it is not one. */
selgw_err selgw_http_auth_new(const char *hash, selgw_http_auth **out);
void selgw_http_auth_free(selgw_http_auth *a); /* NULL is fine */

/* Whether an Authorization header's value ("Basic BASE64(user:password)"; NULL when the
 * request had none) carries the password. */
bool selgw_http_auth_check(selgw_http_auth *a, const char *authorization);

/* How many times the slow verify ran (for the tests: the cache works). */
unsigned long selgw_http_auth_verifies(selgw_http_auth *a);

/* Whether text looks like a hash this build can verify (the config's check). */
bool selgw_password_hash_valid(const char *text);

/* Hashes a password for the config (`selgw passwd`), with libsodium's interactive limits.
 * SELGW_ERR_NOMEM when the memory the hash needs is not there. */
selgw_err selgw_password_hash(const char *password, size_t len, char out[SELGW_PASSWORD_HASH_SIZE]);

#endif
