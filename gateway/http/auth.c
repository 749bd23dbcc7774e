#include "http/auth.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"

/* Credentials remembered as verified; the oldest is replaced. */
#define CACHE_SLOTS 4
#define CACHE_HASH_BYTES 32
/* Longest Authorization value looked at: a password of a few hundred bytes in base64. */
#define MAX_CREDENTIALS 1024

struct selgw_http_auth {
    pthread_mutex_t lock;
    char hash[SELGW_PASSWORD_HASH_SIZE];
    uint8_t key[crypto_generichash_KEYBYTES];
    uint8_t cache[CACHE_SLOTS][CACHE_HASH_BYTES];
    bool used[CACHE_SLOTS];
    unsigned next_slot;
    unsigned long verifies;
    bool failed;       /* a verify failed, at failed_ns */
    int64_t failed_ns; /* selgw_mono_ns */
};

selgw_err selgw_http_auth_new(const char *hash, selgw_http_auth **out)
{
    *out = NULL;
    if (!selgw_password_hash_valid(hash))
        return SELGW_ERR_INVALID;
    selgw_http_auth *a = calloc(1, sizeof *a);
    if (!a)
        return SELGW_ERR_NOMEM;
    pthread_mutex_init(&a->lock, NULL);
    memcpy(a->hash, hash, strlen(hash) + 1);
    randombytes_buf(a->key, sizeof a->key);
    *out = a;
    return SELGW_OK;
}

void selgw_http_auth_free(selgw_http_auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    sodium_memzero(a, sizeof *a);
    free(a);
}

unsigned long selgw_http_auth_verifies(selgw_http_auth *a)
{
    pthread_mutex_lock(&a->lock);
    unsigned long n = a->verifies;
    pthread_mutex_unlock(&a->lock);
    return n;
}

bool selgw_http_auth_check(selgw_http_auth *a, const char *authorization)
{
    return selgw_http_auth_check_at(a, authorization, selgw_mono_ns());
}

bool selgw_http_auth_check_at(selgw_http_auth *a, const char *authorization, int64_t now_ns)
{
    if (!a || !authorization || strncasecmp(authorization, "Basic ", 6))
        return false;
    const char *b64 = authorization + 6;
    while (*b64 == ' ')
        b64++;
    size_t b64_len = strlen(b64);
    while (b64_len && b64[b64_len - 1] == ' ')
        b64_len--;
    if (b64_len == 0 || b64_len > MAX_CREDENTIALS)
        return false;

    uint8_t tag[CACHE_HASH_BYTES];
    crypto_generichash(tag, sizeof tag, (const uint8_t *)b64, b64_len, a->key, sizeof a->key);
    pthread_mutex_lock(&a->lock);
    bool hit = false;
    for (unsigned i = 0; i < CACHE_SLOTS; i++)
        hit |= a->used[i] && sodium_memcmp(a->cache[i], tag, sizeof tag) == 0;
    /* a guess came less than the back-off ago: no verify for this one (the one thread of
     * the server is not spent on a stream of guesses) */
    bool backing_off =
        !hit && a->failed && now_ns - a->failed_ns < (int64_t)SELGW_HTTP_AUTH_BACKOFF_MS * 1000000;
    pthread_mutex_unlock(&a->lock);
    if (hit || backing_off) {
        sodium_memzero(tag, sizeof tag);
        return hit;
    }

    /* user:password; sodium's decoder, which takes constant time (a secret) */
    uint8_t credentials[MAX_CREDENTIALS];
    size_t len = 0;
    bool ok = false, verified = false;
    if (sodium_base642bin(credentials, sizeof credentials, b64, b64_len, NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0) {
        const uint8_t *colon = memchr(credentials, ':', len);
        if (colon) {
            const char *password = (const char *)colon + 1;
            size_t plen = len - (size_t)(colon + 1 - credentials);
            pthread_mutex_lock(&a->lock);
            a->verifies++;
            pthread_mutex_unlock(&a->lock);
            ok = crypto_pwhash_str_verify(a->hash, password, plen) == 0;
            verified = true;
        }
    }
    sodium_memzero(credentials, sizeof credentials);
    if (!ok && verified) {
        pthread_mutex_lock(&a->lock);
        a->failed = true;
        a->failed_ns = now_ns;
        pthread_mutex_unlock(&a->lock);
    }
    if (ok) {
        pthread_mutex_lock(&a->lock);
        memcpy(a->cache[a->next_slot], tag, sizeof tag);
        a->used[a->next_slot] = true;
        a->next_slot = (a->next_slot + 1) % CACHE_SLOTS;
        pthread_mutex_unlock(&a->lock);
    }
    sodium_memzero(tag, sizeof tag);
    return ok;
}
