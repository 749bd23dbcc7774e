/* selgw: what the dashboard's history and notes answers hold, as plain data.
 *
 * History comes from the journal, which the HTTP layer never sees: as with the status
 * snapshot (http/status.h), the gateway hands the server a history source, callbacks that
 * answer a query by reading the journal, let the server encode the answer (visit) and free
 * it. The server chooses the period and the bucket width; the source reads, filters and
 * buckets. */
#ifndef SELGW_HISTORY_H
#define SELGW_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Most readings a series may have in the period to be given as they are: more than this and
 * they are averaged into buckets. */
#define SELGW_HISTORY_MAX_POINTS 720

/* A device's poll interval in the running config: a pause in its readings is judged against
 * it. */
typedef struct selgw_history_interval {
    const char *device;
    int64_t interval_ns;
} selgw_history_interval;

typedef struct selgw_history_query {
    const char *plot;
    int64_t from_ns, to_ns; /* UTC, inclusive */
    int64_t step_ns;        /* bucket width when the readings are more than max_points */
    size_t max_points;
    /* The poll intervals of the running config's devices, filled in by the source (the
     * server leaves them out); a device not among them is judged by its readings alone. */
    size_t interval_count;
    const selgw_history_interval *intervals;
} selgw_history_query;

typedef struct selgw_history_point {
    int64_t time_ns; /* a reading's time, or the start of a bucket */
    double value;    /* NaN: no good value (a failed poll, a bucket without one, a gap) */
} selgw_history_point;

typedef struct selgw_history_series {
    const char *device, *field, *unit;
    size_t point_count;
    const selgw_history_point *points;
} selgw_history_series;

/* How the query went: for the tests and the benchmark (not in the JSON). */
typedef struct selgw_history_scan {
    size_t segments, segments_read; /* in the journal; opened because their times overlap */
    uint64_t records_read;          /* records read in them */
} selgw_history_scan;

typedef struct selgw_history {
    const char *plot;
    int64_t from_ns, to_ns;
    int64_t step_ns; /* 0: every point is a reading (raw); else buckets of this width */
    size_t series_count;
    const selgw_history_series *series;
    selgw_history_scan scan;
} selgw_history;

typedef struct selgw_history_note {
    int64_t time_ns;
    const char *type; /* "annotation", "tags", "alert" (text: the record's JSON) */
    const char *text, *ref;
    size_t text_len, ref_len; /* text and ref are not NUL-terminated */
} selgw_history_note;

typedef struct selgw_notes {
    const char *plot;
    int64_t from_ns, to_ns;
    size_t annotation_count;
    const selgw_history_note *annotations; /* lab results and notes */
    size_t event_count;
    const selgw_history_note *events; /* tag changes and alerts raised or cleared */
} selgw_notes;

typedef void (*selgw_history_visit_fn)(void *visit_ctx, const selgw_history *history);
typedef void (*selgw_notes_visit_fn)(void *visit_ctx, const selgw_notes *notes);

/* The source. Each call answers one query: calls visit with the answer, frees it, and
 * returns SELGW_OK; SELGW_ERR_NOT_FOUND for a plot the running config does not have,
 * SELGW_ERR_NOMEM, SELGW_ERR_IO or SELGW_ERR_CORRUPT when the journal could not be read
 * (visit not called). */
typedef struct selgw_history_source {
    selgw_err (*history)(void *ctx, const selgw_history_query *q, selgw_history_visit_fn visit,
                         void *visit_ctx);
    selgw_err (*notes)(void *ctx, const selgw_history_query *q, selgw_notes_visit_fn visit,
                       void *visit_ctx);
    void *ctx;
} selgw_history_source;

#endif
