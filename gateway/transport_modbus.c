/* The Modbus TCP and Modbus RTU backends of selgw_transport, both over libmodbus.
 * libmodbus reports through errno; this is the boundary where its codes become selgw_err:
 * a Modbus exception (the device said no) is not a timeout (nobody answered). */
#include <errno.h>
#include <modbus.h>
#include <stdlib.h>

#include "transport.h"

typedef struct modbus_link {
    const selgw_bus *bus;
    modbus_t *ctx;
} modbus_link;

static selgw_err translate_errno(int e, int *exception_code)
{
    if (e > MODBUS_ENOBASE && e <= EMBXGTAR) {
        *exception_code = e - MODBUS_ENOBASE;
        return SELGW_ERR_EXCEPTION;
    }
    switch (e) {
    case ETIMEDOUT:
        return SELGW_ERR_TIMEOUT;
    case EMBBADCRC:
    case EMBBADDATA:
    case EMBBADEXC:
    case EMBUNKEXC:
    case EMBMDATA:
    case EMBBADSLAVE:
        return SELGW_ERR_BAD_FRAME;
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
    case EPIPE:
    case EBADF:
    case EIO:
    case ENXIO:
    case ENODEV:
    case ENOTCONN:
    case ENETUNREACH:
    case EHOSTUNREACH:
        return SELGW_ERR_DISCONNECTED;
    case ENOMEM:
        return SELGW_ERR_NOMEM;
    case EINVAL:
        return SELGW_ERR_INVALID;
    default:
        return SELGW_ERR_IO;
    }
}

static void set_timeouts(modbus_t *ctx, int response_ms, int byte_ms)
{
    modbus_set_response_timeout(ctx, (uint32_t)(response_ms / 1000),
                                (uint32_t)(response_ms % 1000) * 1000);
    modbus_set_byte_timeout(ctx, (uint32_t)(byte_ms / 1000), (uint32_t)(byte_ms % 1000) * 1000);
}

static selgw_err tcp_create(const selgw_bus *bus, void **state)
{
    modbus_link *link = calloc(1, sizeof *link);
    if (!link)
        return SELGW_ERR_NOMEM;
    char port[16];
    snprintf(port, sizeof port, "%d", bus->port);
    /* modbus_new_tcp_pi resolves names as well as numeric addresses. */
    link->ctx = modbus_new_tcp_pi(bus->host, port);
    if (!link->ctx) {
        free(link);
        return SELGW_ERR_NOMEM;
    }
    link->bus = bus;
    /* On TCP the answer may arrive in several segments; allow the whole timeout. */
    set_timeouts(link->ctx, bus->response_timeout_ms, bus->response_timeout_ms);
    *state = link;
    return SELGW_OK;
}

static selgw_err rtu_create(const selgw_bus *bus, void **state)
{
    modbus_link *link = calloc(1, sizeof *link);
    if (!link)
        return SELGW_ERR_NOMEM;
    link->ctx = modbus_new_rtu(bus->device, bus->baud, bus->parity, bus->data_bits, bus->stop_bits);
    if (!link->ctx) {
        free(link);
        return errno == ENOMEM ? SELGW_ERR_NOMEM : SELGW_ERR_INVALID;
    }
    link->bus = bus;
    /* Between the bytes of one frame a serial line is never silent for long: 20 character
     * times (at least 50 ms, for USB adapters that deliver in chunks) means the frame ended
     * short, and the poll fails then instead of waiting a whole response timeout more. */
    int byte_ms = (int)(selgw_bus_char_time_us(bus) * 20 / 1000) + 1;
    if (byte_ms < 50)
        byte_ms = 50;
    if (byte_ms > bus->response_timeout_ms)
        byte_ms = bus->response_timeout_ms;
    set_timeouts(link->ctx, bus->response_timeout_ms, byte_ms);
    *state = link;
    return SELGW_OK;
}

static void link_destroy(void *state)
{
    modbus_link *link = state;
    if (!link)
        return;
    modbus_free(link->ctx);
    free(link);
}

static selgw_err link_open(void *state)
{
    modbus_link *link = state;
    if (modbus_connect(link->ctx) == -1) {
        int e = errno;
        modbus_close(link->ctx);
        int ignored;
        selgw_err err = translate_errno(e, &ignored);
        return err == SELGW_ERR_DISCONNECTED || err == SELGW_ERR_IO || err == SELGW_ERR_TIMEOUT
                   ? SELGW_ERR_CONNECT
                   : err;
    }
    return SELGW_OK;
}

static void link_close(void *state)
{
    modbus_link *link = state;
    modbus_close(link->ctx);
}

static void link_discard_input(void *state)
{
    modbus_link *link = state;
    modbus_flush(link->ctx);
}

static selgw_err link_read(void *state, int unit_id, const selgw_read_request *rq, uint16_t *regs,
                           uint8_t *bits, int *exception_code)
{
    modbus_link *link = state;
    if (modbus_set_slave(link->ctx, unit_id) == -1)
        return SELGW_ERR_INVALID;
    int n;
    switch (rq->function) {
    case 1:
        n = modbus_read_bits(link->ctx, rq->address, rq->count, bits);
        break;
    case 2:
        n = modbus_read_input_bits(link->ctx, rq->address, rq->count, bits);
        break;
    case 3:
        n = modbus_read_registers(link->ctx, rq->address, rq->count, regs);
        break;
    case 4:
        n = modbus_read_input_registers(link->ctx, rq->address, rq->count, regs);
        break;
    default:
        return SELGW_ERR_INVALID;
    }
    if (n == rq->count)
        return SELGW_OK;
    if (n >= 0)
        return SELGW_ERR_BAD_FRAME;
    return translate_errno(errno, exception_code);
}

static int64_t tcp_frame_gap_us(const selgw_bus *bus)
{
    (void)bus;
    return 0;
}

static int64_t rtu_frame_gap_us(const selgw_bus *bus)
{
    /* Modbus over serial line, 2.5.1.1: 3.5 character times; fixed 1750 us above 19200
     * baud. */
    if (bus->baud > 19200)
        return 1750;
    return (int64_t)(selgw_bus_char_time_us(bus) * 3.5 + 0.5);
}

const selgw_transport_ops selgw_transport_tcp_ops = {
    .name = "tcp",
    .create = tcp_create,
    .destroy = link_destroy,
    .open = link_open,
    .close = link_close,
    .discard_input = link_discard_input,
    .read = link_read,
    .frame_gap_us = tcp_frame_gap_us,
    .reopen_after_bad_frame = true,
};

const selgw_transport_ops selgw_transport_rtu_ops = {
    .name = "rtu",
    .create = rtu_create,
    .destroy = link_destroy,
    .open = link_open,
    .close = link_close,
    .discard_input = link_discard_input,
    .read = link_read,
    .frame_gap_us = rtu_frame_gap_us,
};
