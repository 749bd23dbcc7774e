#include "http/render.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/text_writer.h"
#include "http/expo.h"

/* ---- Prometheus ------------------------------------------------------------------------ */

/* The kinds of failure each family always shows (at 0 too, so that rate() works from the
 * first scrape); any other kind appears once it happened. */
static const selgw_err poll_kinds[] = {SELGW_ERR_TIMEOUT, SELGW_ERR_EXCEPTION, SELGW_ERR_BAD_FRAME,
                                       SELGW_ERR_CONNECT, SELGW_ERR_DISCONNECTED};
static const selgw_err sink_kinds[] = {SELGW_ERR_CONNECT, SELGW_ERR_DISCONNECTED, SELGW_ERR_TIMEOUT,
                                       SELGW_ERR_AUTH,    SELGW_ERR_REJECTED,     SELGW_ERR_SERVER};

static bool always_shown(selgw_err err, const selgw_err *kinds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (kinds[i] == err)
            return true;
    return false;
}

static void failures_by_kind(selgw_expo *e, const char *name, selgw_expo_label *labels, size_t n,
                             const uint64_t counts[SELGW_ERR_COUNT_], const selgw_err *kinds,
                             size_t kind_count)
{
    for (int k = 1; k < SELGW_ERR_COUNT_; k++) {
        if (!counts[k] && !always_shown((selgw_err)k, kinds, kind_count))
            continue;
        labels[n] = (selgw_expo_label){"kind", selgw_err_token((selgw_err)k)};
        selgw_expo_sample(e, name, labels, n + 1, (double)counts[k]);
    }
}

static double seconds(int64_t ns)
{
    return (double)ns / 1e9;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void bus_metrics(selgw_expo *e, const selgw_status *st)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"selgw_bus_polls_total", "Completed polls of the devices on the bus.",
         offsetof(selgw_poller_stats, polls)},
        {"selgw_bus_failed_polls_total", "Polls of which some field could not be read.",
         offsetof(selgw_poller_stats, failed_polls)},
        {"selgw_bus_requests_total", "Modbus requests sent, retries included.",
         offsetof(selgw_poller_stats, requests)},
        {"selgw_bus_retries_total", "Attempts after the first of a poll.",
         offsetof(selgw_poller_stats, retries)},
        {"selgw_bus_skipped_polls_total", "Polls skipped because the bus could not keep up.",
         offsetof(selgw_poller_stats, late_polls)},
    };
    for (size_t c = 0; c < COUNT(counters); c++) {
        selgw_expo_family(e, counters[c].name, "counter", counters[c].help);
        for (size_t i = 0; i < st->bus_count; i++) {
            selgw_expo_label l[] = {{"bus", st->buses[i].id}, {"type", st->buses[i].type}};
            uint64_t v =
                *(const uint64_t *)((const char *)&st->buses[i].stats + counters[c].offset);
            selgw_expo_sample(e, counters[c].name, l, 2, (double)v);
        }
    }
    selgw_expo_family(e, "selgw_poll_lateness_seconds", "histogram",
                      "How late each regular poll began against its plan (first attempt).");
    for (size_t i = 0; i < st->bus_count; i++) {
        selgw_expo_label l[] = {{"bus", st->buses[i].id}, {"type", st->buses[i].type}};
        const selgw_lateness *h = &st->buses[i].stats.lateness;
        selgw_expo_buckets(e, "selgw_poll_lateness_seconds", l, 2, selgw_lateness_bounds_s,
                           SELGW_LATENESS_BOUNDS, h->buckets, h->count, h->sum_s);
    }
}

static size_t device_labels(const selgw_status_device *d, selgw_expo_label *l)
{
    l[0] = (selgw_expo_label){"device", d->id};
    l[1] = (selgw_expo_label){"bus", d->bus};
    return 2;
}

static double last_success_s(const selgw_device_health *h)
{
    return seconds(h->last_success_ns);
}

static double last_poll_s(const selgw_device_health *h)
{
    return seconds(h->last_poll_ns);
}

static double failures_in_a_row(const selgw_device_health *h)
{
    return (double)h->consecutive_failures;
}

static double backoff_factor(const selgw_device_health *h)
{
    return (double)h->backoff;
}

/* The devices' gauges, in the order /metrics lists them. */
static const struct {
    const char *name, *help;
    double (*value)(const selgw_device_health *h);
} device_gauges[] = {
    {"selgw_device_last_success_timestamp_seconds",
     "Start of the last poll that read every field (Unix time; 0: none yet).", last_success_s},
    {"selgw_device_last_poll_timestamp_seconds",
     "Start of the last completed poll (Unix time; 0: none yet).", last_poll_s},
    {"selgw_device_consecutive_failures",
     "Failed polls in a row (0 after a poll that read everything).", failures_in_a_row},
    {"selgw_device_backoff_factor",
     "Multiplier of the poll interval while the device keeps failing (1: none).", backoff_factor},
};

static void device_metrics(selgw_expo *e, const selgw_status *st)
{
    selgw_expo_label l[SELGW_EXPO_MAX_LABELS];
    selgw_expo_family(e, "selgw_device_polls_total", "counter",
                      "Completed polls of the device, failed ones included.");
    for (size_t i = 0; i < st->device_count; i++)
        selgw_expo_sample(e, "selgw_device_polls_total", l, device_labels(&st->devices[i], l),
                          (double)st->devices[i].health.polls);
    selgw_expo_family(e, "selgw_device_poll_failures_total", "counter",
                      "Failed polls of the device by what failed (kind).");
    for (size_t i = 0; i < st->device_count; i++)
        failures_by_kind(e, "selgw_device_poll_failures_total", l,
                         device_labels(&st->devices[i], l), st->devices[i].health.failures,
                         poll_kinds, COUNT(poll_kinds));
    selgw_expo_family(e, "selgw_device_response_seconds", "histogram",
                      "Time from a request to the device's answer, of every answered request.");
    for (size_t i = 0; i < st->device_count; i++)
        selgw_expo_histogram(e, "selgw_device_response_seconds", l,
                             device_labels(&st->devices[i], l), &st->devices[i].health.latency);
    for (size_t g = 0; g < COUNT(device_gauges); g++) {
        selgw_expo_family(e, device_gauges[g].name, "gauge", device_gauges[g].help);
        for (size_t i = 0; i < st->device_count; i++)
            selgw_expo_sample(e, device_gauges[g].name, l, device_labels(&st->devices[i], l),
                              device_gauges[g].value(&st->devices[i].health));
    }
}

/* A family of one sample without labels. */
static void scalar(selgw_expo *e, const char *name, const char *type, const char *help,
                   double value)
{
    selgw_expo_family(e, name, type, help);
    selgw_expo_sample(e, name, NULL, 0, value);
}

static void journal_metrics(selgw_expo *e, const selgw_status *st)
{
    const selgw_journal_stats *j = &st->journal;
    scalar(e, "selgw_journal_records_total", "counter",
           "Records appended to the journal since the gateway started.",
           (double)j->appended_records);
    scalar(e, "selgw_journal_bytes_total", "counter",
           "Payload bytes appended to the journal since the gateway started.",
           (double)j->appended_bytes);
    scalar(e, "selgw_journal_committed_seq", "gauge",
           "Sequence number of the last record made durable.", (double)j->committed_seq);
    scalar(e, "selgw_journal_first_seq", "gauge",
           "Sequence number of the oldest record the journal still holds.", (double)j->first_seq);
    scalar(e, "selgw_journal_backlog_bytes", "gauge",
           "Bytes not yet delivered by every sink (slowest cursor to the head).",
           (double)j->backlog_bytes);
    scalar(e, "selgw_journal_backlog_limit_bytes", "gauge",
           "The disk budget for undelivered data (journal.max_backlog; 0: none).",
           (double)j->max_backlog_bytes);
    if (j->max_backlog_bytes) {
        scalar(e, "selgw_journal_budget_free_bytes", "gauge",
               "What is left of the disk budget for undelivered data.",
               j->backlog_bytes >= j->max_backlog_bytes
                   ? 0
                   : (double)(j->max_backlog_bytes - j->backlog_bytes));
    }
    scalar(e, "selgw_journal_commits_total", "counter",
           "Group commits: batches of records made durable (and readable by sinks) at once.",
           (double)j->commits);
    scalar(e, "selgw_journal_commit_records_max", "gauge",
           "The most records one group commit made durable since the gateway started.",
           (double)j->commit_records_max);
    selgw_expo_family(e, "selgw_journal_fsync_seconds", "histogram",
                      "Duration of the fdatasync that makes a batch of records durable.");
    selgw_expo_histogram(e, "selgw_journal_fsync_seconds", NULL, 0, &j->fsync);
}

static void sink_metrics(selgw_expo *e, const selgw_status *st)
{
    selgw_expo_label l[SELGW_EXPO_MAX_LABELS];
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"selgw_sink_delivered_total", "counter", "Records the server acknowledged."},
        {"selgw_sink_refused_total", "counter",
         "Records the server refused for good (MQTT 5 refusals; InfluxDB dead letters)."},
        {"selgw_sink_reconnects_total", "counter",
         "Connections (re)established or requests retried."},
        {"selgw_sink_backlog_records", "gauge",
         "Records committed to the journal and not yet delivered by the sink."},
        {"selgw_sink_cursor", "gauge", "Sequence number of the last record the sink delivered."},
        {"selgw_sink_last_delivery_timestamp_seconds", "gauge",
         "When the server last acknowledged a record (Unix time; 0: not since start)."},
        {"selgw_sink_up", "gauge", "1 while the sink delivers normally, 0 after an error."},
    };
    for (size_t f = 0; f < COUNT(families); f++) {
        selgw_expo_family(e, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < st->sink_count; i++) {
            const selgw_status_sink *s = &st->sinks[i];
            double v[] = {(double)s->stats.delivered,
                          (double)s->stats.refused,
                          (double)s->stats.reconnects,
                          (double)s->backlog_records,
                          (double)s->stats.last_seq,
                          seconds(s->stats.last_delivery_ns),
                          s->stats.last_error == SELGW_OK ? 1 : 0};
            l[0] = (selgw_expo_label){"sink", s->name};
            selgw_expo_sample(e, families[f].name, l, 1, v[f]);
        }
    }
    selgw_expo_family(e, "selgw_sink_errors_total", "counter",
                      "Failed connections, sends and refusals of the sink by kind.");
    for (size_t i = 0; i < st->sink_count; i++) {
        l[0] = (selgw_expo_label){"sink", st->sinks[i].name};
        failures_by_kind(e, "selgw_sink_errors_total", l, 1, st->sinks[i].stats.errors, sink_kinds,
                         COUNT(sink_kinds));
    }
}

char *selgw_render_metrics(const selgw_status *st, size_t *len)
{
    selgw_expo e;
    selgw_expo_init(&e);
    selgw_expo_label info[] = {{"gateway", st->gateway_id}, {"version", st->version}};
    selgw_expo_family(&e, "selgw_build_info", "gauge", "Always 1; the labels say which gateway.");
    selgw_expo_sample(&e, "selgw_build_info", info, 2, 1);
    scalar(&e, "selgw_start_time_seconds", "gauge", "When the gateway started (Unix time).",
           seconds(st->start_ns));
    scalar(&e, "selgw_config_generation", "gauge",
           "1 at start, one more for every reload that was taken.", (double)st->config_generation);
    bus_metrics(&e, st);
    device_metrics(&e, st);
    journal_metrics(&e, st);
    sink_metrics(&e, st);
    scalar(&e, "selgw_alerts_active", "gauge",
           "Alerts raised and not cleared, over every plot and rule (docs/ALERTS.md).",
           (double)st->alert_count);
    if (e.failed || !e.buf) {
        selgw_expo_free(&e);
        return NULL;
    }
    *len = e.len;
    return e.buf;
}

/* ---- JSON ------------------------------------------------------------------------------ */

/* RFC 3339 text of a UTC time, or null for 0 (never). */
static json_t *time_json(int64_t ns)
{
    if (ns == 0)
        return json_null();
    char buf[SELGW_UTC_TEXT_SIZE];
    return json_string(selgw_format_utc(ns, buf));
}

static json_t *age_json(const selgw_status *st, int64_t ns)
{
    return ns == 0 ? json_null() : json_real((double)(st->now_ns - ns) / 1e9);
}

static json_t *kinds_json(const uint64_t counts[SELGW_ERR_COUNT_])
{
    json_t *o = json_object();
    for (int k = 1; o && k < SELGW_ERR_COUNT_; k++)
        if (counts[k])
            json_object_set_new(o, selgw_err_token((selgw_err)k),
                                json_integer((json_int_t)counts[k]));
    return o;
}

static json_t *health_json(const selgw_status *st, const selgw_device_health *h)
{
    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:f,s:s,s:i,s:i,s:i}", "polls", (json_int_t)h->polls,
                     "failures", kinds_json(h->failures), "last_poll", time_json(h->last_poll_ns),
                     "last_success", time_json(h->last_success_ns), "last_success_age_s",
                     age_json(st, h->last_success_ns), "response_count",
                     json_integer((json_int_t)h->latency.count), "response_seconds_sum",
                     h->latency.sum_s, "last_status",
                     h->polls ? selgw_err_token(h->last_status) : "not_polled_yet",
                     "last_exception", h->last_exception, "consecutive_failures",
                     (int)h->consecutive_failures, "backoff", (int)h->backoff);
}

static json_t *device_json(const selgw_status_device *d)
{
    return json_pack("{s:s,s:s,s:i,s:s,s:s,s:I}", "id", d->id, "bus", d->bus, "unit_id", d->unit_id,
                     "profile", d->profile, "plot", d->plot, "interval_ms",
                     (json_int_t)d->interval_ms);
}

static json_t *journal_json(const selgw_journal_stats *j)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "records",
                     (json_int_t)j->appended_records, "bytes", (json_int_t)j->appended_bytes,
                     "first_seq", (json_int_t)j->first_seq, "committed_seq",
                     (json_int_t)j->committed_seq, "backlog_bytes", (json_int_t)j->backlog_bytes,
                     "backlog_limit_bytes", (json_int_t)j->max_backlog_bytes, "fsyncs",
                     (json_int_t)j->fsync.count, "fsync_seconds_sum", j->fsync.sum_s);
}

static json_t *sink_json(const selgw_status_sink *s)
{
    return json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:s,s:o}", "name", s->name, "delivered",
        (json_int_t)s->stats.delivered, "refused", (json_int_t)s->stats.refused, "reconnects",
        (json_int_t)s->stats.reconnects, "cursor", (json_int_t)s->stats.last_seq, "backlog_records",
        (json_int_t)s->backlog_records, "last_delivery", time_json(s->stats.last_delivery_ns),
        "last_error", selgw_err_token(s->stats.last_error), "errors", kinds_json(s->stats.errors));
}

static json_t *head_json(const selgw_status *st)
{
    return json_pack("{s:s,s:s,s:o,s:o,s:I}", "gateway", st->gateway_id, "version", st->version,
                     "now", time_json(st->now_ns), "started", time_json(st->start_ns),
                     "config_generation", (json_int_t)st->config_generation);
}

static char *dump(json_t *root)
{
    /* 15 digits: 20.1 rather than 20.100000000000001 (a decoded value has far fewer) */
    char *text =
        root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
             : NULL;
    json_decref(root);
    return text;
}

char *selgw_render_status_json(const selgw_status *st)
{
    json_t *root = head_json(st);
    json_t *buses = json_array(), *devices = json_array(), *sinks = json_array();
    for (size_t i = 0; i < st->bus_count; i++) {
        const selgw_status_bus *b = &st->buses[i];
        json_array_append_new(buses, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "id", b->id, "type",
                                               b->type, "polls", (json_int_t)b->stats.polls,
                                               "failed_polls", (json_int_t)b->stats.failed_polls,
                                               "requests", (json_int_t)b->stats.requests, "retries",
                                               (json_int_t)b->stats.retries, "skipped_polls",
                                               (json_int_t)b->stats.late_polls));
    }
    for (size_t i = 0; i < st->device_count; i++) {
        json_t *d = device_json(&st->devices[i]);
        if (d)
            json_object_set_new(d, "health", health_json(st, &st->devices[i].health));
        json_array_append_new(devices, d);
    }
    for (size_t i = 0; i < st->sink_count; i++)
        json_array_append_new(sinks, sink_json(&st->sinks[i]));
    if (root) {
        json_object_set_new(root, "buses", buses);
        json_object_set_new(root, "devices", devices);
        json_object_set_new(root, "sinks", sinks);
        json_object_set_new(root, "journal", journal_json(&st->journal));
    } else {
        json_decref(buses);
        json_decref(devices);
        json_decref(sinks);
    }
    return dump(root);
}

static json_t *latest_json(const selgw_status *st, const selgw_status_device *d)
{
    json_t *o = device_json(d);
    json_t *fields = json_array();
    for (size_t i = 0; i < d->field_count; i++) {
        const selgw_reading_field *f = &d->fields[i];
        /* JSON has no NaN: a value that is not a finite number is null (its quality says
         * out_of_range). */
        bool read = f->quality != SELGW_QUALITY_READ_FAILED && isfinite(f->value);
        json_array_append_new(fields, json_pack("{s:s,s:o,s:s,s:s}", "name", f->name, "value",
                                                read ? json_real(f->value) : json_null(), "unit",
                                                f->unit ? f->unit : "", "quality",
                                                selgw_quality_name(f->quality)));
    }
    if (!o) {
        json_decref(fields);
        return NULL;
    }
    json_object_set_new(o, "time", time_json(d->health.last_poll_ns));
    json_object_set_new(o, "age_s", age_json(st, d->health.last_poll_ns));
    json_object_set_new(
        o, "status",
        json_string(d->health.polls ? selgw_err_token(d->health.last_status) : "not_polled_yet"));
    json_object_set_new(o, "fields", fields);
    json_object_set_new(o, "health", health_json(st, &d->health));
    return o;
}

selgw_err selgw_render_latest_json(const selgw_status *st, const char *device, char **out)
{
    *out = NULL;
    json_t *root;
    if (device) {
        const selgw_status_device *d = NULL;
        for (size_t i = 0; i < st->device_count && !d; i++)
            if (!strcmp(st->devices[i].id, device))
                d = &st->devices[i];
        if (!d)
            return SELGW_ERR_NOT_FOUND;
        root = latest_json(st, d);
    } else {
        root = head_json(st);
        json_t *devices = json_array();
        for (size_t i = 0; i < st->device_count; i++)
            json_array_append_new(devices, latest_json(st, &st->devices[i]));
        if (root)
            json_object_set_new(root, "devices", devices);
        else
            json_decref(devices);
    }
    *out = dump(root);
    return *out ? SELGW_OK : SELGW_ERR_NOMEM;
}

/* ---- the dashboard's API (text_writer: a series of a month is thousands of numbers) ----- */

/* Renders with fn twice: once to measure, once into a buffer of that size. */
typedef void (*text_fn)(char *buf, size_t cap, size_t *len, const void *ctx);

static char *render_text(text_fn fn, const void *ctx)
{
    size_t need = 0;
    fn(NULL, 0, &need, ctx);
    char *buf = malloc(need + 1);
    if (!buf)
        return NULL;
    size_t len = 0;
    fn(buf, need + 1, &len, ctx);
    return buf;
}

static void json_time(char *buf, size_t cap, size_t *len, int64_t ns)
{
    char text[SELGW_UTC_TEXT_SIZE];
    if (ns == 0)
        selgw_text_bytes(buf, cap, len, "null", 4);
    else
        selgw_json_string(buf, cap, len, selgw_format_utc(ns, text));
}

static void json_key(char *buf, size_t cap, size_t *len, bool first, const char *key)
{
    if (!first)
        selgw_text_char(buf, cap, len, ',');
    selgw_json_string(buf, cap, len, key);
    selgw_text_char(buf, cap, len, ':');
}

static void json_day(char *buf, size_t cap, size_t *len, int32_t day)
{
    char text[SELGW_DAY_TEXT_SIZE];
    if (day == INT32_MAX)
        selgw_text_bytes(buf, cap, len, "null", 4);
    else
        selgw_json_string(buf, cap, len, selgw_format_day(day, text));
}

/* The active alerts of one plot as a JSON array (docs/API.md). */
static void alert_entries(char *buf, size_t cap, size_t *len, const selgw_status *st,
                          const char *plot)
{
    selgw_text_char(buf, cap, len, '[');
    bool first = true;
    for (size_t i = 0; i < st->alert_count; i++) {
        const selgw_status_alert *a = &st->alerts[i];
        if (strcmp(a->plot, plot))
            continue;
        selgw_text_bytes(buf, cap, len, first ? "{" : ",{", first ? 1 : 2);
        first = false;
        const struct {
            const char *key, *value;
        } texts[] = {{"rule", a->rule},
                     {"device", a->device},
                     {"field", a->field},
                     {"unit", a->unit},
                     {"condition", a->condition}};
        for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
            json_key(buf, cap, len, k == 0, texts[k].key);
            selgw_json_string(buf, cap, len, texts[k].value ? texts[k].value : "");
        }
        json_key(buf, cap, len, false, "threshold");
        selgw_json_number(buf, cap, len, a->threshold);
        json_key(buf, cap, len, false, "value");
        selgw_json_number(buf, cap, len, a->value);
        json_key(buf, cap, len, false, "since");
        json_time(buf, cap, len, a->since_ns);
        json_key(buf, cap, len, false, "raised");
        json_time(buf, cap, len, a->raised_ns);
        selgw_text_char(buf, cap, len, '}');
    }
    selgw_text_char(buf, cap, len, ']');
}

static void latest_entries(char *buf, size_t cap, size_t *len, const selgw_status *st,
                           const char *plot, bool *first)
{
    for (size_t i = 0; i < st->device_count; i++) {
        const selgw_status_device *d = &st->devices[i];
        if (strcmp(d->plot, plot) || d->health.polls == 0)
            continue; /* no completed poll yet: nothing to show */
        for (size_t k = 0; k < d->field_count; k++) {
            const selgw_reading_field *f = &d->fields[k];
            selgw_text_bytes(buf, cap, len, *first ? "{" : ",{", *first ? 1 : 2);
            *first = false;
            json_key(buf, cap, len, true, "device");
            selgw_json_string(buf, cap, len, d->id);
            json_key(buf, cap, len, false, "field");
            selgw_json_string(buf, cap, len, f->name);
            json_key(buf, cap, len, false, "unit");
            selgw_json_string(buf, cap, len, f->unit);
            json_key(buf, cap, len, false, "value");
            selgw_json_number(buf, cap, len,
                              f->quality == SELGW_QUALITY_READ_FAILED ? NAN : f->value);
            json_key(buf, cap, len, false, "quality");
            selgw_json_string(buf, cap, len, selgw_quality_name(f->quality));
            json_key(buf, cap, len, false, "time");
            json_time(buf, cap, len, d->health.last_poll_ns);
            json_key(buf, cap, len, false, "age_s");
            selgw_json_number(buf, cap, len, (double)(st->now_ns - d->health.last_poll_ns) / 1e9);
            selgw_text_char(buf, cap, len, '}');
        }
    }
}

static void plots_text(char *buf, size_t cap, size_t *len, const void *ctx)
{
    const selgw_status *st = ctx;
    selgw_text_char(buf, cap, len, '{');
    json_key(buf, cap, len, true, "gateway");
    selgw_json_string(buf, cap, len, st->gateway_id);
    json_key(buf, cap, len, false, "now");
    json_time(buf, cap, len, st->now_ns);
    json_key(buf, cap, len, false, "utc_offset");
    char offset[SELGW_OFFSET_TEXT_SIZE];
    selgw_json_string(buf, cap, len, selgw_format_utc_offset(st->utc_offset_minutes, offset));
    json_key(buf, cap, len, false, "bases");
    selgw_text_char(buf, cap, len, '[');
    for (size_t i = 0; i < st->base_count; i++) {
        const selgw_status_base *b = &st->bases[i];
        selgw_text_bytes(buf, cap, len, i ? ",{" : "{", i ? 2 : 1);
        json_key(buf, cap, len, true, "id");
        selgw_json_string(buf, cap, len, b->id);
        json_key(buf, cap, len, false, "name");
        selgw_json_string(buf, cap, len, b->name);
        json_key(buf, cap, len, false, "county");
        selgw_json_string(buf, cap, len, b->county);
        json_key(buf, cap, len, false, "township");
        selgw_json_string(buf, cap, len, b->township);
        selgw_text_char(buf, cap, len, '}');
    }
    selgw_text_char(buf, cap, len, ']');
    json_key(buf, cap, len, false, "plots");
    selgw_text_char(buf, cap, len, '[');
    int32_t today = selgw_local_day(st->now_ns, st->utc_offset_minutes);
    for (size_t i = 0; i < st->plot_count; i++) {
        const selgw_status_plot *p = &st->plots[i];
        selgw_text_bytes(buf, cap, len, i ? ",{" : "{", i ? 2 : 1);
        json_key(buf, cap, len, true, "id");
        selgw_json_string(buf, cap, len, p->id);
        json_key(buf, cap, len, false, "base");
        selgw_json_string(buf, cap, len, p->base);
        json_key(buf, cap, len, false, "crop");
        selgw_json_string(buf, cap, len, p->crop);
        json_key(buf, cap, len, false, "area_mu");
        selgw_json_number(buf, cap, len, p->area_mu > 0 ? p->area_mu : NAN);
        json_key(buf, cap, len, false, "households");
        selgw_text_char(buf, cap, len, '[');
        for (size_t k = 0; k < p->household_count; k++) {
            const selgw_status_household *h = &p->households[k];
            selgw_text_bytes(buf, cap, len, k ? ",{" : "{", k ? 2 : 1);
            json_key(buf, cap, len, true, "household");
            selgw_json_string(buf, cap, len, h->household);
            json_key(buf, cap, len, false, "contract");
            selgw_json_string(buf, cap, len, h->contract);
            json_key(buf, cap, len, false, "from");
            json_day(buf, cap, len, h->from_day);
            json_key(buf, cap, len, false, "to");
            json_day(buf, cap, len, h->to_day);
            json_key(buf, cap, len, false, "active");
            bool active = h->from_day <= today && today <= h->to_day;
            selgw_text_format(buf, cap, len, "%s", active ? "true" : "false");
            selgw_text_char(buf, cap, len, '}');
        }
        selgw_text_char(buf, cap, len, ']');
        json_key(buf, cap, len, false, "devices");
        selgw_text_char(buf, cap, len, '[');
        bool first = true;
        for (size_t d = 0; d < st->device_count; d++) {
            if (strcmp(st->devices[d].plot, p->id))
                continue;
            if (!first)
                selgw_text_char(buf, cap, len, ',');
            first = false;
            selgw_json_string(buf, cap, len, st->devices[d].id);
        }
        selgw_text_char(buf, cap, len, ']');
        json_key(buf, cap, len, false, "latest");
        selgw_text_char(buf, cap, len, '[');
        first = true;
        latest_entries(buf, cap, len, st, p->id, &first);
        selgw_text_char(buf, cap, len, ']');
        json_key(buf, cap, len, false, "alerts");
        alert_entries(buf, cap, len, st, p->id);
        selgw_text_char(buf, cap, len, '}');
    }
    selgw_text_bytes(buf, cap, len, "]}\n", 3);
}

char *selgw_render_plots_json(const selgw_status *st)
{
    return render_text(plots_text, st);
}

static void history_text(char *buf, size_t cap, size_t *len, const void *ctx)
{
    const selgw_history *h = ctx;
    selgw_text_char(buf, cap, len, '{');
    json_key(buf, cap, len, true, "plot");
    selgw_json_string(buf, cap, len, h->plot);
    json_key(buf, cap, len, false, "from");
    json_time(buf, cap, len, h->from_ns);
    json_key(buf, cap, len, false, "to");
    json_time(buf, cap, len, h->to_ns);
    json_key(buf, cap, len, false, "step_s");
    selgw_text_format(buf, cap, len, "%lld", (long long)(h->step_ns / SELGW_NS_PER_S));
    json_key(buf, cap, len, false, "series");
    selgw_text_char(buf, cap, len, '[');
    for (size_t i = 0; i < h->series_count; i++) {
        const selgw_history_series *s = &h->series[i];
        selgw_text_bytes(buf, cap, len, i ? ",\n{" : "\n{", i ? 3 : 2);
        json_key(buf, cap, len, true, "device");
        selgw_json_string(buf, cap, len, s->device);
        json_key(buf, cap, len, false, "field");
        selgw_json_string(buf, cap, len, s->field);
        json_key(buf, cap, len, false, "unit");
        selgw_json_string(buf, cap, len, s->unit);
        json_key(buf, cap, len, false, "points");
        selgw_text_char(buf, cap, len, '[');
        for (size_t k = 0; k < s->point_count; k++) {
            /* milliseconds, floored: a chart's x axis */
            int64_t t = s->points[k].time_ns;
            int64_t ms =
                t >= 0 ? t / SELGW_NS_PER_MS : -((-t + SELGW_NS_PER_MS - 1) / SELGW_NS_PER_MS);
            selgw_text_format(buf, cap, len, k ? ",[%lld," : "[%lld,", (long long)ms);
            selgw_json_number(buf, cap, len, s->points[k].value);
            selgw_text_char(buf, cap, len, ']');
        }
        selgw_text_bytes(buf, cap, len, "]}", 2);
    }
    selgw_text_bytes(buf, cap, len, "]}\n", 3);
}

char *selgw_render_history_json(const selgw_history *h)
{
    return render_text(history_text, h);
}

static void notes_list(char *buf, size_t cap, size_t *len, const selgw_history_note *notes,
                       size_t count, bool with_type)
{
    selgw_text_char(buf, cap, len, '[');
    for (size_t i = 0; i < count; i++) {
        const selgw_history_note *n = &notes[i];
        selgw_text_bytes(buf, cap, len, i ? ",{" : "{", i ? 2 : 1);
        json_key(buf, cap, len, true, "time");
        json_time(buf, cap, len, n->time_ns);
        if (with_type) {
            json_key(buf, cap, len, false, "type");
            selgw_json_string(buf, cap, len, n->type);
        }
        json_key(buf, cap, len, false, "text");
        selgw_json_string_n(buf, cap, len, n->text, n->text_len);
        if (!with_type) {
            json_key(buf, cap, len, false, "ref");
            selgw_json_string_n(buf, cap, len, n->ref, n->ref_len);
        }
        selgw_text_char(buf, cap, len, '}');
    }
    selgw_text_char(buf, cap, len, ']');
}

static void notes_text(char *buf, size_t cap, size_t *len, const void *ctx)
{
    const selgw_notes *n = ctx;
    selgw_text_char(buf, cap, len, '{');
    json_key(buf, cap, len, true, "plot");
    selgw_json_string(buf, cap, len, n->plot);
    json_key(buf, cap, len, false, "from");
    json_time(buf, cap, len, n->from_ns);
    json_key(buf, cap, len, false, "to");
    json_time(buf, cap, len, n->to_ns);
    json_key(buf, cap, len, false, "annotations");
    notes_list(buf, cap, len, n->annotations, n->annotation_count, false);
    json_key(buf, cap, len, false, "events");
    notes_list(buf, cap, len, n->events, n->event_count, true);
    selgw_text_bytes(buf, cap, len, "}\n", 2);
}

char *selgw_render_notes_json(const selgw_notes *n)
{
    return render_text(notes_text, n);
}

/* ---- the period of a history request ------------------------------------------------------ */

/* The longest from/to a history or notes request may span: the longest period the dashboard
 * offers (30d) and a day of slack for a calendar month. The answer is built on the server's
 * one thread from every journal segment the period overlaps, so the span bounds what one
 * request costs (a year would be a season of readings read and bucketed while /metrics
 * waits); longer views are Grafana's (from InfluxDB) or `selgw export`'s. */
#define MAX_PERIOD_DAYS 31
#define MAX_PERIOD_NS ((int64_t)MAX_PERIOD_DAYS * 86400 * SELGW_NS_PER_S)

static int64_t choose_step(int64_t span_ns, size_t max_points)
{
    static const int64_t steps_s[] = {1,   5,    10,   30,   60,    120,   300,   600,
                                      900, 1800, 3600, 7200, 10800, 21600, 43200, 86400};
    int64_t need = (span_ns + (int64_t)max_points - 1) / (int64_t)max_points;
    for (size_t i = 0; i < sizeof steps_s / sizeof steps_s[0]; i++)
        if (steps_s[i] * SELGW_NS_PER_S >= need)
            return steps_s[i] * SELGW_NS_PER_S;
    int64_t day = 86400 * SELGW_NS_PER_S;
    return (need + day - 1) / day * day;
}

selgw_err selgw_history_period(const char *period, const char *from, const char *to,
                               const char *default_period, int64_t now_ns, selgw_history_query *q,
                               char *why, size_t why_cap)
{
    static const struct {
        const char *name;
        int64_t seconds;
    } periods[] = {{"24h", 86400}, {"7d", 7 * 86400}, {"30d", 30 * 86400}};
    q->max_points = SELGW_HISTORY_MAX_POINTS;
    if (period && (from || to)) {
        selgw_explain(why, why_cap, "give period or from/to, not both");
        return SELGW_ERR_INVALID;
    }
    if (from || to) {
        if (!from) {
            selgw_explain(why, why_cap, "to needs from");
            return SELGW_ERR_INVALID;
        }
        if (!selgw_parse_time_arg(from, 0, &q->from_ns)) {
            selgw_explain(why, why_cap, "from is not an RFC 3339 time");
            return SELGW_ERR_INVALID;
        }
        q->to_ns = now_ns;
        if (to && !selgw_parse_time_arg(to, 0, &q->to_ns)) {
            selgw_explain(why, why_cap, "to is not an RFC 3339 time");
            return SELGW_ERR_INVALID;
        }
        if (q->to_ns < q->from_ns) {
            selgw_explain(why, why_cap, "from is after to");
            return SELGW_ERR_INVALID;
        }
        if (q->to_ns - q->from_ns > MAX_PERIOD_NS) {
            selgw_explain(why, why_cap,
                          "from and to at most %d days apart (for longer periods: Grafana or "
                          "selgw export)",
                          MAX_PERIOD_DAYS);
            return SELGW_ERR_INVALID;
        }
    } else {
        const char *name = period ? period : default_period;
        size_t i = 0;
        while (i < sizeof periods / sizeof periods[0] && strcmp(periods[i].name, name))
            i++;
        if (i == sizeof periods / sizeof periods[0]) {
            selgw_explain(why, why_cap, "period is one of 24h, 7d, 30d");
            return SELGW_ERR_INVALID;
        }
        q->to_ns = now_ns;
        q->from_ns = now_ns - periods[i].seconds * SELGW_NS_PER_S;
    }
    q->step_ns = choose_step(q->to_ns - q->from_ns, q->max_points);
    return SELGW_OK;
}
