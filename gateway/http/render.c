#include "http/render.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
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
    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:s,s:i,s:i,s:i}", "polls", (json_int_t)h->polls,
                     "failures", kinds_json(h->failures), "last_poll", time_json(h->last_poll_ns),
                     "last_success", time_json(h->last_success_ns), "last_success_age_s",
                     age_json(st, h->last_success_ns), "response_count",
                     json_integer((json_int_t)h->latency.count), "last_status",
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
