/* What the unit tests share to make readings: a device's reading of a hand-built config,
 * as its poller fills it, with the households and values a test chooses. Header-only. */
#ifndef SELGW_TEST_READING_UTIL_H
#define SELGW_TEST_READING_UTIL_H

#include "base/reading.h"
#include "config.h"
#include "poll/reading.h"

/* A field's value and quality, as a test writes them. */
typedef struct test_value {
    double value;
    selgw_quality quality;
} test_value;

/* The reading of dev at time_ns: its tags and fields from cfg, the given households
 * (contracts[0..ncontracts), whatever their dates) and one value per field of its profile. */
static inline void test_reading(selgw_reading *r, const selgw_config *cfg, const selgw_device *dev,
                                int64_t time_ns, selgw_err status, unsigned attempts,
                                const selgw_contract *const *contracts, size_t ncontracts,
                                const test_value *values)
{
    selgw_reading_for_device(r, cfg, dev);
    r->time_ns = time_ns;
    r->status = status;
    r->attempts = attempts;
    for (size_t i = 0; i < ncontracts && i < SELGW_READING_MAX_HOUSEHOLDS; i++)
        r->households[i] =
            (selgw_reading_household){contracts[i]->household, contracts[i]->contract};
    r->household_count = ncontracts;
    for (size_t i = 0; values && i < r->field_count; i++) {
        r->fields[i].value = values[i].value;
        r->fields[i].quality = values[i].quality;
    }
}

#endif
