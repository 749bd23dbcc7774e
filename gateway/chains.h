/* selgw: the heads of the evidence chains, kept across restarts.
 *
 * The gateway gives every record it journals a place in a chain (gateway/record.h): the
 * next position and the hash of the chain's previous record. Heads live in memory; at
 * every seal they are written to a state file in the journal directory (crash-safely), and
 * at start-up they are read back and brought up to date by reading the journal records
 * journaled after that seal, so a crash loses no link. Not thread-safe: the gateway calls
 * it under its append lock. */
#ifndef SELGW_CHAINS_H
#define SELGW_CHAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "journal.h"
#include "keys.h"
#include "record.h"

typedef struct selgw_chains selgw_chains;

selgw_err selgw_chains_new(selgw_chains **out);
void selgw_chains_free(selgw_chains *c); /* NULL is fine */

/* Reads the state file (if any) and every committed journal record after the seal it was
 * written at. `why` explains a failure (an unreadable state file, a record that cannot be
 * decoded). */
selgw_err selgw_chains_load(selgw_chains *c, selgw_journal *journal, const char *state_path,
                            char *why, size_t why_cap);

/* The link of the next record of `chain`; link->chain points into c (stable until free). */
selgw_err selgw_chains_next(selgw_chains *c, const char *chain, selgw_chain_link *link);

/* Takes a journaled record into account: a chained record advances its chain; a SEAL
 * becomes the last seal; a TAGS record becomes its plot's latest tags. */
selgw_err selgw_chains_apply(selgw_chains *c, const uint8_t *payload, size_t len,
                             uint64_t journal_seq);

/* Encodes the next SEAL of the gateway chain into buf (cap bytes): every chain's head, then
 * the signature over the rest, and sets *len. The caller appends it and applies it like any
 * record. SELGW_ERR_RANGE if it does not fit. */
selgw_err selgw_chains_encode_seal(selgw_chains *c, const selgw_signer *signer, int64_t time_ns,
                                   const char *gateway, uint8_t *buf, size_t cap, size_t *len);

/* Every chain's head, for a seal: writes up to max entries, returns how many there are. */
size_t selgw_chains_heads(const selgw_chains *c, selgw_seal_entry *out, size_t max);

/* Hash of the last seal (zeros if none yet). */
void selgw_chains_last_seal(const selgw_chains *c, uint8_t out[SELGW_RECORD_HASH_BYTES]);

/* Hash of the text of the plot's latest TAGS record; false if it has none. */
bool selgw_chains_tags_hash(const selgw_chains *c, const char *plot,
                            uint8_t out[SELGW_RECORD_HASH_BYTES]);

/* Writes the state (heads, last seal, latest tags) as of journal sequence `journal_seq`
 * (the last seal's): temp file, fsync, rename, fsync directory. */
selgw_err selgw_chains_save(const selgw_chains *c, const char *state_path);

#endif
