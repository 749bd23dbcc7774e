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

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "reading.h"

#define SELGW_RECORD_FORMAT 1         /* first byte of every payload */
#define SELGW_RECORD_MAX_FIELDS 128    /* profiles are validated against these */
#define SELGW_RECORD_MAX_HOUSEHOLDS 128
#define SELGW_RECORD_MAX_PAYLOAD 65536

typedef enum selgw_record_type {
    SELGW_RECORD_READING = 1, /* one poll of one device, failed or not */
    SELGW_RECORD_START = 2,   /* the gateway started (text: version, config path) */
    SELGW_RECORD_STOP = 3,    /* the gateway stopped cleanly (text: why) */
    SELGW_RECORD_GAP = 4,     /* records lost or refused: first..last seq, text: why */
} selgw_record_type;

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
    selgw_record_household households[SELGW_RECORD_MAX_HOUSEHOLDS];
    size_t field_count;
    selgw_record_field fields[SELGW_RECORD_MAX_FIELDS];
    /* SELGW_RECORD_START, _STOP, _GAP */
    selgw_str text;
    uint64_t gap_first_seq, gap_last_seq; /* SELGW_RECORD_GAP: the records it stands for */
} selgw_record;

/* Encodes a reading as a payload into buf, snprintf-style: returns the length it needs;
 * the payload is complete only if that is <= cap. Returns 0 if the reading cannot be
 * encoded (more fields or households than the limits, a string over 65535 bytes). */
size_t selgw_record_encode_reading(const selgw_reading *reading, uint8_t *buf, size_t cap);

/* Encodes an event (START, STOP, GAP) the same way. */
size_t selgw_record_encode_event(selgw_record_type type, int64_t time_ns, const char *gateway,
                                 const char *text, uint64_t gap_first_seq,
                                 uint64_t gap_last_seq, uint8_t *buf, size_t cap);

/* Decodes a payload. SELGW_ERR_CORRUPT if it is not a well-formed payload of a known
 * format (every length checked against len; nothing is read outside buf). out->seq is
 * left 0. */
selgw_err selgw_record_decode(const uint8_t *buf, size_t len, selgw_record *out);

/* The JSON form, one line without newline, snprintf-style (returns the length needed).
 * For a reading the same members as selgw_reading_json, plus "seq" first when seq != 0
 * and "type". For events: type, seq, time, gateway, text, and first/last for a gap. */
size_t selgw_record_json(const selgw_record *rec, char *buf, size_t cap);

#endif
