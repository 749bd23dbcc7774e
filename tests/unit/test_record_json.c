/* The record JSON encoder against the vsnprintf version it replaced (issue 13): the same
 * bytes and the same needed length for many random records of every type, whole and cut
 * short. The escaping rules themselves are tested in test_record.c and test_safe_text.c;
 * this test holds the rewrite to what they were written against. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "journal/record.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/text_writer.h"

static const uint8_t zero_hash[SELGW_RECORD_HASH_BYTES];

/* selgw_format_utc as it was: strftime and snprintf. */
static char *reference_format_utc(int64_t utc_ns, char buf[SELGW_UTC_TEXT_SIZE])
{
    int64_t secs = utc_ns / SELGW_NS_PER_S;
    int64_t frac = utc_ns % SELGW_NS_PER_S;
    if (frac < 0) {
        frac += SELGW_NS_PER_S;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    size_t n = gmtime_r(&t, &tm) ? strftime(buf, SELGW_UTC_TEXT_SIZE, "%Y-%m-%dT%H:%M:%S", &tm) : 0;
    if (n == 0 || n + 9 > SELGW_UTC_TEXT_SIZE) {
        snprintf(buf, SELGW_UTC_TEXT_SIZE, "invalid-time");
        return buf;
    }
    snprintf(buf + n, SELGW_UTC_TEXT_SIZE - n, ".%06uZ", (unsigned)(frac / 1000) % 1000000u);
    return buf;
}

/* selgw_json_string_n as it was: a byte at a time, \u escapes through vsnprintf. */
static void reference_json_string_n(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    selgw_text_char(buf, cap, len, '"');
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x80) {
            uint32_t cp;
            size_t seq = selgw_utf8_sequence(p + i, n - i, &cp);
            if (seq == 0) {
                selgw_text_bytes(buf, cap, len, "\xef\xbf\xbd", 3); /* U+FFFD */
            } else {
                selgw_text_bytes(buf, cap, len, s + i, seq);
                i += seq - 1;
            }
            continue;
        }
        switch (p[i]) {
        case '"':
            selgw_text_bytes(buf, cap, len, "\\\"", 2);
            break;
        case '\\':
            selgw_text_bytes(buf, cap, len, "\\\\", 2);
            break;
        case '\n':
            selgw_text_bytes(buf, cap, len, "\\n", 2);
            break;
        case '\r':
            selgw_text_bytes(buf, cap, len, "\\r", 2);
            break;
        case '\t':
            selgw_text_bytes(buf, cap, len, "\\t", 2);
            break;
        default:
            if (p[i] < 0x20 || p[i] == 0x7f)
                selgw_text_format(buf, cap, len, "\\u%04x", p[i]);
            else
                selgw_text_char(buf, cap, len, (char)p[i]);
        }
    }
    selgw_text_char(buf, cap, len, '"');
}

static void reference_json_string(char *buf, size_t cap, size_t *len, const char *s)
{
    reference_json_string_n(buf, cap, len, s ? s : "", s ? strlen(s) : 0);
}

static void put_json_str(char *buf, size_t cap, size_t *len, selgw_str s)
{
    reference_json_string_n(buf, cap, len, s.ptr, s.ptr ? s.len : 0);
}

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
    case SELGW_RECORD_SEAL:
        return "seal";
    case SELGW_RECORD_ANNOTATION:
        return "annotation";
    case SELGW_RECORD_TAGS:
        return "tags";
    case SELGW_RECORD_CLOCK:
        return "clock";
    case SELGW_RECORD_ALERT:
        return "alert";
    case SELGW_RECORD_LOT:
        return "lot";
    case SELGW_RECORD_WITNESS:
        return "witness";
    }
    return "unknown";
}

/* ,"key":number, or null when it is not finite */
static void put_number_member(char *buf, size_t cap, size_t *len, const char *key, double v)
{
    selgw_text_format(buf, cap, len, ",\"%s\":", key);
    selgw_json_number(buf, cap, len, v);
}

/* ,"key":"<lowercase hex of n bytes>" */
static void put_hex_member(char *buf, size_t cap, size_t *len, const char *key,
                           const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    selgw_text_format(buf, cap, len, ",\"%s\":\"", key);
    for (size_t i = 0; i < n; i++) {
        selgw_text_char(buf, cap, len, digits[bytes[i] >> 4]);
        selgw_text_char(buf, cap, len, digits[bytes[i] & 0xf]);
    }
    selgw_text_char(buf, cap, len, '"');
}

/* ,"key":"value" */
static void put_next_member(char *buf, size_t cap, size_t *len, const char *key, selgw_str value)
{
    selgw_text_format(buf, cap, len, ",\"%s\":", key);
    put_json_str(buf, cap, len, value);
}

/* The members of an event after "gateway", as its type has them. */
static void put_event_members(const selgw_record *rec, char *buf, size_t cap, size_t *len)
{
    switch (rec->type) {
    case SELGW_RECORD_ANNOTATION:
    case SELGW_RECORD_LOT:
        put_next_member(buf, cap, len, "plot", rec->plot);
        put_next_member(buf, cap, len, "text", rec->text);
        put_next_member(buf, cap, len, "ref", rec->ref);
        break;
    case SELGW_RECORD_TAGS:
        put_next_member(buf, cap, len, "plot", rec->plot);
        put_next_member(buf, cap, len, "text", rec->text);
        break;
    case SELGW_RECORD_ALERT: {
        char since[SELGW_UTC_TEXT_SIZE];
        put_next_member(buf, cap, len, "base", rec->base);
        put_next_member(buf, cap, len, "plot", rec->plot);
        put_next_member(buf, cap, len, "crop", rec->crop);
        put_next_member(buf, cap, len, "rule", rec->rule);
        selgw_text_format(buf, cap, len, ",\"state\":\"%s\",\"condition\":\"%s\"",
                          selgw_alert_state_name(rec->alert_state),
                          selgw_alert_condition_name(rec->alert_condition));
        put_next_member(buf, cap, len, "device", rec->device);
        put_next_member(buf, cap, len, "field", rec->field);
        put_next_member(buf, cap, len, "unit", rec->unit);
        put_number_member(buf, cap, len, "value", rec->alert_value);
        put_number_member(buf, cap, len, "threshold", rec->alert_threshold);
        selgw_text_format(buf, cap, len, ",\"since\":\"%s\"",
                          reference_format_utc(rec->alert_since_ns, since));
        break;
    }
    case SELGW_RECORD_SEAL:
        if (rec->seal_has_covers) {
            char until[SELGW_UTC_TEXT_SIZE];
            selgw_text_format(buf, cap, len, ",\"covers_until\":\"%s\"",
                              reference_format_utc(rec->seal_covers_until_ns, until));
        }
        selgw_text_format(buf, cap, len, ",\"heads\":[");
        for (size_t i = 0; i < rec->seal_count; i++) {
            selgw_str chain;
            uint64_t chain_seq;
            const uint8_t *head;
            selgw_record_seal_entry(rec, i, &chain, &chain_seq, &head);
            selgw_text_format(buf, cap, len, "%s{\"chain\":", i ? "," : "");
            put_json_str(buf, cap, len, chain);
            selgw_text_format(buf, cap, len, ",\"chain_seq\":%llu", (unsigned long long)chain_seq);
            put_hex_member(buf, cap, len, "head", head, SELGW_RECORD_HASH_BYTES);
            selgw_text_char(buf, cap, len, '}');
        }
        selgw_text_char(buf, cap, len, ']');
        if (rec->signature)
            put_hex_member(buf, cap, len, "signature", rec->signature,
                           SELGW_RECORD_SIGNATURE_BYTES);
        break;
    case SELGW_RECORD_WITNESS: {
        char when[SELGW_UTC_TEXT_SIZE];
        selgw_text_format(buf, cap, len, ",\"seal_seq\":%llu",
                          (unsigned long long)rec->witness_seal_seq);
        put_hex_member(buf, cap, len, "seal_hash", rec->witness_seal_hash, SELGW_RECORD_HASH_BYTES);
        put_hex_member(buf, cap, len, "witness_key", rec->witness_key, sizeof rec->witness_key);
        selgw_text_format(buf, cap, len, ",\"witnessed\":\"%s\"",
                          reference_format_utc(rec->witness_time_ns, when));
        if (rec->witness_signature)
            put_hex_member(buf, cap, len, "signature", rec->witness_signature,
                           SELGW_RECORD_SIGNATURE_BYTES);
        break;
    }
    default: /* start, stop, gap, clock */
        put_next_member(buf, cap, len, "text", rec->text);
        if (rec->type == SELGW_RECORD_GAP)
            selgw_text_format(buf, cap, len, ",\"first\":%llu,\"last\":%llu",
                              (unsigned long long)rec->gap_first_seq,
                              (unsigned long long)rec->gap_last_seq);
        if (rec->type == SELGW_RECORD_START &&
            (rec->chained || memcmp(rec->prev_seal, zero_hash, SELGW_RECORD_HASH_BYTES)))
            put_hex_member(buf, cap, len, "prev_seal", rec->prev_seal, SELGW_RECORD_HASH_BYTES);
        break;
    }
}

/* "key":"value", */
static void put_member(char *buf, size_t cap, size_t *len, const char *key, selgw_str value)
{
    selgw_text_format(buf, cap, len, "\"%s\":", key);
    put_json_str(buf, cap, len, value);
    selgw_text_char(buf, cap, len, ',');
}

/* A reading's members after "time", in the order docs/RECORD.md lists them. */
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
        reference_json_string(buf, cap, len, selgw_strerror(rec->status));
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

size_t reference_record_json(const selgw_record *rec, char *buf, size_t cap)
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
                      reference_format_utc(rec->time_ns, when));
    if (rec->type == SELGW_RECORD_READING) {
        put_reading_members(rec, buf, cap, &len);
    } else {
        selgw_text_format(buf, cap, &len, "\"gateway\":");
        put_json_str(buf, cap, &len, rec->gateway);
        put_event_members(rec, buf, cap, &len);
    }
    /* After the type's members, so that a reading's JSON begins with the reading itself
     * whether or not it is chained. */
    if (rec->chained) {
        put_next_member(buf, cap, &len, "chain", rec->chain);
        selgw_text_format(buf, cap, &len, ",\"chain_seq\":%llu",
                          (unsigned long long)rec->chain_seq);
        put_hex_member(buf, cap, &len, "prev", rec->prev, SELGW_RECORD_HASH_BYTES);
    }
    if (rec->has_hash)
        put_hex_member(buf, cap, &len, "hash", rec->hash, SELGW_RECORD_HASH_BYTES);
    selgw_text_char(buf, cap, &len, '}');
    return len;
}

/* ---- random records --------------------------------------------------------------------- */

/* xorshift64, as in test_record.c: a fixed seed, so that a failure repeats */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t below(size_t n)
{
    return (size_t)(rnd() % n);
}

/* Texts with every kind of byte the escaper treats apart: plain ASCII, quotes, backslashes,
 * control characters, DEL, NUL, well-formed UTF-8 of every length, and broken UTF-8. */
static const char *const pieces[] = {
    "soil-1",   "HH-001",
    "tea",      "紫阳县汉王镇",
    "\"",       "\\",
    "\n",       "\r",
    "\t",       "\x01",
    "\x1f",     "\x7f",
    "\xc3\xa9", "\xf0\x9f\x8c\xb1",
    "\xe2\x82", "\xff",
    "\xc0\xaf", " ",
    "%s",       "{}",
    "a,b=c",    "",
};

/* A random text of up to a few pieces into a pool, as a selgw_str (it may hold NUL). */
static selgw_str random_str(char *pool, size_t *used, size_t cap)
{
    selgw_str s = {pool + *used, 0};
    size_t count = below(5);
    for (size_t i = 0; i < count; i++) {
        const char *piece = pieces[below(sizeof pieces / sizeof pieces[0])];
        size_t n = below(8) == 0 ? 1 : strlen(piece); /* sometimes a NUL byte instead */
        if (*used + n >= cap)
            break;
        if (n == 1 && !*piece)
            pool[*used] = '\0';
        else
            memcpy(pool + *used, n == 1 && below(8) == 0 ? "\0" : piece, n);
        *used += n;
        s.len += n;
    }
    if (below(16) == 0)
        s.ptr = NULL, s.len = 0; /* a member the decoder left empty */
    return s;
}

static double random_value(void)
{
    switch (below(8)) {
    case 0:
        return (double)(int64_t)(rnd() % 2000001) / 10.0 - 100000.0; /* 0.1 steps */
    case 1:
        return (double)(int64_t)(rnd() % 200001) - 100000.0;
    case 2: {
        uint64_t bits = rnd();
        double v;
        memcpy(&v, &bits, sizeof v); /* any double: NaN, infinities, denormals */
        return v;
    }
    case 3:
        return (double)(rnd() % 1000000) * 1e-9;
    case 4:
        return below(2) ? -0.0 : 0.0;
    case 5:
        return below(2) ? INFINITY : NAN;
    case 6:
        return (double)(rnd() >> 11) * 0x1p-53 * 1e6;
    default:
        return (double)(int64_t)(rnd() % 65536) * 0.01 - 40;
    }
}

static int64_t random_time(void)
{
    switch (below(4)) {
    case 0:
        return (int64_t)rnd(); /* any instant int64 nanoseconds can hold */
    case 1:
        return -(int64_t)(rnd() % (UINT64_C(1) << 62));
    default:
        return INT64_C(1795960521123456789) + (int64_t)(rnd() % (UINT64_C(1) << 50));
    }
}

static void random_hash(uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)rnd();
}

static const selgw_record_type types[] = {
    SELGW_RECORD_READING, SELGW_RECORD_START,      SELGW_RECORD_STOP,    SELGW_RECORD_GAP,
    SELGW_RECORD_SEAL,    SELGW_RECORD_ANNOTATION, SELGW_RECORD_TAGS,    SELGW_RECORD_CLOCK,
    SELGW_RECORD_ALERT,   SELGW_RECORD_LOT,        SELGW_RECORD_WITNESS,
};

/* A random record of a random type. A seal goes through its encoder and the decoder (its
 * entries live in a payload); the others are filled directly, as the decoder would. */
static void random_record(selgw_record *rec, char *pool, size_t pool_cap, uint8_t *payload,
                          size_t payload_cap)
{
    size_t used = 0;
    memset(rec, 0, sizeof *rec);
    rec->type = types[below(sizeof types / sizeof types[0])];
    if (rec->type == SELGW_RECORD_SEAL) {
        selgw_seal_entry entries[4];
        char names[4][16];
        size_t count = below(5);
        for (size_t i = 0; i < count; i++) {
            snprintf(names[i], sizeof names[i], below(2) ? "device/d%zu" : "gw\"%zu", i);
            entries[i].chain = names[i];
            entries[i].chain_seq = rnd() >> below(64);
            random_hash(entries[i].head, sizeof entries[i].head);
        }
        int64_t t = random_time();
        size_t signed_len;
        selgw_chain_link link = {.chain = "gateway", .chain_seq = rnd() >> 20};
        random_hash(link.prev, sizeof link.prev);
        size_t n =
            selgw_record_encode_seal(t, t - (int64_t)below(1000000), "gw-\t1", entries, count,
                                     below(2) ? &link : NULL, payload, payload_cap, &signed_len);
        assert_true(n > 0 && n <= payload_cap);
        random_hash(payload + signed_len, SELGW_RECORD_SIGNATURE_BYTES);
        assert_int_equal(selgw_record_decode(payload, n, rec), SELGW_OK);
        rec->seal_has_covers = below(2);
    } else {
        rec->time_ns = random_time();
        rec->gateway = random_str(pool, &used, pool_cap);
        rec->base = random_str(pool, &used, pool_cap);
        rec->plot = random_str(pool, &used, pool_cap);
        rec->crop = random_str(pool, &used, pool_cap);
        rec->device = random_str(pool, &used, pool_cap);
        rec->profile = random_str(pool, &used, pool_cap);
        rec->serial = random_str(pool, &used, pool_cap);
        rec->bus = random_str(pool, &used, pool_cap);
        rec->unit_id = below(4) ? (int)below(248) : (int)(int32_t)rnd();
        rec->status = (selgw_err)below(SELGW_ERR_COUNT_);
        rec->exception_code = below(4) ? (int)below(12) : (int)(int32_t)rnd();
        rec->attempts = below(4) ? (unsigned)below(4) : (unsigned)rnd();
        rec->household_count = below(SELGW_READING_MAX_HOUSEHOLDS + 1);
        for (size_t i = 0; i < rec->household_count; i++) {
            rec->households[i].household = random_str(pool, &used, pool_cap);
            rec->households[i].contract = random_str(pool, &used, pool_cap);
        }
        rec->field_count = below(SELGW_READING_MAX_FIELDS + 1);
        for (size_t i = 0; i < rec->field_count; i++) {
            rec->fields[i].name = random_str(pool, &used, pool_cap);
            rec->fields[i].unit = random_str(pool, &used, pool_cap);
            rec->fields[i].value = random_value();
            rec->fields[i].quality = (selgw_quality)below(3);
        }
        rec->text = random_str(pool, &used, pool_cap);
        rec->ref = random_str(pool, &used, pool_cap);
        rec->rule = random_str(pool, &used, pool_cap);
        rec->field = random_str(pool, &used, pool_cap);
        rec->unit = random_str(pool, &used, pool_cap);
        rec->gap_first_seq = rnd() >> below(64);
        rec->gap_last_seq = rnd() >> below(64);
        rec->alert_state = (selgw_alert_state)below(4);
        rec->alert_condition = (selgw_alert_condition)below(6);
        rec->alert_value = random_value();
        rec->alert_threshold = random_value();
        rec->alert_since_ns = random_time();
        rec->chained = below(2);
        rec->chain = random_str(pool, &used, pool_cap);
        rec->chain_seq = rnd() >> below(64);
        random_hash(rec->prev, sizeof rec->prev);
        if (below(2))
            random_hash(rec->prev_seal, sizeof rec->prev_seal);
        rec->witness_seal_seq = rnd() >> below(64);
        random_hash(rec->witness_seal_hash, sizeof rec->witness_seal_hash);
        random_hash(rec->witness_key, sizeof rec->witness_key);
        rec->witness_time_ns = random_time();
        if (below(2)) {
            random_hash(payload, SELGW_RECORD_SIGNATURE_BYTES);
            rec->witness_signature = payload;
        }
    }
    rec->seq = below(4) ? rnd() >> below(64) : 0;
    rec->has_hash = below(2);
    random_hash(rec->hash, sizeof rec->hash);
}

static void test_json_same_as_before(void **state)
{
    (void)state;
    static char pool[1 << 14];
    static uint8_t payload[1 << 12];
    static char now[1 << 15], before[1 << 15];
    static selgw_record rec;
    for (int i = 0; i < 100000; i++) {
        random_record(&rec, pool, sizeof pool, payload, sizeof payload);
        size_t need_before = reference_record_json(&rec, before, sizeof before);
        size_t need_now = selgw_record_json(&rec, now, sizeof now);
        assert_true(need_before < sizeof before);
        assert_int_equal(need_now, need_before);
        assert_string_equal(now, before);
        /* cut short at a random length: the same prefix, the same length needed */
        size_t cap = below(need_before + 2);
        memset(now, 'x', sizeof now);
        memset(before, 'x', sizeof before);
        assert_int_equal(selgw_record_json(&rec, now, cap), need_before);
        assert_int_equal(reference_record_json(&rec, before, cap), need_before);
        assert_memory_equal(now, before, cap + 1);
        assert_int_equal(selgw_record_json(&rec, NULL, 0), need_before);
    }
}

/* Every instant's time text as strftime and snprintf wrote it. */
static void test_time_same_as_before(void **state)
{
    (void)state;
    for (int i = 0; i < 1000000; i++) {
        int64_t t = random_time();
        if (i < 4)
            t = i == 0 ? INT64_MIN : i == 1 ? INT64_MAX : i == 2 ? 0 : -1;
        char now[SELGW_UTC_TEXT_SIZE], before[SELGW_UTC_TEXT_SIZE];
        assert_string_equal(selgw_format_utc(t, now), reference_format_utc(t, before));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_same_as_before),
        cmocka_unit_test(test_time_same_as_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
