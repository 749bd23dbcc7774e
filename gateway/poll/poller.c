#include "poll/poller.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/worker.h"
#include "sensors/decode.h"
#include "sensors/modbus_reply.h"
#include "sensors/plan.h"

/* The data of one planned request, and how its last attempt went. */
typedef struct request_slot {
    uint16_t *regs;
    uint8_t *bits;
    selgw_err status;
    int exception_code;
    char why[128]; /* the transport's reason for the failure, for the log; may be empty */
} request_slot;

typedef struct device_state {
    const selgw_device *dev;
    selgw_plan *plan;
    request_slot *requests;
    selgw_reading *reading; /* its tags and field names filled once; values each poll */
    int64_t interval_ns;
    int64_t next_due_ns;   /* monotonic: when the next regular poll is due */
    int64_t retry_due_ns;  /* monotonic: when the pending retry is due; 0 when none */
    int64_t poll_utc_ns;   /* when the poll in progress began */
    int64_t began_mark_ns; /* a time taken just before poll_utc_ns (see oldest_poll_ns) */
    int64_t late_ns;       /* its first attempt's start minus next_due_ns; -1: not planned */
    unsigned attempts;     /* attempts of the poll in progress */
    unsigned consecutive_failures;
    unsigned tightened; /* plan tightenings so far after refused reads (at most 2) */
    selgw_repeat failures;
    /* Under the poller's lock: what the status API shows. last_fields holds the values of
     * the last completed poll (copied from reading, whose values the next poll overwrites
     * while a reader may look). */
    selgw_device_health health;
    selgw_reading_field *last_fields;
    char what[2 * SELGW_ID_MAX + 32]; /* "device <id> (unit <n> on bus <id>)" */
} device_state;

struct selgw_poller {
    const selgw_config *cfg;
    const selgw_bus *bus;
    selgw_transport *transport;
    selgw_reading_fn emit;
    void *emit_ctx;
    size_t device_count;
    device_state *devices;

    selgw_worker *worker; /* the polling thread */
    pthread_mutex_t lock; /* guards stats, oldest_poll_ns and each device's health */
    selgw_poller_stats stats;
    /* 0, or a lower bound of the time of every poll begun and not yet handed to emit:
     * written by the polling thread only, read by anyone (selgw_poller_oldest_poll_ns). */
    int64_t oldest_poll_ns;
};

unsigned selgw_backoff_multiplier(unsigned consecutive_failures)
{
    if (consecutive_failures < 3)
        return 1;
    unsigned shift = consecutive_failures - 2;
    return shift >= 5 ? 32u : 1u << shift;
}

static void free_requests(request_slot *requests, const selgw_plan *plan)
{
    if (requests)
        for (size_t i = 0; i < plan->request_count; i++) {
            free(requests[i].regs);
            free(requests[i].bits);
        }
    free(requests);
}

static void device_state_free(device_state *d)
{
    free_requests(d->requests, d->plan);
    selgw_plan_free(d->plan);
    free(d->reading);
    free(d->last_fields);
}

/* Makes `plan` the device's plan, with a buffer for every request. On failure the device
 * keeps the plan it had and `plan` is freed. */
static selgw_err install_plan(device_state *d, selgw_plan *plan)
{
    request_slot *requests =
        calloc(plan->request_count ? plan->request_count : 1, sizeof *requests);
    bool ok = requests != NULL;
    for (size_t i = 0; ok && i < plan->request_count; i++) {
        const selgw_read_request *rq = &plan->requests[i];
        if (rq->function <= 2)
            requests[i].bits = calloc(rq->count, 1);
        else
            requests[i].regs = calloc(rq->count, sizeof(uint16_t));
        ok = requests[i].bits || requests[i].regs;
    }
    if (!ok) {
        free_requests(requests, plan);
        selgw_plan_free(plan);
        return SELGW_ERR_NOMEM;
    }
    if (d->plan)
        free_requests(d->requests, d->plan);
    selgw_plan_free(d->plan);
    d->plan = plan;
    d->requests = requests;
    return SELGW_OK;
}

static selgw_err device_state_init(device_state *d, const selgw_config *cfg,
                                   const selgw_device *dev)
{
    d->dev = dev;
    selgw_plan *plan = NULL;
    selgw_err err = selgw_device_plan(dev, &plan);
    if (err == SELGW_OK)
        err = install_plan(d, plan);
    if (err != SELGW_OK)
        return err;
    d->reading = malloc(sizeof *d->reading);
    if (!d->reading)
        return SELGW_ERR_NOMEM;
    selgw_reading_for_device(d->reading, cfg, dev);
    size_t nf = d->reading->field_count;
    d->last_fields = calloc(nf ? nf : 1, sizeof *d->last_fields);
    if (!d->last_fields)
        return SELGW_ERR_NOMEM;
    for (size_t i = 0; i < nf; i++) {
        d->last_fields[i] = d->reading->fields[i];
        d->last_fields[i].quality = SELGW_QUALITY_READ_FAILED; /* nothing read yet */
    }
    d->health.backoff = 1;
    d->late_ns = -1;
    d->interval_ns = (int64_t)dev->interval_ms * SELGW_NS_PER_MS;
    snprintf(d->what, sizeof d->what, "device %s (unit %d on bus %s)", dev->id, dev->unit_id,
             cfg->buses[dev->bus].id);
    return SELGW_OK;
}

selgw_err selgw_poller_new(const selgw_config *cfg, size_t bus_index, selgw_transport *transport,
                           selgw_reading_fn emit, void *emit_ctx, selgw_poller **out)
{
    *out = NULL;
    selgw_poller *p = calloc(1, sizeof *p);
    if (!p) {
        selgw_transport_free(transport);
        return SELGW_ERR_NOMEM;
    }
    p->cfg = cfg;
    p->bus = &cfg->buses[bus_index];
    p->transport = transport;
    p->emit = emit;
    p->emit_ctx = emit_ctx;
    pthread_mutex_init(&p->lock, NULL);
    selgw_err werr = selgw_worker_new(&p->worker);
    if (werr != SELGW_OK) {
        selgw_poller_free(p);
        return werr;
    }

    for (size_t i = 0; i < cfg->device_count; i++)
        if (cfg->devices[i].bus == bus_index)
            p->device_count++;
    p->devices = calloc(p->device_count ? p->device_count : 1, sizeof *p->devices);
    if (!p->devices) {
        selgw_poller_free(p);
        return SELGW_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < cfg->device_count; i++) {
        if (cfg->devices[i].bus != bus_index)
            continue;
        selgw_err err = device_state_init(&p->devices[n++], cfg, &cfg->devices[i]);
        if (err != SELGW_OK) {
            selgw_poller_free(p);
            return err;
        }
    }
    *out = p;
    return SELGW_OK;
}

void selgw_poller_free(selgw_poller *p)
{
    if (!p)
        return;
    selgw_worker_free(p->worker); /* stops the thread first */
    for (size_t i = 0; i < p->device_count; i++)
        device_state_free(&p->devices[i]);
    free(p->devices);
    selgw_transport_free(p->transport);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static bool link_failure(selgw_err err)
{
    /* Nobody answered, or there is no link: the remaining requests of this device would
     * only add more waiting for the devices behind it. */
    return err == SELGW_ERR_TIMEOUT || err == SELGW_ERR_CONNECT || err == SELGW_ERR_DISCONNECTED;
}

/* One attempt: sends the requests that have not succeeded yet in this poll. Returns the
 * first failure, or SELGW_OK when every request of the device has its data. */
static selgw_err attempt(selgw_poller *p, device_state *d)
{
    if (d->attempts == 0) {
        /* The mark is published, under the lock, before the poll's time is taken: a reader
         * that found no mark held the lock before this poller took it, and took its own
         * time before that, so this poll's time cannot be earlier (the clock stepping back
         * aside). A lock, not an atomic: it orders the clock reads too, on any CPU. */
        pthread_mutex_lock(&p->lock);
        d->began_mark_ns = selgw_utc_ns();
        if (p->oldest_poll_ns == 0 || d->began_mark_ns < p->oldest_poll_ns)
            p->oldest_poll_ns = d->began_mark_ns;
        pthread_mutex_unlock(&p->lock);
        d->poll_utc_ns = selgw_utc_ns();
        for (size_t i = 0; i < d->plan->request_count; i++) {
            d->requests[i].status = SELGW_ERR_TIMEOUT; /* not read yet */
            d->requests[i].why[0] = '\0';
        }
    }
    d->attempts++;
    selgw_err first = SELGW_OK;
    uint64_t sent = 0;
    for (size_t i = 0; i < d->plan->request_count; i++) {
        request_slot *slot = &d->requests[i];
        if (slot->status == SELGW_OK)
            continue;
        if (first != SELGW_OK && link_failure(first))
            break;
        int64_t sent_ns = selgw_mono_ns();
        selgw_err err =
            selgw_transport_read(p->transport, d->dev->unit_id, &d->plan->requests[i], slot->regs,
                                 slot->bits, &slot->exception_code, slot->why, sizeof slot->why);
        if (err == SELGW_OK || err == SELGW_ERR_EXCEPTION || err == SELGW_ERR_BAD_FRAME) {
            /* An answer came (a corrupt one too): how long the device took. */
            int64_t took = selgw_mono_ns() - sent_ns;
            pthread_mutex_lock(&p->lock);
            selgw_histogram_add(&d->health.latency, took);
            pthread_mutex_unlock(&p->lock);
        }
        if (err != SELGW_ERR_CONNECT)
            sent++;
        slot->status = err;
        if (err != SELGW_OK && first == SELGW_OK)
            first = err;
    }
    pthread_mutex_lock(&p->lock);
    p->stats.requests += sent;
    if (d->attempts > 1)
        p->stats.retries++;
    pthread_mutex_unlock(&p->lock);
    return first;
}

/* After a poll was handed over (or abandoned): the oldest of those still in progress. */
static void update_oldest_poll(selgw_poller *p)
{
    int64_t oldest = 0;
    for (size_t i = 0; i < p->device_count; i++) {
        const device_state *d = &p->devices[i];
        if (d->attempts > 0 && (oldest == 0 || d->began_mark_ns < oldest))
            oldest = d->began_mark_ns;
    }
    pthread_mutex_lock(&p->lock);
    p->oldest_poll_ns = oldest;
    pthread_mutex_unlock(&p->lock);
}

static bool poll_complete(const selgw_poller *p, const device_state *d, selgw_err err)
{
    /* A link that is down will not come back within a retry; other errors might. */
    return err == SELGW_OK || err == SELGW_ERR_CONNECT || d->attempts > (unsigned)p->bus->retries;
}

static bool request_serves_several_fields(const device_state *d, size_t request)
{
    size_t n = 0;
    for (size_t i = 0; i < d->plan->field_count; i++)
        if (d->plan->slots[i].request == request && ++n > 1)
            return true;
    return false;
}

/* Some devices answer "illegal data address" (2) or "illegal data value" (3) to a read that
 * spans registers they do not map, or that is longer than they like, although each field
 * alone reads fine. Such a device gets a stricter plan, at most twice: first no holes read
 * through, then no read wider than its widest field. The next poll uses it. */
static void tighten_plan_if_refused(device_state *d)
{
    size_t refused = SIZE_MAX;
    for (size_t i = 0; i < d->plan->request_count && refused == SIZE_MAX; i++) {
        const request_slot *rs = &d->requests[i];
        if (rs->status == SELGW_ERR_EXCEPTION &&
            (rs->exception_code == 2 || rs->exception_code == 3) &&
            request_serves_several_fields(d, i))
            refused = i;
    }
    if (refused == SIZE_MAX)
        return;
    const selgw_profile *profile = d->dev->profile;
    const selgw_read_request before = d->plan->requests[refused];
    int code = d->requests[refused].exception_code;
    unsigned widest = 1;
    for (size_t i = 0; i < profile->field_count; i++)
        if (selgw_type_registers(profile->fields[i].type) > widest)
            widest = selgw_type_registers(profile->fields[i].type);
    unsigned limit = (unsigned)(d->dev->max_read_registers > 0 ? d->dev->max_read_registers
                                                               : profile->max_read_registers);
    while (d->tightened < 2) {
        d->tightened++;
        selgw_plan *plan = NULL;
        if (selgw_plan_build(profile, d->tightened == 1 ? limit : widest, 0, &plan) != SELGW_OK)
            return;
        if (plan->request_count <= d->plan->request_count) {
            selgw_plan_free(plan); /* no stricter than what was refused; try the next level */
            continue;
        }
        size_t count = plan->request_count;
        if (install_plan(d, plan) != SELGW_OK)
            return;
        selgw_log(SELGW_LOG_WARN,
                  "%s refused a read of %u registers at address %u (exception %d): reading it "
                  "in %zu smaller requests from now on",
                  d->what, before.count, before.address, code, count);
        return;
    }
}

/* Decodes what was read, emits the reading and resets the poll. Returns its status. */
static selgw_err finish_poll(selgw_poller *p, device_state *d)
{
    const selgw_device *dev = d->dev;
    const selgw_profile *profile = dev->profile;
    selgw_err status = SELGW_OK;
    int exception_code = 0;
    const char *why = "";
    for (size_t i = 0; i < d->plan->request_count; i++)
        if (d->requests[i].status != SELGW_OK) {
            status = d->requests[i].status;
            exception_code = d->requests[i].exception_code;
            why = d->requests[i].why;
            break;
        }
    for (size_t i = 0; i < profile->field_count; i++) {
        const selgw_field *f = &profile->fields[i];
        const selgw_field_slot *fs = &d->plan->slots[i];
        const request_slot *rs = &d->requests[fs->request];
        selgw_reading_field *v = &d->reading->fields[i];
        if (rs->status != SELGW_OK) {
            v->value = 0;
            v->quality = SELGW_QUALITY_READ_FAILED;
            continue;
        }
        selgw_calibration cal = selgw_device_calibration(dev, (int)i);
        if (f->type == SELGW_TYPE_BIT)
            v->quality = selgw_decode_bit(f, rs->bits[fs->offset], &cal, &v->value);
        else
            v->quality = selgw_decode_registers(f, rs->regs + fs->offset,
                                                d->plan->requests[fs->request].count - fs->offset,
                                                &cal, &v->value);
    }
    selgw_reading *reading = d->reading;
    reading->time_ns = d->poll_utc_ns;
    reading->status = status;
    reading->exception_code = exception_code;
    reading->attempts = d->attempts;
    selgw_reading_set_households(reading, p->cfg, dev);
    if (p->emit)
        p->emit(p->emit_ctx, dev, reading);

    if (status == SELGW_OK) {
        selgw_repeat_ok(&d->failures, d->what);
        d->consecutive_failures = 0;
    } else {
        char detail[256] = "";
        if (status == SELGW_ERR_EXCEPTION)
            snprintf(detail, sizeof detail, "exception %d, %s: %s", exception_code,
                     selgw_modbus_exception_name(exception_code),
                     selgw_modbus_exception_meaning(exception_code));
        else if (status == SELGW_ERR_TIMEOUT && !why[0])
            snprintf(detail, sizeof detail, "%s", SELGW_NO_ANSWER_HINT); /* what to do */
        else
            snprintf(detail, sizeof detail, "%s", why); /* e.g. what was wrong with an answer */
        /* A link that is down is logged once for the bus, not once for every device. */
        if (status != SELGW_ERR_CONNECT)
            selgw_repeat_fail(&d->failures, d->what, status, detail[0] ? detail : NULL);
        d->consecutive_failures++;
    }
    pthread_mutex_lock(&p->lock);
    p->stats.polls++;
    if (status != SELGW_OK)
        p->stats.failed_polls++;
    if (d->late_ns >= 0)
        selgw_lateness_add(&p->stats.lateness, d->late_ns);
    selgw_device_health *h = &d->health;
    h->polls++;
    if ((unsigned)status < SELGW_ERR_COUNT_ && status != SELGW_OK)
        h->failures[status]++;
    h->last_poll_ns = reading->time_ns;
    if (status == SELGW_OK)
        h->last_success_ns = reading->time_ns;
    h->last_status = status;
    h->last_exception = exception_code;
    h->consecutive_failures = d->consecutive_failures;
    h->backoff = selgw_backoff_multiplier(d->consecutive_failures);
    memcpy(d->last_fields, reading->fields, reading->field_count * sizeof *d->last_fields);
    pthread_mutex_unlock(&p->lock);
    if (status == SELGW_ERR_EXCEPTION)
        tighten_plan_if_refused(d);
    d->attempts = 0;
    d->retry_due_ns = 0;
    d->late_ns = -1;
    update_oldest_poll(p);
    return status;
}

/* Next regular poll: one (backed-off) period after this one was due, so that time spent
 * polling never accumulates into drift. Polls the bus could not fit in are skipped and
 * counted, never bunched up. */
static void schedule_next(selgw_poller *p, device_state *d, int64_t now)
{
    int64_t period = d->interval_ns * selgw_backoff_multiplier(d->consecutive_failures);
    int64_t cap = d->interval_ns > SELGW_BACKOFF_MAX_NS ? d->interval_ns : SELGW_BACKOFF_MAX_NS;
    if (period > cap)
        period = cap;
    d->next_due_ns += period;
    if (d->next_due_ns <= now) {
        int64_t behind = (now - d->next_due_ns) / d->interval_ns + 1;
        d->next_due_ns += behind * d->interval_ns;
        pthread_mutex_lock(&p->lock);
        bool first = p->stats.late_polls == 0;
        p->stats.late_polls += (uint64_t)behind;
        pthread_mutex_unlock(&p->lock);
        /* Logged the first time only; the total is in the stats printed at stop. */
        if (first)
            selgw_log(SELGW_LOG_WARN,
                      "bus %s cannot keep up: %s skipped %lld poll%s (lengthen intervals or "
                      "shorten timeouts)",
                      p->bus->id, d->what, (long long)behind, behind == 1 ? "" : "s");
    }
}

static int64_t due_of(const device_state *d)
{
    return d->retry_due_ns ? d->retry_due_ns : d->next_due_ns;
}

static void poller_thread(void *arg)
{
    selgw_poller *p = arg;
    int64_t start = selgw_mono_ns();
    for (size_t i = 0; i < p->device_count; i++)
        p->devices[i].next_due_ns = start;
    while (p->device_count > 0 && !selgw_worker_stopping(p->worker)) {
        device_state *next = &p->devices[0];
        for (size_t i = 1; i < p->device_count; i++)
            if (due_of(&p->devices[i]) < due_of(next))
                next = &p->devices[i];
        if (!selgw_worker_wait_until(p->worker, due_of(next)))
            break;
        if (!next->retry_due_ns) /* a regular poll begins: how late against its plan */
            next->late_ns = selgw_mono_ns() - next->next_due_ns;
        selgw_err err = attempt(p, next);
        int64_t now = selgw_mono_ns();
        if (poll_complete(p, next, err)) {
            finish_poll(p, next);
            schedule_next(p, next, now);
        } else {
            /* Retry behind every device that is already due. */
            next->retry_due_ns = now;
        }
    }
    /* Polls waiting for a retry are abandoned: they will never be handed over. */
    for (size_t i = 0; i < p->device_count; i++) {
        p->devices[i].attempts = 0;
        p->devices[i].retry_due_ns = 0;
    }
    update_oldest_poll(p);
}

selgw_err selgw_poller_start(selgw_poller *p)
{
    return selgw_worker_start(p->worker, poller_thread, p);
}

void selgw_poller_stop(selgw_poller *p)
{
    selgw_worker_stop(p->worker);
}

size_t selgw_poller_poll_once(selgw_poller *p)
{
    size_t failed = 0;
    for (size_t i = 0; i < p->device_count; i++) {
        device_state *d = &p->devices[i];
        selgw_err err;
        do
            err = attempt(p, d);
        while (!poll_complete(p, d, err));
        if (finish_poll(p, d) != SELGW_OK)
            failed++;
    }
    return failed;
}

int64_t selgw_poller_oldest_poll_ns(selgw_poller *p)
{
    pthread_mutex_lock(&p->lock);
    int64_t oldest = p->oldest_poll_ns;
    pthread_mutex_unlock(&p->lock);
    return oldest;
}

int64_t selgw_poller_busy_ns(selgw_poller *p)
{
    return selgw_worker_busy_ns(p->worker);
}

void selgw_poller_get_stats(selgw_poller *p, selgw_poller_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    pthread_mutex_unlock(&p->lock);
}

const selgw_config *selgw_poller_config(const selgw_poller *p)
{
    return p->cfg;
}

const selgw_bus *selgw_poller_bus(const selgw_poller *p)
{
    return p->bus;
}

size_t selgw_poller_device_count(const selgw_poller *p)
{
    return p->device_count;
}

const selgw_device *selgw_poller_device_health(selgw_poller *p, size_t i,
                                               selgw_device_health *health,
                                               selgw_reading_field *fields, size_t *field_count)
{
    const device_state *d = &p->devices[i];
    size_t n = d->reading->field_count; /* fixed at creation */
    pthread_mutex_lock(&p->lock);
    *health = d->health;
    if (fields)
        memcpy(fields, d->last_fields, n * sizeof *fields);
    pthread_mutex_unlock(&p->lock);
    *field_count = n;
    return d->dev;
}
