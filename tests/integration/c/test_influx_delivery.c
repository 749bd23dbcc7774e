/* The InfluxDB sink run against a real journal and tests/integration/fake_influx.py (a
 * scripted fake server on a free loopback port, started here and stopped by its pid):
 * retries, splitting, bisecting to the bad lines, the dead-letter file, the cursor, v1 and
 * v2 requests, and nobody listening. An integration test: it starts servers. How answers
 * are classified and the refused configs are tests/unit/test_influx_sink.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sinks/influx_sink.h"
#include "journal/journal.h"
#include "sinks/lineproto.h"
#include "journal/record.h"
#include "sensors/profile.h"
#include "test_farm.h"
#include "test_net.h"
#include "test_sink_configs.h"

#define FAKE_SCRIPT SELGW_SOURCE_DIR "/tests/integration/fake_influx.py"
/* Only a guard against hanging: the tests wait for states, never for a time. */
#define WAIT_LIMIT_S 90

/* ---- files and directories ---- */

/* Whole file as a NUL-terminated string; "" when it does not exist. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        char *empty = calloc(1, 1);
        assert_non_null(empty);
        return empty;
    }
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            text = realloc(text, cap);
            assert_non_null(text);
        }
    }
    fclose(f);
    text[len] = '\0';
    return text;
}

/* Splits text into lines (without their newlines) in place; returns the count. */
static size_t split_lines(char *text, char ***out)
{
    size_t count = 0, cap = 16;
    char **lines = malloc(cap * sizeof *lines);
    assert_non_null(lines);
    char *p = text;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (count == cap) {
            cap *= 2;
            lines = realloc(lines, cap * sizeof *lines);
            assert_non_null(lines);
        }
        lines[count++] = p;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    *out = lines;
    return count;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- the fake server ---- */

typedef struct fake_server {
    pid_t pid;
    int port;
    char log_path[512];
    char accepted_path[512];
} fake_server;

/* Starts fake_influx.py with the given options (NULL-terminated) and reads its port. */
static void fake_start(fake_server *f, const char *dir, const char *name,
                       const char *const *options)
{
    memset(f, 0, sizeof *f);
    snprintf(f->log_path, sizeof f->log_path, "%s/%s.log", dir, name);
    snprintf(f->accepted_path, sizeof f->accepted_path, "%s/%s.accepted", dir, name);
    const char *argv[32];
    size_t argc = 0;
    argv[argc++] = "python3";
    argv[argc++] = FAKE_SCRIPT;
    argv[argc++] = "--log";
    argv[argc++] = f->log_path;
    argv[argc++] = "--accepted";
    argv[argc++] = f->accepted_path;
    for (size_t i = 0; options && options[i]; i++) {
        assert_true(argc < 31);
        argv[argc++] = options[i];
    }
    argv[argc] = NULL;
    f->pid = test_start_server(argv, &f->port);
}

static void fake_stop(fake_server *f)
{
    test_stop_server(&f->pid);
}

/* One request as the fake logged it. */
typedef struct request_entry {
    int status;
    char target[256];
    char encoding[32];
    char auth[128];
    int lines;
    int early;
} request_entry;

static size_t read_requests(const fake_server *f, request_entry *out, size_t max)
{
    char *text = read_text(f->log_path);
    char **lines;
    size_t n = split_lines(text, &lines);
    size_t count = 0;
    for (size_t i = 0; i < n && count < max; i++) {
        request_entry *e = &out[count];
        memset(e, 0, sizeof *e);
        char *fields[7];
        size_t nf = 0;
        char *save = NULL;
        for (char *tok = strtok_r(lines[i], "\t", &save); tok && nf < 7;
             tok = strtok_r(NULL, "\t", &save))
            fields[nf++] = tok;
        if (nf != 7)
            continue;
        e->status = atoi(fields[1]);
        snprintf(e->target, sizeof e->target, "%s", fields[2]);
        snprintf(e->encoding, sizeof e->encoding, "%s", fields[3]);
        snprintf(e->auth, sizeof e->auth, "%s", fields[4]);
        e->lines = atoi(fields[5]);
        e->early = atoi(fields[6]);
        count++;
    }
    free(lines);
    free(text);
    return count;
}

/* ---- readings and the journal ---- */

#define DEVICE_COUNT 4
enum { DEV_NORMAL, DEV_BAD400, DEV_BAD422, DEV_HUGE };

typedef struct fixture {
    test_scratch_journal j;
    test_farm farm;
    char huge_id[6001];
    selgw_record record;
    /* what was appended */
    size_t count;
    uint64_t seqs[256];
    char *lines[256]; /* the expected line, NULL for events */
    int device[256];  /* DEV_*, -1 for events */
} fixture;

/* Four devices with one serial: soil-1, two whose lines the fake refuses, and one whose id
 * makes a line longer than any body the fake takes. */
static void fixture_config(fixture *f)
{
    test_farm_init(&f->farm, 2, 1, 1, DEVICE_COUNT);
    memset(f->huge_id, 'h', sizeof f->huge_id - 1);
    f->huge_id[sizeof f->huge_id - 1] = '\0';
    static char *const ids[DEVICE_COUNT] = {"soil-1", "soil-bad400", "soil-bad422", NULL};
    for (int i = 0; i < DEVICE_COUNT; i++) {
        f->farm.devices[i].id = ids[i] ? ids[i] : f->huge_id;
        f->farm.devices[i].serial = "SN-42";
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fixture_config(f);
    test_scratch_journal_init(&f->j, "influx", NULL);
    f->j.cfg.retention_ms = 0;
    test_scratch_journal_open(&f->j, SELGW_INFLUX_SINK_NAME);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < f->count; i++)
        free(f->lines[i]);
    test_scratch_journal_close(&f->j);
    free(f);
    return 0;
}

/* The line the sink must send for a payload, rendered as the sink renders it. */
static char *expected_line(fixture *f, const uint8_t *payload, size_t len, uint64_t seq)
{
    assert_int_equal(selgw_record_decode(payload, len, &f->record), SELGW_OK);
    f->record.seq = seq;
    /* Points carry the record's hash (BLAKE2b-256 of the payload). */
    selgw_record_hash(payload, len, f->record.hash);
    f->record.has_hash = true;
    size_t need = selgw_lp_record(&f->record, "reading", NULL, 0);
    if (need == 0)
        return NULL;
    char *line = malloc(need + 1);
    assert_non_null(line);
    assert_int_equal(selgw_lp_record(&f->record, "reading", line, need + 1), need);
    assert_true(need > 1 && line[need - 1] == '\n');
    line[need - 1] = '\0'; /* compared without the newline */
    return line;
}

static void append_payload(fixture *f, const uint8_t *payload, size_t len, int device)
{
    assert_true(f->count < 256);
    uint64_t seq = 0;
    assert_int_equal(selgw_journal_append(f->j.journal, payload, len, &seq), SELGW_OK);
    f->seqs[f->count] = seq;
    f->lines[f->count] = expected_line(f, payload, len, seq);
    f->device[f->count] = device;
    if (device >= 0)
        assert_non_null(f->lines[f->count]);
    f->count++;
}

static void append_reading(fixture *f, int device, int i)
{
    test_value values[2] = {{20.0 + i * 0.1, SELGW_QUALITY_OK}, {15.5 - i * 0.2, SELGW_QUALITY_OK}};
    selgw_reading r;
    test_reading(&r, &f->farm.cfg, &f->farm.devices[device],
                 INT64_C(1795960521000000000) + i * INT64_C(1000000007), SELGW_OK, 1,
                 f->farm.contract_ptrs, 1, values);
    static uint8_t buf[SELGW_RECORD_MAX_PAYLOAD];
    size_t len = selgw_record_encode_reading(&r, NULL, buf, sizeof buf);
    assert_true(len > 0 && len <= sizeof buf);
    append_payload(f, buf, len, device);
}

static void append_event(fixture *f, selgw_record_type type, int i, const char *text)
{
    static uint8_t buf[4096];
    selgw_record event = {.type = type,
                          .time_ns = INT64_C(1795960521000000000) + i * INT64_C(1000000007),
                          .gateway = {"gw-1", 4},
                          .text = {text, text ? strlen(text) : 0}};
    size_t len = selgw_record_encode_event(&event, NULL, buf, sizeof buf);
    assert_true(len > 0 && len <= sizeof buf);
    append_payload(f, buf, len, -1);
}

/* n readings of the ordinary device, committed. */
static void append_readings(fixture *f, int n)
{
    for (int i = 0; i < n; i++)
        append_reading(f, DEV_NORMAL, i);
    assert_int_equal(selgw_journal_flush(f->j.journal), SELGW_OK);
}

/* A sink with cfg on the fixture's journal (relative paths in its directory), started. */
static selgw_influx_sink *start_sink(fixture *f, const selgw_influx_config *cfg)
{
    selgw_influx_sink *sink = NULL;
    assert_int_equal(selgw_influx_sink_new(cfg, f->j.journal_dir, f->j.journal, &sink), SELGW_OK);
    assert_int_equal(selgw_influx_sink_start(sink), SELGW_OK);
    return sink;
}

static uint64_t last_seq(const fixture *f)
{
    return f->seqs[f->count - 1];
}

/* Waits until the sink's cursor reaches seq (or fails after the guard limit). */
static void wait_for_cursor(selgw_influx_sink *sink, uint64_t seq)
{
    int64_t limit = test_deadline_after_s(WAIT_LIMIT_S);
    selgw_sink_stats st;
    for (;;) {
        selgw_influx_sink_stats(sink, &st);
        if (st.last_seq >= seq)
            return;
        if (selgw_mono_ns() > limit)
            fail_msg("the sink's cursor is at %" PRIu64 ", not %" PRIu64 " (error %s)", st.last_seq,
                     seq, selgw_strerror(st.last_error));
        test_sleep_ms(5);
    }
}

/* Waits until the sink has retried at least `retries` times. */
static void wait_for_retries(selgw_influx_sink *sink, uint64_t retries)
{
    int64_t limit = test_deadline_after_s(WAIT_LIMIT_S);
    selgw_sink_stats st;
    for (;;) {
        selgw_influx_sink_stats(sink, &st);
        if (st.reconnects >= retries)
            return;
        if (selgw_mono_ns() > limit)
            fail_msg("the sink retried %" PRIu64 " times, not %" PRIu64, st.reconnects, retries);
        test_sleep_ms(5);
    }
}

/* Every line of the records with device in `good` was accepted exactly once, and no
 * other line was. */
static void assert_accepted_once(fixture *f, const fake_server *fake, const bool good[DEVICE_COUNT])
{
    char *text = read_text(fake->accepted_path);
    char **got;
    size_t got_count = split_lines(text, &got);
    char **want = malloc((f->count + 1) * sizeof *want);
    assert_non_null(want);
    size_t want_count = 0;
    for (size_t i = 0; i < f->count; i++)
        if (f->device[i] >= 0 && good[f->device[i]])
            want[want_count++] = f->lines[i];
    qsort(got, got_count, sizeof *got, compare_strings);
    qsort(want, want_count, sizeof *want, compare_strings);
    assert_int_equal(got_count, want_count);
    for (size_t i = 0; i < want_count; i++)
        assert_string_equal(got[i], want[i]);
    free(want);
    free(got);
    free(text);
}

/* ---- the sink against the fake server ---- */

/* 429 (Retry-After: 1), 503, then what a server does: 413 for bodies over the limit, 400
 * and 422 for the bad lines, 204 for the rest. */
static void test_v1_faults_then_delivered(void **state)
{
    fixture *f = *state;
    append_event(f, SELGW_RECORD_START, 0, "selgw test");
    size_t normal_len = 0;
    for (int i = 1; i <= 40; i++) {
        int device = i == 6 ? DEV_BAD400 : i == 17 ? DEV_BAD422 : i == 29 ? DEV_HUGE : DEV_NORMAL;
        append_reading(f, device, i);
        if (device == DEV_NORMAL && strlen(f->lines[f->count - 1]) > normal_len)
            normal_len = strlen(f->lines[f->count - 1]);
    }
    assert_int_equal(selgw_journal_flush(f->j.journal), SELGW_OK);

    /* Bodies of up to three ordinary lines pass; the huge line never does. */
    size_t max_body = 3 * (normal_len + 1) + 2;
    for (size_t i = 0; i < f->count; i++)
        if (f->device[i] == DEV_HUGE)
            assert_true(strlen(f->lines[i]) + 1 > max_body);
    char max_body_text[32];
    snprintf(max_body_text, sizeof max_body_text, "%zu", max_body);
    const char *options[] = {"--script",   "429:1,503", "--max-body", max_body_text, "--reject",
                             "bad400=400", "--reject",  "bad422=422", NULL};
    fake_server fake;
    fake_start(&fake, f->j.dir, "v1", options);

    selgw_influx_config cfg = test_influx_v1_config(fake.port);
    selgw_influx_sink *sink = start_sink(f, &cfg);
    assert_int_equal(selgw_influx_sink_start(sink), SELGW_ERR_INVALID); /* it runs already */
    /* More records while it runs: the sink picks them up from the journal. */
    for (int i = 41; i <= 50; i++)
        append_reading(f, DEV_NORMAL, i);
    append_event(f, SELGW_RECORD_STOP, 51, "test over");
    assert_int_equal(selgw_journal_flush(f->j.journal), SELGW_OK);
    wait_for_cursor(sink, last_seq(f));
    selgw_influx_sink_stop(sink);
    fake_stop(&fake);

    /* The cursor is persisted at the last record, the STOP event. */
    assert_int_equal(selgw_journal_cursor(f->j.journal, SELGW_INFLUX_SINK_NAME), last_seq(f));
    selgw_sink_stats st;
    selgw_influx_sink_stats(sink, &st);
    assert_int_equal(st.last_seq, last_seq(f));
    assert_int_equal(st.delivered, 47);
    assert_int_equal(st.refused, 3);
    assert_int_equal(st.reconnects, 2); /* the 429 and the 503 */
    assert_int_equal(st.last_error, SELGW_OK);
    selgw_influx_sink_free(sink);

    const bool good[DEVICE_COUNT] = {[DEV_NORMAL] = true};
    assert_accepted_once(f, &fake, good);

    request_entry req[512];
    size_t n = read_requests(&fake, req, 512);
    assert_true(n >= 6);
    /* The scripted answers came first, each for the same first batch, resent whole. */
    assert_int_equal(req[0].status, 429);
    assert_int_equal(req[1].status, 503);
    assert_int_equal(req[0].lines, 16);
    assert_int_equal(req[1].lines, 16);
    assert_int_equal(req[2].lines, 16);
    bool seen[600] = {false};
    for (size_t i = 0; i < n; i++) {
        /* Retry-After: 1 was honoured: nothing came before the second was up. */
        assert_int_equal(req[i].early, 0);
        assert_string_equal(req[i].target, "/write?db=farm%20data&rp=two%20weeks&precision=ns");
        assert_string_equal(req[i].encoding, "gzip");
        assert_string_equal(req[i].auth, "Basic d3JpdGVyOnMzY3JldA==");
        assert_true(req[i].status >= 0 && req[i].status < 600);
        seen[req[i].status] = true;
    }
    assert_true(seen[413] && seen[400] && seen[422] && seen[204]);

    /* The dead-letter file (relative: in the journal dir) holds each refused line once,
     * after a comment with the time, its sequence, the status and the server's reason. */
    char path[256];
    snprintf(path, sizeof path, "%s/rejected.lp", f->j.journal_dir);
    char *text = read_text(path);
    char **lines;
    size_t count = split_lines(text, &lines);
    assert_int_equal(count, 6);
    static const struct {
        int device;
        const char *reason;
    } refused[3] = {{DEV_BAD400, " 400 unable to parse '"},
                    {DEV_BAD422, " 422 partial write: field type conflict"},
                    {DEV_HUGE, " 413 Request Entity Too Large"}};
    for (size_t k = 0; k < 3; k++) {
        size_t rec = 0;
        while (rec < f->count && f->device[rec] != refused[k].device)
            rec++;
        assert_true(rec < f->count);
        const char *comment = lines[2 * k];
        assert_memory_equal(comment, "# 20", 4); /* "# <UTC time> ..." */
        assert_non_null(strstr(comment, "Z seq="));
        char want[128];
        snprintf(want, sizeof want, " seq=%" PRIu64 "%s", f->seqs[rec], refused[k].reason);
        if (!strstr(comment, want))
            fail_msg("dead-letter comment \"%s\" lacks \"%s\"", comment, want);
        assert_string_equal(lines[2 * k + 1], f->lines[rec]);
    }
    free(lines);
    free(text);
}

/* 401 keeps the data: the cursor does not move while the server refuses; it is delivered
 * once the credentials are right. v2: token header, no gzip, escaped org. */
static void test_v2_unauthorized_keeps_data(void **state)
{
    fixture *f = *state;
    append_readings(f, 12);

    const char *refuse[] = {"--always", "401", NULL};
    fake_server fake;
    fake_start(&fake, f->j.dir, "auth", refuse);
    selgw_influx_config cfg = test_influx_v2_config(fake.port);
    selgw_influx_sink *sink = start_sink(f, &cfg);
    wait_for_retries(sink, 3);
    selgw_influx_sink_stop(sink);
    fake_stop(&fake);
    selgw_sink_stats st;
    selgw_influx_sink_stats(sink, &st);
    assert_int_equal(st.last_error, SELGW_ERR_AUTH);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.last_seq, 0);
    assert_int_equal(selgw_journal_cursor(f->j.journal, SELGW_INFLUX_SINK_NAME), 0);
    selgw_influx_sink_free(sink);
    request_entry req[64];
    size_t n = read_requests(&fake, req, 64);
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(req[i].status, 401);
        assert_int_equal(req[i].lines, 12); /* the same batch every time */
        assert_string_equal(req[i].target,
                            "/api/v2/write?org=tea%26co&bucket=readings&precision=ns");
        assert_string_equal(req[i].encoding, "-");
        assert_string_equal(req[i].auth, "Token tok-123");
    }

    /* Fixed: a new start delivers everything that was kept. */
    fake_server good_server;
    fake_start(&good_server, f->j.dir, "fixed", NULL);
    cfg = test_influx_v2_config(good_server.port);
    sink = start_sink(f, &cfg);
    wait_for_cursor(sink, last_seq(f));
    selgw_influx_sink_free(sink); /* stops first */
    fake_stop(&good_server);
    assert_int_equal(selgw_journal_cursor(f->j.journal, SELGW_INFLUX_SINK_NAME), last_seq(f));
    const bool good[DEVICE_COUNT] = {[DEV_NORMAL] = true};
    assert_accepted_once(f, &good_server, good);
}

static void test_not_found_keeps_data(void **state)
{
    fixture *f = *state;
    append_readings(f, 3);
    const char *options[] = {"--always", "404", NULL};
    fake_server fake;
    fake_start(&fake, f->j.dir, "missing", options);
    selgw_influx_config cfg = test_influx_v1_config(fake.port);
    selgw_influx_sink *sink = start_sink(f, &cfg);
    wait_for_retries(sink, 2);
    selgw_influx_sink_stop(sink);
    fake_stop(&fake);
    selgw_sink_stats st;
    selgw_influx_sink_stats(sink, &st);
    assert_int_equal(st.last_error, SELGW_ERR_NOT_FOUND);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(selgw_journal_cursor(f->j.journal, SELGW_INFLUX_SINK_NAME), 0);
    selgw_influx_sink_free(sink);
}

/* A connection closed without an answer and a 500 are retried; each line arrives once. */
static void test_no_answer_retried(void **state)
{
    fixture *f = *state;
    append_readings(f, 5);
    const char *options[] = {"--script", "drop,500", NULL};
    fake_server fake;
    fake_start(&fake, f->j.dir, "drop", options);
    selgw_influx_config cfg = test_influx_v1_config(fake.port);
    selgw_influx_sink *sink = start_sink(f, &cfg);
    wait_for_cursor(sink, last_seq(f));
    selgw_influx_sink_free(sink);
    fake_stop(&fake);
    request_entry req[16];
    size_t n = read_requests(&fake, req, 16);
    assert_int_equal(n, 3);
    assert_int_equal(req[0].status, 0);
    assert_int_equal(req[1].status, 500);
    assert_int_equal(req[2].status, 204);
    const bool good[DEVICE_COUNT] = {[DEV_NORMAL] = true};
    assert_accepted_once(f, &fake, good);
}

/* A request the server does not answer within timeout_ms is retried in halves: a slow
 * uplink may never carry a whole batch in time. */
static void test_timeout_sends_halves(void **state)
{
    fixture *f = *state;
    append_readings(f, 10);
    const char *options[] = {"--slow-over", "4:4", NULL};
    fake_server fake;
    fake_start(&fake, f->j.dir, "slow", options);
    selgw_influx_config cfg = test_influx_v1_config(fake.port);
    cfg.timeout_ms = 1500; /* ample for the small requests the fake answers at once */
    selgw_influx_sink *sink = start_sink(f, &cfg);
    wait_for_cursor(sink, last_seq(f));
    selgw_sink_stats st;
    selgw_influx_sink_stats(sink, &st);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(st.last_error, SELGW_OK);
    assert_true(st.reconnects >= 3); /* 10 lines, then each half of 5 */
    selgw_influx_sink_free(sink);
    fake_stop(&fake);
    request_entry req[32];
    size_t n = read_requests(&fake, req, 32);
    assert_true(n >= 3);
    assert_int_equal(req[0].status, 0);
    assert_int_equal(req[0].lines, 10);
    for (size_t i = 0; i < n; i++)
        if (req[i].status != 0)
            assert_true(req[i].lines <= 4);
    const bool good[DEVICE_COUNT] = {[DEV_NORMAL] = true};
    assert_accepted_once(f, &fake, good);
}

/* Nobody listening: the sink retries, says why, and stop wakes it out of a long backoff
 * (the retry delays are ten minutes: a stop that waited for them would hang the test). */
static void test_connection_refused_and_stop(void **state)
{
    fixture *f = *state;
    append_reading(f, DEV_NORMAL, 0);
    assert_int_equal(selgw_journal_flush(f->j.journal), SELGW_OK);
    selgw_influx_config cfg = test_influx_v1_config(test_free_port());
    cfg.retry_min_ms = 600000;
    cfg.retry_max_ms = 600000;
    selgw_influx_sink *sink = start_sink(f, &cfg);
    wait_for_retries(sink, 1);
    selgw_influx_sink_stop(sink);
    selgw_sink_stats st;
    selgw_influx_sink_stats(sink, &st);
    assert_int_equal(st.last_error, SELGW_ERR_CONNECT);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(selgw_journal_cursor(f->j.journal, SELGW_INFLUX_SINK_NAME), 0);
    selgw_influx_sink_free(sink);
}

/* Events have no line: nothing is sent, and the cursor passes them all the same. */
static void test_events_only_advance_cursor(void **state)
{
    fixture *f = *state;
    append_event(f, SELGW_RECORD_START, 0, "selgw test");
    append_event(f, SELGW_RECORD_STOP, 1, "done");
    assert_int_equal(selgw_journal_flush(f->j.journal), SELGW_OK);
    fake_server fake;
    fake_start(&fake, f->j.dir, "events", NULL);
    selgw_influx_config cfg = test_influx_v1_config(fake.port);
    selgw_influx_sink *sink = start_sink(f, &cfg);
    wait_for_cursor(sink, last_seq(f));
    selgw_influx_sink_free(sink);
    fake_stop(&fake);
    assert_int_equal(selgw_journal_cursor(f->j.journal, SELGW_INFLUX_SINK_NAME), last_seq(f));
    request_entry req[4];
    assert_int_equal(read_requests(&fake, req, 4), 0);
}

int main(void)
{
    /* A fake server killed while a request is in flight must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_only_advance_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_faults_then_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_unauthorized_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_sends_halves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused_and_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
