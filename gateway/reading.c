#include "reading.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"

/* Appends formatted text at *len without writing past cap; *len counts what the whole
 * text needs, so a caller can size a buffer from a first pass. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = *len < cap ? cap - *len : 0;
    int n = vsnprintf(room ? buf + *len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

static void put_char(char *buf, size_t cap, size_t *len, char c)
{
    if (*len + 1 < cap) {
        buf[*len] = c;
        buf[*len + 1] = '\0';
    }
    (*len)++;
}

void selgw_json_string(char *buf, size_t cap, size_t *len, const char *s)
{
    put_char(buf, cap, len, '"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            put(buf, cap, len, "\\\"");
            break;
        case '\\':
            put(buf, cap, len, "\\\\");
            break;
        case '\n':
            put(buf, cap, len, "\\n");
            break;
        case '\r':
            put(buf, cap, len, "\\r");
            break;
        case '\t':
            put(buf, cap, len, "\\t");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                put(buf, cap, len, "\\u%04x", *p);
            else
                put_char(buf, cap, len, (char)*p);
        }
    }
    put_char(buf, cap, len, '"');
}

static void put_key(char *buf, size_t cap, size_t *len, const char *key)
{
    selgw_json_string(buf, cap, len, key);
    put_char(buf, cap, len, ':');
}

static void put_number(char *buf, size_t cap, size_t *len, double v)
{
    if (!isfinite(v)) {
        put(buf, cap, len, "null");
        return;
    }
    /* 15 significant digits print 0.1-step values (23.4) without binary noise and keep
     * every integer below 10^15 exact. */
    put(buf, cap, len, "%.15g", v);
}

size_t selgw_reading_json(const selgw_reading *r, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    const selgw_config *cfg = r->config;
    const selgw_device *dev = r->device;
    const selgw_plot *plot = &cfg->plots[dev->plot];
    const selgw_base *base = &cfg->bases[plot->base];
    const selgw_profile *profile = dev->profile;
    char when[SELGW_UTC_TEXT_SIZE];

    put(buf, cap, &len, "{\"time\":\"%s\",", selgw_format_utc(r->time_ns, when));
    const char *tags[][2] = {
        {"gateway", cfg->gateway_id}, {"base", base->id},
        {"plot", plot->id},           {"crop", plot->crop},
        {"device", dev->id},          {"profile", profile->name},
        {"serial", dev->serial},      {"bus", cfg->buses[dev->bus].id},
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        put_key(buf, cap, &len, tags[i][0]);
        selgw_json_string(buf, cap, &len, tags[i][1]);
        put_char(buf, cap, &len, ',');
    }
    put(buf, cap, &len, "\"unit_id\":%d,\"households\":[", dev->unit_id);
    for (size_t i = 0; i < r->contract_count; i++) {
        if (i)
            put_char(buf, cap, &len, ',');
        put(buf, cap, &len, "{\"household\":");
        selgw_json_string(buf, cap, &len, r->contracts[i]->household);
        put(buf, cap, &len, ",\"contract\":");
        selgw_json_string(buf, cap, &len, r->contracts[i]->contract);
        put_char(buf, cap, &len, '}');
    }
    put(buf, cap, &len, "],\"status\":\"%s\"", selgw_err_token(r->status));
    if (r->status != SELGW_OK) {
        put(buf, cap, &len, ",\"error\":");
        selgw_json_string(buf, cap, &len, selgw_strerror(r->status));
    }
    if (r->status == SELGW_ERR_EXCEPTION)
        put(buf, cap, &len, ",\"exception\":%d", r->exception_code);
    put(buf, cap, &len, ",\"attempts\":%u,\"fields\":{", r->attempts);
    for (size_t i = 0; i < profile->field_count; i++) {
        const selgw_field *f = &profile->fields[i];
        if (i)
            put_char(buf, cap, &len, ',');
        put_key(buf, cap, &len, f->name);
        put(buf, cap, &len, "{\"value\":");
        if (r->values[i].quality == SELGW_QUALITY_READ_FAILED)
            put(buf, cap, &len, "null");
        else
            put_number(buf, cap, &len, r->values[i].value);
        put(buf, cap, &len, ",\"unit\":");
        selgw_json_string(buf, cap, &len, f->unit);
        put(buf, cap, &len, ",\"quality\":\"%s\"}", selgw_quality_name(r->values[i].quality));
    }
    put(buf, cap, &len, "}}");
    return len;
}
