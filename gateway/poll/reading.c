#include "poll/reading.h"

#include <string.h>

#include "base/clock.h"
#include "base/text_writer.h"

void selgw_json_string(char *buf, size_t cap, size_t *len, const char *s)
{
    selgw_json_string_n(buf, cap, len, s ? s : "", s ? strlen(s) : 0);
}

static void put_key(char *buf, size_t cap, size_t *len, const char *key)
{
    selgw_json_string(buf, cap, len, key);
    selgw_text_char(buf, cap, len, ':');
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

    selgw_text_format(buf, cap, &len, "{\"time\":\"%s\",", selgw_format_utc(r->time_ns, when));
    const char *tags[][2] = {
        {"gateway", cfg->gateway_id}, {"base", base->id},
        {"plot", plot->id},           {"crop", plot->crop},
        {"device", dev->id},          {"profile", profile->name},
        {"serial", dev->serial},      {"bus", cfg->buses[dev->bus].id},
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        put_key(buf, cap, &len, tags[i][0]);
        selgw_json_string(buf, cap, &len, tags[i][1]);
        selgw_text_char(buf, cap, &len, ',');
    }
    selgw_text_format(buf, cap, &len, "\"unit_id\":%d,\"households\":[", dev->unit_id);
    for (size_t i = 0; i < r->contract_count; i++) {
        if (i)
            selgw_text_char(buf, cap, &len, ',');
        selgw_text_format(buf, cap, &len, "{\"household\":");
        selgw_json_string(buf, cap, &len, r->contracts[i]->household);
        selgw_text_format(buf, cap, &len, ",\"contract\":");
        selgw_json_string(buf, cap, &len, r->contracts[i]->contract);
        selgw_text_char(buf, cap, &len, '}');
    }
    selgw_text_format(buf, cap, &len, "],\"status\":\"%s\"", selgw_err_token(r->status));
    if (r->status != SELGW_OK) {
        selgw_text_format(buf, cap, &len, ",\"error\":");
        selgw_json_string(buf, cap, &len, selgw_strerror(r->status));
    }
    if (r->status == SELGW_ERR_EXCEPTION)
        selgw_text_format(buf, cap, &len, ",\"exception\":%d", r->exception_code);
    selgw_text_format(buf, cap, &len, ",\"attempts\":%u,\"fields\":{", r->attempts);
    for (size_t i = 0; i < profile->field_count; i++) {
        const selgw_field *f = &profile->fields[i];
        if (i)
            selgw_text_char(buf, cap, &len, ',');
        put_key(buf, cap, &len, f->name);
        selgw_text_format(buf, cap, &len, "{\"value\":");
        if (r->values[i].quality == SELGW_QUALITY_READ_FAILED)
            selgw_text_format(buf, cap, &len, "null");
        else
            selgw_json_number(buf, cap, &len, r->values[i].value);
        selgw_text_format(buf, cap, &len, ",\"unit\":");
        selgw_json_string(buf, cap, &len, f->unit);
        selgw_text_format(buf, cap, &len, ",\"quality\":\"%s\"}",
                          selgw_quality_name(r->values[i].quality));
    }
    selgw_text_format(buf, cap, &len, "}}");
    return len;
}
