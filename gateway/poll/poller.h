/* selgw: the poller of one bus.
 *
 * One poller (and one thread) per bus, so that a slow or dead bus never delays another.
 * Each device is polled at its own interval on the monotonic clock, without drift: the
 * next poll is due one interval after the previous one was due, not after it finished.
 * A failed read is retried a bounded number of times, each retry queued behind the other
 * devices that are due, so one dead device costs the others at most one response timeout
 * at a time. A device that keeps failing is polled less often (backoff) and returns to its
 * interval by itself when it answers again. Every poll, failed or not, produces a
 * selgw_reading, so that gaps are explicit. */
#ifndef SELGW_POLLER_H
#define SELGW_POLLER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "base/error.h"
#include "base/health.h"
#include "poll/reading.h"
#include "poll/transport.h"

typedef struct selgw_poller selgw_poller;

/* Called from the poller's thread for every completed poll of device; the reading and
 * what it points to are valid only during the call. */
typedef void (*selgw_reading_fn)(void *ctx, const selgw_device *device,
                                 const selgw_reading *reading);

/* Takes ownership of transport (also on failure). cfg must outlive the poller. */
selgw_err selgw_poller_new(const selgw_config *cfg, size_t bus_index, selgw_transport *transport,
                           selgw_reading_fn emit, void *emit_ctx, selgw_poller **out);
void selgw_poller_free(selgw_poller *p); /* stops the thread if running; NULL is fine */

selgw_err selgw_poller_start(selgw_poller *p);
/* Asks the thread to stop after the transaction in progress, and waits for it. */
void selgw_poller_stop(selgw_poller *p);

/* Polls every device of the bus once (with its retries) in the caller's thread, in
 * order. Returns how many devices did not answer completely. */
size_t selgw_poller_poll_once(selgw_poller *p);

/* 0 when no poll is in progress; otherwise a time no later than the time (poll start) of
 * every poll begun and not yet handed to emit. Any thread may ask (it takes the poller's
 * lock; call it with the time it compares against already taken). A seal uses it to say
 * up to when it covers every poll: a reading whose poll began before it has been
 * journaled, or is still on its way. */
int64_t selgw_poller_oldest_poll_ns(selgw_poller *p);

void selgw_poller_get_stats(selgw_poller *p, selgw_poller_stats *out);

/* The bus and devices of the poller, for the status API (any thread, under the caller's
 * assurance that the poller lives). */
const selgw_config *selgw_poller_config(const selgw_poller *p);
const selgw_bus *selgw_poller_bus(const selgw_poller *p);
size_t selgw_poller_device_count(const selgw_poller *p);
/* Device i of the bus (in config order): its health, its field count, and the fields of its
 * last completed poll into fields unless NULL (room for the field count; names and units
 * point into the config; quality read_failed before the first poll). Returns the device. */
const selgw_device *selgw_poller_device_health(selgw_poller *p, size_t i,
                                               selgw_device_health *health,
                                               selgw_reading_field *fields, size_t *field_count);

/* How long the polling thread has been in its current transaction (selgw_worker_busy_ns):
 * one attempt is bounded by the bus's timeouts, so a long one means the thread is stuck. */
int64_t selgw_poller_busy_ns(selgw_poller *p);

/* Interval multiplier for a device that failed `consecutive_failures` polls in a row:
 * 1 for the first two, then doubling up to 32. Pure, exposed for tests. */
unsigned selgw_backoff_multiplier(unsigned consecutive_failures);

/* Longest time backoff stretches a poll period to, unless the interval itself is longer. */
#define SELGW_BACKOFF_MAX_NS (INT64_C(300) * 1000000000)

#endif
