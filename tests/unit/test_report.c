/* The report (evidence/report.h): HTML escaping of every character that matters (< > & " '
 * and control bytes, malformed UTF-8, direction overrides) with the snprintf contract; a
 * small model rendered in zh and en: the verdict's class and words, problems escaped, the
 * clock banner only when no CLOCK record said synchronised, "none declared" GI checks and
 * filled ones, names from dashboards/i18n.json, a chart per field with its daily band and
 * mean line, daily statistics, gaps with their causes; a lot rendered from its JSON with its
 * QR code, and a lot JSON that cannot be read. Nothing is loaded from anywhere. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "evidence/qr.h"
#include "evidence/report.h"

/* ---- escaping ------------------------------------------------------------------------- */

static char *escaped(const char *s, size_t n)
{
    size_t need = 0;
    selgw_html_escape(NULL, 0, &need, s, n);
    char *out = malloc(need + 1);
    assert_non_null(out);
    size_t len = 0;
    out[0] = '\0';
    selgw_html_escape(out, need + 1, &len, s, n);
    assert_int_equal(len, need);
    assert_int_equal(strlen(out), need);
    return out;
}

static void assert_escapes(const char *in, size_t n, const char *want)
{
    char *got = escaped(in, n);
    if (strcmp(got, want))
        fail_msg("escaped \"%s\", expected \"%s\"", got, want);
    free(got);
}

static void test_escape_markup(void **state)
{
    (void)state;
    assert_escapes("<", 1, "&lt;");
    assert_escapes(">", 1, "&gt;");
    assert_escapes("&", 1, "&amp;");
    assert_escapes("\"", 1, "&quot;");
    assert_escapes("'", 1, "&#39;");
    assert_escapes("<img src=x onerror='a()'>&amp;", 30,
                   "&lt;img src=x onerror=&#39;a()&#39;&gt;&amp;amp;");
    assert_escapes("紫阳富硒茶 Se 0.62 mg/kg", strlen("紫阳富硒茶 Se 0.62 mg/kg"),
                   "紫阳富硒茶 Se 0.62 mg/kg");
}

static void test_escape_controls_and_malformed(void **state)
{
    (void)state;
    const char *r = "\xef\xbf\xbd"; /* U+FFFD */
    char want[64];
    snprintf(want, sizeof want, "a%sb%sc%sd%se%sf", r, r, r, r, r);
    assert_escapes("a\x01" "b\nc\td\x7f" "e\x1b" "f", 11, want);
    snprintf(want, sizeof want, "x%sy", r);
    assert_escapes("x\0y", 3, want);              /* a NUL byte */
    assert_escapes("x\xe2\x80\xaey", 5, want);    /* U+202E right-to-left override */
    assert_escapes("x\xc2\x85y", 4, want);        /* U+0085, a C1 control */
    assert_escapes("x\xff" "y", 3, want);         /* not UTF-8 */
    snprintf(want, sizeof want, "x%s%sy", r, r);
    assert_escapes("x\xe7\xb4y", 4, want);        /* a cut sequence: each byte */
}

static void test_escape_snprintf_contract(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, '#', sizeof buf);
    size_t len = 0;
    selgw_html_escape(buf, sizeof buf, &len, "<<<", 3);
    assert_int_equal(len, 12);     /* the full length it needs */
    assert_string_equal(buf, "&lt;"); /* never a cut entity... */
    len = 0;
    selgw_html_escape(NULL, 0, &len, "a&b", 3);
    assert_int_equal(len, 7);
}

/* ---- a small model ------------------------------------------------------------------------ */

static int64_t at(int y, int m, int d, int hh)
{
    int64_t ns;
    assert_true(selgw_utc_from_civil(y, m, d, hh, 0, 0, 0, &ns));
    return ns;
}

static selgw_report *small_report(const char *lang, selgw_report_verdict verdict, bool synced)
{
    selgw_report *r = selgw_report_new(lang);
    assert_non_null(r);
    selgw_report_section *s = selgw_report_add_section(r);
    assert_non_null(s);
    s->bundle = strdup("plot.evidence");
    s->verdict = verdict;
    s->public_key = strdup("ed25519:00ff");
    s->fingerprint = strdup("db99-8ec7-a230-cb25-2d30");
    s->key_source = SELGW_REPORT_KEY_GIVEN;
    s->gateway = strdup("gw-1");
    s->plot = strdup("hw-a<script>");
    s->has_period = true;
    s->from_ns = at(2026, 4, 1, 0) - 8 * 3600 * INT64_C(1000000000); /* local midnight */
    s->to_ns = s->from_ns + 3 * 86400 * INT64_C(1000000000);
    s->utc_offset_minutes = 480;
    s->clock_synchronised = synced;
    s->has_tags = true;
    s->base_id = strdup("hanwang");
    s->base_name = strdup("汉王");
    s->county = strdup("紫阳县");
    s->township = strdup("汉王镇");
    s->crop = strdup("tea");
    s->has_coordinates = true;
    s->latitude = 32.52;
    s->longitude = 108.53;
    s->contracts = calloc(1, sizeof *s->contracts);
    s->contracts[0] = (selgw_report_contract){strdup("HH-001"), strdup("ZY-2025-001"),
                                              strdup("2025-01-01"), NULL};
    s->contract_count = 1;
    s->devices = calloc(1, sizeof *s->devices);
    s->device_count = 1;
    selgw_report_device *d = &s->devices[0];
    d->id = strdup("soil-1");
    d->chain = strdup("device/soil-1");
    d->polls = 6;
    d->ok = 5;
    d->failed = 1;
    d->has_interval = true;
    d->median_interval_ns = 60 * INT64_C(1000000000);
    d->coverage_percent = 97.5;
    d->first_ns = s->from_ns;
    d->last_ns = s->to_ns - 1;
    d->fields = calloc(1, sizeof *d->fields);
    d->field_count = 1;
    selgw_report_field *f = &d->fields[0];
    f->name = strdup("soil_moisture");
    f->unit = strdup("%");
    f->count = 5;
    f->min = 20;
    f->mean = 23.4;
    f->max = 26;
    f->days = calloc(2, sizeof *f->days);
    int32_t day = selgw_local_day(s->from_ns, 480);
    f->days[0] = (selgw_report_day){day, 3, 20, 26, 69};
    f->days[1] = (selgw_report_day){day + 1, 2, 21.5, 24, 48};
    f->day_count = 2;
    s->events = calloc(3, sizeof *s->events);
    s->events[0] = (selgw_report_event){.kind = SELGW_REPORT_ANNOTATION,
                                        .time_ns = s->from_ns + 3600 * INT64_C(1000000000),
                                        .text = strdup("lab: <b>no</b> residue & \"ok\""),
                                        .detail = strdup("LAB-2026-118")};
    s->events[1] = (selgw_report_event){.kind = SELGW_REPORT_FAILED_POLLS,
                                        .time_ns = s->from_ns + 7200 * INT64_C(1000000000),
                                        .device = strdup("soil-1"),
                                        .status = strdup("timeout"),
                                        .polls = 1};
    s->events[2] = (selgw_report_event){.kind = SELGW_REPORT_GAP,
                                        .time_ns = s->from_ns + 9000 * INT64_C(1000000000),
                                        .text = strdup("disk budget dropped a segment"),
                                        .gap_first = 10,
                                        .gap_last = 12};
    s->event_count = 3;
    if (verdict == SELGW_REPORT_NOT_VERIFIED) {
        s->problems = calloc(2, sizeof *s->problems);
        s->problems[0] = strdup("record 17 (chain device/soil-1, position 5): <altered>");
        s->problems[1] = strdup("chain plot/hw-a ends early");
        s->problem_count_listed = 2;
        s->problem_count = 25;
    }
    return r;
}

static char *render(selgw_report *r)
{
    size_t len = 0;
    char *html = selgw_report_html(r, &len);
    assert_non_null(html);
    assert_int_equal(strlen(html), len);
    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src=\""));
    assert_null(strstr(html, "href=\""));
    return html;
}

static void assert_has(const char *html, const char *what)
{
    if (!strstr(html, what))
        fail_msg("the report lacks: %s", what);
}

static void test_render_verified_zh(void **state)
{
    (void)state;
    selgw_report *r = small_report("zh", SELGW_REPORT_VERIFIED, false);
    char *html = render(r);
    assert_has(html, "<html lang=\"zh-CN\">");
    assert_has(html, "<div class=\"verdict verified\" id=\"verdict-1\"><p class=\"word\">已验证</p>");
    assert_has(html, "db99-8ec7-a230-cb25-2d30");
    assert_has(html, "hw-a&lt;script&gt;");
    assert_has(html, "class=\"banner clock-never\">网关时钟从未同步");
    assert_has(html, "紫阳县，汉王镇");
    assert_has(html, "32.520000, 108.530000");
    assert_has(html, "<p class=\"gi-none\">未声明</p>");
    assert_has(html, ">茶叶<"); /* crop "tea" from dashboards/i18n.json */
    assert_has(html, "土壤含水率");
    assert_has(html, "ZY-2025-001</td><td>2025-01-01</td><td>长期</td>");
    assert_has(html, "lab: &lt;b&gt;no&lt;/b&gt; residue &amp; &quot;ok&quot;");
    assert_has(html, "LAB-2026-118");
    assert_has(html, "<td class=\"n\">5</td><td class=\"min\">20</td><td class=\"mean\">23.4</td>"
                     "<td class=\"max\">26</td>");
    /* the chart: a band over the two days with a mean line, dates on the axis */
    assert_has(html, "<svg class=\"chart\"");
    assert_has(html, "<polygon class=\"band\"");
    assert_has(html, "<polyline class=\"mean\"");
    assert_has(html, ">04-01</text>");
    assert_has(html, "<tr><td>2026-04-02</td><td>2</td><td>21.5</td><td>24</td><td>24</td></tr>");
    /* coverage and the gaps with their causes */
    assert_has(html, "<td class=\"polls\">6</td><td class=\"ok\">5</td><td class=\"failed\">1</td>"
                     "<td class=\"coverage\">97.5%</td><td class=\"median\">60 秒</td>");
    assert_has(html, "设备 soil-1：采集失败：无应答（超时）"); /* report_zh.h */
    assert_has(html, "日志记录 10..12 丢失：disk budget dropped a segment");
    assert_has(html, "2026-04-01 00:00:00"); /* local time at +08:00 */
    free(html);
    selgw_report_free(r);

    r = small_report("zh", SELGW_REPORT_VERIFIED, true);
    html = render(r);
    assert_null(strstr(html, "clock-never"));
    free(html);
    selgw_report_free(r);
}

static void test_render_not_verified_en(void **state)
{
    (void)state;
    selgw_report *r = small_report("en", SELGW_REPORT_NOT_VERIFIED, true);
    char *html = render(r);
    assert_has(html, "<html lang=\"en\">");
    assert_has(html, "<div class=\"verdict not-verified\" id=\"verdict-1\"><p class=\"word\">NOT VERIFIED</p>");
    assert_has(html, "Problems (25)");
    assert_has(html, "<li>record 17 (chain device/soil-1, position 5): &lt;altered&gt;</li>");
    assert_has(html, "... and 23 more");
    assert_has(html, "Soil moisture");
    assert_has(html, "none declared");
    assert_null(strstr(html, "已验证"));
    assert_null(strstr(html, "土壤含水率"));
    free(html);
    selgw_report_free(r);

    r = small_report("en", SELGW_REPORT_KEY_UNTRUSTED, true);
    html = render(r);
    assert_has(html, "<div class=\"verdict untrusted\"");
    assert_has(html, "NOT VERIFIED: the key is not trusted");
    free(html);
    selgw_report_free(r);
    assert_null(selgw_report_new("fr"));
    assert_null(selgw_report_new(NULL));
}

static void test_render_gi_and_plot_location(void **state)
{
    (void)state;
    selgw_report *r = small_report("en", SELGW_REPORT_VERIFIED, true);
    assert_int_equal(selgw_report_add_gi(r, 0, "紫阳富硒茶", SELGW_REPORT_GI_INSIDE,
                                         "township 汉王镇 is in the area"),
                     SELGW_OK);
    assert_int_equal(selgw_report_add_gi(r, 0, "<x>", SELGW_REPORT_GI_OUTSIDE, "point \"far\""),
                     SELGW_OK);
    assert_int_equal(selgw_report_set_plot_location(r, 0, 32.5201, 108.5302), SELGW_OK);
    const double boundary[3][2] = {{32.1, 108.1}, {32.2, 108.2}, {32.3, 108.1}};
    assert_int_equal(selgw_report_set_plot_boundary(r, 0, boundary, 3), SELGW_OK);
    assert_int_equal(selgw_report_add_gi(r, 1, "x", SELGW_REPORT_GI_INSIDE, "y"),
                     SELGW_ERR_INVALID);
    char *html = render(r);
    assert_has(html, "<td>紫阳富硒茶</td><td class=\"gi-inside\">inside</td>"
                     "<td>township 汉王镇 is in the area</td>");
    assert_has(html, "<td>&lt;x&gt;</td><td class=\"gi-outside\">outside</td>"
                     "<td>point &quot;far&quot;</td>");
    assert_null(strstr(html, "none declared"));
    assert_has(html, "32.520100, 108.530200; plot boundary: 3 points");
    free(html);
    selgw_report_free(r);
}

static const char lot_json[] =
    "{\"format\":1,\"lot\":\"ZY-2026-001\",\"product\":\"紫阳富硒茶\",\"utc_offset\":\"+08:00\",\"plots\":[{\"plot\":"
    "\"hw-p01\",\"season_from\":\"2025-10-01\",\"harvest_from\":\"2026-04-01\",\"harvest_to\":"
    "\"2026-04-10\"}],\"quantity\":120.5,\"unit\":\"kg\",\"households\":[\"HH-001\",\"HH-017\"],"
    "\"processing\":\"杀青、揉捻、烘干<b>\",\"refs\":[\"LAB-2026-118\"],\"url\":"
    "\"https://trace.example.com/lot/ZY-2026-001\"}";

static void test_render_lot(void **state)
{
    (void)state;
    static const char hash[] =
        "blake2b-256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    selgw_report *r = small_report("zh", SELGW_REPORT_VERIFIED, true);
    selgw_report_section *s = selgw_report_section_at(r, 0);
    s->lot = strdup("ZY-2026-001");
    assert_int_equal(selgw_report_set_lot_json(r, 0, lot_json), SELGW_OK);
    assert_int_equal(selgw_report_set_bundle_hash(r, 0, hash), SELGW_OK);
    char *html = render(r);
    assert_has(html, "<div class=\"part sec-lot\">");
    assert_has(html, "<tr><th>批次号</th><td>ZY-2026-001</td></tr>");
    assert_has(html, "<td>紫阳富硒茶</td>");
    assert_has(html, "hw-p01: 生长季自 2025-10-01，采收 2026-04-01 – 2026-04-10");
    assert_has(html, "120.5 kg");
    assert_has(html, "HH-001、HH-017");
    assert_has(html, "杀青、揉捻、烘干&lt;b&gt;");
    assert_has(html, "LAB-2026-118");
    /* the QR code of the text selgw_lot_qr_text gives, and that text shown, escaped */
    char *text = selgw_lot_qr_text("ZY-2026-001", hash, "https://trace.example.com/lot/ZY-2026-001");
    char *svg = selgw_qr_svg(text);
    assert_non_null(svg);
    assert_has(html, svg);
    assert_has(html, "https://trace.example.com/lot/ZY-2026-001?lot=ZY-2026-001&amp;hash=blake2b-256%3A");
    free(svg);
    free(text);
    free(html);

    /* no hash: no QR code, said so */
    free(s->bundle_hash);
    s->bundle_hash = NULL;
    html = render(r);
    assert_has(html, "<p class=\"no-qr\">");
    assert_null(strstr(html, "<figure class=\"qr\">"));
    free(html);

    /* a lot text that is not JSON */
    assert_int_equal(selgw_report_set_lot_json(r, 0, "{not json <"), SELGW_OK);
    html = render(r);
    assert_has(html, "<p class=\"lot-unreadable\">批次记录无法读取: ZY-2026-001</p>");
    free(html);
    selgw_report_free(r);
}

static void test_render_failure_and_sections(void **state)
{
    (void)state;
    selgw_report *r = selgw_report_new("en");
    selgw_report_section *s = selgw_report_add_section(r);
    s->bundle = strdup("missing<1>.evidence");
    s->error = strdup("missing<1>.evidence: No such file or directory");
    s->verdict = SELGW_REPORT_NOT_VERIFIED;
    s = selgw_report_add_section(r);
    s->bundle = strdup("b2");
    s->verdict = SELGW_REPORT_NOT_VERIFIED;
    assert_int_equal(selgw_report_section_count(r), 2);
    char *html = render(r);
    assert_has(html, "<section class=\"bundle\" id=\"section-1\"><h2>Evidence for plot missing&lt;1&gt;.evidence</h2>");
    assert_has(html, "The bundle could not be read: missing&lt;1&gt;.evidence: No such file");
    assert_has(html, "<section class=\"bundle\" id=\"section-2\">");
    assert_has(html, "id=\"verdict-2\"");
    assert_null(strstr(html, "sec-place"));
    free(html);
    selgw_report_free(r);
    selgw_report_free(NULL);
}

/* A lot bundle's own verdict, on top of its sections: NOT VERIFIED in red with the lot's
 * problems, escaped, though a section is VERIFIED; set again, it replaces the first. */
static void test_render_lot_verdict(void **state)
{
    (void)state;
    selgw_report *r = small_report("zh", SELGW_REPORT_VERIFIED, true);
    char *problems[] = {"plot hw-p02 of the lot has no section: its evidence is left out",
                        "section 1 <b>"};
    assert_int_equal(selgw_report_set_lot_verdict(r, "ZY-1", SELGW_REPORT_NOT_VERIFIED, problems,
                                                  2, 3),
                     SELGW_OK);
    char *html = render(r);
    const char *top = strstr(html, "<section class=\"lot-verdict\" id=\"lot-verdict\"><h2>批次 ZY-1 的证据</h2>");
    assert_non_null(top);
    assert_true(top < strstr(html, "id=\"section-1\""));
    assert_has(html, "<div class=\"verdict not-verified\" id=\"verdict-lot\"><p class=\"word\">未通过验证</p>");
    assert_has(html, "<li>plot hw-p02 of the lot has no section: its evidence is left out</li>");
    assert_has(html, "<li>section 1 &lt;b&gt;</li>");
    assert_has(html, "<div class=\"verdict verified\" id=\"verdict-1\">");
    assert_has(html, "<ul class=\"lot-sections\"><li>地块 ");
    free(html);
    assert_int_equal(selgw_report_set_lot_verdict(r, "ZY-1", SELGW_REPORT_VERIFIED, NULL, 0, 0),
                     SELGW_OK);
    html = render(r);
    assert_has(html, "<div class=\"verdict verified\" id=\"verdict-lot\">");
    assert_null(strstr(html, "has no section"));
    free(html);
    assert_int_equal(selgw_report_set_lot_verdict(r, NULL, SELGW_REPORT_VERIFIED, NULL, 0, 0),
                     SELGW_ERR_INVALID);
    selgw_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_lot_verdict),
        cmocka_unit_test(test_escape_markup),
        cmocka_unit_test(test_escape_controls_and_malformed),
        cmocka_unit_test(test_escape_snprintf_contract),
        cmocka_unit_test(test_render_verified_zh),
        cmocka_unit_test(test_render_not_verified_en),
        cmocka_unit_test(test_render_gi_and_plot_location),
        cmocka_unit_test(test_render_lot),
        cmocka_unit_test(test_render_failure_and_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
