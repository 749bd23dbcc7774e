/* selgw: the HTTP server's optional password (HTTP Basic authentication).
 *
 * The config holds only a libsodium crypto_pwhash_str string (Argon2id, base/password.h),
 * written by `selgw passwd`; a request's credentials are checked against it with
 * crypto_pwhash_str_verify. That costs tens of milliseconds and tens of MiB on purpose, so
 * a page load of ten requests must not pay it ten times: the last few credentials that
 * verified are remembered, as a keyed BLAKE2b hash (the key random per server, the
 * credentials themselves never kept), and a request whose hash matches one (compared in
 * constant time) passes without a new verify.
 *
 * Wrong passwords must not tie up the server's one thread either (anyone on the LAN can
 * send them): after a verify that failed, for SELGW_HTTP_AUTH_BACKOFF_MS no other verify
 * runs and every credential not remembered is refused at once. So at most one slow verify a
 * second is spent on guesses, whatever their rate; a browser that already passed keeps
 * passing; someone typing the right password just then is asked again. The user name is not
 * checked: there is one password. Nothing here logs. */
#ifndef SELGW_HTTP_AUTH_H
#define SELGW_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "base/error.h"
#include "base/password.h"

/* After a failed verify, how long every credential not remembered is refused unverified. */
#define SELGW_HTTP_AUTH_BACKOFF_MS 1000

typedef struct selgw_http_auth selgw_http_auth;

/* hash: a crypto_pwhash_str string. SELGW_ERR_INVALID when it is not one. */
selgw_err selgw_http_auth_new(const char *hash, selgw_http_auth **out);
void selgw_http_auth_free(selgw_http_auth *a); /* NULL is fine */

/* Whether an Authorization header's value ("Basic BASE64(user:password)"; NULL when the
 * request had none) carries the password. */
bool selgw_http_auth_check(selgw_http_auth *a, const char *authorization);

/* The same at a given monotonic time (selgw_mono_ns): for the tests of the back-off. */
bool selgw_http_auth_check_at(selgw_http_auth *a, const char *authorization, int64_t now_ns);

/* How many times the slow verify ran (for the tests: the cache and the back-off work). */
unsigned long selgw_http_auth_verifies(selgw_http_auth *a);

#endif
