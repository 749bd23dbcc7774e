/* Provenance: a plot's tags as canonical JSON (exact text for a small config, the
 * snprintf-style contract, values that need escaping read back unchanged, the ambiguity of
 * the old text format gone) and parsed back (what is refused, and why); the annotation
 * queue of `selgw annotate` (what is refused, what is read back, files set aside). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_farm.h"
#include "test_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "config.h"
#include "sensors/profile.h"
#include "evidence/provenance.h"
#include "journal/record.h"

/* Local day numbers (days since 1970-01-01). */
#define DAY_2024_02_29 19782
#define DAY_2025_03_01 20148
#define DAY_2027_02_28 20877

#define WHY_CONTROL                                                                                \
    "the text and the reference must be single lines of UTF-8 without control characters "         \
    "(newlines, tabs, terminal escapes, direction marks)"
#define WHY_LENGTH "the text must be under 1024 bytes and the reference under 256"
#define WHY_EMPTY "the text must not be empty"

typedef struct fixture {
    char dir[64];
    char journal_dir[96];
    char spool_dir[128];

    test_farm farm;
    selgw_field_calibration calibrations[2];
    selgw_product products[3];
} fixture;

/* Two bases (one without coordinates), two plots, two buses; plot hw-a has two contracts
 * (one open-ended) and two devices on different buses, one of them calibrated on both
 * fields; hw-b has one device, no contracts and no area. */
static void config_init(fixture *f)
{
    test_farm_init(&f->farm, 2, 2, 2, 3);
    f->farm.contracts[0].from_day = DAY_2025_03_01;
    f->farm.contracts[1].from_day = DAY_2024_02_29;
    f->farm.contracts[1].to_day = DAY_2027_02_28;
    f->farm.bases[0] = (selgw_base){.id = "hanwang",
                                    .name = "汉王",
                                    .county = "紫阳县",
                                    .township = "汉王镇",
                                    .has_coordinates = true,
                                    .latitude = 32.52,
                                    .longitude = 108.53};
    f->farm.bases[1] = (selgw_base){.id = "b2", .name = "Base two", .county = "", .township = ""};
    f->farm.cfg.base_count = 2;
    f->farm.plots[0].id = "hw-a";
    f->farm.plots[0].area_mu = 35.5;
    f->farm.plots[1] = (selgw_plot){.id = "hw-b", .base = 1, .crop = "konjac"};
    f->farm.buses[1] = (selgw_bus){.id = "tcp-1", .kind = SELGW_BUS_TCP};
    f->farm.cfg.bus_count = 2;
    /* listed out of field order on purpose: the config's order is kept */
    f->calibrations[0] = (selgw_field_calibration){.field = 1, .cal = {1, -0.25}};
    f->calibrations[1] = (selgw_field_calibration){.field = 0, .cal = {1.02, -1.5}};
    selgw_device *d = f->farm.devices;
    d[0].unit_id = 2;
    d[0].serial = "SN-0042";
    d[0].calibration_count = 2;
    d[0].calibrations = f->calibrations;
    d[1].plot = 1;
    d[1].unit_id = 3;
    d[2].bus = 1;
    d[2].unit_id = 247;
    f->farm.cfg.journal = (selgw_journal_config){.dir = f->journal_dir};
    f->farm.cfg.utc_offset_minutes = 8 * 60;
    f->farm.plots[0].has_point = true;
    f->farm.plots[0].latitude = 32.5211;
    f->farm.plots[0].longitude = 108.5302;
    static double boundary[3][2] = {{32.1, 108.1}, {32.2, 108.1}, {32.2, 108.25}};
    f->farm.plots[1].boundary = boundary;
    f->farm.plots[1].boundary_count = 3;
    static char *tea[] = {"tea"}, *both[] = {"konjac", "tea"}, *ziyang[] = {"紫阳县"},
                *towns[] = {"汉王镇", "蒿坪镇"};
    static double polygon[3][2] = {{32, 108}, {33.5, 108}, {33.5, 109.25}};
    f->products[0] = (selgw_product){.name = "紫阳富硒茶",
                                     .crop_count = 1,
                                     .crops = tea,
                                     .county_count = 1,
                                     .counties = ziyang,
                                     .season_days = 365};
    /* not a product of tea only: the konjac plot lists it too; the cabbage one no plot */
    f->products[1] = (selgw_product){.name = "GI \"poly\"",
                                     .crop_count = 2,
                                     .crops = both,
                                     .township_count = 2,
                                     .townships = towns,
                                     .polygon_count = 3,
                                     .polygon = polygon,
                                     .season_days = 200};
    static char *cabbage[] = {"cabbage"};
    f->products[2] = (selgw_product){.name = "cabbage GI",
                                     .crop_count = 1,
                                     .crops = cabbage,
                                     .county_count = 1,
                                     .counties = ziyang,
                                     .season_days = 1};
    f->farm.cfg.products = f->products;
    f->farm.cfg.product_count = 3;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (!test_scratch_dir(f->dir, sizeof f->dir, "provenance")) {
        free(f);
        return -1;
    }
    /* not created here: spooling creates the journal directory if need be */
    snprintf(f->journal_dir, sizeof f->journal_dir, "%s/journal", f->dir);
    snprintf(f->spool_dir, sizeof f->spool_dir, "%s/annotations", f->journal_dir);
    config_init(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    remove_tree(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* The tags text of a plot, in a new string; its length is what the function returned. */
static char *tags_text(const selgw_config *cfg, size_t plot)
{
    size_t need = selgw_plot_tags_text(cfg, plot, NULL, 0);
    char *text = malloc(need + 1);
    assert_non_null(text);
    assert_int_equal(selgw_plot_tags_text(cfg, plot, text, need + 1), need);
    assert_int_equal(strlen(text), need);
    return text;
}

static selgw_tags *parse_ok(const char *text)
{
    selgw_tags *t = NULL;
    char why[256] = "";
    selgw_err err = selgw_tags_parse(text, strlen(text), &t, why, sizeof why);
    if (err != SELGW_OK)
        fail_msg("parse: %s: %s\n%s", selgw_strerror(err), why, text);
    assert_non_null(t);
    return t;
}

/* A parse that must fail: SELGW_ERR_CORRUPT, no result, and a why containing `part`. */
static void parse_refused(const char *text, const char *part)
{
    selgw_tags *t = (selgw_tags *)1;
    char why[256] = "";
    selgw_err err = selgw_tags_parse(text, strlen(text), &t, why, sizeof why);
    if (err != SELGW_ERR_CORRUPT)
        fail_msg("expected SELGW_ERR_CORRUPT, got %s for\n%s", selgw_strerror(err), text);
    assert_null(t);
    if (!strstr(why, part))
        fail_msg("why \"%s\" does not contain \"%s\"", why, part);
}

/* text with the first occurrence of `from` replaced by `to`, in a new string. */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    char *out = NULL;
    assert_true(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) > 0);
    return out;
}

/* The file names in the annotation queue, sorted, joined by spaces. */
static char *queue_listing(const fixture *f)
{
    static char out[4096];
    char names[16][128];
    size_t n = 0;
    out[0] = '\0';
    DIR *d = opendir(f->spool_dir);
    if (!d)
        return out;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        assert_true(n < 16 && strlen(e->d_name) < sizeof names[0]);
        memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[128];
            memcpy(t, names[j], sizeof t);
            memcpy(names[j], names[j - 1], sizeof t);
            memcpy(names[j - 1], t, sizeof t);
        }
    for (size_t i = 0; i < n; i++) {
        strcat(out, i ? " " : "");
        strcat(out, names[i]);
    }
    return out;
}

static void write_queue_file(const fixture *f, const char *name, const char *bytes, size_t n)
{
    mkdir(f->journal_dir, 0750);
    mkdir(f->spool_dir, 0750);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->spool_dir, name);
    test_write_file(path, bytes, n);
}

static char *read_queue_file(const fixture *f, const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->spool_dir, name);
    return test_read_file(path, len);
}

/* ---- tags text ----------------------------------------------------------------------- */

/* The exact text: members in the documented order, Chinese passed through, numbers as
 * %.15g writes them (35.5, 32.52, -1.5), dates YYYY-MM-DD from day numbers (a leap day
 * too), "to":null for an open-ended contract, the plot's devices in config order with
 * their bus's id and calibrations in config order, an absent serial as "". */
static void test_tags_text_exact(void **state)
{
    fixture *f = *state;
    char *a = tags_text(&f->farm.cfg, 0);
    assert_string_equal(
        a, "{\"format\":1,\"plot\":\"hw-a\",\"base\":{\"id\":\"hanwang\",\"name\":\"汉王\","
           "\"county\":\"紫阳县\",\"township\":\"汉王镇\",\"latitude\":32.52,\"longitude\":108.53},"
           "\"crop\":\"tea\",\"area_mu\":35.5,\"households\":["
           "{\"household\":\"HH-001\",\"contract\":\"ZY-2025-001\",\"from\":\"2025-03-01\","
           "\"to\":null},"
           "{\"household\":\"HH-017\",\"contract\":\"ZY-2025-031\",\"from\":\"2024-02-29\","
           "\"to\":\"2027-02-28\"}],\"devices\":["
           "{\"id\":\"soil-1\",\"bus\":\"rs485-1\",\"unit_id\":2,\"profile\":\"test-soil\","
           "\"serial\":\"SN-0042\",\"calibration\":[{\"field\":\"soil_temperature\",\"scale\":1,"
           "\"offset\":-0.25},{\"field\":\"soil_moisture\",\"scale\":1.02,\"offset\":-1.5}]},"
           "{\"id\":\"soil-3\",\"bus\":\"tcp-1\",\"unit_id\":247,\"profile\":\"test-soil\","
           "\"serial\":\"\",\"calibration\":[]}],"
           "\"location\":{\"latitude\":32.5211,\"longitude\":108.5302},\"utc_offset\":\"+08:00\","
           "\"products\":[{\"name\":\"紫阳富硒茶\",\"crops\":[\"tea\"],\"area\":{"
           "\"counties\":[\"紫阳县\"],\"townships\":[],\"polygon\":null},\"season_days\":365},"
           "{\"name\":\"GI \\\"poly\\\"\",\"crops\":[\"konjac\",\"tea\"],\"area\":{"
           "\"counties\":[],\"townships\":[\"汉王镇\",\"蒿坪镇\"],\"polygon\":[[32,108],"
           "[33.5,108],[33.5,109.25]]},\"season_days\":200}]}");
    free(a);

    /* no coordinates, no area, no contracts; an empty county is not configured (null, as
     * an absent one); a NULL serial is written as "" */
    f->farm.devices[1].serial = NULL;
    char *b = tags_text(&f->farm.cfg, 1);
    assert_string_equal(
        b, "{\"format\":1,\"plot\":\"hw-b\",\"base\":{\"id\":\"b2\",\"name\":\"Base two\","
           "\"county\":null,\"township\":null,\"latitude\":null,\"longitude\":null},"
           "\"crop\":\"konjac\",\"area_mu\":0,\"households\":[],\"devices\":["
           "{\"id\":\"soil-2\",\"bus\":\"rs485-1\",\"unit_id\":3,\"profile\":\"test-soil\","
           "\"serial\":\"\",\"calibration\":[]}],"
           "\"location\":{\"boundary\":[[32.1,108.1],[32.2,108.1],[32.2,108.25]]},"
           "\"utc_offset\":\"+08:00\",\"products\":[{\"name\":\"GI \\\"poly\\\"\","
           "\"crops\":[\"konjac\",\"tea\"],\"area\":{\"counties\":[],\"townships\":[\"汉王镇\","
           "\"蒿坪镇\"],\"polygon\":[[32,108],[33.5,108],[33.5,109.25]]},\"season_days\":200}]}");
    free(b);
    /* without location and products: null and [] */
    f->farm.cfg.product_count = 0;
    f->farm.plots[1].boundary_count = 0;
    b = tags_text(&f->farm.cfg, 1);
    assert_non_null(strstr(b, "\"location\":null,\"utc_offset\":\"+08:00\",\"products\":[]}"));
    free(b);
}

/* The same config gives the same text; any change of a tag gives another text. */
static void test_tags_text_changes_with_config(void **state)
{
    fixture *f = *state;
    char *before = tags_text(&f->farm.cfg, 0);
    char *again = tags_text(&f->farm.cfg, 0);
    assert_string_equal(before, again);
    free(again);

    f->calibrations[1].cal.offset = -1.25;
    char *after = tags_text(&f->farm.cfg, 0);
    assert_string_not_equal(before, after);
    free(after);
    f->calibrations[1].cal.offset = -1.5;

    /* numbers are exact: a scale that differs in its 17th digit is another calibration */
    double scale = f->calibrations[1].cal.scale;
    f->calibrations[1].cal.scale = nextafter(scale, 2.0);
    after = tags_text(&f->farm.cfg, 0);
    assert_string_not_equal(before, after);
    assert_non_null(strstr(after, "\"scale\":1.0200000000000002"));
    free(after);
    f->calibrations[1].cal.scale = scale;

    f->farm.devices[1].plot = 0; /* a device moved onto the plot */
    after = tags_text(&f->farm.cfg, 0);
    assert_string_not_equal(before, after);
    assert_non_null(strstr(after, "\"id\":\"soil-2\""));
    free(after);
    f->farm.devices[1].plot = 1;

    f->farm.contracts[0].to_day = DAY_2027_02_28; /* the open-ended contract gets an end */
    after = tags_text(&f->farm.cfg, 0);
    assert_non_null(strstr(after, "\"from\":\"2025-03-01\",\"to\":\"2027-02-28\""));
    free(after);
    free(before);
}

/* snprintf-style: cap 0 (buf may be NULL) gives the length; a short buffer gets a
 * NUL-terminated prefix and the same length; a buffer of exactly length + 1 the whole
 * text. */
static void test_tags_text_snprintf_contract(void **state)
{
    fixture *f = *state;
    char *full = tags_text(&f->farm.cfg, 0);
    size_t len = strlen(full);
    assert_int_equal(selgw_plot_tags_text(&f->farm.cfg, 0, NULL, 0), len);

    char guard[4] = {'x', 'x', 'x', 'x'};
    assert_int_equal(selgw_plot_tags_text(&f->farm.cfg, 0, guard, 0), len);
    assert_memory_equal(guard, "xxxx", 4); /* cap 0: nothing written */

    assert_int_equal(selgw_plot_tags_text(&f->farm.cfg, 0, guard, 1), len);
    assert_int_equal(guard[0], '\0');
    assert_memory_equal(guard + 1, "xxx", 3);

    static const size_t caps[] = {2, 17, 40, 100, 0 /* len */, 1 /* len + 1 */};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        size_t cap = caps[i] == 0 ? len : caps[i] == 1 ? len + 1 : caps[i];
        char *buf = malloc(cap + 8);
        assert_non_null(buf);
        memset(buf, 'Z', cap + 8);
        assert_int_equal(selgw_plot_tags_text(&f->farm.cfg, 0, buf, cap), len);
        assert_int_equal(strlen(buf), cap - 1);
        assert_memory_equal(buf, full, cap - 1);
        for (size_t k = cap; k < cap + 8; k++) /* nothing past cap */
            assert_int_equal(buf[k], 'Z');
        free(buf);
    }
    free(full);
}

/* Every value read back as it was: quotes, backslashes, newlines, a control byte and
 * Chinese in every string the text carries, and the numbers. */
static void test_tags_round_trip(void **state)
{
    fixture *f = *state;
    f->farm.bases[0].id = "base \"1\"";
    f->farm.bases[0].name = "汉王\\茶园\n";
    f->farm.bases[0].county = "紫阳县 \"county\"";
    f->farm.bases[0].township = "tab\there";
    f->farm.plots[0].id = "hw-\"a\"";
    f->farm.plots[0].crop = "tea \"green\" \\ 一级\n";
    f->farm.plots[0].area_mu = 1234.125;
    f->farm.bases[0].latitude = -32.000001;
    f->farm.bases[0].longitude = 179.999999;
    f->farm.contracts[0].household = "HH-\"9\"";
    f->farm.contracts[0].contract = "C\\1\r\n2";
    f->farm.contracts[1].household = "户-017";
    f->farm.devices[0].id = "soil\"1\\";
    f->farm.devices[0].serial = "SN\x01\x1f\x7f";
    f->farm.buses[0].id = "bus\n1";
    f->farm.profile.name = "profile\\\"x";
    f->farm.fields[0].name = "moisture \"raw\"";
    f->calibrations[1].cal = (selgw_calibration){0.000123, -1e-5};

    char *text = tags_text(&f->farm.cfg, 0);
    assert_null(strchr(text, '\n')); /* one line */
    assert_null(strchr(text, '\r'));
    assert_null(strchr(text, '\t'));
    selgw_tags *t = parse_ok(text);
    assert_int_equal(t->format, 1);
    assert_string_equal(t->plot, "hw-\"a\"");
    assert_string_equal(t->crop, "tea \"green\" \\ 一级\n");
    assert_string_equal(t->base_id, "base \"1\"");
    assert_string_equal(t->base_name, "汉王\\茶园\n");
    assert_string_equal(t->county, "紫阳县 \"county\"");
    assert_string_equal(t->township, "tab\there");
    assert_true(t->has_coordinates);
    assert_true(t->latitude == -32.000001);
    assert_true(t->longitude == 179.999999);
    assert_true(t->area_mu == 1234.125);
    assert_int_equal(t->household_count, 2);
    assert_string_equal(t->households[0].household, "HH-\"9\"");
    assert_string_equal(t->households[0].contract, "C\\1\r\n2");
    assert_string_equal(t->households[0].from, "2025-03-01");
    assert_null(t->households[0].to);
    assert_string_equal(t->households[1].household, "户-017");
    assert_string_equal(t->households[1].contract, "ZY-2025-031");
    assert_string_equal(t->households[1].from, "2024-02-29");
    assert_string_equal(t->households[1].to, "2027-02-28");
    assert_int_equal(t->device_count, 2);
    const selgw_tags_device *d = &t->devices[0];
    assert_string_equal(d->id, "soil\"1\\");
    assert_string_equal(d->bus, "bus\n1");
    assert_string_equal(d->profile, "profile\\\"x");
    assert_string_equal(d->serial, "SN\x01\x1f\x7f");
    assert_int_equal(d->unit_id, 2);
    assert_int_equal(d->calibration_count, 2);
    assert_string_equal(d->calibration[0].field, "soil_temperature");
    assert_true(d->calibration[0].scale == 1);
    assert_true(d->calibration[0].offset == -0.25);
    assert_string_equal(d->calibration[1].field, "moisture \"raw\"");
    assert_true(d->calibration[1].scale == 0.000123);
    assert_true(d->calibration[1].offset == -1e-5);
    d = &t->devices[1];
    assert_string_equal(d->id, "soil-3");
    assert_string_equal(d->bus, "tcp-1");
    assert_string_equal(d->serial, "");
    assert_int_equal(d->unit_id, 247);
    assert_int_equal(d->calibration_count, 0);
    selgw_tags_free(t);
    free(text);
    selgw_tags_free(NULL);
}

/* The old format ("crop=tea households=HH-9 ...") could not tell a crop named
 * "tea households=HH-9" from the crop "tea" with household HH-9. As JSON they are two
 * texts, and each reads back as what it was. */
static void test_tags_no_ambiguity(void **state)
{
    fixture *f = *state;
    selgw_contract hh9 = {
        .household = "HH-9", .contract = "C-9", .from_day = DAY_2025_03_01, .to_day = INT32_MAX};
    f->farm.plots[0].crop = "tea households=HH-9";
    f->farm.plots[0].contract_count = 0;
    f->farm.plots[0].contracts = NULL;
    char *one = tags_text(&f->farm.cfg, 0);
    f->farm.plots[0].crop = "tea";
    f->farm.plots[0].contract_count = 1;
    f->farm.plots[0].contracts = &hh9;
    char *two = tags_text(&f->farm.cfg, 0);
    assert_string_not_equal(one, two);

    selgw_tags *a = parse_ok(one);
    selgw_tags *b = parse_ok(two);
    assert_string_equal(a->crop, "tea households=HH-9");
    assert_int_equal(a->household_count, 0);
    assert_string_equal(b->crop, "tea");
    assert_int_equal(b->household_count, 1);
    assert_string_equal(b->households[0].household, "HH-9");
    assert_string_equal(b->households[0].contract, "C-9");
    selgw_tags_free(a);
    selgw_tags_free(b);

    /* the same with a crop that imitates a device list */
    f->farm.plots[0].crop = "tea\",\"devices\":[]";
    char *three = tags_text(&f->farm.cfg, 0);
    selgw_tags *c = parse_ok(three);
    assert_string_equal(c->crop, "tea\",\"devices\":[]");
    assert_int_equal(c->device_count, 2);
    selgw_tags_free(c);
    free(one);
    free(two);
    free(three);
}

/* Members the parser does not know are ignored (a later gateway may add some). */
static void test_tags_parse_ignores_unknown_members(void **state)
{
    fixture *f = *state;
    char *text = tags_text(&f->farm.cfg, 0);
    char *more = replaced(text, "\"crop\":", "\"soil_type\":[1,{\"x\":null}],\"crop\":");
    selgw_tags *t = parse_ok(more);
    assert_string_equal(t->crop, "tea");
    assert_int_equal(t->device_count, 2);
    selgw_tags_free(t);
    free(more);
    free(text);
}

static void test_tags_parse_refusals(void **state)
{
    fixture *f = *state;
    char *text = tags_text(&f->farm.cfg, 0);
    /* the text itself parses */
    selgw_tags_free(parse_ok(text));

    parse_refused("crop=tea households=HH-9", "not JSON");
    parse_refused("", "not JSON");
    parse_refused("[1,2]", "not tags of format 1");
    /* trailing bytes after the object */
    char *trailing = NULL;
    assert_true(asprintf(&trailing, "%s x", text) > 0);
    parse_refused(trailing, "not JSON");
    free(trailing);

    /* a duplicate member, at the top and inside a device */
    char *dup = replaced(text, "\"crop\":\"tea\"", "\"crop\":\"tea\",\"crop\":\"konjac\"");
    parse_refused(dup, "duplicate");
    free(dup);
    dup = replaced(text, "\"id\":\"soil-1\"", "\"id\":\"soil-1\",\"id\":\"soil-9\"");
    parse_refused(dup, "duplicate");
    free(dup);

    char *format2 = replaced(text, "\"format\":1", "\"format\":2");
    parse_refused(format2, "not tags of format 1: format is missing or of the wrong type");
    free(format2);
    char *format_text = replaced(text, "\"format\":1", "\"format\":\"1\"");
    parse_refused(format_text, "format is missing or of the wrong type");
    free(format_text);

    /* no devices array: cut the text before it and close the object */
    const char *devices = strstr(text, ",\"devices\":");
    assert_non_null(devices);
    char *no_devices = NULL;
    assert_true(asprintf(&no_devices, "%.*s}", (int)(devices - text), text) > 0);
    parse_refused(no_devices, "not tags of format 1: devices is missing or of the wrong type");
    free(no_devices);
    char *devices_object = replaced(text, "\"devices\":[", "\"devices\":{\"x\":[");
    char *fixed = replaced(devices_object, "]}],\"location\"", "]}]},\"location\"");
    parse_refused(fixed, "devices is missing or of the wrong type");
    free(devices_object);
    free(fixed);

    char *numeric_id = replaced(text, "\"id\":\"soil-1\"", "\"id\":7");
    parse_refused(numeric_id, "not tags of format 1: id is missing or of the wrong type");
    free(numeric_id);
    char *numeric_unit = replaced(text, "\"unit_id\":2", "\"unit_id\":\"2\"");
    parse_refused(numeric_unit, "unit_id is missing or of the wrong type");
    free(numeric_unit);
    /* numbers out of range are refused, not cast (UBSan would catch a cast) */
    char *huge_unit = replaced(text, "\"unit_id\":2", "\"unit_id\":1e300");
    parse_refused(huge_unit, "unit_id is missing or of the wrong type");
    free(huge_unit);
    char *half_unit = replaced(text, "\"unit_id\":2", "\"unit_id\":2.5");
    parse_refused(half_unit, "unit_id is missing or of the wrong type");
    free(half_unit);
    char *huge_format = replaced(text, "\"format\":1", "\"format\":1e300");
    parse_refused(huge_format, "format is missing or of the wrong type");
    free(huge_format);
    char *no_plot = replaced(text, "\"plot\":\"hw-a\",", "");
    parse_refused(no_plot, "plot is missing or of the wrong type");
    free(no_plot);
    char *scale = replaced(text, "\"scale\":1.02", "\"scale\":\"1.02\"");
    parse_refused(scale, "scale is missing or of the wrong type");
    free(scale);

    /* why may be omitted */
    selgw_tags *t = (selgw_tags *)1;
    assert_int_equal(selgw_tags_parse("{", 1, &t, NULL, 0), SELGW_ERR_CORRUPT);
    assert_null(t);
    free(text);
}

/* The place members read back: the plot's point or boundary, the offset, the products
 * with their areas; tags written before them (no such members) still parse, without
 * them; members of the wrong shape are refused. */
static void test_tags_place_round_trip(void **state)
{
    fixture *f = *state;
    char *a = tags_text(&f->farm.cfg, 0);
    selgw_tags *t = parse_ok(a);
    assert_true(t->has_location);
    assert_true(t->plot_latitude == 32.5211 && t->plot_longitude == 108.5302);
    assert_int_equal(t->boundary_count, 0);
    assert_string_equal(t->utc_offset, "+08:00");
    assert_int_equal(t->product_count, 2);
    assert_string_equal(t->products[0].name, "紫阳富硒茶");
    assert_int_equal(t->products[0].crop_count, 1);
    assert_string_equal(t->products[0].crops[0], "tea");
    assert_int_equal(t->products[0].county_count, 1);
    assert_string_equal(t->products[0].counties[0], "紫阳县");
    assert_int_equal(t->products[0].township_count, 0);
    assert_int_equal(t->products[0].polygon_count, 0);
    assert_int_equal(t->products[0].season_days, 365);
    assert_string_equal(t->products[1].name, "GI \"poly\"");
    assert_int_equal(t->products[1].township_count, 2);
    assert_string_equal(t->products[1].townships[1], "蒿坪镇");
    assert_int_equal(t->products[1].polygon_count, 3);
    assert_true(t->products[1].polygon[2][0] == 33.5 && t->products[1].polygon[2][1] == 109.25);
    assert_int_equal(t->products[1].season_days, 200);
    selgw_tags_free(t);

    char *b = tags_text(&f->farm.cfg, 1);
    t = parse_ok(b);
    assert_false(t->has_location);
    assert_int_equal(t->boundary_count, 3);
    assert_true(t->boundary[1][0] == 32.2 && t->boundary[2][1] == 108.25);
    assert_int_equal(t->product_count, 1);
    selgw_tags_free(t);

    /* tags of before: no location, offset or products */
    const char *cut = strstr(a, ",\"location\":");
    char *old = NULL;
    assert_true(asprintf(&old, "%.*s}", (int)(cut - a), a) > 0);
    t = parse_ok(old);
    assert_false(t->has_location);
    assert_null(t->utc_offset);
    assert_int_equal(t->product_count, 0);
    assert_int_equal(t->device_count, 2);
    selgw_tags_free(t);
    free(old);

    char *bad = replaced(a, "\"latitude\":32.5211", "\"latitude\":95");
    parse_refused(bad, "location");
    free(bad);
    bad = replaced(b, "[[32.1,108.1],[32.2,108.1],", "[[32.1,108.1],");
    parse_refused(bad, "location");
    free(bad);
    bad = replaced(b, "[[32,108],", "[[32,108,1],");
    parse_refused(bad, "polygon");
    free(bad);
    bad = replaced(a, "\"season_days\":365", "\"season_days\":0.5");
    parse_refused(bad, "season_days");
    free(bad);
    bad = replaced(a, "\"counties\":[\"紫阳县\"]", "\"counties\":\"紫阳县\"");
    parse_refused(bad, "counties");
    free(bad);
    bad = replaced(a, "\"products\":[", "\"products\":{\"x\":[");
    char *fixed = replaced(bad, "\"season_days\":200}]}", "\"season_days\":200}]}}");
    parse_refused(fixed, "products");
    free(bad);
    free(fixed);
    free(a);
    free(b);
}

/* ---- annotations --------------------------------------------------------------------- */

static void spool_refused(fixture *f, const char *plot, const char *text, const char *ref,
                          const char *expected_why)
{
    char why[256] = "";
    selgw_err err = selgw_annotation_spool(&f->farm.cfg, plot, text, ref, why, sizeof why);
    if (err != SELGW_ERR_INVALID)
        fail_msg("expected SELGW_ERR_INVALID for text \"%s\", got %s", text, selgw_strerror(err));
    assert_string_equal(why, expected_why);
    assert_string_equal(queue_listing(f), ""); /* nothing queued */
}

static void test_spool_refusals(void **state)
{
    fixture *f = *state;
    spool_refused(f, "hw-x", "lab ok", NULL, "no plot 'hw-x' in test.yaml");
    spool_refused(f, "hw-", "lab ok", NULL, "no plot 'hw-' in test.yaml");
    spool_refused(f, "hw-a", "", NULL, WHY_EMPTY);
    spool_refused(f, "hw-a", NULL, NULL, WHY_EMPTY);

    static const char *const unclean[] = {
        "lab ok\nVERIFIED",    /* newline */
        "lab ok\r",            /* carriage return */
        "lab\tok",             /* tab */
        "lab \x1b[2Kok",       /* ESC */
        "lab ok \xe2\x80\xae", /* U+202E, right-to-left override */
        "lab ok \xe2\x80\x8b", /* U+200B, zero-width space */
        "lab ok \xff",         /* not UTF-8 */
        "lab ok \xc0\xaf",     /* overlong */
        "lab ok \xe6\xb1",     /* truncated sequence */
        "lab ok \x7f",         /* DEL */
        "lab ok \xc2\x85",     /* U+0085, a C1 control */
    };
    for (size_t i = 0; i < sizeof unclean / sizeof unclean[0]; i++) {
        spool_refused(f, "hw-a", unclean[i], NULL, WHY_CONTROL);
        spool_refused(f, "hw-a", "lab ok", unclean[i], WHY_CONTROL); /* the same in ref */
    }

    char text[1100];
    memset(text, 'a', 1024);
    text[1024] = '\0';
    spool_refused(f, "hw-a", text, NULL, WHY_LENGTH);
    char ref[300];
    memset(ref, 'r', 256);
    ref[256] = '\0';
    spool_refused(f, "hw-a", "lab ok", ref, WHY_LENGTH);
    /* Chinese text over the limit in bytes, under it in characters */
    char cn[1100] = "";
    for (int i = 0; i < 342; i++) /* 3 bytes each: 1026 bytes */
        strcat(cn, "检");
    spool_refused(f, "hw-a", cn, NULL, WHY_LENGTH);
}

/* Chinese text, and the longest text and reference allowed, are queued and read back
 * unchanged. */
static void test_spool_accepts(void **state)
{
    fixture *f = *state;
    char why[256] = "";
    assert_int_equal(selgw_annotation_spool(&f->farm.cfg, "hw-b",
                                            "农药残留检测：未检出（SGS 报告）", "SGS-2026-检-0118",
                                            why, sizeof why),
                     SELGW_OK);
    char text[1024], ref[256];
    memset(text, 't', 1023);
    text[1023] = '\0';
    memset(ref, 'r', 255);
    ref[255] = '\0';
    assert_int_equal(selgw_annotation_spool(&f->farm.cfg, "hw-a", text, ref, why, sizeof why),
                     SELGW_OK);
    selgw_annotation *list = NULL;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &list), 2);
    assert_string_equal(list[0].plot, "hw-b");
    assert_string_equal(list[0].text, "农药残留检测：未检出（SGS 报告）");
    assert_string_equal(list[0].ref, "SGS-2026-检-0118");
    assert_string_equal(list[1].plot, "hw-a");
    assert_string_equal(list[1].text, text);
    assert_string_equal(list[1].ref, ref);
    free(list);
}

/* What was spooled is read back oldest first, with its plot, text, ref ("" when none),
 * time and the name of its queue file; reading takes nothing away. */
/* Lots go through the same queue: a *.lot file read back in order with the annotations,
 * as type LOT with the id in ref; a queued id is found; what is not a lot's canonical text
 * is refused when spooled and set aside when found in the queue. */
static void test_lots_in_the_queue(void **state)
{
    fixture *f = *state;
    static const char lot[] =
        "{\"format\":1,\"lot\":\"ZY-1\",\"product\":\"紫阳富硒茶\",\"utc_offset\":\"+08:00\",\"plots\":[{\"plot\":"
        "\"hw-a\",\"season_from\":\"2025-10-01\",\"harvest_from\":\"2026-04-01\","
        "\"harvest_to\":\"2026-04-10\"}],\"quantity\":1,\"unit\":\"kg\",\"households\":[],"
        "\"processing\":null,\"refs\":[],\"url\":null}";
    char why[256] = "";
    assert_false(selgw_lot_is_queued(f->journal_dir, "ZY-1"));
    assert_int_equal(selgw_annotation_spool(&f->farm.cfg, "hw-a", "before", NULL, why, sizeof why),
                     SELGW_OK);
    assert_int_equal(selgw_lot_spool(&f->farm.cfg, "ZY-1", lot, why, sizeof why), SELGW_OK);
    assert_true(selgw_lot_is_queued(f->journal_dir, "ZY-1"));
    assert_false(selgw_lot_is_queued(f->journal_dir, "ZY-2"));
    /* not a lot, or of another id */
    assert_int_equal(selgw_lot_spool(&f->farm.cfg, "ZY-2", lot, why, sizeof why),
                     SELGW_ERR_INVALID);
    assert_int_equal(selgw_lot_spool(&f->farm.cfg, "ZY-1", "{\"format\":1}", why, sizeof why),
                     SELGW_ERR_INVALID);
    assert_non_null(strstr(why, "not a lot's text"));
    /* a file in the queue that is not a lot is set aside */
    static const char not_a_lot[] = "selgw-lot 1\ntime 1\nlot X\ntext {}\n";
    write_queue_file(f, "00000000000000000001-1.lot", not_a_lot, sizeof not_a_lot - 1);
    selgw_annotation *list = NULL;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &list), 2);
    assert_int_equal(list[0].type, SELGW_RECORD_ANNOTATION);
    assert_string_equal(list[0].text, "before");
    assert_int_equal(list[1].type, SELGW_RECORD_LOT);
    assert_string_equal(list[1].ref, "ZY-1");
    assert_string_equal(list[1].plot, "");
    assert_string_equal(list[1].text, lot);
    assert_non_null(strstr(list[1].file, ".lot"));
    assert_non_null(strstr(queue_listing(f), "00000000000000000001-1.lot.bad"));
    assert_int_equal(selgw_annotation_done(f->journal_dir, &list[1]), SELGW_OK);
    assert_false(selgw_lot_is_queued(f->journal_dir, "ZY-1"));
    free(list);
}

static void test_annotations_read_back(void **state)
{
    fixture *f = *state;
    selgw_annotation *list = (selgw_annotation *)1;
    /* nothing queued, not even a directory */
    assert_int_equal(selgw_annotations_read(f->journal_dir, &list), 0);
    assert_null(list);

    char why[256] = "";
    int64_t before = selgw_utc_ns();
    assert_int_equal(
        selgw_annotation_spool(&f->farm.cfg, "hw-a", "lab: no residue", "LAB-1", why, sizeof why),
        SELGW_OK);
    assert_int_equal(
        selgw_annotation_spool(&f->farm.cfg, "hw-b", "第二次施肥", NULL, why, sizeof why),
        SELGW_OK);
    assert_int_equal(
        selgw_annotation_spool(&f->farm.cfg, "hw-a", "third note", "LAB-3", why, sizeof why),
        SELGW_OK);
    int64_t after = selgw_utc_ns();

    assert_int_equal(selgw_annotations_read(f->journal_dir, &list), 3);
    assert_string_equal(list[0].plot, "hw-a");
    assert_string_equal(list[0].text, "lab: no residue");
    assert_string_equal(list[0].ref, "LAB-1");
    assert_string_equal(list[1].plot, "hw-b");
    assert_string_equal(list[1].text, "第二次施肥");
    assert_string_equal(list[1].ref, "");
    assert_string_equal(list[2].plot, "hw-a");
    assert_string_equal(list[2].text, "third note");
    assert_string_equal(list[2].ref, "LAB-3");
    char expected_files[512] = "";
    for (size_t i = 0; i < 3; i++) {
        assert_true(list[i].time_ns >= before && list[i].time_ns <= after);
        if (i)
            assert_true(list[i].time_ns > list[i - 1].time_ns);
        /* the file is named by its time (20 digits) and the spooling process */
        char name[96];
        snprintf(name, sizeof name, "%020" PRId64 "-%d.ann", list[i].time_ns, (int)getpid());
        assert_string_equal(list[i].file, name);
        strcat(expected_files, i ? " " : "");
        strcat(expected_files, name);
    }
    /* the queue holds the three files and no temporary file */
    assert_string_equal(queue_listing(f), expected_files);

    /* the file as documented */
    size_t len;
    char expected[256];
    snprintf(expected, sizeof expected,
             "selgw-annotation 1\ntime %" PRId64 "\nplot hw-b\nref \ntext 第二次施肥\n",
             list[1].time_ns);
    assert_string_equal(read_queue_file(f, list[1].file, &len), expected);

    /* reading again gives the same */
    selgw_annotation *again = NULL;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &again), 3);
    assert_memory_equal(again, list, 3 * sizeof *list);
    free(again);
    free(list);
}

/* Queue files written by hand in the documented format: those holding what `selgw
 * annotate` would refuse (a control character, an empty text, a wrong first line, an
 * unknown line, a line missing) are renamed *.bad, byte for byte, and not read again; good
 * ones are read in name order. */
static void test_annotations_read_sets_aside_bad_files(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *name, *content;
    } files[] = {
        {"00000000000000000001-1.ann",
         "selgw-annotation 1\ntime 1\nplot hw-a\nref R-1\ntext lab \x1b[2Kok\n"},
        {"00000000000000000002-1.ann",
         "selgw-annotation 1\ntime 2\nplot hw-a\nref R\t2\ntext ok\n"},
        {"00000000000000000003-1.ann",
         "selgw-annotation 1\ntime 3\nplot hw-b\nref R-3\ntext good\n"},
        {"00000000000000000004-1.ann", "selgw-annotation 1\ntime 4\nplot hw-a\nref R-4\ntext \n"},
        {"00000000000000000005-1.ann", "selgw-annotation 2\ntime 5\nplot hw-a\nref R-5\ntext x\n"},
        {"00000000000000000006-1.ann",
         "selgw-annotation 1\ntime 6\nplot hw-a\nref R-6\ntext x\nsigned-by mallory\n"},
        {"00000000000000000007-1.ann", "selgw-annotation 1\ntime 7\nplot hw-a\ntext x\n"},
        {"00000000000000000008-1.ann",
         "selgw-annotation 1\ntime 8\nplot hw-a\nref R-8\ntext \xe2\x80\xae"
         "drawkcab\n"},
        {"00000000000000000009-1.ann",
         "selgw-annotation 1\ntime 9\nplot hw-a\nref R-9\ntext 第二 good\n"},
        {"00000000000000000010-1.ann.tmp",
         "selgw-annotation 1\ntime 10\nplot hw-a\nref \ntext tmp\n"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        write_queue_file(f, files[i].name, files[i].content, strlen(files[i].content));

    selgw_annotation *list = NULL;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &list), 2);
    assert_string_equal(list[0].file, "00000000000000000003-1.ann");
    assert_string_equal(list[0].plot, "hw-b");
    assert_string_equal(list[0].ref, "R-3");
    assert_string_equal(list[0].text, "good");
    assert_int_equal(list[0].time_ns, 3);
    assert_string_equal(list[1].file, "00000000000000000009-1.ann");
    assert_string_equal(list[1].text, "第二 good");
    assert_int_equal(list[1].time_ns, 9);
    free(list);

    assert_string_equal(queue_listing(f),
                        "00000000000000000001-1.ann.bad 00000000000000000002-1.ann.bad "
                        "00000000000000000003-1.ann 00000000000000000004-1.ann.bad "
                        "00000000000000000005-1.ann.bad 00000000000000000006-1.ann.bad "
                        "00000000000000000007-1.ann.bad 00000000000000000008-1.ann.bad "
                        "00000000000000000009-1.ann 00000000000000000010-1.ann.tmp");
    /* set aside unchanged */
    size_t len;
    assert_string_equal(read_queue_file(f, "00000000000000000001-1.ann.bad", &len),
                        files[0].content);
    assert_string_equal(read_queue_file(f, "00000000000000000002-1.ann.bad", &len),
                        files[1].content);

    /* not read again */
    assert_int_equal(selgw_annotations_read(f->journal_dir, &list), 2);
    assert_string_equal(list[0].file, "00000000000000000003-1.ann");
    assert_string_equal(list[1].file, "00000000000000000009-1.ann");
    free(list);
}

/* A NUL byte is a control character too: it would cut the text short where it stands
 * (the record would say less than the file), so the file must be set aside like any
 * other that `selgw annotate` could not have written. */
static void test_annotations_read_sets_aside_nul_byte(void **state)
{
    fixture *f = *state;
    static const char content[] =
        "selgw-annotation 1\ntime 1\nplot hw-a\nref R-1\ntext residue found\0 (not) detected\n";
    write_queue_file(f, "00000000000000000001-1.ann", content, sizeof content - 1);
    selgw_annotation *list = NULL;
    size_t n = selgw_annotations_read(f->journal_dir, &list);
    if (n) {
        char text[sizeof list[0].text];
        memcpy(text, list[0].text, sizeof text);
        free(list);
        fail_msg("a queue file with a NUL byte was read as text \"%s\"", text);
    }
    assert_null(list);
    assert_string_equal(queue_listing(f), "00000000000000000001-1.ann.bad");
}

/* Done: the file is removed, the others stay; done twice is harmless. */
static void test_annotation_done(void **state)
{
    fixture *f = *state;
    char why[256] = "";
    assert_int_equal(selgw_annotation_spool(&f->farm.cfg, "hw-a", "one", NULL, why, sizeof why),
                     SELGW_OK);
    assert_int_equal(selgw_annotation_spool(&f->farm.cfg, "hw-a", "two", NULL, why, sizeof why),
                     SELGW_OK);
    selgw_annotation *list = NULL;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &list), 2);
    selgw_annotation_done(f->journal_dir, &list[0]);
    assert_string_equal(queue_listing(f), list[1].file);
    selgw_annotation_done(f->journal_dir, &list[0]);
    assert_string_equal(queue_listing(f), list[1].file);

    selgw_annotation *rest = NULL;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &rest), 1);
    assert_string_equal(rest[0].text, "two");
    assert_string_equal(rest[0].file, list[1].file);
    selgw_annotation_done(f->journal_dir, &rest[0]);
    assert_string_equal(queue_listing(f), "");
    free(rest);
    assert_int_equal(selgw_annotations_read(f->journal_dir, &rest), 0);
    assert_null(rest);
    free(list);
}

/* Set aside: renamed FILE.<why> with its content, and no longer read; renaming it back
 * (what an operator does once the config has the plot) queues it again. */
static void test_annotation_set_aside(void **state)
{
    fixture *f = *state;
    char why[256] = "";
    assert_int_equal(selgw_annotation_spool(&f->farm.cfg, "hw-a", "for a plot to be removed", "R-7",
                                            why, sizeof why),
                     SELGW_OK);
    selgw_annotation *list = NULL;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &list), 1);
    size_t len;
    char content[512];
    snprintf(content, sizeof content, "%s", read_queue_file(f, list[0].file, &len));

    selgw_annotation_set_aside(f->journal_dir, &list[0], "unknown-plot");
    char aside[128];
    snprintf(aside, sizeof aside, "%s.unknown-plot", list[0].file);
    assert_string_equal(queue_listing(f), aside);
    assert_string_equal(read_queue_file(f, aside, &len), content);
    selgw_annotation *none = (selgw_annotation *)1;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &none), 0);
    assert_null(none);

    char from[256], to[256];
    snprintf(from, sizeof from, "%s/%s", f->spool_dir, aside);
    snprintf(to, sizeof to, "%s/%s", f->spool_dir, list[0].file);
    assert_int_equal(rename(from, to), 0);
    selgw_annotation *back = NULL;
    assert_int_equal(selgw_annotations_read(f->journal_dir, &back), 1);
    assert_string_equal(back[0].text, "for a plot to be removed");
    assert_string_equal(back[0].ref, "R-7");
    free(back);
    free(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tags_text_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_text_changes_with_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_text_snprintf_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_no_ambiguity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_parse_ignores_unknown_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_parse_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags_place_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lots_in_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_accepts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotations_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotations_read_sets_aside_bad_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_annotations_read_sets_aside_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotation_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotation_set_aside, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
