/* selgw: a status snapshot as the HTTP API's bodies: Prometheus metrics and JSON.
 *
 * Pure functions of the snapshot (its now_ns is the only time they use), so that a test
 * checks their output without a running gateway. Every metric is described in
 * docs/METRICS.md, every JSON member in docs/API.md. */
#ifndef SELGW_RENDER_H
#define SELGW_RENDER_H

#include <stddef.h>

#include "base/error.h"
#include "http/history.h"
#include "http/status.h"

/* The text for /metrics (malloc'd; *len its length), or NULL when out of memory. */
char *selgw_render_metrics(const selgw_status *st, size_t *len);

/* /api/v1/status: gateway, buses, devices' health, sinks, journal. Malloc'd JSON, or NULL
 * when out of memory. */
char *selgw_render_status_json(const selgw_status *st);

/* /api/v1/latest (device NULL: every device, in config order) and /api/v1/latest/<device>:
 * each device's last reading (fields with unit and quality) and health. SELGW_ERR_NOT_FOUND
 * when there is no such device, SELGW_ERR_NOMEM. */
selgw_err selgw_render_latest_json(const selgw_status *st, const char *device, char **out);

/* The dashboard's API (docs/API.md). Malloc'd JSON, or NULL when out of memory. */

/* /api/v1/plots: bases, and each plot with its households (active on the snapshot's local
 * day), devices, the latest value of each (device, field) with quality and age, alerts. */
char *selgw_render_plots_json(const selgw_status *st);

/* /api/v1/plots/PLOT/history: series with points [ms since the epoch, value or null]. */
char *selgw_render_history_json(const selgw_history *h);

/* /api/v1/plots/PLOT/notes: annotations and events. */
char *selgw_render_notes_json(const selgw_notes *n);

/* The period of a history or notes request from its query arguments (each NULL when
 * absent): period=24h|7d|30d (default_period when none), or from= and to= (RFC 3339, both
 * or from alone: up to now). Sets q->from_ns, to_ns, step_ns (the smallest of 1 s, 5 s, 10
 * s, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, then whole days, that keeps the
 * period within max_points buckets) and max_points. SELGW_ERR_INVALID with why otherwise
 * (from and to more than 31 days apart too: each request reads the journal). */
selgw_err selgw_history_period(const char *period, const char *from, const char *to,
                               const char *default_period, int64_t now_ns, selgw_history_query *q,
                               char *why, size_t why_cap);

#endif
