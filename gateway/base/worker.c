#include "base/worker.h"

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"

struct selgw_worker {
    pthread_mutex_t lock;
    /* The thread's waits sleep on a semaphore, not on a condition variable under `lock`:
     * glibc takes the mutex back after a condition wait as if others wanted it, so that
     * its unlock always makes a FUTEX_WAKE system call. With a poller per bus waking once
     * a poll that was one system call per poll for nothing (docs/BENCHMARKS.md). A stop
     * or a nudge sets its flag, then posts; the waiter reads the flags, so that extra
     * posts only make a wait look again. */
    sem_t wake;
    bool running;       /* started and not joined yet */
    atomic_bool stop;   /* written under lock; read without it by the waiting thread */
    atomic_bool nudged; /* kept until a wait sees it, so that a nudge between waits is not lost */
    bool idle;          /* in a wait, or its run returned */
    int64_t busy_since_ns; /* monotonic: when the last wait ended (or the thread began) */
    pthread_t thread;
    void (*run)(void *ctx);
    void *ctx;
};

selgw_err selgw_monotonic_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return SELGW_ERR_NOMEM;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? SELGW_OK : rc == EINVAL ? SELGW_ERR_INVALID : SELGW_ERR_NOMEM;
}

selgw_err selgw_worker_new(selgw_worker **out)
{
    *out = NULL;
    selgw_worker *w = calloc(1, sizeof *w);
    if (!w)
        return SELGW_ERR_NOMEM;
    if (sem_init(&w->wake, 0, 0) != 0) {
        free(w);
        return SELGW_ERR_NOMEM;
    }
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        sem_destroy(&w->wake);
        free(w);
        return SELGW_ERR_NOMEM;
    }
    *out = w;
    return SELGW_OK;
}

void selgw_worker_free(selgw_worker *w)
{
    if (!w)
        return;
    selgw_worker_stop(w);
    sem_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void *worker_main(void *arg)
{
    selgw_worker *w = arg;
    w->run(w->ctx);
    pthread_mutex_lock(&w->lock);
    w->idle = true;
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

selgw_err selgw_worker_start(selgw_worker *w, void (*run)(void *ctx), void *ctx)
{
    if (!w || !run)
        return SELGW_ERR_INVALID;
    pthread_mutex_lock(&w->lock);
    if (w->running) {
        pthread_mutex_unlock(&w->lock);
        return SELGW_ERR_INVALID;
    }
    w->running = true;
    atomic_store(&w->stop, false);
    atomic_store(&w->nudged, false);
    w->idle = false;
    w->busy_since_ns = selgw_mono_ns();
    w->run = run;
    w->ctx = ctx;
    pthread_mutex_unlock(&w->lock);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_mutex_lock(&w->lock);
        w->running = false;
        pthread_mutex_unlock(&w->lock);
        return SELGW_ERR_NOMEM; /* EAGAIN: no memory or thread left for another thread */
    }
    return SELGW_OK;
}

/* Sets the stop flag and wakes a wait; whether the thread runs. */
static bool ask_stop(selgw_worker *w)
{
    pthread_mutex_lock(&w->lock);
    bool running = w->running;
    atomic_store(&w->stop, true);
    sem_post(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return running;
}

void selgw_worker_ask_stop(selgw_worker *w)
{
    if (w)
        ask_stop(w);
}

void selgw_worker_stop(selgw_worker *w)
{
    if (!w || !ask_stop(w))
        return;
    pthread_join(w->thread, NULL);
    pthread_mutex_lock(&w->lock);
    w->running = false;
    pthread_mutex_unlock(&w->lock);
}

bool selgw_worker_running(selgw_worker *w)
{
    pthread_mutex_lock(&w->lock);
    bool running = w->running;
    pthread_mutex_unlock(&w->lock);
    return running;
}

int64_t selgw_worker_busy_ns(selgw_worker *w)
{
    pthread_mutex_lock(&w->lock);
    int64_t busy = w->running && !w->idle ? selgw_mono_ns() - w->busy_since_ns : 0;
    pthread_mutex_unlock(&w->lock);
    return busy;
}

bool selgw_worker_stopping(selgw_worker *w)
{
    return atomic_load(&w->stop);
}

bool selgw_worker_wait_until(selgw_worker *w, int64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / SELGW_NS_PER_S),
                          .tv_nsec = (long)(deadline_ns % SELGW_NS_PER_S)};
    pthread_mutex_lock(&w->lock);
    w->idle = true;
    pthread_mutex_unlock(&w->lock);
    /* Checked against the clock too, not only ETIMEDOUT: a post left over from an earlier
     * nudge ends a wait early. */
    while (!atomic_load(&w->stop) && !atomic_load(&w->nudged) && selgw_mono_ns() < deadline_ns)
        if (sem_clockwait(&w->wake, CLOCK_MONOTONIC, &ts) != 0 && errno == ETIMEDOUT)
            break;
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->nudged, false);
    w->idle = false;
    w->busy_since_ns = selgw_mono_ns();
    bool go_on = !atomic_load(&w->stop);
    pthread_mutex_unlock(&w->lock);
    return go_on;
}

bool selgw_worker_wait_ms(selgw_worker *w, int64_t ms)
{
    return selgw_worker_wait_until(w, selgw_mono_ns() + ms * SELGW_NS_PER_MS);
}

void selgw_worker_nudge(selgw_worker *w)
{
    atomic_store(&w->nudged, true);
    sem_post(&w->wake);
}
