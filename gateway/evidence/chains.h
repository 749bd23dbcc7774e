/* selgw: the heads of the evidence chains, kept across restarts.
 *
 * The gateway gives every record it journals a place in a chain (gateway/journal/record.h): the
 * next position and the hash of the chain's previous record. Heads live in memory. At
 * every seal, and at least every minute otherwise, the gateway takes a snapshot of them
 * (selgw_chains_state_text, under its append lock, so the snapshot holds exactly the heads
 * as of its latest record, the checkpoint) and, once that record is committed in the
 * journal, writes it to a state file (selgw_chains_write_state). At start-up the state is
 * checked against the journal and brought up to date from the records journaled after its
 * checkpoint, so a crash loses no link; the journal's retention keeps those records until
 * a newer state is saved. Not thread-safe: the gateway calls it under its append lock. */
#ifndef SELGW_CHAINS_H
#define SELGW_CHAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "journal/journal.h"
#include "evidence/keys.h"
#include "journal/record.h"

typedef struct selgw_chains selgw_chains;

/* Where a chain stands. */
typedef struct selgw_chain_info {
    uint64_t chain_seq; /* position of its last record; 0 when it has none yet */
    uint8_t head[SELGW_RECORD_HASH_BYTES];
    int64_t last_time_ns; /* that record's time */
    uint64_t last_jseq;   /* and its journal sequence number */
} selgw_chain_info;

/* What selgw_chains_load found. */
typedef struct selgw_chains_recovery {
    bool state_found;    /* a state file was there */
    bool state_used;     /* it matched the journal and was brought up to date from it */
    bool state_ahead;    /* it names records the journal does not hold (lost or replaced) */
    uint64_t state_checkpoint_jseq; /* the record it was saved at (its seal, before v3) */
    uint64_t journal_first_seq; /* the first record the journal holds */
    uint64_t journal_last_seq;  /* the last record the journal holds (0 if empty) */
    uint64_t records_read;     /* journal records read to bring the heads up to date */
    char lost[512];            /* when state_ahead: "device/soil-1 481..500, gateway 12..14" */
} selgw_chains_recovery;

/* Called for every journal record with sequence > scan_from that load reads (decoded). */
typedef void (*selgw_chains_scan_fn)(void *ctx, uint64_t jseq, const selgw_record *rec,
                                     const uint8_t *payload, size_t len);

selgw_err selgw_chains_new(selgw_chains **out);
void selgw_chains_free(selgw_chains *c); /* NULL is fine */

/* Reads the state file (if any), checks that the journal holds the record it was saved at
 * (its checkpoint; for an older state file its seal), and applies every committed journal
 * record after it. When the state does not match the journal (the journal lost records,
 * was replaced, or lost the records right after the checkpoint), every chain is rebuilt from the whole journal (the last seal in it
 * names the heads of chains whose records retention removed) and merged with the state:
 * a chain continues after the higher of the two positions, so a position is never given
 * twice; recovery->lost names what the journal lacks. `scan`, when not NULL, also sees
 * every record after scan_from (the read starts early enough for it). `why` explains a
 * failure (an unreadable state file, a journal that cannot be read). */
selgw_err selgw_chains_load(selgw_chains *c, selgw_journal *journal, const char *state_path,
                            uint64_t scan_from, selgw_chains_scan_fn scan, void *scan_ctx,
                            selgw_chains_recovery *recovery, char *why, size_t why_cap);

/* The link of the next record of `chain`; link->chain points into c (stable until free). */
selgw_err selgw_chains_next(selgw_chains *c, const char *chain, selgw_chain_link *link);

/* Where `chain` stands; NULL when c has never seen it. Valid until the next change. */
const selgw_chain_info *selgw_chains_find(const selgw_chains *c, const char *chain);

/* The gateway appended a record of `chain` at chain_seq (the position selgw_chains_next
 * gave) whose payload hashes to `hash`, with time time_ns, as journal record jseq. */
selgw_err selgw_chains_advance(selgw_chains *c, const char *chain, uint64_t chain_seq,
                               const uint8_t hash[SELGW_RECORD_HASH_BYTES], int64_t time_ns,
                               uint64_t jseq);

/* Takes a journaled record into account from its payload (start-up, tools): a chained
 * record advances its chain (never backwards); a SEAL becomes the last seal and raises
 * every chain it names to at least the head it names; a TAGS record becomes its plot's
 * latest tags. SELGW_ERR_CORRUPT for a payload that does not decode. */
selgw_err selgw_chains_apply(selgw_chains *c, const uint8_t *payload, size_t len,
                             uint64_t journal_seq);

/* Encodes the next SEAL of the gateway chain into buf (cap bytes): up to when it covers
 * every poll (see selgw_record_encode_seal), every chain's head, then the signature over
 * the rest, and sets *len. The caller appends it, advances the gateway
 * chain and calls selgw_chains_note_seal. SELGW_ERR_RANGE if it does not fit. */
selgw_err selgw_chains_encode_seal(selgw_chains *c, const selgw_signer *signer, int64_t time_ns,
                                   int64_t covers_until_ns, const char *gateway, uint8_t *buf,
                                   size_t cap, size_t *len);

/* The gateway appended a seal with this hash as journal record jseq. */
void selgw_chains_note_seal(selgw_chains *c, const uint8_t hash[SELGW_RECORD_HASH_BYTES],
                            uint64_t jseq, int64_t time_ns);

/* The last seal: its hash (zeros if none yet), journal sequence and time (0 if none). */
void selgw_chains_last_seal(const selgw_chains *c, uint8_t hash[SELGW_RECORD_HASH_BYTES],
                            uint64_t *jseq, int64_t *time_ns);

/* The journal sequence of the latest record taken into account: a state text taken now
 * is saved at it (selgw_chains_state_text). */
uint64_t selgw_chains_checkpoint(const selgw_chains *c);

/* The latest time of a chain's last record journaled after jseq, or floor_ns if none is
 * later (after a restart: the latest time a seal to come must not be before). */
int64_t selgw_chains_latest_time_since(const selgw_chains *c, uint64_t jseq, int64_t floor_ns);

/* Hash of the text of the plot's latest TAGS record; false if it has none. */
bool selgw_chains_tags_hash(const selgw_chains *c, const char *plot,
                            uint8_t out[SELGW_RECORD_HASH_BYTES]);
selgw_err selgw_chains_set_tags_hash(selgw_chains *c, const char *plot,
                                     const uint8_t hash[SELGW_RECORD_HASH_BYTES]);

/* The state as it is now (heads, last seal, latest tags, and the latest record as its
 * checkpoint) as the text of a state file, in a new buffer (free it). The gateway takes it
 * under its append lock, right after a seal and at other times (a checkpoint), so that it
 * holds exactly the heads as of the checkpoint record. */
selgw_err selgw_chains_state_text(const selgw_chains *c, char **text, size_t *len);

/* Writes a state text to the state file crash-safely (temp file, fdatasync, rename, fsync
 * directory; mode 0640). Call it only once its checkpoint record is committed. */
selgw_err selgw_chains_write_state(const char *state_path, const char *text, size_t len);

#endif
