/* Journal record payloads: encoding, validating decoding, JSON. The byte layout is
 * specified in docs/RECORD.md; keep the two in step. */
#include "record.h"

#include <math.h>
#include <string.h>

#include "clock.h"
#include "text_writer.h"

/* The bits written for a field that has no value (read_failed): one fixed quiet NaN, so
 * that the same reading always encodes to the same bytes. */
#define NO_VALUE_BITS UINT64_C(0x7ff8000000000000)

/* ---- encoding ---------------------------------------------------------------------- */

/* A writer that counts everything and stores what fits, so that one pass gives both
 * the payload and the length it needs. `bad` is set when something cannot be encoded. */
typedef struct writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int bad;
} writer;

static void put_bytes(writer *w, const void *p, size_t n)
{
    if (w->len < w->cap && n) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, p, n < room ? n : room);
    }
    w->len += n;
}

static void put_uint(writer *w, uint64_t v, size_t width)
{
    uint8_t le[8];
    for (size_t i = 0; i < width; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    put_bytes(w, le, width);
}

static void put_u8(writer *w, unsigned v)
{
    if (v > UINT8_MAX)
        w->bad = 1;
    put_uint(w, v, 1);
}

static void put_f64(writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_uint(w, bits, 8);
}

static void put_str(writer *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > UINT16_MAX) {
        w->bad = 1;
        n = 0;
    }
    put_uint(w, n, 2);
    put_bytes(w, s, n);
}

static size_t finish(const writer *w)
{
    if (w->bad || w->len > SELGW_RECORD_MAX_PAYLOAD)
        return 0;
    return w->len;
}

static void put_head(writer *w, selgw_record_type type, int64_t time_ns, const char *gateway)
{
    put_u8(w, SELGW_RECORD_FORMAT);
    put_u8(w, (unsigned)type);
    put_uint(w, (uint64_t)time_ns, 8);
    put_str(w, gateway);
}

size_t selgw_record_encode_reading(const selgw_reading *r, uint8_t *buf, size_t cap)
{
    writer w = {.buf = buf, .cap = buf ? cap : 0};
    const selgw_config *cfg = r->config;
    const selgw_device *dev = r->device;
    const selgw_plot *plot = &cfg->plots[dev->plot];
    const selgw_base *base = &cfg->bases[plot->base];
    const selgw_profile *profile = dev->profile;

    if (r->contract_count > SELGW_RECORD_MAX_HOUSEHOLDS ||
        profile->field_count > SELGW_RECORD_MAX_FIELDS || (unsigned)r->status >= SELGW_ERR_COUNT_ ||
        dev->unit_id < 0 || r->exception_code < 0)
        return 0;

    put_head(&w, SELGW_RECORD_READING, r->time_ns, cfg->gateway_id);
    put_str(&w, base->id);
    put_str(&w, plot->id);
    put_str(&w, plot->crop);
    put_str(&w, dev->id);
    put_str(&w, profile->name);
    put_str(&w, dev->serial);
    put_str(&w, cfg->buses[dev->bus].id);
    put_u8(&w, (unsigned)dev->unit_id);
    put_u8(&w, (unsigned)r->status);
    put_u8(&w, (unsigned)r->exception_code);
    put_uint(&w, r->attempts, 4);

    put_uint(&w, r->contract_count, 2);
    for (size_t i = 0; i < r->contract_count; i++) {
        put_str(&w, r->contracts[i]->household);
        put_str(&w, r->contracts[i]->contract);
    }

    put_uint(&w, profile->field_count, 2);
    for (size_t i = 0; i < profile->field_count; i++) {
        selgw_quality q = r->values[i].quality;
        if ((unsigned)q > SELGW_QUALITY_READ_FAILED)
            return 0;
        put_str(&w, profile->fields[i].name);
        put_str(&w, profile->fields[i].unit);
        put_u8(&w, (unsigned)q);
        if (q == SELGW_QUALITY_READ_FAILED)
            put_uint(&w, NO_VALUE_BITS, 8);
        else
            put_f64(&w, r->values[i].value);
    }
    return finish(&w);
}

size_t selgw_record_encode_event(selgw_record_type type, int64_t time_ns, const char *gateway,
                                 const char *text, uint64_t gap_first_seq, uint64_t gap_last_seq,
                                 uint8_t *buf, size_t cap)
{
    writer w = {.buf = buf, .cap = buf ? cap : 0};
    if (type != SELGW_RECORD_START && type != SELGW_RECORD_STOP && type != SELGW_RECORD_GAP)
        return 0;
    if (type == SELGW_RECORD_GAP && gap_first_seq > gap_last_seq)
        return 0;
    put_head(&w, type, time_ns, gateway);
    put_str(&w, text);
    if (type == SELGW_RECORD_GAP) {
        put_uint(&w, gap_first_seq, 8);
        put_uint(&w, gap_last_seq, 8);
    }
    return finish(&w);
}

/* ---- decoding ---------------------------------------------------------------------- */

/* A reader that fails (and stays failed) at the first read past the end. */
typedef struct reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    int bad;
} reader;

static const uint8_t *take(reader *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static uint64_t get_uint(reader *r, size_t width)
{
    const uint8_t *p = take(r, width);
    uint64_t v = 0;
    for (size_t i = 0; p && i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static double get_f64(reader *r)
{
    uint64_t bits = get_uint(r, 8);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* A string: no NUL inside, because consumers print strings with "%.*s" and build topics
 * and keys from them; our encoder never writes one. */
static selgw_str get_str(reader *r)
{
    size_t n = (size_t)get_uint(r, 2);
    const uint8_t *p = take(r, n);
    if (!p || (n && memchr(p, '\0', n))) {
        r->bad = 1;
        return (selgw_str){"", 0};
    }
    return (selgw_str){(const char *)p, n};
}

static void decode_reading(reader *r, selgw_record *out)
{
    out->base = get_str(r);
    out->plot = get_str(r);
    out->crop = get_str(r);
    out->device = get_str(r);
    out->profile = get_str(r);
    out->serial = get_str(r);
    out->bus = get_str(r);
    out->unit_id = (int)get_uint(r, 1);
    uint64_t status = get_uint(r, 1);
    if (status >= SELGW_ERR_COUNT_)
        r->bad = 1;
    out->status = (selgw_err)status;
    out->exception_code = (int)get_uint(r, 1);
    out->attempts = (unsigned)get_uint(r, 4);

    uint64_t households = get_uint(r, 2);
    if (households > SELGW_RECORD_MAX_HOUSEHOLDS)
        r->bad = 1;
    for (size_t i = 0; !r->bad && i < households; i++) {
        out->households[i].household = get_str(r);
        out->households[i].contract = get_str(r);
        out->household_count = i + 1;
    }

    uint64_t fields = get_uint(r, 2);
    if (fields > SELGW_RECORD_MAX_FIELDS)
        r->bad = 1;
    for (size_t i = 0; !r->bad && i < fields; i++) {
        selgw_record_field *f = &out->fields[i];
        f->name = get_str(r);
        f->unit = get_str(r);
        uint64_t quality = get_uint(r, 1);
        if (quality > SELGW_QUALITY_READ_FAILED)
            r->bad = 1;
        f->quality = (selgw_quality)quality;
        f->value = get_f64(r);
        if (f->quality == SELGW_QUALITY_READ_FAILED)
            f->value = NAN;
        out->field_count = i + 1;
    }
}

selgw_err selgw_record_decode(const uint8_t *buf, size_t len, selgw_record *out)
{
    memset(out, 0, sizeof *out);
    if (!buf || len > SELGW_RECORD_MAX_PAYLOAD)
        return SELGW_ERR_CORRUPT;
    reader r = {.buf = buf, .len = len};
    if (get_uint(&r, 1) != SELGW_RECORD_FORMAT)
        r.bad = 1;
    uint64_t type = get_uint(&r, 1);
    out->type = (selgw_record_type)type;
    out->time_ns = (int64_t)get_uint(&r, 8);
    out->gateway = get_str(&r);
    switch (type) {
    case SELGW_RECORD_READING:
        decode_reading(&r, out);
        break;
    case SELGW_RECORD_START:
    case SELGW_RECORD_STOP:
        out->text = get_str(&r);
        break;
    case SELGW_RECORD_GAP:
        out->text = get_str(&r);
        out->gap_first_seq = get_uint(&r, 8);
        out->gap_last_seq = get_uint(&r, 8);
        if (out->gap_first_seq > out->gap_last_seq)
            r.bad = 1;
        break;
    default:
        r.bad = 1;
    }
    /* Trailing bytes mean the payload is not what its format says it is. */
    if (r.bad || r.pos != len) {
        memset(out, 0, sizeof *out);
        return SELGW_ERR_CORRUPT;
    }
    return SELGW_OK;
}

/* ---- JSON -------------------------------------------------------------------------- */

static const char *type_name(selgw_record_type type)
{
    switch (type) {
    case SELGW_RECORD_READING:
        return "reading";
    case SELGW_RECORD_START:
        return "start";
    case SELGW_RECORD_STOP:
        return "stop";
    case SELGW_RECORD_GAP:
        return "gap";
    }
    return "unknown";
}

static void put_json_str(char *buf, size_t cap, size_t *len, selgw_str s)
{
    selgw_json_string_n(buf, cap, len, s.ptr, s.ptr ? s.len : 0);
}

/* "key":"value", */
static void put_member(char *buf, size_t cap, size_t *len, const char *key, selgw_str value)
{
    selgw_text_format(buf, cap, len, "\"%s\":", key);
    put_json_str(buf, cap, len, value);
    selgw_text_char(buf, cap, len, ',');
}

/* The members of selgw_reading_json (gateway/reading.c), in the same order and form: a
 * reading looks the same on stdout before the journal and on MQTT after it. */
static void put_reading_members(const selgw_record *rec, char *buf, size_t cap, size_t *len)
{
    const struct {
        const char *key;
        selgw_str value;
    } tags[] = {
        {"gateway", rec->gateway}, {"base", rec->base},     {"plot", rec->plot},
        {"crop", rec->crop},       {"device", rec->device}, {"profile", rec->profile},
        {"serial", rec->serial},   {"bus", rec->bus},
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        put_member(buf, cap, len, tags[i].key, tags[i].value);
    selgw_text_format(buf, cap, len, "\"unit_id\":%d,\"households\":[", rec->unit_id);
    for (size_t i = 0; i < rec->household_count; i++) {
        if (i)
            selgw_text_char(buf, cap, len, ',');
        selgw_text_format(buf, cap, len, "{\"household\":");
        put_json_str(buf, cap, len, rec->households[i].household);
        selgw_text_format(buf, cap, len, ",\"contract\":");
        put_json_str(buf, cap, len, rec->households[i].contract);
        selgw_text_char(buf, cap, len, '}');
    }
    selgw_text_format(buf, cap, len, "],\"status\":\"%s\"", selgw_err_token(rec->status));
    if (rec->status != SELGW_OK) {
        selgw_text_format(buf, cap, len, ",\"error\":");
        selgw_json_string(buf, cap, len, selgw_strerror(rec->status));
    }
    if (rec->status == SELGW_ERR_EXCEPTION)
        selgw_text_format(buf, cap, len, ",\"exception\":%d", rec->exception_code);
    selgw_text_format(buf, cap, len, ",\"attempts\":%u,\"fields\":{", rec->attempts);
    for (size_t i = 0; i < rec->field_count; i++) {
        const selgw_record_field *f = &rec->fields[i];
        if (i)
            selgw_text_char(buf, cap, len, ',');
        put_json_str(buf, cap, len, f->name);
        selgw_text_format(buf, cap, len, ":{\"value\":");
        if (f->quality == SELGW_QUALITY_READ_FAILED)
            selgw_text_format(buf, cap, len, "null");
        else
            selgw_json_number(buf, cap, len, f->value);
        selgw_text_format(buf, cap, len, ",\"unit\":");
        put_json_str(buf, cap, len, f->unit);
        selgw_text_format(buf, cap, len, ",\"quality\":\"%s\"}", selgw_quality_name(f->quality));
    }
    selgw_text_char(buf, cap, len, '}');
}

size_t selgw_record_json(const selgw_record *rec, char *buf, size_t cap)
{
    size_t len = 0;
    if (!buf)
        cap = 0;
    if (cap)
        buf[0] = '\0';
    char when[SELGW_UTC_TEXT_SIZE];

    selgw_text_char(buf, cap, &len, '{');
    if (rec->seq)
        selgw_text_format(buf, cap, &len, "\"seq\":%llu,", (unsigned long long)rec->seq);
    selgw_text_format(buf, cap, &len, "\"type\":\"%s\",\"time\":\"%s\",", type_name(rec->type),
                      selgw_format_utc(rec->time_ns, when));
    if (rec->type == SELGW_RECORD_READING) {
        put_reading_members(rec, buf, cap, &len);
    } else {
        selgw_text_format(buf, cap, &len, "\"gateway\":");
        put_json_str(buf, cap, &len, rec->gateway);
        selgw_text_format(buf, cap, &len, ",\"text\":");
        put_json_str(buf, cap, &len, rec->text);
        if (rec->type == SELGW_RECORD_GAP)
            selgw_text_format(buf, cap, &len, ",\"first\":%llu,\"last\":%llu",
                              (unsigned long long)rec->gap_first_seq,
                              (unsigned long long)rec->gap_last_seq);
    }
    selgw_text_char(buf, cap, &len, '}');
    return len;
}
