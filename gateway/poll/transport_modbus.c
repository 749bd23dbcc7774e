/* The Modbus TCP and Modbus RTU backends of selgw_transport, both over libmodbus.
 * libmodbus reports through errno; this is the boundary where its codes become selgw_err:
 * a Modbus exception (the device said no) is not a timeout (nobody answered). Every reply
 * is checked against its request by modbus_reply.h, which says why a corrupt one is. */
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "base/clock.h"
#include "sensors/modbus_reply.h"
#include "poll/transport.h"

typedef struct modbus_link {
    const selgw_bus *bus;
    modbus_t *ctx;
    /* TCP: the requests' transaction ids, and the timeouts libmodbus was given. */
    uint16_t transaction_id;
    int response_timeout_ms;
    int byte_timeout_ms;
    int receive_timeout_ms; /* SO_RCVTIMEO of the open TCP socket (blocking); 0 when not set */
    selgw_frame_fn trace;   /* NULL, or who sees every frame (selgw read --raw) */
    void *trace_ctx;
} modbus_link;

static void trace(const modbus_link *link, bool sent, const uint8_t *frame, size_t len)
{
    if (link->trace && len)
        link->trace(link->trace_ctx, sent, frame, len);
}

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
    link->response_timeout_ms = bus->response_timeout_ms;
    link->byte_timeout_ms = bus->response_timeout_ms;
    set_timeouts(link->ctx, link->response_timeout_ms, link->byte_timeout_ms);
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

/* SO_RCVTIMEO (or SO_SNDTIMEO with `send`) of ms, at least 1 (0 would mean forever). */
static int set_socket_timeout(int fd, bool send, int ms)
{
    if (ms < 1)
        ms = 1;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, send ? SO_SNDTIMEO : SO_RCVTIMEO, &tv, sizeof tv);
}

static selgw_err link_open(void *state)
{
    modbus_link *link = state;
    if (modbus_connect(link->ctx) == -1) {
        int e = errno;
        modbus_close(link->ctx);
        int ignored;
        selgw_err err = translate_errno(e, &ignored);
        errno = e; /* for the advice the transport logs */
        return err == SELGW_ERR_DISCONNECTED || err == SELGW_ERR_IO || err == SELGW_ERR_TIMEOUT
                   ? SELGW_ERR_CONNECT
                   : err;
    }
    /* One master per line: a gateway and `selgw scan` on the same adapter would garble each
     * other's frames. An advisory lock, so root is held to it too. */
    if (link->bus->kind == SELGW_BUS_RTU &&
        flock(modbus_get_socket(link->ctx), LOCK_EX | LOCK_NB) != 0) {
        int e = errno == EWOULDBLOCK ? EBUSY : errno;
        modbus_close(link->ctx);
        errno = e;
        return SELGW_ERR_CONNECT;
    }
    /* TCP: the socket libmodbus opened non-blocking is made blocking, with the response
     * timeout as SO_RCVTIMEO, so that waiting for a reply is one recv() instead of a poll()
     * and a recv() (receive_some). libmodbus's own reads (writes, the flush with
     * MSG_DONTWAIT) select() before they recv(), and work on either. Should it fail, the
     * socket stays as it was and replies are waited for with poll(). */
    link->receive_timeout_ms = 0;
    if (link->bus->kind == SELGW_BUS_TCP) {
        int fd = modbus_get_socket(link->ctx);
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0 && set_socket_timeout(fd, false, link->response_timeout_ms) == 0 &&
            set_socket_timeout(fd, true, link->response_timeout_ms) == 0 &&
            fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0)
            link->receive_timeout_ms =
                link->response_timeout_ms > 0 ? link->response_timeout_ms : 1;
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

/* The request as modbus_reply.h checks its answer against. SELGW_ERR_INVALID for a unit
 * id that does not fit the protocol's byte. */
static selgw_err request_of(int unit_id, const selgw_read_request *rq, selgw_modbus_request *out)
{
    if (unit_id < 0 || unit_id > 255)
        return SELGW_ERR_INVALID;
    *out = (selgw_modbus_request){
        .unit_id = (uint8_t)unit_id,
        .function = rq->function,
        .address = rq->address,
        .count = rq->count,
    };
    return SELGW_OK;
}

/* ---- Modbus TCP ----------------------------------------------------------------------
 *
 * libmodbus 3.1.6 opens, flushes and closes the connection, but the request and its reply
 * are ours, on the socket of modbus_get_socket(). Its raw API cannot serve here (read in
 * its source, src/modbus.c and src/modbus-tcp.c at v3.1.6):
 *  - modbus_send_raw_request builds the MBAP header with transaction id 0, always
 *    (sft.t_id = 0; the context's counter is only used by its own read functions), and
 *    gives no way to set or read it back: a late answer to an earlier request could not be
 *    told from the answer to this one;
 *  - modbus_receive_confirmation frames the reply by its function code and byte count and
 *    checks nothing of the header (even its own read functions never check the unit id or
 *    the MBAP length, and take a protocol id with one zero byte), so a byte count larger
 *    than the data makes it wait for bytes that never come: a timeout where the device did
 *    answer, wrongly.
 * So the 12-byte ADU is built here with our own transaction id, and the reply is received
 * under the same timeouts libmodbus applied (the response timeout until the first bytes,
 * then the byte timeout between chunks: on a blocking socket through SO_RCVTIMEO, link_open),
 * and within one deadline for the whole reply (the response timeout plus one byte timeout),
 * so that a device trickling a byte at a time cannot hold the bus; it is framed and checked
 * by modbus_reply.h: a reply that is already wrong is judged at once, without waiting for
 * more. What is left of it in the stream goes with the connection, which is reopened after a
 * bad frame. */

/* Waits until fd is ready for `events` or the wait (ms) is over: ETIMEDOUT then. */
static int wait_fd(int fd, short events, int wait_ms)
{
    int64_t deadline = selgw_mono_ns() + (int64_t)wait_ms * SELGW_NS_PER_MS;
    for (;;) {
        int64_t left_ms = (deadline - selgw_mono_ns() + SELGW_NS_PER_MS - 1) / SELGW_NS_PER_MS;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, left_ms > 0 ? (int)left_ms : 0);
        if (rc > 0)
            return 0;
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

/* Sends all of buf; errno on failure. Each send is non-blocking (the socket is too unless
 * link_open made it blocking for the receives); a full send buffer is waited out with poll(). */
static int send_all(int fd, const uint8_t *buf, size_t len, int wait_ms)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            sent += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || wait_fd(fd, POLLOUT, wait_ms) == -1)
            return -1;
    }
    return 0;
}

/* Receives up to len bytes, waiting at most wait_ms for the first; the count, or -1 with
 * errno (ETIMEDOUT; ECONNRESET when the peer closed the connection, as libmodbus says). */
static ssize_t receive_some(modbus_link *link, int fd, uint8_t *buf, size_t len, int wait_ms)
{
    /* A blocking socket (link_open): recv itself waits, and SO_RCVTIMEO ends the wait. */
    bool blocking = link->receive_timeout_ms > 0;
    int want = wait_ms > 0 ? wait_ms : 1;
    if (blocking && want != link->receive_timeout_ms) {
        if (set_socket_timeout(fd, false, want) != 0)
            return -1;
        link->receive_timeout_ms = want;
    }
    for (;;) {
        if (!blocking && wait_fd(fd, POLLIN, wait_ms) == -1)
            return -1;
        ssize_t n = recv(fd, buf, len, 0);
        if (n > 0)
            return n;
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (blocking && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            errno = ETIMEDOUT;
            return -1;
        }
        /* pollers block signals; on a blocking socket an EINTR waits the timeout anew */
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
    }
}

static selgw_err tcp_read(void *state, int unit_id, const selgw_read_request *rq, uint16_t *regs,
                          uint8_t *bits, int *exception_code, char *why, size_t why_cap)
{
    modbus_link *link = state;
    selgw_modbus_request sent;
    uint8_t request[SELGW_MODBUS_TCP_REQUEST_SIZE];
    if (request_of(unit_id, rq, &sent) != SELGW_OK)
        return SELGW_ERR_INVALID;
    sent.transaction_id = ++link->transaction_id;
    if (selgw_modbus_encode_tcp_request(&sent, request) != SELGW_OK)
        return SELGW_ERR_INVALID;
    int fd = modbus_get_socket(link->ctx);
    if (fd < 0)
        return translate_errno(EBADF, exception_code);
    trace(link, true, request, sizeof request);
    if (send_all(fd, request, sizeof request, link->response_timeout_ms) == -1)
        return translate_errno(errno, exception_code);

    /* Each receive takes whatever has come, up to a whole ADU, rather than only the bytes
     * the framing asks for next (header, function and count, data): a reply arrives in one
     * segment, and reading it in three pieces cost two more poll and recv calls per poll
     * (docs/BENCHMARKS.md). The framing then walks over what was received exactly as it
     * walked over the pieces: `framed` steps through the lengths it asks for, and the
     * reply is judged at the same length as before. Bytes received after the reply are
     * dropped: they are what discard_input would have flushed before the next request. */
    uint8_t reply[SELGW_MODBUS_TCP_MAX_ADU];
    size_t framed = 0, received = 0, wanted;
    int wait_ms = link->response_timeout_ms;
    int64_t deadline =
        selgw_mono_ns() +
        ((int64_t)link->response_timeout_ms + link->byte_timeout_ms) * SELGW_NS_PER_MS;
    while ((wanted = selgw_modbus_tcp_reply_wanted(reply, framed, &sent)) > framed) {
        if (wanted <= received) {
            framed = wanted;
            continue;
        }
        int64_t left_ms = (deadline - selgw_mono_ns()) / SELGW_NS_PER_MS;
        if (left_ms <= 0)
            return translate_errno(ETIMEDOUT, exception_code);
        if (wait_ms > left_ms)
            wait_ms = (int)left_ms;
        ssize_t n = receive_some(link, fd, reply + received, sizeof reply - received, wait_ms);
        if (n < 0)
            return translate_errno(errno, exception_code);
        received += (size_t)n;
        framed = received < wanted ? received : wanted;
        wait_ms = link->byte_timeout_ms;
    }
    trace(link, false, reply, framed);
    return selgw_modbus_decode_tcp_reply(reply, framed, &sent, regs, bits, exception_code, why,
                                         why_cap);
}

/* ---- Modbus RTU ----------------------------------------------------------------------
 *
 * libmodbus sends and receives (serial line setup, RTS, its byte timing), through its raw
 * API so that the reply is checked here, by the same rules as on TCP. Its receiver frames
 * the reply by the byte count, so a byte count larger than the request calls for makes it
 * wait for bytes that never come, and it reports ETIMEDOUT: no different from a device
 * that never answered. But it reads straight into our buffer (src/modbus.c,
 * _modbus_receive_msg, v3.1.6), so the buffer is filled beforehand with the start of the
 * expected reply (address, function, byte count): after a timeout, any of those bytes
 * that differs was received, and the device did answer, wrongly (SELGW_ERR_BAD_FRAME). A
 * reply that starts right and stops short stays a timeout, as before. */

static selgw_err rtu_read(void *state, int unit_id, const selgw_read_request *rq, uint16_t *regs,
                          uint8_t *bits, int *exception_code, char *why, size_t why_cap)
{
    modbus_link *link = state;
    selgw_modbus_request sent;
    /* modbus_send_raw_request takes the slave address and the PDU, and adds the CRC. */
    uint8_t request[1 + SELGW_MODBUS_READ_PDU_SIZE];
    if (request_of(unit_id, rq, &sent) != SELGW_OK ||
        selgw_modbus_encode_pdu(&sent, request + 1) != SELGW_OK)
        return SELGW_ERR_INVALID;
    request[0] = sent.unit_id;
    /* libmodbus drops a reply from another slave by the context's slave address. */
    if (modbus_set_slave(link->ctx, unit_id) == -1)
        return SELGW_ERR_INVALID;
    if (link->trace) { /* as on the wire: libmodbus appends the CRC, low byte first */
        uint8_t adu[sizeof request + 2];
        memcpy(adu, request, sizeof request);
        uint16_t crc = selgw_modbus_crc16(request, sizeof request);
        adu[sizeof request] = (uint8_t)(crc & 0xFF);
        adu[sizeof request + 1] = (uint8_t)(crc >> 8);
        trace(link, true, adu, sizeof adu);
    }
    if (modbus_send_raw_request(link->ctx, request, sizeof request) == -1)
        return translate_errno(errno, exception_code);

    uint8_t reply[MODBUS_MAX_ADU_LENGTH] = {0};
    enum { EXPECTED_START = 3 }; /* address, function, byte count */
    reply[0] = sent.unit_id;
    reply[1] = sent.function;
    reply[2] = (uint8_t)selgw_modbus_reply_byte_count(&sent);
    int n = modbus_receive_confirmation(link->ctx, reply);
    if (n > 0)
        trace(link, false, reply, (size_t)n);
    if (n > 0)
        return selgw_modbus_decode_rtu_reply(reply, (size_t)n, &sent, regs, bits, exception_code,
                                             why, why_cap);
    if (n == 0) { /* a whole frame from another slave address, dropped by libmodbus */
        selgw_modbus_check_rtu_start(reply, 1, &sent, why, why_cap);
        return SELGW_ERR_BAD_FRAME;
    }
    int e = errno;
    selgw_err err = translate_errno(e, exception_code);
    if (err != SELGW_ERR_TIMEOUT && err != SELGW_ERR_BAD_FRAME)
        return err;
    if (selgw_modbus_check_rtu_start(reply, EXPECTED_START, &sent, why, why_cap) != SELGW_OK)
        return SELGW_ERR_BAD_FRAME;
    if (err == SELGW_ERR_BAD_FRAME)
        selgw_explain(why, why_cap, "%s", modbus_strerror(e));
    return err;
}

/* ---- commissioning ------------------------------------------------------------------ */

/* A write is rare and one-shot (selgw set-address), so libmodbus's own function 6, which
 * checks the device's echo, serves on both links. */
static selgw_err link_write_register(void *state, int unit_id, uint16_t address, uint16_t value,
                                     int *exception_code)
{
    modbus_link *link = state;
    if (unit_id < 0 || unit_id > 255 || modbus_set_slave(link->ctx, unit_id) == -1)
        return SELGW_ERR_INVALID;
    if (modbus_write_register(link->ctx, address, value) == -1)
        return translate_errno(errno, exception_code);
    return SELGW_OK;
}

static void link_set_trace(void *state, selgw_frame_fn fn, void *ctx)
{
    modbus_link *link = state;
    link->trace = fn;
    link->trace_ctx = ctx;
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
    .read = tcp_read,
    .frame_gap_us = tcp_frame_gap_us,
    .write_register = link_write_register,
    .set_trace = link_set_trace,
    .reopen_after_bad_frame = true,
};

const selgw_transport_ops selgw_transport_rtu_ops = {
    .name = "rtu",
    .create = rtu_create,
    .destroy = link_destroy,
    .open = link_open,
    .close = link_close,
    .discard_input = link_discard_input,
    .read = rtu_read,
    .frame_gap_us = rtu_frame_gap_us,
    .write_register = link_write_register,
    .set_trace = link_set_trace,
};
