#include "commission.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/reading.h"
#include "base/yaml.h"
#include "http/client.h"
#include "journal/journal.h"
#include "poll/transport.h"
#include "sensors/decode.h"
#include "sensors/modbus_reply.h"
#include "sensors/plan.h"

/* A read or write from the command line waits this long for an answer, unless --timeout. */
#define COMMISSION_TIMEOUT_MS 1000
/* Tries of a probe whose answers come back corrupt before the unit counts as garbled. */
#define GARBLE_TRIES 3

/* ---- shared parts ---------------------------------------------------------------------- */

/* The profiles a command offers: the config's (shipped plus its profiles_dir), or the
 * shipped ones, loaded into *own. */
static const selgw_profile_set *profile_set(const char *cmd, const selgw_config *cfg,
                                            selgw_profile_set **own)
{
    *own = NULL;
    if (cfg)
        return cfg->profiles;
    selgw_diag *diag = selgw_diag_new();
    selgw_profile_set *set = selgw_profile_set_new();
    if (!diag || !set || selgw_profile_set_load_builtin(set, diag) != SELGW_OK) {
        if (diag)
            selgw_diag_print(diag, stderr);
        fprintf(stderr, "selgw %s: cannot load the shipped profiles\n", cmd);
        selgw_diag_free(diag);
        selgw_profile_set_free(set);
        return NULL;
    }
    selgw_diag_free(diag);
    *own = set;
    return set;
}

static bool is_shipped(const selgw_profile *p)
{
    return !strncmp(p->path, "<builtin>/", 10);
}

/* A profile by name, or a refusal that names the close ones and where the list is. */
static const selgw_profile *find_profile(const char *cmd, const selgw_profile_set *set,
                                         const char *name)
{
    const selgw_profile *p = selgw_profile_set_find(set, name);
    if (p)
        return p;
    size_t n = selgw_profile_set_count(set);
    const char **names = calloc(n + 1, sizeof *names);
    for (size_t i = 0; names && i < n; i++)
        names[i] = selgw_profile_set_at(set, i)->name;
    const char *guess = names ? selgw_closest(name, names) : NULL;
    fprintf(stderr, "selgw %s: unknown profile '%s'", cmd, name);
    if (guess)
        fprintf(stderr, " (did you mean '%s'?)", guess);
    fprintf(stderr, "; `selgw profiles` lists them\n");
    free(names);
    return NULL;
}

/* A TCP-to-RTU gateway's way of saying that no device answered behind it. */
static bool gateway_found_nobody(int exception_code)
{
    return exception_code == 10 || exception_code == 11;
}

static bool int_option(const char *cmd, const char *flag, const char *text, long min, long max,
                       int *out)
{
    int64_t value;
    if (!selgw_parse_int(text, &value) || value < min || value > max) {
        fprintf(stderr, "selgw %s: %s: expected a number %ld..%ld, got '%s'\n", cmd, flag, min, max,
                text);
        return false;
    }
    *out = (int)value;
    return true;
}

static bool parity_option(const char *cmd, const char *text, char *out)
{
    if (strlen(text) == 1 && strchr("NEOneo", text[0])) {
        *out = (char)(text[0] & ~0x20);
        return true;
    }
    fprintf(stderr, "selgw %s: --parity: expected N, E or O, got '%s'\n", cmd, text);
    return false;
}

static bool baud_option(const char *cmd, const char *text, int *out)
{
    int64_t value;
    if (selgw_parse_int(text, &value) && selgw_baud_is_common(value)) {
        *out = (int)value;
        return true;
    }
    fprintf(stderr,
            "selgw %s: --baud: expected one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
            "115200, got '%s'\n",
            cmd, text);
    return false;
}

/* A bus from the command line. Its strings point into host (HOST of --tcp) and the
 * options; serial settings not given are the profile's factory ones (profile may be NULL:
 * 9600 8N1). */
static bool bus_from_options(const char *cmd, const selgw_link_options *o,
                             const selgw_profile *profile, selgw_bus *bus, char *host,
                             size_t host_cap)
{
    *bus = (selgw_bus){
        .id = (char *)cmd,
        .baud = profile ? profile->baud : 9600,
        .parity = profile ? profile->parity : 'N',
        .data_bits = profile ? profile->data_bits : 8,
        .stop_bits = profile ? profile->stop_bits : 1,
        .response_timeout_ms = COMMISSION_TIMEOUT_MS,
    };
    if (!o->tcp == !o->serial) {
        fprintf(stderr, "selgw %s: give the bus: --tcp HOST:PORT or --serial DEVICE\n", cmd);
        return false;
    }
    if (o->tcp) {
        const char *colon = strrchr(o->tcp, ':');
        if (!colon || colon == o->tcp || (size_t)(colon - o->tcp) >= host_cap ||
            !int_option(cmd, "--tcp PORT", colon + 1, 1, 65535, &bus->port)) {
            if (!colon || colon == o->tcp)
                fprintf(stderr, "selgw %s: --tcp: expected HOST:PORT, got '%s'\n", cmd, o->tcp);
            return false;
        }
        memcpy(host, o->tcp, (size_t)(colon - o->tcp));
        host[colon - o->tcp] = '\0';
        bus->kind = SELGW_BUS_TCP;
        bus->host = host;
        if (o->baud || o->parity) {
            fprintf(stderr, "selgw %s: --baud and --parity are for --serial\n", cmd);
            return false;
        }
    } else {
        bus->kind = SELGW_BUS_RTU;
        bus->device = (char *)o->serial;
    }
    if (o->timeout &&
        !int_option(cmd, "--timeout", o->timeout, 10, 60000, &bus->response_timeout_ms))
        return false;
    return true;
}

/* What one read of a device by a profile gave. */
typedef struct device_values {
    selgw_err err; /* the first failure, or SELGW_OK */
    int exception_code;
    char why[128];
    size_t field_count;
    double value[SELGW_READING_MAX_FIELDS];
    selgw_quality quality[SELGW_READING_MAX_FIELDS];
} device_values;

static bool link_failure(selgw_err err)
{
    return err == SELGW_ERR_TIMEOUT || err == SELGW_ERR_CONNECT || err == SELGW_ERR_DISCONNECTED;
}

static void print_hex(FILE *out, const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(out, "%s%02X", i ? " " : "", bytes[i]);
}

static void print_frame(void *ctx, bool sent, const uint8_t *frame, size_t len)
{
    FILE *out = ctx;
    fprintf(out, "  %s ", sent ? ">>" : "<<");
    print_hex(out, frame, len);
    fputc('\n', out);
}

/* Reads every field of profile from unit once, as the poller plans and decodes it (dev,
 * when the device is a config's: its plan limits and calibration). raw: the registers of
 * each read go to stdout. */
static selgw_err read_device(selgw_transport *t, int unit, const selgw_profile *profile,
                             const selgw_device *dev, bool raw, device_values *out)
{
    memset(out, 0, sizeof *out);
    out->field_count = profile->field_count;
    selgw_plan *plan = NULL;
    selgw_err err = dev ? selgw_device_plan(dev, &plan)
                        : selgw_plan_build(profile, (unsigned)profile->max_read_registers,
                                           (unsigned)profile->max_gap, &plan);
    if (err != SELGW_OK)
        return err;
    uint16_t *regs =
        calloc((size_t)plan->request_count * SELGW_MODBUS_MAX_READ_BITS + 1, sizeof *regs);
    uint8_t *bits = calloc((size_t)plan->request_count * SELGW_MODBUS_MAX_READ_BITS + 1, 1);
    selgw_err *status = calloc(plan->request_count + 1, sizeof *status);
    if (!regs || !bits || !status) {
        free(regs);
        free(bits);
        free(status);
        selgw_plan_free(plan);
        return SELGW_ERR_NOMEM;
    }
    for (size_t r = 0; r < plan->request_count; r++) {
        const selgw_read_request *rq = &plan->requests[r];
        uint16_t *rregs = regs + r * SELGW_MODBUS_MAX_READ_BITS;
        uint8_t *rbits = bits + r * SELGW_MODBUS_MAX_READ_BITS;
        if (out->err != SELGW_OK && link_failure(out->err)) {
            status[r] = out->err;
            continue;
        }
        int exception_code = 0;
        char why[128];
        if (raw)
            printf("read fc%u@%u+%u:\n", rq->function, rq->address, rq->count);
        status[r] =
            selgw_transport_read(t, unit, rq, rregs, rbits, &exception_code, why, sizeof why);
        if (status[r] != SELGW_OK && out->err == SELGW_OK) {
            out->err = status[r];
            out->exception_code = exception_code;
            snprintf(out->why, sizeof out->why, "%s", why);
        }
        if (raw && status[r] == SELGW_OK) {
            printf("  registers:");
            for (unsigned i = 0; i < rq->count; i++)
                printf(rq->function <= 2 ? " %u" : " %04X",
                       rq->function <= 2 ? rbits[i] : rregs[i]);
            printf("\n");
        } else if (raw) {
            printf("  %s\n", selgw_strerror(status[r]));
        }
    }
    for (size_t i = 0; i < profile->field_count; i++) {
        const selgw_field *f = &profile->fields[i];
        const selgw_field_slot *slot = &plan->slots[i];
        if (status[slot->request] != SELGW_OK) {
            out->quality[i] = SELGW_QUALITY_READ_FAILED;
            continue;
        }
        selgw_calibration cal = dev ? selgw_device_calibration(dev, (int)i)
                                    : (selgw_calibration){.scale = 1, .offset = 0};
        const uint16_t *rregs = regs + slot->request * SELGW_MODBUS_MAX_READ_BITS;
        const uint8_t *rbits = bits + slot->request * SELGW_MODBUS_MAX_READ_BITS;
        if (f->type == SELGW_TYPE_BIT)
            out->quality[i] = selgw_decode_bit(f, rbits[slot->offset], &cal, &out->value[i]);
        else
            out->quality[i] = selgw_decode_registers(
                f, rregs + slot->offset, plan->requests[slot->request].count - slot->offset, &cal,
                &out->value[i]);
    }
    free(regs);
    free(bits);
    free(status);
    selgw_plan_free(plan);
    return out->err;
}

/* One field line of `selgw read`, whether read here or by the running gateway. value NULL:
 * not read. */
static void print_field(const char *name, const double *value, const char *unit,
                        const char *quality)
{
    if (value)
        printf("  %-20s %12.6g %-8s %s\n", name, *value, unit, quality);
    else
        printf("  %-20s %12s %-8s %s\n", name, "-", unit, quality);
}

static void print_values(const selgw_profile *profile, const device_values *v)
{
    for (size_t i = 0; i < profile->field_count; i++) {
        const selgw_field *f = &profile->fields[i];
        print_field(f->name, v->quality[i] == SELGW_QUALITY_READ_FAILED ? NULL : &v->value[i],
                    f->unit, selgw_quality_name(v->quality[i]));
    }
}

/* Why a read failed, with what to do about it, after "selgw CMD: unit N on BUS ". */
static void print_failure(const char *cmd, int unit, const selgw_bus *bus, const device_values *v)
{
    char where[200];
    selgw_bus_describe(bus, where, sizeof where);
    fprintf(stderr, "selgw %s: unit %d on %s: ", cmd, unit, where);
    switch (v->err) {
    case SELGW_ERR_TIMEOUT:
        fprintf(stderr, "no answer within %d ms: %s\n", bus->response_timeout_ms,
                SELGW_NO_ANSWER_HINT);
        break;
    case SELGW_ERR_CONNECT:
    case SELGW_ERR_DISCONNECTED:
        fprintf(stderr, "%s: check the address and that the device or the port is there\n",
                selgw_strerror(v->err));
        break;
    case SELGW_ERR_EXCEPTION:
        if (gateway_found_nobody(v->exception_code)) {
            fprintf(stderr, "the Modbus gateway answered exception %d (%s): %s\n",
                    v->exception_code, selgw_modbus_exception_name(v->exception_code),
                    SELGW_NO_ANSWER_HINT);
            break;
        }
        fprintf(stderr,
                "answered with Modbus exception %d (%s): the device is there, but does not "
                "have the profile's registers; check the profile (selgw profiles)\n",
                v->exception_code, selgw_modbus_exception_name(v->exception_code));
        break;
    case SELGW_ERR_BAD_FRAME:
        fprintf(stderr,
                "corrupt answer%s%s%s: more than one device may answer at this unit id; "
                "connect one at a time and give each its own id with `selgw set-address`\n",
                v->why[0] ? " (" : "", v->why, v->why[0] ? ")" : "");
        break;
    default:
        fprintf(stderr, "%s\n", selgw_strerror(v->err));
        break;
    }
}

/* ---- selgw profiles -------------------------------------------------------------------- */

static void print_link(const selgw_profile *p)
{
    /* "4800 8N1, unit 1", as selgw_bus_describe writes a line's settings */
    printf("%d %d%c%d, unit %d", p->baud, p->data_bits, p->parity, p->stop_bits,
           p->default_unit_id);
}

static void print_addressing(const selgw_profile *p)
{
    const selgw_addressing *a = &p->addressing;
    if (!a->present) {
        printf("  addressing  none: the profile's source does not say how to re-address it\n");
        return;
    }
    printf("  addressing  unit id: register 0x%04X (function %u)\n", a->unit_id_register,
           a->function);
    if (a->has_baud_register) {
        printf("              baud: register 0x%04X (function %u), ", a->baud_register,
               a->function);
        if (!a->baud_code_count)
            printf("codes not in the source: see the unit's manual\n");
        else {
            printf("codes");
            for (size_t i = 0; i < a->baud_code_count; i++)
                printf("%s %d=%u", i ? "," : "", a->baud_codes[i].baud, a->baud_codes[i].code);
            printf("\n");
        }
    }
    printf("              %s\n", a->apply == SELGW_APPLY_POWER_CYCLE ? "applies after a power cycle"
                                 : a->apply == SELGW_APPLY_IMMEDIATE
                                     ? "applies at once"
                                     : "when it applies: not in the source (power-cycle if "
                                       "the new id does not answer)");
}

static void print_profile_detail(const selgw_profile *p)
{
    printf("%s (%s: %s)\n", p->name, is_shipped(p) ? "shipped" : "site", p->path);
    printf("  model       %s\n", p->model);
    printf("  source      %s\n", p->source);
    printf("  link        ");
    print_link(p);
    printf("\n  reads      ");
    selgw_plan *plan = NULL;
    if (selgw_plan_build(p, (unsigned)p->max_read_registers, (unsigned)p->max_gap, &plan) ==
        SELGW_OK) {
        for (size_t r = 0; r < plan->request_count; r++)
            printf(" fc%u@%u+%u", plan->requests[r].function, plan->requests[r].address,
                   plan->requests[r].count);
        selgw_plan_free(plan);
    }
    printf("\n  registers\n");
    printf("    %-20s %2s %-7s %-4s %-5s %-8s %-7s %-6s %s\n", "field", "fc", "address", "type",
           "order", "scale", "offset", "unit", "range");
    for (size_t i = 0; i < p->field_count; i++) {
        const selgw_field *f = &p->fields[i];
        char range[64] = "-";
        if (f->has_min || f->has_max) {
            char lo[24] = "", hi[24] = "";
            if (f->has_min)
                snprintf(lo, sizeof lo, "%g", f->min);
            if (f->has_max)
                snprintf(hi, sizeof hi, "%g", f->max);
            snprintf(range, sizeof range, "%s..%s", lo, hi);
        }
        printf("    %-20s %2u 0x%04X  %-4s %-5s %-8g %-7g %-6s %s\n", f->name, f->function,
               f->address, selgw_value_type_name(f->type), selgw_byte_order_name(f->order),
               f->scale, f->offset, f->unit[0] ? f->unit : "-", range);
    }
    print_addressing(p);
}

int selgw_commission_profiles(const selgw_config *cfg, const selgw_profiles_options *opt)
{
    selgw_profile_set *own;
    const selgw_profile_set *set = profile_set("profiles", cfg, &own);
    if (!set)
        return 1;
    int status = 0;
    if (opt->name) {
        const selgw_profile *p = find_profile("profiles", set, opt->name);
        if (p)
            print_profile_detail(p);
        else
            status = 2;
    } else {
        for (size_t i = 0; i < selgw_profile_set_count(set); i++) {
            const selgw_profile *p = selgw_profile_set_at(set, i);
            printf("%s (%s)\n  model   %s\n  link    ", p->name,
                   is_shipped(p) ? "shipped" : p->path, p->model);
            print_link(p);
            printf("\n  fields ");
            for (size_t f = 0; f < p->field_count; f++)
                printf("%s %s%s%s", f ? "," : "", p->fields[f].name,
                       p->fields[f].unit[0] ? " " : "", p->fields[f].unit);
            printf("\n");
        }
        printf("\n`selgw profiles NAME` shows a profile's registers and how to re-address it.\n");
    }
    selgw_profile_set_free(own);
    return status;
}

/* ---- selgw read ------------------------------------------------------------------------ */

static const selgw_device *find_device(const selgw_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->device_count; i++)
        if (!strcmp(cfg->devices[i].id, id))
            return &cfg->devices[i];
    const char **ids = calloc(cfg->device_count + 1, sizeof *ids);
    for (size_t i = 0; ids && i < cfg->device_count; i++)
        ids[i] = cfg->devices[i].id;
    const char *guess = ids ? selgw_closest(id, ids) : NULL;
    fprintf(stderr, "selgw read: no device '%s' in the config", id);
    if (guess)
        fprintf(stderr, " (did you mean '%s'?)", guess);
    fputc('\n', stderr);
    free(ids);
    return NULL;
}

/* "3.2 s", "4 min 12 s", "2 h 05 min", "3 d 04 h". */
static void format_duration(double s, char *buf, size_t cap)
{
    long long whole = s < 0 ? 0 : (long long)s;
    if (s < 60)
        snprintf(buf, cap, "%.1f s", s < 0 ? 0.0 : s);
    else if (whole < 3600)
        snprintf(buf, cap, "%lld min %lld s", whole / 60, whole % 60);
    else if (whole < 86400)
        snprintf(buf, cap, "%lld h %02lld min", whole / 3600, whole % 3600 / 60);
    else
        snprintf(buf, cap, "%lld d %02lld h", whole / 86400, whole % 86400 / 3600);
}

/* A device of the configuration whose gateway runs: the gateway owns the bus (two masters
 * garble each other's frames), so its last reading comes from the gateway's HTTP API. */
static int read_from_gateway(const selgw_config *cfg, const selgw_device *dev, bool raw)
{
    const char *bus = cfg->buses[dev->bus].id;
    if (raw) {
        fprintf(stderr,
                "selgw read: --raw needs a read of its own, but a gateway is running on this "
                "configuration (its journal %s is in use) and owns bus %s; two masters on one "
                "bus garble each other's frames. Stop the gateway to see the frames, or read "
                "without --raw for its last reading\n",
                cfg->journal.dir, bus);
        return 2;
    }
    char refusal[600];
    snprintf(refusal, sizeof refusal,
             "selgw read: a gateway is running on this configuration (its journal %s is in use) "
             "and owns bus %s; two masters on one bus garble each other's frames",
             cfg->journal.dir, bus);
    if (!cfg->http.enabled) {
        fprintf(stderr,
                "%s. Its HTTP API, which would give the device's last reading, is off (http: "
                "enabled: false in %s): turn it on and reload the gateway, or stop it to read "
                "the device here\n",
                refusal, cfg->path);
        return 1;
    }
    char base[300], path[300], why[600] = "", *body = NULL;
    selgw_http_url_of_listen(cfg->http.listen, cfg->http.tls_cert != NULL, base, sizeof base);
    snprintf(path, sizeof path, "/api/v1/latest/%s", dev->id);
    selgw_err err = selgw_http_get(base, path, cfg->http.tls_cert, &body, why, sizeof why);
    if (err == SELGW_ERR_CONNECT || err == SELGW_ERR_TIMEOUT) {
        fprintf(stderr,
                "%s. Nothing answers at %s, its HTTP API (%s): check http.listen, or stop the "
                "gateway to read the device here\n",
                refusal, base, why);
        return 1;
    }
    selgw_latest_device *d = malloc(sizeof *d);
    if (err == SELGW_OK && !d)
        err = SELGW_ERR_NOMEM;
    if (err == SELGW_OK && selgw_latest_device_parse(body, d) != SELGW_OK) {
        err = SELGW_ERR_INVALID;
        snprintf(why, sizeof why, "%.250s%.250s does not answer as selgw's API does", base, path);
    }
    free(body);
    if (err != SELGW_OK) {
        /* e.g. HTTP 404: the gateway runs an older version of the config, without DEVICE */
        fprintf(stderr, "%s. Its HTTP API did not give the device's last reading: %s\n", refusal,
                why[0] ? why : selgw_strerror(err));
        free(d);
        return 1;
    }

    char where[200], age[48];
    selgw_bus_describe(&cfg->buses[dev->bus], where, sizeof where);
    printf("device %s: unit %d on %s, profile %s\n", dev->id, dev->unit_id, where,
           dev->profile->name);
    int status = 1;
    if (!d->time[0]) {
        printf("from the running gateway at %s: not polled yet\n", base);
        fprintf(stderr,
                "selgw read: the running gateway has not polled %s yet; try again in "
                "a moment\n",
                dev->id);
        free(d);
        return 1;
    }
    format_duration(d->has_age ? d->age_s : 0, age, sizeof age);
    printf("read by the running gateway %s ago (%s), from its API at %s\n", age, d->time, base);
    for (size_t i = 0; i < d->field_count; i++) {
        const selgw_latest_field *f = &d->fields[i];
        print_field(f->name, f->has_value ? &f->value : NULL, f->unit, f->quality);
    }
    printf("health: %lld failure%s in a row, %lld since the start, last success ",
           d->consecutive_failures, d->consecutive_failures == 1 ? "" : "s", d->failures);
    if (d->last_success[0]) {
        format_duration(d->has_success_age ? d->last_success_age_s : 0, age, sizeof age);
        printf("%s ago (%s)\n", age, d->last_success);
    } else {
        printf("none since the start\n");
    }
    if (!strcmp(d->status, "ok"))
        status = 0;
    else
        fprintf(stderr,
                "selgw read: the running gateway's last poll of %s failed (%s); `selgw status` "
                "shows every device\n",
                dev->id, d->status);
    free(d);
    return status;
}

int selgw_commission_read(const selgw_config *cfg, const selgw_read_options *opt)
{
    const selgw_link_options *lo = &opt->link;
    selgw_bus cli_bus;
    char host[256];
    const selgw_bus *bus;
    const selgw_profile *profile;
    const selgw_device *dev = NULL;
    int unit;
    selgw_profile_set *own = NULL;
    if (opt->device) {
        if (!cfg) {
            fprintf(stderr, "selgw read: DEVICE needs the config it is in: -c FILE DEVICE\n");
            return 2;
        }
        if (lo->tcp || lo->serial || lo->baud || lo->parity || opt->unit || opt->profile) {
            fprintf(stderr, "selgw read: a device of the config is read with the config's bus, "
                            "unit and profile: give either DEVICE or --tcp/--serial, --unit "
                            "and --profile\n");
            return 2;
        }
        if (!(dev = find_device(cfg, opt->device)))
            return 2;
        if (selgw_journal_in_use(cfg->journal.dir))
            return read_from_gateway(cfg, dev, opt->raw);
        bus = &cfg->buses[dev->bus];
        profile = dev->profile;
        unit = dev->unit_id;
        if (lo->timeout) {
            cli_bus = *bus;
            if (!int_option("read", "--timeout", lo->timeout, 10, 60000,
                            &cli_bus.response_timeout_ms))
                return 2;
            bus = &cli_bus;
        }
    } else {
        if (!opt->profile) {
            fprintf(stderr, "selgw read: give DEVICE of a config (-c FILE DEVICE), or the bus, "
                            "--unit N and --profile NAME (`selgw profiles` lists them)\n");
            return 2;
        }
        const selgw_profile_set *set = profile_set("read", cfg, &own);
        if (!set)
            return 1;
        profile = find_profile("read", set, opt->profile);
        bool ok = profile && bus_from_options("read", lo, profile, &cli_bus, host, sizeof host);
        if (ok && lo->baud)
            ok = baud_option("read", lo->baud, &cli_bus.baud);
        if (ok && lo->parity)
            ok = parity_option("read", lo->parity, &cli_bus.parity);
        unit = profile ? profile->default_unit_id : 1;
        if (ok && opt->unit)
            ok = int_option("read", "--unit", opt->unit, 0, 255, &unit);
        if (!ok) {
            selgw_profile_set_free(own);
            return 2;
        }
        bus = &cli_bus;
    }

    selgw_transport *t = NULL;
    selgw_err err = selgw_transport_new(bus, &t);
    if (err != SELGW_OK) {
        fprintf(stderr, "selgw read: %s\n", selgw_strerror(err));
        selgw_profile_set_free(own);
        return 1;
    }
    if (opt->raw)
        selgw_transport_set_trace(t, print_frame, stdout);
    char where[200];
    selgw_bus_describe(bus, where, sizeof where);
    if (dev)
        printf("device %s: ", dev->id);
    printf("unit %d on %s, profile %s\n", unit, where, profile->name);
    device_values v;
    err = read_device(t, unit, profile, dev, opt->raw, &v);
    selgw_transport_free(t);
    int status = 0;
    if (err != SELGW_OK && err != SELGW_ERR_TIMEOUT && err != SELGW_ERR_EXCEPTION &&
        err != SELGW_ERR_BAD_FRAME && !link_failure(err)) {
        fprintf(stderr, "selgw read: %s\n", selgw_strerror(err));
        status = 1;
    } else {
        print_values(profile, &v);
        if (err != SELGW_OK) {
            print_failure("read", unit, bus, &v);
            status = 1;
        }
    }
    selgw_profile_set_free(own);
    return status;
}

/* ---- selgw scan ------------------------------------------------------------------------ */

/* Set by SIGINT during a scan: the scan stops after the probe in progress. */
static volatile sig_atomic_t scan_interrupted;

static void on_scan_interrupt(int sig)
{
    (void)sig;
    scan_interrupted = 1;
}

/* Up to 16 items of a comma-separated list, each read by one. */
#define LIST_MAX 16

static bool baud_list(const char *text, int *out, size_t *count)
{
    *count = 0;
    if (!text) {
        for (size_t i = 0; i < selgw_common_baud_count; i++)
            out[(*count)++] = selgw_common_bauds[i];
        return true;
    }
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save))
        if (*count == LIST_MAX || !baud_option("scan", item, &out[(*count)++]))
            return false;
    return *count > 0;
}

static bool parity_list(const char *text, char *out, size_t *count)
{
    *count = 0;
    char copy[64];
    snprintf(copy, sizeof copy, "%s", text ? text : "N,E,O");
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save))
        if (*count == LIST_MAX || !parity_option("scan", item, &out[(*count)++]))
            return false;
    return *count > 0;
}

static bool unit_range(const char *text, int *first, int *last)
{
    *first = 1;
    *last = 247;
    if (!text)
        return true;
    char copy[32];
    snprintf(copy, sizeof copy, "%s", text);
    char *dash = strchr(copy, '-');
    if (dash)
        *dash = '\0';
    if (!int_option("scan", "--units", copy, 0, 255, first) ||
        !int_option("scan", "--units", dash ? dash + 1 : copy, 0, 255, last))
        return false;
    if (*first > *last) {
        fprintf(stderr, "selgw scan: --units: expected FIRST-LAST with FIRST <= LAST, got '%s'\n",
                text);
        return false;
    }
    return true;
}

/* The probe a scan sends: one holding register at 0. Any answer, an exception too, means a
 * device is there; which profile fits is asked afterwards. */
static const selgw_read_request scan_probe = {.function = 3, .address = 0, .count = 1};

typedef enum probe_outcome {
    PROBE_NOBODY,
    PROBE_ANSWERS,
    PROBE_GARBLED,
    PROBE_LINK_DOWN
} probe_outcome;

static probe_outcome probe(selgw_transport *t, int unit, char *why, size_t why_cap, int *corrupt)
{
    *corrupt = 0;
    for (int i = 0; i < GARBLE_TRIES; i++) {
        uint16_t reg;
        uint8_t bit;
        int exception_code;
        char reason[128];
        selgw_err err = selgw_transport_read(t, unit, &scan_probe, &reg, &bit, &exception_code,
                                             reason, sizeof reason);
        if (err == SELGW_OK ||
            (err == SELGW_ERR_EXCEPTION && !gateway_found_nobody(exception_code)))
            return *corrupt ? PROBE_GARBLED : PROBE_ANSWERS;
        if (scan_interrupted) /* the signal cut the wait short: no verdict on this unit */
            return PROBE_NOBODY;
        if (err == SELGW_ERR_BAD_FRAME) {
            if (!*corrupt)
                snprintf(why, why_cap, "%s", reason[0] ? reason : selgw_strerror(err));
            (*corrupt)++;
            continue;
        }
        if (err == SELGW_ERR_CONNECT || err == SELGW_ERR_DISCONNECTED || err == SELGW_ERR_IO)
            return PROBE_LINK_DOWN;
        return *corrupt ? PROBE_GARBLED : PROBE_NOBODY;
    }
    return PROBE_GARBLED;
}

/* The profiles whose every field reads, in range, from the device: the candidates. */
static void print_plausible(selgw_transport *t, int unit, const selgw_profile_set *set)
{
    size_t found = 0;
    for (size_t i = 0; i < selgw_profile_set_count(set) && !scan_interrupted; i++) {
        const selgw_profile *p = selgw_profile_set_at(set, i);
        device_values v;
        if (read_device(t, unit, p, NULL, false, &v) != SELGW_OK)
            continue;
        bool plausible = true;
        for (size_t f = 0; f < p->field_count; f++)
            plausible &= v.quality[f] == SELGW_QUALITY_OK;
        if (plausible)
            printf("%s %s", found++ ? "," : "  plausible profiles:", p->name);
    }
    printf(found ? "\n"
                 : "  no profile reads plausible values from it: write one (docs/PROFILES.md)\n");
}

int selgw_commission_scan(const selgw_config *cfg, const selgw_scan_options *opt)
{
    const selgw_link_options *lo = &opt->link;
    selgw_bus bus;
    char host[256];
    int bauds[LIST_MAX];
    char parities[LIST_MAX];
    size_t baud_count = 1, parity_count = 1;
    int first, last;
    selgw_link_options link = *lo;
    link.baud = link.parity = NULL; /* lists here, read below */
    if (!bus_from_options("scan", &link, NULL, &bus, host, sizeof host) ||
        !unit_range(opt->units, &first, &last))
        return 2;
    if (bus.kind == SELGW_BUS_TCP && (lo->baud || lo->parity)) {
        fprintf(stderr, "selgw scan: --baud and --parity are for --serial\n");
        return 2;
    }
    if (bus.kind == SELGW_BUS_RTU && (!baud_list(lo->baud, bauds, &baud_count) ||
                                      !parity_list(lo->parity, parities, &parity_count)))
        return 2;
    if (!lo->timeout) /* short: most ids are silent, and each silent one costs the timeout */
        bus.response_timeout_ms = bus.kind == SELGW_BUS_TCP ? 300 : 100;
    selgw_profile_set *own;
    const selgw_profile_set *set = profile_set("scan", cfg, &own);
    if (!set)
        return 1;

    struct sigaction sa = {.sa_handler = on_scan_interrupt}, old_sa;
    sigemptyset(&sa.sa_mask);
    scan_interrupted = 0;
    sigaction(SIGINT, &sa, &old_sa);
    size_t answering = 0, garbled = 0;
    int status = 0;
    bool tty = isatty(STDERR_FILENO);
    for (size_t b = 0; b < baud_count && !scan_interrupted && !status; b++)
        for (size_t q = 0; q < parity_count && !scan_interrupted && !status; q++) {
            if (bus.kind == SELGW_BUS_RTU) {
                bus.baud = bauds[b];
                bus.parity = parities[q];
            }
            char where[200];
            selgw_bus_describe(&bus, where, sizeof where);
            fprintf(stderr, "scan: %s, units %d..%d\n", where, first, last);
            selgw_transport *t = NULL;
            selgw_err err = selgw_transport_new(&bus, &t);
            if (err != SELGW_OK) {
                fprintf(stderr, "selgw scan: %s: %s\n", where, selgw_strerror(err));
                status = 1;
                break;
            }
            for (int unit = first; unit <= last && !scan_interrupted; unit++) {
                if (tty && (unit - first) % 10 == 0)
                    fprintf(stderr, "\rscan: %s: unit %d of %d..%d, %zu found", where, unit, first,
                            last, answering + garbled);
                char why[128] = "";
                int corrupt;
                probe_outcome o = probe(t, unit, why, sizeof why, &corrupt);
                if (o == PROBE_LINK_DOWN) {
                    if (tty)
                        fputc('\n', stderr);
                    fprintf(stderr,
                            "selgw scan: %s: cannot open the link: check the address, "
                            "the port and that the device is there\n",
                            where);
                    status = 1;
                    break;
                }
                if (o == PROBE_NOBODY)
                    continue;
                if (tty)
                    fprintf(stderr, "\r%60s\r", "");
                if (o == PROBE_GARBLED) {
                    garbled++;
                    printf("unit %d at %s: corrupt answers (%d of %d: %s): several devices answer "
                           "at this unit id. Connect one at a time and give each its own id with "
                           "`selgw set-address`\n",
                           unit, where, corrupt, GARBLE_TRIES, why);
                } else {
                    answering++;
                    printf("unit %d at %s: answers\n", unit, where);
                    print_plausible(t, unit, set);
                }
                fflush(stdout);
            }
            if (tty)
                fprintf(stderr, "\r%60s\r", "");
            selgw_transport_free(t);
        }
    sigaction(SIGINT, &old_sa, NULL);
    if (scan_interrupted)
        printf("interrupted: the scan stopped early; what it found so far is above\n");
    printf("%zu device%s answer%s", answering, answering == 1 ? "" : "s",
           answering == 1 ? "s" : "");
    if (garbled)
        printf(", %zu unit id%s with several devices", garbled, garbled == 1 ? "" : "s");
    printf("\n");
    selgw_profile_set_free(own);
    if (status)
        return status;
    return scan_interrupted ? 130 : 0;
}

/* ---- selgw set-address ----------------------------------------------------------------- */

/* Writes one addressing register; false (reported) when the device refused or was silent. */
static bool write_addressing(selgw_transport *t, int unit, uint16_t address, uint16_t value,
                             const char *what)
{
    int exception_code = 0;
    selgw_err err = selgw_transport_write_register(t, unit, address, value, &exception_code);
    if (err == SELGW_OK)
        return true;
    if (err == SELGW_ERR_EXCEPTION)
        fprintf(stderr,
                "selgw set-address: unit %d refused the write of %s %u to register 0x%04X with "
                "exception %d (%s): the profile's addressing registers are not this device's\n",
                unit, what, value, address, exception_code,
                selgw_modbus_exception_name(exception_code));
    else
        fprintf(stderr, "selgw set-address: writing %s %u to register 0x%04X of unit %d: %s\n",
                what, value, address, unit, selgw_strerror(err));
    return false;
}

int selgw_commission_set_address(const selgw_config *cfg, const selgw_set_address_options *opt)
{
    const selgw_link_options *lo = &opt->link;
    if (!opt->profile || !opt->new_unit) {
        fprintf(stderr,
                "selgw set-address: give the device's --profile NAME and its "
                "--new-unit N (`selgw profiles NAME` shows how the model is re-addressed)\n");
        return 2;
    }
    selgw_profile_set *own;
    const selgw_profile_set *set = profile_set("set-address", cfg, &own);
    if (!set)
        return 1;
    int status = 2;
    selgw_transport *t = NULL;
    const selgw_profile *profile = find_profile("set-address", set, opt->profile);
    selgw_bus bus, new_bus;
    char host[256];
    int unit = 0, new_unit = 0, new_baud = 0, baud_code = -1;
    bool ok = profile && bus_from_options("set-address", lo, profile, &bus, host, sizeof host);
    if (ok && lo->baud)
        ok = baud_option("set-address", lo->baud, &bus.baud);
    if (ok && lo->parity)
        ok = parity_option("set-address", lo->parity, &bus.parity);
    if (ok) {
        unit = profile->default_unit_id;
        if (opt->unit)
            ok = int_option("set-address", "--unit", opt->unit, 1, 255, &unit);
    }
    ok = ok && int_option("set-address", "--new-unit", opt->new_unit, 1, 247, &new_unit);
    if (ok && opt->new_baud) {
        ok = baud_option("set-address", opt->new_baud, &new_baud);
        if (ok && bus.kind != SELGW_BUS_RTU) {
            fprintf(stderr, "selgw set-address: --new-baud is for a device on --serial\n");
            ok = false;
        }
    }
    const selgw_addressing *a = profile ? &profile->addressing : NULL;
    if (ok && !a->present) {
        fprintf(stderr,
                "selgw set-address: profile %s has no addressing section: its source does not "
                "say how the model is re-addressed (see the unit's manual; a site copy of the "
                "profile can add it, docs/PROFILES.md)\n",
                profile->name);
        ok = false;
    }
    if (ok && a->function != 6) {
        fprintf(stderr,
                "selgw set-address: profile %s writes its address with function %u; "
                "selgw writes with function 6 only\n",
                profile->name, a->function);
        ok = false;
    }
    if (ok && new_baud) {
        baud_code = selgw_addressing_baud_code(a, new_baud);
        if (!a->has_baud_register || baud_code < 0) {
            fprintf(stderr,
                    "selgw set-address: profile %s does not know the code of %d baud%s: its "
                    "source does not give it; a site copy of the profile can add baud_codes "
                    "from the unit's manual (docs/PROFILES.md)\n",
                    profile->name, new_baud,
                    a->has_baud_register ? "" : " (nor the baud register)");
            ok = false;
        }
    }
    if (!ok)
        goto done;

    status = 1;
    char where[200];
    selgw_bus_describe(&bus, where, sizeof where);
    if (selgw_transport_new(&bus, &t) != SELGW_OK) {
        fprintf(stderr, "selgw set-address: %s: cannot set up the link\n", where);
        goto done;
    }
    /* Only the new probe may hear the write: a second device at the old id would take the
     * new one too, and the two would collide again at the new id. Collisions show as
     * corrupt answers, so the device is read a few times first. */
    device_values v;
    int corrupt = 0;
    selgw_err err = SELGW_OK;
    for (int i = 0; i < GARBLE_TRIES; i++) {
        err = read_device(t, unit, profile, NULL, false, &v);
        if (err == SELGW_ERR_BAD_FRAME)
            corrupt++;
        else if (err != SELGW_OK)
            break;
    }
    if (corrupt) {
        fprintf(stderr,
                "selgw set-address: refused: more than one device answers at unit %d on %s "
                "(%d of %d answers corrupt). Connect only the probe to re-address and try "
                "again\n",
                unit, where, corrupt, GARBLE_TRIES);
        goto done;
    }
    if (err != SELGW_OK && err != SELGW_ERR_EXCEPTION) {
        print_failure("set-address", unit, &bus, &v);
        goto done;
    }
    if (new_unit != unit) {
        err = read_device(t, new_unit, profile, NULL, false, &v);
        if (err == SELGW_OK || err == SELGW_ERR_BAD_FRAME ||
            (err == SELGW_ERR_EXCEPTION && !gateway_found_nobody(v.exception_code))) {
            fprintf(stderr,
                    "selgw set-address: refused: unit %d already answers on %s; choose a free "
                    "id (`selgw scan` lists the ones in use)\n",
                    new_unit, where);
            goto done;
        }
    }

    printf("unit %d on %s: writing unit id %d to register 0x%04X\n", unit, where, new_unit,
           a->unit_id_register);
    if (!write_addressing(t, unit, a->unit_id_register, (uint16_t)new_unit, "unit id"))
        goto done;
    if (new_baud) {
        /* A device that takes its new id at once hears the baud write at that id. */
        int at = a->apply == SELGW_APPLY_IMMEDIATE ? new_unit : unit;
        printf("unit %d: writing baud code %d (%d baud) to register 0x%04X\n", at, baud_code,
               new_baud, a->baud_register);
        if (!write_addressing(t, at, a->baud_register, (uint16_t)baud_code, "baud code"))
            goto done;
    }
    selgw_transport_free(t);
    t = NULL;

    /* Read back where the device should be now. */
    new_bus = bus;
    if (new_baud)
        new_bus.baud = new_baud;
    selgw_bus_describe(&new_bus, where, sizeof where);
    if (selgw_transport_new(&new_bus, &t) != SELGW_OK) {
        fprintf(stderr, "selgw set-address: %s: cannot set up the link\n", where);
        goto done;
    }
    err = read_device(t, new_unit, profile, NULL, false, &v);
    if (err == SELGW_OK) {
        printf("unit %d on %s answers:\n", new_unit, where);
        print_values(profile, &v);
        status = 0;
    } else if (a->apply != SELGW_APPLY_IMMEDIATE) {
        printf("unit %d on %s does not answer yet: %s takes its new settings after a power "
               "cycle%s. Power-cycle it, then check with `selgw read`\n",
               new_unit, where, profile->name,
               a->apply == SELGW_APPLY_POWER_CYCLE ? "" : " (its source does not say; most do)");
        status = 0;
    } else {
        print_failure("set-address", new_unit, &new_bus, &v);
    }

done:
    selgw_transport_free(t);
    selgw_profile_set_free(own);
    return status;
}
