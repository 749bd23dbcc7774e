/* A plot's history and notes read from a journal written here (gateway/plot_history.c):
 * raw points with failed polls and pauses as points without value, buckets (means of good
 * readings, failed-only buckets and long empty runs without value), the plot filter, the
 * period's bounds, and the journal's time index: segments outside the period are not
 * read, also after a reopening (recovery computes the index again) and when a clock step
 * puts earlier times into later segments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "config.h"
#include "http/history.h"
#include "journal/journal.h"
#include "journal/record.h"
#include "plot_history.h"
#include "test_farm.h"

#define S SELGW_NS_PER_S
#define MIN (60 * S)
/* 2026-12-02T00:00:00Z, a multiple of every step */
#define T0 (INT64_C(1796169600) * S)

typedef struct fixture {
    test_farm farm;
    test_scratch_journal sj;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    test_farm_init(&f->farm, 2, 0, 2, 3);
    f->farm.devices[2].plot = 1; /* soil-3 is on hw-p02 */
    test_scratch_journal_init(&f->sj, "history", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->sj.journal)
        test_scratch_journal_close(&f->sj);
    else
        remove_tree(f->sj.dir);
    free(f);
    return 0;
}

/* Appends a reading of device d at t: moisture m and temperature 10 + m, or a failed poll. */
static void put(fixture *f, size_t d, int64_t t, double m, bool failed)
{
    selgw_reading r;
    test_value v[2] = {{m, SELGW_QUALITY_OK}, {10 + m, SELGW_QUALITY_OK}};
    if (failed)
        v[0].quality = v[1].quality = SELGW_QUALITY_READ_FAILED;
    test_reading(&r, &f->farm.cfg, &f->farm.devices[d], t, failed ? SELGW_ERR_TIMEOUT : SELGW_OK, 1,
                 NULL, 0, v);
    uint8_t buf[4096];
    size_t n = selgw_record_encode_reading(&r, NULL, buf, sizeof buf);
    assert_true(n > 0 && n <= sizeof buf);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(f->sj.journal, buf, n, &seq), SELGW_OK);
}

static void put_note(fixture *f, selgw_record_type type, const char *plot, int64_t t,
                     const char *text, const char *ref)
{
    selgw_record rec = {.type = type,
                        .time_ns = t,
                        .gateway = {"gw-1", 4},
                        .plot = {plot, strlen(plot)},
                        .text = {text, strlen(text)},
                        .ref = {ref, strlen(ref)}};
    uint8_t buf[1024];
    size_t n = selgw_record_encode_event(&rec, NULL, buf, sizeof buf);
    assert_true(n > 0 && n <= sizeof buf);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(f->sj.journal, buf, n, &seq), SELGW_OK);
}

/* A copy of an answer, to look at after the visit. */
#define MAX_SERIES 8
#define MAX_POINTS 256
typedef struct got {
    int calls;
    int64_t step_ns;
    selgw_history_scan scan;
    size_t series_count;
    char device[MAX_SERIES][32], field[MAX_SERIES][32];
    size_t point_count[MAX_SERIES];
    selgw_history_point points[MAX_SERIES][MAX_POINTS];
} got;

static void keep(void *ctx, const selgw_history *h)
{
    got *g = ctx;
    g->calls++;
    g->step_ns = h->step_ns;
    g->scan = h->scan;
    assert_true(h->series_count <= MAX_SERIES);
    g->series_count = h->series_count;
    for (size_t i = 0; i < h->series_count; i++) {
        snprintf(g->device[i], sizeof g->device[i], "%s", h->series[i].device);
        snprintf(g->field[i], sizeof g->field[i], "%s", h->series[i].field);
        assert_true(h->series[i].point_count <= MAX_POINTS);
        g->point_count[i] = h->series[i].point_count;
        memcpy(g->points[i], h->series[i].points,
               h->series[i].point_count * sizeof *h->series[i].points);
    }
}

/* A query with the devices' configured poll intervals, as the gateway's source makes it. */
static got *query_with(fixture *f, const char *plot, int64_t from, int64_t to, int64_t step,
                       size_t max_points, const selgw_history_interval *iv, size_t n)
{
    assert_int_equal(selgw_journal_flush(f->sj.journal), SELGW_OK);
    got *g = calloc(1, sizeof *g);
    selgw_history_query q = {plot, from, to, step, max_points, n, iv};
    assert_int_equal(selgw_plot_history(f->sj.journal, &q, keep, g), SELGW_OK);
    assert_int_equal(g->calls, 1);
    return g;
}

static got *query(fixture *f, const char *plot, int64_t from, int64_t to, int64_t step,
                  size_t max_points)
{
    return query_with(f, plot, from, to, step, max_points, NULL, 0);
}

static void expect_point(const got *g, size_t series, size_t i, int64_t t, double v)
{
    assert_true(i < g->point_count[series]);
    const selgw_history_point *p = &g->points[series][i];
    if (p->time_ns != t || (isnan(v) != isnan(p->value)) ||
        (!isnan(v) && fabs(p->value - v) > 1e-9))
        fail_msg("series %zu point %zu: (%lld, %g), expected (%lld, %g)", series, i,
                 (long long)((p->time_ns - T0) / S), p->value, (long long)((t - T0) / S), v);
}

/* The points of a series without value (failed polls and gaps). */
static size_t count_null(const got *g, size_t series)
{
    size_t n = 0;
    for (size_t i = 0; i < g->point_count[series]; i++)
        n += isnan(g->points[series][i].value);
    return n;
}

/* Few readings: every one a point; a failed poll and a pause of 4 intervals are points
 * without value; another plot's device is not there; the period's bounds hold. */
static void test_raw_points(void **state)
{
    fixture *f = *state;
    test_scratch_journal_open(&f->sj, NULL);
    for (int i = 0; i < 10; i++) {
        if (i >= 5 && i <= 7)
            continue; /* the gateway was down */
        put(f, 0, T0 + i * MIN, i, i == 3);
        put(f, 1, T0 + i * MIN + S, 100 + i, false);
        put(f, 2, T0 + i * MIN + 2 * S, 200 + i, false);
    }
    got *g = query(f, "hw-p01", T0, T0 + 9 * MIN + 10 * S, 5 * MIN, 720);
    assert_int_equal(g->step_ns, 0);
    assert_int_equal(g->series_count, 4);
    assert_string_equal(g->device[0], "soil-1");
    assert_string_equal(g->field[0], "soil_moisture");
    assert_string_equal(g->device[1], "soil-1");
    assert_string_equal(g->field[1], "soil_temperature");
    assert_string_equal(g->device[2], "soil-2");
    assert_string_equal(g->device[3], "soil-2");
    assert_int_equal(g->point_count[0], 8);
    expect_point(g, 0, 0, T0, 0);
    expect_point(g, 0, 2, T0 + 2 * MIN, 2);
    expect_point(g, 0, 3, T0 + 3 * MIN, NAN); /* the failed poll */
    expect_point(g, 0, 4, T0 + 4 * MIN, 4);
    expect_point(g, 0, 5, T0 + 5 * MIN, NAN); /* the pause */
    expect_point(g, 0, 6, T0 + 8 * MIN, 8);
    expect_point(g, 1, 6, T0 + 8 * MIN, 18);
    expect_point(g, 2, 0, T0 + S, 100);
    free(g);

    g = query(f, "hw-p01", T0 + 2 * MIN, T0 + 4 * MIN, 5 * MIN, 720);
    assert_int_equal(g->point_count[0], 3);
    expect_point(g, 0, 0, T0 + 2 * MIN, 2);
    expect_point(g, 0, 2, T0 + 4 * MIN, 4);
    free(g);

    g = query(f, "hw-p02", T0, T0 + 9 * MIN, 5 * MIN, 720);
    assert_int_equal(g->series_count, 2);
    assert_string_equal(g->device[0], "soil-3");
    assert_int_equal(g->point_count[0], 7);
    free(g);

    g = query(f, "no-such-plot", T0, T0 + 9 * MIN, 5 * MIN, 720);
    assert_int_equal(g->series_count, 0);
    free(g);
}

/* More readings than max_points: buckets of step, each the mean of its good readings; a
 * bucket of failed polls only and a long run of empty buckets are points without value;
 * a device polled less often than the step leaves empty buckets that are no gap. */
static void test_buckets(void **state)
{
    fixture *f = *state;
    test_scratch_journal_open(&f->sj, NULL);
    for (int i = 0; i < 60; i++) {
        if (i % 10 == 0)
            put(f, 1, T0 + i * MIN, i, false);
        if (i >= 30 && i < 45)
            continue;
        put(f, 0, T0 + i * MIN, i, i >= 10 && i < 15);
    }
    got *g = query(f, "hw-p01", T0, T0 + 59 * MIN, 5 * MIN, 10);
    assert_int_equal(g->step_ns, 5 * MIN);
    assert_int_equal(g->series_count, 4);
    assert_int_equal(g->point_count[0], 10);
    expect_point(g, 0, 0, T0, 2); /* mean of 0..4 */
    expect_point(g, 0, 1, T0 + 5 * MIN, 7);
    expect_point(g, 0, 2, T0 + 10 * MIN, NAN); /* only failed polls */
    expect_point(g, 0, 3, T0 + 15 * MIN, 17);
    expect_point(g, 0, 5, T0 + 25 * MIN, 27);
    expect_point(g, 0, 6, T0 + 30 * MIN, NAN); /* 15 minutes without a poll */
    expect_point(g, 0, 7, T0 + 45 * MIN, 47);
    expect_point(g, 0, 9, T0 + 55 * MIN, 57);
    expect_point(g, 1, 0, T0, 12);
    /* soil-2, every 10 minutes: every other bucket empty, no gap drawn */
    assert_int_equal(g->point_count[2], 6);
    for (size_t i = 0; i < 6; i++)
        expect_point(g, 2, i, T0 + (int64_t)i * 10 * MIN, (double)i * 10);
    free(g);
    /* a period that starts inside a bucket: buckets stay on multiples of the step */
    g = query(f, "hw-p01", T0 + 7 * MIN, T0 + 59 * MIN, 5 * MIN, 10);
    expect_point(g, 0, 0, T0 + 5 * MIN, 8); /* mean of 7..9 */
    free(g);
}

static void segments_equal(const selgw_journal_segment_info *a, size_t na,
                           const selgw_journal_segment_info *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].first_seq, b[i].first_seq);
        assert_int_equal(a[i].last_seq, b[i].last_seq);
        assert_int_equal(a[i].min_time_ns, b[i].min_time_ns);
        assert_int_equal(a[i].max_time_ns, b[i].max_time_ns);
    }
}

/* Small segments: a short period at the end opens only the segments that hold it; the index
 * is the same after a reopening, which computes it from the files. */
static void test_time_index(void **state)
{
    fixture *f = *state;
    f->sj.cfg.segment_bytes = 4096;
    test_scratch_journal_open(&f->sj, NULL);
    for (int i = 0; i < 300; i++)
        put(f, 0, T0 + i * MIN, i, false);
    assert_int_equal(selgw_journal_flush(f->sj.journal), SELGW_OK);
    selgw_journal_segment_info *before;
    size_t nbefore;
    assert_int_equal(selgw_journal_segments(f->sj.journal, &before, &nbefore), SELGW_OK);
    assert_true(nbefore > 10);
    for (size_t i = 0; i < nbefore; i++) {
        assert_true(before[i].min_time_ns <= before[i].max_time_ns);
        if (i)
            assert_true(before[i].min_time_ns > before[i - 1].max_time_ns);
    }
    assert_int_equal(before[0].min_time_ns, T0);
    assert_int_equal(before[nbefore - 1].max_time_ns, T0 + 299 * MIN);

    got *g = query(f, "hw-p01", T0 + 290 * MIN, T0 + 299 * MIN, MIN, 720);
    assert_int_equal(g->point_count[0], 10);
    expect_point(g, 0, 0, T0 + 290 * MIN, 290);
    assert_int_equal(g->scan.segments, nbefore);
    assert_true(g->scan.segments_read >= 1 && g->scan.segments_read <= 2);
    assert_true(g->scan.records_read < 40);
    free(g);

    selgw_journal_close(f->sj.journal);
    f->sj.journal = test_journal_open(&f->sj.cfg, NULL);
    selgw_journal_segment_info *after;
    size_t nafter;
    assert_int_equal(selgw_journal_segments(f->sj.journal, &after, &nafter), SELGW_OK);
    segments_equal(before, nbefore, after, nafter);
    free(before);
    free(after);
    g = query(f, "hw-p01", T0 + 100 * MIN, T0 + 109 * MIN, MIN, 720);
    assert_int_equal(g->point_count[0], 10);
    expect_point(g, 0, 9, T0 + 109 * MIN, 109);
    assert_true(g->scan.segments_read <= 2);
    free(g);
}

/* The clock stepped back by a day: later segments hold earlier times. A period of those
 * times finds them, and the segments between are not read. */
static void test_clock_step(void **state)
{
    fixture *f = *state;
    f->sj.cfg.segment_bytes = 4096;
    test_scratch_journal_open(&f->sj, NULL);
    int64_t day = 1440 * MIN;
    for (int i = 0; i < 100; i++)
        put(f, 0, T0 + day + i * MIN, i, false);
    for (int i = 0; i < 100; i++)
        put(f, 0, T0 + i * MIN, 1000 + i, false);
    got *g = query(f, "hw-p01", T0, T0 + 99 * MIN, MIN, 720);
    assert_int_equal(g->point_count[0], 100);
    expect_point(g, 0, 0, T0, 1000);
    expect_point(g, 0, 99, T0 + 99 * MIN, 1099);
    assert_true(g->scan.segments_read * 2 <= g->scan.segments + 2);
    free(g);
    g = query(f, "hw-p01", T0, T0 + day + 99 * MIN, 10 * MIN, 720);
    assert_int_equal(g->step_ns, 0);
    assert_int_equal(g->point_count[0], 201); /* 200 readings, one pause of a day */
    expect_point(g, 0, 100, T0 + 100 * MIN, NAN);
    expect_point(g, 0, 101, T0 + day, 0);
    free(g);
}

/* One short interval (the gateway restarted 5 s after a poll, then polled a minute apart
 * again) is no reason to see gaps between the other readings: with the configured interval
 * and without (a device no longer in the config), raw and in buckets. */
static void test_short_interval(void **state)
{
    fixture *f = *state;
    test_scratch_journal_open(&f->sj, NULL);
    for (int i = 0; i <= 5; i++)
        put(f, 0, T0 + i * MIN, i, false);
    for (int i = 0; i <= 5; i++)
        put(f, 0, T0 + 5 * MIN + 5 * S + i * MIN, 10 + i, false);
    /* soil-2: the review's case, the short interval first */
    put(f, 1, T0, 1, false);
    for (int i = 0; i < 10; i++)
        put(f, 1, T0 + 5 * S + i * MIN, 2 + i, false);
    /* soil-3, every 10 minutes for 3 hours, once 5 s after a poll */
    for (int i = 0; i <= 18; i++) {
        put(f, 2, T0 + i * 10 * MIN, i, false);
        if (i == 3)
            put(f, 2, T0 + i * 10 * MIN + 5 * S, i, false);
    }
    const selgw_history_interval iv[] = {{"soil-1", MIN}, {"soil-2", MIN}, {"soil-3", 10 * MIN}};
    for (size_t n = 0; n <= 3; n += 3) {
        got *g = query_with(f, "hw-p01", T0, T0 + 11 * MIN, MIN, 720, iv, n);
        assert_int_equal(g->step_ns, 0);
        assert_int_equal(g->point_count[0], 12);
        assert_int_equal(count_null(g, 0), 0);
        expect_point(g, 0, 6, T0 + 5 * MIN + 5 * S, 10);
        assert_int_equal(g->point_count[2], 11);
        assert_int_equal(count_null(g, 2), 0);
        free(g);
        g = query_with(f, "hw-p02", T0, T0 + 180 * MIN, 5 * MIN, 10, iv, n);
        assert_int_equal(g->step_ns, 5 * MIN);
        assert_int_equal(g->point_count[0], 19); /* every other bucket empty, no gap */
        assert_int_equal(count_null(g, 0), 0);
        expect_point(g, 0, 3, T0 + 30 * MIN, 3);
        free(g);
    }
}

/* A real outage is still a gap, with a short interval elsewhere in the period, with and
 * without the configured interval; a pause shorter than 2.5 configured intervals is none. */
static void test_outage(void **state)
{
    fixture *f = *state;
    test_scratch_journal_open(&f->sj, NULL);
    for (int i = 0; i <= 25; i++) {
        if (i > 10 && i < 20)
            continue; /* down for 9 minutes */
        put(f, 0, T0 + i * MIN, i, false);
        if (i == 3)
            put(f, 0, T0 + i * MIN + 5 * S, i, false);
        if (i != 22) /* soil-2 misses one poll: 2 minutes without a reading */
            put(f, 1, T0 + i * MIN + S, 100 + i, false);
    }
    const selgw_history_interval iv[] = {{"soil-1", MIN}, {"soil-2", MIN}};
    for (size_t n = 0; n <= 2; n += 2) {
        got *g = query_with(f, "hw-p01", T0, T0 + 25 * MIN + 10 * S, MIN, 720, iv, n);
        assert_int_equal(g->step_ns, 0);
        assert_int_equal(g->point_count[0], 19); /* 18 readings, one gap */
        assert_int_equal(count_null(g, 0), 1);
        expect_point(g, 0, 11, T0 + 10 * MIN, 10);
        expect_point(g, 0, 12, T0 + 11 * MIN, NAN);
        expect_point(g, 0, 13, T0 + 20 * MIN, 20);
        /* soil-2 was down with soil-1; a missed poll is no gap */
        assert_int_equal(g->point_count[2], 17);
        assert_int_equal(count_null(g, 2), 1);
        expect_point(g, 2, 11, T0 + 11 * MIN + S, NAN);
        free(g);
    }
}

/* The poll interval changed in the period (from a minute to 10 s, the config says 10 s now):
 * the part polled a minute apart is no row of gaps; outages in either part are gaps. The
 * other way round (10 s before, the config says a minute now), a pause of 70 s in the 10 s
 * part is shorter than 2.5 configured intervals: no gap. */
static void test_changed_interval(void **state)
{
    fixture *f = *state;
    test_scratch_journal_open(&f->sj, NULL);
    for (int i = 0; i <= 30; i++)
        if (i < 10 || i >= 15)
            put(f, 0, T0 + i * MIN, i, false);
    for (int i = 1; i <= 60; i++)
        if (i < 30 || i >= 36)
            put(f, 0, T0 + 30 * MIN + i * 10 * S, 100 + i, false);
    const selgw_history_interval now10[] = {{"soil-1", 10 * S}};
    for (size_t n = 0; n <= 1; n++) {
        got *g = query_with(f, "hw-p01", T0, T0 + 40 * MIN, MIN, 720, now10, n);
        assert_int_equal(g->step_ns, 0);
        assert_int_equal(g->point_count[0], 26 + 54 + 2);
        assert_int_equal(count_null(g, 0), 2);
        expect_point(g, 0, 9, T0 + 9 * MIN, 9);
        expect_point(g, 0, 10, T0 + 10 * MIN, NAN);
        expect_point(g, 0, 11, T0 + 15 * MIN, 15);
        expect_point(g, 0, 27, T0 + 30 * MIN + 10 * S, 101);
        expect_point(g, 0, 55, T0 + 34 * MIN + 50 * S, 129);
        expect_point(g, 0, 56, T0 + 35 * MIN, NAN);
        expect_point(g, 0, 57, T0 + 36 * MIN, 136);
        free(g);
    }
    const selgw_history_interval now60[] = {{"soil-1", MIN}};
    got *g = query_with(f, "hw-p01", T0, T0 + 40 * MIN, MIN, 720, now60, 1);
    assert_int_equal(g->point_count[0], 26 + 54 + 1);
    assert_int_equal(count_null(g, 0), 1);
    expect_point(g, 0, 10, T0 + 10 * MIN, NAN);
    free(g);
}

typedef struct got_notes {
    size_t annotations, events;
    char text[4][64], ref[4][64], type[4][16];
    int64_t time[4];
} got_notes;

static void keep_notes(void *ctx, const selgw_notes *n)
{
    got_notes *g = ctx;
    g->annotations = n->annotation_count;
    g->events = n->event_count;
    for (size_t i = 0; i < n->annotation_count && i < 2; i++) {
        snprintf(g->text[i], 64, "%.*s", (int)n->annotations[i].text_len, n->annotations[i].text);
        snprintf(g->ref[i], 64, "%.*s", (int)n->annotations[i].ref_len, n->annotations[i].ref);
        g->time[i] = n->annotations[i].time_ns;
    }
    for (size_t i = 0; i < n->event_count && i < 2; i++) {
        snprintf(g->text[2 + i], 64, "%.*s", (int)n->events[i].text_len, n->events[i].text);
        snprintf(g->type[2 + i], 16, "%s", n->events[i].type);
        g->time[2 + i] = n->events[i].time_ns;
    }
}

/* Annotations and tag changes of the plot in the period, in time order; another plot's
 * and readings are not among them. */
static void test_notes(void **state)
{
    fixture *f = *state;
    test_scratch_journal_open(&f->sj, NULL);
    put_note(f, SELGW_RECORD_TAGS, "hw-p01", T0 + 5 * S, "{\"crop\":\"tea\"}", "");
    put(f, 0, T0 + 6 * S, 1, false);
    put_note(f, SELGW_RECORD_ANNOTATION, "hw-p01", T0 + 20 * S, "pruned", "");
    put_note(f, SELGW_RECORD_ANNOTATION, "hw-p02", T0 + 11 * S, "not ours", "X");
    put_note(f, SELGW_RECORD_ANNOTATION, "hw-p01", T0 + 10 * S, "Se 0.41 mg/kg", "LAB-17");
    put_note(f, SELGW_RECORD_ANNOTATION, "hw-p01", T0 + 2 * 1440 * MIN, "later", "");
    assert_int_equal(selgw_journal_flush(f->sj.journal), SELGW_OK);
    got_notes g = {0};
    selgw_history_query q = {
        .plot = "hw-p01", .from_ns = T0, .to_ns = T0 + MIN, .step_ns = MIN, .max_points = 720};
    assert_int_equal(selgw_plot_notes(f->sj.journal, &q, keep_notes, &g), SELGW_OK);
    assert_int_equal(g.annotations, 2);
    assert_string_equal(g.text[0], "Se 0.41 mg/kg");
    assert_string_equal(g.ref[0], "LAB-17");
    assert_int_equal(g.time[0], T0 + 10 * S);
    assert_string_equal(g.text[1], "pruned");
    assert_int_equal(g.events, 1);
    assert_string_equal(g.type[2], "tags");
    assert_string_equal(g.text[2], "{\"crop\":\"tea\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raw_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
