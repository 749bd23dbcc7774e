/* The HTTP API's encoders, pure functions of a status snapshot: the Prometheus text
 * exposition (exact text: escaping of label values and HELP, cumulative histogram buckets
 * ending in +Inf, number formatting; the poll lateness buckets and their quantile estimate), the
 * JSON of /api/v1/status and /api/v1/latest (read back with jansson), the listen address parser,
 * and the `selgw status` table; the dashboard's JSON (plots, a plot's history with its points
 * without value, notes, read back with jansson and, for escaping, as exact text) and the periods of
 * its requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "base/listen.h"
#include "http/client.h"
#include "http/expo.h"
#include "http/render.h"

static void test_label_values_are_escaped(void **state)
{
    (void)state;
    selgw_expo e;
    selgw_expo_init(&e);
    selgw_expo_label l[] = {{"device", "a\"b\\c\nd"}, {"bus", "土壤-1"}};
    selgw_expo_sample(&e, "m_total", l, 2, 3);
    assert_string_equal(e.buf, "m_total{device=\"a\\\"b\\\\c\\nd\",bus=\"土壤-1\"} 3\n");
    selgw_expo_free(&e);
}

static void test_help_escapes_backslash_and_newline_only(void **state)
{
    (void)state;
    selgw_expo e;
    selgw_expo_init(&e);
    selgw_expo_family(&e, "m", "gauge", "a \"q\" \\ b\nc");
    assert_string_equal(e.buf, "# HELP m a \"q\" \\\\ b\\nc\n# TYPE m gauge\n");
    selgw_expo_free(&e);
}

static void test_numbers(void **state)
{
    (void)state;
    selgw_expo e;
    selgw_expo_init(&e);
    selgw_expo_sample(&e, "a", NULL, 0, 0);
    selgw_expo_sample(&e, "b", NULL, 0, 18446744073709.0);
    selgw_expo_sample(&e, "c", NULL, 0, 0.1);
    selgw_expo_sample(&e, "d", NULL, 0, NAN);
    selgw_expo_sample(&e, "e", NULL, 0, INFINITY);
    selgw_expo_sample(&e, "f", NULL, 0, -INFINITY);
    selgw_expo_sample(&e, "g", NULL, 0, 1796187908.8083014);
    selgw_expo_sample(&e, "h", NULL, 0, -2.5);
    assert_string_equal(e.buf, "a 0\nb 18446744073709\nc 0.1\nd NaN\ne +Inf\nf -Inf\n"
                               "g 1796187908.8083014\nh -2.5\n");
    selgw_expo_free(&e);
}

static void test_histogram_is_cumulative(void **state)
{
    (void)state;
    selgw_histogram h = {0};
    selgw_histogram_add(&h, 500000);     /* 0.5 ms: first bucket */
    selgw_histogram_add(&h, 1000000);    /* 1 ms exactly: le="0.001" is inclusive */
    selgw_histogram_add(&h, 30000000);   /* 30 ms: le="0.05" */
    selgw_histogram_add(&h, 9000000000); /* 9 s: only +Inf */
    assert_int_equal(h.count, 4);
    selgw_expo e;
    selgw_expo_init(&e);
    selgw_expo_label l[] = {{"device", "d1"}};
    selgw_expo_histogram(&e, "lat_seconds", l, 1, &h);
    assert_string_equal(e.buf, "lat_seconds_bucket{device=\"d1\",le=\"0.001\"} 2\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"0.0025\"} 2\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"0.005\"} 2\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"0.01\"} 2\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"0.025\"} 2\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"0.05\"} 3\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"0.1\"} 3\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"0.25\"} 3\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"0.5\"} 3\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"1\"} 3\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"2.5\"} 3\n"
                               "lat_seconds_bucket{device=\"d1\",le=\"+Inf\"} 4\n"
                               "lat_seconds_sum{device=\"d1\"} 9.0315\n"
                               "lat_seconds_count{device=\"d1\"} 4\n");
    selgw_expo_free(&e);
    /* without labels the le label stands alone */
    selgw_expo_init(&e);
    selgw_expo_histogram(&e, "f", NULL, 0, &(selgw_histogram){0});
    assert_non_null(strstr(e.buf, "f_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(e.buf, "f_bucket{le=\"+Inf\"} 0\nf_sum 0\nf_count 0\n"));
    selgw_expo_free(&e);
}

/* Poll lateness: its buckets reach 10 s; the quantile estimate interpolates within the
 * bucket that holds the rank, as Prometheus's histogram_quantile does. */
static void test_lateness_buckets_and_quantiles(void **state)
{
    (void)state;
    const double *b = selgw_lateness_bounds_s;
    const int n = SELGW_LATENESS_BOUNDS;
    assert_true(b[0] == 0.001 && b[n - 1] == 10.0);
    selgw_lateness h = {0};
    assert_true(isnan(selgw_buckets_quantile(b, n, h.buckets, 0.5))); /* nothing counted */
    for (int i = 0; i < 50; i++)
        selgw_lateness_add(&h, 2000000); /* 2 ms: (0.001, 0.0025] */
    for (int i = 0; i < 49; i++)
        selgw_lateness_add(&h, 20000000); /* 20 ms: (0.01, 0.025] */
    selgw_lateness_add(&h, 7000000000);   /* 7 s: (5, 10] */
    assert_int_equal(h.count, 100);
    assert_int_equal(h.buckets[1], 50);
    assert_int_equal(h.buckets[4], 49);
    assert_int_equal(h.buckets[12], 1);
    assert_int_equal(h.buckets[13], 0);
    assert_true(fabs(h.sum_s - (50 * 0.002 + 49 * 0.02 + 7)) < 1e-9);
    assert_true(fabs(selgw_buckets_quantile(b, n, h.buckets, 0.5) - 0.0025) < 1e-12);
    assert_true(fabs(selgw_buckets_quantile(b, n, h.buckets, 0.25) - 0.00175) < 1e-12);
    assert_true(fabs(selgw_buckets_quantile(b, n, h.buckets, 0.99) - 0.025) < 1e-12);
    assert_true(fabs(selgw_buckets_quantile(b, n, h.buckets, 0.995) - 7.5) < 1e-12);
    assert_true(fabs(selgw_buckets_quantile(b, n, h.buckets, 1.0) - 10.0) < 1e-12);
    /* beyond the last bound: that bound is the most the estimate can say */
    selgw_lateness over = {0};
    selgw_lateness_add(&over, 30 * INT64_C(1000000000));
    assert_int_equal(over.buckets[n], 1);
    assert_true(selgw_buckets_quantile(b, n, over.buckets, 0.5) == 10.0);
    /* merging adds bucket by bucket */
    selgw_lateness_merge(&h, &over);
    assert_int_equal(h.count, 101);
    assert_int_equal(h.buckets[n], 1);
    assert_true(fabs(h.sum_s - (50 * 0.002 + 49 * 0.02 + 37)) < 1e-9);

    /* On a spread of values the estimate of every percentile lies in the bucket that holds
     * the exact percentile of the values themselves. */
    selgw_lateness r = {0};
    int64_t v[2000];
    unsigned seed = 12345;
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (int64_t)((seed >> 8) % 3000000) * (i % 7 == 0 ? 4000 : 3); /* 0..12 s, 0..9 ms */
        selgw_lateness_add(&r, v[i]);
    }
    for (int i = 1; i < 2000; i++) /* insertion sort: exact percentiles */
        for (int k = i; k > 0 && v[k - 1] > v[k]; k--) {
            int64_t t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    for (int pct = 1; pct < 100; pct++) {
        double exact = (double)v[(2000 * pct + 99) / 100 - 1] / 1e9;
        double est = selgw_buckets_quantile(b, n, r.buckets, pct / 100.0);
        int bucket = 0;
        while (bucket < n && exact > b[bucket])
            bucket++;
        double lo = bucket ? b[bucket - 1] : 0, hi = bucket < n ? b[bucket] : b[n - 1];
        if (est < lo - 1e-12 || est > hi + 1e-12)
            fail_msg("p%d: estimate %g outside the bucket (%g, %g] of the exact %g", pct, est, lo,
                     hi, exact);
    }
}

/* ---- a snapshot: two devices (one never answered), one sink ---- */

static selgw_reading_field fields[2] = {
    {"soil_moisture", "%", 23.5, SELGW_QUALITY_OK},
    {"soil_temperature", "degC", 99, SELGW_QUALITY_OUT_OF_RANGE},
};
static selgw_reading_field failed_fields[1] = {{"ec", "uS/cm", 0, SELGW_QUALITY_READ_FAILED}};

#define NOW INT64_C(1796187910000000000)

static void snapshot(selgw_status *st, selgw_status_bus *bus, selgw_status_device dev[2],
                     selgw_status_sink *sink)
{
    memset(bus, 0, sizeof *bus);
    bus->id = "tcp0";
    bus->type = "tcp";
    bus->stats.polls = 12;
    bus->stats.failed_polls = 5;
    selgw_lateness_add(&bus->stats.lateness, 3000000);    /* 3 ms */
    selgw_lateness_add(&bus->stats.lateness, 6000000000); /* 6 s */
    memset(dev, 0, 2 * sizeof *dev);
    dev[0] = (selgw_status_device){.id = "soil-01",
                                   .bus = "tcp0",
                                   .profile = "p",
                                   .plot = "pl",
                                   .unit_id = 1,
                                   .interval_ms = 1000,
                                   .field_count = 2,
                                   .fields = fields};
    dev[0].health.polls = 7;
    dev[0].health.last_poll_ns = NOW - 2000000000;
    dev[0].health.last_success_ns = NOW - 2000000000;
    dev[0].health.backoff = 1;
    selgw_histogram_add(&dev[0].health.latency, 3000000);
    dev[1] = (selgw_status_device){.id = "silent\"one",
                                   .bus = "tcp0",
                                   .profile = "p",
                                   .plot = "pl",
                                   .unit_id = 2,
                                   .interval_ms = 1000,
                                   .field_count = 1,
                                   .fields = failed_fields};
    dev[1].health.polls = 5;
    dev[1].health.failures[SELGW_ERR_TIMEOUT] = 5;
    dev[1].health.last_status = SELGW_ERR_TIMEOUT;
    dev[1].health.last_poll_ns = NOW - 1000000000;
    dev[1].health.consecutive_failures = 5;
    dev[1].health.backoff = 8;
    memset(sink, 0, sizeof *sink);
    sink->name = "mqtt";
    sink->stats.delivered = 40;
    sink->stats.last_seq = 40;
    sink->stats.last_error = SELGW_ERR_CONNECT;
    sink->stats.errors[SELGW_ERR_CONNECT] = 3;
    sink->stats.errors[SELGW_ERR_TOO_LARGE] = 1;
    sink->backlog_records = 7;
    *st = (selgw_status){.gateway_id = "gw-1",
                         .version = "9.9",
                         .now_ns = NOW,
                         .start_ns = NOW - 60 * INT64_C(1000000000),
                         .config_generation = 2,
                         .bus_count = 1,
                         .buses = bus,
                         .device_count = 2,
                         .devices = dev,
                         .sink_count = 1,
                         .sinks = sink};
    st->journal.committed_seq = 47;
    st->journal.first_seq = 1;
    st->journal.max_backlog_bytes = 1000;
    st->journal.backlog_bytes = 400;
    st->journal.commits = 9;
    st->journal.commit_records_max = 30;
}

static void test_metrics_text(void **state)
{
    (void)state;
    selgw_status st;
    selgw_status_bus bus;
    selgw_status_device dev[2];
    selgw_status_sink sink;
    snapshot(&st, &bus, dev, &sink);
    size_t len = 0;
    char *text = selgw_render_metrics(&st, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    /* one element a line: a string split over two lines reads to clang as two elements */
    // clang-format off
    static const char *const expected[] = {
        "# TYPE selgw_build_info gauge\nselgw_build_info{gateway=\"gw-1\",version=\"9.9\"} 1\n",
        "\nselgw_start_time_seconds 1796187850\n",
        "\nselgw_config_generation 2\n",
        "\nselgw_bus_polls_total{bus=\"tcp0\",type=\"tcp\"} 12\n",
        "\nselgw_bus_failed_polls_total{bus=\"tcp0\",type=\"tcp\"} 5\n",
        "# TYPE selgw_poll_lateness_seconds histogram\n",
        "\nselgw_poll_lateness_seconds_bucket{bus=\"tcp0\",type=\"tcp\",le=\"0.0025\"} 0\n",
        "\nselgw_poll_lateness_seconds_bucket{bus=\"tcp0\",type=\"tcp\",le=\"0.005\"} 1\n",
        "\nselgw_poll_lateness_seconds_bucket{bus=\"tcp0\",type=\"tcp\",le=\"5\"} 1\n",
        "\nselgw_poll_lateness_seconds_bucket{bus=\"tcp0\",type=\"tcp\",le=\"10\"} 2\n",
        "\nselgw_poll_lateness_seconds_bucket{bus=\"tcp0\",type=\"tcp\",le=\"+Inf\"} 2\n",
        "\nselgw_poll_lateness_seconds_count{bus=\"tcp0\",type=\"tcp\"} 2\n",
        "\nselgw_device_polls_total{device=\"soil-01\",bus=\"tcp0\"} 7\n",
        "\nselgw_device_poll_failures_total{device=\"silent\\\"one\",bus=\"tcp0\",kind=\"timeout\"} 5\n",
        "\nselgw_device_poll_failures_total{device=\"soil-01\",bus=\"tcp0\",kind=\"timeout\"} 0\n",
        "\nselgw_device_response_seconds_count{device=\"soil-01\",bus=\"tcp0\"} 1\n",
        "\nselgw_device_last_success_timestamp_seconds{device=\"silent\\\"one\",bus=\"tcp0\"} 0\n",
        "\nselgw_device_consecutive_failures{device=\"silent\\\"one\",bus=\"tcp0\"} 5\n",
        "\nselgw_device_backoff_factor{device=\"silent\\\"one\",bus=\"tcp0\"} 8\n",
        "\nselgw_journal_committed_seq 47\n",
        "\nselgw_journal_budget_free_bytes 600\n",
        "\nselgw_journal_fsync_seconds_count 0\n",
        "\nselgw_journal_commits_total 9\n",
        "\nselgw_journal_commit_records_max 30\n",
        "\nselgw_sink_backlog_records{sink=\"mqtt\"} 7\n",
        "\nselgw_sink_up{sink=\"mqtt\"} 0\n",
        "\nselgw_sink_errors_total{sink=\"mqtt\",kind=\"connect_failed\"} 3\n",
        "\nselgw_sink_errors_total{sink=\"mqtt\",kind=\"too_large\"} 1\n",
        "\nselgw_sink_errors_total{sink=\"mqtt\",kind=\"server\"} 0\n",
    };
    // clang-format on
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (!strstr(text, expected[i]))
            fail_msg("missing: %s\nin:\n%s", expected[i], text);
    /* every family is announced once, before its samples */
    assert_null(strstr(strstr(text, "# TYPE selgw_device_polls_total") + 1,
                       "# TYPE selgw_device_polls_total"));
    /* a kind that did not happen and is not one a poll usually meets is left out */
    assert_null(strstr(text, "kind=\"journal_full\""));
    /* no alert active: the gauge says 0 */
    assert_non_null(strstr(text, "# TYPE selgw_alerts_active gauge\nselgw_alerts_active 0\n"));
    free(text);

    selgw_status_alert alerts[2] = {{.rule = "tea-frost", .plot = "p1", .condition = "below"},
                                    {.rule = "stale", .plot = "p2", .condition = "stale"}};
    st.alerts = alerts;
    st.alert_count = 2;
    text = selgw_render_metrics(&st, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "\nselgw_alerts_active 2\n"));
    free(text);
}

static void test_status_json(void **state)
{
    (void)state;
    selgw_status st;
    selgw_status_bus bus;
    selgw_status_device dev[2];
    selgw_status_sink sink;
    snapshot(&st, &bus, dev, &sink);
    char *text = selgw_render_status_json(&st);
    assert_non_null(text);
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "gateway")), "gw-1");
    assert_int_equal(json_integer_value(json_object_get(root, "config_generation")), 2);
    /* the mean answer time is the sum over the count: one answer of 3 ms */
    json_t *h0 = json_object_get(json_array_get(json_object_get(root, "devices"), 0), "health");
    assert_int_equal(json_integer_value(json_object_get(h0, "response_count")), 1);
    assert_true(fabs(json_real_value(json_object_get(h0, "response_seconds_sum")) - 0.003) < 1e-12);
    json_t *d1 = json_array_get(json_object_get(root, "devices"), 1);
    assert_string_equal(json_string_value(json_object_get(d1, "id")), "silent\"one");
    json_t *h = json_object_get(d1, "health");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "failures"), "timeout")),
                     5);
    assert_true(json_is_null(json_object_get(h, "last_success")));
    assert_string_equal(json_string_value(json_object_get(h, "last_status")), "timeout");
    json_t *s = json_array_get(json_object_get(root, "sinks"), 0);
    assert_int_equal(json_integer_value(json_object_get(s, "backlog_records")), 7);
    assert_string_equal(json_string_value(json_object_get(s, "last_error")), "connect_failed");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(root, "journal"), "committed_seq")), 47);
    json_decref(root);
    free(text);
}

static void test_latest_json(void **state)
{
    (void)state;
    selgw_status st;
    selgw_status_bus bus;
    selgw_status_device dev[2];
    selgw_status_sink sink;
    snapshot(&st, &bus, dev, &sink);
    char *text = NULL;
    assert_int_equal(selgw_render_latest_json(&st, "soil-01", &text), SELGW_OK);
    json_t *d = json_loads(text, 0, NULL);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "ok");
    assert_true(fabs(json_real_value(json_object_get(d, "age_s")) - 2.0) < 1e-9);
    json_t *f0 = json_array_get(json_object_get(d, "fields"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "name")), "soil_moisture");
    assert_true(json_real_value(json_object_get(f0, "value")) == 23.5);
    assert_string_equal(json_string_value(json_object_get(f0, "unit")), "%");
    json_t *f1 = json_array_get(json_object_get(d, "fields"), 1);
    assert_string_equal(json_string_value(json_object_get(f1, "quality")), "out_of_range");
    json_decref(d);
    free(text);

    assert_int_equal(selgw_render_latest_json(&st, NULL, &text), SELGW_OK);
    json_t *all = json_loads(text, 0, NULL);
    json_t *silent = json_array_get(json_object_get(all, "devices"), 1);
    json_t *ec = json_array_get(json_object_get(silent, "fields"), 0);
    assert_true(json_is_null(json_object_get(ec, "value")));
    assert_string_equal(json_string_value(json_object_get(ec, "quality")), "read_failed");
    json_decref(all);
    free(text);

    assert_int_equal(selgw_render_latest_json(&st, "nope", &text), SELGW_ERR_NOT_FOUND);
    assert_null(text);
}

/* ---- the dashboard's API ---- */

static const selgw_status_household households[2] = {
    {"HH-001", "ZY-2025-001", 0, INT32_MAX},
    {"HH-0\"2", "ZY-2019-7", 0, 20000}, /* ended 2024-10-05 */
};

static void farm(selgw_status *st, selgw_status_base *base, selgw_status_plot plots[2])
{
    *base = (selgw_status_base){"b1", "演示基地", "紫阳县", "汉王镇"};
    plots[0] = (selgw_status_plot){"pl", "b1", "tea", 12.5, 2, households};
    plots[1] = (selgw_status_plot){"empty", "b1", "konjac", 0, 0, NULL};
    st->utc_offset_minutes = 480;
    st->base_count = 1;
    st->bases = base;
    st->plot_count = 2;
    st->plots = plots;
}

/* Bases and plots; a plot's households (active or not on the local day), devices, and the
 * latest value of each device's fields: the failed one null with read_failed, at the time
 * of its poll; a device never polled has none. */
static void test_plots_json(void **state)
{
    (void)state;
    selgw_status st;
    selgw_status_bus bus;
    selgw_status_device dev[3];
    selgw_status_sink sink;
    selgw_status_base base;
    selgw_status_plot plots[2];
    snapshot(&st, &bus, dev, &sink);
    dev[2] = dev[0];
    dev[2].id = "new-one";
    dev[2].health.polls = 0;
    st.devices = dev;
    st.device_count = 3;
    farm(&st, &base, plots);
    char *text = selgw_render_plots_json(&st);
    assert_non_null(text);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    if (!root)
        fail_msg("not JSON: %s\n%s", err.text, text);
    assert_string_equal(json_string_value(json_object_get(root, "gateway")), "gw-1");
    assert_string_equal(json_string_value(json_object_get(root, "utc_offset")), "+08:00");
    json_t *b = json_array_get(json_object_get(root, "bases"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "name")), "演示基地");
    assert_string_equal(json_string_value(json_object_get(b, "township")), "汉王镇");
    json_t *p = json_array_get(json_object_get(root, "plots"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "crop")), "tea");
    assert_true(json_number_value(json_object_get(p, "area_mu")) == 12.5);
    json_t *hh = json_object_get(p, "households");
    assert_int_equal(json_array_size(hh), 2);
    assert_true(json_is_null(json_object_get(json_array_get(hh, 0), "to")));
    assert_true(json_is_true(json_object_get(json_array_get(hh, 0), "active")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(hh, 1), "household")),
                        "HH-0\"2");
    assert_string_equal(json_string_value(json_object_get(json_array_get(hh, 1), "to")),
                        "2024-10-04");
    assert_true(json_is_false(json_object_get(json_array_get(hh, 1), "active")));
    json_t *devices = json_object_get(p, "devices");
    assert_int_equal(json_array_size(devices), 3);
    assert_string_equal(json_string_value(json_array_get(devices, 1)), "silent\"one");
    json_t *latest = json_object_get(p, "latest");
    assert_int_equal(json_array_size(latest), 3); /* 2 + 1 fields; new-one not polled */
    json_t *m = json_array_get(latest, 0);
    assert_string_equal(json_string_value(json_object_get(m, "device")), "soil-01");
    assert_string_equal(json_string_value(json_object_get(m, "field")), "soil_moisture");
    assert_string_equal(json_string_value(json_object_get(m, "unit")), "%");
    assert_true(json_number_value(json_object_get(m, "value")) == 23.5);
    assert_string_equal(json_string_value(json_object_get(m, "quality")), "ok");
    assert_string_equal(json_string_value(json_object_get(m, "time")),
                        "2026-12-02T05:05:08.000000Z");
    assert_true(fabs(json_number_value(json_object_get(m, "age_s")) - 2.0) < 1e-9);
    assert_string_equal(json_string_value(json_object_get(json_array_get(latest, 1), "quality")),
                        "out_of_range");
    json_t *ec = json_array_get(latest, 2);
    assert_string_equal(json_string_value(json_object_get(ec, "device")), "silent\"one");
    assert_true(json_is_null(json_object_get(ec, "value")));
    assert_string_equal(json_string_value(json_object_get(ec, "quality")), "read_failed");
    assert_int_equal(json_array_size(json_object_get(p, "alerts")), 0);
    json_t *empty = json_array_get(json_object_get(root, "plots"), 1);
    assert_true(json_is_null(json_object_get(empty, "area_mu")));
    assert_int_equal(json_array_size(json_object_get(empty, "devices")), 0);
    assert_int_equal(json_array_size(json_object_get(empty, "latest")), 0);
    json_decref(root);
    free(text);
}

/* Points as [milliseconds, value]; a point without value (NaN) as null, never a number;
 * step_s 0 for raw readings. Exact text: the pages read it. */
static void test_history_json(void **state)
{
    (void)state;
    const selgw_history_point pts[3] = {
        {INT64_C(1764658800000000000), 23.4},
        {INT64_C(1764658920123456789), NAN},
        {INT64_C(1764659040000000000), INFINITY},
    };
    const selgw_history_series series[2] = {{"soil-1", "soil_moisture", "%", 3, pts},
                                            {"a\"b", "x\ny", "", 0, NULL}};
    selgw_history h = {.plot = "p1",
                       .from_ns = INT64_C(1764658800000000000),
                       .to_ns = INT64_C(1764745200000000000),
                       .step_ns = 120 * INT64_C(1000000000),
                       .series_count = 2,
                       .series = series};
    char *text = selgw_render_history_json(&h);
    assert_string_equal(
        text, "{\"plot\":\"p1\",\"from\":\"2025-12-02T07:00:00.000000Z\","
              "\"to\":\"2025-12-03T07:00:00.000000Z\",\"step_s\":120,\"series\":[\n"
              "{\"device\":\"soil-1\",\"field\":\"soil_moisture\",\"unit\":\"%\","
              "\"points\":[[1764658800000,23.4],[1764658920123,null],"
              "[1764659040000,null]]},\n"
              "{\"device\":\"a\\\"b\",\"field\":\"x\\ny\",\"unit\":\"\",\"points\":[]}]}\n");
    free(text);
    h.step_ns = 0;
    h.series_count = 0;
    text = selgw_render_history_json(&h);
    json_t *root = json_loads(text, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(root, "step_s")), 0);
    assert_int_equal(json_array_size(json_object_get(root, "series")), 0);
    json_decref(root);
    free(text);
}

/* Annotations with text and ref, events with their type; text that is not clean JSON
 * (quotes, control characters, bytes that are not UTF-8) escaped. */
static void test_notes_json(void **state)
{
    (void)state;
    const char text[] = "Se 0.41 mg/kg \"ok\"\t\x01\xff";
    const selgw_history_note annotations[1] = {
        {INT64_C(1764658800000000000), "annotation", text, "LAB-17", sizeof text - 1, 6}};
    const selgw_history_note events[1] = {
        {INT64_C(1764658805000000000), "tags", "{\"crop\":\"tea\"}", "", 14, 0}};
    selgw_notes n = {
        "p1",  INT64_C(1764658800000000000), INT64_C(1764745200000000000), 1, annotations, 1,
        events};
    char *out = selgw_render_notes_json(&n);
    assert_string_equal(out, "{\"plot\":\"p1\",\"from\":\"2025-12-02T07:00:00.000000Z\","
                             "\"to\":\"2025-12-03T07:00:00.000000Z\",\"annotations\":[{\"time\":"
                             "\"2025-12-02T07:00:00.000000Z\",\"text\":\"Se 0.41 mg/kg "
                             "\\\"ok\\\"\\t\\u0001\xef\xbf\xbd\",\"ref\":\"LAB-17\"}],"
                             "\"events\":[{\"time\":\"2025-12-02T07:00:05.000000Z\",\"type\":"
                             "\"tags\",\"text\":\"{\\\"crop\\\":\\\"tea\\\"}\"}]}\n");
    free(out);
}

/* period=24h|7d|30d, or from/to; the step keeps a period within 720 buckets; anything else
 * refused with why. */
static void test_history_period(void **state)
{
    (void)state;
    selgw_history_query q;
    char why[160];
    int64_t s = INT64_C(1000000000);
    assert_int_equal(selgw_history_period("24h", NULL, NULL, "24h", NOW, &q, why, sizeof why),
                     SELGW_OK);
    assert_int_equal(q.to_ns, NOW);
    assert_int_equal(q.from_ns, NOW - 86400 * s);
    assert_int_equal(q.step_ns, 120 * s);
    assert_int_equal(q.max_points, 720);
    assert_int_equal(selgw_history_period("7d", NULL, NULL, "24h", NOW, &q, why, sizeof why),
                     SELGW_OK);
    assert_int_equal(q.step_ns, 900 * s);
    assert_int_equal(selgw_history_period(NULL, NULL, NULL, "30d", NOW, &q, why, sizeof why),
                     SELGW_OK);
    assert_int_equal(q.from_ns, NOW - 30 * 86400 * s);
    assert_int_equal(q.step_ns, 3600 * s);
    assert_int_equal(selgw_history_period(NULL, "2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z",
                                          "24h", NOW, &q, why, sizeof why),
                     SELGW_OK);
    assert_int_equal(q.to_ns - q.from_ns, 3600 * s);
    assert_int_equal(q.step_ns, 5 * s);
    assert_int_equal(selgw_history_period(NULL, "2026-12-01T08:00:00+08:00", NULL, "24h", NOW, &q,
                                          why, sizeof why),
                     SELGW_OK);
    assert_int_equal(q.from_ns, INT64_C(1796083200) * s);
    assert_int_equal(q.to_ns, NOW);
    assert_int_equal(q.step_ns, 300 * s); /* a day and 9 h and some: 180 s would not do */
    /* 31 days exactly, a calendar month: the longest span taken */
    assert_int_equal(selgw_history_period(NULL, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z",
                                          "24h", NOW, &q, why, sizeof why),
                     SELGW_OK);
    assert_int_equal(q.to_ns - q.from_ns, 31 * 86400 * s);
    struct {
        const char *period, *from, *to, *why;
    } bad[] = {
        {"1y", NULL, NULL, "period is one of 24h, 7d, 30d"},
        {"24h", "2026-12-01T00:00:00Z", NULL, "give period or from/to, not both"},
        {NULL, NULL, "2026-12-01T00:00:00Z", "to needs from"},
        {NULL, "yesterday", NULL, "from is not an RFC 3339 time"},
        {NULL, "2026-12-01T00:00:00Z", "2026-11-01T00:00:00Z", "from is after to"},
        {NULL, "2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z",
         "from and to at most 31 days apart (for longer periods: Grafana or selgw export)"},
        {NULL, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00.000000001Z",
         "from and to at most 31 days apart (for longer periods: Grafana or selgw export)"},
        {NULL, "2026-09-01T00:00:00Z", NULL, /* to: now, 2026-12-01 and some */
         "from and to at most 31 days apart (for longer periods: Grafana or selgw export)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(selgw_history_period(bad[i].period, bad[i].from, bad[i].to, "24h", NOW, &q,
                                              why, sizeof why),
                         SELGW_ERR_INVALID);
        assert_string_equal(why, bad[i].why);
    }
}

static void test_status_table(void **state)
{
    (void)state;
    selgw_status st;
    selgw_status_bus bus;
    selgw_status_device dev[2];
    selgw_status_sink sink;
    snapshot(&st, &bus, dev, &sink);
    char *status = selgw_render_status_json(&st), *latest = NULL;
    assert_int_equal(selgw_render_latest_json(&st, NULL, &latest), SELGW_OK);
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    assert_int_equal(selgw_status_print(status, latest, f), SELGW_OK);
    fclose(f);
    assert_non_null(strstr(out, "gateway gw-1 (selgw 9.9)"));
    assert_non_null(strstr(out, "soil_moisture 23.5 %, soil_temperature 99 degC (out of range)"));
    assert_non_null(strstr(out, "(nothing read)"));
    assert_non_null(strstr(out, "timeout"));
    assert_non_null(strstr(out, "mqtt"));
    assert_non_null(strstr(out, "committed seq 47"));
    free(out);
    f = open_memstream(&out, &out_len);
    assert_int_equal(selgw_status_print("{}", "[]", f), SELGW_ERR_INVALID);
    fclose(f);
    free(out);
    free(status);
    free(latest);
}

/* What `selgw read` of a device whose gateway runs gets from /api/v1/latest/DEVICE. */
static void test_latest_device_parse(void **state)
{
    (void)state;
    selgw_status st;
    selgw_status_bus bus;
    selgw_status_device dev[2];
    selgw_status_sink sink;
    snapshot(&st, &bus, dev, &sink);
    selgw_latest_device *d = malloc(sizeof *d);
    assert_non_null(d);
    char *text = NULL;
    assert_int_equal(selgw_render_latest_json(&st, "soil-01", &text), SELGW_OK);
    assert_int_equal(selgw_latest_device_parse(text, d), SELGW_OK);
    free(text);
    assert_string_equal(d->id, "soil-01");
    assert_string_equal(d->status, "ok");
    assert_true(d->time[0] && d->has_age && fabs(d->age_s - 2.0) < 1e-9);
    assert_true(d->last_success[0] && d->has_success_age);
    assert_int_equal(d->consecutive_failures, 0);
    assert_int_equal(d->field_count, dev[0].field_count);
    assert_string_equal(d->fields[0].name, "soil_moisture");
    assert_string_equal(d->fields[0].unit, "%");
    assert_true(d->fields[0].has_value && d->fields[0].value == 23.5);
    assert_string_equal(d->fields[1].quality, "out_of_range");

    assert_int_equal(selgw_render_latest_json(&st, "silent\"one", &text), SELGW_OK);
    assert_int_equal(selgw_latest_device_parse(text, d), SELGW_OK);
    free(text);
    assert_string_equal(d->status, "timeout");
    assert_int_equal(d->consecutive_failures, 5);
    assert_int_equal(d->failures, 5);
    assert_true(!d->last_success[0] && !d->has_success_age);
    assert_false(d->fields[0].has_value);
    assert_string_equal(d->fields[0].quality, "read_failed");

    assert_int_equal(selgw_latest_device_parse("{\"id\": 1}", d), SELGW_ERR_INVALID);
    assert_int_equal(selgw_latest_device_parse("not json", d), SELGW_ERR_INVALID);
    free(d);
}

static void test_listen_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage a;
    socklen_t len;
    char why[200];
    assert_true(selgw_parse_listen("127.0.0.1:9108", &a, &len, why, sizeof why));
    assert_int_equal(a.ss_family, AF_INET);
    assert_true(selgw_parse_listen("[::1]:80", &a, &len, why, sizeof why));
    assert_int_equal(a.ss_family, AF_INET6);
    assert_false(selgw_parse_listen("localhost:9108", &a, &len, why, sizeof why));
    assert_non_null(strstr(why, "numeric"));
    assert_false(selgw_parse_listen("127.0.0.1:0", &a, &len, why, sizeof why));
    assert_false(selgw_parse_listen("127.0.0.1", &a, &len, why, sizeof why));
    assert_false(selgw_parse_listen("::1:80", &a, &len, why, sizeof why));
    char url[100];
    selgw_http_url_of_listen("0.0.0.0:9108", false, url, sizeof url);
    assert_string_equal(url, "http://127.0.0.1:9108");
    selgw_http_url_of_listen("[::1]:9108", false, url, sizeof url);
    assert_string_equal(url, "http://[::1]:9108");
    /* a gateway with http.tls_cert is asked over https */
    selgw_http_url_of_listen("[::]:9108", true, url, sizeof url);
    assert_string_equal(url, "https://[::1]:9108");
    selgw_http_url_of_listen("192.0.2.7:443", true, url, sizeof url);
    assert_string_equal(url, "https://192.0.2.7:443");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_help_escapes_backslash_and_newline_only),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_histogram_is_cumulative),
        cmocka_unit_test(test_lateness_buckets_and_quantiles),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_latest_json),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_plots_json),
        cmocka_unit_test(test_history_json),
        cmocka_unit_test(test_notes_json),
        cmocka_unit_test(test_history_period),
        cmocka_unit_test(test_latest_device_parse),
        cmocka_unit_test(test_listen_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
