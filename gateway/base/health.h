/* selgw: the counters a running gateway keeps about itself, as plain data.
 *
 * Each part counts where its events happen, under the lock it already holds (a poller per
 * device, a sink, the journal), into these structs; the HTTP API (gateway/http) reads
 * copies of them and never sees the parts themselves. Nothing here allocates: a poll adds
 * to fixed arrays. */
#ifndef SELGW_HEALTH_H
#define SELGW_HEALTH_H

#include <stdint.h>

#include "base/error.h"

/* A latency histogram with fixed bucket bounds in seconds (1 ms .. 2.5 s, the range of a
 * Modbus answer and of an fdatasync); counts are per bucket, not cumulative, the last one
 * being everything above the largest bound. */
#define SELGW_HISTOGRAM_BOUNDS 11
extern const double selgw_histogram_bounds_s[SELGW_HISTOGRAM_BOUNDS];

typedef struct selgw_histogram {
    uint64_t buckets[SELGW_HISTOGRAM_BOUNDS + 1];
    uint64_t count;
    double sum_s;
} selgw_histogram;

void selgw_histogram_add(selgw_histogram *h, int64_t ns);

/* How late polls began against their plan: the same kind of histogram with bounds from
 * 1 ms to 10 s (a bus that is behind runs seconds late before it skips polls). */
#define SELGW_LATENESS_BOUNDS 13
extern const double selgw_lateness_bounds_s[SELGW_LATENESS_BOUNDS];

typedef struct selgw_lateness {
    uint64_t buckets[SELGW_LATENESS_BOUNDS + 1];
    uint64_t count;
    double sum_s;
} selgw_lateness;

void selgw_lateness_add(selgw_lateness *h, int64_t ns);
void selgw_lateness_merge(selgw_lateness *into, const selgw_lateness *from);

/* The q-quantile (0..1) of what a histogram counted, estimated as Prometheus's
 * histogram_quantile does: linearly within the bucket that holds rank q x count (the first
 * bucket from 0); in the last, unbounded bucket, its lower bound. NAN when it is empty.
 * bounds has bound_count entries, buckets one more. */
double selgw_buckets_quantile(const double *bounds, int bound_count, const uint64_t *buckets,
                              double q);

/* One bus's poller. */
typedef struct selgw_poller_stats {
    uint64_t polls;          /* completed polls */
    uint64_t failed_polls;   /* of which some field could not be read */
    uint64_t requests;       /* Modbus requests sent (including retries) */
    uint64_t retries;        /* attempts after the first */
    uint64_t late_polls;     /* polls skipped because the bus could not keep up */
    selgw_lateness lateness; /* first attempt of each regular poll minus when it was due */
} selgw_poller_stats;

/* One device, as its poller saw it since the poller was made (a reload makes new ones). */
typedef struct selgw_device_health {
    uint64_t polls;                      /* completed polls */
    uint64_t failures[SELGW_ERR_COUNT_]; /* failed polls by what failed (timeout, ...) */
    selgw_histogram latency;             /* request to answer, of every answered request */
    int64_t last_poll_ns;                /* UTC start of the last completed poll; 0: none */
    int64_t last_success_ns;             /* UTC start of the last poll that read everything */
    selgw_err last_status;
    int last_exception; /* the Modbus exception code when last_status is an exception */
    unsigned consecutive_failures;
    unsigned backoff; /* interval multiplier now (1: none) */
} selgw_device_health;

/* One sink. */
typedef struct selgw_sink_stats {
    uint64_t delivered;       /* records acknowledged by the server */
    uint64_t last_seq;        /* the sink's cursor */
    uint64_t refused;         /* records the server refused (MQTT 5 reason >= 0x80; dead letters) */
    uint64_t reconnects;      /* connections (re)established, or requests retried */
    selgw_err last_error;     /* SELGW_OK while delivering normally */
    int64_t last_delivery_ns; /* UTC of the last acknowledgement; 0: none yet */
    uint64_t errors[SELGW_ERR_COUNT_]; /* failed connections, sends and refusals by kind */
} selgw_sink_stats;

/* The journal since it was opened. */
typedef struct selgw_journal_stats {
    uint64_t appended_records, appended_bytes; /* payload bytes taken by append */
    uint64_t first_seq, committed_seq;         /* 0 and 0 when empty */
    uint64_t backlog_bytes;                    /* committed and not yet delivered by every sink */
    uint64_t max_backlog_bytes;  /* the disk budget for it (journal.max_backlog); 0: none */
    selgw_histogram fsync;       /* fdatasync of the segment written to */
    uint64_t commits;            /* group commits: records made durable (and readable) at once */
    uint64_t commit_records_max; /* the most records one commit made durable */
} selgw_journal_stats;

#endif
