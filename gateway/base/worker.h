/* selgw: one background thread that can be asked to stop, and its timed waits.
 *
 * A poller, a sink and the sealer each run one loop on their own thread (the journal's
 * writer keeps its own, tied to its several condition variables), each
 * sleeps between rounds and must wake at once when asked to stop. This owns what they all
 * need for that: the thread, the stop flag, a mutex and a semaphore whose waits take
 * CLOCK_MONOTONIC deadlines (a step of the wall clock must neither stretch nor cut a wait). The
 * worker's lock guards only its own state; a module keeps its stats under its own lock. */
#ifndef SELGW_WORKER_H
#define SELGW_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct selgw_worker selgw_worker;

/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines (selgw_mono_ns). */
selgw_err selgw_monotonic_cond_init(pthread_cond_t *cond);

selgw_err selgw_worker_new(selgw_worker **out);
void selgw_worker_free(selgw_worker *w); /* stops and joins first; NULL is fine */

/* Runs run(ctx) on a new thread. SELGW_ERR_INVALID while it already runs (until a
 * selgw_worker_stop); SELGW_ERR_NOMEM when no thread can be made. */
selgw_err selgw_worker_start(selgw_worker *w, void (*run)(void *ctx), void *ctx);
/* Asks the thread to stop, wakes its wait and joins it. Nothing when it does not run. Only
 * the worker's owner calls it, from one thread at a time and never from the worker's own
 * thread (a thread cannot join itself). */
void selgw_worker_stop(selgw_worker *w);
/* Only asks: sets what selgw_worker_stopping reads and wakes a wait, without joining. For
 * an owner whose thread waits elsewhere too (in poll()), to wake that wait after this and
 * before selgw_worker_stop. */
void selgw_worker_ask_stop(selgw_worker *w);
bool selgw_worker_running(selgw_worker *w);
/* How long the thread has been working since its last wait ended (ns); 0 while it waits,
 * after its run returned, or when it does not run. A loop that waits between rounds and
 * has not come back to its wait for long is stuck: what the service watchdog looks at. */
int64_t selgw_worker_busy_ns(selgw_worker *w);

/* For the thread: whether a stop was asked. */
bool selgw_worker_stopping(selgw_worker *w);
/* For the thread: waits until the monotonic deadline (ns), a stop, or a nudge given since
 * the last wait. Returns false when the worker is stopping. */
bool selgw_worker_wait_until(selgw_worker *w, int64_t deadline_ns);
/* The same for a wait of ms milliseconds from now. */
bool selgw_worker_wait_ms(selgw_worker *w, int64_t ms);
/* Ends the thread's current or next wait early (new work for it). Any thread, any lock. */
void selgw_worker_nudge(selgw_worker *w);

#endif
