#include "base/password.h"

#include <sodium.h>
#include <string.h>

_Static_assert(SELGW_PASSWORD_HASH_SIZE == crypto_pwhash_STRBYTES, "hash string size");

bool selgw_password_hash_valid(const char *text)
{
    if (!text || strlen(text) >= SELGW_PASSWORD_HASH_SIZE)
        return false;
    /* libsodium's crypto_pwhash_str writes argon2id; argon2i strings verify too */
    if (strncmp(text, "$argon2id$", 10) && strncmp(text, "$argon2i$", 9))
        return false;
    if (sodium_init() < 0)
        return false;
    /* crypto_pwhash_str_needs_rehash decodes the whole string as the verify does (version,
     * parameters and their bounds, salt, hash) and returns -1 when that fails, 0 or 1
     * otherwise */
    return crypto_pwhash_str_needs_rehash(text, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != -1;
}

selgw_err selgw_password_hash(const char *password, size_t len, char out[SELGW_PASSWORD_HASH_SIZE])
{
    if (sodium_init() < 0)
        return SELGW_ERR_NOMEM;
    if (crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return SELGW_ERR_NOMEM; /* the only way it fails: the memory limit */
    return SELGW_OK;
}
