/* The worker thread of the base: a second start is refused while it runs, a stop wakes a
 * waiting thread at once (not when its wait ends), a timed wait ends on its deadline, a
 * nudge ends a wait early without stopping, and a nudge given between waits is kept; the
 * thread counts as busy only between its waits (what the service watchdog looks at). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/worker.h"

/* What a thread saw of its one long wait. */
typedef struct waiter {
    selgw_worker *w;
    int64_t wait_ms;
    pthread_mutex_t lock;
    bool waiting;  /* set just before the wait begins */
    bool returned; /* set when it ended */
    bool go_on;    /* what the wait returned */
    int64_t ended_ns;
} waiter;

static void waiter_run(void *ctx)
{
    waiter *t = ctx;
    pthread_mutex_lock(&t->lock);
    t->waiting = true;
    pthread_mutex_unlock(&t->lock);
    bool go_on = selgw_worker_wait_ms(t->w, t->wait_ms);
    pthread_mutex_lock(&t->lock);
    t->go_on = go_on;
    t->returned = true;
    t->ended_ns = selgw_mono_ns();
    pthread_mutex_unlock(&t->lock);
}

static bool waiter_flag(waiter *t, const bool *flag)
{
    pthread_mutex_lock(&t->lock);
    bool v = *flag;
    pthread_mutex_unlock(&t->lock);
    return v;
}

/* Waits (up to 5 s) until the flag is set. */
static void await_flag(waiter *t, const bool *flag)
{
    int64_t give_up = selgw_mono_ns() + 5 * SELGW_NS_PER_S;
    while (!waiter_flag(t, flag) && selgw_mono_ns() < give_up)
        selgw_sleep_until(selgw_mono_ns() + SELGW_NS_PER_MS);
    assert_true(waiter_flag(t, flag));
}

static void waiter_init(waiter *t, selgw_worker *w, int64_t wait_ms)
{
    *t = (waiter){.w = w, .wait_ms = wait_ms};
    pthread_mutex_init(&t->lock, NULL);
}

static selgw_worker *new_worker(void)
{
    selgw_worker *w = NULL;
    assert_int_equal(selgw_worker_new(&w), SELGW_OK);
    assert_non_null(w);
    return w;
}

/* A worker started on one long wait (a minute), once its thread is about to wait. */
static selgw_worker *start_long_waiter(waiter *t)
{
    selgw_worker *w = new_worker();
    waiter_init(t, w, 60000);
    assert_int_equal(selgw_worker_start(w, waiter_run, t), SELGW_OK);
    await_flag(t, &t->waiting);
    return w;
}

static void test_a_second_start_is_refused(void **state)
{
    (void)state;
    selgw_worker *w = new_worker();
    waiter t;
    waiter_init(&t, w, 60000);
    assert_int_equal(selgw_worker_start(w, waiter_run, &t), SELGW_OK);
    assert_true(selgw_worker_running(w));
    assert_int_equal(selgw_worker_start(w, waiter_run, &t), SELGW_ERR_INVALID);
    selgw_worker_stop(w);
    assert_false(selgw_worker_running(w));
    /* Stopped, it can start again, with a stop flag that is clear. */
    waiter_init(&t, w, 20);
    assert_int_equal(selgw_worker_start(w, waiter_run, &t), SELGW_OK);
    await_flag(&t, &t.returned);
    assert_true(t.go_on);
    selgw_worker_stop(w);
    selgw_worker_free(w);
}

static void test_stop_wakes_a_waiting_worker_promptly(void **state)
{
    (void)state;
    waiter t;
    selgw_worker *w = start_long_waiter(&t);
    selgw_sleep_until(selgw_mono_ns() + 20 * SELGW_NS_PER_MS); /* inside its wait by now */
    int64_t asked = selgw_mono_ns();
    selgw_worker_stop(w);
    int64_t joined = selgw_mono_ns();
    assert_true(t.returned);
    assert_false(t.go_on);
    assert_true(joined - asked < 2 * SELGW_NS_PER_S);
    assert_true(selgw_worker_stopping(w));
    selgw_worker_free(w);
}

/* Asking only sets the flag and ends the wait; the thread returns on its own and the
 * owner joins it afterwards (the MQTT delivery wakes its poll() in between). */
static void test_ask_stop_ends_the_wait_without_joining(void **state)
{
    (void)state;
    waiter t;
    selgw_worker *w = start_long_waiter(&t);
    selgw_worker_ask_stop(w);
    assert_true(selgw_worker_stopping(w));
    await_flag(&t, &t.returned);
    assert_false(t.go_on);
    assert_true(selgw_worker_running(w)); /* not joined yet */
    selgw_worker_stop(w);
    assert_false(selgw_worker_running(w));
    selgw_worker_ask_stop(NULL);
    selgw_worker_free(w);
}

static void test_a_timed_wait_times_out(void **state)
{
    (void)state;
    selgw_worker *w = new_worker();
    int64_t began = selgw_mono_ns();
    assert_true(selgw_worker_wait_ms(w, 100));
    int64_t took = selgw_mono_ns() - began;
    assert_true(took >= 100 * SELGW_NS_PER_MS);
    assert_true(took < 5 * SELGW_NS_PER_S);
    /* A deadline already past returns at once. */
    began = selgw_mono_ns();
    assert_true(selgw_worker_wait_until(w, began - SELGW_NS_PER_S));
    assert_true(selgw_mono_ns() - began < SELGW_NS_PER_S);
    selgw_worker_free(w);
}

static void test_a_nudge_ends_a_wait_without_stopping(void **state)
{
    (void)state;
    waiter t;
    selgw_worker *w = start_long_waiter(&t);
    selgw_sleep_until(selgw_mono_ns() + 20 * SELGW_NS_PER_MS);
    int64_t nudged = selgw_mono_ns();
    selgw_worker_nudge(w);
    await_flag(&t, &t.returned);
    assert_true(t.go_on);
    assert_true(t.ended_ns - nudged < 2 * SELGW_NS_PER_S);
    assert_false(selgw_worker_stopping(w));
    selgw_worker_stop(w);
    selgw_worker_free(w);
}

static void test_a_nudge_before_the_wait_is_kept(void **state)
{
    (void)state;
    selgw_worker *w = new_worker();
    selgw_worker_nudge(w);
    int64_t began = selgw_mono_ns();
    assert_true(selgw_worker_wait_ms(w, 60000));
    assert_true(selgw_mono_ns() - began < 2 * SELGW_NS_PER_S);
    /* Used up by that wait: the next one runs to its deadline. */
    began = selgw_mono_ns();
    assert_true(selgw_worker_wait_ms(w, 50));
    assert_true(selgw_mono_ns() - began >= 50 * SELGW_NS_PER_MS);
    selgw_worker_free(w);
}

static void test_stop_without_start_and_free_null(void **state)
{
    (void)state;
    selgw_worker *w = new_worker();
    assert_false(selgw_worker_running(w));
    selgw_worker_stop(w);
    selgw_worker_stop(w);
    selgw_worker_free(w);
    selgw_worker_free(NULL);
    selgw_worker_stop(NULL);
}

static void test_monotonic_cond_times_out_on_a_monotonic_deadline(void **state)
{
    (void)state;
    pthread_cond_t cond;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    assert_int_equal(selgw_monotonic_cond_init(&cond), SELGW_OK);
    int64_t deadline = selgw_mono_ns() + 30 * SELGW_NS_PER_MS;
    struct timespec ts = {.tv_sec = (time_t)(deadline / SELGW_NS_PER_S),
                          .tv_nsec = (long)(deadline % SELGW_NS_PER_S)};
    pthread_mutex_lock(&lock);
    int rc = 0;
    while (rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&cond, &lock, &ts);
    pthread_mutex_unlock(&lock);
    /* On CLOCK_REALTIME this deadline (seconds since boot) would have passed long ago and
     * the wait would end at once; on the monotonic clock it ends at the deadline. */
    assert_true(selgw_mono_ns() >= deadline);
    pthread_cond_destroy(&cond);
}

/* A thread that works 300 ms between two waits: busy meanwhile, not while it waits. */
typedef struct worker_at_work {
    selgw_worker *w;
    pthread_mutex_t lock;
    int phase; /* 1: working, 2: waiting again */
} worker_at_work;

static void work_then_wait(void *ctx)
{
    worker_at_work *t = ctx;
    pthread_mutex_lock(&t->lock);
    t->phase = 1;
    pthread_mutex_unlock(&t->lock);
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL); /* stands for a transaction that does not wait on the worker */
    pthread_mutex_lock(&t->lock);
    t->phase = 2;
    pthread_mutex_unlock(&t->lock);
    selgw_worker_wait_ms(t->w, 10000);
}

static int phase_of(worker_at_work *t)
{
    pthread_mutex_lock(&t->lock);
    int phase = t->phase;
    pthread_mutex_unlock(&t->lock);
    return phase;
}

static void test_busy_while_working_not_while_waiting(void **state)
{
    (void)state;
    worker_at_work t = {.phase = 0};
    pthread_mutex_init(&t.lock, NULL);
    assert_int_equal(selgw_worker_new(&t.w), SELGW_OK);
    assert_int_equal(selgw_worker_busy_ns(t.w), 0); /* not running */
    assert_int_equal(selgw_worker_start(t.w, work_then_wait, &t), SELGW_OK);
    while (phase_of(&t) < 1)
        sched_yield();
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    if (phase_of(&t) == 1) /* still in its 300 ms of work */
        assert_true(selgw_worker_busy_ns(t.w) >= 150 * SELGW_NS_PER_MS);
    while (phase_of(&t) < 2)
        sched_yield();
    /* In its wait (give it a moment to enter it): not busy, however long it waits. */
    int64_t until = selgw_mono_ns() + 2 * SELGW_NS_PER_S;
    while (selgw_worker_busy_ns(t.w) != 0 && selgw_mono_ns() < until)
        sched_yield();
    assert_int_equal(selgw_worker_busy_ns(t.w), 0);
    selgw_worker_stop(t.w);
    assert_int_equal(selgw_worker_busy_ns(t.w), 0); /* joined */
    selgw_worker_free(t.w);
    pthread_mutex_destroy(&t.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_second_start_is_refused),
        cmocka_unit_test(test_stop_wakes_a_waiting_worker_promptly),
        cmocka_unit_test(test_ask_stop_ends_the_wait_without_joining),
        cmocka_unit_test(test_a_timed_wait_times_out),
        cmocka_unit_test(test_a_nudge_ends_a_wait_without_stopping),
        cmocka_unit_test(test_a_nudge_before_the_wait_is_kept),
        cmocka_unit_test(test_stop_without_start_and_free_null),
        cmocka_unit_test(test_monotonic_cond_times_out_on_a_monotonic_deadline),
        cmocka_unit_test(test_busy_while_working_not_while_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
