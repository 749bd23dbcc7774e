#include "poll/transport.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        char advice[384];
        selgw_bus_open_advice(t->bus, errno, advice, sizeof advice);
        char detail[400];
        snprintf(detail, sizeof detail, "%s; will retry", advice);
        selgw_repeat_fail(&t->open_failures, what, err, detail);
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

void selgw_serial_permission_advice(const char *device, const char *user, const char *group,
                                    bool member, char *buf, size_t cap)
{
    if (!strcmp(group, "root"))
        /* joining root's group is no fix: the device should belong to dialout */
        snprintf(buf, cap,
                 "%s: permission denied: it belongs to group root, not dialout; give serial "
                 "adapters to dialout with a udev rule (SUBSYSTEM==\"tty\", GROUP=\"dialout\", "
                 "MODE=\"0660\") and put user '%s' in dialout",
                 device, user);
    else if (member)
        snprintf(buf, cap,
                 "%s: permission denied although user '%s' is in group '%s', which owns it: "
                 "check the device's mode (ls -l %s)",
                 device, user, group, device);
    else
        snprintf(buf, cap,
                 "%s: permission denied: user '%s' is not in group '%s', which owns it "
                 "(sudo usermod -aG %s %s, then log in again; the selgw service user is in it)",
                 device, user, group, group, user);
}

/* Whether this process may use files of group gid: its effective or a supplementary group. */
static bool in_group(gid_t gid)
{
    if (getegid() == gid)
        return true;
    gid_t groups[256];
    int n = getgroups(sizeof groups / sizeof groups[0], groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

void selgw_bus_open_advice(const selgw_bus *bus, int e, char *buf, size_t cap)
{
    if (e == 0) {
        snprintf(buf, cap, "the link could not be opened");
        return;
    }
    if (bus->kind == SELGW_BUS_TCP) {
        if (e == ECONNREFUSED)
            snprintf(buf, cap,
                     "%s:%d refused the connection: nothing listens on that port (check the "
                     "converter's address and Modbus TCP port)",
                     bus->host, bus->port);
        else if (e == ETIMEDOUT || e == EHOSTUNREACH || e == ENETUNREACH)
            snprintf(buf, cap, "%s:%d: %s (check the address, the cable and the network)",
                     bus->host, bus->port, strerror(e));
        else
            snprintf(buf, cap, "%s:%d: %s", bus->host, bus->port, strerror(e));
        return;
    }
    struct stat st;
    if (e == ENOENT || e == ENODEV || e == ENXIO) {
        snprintf(buf, cap,
                 "%s: %s (is the USB-RS485 adapter plugged in? ls /dev/ttyUSB* /dev/serial/by-id/)",
                 bus->device, strerror(e));
    } else if ((e == EACCES || e == EPERM) && stat(bus->device, &st) == 0) {
        /* pollers run in threads: the reentrant lookups */
        char scratch[4096], user[64] = "?", group[64] = "?";
        struct group gr, *grp = NULL;
        struct passwd pw, *pwp = NULL;
        if (getgrgid_r(st.st_gid, &gr, scratch, sizeof scratch, &grp) == 0 && grp)
            snprintf(group, sizeof group, "%s", grp->gr_name);
        if (getpwuid_r(geteuid(), &pw, scratch, sizeof scratch, &pwp) == 0 && pwp)
            snprintf(user, sizeof user, "%s", pwp->pw_name);
        selgw_serial_permission_advice(bus->device, user, group, in_group(st.st_gid), buf, cap);
    } else if (e == EBUSY) {
        snprintf(buf, cap,
                 "%s: %s (another program holds the line: a running gateway, or another selgw "
                 "command; one master per line: fuser -v %s)",
                 bus->device, strerror(e), bus->device);
    } else {
        snprintf(buf, cap, "%s: %s", bus->device, strerror(e));
    }
}
