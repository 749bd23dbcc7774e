/* selgw: the archive's PostgreSQL store (libpq). Each record is stored in one transaction,
 * keyed by (gateway, seq) with INSERT ... ON CONFLICT DO NOTHING, so that a redelivered
 * message changes nothing; the same transaction checks the record's chain link against
 * its neighbours in the chain and flags a break in the record's row. docs/ARCHIVE.md,
 * "Tables". */
#ifndef SELGW_ARCHIVE_STORE_H
#define SELGW_ARCHIVE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "evidence/keys.h"
#include "evidence/witness.h"
#include "journal/record.h"

/* A record's link with its chain, as the `link` column spells it. */
typedef enum selgw_archive_link {
    SELGW_LINK_UNCHAINED, /* "unchained": outside any chain (format 1, chain "") */
    SELGW_LINK_OK,        /* "ok": position 1 with zero prev, or prev = the predecessor's hash */
    SELGW_LINK_PENDING,   /* "pending": the predecessor has not arrived (yet) */
    SELGW_LINK_BREAK,     /* "break": see the row's link_problem */
} selgw_archive_link;

const char *selgw_archive_link_name(selgw_archive_link link);

/* Pure: the link of rec (chained or not) given its predecessor in the archive, if any (the
 * record of the same gateway and chain at chain_seq - 1: its hash and journal seq) and
 * whether another record (other_seq) already holds rec's position. problem (cap bytes)
 * says why for a break, "" otherwise. */
selgw_archive_link selgw_archive_link_check(const selgw_record *rec, bool have_pred,
                                            const uint8_t pred_hash[SELGW_RECORD_HASH_BYTES],
                                            uint64_t pred_seq, uint64_t other_seq,
                                            char *problem, size_t cap);

/* What storing a record did. */
typedef enum selgw_archive_outcome {
    SELGW_ARCHIVE_STORED,    /* new row */
    SELGW_ARCHIVE_DUPLICATE, /* the same bytes were there already: a redelivery */
    SELGW_ARCHIVE_CONFLICT,  /* other bytes hold (gateway, seq): kept in evidence_rejected */
} selgw_archive_outcome;

typedef struct selgw_archive_store selgw_archive_store;

/* Connects and creates the tables if absent. archive_id names this process in
 * received_by. On failure *why says what PostgreSQL said. */
selgw_err selgw_archive_store_open(const char *conninfo, const char *archive_id,
                                   selgw_archive_store **out, char *why, size_t why_cap);
void selgw_archive_store_free(selgw_archive_store *s); /* NULL is fine */

/* Makes the store a witness: every SEAL record stored from now on is countersigned with
 * signer (kept by the caller, which frees it after the store). */
void selgw_archive_store_set_witness(selgw_archive_store *s, const selgw_signer *signer);

/* Stores one decoded record (payload: its exact bytes, hash: their BLAKE2b-256) of gateway
 * under seq, checks its link and settles a waiting successor's, and commits; SELGW_OK only
 * once committed. Any other result: nothing is committed, *why says what failed. For a
 * witness and a chained SEAL (new, or redelivered with the same bytes) the same
 * transaction keeps the witness statement in evidence_witness: the one made when the seal
 * first came, or a new one stamped now; *statement is it and *witnessed true (statement
 * and witnessed may be NULL: no statement). */
selgw_err selgw_archive_store_record(selgw_archive_store *s, const char *gateway, uint64_t seq,
                                     const uint8_t *payload, size_t len, const selgw_record *rec,
                                     const uint8_t hash[SELGW_RECORD_HASH_BYTES],
                                     selgw_archive_outcome *outcome, selgw_archive_link *link,
                                     selgw_witness *statement, bool *witnessed, char *why,
                                     size_t why_cap);

/* Keeps a message that is not a record of the uplink (wrong content type, no seq, a payload
 * that does not decode, another gateway in the record than in the topic) with the reason,
 * and commits. */
selgw_err selgw_archive_store_rejected(selgw_archive_store *s, const char *topic,
                                       uint64_t seq, const uint8_t *payload, size_t len,
                                       const char *reason, char *why, size_t why_cap);

#endif
