/* The MQTT sink's pure parts: the topic builder, and the configs a sink refuses to be made
 * with. Delivery against a real broker is tests/integration/c/test_mqtt_delivery.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "journal/journal.h"
#include "journal/record.h"
#include "sinks/mqtt_delivery.h"
#include "sinks/mqtt_sink.h"
#include "test_farm.h"
#include "test_sink_configs.h"
#include "test_util.h"

#define GATEWAY "gw-1"

/* ---- topic builder ------------------------------------------------------------------------ */

static selgw_record reading_record(const char *base, const char *plot, const char *device)
{
    selgw_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = SELGW_RECORD_READING;
    rec.gateway = (selgw_str){GATEWAY, strlen(GATEWAY)};
    rec.base = (selgw_str){base, strlen(base)};
    rec.plot = (selgw_str){plot, strlen(plot)};
    rec.device = (selgw_str){device, strlen(device)};
    return rec;
}

static void test_topic_reading_and_event(void **state)
{
    (void)state;
    char buf[128];
    selgw_record rec = reading_record("ziyang-hanwang", "hw-p01", "soil-1");
    const char *want = "selgw/ziyang-hanwang/hw-p01/soil-1";
    assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), strlen(want));
    assert_string_equal(buf, want);
    /* several levels in the prefix */
    assert_int_equal(selgw_mqtt_topic("farm/selgw", &rec, buf, sizeof buf), strlen(want) + 5);
    assert_string_equal(buf, "farm/selgw/ziyang-hanwang/hw-p01/soil-1");
    /* events go to <prefix>/<gateway>/event */
    selgw_record ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SELGW_RECORD_GAP;
    ev.gateway = (selgw_str){"gw-1", 4};
    assert_int_equal(selgw_mqtt_topic("selgw", &ev, buf, sizeof buf), strlen("selgw/gw-1/event"));
    assert_string_equal(buf, "selgw/gw-1/event");
    ev.type = SELGW_RECORD_START;
    selgw_mqtt_topic("p", &ev, buf, sizeof buf);
    assert_string_equal(buf, "p/gw-1/event");
}

static void test_topic_truncates_like_snprintf(void **state)
{
    (void)state;
    selgw_record rec = reading_record("b", "p", "d");
    assert_int_equal(selgw_mqtt_topic("x", &rec, NULL, 0), 7);
    char buf[5];
    memset(buf, 'Z', sizeof buf);
    assert_int_equal(selgw_mqtt_topic("x", &rec, buf, sizeof buf), 7);
    assert_string_equal(buf, "x/b/");
    char exact[8];
    assert_int_equal(selgw_mqtt_topic("x", &rec, exact, sizeof exact), 7);
    assert_string_equal(exact, "x/b/p/d");
}

static void test_topic_rejects_wildcards_and_empty_levels(void **state)
{
    (void)state;
    char buf[128];
    const char *bad_ids[] = {"a+b", "#", "a/b", ""};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        selgw_record rec = reading_record("base", "plot", bad_ids[i]);
        assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
        rec = reading_record(bad_ids[i], "plot", "dev");
        assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
        rec = reading_record("base", bad_ids[i], "dev");
        assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
    }
    /* a NUL inside an id (strings in a payload are counted, not terminated) */
    selgw_record rec = reading_record("base", "plot", "dev");
    rec.plot = (selgw_str){"pl\0t", 4};
    assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
    rec.plot = (selgw_str){NULL, 0};
    assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
    /* an event without a gateway */
    selgw_record ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SELGW_RECORD_STOP;
    assert_int_equal(selgw_mqtt_topic("selgw", &ev, buf, sizeof buf), 0);
    /* prefixes */
    rec = reading_record("base", "plot", "dev");
    const char *bad_prefixes[] = {"", "a/+", "a/#", "+", "$SYS", "/abs", "trailing/", "a//b"};
    for (size_t i = 0; i < sizeof bad_prefixes / sizeof bad_prefixes[0]; i++)
        assert_int_equal(selgw_mqtt_topic(bad_prefixes[i], &rec, buf, sizeof buf), 0);
    assert_int_equal(selgw_mqtt_topic(NULL, &rec, buf, sizeof buf), 0);
    assert_int_equal(selgw_mqtt_topic("selgw", NULL, buf, sizeof buf), 0);
}

static selgw_record alert_record(const char *rule, const char *device)
{
    selgw_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = SELGW_RECORD_ALERT;
    rec.gateway = (selgw_str){"gw-1", 4};
    rec.base = (selgw_str){"ziyang-hanwang", 14};
    rec.plot = (selgw_str){"hw-p01", 6};
    rec.rule = (selgw_str){rule, strlen(rule)};
    rec.device = (selgw_str){device, strlen(device)};
    rec.alert_state = SELGW_ALERT_RAISED;
    return rec;
}

/* An alert goes below its plot, one topic per rule and device (one retained message each);
 * the rule and device levels are checked like the others. */
static void test_topic_alert(void **state)
{
    (void)state;
    char buf[128];
    selgw_record rec = alert_record("tea-frost", "p01-air");
    const char *want = "selgw/ziyang-hanwang/hw-p01/alert/tea-frost/p01-air";
    assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), strlen(want));
    assert_string_equal(buf, want);
    rec.alert_state = SELGW_ALERT_CLEARED; /* the same topic: the clear replaces the raise */
    assert_int_equal(selgw_mqtt_topic("farm/x", &rec, buf, sizeof buf), strlen(want) - 5 + 6);
    assert_string_equal(buf, "farm/x/ziyang-hanwang/hw-p01/alert/tea-frost/p01-air");
    assert_int_equal(selgw_mqtt_topic("x", &rec, NULL, 0), strlen(want) - 4);
    const char *bad_ids[] = {"a+b", "#", "a/b", ""};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        rec = alert_record(bad_ids[i], "dev");
        assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
        rec = alert_record("rule", bad_ids[i]);
        assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
        rec = alert_record("rule", "dev");
        rec.plot = (selgw_str){bad_ids[i], strlen(bad_ids[i])};
        assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
        rec = alert_record("rule", "dev");
        rec.base = (selgw_str){bad_ids[i], strlen(bad_ids[i])};
        assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
    }
    rec = alert_record("ru\0le", "dev");
    rec.rule.len = 5;
    assert_int_equal(selgw_mqtt_topic("selgw", &rec, buf, sizeof buf), 0);
}

/* Needs a journal, but no broker: the sink is never started. */
static void test_new_rejects_bad_config(void **state)
{
    (void)state;
    test_scratch_journal j;
    test_scratch_journal_init(&j, "mqtt-config", NULL);
    test_scratch_journal_open(&j, SELGW_MQTT_SINK_NAME);
    selgw_journal *journal = j.journal;
    selgw_mqtt_sink *sink = (selgw_mqtt_sink *)&j; /* must be reset to NULL */
    selgw_mqtt_config cfg = test_mqtt_config(1883, 7);
    assert_int_equal(selgw_mqtt_sink_new(&cfg, GATEWAY, journal, &sink), SELGW_ERR_INVALID);
    assert_null(sink);
    cfg = test_mqtt_config(1883, 5);
    cfg.topic_prefix = "a/#";
    assert_int_equal(selgw_mqtt_sink_new(&cfg, GATEWAY, journal, &sink), SELGW_ERR_INVALID);
    /* The defaults are the config loader's: a config built without them is incomplete. */
    cfg = test_mqtt_config(1883, 5);
    cfg.client_id = NULL;
    assert_int_equal(selgw_mqtt_sink_new(&cfg, GATEWAY, journal, &sink), SELGW_ERR_INVALID);
    cfg = test_mqtt_config(1883, 5);
    cfg.keepalive_s = 0;
    assert_int_equal(selgw_mqtt_sink_new(&cfg, GATEWAY, journal, &sink), SELGW_ERR_INVALID);
    cfg = test_mqtt_config(1883, 5);
    assert_int_equal(selgw_mqtt_sink_new(&cfg, "gw/1", journal, &sink), SELGW_ERR_INVALID);
    cfg.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(selgw_mqtt_sink_new(&cfg, GATEWAY, journal, &sink), SELGW_ERR_CONFIG);
    assert_null(sink);
    /* a valid one that is never started */
    cfg = test_mqtt_config(1883, 311);
    cfg.username = "farm";
    cfg.password = "secret";
    assert_int_equal(selgw_mqtt_sink_new(&cfg, GATEWAY, journal, &sink), SELGW_OK);
    selgw_mqtt_sink_stop(sink);
    selgw_mqtt_sink_free(sink);
    selgw_mqtt_sink_free(NULL);
    test_scratch_journal_close(&j);
}

/* The part of the config both the MQTT sink and the evidence uplink deliver with. */
static void test_delivery_config_problem(void **state)
{
    (void)state;
    selgw_mqtt_config cfg = test_mqtt_config(1883, 5);
    assert_null(selgw_mqtt_delivery_config_problem(&cfg));
    cfg.host = "";
    assert_string_equal(selgw_mqtt_delivery_config_problem(&cfg), "host is missing");
    cfg = test_mqtt_config(1883, 5);
    cfg.max_inflight = 0;
    assert_string_equal(selgw_mqtt_delivery_config_problem(&cfg),
                        "max_inflight is outside 1..65535");
    cfg = test_mqtt_config(1883, 5);
    cfg.reconnect_min_ms = cfg.reconnect_max_ms + 1;
    assert_string_equal(selgw_mqtt_delivery_config_problem(&cfg),
                        "reconnect_min_ms must be positive and <= reconnect_max_ms");
    cfg = test_mqtt_config(1883, 5);
    cfg.cert_file = "client.pem";
    assert_string_equal(selgw_mqtt_delivery_config_problem(&cfg),
                        "cert_file and key_file go together");
    cfg.key_file = "client.key";
    assert_string_equal(selgw_mqtt_delivery_config_problem(&cfg),
                        "a client certificate needs ca_file (TLS)");
    cfg.ca_file = "ca.pem";
    assert_null(selgw_mqtt_delivery_config_problem(&cfg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_reading_and_event),
        cmocka_unit_test(test_topic_alert),
        cmocka_unit_test(test_topic_truncates_like_snprintf),
        cmocka_unit_test(test_topic_rejects_wildcards_and_empty_levels),
        cmocka_unit_test(test_new_rejects_bad_config),
        cmocka_unit_test(test_delivery_config_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
