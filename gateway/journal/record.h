/* selgw: journal records, their binary encoding and their JSON form.
 *
 * What the journal stores is the payload of a record: a compact binary encoding of a
 * reading (or of an event: start, stop, gap) that holds everything a sink needs, so that a
 * record delivered years later does not depend on the config of the day. Sinks decode a
 * payload into a selgw_record view (no allocation; strings point into the payload) and
 * render it: JSON (MQTT payload, `selgw journal --dump`, stdout) or InfluxDB line protocol.
 * The encoding is specified in docs/RECORD.md. All functions here are pure. */
#ifndef SELGW_RECORD_H
#define SELGW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/reading.h"

#define SELGW_RECORD_FORMAT 3           /* first byte of every payload written now; 1, 2 are read */
#define SELGW_RECORD_HASH_BYTES 32      /* BLAKE2b-256 of a payload: the record's hash */
#define SELGW_RECORD_SIGNATURE_BYTES 64 /* Ed25519 */
#define SELGW_RECORD_MAX_PAYLOAD (1u << 20) /* the journal's own limit */

typedef enum selgw_record_type {
    SELGW_RECORD_READING = 1,    /* one poll of one device, failed or not */
    SELGW_RECORD_START = 2,      /* the gateway started (text: version, config path) */
    SELGW_RECORD_STOP = 3,       /* the gateway stopped cleanly (text: why) */
    SELGW_RECORD_GAP = 4,        /* records lost or refused: first..last seq, text: why */
    SELGW_RECORD_SEAL = 5,       /* signed statement of every chain's head (docs/EVIDENCE.md) */
    SELGW_RECORD_ANNOTATION = 6, /* a lab result or note for a plot (plot, text, ref) */
    SELGW_RECORD_TAGS = 7,       /* a plot's tags changed or were first recorded (plot, text) */
    SELGW_RECORD_CLOCK = 8,      /* the clock's synchronisation state (text) */
    SELGW_RECORD_ALERT = 9,      /* an alert raised or cleared on a plot (docs/ALERTS.md) */
    SELGW_RECORD_LOT = 10,       /* a harvest lot of one or more plots (plot, text: the lot's JSON,
                                  * ref: the lot id), one per plot; record format 3 only */
    SELGW_RECORD_WITNESS = 11,   /* a witness (the archive) countersigned one of the gateway's
                                  * seals (docs/EVIDENCE.md, "Witnessed seals"); format 3 only */
} selgw_record_type;

/* What an ALERT record says happened. */
typedef enum selgw_alert_state {
    SELGW_ALERT_RAISED = 1,
    SELGW_ALERT_CLEARED = 2,
} selgw_alert_state;

/* The kind of condition an alert rule watches. */
typedef enum selgw_alert_condition {
    SELGW_ALERT_BELOW = 1, /* a field below the threshold (frost, drought) */
    SELGW_ALERT_ABOVE = 2, /* a field above the threshold (waterlogging, heat) */
    SELGW_ALERT_STALE = 3, /* no valid reading of the field for some polls */
    SELGW_ALERT_STUCK = 4, /* the same value for a long time: a frozen sensor */
} selgw_alert_condition;

/* "raised"/"cleared", "below"/"above"/"stale"/"stuck"; "unknown" otherwise. */
const char *selgw_alert_state_name(selgw_alert_state state);
const char *selgw_alert_condition_name(selgw_alert_condition condition);

/* Where a record sits in its evidence chain. Every record of format 2 belongs to one
 * chain: "device/<id>" for a device's readings, "plot/<id>" for a plot's annotations and
 * tag changes, "gateway" for start, stop, gap, clock and seal records. A record's hash
 * is BLAKE2b-256 of its payload, which holds the previous record's hash: editing,
 * removing, inserting or reordering records breaks the links. */
typedef struct selgw_chain_link {
    const char *chain;
    uint64_t chain_seq;                    /* 1 for the chain's first record */
    uint8_t prev[SELGW_RECORD_HASH_BYTES]; /* hash of the previous record; zeros first */
} selgw_chain_link;

/* One chain head in a seal. */
typedef struct selgw_seal_entry {
    const char *chain;
    uint64_t chain_seq;
    uint8_t head[SELGW_RECORD_HASH_BYTES];
} selgw_seal_entry;

/* A string inside a payload: not NUL-terminated. */
typedef struct selgw_str {
    const char *ptr;
    size_t len;
} selgw_str;

typedef struct selgw_record_field {
    selgw_str name;
    selgw_str unit;
    double value; /* NaN when quality is read_failed */
    selgw_quality quality;
} selgw_record_field;

typedef struct selgw_record_household {
    selgw_str household;
    selgw_str contract;
} selgw_record_household;

typedef struct selgw_record {
    selgw_record_type type;
    uint64_t seq;    /* set by whoever read it from the journal; 0 = not journaled */
    int64_t time_ns; /* UTC */
    selgw_str gateway;
    /* SELGW_RECORD_READING */
    selgw_str base, plot, crop, device, profile, serial, bus;
    int unit_id;
    selgw_err status;
    int exception_code;
    unsigned attempts;
    size_t household_count;
    selgw_record_household households[SELGW_READING_MAX_HOUSEHOLDS];
    size_t field_count;
    selgw_record_field fields[SELGW_READING_MAX_FIELDS];
    /* SELGW_RECORD_START, _STOP, _GAP, _ANNOTATION, _TAGS, _CLOCK */
    selgw_str text;
    uint64_t gap_first_seq, gap_last_seq; /* SELGW_RECORD_GAP: the records it stands for */
    selgw_str ref; /* SELGW_RECORD_ANNOTATION: e.g. the lab report number; _LOT: the lot id */
    /* (SELGW_RECORD_ANNOTATION, _TAGS and _LOT name their plot in `plot`.) */

    /* SELGW_RECORD_ALERT: on the plot `plot` of `base` (crop `crop`), rule `rule` was
     * raised or cleared for `field` of `device`; value is the reading that decided it (NaN
     * for a stale sensor), threshold the rule's (the clearing one when cleared: the other
     * side of the hysteresis; NaN for stale and stuck), since_ns when the condition began
     * (raised) or when the alert was raised (cleared). */
    selgw_str rule, field, unit;
    selgw_alert_state alert_state;
    selgw_alert_condition alert_condition;
    double alert_value, alert_threshold;
    int64_t alert_since_ns;

    /* SELGW_RECORD_WITNESS: the witness with public key witness_key had the seal at
     * position witness_seal_seq of the gateway chain, whose record hashes to
     * witness_seal_hash, at witness_time_ns (its clock, UTC); witness_signature (inside the
     * payload) is its Ed25519 signature of that statement (evidence/witness.h). */
    uint64_t witness_seal_seq;
    uint8_t witness_seal_hash[SELGW_RECORD_HASH_BYTES];
    uint8_t witness_key[32];
    int64_t witness_time_ns;
    const uint8_t *witness_signature; /* SELGW_RECORD_SIGNATURE_BYTES */

    /* Evidence chain (format 2; format 1 records have chained false). */
    bool chained;
    selgw_str chain;
    uint64_t chain_seq;
    uint8_t prev[SELGW_RECORD_HASH_BYTES];
    /* SELGW_RECORD_START: hash of the last seal before this start, zeros if none */
    uint8_t prev_seal[SELGW_RECORD_HASH_BYTES];

    /* SELGW_RECORD_SEAL: seal_count entries, read with selgw_record_seal_entry; the
     * signature covers the payload's first signed_len bytes. Since format 3 a seal also
     * says up to when it covers every poll: each reading whose poll began before
     * seal_covers_until_ns is journaled before the seal (or its refusal is). */
    bool seal_has_covers; /* false for a format 2 seal, which does not say */
    int64_t seal_covers_until_ns;
    size_t seal_count;
    const uint8_t *seal_entries; /* inside the payload */
    size_t seal_entries_len;
    const uint8_t *signature; /* SELGW_RECORD_SIGNATURE_BYTES inside the payload */
    size_t signed_len;

    /* Not in the payload: set by whoever computed it, printed in JSON and line protocol. */
    bool has_hash;
    uint8_t hash[SELGW_RECORD_HASH_BYTES];
} selgw_record;

/* Encodes a reading as a payload into buf, snprintf-style: returns the length it needs;
 * the payload is complete only if that is <= cap. Returns 0 if the reading cannot be
 * encoded (more fields or households than the limits, a string over 65535 bytes). link
 * may be NULL: chain "" at position 0 (tests, and records outside any chain). */
size_t selgw_record_encode_reading(const selgw_reading *reading, const selgw_chain_link *link,
                                   uint8_t *buf, size_t cap);

/* Encodes a START, STOP, GAP, ANNOTATION, TAGS, CLOCK or LOT record the same way, from the
 * members of rec that its type uses (time_ns, gateway, text, gap range, plot, ref,
 * prev_seal); the chain comes from link (may be NULL). */
size_t selgw_record_encode_event(const selgw_record *rec, const selgw_chain_link *link,
                                 uint8_t *buf, size_t cap);

/* Encodes an ALERT the same way, from the members of rec an alert uses (time_ns, gateway,
 * base, plot, crop, rule, alert_state, alert_condition, device, field, unit, alert_value,
 * alert_threshold, alert_since_ns). Returns 0 for an unknown state or condition. */
size_t selgw_record_encode_alert(const selgw_record *rec, const selgw_chain_link *link,
                                 uint8_t *buf, size_t cap);

/* Encodes a WITNESS the same way, from time_ns, gateway and the witness_ members of rec
 * (witness_signature: 64 bytes, required). Returns 0 without a signature. */
size_t selgw_record_encode_witness(const selgw_record *rec, const selgw_chain_link *link,
                                   uint8_t *buf, size_t cap);

/* Encodes a SEAL: time, gateway, up to when it covers every poll (covers_until_ns <=
 * time_ns), the chain heads, and room for the signature. The caller signs the first
 * *signed_len bytes and writes the signature at buf + *signed_len
 * (SELGW_RECORD_SIGNATURE_BYTES). snprintf-style like the others. */
size_t selgw_record_encode_seal(int64_t time_ns, int64_t covers_until_ns, const char *gateway,
                                const selgw_seal_entry *entries, size_t count,
                                const selgw_chain_link *link, uint8_t *buf, size_t cap,
                                size_t *signed_len);

/* Entry i (< rec->seal_count) of a decoded SEAL. Walks the entries before it: to visit all
 * of them use selgw_record_seal_next. */
void selgw_record_seal_entry(const selgw_record *rec, size_t i, selgw_str *chain,
                             uint64_t *chain_seq, const uint8_t **head);

/* The entries of a decoded SEAL in order: *offset starts at 0 and moves on; false after
 * the last entry. */
bool selgw_record_seal_next(const selgw_record *rec, size_t *offset, selgw_str *chain,
                            uint64_t *chain_seq, const uint8_t **head);

/* The record's hash: BLAKE2b-256 of its payload bytes. */
void selgw_record_hash(const uint8_t *payload, size_t len, uint8_t out[SELGW_RECORD_HASH_BYTES]);

/* Decodes a payload. SELGW_ERR_CORRUPT if it is not a well-formed payload of a known
 * format (every length checked against len; nothing is read outside buf). out->seq is
 * left 0. */
selgw_err selgw_record_decode(const uint8_t *buf, size_t len, selgw_record *out);

/* The head of a payload without the rest: its type, time and chain, and for a reading, an
 * annotation, a tags, an alert or a lot record its plot ("" for the others); chain and plot may be NULL.
 * False when what it reads is not well formed; true does not mean the rest is (decode
 * says). For the journal's time index and for filters that skip most records undecoded. */
bool selgw_record_head(const uint8_t *buf, size_t len, selgw_record_type *type, int64_t *time_ns,
                       selgw_str *chain, selgw_str *plot);

/* The JSON form, one line without newline, snprintf-style (returns the length needed).
 * For a reading: "seq" when seq != 0, "type", "time", the reading's tags, households,
 * status and fields (docs/RECORD.md), then the chain members ("chain", "chain_seq",
 * "prev") when chained, and "hash" when has_hash. For events: type, seq, time, gateway,
 * text, and first/last for a gap, plot/ref, prev_seal, seal entries and signature as their
 * types have them. */
size_t selgw_record_json(const selgw_record *rec, char *buf, size_t cap);

#endif
