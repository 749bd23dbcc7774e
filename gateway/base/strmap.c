#include "base/strmap.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *key; /* NULL: empty */
    size_t len;
    uint64_t hash;
    size_t value;
} slot;

struct selgw_strmap {
    slot *slots;
    size_t cap; /* a power of two; at most half full */
    size_t count;
    const unsigned char *key;
};

/* One random key for every map of the process: unknown to whoever chose the names. */
static unsigned char process_key[crypto_shorthash_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void make_key(void)
{
    randombytes_buf(process_key, sizeof process_key);
}

selgw_err selgw_strmap_new(selgw_strmap **out)
{
    *out = NULL;
    if (sodium_init() < 0)
        return SELGW_ERR_IO;
    selgw_strmap *m = calloc(1, sizeof *m);
    if (!m)
        return SELGW_ERR_NOMEM;
    pthread_once(&key_once, make_key);
    m->key = process_key;
    *out = m;
    return SELGW_OK;
}

void selgw_strmap_clear(selgw_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->count = 0;
}

void selgw_strmap_free(selgw_strmap *m)
{
    if (!m)
        return;
    selgw_strmap_clear(m);
    free(m->slots);
    free(m);
}

static uint64_t hash_of(const selgw_strmap *m, const char *key, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, len, m->key);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static slot *find_slot(const selgw_strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && !memcmp(s->key, key, len)))
            return s;
    }
}

bool selgw_strmap_get(const selgw_strmap *m, const char *key, size_t len, size_t *value)
{
    if (m->count == 0)
        return false;
    const slot *s = find_slot(m, key, len, hash_of(m, key, len));
    if (!s->key)
        return false;
    *value = s->value;
    return true;
}

static selgw_err grow(selgw_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return SELGW_ERR_NOMEM;
    slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key)
            *find_slot(m, old[i].key, old[i].len, old[i].hash) = old[i];
    free(old);
    return SELGW_OK;
}

selgw_err selgw_strmap_put(selgw_strmap *m, const char *key, size_t len, size_t value)
{
    if ((m->count + 1) * 2 > m->cap) {
        selgw_err err = grow(m);
        if (err != SELGW_OK)
            return err;
    }
    uint64_t h = hash_of(m, key, len);
    slot *s = find_slot(m, key, len, h);
    if (!s->key) {
        char *copy = malloc(len ? len : 1);
        if (!copy)
            return SELGW_ERR_NOMEM;
        if (len)
            memcpy(copy, key, len);
        *s = (slot){copy, len, h, 0};
        m->count++;
    }
    s->value = value;
    return SELGW_OK;
}

size_t selgw_strmap_count(const selgw_strmap *m)
{
    return m->count;
}
