/* The table of sink kinds and the set of sinks: every kind is complete, the journal's
 * cursor names are the ones the cursor files have always had ("mqtt", "influxdb"), in the
 * order the sinks start, and a config without sinks makes an empty set that starts and
 * stops. (Each sink itself is tested in test_mqtt_sink.c and test_influx_sink.c, and
 * against a server in tests/integration/c/.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sinks/sink.h"

static void test_every_kind_is_complete_and_named_once(void **state)
{
    (void)state;
    size_t n = 0;
    for (const selgw_sink_ops *const *k = selgw_sink_kinds; *k; k++, n++) {
        const selgw_sink_ops *ops = *k;
        assert_non_null(ops->name);
        assert_true(ops->name[0] != '\0');
        assert_non_null(ops->refused_what);
        assert_non_null(ops->configured);
        assert_non_null(ops->create);
        assert_non_null(ops->start);
        assert_non_null(ops->stop);
        assert_non_null(ops->stats);
        assert_non_null(ops->destroy);
        for (const selgw_sink_ops *const *other = selgw_sink_kinds; other != k; other++)
            assert_string_not_equal((*other)->name, ops->name);
    }
    assert_true(n >= 2);
    assert_true(n <= SELGW_SINK_KINDS_MAX);
}

static void test_cursor_names_follow_the_config(void **state)
{
    (void)state;
    selgw_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *names[SELGW_SINK_KINDS_MAX];
    assert_int_equal(selgw_sink_names(&cfg, names), 0);

    cfg.influxdb.enabled = true;
    assert_int_equal(selgw_sink_names(&cfg, names), 1);
    assert_string_equal(names[0], "influxdb");

    cfg.mqtt.enabled = true;
    assert_int_equal(selgw_sink_names(&cfg, names), 2);
    assert_string_equal(names[0], "mqtt");
    assert_string_equal(names[1], "influxdb");
}

static void test_same_kinds(void **state)
{
    (void)state;
    selgw_config a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    assert_true(selgw_sinks_same_kinds(&a, &b));
    a.mqtt.enabled = b.mqtt.enabled = true;
    assert_true(selgw_sinks_same_kinds(&a, &b));
    b.influxdb.enabled = true;
    assert_false(selgw_sinks_same_kinds(&a, &b));
    a.influxdb.enabled = true;
    a.mqtt.enabled = false;
    assert_false(selgw_sinks_same_kinds(&a, &b));
}

static void test_no_sinks_make_an_empty_set(void **state)
{
    (void)state;
    selgw_config cfg;
    memset(&cfg, 0, sizeof cfg);
    selgw_sinks *set = NULL;
    assert_int_equal(selgw_sinks_new(&cfg, NULL, &set), SELGW_OK);
    assert_non_null(set);
    assert_int_equal(selgw_sinks_start(set), SELGW_OK);
    selgw_sinks_log_totals(set);
    selgw_sinks_stop(set);
    selgw_sinks_free(set);
    selgw_sinks_stop(NULL);
    selgw_sinks_free(NULL);
}

static void test_a_sink_that_cannot_be_made_fails_the_set(void **state)
{
    (void)state;
    selgw_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mqtt.enabled = true;                /* and no host, no journal */
    selgw_sinks *set = (selgw_sinks *)&cfg; /* must be reset to NULL */
    assert_int_equal(selgw_sinks_new(&cfg, NULL, &set), SELGW_ERR_INVALID);
    assert_null(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_is_complete_and_named_once),
        cmocka_unit_test(test_cursor_names_follow_the_config),
        cmocka_unit_test(test_same_kinds),
        cmocka_unit_test(test_no_sinks_make_an_empty_set),
        cmocka_unit_test(test_a_sink_that_cannot_be_made_fails_the_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
