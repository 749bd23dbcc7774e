/* selgw: the running gateway, what `selgw run` drives.
 *
 * Owns the config, the journal, the sinks and one poller per bus. A poll's reading is
 * encoded as a record and appended to the journal; the sinks deliver what the journal has
 * committed. Nothing reaches a sink before it is durable in the journal, and nothing leaves
 * the journal before every sink has delivered it. */
#ifndef SELGW_GATEWAY_H
#define SELGW_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "base/error.h"

typedef struct selgw_gateway selgw_gateway;

typedef struct selgw_gateway_options {
    bool print_readings; /* every journaled reading as a JSON line (with its seq) on stdout */
    bool start_sinks;    /* false for --once: records wait in the journal for the next run */
    bool serve_http;     /* the HTTP API (config section http) while running */
    /* Called (from a poller's thread) when the journal fails for good, so that the owner
     * can stop the gateway; may be NULL. */
    void (*on_failure)(void *ctx);
    void *on_failure_ctx;
} selgw_gateway_options;

/* Takes ownership of cfg (also on failure). Opens and recovers the journal (a corrupt
 * journal is SELGW_ERR_CORRUPT, with the place logged), creates sinks and pollers. */
selgw_err selgw_gateway_new(selgw_config *cfg, const selgw_gateway_options *opt,
                            selgw_gateway **out);

/* Records the start in the journal, starts the sinks and the pollers' threads. */
selgw_err selgw_gateway_start(selgw_gateway *g);

/* Asks for a seal now (`selgw export` sends the gateway SIGUSR1; main's handler only sets
 * a flag, its loop calls this): the sealer seals at its next round, at once, with the
 * usual covers_until. Nothing when signing is off. Any thread. Once started, the gateway
 * announces its pid in the journal's lock file so that export knows whom to ask. */
void selgw_gateway_request_seal(selgw_gateway *g);

/* Devices of the running config. */
size_t selgw_gateway_device_count(const selgw_gateway *g);

/* Polls every device once in the caller's thread and waits until the readings are
 * committed. Returns how many devices did not answer completely. */
size_t selgw_gateway_poll_once(selgw_gateway *g);

/* Replaces the config: new pollers and sinks on the same journal. The journal section and
 * the set of enabled sinks cannot change without a restart: then SELGW_ERR_INVALID and the
 * running config stays. Takes ownership of cfg (also on failure). */
selgw_err selgw_gateway_reload(selgw_gateway *g, selgw_config *cfg);

/* Stops the pollers, records the stop in the journal, commits, stops the sinks (each
 * persists its cursor). */
void selgw_gateway_stop(selgw_gateway *g, const char *why);

/* True once the journal has failed (a write or fsync error it cannot recover from). */
bool selgw_gateway_failed(selgw_gateway *g);

/* A thread that has not come back to its wait for this long is stuck: no transaction, write
 * or fdatasync takes that long (a bus's timeouts are at most 30 s). */
#define SELGW_GATEWAY_STALL_NS (INT64_C(120) * 1000000000)

/* Whether the gateway still does its work: the journal has not failed, and its writer, the
 * pollers and the sealer each came back to their waits within stall_ns (the service passes
 * SELGW_GATEWAY_STALL_NS; an idle writer goes round once a second, so no less than 2 s). If
 * not, false and why. It takes the gateway's and the journal's locks, so a deadlock on one
 * of them blocks the caller too: the service watchdog's ping, which follows, never comes. */
bool selgw_gateway_healthy(selgw_gateway *g, int64_t stall_ns, char *why, size_t why_cap);

/* Logs what was polled, journaled and delivered. */
void selgw_gateway_log_totals(selgw_gateway *g);

void selgw_gateway_free(selgw_gateway *g); /* stops first if running; NULL is fine */


#endif
