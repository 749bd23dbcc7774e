/* selgw: the link to the devices of one bus, behind a small const ops table.
 *
 * The poller drives a selgw_transport and never knows whether it is Modbus TCP, Modbus RTU
 * on a serial line, or a test double. This generic layer owns what every transport needs:
 * the connection state, reconnecting with backoff after a loss (a TCP peer that went away,
 * a USB RS-485 adapter that was unplugged and comes back), and the silence kept between
 * frames. A backend only opens, closes and performs one read. */
#ifndef SELGW_TRANSPORT_H
#define SELGW_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "base/error.h"
#include "sensors/plan.h"

typedef struct selgw_transport selgw_transport;

typedef struct selgw_transport_ops {
    const char *name; /* "tcp", "rtu", ... */
    /* Creates the backend state for a bus (no I/O yet). */
    selgw_err (*create)(const selgw_bus *bus, void **state);
    void (*destroy)(void *state);
    /* Connects to the peer / opens the line. */
    selgw_err (*open)(void *state);
    void (*close)(void *state);
    /* Drops stale input (a late answer to an earlier request) before a new request. */
    void (*discard_input)(void *state);
    /* One read. Registers go to regs (count of them), bits to bits (one byte per bit).
     * On SELGW_ERR_EXCEPTION *exception_code is the device's exception code. On a failure
     * the backend may say why in `why` (what was wrong with a corrupt answer), for the
     * log; it is empty when there is nothing to add to the error itself. */
    selgw_err (*read)(void *state, int unit_id, const selgw_read_request *request, uint16_t *regs,
                      uint8_t *bits, int *exception_code, char *why, size_t why_cap);
    /* Least silence between the end of one transaction and the next request, in
     * microseconds (3.5 character times on a serial line, 0 on TCP). */
    int64_t (*frame_gap_us)(const selgw_bus *bus);
    /* A corrupt answer leaves a byte stream (TCP) out of step: reconnect after one. A
     * serial line resynchronises on the silence between frames and needs no reopen. */
    bool reopen_after_bad_frame;
} selgw_transport_ops;

extern const selgw_transport_ops selgw_transport_tcp_ops;
extern const selgw_transport_ops selgw_transport_rtu_ops;

/* A transport for a bus of the config, with the ops its kind calls for. */
selgw_err selgw_transport_new(const selgw_bus *bus, selgw_transport **out);
/* A transport with explicit ops (tests use a double). */
selgw_err selgw_transport_new_with_ops(const selgw_bus *bus, const selgw_transport_ops *ops,
                                       selgw_transport **out);
void selgw_transport_free(selgw_transport *t); /* closes; NULL is fine */

/* Reads one request from one device. Opens the link first if it is down and a reconnect
 * attempt is due (SELGW_ERR_CONNECT at once, without waiting, if it is not due yet or the
 * attempt fails). Keeps the inter-frame silence. A lost link (SELGW_ERR_DISCONNECTED) is
 * closed, and reopened by a later call. `why` (may be NULL) gets the backend's reason for
 * a failure, or is left empty. */
selgw_err selgw_transport_read(selgw_transport *t, int unit_id, const selgw_read_request *request,
                               uint16_t *regs, uint8_t *bits, int *exception_code, char *why,
                               size_t why_cap);

/* What an operator should know when the bus's link could not be opened with errno e: the
 * system's words and the likely fix ("/dev/ttyUSB0: Permission denied: user 'pi' is not in
 * group 'dialout', which owns it (sudo usermod -aG dialout pi, then log in again)"; a
 * missing adapter; nothing listening on a TCP port). Looks at the device and the process's
 * groups for a serial line that refused access. */
void selgw_bus_open_advice(const selgw_bus *bus, int e, char *buf, size_t cap);

/* The permission part of that advice for a serial device owned by `group`, from facts
 * (pure): whether `user` is a member of it. */
void selgw_serial_permission_advice(const char *device, const char *user, const char *group,
                                    bool member, char *buf, size_t cap);

bool selgw_transport_is_open(const selgw_transport *t);
const char *selgw_transport_name(const selgw_transport *t);

/* "tcp 127.0.0.1:502" or "rtu /dev/ttyUSB0 9600 8N1", for logs. */
void selgw_bus_describe(const selgw_bus *bus, char *buf, size_t cap);

/* Time one character takes on the bus's serial line, in microseconds (start, data,
 * parity and stop bits at its baud rate). */
double selgw_bus_char_time_us(const selgw_bus *bus);

#endif
