#include "sim/sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sensors/decode.h"
#include "sensors/modbus_reply.h"
#include "sim/model.h"

/* ------------------------------------------------------------------------------------------
 * Modbus framing */

uint16_t selgw_sim_crc16(const uint8_t *data, size_t len)
{
    return selgw_modbus_crc16(data, len); /* one CRC16 for the gateway and the simulator */
}

int selgw_sim_rtu_request_length(const uint8_t *buf, size_t len)
{
    if (len < 2)
        return 0;
    switch (buf[1]) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
        return 8; /* address, function, 2 x 16-bit fields, CRC */
    case 15:
    case 16:
        if (len < 7)
            return 0;
        return 9 + buf[6]; /* address, function, start, quantity, byte count, data, CRC */
    default:
        return -1;
    }
}

bool selgw_sim_rtu_crc_ok(const uint8_t *frame, size_t len)
{
    if (len < 4)
        return false;
    uint16_t crc = selgw_sim_crc16(frame, len - 2);
    return frame[len - 2] == (crc & 0xFF) && frame[len - 1] == (crc >> 8);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)(v & 0xFF);
}

/* ------------------------------------------------------------------------------------------
 * Faults */

selgw_err selgw_sim_fault_parse(const char *text, selgw_sim_fault *out, char *err, size_t errlen)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    const char *colon = strchr(text, ':');
    size_t kind_len = colon ? (size_t)(colon - text) : strlen(text);
    const char *arg = colon ? colon + 1 : NULL;
    selgw_sim_fault f = {SELGW_SIM_FAULT_NONE, 0};

#define KIND_IS(name) (kind_len == strlen(name) && strncmp(text, name, kind_len) == 0)
    if (KIND_IS("none") || KIND_IS("silent") || KIND_IS("corrupt")) {
        f.kind = KIND_IS("none")     ? SELGW_SIM_FAULT_NONE
                 : KIND_IS("silent") ? SELGW_SIM_FAULT_SILENT
                                     : SELGW_SIM_FAULT_CORRUPT;
        if (arg) {
            snprintf(err, errlen, "fault '%.*s' takes no argument", (int)kind_len, text);
            return SELGW_ERR_INVALID;
        }
    } else if (KIND_IS("exception") || KIND_IS("slow")) {
        bool is_exception = KIND_IS("exception");
        f.kind = is_exception ? SELGW_SIM_FAULT_EXCEPTION : SELGW_SIM_FAULT_SLOW;
        f.arg = is_exception ? SELGW_SIM_EX_DEVICE_FAILURE : 0;
        if (!arg && !is_exception) {
            snprintf(err, errlen, "fault 'slow' needs a delay: slow:MS");
            return SELGW_ERR_INVALID;
        }
        if (arg) {
            char *end;
            errno = 0;
            long v = strtol(arg, &end, is_exception ? 0 : 10);
            long lo = is_exception ? 1 : 0, hi = is_exception ? 255 : 3600000;
            if (*arg == '\0' || *end != '\0' || errno || v < lo || v > hi) {
                snprintf(err, errlen, "bad %s '%s': expected %s", is_exception ? "code" : "delay",
                         arg,
                         is_exception ? "an exception code 1..255 (e.g. 4 or 0x0B)"
                                      : "milliseconds 0..3600000");
                return SELGW_ERR_INVALID;
            }
            f.arg = (int)v;
        }
    } else {
        snprintf(err, errlen,
                 "unknown fault kind '%.*s' (none, silent, exception[:CODE], slow:MS, corrupt)",
                 (int)kind_len, text);
        return SELGW_ERR_INVALID;
    }
#undef KIND_IS
    *out = f;
    return SELGW_OK;
}

void selgw_sim_fault_format(const selgw_sim_fault *fault, char *buf, size_t len)
{
    switch (fault->kind) {
    case SELGW_SIM_FAULT_SILENT:
        snprintf(buf, len, "silent");
        break;
    case SELGW_SIM_FAULT_EXCEPTION:
        snprintf(buf, len, "exception:0x%02X", (unsigned)fault->arg);
        break;
    case SELGW_SIM_FAULT_SLOW:
        snprintf(buf, len, "slow:%d", fault->arg);
        break;
    case SELGW_SIM_FAULT_CORRUPT:
        snprintf(buf, len, "corrupt");
        break;
    case SELGW_SIM_FAULT_NONE:
    default:
        snprintf(buf, len, "none");
        break;
    }
}

/* ------------------------------------------------------------------------------------------
 * One simulated device */

#define REGISTER_SPACE 65536u

enum script_kind { SCRIPT_NONE, SCRIPT_VALUE, SCRIPT_FROZEN };

struct field_script {
    enum script_kind kind;
    double value;    /* SCRIPT_VALUE */
    double frozen_s; /* SCRIPT_FROZEN: the simulated time whose value it keeps */
};

struct selgw_sim_device {
    const selgw_profile *profile;
    uint64_t seed;
    int utc_offset_minutes;
    /* Holding registers written by functions 6 and 16, allocated on the first write: the
     * value, and one bit per register saying it was written. */
    uint16_t *written;
    uint8_t *written_mask;
    /* Scripted values, one per field of the profile, allocated on the first script. */
    struct field_script *script;
    selgw_sim_scenario scenario;
};

selgw_sim_device *selgw_sim_device_new(const selgw_profile *profile, uint64_t seed,
                                       int utc_offset_minutes)
{
    selgw_sim_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return NULL;
    dev->profile = profile;
    dev->seed = seed;
    dev->utc_offset_minutes = utc_offset_minutes;
    return dev;
}

void selgw_sim_device_free(selgw_sim_device *dev)
{
    if (!dev)
        return;
    free(dev->written);
    free(dev->written_mask);
    free(dev->script);
    free(dev);
}

static ssize_t field_index(const selgw_sim_device *dev, const char *name)
{
    for (size_t i = 0; i < dev->profile->field_count; i++)
        if (!strcmp(dev->profile->fields[i].name, name))
            return (ssize_t)i;
    return -1;
}

static selgw_err script_for(selgw_sim_device *dev, const char *field, size_t *first, size_t *end)
{
    if (!dev->script) {
        dev->script =
            calloc(dev->profile->field_count ? dev->profile->field_count : 1, sizeof *dev->script);
        if (!dev->script)
            return SELGW_ERR_NOMEM;
    }
    if (!field) {
        *first = 0;
        *end = dev->profile->field_count;
        return SELGW_OK;
    }
    ssize_t i = field_index(dev, field);
    if (i < 0)
        return SELGW_ERR_INVALID;
    *first = (size_t)i;
    *end = (size_t)i + 1;
    return SELGW_OK;
}

selgw_err selgw_sim_device_set_value(selgw_sim_device *dev, const char *field, double value)
{
    size_t first, end;
    selgw_err err = script_for(dev, field, &first, &end);
    for (size_t i = first; err == SELGW_OK && i < end; i++)
        dev->script[i] = (struct field_script){.kind = SCRIPT_VALUE, .value = value};
    return err;
}

selgw_err selgw_sim_device_freeze(selgw_sim_device *dev, const char *field, double time_s)
{
    size_t first, end;
    selgw_err err = script_for(dev, field, &first, &end);
    for (size_t i = first; err == SELGW_OK && i < end; i++)
        if (dev->script[i].kind != SCRIPT_FROZEN) /* frozen twice: still the first value */
            dev->script[i] = (struct field_script){.kind = SCRIPT_FROZEN, .frozen_s = time_s};
    return err;
}

void selgw_sim_device_clear_script(selgw_sim_device *dev)
{
    free(dev->script);
    dev->script = NULL;
}

void selgw_sim_device_set_scenario(selgw_sim_device *dev, selgw_sim_scenario scenario)
{
    dev->scenario = scenario;
}

selgw_err selgw_sim_scenario_parse(const char *text, selgw_sim_scenario *out)
{
    if (!strcmp(text, "cold-night"))
        *out = SELGW_SIM_SCENARIO_COLD_NIGHT;
    else if (!strcmp(text, "none"))
        *out = SELGW_SIM_SCENARIO_NONE;
    else
        return SELGW_ERR_INVALID;
    return SELGW_OK;
}

/* What the device reports for a field at time_s: scripted, the scenario's, or the model's.
 * *as_given: a scripted or scenario value, which is reported even outside the field's
 * range (the gateway flags it), where the model's always stays within it. */
static double field_value(const selgw_sim_device *dev, const selgw_field *field, double time_s,
                          bool *as_given)
{
    size_t i = (size_t)(field - dev->profile->fields);
    *as_given = true;
    if (dev->script && dev->script[i].kind == SCRIPT_VALUE)
        return dev->script[i].value;
    if (dev->script && dev->script[i].kind == SCRIPT_FROZEN)
        time_s = dev->script[i].frozen_s;
    if (dev->scenario == SELGW_SIM_SCENARIO_COLD_NIGHT &&
        selgw_model_quantity_of(field->name) == SELGW_MODEL_AIR_TEMPERATURE)
        return selgw_model_cold_night(dev->utc_offset_minutes, time_s);
    *as_given = false;
    return selgw_model_value(field, dev->seed, dev->utc_offset_minutes, time_s);
}

static bool is_written(const selgw_sim_device *dev, unsigned addr)
{
    return dev->written_mask && (dev->written_mask[addr >> 3] & (1u << (addr & 7)));
}

static selgw_err store_register(selgw_sim_device *dev, unsigned addr, uint16_t value)
{
    if (!dev->written) {
        dev->written = calloc(REGISTER_SPACE, sizeof *dev->written);
        dev->written_mask = calloc(REGISTER_SPACE / 8, 1);
        if (!dev->written || !dev->written_mask) {
            free(dev->written);
            free(dev->written_mask);
            dev->written = NULL;
            dev->written_mask = NULL;
            return SELGW_ERR_NOMEM;
        }
    }
    dev->written[addr] = value;
    dev->written_mask[addr >> 3] |= (uint8_t)(1u << (addr & 7));
    return SELGW_OK;
}

/* Number of addresses (registers or bits) a field occupies. */
static unsigned field_width(const selgw_field *field)
{
    unsigned n = selgw_type_registers(field->type);
    return n ? n : 1;
}

static bool field_overlaps(const selgw_field *field, uint8_t function, unsigned addr,
                           unsigned count)
{
    if (field->function != function)
        return false;
    unsigned start = field->address, end = start + field_width(field);
    return start < addr + count && addr < end;
}

/* Snaps a value to a raw step of the field whose decoded value stays within the field's
 * range: rounding 99.96 to one decimal must not give 100.0 when the maximum is 99.9. */
static double snap_to_step(const selgw_field *field, double value)
{
    double scale = field->scale;
    if (scale == 0 || !isfinite(scale))
        return value;
    double raw = round((value - field->offset) / scale);
    double step = scale > 0 ? 1.0 : -1.0;
    double decoded = raw * scale + field->offset;
    if (field->has_max && decoded > field->max)
        raw -= step;
    decoded = raw * scale + field->offset;
    if (field->has_min && decoded < field->min)
        raw += step;
    return raw * scale + field->offset;
}

static void encode_field(const selgw_sim_device *dev, const selgw_field *field, double time_s,
                         uint16_t regs[4])
{
    unsigned n = selgw_type_registers(field->type);
    memset(regs, 0, 4 * sizeof regs[0]);
    if (n == 0 || n > 4)
        return;
    bool as_given;
    double value = field_value(dev, field, time_s, &as_given);
    if (!as_given)
        value = snap_to_step(field, value);
    if (selgw_encode_registers(field, value, regs, n) != SELGW_OK)
        memset(regs, 0, 4 * sizeof regs[0]); /* does not fit the type: the profile is odd */
}

static size_t exception_pdu(uint8_t function, uint8_t code, uint8_t *rsp)
{
    rsp[0] = (uint8_t)(function | 0x80);
    rsp[1] = code;
    return 2;
}

static bool any_field_overlaps(const selgw_sim_device *dev, uint8_t function, unsigned addr,
                               unsigned count)
{
    for (size_t i = 0; i < dev->profile->field_count; i++)
        if (field_overlaps(&dev->profile->fields[i], function, addr, count))
            return true;
    if (function == 3 && dev->written_mask)
        for (unsigned a = addr; a < addr + count; a++)
            if (is_written(dev, a))
                return true;
    return false;
}

static size_t read_bits(const selgw_sim_device *dev, uint8_t function, unsigned addr,
                        unsigned count, double time_s, uint8_t *rsp)
{
    unsigned bytes = (count + 7) / 8;
    rsp[0] = function;
    rsp[1] = (uint8_t)bytes;
    memset(rsp + 2, 0, bytes);
    for (size_t i = 0; i < dev->profile->field_count; i++) {
        const selgw_field *f = &dev->profile->fields[i];
        if (f->type != SELGW_TYPE_BIT || !field_overlaps(f, function, addr, count))
            continue;
        unsigned bit = f->address - addr;
        if (selgw_model_bit(f, dev->seed, dev->utc_offset_minutes, time_s))
            rsp[2 + bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
    return 2 + bytes;
}

static size_t read_registers(const selgw_sim_device *dev, uint8_t function, unsigned addr,
                             unsigned count, double time_s, uint8_t *rsp)
{
    uint16_t regs[125] = {0}; /* holes between fields read as 0 */
    for (size_t i = 0; i < dev->profile->field_count; i++) {
        const selgw_field *f = &dev->profile->fields[i];
        if (f->type == SELGW_TYPE_BIT || !field_overlaps(f, function, addr, count))
            continue;
        uint16_t value[4];
        encode_field(dev, f, time_s, value);
        for (unsigned k = 0; k < field_width(f); k++) {
            unsigned a = f->address + k;
            if (a >= addr && a < addr + count)
                regs[a - addr] = value[k];
        }
    }
    if (function == 3 && dev->written_mask)
        for (unsigned a = addr; a < addr + count; a++)
            if (is_written(dev, a))
                regs[a - addr] = dev->written[a];
    rsp[0] = function;
    rsp[1] = (uint8_t)(count * 2);
    for (unsigned k = 0; k < count; k++)
        put16(rsp + 2 + 2 * k, regs[k]);
    return 2 + 2 * count;
}

selgw_err selgw_sim_device_reply(selgw_sim_device *dev, const uint8_t *req, size_t req_len,
                                 double time_s, uint8_t *rsp, size_t *rsp_len)
{
    if (req_len < 1) {
        *rsp_len = 0;
        return SELGW_ERR_INVALID;
    }
    uint8_t function = req[0];
    switch (function) {
    case 1:
    case 2:
    case 3:
    case 4: {
        if (req_len != 5) {
            *rsp_len = exception_pdu(function, SELGW_SIM_EX_ILLEGAL_VALUE, rsp);
            return SELGW_OK;
        }
        unsigned addr = get16(req + 1), count = get16(req + 3);
        unsigned limit = function <= 2 ? 2000 : 125;
        if (count < 1 || count > limit)
            *rsp_len = exception_pdu(function, SELGW_SIM_EX_ILLEGAL_VALUE, rsp);
        else if (addr + count > REGISTER_SPACE || !any_field_overlaps(dev, function, addr, count))
            *rsp_len = exception_pdu(function, SELGW_SIM_EX_ILLEGAL_ADDRESS, rsp);
        else if (function <= 2)
            *rsp_len = read_bits(dev, function, addr, count, time_s, rsp);
        else
            *rsp_len = read_registers(dev, function, addr, count, time_s, rsp);
        return SELGW_OK;
    }
    case 6: {
        if (req_len != 5) {
            *rsp_len = exception_pdu(function, SELGW_SIM_EX_ILLEGAL_VALUE, rsp);
            return SELGW_OK;
        }
        selgw_err e = store_register(dev, get16(req + 1), get16(req + 3));
        if (e != SELGW_OK) {
            *rsp_len = exception_pdu(function, SELGW_SIM_EX_DEVICE_FAILURE, rsp);
            return e;
        }
        memcpy(rsp, req, 5); /* the echo */
        *rsp_len = 5;
        return SELGW_OK;
    }
    case 16: {
        if (req_len < 6) {
            *rsp_len = exception_pdu(function, SELGW_SIM_EX_ILLEGAL_VALUE, rsp);
            return SELGW_OK;
        }
        unsigned addr = get16(req + 1), count = get16(req + 3), bytes = req[5];
        if (count < 1 || count > 123 || bytes != 2 * count || req_len != 6 + bytes) {
            *rsp_len = exception_pdu(function, SELGW_SIM_EX_ILLEGAL_VALUE, rsp);
            return SELGW_OK;
        }
        if (addr + count > REGISTER_SPACE) {
            *rsp_len = exception_pdu(function, SELGW_SIM_EX_ILLEGAL_ADDRESS, rsp);
            return SELGW_OK;
        }
        for (unsigned k = 0; k < count; k++) {
            selgw_err e = store_register(dev, addr + k, get16(req + 6 + 2 * k));
            if (e != SELGW_OK) {
                *rsp_len = exception_pdu(function, SELGW_SIM_EX_DEVICE_FAILURE, rsp);
                return e;
            }
        }
        memcpy(rsp, req, 5); /* function, start, quantity */
        *rsp_len = 5;
        return SELGW_OK;
    }
    default:
        *rsp_len = exception_pdu(function, SELGW_SIM_EX_ILLEGAL_FUNCTION, rsp);
        return SELGW_OK;
    }
}

/* ------------------------------------------------------------------------------------------
 * Options */

void selgw_sim_options_init(selgw_sim_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->seed = 1;
    opts->time_scale = 1.0;
}

static void free_settings(selgw_sim_bus_setting *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].bus_id);
        free(s[i].value);
    }
    free(s);
}

void selgw_sim_options_clear(selgw_sim_options *opts)
{
    if (!opts)
        return;
    for (size_t i = 0; i < opts->bus_filter_count; i++)
        free(opts->bus_filter[i]);
    free(opts->bus_filter);
    free_settings(opts->tcp, opts->tcp_count);
    free_settings(opts->serial, opts->serial_count);
    free_settings(opts->pty, opts->pty_count);
    free_settings(opts->device_at, opts->device_at_count);
    for (size_t i = 0; i < opts->fault_count; i++)
        free(opts->faults[i].device_id);
    free(opts->faults);
    free(opts->control_file);
    free(opts->stats_file);
    selgw_sim_options_init(opts);
}

/* ------------------------------------------------------------------------------------------
 * The simulator: connections, buses, devices */

/* An RTU ADU is at most 256 bytes, a TCP ADU 260. */
#define MAX_ADU 260
#define IN_BUFFER 1024
#define MAX_TCP_CLIENTS 4096
#define MAX_PENDING 4096         /* responses waiting for their due time, per connection */
#define MAX_UNSENT (1024 * 1024) /* bytes due but not yet taken by the peer */

struct pending_response {
    int64_t due_ns;
    size_t len;
    uint8_t bytes[MAX_ADU];
};

enum conn_kind { CONN_LISTENER, CONN_TCP_CLIENT, CONN_SERIAL };

struct conn {
    enum conn_kind kind;
    int fd; /* -1 while a serial line is down */
    size_t bus;
    uint8_t in[IN_BUFFER];
    size_t in_len;
    int64_t last_rx_ns;
    bool discarding;         /* RTU: a bad frame, drop bytes until the line is silent */
    int64_t paused_until_ns; /* listener out of file descriptors; serial reopen time */
    uint8_t *out;            /* bytes due and not yet written */
    size_t out_len, out_cap;
    struct pending_response *pending; /* sorted by due time */
    size_t pending_count, pending_cap;
    int64_t line_free_ns; /* RTU with wire timing: when the last response ends on the wire */
    bool dead;
};

struct sim_bus {
    const selgw_bus *cfg;
    int device_of_unit[256]; /* index into selgw_sim.devices, -1 for none */
    char *where;             /* what the "bus" line prints: HOST:PORT or the tty path */
    char *serial_path;       /* --serial: an existing tty opened (and reopened) by path */
    char *link_path;         /* the symlink to our pty slave, removed at exit */
    char *slave_name;
    int slave_fd; /* our pty's slave, kept open so the master never sees a hangup */
    struct conn *line;
    int64_t char_ns; /* one character on the wire */
    uint64_t other_unit_requests;
    bool reported_down;
};

struct sim_device {
    const selgw_device *cfg;
    size_t bus; /* index into selgw_sim.buses */
    /* Where it is on the line now: its config's unit id, or --device-at's, changed at run
     * time by a write to its profile's addressing registers (as a real probe after its
     * power cycle). baud: it answers only frames sent at this speed (0: at any). */
    int unit;
    int baud;
    /* New settings written to a device that takes them at its next power cycle (0: none);
     * a SIGHUP power-cycles every device. */
    int pending_unit, pending_baud;
    selgw_sim_device *image;
    selgw_sim_fault cli_fault;
    selgw_sim_fault runtime_fault;
    bool has_runtime_fault;
    uint64_t answered, exceptions, silent, corrupted;
};

struct selgw_sim {
    const selgw_config *cfg;
    FILE *err;
    double time_scale;
    bool wire_timing;
    char *control_file;
    char *stats_file;
    int64_t start_mono_ns;
    double start_sim_s;
    size_t bus_count;
    struct sim_bus *buses;
    size_t device_count;
    struct sim_device *devices;
    size_t conn_count, conn_cap;
    struct conn **conns;
};

/* Up to this many devices answering one unit id are modelled (a collision of two is
 * already garbage). */
#define MAX_SHARED_UNIT 4

static int baud_of(speed_t speed);

/* The speed the gateway set on the line, when the simulator can see it: on a pty of its own,
 * the master reads the termios of the slave the gateway opened (the kernel keeps the speed
 * there, though it clears PARENB, so parity cannot be told). 0 when unknown (a tty opened
 * with --serial, e.g. a socat pty pair, shows only the settings of its own end). */
static int line_baud(const struct sim_bus *bus, const struct conn *c)
{
    struct termios tio;
    if (!bus->link_path || c->fd < 0 || tcgetattr(c->fd, &tio) != 0)
        return 0;
    return baud_of(cfgetospeed(&tio));
}

/* The devices of bus b that take a frame to unit sent at baud (0: unknown, all of them). */
static size_t devices_at(const selgw_sim *sim, size_t b, int unit, int baud, int *out)
{
    size_t n = 0;
    for (size_t i = 0; i < sim->device_count && n < MAX_SHARED_UNIT; i++) {
        const struct sim_device *d = &sim->devices[i];
        if (d->bus == b && d->unit == unit && (!baud || !d->baud || d->baud == baud))
            out[n++] = (int)i;
    }
    return n;
}

/* After a device answered a write: a write to its profile's addressing registers moves it to
 * the new unit id or baud rate, at once if its profile says so, else at its next power cycle
 * (power_cycle, on SIGHUP). */
static void apply_addressing(selgw_sim *sim, struct sim_device *d, const uint8_t *pdu,
                             size_t pdu_len, const uint8_t *rsp)
{
    const selgw_addressing *a = &d->cfg->profile->addressing;
    if (!a->present || pdu_len != 5 || pdu[0] != 6 || rsp[0] != 6)
        return;
    uint16_t address = get16(pdu + 1), value = get16(pdu + 3);
    bool now = a->apply == SELGW_APPLY_IMMEDIATE;
    if (address == a->unit_id_register && value >= 1 && value <= 247) {
        fprintf(sim->err, "selgw-sim: device %s: unit id %d -> %u%s\n", d->cfg->id, d->unit, value,
                now ? "" : " at the next power cycle (SIGHUP)");
        *(now ? &d->unit : &d->pending_unit) = value;
    } else if (a->has_baud_register && address == a->baud_register) {
        for (size_t i = 0; i < a->baud_code_count; i++)
            if (a->baud_codes[i].code == value) {
                fprintf(sim->err, "selgw-sim: device %s: baud %d -> %d%s\n", d->cfg->id, d->baud,
                        a->baud_codes[i].baud, now ? "" : " at the next power cycle (SIGHUP)");
                *(now ? &d->baud : &d->pending_baud) = a->baud_codes[i].baud;
            }
    }
}

/* Every device restarts: settings written to be taken at power-up are taken. */
static void power_cycle(selgw_sim *sim)
{
    for (size_t i = 0; i < sim->device_count; i++) {
        struct sim_device *d = &sim->devices[i];
        if (d->pending_unit)
            d->unit = d->pending_unit;
        if (d->pending_baud)
            d->baud = d->pending_baud;
        if (d->pending_unit || d->pending_baud)
            fprintf(sim->err, "selgw-sim: device %s: power cycle: now unit %d\n", d->cfg->id,
                    d->unit);
        d->pending_unit = d->pending_baud = 0;
    }
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double sim_time(const selgw_sim *sim)
{
    return sim->start_sim_s + (double)(mono_ns() - sim->start_mono_ns) / 1e9 * sim->time_scale;
}

static char *dup_string(const char *s)
{
    return s ? strdup(s) : NULL;
}

static struct conn *conn_new(selgw_sim *sim, enum conn_kind kind, int fd, size_t bus)
{
    if (sim->conn_count == sim->conn_cap) {
        size_t cap = sim->conn_cap ? sim->conn_cap * 2 : 16;
        struct conn **grown = realloc(sim->conns, cap * sizeof *grown);
        if (!grown)
            return NULL;
        sim->conns = grown;
        sim->conn_cap = cap;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->kind = kind;
    c->fd = fd;
    c->bus = bus;
    sim->conns[sim->conn_count++] = c;
    return c;
}

static void conn_free(struct conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    free(c->pending);
    free(c);
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    return 0;
}

/* Queues a response to be written at due_ns, after every response due no later. */
static bool queue_response(struct conn *c, int64_t due_ns, const uint8_t *bytes, size_t len)
{
    if (c->pending_count >= MAX_PENDING)
        return false; /* a client pipelining without end to a slow device */
    if (c->pending_count == c->pending_cap) {
        size_t cap = c->pending_cap ? c->pending_cap * 2 : 4;
        struct pending_response *grown = realloc(c->pending, cap * sizeof *grown);
        if (!grown)
            return false;
        c->pending = grown;
        c->pending_cap = cap;
    }
    size_t at = c->pending_count;
    while (at > 0 && c->pending[at - 1].due_ns > due_ns)
        at--;
    memmove(&c->pending[at + 1], &c->pending[at], (c->pending_count - at) * sizeof *c->pending);
    c->pending[at].due_ns = due_ns;
    c->pending[at].len = len;
    memcpy(c->pending[at].bytes, bytes, len);
    c->pending_count++;
    return true;
}

static bool append_out(struct conn *c, const uint8_t *bytes, size_t len)
{
    if (c->out_len + len > MAX_UNSENT)
        return false; /* a client that sends but never reads */
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 512;
        while (cap < c->out_len + len)
            cap *= 2;
        uint8_t *grown = realloc(c->out, cap);
        if (!grown)
            return false;
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, bytes, len);
    c->out_len += len;
    return true;
}

static void flush_out(struct conn *c)
{
    while (c->out_len > 0 && c->fd >= 0) {
        ssize_t n = c->kind == CONN_TCP_CLIENT ? send(c->fd, c->out, c->out_len, MSG_NOSIGNAL)
                                               : write(c->fd, c->out, c->out_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = true;
            return;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
}

/* Moves the responses that are due into the output buffer. */
static void release_due(struct conn *c, int64_t now)
{
    size_t n = 0;
    while (n < c->pending_count && c->pending[n].due_ns <= now) {
        if (!append_out(c, c->pending[n].bytes, c->pending[n].len))
            c->dead = true; /* out of memory: drop the connection rather than lie */
        n++;
    }
    if (n) {
        memmove(c->pending, c->pending + n, (c->pending_count - n) * sizeof *c->pending);
        c->pending_count -= n;
    }
    flush_out(c);
}

static const selgw_sim_fault *effective_fault(const struct sim_device *d)
{
    return d->has_runtime_fault ? &d->runtime_fault : &d->cli_fault;
}

/* What a device does with one request PDU: fills rsp (returns false for no answer at all) and
 * says how late the answer is. Counts it. */
static bool device_answer(selgw_sim *sim, struct sim_device *d, const uint8_t *pdu, size_t pdu_len,
                          uint8_t *rsp, size_t *rsp_len, int64_t *delay_ns, bool *corrupt)
{
    const selgw_sim_fault *fault = effective_fault(d);
    *delay_ns = 0;
    *corrupt = false;
    if (fault->kind == SELGW_SIM_FAULT_SILENT) {
        d->silent++;
        return false;
    }
    if (fault->kind == SELGW_SIM_FAULT_EXCEPTION) {
        *rsp_len = exception_pdu(pdu[0], (uint8_t)fault->arg, rsp);
    } else if (selgw_sim_device_reply(d->image, pdu, pdu_len, sim_time(sim), rsp, rsp_len) ==
               SELGW_ERR_NOMEM) {
        fprintf(sim->err, "selgw-sim: device %s: out of memory storing a write\n", d->cfg->id);
    }
    if (fault->kind == SELGW_SIM_FAULT_SLOW)
        *delay_ns = (int64_t)fault->arg * 1000000;
    if (fault->kind == SELGW_SIM_FAULT_CORRUPT) {
        *corrupt = true;
        d->corrupted++;
    } else if (rsp[0] & 0x80) {
        d->exceptions++;
    } else {
        d->answered++;
    }
    return true;
}

/* Garbles a TCP response PDU so that a client sees a bad frame, keeping the MBAP length
 * consistent so the stream stays in step: reads get a byte count that does not match the
 * request (one data byte dropped), write echoes a wrong quantity or address, exceptions the
 * wrong function. */
static void garble_tcp_pdu(uint8_t *rsp, size_t *rsp_len)
{
    uint8_t function = rsp[0];
    if (function & 0x80) {
        rsp[0] = (uint8_t)(((function & 0x7F) ^ 0x20) | 0x80);
    } else if (function <= 4 && *rsp_len >= 2) {
        if (rsp[1] > 0) {
            rsp[1]--;
            (*rsp_len)--;
        } else {
            rsp[1] = 0xFF;
        }
    } else if (*rsp_len >= 5) {
        rsp[3] ^= 0x55;
        rsp[1] ^= 0x55;
    } else {
        rsp[0] ^= 0x20;
    }
}

static void handle_tcp_frame(selgw_sim *sim, struct conn *c, const uint8_t *adu, size_t len)
{
    struct sim_bus *bus = &sim->buses[c->bus];
    uint8_t unit = adu[6];
    const uint8_t *pdu = adu + 7;
    size_t pdu_len = len - 7;
    uint8_t out[MAX_ADU];
    size_t rsp_len = 0;
    int64_t delay = 0;
    int at[MAX_SHARED_UNIT];
    size_t n = devices_at(sim, c->bus, unit, 0, at);
    if (n == 0) {
        /* What a Modbus TCP gateway says when nothing behind it answers to that unit id. */
        bus->other_unit_requests++;
        rsp_len = exception_pdu(pdu[0], SELGW_SIM_EX_GATEWAY_TARGET, out + 7);
    } else {
        bool answered = false, garbled = n > 1; /* several at once: the gateway hears garbage */
        for (size_t i = 0; i < n; i++) {
            bool corrupt;
            uint8_t rsp[MAX_ADU];
            size_t len_i = 0;
            int64_t delay_i;
            if (!device_answer(sim, &sim->devices[at[i]], pdu, pdu_len, rsp, &len_i, &delay_i,
                               &corrupt))
                continue;
            apply_addressing(sim, &sim->devices[at[i]], pdu, pdu_len, rsp);
            garbled |= corrupt;
            if (!answered || delay_i > delay) {
                memcpy(out + 7, rsp, len_i);
                rsp_len = len_i;
                delay = delay_i;
            }
            answered = true;
        }
        if (!answered)
            return;
        if (garbled)
            garble_tcp_pdu(out + 7, &rsp_len);
    }
    memcpy(out, adu, 4); /* transaction and protocol id */
    put16(out + 4, (uint16_t)(rsp_len + 1));
    out[6] = unit;
    if (!queue_response(c, mono_ns() + delay, out, rsp_len + 7))
        c->dead = true;
}

static void read_tcp(selgw_sim *sim, struct conn *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        c->dead = true;
        return;
    }
    if (n < 0)
        return;
    c->in_len += (size_t)n;
    while (c->in_len >= 7) {
        uint16_t protocol = get16(c->in + 2), length = get16(c->in + 4);
        if (protocol != 0 || length < 2 || length > SELGW_SIM_MAX_PDU + 1) {
            /* Not Modbus TCP: there is no way to find the next frame; drop the client. */
            fprintf(sim->err,
                    "selgw-sim: bus %s: dropping a client that sent a bad MBAP header "
                    "(protocol %u, length %u)\n",
                    sim->buses[c->bus].cfg->id, protocol, length);
            c->dead = true;
            return;
        }
        size_t frame = 6 + (size_t)length;
        if (c->in_len < frame)
            break;
        handle_tcp_frame(sim, c, c->in, frame);
        memmove(c->in, c->in + frame, c->in_len - frame);
        c->in_len -= frame;
    }
}

static int64_t silence_ns(const struct sim_bus *bus)
{
    /* 3.5 characters, and at least 1.75 ms as the spec fixes for speeds above 19200 baud. */
    int64_t t = bus->char_ns * 7 / 2;
    return t > 1750000 ? t : 1750000;
}

static void handle_rtu_frame(selgw_sim *sim, struct conn *c, const uint8_t *frame, size_t len)
{
    struct sim_bus *bus = &sim->buses[c->bus];
    uint8_t unit = frame[0];
    const uint8_t *pdu = frame + 1;
    size_t pdu_len = len - 3;
    uint8_t out[MAX_ADU];
    size_t rsp_len = 0;
    if (unit == 0) {
        /* Broadcast: every device on the line applies a write and nobody answers. */
        if (pdu[0] == 6 || pdu[0] == 16)
            for (size_t i = 0; i < sim->device_count; i++)
                if (sim->devices[i].bus == c->bus)
                    selgw_sim_device_reply(sim->devices[i].image, pdu, pdu_len, sim_time(sim),
                                           out + 1, &rsp_len);
        return;
    }
    int at[MAX_SHARED_UNIT];
    size_t n = devices_at(sim, c->bus, unit, line_baud(bus, c), at);
    if (n == 0) {
        bus->other_unit_requests++; /* somebody else's device, or not at this speed: silent */
        return;
    }
    /* Every device at the unit answers at once: where two drive the line, a 0 bit wins (the
     * bytes are ANDed), and the longer answer runs on alone. One answer comes out intact. */
    int64_t delay = 0;
    size_t adu_len = 0;
    bool answered = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t one[MAX_ADU];
        size_t len_i = 0;
        int64_t delay_i;
        bool corrupt;
        if (!device_answer(sim, &sim->devices[at[i]], pdu, pdu_len, one + 1, &len_i, &delay_i,
                           &corrupt))
            continue;
        apply_addressing(sim, &sim->devices[at[i]], pdu, pdu_len, one + 1);
        one[0] = unit;
        uint16_t crc = selgw_sim_crc16(one, len_i + 1);
        one[len_i + 1] = (uint8_t)(crc & 0xFF);
        one[len_i + 2] = (uint8_t)(crc >> 8);
        len_i += 3;
        if (corrupt)
            one[len_i - 1] ^= 0xFF;
        for (size_t k = 0; k < len_i; k++)
            out[k] = answered && k < adu_len ? (uint8_t)(out[k] & one[k]) : one[k];
        if (len_i > adu_len)
            adu_len = len_i;
        if (delay_i > delay)
            delay = delay_i;
        answered = true;
    }
    if (!answered)
        return;

    int64_t due = mono_ns() + delay;
    if (sim->wire_timing) {
        /* The request crossed the wire, the device waited 3.5 characters of silence (not
         * before the line was free), then its answer crossed the wire. */
        int64_t start = c->last_rx_ns + (int64_t)len * bus->char_ns + bus->char_ns * 7 / 2;
        int64_t after_previous = c->line_free_ns + bus->char_ns * 7 / 2;
        if (start < after_previous)
            start = after_previous;
        due = start + delay + (int64_t)adu_len * bus->char_ns;
        /* A slow device's late answer leaves the line free in the meantime: it must not
         * hold back the answers of the other devices on the line. */
        if (delay == 0)
            c->line_free_ns = due;
    }
    if (!queue_response(c, due, out, adu_len))
        fprintf(sim->err, "selgw-sim: bus %s: out of memory, response dropped\n", bus->cfg->id);
}

/* Takes every complete frame off the front of the input buffer. */
static void parse_rtu(selgw_sim *sim, struct conn *c)
{
    while (!c->discarding && c->in_len >= 2) {
        int n = selgw_sim_rtu_request_length(c->in, c->in_len);
        if (n <= 0 || c->in_len < (size_t)n)
            return; /* need more bytes, or the frame ends with silence */
        if (!selgw_sim_rtu_crc_ok(c->in, (size_t)n)) {
            /* Like a real device: throw the rest away and wait for the line to go quiet. */
            c->discarding = true;
            c->in_len = 0;
            return;
        }
        handle_rtu_frame(sim, c, c->in, (size_t)n);
        memmove(c->in, c->in + n, c->in_len - (size_t)n);
        c->in_len -= (size_t)n;
    }
}

/* When the input buffer is judged complete (or abandoned) by silence; INT64_MAX if never. */
static int64_t rtu_silence_deadline(const selgw_sim *sim, const struct conn *c)
{
    const struct sim_bus *bus = &sim->buses[c->bus];
    if (c->discarding)
        return c->last_rx_ns + silence_ns(bus);
    if (c->in_len == 0)
        return INT64_MAX;
    if (selgw_sim_rtu_request_length(c->in, c->in_len) < 0)
        return c->last_rx_ns + silence_ns(bus);
    /* A known request, incomplete: a pty carries no real timing and a loaded sender may
     * pause mid-frame, so wait longer before giving up on it. */
    int64_t lenient = 50000000;
    return c->last_rx_ns + (silence_ns(bus) > lenient ? silence_ns(bus) : lenient);
}

static void rtu_silence(selgw_sim *sim, struct conn *c, int64_t now)
{
    if (rtu_silence_deadline(sim, c) > now)
        return;
    if (!c->discarding && c->in_len >= 4 && selgw_sim_rtu_request_length(c->in, c->in_len) < 0 &&
        selgw_sim_rtu_crc_ok(c->in, c->in_len))
        handle_rtu_frame(sim, c, c->in, c->in_len); /* a function we do not know */
    c->in_len = 0;
    c->discarding = false;
}

static void serial_down(selgw_sim *sim, struct conn *c, const char *why)
{
    struct sim_bus *bus = &sim->buses[c->bus];
    if (!bus->reported_down)
        fprintf(sim->err, "selgw-sim: bus %s: %s: %s%s\n", bus->cfg->id, bus->where, why,
                bus->serial_path ? "; reopening every second" : "");
    bus->reported_down = true;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in_len = 0;
    c->out_len = 0;
    c->pending_count = 0;
    c->paused_until_ns = bus->serial_path ? mono_ns() + 1000000000 : INT64_MAX;
}

static void read_serial(selgw_sim *sim, struct conn *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        serial_down(sim, c, n == 0 ? "end of file" : strerror(errno));
        return;
    }
    if (n < 0)
        return;
    c->last_rx_ns = mono_ns();
    if (c->discarding) {
        c->in_len = 0;
        return;
    }
    c->in_len += (size_t)n;
    parse_rtu(sim, c);
    if (c->in_len == sizeof c->in) {
        c->in_len = 0; /* noise that never made a frame */
        c->discarding = true;
    }
}

static void accept_clients(selgw_sim *sim, struct conn *listener)
{
    for (;;) {
        int fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
                fprintf(sim->err, "selgw-sim: bus %s: cannot accept a client: %s\n",
                        sim->buses[listener->bus].cfg->id, strerror(errno));
                listener->paused_until_ns = mono_ns() + 100000000;
            }
            return;
        }
        size_t clients = 0;
        for (size_t i = 0; i < sim->conn_count; i++)
            clients += sim->conns[i]->kind == CONN_TCP_CLIENT;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (clients >= MAX_TCP_CLIENTS || !conn_new(sim, CONN_TCP_CLIENT, fd, listener->bus)) {
            close(fd);
            return;
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Opening buses */

static selgw_err open_tcp_bus(selgw_sim *sim, size_t b, const char *override)
{
    struct sim_bus *bus = &sim->buses[b];
    char host[256];
    char port_text[16];
    if (override) {
        const char *colon = strrchr(override, ':');
        const char *h = override;
        size_t hlen = colon ? (size_t)(colon - override) : 0;
        if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
            h++;
            hlen -= 2;
        }
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || hlen == 0 || hlen >= sizeof host || colon[1] == '\0' || *end != '\0' ||
            port < 0 || port > 65535) {
            fprintf(sim->err, "selgw-sim: --tcp %s=%s: expected HOST:PORT (port 0..65535)\n",
                    bus->cfg->id, override);
            return SELGW_ERR_INVALID;
        }
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        snprintf(port_text, sizeof port_text, "%ld", port);
    } else {
        snprintf(host, sizeof host, "%s", bus->cfg->host ? bus->cfg->host : "127.0.0.1");
        snprintf(port_text, sizeof port_text, "%d", bus->cfg->port);
    }

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0) {
        fprintf(sim->err, "selgw-sim: bus %s: cannot resolve %s: %s\n", bus->cfg->id, host,
                gai_strerror(rc));
        return SELGW_ERR_CONNECT;
    }
    int fd = -1;
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(sim->err,
                "selgw-sim: bus %s: cannot listen on %s:%s: %s (use --tcp %s=HOST:PORT to "
                "listen elsewhere)\n",
                bus->cfg->id, host, port_text, strerror(last_errno), bus->cfg->id);
        return SELGW_ERR_CONNECT;
    }

    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    char numeric[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0) {
        if (addr.ss_family == AF_INET6) {
            struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
            inet_ntop(AF_INET6, &a6->sin6_addr, numeric, sizeof numeric);
            port = ntohs(a6->sin6_port);
        } else {
            struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
            inet_ntop(AF_INET, &a4->sin_addr, numeric, sizeof numeric);
            port = ntohs(a4->sin_port);
        }
    }
    size_t need = strlen(numeric) + 16;
    bus->where = malloc(need);
    if (!bus->where || !conn_new(sim, CONN_LISTENER, fd, b)) {
        close(fd);
        return SELGW_ERR_NOMEM;
    }
    snprintf(bus->where, need, strchr(numeric, ':') ? "[%s]:%d" : "%s:%d", numeric, port);
    return SELGW_OK;
}

static speed_t speed_of(int baud)
{
    switch (baud) {
    case 1200:
        return B1200;
    case 2400:
        return B2400;
    case 4800:
        return B4800;
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 115200:
        return B115200;
    default:
        return B0;
    }
}

static int baud_of(speed_t speed)
{
    static const int bauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200};
    for (size_t i = 0; i < sizeof bauds / sizeof bauds[0]; i++)
        if (speed_of(bauds[i]) == speed)
            return bauds[i];
    return 0;
}

/* Raw mode, and the bus's line settings for a real serial port (a pty ignores them). */
static void configure_tty(int fd, const selgw_bus *cfg)
{
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0)
        return;
    cfmakeraw(&tio);
    speed_t speed = speed_of(cfg->baud);
    if (speed != B0)
        cfsetspeed(&tio, speed);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB);
    tio.c_cflag |= cfg->data_bits == 7 ? CS7 : CS8;
    if (cfg->parity == 'E' || cfg->parity == 'O')
        tio.c_cflag |= PARENB;
    if (cfg->parity == 'O')
        tio.c_cflag |= PARODD;
    if (cfg->stop_bits == 2)
        tio.c_cflag |= CSTOPB;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    tcsetattr(fd, TCSANOW, &tio);
}

static int open_serial_path(const char *path, const selgw_bus *cfg)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    configure_tty(fd, cfg);
    return fd;
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    free(copy);
    return 0;
}

static selgw_err open_rtu_bus(selgw_sim *sim, size_t b, const char *serial, const char *link)
{
    struct sim_bus *bus = &sim->buses[b];
    int fd = -1;
    if (serial) {
        bus->serial_path = strdup(serial);
        bus->where = strdup(serial);
        if (!bus->serial_path || !bus->where)
            return SELGW_ERR_NOMEM;
        fd = open_serial_path(serial, bus->cfg);
        if (fd < 0) {
            fprintf(sim->err, "selgw-sim: bus %s: cannot open %s: %s\n", bus->cfg->id, serial,
                    strerror(errno));
            return SELGW_ERR_CONNECT;
        }
    } else {
        const char *path = link ? link : bus->cfg->device;
        if (!path || !*path) {
            fprintf(sim->err, "selgw-sim: bus %s has no device path; use --pty %s=LINKPATH\n",
                    bus->cfg->id, bus->cfg->id);
            return SELGW_ERR_INVALID;
        }
        struct stat st;
        if (lstat(path, &st) == 0 && !S_ISLNK(st.st_mode)) {
            fprintf(sim->err,
                    "selgw-sim: bus %s: %s exists and is not a symlink; not replacing it (use "
                    "--pty %s=LINKPATH or --serial %s=PATH)\n",
                    bus->cfg->id, path, bus->cfg->id, bus->cfg->id);
            return SELGW_ERR_IO;
        }
        int slave = -1;
        if (openpty(&fd, &slave, NULL, NULL, NULL) != 0) {
            fprintf(sim->err, "selgw-sim: bus %s: openpty: %s\n", bus->cfg->id, strerror(errno));
            return SELGW_ERR_IO;
        }
        bus->slave_fd = slave;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(slave, F_SETFD, FD_CLOEXEC);
        configure_tty(slave, bus->cfg);
        char name[256];
        if (ttyname_r(slave, name, sizeof name) != 0 || !(bus->slave_name = strdup(name))) {
            close(fd);
            fprintf(sim->err, "selgw-sim: bus %s: cannot name the pty\n", bus->cfg->id);
            return SELGW_ERR_IO;
        }
        /* Replace atomically: a new symlink under a temporary name renamed over the old. */
        size_t tmp_len = strlen(path) + 32;
        char *tmp = malloc(tmp_len);
        if (!tmp) {
            close(fd);
            return SELGW_ERR_NOMEM;
        }
        snprintf(tmp, tmp_len, "%s.selgw-sim-%ld", path, (long)getpid());
        unlink(tmp);
        if (make_parent_dirs(path) != 0 || symlink(name, tmp) != 0 || rename(tmp, path) != 0) {
            fprintf(sim->err, "selgw-sim: bus %s: cannot link %s to %s: %s\n", bus->cfg->id, path,
                    name, strerror(errno));
            unlink(tmp);
            free(tmp);
            close(fd);
            return SELGW_ERR_IO;
        }
        free(tmp);
        bus->link_path = strdup(path);
        bus->where = strdup(path);
        if (!bus->link_path || !bus->where) {
            close(fd);
            return SELGW_ERR_NOMEM;
        }
    }
    if (set_nonblocking(fd) != 0 || !(bus->line = conn_new(sim, CONN_SERIAL, fd, b))) {
        close(fd);
        return SELGW_ERR_NOMEM;
    }
    return SELGW_OK;
}

/* ------------------------------------------------------------------------------------------
 * Life cycle */

static const char *setting_for(const selgw_sim_bus_setting *s, size_t n, const char *bus_id)
{
    const char *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].bus_id, bus_id) == 0)
            found = s[i].value; /* the last one given wins */
    return found;
}

static ssize_t config_bus_index(const selgw_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->bus_count; i++)
        if (strcmp(cfg->buses[i].id, id) == 0)
            return (ssize_t)i;
    return -1;
}

static ssize_t sim_device_index(const selgw_sim *sim, const char *id)
{
    for (size_t i = 0; i < sim->device_count; i++)
        if (strcmp(sim->devices[i].cfg->id, id) == 0)
            return (ssize_t)i;
    return -1;
}

static bool check_settings(const selgw_config *cfg, FILE *err, const char *option,
                           const selgw_sim_bus_setting *s, size_t n, selgw_bus_kind kind)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        ssize_t b = config_bus_index(cfg, s[i].bus_id);
        if (b < 0) {
            fprintf(err, "selgw-sim: %s %s=%s: no bus '%s' in %s\n", option, s[i].bus_id,
                    s[i].value, s[i].bus_id, cfg->path ? cfg->path : "the config");
            ok = false;
        } else if (cfg->buses[b].kind != kind) {
            fprintf(err, "selgw-sim: %s %s=%s: bus '%s' is a%s bus\n", option, s[i].bus_id,
                    s[i].value, s[i].bus_id, kind == SELGW_BUS_TCP ? "n RTU" : " TCP");
            ok = false;
        }
    }
    return ok;
}

static bool check_options(const selgw_config *cfg, const selgw_sim_options *opts, FILE *err)
{
    bool ok = true;
    for (size_t i = 0; i < opts->bus_filter_count; i++)
        if (config_bus_index(cfg, opts->bus_filter[i]) < 0) {
            fprintf(err, "selgw-sim: --bus %s: no such bus in %s\n", opts->bus_filter[i],
                    cfg->path ? cfg->path : "the config");
            ok = false;
        }
    ok &= check_settings(cfg, err, "--tcp", opts->tcp, opts->tcp_count, SELGW_BUS_TCP);
    ok &= check_settings(cfg, err, "--serial", opts->serial, opts->serial_count, SELGW_BUS_RTU);
    ok &= check_settings(cfg, err, "--pty", opts->pty, opts->pty_count, SELGW_BUS_RTU);
    for (size_t i = 0; i < opts->device_at_count; i++) {
        bool found = false;
        for (size_t d = 0; d < cfg->device_count && !found; d++)
            found = strcmp(cfg->devices[d].id, opts->device_at[i].bus_id) == 0;
        if (!found) {
            fprintf(err, "selgw-sim: --device-at %s=...: no device '%s' in %s\n",
                    opts->device_at[i].bus_id, opts->device_at[i].bus_id,
                    cfg->path ? cfg->path : "the config");
            ok = false;
        }
    }
    for (size_t i = 0; i < opts->fault_count; i++) {
        bool found = false;
        for (size_t d = 0; d < cfg->device_count && !found; d++)
            found = strcmp(cfg->devices[d].id, opts->faults[i].device_id) == 0;
        if (!found) {
            fprintf(err, "selgw-sim: --fault %s=...: no device '%s' in %s\n",
                    opts->faults[i].device_id, opts->faults[i].device_id,
                    cfg->path ? cfg->path : "the config");
            ok = false;
        }
    }
    if (!(opts->time_scale > 0) || !isfinite(opts->time_scale)) {
        fprintf(err, "selgw-sim: --time-scale must be a positive number\n");
        ok = false;
    }
    return ok;
}

/* --device-at DEV=UNIT[@BAUD] for device id, if given: false (reported) when malformed. */
static bool device_at_option(const selgw_sim_options *opts, const char *id, const selgw_bus *bus,
                             FILE *err, int *unit, int *baud)
{
    const char *value = setting_for(opts->device_at, opts->device_at_count, id);
    if (!value)
        return true;
    char *end;
    long u = strtol(value, &end, 10);
    long b = 0;
    if (*end == '@')
        b = strtol(end + 1, &end, 10);
    if (end == value || *end || u < 1 || u > 247 || (b && baud_of(speed_of((int)b)) != b) ||
        b < 0) {
        fprintf(err, "selgw-sim: --device-at %s=%s: expected UNIT (1..247) or UNIT@BAUD\n", id,
                value);
        return false;
    }
    if (b && bus->kind != SELGW_BUS_RTU) {
        fprintf(err, "selgw-sim: --device-at %s=%s: a baud rate is for an RTU bus\n", id, value);
        return false;
    }
    if (b && setting_for(opts->serial, opts->serial_count, bus->id)) {
        fprintf(err,
                "selgw-sim: --device-at %s=%s: a baud rate needs the simulator's own pty "
                "(--pty): a tty opened with --serial shows only its own end's speed, not the "
                "one the gateway set\n",
                id, value);
        return false;
    }
    *unit = (int)u;
    *baud = (int)b;
    return true;
}

static bool bus_selected(const selgw_sim_options *opts, const char *id)
{
    if (opts->bus_filter_count == 0)
        return true;
    for (size_t i = 0; i < opts->bus_filter_count; i++)
        if (strcmp(opts->bus_filter[i], id) == 0)
            return true;
    return false;
}

selgw_err selgw_sim_new(const selgw_config *cfg, const selgw_sim_options *opts, FILE *err,
                        selgw_sim **out)
{
    *out = NULL;
    if (!check_options(cfg, opts, err))
        return SELGW_ERR_INVALID;
    selgw_sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return SELGW_ERR_NOMEM;
    sim->cfg = cfg;
    sim->err = err;
    sim->time_scale = opts->time_scale;
    sim->wire_timing = opts->wire_timing;
    sim->control_file = dup_string(opts->control_file);
    sim->stats_file = dup_string(opts->stats_file);
    sim->buses = calloc(cfg->bus_count ? cfg->bus_count : 1, sizeof *sim->buses);
    sim->devices = calloc(cfg->device_count ? cfg->device_count : 1, sizeof *sim->devices);
    selgw_err e = SELGW_ERR_NOMEM;
    size_t *bus_map = NULL;
    if (!sim->buses || !sim->devices || (opts->control_file && !sim->control_file) ||
        (opts->stats_file && !sim->stats_file))
        goto fail;

    /* Buses first (indices into sim->buses differ from the config's when filtered). */
    bus_map = malloc((cfg->bus_count ? cfg->bus_count : 1) * sizeof *bus_map);
    if (!bus_map)
        goto fail;
    for (size_t i = 0; i < cfg->bus_count; i++) {
        bus_map[i] = SIZE_MAX;
        if (!bus_selected(opts, cfg->buses[i].id))
            continue;
        struct sim_bus *bus = &sim->buses[sim->bus_count];
        bus->cfg = &cfg->buses[i];
        bus->slave_fd = -1;
        for (int u = 0; u < 256; u++)
            bus->device_of_unit[u] = -1;
        int bits = 1 + bus->cfg->data_bits + (bus->cfg->parity == 'E' || bus->cfg->parity == 'O') +
                   bus->cfg->stop_bits;
        int baud = bus->cfg->baud > 0 ? bus->cfg->baud : 9600;
        bus->char_ns = (int64_t)bits * 1000000000 / baud;
        bus_map[i] = sim->bus_count++;
    }

    e = SELGW_ERR_INVALID;
    for (size_t i = 0; i < cfg->device_count; i++) {
        const selgw_device *cd = &cfg->devices[i];
        if (cd->bus >= cfg->bus_count || bus_map[cd->bus] == SIZE_MAX)
            continue;
        struct sim_device *d = &sim->devices[sim->device_count];
        struct sim_bus *bus = &sim->buses[bus_map[cd->bus]];
        if (cd->unit_id < 1 || cd->unit_id > 247 || !cd->profile) {
            fprintf(err, "selgw-sim: device %s: unit id %d out of 1..247 or no profile\n", cd->id,
                    cd->unit_id);
            goto fail;
        }
        if (bus->device_of_unit[cd->unit_id] >= 0) {
            fprintf(err, "selgw-sim: devices %s and %s share unit id %d on bus %s\n",
                    sim->devices[bus->device_of_unit[cd->unit_id]].cfg->id, cd->id, cd->unit_id,
                    bus->cfg->id);
            goto fail;
        }
        d->cfg = cd;
        d->bus = bus_map[cd->bus];
        d->unit = cd->unit_id;
        if (!device_at_option(opts, cd->id, bus->cfg, err, &d->unit, &d->baud)) {
            e = SELGW_ERR_INVALID;
            goto fail;
        }
        d->image = selgw_sim_device_new(cd->profile, selgw_model_device_seed(opts->seed, cd->id),
                                        cfg->utc_offset_minutes);
        if (!d->image) {
            e = SELGW_ERR_NOMEM;
            goto fail;
        }
        selgw_sim_device_set_scenario(d->image, opts->scenario);
        for (size_t f = 0; f < opts->fault_count; f++)
            if (strcmp(opts->faults[f].device_id, cd->id) == 0)
                d->cli_fault = opts->faults[f].fault;
        bus->device_of_unit[cd->unit_id] = (int)sim->device_count++;
    }

    for (size_t b = 0; b < sim->bus_count; b++) {
        const char *id = sim->buses[b].cfg->id;
        if (sim->buses[b].cfg->kind == SELGW_BUS_TCP)
            e = open_tcp_bus(sim, b, setting_for(opts->tcp, opts->tcp_count, id));
        else
            e = open_rtu_bus(sim, b, setting_for(opts->serial, opts->serial_count, id),
                             setting_for(opts->pty, opts->pty_count, id));
        if (e != SELGW_OK)
            goto fail;
    }

    sim->start_mono_ns = mono_ns();
    if (opts->has_start_time) {
        sim->start_sim_s = opts->start_time_s;
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        sim->start_sim_s = (double)now.tv_sec + now.tv_nsec / 1e9;
    }
    selgw_sim_reload_control(sim);
    free(bus_map);
    *out = sim;
    return SELGW_OK;

fail:
    free(bus_map);
    if (e == SELGW_ERR_NOMEM)
        fprintf(err, "selgw-sim: out of memory\n");
    selgw_sim_free(sim);
    return e;
}

void selgw_sim_free(selgw_sim *sim)
{
    if (!sim)
        return;
    for (size_t i = 0; i < sim->conn_count; i++)
        conn_free(sim->conns[i]);
    free(sim->conns);
    for (size_t b = 0; b < sim->bus_count; b++) {
        struct sim_bus *bus = &sim->buses[b];
        if (bus->link_path && bus->slave_name) {
            /* Only our own link: another simulator may have replaced it since. */
            char target[256];
            ssize_t n = readlink(bus->link_path, target, sizeof target - 1);
            if (n >= 0) {
                target[n] = '\0';
                if (strcmp(target, bus->slave_name) == 0)
                    unlink(bus->link_path);
            }
        }
        if (bus->slave_fd >= 0)
            close(bus->slave_fd);
        free(bus->where);
        free(bus->serial_path);
        free(bus->link_path);
        free(bus->slave_name);
    }
    free(sim->buses);
    if (sim->devices)
        for (size_t i = 0; i < sim->device_count; i++)
            selgw_sim_device_free(sim->devices[i].image);
    free(sim->devices);
    free(sim->control_file);
    free(sim->stats_file);
    free(sim);
}

void selgw_sim_print_buses(const selgw_sim *sim, FILE *out)
{
    for (size_t b = 0; b < sim->bus_count; b++)
        fprintf(out, "bus %s %s %s\n", sim->buses[b].cfg->id,
                sim->buses[b].cfg->kind == SELGW_BUS_TCP ? "tcp" : "rtu", sim->buses[b].where);
    fprintf(out, "ready\n");
    fflush(out);
}

/* ------------------------------------------------------------------------------------------
 * The control file */

/* A `value DEVICE FIELD X` or `freeze DEVICE [FIELD]` line of the control file (after its
 * first word); true when taken. A field frozen under the previous reading (old_scripts)
 * keeps the value it was frozen at. */
static bool control_script_line(selgw_sim *sim, const char *word, char **save,
                                struct field_script **old_scripts, int lineno)
{
    bool is_value = !strcmp(word, "value");
    char *device = strtok_r(NULL, " \t\r\n", save);
    char *field = device ? strtok_r(NULL, " \t\r\n", save) : NULL;
    char *number = field && is_value ? strtok_r(NULL, " \t\r\n", save) : NULL;
    char *extra = strtok_r(NULL, " \t\r\n", save);
    if (!device || (is_value && !number) || extra) {
        fprintf(sim->err, "%s:%d: expected '%s'; line ignored\n", sim->control_file, lineno,
                is_value ? "value DEVICE FIELD NUMBER" : "freeze DEVICE [FIELD]");
        return false;
    }
    ssize_t d = sim_device_index(sim, device);
    if (d < 0) {
        fprintf(sim->err,
                "%s:%d: no such device '%s' (or its bus is not simulated); line "
                "ignored\n",
                sim->control_file, lineno, device);
        return false;
    }
    selgw_sim_device *image = sim->devices[d].image;
    if (field && field_index(image, field) < 0) {
        fprintf(sim->err, "%s:%d: device %s has no field '%s'; line ignored\n", sim->control_file,
                lineno, device, field);
        return false;
    }
    selgw_err err;
    if (is_value) {
        char *end;
        errno = 0;
        double value = strtod(number, &end);
        if (!*number || *end || errno || !isfinite(value)) {
            fprintf(sim->err, "%s:%d: '%s' is not a number; line ignored\n", sim->control_file,
                    lineno, number);
            return false;
        }
        err = selgw_sim_device_set_value(image, field, value);
    } else {
        double now = sim_time(sim);
        err = SELGW_OK;
        for (size_t i = 0; err == SELGW_OK && i < image->profile->field_count; i++) {
            if (field && strcmp(image->profile->fields[i].name, field))
                continue;
            const struct field_script *old = old_scripts[d] ? &old_scripts[d][i] : NULL;
            err = selgw_sim_device_freeze(image, image->profile->fields[i].name,
                                          old && old->kind == SCRIPT_FROZEN ? old->frozen_s : now);
        }
    }
    if (err != SELGW_OK) {
        fprintf(sim->err, "%s:%d: %s; line ignored\n", sim->control_file, lineno,
                selgw_strerror(err));
        return false;
    }
    return true;
}

void selgw_sim_reload_control(selgw_sim *sim)
{
    if (!sim->control_file)
        return;
    FILE *f = fopen(sim->control_file, "r");
    if (!f) {
        if (errno != ENOENT) {
            fprintf(sim->err, "selgw-sim: %s: %s; runtime faults unchanged\n", sim->control_file,
                    strerror(errno));
            return;
        }
        /* No file: no runtime faults. */
        for (size_t i = 0; i < sim->device_count; i++)
            sim->devices[i].has_runtime_fault = false;
        return;
    }
    bool *has = calloc(sim->device_count ? sim->device_count : 1, sizeof *has);
    selgw_sim_fault *faults = calloc(sim->device_count ? sim->device_count : 1, sizeof *faults);
    if (!has || !faults) {
        fprintf(sim->err, "selgw-sim: %s: out of memory; runtime faults unchanged\n",
                sim->control_file);
        free(has);
        free(faults);
        fclose(f);
        return;
    }
    /* Scripts are replaced too; a field frozen before and still frozen keeps its value. */
    struct field_script **old_scripts =
        calloc(sim->device_count ? sim->device_count : 1, sizeof *old_scripts);
    if (!old_scripts) {
        fprintf(sim->err, "selgw-sim: %s: out of memory; runtime faults unchanged\n",
                sim->control_file);
        free(has);
        free(faults);
        fclose(f);
        return;
    }
    for (size_t i = 0; i < sim->device_count; i++) {
        old_scripts[i] = sim->devices[i].image->script;
        sim->devices[i].image->script = NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    size_t count = 0, scripted = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *device = strtok_r(line, " \t\r\n", &save);
        if (!device)
            continue;
        if (!strcmp(device, "value") || !strcmp(device, "freeze")) {
            if (control_script_line(sim, device, &save, old_scripts, lineno))
                scripted++;
            continue;
        }
        char *kind = strtok_r(NULL, " \t\r\n", &save);
        char *extra = kind ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        if (!kind || extra) {
            fprintf(sim->err, "%s:%d: expected 'DEVICE KIND[:ARG]'; line ignored\n",
                    sim->control_file, lineno);
            continue;
        }
        ssize_t d = sim_device_index(sim, device);
        if (d < 0) {
            bool in_config = false;
            for (size_t i = 0; i < sim->cfg->device_count && !in_config; i++)
                in_config = strcmp(sim->cfg->devices[i].id, device) == 0;
            fprintf(sim->err, "%s:%d: %s '%s'; line ignored\n", sim->control_file, lineno,
                    in_config ? "not simulating (its bus is not selected) device"
                              : "no such device",
                    device);
            continue;
        }
        char why[160];
        selgw_sim_fault fault;
        if (selgw_sim_fault_parse(kind, &fault, why, sizeof why) != SELGW_OK) {
            fprintf(sim->err, "%s:%d: %s; line ignored\n", sim->control_file, lineno, why);
            continue;
        }
        has[d] = true;
        faults[d] = fault;
        count++;
    }
    free(line);
    fclose(f);
    for (size_t i = 0; i < sim->device_count; i++) {
        sim->devices[i].has_runtime_fault = has[i];
        sim->devices[i].runtime_fault = faults[i];
    }
    fprintf(sim->err, "selgw-sim: %s: %zu runtime fault%s, %zu scripted value%s\n",
            sim->control_file, count, count == 1 ? "" : "s", scripted, scripted == 1 ? "" : "s");
    for (size_t i = 0; i < sim->device_count; i++)
        free(old_scripts[i]);
    free(old_scripts);
    free(has);
    free(faults);
}

/* ------------------------------------------------------------------------------------------
 * The loop */

selgw_err selgw_sim_run(selgw_sim *sim, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGHUP);

    struct pollfd *fds = NULL;
    struct conn **polled = NULL;
    size_t fds_cap = 0;
    selgw_err result = SELGW_OK;

    while (!*stop) {
        if (*reload) {
            *reload = 0;
            power_cycle(sim);
            selgw_sim_reload_control(sim);
        }
        int64_t now = mono_ns();
        int64_t deadline = INT64_MAX;

        /* Timers: responses due, RTU silence, serial lines to reopen. */
        for (size_t i = 0; i < sim->conn_count; i++) {
            struct conn *c = sim->conns[i];
            struct sim_bus *bus = &sim->buses[c->bus];
            if (c->kind == CONN_SERIAL && c->fd < 0) {
                if (c->paused_until_ns <= now && bus->serial_path) {
                    c->fd = open_serial_path(bus->serial_path, bus->cfg);
                    if (c->fd >= 0 && set_nonblocking(c->fd) == 0) {
                        fprintf(sim->err, "selgw-sim: bus %s: %s reopened\n", bus->cfg->id,
                                bus->where);
                        bus->reported_down = false;
                    } else {
                        if (c->fd >= 0)
                            close(c->fd);
                        c->fd = -1;
                        c->paused_until_ns = now + 1000000000;
                    }
                }
                if (c->fd < 0) {
                    if (c->paused_until_ns < deadline)
                        deadline = c->paused_until_ns;
                    continue;
                }
            }
            if (c->kind == CONN_SERIAL) {
                rtu_silence(sim, c, now);
                int64_t t = rtu_silence_deadline(sim, c);
                if (t < deadline)
                    deadline = t;
            }
            release_due(c, now);
            if (c->pending_count && c->pending[0].due_ns < deadline)
                deadline = c->pending[0].due_ns;
            if (c->kind == CONN_LISTENER && c->paused_until_ns > now &&
                c->paused_until_ns < deadline)
                deadline = c->paused_until_ns;
        }

        /* Drop closed clients. */
        size_t kept = 0;
        for (size_t i = 0; i < sim->conn_count; i++) {
            struct conn *c = sim->conns[i];
            if (c->dead && c->kind == CONN_TCP_CLIENT) {
                conn_free(c);
                continue;
            }
            if (c->dead && c->kind == CONN_SERIAL) {
                c->dead = false;
                serial_down(sim, c, "write failed");
            }
            sim->conns[kept++] = c;
        }
        sim->conn_count = kept;

        if (fds_cap < sim->conn_count) {
            size_t cap = sim->conn_count * 2;
            struct pollfd *f2 = realloc(fds, cap * sizeof *f2);
            if (f2)
                fds = f2;
            struct conn **p2 = realloc(polled, cap * sizeof *p2);
            if (p2)
                polled = p2;
            if (!f2 || !p2) {
                fprintf(sim->err, "selgw-sim: out of memory\n");
                result = SELGW_ERR_NOMEM;
                break;
            }
            fds_cap = cap;
        }
        size_t nfds = 0;
        for (size_t i = 0; i < sim->conn_count; i++) {
            struct conn *c = sim->conns[i];
            if (c->fd < 0 || (c->kind == CONN_LISTENER && c->paused_until_ns > now))
                continue;
            fds[nfds].fd = c->fd;
            fds[nfds].events = (short)(POLLIN | (c->out_len ? POLLOUT : 0));
            fds[nfds].revents = 0;
            polled[nfds++] = c;
        }

        /* Wait. Deadlines closer than a millisecond are slept to precisely (wire timing). */
        int64_t wait = -1; /* none: until something happens */
        if (deadline != INT64_MAX) {
            wait = deadline - mono_ns();
            if (wait < 0)
                wait = 0; /* already due */
        }
        if (wait > 0 && wait < 1000000) {
            struct timespec abs = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL) == EINTR)
                ;
            wait = 0;
        }
        struct timespec timeout = {0, 0};
        if (wait > 0) {
            timeout.tv_sec = (time_t)(wait / 1000000000);
            timeout.tv_nsec = (long)(wait % 1000000000);
        }
        int n = ppoll(fds, nfds, wait < 0 ? NULL : &timeout, &waitmask);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(sim->err, "selgw-sim: poll: %s\n", strerror(errno));
            result = SELGW_ERR_IO;
            break;
        }
        size_t polled_count = nfds; /* accepting appends to sim->conns, not to polled */
        for (size_t i = 0; i < polled_count && n > 0; i++) {
            struct conn *c = polled[i];
            short ev = fds[i].revents;
            if (!ev)
                continue;
            if (c->kind == CONN_LISTENER) {
                accept_clients(sim, c);
                continue;
            }
            if (ev & POLLOUT)
                flush_out(c);
            if (ev & (POLLIN | POLLHUP | POLLERR)) {
                if (c->kind == CONN_TCP_CLIENT)
                    read_tcp(sim, c);
                else if (c->fd >= 0)
                    read_serial(sim, c);
            }
        }
    }
    free(fds);
    free(polled);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    return result;
}

/* ------------------------------------------------------------------------------------------
 * Statistics */

void selgw_sim_print_stats(const selgw_sim *sim, FILE *out)
{
    for (size_t i = 0; i < sim->device_count; i++) {
        const struct sim_device *d = &sim->devices[i];
        fprintf(out,
                "device %s (bus %s, unit %d): %llu answered, %llu exceptions, %llu silent drops, "
                "%llu corrupted\n",
                d->cfg->id, sim->buses[d->bus].cfg->id, d->cfg->unit_id,
                (unsigned long long)d->answered, (unsigned long long)d->exceptions,
                (unsigned long long)d->silent, (unsigned long long)d->corrupted);
    }
    for (size_t b = 0; b < sim->bus_count; b++)
        if (sim->buses[b].other_unit_requests)
            fprintf(out, "bus %s: %llu requests for unit ids with no device (%s)\n",
                    sim->buses[b].cfg->id, (unsigned long long)sim->buses[b].other_unit_requests,
                    sim->buses[b].cfg->kind == SELGW_BUS_TCP ? "answered exception 0x0B"
                                                             : "ignored");
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

selgw_err selgw_sim_write_stats_file(const selgw_sim *sim)
{
    if (!sim->stats_file)
        return SELGW_OK;
    size_t len = strlen(sim->stats_file) + 8;
    char *tmp = malloc(len);
    if (!tmp)
        return SELGW_ERR_NOMEM;
    snprintf(tmp, len, "%s.tmp", sim->stats_file);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(sim->err, "selgw-sim: %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return SELGW_ERR_IO;
    }
    fprintf(f, "{\"devices\": [");
    for (size_t i = 0; i < sim->device_count; i++) {
        const struct sim_device *d = &sim->devices[i];
        fprintf(f, "%s\n  {\"id\": ", i ? "," : "");
        json_string(f, d->cfg->id);
        fprintf(f, ", \"bus\": ");
        json_string(f, sim->buses[d->bus].cfg->id);
        fprintf(f,
                ", \"unit_id\": %d, \"answered\": %llu, \"exceptions\": %llu, \"silent\": %llu, "
                "\"corrupted\": %llu}",
                d->cfg->unit_id, (unsigned long long)d->answered, (unsigned long long)d->exceptions,
                (unsigned long long)d->silent, (unsigned long long)d->corrupted);
    }
    fprintf(f, "\n], \"buses\": [");
    for (size_t b = 0; b < sim->bus_count; b++) {
        fprintf(f, "%s\n  {\"id\": ", b ? "," : "");
        json_string(f, sim->buses[b].cfg->id);
        fprintf(f, ", \"kind\": \"%s\", \"other_unit_requests\": %llu}",
                sim->buses[b].cfg->kind == SELGW_BUS_TCP ? "tcp" : "rtu",
                (unsigned long long)sim->buses[b].other_unit_requests);
    }
    fprintf(f, "\n]}\n");
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, sim->stats_file) != 0) {
        fprintf(sim->err, "selgw-sim: cannot write %s: %s\n", sim->stats_file, strerror(errno));
        unlink(tmp);
        free(tmp);
        return SELGW_ERR_IO;
    }
    free(tmp);
    return SELGW_OK;
}
