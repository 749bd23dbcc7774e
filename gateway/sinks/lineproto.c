/* InfluxDB line protocol for journal records. The schema is documented in
 * docs/INFLUXDB.md; keep the two in step. */
#include "sinks/lineproto.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "base/text_writer.h"

/* A control character would end the line or confuse the server's parser: it becomes a
 * space (which the element's own rule then escapes where needed). */
static unsigned char visible(unsigned char c)
{
    return (c < 0x20 || c == 0x7f) ? ' ' : c;
}

static int is_special(unsigned char c, const char *special)
{
    return strchr(special, c) != NULL && c != '\0';
}

/* Measurement, tag key, tag value and field key: a backslash escapes each character of
 * `special`. InfluxDB (1.x and 2.x) keeps any other backslash literally, so a backslash is
 * written as it is, except where it would end the element or stand right before an escaped
 * character: there it would swallow the separator or the escape, and the server rejects
 * the line even when that backslash is itself escaped (influxdb issues #5231, #6154). Such
 * a backslash is written as '/', the one change that keeps the line valid. */
static void escape_name(char *buf, size_t cap, size_t *len, const char *s, size_t n,
                        const char *special)
{
    const unsigned char *p = (const unsigned char *)s;
    /* Ids and names rarely need any escaping: copy the plain run up to the first character
     * that does in one go (the per-character path below dominated a backlog drain). */
    bool escape_equals = strchr(special, '=') != NULL;
    size_t plain = 0;
    while (plain < n && p[plain] >= 0x20 && p[plain] != 0x7f && p[plain] != '\\' &&
           p[plain] != ',' && p[plain] != ' ' && !(escape_equals && p[plain] == '='))
        plain++;
    selgw_text_bytes(buf, cap, len, s, plain);
    for (size_t i = plain; i < n; i++) {
        unsigned char c = visible(p[i]);
        if (c == '\\') {
            int at_end = i + 1 == n;
            if (at_end || is_special(visible(p[i + 1]), special))
                c = '/';
        } else if (is_special(c, special)) {
            selgw_text_char(buf, cap, len, '\\');
        }
        selgw_text_char(buf, cap, len, (char)c);
    }
}

void selgw_lp_measurement(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    escape_name(buf, cap, len, s, n, ", ");
}

void selgw_lp_tag(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    escape_name(buf, cap, len, s, n, ",= ");
}

void selgw_lp_field_key(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    escape_name(buf, cap, len, s, n, ",= ");
}

/* The inside of a string field value: `"` and `\` escaped, control characters spaces. */
static void string_body(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = visible(p[i]);
        if (c == '"' || c == '\\')
            selgw_text_char(buf, cap, len, '\\');
        selgw_text_char(buf, cap, len, (char)c);
    }
}

void selgw_lp_string_field(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    selgw_text_char(buf, cap, len, '"');
    string_body(buf, cap, len, s, n);
    selgw_text_char(buf, cap, len, '"');
}

/* ---- one line per reading ---------------------------------------------------------- */

/* Field keys InfluxDB refuses (a leading '_', "time", an empty key) and the keys of our
 * own fields get the prefix "f_", so that a sensor field can never collide with them. */
static int needs_prefix(selgw_str name)
{
    static const char *const reserved[] = {"time", "seq", "attempts", "quality", "hash"};
    if (name.len == 0 || name.ptr[0] == '_')
        return 1;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (name.len == strlen(reserved[i]) && !memcmp(name.ptr, reserved[i], name.len))
            return 1;
    return 0;
}

/* The field key of a reading's field, written by `write` (escaper or string body). */
static void put_field_name(char *buf, size_t cap, size_t *len, selgw_str name,
                           void (*write)(char *, size_t, size_t *, const char *, size_t))
{
    if (needs_prefix(name))
        selgw_text_bytes(buf, cap, len, "f_", 2);
    write(buf, cap, len, name.ptr, name.len);
}

static void put_tag(char *buf, size_t cap, size_t *len, const char *key, selgw_str value)
{
    if (value.len == 0)
        return; /* InfluxDB rejects empty tag values: the tag is left out */
    selgw_text_char(buf, cap, len, ',');
    selgw_text_bytes(buf, cap, len, key, strlen(key));
    selgw_text_char(buf, cap, len, '=');
    selgw_lp_tag(buf, cap, len, value.ptr, value.len);
}

/* households=HH-001\,HH-017: the codes in the record's order, joined by an (escaped)
 * comma; left out when there are none. */
static void put_households_tag(char *buf, size_t cap, size_t *len, const selgw_record *rec)
{
    size_t written = 0;
    for (size_t i = 0; i < rec->household_count; i++) {
        selgw_str code = rec->households[i].household;
        if (code.len == 0)
            continue;
        selgw_text_bytes(buf, cap, len, written ? "\\," : ",households=", written ? 2 : 12);
        selgw_lp_tag(buf, cap, len, code.ptr, code.len);
        written++;
    }
}

/* The quality string field: "name:out_of_range,name:invalid" for the fields that are not
 * plainly ok. Returns whether it wrote anything. */
static int put_quality_field(char *buf, size_t cap, size_t *len, const selgw_record *rec)
{
    size_t listed = 0;
    for (size_t i = 0; i < rec->field_count; i++) {
        const selgw_record_field *f = &rec->fields[i];
        if (f->quality == SELGW_QUALITY_READ_FAILED)
            continue;
        const char *what;
        if (!isfinite(f->value))
            what = "invalid";
        else if (f->quality == SELGW_QUALITY_OUT_OF_RANGE)
            what = "out_of_range";
        else
            continue;
        selgw_text_bytes(buf, cap, len, listed ? "," : ",quality=\"", listed ? 1 : 10);
        put_field_name(buf, cap, len, f->name, string_body);
        selgw_text_char(buf, cap, len, ':');
        selgw_text_bytes(buf, cap, len, what, strlen(what));
        listed++;
    }
    if (listed)
        selgw_text_char(buf, cap, len, '"');
    return listed > 0;
}

size_t selgw_lp_record(const selgw_record *rec, const char *measurement, char *buf, size_t cap)
{
    size_t len = 0;
    if (!buf)
        cap = 0;
    if (cap)
        buf[0] = '\0';
    /* the measurement comes from the config, whose table holds its default */
    if (rec->type != SELGW_RECORD_READING || !measurement || !*measurement)
        return 0;

    selgw_lp_measurement(buf, cap, &len, measurement, strlen(measurement));
    /* Tags in key order, as InfluxDB sorts them anyway. */
    const char *status = selgw_err_token(rec->status);
    put_tag(buf, cap, &len, "base", rec->base);
    put_tag(buf, cap, &len, "bus", rec->bus);
    put_tag(buf, cap, &len, "crop", rec->crop);
    put_tag(buf, cap, &len, "device", rec->device);
    put_tag(buf, cap, &len, "gateway", rec->gateway);
    put_households_tag(buf, cap, &len, rec);
    put_tag(buf, cap, &len, "plot", rec->plot);
    put_tag(buf, cap, &len, "profile", rec->profile);
    put_tag(buf, cap, &len, "status", (selgw_str){status, strlen(status)});

    /* Fields: the values that were read and are numbers. */
    selgw_text_char(buf, cap, &len, ' ');
    for (size_t i = 0; i < rec->field_count; i++) {
        const selgw_record_field *f = &rec->fields[i];
        if (f->quality == SELGW_QUALITY_READ_FAILED || !isfinite(f->value))
            continue;
        put_field_name(buf, cap, &len, f->name, selgw_lp_field_key);
        selgw_text_char(buf, cap, &len, '=');
        selgw_text_double(buf, cap, &len, f->value);
        selgw_text_char(buf, cap, &len, ',');
    }
    /* attempts is always there, so a failed poll is a line too: the gap shows. */
    selgw_text_format(buf, cap, &len, "attempts=%ui", rec->attempts);
    put_quality_field(buf, cap, &len, rec);
    if (rec->seq)
        selgw_text_format(buf, cap, &len, ",seq=%llui", (unsigned long long)rec->seq);
    if (rec->has_hash) {
        /* the record's evidence hash, so a point in InfluxDB can be matched to its record */
        static const char digits[] = "0123456789abcdef";
        selgw_text_bytes(buf, cap, &len, ",hash=\"", 7);
        for (size_t i = 0; i < SELGW_RECORD_HASH_BYTES; i++) {
            selgw_text_char(buf, cap, &len, digits[rec->hash[i] >> 4]);
            selgw_text_char(buf, cap, &len, digits[rec->hash[i] & 0xf]);
        }
        selgw_text_char(buf, cap, &len, '"');
    }
    selgw_text_format(buf, cap, &len, " %lld\n", (long long)rec->time_ns);
    return len;
}
