/* selgw: a reading, what one poll of one device produced.
 *
 * A reading carries everything a later reader needs without the config at hand: time,
 * gateway, base, plot, crop, device, profile, the households contracted on the plot at
 * that time, and every field with its unit and quality. A failed poll is a reading too
 * (status not "ok", fields "read_failed"), so gaps in the record are explicit.
 *
 * It sits in the base because it is the one type that crosses from the pollers to the
 * journal: its strings are plain values (the poller points them into its config), so that
 * the journal encodes it without knowing what a config or a profile is. */
#ifndef SELGW_READING_H
#define SELGW_READING_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* A reading's limits; profiles and plots are validated against them, and the record
 * encoding (docs/RECORD.md) refuses more. */
#define SELGW_READING_MAX_FIELDS 128
#define SELGW_READING_MAX_HOUSEHOLDS 128

typedef enum selgw_quality {
    SELGW_QUALITY_OK,           /* read and within the valid range */
    SELGW_QUALITY_OUT_OF_RANGE, /* read, but outside the valid range (or NaN/Inf): kept, flagged */
    SELGW_QUALITY_READ_FAILED,  /* not read: the poll failed */
} selgw_quality;

const char *selgw_quality_name(selgw_quality q); /* "ok", "out_of_range", "read_failed" */

typedef struct selgw_reading_household {
    const char *household; /* household code, e.g. "HH-017" */
    const char *contract;  /* contract id, e.g. "ZY-2025-031" */
} selgw_reading_household;

typedef struct selgw_reading_field {
    const char *name;
    const char *unit;
    double value; /* meaningless when quality is SELGW_QUALITY_READ_FAILED */
    selgw_quality quality;
} selgw_reading_field;

typedef struct selgw_reading {
    int64_t time_ns; /* UTC, when the reads that produced the values began */
    const char *gateway, *base, *plot, *crop, *device, *profile, *serial, *bus;
    int unit_id;
    selgw_err status;   /* SELGW_OK, or why some or all fields could not be read */
    int exception_code; /* the device's Modbus exception when status is SELGW_ERR_EXCEPTION */
    unsigned attempts;  /* attempts this poll took (1 = no retry) */
    /* Fixed arrays, so that a reading built for every poll needs no allocation. */
    size_t household_count; /* households contracted on the plot at time_ns */
    selgw_reading_household households[SELGW_READING_MAX_HOUSEHOLDS];
    size_t field_count; /* one per field of the device's profile */
    selgw_reading_field fields[SELGW_READING_MAX_FIELDS];
} selgw_reading;

#endif
