/* selgw: a status snapshot as the HTTP API's bodies: Prometheus metrics and JSON.
 *
 * Pure functions of the snapshot (its now_ns is the only time they use), so that a test
 * checks their output without a running gateway. Every metric is described in
 * docs/METRICS.md, every JSON member in docs/API.md. */
#ifndef SELGW_RENDER_H
#define SELGW_RENDER_H

#include <stddef.h>

#include "base/error.h"
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

#endif
