/* selgw: a witness statement, the archive's countersignature of a seal (issue 13;
 * docs/EVIDENCE.md, "Witnessed seals"; docs/ARCHIVE.md, "The archive as a witness").
 *
 * The archive, on storing a gateway's SEAL record, states with its own Ed25519 key: "I had
 * seal number N of gateway G, whose record hashes to H, at time T". The statement travels
 * back to the gateway over MQTT (this encoding is the message's payload) and is journaled
 * there as a WITNESS record (docs/RECORD.md, type 11), so that it rides in evidence bundles
 * next to the seal it countersigns, and selgw verify can say "sealed no later than T".
 *
 * One definition for the archive (signs), the gateway (checks, journals) and the verifier
 * (checks). Pure functions, apart from signing with a loaded key. */
#ifndef SELGW_WITNESS_H
#define SELGW_WITNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "evidence/keys.h"

#define SELGW_WITNESS_FORMAT 1
/* The domain of the signed message: no other selgw signature starts with these bytes. */
#define SELGW_WITNESS_DOMAIN "selgw-witness 1"
#define SELGW_WITNESS_MAX_GATEWAY 255

typedef struct selgw_witness {
    char gateway[SELGW_WITNESS_MAX_GATEWAY + 1]; /* the gateway whose seal it is */
    uint64_t seal_seq;                           /* the seal's position in the gateway chain */
    uint8_t seal_hash[SELGW_HASH_BYTES];         /* BLAKE2b-256 of the seal record's payload */
    uint8_t key[SELGW_PUBLIC_KEY_BYTES];         /* the witness's public key */
    int64_t witnessed_ns;                        /* when the witness had the seal, UTC ns */
    uint8_t signature[SELGW_SIGNATURE_BYTES];
} selgw_witness;

/* The bytes the signature covers: the domain with its NUL, then the gateway id (u16 LE
 * length and bytes), seal_seq (u64 LE), seal_hash, key, witnessed_ns (i64 LE). Returns the
 * length (snprintf-style: the message is complete only if <= cap); 0 for a gateway id that
 * is empty or longer than SELGW_WITNESS_MAX_GATEWAY. */
size_t selgw_witness_message(const selgw_witness *w, uint8_t *buf, size_t cap);

/* The wire form (MQTT payload): format (u8, 1), the message's fields after the domain, and
 * the signature. Same return convention; SELGW_WITNESS_MAX_BYTES always suffices. */
#define SELGW_WITNESS_MAX_BYTES (1 + 2 + SELGW_WITNESS_MAX_GATEWAY + 8 + 32 + 32 + 8 + 64)
size_t selgw_witness_encode(const selgw_witness *w, uint8_t *buf, size_t cap);

/* SELGW_ERR_CORRUPT for anything but exactly one well-formed statement (unknown format, a
 * gateway id that is empty, too long or holds a NUL, bytes missing or left over). Does not
 * check the signature. */
selgw_err selgw_witness_decode(const uint8_t *buf, size_t len, selgw_witness *out);

/* Fills key and signature: signs with the witness's key. */
void selgw_witness_sign(selgw_witness *w, const selgw_signer *signer);

/* Whether the signature is the key's over the statement. */
bool selgw_witness_signature_ok(const selgw_witness *w);

/* Whether a witnessed time (from the statement, so from whoever signed it) is one verify
 * can reckon with: from 2000-01-01 to 2200-01-01 UTC, bounds included. */
#define SELGW_WITNESS_EARLIEST_NS (946684800LL * 1000000000LL)
#define SELGW_WITNESS_LATEST_NS (7258118400LL * 1000000000LL)
bool selgw_witness_time_plausible(int64_t witnessed_ns);

#endif
