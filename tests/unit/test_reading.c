/* A device's reading as the poller fills it from the config, and its JSON (through the
 * journal's record): every escaping rule, nulls, qualities, truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "base/clock.h"
#include "base/text_writer.h"
#include "journal/record.h"
#include "poll/reading.h"
#include "sensors/profile.h"
#include "test_farm.h"

static size_t encode_string(const char *s, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    selgw_json_string(buf, cap, &len, s);
    return len;
}

static void test_json_string_escapes(void **state)
{
    (void)state;
    char buf[128];
    encode_string("plain", buf, sizeof buf);
    assert_string_equal(buf, "\"plain\"");
    encode_string("say \"hi\"", buf, sizeof buf);
    assert_string_equal(buf, "\"say \\\"hi\\\"\"");
    encode_string("C:\\dir", buf, sizeof buf);
    assert_string_equal(buf, "\"C:\\\\dir\"");
    encode_string("a\nb\rc\td", buf, sizeof buf);
    assert_string_equal(buf, "\"a\\nb\\rc\\td\"");
    encode_string("bell\x07"
                  "del\x7f",
                  buf, sizeof buf);
    assert_string_equal(buf, "\"bell\\u0007del\\u007f\"");
    /* UTF-8 passes through untouched */
    encode_string("紫阳县汉王镇", buf, sizeof buf);
    assert_string_equal(buf, "\"紫阳县汉王镇\"");
    encode_string(NULL, buf, sizeof buf);
    assert_string_equal(buf, "\"\"");
}

static void test_json_string_truncates_safely(void **state)
{
    (void)state;
    char buf[6];
    memset(buf, 'x', sizeof buf);
    size_t need = encode_string("abcdefgh", buf, sizeof buf);
    assert_int_equal(need, 10);
    assert_int_equal(strlen(buf), 5); /* NUL-terminated within cap */
    assert_memory_equal(buf, "\"abcd", 5);
}

/* The farm with one plot, one device (soil-1, "SN 42") and a three-field profile; the
 * second household's ids need quoting and escaping. */
static void farm_init(test_farm *f)
{
    test_farm_init(f, 3, 2, 1, 1);
    f->contracts[1].household = "HH-\"7\"";
    f->contracts[1].contract = "ZY,2025=2";
    f->devices[0].serial = "SN 42";
}

/* The reading as it comes out of the journal: encoded, decoded, in JSON. */
static size_t reading_json(const selgw_reading *r, char *buf, size_t cap)
{
    uint8_t payload[4096];
    size_t n = selgw_record_encode_reading(r, NULL, payload, sizeof payload);
    assert_true(n > 0 && n <= sizeof payload);
    static selgw_record rec;
    assert_int_equal(selgw_record_decode(payload, n, &rec), SELGW_OK);
    return selgw_record_json(&rec, buf, cap);
}

/* The farm's device read at time_ns with these values; the first `households` of its
 * contracts. */
static void make_reading(selgw_reading *r, const test_farm *f, int64_t time_ns, selgw_err status,
                         unsigned attempts, size_t households, const test_value *values)
{
    test_reading(r, &f->cfg, &f->devices[0], time_ns, status, attempts, f->contract_ptrs,
                 households, values);
}

static void test_reading_ok(void **state)
{
    (void)state;
    test_farm f;
    farm_init(&f);
    const test_value values[3] = {{23.400000000000002, SELGW_QUALITY_OK},
                                  {-10.1, SELGW_QUALITY_OK},
                                  {25000, SELGW_QUALITY_OUT_OF_RANGE}};
    static selgw_reading r;
    make_reading(&r, &f, INT64_C(1795960521123456789), SELGW_OK, 1, 2, values);
    char buf[1024];
    size_t n = reading_json(&r, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_string_equal(
        buf, "{\"type\":\"reading\",\"time\":\"2026-11-29T13:55:21.123456Z\",\"gateway\":\"gw-1\","
             "\"base\":\"ziyang-hanwang\",\"plot\":\"hw-p01\",\"crop\":\"tea\","
             "\"device\":\"soil-1\",\"profile\":\"test-soil\",\"serial\":\"SN 42\","
             "\"bus\":\"rs485-1\",\"unit_id\":7,\"households\":["
             "{\"household\":\"HH-001\",\"contract\":\"ZY-2025-001\"},"
             "{\"household\":\"HH-\\\"7\\\"\",\"contract\":\"ZY,2025=2\"}],"
             "\"status\":\"ok\",\"attempts\":1,\"fields\":{"
             "\"soil_moisture\":{\"value\":23.4,\"unit\":\"%\",\"quality\":\"ok\"},"
             "\"soil_temperature\":{\"value\":-10.1,\"unit\":\"degC\",\"quality\":\"ok\"},"
             "\"soil_ec\":{\"value\":25000,\"unit\":\"uS/cm\",\"quality\":\"out_of_range\"}}}");
}

static void test_reading_failed_and_nonfinite(void **state)
{
    (void)state;
    test_farm f;
    farm_init(&f);
    const test_value values[3] = {{NAN, SELGW_QUALITY_OUT_OF_RANGE},
                                  {INFINITY, SELGW_QUALITY_OUT_OF_RANGE},
                                  {12, SELGW_QUALITY_READ_FAILED}};
    static selgw_reading r;
    make_reading(&r, &f, 0, SELGW_ERR_EXCEPTION, 2, 0, values);
    r.exception_code = 2;
    char buf[1024];
    reading_json(&r, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"time\":\"1970-01-01T00:00:00.000000Z\""));
    assert_non_null(strstr(buf, "\"households\":[]"));
    assert_non_null(strstr(buf, "\"status\":\"exception\",\"error\":\"device answered with a "
                                "Modbus exception\",\"exception\":2,\"attempts\":2"));
    assert_non_null(strstr(buf, "\"soil_moisture\":{\"value\":null,\"unit\":\"%\","
                                "\"quality\":\"out_of_range\"}"));
    assert_non_null(strstr(buf, "\"soil_temperature\":{\"value\":null"));
    /* a failed field has no value, whatever the buffer held */
    assert_non_null(strstr(buf, "\"soil_ec\":{\"value\":null,\"unit\":\"uS/cm\","
                                "\"quality\":\"read_failed\"}"));

    r.status = SELGW_ERR_TIMEOUT;
    reading_json(&r, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"status\":\"timeout\",\"error\":\"no answer within the "
                                "response timeout\",\"attempts\""));
    assert_null(strstr(buf, "\"exception\""));
}

static void test_reading_size_query(void **state)
{
    (void)state;
    test_farm f;
    farm_init(&f);
    const test_value values[3] = {
        {1, SELGW_QUALITY_OK}, {2, SELGW_QUALITY_OK}, {3, SELGW_QUALITY_OK}};
    static selgw_reading r;
    make_reading(&r, &f, 0, SELGW_OK, 1, 0, values);
    uint8_t payload[1024];
    size_t n = selgw_record_encode_reading(&r, NULL, payload, sizeof payload);
    selgw_record rec;
    assert_int_equal(selgw_record_decode(payload, n, &rec), SELGW_OK);
    char full[1024];
    size_t need = selgw_record_json(&rec, full, sizeof full);
    size_t need_null = selgw_record_json(&rec, NULL, 0);
    assert_int_equal(need, need_null);
    char small[40];
    assert_int_equal(selgw_record_json(&rec, small, sizeof small), need);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, full, sizeof small - 1);
}

static void test_format_utc(void **state)
{
    (void)state;
    char buf[SELGW_UTC_TEXT_SIZE];
    assert_string_equal(selgw_format_utc(0, buf), "1970-01-01T00:00:00.000000Z");
    assert_string_equal(selgw_format_utc(-1000, buf), "1969-12-31T23:59:59.999999Z");
    assert_string_equal(selgw_format_utc(INT64_C(951782400) * 1000000000 + 5000, buf),
                        "2000-02-29T00:00:00.000005Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_json_string_truncates_safely),
        cmocka_unit_test(test_reading_ok),
        cmocka_unit_test(test_reading_failed_and_nonfinite),
        cmocka_unit_test(test_reading_size_query),
        cmocka_unit_test(test_format_utc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
