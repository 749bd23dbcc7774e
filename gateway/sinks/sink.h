/* selgw: every sink (MQTT, InfluxDB, ...) behind one small const ops table, and the set of
 * sinks a config enables.
 *
 * The gateway drives sinks only through selgw_sinks and never names one: a sink reads the
 * journal from its own cursor on its own thread and reports what it delivered. Adding a
 * sink is one file that defines its selgw_sink_ops, and one line in the table of kinds
 * (sinks.c). */
#ifndef SELGW_SINK_H
#define SELGW_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "base/error.h"
#include "base/health.h" /* selgw_sink_stats */
#include "journal/journal.h"

/* What a sink received from its server for the gateway to journal (the uplink: a witness
 * statement, docs/ARCHIVE.md). Called on the sink's thread with the message's payload;
 * returns only once the gateway has journaled it or decided not to. */
typedef void (*selgw_sink_inbound_fn)(void *ctx, const uint8_t *payload, size_t len);

typedef struct selgw_sink_ops {
    /* Its cursor in the journal (the cursor file is named after it) and its name in logs:
     * "mqtt", "influxdb". Never changes: a new name would start over from the beginning. */
    const char *name;
    /* What its totals at stop call the records the server refused ("refused",
     * "dead-lettered"). */
    const char *refused_what;
    /* Whether the config enables it (its section is present). */
    bool (*configured)(const selgw_config *cfg);
    /* The sink for a config, on the journal (opened with its cursor): checked and set up,
     * no thread yet. Logs what is wrong with its settings. */
    selgw_err (*create)(const selgw_config *cfg, selgw_journal *journal, void **state);
    /* Its own thread from its cursor on; SELGW_ERR_INVALID while it runs already. */
    selgw_err (*start)(void *state);
    /* Waits for the thread; the cursor is persisted. Nothing when it does not run. */
    void (*stop)(void *state);
    void (*stats)(void *state, selgw_sink_stats *out);
    void (*destroy)(void *state); /* stops first */
    /* Where it hands what it receives (before start). Optional: NULL for a sink that
     * receives nothing. */
    void (*set_inbound)(void *state, selgw_sink_inbound_fn fn, void *ctx);
} selgw_sink_ops;

/* A sink's start, stop, stats and destroy ops as trampolines to its typed functions
 * TYPE_start, TYPE_stop, TYPE_stats and TYPE_free (which take a TYPE *), so that each sink
 * file writes only its configured and create ops and the table. */
#define SELGW_SINK_TRAMPOLINES(TYPE)                                                               \
    static selgw_err ops_start(void *state)                                                        \
    {                                                                                              \
        return TYPE##_start((TYPE *)state);                                                        \
    }                                                                                              \
    static void ops_stop(void *state)                                                              \
    {                                                                                              \
        TYPE##_stop((TYPE *)state);                                                                \
    }                                                                                              \
    static void ops_stats(void *state, selgw_sink_stats *out)                                      \
    {                                                                                              \
        TYPE##_stats((TYPE *)state, out);                                                          \
    }                                                                                              \
    static void ops_destroy(void *state)                                                           \
    {                                                                                              \
        TYPE##_free((TYPE *)state);                                                                \
    }

extern const selgw_sink_ops selgw_mqtt_sink_ops;
extern const selgw_sink_ops selgw_influx_sink_ops;
extern const selgw_sink_ops selgw_webhook_sink_ops;
extern const selgw_sink_ops selgw_uplink_sink_ops;

/* Every kind of sink, in the order they start; NULL-terminated. At most
 * SELGW_SINK_KINDS_MAX. */
#define SELGW_SINK_KINDS_MAX 8
extern const selgw_sink_ops *const selgw_sink_kinds[];

/* The cursor names of the sinks cfg enables, for selgw_journal_open: into names (room for
 * SELGW_SINK_KINDS_MAX), returns how many. */
size_t selgw_sink_names(const selgw_config *cfg, const char *names[SELGW_SINK_KINDS_MAX]);
/* Whether a and b enable the same sinks (a reload cannot change the journal's cursors). */
bool selgw_sinks_same_kinds(const selgw_config *a, const selgw_config *b);

/* The sinks a config enables, as one. */
typedef struct selgw_sinks selgw_sinks;

/* Creates every sink cfg enables (none: an empty set). On a failure logs "cannot set up
 * the sinks" and frees what was made. */
selgw_err selgw_sinks_new(const selgw_config *cfg, selgw_journal *journal, selgw_sinks **out);
/* Gives every sink that receives something (the uplink) its inbound handler; before
 * selgw_sinks_start. */
void selgw_sinks_set_inbound(selgw_sinks *set, selgw_sink_inbound_fn fn, void *ctx);
/* Starts them in order; the first failure ends it and is returned. */
selgw_err selgw_sinks_start(selgw_sinks *set);
void selgw_sinks_stop(selgw_sinks *set); /* each persists its cursor; NULL is fine */
void selgw_sinks_free(selgw_sinks *set); /* stops first; NULL is fine */
/* Logs each sink's delivered and refused records and its cursor. */
void selgw_sinks_log_totals(selgw_sinks *set);
/* How many sinks the set holds (NULL: none), and sink i's stats; returns its name. */
size_t selgw_sinks_count(const selgw_sinks *set);
const char *selgw_sinks_get_stats(selgw_sinks *set, size_t i, selgw_sink_stats *out);

#endif
