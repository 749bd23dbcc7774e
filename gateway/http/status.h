/* selgw: what the HTTP API shows, as one snapshot of plain data.
 *
 * The server never sees the pipeline: the gateway hands it a status source, a callback
 * that builds a snapshot under the gateway's own locks (its strings point into the running
 * config), lets the server encode it, and frees it. So the server can only read, and a
 * reload cannot free a string the server is reading. */
#ifndef SELGW_STATUS_H
#define SELGW_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/health.h"
#include "base/reading.h"

typedef struct selgw_status_bus {
    const char *id;
    const char *type; /* "rtu" or "tcp" */
    selgw_poller_stats stats;
} selgw_status_bus;

typedef struct selgw_status_device {
    const char *id, *bus, *profile, *plot;
    int unit_id;
    int64_t interval_ms;
    selgw_device_health health;
    size_t field_count;
    const selgw_reading_field *fields; /* of the last completed poll */
} selgw_status_device;

typedef struct selgw_status_sink {
    const char *name; /* "mqtt", "influxdb" */
    selgw_sink_stats stats;
    uint64_t backlog_records; /* the journal's committed head minus the sink's cursor */
} selgw_status_sink;

/* The dashboard's view of the farm: bases, plots and their households' contracts. */
typedef struct selgw_status_base {
    const char *id, *name, *county, *township;
} selgw_status_base;

typedef struct selgw_status_household {
    const char *household, *contract;
    int32_t from_day, to_day; /* local days since 1970-01-01; to_day INT32_MAX: open-ended */
} selgw_status_household;

typedef struct selgw_status_plot {
    const char *id, *base, *crop;
    double area_mu; /* 0: not given */
    size_t household_count;
    const selgw_status_household *households;
} selgw_status_plot;
/* An active alert (docs/ALERTS.md). */
typedef struct selgw_status_alert {
    const char *rule, *base, *plot, *crop, *device;
    const char *field, *unit; /* "" for a stale rule on the device as a whole */
    const char *condition;    /* "below", "above", "stale", "stuck" */
    double value;             /* the reading that raised it; NaN when none (stale) */
    double threshold;         /* the raising threshold; NaN for stale and stuck */
    int64_t since_ns;         /* UTC: when the condition began */
    int64_t raised_ns;        /* UTC: when it was raised (the reading's time) */
} selgw_status_alert;

typedef struct selgw_status {
    const char *gateway_id;
    const char *version;
    int64_t now_ns;             /* UTC, when the snapshot was taken */
    int64_t start_ns;           /* UTC, when the gateway started */
    uint64_t config_generation; /* 1 at start, +1 at every reload that was taken */
    size_t bus_count;
    const selgw_status_bus *buses;
    size_t device_count;
    const selgw_status_device *devices;
    size_t sink_count;
    const selgw_status_sink *sinks;
    selgw_journal_stats journal;
    int utc_offset_minutes; /* the gateway's local time (contract dates) */
    size_t base_count;
    const selgw_status_base *bases;
    size_t plot_count;
    const selgw_status_plot *plots; /* a device names its plot by id */
    size_t alert_count;
    const selgw_status_alert *alerts; /* the active alerts */
} selgw_status;

/* What the server does with a snapshot (encodes it); called by the source. */
typedef void (*selgw_status_visit_fn)(void *visit_ctx, const selgw_status *status);
/* The source: builds a snapshot, calls visit with it, frees it. Returns false when it
 * could not (out of memory, or the gateway is stopping): then visit is not called. */
typedef bool (*selgw_status_source_fn)(void *source_ctx, selgw_status_visit_fn visit,
                                       void *visit_ctx);

#endif
