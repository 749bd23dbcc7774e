/* A lot's canonical JSON (evidence/lot.h): the exact text and member order, escaping, the
 * snprintf contract, read back unchanged, and what the parser refuses: other order or
 * whitespace, duplicates, bad dates, bad ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/diag.h"
#include "config.h"
#include "evidence/lot.h"

static char *households[] = {"HH-001", "HH-017"};
static char *refs[] = {"LAB-2026-118"};
static selgw_lot_plot plots[] = {
    {"hw-p01", "2025-10-01", "2026-04-01", "2026-04-10"},
    {"hw-p02", "2025-10-03", "2026-04-03", "2026-04-12"},
};

static selgw_lot example(void)
{
    return (selgw_lot){.lot = "ZY-2026-001",
                       .product = "紫阳富硒茶",
                       .utc_offset = "+08:00",
                       .unit = "kg",
                       .processing = "杀青、揉捻、烘干",
                       .url = "https://trace.example.com/lot/ZY-2026-001",
                       .quantity = 120.5,
                       .plot_count = 2,
                       .plots = plots,
                       .household_count = 2,
                       .households = households,
                       .ref_count = 1,
                       .refs = refs};
}

static char *json_of(const selgw_lot *lot)
{
    size_t need = selgw_lot_json(lot, NULL, 0);
    char *buf = malloc(need + 1);
    assert_non_null(buf);
    assert_int_equal(selgw_lot_json(lot, buf, need + 1), need);
    assert_int_equal(strlen(buf), need);
    return buf;
}

static const char expected[] =
    "{\"format\":1,\"lot\":\"ZY-2026-001\",\"product\":\"紫阳富硒茶\",\"utc_offset\":\"+08:00\",\"plots\":["
    "{\"plot\":\"hw-p01\",\"season_from\":\"2025-10-01\",\"harvest_from\":\"2026-04-01\","
    "\"harvest_to\":\"2026-04-10\"},"
    "{\"plot\":\"hw-p02\",\"season_from\":\"2025-10-03\",\"harvest_from\":\"2026-04-03\","
    "\"harvest_to\":\"2026-04-12\"}],"
    "\"quantity\":120.5,\"unit\":\"kg\",\"households\":[\"HH-001\",\"HH-017\"],"
    "\"processing\":\"杀青、揉捻、烘干\",\"refs\":[\"LAB-2026-118\"],"
    "\"url\":\"https://trace.example.com/lot/ZY-2026-001\"}";

static void test_exact_text(void **state)
{
    (void)state;
    selgw_lot lot = example();
    char *text = json_of(&lot);
    assert_string_equal(text, expected);
    free(text);
    /* null processing and url, no households or refs */
    lot.processing = NULL;
    lot.url = NULL;
    lot.household_count = 0;
    lot.ref_count = 0;
    lot.plot_count = 1;
    lot.quantity = 3;
    text = json_of(&lot);
    assert_non_null(strstr(text, "\"quantity\":3,\"unit\":\"kg\",\"households\":[],"
                                 "\"processing\":null,\"refs\":[],\"url\":null}"));
    free(text);
    /* snprintf: a short buffer gets a terminated prefix and the full length */
    char small[10];
    lot = example();
    assert_int_equal(selgw_lot_json(&lot, small, sizeof small), strlen(expected));
    assert_int_equal(strlen(small), 9);
    assert_memory_equal(small, expected, 9);
}

static void test_round_trip_and_escaping(void **state)
{
    (void)state;
    selgw_lot lot = example();
    char *tricky[] = {"ref \"quoted\" \\ back\nline\x01"};
    lot.refs = tricky;
    lot.processing = "tab\there \"q\"";
    char *text = json_of(&lot);
    assert_null(strchr(text, '\n'));
    assert_non_null(strstr(text, "\\\"quoted\\\" \\\\ back\\nline\\u0001"));
    selgw_lot *back = NULL;
    char why[200] = "";
    assert_int_equal(selgw_lot_parse(text, strlen(text), &back, why, sizeof why), SELGW_OK);
    assert_string_equal(back->lot, "ZY-2026-001");
    assert_string_equal(back->product, "紫阳富硒茶");
    assert_int_equal(back->plot_count, 2);
    assert_string_equal(back->plots[1].plot, "hw-p02");
    assert_string_equal(back->plots[1].season_from, "2025-10-03");
    assert_string_equal(back->plots[1].harvest_to, "2026-04-12");
    assert_true(back->quantity == 120.5);
    assert_string_equal(back->unit, "kg");
    assert_int_equal(back->household_count, 2);
    assert_string_equal(back->households[1], "HH-017");
    assert_int_equal(back->ref_count, 1);
    assert_string_equal(back->refs[0], tricky[0]);
    assert_string_equal(back->processing, "tab\there \"q\"");
    assert_string_equal(back->url, "https://trace.example.com/lot/ZY-2026-001");
    /* written again: the same bytes */
    char *again = json_of(back);
    assert_string_equal(again, text);
    free(again);
    /* the period of a plot: [season_from 00:00, harvest_to + 1 day 00:00) at +08:00 */
    int64_t from, to;
    assert_true(selgw_lot_plot_period(&back->plots[0], 480, INT64_MAX, &from, &to));
    assert_int_equal(from, 1759248000LL * 1000000000LL); /* 2025-09-30T16:00Z */
    assert_int_equal(to, 1775836800LL * 1000000000LL);   /* 2026-04-10T16:00Z */
    /* recorded on the harvest's last day, at 15:00 local: the period ends there */
    assert_true(selgw_lot_plot_period(&back->plots[0], 480, 1775804400LL * 1000000000LL, &from,
                                      &to));
    assert_int_equal(to, 1775804400LL * 1000000000LL); /* 2026-04-10T07:00Z */
    /* a record before the season (a gateway clock far off): no period */
    assert_false(selgw_lot_plot_period(&back->plots[0], 480, from, &from, &to));
    selgw_lot_free(back);
    selgw_lot_free(NULL);
    free(text);
}

static void refused(const char *text, const char *part)
{
    selgw_lot *lot = (selgw_lot *)1;
    char why[200] = "";
    assert_int_equal(selgw_lot_parse(text, strlen(text), &lot, why, sizeof why), SELGW_ERR_CORRUPT);
    assert_null(lot);
    if (!strstr(why, part))
        fail_msg("why \"%s\" does not contain \"%s\" for\n%s", why, part, text);
}

static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    char *out = NULL;
    assert_true(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) > 0);
    return out;
}

static void refused_edit(const char *from, const char *to, const char *part)
{
    char *t = replaced(expected, from, to);
    refused(t, part);
    free(t);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("", "not JSON");
    refused("[]", "the text");
    /* duplicates: a member, a plot, a household */
    refused_edit("\"unit\":\"kg\"", "\"unit\":\"kg\",\"unit\":\"t\"", "duplicate");
    refused_edit("\"harvest_to\":\"2026-04-12\"}",
                 "\"harvest_to\":\"2026-04-12\"},{\"plot\":\"hw-p01\","
                 "\"season_from\":\"2025-10-01\",\"harvest_from\":\"2026-04-01\","
                 "\"harvest_to\":\"2026-04-10\"}",
                 "plot hw-p01 twice");
    refused_edit("[\"HH-001\",\"HH-017\"]", "[\"HH-001\",\"HH-001\"]", "households twice");
    /* dates */
    refused_edit("\"2026-04-10\"", "\"2026-02-30\"", "not YYYY-MM-DD");
    refused_edit("\"2026-04-10\"", "\"2026-4-10\"", "not YYYY-MM-DD");
    refused_edit("\"harvest_from\":\"2026-04-01\"", "\"harvest_from\":\"2026-04-11\"",
                 "not in order");
    refused_edit("\"season_from\":\"2025-10-01\"", "\"season_from\":\"2026-04-02\"",
                 "not in order");
    /* ids, numbers, format */
    refused_edit("\"lot\":\"ZY-2026-001\"", "\"lot\":\"ZY 2026\"", "lot");
    refused_edit("\"plot\":\"hw-p01\"", "\"plot\":\"hw/p01\"", "plot");
    refused_edit("\"quantity\":120.5", "\"quantity\":-1", "quantity");
    refused_edit("\"quantity\":120.5", "\"quantity\":\"120.5\"", "quantity");
    refused_edit("\"format\":1", "\"format\":2", "format");
    refused_edit("\"utc_offset\":\"+08:00\"", "\"utc_offset\":\"+8\"", "utc_offset");
    refused_edit("\"utc_offset\":\"+08:00\",", "", "utc_offset");
    refused_edit("\"plots\":[{", "\"plots\":[],\"x\":[{", "plots");
    /* not canonical: order, whitespace, an unknown member, another number spelling */
    refused_edit("\"format\":1,\"lot\":\"ZY-2026-001\"", "\"lot\":\"ZY-2026-001\",\"format\":1",
                 "canonical");
    refused_edit("\"unit\":\"kg\"", "\"unit\": \"kg\"", "canonical");
    refused_edit("\"unit\":\"kg\"", "\"unit\":\"kg\",\"note\":1", "canonical");
    refused_edit("\"quantity\":120.5", "\"quantity\":1.205e2", "canonical");
    selgw_lot *lot = (selgw_lot *)1;
    assert_int_equal(selgw_lot_parse("{", 1, &lot, NULL, 0), SELGW_ERR_CORRUPT);
    assert_null(lot);
    assert_true(selgw_lot_is_id("ZY-2026_001.a"));
    assert_false(selgw_lot_is_id(""));
    assert_false(selgw_lot_is_id("批次1"));
}

/* selgw lot's checks against the config (selgw_lot_build). */
static const char farm[] =
    "gateway: {id: gw, utc_offset: '+08:00'}\n"
    "bases: [{id: b1, name: B, county: 紫阳县}, {id: b2, name: nowhere}]\n"
    "plots:\n"
    "  - {id: p1, base: b1, crop: tea, households: [{household: HH-1, contract: C1, from: "
    "2026-01-01, to: 2026-04-05}]}\n"
    "  - {id: p2, base: b1, crop: tea, households: [{household: HH-2, contract: C2, from: "
    "2026-04-09}]}\n"
    "  - {id: k1, base: b1, crop: konjac}\n"
    "  - {id: q1, base: b2, crop: tea}\n"
    "products:\n"
    "  - {name: 紫阳富硒茶, crops: [tea], area: {counties: [紫阳县]}, season_days: 100, "
    "lot_url: 'https://t.example/{lot}?id={lot}'}\n"
    "  - {name: GI2, crops: [tea], area: {counties: [紫阳县]}}\n"
    "  - {name: GI3, crops: [tea], area: {counties: [岚皋县]}}\n";

static void build_refused(const selgw_config *cfg, selgw_lot_request req, const char *part)
{
    char why[512] = "";
    char *json = (char *)1;
    int64_t now = 1776000000LL * 1000000000LL; /* 2026-04-12T13:20Z: 21:20 at +08:00 */
    assert_int_equal(selgw_lot_build(cfg, &req, now, &json, why, sizeof why), SELGW_ERR_INVALID);
    assert_null(json);
    if (!strstr(why, part))
        fail_msg("why \"%s\" does not contain \"%s\"", why, part);
}

static void test_build(void **state)
{
    (void)state;
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    selgw_err loaded = selgw_config_load_string("t.yaml", farm, strlen(farm), diag, &cfg);
    for (size_t i = 0; i < selgw_diag_count(diag); i++)
        fprintf(stderr, "%s\n", selgw_diag_message(diag, i));
    assert_int_equal(loaded, SELGW_OK);
    selgw_diag_free(diag);
    const char *plots[] = {"p1:2026-04-01..2026-04-05", "p2:2026-04-08..2026-04-10"};
    const char *hh[] = {"HH-1", "HH-2"};
    const char *refs[] = {"LAB-1"};
    selgw_lot_request req = {.id = "ZY-1",
                             .product = "紫阳富硒茶",
                             .unit = "kg",
                             .processing = "烘干",
                             .quantity = 7.25,
                             .plot_count = 2,
                             .plots = plots,
                             .household_count = 2,
                             .households = hh,
                             .ref_count = 1,
                             .refs = refs};
    char *json = NULL;
    char why[512] = "";
    int64_t now = 1776000000LL * 1000000000LL;
    assert_int_equal(selgw_lot_build(cfg, &req, now, &json, why, sizeof why), SELGW_OK);
    assert_string_equal(json,
                        "{\"format\":1,\"lot\":\"ZY-1\",\"product\":\"紫阳富硒茶\",\"utc_offset\":\"+08:00\",\"plots\":["
                        "{\"plot\":\"p1\",\"season_from\":\"2025-12-26\",\"harvest_from\":"
                        "\"2026-04-01\",\"harvest_to\":\"2026-04-05\"},{\"plot\":\"p2\","
                        "\"season_from\":\"2025-12-31\",\"harvest_from\":\"2026-04-08\","
                        "\"harvest_to\":\"2026-04-10\"}],\"quantity\":7.25,\"unit\":\"kg\","
                        "\"households\":[\"HH-1\",\"HH-2\"],\"processing\":\"烘干\","
                        "\"refs\":[\"LAB-1\"],\"url\":\"https://t.example/ZY-1?id=ZY-1\"}");
    free(json);
    /* harvest ending today (local) is fine; tomorrow is not */
    const char *today[] = {"p1:2026-04-01..2026-04-12"};
    selgw_lot_request r = req;
    r.plots = today;
    r.plot_count = 1;
    r.household_count = 0;
    r.product = "GI2";
    assert_int_equal(selgw_lot_build(cfg, &r, now, &json, why, sizeof why), SELGW_OK);
    assert_non_null(strstr(json, "\"url\":null}"));
    free(json);
    const char *tomorrow[] = {"p1:2026-04-01..2026-04-13"};
    r.plots = tomorrow;
    build_refused(cfg, r, "the harvest ends after today (2026-04-12, local)");

    r = req;
    r.id = "ZY 1";
    build_refused(cfg, r, "--id ZY 1: a lot id has");
    r = req;
    r.product = "富硒茶";
    build_refused(cfg, r, "--product 富硒茶: no such product");
    const char *unknown[] = {"p9:2026-04-01..2026-04-05"};
    r = req;
    r.plots = unknown;
    r.plot_count = 1;
    build_refused(cfg, r, "no plot 'p9'");
    const char *konjac[] = {"k1:2026-04-01..2026-04-05"};
    r.plots = konjac;
    r.household_count = 0;
    build_refused(cfg, r, "plot k1 grows konjac, which product 紫阳富硒茶 does not cover");
    /* the GI check verify would make: outside the area, or a place it cannot check */
    const char *p1_only[] = {"p1:2026-04-01..2026-04-05"};
    r.plots = p1_only;
    r.product = "GI3";
    build_refused(cfg, r, "plot p1 lies outside the area of product GI3: county 紫阳县 is not in "
                          "the area");
    const char *nowhere[] = {"q1:2026-04-01..2026-04-05"};
    r.plots = nowhere;
    r.product = "紫阳富硒茶";
    build_refused(cfg, r, "whether plot q1 lies in the area of product 紫阳富硒茶 cannot be "
                          "checked: the tags name no county of the base");
    r.product = req.product;
    const char *reversed[] = {"p1:2026-04-05..2026-04-01"};
    r.plots = reversed;
    build_refused(cfg, r, "the harvest ends before it begins");
    const char *bad_day[] = {"p1:2026-02-30..2026-04-01"};
    r.plots = bad_day;
    build_refused(cfg, r, "must be days that exist");
    const char *no_dates[] = {"p1"};
    r.plots = no_dates;
    build_refused(cfg, r, "expected PLOT:YYYY-MM-DD..YYYY-MM-DD");
    const char *twice[] = {"p1:2026-04-01..2026-04-05", "p1:2026-04-06..2026-04-07"};
    r.plots = twice;
    r.plot_count = 2;
    build_refused(cfg, r, "plot p1 is given twice");
    /* HH-1's contract ends 2026-04-05: not on p1 from the 6th, and never on p2 */
    const char *late[] = {"p1:2026-04-06..2026-04-07", "p2:2026-04-09..2026-04-10"};
    const char *hh1[] = {"HH-1"};
    r = req;
    r.plots = late;
    r.households = hh1;
    r.household_count = 1;
    build_refused(cfg, r,
                  "household HH-1 has no contract (in t.yaml) on the lot's plots during "
                  "their harvest: p1 (2026-04-06..2026-04-07), p2 (2026-04-09..2026-04-10)");
    r = req;
    r.quantity = 0;
    build_refused(cfg, r, "--quantity: a positive number");
    r = req;
    r.unit = "kg\n";
    build_refused(cfg, r, "--unit and --processing must be single");
    selgw_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_round_trip_and_escaping),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
