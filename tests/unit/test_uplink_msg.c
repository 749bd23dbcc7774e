/* The evidence uplink's message (sinks/uplink_msg.h, docs/ARCHIVE.md): topic, shared
 * subscription, the seq's text, and the MQTT 5 properties written and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sinks/uplink_msg.h"

static void test_topic(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(selgw_uplink_topic("selgw", "gw-1", buf, sizeof buf), 19);
    assert_string_equal(buf, "selgw/gw-1/evidence");
    assert_int_equal(selgw_uplink_topic("farm/selgw", "g", buf, sizeof buf), 21);
    assert_string_equal(buf, "farm/selgw/g/evidence");
    /* too small: the length it needs, truncated text */
    assert_int_equal(selgw_uplink_topic("selgw", "gw-1", buf, 6), 19);
    assert_string_equal(buf, "selgw");
    static const char *const bad_prefixes[] = {"", "$SYS", "/a", "a/", "a/+", "a#", "a//b"};
    for (size_t i = 0; i < sizeof bad_prefixes / sizeof bad_prefixes[0]; i++)
        assert_int_equal(selgw_uplink_topic(bad_prefixes[i], "g", buf, sizeof buf), 0);
    static const char *const bad_gateways[] = {"", "a/b", "+", "#"};
    for (size_t i = 0; i < sizeof bad_gateways / sizeof bad_gateways[0]; i++)
        assert_int_equal(selgw_uplink_topic("selgw", bad_gateways[i], buf, sizeof buf), 0);
    assert_int_equal(selgw_uplink_topic(NULL, "g", buf, sizeof buf), 0);
    /* where the witnesses' statements come back: the same checks */
    assert_int_equal(selgw_uplink_witness_topic("farm/selgw", "g", buf, sizeof buf), 20);
    assert_string_equal(buf, "farm/selgw/g/witness");
    assert_int_equal(selgw_uplink_witness_topic("a/+", "g", buf, sizeof buf), 0);
    assert_int_equal(selgw_uplink_witness_topic("selgw", "a/b", buf, sizeof buf), 0);
}

static void test_filter(void **state)
{
    (void)state;
    char buf[128];
    assert_true(selgw_uplink_filter("selgw-archive", "selgw", buf, sizeof buf) > 0);
    assert_string_equal(buf, "$share/selgw-archive/selgw/+/evidence");
    assert_int_equal(selgw_uplink_filter("a/b", "selgw", buf, sizeof buf), 0);
    assert_int_equal(selgw_uplink_filter("", "selgw", buf, sizeof buf), 0);
    assert_int_equal(selgw_uplink_filter("g", "se#", buf, sizeof buf), 0);
}

static void test_topic_gateway(void **state)
{
    (void)state;
    const char *gw;
    assert_int_equal(selgw_uplink_topic_gateway("selgw/gw-1/evidence", "selgw", &gw), 4);
    assert_memory_equal(gw, "gw-1", 4);
    assert_int_equal(selgw_uplink_topic_gateway("farm/selgw/g/evidence", "farm/selgw", &gw), 1);
    assert_int_equal(*gw, 'g');
    static const char *const bad[] = {"selgw/gw-1/event", "selgw//evidence", "selgwx/g/evidence",
                                      "selgw/a/b/evidence", "other/g/evidence", "selgw/g/evidence/x",
                                      "selgw/evidence"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(selgw_uplink_topic_gateway(bad[i], "selgw", &gw), 0);
        assert_null(gw);
    }
}

static void test_seq_text(void **state)
{
    (void)state;
    char buf[SELGW_UPLINK_SEQ_TEXT_MAX];
    uint64_t seq;
    selgw_uplink_seq_text(1, buf);
    assert_string_equal(buf, "1");
    selgw_uplink_seq_text(UINT64_MAX, buf);
    assert_string_equal(buf, "18446744073709551615");
    assert_int_equal(selgw_uplink_seq_parse(buf, &seq), SELGW_OK);
    assert_true(seq == UINT64_MAX);
    assert_int_equal(selgw_uplink_seq_parse("4097", &seq), SELGW_OK);
    assert_int_equal(seq, 4097);
    static const char *const bad[] = {"", "0", "01", "-1", "+1", "1 ", " 1", "1x",
                                      "18446744073709551616", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(selgw_uplink_seq_parse(bad[i], &seq), SELGW_ERR_CORRUPT);
        assert_int_equal(seq, 0);
    }
    assert_int_equal(selgw_uplink_seq_parse(NULL, &seq), SELGW_ERR_CORRUPT);
}

static void test_properties_round_trip(void **state)
{
    (void)state;
    mosquitto_property *props = NULL;
    assert_int_equal(selgw_uplink_properties(123456789012ULL, &props), SELGW_OK);
    char *type = NULL;
    assert_non_null(mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &type, false));
    assert_string_equal(type, "application/vnd.selgw.record");
    free(type);
    char *name = NULL, *value = NULL;
    assert_non_null(
        mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false));
    assert_string_equal(name, "selgw-seq");
    assert_string_equal(value, "123456789012");
    free(name);
    free(value);
    uint64_t seq = 0;
    const char *why = "unset";
    assert_int_equal(selgw_uplink_properties_seq(props, &seq, &why), SELGW_OK);
    assert_true(seq == 123456789012ULL);
    assert_null(why);
    mosquitto_property_free_all(&props);
}

static void expect_refused(mosquitto_property *props, const char *why_expected)
{
    uint64_t seq = 7;
    const char *why = NULL;
    assert_int_equal(selgw_uplink_properties_seq(props, &seq, &why), SELGW_ERR_CORRUPT);
    assert_int_equal(seq, 0);
    assert_non_null(why);
    assert_string_equal(why, why_expected);
    mosquitto_property_free_all(&props);
}

static void test_properties_refused(void **state)
{
    (void)state;
    expect_refused(NULL, "no content type");
    mosquitto_property *p = NULL;
    mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, "application/json");
    mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "selgw-seq", "1");
    expect_refused(p, "content type is not application/vnd.selgw.record");
    p = NULL;
    mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, SELGW_UPLINK_CONTENT_TYPE);
    mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "other", "1");
    expect_refused(p, "no selgw-seq property");
    p = NULL;
    mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, SELGW_UPLINK_CONTENT_TYPE);
    mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "selgw-seq", "1");
    mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "selgw-seq", "2");
    expect_refused(p, "selgw-seq given more than once");
    p = NULL;
    mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, SELGW_UPLINK_CONTENT_TYPE);
    mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "selgw-seq", "0x10");
    expect_refused(p, "selgw-seq is not a sequence number");
    /* other user properties beside it are fine */
    p = NULL;
    mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, SELGW_UPLINK_CONTENT_TYPE);
    mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "trace", "x");
    mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "selgw-seq", "42");
    uint64_t seq = 0;
    assert_int_equal(selgw_uplink_properties_seq(p, &seq, NULL), SELGW_OK);
    assert_int_equal(seq, 42);
    mosquitto_property_free_all(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_topic_gateway),
        cmocka_unit_test(test_seq_text),
        cmocka_unit_test(test_properties_round_trip),
        cmocka_unit_test(test_properties_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
