/* InfluxDB line protocol: each escaper on each rule, and whole lines for readings
 * (docs/INFLUXDB.md gives the schema). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "sinks/lineproto.h"
#include "base/text_writer.h"
#include "journal/record.h"
#include "sensors/profile.h"
#include "test_farm.h"

typedef void (*escaper)(char *buf, size_t cap, size_t *len, const char *s, size_t n);

/* Escapes s with fn into a fresh buffer; checks that the returned length is the text's. */
static const char *esc_n(escaper fn, const char *s, size_t n)
{
    static char buf[256];
    size_t len = 0;
    buf[0] = '\0';
    fn(buf, sizeof buf, &len, s, n);
    assert_true(len < sizeof buf);
    assert_int_equal(strlen(buf), len);
    return buf;
}

static const char *esc(escaper fn, const char *s)
{
    return esc_n(fn, s, strlen(s));
}

static void test_measurement_escapes(void **state)
{
    (void)state;
    escaper m = selgw_lp_measurement;
    assert_string_equal(esc(m, "reading"), "reading");
    /* comma and space; an equals sign and a quote are plain text in a measurement */
    assert_string_equal(esc(m, "a b,c=d\"e"), "a\\ b\\,c=d\"e");
    /* a backslash stays where it is literal, becomes '/' where it would end the element
     * or eat an escape */
    assert_string_equal(esc(m, "C:\\dir"), "C:\\dir");
    assert_string_equal(esc(m, "end\\"), "end/");
    assert_string_equal(esc(m, "a\\,b"), "a/\\,b");
    assert_string_equal(esc(m, "a\\ b"), "a/\\ b");
    assert_string_equal(esc(m, "a\\=b"), "a\\=b");
    /* control characters are spaces */
    assert_string_equal(esc(m, "a\nb\tc\r\x7f"), "a\\ b\\ c\\ \\ ");
    assert_string_equal(esc(m, "紫阳县汉王镇"), "紫阳县汉王镇");
    assert_string_equal(esc(m, ""), "");
}

static void test_tag_escapes(void **state)
{
    (void)state;
    escaper t = selgw_lp_tag;
    assert_string_equal(esc(t, "HH-001"), "HH-001");
    assert_string_equal(esc(t, "a b,c=d\"e"), "a\\ b\\,c\\=d\"e");
    assert_string_equal(esc(t, "==,, "), "\\=\\=\\,\\,\\ ");
    assert_string_equal(esc(t, "C:\\dir"), "C:\\dir");
    /* the trailing backslash InfluxDB cannot take, escaped or not */
    assert_string_equal(esc(t, "C:\\"), "C:/");
    assert_string_equal(esc(t, "\\"), "/");
    assert_string_equal(esc(t, "a\\=b"), "a/\\=b");
    assert_string_equal(esc(t, "a\\,b"), "a/\\,b");
    assert_string_equal(esc(t, "a\\ b"), "a/\\ b");
    assert_string_equal(esc(t, "a\\\\b"), "a\\\\b"); /* two literal backslashes stay */
    assert_string_equal(esc(t, "a\\\\"), "a\\/");
    assert_string_equal(esc(t, "x\\\n"), "x/\\ "); /* the newline becomes an escaped space */
    assert_string_equal(esc(t, "line1\nline2"), "line1\\ line2");
    assert_string_equal(esc(t, "\x01\x1f"), "\\ \\ ");
    assert_string_equal(esc_n(t, "a\0b", 3), "a\\ b"); /* a NUL byte is a control char too */
    assert_string_equal(esc(t, "紫阳县 汉王镇"), "紫阳县\\ 汉王镇");
    assert_string_equal(esc(t, "\\紫"), "\\紫");
    assert_string_equal(esc(t, ""), "");
}

static void test_field_key_escapes(void **state)
{
    (void)state;
    escaper k = selgw_lp_field_key;
    assert_string_equal(esc(k, "soil_moisture"), "soil_moisture");
    assert_string_equal(esc(k, "a b,c=d\"e"), "a\\ b\\,c\\=d\"e");
    assert_string_equal(esc(k, "k\\"), "k/");
    assert_string_equal(esc(k, "k\\=v"), "k/\\=v");
    assert_string_equal(esc(k, "k\\v"), "k\\v");
    assert_string_equal(esc(k, "a\nb"), "a\\ b");
    assert_string_equal(esc(k, "土壤湿度"), "土壤湿度");
    assert_string_equal(esc(k, ""), "");
}

static void test_string_field_escapes(void **state)
{
    (void)state;
    escaper s = selgw_lp_string_field;
    assert_string_equal(esc(s, "ok"), "\"ok\"");
    assert_string_equal(esc(s, "say \"hi\""), "\"say \\\"hi\\\"\"");
    /* every backslash is escaped inside quotes, the trailing one too */
    assert_string_equal(esc(s, "C:\\dir\\"), "\"C:\\\\dir\\\\\"");
    /* commas, spaces and equals signs are plain text inside quotes */
    assert_string_equal(esc(s, "a,b=c d"), "\"a,b=c d\"");
    assert_string_equal(esc(s, "a\nb\r\tc"), "\"a b  c\"");
    assert_string_equal(esc(s, "紫阳县汉王镇"), "\"紫阳县汉王镇\"");
    assert_string_equal(esc(s, ""), "\"\"");
}

/* snprintf-style: the full length always, nothing at or past cap, NUL-terminated, and
 * appending after what is already there. */
static void test_escapers_truncate_and_append(void **state)
{
    (void)state;
    escaper all[] = {selgw_lp_measurement, selgw_lp_tag, selgw_lp_field_key, selgw_lp_string_field};
    const char *input = "a,b c=\"d\\";
    for (size_t e = 0; e < 4; e++) {
        char full[64];
        size_t need = 0;
        all[e](full, sizeof full, &need, input, strlen(input));
        size_t query = 0;
        all[e](NULL, 0, &query, input, strlen(input));
        assert_int_equal(query, need);
        for (size_t cap = 1; cap <= need + 1; cap++) {
            char buf[64];
            memset(buf, '#', sizeof buf);
            size_t len = 0;
            buf[0] = '\0';
            all[e](buf, cap, &len, input, strlen(input));
            assert_int_equal(len, need);
            assert_true(strlen(buf) < cap);
            assert_memory_equal(buf, full, strlen(buf));
            for (size_t i = cap; i < sizeof buf; i++)
                assert_int_equal(buf[i], '#');
            if (cap == need + 1)
                assert_string_equal(buf, full);
        }
    }
    char buf[32] = "m,k=";
    size_t len = 4;
    selgw_lp_tag(buf, sizeof buf, &len, "x y", 3);
    assert_int_equal(len, 8);
    assert_string_equal(buf, "m,k=x\\ y");
}

#define S(text) ((selgw_str){(text), sizeof(text) - 1})

static void field(selgw_record *rec, selgw_str name, double value, selgw_quality quality)
{
    rec->fields[rec->field_count++] =
        (selgw_record_field){.name = name, .unit = S("x"), .value = value, .quality = quality};
}

static void household(selgw_record *rec, selgw_str code)
{
    rec->households[rec->household_count++] =
        (selgw_record_household){.household = code, .contract = S("ZY-1")};
}

static void base_record(selgw_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->type = SELGW_RECORD_READING;
    rec->time_ns = INT64_C(1795960521123456789);
    rec->gateway = S("gw-1");
    rec->base = S("ziyang-hanwang");
    rec->plot = S("hw-p01");
    rec->crop = S("tea");
    rec->device = S("soil-1");
    rec->profile = S("test-soil");
    rec->serial = S("SN 42");
    rec->bus = S("rs485-1");
    rec->unit_id = 7;
    rec->status = SELGW_OK;
    rec->attempts = 1;
}

static const char *line(const selgw_record *rec, const char *measurement)
{
    static char buf[2048];
    size_t n = selgw_lp_record(rec, measurement, buf, sizeof buf);
    assert_true(n < sizeof buf);
    assert_int_equal(strlen(buf), n);
    return buf;
}

/* A record whose hash is known carries it as a string field; a sensor field called
 * "hash" is prefixed so that it cannot collide. */
static void test_line_with_hash(void **state)
{
    (void)state;
    selgw_record rec;
    base_record(&rec);
    field(&rec, S("hash"), 1, SELGW_QUALITY_OK);
    rec.has_hash = true;
    for (size_t i = 0; i < SELGW_RECORD_HASH_BYTES; i++)
        rec.hash[i] = (uint8_t)(0xf0 + i);
    assert_string_equal(line(&rec, "reading"),
                        "reading,base=ziyang-hanwang,bus=rs485-1,crop=tea,device=soil-1,"
                        "gateway=gw-1,plot=hw-p01,profile=test-soil,status=ok f_hash=1,"
                        "attempts=1i,hash=\"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
                        "000102030405060708090a0b0c0d0e0f\" 1795960521123456789\n");
    rec.has_hash = false;
    assert_null(strstr(line(&rec, "reading"), "hash=\""));
    /* still no line for other records */
    rec.type = SELGW_RECORD_SEAL;
    rec.has_hash = true;
    assert_int_equal(selgw_lp_record(&rec, "reading", NULL, 0), 0);
}

static void test_line_for_a_reading(void **state)
{
    (void)state;
    selgw_record rec;
    base_record(&rec);
    rec.seq = 42;
    rec.base = S("紫阳县 汉王镇,base=1");
    rec.plot = S("hw p01");
    household(&rec, S("HH-001"));
    household(&rec, S("HH-017"));
    field(&rec, S("soil_moisture"), 23.400000000000002, SELGW_QUALITY_OK);
    field(&rec, S("soil_temperature"), -10.1, SELGW_QUALITY_OK);
    field(&rec, S("soil_ec"), 25000, SELGW_QUALITY_OUT_OF_RANGE);
    field(&rec, S("soil_ph"), NAN, SELGW_QUALITY_OUT_OF_RANGE);
    assert_string_equal(
        line(&rec, "reading"),
        "reading,base=紫阳县\\ 汉王镇\\,base\\=1,bus=rs485-1,crop=tea,device=soil-1,"
        "gateway=gw-1,households=HH-001\\,HH-017,plot=hw\\ p01,profile=test-soil,status=ok "
        "soil_moisture=23.4,soil_temperature=-10.1,soil_ec=25000,attempts=1i,"
        "quality=\"soil_ec:out_of_range,soil_ph:invalid\",seq=42i 1795960521123456789\n");
}

/* A poll that read nothing is still a point: status, attempts and seq show the gap. */
static void test_line_for_a_failed_poll(void **state)
{
    (void)state;
    selgw_record rec;
    base_record(&rec);
    rec.seq = 7;
    rec.status = SELGW_ERR_TIMEOUT;
    rec.attempts = 3;
    rec.crop = S(""); /* an empty tag value is left out */
    rec.time_ns = 1000;
    field(&rec, S("soil_moisture"), NAN, SELGW_QUALITY_READ_FAILED);
    field(&rec, S("soil_temperature"), 5, SELGW_QUALITY_READ_FAILED);
    assert_string_equal(line(&rec, "reading"),
                        "reading,base=ziyang-hanwang,bus=rs485-1,device=soil-1,gateway=gw-1,"
                        "plot=hw-p01,profile=test-soil,status=timeout attempts=3i,seq=7i 1000\n");

    /* a partial read: the fields that failed are left out, the rest written */
    rec.status = SELGW_ERR_EXCEPTION;
    rec.exception_code = 2;
    rec.fields[1].quality = SELGW_QUALITY_OK;
    rec.seq = 0; /* not journaled: no seq */
    assert_string_equal(line(&rec, "reading"),
                        "reading,base=ziyang-hanwang,bus=rs485-1,device=soil-1,gateway=gw-1,"
                        "plot=hw-p01,profile=test-soil,status=exception "
                        "soil_temperature=5,attempts=3i 1000\n");
}

/* Keys InfluxDB refuses or that are our own get the prefix f_; NaN and infinities are
 * never written; odd names are escaped as field keys and as text in the quality string. */
static void test_line_field_names_and_values(void **state)
{
    (void)state;
    selgw_record rec;
    base_record(&rec);
    rec.time_ns = -1500000000; /* before 1970: InfluxDB takes negative timestamps */
    field(&rec, S("time"), 1, SELGW_QUALITY_OK);
    field(&rec, S("_x"), 2, SELGW_QUALITY_OK);
    field(&rec, S("seq"), 3, SELGW_QUALITY_OK);
    field(&rec, S("attempts"), 4, SELGW_QUALITY_OK);
    field(&rec, S("quality"), INFINITY, SELGW_QUALITY_OUT_OF_RANGE);
    field(&rec, S(""), 5, SELGW_QUALITY_OK);
    field(&rec, S("q\"x\\"), 6, SELGW_QUALITY_OUT_OF_RANGE);
    field(&rec, S("big"), 1e20, SELGW_QUALITY_OK);
    field(&rec, S("tiny"), -1.5e-7, SELGW_QUALITY_OK);
    field(&rec, S("zero"), -0.0, SELGW_QUALITY_OK);
    field(&rec, S("whole"), 1e15 - 1, SELGW_QUALITY_OK);
    field(&rec, S("third"), 1.0 / 3, SELGW_QUALITY_OK);
    field(&rec, S("minus_inf"), -INFINITY, SELGW_QUALITY_OK);
    assert_string_equal(line(&rec, "my meas,x"),
                        "my\\ meas\\,x,base=ziyang-hanwang,bus=rs485-1,crop=tea,device=soil-1,"
                        "gateway=gw-1,plot=hw-p01,profile=test-soil,status=ok "
                        "f_time=1,f__x=2,f_seq=3,f_attempts=4,f_=5,q\"x/=6,big=1e+20,"
                        "tiny=-1.5e-07,zero=-0,whole=999999999999999,third=0.333333333333333,"
                        "attempts=1i,"
                        "quality=\"f_quality:invalid,q\\\"x\\\\:out_of_range,minus_inf:invalid\""
                        " -1500000000\n");
}

static void test_line_tags(void **state)
{
    (void)state;
    selgw_record rec;
    base_record(&rec);
    field(&rec, S("t"), 1, SELGW_QUALITY_OK);
    assert_string_equal(line(&rec, "reading"),
                        "reading,base=ziyang-hanwang,bus=rs485-1,crop=tea,device=soil-1,"
                        "gateway=gw-1,plot=hw-p01,profile=test-soil,status=ok "
                        "t=1,attempts=1i 1795960521123456789\n");
    /* no measurement, no line: the config always gives one (its default is "reading") */
    char none[8];
    assert_int_equal(selgw_lp_record(&rec, NULL, none, sizeof none), 0);
    assert_int_equal(selgw_lp_record(&rec, "", none, sizeof none), 0);

    /* one household; empty codes are skipped; a trailing backslash in a tag value */
    household(&rec, S(""));
    household(&rec, S("HH 9,x"));
    household(&rec, S(""));
    rec.device = S("soil\\");
    assert_string_equal(line(&rec, "m"),
                        "m,base=ziyang-hanwang,bus=rs485-1,crop=tea,device=soil/,gateway=gw-1,"
                        "households=HH\\ 9\\,x,plot=hw-p01,profile=test-soil,status=ok "
                        "t=1,attempts=1i 1795960521123456789\n");

    /* nothing but empty tags: the status tag still makes a valid line */
    memset(&rec, 0, sizeof rec);
    rec.type = SELGW_RECORD_READING;
    household(&rec, S(""));
    assert_string_equal(line(&rec, "m"), "m,status=ok attempts=0i 0\n");
}

static void test_line_none_for_events(void **state)
{
    (void)state;
    selgw_record rec;
    memset(&rec, 0, sizeof rec);
    const selgw_record_type events[] = {SELGW_RECORD_START, SELGW_RECORD_STOP, SELGW_RECORD_GAP,
                                        (selgw_record_type)0};
    for (size_t i = 0; i < 4; i++) {
        rec.type = events[i];
        rec.gateway = S("gw-1");
        rec.text = S("bye");
        char buf[64];
        memset(buf, 'x', sizeof buf);
        assert_int_equal(selgw_lp_record(&rec, "reading", buf, sizeof buf), 0);
        assert_string_equal(buf, "");
        assert_int_equal(selgw_lp_record(&rec, "reading", NULL, 0), 0);
    }
}

static void test_line_size_query_and_truncation(void **state)
{
    (void)state;
    selgw_record rec;
    base_record(&rec);
    rec.seq = 1;
    household(&rec, S("HH-001"));
    field(&rec, S("soil_ec"), 25000, SELGW_QUALITY_OUT_OF_RANGE);
    char full[512];
    size_t need = selgw_lp_record(&rec, "reading", full, sizeof full);
    assert_int_equal(need, strlen(full));
    assert_int_equal(selgw_lp_record(&rec, "reading", NULL, 0), need);
    assert_int_equal(full[need - 1], '\n');
    for (size_t cap = 1; cap <= need + 1; cap++) {
        char buf[512];
        memset(buf, '#', sizeof buf);
        assert_int_equal(selgw_lp_record(&rec, "reading", buf, cap), need);
        assert_true(strlen(buf) < cap);
        assert_memory_equal(buf, full, strlen(buf));
        for (size_t i = cap; i < sizeof buf; i++)
            assert_int_equal(buf[i], '#');
    }
}

/* The path the InfluxDB sink takes: a reading, encoded into the journal, decoded, written
 * as a line. */
static void test_line_from_an_encoded_reading(void **state)
{
    (void)state;
    selgw_field fields[2] = {{.name = "air_temperature", .unit = "degC"},
                             {.name = "time", .unit = "s"}};
    selgw_profile profile = {.name = "air", .field_count = 2, .fields = fields};
    selgw_contract contracts[2] = {{.household = "HH-001", .contract = "ZY-2025-001"},
                                   {.household = "HH-002", .contract = "ZY-2025-002"}};
    const selgw_contract *contract_ptrs[2] = {&contracts[0], &contracts[1]};
    selgw_base base = {.id = "汉王 base", .name = "汉王"};
    selgw_plot plot = {.id = "p1", .crop = "tea"};
    selgw_bus bus = {.id = "tcp-1", .kind = SELGW_BUS_TCP};
    selgw_device dev = {.id = "air-1", .unit_id = 1, .profile = &profile, .serial = ""};
    selgw_config cfg = {.gateway_id = "gw", .bases = &base, .plots = &plot, .buses = &bus};
    test_value values[2] = {{21.5, SELGW_QUALITY_OK}, {0, SELGW_QUALITY_READ_FAILED}};
    selgw_reading reading;
    test_reading(&reading, &cfg, &dev, 1700000000000000001, SELGW_ERR_BAD_FRAME, 2, contract_ptrs,
                 2, values);
    uint8_t payload[512];
    size_t n = selgw_record_encode_reading(&reading, NULL, payload, sizeof payload);
    assert_true(n > 0 && n <= sizeof payload);
    selgw_record rec;
    assert_int_equal(selgw_record_decode(payload, n, &rec), SELGW_OK);
    rec.seq = 123456789;
    assert_string_equal(line(&rec, "reading"),
                        "reading,base=汉王\\ base,bus=tcp-1,crop=tea,device=air-1,gateway=gw,"
                        "households=HH-001\\,HH-002,plot=p1,profile=air,status=bad_frame "
                        "air_temperature=21.5,attempts=2i,seq=123456789i 1700000000000000001\n");
}

/* The fast number formatter must write exactly what printf's "%.15g" writes: sensor values
 * from every 16-bit raw value at the usual scales and offsets, and random doubles across
 * the magnitudes it handles itself and beyond. */
static void check_double_like_printf(double v, unsigned long *checked)
{
    char fast[64], ref[64];
    size_t len = 0;
    fast[0] = '\0';
    selgw_text_double(fast, sizeof fast, &len, v);
    snprintf(ref, sizeof ref, "%.15g", v);
    if (strcmp(fast, ref) != 0)
        fail_msg("%.17g: fast '%s', printf '%s'", v, fast, ref);
    assert_int_equal(len, strlen(ref));
    (*checked)++;
}

static void test_double_matches_printf(void **state)
{
    (void)state;
    unsigned long checked = 0;
    static const double scales[] = {1, 0.1, 0.01, 0.001, 1.0 / 3};
    static const double offsets[] = {0, -273.15};
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
        for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++)
            for (long raw = -32768; raw <= 65535; raw++)
                check_double_like_printf((double)raw * scales[si] + offsets[oi], &checked);
    uint64_t x = 88172645463325252ULL; /* xorshift64: fixed seed, same values every run */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double mant = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
        int exp10 = (int)(x % 26) - 7;                        /* 1e-7 .. 1e18 */
        double v = (mant + 0.1) * pow(10, exp10);
        check_double_like_printf((x & 1) ? -v : v, &checked);
        uint64_t bits = x;
        double any;
        memcpy(&any, &bits, sizeof any);
        if (isfinite(any))
            check_double_like_printf(any, &checked);
    }
    check_double_like_printf(0.0, &checked);
    check_double_like_printf(-0.0, &checked);
    check_double_like_printf(1e15, &checked);
    check_double_like_printf(999999999999999.4, &checked);
    check_double_like_printf(0.0001, &checked);
    check_double_like_printf(0.00009999999999999999, &checked);
    assert_true(checked > 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_matches_printf),
        cmocka_unit_test(test_measurement_escapes),
        cmocka_unit_test(test_tag_escapes),
        cmocka_unit_test(test_field_key_escapes),
        cmocka_unit_test(test_string_field_escapes),
        cmocka_unit_test(test_escapers_truncate_and_append),
        cmocka_unit_test(test_line_for_a_reading),
        cmocka_unit_test(test_line_with_hash),
        cmocka_unit_test(test_line_for_a_failed_poll),
        cmocka_unit_test(test_line_field_names_and_values),
        cmocka_unit_test(test_line_tags),
        cmocka_unit_test(test_line_none_for_events),
        cmocka_unit_test(test_line_size_query_and_truncation),
        cmocka_unit_test(test_line_from_an_encoded_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
