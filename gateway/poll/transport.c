#include "poll/transport.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/log.h"

/* Reconnect attempts back off from the first to the last delay, doubling. */
#define RECONNECT_FIRST_NS (500 * SELGW_NS_PER_MS)
#define RECONNECT_MAX_NS (30 * SELGW_NS_PER_S)

struct selgw_transport {
    const selgw_transport_ops *ops;
    const selgw_bus *bus;
    void *state;
    bool open;
    int64_t next_open_ns; /* monotonic time of the next reconnect attempt */
    int64_t reopen_delay_ns;
    int64_t frame_gap_ns;
    int64_t last_frame_end_ns;
    selgw_repeat open_failures;
    char description[160];
};

selgw_err selgw_transport_new_with_ops(const selgw_bus *bus, const selgw_transport_ops *ops,
                                       selgw_transport **out)
{
    *out = NULL;
    selgw_transport *t = calloc(1, sizeof *t);
    if (!t)
        return SELGW_ERR_NOMEM;
    t->ops = ops;
    t->bus = bus;
    t->reopen_delay_ns = RECONNECT_FIRST_NS;
    int64_t gap_us = ops->frame_gap_us ? ops->frame_gap_us(bus) : 0;
    t->frame_gap_ns = gap_us * 1000 + (int64_t)bus->frame_delay_ms * SELGW_NS_PER_MS;
    selgw_bus_describe(bus, t->description, sizeof t->description);
    selgw_err err = ops->create(bus, &t->state);
    if (err != SELGW_OK) {
        free(t);
        return err;
    }
    *out = t;
    return SELGW_OK;
}

selgw_err selgw_transport_new(const selgw_bus *bus, selgw_transport **out)
{
    const selgw_transport_ops *ops =
        bus->kind == SELGW_BUS_TCP ? &selgw_transport_tcp_ops : &selgw_transport_rtu_ops;
    return selgw_transport_new_with_ops(bus, ops, out);
}

void selgw_transport_free(selgw_transport *t)
{
    if (!t)
        return;
    if (t->open)
        t->ops->close(t->state);
    t->ops->destroy(t->state);
    free(t);
}

bool selgw_transport_is_open(const selgw_transport *t)
{
    return t->open;
}

const char *selgw_transport_name(const selgw_transport *t)
{
    return t->ops->name;
}

static selgw_err ensure_open(selgw_transport *t)
{
    if (t->open)
        return SELGW_OK;
    int64_t now = selgw_mono_ns();
    if (now < t->next_open_ns)
        return SELGW_ERR_CONNECT;
    char what[200];
    snprintf(what, sizeof what, "bus %s (%s)", t->bus->id, t->description);
    selgw_err err = t->ops->open(t->state);
    if (err != SELGW_OK) {
        selgw_repeat_fail(&t->open_failures, what, err, "will retry");
        t->next_open_ns = now + t->reopen_delay_ns;
        t->reopen_delay_ns *= 2;
        if (t->reopen_delay_ns > RECONNECT_MAX_NS)
            t->reopen_delay_ns = RECONNECT_MAX_NS;
        return SELGW_ERR_CONNECT;
    }
    if (t->open_failures.err != SELGW_OK)
        selgw_repeat_ok(&t->open_failures, what);
    else
        selgw_log(SELGW_LOG_INFO, "%s: open", what);
    t->open = true;
    t->reopen_delay_ns = RECONNECT_FIRST_NS;
    t->last_frame_end_ns = 0;
    return SELGW_OK;
}

/* Before a transaction: the serial line's silence between frames, and no stale input. */
static void before_transaction(selgw_transport *t)
{
    /* A serial line must stay silent between frames, or devices merge two frames. */
    if (t->frame_gap_ns > 0 && t->last_frame_end_ns > 0)
        selgw_sleep_until(t->last_frame_end_ns + t->frame_gap_ns);
    if (t->ops->discard_input)
        t->ops->discard_input(t->state);
}

/* After one: a lost link (or a TCP stream out of step) is closed, reopened by a later
 * call. */
static void after_transaction(selgw_transport *t, selgw_err err)
{
    t->last_frame_end_ns = selgw_mono_ns();
    if (err == SELGW_ERR_DISCONNECTED ||
        (err == SELGW_ERR_BAD_FRAME && t->ops->reopen_after_bad_frame)) {
        if (err == SELGW_ERR_DISCONNECTED)
            selgw_log(SELGW_LOG_WARN, "bus %s (%s): link lost, will reopen", t->bus->id,
                      t->description);
        t->ops->close(t->state);
        t->open = false;
        t->next_open_ns = 0; /* the first reopen is tried at once */
    }
}

selgw_err selgw_transport_write_register(selgw_transport *t, int unit_id, uint16_t address,
                                         uint16_t value, int *exception_code)
{
    *exception_code = 0;
    if (!t->ops->write_register)
        return SELGW_ERR_INVALID;
    selgw_err err = ensure_open(t);
    if (err != SELGW_OK)
        return err;
    before_transaction(t);
    err = t->ops->write_register(t->state, unit_id, address, value, exception_code);
    after_transaction(t, err);
    return err;
}

void selgw_transport_set_trace(selgw_transport *t, selgw_frame_fn fn, void *ctx)
{
    if (t->ops->set_trace)
        t->ops->set_trace(t->state, fn, ctx);
}

selgw_err selgw_transport_read(selgw_transport *t, int unit_id, const selgw_read_request *request,
                               uint16_t *regs, uint8_t *bits, int *exception_code, char *why,
                               size_t why_cap)
{
    *exception_code = 0;
    char scratch[1];
    if (!why || !why_cap) {
        why = scratch;
        why_cap = sizeof scratch;
    }
    why[0] = '\0';
    selgw_err err = ensure_open(t);
    if (err != SELGW_OK)
        return err;
    before_transaction(t);
    err = t->ops->read(t->state, unit_id, request, regs, bits, exception_code, why, why_cap);
    after_transaction(t, err);
    return err;
}

double selgw_bus_char_time_us(const selgw_bus *bus)
{
    int bits = 1 + bus->data_bits + (bus->parity == 'N' ? 0 : 1) + bus->stop_bits;
    int baud = bus->baud > 0 ? bus->baud : 9600;
    return bits * 1e6 / baud;
}

void selgw_bus_describe(const selgw_bus *bus, char *buf, size_t cap)
{
    if (bus->kind == SELGW_BUS_TCP)
        snprintf(buf, cap, "tcp %s:%d", bus->host ? bus->host : "?", bus->port);
    else
        snprintf(buf, cap, "rtu %s %d %d%c%d", bus->device ? bus->device : "?", bus->baud,
                 bus->data_bits, bus->parity, bus->stop_bits);
}
