/* What the unit tests share to stand for a gateway's config: a small farm built by hand
 * (gateway "gw-1", base "ziyang-hanwang", plots "hw-p01".. of tea whose first holds the
 * households' contracts, bus "rs485-1", devices "soil-1".. with a soil profile), a
 * device's reading of it as its poller fills it, and the journal options the tests keep
 * records with. A test sets what it needs differently after test_farm_init (a huge id,
 * another plot, dates on the contracts). Header-only; its asserts are cmocka's. */
#ifndef SELGW_TEST_FARM_H
#define SELGW_TEST_FARM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/reading.h"
#include "config.h"
#include "journal/journal.h"
#include "poll/reading.h"
#include "sensors/profile.h"
#include "test_util.h"

#define TEST_FARM_FIELDS 3
#define TEST_FARM_CONTRACTS 2
#define TEST_FARM_BASES 2
#define TEST_FARM_PLOTS 2
#define TEST_FARM_BUSES 2
#define TEST_FARM_DEVICES 4

typedef struct test_farm {
    selgw_field fields[TEST_FARM_FIELDS];
    selgw_profile profile;
    selgw_contract contracts[TEST_FARM_CONTRACTS];
    const selgw_contract *contract_ptrs[TEST_FARM_CONTRACTS]; /* for test_reading */
    selgw_base bases[TEST_FARM_BASES];
    selgw_plot plots[TEST_FARM_PLOTS];
    selgw_bus buses[TEST_FARM_BUSES];
    selgw_device devices[TEST_FARM_DEVICES];
    selgw_config cfg;
} test_farm;

/* The farm with the first `fields` fields of the soil profile (moisture, temperature, EC),
 * `contracts` open-ended contracts on the first plot, `plots` plots and `devices` devices,
 * all on the first plot and bus, with unit ids from 7. One base and one bus; the second of
 * each is there for a test that sets it up and counts it. */
static inline void test_farm_init(test_farm *f, size_t fields, size_t contracts, size_t plots,
                                  size_t devices)
{
    static char *const plot_ids[TEST_FARM_PLOTS] = {"hw-p01", "hw-p02"};
    static char *const device_ids[TEST_FARM_DEVICES] = {"soil-1", "soil-2", "soil-3", "soil-4"};
    memset(f, 0, sizeof *f);
    f->fields[0] = (selgw_field){
        .name = "soil_moisture", .function = 3, .type = SELGW_TYPE_U16, .scale = 0.1, .unit = "%"};
    f->fields[1] = (selgw_field){.name = "soil_temperature",
                                 .function = 3,
                                 .address = 1,
                                 .type = SELGW_TYPE_S16,
                                 .scale = 0.1,
                                 .unit = "degC"};
    f->fields[2] = (selgw_field){.name = "soil_ec",
                                 .function = 3,
                                 .address = 2,
                                 .type = SELGW_TYPE_U16,
                                 .scale = 1,
                                 .unit = "uS/cm"};
    f->profile = (selgw_profile){.name = "test-soil", .field_count = fields, .fields = f->fields};
    f->contracts[0] = (selgw_contract){
        .household = "HH-001", .contract = "ZY-2025-001", .from_day = 0, .to_day = INT32_MAX};
    f->contracts[1] = (selgw_contract){
        .household = "HH-017", .contract = "ZY-2025-031", .from_day = 0, .to_day = INT32_MAX};
    for (size_t i = 0; i < TEST_FARM_CONTRACTS; i++)
        f->contract_ptrs[i] = &f->contracts[i];
    f->bases[0] = (selgw_base){.id = "ziyang-hanwang", .name = "汉王"};
    for (size_t i = 0; i < TEST_FARM_PLOTS; i++)
        f->plots[i] = (selgw_plot){.id = plot_ids[i], .crop = "tea"};
    f->plots[0].contract_count = contracts;
    f->plots[0].contracts = f->contracts;
    f->buses[0] = (selgw_bus){.id = "rs485-1", .kind = SELGW_BUS_RTU};
    for (size_t i = 0; i < TEST_FARM_DEVICES; i++)
        f->devices[i] = (selgw_device){
            .id = device_ids[i], .unit_id = 7 + (int)i, .profile = &f->profile, .serial = ""};
    f->cfg = (selgw_config){.path = "test.yaml",
                            .gateway_id = "gw-1",
                            .base_count = 1,
                            .bases = f->bases,
                            .plot_count = plots,
                            .plots = f->plots,
                            .bus_count = 1,
                            .buses = f->buses,
                            .device_count = devices,
                            .devices = f->devices};
}

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

/* A journal in dir as the tests keep one: 1 MiB segments, no fsync (a test survives no
 * power cut), commits every 5 ms, an hour's retention, stop when full. */
static inline selgw_journal_config test_journal_config(char *dir)
{
    return (selgw_journal_config){.dir = dir,
                                  .segment_bytes = 1 << 20,
                                  .fsync = SELGW_FSYNC_NONE,
                                  .commit_interval_ms = 5,
                                  .retention_ms = 3600 * 1000,
                                  .max_backlog_bytes = 0,
                                  .when_full = SELGW_WHEN_FULL_STOP};
}

/* Opens the journal cfg describes, created if need be, with a cursor for `sink` (NULL:
 * none); fails the test if it cannot. */
static inline selgw_journal *test_journal_open(const selgw_journal_config *cfg, const char *sink)
{
    const char *sinks[1] = {sink};
    selgw_journal_recovery recovery;
    selgw_journal *journal = NULL;
    assert_int_equal(selgw_journal_open(cfg, sinks, sink ? 1 : 0, true, &journal, &recovery),
                     SELGW_OK);
    return journal;
}

/* A journal in a new scratch directory: the directory, its journal/ below it, the options
 * (test_journal_config's, to change before test_scratch_journal_open) and the journal. */
typedef struct test_scratch_journal {
    char dir[64];
    char journal_dir[96];
    selgw_journal_config cfg;
    selgw_journal *journal;
} test_scratch_journal;

/* Makes the scratch directory /tmp/selgw-test-<what>-XXXXXX (dir NULL), or takes dir, and
 * sets the options; the journal is not open yet. */
static inline void test_scratch_journal_init(test_scratch_journal *j, const char *what,
                                             const char *dir)
{
    memset(j, 0, sizeof *j);
    if (dir)
        snprintf(j->dir, sizeof j->dir, "%s", dir);
    else
        assert_true(test_scratch_dir(j->dir, sizeof j->dir, what));
    snprintf(j->journal_dir, sizeof j->journal_dir, "%s/journal", j->dir);
    j->cfg = test_journal_config(j->journal_dir);
}

static inline void test_scratch_journal_open(test_scratch_journal *j, const char *sink)
{
    j->journal = test_journal_open(&j->cfg, sink);
}

/* Closes the journal and removes the scratch directory. */
static inline void test_scratch_journal_close(test_scratch_journal *j)
{
    selgw_journal_close(j->journal);
    j->journal = NULL;
    remove_tree(j->dir);
}

#endif
