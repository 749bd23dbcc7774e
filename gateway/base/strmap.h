/* selgw: a map from byte strings (names: chains, devices, households) to numbers.
 *
 * Names can come from outside (a bundle someone hands to `selgw verify`), so lookups must
 * stay fast whatever they are: the hash is SipHash with a random key (libsodium
 * crypto_shorthash), so that crafted names cannot be made to collide. Open addressing;
 * keys are copied. */
#ifndef SELGW_STRMAP_H
#define SELGW_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef struct selgw_strmap selgw_strmap;

selgw_err selgw_strmap_new(selgw_strmap **out);
void selgw_strmap_free(selgw_strmap *m); /* NULL is fine */

/* The value stored for key[0..len); false if there is none. */
bool selgw_strmap_get(const selgw_strmap *m, const char *key, size_t len, size_t *value);

/* Stores value for key[0..len), replacing an earlier one. */
selgw_err selgw_strmap_put(selgw_strmap *m, const char *key, size_t len, size_t value);

size_t selgw_strmap_count(const selgw_strmap *m);

/* Removes every key; keeps the memory for reuse. */
void selgw_strmap_clear(selgw_strmap *m);

#endif
