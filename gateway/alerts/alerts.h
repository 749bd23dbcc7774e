/* selgw: the alert engine (docs/ALERTS.md).
 *
 * Fed every completed poll (a reading: device, plot, crop, fields with their quality,
 * time), it keeps one state per (rule, device) and reports each transition, raised or
 * cleared, with the value that decided it, the threshold and since when. It does no I/O
 * and takes no lock: the gateway calls it under its own lock, journals each transition as
 * an ALERT record in the plot's chain and logs it.
 *
 * - below/above: raised once the value has been past the threshold for `for` (a shorter
 *   dip raises nothing); cleared once it has been past the clearing threshold (the other
 *   side of the hysteresis) for `clear_for`. Values between the two thresholds keep the
 *   state and restart the wait. Failed and out-of-range readings neither raise nor clear,
 *   nor restart a wait.
 * - stale: raised after `stale_after` polls in a row without a valid reading of the field
 *   (or, without a field, of any field of the device); cleared by the first valid one.
 * - stuck: raised when a field (the rule's, or any) has had the same value, bit for bit,
 *   for `stuck_for`; cleared by the first different value of that field.
 *
 * State outlives a restart (selgw_alert_engine_restore from the journaled ALERT records,
 * then selgw_alert_engine_settle) and a reload (selgw_alert_engine_reconfigure). */
#ifndef SELGW_ALERTS_H
#define SELGW_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/reading.h"
#include "config.h"
#include "journal/record.h"

typedef struct selgw_alert_engine selgw_alert_engine;

/* A transition, or an active alert. Strings belong to the engine: valid during the
 * callback only. */
typedef struct selgw_alert_event {
    const char *rule;
    const char *base, *plot, *crop, *device;
    const char *field, *unit; /* "" for a stale rule without a field: the device itself */
    selgw_alert_state state;
    selgw_alert_condition condition;
    double value;      /* the reading that decided it; NaN when none did (stale, or why) */
    double threshold;  /* raised: the raising one; cleared: the clearing one; NaN for
                        * stale, stuck, and a clear that no reading decided */
    int64_t since_ns;  /* raised: when the condition began; cleared: when it was raised */
    int64_t time_ns;   /* the reading that decided it; 0 when none did */
    int64_t raised_ns; /* an active alert: when it was raised */
    const char *why;   /* a clear no reading decided: why (a rule removed...); else NULL */
} selgw_alert_event;

typedef void (*selgw_alert_fn)(void *ctx, const selgw_alert_event *event);

/* An engine for the config's alert rules (copied: the config may go). */
selgw_err selgw_alert_engine_new(const selgw_config *cfg, selgw_alert_engine **out);
void selgw_alert_engine_free(selgw_alert_engine *e); /* NULL is fine */

/* One completed poll of a device: fn is called for every transition, in rule order. Out of
 * memory, a rule skips this reading (SELGW_ERR_NOMEM). */
selgw_err selgw_alert_engine_feed(selgw_alert_engine *e, const selgw_reading *reading,
                                  selgw_alert_fn fn, void *ctx);

/* At start, before any reading: a journaled ALERT record, in journal order, so that an
 * alert active before the restart is neither raised again nor forgotten. Other records
 * are ignored. */
selgw_err selgw_alert_engine_restore(selgw_alert_engine *e, const selgw_record *alert);

/* After restoring: clears (through fn, with `why`) the restored alerts that no rule of
 * today's config would still hold: its rule is gone or its condition changed, its plot left
 * the rule's scope, or its device is no longer on that plot. */
selgw_err selgw_alert_engine_settle(selgw_alert_engine *e, const selgw_config *cfg,
                                    selgw_alert_fn fn, void *ctx);

/* A reload: the rules become cfg's. A rule whose id and condition (kind, field,
 * thresholds, durations, counts) are unchanged keeps its state; the active alerts of
 * removed or changed rules, of plots out of a rule's scope and of devices gone are cleared
 * through fn, with `why`. On failure (out of memory) the engine keeps its old rules. */
selgw_err selgw_alert_engine_reconfigure(selgw_alert_engine *e, const selgw_config *cfg,
                                         selgw_alert_fn fn, void *ctx);

/* The active alerts, in no particular order: fn is called for each (state RAISED). */
size_t selgw_alert_engine_active_count(const selgw_alert_engine *e);
void selgw_alert_engine_each_active(const selgw_alert_engine *e, selgw_alert_fn fn, void *ctx);

#endif
