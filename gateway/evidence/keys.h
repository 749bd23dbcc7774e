/* selgw: the gateway's Ed25519 key pair and the hashes of the evidence chain (libsodium).
 *
 * `selgw keygen` writes the secret key with mode 0600 and prints the public key, which the
 * enterprise gives to its auditor. The daemon refuses a secret key that group or others can
 * read. Record hashes are BLAKE2b-256 (crypto_generichash) of a record's payload bytes. */
#ifndef SELGW_KEYS_H
#define SELGW_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define SELGW_HASH_BYTES 32
#define SELGW_PUBLIC_KEY_BYTES 32
#define SELGW_SIGNATURE_BYTES 64
/* "ed25519:" and 64 hex digits, NUL-terminated */
#define SELGW_PUBLIC_KEY_TEXT_SIZE 80

typedef struct selgw_signer selgw_signer;

/* Creates a key pair: the secret key goes to a new file at secret_path (never over an
 * existing one; mode 0600, fsync'd), the public key text ("ed25519:<hex>") into
 * public_text. On failure `why` says what went wrong (path and reason). */
selgw_err selgw_keygen(const char *secret_path, char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE],
                       char *why, size_t why_cap);

/* Loads a secret key file. SELGW_ERR_IO with `why` when it is missing or unreadable,
 * SELGW_ERR_INVALID when it is not a selgw key file, SELGW_ERR_AUTH when group or others
 * may read it ("chmod 600 FILE"). The key lives in guarded memory (sodium_malloc). */
selgw_err selgw_signer_load(const char *secret_path, selgw_signer **out, char *why, size_t why_cap);
void selgw_signer_free(selgw_signer *signer); /* wipes the key; NULL is fine */

void selgw_signer_public_key(const selgw_signer *signer, uint8_t pk[SELGW_PUBLIC_KEY_BYTES]);

/* Detached Ed25519 signature of msg. */
void selgw_sign(const selgw_signer *signer, const uint8_t *msg, size_t len,
                uint8_t sig[SELGW_SIGNATURE_BYTES]);
bool selgw_signature_ok(const uint8_t pk[SELGW_PUBLIC_KEY_BYTES], const uint8_t *msg, size_t len,
                        const uint8_t sig[SELGW_SIGNATURE_BYTES]);

/* "ed25519:<64 lower-case hex digits>" */
void selgw_public_key_format(const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                             char text[SELGW_PUBLIC_KEY_TEXT_SIZE]);
bool selgw_public_key_parse(const char *text, uint8_t pk[SELGW_PUBLIC_KEY_BYTES]);

/* A short fingerprint of a public key, for people to compare by eye or read out over the
 * phone: the first 10 bytes of BLAKE2b-256 of the key's 32 bytes as five groups of four
 * lower-case hex digits, "3b6a-27bc-ceb6-a42d-62a3". */
#define SELGW_KEY_FINGERPRINT_SIZE 25
void selgw_key_fingerprint(const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                           char out[SELGW_KEY_FINGERPRINT_SIZE]);

/* Looks pk up in a file of registered keys (docs/KEYS.md): one "ed25519:<hex>" a line,
 * optionally followed by spaces and a label saying whose key it is; blank lines and lines
 * starting with '#' are skipped. *found says whether pk is there, with its label (may be
 * empty). SELGW_ERR_IO when the file cannot be read, SELGW_ERR_INVALID for a line that is
 * not a key ("FILE:LINE: ..." in why). */
selgw_err selgw_registered_key(const char *path, const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                               bool *found, char *label, size_t label_cap, char *why,
                               size_t why_cap);

/* BLAKE2b-256 of data. */
void selgw_hash(const uint8_t *data, size_t len, uint8_t out[SELGW_HASH_BYTES]);

/* Lower-case hex of a hash, NUL-terminated (65 bytes). */
void selgw_hash_hex(const uint8_t hash[SELGW_HASH_BYTES], char hex[2 * SELGW_HASH_BYTES + 1]);

#endif
