/* Journal record payloads: the byte layout (docs/RECORD.md), round trips, limits, a
 * decoder that rejects every malformed payload without reading outside it, and JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/lineproto.h"
#include "journal/record.h"
#include "base/safe_text.h"
#include <sodium.h>

/* A reading as a poller fills it: two households, three fields of which one failed. */
typedef struct fixture {
    selgw_reading reading;
} fixture;

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    selgw_reading *r = &f->reading;
    *r = (selgw_reading){.time_ns = INT64_C(1795960521123456789),
                         .gateway = "gw-1",
                         .base = "紫阳县汉王镇",
                         .plot = "hw-p01",
                         .crop = "tea",
                         .device = "soil-1",
                         .profile = "test-soil",
                         .serial = "SN 42",
                         .bus = "rs485-1",
                         .unit_id = 247,
                         .status = SELGW_ERR_EXCEPTION,
                         .exception_code = 2,
                         .attempts = 3,
                         .household_count = 2,
                         .field_count = 3};
    r->households[0] = (selgw_reading_household){"HH-001", "ZY-2025-001"};
    r->households[1] = (selgw_reading_household){"HH-\"7\"", "ZY,2025=2"};
    r->fields[0] =
        (selgw_reading_field){"soil_moisture", "%", 23.400000000000002, SELGW_QUALITY_OK};
    r->fields[1] =
        (selgw_reading_field){"soil_temperature", "degC", -10.1, SELGW_QUALITY_OUT_OF_RANGE};
    r->fields[2] = (selgw_reading_field){"soil_ec", "uS/cm", 12345, SELGW_QUALITY_READ_FAILED};
}

/* Sets a field's value and quality, keeping its name and unit. */
static void set_value(fixture *f, size_t i, double value, selgw_quality quality)
{
    f->reading.fields[i].value = value;
    f->reading.fields[i].quality = quality;
}

static int str_is(selgw_str s, const char *expected)
{
    return s.len == strlen(expected) && !memcmp(s.ptr, expected, s.len);
}

/* Encodes the fixture's reading into a heap buffer of exactly its length, so that ASan
 * catches any read past the end in a decoder given that buffer. */
static uint8_t *encode_reading(const selgw_reading *r, size_t *len)
{
    *len = selgw_record_encode_reading(r, NULL, NULL, 0);
    assert_true(*len > 0);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(selgw_record_encode_reading(r, NULL, buf, *len), *len);
    return buf;
}

/* The old positional form, for the records outside any chain most tests use. */
static size_t encode_event(selgw_record_type type, int64_t time_ns, const char *gateway,
                           const char *text, uint64_t gap_first_seq, uint64_t gap_last_seq,
                           uint8_t *buf, size_t cap)
{
    selgw_record rec = {.type = type,
                        .time_ns = time_ns,
                        .gateway = {gateway, gateway ? strlen(gateway) : 0},
                        .text = {text, text ? strlen(text) : 0},
                        .gap_first_seq = gap_first_seq,
                        .gap_last_seq = gap_last_seq};
    return selgw_record_encode_event(&rec, NULL, buf, cap);
}

static void test_reading_round_trip(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    size_t len;
    uint8_t *payload = encode_reading(&f.reading, &len);
    assert_int_equal(payload[0], SELGW_RECORD_FORMAT);
    assert_int_equal(payload[1], SELGW_RECORD_READING);

    selgw_record rec;
    rec.seq = 99;
    assert_int_equal(selgw_record_decode(payload, len, &rec), SELGW_OK);
    assert_int_equal(rec.type, SELGW_RECORD_READING);
    assert_int_equal(rec.seq, 0);
    assert_int_equal(rec.time_ns, INT64_C(1795960521123456789));
    assert_true(str_is(rec.gateway, "gw-1"));
    assert_true(str_is(rec.base, "紫阳县汉王镇"));
    assert_true(str_is(rec.plot, "hw-p01"));
    assert_true(str_is(rec.crop, "tea"));
    assert_true(str_is(rec.device, "soil-1"));
    assert_true(str_is(rec.profile, "test-soil"));
    assert_true(str_is(rec.serial, "SN 42"));
    assert_true(str_is(rec.bus, "rs485-1"));
    assert_int_equal(rec.unit_id, 247);
    assert_int_equal(rec.status, SELGW_ERR_EXCEPTION);
    assert_int_equal(rec.exception_code, 2);
    assert_int_equal(rec.attempts, 3);
    assert_int_equal(rec.household_count, 2);
    assert_true(str_is(rec.households[0].household, "HH-001"));
    assert_true(str_is(rec.households[0].contract, "ZY-2025-001"));
    assert_true(str_is(rec.households[1].household, "HH-\"7\""));
    assert_true(str_is(rec.households[1].contract, "ZY,2025=2"));
    assert_int_equal(rec.field_count, 3);
    assert_true(str_is(rec.fields[0].name, "soil_moisture"));
    assert_true(str_is(rec.fields[0].unit, "%"));
    assert_int_equal(rec.fields[0].quality, SELGW_QUALITY_OK);
    /* bit-exact, not approximately equal */
    double expect0 = 23.400000000000002;
    assert_memory_equal(&rec.fields[0].value, &expect0, sizeof expect0);
    assert_true(str_is(rec.fields[1].name, "soil_temperature"));
    assert_true(str_is(rec.fields[1].unit, "degC"));
    assert_int_equal(rec.fields[1].quality, SELGW_QUALITY_OUT_OF_RANGE);
    assert_true(rec.fields[1].value == -10.1);
    assert_true(str_is(rec.fields[2].name, "soil_ec"));
    assert_int_equal(rec.fields[2].quality, SELGW_QUALITY_READ_FAILED);
    assert_true(isnan(rec.fields[2].value)); /* whatever the poller's buffer held */
    assert_int_equal(rec.text.len, 0);
    free(payload);
}

/* The same reading always makes the same bytes: the value of a failed field is not
 * carried, and non-finite values keep their bits. */
static void test_reading_encoding_is_deterministic(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    size_t len_a, len_b;
    uint8_t *a = encode_reading(&f.reading, &len_a);
    f.reading.fields[2].value = -777;
    uint8_t *b = encode_reading(&f.reading, &len_b);
    assert_int_equal(len_a, len_b);
    assert_memory_equal(a, b, len_a);
    free(a);
    free(b);

    set_value(&f, 0, -INFINITY, SELGW_QUALITY_OUT_OF_RANGE);
    set_value(&f, 1, NAN, SELGW_QUALITY_OUT_OF_RANGE);
    a = encode_reading(&f.reading, &len_a);
    selgw_record rec;
    assert_int_equal(selgw_record_decode(a, len_a, &rec), SELGW_OK);
    assert_true(isinf(rec.fields[0].value) && rec.fields[0].value < 0);
    assert_true(isnan(rec.fields[1].value));
    free(a);
}

/* The layout of docs/RECORD.md, byte for byte, for a small reading. */
static void test_reading_bytes_as_documented(void **state)
{
    (void)state;
    static selgw_reading r;
    r = (selgw_reading){.time_ns = 0x0102030405060708,
                        .gateway = "g",
                        .base = "b",
                        .plot = "q",
                        .crop = NULL, /* NULL encodes as "" */
                        .device = "d",
                        .profile = "p",
                        .serial = "",
                        .bus = "u",
                        .unit_id = 7,
                        .status = SELGW_ERR_TIMEOUT,
                        .exception_code = 0,
                        .attempts = 0x01020304,
                        .household_count = 1,
                        .field_count = 1};
    r.households[0] = (selgw_reading_household){"H", "K"};
    r.fields[0] = (selgw_reading_field){"t", "C", 1.5, SELGW_QUALITY_OK};
    selgw_chain_link link = {.chain = "device/d", .chain_seq = 3};
    for (size_t i = 0; i < SELGW_RECORD_HASH_BYTES; i++)
        link.prev[i] = (uint8_t)(0xa0 + i);
    /* clang-format off */
    static const uint8_t expected[] = {
        3, 1,                                           /* format 3, reading */
        8, 0, 'd', 'e', 'v', 'i', 'c', 'e', '/', 'd',   /* chain "device/d" */
        3, 0, 0, 0, 0, 0, 0, 0,                         /* chain_seq 3 */
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, /* prev */
        0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
        0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
        0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
        8, 7, 6, 5, 4, 3, 2, 1,                         /* time_ns */
        1, 0, 'g',                                      /* gateway */
        1, 0, 'b', 1, 0, 'q', 0, 0,                     /* base, plot, crop "" */
        1, 0, 'd', 1, 0, 'p', 0, 0,                     /* device, profile, serial "" */
        1, 0, 'u',                                      /* bus */
        7, SELGW_ERR_TIMEOUT, 0,                        /* unit_id, status, exception */
        4, 3, 2, 1,                                     /* attempts */
        1, 0, 1, 0, 'H', 1, 0, 'K',                     /* 1 household */
        1, 0, 1, 0, 't', 1, 0, 'C',                     /* 1 field: name, unit */
        SELGW_QUALITY_OK, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, /* quality, 1.5 */
    };
    /* clang-format on */
    uint8_t buf[256];
    assert_int_equal(selgw_record_encode_reading(&r, &link, buf, sizeof buf), sizeof expected);
    assert_memory_equal(buf, expected, sizeof expected);

    r.fields[0].quality = SELGW_QUALITY_READ_FAILED;
    assert_int_equal(selgw_record_encode_reading(&r, &link, buf, sizeof buf), sizeof expected);
    static const uint8_t no_value[] = {SELGW_QUALITY_READ_FAILED, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
    assert_memory_equal(buf + sizeof expected - 9, no_value, 9);

    /* no link: chain "", position 0, prev zeros; not chained when decoded */
    r.fields[0].quality = SELGW_QUALITY_OK;
    size_t n = selgw_record_encode_reading(&r, NULL, buf, sizeof buf);
    assert_int_equal(n, sizeof expected - 8);
    static const uint8_t unlinked[2 + 2 + 8 + 32] = {3, 1};
    assert_memory_equal(buf, unlinked, sizeof unlinked);
    assert_memory_equal(buf + sizeof unlinked, expected + sizeof unlinked + 8, n - sizeof unlinked);
    selgw_record rec;
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    assert_false(rec.chained);
}

static void test_event_bytes_and_round_trip(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = encode_event(SELGW_RECORD_GAP, -2, "gw", "dropped", 5, UINT64_C(0x1122334455667788),
                            buf, sizeof buf);
    /* clang-format off */
    static const uint8_t expected[] = {
        3, SELGW_RECORD_GAP,
        0, 0,                                           /* chain "" */
        0, 0, 0, 0, 0, 0, 0, 0,                         /* chain_seq 0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* prev */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* time_ns -2 */
        2, 0, 'g', 'w',
        7, 0, 'd', 'r', 'o', 'p', 'p', 'e', 'd',
        5, 0, 0, 0, 0, 0, 0, 0,
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
    };
    /* clang-format on */
    assert_int_equal(n, sizeof expected);
    assert_memory_equal(buf, expected, sizeof expected);
    selgw_record rec;
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    assert_int_equal(rec.type, SELGW_RECORD_GAP);
    assert_int_equal(rec.time_ns, -2);
    assert_true(str_is(rec.gateway, "gw"));
    assert_true(str_is(rec.text, "dropped"));
    assert_int_equal(rec.gap_first_seq, 5);
    assert_int_equal(rec.gap_last_seq, UINT64_C(0x1122334455667788));
    assert_false(rec.chained);

    /* START and STOP carry no range: it is not encoded, and decodes as 0; START carries
     * prev_seal (zeros here) after its text */
    n = encode_event(SELGW_RECORD_START, 1, "gw", "selgw 0.1.0 /etc/selgw.yaml", 3, 4, buf,
                     sizeof buf);
    assert_int_equal(n, 1 + 1 + 2 + 8 + 32 + 8 + 2 + 2 + 2 + 27 + 32);
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    assert_int_equal(rec.type, SELGW_RECORD_START);
    assert_true(str_is(rec.text, "selgw 0.1.0 /etc/selgw.yaml"));
    assert_int_equal(rec.gap_first_seq, 0);
    assert_int_equal(rec.gap_last_seq, 0);
    assert_int_equal(rec.field_count, 0);

    n = encode_event(SELGW_RECORD_STOP, 1, NULL, NULL, 0, 0, buf, sizeof buf);
    assert_int_equal(n, 56);
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    assert_int_equal(rec.type, SELGW_RECORD_STOP);
    assert_int_equal(rec.gateway.len, 0);
    assert_int_equal(rec.text.len, 0);
}

/* snprintf-style: the length is the same whatever the room, and nothing is written past
 * cap. */
static void test_encode_size_query(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    size_t need = selgw_record_encode_reading(&f.reading, NULL, NULL, 0);
    uint8_t full[512];
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, full, sizeof full), need);
    uint8_t small[64 + 8];
    memset(small, 0xAA, sizeof small);
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, small, 64), need);
    assert_memory_equal(small, full, 64);
    for (size_t i = 64; i < sizeof small; i++)
        assert_int_equal(small[i], 0xAA);

    need = encode_event(SELGW_RECORD_STOP, 1, "gw", "signal", 0, 0, NULL, 0);
    assert_int_equal(need, 1 + 1 + 2 + 8 + 32 + 8 + 4 + 8);
    memset(small, 0xAA, sizeof small);
    assert_int_equal(encode_event(SELGW_RECORD_STOP, 1, "gw", "signal", 0, 0, small, 5), need);
    for (size_t i = 5; i < sizeof small; i++)
        assert_int_equal(small[i], 0xAA);
}

static void test_encode_limits(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);

    /* more households than a record holds */
    for (size_t i = 0; i < SELGW_READING_MAX_HOUSEHOLDS; i++)
        f.reading.households[i] = f.reading.households[0];
    f.reading.household_count = SELGW_READING_MAX_HOUSEHOLDS;
    size_t len;
    uint8_t *payload = encode_reading(&f.reading, &len);
    selgw_record rec;
    assert_int_equal(selgw_record_decode(payload, len, &rec), SELGW_OK);
    assert_int_equal(rec.household_count, SELGW_READING_MAX_HOUSEHOLDS);
    free(payload);
    f.reading.household_count = SELGW_READING_MAX_HOUSEHOLDS + 1;
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, NULL, 0), 0);
    fixture_init(&f);

    /* more fields than a record holds */
    for (size_t i = 0; i < SELGW_READING_MAX_FIELDS; i++)
        f.reading.fields[i] = (selgw_reading_field){"x", "", (double)i, SELGW_QUALITY_OK};
    f.reading.field_count = SELGW_READING_MAX_FIELDS;
    payload = encode_reading(&f.reading, &len);
    assert_int_equal(selgw_record_decode(payload, len, &rec), SELGW_OK);
    assert_int_equal(rec.field_count, SELGW_READING_MAX_FIELDS);
    assert_true(rec.fields[127].value == 127);
    free(payload);
    f.reading.field_count = SELGW_READING_MAX_FIELDS + 1;
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, NULL, 0), 0);
    fixture_init(&f);

    /* values that do not fit their byte, codes the decoder would refuse */
    f.reading.unit_id = 256;
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, NULL, 0), 0);
    f.reading.unit_id = -1;
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, NULL, 0), 0);
    fixture_init(&f);
    f.reading.exception_code = 256;
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, NULL, 0), 0);
    fixture_init(&f);
    f.reading.status = SELGW_ERR_COUNT_;
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, NULL, 0), 0);
    fixture_init(&f);
    f.reading.fields[1].quality = (selgw_quality)3;
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, NULL, 0), 0);

    /* strings: 65535 bytes is the most a length prefix says (head 52 with chain "", "g"
     * 3, text prefix 2: 57 bytes more) */
    char *text = malloc(70000);
    assert_non_null(text);
    memset(text, 'a', 70000);
    text[65535] = '\0';
    assert_int_equal(encode_event(SELGW_RECORD_STOP, 0, "g", text, 0, 0, NULL, 0), 57 + 65535);
    text[65535] = 'a';
    text[65536] = '\0'; /* more than a length prefix says */
    assert_int_equal(encode_event(SELGW_RECORD_STOP, 0, "", text, 0, 0, NULL, 0), 0);
    assert_int_equal(encode_event(SELGW_RECORD_STOP, 0, text, "", 0, 0, NULL, 0), 0);
    /* the payload limit, SELGW_RECORD_MAX_PAYLOAD in all: a seal (head 52, "g" 3, covers
     * 8, count 4, signature 64: 131) of 15 heads of 2 + 65535 + 8 + 32 bytes and one of
     * 2 + 64748 + 8 + 32 is exactly 1 MiB */
    text[65536] = 'a';
    char *last_name = strndup(text, 64748);
    text[65535] = '\0';
    selgw_seal_entry big[16];
    for (size_t i = 0; i < 16; i++)
        big[i] = (selgw_seal_entry){.chain = i < 15 ? text : last_name, .chain_seq = i + 1};
    assert_int_equal(selgw_record_encode_seal(5, 5, "g", big, 16, NULL, NULL, 0, NULL),
                     SELGW_RECORD_MAX_PAYLOAD);
    assert_int_equal(SELGW_RECORD_MAX_PAYLOAD, 131 + 15 * (2 + 65535 + 40) + 2 + 64748 + 40);
    last_name[64748 - 1] = '\0';
    last_name = realloc(last_name, 64750);
    strcat(last_name, "bb"); /* one byte more than a payload holds */
    big[15].chain = last_name;
    assert_int_equal(selgw_record_encode_seal(5, 5, "g", big, 16, NULL, NULL, 0, NULL), 0);
    free(last_name);
    text[65535] = 'a';
    text[65536] = '\0';
    fixture_init(&f);
    f.reading.serial = text;
    assert_int_equal(selgw_record_encode_reading(&f.reading, NULL, NULL, 0), 0);
    free(text);

    /* events: START, STOP, GAP, ANNOTATION, TAGS, CLOCK (a seal has its own encoder), and
     * a gap's range in order */
    assert_int_equal(encode_event(SELGW_RECORD_READING, 0, "g", "t", 0, 0, NULL, 0), 0);
    assert_int_equal(encode_event(SELGW_RECORD_SEAL, 0, "g", "t", 0, 0, NULL, 0), 0);
    assert_int_equal(encode_event((selgw_record_type)9, 0, "g", "t", 0, 0, NULL, 0), 0);
    assert_int_equal(encode_event((selgw_record_type)0, 0, "g", "t", 0, 0, NULL, 0), 0);
    assert_true(encode_event(SELGW_RECORD_CLOCK, 0, "g", "t", 0, 0, NULL, 0) > 0);
    /* a string with a NUL inside would make a payload the decoder refuses */
    selgw_record ann = {.type = SELGW_RECORD_ANNOTATION, .plot = {"p\0q", 3}};
    assert_int_equal(selgw_record_encode_event(&ann, NULL, NULL, 0), 0);
    ann.plot = (selgw_str){"p\0q", 1};
    assert_true(selgw_record_encode_event(&ann, NULL, NULL, 0) > 0);
    ann.ref = (selgw_str){NULL, 5}; /* NULL is "" whatever the length says */
    assert_true(selgw_record_encode_event(&ann, NULL, NULL, 0) > 0);
    assert_int_equal(encode_event(SELGW_RECORD_GAP, 0, "g", "t", 8, 7, NULL, 0), 0);
    assert_true(encode_event(SELGW_RECORD_GAP, 0, "g", "t", 7, 7, NULL, 0) > 0);
}

/* Decodes a copy of bytes in a heap block of exactly n bytes (ASan sees any overread). */
static selgw_err decode_copy(const uint8_t *bytes, size_t n, selgw_record *rec)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, bytes, n);
    selgw_err err = selgw_record_decode(copy, n, rec);
    free(copy);
    return err;
}

/* Where the gateway's length prefix sits in a payload with chain "" */
#define GATEWAY_AT (1 + 1 + 2 + 8 + SELGW_RECORD_HASH_BYTES + 8)

static void test_decode_rejects_malformed(void **state)
{
    (void)state;
    selgw_record rec;
    uint8_t buf[256];
    size_t n = encode_event(SELGW_RECORD_GAP, 1, "gw", "why", 1, 2, buf, sizeof buf);
    assert_int_equal(decode_copy(buf, n, &rec), SELGW_OK);

    assert_int_equal(selgw_record_decode(NULL, 0, &rec), SELGW_ERR_CORRUPT);
    assert_int_equal(selgw_record_decode(buf, 0, &rec), SELGW_ERR_CORRUPT);
    /* a failed decode leaves nothing that looks like a record */
    assert_int_equal(rec.type, 0);
    assert_int_equal(rec.gateway.len, 0);

    uint8_t bad[256];
    memcpy(bad, buf, n);
    bad[0] = 4; /* formats this decoder does not know */
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);
    bad[0] = 0;
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);
    bad[0] = 1; /* a format 3 payload read as format 1 */
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);
    memcpy(bad, buf, n);
    bad[1] = 0; /* unknown types */
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);
    bad[1] = 9;
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);
    /* a chain name longer than what is left */
    memcpy(bad, buf, n);
    bad[2] = 0xff;
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);
    /* trailing bytes */
    memcpy(bad, buf, n);
    bad[n] = 0;
    assert_int_equal(decode_copy(bad, n + 1, &rec), SELGW_ERR_CORRUPT);
    /* a string longer than what is left */
    memcpy(bad, buf, n);
    bad[GATEWAY_AT] = 0xff;
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);
    /* a NUL inside a string */
    memcpy(bad, buf, n);
    bad[GATEWAY_AT + 3] = '\0';
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);
    /* a gap whose range is reversed: first = 3 > last = 2 */
    memcpy(bad, buf, n);
    bad[n - 16] = 3;
    assert_int_equal(decode_copy(bad, n, &rec), SELGW_ERR_CORRUPT);

    /* longer than any payload */
    uint8_t *huge = calloc(1, SELGW_RECORD_MAX_PAYLOAD + 1);
    assert_non_null(huge);
    memcpy(huge, buf, n);
    assert_int_equal(selgw_record_decode(huge, SELGW_RECORD_MAX_PAYLOAD + 1, &rec),
                     SELGW_ERR_CORRUPT);
    free(huge);

    /* a reading with a status, quality or count beyond what is allowed */
    fixture f;
    fixture_init(&f);
    f.reading.household_count = 0;
    f.reading.fields[0].name = "a";
    f.reading.fields[0].unit = "b";
    f.reading.field_count = 1;
    uint8_t reading[256];
    size_t len = selgw_record_encode_reading(&f.reading, NULL, reading, sizeof reading);
    assert_true(len > 0 && len < sizeof reading);
    assert_int_equal(decode_copy(reading, len, &rec), SELGW_OK);
    /* offsets from the end: households u16, then field count u16, name "a", unit "b",
     * quality u8, value f64 */
    size_t value_at = len - 8, quality_at = value_at - 1, fields_at = quality_at - 6 - 2,
           households_at = fields_at - 2, status_at = households_at - 4 - 2;
    assert_int_equal(reading[fields_at], 1);
    assert_int_equal(reading[status_at], SELGW_ERR_EXCEPTION);

    memcpy(bad, reading, len);
    bad[status_at] = SELGW_ERR_COUNT_;
    assert_int_equal(decode_copy(bad, len, &rec), SELGW_ERR_CORRUPT);
    memcpy(bad, reading, len);
    bad[quality_at] = 3;
    assert_int_equal(decode_copy(bad, len, &rec), SELGW_ERR_CORRUPT);
    memcpy(bad, reading, len);
    bad[fields_at] = 0x81; /* 129 fields: over the limit, whatever follows */
    assert_int_equal(decode_copy(bad, len, &rec), SELGW_ERR_CORRUPT);
    memcpy(bad, reading, len);
    bad[households_at] = 0x81;
    assert_int_equal(decode_copy(bad, len, &rec), SELGW_ERR_CORRUPT);
    memcpy(bad, reading, len);
    bad[households_at + 1] = 0xff; /* 65280 households */
    assert_int_equal(decode_copy(bad, len, &rec), SELGW_ERR_CORRUPT);
    /* a read_failed field's value is not trusted: it decodes as NaN */
    memcpy(bad, reading, len);
    bad[quality_at] = SELGW_QUALITY_READ_FAILED;
    assert_int_equal(decode_copy(bad, len, &rec), SELGW_OK);
    assert_true(isnan(rec.fields[0].value));
}

/* Inserts `extra` copies of the `entry_len` bytes at `at` into payload (a count of entries
 * at count_at goes up by as many). Returns a malloc'd payload. */
static uint8_t *insert_entries(const uint8_t *payload, size_t len, size_t count_at, size_t at,
                               size_t entry_len, size_t extra, size_t *out_len)
{
    *out_len = len + extra * entry_len;
    uint8_t *out = malloc(*out_len);
    assert_non_null(out);
    memcpy(out, payload, at);
    for (size_t i = 0; i < extra; i++)
        memcpy(out + at + i * entry_len, payload + at, entry_len);
    memcpy(out + at + extra * entry_len, payload + at, len - at);
    unsigned count = (unsigned)(out[count_at] | out[count_at + 1] << 8) + (unsigned)extra;
    out[count_at] = (uint8_t)count;
    out[count_at + 1] = (uint8_t)(count >> 8);
    return out;
}

/* A payload that really holds more households or fields than a record has room for is
 * refused, not written past the arrays. */
static void test_decode_rejects_counts_over_limits(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    f.reading.household_count = 1;
    f.reading.fields[0].name = "a";
    f.reading.fields[0].unit = "b";
    f.reading.field_count = 1;
    size_t len;
    uint8_t *payload = encode_reading(&f.reading, &len);
    /* from the end: field count u16, name "a" 3, unit "b" 3, quality 1, value 8; before
     * it one household "HH-001"/"ZY-2025-001" (8 + 13 bytes) and its count */
    size_t fields_at = len - 8 - 1 - 3 - 3 - 2, household_len = 8 + 13;
    size_t households_at = fields_at - household_len - 2;
    assert_int_equal(payload[fields_at], 1);
    assert_int_equal(payload[households_at], 1);

    selgw_record rec;
    size_t n;
    uint8_t *more = insert_entries(payload, len, households_at, households_at + 2, household_len,
                                   SELGW_READING_MAX_HOUSEHOLDS - 1, &n);
    assert_int_equal(decode_copy(more, n, &rec), SELGW_OK);
    assert_int_equal(rec.household_count, SELGW_READING_MAX_HOUSEHOLDS);
    free(more);
    more = insert_entries(payload, len, households_at, households_at + 2, household_len,
                          SELGW_READING_MAX_HOUSEHOLDS, &n);
    assert_int_equal(decode_copy(more, n, &rec), SELGW_ERR_CORRUPT);
    free(more);

    more = insert_entries(payload, len, fields_at, fields_at + 2, len - fields_at - 2,
                          SELGW_READING_MAX_FIELDS - 1, &n);
    assert_int_equal(decode_copy(more, n, &rec), SELGW_OK);
    assert_int_equal(rec.field_count, SELGW_READING_MAX_FIELDS);
    free(more);
    more = insert_entries(payload, len, fields_at, fields_at + 2, len - fields_at - 2,
                          SELGW_READING_MAX_FIELDS, &n);
    assert_int_equal(decode_copy(more, n, &rec), SELGW_ERR_CORRUPT);
    free(more);
    free(payload);
}

/* ---- format 2: chains, every event type, seals, hashes ---------------------------- */

static void fill(uint8_t *bytes, size_t n, uint8_t from)
{
    for (size_t i = 0; i < n; i++)
        bytes[i] = (uint8_t)(from + i);
}

#define CHAINED_KINDS 7

/* One chained payload of each kind: reading, start, stop, gap, annotation, tags, clock
 * (seals have their own builder). Returns its length. */
static size_t encode_chained(int kind, const fixture *f, uint8_t *buf, size_t cap)
{
    selgw_chain_link link = {.chain = "gateway", .chain_seq = 41 + (uint64_t)kind};
    fill(link.prev, sizeof link.prev, (uint8_t)(0x10 * kind));
    if (kind == 0) {
        link.chain = "device/soil-1";
        return selgw_record_encode_reading(&f->reading, &link, buf, cap);
    }
    static const selgw_record_type types[] = {
        SELGW_RECORD_READING,    SELGW_RECORD_START, SELGW_RECORD_STOP, SELGW_RECORD_GAP,
        SELGW_RECORD_ANNOTATION, SELGW_RECORD_TAGS,  SELGW_RECORD_CLOCK};
    selgw_record rec = {.type = types[kind],
                        .time_ns = INT64_C(1795960521123456789),
                        .gateway = {"gw-1", 4},
                        .text = {"text of the event", 17},
                        .gap_first_seq = 3,
                        .gap_last_seq = 9,
                        .plot = {"hw-p01", 6},
                        .ref = {"LAB-2026-0042", 13}};
    fill(rec.prev_seal, sizeof rec.prev_seal, 0xc0);
    if (kind == 4 || kind == 5)
        link.chain = "plot/hw-p01";
    return selgw_record_encode_event(&rec, &link, buf, cap);
}

static const selgw_seal_entry seal_entries[] = {
    {.chain = "device/soil-1", .chain_seq = 1000, .head = {1, 2, 3}},
    {.chain = "gateway", .chain_seq = 7, .head = {0xff}},
    {.chain = "plot/汉王-p01", .chain_seq = UINT64_C(0x0102030405060708), .head = {[31] = 0x5a}},
};

/* A seal of seal_entries signed with a key made from a fixed seed; pk gets its public
 * key when not NULL. Returns a malloc'd payload of exactly its length. */
static uint8_t *make_seal(size_t *len, size_t *signed_len, uint8_t pk[crypto_sign_PUBLICKEYBYTES])
{
    selgw_chain_link link = {.chain = "gateway", .chain_seq = 8};
    fill(link.prev, sizeof link.prev, 0x40);
    size_t need = selgw_record_encode_seal(INT64_C(1795960521123456789), INT64_C(1795960521000000000), "gw-1", seal_entries, 3,
                                           &link, NULL, 0, signed_len);
    assert_true(need > 0);
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(selgw_record_encode_seal(INT64_C(1795960521123456789), INT64_C(1795960521000000000), "gw-1", seal_entries, 3,
                                              &link, buf, need, signed_len),
                     need);
    assert_int_equal(*signed_len + SELGW_RECORD_SIGNATURE_BYTES, need);
    uint8_t seed[crypto_sign_SEEDBYTES], my_pk[crypto_sign_PUBLICKEYBYTES],
        sk[crypto_sign_SECRETKEYBYTES];
    fill(seed, sizeof seed, 0x33);
    assert_int_equal(crypto_sign_seed_keypair(my_pk, sk, seed), 0);
    assert_int_equal(crypto_sign_detached(buf + *signed_len, NULL, buf, *signed_len, sk), 0);
    if (pk)
        memcpy(pk, my_pk, sizeof my_pk);
    *len = need;
    return buf;
}

static void test_chained_round_trip_every_type(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    for (int kind = 0; kind < CHAINED_KINDS; kind++) {
        uint8_t buf[2048];
        size_t n = encode_chained(kind, &f, buf, sizeof buf);
        assert_true(n > 0 && n <= sizeof buf);
        assert_int_equal(buf[0], SELGW_RECORD_FORMAT);
        selgw_record rec;
        assert_int_equal(decode_copy(buf, n, &rec), SELGW_OK);
        assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
        assert_true(rec.chained);
        assert_true(str_is(rec.chain, kind == 0                ? "device/soil-1"
                                      : kind == 4 || kind == 5 ? "plot/hw-p01"
                                                               : "gateway"));
        assert_int_equal(rec.chain_seq, 41 + kind);
        uint8_t prev[SELGW_RECORD_HASH_BYTES];
        fill(prev, sizeof prev, (uint8_t)(0x10 * kind));
        assert_memory_equal(rec.prev, prev, sizeof prev);
        assert_int_equal(rec.time_ns, INT64_C(1795960521123456789));
        assert_true(str_is(rec.gateway, "gw-1"));
        assert_false(rec.has_hash);
        assert_int_equal(rec.seal_count, 0);
        assert_null(rec.signature);
        uint8_t seal_hash[SELGW_RECORD_HASH_BYTES] = {0};
        if (rec.type == SELGW_RECORD_START)
            fill(seal_hash, sizeof seal_hash, 0xc0);
        assert_memory_equal(rec.prev_seal, seal_hash, sizeof seal_hash);
        switch (kind) {
        case 0:
            assert_int_equal(rec.type, SELGW_RECORD_READING);
            assert_true(str_is(rec.device, "soil-1"));
            assert_int_equal(rec.field_count, 3);
            assert_int_equal(rec.household_count, 2);
            break;
        case 3:
            assert_int_equal(rec.type, SELGW_RECORD_GAP);
            assert_int_equal(rec.gap_first_seq, 3);
            assert_int_equal(rec.gap_last_seq, 9);
            break;
        case 4:
            assert_int_equal(rec.type, SELGW_RECORD_ANNOTATION);
            assert_true(str_is(rec.plot, "hw-p01"));
            assert_true(str_is(rec.ref, "LAB-2026-0042"));
            break;
        case 5:
            assert_int_equal(rec.type, SELGW_RECORD_TAGS);
            assert_true(str_is(rec.plot, "hw-p01"));
            assert_int_equal(rec.ref.len, 0);
            break;
        default:
            assert_int_equal(rec.plot.len, 0);
            assert_int_equal(rec.ref.len, 0);
        }
        if (kind != 0)
            assert_true(str_is(rec.text, "text of the event"));
        if (kind != 3) {
            assert_int_equal(rec.gap_first_seq, 0);
            assert_int_equal(rec.gap_last_seq, 0);
        }
        /* the same record encodes to the same bytes */
        uint8_t again[2048];
        assert_int_equal(encode_chained(kind, &f, again, sizeof again), n);
        assert_memory_equal(again, buf, n);
    }
}

static void test_event_layouts(void **state)
{
    (void)state;
    /* ANNOTATION: head, plot, text, ref; TAGS: head, plot, text; CLOCK: head, text */
    selgw_record rec = {.type = SELGW_RECORD_ANNOTATION,
                        .time_ns = 1,
                        .gateway = {"g", 1},
                        .plot = {"P", 1},
                        .text = {"TT", 2},
                        .ref = {"R", 1}};
    selgw_chain_link link = {.chain = "plot/P", .chain_seq = 1};
    uint8_t buf[256];
    size_t n = selgw_record_encode_event(&rec, &link, buf, sizeof buf);
    size_t head = 1 + 1 + 2 + 6 + 8 + 32 + 8 + 2 + 1;
    static const uint8_t annotation[] = {1, 0, 'P', 2, 0, 'T', 'T', 1, 0, 'R'};
    assert_int_equal(n, head + sizeof annotation);
    assert_memory_equal(buf + head, annotation, sizeof annotation);
    assert_int_equal(buf[1], SELGW_RECORD_ANNOTATION);
    assert_memory_equal(buf + 2, "\x06\x00plot/P\x01\x00\x00\x00\x00\x00\x00\x00", 16);

    rec.type = SELGW_RECORD_TAGS;
    n = selgw_record_encode_event(&rec, &link, buf, sizeof buf);
    assert_int_equal(n, head + sizeof annotation - 3);
    assert_memory_equal(buf + head, annotation, sizeof annotation - 3);

    rec.type = SELGW_RECORD_CLOCK;
    n = selgw_record_encode_event(&rec, &link, buf, sizeof buf);
    assert_int_equal(n, head + 4);
    assert_memory_equal(buf + head, "\x02\x00TT", 4);

    rec.type = SELGW_RECORD_START;
    fill(rec.prev_seal, sizeof rec.prev_seal, 0x80);
    n = selgw_record_encode_event(&rec, &link, buf, sizeof buf);
    assert_int_equal(n, head + 4 + 32);
    assert_memory_equal(buf + head, "\x02\x00TT", 4);
    assert_memory_equal(buf + head + 4, rec.prev_seal, 32);
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    size_t len, signed_len;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *payload = make_seal(&len, &signed_len, pk);
    /* head 52 + "gateway" 7 + "gw-1" 6, covers_until 8, count 4, entries (2+13+8+32)
     * (2+7+8+32) (2+15+8+32), signature 64 */
    assert_int_equal(signed_len, 52 + 7 + 6 + 8 + 4 + 55 + 49 + 57);
    assert_int_equal(payload[1], SELGW_RECORD_SEAL);
    int64_t covers = INT64_C(1795960521000000000);
    uint8_t covers_bytes[8];
    for (int i = 0; i < 8; i++)
        covers_bytes[i] = (uint8_t)((uint64_t)covers >> (8 * i));
    assert_memory_equal(payload + 52 + 7 + 6, covers_bytes, 8);
    assert_memory_equal(payload + 52 + 7 + 6 + 8,
                        "\x03\x00\x00\x00\x0d\x00"
                        "device/soil-1",
                        19);

    selgw_record rec;
    assert_int_equal(selgw_record_decode(payload, len, &rec), SELGW_OK);
    assert_int_equal(rec.type, SELGW_RECORD_SEAL);
    assert_true(rec.chained);
    assert_true(str_is(rec.chain, "gateway"));
    assert_int_equal(rec.chain_seq, 8);
    assert_true(str_is(rec.gateway, "gw-1"));
    assert_int_equal(rec.time_ns, INT64_C(1795960521123456789));
    assert_int_equal(rec.seal_count, 3);
    assert_true(rec.seal_has_covers);
    assert_int_equal(rec.seal_covers_until_ns, covers);
    assert_true(rec.seal_entries == payload + 52 + 7 + 6 + 8 + 4);
    assert_int_equal(rec.seal_entries_len, 55 + 49 + 57);
    assert_int_equal(rec.signed_len, signed_len);
    assert_true(rec.signature == payload + len - SELGW_RECORD_SIGNATURE_BYTES);
    assert_int_equal(crypto_sign_verify_detached(rec.signature, payload, rec.signed_len, pk), 0);
    for (size_t i = 0; i < 3; i++) {
        selgw_str chain;
        uint64_t chain_seq;
        const uint8_t *head;
        selgw_record_seal_entry(&rec, i, &chain, &chain_seq, &head);
        assert_true(str_is(chain, seal_entries[i].chain));
        assert_int_equal(chain_seq, seal_entries[i].chain_seq);
        assert_memory_equal(head, seal_entries[i].head, SELGW_RECORD_HASH_BYTES);
    }
    /* past the end: an empty entry, not a read outside the payload */
    selgw_str chain;
    uint64_t chain_seq;
    const uint8_t *head;
    selgw_record_seal_entry(&rec, 3, &chain, &chain_seq, &head);
    assert_int_equal(chain.len, 0);
    assert_int_equal(chain_seq, 0);
    assert_non_null(head);

    /* a changed head breaks the signature */
    const size_t count_at = 52 + 7 + 6 + 8;
    payload[count_at + 4 + 2 + 13 + 8] ^= 1;
    assert_int_equal(selgw_record_decode(payload, len, &rec), SELGW_OK);
    assert_int_not_equal(crypto_sign_verify_detached(rec.signature, payload, rec.signed_len, pk),
                         0);

    /* a seal that vouches for polls after its own time is no seal */
    uint8_t saved = payload[52 + 7 + 6];
    payload[52 + 7 + 6 + 7] = 0x7f; /* covers_until far after time_ns */
    assert_int_equal(decode_copy(payload, len, &rec), SELGW_ERR_CORRUPT);
    payload[52 + 7 + 6 + 7] = covers_bytes[7];
    payload[52 + 7 + 6] = saved;

    /* a format 2 seal has no covers_until: it decodes, and says it does not say */
    uint8_t *v2 = malloc(len - 8);
    assert_non_null(v2);
    memcpy(v2, payload, 52 + 7 + 6);
    memcpy(v2 + 52 + 7 + 6, payload + count_at, len - count_at);
    v2[0] = 2;
    assert_int_equal(decode_copy(v2, len - 8, &rec), SELGW_OK);
    assert_false(rec.seal_has_covers);
    assert_int_equal(rec.seal_count, 3);
    free(v2);

    /* a count that says more entries than the bytes hold, or fewer */
    payload[count_at] = 4;
    assert_int_equal(decode_copy(payload, len, &rec), SELGW_ERR_CORRUPT);
    payload[count_at] = 2;
    assert_int_equal(decode_copy(payload, len, &rec), SELGW_ERR_CORRUPT);
    payload[count_at] = 0xff;
    payload[count_at + 3] = 0xff;
    assert_int_equal(decode_copy(payload, len, &rec), SELGW_ERR_CORRUPT);
    free(payload);

    /* the encoder refuses the same */
    assert_int_equal(selgw_record_encode_seal(5, 6, "gw", NULL, 0, NULL, NULL, 0, NULL), 0);

    /* no entries: still a seal with a signature */
    uint8_t buf[256];
    size_t sl = 1;
    size_t n = selgw_record_encode_seal(5, 4, "gw", NULL, 0, NULL, buf, sizeof buf, &sl);
    assert_int_equal(n, 52 + 4 + 8 + 4 + 64);
    assert_int_equal(sl, n - 64);
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    assert_int_equal(rec.seal_count, 0);
    assert_int_equal(rec.seal_entries_len, 0);
    assert_true(rec.signature == buf + sl);
    /* snprintf-style, and signed_len is optional */
    assert_int_equal(selgw_record_encode_seal(5, 4, "gw", NULL, 0, NULL, buf, 10, NULL), n);
    /* what cannot be encoded */
    selgw_seal_entry nameless = {.chain = NULL};
    assert_int_equal(selgw_record_encode_seal(5, 4, "gw", &nameless, 1, NULL, NULL, 0, &sl),
                     52 + 4 + 8 + 4 + 42 + 64);
    assert_int_equal(selgw_record_encode_seal(5, 4, "gw", NULL, 1, NULL, NULL, 0, &sl), 0);
    assert_int_equal(sl, 0);
}

static void test_hash(void **state)
{
    (void)state;
    static const uint8_t empty[SELGW_RECORD_HASH_BYTES] = {
        0x0e, 0x57, 0x51, 0xc0, 0x26, 0xe5, 0x43, 0xb2, 0xe8, 0xab, 0x2e,
        0xb0, 0x60, 0x99, 0xda, 0xa1, 0xd1, 0xe5, 0xdf, 0x47, 0x77, 0x8f,
        0x77, 0x87, 0xfa, 0xab, 0x45, 0xcd, 0xf1, 0x2f, 0xe3, 0xa8};
    uint8_t out[SELGW_RECORD_HASH_BYTES];
    selgw_record_hash((const uint8_t *)"", 0, out);
    assert_memory_equal(out, empty, sizeof out);
    selgw_record_hash(NULL, 0, out);
    assert_memory_equal(out, empty, sizeof out);

    /* BLAKE2b-256("abc"), RFC 7693's test input at a 32-byte digest */
    static const uint8_t abc[SELGW_RECORD_HASH_BYTES] = {
        0xbd, 0xdd, 0x81, 0x3c, 0x63, 0x42, 0x39, 0x72, 0x31, 0x71, 0xef,
        0x3f, 0xee, 0x98, 0x57, 0x9b, 0x94, 0x96, 0x4e, 0x3b, 0xb1, 0xcb,
        0x3e, 0x42, 0x72, 0x62, 0xc8, 0xc0, 0x68, 0xd5, 0x23, 0x19};
    selgw_record_hash((const uint8_t *)"abc", 3, out);
    assert_memory_equal(out, abc, sizeof out);

    /* every byte of a payload counts */
    fixture f;
    fixture_init(&f);
    uint8_t buf[1024], first[SELGW_RECORD_HASH_BYTES];
    size_t n = encode_chained(0, &f, buf, sizeof buf);
    selgw_record_hash(buf, n, first);
    for (size_t i = 0; i < n; i++) {
        buf[i] ^= 0x01;
        selgw_record_hash(buf, n, out);
        assert_memory_not_equal(out, first, sizeof out);
        buf[i] ^= 0x01;
    }
    selgw_record_hash(buf, n, out);
    assert_memory_equal(out, first, sizeof out);
}

/* Records journaled before chains (format 1) still decode, as records outside any chain. */
static void test_format1_still_decodes(void **state)
{
    (void)state;
    /* The example of docs/RECORD.md in format 1, as the gateway wrote it before format 2. */
    static const uint8_t reading[] = {
        1, 1,   8,   7, 6,   5, 4, 3,   2, 1,   1,   0, 'g', 1, 0, 'b', 1, 0, 'q',  0,   0, 1,
        0, 'd', 1,   0, 'p', 0, 0, 1,   0, 'u', 7,   7, 0,   4, 3, 2,   1, 1, 0,    1,   0, 'H',
        1, 0,   'K', 1, 0,   1, 0, 't', 1, 0,   'C', 0, 0,   0, 0, 0,   0, 0, 0xf8, 0x3f};
    selgw_record rec;
    assert_int_equal(decode_copy(reading, sizeof reading, &rec), SELGW_OK);
    assert_int_equal(selgw_record_decode(reading, sizeof reading, &rec), SELGW_OK);
    assert_int_equal(rec.type, SELGW_RECORD_READING);
    assert_false(rec.chained);
    assert_int_equal(rec.chain.len, 0);
    assert_int_equal(rec.chain_seq, 0);
    assert_int_equal(rec.time_ns, 0x0102030405060708);
    assert_true(str_is(rec.gateway, "g"));
    assert_true(str_is(rec.plot, "q"));
    assert_int_equal(rec.status, SELGW_ERR_TIMEOUT);
    assert_int_equal(rec.attempts, 0x01020304);
    assert_int_equal(rec.household_count, 1);
    assert_true(str_is(rec.households[0].contract, "K"));
    assert_int_equal(rec.field_count, 1);
    assert_true(rec.fields[0].value == 1.5);
    char json[1024];
    selgw_record_json(&rec, json, sizeof json);
    assert_null(strstr(json, "chain"));

    static const uint8_t gap[] = {1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 'g', 'w', 1, 0, 'x',
                                  5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0,   0,   0, 0};
    assert_int_equal(decode_copy(gap, sizeof gap, &rec), SELGW_OK);
    assert_int_equal(selgw_record_decode(gap, sizeof gap, &rec), SELGW_OK);
    assert_int_equal(rec.type, SELGW_RECORD_GAP);
    assert_false(rec.chained);
    assert_true(str_is(rec.text, "x"));
    assert_int_equal(rec.gap_first_seq, 5);
    assert_int_equal(rec.gap_last_seq, 6);
    for (size_t cut = 0; cut < sizeof reading; cut++)
        assert_int_equal(decode_copy(reading, cut, &rec), SELGW_ERR_CORRUPT);
    for (size_t cut = 0; cut < sizeof gap; cut++)
        assert_int_equal(decode_copy(gap, cut, &rec), SELGW_ERR_CORRUPT);

    /* format 1 knew readings, start, stop and gap only */
    uint8_t copy[sizeof gap];
    memcpy(copy, gap, sizeof gap);
    copy[1] = SELGW_RECORD_CLOCK;
    assert_int_equal(decode_copy(copy, sizeof gap - 16, &rec), SELGW_ERR_CORRUPT);
    copy[1] = SELGW_RECORD_STOP;
    assert_int_equal(decode_copy(copy, sizeof gap - 16, &rec), SELGW_OK);
}

/* Every proper prefix of a valid payload is rejected; none is read past its end. */
static void test_decode_rejects_every_truncation(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    size_t lens[4];
    uint8_t *payloads[4];
    payloads[0] = encode_reading(&f.reading, &lens[0]);
    uint8_t event[3][128];
    lens[1] = encode_event(SELGW_RECORD_START, 5, "gw", "start", 0, 0, event[0], 128);
    lens[2] = encode_event(SELGW_RECORD_STOP, 5, "gw", "", 0, 0, event[1], 128);
    lens[3] = encode_event(SELGW_RECORD_GAP, 5, "gw", "gap", 1, 9, event[2], 128);
    for (int k = 1; k < 4; k++)
        assert_true(lens[k] > 0 && lens[k] <= 128);
    for (int k = 1; k < 4; k++)
        payloads[k] = event[k - 1];
    selgw_record rec;
    for (int k = 0; k < 4; k++) {
        assert_int_equal(decode_copy(payloads[k], lens[k], &rec), SELGW_OK);
        for (size_t cut = 0; cut < lens[k]; cut++)
            if (decode_copy(payloads[k], cut, &rec) != SELGW_ERR_CORRUPT)
                fail_msg("payload %d cut to %zu of %zu bytes was accepted", k, cut, lens[k]);
    }
    free(payloads[0]);

    uint8_t chained[CHAINED_KINDS + 1][2048];
    size_t chained_len[CHAINED_KINDS + 1];
    for (int kind = 0; kind < CHAINED_KINDS; kind++)
        chained_len[kind] = encode_chained(kind, &f, chained[kind], sizeof chained[kind]);
    size_t signed_len;
    uint8_t *seal = make_seal(&chained_len[CHAINED_KINDS], &signed_len, NULL);
    memcpy(chained[CHAINED_KINDS], seal, chained_len[CHAINED_KINDS]);
    free(seal);
    for (int k = 0; k <= CHAINED_KINDS; k++) {
        assert_int_equal(decode_copy(chained[k], chained_len[k], &rec), SELGW_OK);
        for (size_t cut = 0; cut < chained_len[k]; cut++)
            if (decode_copy(chained[k], cut, &rec) != SELGW_ERR_CORRUPT)
                fail_msg("chained payload %d cut to %zu of %zu bytes was accepted", k, cut,
                         chained_len[k]);
    }
}

static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void check_inside(selgw_str s, const uint8_t *buf, size_t len)
{
    if (s.len == 0)
        return;
    assert_true((const uint8_t *)s.ptr >= buf);
    assert_true((const uint8_t *)s.ptr + s.len <= buf + len);
    assert_null(memchr(s.ptr, '\0', s.len));
}

/* Whatever a corrupted payload decodes to is safe to use: strings inside the payload,
 * counts within the limits, codes known, and it renders. */
static void check_decoded(const selgw_record *rec, const uint8_t *buf, size_t len)
{
    check_inside(rec->gateway, buf, len);
    check_inside(rec->text, buf, len);
    const selgw_str *strs[] = {&rec->base,    &rec->plot,   &rec->crop, &rec->device,
                               &rec->profile, &rec->serial, &rec->bus};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        check_inside(*strs[i], buf, len);
    assert_true(rec->household_count <= SELGW_READING_MAX_HOUSEHOLDS);
    assert_true(rec->field_count <= SELGW_READING_MAX_FIELDS);
    for (size_t i = 0; i < rec->household_count; i++) {
        check_inside(rec->households[i].household, buf, len);
        check_inside(rec->households[i].contract, buf, len);
    }
    for (size_t i = 0; i < rec->field_count; i++) {
        check_inside(rec->fields[i].name, buf, len);
        check_inside(rec->fields[i].unit, buf, len);
        assert_true(rec->fields[i].quality <= SELGW_QUALITY_READ_FAILED);
    }
    check_inside(rec->chain, buf, len);
    check_inside(rec->ref, buf, len);
    assert_true(rec->type >= SELGW_RECORD_READING && rec->type <= SELGW_RECORD_CLOCK);
    if (rec->type == SELGW_RECORD_SEAL) {
        assert_non_null(rec->signature);
        assert_true(rec->signature == buf + rec->signed_len);
        assert_int_equal(rec->signed_len + SELGW_RECORD_SIGNATURE_BYTES, len);
        for (size_t i = 0; i < rec->seal_count; i++) {
            selgw_str chain;
            uint64_t chain_seq;
            const uint8_t *head;
            selgw_record_seal_entry(rec, i, &chain, &chain_seq, &head);
            check_inside(chain, buf, len);
            assert_true(head >= buf && head + SELGW_RECORD_HASH_BYTES <= buf + len);
        }
    } else {
        assert_int_equal(rec->seal_count, 0);
        assert_null(rec->signature);
    }
    assert_true((unsigned)rec->status < SELGW_ERR_COUNT_);
    static char text[1 << 16];
    size_t need = selgw_record_json(rec, text, sizeof text);
    assert_true(need < sizeof text);
    assert_int_equal(strlen(text), need);
    need = selgw_lp_record(rec, "reading", text, sizeof text);
    assert_true(need < sizeof text);
    assert_int_equal(strlen(text), need);
}

static void test_decode_survives_random_damage(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    enum { KINDS = 2 + CHAINED_KINDS + 1 };
    size_t lens[KINDS];
    uint8_t *payloads[KINDS];
    payloads[0] = encode_reading(&f.reading, &lens[0]);
    uint8_t gap[128];
    lens[1] = encode_event(SELGW_RECORD_GAP, 5, "gw", "gap", 1, 9, gap, sizeof gap);
    payloads[1] = gap;
    static uint8_t chained[CHAINED_KINDS][2048];
    for (int kind = 0; kind < CHAINED_KINDS; kind++) {
        lens[2 + kind] = encode_chained(kind, &f, chained[kind], sizeof chained[kind]);
        payloads[2 + kind] = chained[kind];
    }
    size_t signed_len;
    payloads[KINDS - 1] = make_seal(&lens[KINDS - 1], &signed_len, NULL);
    unsigned accepted = 0;
    for (int iter = 0; iter < 40000; iter++) {
        int k = iter % KINDS;
        size_t len = lens[k];
        uint8_t *bytes = malloc(len);
        assert_non_null(bytes);
        memcpy(bytes, payloads[k], len);
        int flips = 1 + (int)(rng() % 4);
        for (int i = 0; i < flips; i++) {
            size_t at = (size_t)(rng() % len);
            if (rng() & 1)
                bytes[at] ^= (uint8_t)(1u << (rng() % 8));
            else
                bytes[at] = (uint8_t)rng();
        }
        /* sometimes also cut the damaged payload short */
        if (iter % 5 == 0)
            len = (size_t)(rng() % len);
        selgw_record rec;
        if (selgw_record_decode(bytes, len, &rec) == SELGW_OK) {
            check_decoded(&rec, bytes, len);
            accepted++;
        }
        free(bytes);
    }
    /* flips in values and text keep a payload well-formed: some must be accepted, or the
     * loop above tested nothing but rejection */
    assert_true(accepted > 0);

    /* random bytes of random length */
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = (size_t)(rng() % 200);
        uint8_t *bytes = malloc(len ? len : 1);
        assert_non_null(bytes);
        for (size_t i = 0; i < len; i++)
            bytes[i] = (uint8_t)rng();
        if (len > 1) {
            /* get past the first checks most of the time */
            bytes[0] = (uint8_t)(1 + rng() % 2);
            bytes[1] = (uint8_t)(1 + rng() % 8);
            if (len > 3 && bytes[0] == 2) /* a short chain name, or none */
                bytes[2] = (uint8_t)(rng() % 4), bytes[3] = 0;
        }
        selgw_record rec;
        if (selgw_record_decode(bytes, len, &rec) == SELGW_OK)
            check_decoded(&rec, bytes, len);
        free(bytes);
    }
    free(payloads[0]);
    free(payloads[KINDS - 1]);
}

/* The JSON of a reading record, exactly, over values that are failed, out of range or
 * not finite, every kind of status, and with and without households: "type" (and "seq")
 * first, then the reading's members. */
static void test_json_reading_texts(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    static const char head[] =
        "\"time\":\"2026-11-29T13:55:21.123456Z\",\"gateway\":\"gw-1\","
        "\"base\":\"紫阳县汉王镇\",\"plot\":\"hw-p01\",\"crop\":\"tea\",\"device\":\"soil-1\","
        "\"profile\":\"test-soil\",\"serial\":\"SN 42\",\"bus\":\"rs485-1\",\"unit_id\":247,";
    static const char *const households_text[] = {
        "\"households\":[]",
        "\"households\":[{\"household\":\"HH-001\",\"contract\":\"ZY-2025-001\"},"
        "{\"household\":\"HH-\\\"7\\\"\",\"contract\":\"ZY,2025=2\"}]",
    };
    const struct {
        double value;
        selgw_quality quality;
    } cases[][3] = {
        {{23.400000000000002, SELGW_QUALITY_OK},
         {-10.1, SELGW_QUALITY_OUT_OF_RANGE},
         {5, SELGW_QUALITY_READ_FAILED}},
        {{NAN, SELGW_QUALITY_OUT_OF_RANGE},
         {INFINITY, SELGW_QUALITY_OUT_OF_RANGE},
         {0, SELGW_QUALITY_OK}},
    };
    static const char *const fields_text[] = {
        "\"fields\":{\"soil_moisture\":{\"value\":23.4,\"unit\":\"%\",\"quality\":\"ok\"},"
        "\"soil_temperature\":{\"value\":-10.1,\"unit\":\"degC\",\"quality\":\"out_of_range\"},"
        "\"soil_ec\":{\"value\":null,\"unit\":\"uS/cm\",\"quality\":\"read_failed\"}}",
        /* a failed field has no value, whatever the reading held; JSON has no NaN */
        "\"fields\":{\"soil_moisture\":{\"value\":null,\"unit\":\"%\",\"quality\":\"out_of_range\"}"
        ","
        "\"soil_temperature\":{\"value\":null,\"unit\":\"degC\",\"quality\":\"out_of_range\"},"
        "\"soil_ec\":{\"value\":0,\"unit\":\"uS/cm\",\"quality\":\"ok\"}}",
    };
    const selgw_err statuses[] = {SELGW_OK, SELGW_ERR_EXCEPTION, SELGW_ERR_TIMEOUT};
    static const char *const status_text[] = {
        "\"status\":\"ok\",\"attempts\":3,",
        "\"status\":\"exception\",\"error\":\"device answered with a Modbus exception\","
        "\"exception\":2,\"attempts\":3,",
        "\"status\":\"timeout\",\"error\":\"no answer within the response timeout\","
        "\"attempts\":3,",
    };
    for (size_t c = 0; c < 2; c++)
        for (size_t s = 0; s < 3; s++)
            for (size_t h = 0; h < 2; h++) {
                for (size_t i = 0; i < 3; i++)
                    set_value(&f, i, cases[c][i].value, cases[c][i].quality);
                f.reading.status = statuses[s];
                f.reading.household_count = 2 * h;
                char via[2200], expected[2200];
                size_t len;
                uint8_t *payload = encode_reading(&f.reading, &len);
                selgw_record rec;
                assert_int_equal(selgw_record_decode(payload, len, &rec), SELGW_OK);
                snprintf(expected, sizeof expected, "{\"type\":\"reading\",%s%s,%s%s}", head,
                         households_text[h], status_text[s], fields_text[c]);
                assert_int_equal(selgw_record_json(&rec, via, sizeof via), strlen(expected));
                assert_string_equal(via, expected);

                rec.seq = UINT64_C(18446744073709551615);
                snprintf(expected, sizeof expected,
                         "{\"seq\":18446744073709551615,\"type\":\"reading\",%s%s,%s%s}", head,
                         households_text[h], status_text[s], fields_text[c]);
                assert_int_equal(selgw_record_json(&rec, via, sizeof via), strlen(expected));
                assert_string_equal(via, expected);
                free(payload);
            }
}

/* The members of the fixture's reading in JSON, after "type". */
#define FIXTURE_JSON_MEMBERS                                                                       \
    "\"time\":\"2026-11-29T13:55:21.123456Z\","                                                    \
    "\"gateway\":\"gw-1\",\"base\":\"紫阳县汉王镇\",\"plot\":\"hw-p01\",\"crop\":\"tea\","   \
    "\"device\":\"soil-1\",\"profile\":\"test-soil\",\"serial\":\"SN 42\","                        \
    "\"bus\":\"rs485-1\",\"unit_id\":247,\"households\":["                                         \
    "{\"household\":\"HH-001\",\"contract\":\"ZY-2025-001\"},"                                     \
    "{\"household\":\"HH-\\\"7\\\"\",\"contract\":\"ZY,2025=2\"}],"                                \
    "\"status\":\"exception\",\"error\":\"device answered with a Modbus exception\","              \
    "\"exception\":2,\"attempts\":3,\"fields\":{"                                                  \
    "\"soil_moisture\":{\"value\":23.4,\"unit\":\"%\",\"quality\":\"ok\"},"                        \
    "\"soil_temperature\":{\"value\":-10.1,\"unit\":\"degC\",\"quality\":\"out_of_range\"},"       \
    "\"soil_ec\":{\"value\":null,\"unit\":\"uS/cm\",\"quality\":\"read_failed\"}}"

static void test_json_reading_exact(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    size_t len;
    uint8_t *payload = encode_reading(&f.reading, &len);
    selgw_record rec;
    assert_int_equal(selgw_record_decode(payload, len, &rec), SELGW_OK);
    rec.seq = 42;
    char buf[2048];
    selgw_record_json(&rec, buf, sizeof buf);
    assert_string_equal(buf, "{\"seq\":42,\"type\":\"reading\"," FIXTURE_JSON_MEMBERS "}");
    free(payload);
}

static void test_json_events(void **state)
{
    (void)state;
    uint8_t payload[256];
    selgw_record rec;
    char buf[512];

    size_t n = encode_event(SELGW_RECORD_START, INT64_C(1795960521123456789), "gw-1",
                            "selgw 0.1.0 \"/etc/selgw.yaml\"", 0, 0, payload, sizeof payload);
    assert_int_equal(selgw_record_decode(payload, n, &rec), SELGW_OK);
    selgw_record_json(&rec, buf, sizeof buf);
    assert_string_equal(buf,
                        "{\"type\":\"start\",\"time\":\"2026-11-29T13:55:21.123456Z\","
                        "\"gateway\":\"gw-1\",\"text\":\"selgw 0.1.0 \\\"/etc/selgw.yaml\\\"\"}");

    n = encode_event(SELGW_RECORD_STOP, 0, "汉王-gw", "SIGTERM\nbye\\", 0, 0, payload,
                     sizeof payload);
    assert_int_equal(selgw_record_decode(payload, n, &rec), SELGW_OK);
    rec.seq = 7;
    selgw_record_json(&rec, buf, sizeof buf);
    assert_string_equal(buf,
                        "{\"seq\":7,\"type\":\"stop\",\"time\":\"1970-01-01T00:00:00.000000Z\","
                        "\"gateway\":\"汉王-gw\",\"text\":\"SIGTERM\\nbye\\\\\"}");

    n = encode_event(SELGW_RECORD_GAP, 0, "gw-1", "disk budget: dropped segment 00000001.seg", 1,
                     4096, payload, sizeof payload);
    assert_int_equal(selgw_record_decode(payload, n, &rec), SELGW_OK);
    rec.seq = 4097;
    size_t need = selgw_record_json(&rec, buf, sizeof buf);
    const char *expected =
        "{\"seq\":4097,\"type\":\"gap\",\"time\":\"1970-01-01T00:00:00.000000Z\","
        "\"gateway\":\"gw-1\","
        "\"text\":\"disk budget: dropped segment 00000001.seg\","
        "\"first\":1,\"last\":4096}";
    assert_string_equal(buf, expected);
    assert_int_equal(need, strlen(expected));

    /* size query and truncation, snprintf-style */
    assert_int_equal(selgw_record_json(&rec, NULL, 0), need);
    char small[21];
    memset(small, 'x', sizeof small);
    assert_int_equal(selgw_record_json(&rec, small, 20), need);
    assert_int_equal(strlen(small), 19);
    assert_memory_equal(small, expected, 19);
    assert_int_equal(small[20], 'x');

    /* a payload's string can hold a control character: it is escaped, not passed */
    n = encode_event(SELGW_RECORD_STOP, 0, "gw", "a\x01z", 0, 0, payload, sizeof payload);
    assert_int_equal(selgw_record_decode(payload, n, &rec), SELGW_OK);
    selgw_record_json(&rec, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"text\":\"a\\u0001z\""));

    /* bytes that are not UTF-8 (a damaged record whose CRC still matched, a device's
     * garbage) come out as U+FFFD: the JSON is valid UTF-8 whatever the payload holds;
     * well-formed Chinese passes untouched */
    n = encode_event(SELGW_RECORD_STOP, 0, "gw", "a\xff\xc0\x80z\xe6\xb1\x89\xe2\x82", 0, 0,
                     payload, sizeof payload);
    assert_int_equal(selgw_record_decode(payload, n, &rec), SELGW_OK);
    selgw_record_json(&rec, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"text\":\"a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\xe6\xb1\x89"
                                "\xef\xbf\xbd\xef\xbf\xbd\""));
    for (const unsigned char *p = (const unsigned char *)buf; *p;) {
        uint32_t cp;
        size_t len = selgw_utf8_sequence(p, strlen((const char *)p), &cp);
        assert_true(len > 0);
        p += len;
    }
}

static void test_json_chained(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    uint8_t buf[2048];
    char json[4096];
    selgw_record rec;
    static const char *const prev_of[] = {
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f",
    };

    /* a reading: its members (test_json_reading_exact), then the chain's, then the hash */
    size_t n = encode_chained(0, &f, buf, sizeof buf);
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    selgw_record_hash(buf, n, rec.hash);
    rec.has_hash = true;
    char expected[4096], hash_hex[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(hash_hex + 2 * i, 3, "%02x", rec.hash[i]);
    snprintf(expected, sizeof expected,
             "{\"type\":\"reading\",%s,\"chain\":\"device/soil-1\",\"chain_seq\":41,"
             "\"prev\":\"%s\",\"hash\":\"%s\"}",
             FIXTURE_JSON_MEMBERS, prev_of[0], hash_hex);
    size_t need = selgw_record_json(&rec, json, sizeof json);
    assert_string_equal(json, expected);
    assert_int_equal(need, strlen(expected));

    /* an annotation */
    n = encode_chained(4, &f, buf, sizeof buf);
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    rec.seq = 12;
    selgw_record_json(&rec, json, sizeof json);
    assert_string_equal(
        json, "{\"seq\":12,\"type\":\"annotation\",\"time\":\"2026-11-29T13:55:21.123456Z\","
              "\"gateway\":\"gw-1\",\"plot\":\"hw-p01\",\"text\":\"text of the event\","
              "\"ref\":\"LAB-2026-0042\",\"chain\":\"plot/hw-p01\",\"chain_seq\":45,"
              "\"prev\":\"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\"}");

    /* tags, clock, start */
    n = encode_chained(5, &f, buf, sizeof buf);
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    selgw_record_json(&rec, json, sizeof json);
    assert_non_null(strstr(json, "\"type\":\"tags\",\"time\":\"2026-11-29T13:55:21.123456Z\","
                                 "\"gateway\":\"gw-1\",\"plot\":\"hw-p01\","
                                 "\"text\":\"text of the event\",\"chain\":\"plot/hw-p01\","));
    assert_null(strstr(json, "\"ref\""));
    n = encode_chained(6, &f, buf, sizeof buf);
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    selgw_record_json(&rec, json, sizeof json);
    assert_non_null(strstr(json, "\"type\":\"clock\",\"time\":\"2026-11-29T13:55:21.123456Z\","
                                 "\"gateway\":\"gw-1\",\"text\":\"text of the event\","
                                 "\"chain\":\"gateway\",\"chain_seq\":47,"));
    n = encode_chained(1, &f, buf, sizeof buf);
    assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
    selgw_record_json(&rec, json, sizeof json);
    assert_non_null(strstr(json, "\"text\":\"text of the event\",\"prev_seal\":\""
                                 "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                                 "\",\"chain\":\"gateway\",\"chain_seq\":42,\"prev\":\""));
    assert_non_null(strstr(json, prev_of[1]));

    /* a seal: its heads and signature */
    size_t len, signed_len;
    uint8_t *seal = make_seal(&len, &signed_len, NULL);
    assert_int_equal(selgw_record_decode(seal, len, &rec), SELGW_OK);
    need = selgw_record_json(&rec, json, sizeof json);
    assert_int_equal(need, strlen(json));
    char signature[129];
    for (size_t i = 0; i < 64; i++)
        snprintf(signature + 2 * i, 3, "%02x", rec.signature[i]);
    snprintf(expected, sizeof expected,
             "{\"type\":\"seal\",\"time\":\"2026-11-29T13:55:21.123456Z\",\"gateway\":\"gw-1\","
             "\"covers_until\":\"2026-11-29T13:55:21.000000Z\",\"heads\":["
             "{\"chain\":\"device/soil-1\",\"chain_seq\":1000,\"head\":"
             "\"0102030000000000000000000000000000000000000000000000000000000000\"},"
             "{\"chain\":\"gateway\",\"chain_seq\":7,\"head\":"
             "\"ff00000000000000000000000000000000000000000000000000000000000000\"},"
             "{\"chain\":\"plot/汉王-p01\",\"chain_seq\":72623859790382856,\"head\":"
             "\"000000000000000000000000000000000000000000000000000000000000005a\"}],"
             "\"signature\":\"%s\",\"chain\":\"gateway\",\"chain_seq\":8,"
             "\"prev\":\"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\"}",
             signature);
    assert_string_equal(json, expected);
    /* snprintf-style */
    assert_int_equal(selgw_record_json(&rec, NULL, 0), need);
    char small[40];
    assert_int_equal(selgw_record_json(&rec, small, sizeof small), need);
    assert_int_equal(strlen(small), sizeof small - 1);
    free(seal);
}

/* An ALERT: every member survives the round trip, its JSON is exactly what docs/RECORD.md
 * shows, a stale alert's missing value is null, and what is not an alert is refused. */
static selgw_record frost_alert(void)
{
    return (selgw_record){.type = SELGW_RECORD_ALERT,
                          .time_ns = INT64_C(1795960521123456789),
                          .gateway = {"gw-1", 4},
                          .base = {"ziyang-hanwang", 14},
                          .plot = {"hw-p01", 6},
                          .crop = {"tea", 3},
                          .rule = {"tea-frost", 9},
                          .alert_state = SELGW_ALERT_RAISED,
                          .alert_condition = SELGW_ALERT_BELOW,
                          .device = {"air-1", 5},
                          .field = {"air_temperature", 15},
                          .unit = {"°C", 3},
                          .alert_value = 1.5,
                          .alert_threshold = 2,
                          .alert_since_ns = INT64_C(1795959921000000000)};
}

static void test_alert_round_trip_and_json(void **state)
{
    (void)state;
    selgw_record in = frost_alert();
    selgw_chain_link link = {.chain = "plot/hw-p01", .chain_seq = 12};
    uint8_t buf[512];
    size_t n = selgw_record_encode_alert(&in, &link, buf, sizeof buf);
    assert_true(n > 0 && n < sizeof buf);
    assert_int_equal(selgw_record_encode_alert(&in, &link, NULL, 0), n);

    selgw_record out;
    assert_int_equal(selgw_record_decode(buf, n, &out), SELGW_OK);
    assert_int_equal(out.type, SELGW_RECORD_ALERT);
    assert_int_equal(out.alert_state, SELGW_ALERT_RAISED);
    assert_int_equal(out.alert_condition, SELGW_ALERT_BELOW);
    assert_true(out.alert_value == 1.5 && out.alert_threshold == 2);
    assert_true(out.alert_since_ns == in.alert_since_ns);
    assert_true(out.chained && out.chain_seq == 12);
    const struct {
        selgw_str got;
        const char *want;
    } strings[] = {{out.base, "ziyang-hanwang"}, {out.plot, "hw-p01"}, {out.crop, "tea"},
                   {out.rule, "tea-frost"},      {out.device, "air-1"}, {out.field, "air_temperature"},
                   {out.unit, "°C"}};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        assert_int_equal(strings[i].got.len, strlen(strings[i].want));
        assert_memory_equal(strings[i].got.ptr, strings[i].want, strlen(strings[i].want));
    }

    char json[1024];
    out.chained = false;
    selgw_record_json(&out, json, sizeof json);
    assert_string_equal(json,
                        "{\"type\":\"alert\",\"time\":\"2026-11-29T13:55:21.123456Z\","
                        "\"gateway\":\"gw-1\",\"base\":\"ziyang-hanwang\",\"plot\":\"hw-p01\","
                        "\"crop\":\"tea\",\"rule\":\"tea-frost\",\"state\":\"raised\","
                        "\"condition\":\"below\",\"device\":\"air-1\","
                        "\"field\":\"air_temperature\",\"unit\":\"°C\",\"value\":1.5,"
                        "\"threshold\":2,\"since\":\"2026-11-29T13:45:21.000000Z\"}");

    /* a stale sensor has no value and no threshold: null, not NaN */
    in.alert_condition = SELGW_ALERT_STALE;
    in.alert_state = SELGW_ALERT_CLEARED;
    in.alert_value = NAN;
    in.alert_threshold = NAN;
    n = selgw_record_encode_alert(&in, NULL, buf, sizeof buf);
    assert_int_equal(selgw_record_decode(buf, n, &out), SELGW_OK);
    selgw_record_json(&out, json, sizeof json);
    assert_non_null(strstr(json, "\"state\":\"cleared\",\"condition\":\"stale\""));
    assert_non_null(strstr(json, "\"value\":null,\"threshold\":null"));

    /* every truncation is corrupt, not a shorter alert */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(selgw_record_decode(buf, k, &out), SELGW_ERR_CORRUPT);
    /* an unknown state or condition is neither written nor read */
    in.alert_state = (selgw_alert_state)3;
    assert_int_equal(selgw_record_encode_alert(&in, NULL, buf, sizeof buf), 0);
    in.alert_state = SELGW_ALERT_RAISED;
    in.alert_condition = (selgw_alert_condition)0;
    assert_int_equal(selgw_record_encode_alert(&in, NULL, buf, sizeof buf), 0);
    in = frost_alert();
    n = selgw_record_encode_alert(&in, NULL, buf, sizeof buf);
    size_t state_at = n - 2 * 8 - 8 - (2 + 3) - (2 + 15) - (2 + 5) - 2; /* before device */
    assert_int_equal(buf[state_at], SELGW_ALERT_RAISED);
    buf[state_at] = 7;
    assert_int_equal(selgw_record_decode(buf, n, &out), SELGW_ERR_CORRUPT);
    buf[state_at] = SELGW_ALERT_RAISED;
    /* alerts came with format 3: a format-2 payload of type 9 is not one */
    buf[0] = 2;
    assert_int_equal(selgw_record_decode(buf, n, &out), SELGW_ERR_CORRUPT);
    /* nor is another type through the alert encoder */
    in.type = SELGW_RECORD_ANNOTATION;
    assert_int_equal(selgw_record_encode_alert(&in, NULL, buf, sizeof buf), 0);
}

/* A LOT record: plot, text, ref after the head, like an annotation; in its plot's chain;
 * the head reader gives its plot; JSON like an annotation's with type "lot"; format 3 only. */
static void test_lot_round_trip_and_json(void **state)
{
    (void)state;
    static const char text[] = "{\"format\":1,\"lot\":\"ZY-1\"}";
    selgw_record in = {.type = SELGW_RECORD_LOT,
                       .time_ns = 1764424521123456000LL,
                       .gateway = {"gw-1", 4},
                       .plot = {"hw-p01", 6},
                       .text = {text, sizeof text - 1},
                       .ref = {"ZY-1", 4}};
    selgw_chain_link link = {.chain = "plot/hw-p01", .chain_seq = 5};
    uint8_t buf[512];
    size_t n = selgw_record_encode_event(&in, &link, buf, sizeof buf);
    assert_true(n > 0 && n < sizeof buf);
    assert_int_equal(buf[0], 3);
    assert_int_equal(buf[1], SELGW_RECORD_LOT);
    /* after the head: plot, text, ref */
    size_t tail = 2 + 6 + 2 + (sizeof text - 1) + 2 + 4;
    assert_memory_equal(buf + n - tail, "\x06\x00hw-p01", 8);
    assert_memory_equal(buf + n - 6, "\x04\x00ZY-1", 6);
    selgw_record out;
    assert_int_equal(selgw_record_decode(buf, n, &out), SELGW_OK);
    assert_int_equal(out.type, SELGW_RECORD_LOT);
    assert_true(out.chained && out.chain_seq == 5);
    assert_int_equal(out.ref.len, 4);
    assert_memory_equal(out.ref.ptr, "ZY-1", 4);
    assert_int_equal(out.text.len, sizeof text - 1);
    selgw_record_type type;
    int64_t t;
    selgw_str chain, plot;
    assert_true(selgw_record_head(buf, n, &type, &t, &chain, &plot));
    assert_int_equal(type, SELGW_RECORD_LOT);
    assert_int_equal(plot.len, 6);
    assert_memory_equal(plot.ptr, "hw-p01", 6);
    char json[512];
    out.chained = false;
    selgw_record_json(&out, json, sizeof json);
    assert_string_equal(json, "{\"type\":\"lot\",\"time\":\"2025-11-29T13:55:21.123456Z\","
                              "\"gateway\":\"gw-1\",\"plot\":\"hw-p01\",\"text\":"
                              "\"{\\\"format\\\":1,\\\"lot\\\":\\\"ZY-1\\\"}\",\"ref\":\"ZY-1\"}");
    for (size_t k = 0; k < n; k++)
        assert_int_equal(selgw_record_decode(buf, k, &out), SELGW_ERR_CORRUPT);
    /* lots came with format 3 */
    buf[0] = 2;
    assert_int_equal(selgw_record_decode(buf, n, &out), SELGW_ERR_CORRUPT);
    assert_false(selgw_record_head(buf, n, &type, &t, &chain, &plot));
}

/* The head reader (the time index, the history's filters) agrees with the decoder on every
 * kind of record, an alert included. */
static void test_head_agrees_with_decode(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    uint8_t buf[4096];
    for (int kind = 0; kind <= CHAINED_KINDS; kind++) {
        size_t n;
        if (kind == CHAINED_KINDS) {
            selgw_record alert = frost_alert();
            selgw_chain_link link = {.chain = "plot/hw-p01", .chain_seq = 3};
            n = selgw_record_encode_alert(&alert, &link, buf, sizeof buf);
        } else {
            n = encode_chained(kind, &f, buf, sizeof buf);
        }
        assert_true(n > 0 && n <= sizeof buf);
        selgw_record rec;
        assert_int_equal(selgw_record_decode(buf, n, &rec), SELGW_OK);
        selgw_record_type type;
        int64_t time_ns;
        selgw_str chain, plot;
        assert_true(selgw_record_head(buf, n, &type, &time_ns, &chain, &plot));
        assert_int_equal(type, rec.type);
        assert_true(time_ns == rec.time_ns);
        assert_int_equal(chain.len, rec.chain.len);
        assert_memory_equal(chain.ptr, rec.chain.ptr, chain.len);
        bool has_plot = rec.type == SELGW_RECORD_READING || rec.type == SELGW_RECORD_ANNOTATION ||
                        rec.type == SELGW_RECORD_TAGS || rec.type == SELGW_RECORD_ALERT;
        assert_int_equal(plot.len, has_plot ? rec.plot.len : 0);
        if (has_plot)
            assert_memory_equal(plot.ptr, rec.plot.ptr, plot.len);
    }
}

/* A WITNESS record: round trip of every member, the head reader agrees, JSON names them,
 * every truncation and format 2 are refused, no signature encodes nothing. */
static void test_witness_record(void **state)
{
    (void)state;
    uint8_t sig[SELGW_RECORD_SIGNATURE_BYTES];
    for (size_t i = 0; i < sizeof sig; i++)
        sig[i] = (uint8_t)(0xc0 + i);
    selgw_record in = {.type = SELGW_RECORD_WITNESS,
                       .time_ns = 1764600000000000000,
                       .gateway = {"gw-1", 4},
                       .witness_seal_seq = 9,
                       .witness_time_ns = 1764599999500000000,
                       .witness_signature = sig};
    for (size_t i = 0; i < SELGW_RECORD_HASH_BYTES; i++) {
        in.witness_seal_hash[i] = (uint8_t)i;
        in.witness_key[i] = (uint8_t)(0x80 + i);
    }
    selgw_chain_link link = {.chain = "gateway", .chain_seq = 10};
    uint8_t buf[512];
    size_t n = selgw_record_encode_witness(&in, &link, buf, sizeof buf);
    assert_int_equal(n, 2 + 2 + 7 + 8 + 32 + 8 + 2 + 4 + 8 + 32 + 32 + 8 + 64);
    assert_int_equal(buf[1], SELGW_RECORD_WITNESS);
    selgw_record out;
    assert_int_equal(selgw_record_decode(buf, n, &out), SELGW_OK);
    assert_int_equal(out.type, SELGW_RECORD_WITNESS);
    assert_int_equal(out.witness_seal_seq, 9);
    assert_memory_equal(out.witness_seal_hash, in.witness_seal_hash, SELGW_RECORD_HASH_BYTES);
    assert_memory_equal(out.witness_key, in.witness_key, sizeof in.witness_key);
    assert_true(out.witness_time_ns == in.witness_time_ns);
    assert_memory_equal(out.witness_signature, sig, sizeof sig);
    assert_true(out.witness_signature == buf + n - sizeof sig);
    selgw_record_type type;
    int64_t t;
    selgw_str chain, plot;
    assert_true(selgw_record_head(buf, n, &type, &t, &chain, &plot));
    assert_int_equal(type, SELGW_RECORD_WITNESS);
    assert_int_equal(plot.len, 0);
    char json[1024];
    assert_true(selgw_record_json(&out, json, sizeof json) < sizeof json);
    assert_non_null(strstr(json, "\"type\":\"witness\""));
    assert_non_null(strstr(json, ",\"seal_seq\":9,\"seal_hash\":\"000102"));
    assert_non_null(strstr(json, ",\"witness_key\":\"808182"));
    assert_non_null(strstr(json, ",\"witnessed\":\"2025-12-01T14:39:59.500000Z\""));
    assert_non_null(strstr(json, ",\"signature\":\"c0c1c2"));
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(selgw_record_decode(buf, cut, &out), SELGW_ERR_CORRUPT);
    buf[0] = 2;
    assert_int_equal(selgw_record_decode(buf, n, &out), SELGW_ERR_CORRUPT);
    assert_false(selgw_record_head(buf, n, &type, &t, &chain, &plot));
    in.witness_signature = NULL;
    assert_int_equal(selgw_record_encode_witness(&in, &link, buf, sizeof buf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_witness_record),
        cmocka_unit_test(test_reading_round_trip),
        cmocka_unit_test(test_reading_encoding_is_deterministic),
        cmocka_unit_test(test_reading_bytes_as_documented),
        cmocka_unit_test(test_event_bytes_and_round_trip),
        cmocka_unit_test(test_encode_size_query),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_decode_rejects_malformed),
        cmocka_unit_test(test_decode_rejects_counts_over_limits),
        cmocka_unit_test(test_decode_rejects_every_truncation),
        cmocka_unit_test(test_decode_survives_random_damage),
        cmocka_unit_test(test_json_reading_texts),
        cmocka_unit_test(test_json_reading_exact),
        cmocka_unit_test(test_json_events),
        cmocka_unit_test(test_chained_round_trip_every_type),
        cmocka_unit_test(test_event_layouts),
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_format1_still_decodes),
        cmocka_unit_test(test_json_chained),
        cmocka_unit_test(test_alert_round_trip_and_json),
        cmocka_unit_test(test_lot_round_trip_and_json),
        cmocka_unit_test(test_head_agrees_with_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
