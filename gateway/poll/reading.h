/* selgw: a reading, what one poll of one device produced, and its JSON encoding.
 *
 * A reading carries everything a later reader needs without the config at hand: time,
 * gateway, base, plot, crop, device, profile, the households contracted on the plot at
 * that time, and every field with its unit and quality. A failed poll is a reading too
 * (status not "ok", fields "read_failed"), so gaps in the record are explicit. */
#ifndef SELGW_READING_H
#define SELGW_READING_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sensors/decode.h"
#include "base/error.h"

typedef struct selgw_field_value {
    double value; /* meaningless when quality is SELGW_QUALITY_READ_FAILED */
    selgw_quality quality;
} selgw_field_value;

typedef struct selgw_reading {
    int64_t time_ns; /* UTC, when the reads that produced the values began */
    const selgw_config *config;
    const selgw_device *device;
    selgw_err status;   /* SELGW_OK, or why some or all fields could not be read */
    int exception_code; /* the device's Modbus exception when status is SELGW_ERR_EXCEPTION */
    unsigned attempts;  /* attempts this poll took (1 = no retry) */
    size_t contract_count;
    const selgw_contract *const *contracts; /* households contracted on the plot at time_ns */
    const selgw_field_value *values;        /* one per field of device->profile */
} selgw_reading;

/* Encodes a reading as one line of JSON (no newline) into buf, snprintf-style: returns the
 * length the full text needs; the text is complete and NUL-terminated if that is < cap.
 * Pure. Values that are NaN or infinite are written as null. */
size_t selgw_reading_json(const selgw_reading *reading, char *buf, size_t cap);

/* Writes s as a JSON string literal (with quotes) into buf at *len, snprintf-style:
 * *len always advances by the full length; bytes past cap are not written. Escapes `"`,
 * `\` and control characters; passes UTF-8 through. */
void selgw_json_string(char *buf, size_t cap, size_t *len, const char *s);

#endif
