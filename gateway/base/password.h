/* selgw: the HTTP API's password hash strings (http.password_hash): made by `selgw passwd`,
 * checked by the config when it is loaded (`selgw check`, `selgw run`, a reload) and by the
 * HTTP server when it starts, with this one rule, so that a config that passes the check is
 * one the server takes. libsodium's crypto_pwhash_str strings (Argon2id; Argon2i verify
 * too). */
#ifndef SELGW_PASSWORD_H
#define SELGW_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* Room for a hash string, its NUL included (crypto_pwhash_STRBYTES). */
#define SELGW_PASSWORD_HASH_SIZE 128

/* Whether text is a hash this build can verify against: "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH"
 * (or $argon2i$) whose parameters, salt and hash libsodium accepts (m at least 8 KiB per
 * lane, a salt of 8 bytes and a hash of 16 at least...). The shape alone is not enough:
 * "$argon2id$v=19$m=1,t=1,p=1$..." has the shape and no verify takes it. */
bool selgw_password_hash_valid(const char *text);

/* Hashes a password for the config (`selgw passwd`), with libsodium's interactive limits.
 * SELGW_ERR_NOMEM when the memory the hash needs is not there. */
selgw_err selgw_password_hash(const char *password, size_t len, char out[SELGW_PASSWORD_HASH_SIZE]);

#endif
