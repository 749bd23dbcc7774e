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

/* A minimal hand-built config: one base, one plot with two contracts, one bus, one device
 * with a three-field profile. */
typedef struct fixture {
    selgw_field fields[3];
    selgw_profile profile;
    selgw_contract contracts[2];
    selgw_base base;
    selgw_plot plot;
    selgw_bus bus;
    selgw_device device;
    selgw_config cfg;
} fixture;

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->fields[0] = (selgw_field){
        .name = "soil_moisture", .function = 3, .type = SELGW_TYPE_U16, .scale = 0.1, .unit = "%"};
    f->fields[1] = (selgw_field){.name = "soil_temperature",
                                 .function = 3,
                                 .address = 1,
                                 .type = SELGW_TYPE_S16,
                                 .scale = 0.1,
                                 .unit = "degC"};
    f->fields[2] = (selgw_field){.name = "soil_ec",
                                 .function = 3,
                                 .address = 2,
                                 .type = SELGW_TYPE_U16,
                                 .scale = 1,
                                 .unit = "uS/cm"};
    f->profile = (selgw_profile){.name = "test-soil", .field_count = 3, .fields = f->fields};
    f->contracts[0] = (selgw_contract){.household = "HH-001", .contract = "ZY-2025-001"};
    f->contracts[1] = (selgw_contract){.household = "HH-\"7\"", .contract = "ZY,2025=2"};
    f->base = (selgw_base){.id = "ziyang-hanwang", .name = "汉王"};
    f->plot = (selgw_plot){.id = "hw-p01", .crop = "tea"};
    f->bus = (selgw_bus){.id = "rs485-1", .kind = SELGW_BUS_RTU};
    f->device =
        (selgw_device){.id = "soil-1", .unit_id = 7, .profile = &f->profile, .serial = "SN 42"};
    f->cfg = (selgw_config){.gateway_id = "gw-1",
                            .base_count = 1,
                            .bases = &f->base,
                            .plot_count = 1,
                            .plots = &f->plot,
                            .bus_count = 1,
                            .buses = &f->bus,
                            .device_count = 1,
                            .devices = &f->device};
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

/* The fixture's device read at time_ns with these values; households as given. */
static void make_reading(selgw_reading *r, const fixture *f, int64_t time_ns, selgw_err status,
                         unsigned attempts, size_t households, const double *values,
                         const selgw_quality *qualities)
{
    selgw_reading_for_device(r, &f->cfg, &f->device);
    r->time_ns = time_ns;
    r->status = status;
    r->attempts = attempts;
    for (size_t i = 0; i < households; i++)
        r->households[i] =
            (selgw_reading_household){f->contracts[i].household, f->contracts[i].contract};
    r->household_count = households;
    for (size_t i = 0; i < r->field_count; i++) {
        r->fields[i].value = values[i];
        r->fields[i].quality = qualities[i];
    }
}

static void test_reading_ok(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f);
    const double values[3] = {23.400000000000002, -10.1, 25000};
    const selgw_quality qualities[3] = {SELGW_QUALITY_OK, SELGW_QUALITY_OK,
                                        SELGW_QUALITY_OUT_OF_RANGE};
    static selgw_reading r;
    make_reading(&r, &f, INT64_C(1795960521123456789), SELGW_OK, 1, 2, values, qualities);
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
    fixture f;
    fixture_init(&f);
    const double values[3] = {NAN, INFINITY, 12};
    const selgw_quality qualities[3] = {SELGW_QUALITY_OUT_OF_RANGE, SELGW_QUALITY_OUT_OF_RANGE,
                                        SELGW_QUALITY_READ_FAILED};
    static selgw_reading r;
    make_reading(&r, &f, 0, SELGW_ERR_EXCEPTION, 2, 0, values, qualities);
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
    fixture f;
    fixture_init(&f);
    const double values[3] = {1, 2, 3};
    const selgw_quality qualities[3] = {SELGW_QUALITY_OK, SELGW_QUALITY_OK, SELGW_QUALITY_OK};
    static selgw_reading r;
    make_reading(&r, &f, 0, SELGW_OK, 1, 0, values, qualities);
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
