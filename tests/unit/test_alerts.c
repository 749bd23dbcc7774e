/* The alert engine with scripted sequences of readings: a cold night raises once and clears
 * once, hovering at a threshold does not flap, a short dip raises nothing, failed readings
 * neither raise nor clear, a stale sensor and a stuck one, and state kept across a restart
 * (restore, settle) and a reload (reconfigure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alerts.h"
#include "base/clock.h"

#define MIN_NS (60 * SELGW_NS_PER_S)
#define T0 INT64_C(1795960800000000000) /* a spring night, 2026-11-28T... UTC */

/* What the engine reported, copied. */
typedef struct seen {
    selgw_alert_state state;
    selgw_alert_condition condition;
    char rule[64], device[64], plot[64], field[64], unit[16];
    double value, threshold;
    int64_t since_ns, time_ns;
    bool had_why;
} seen;

typedef struct log_t {
    size_t count;
    seen items[64];
} log_t;

static void collect(void *ctx, const selgw_alert_event *ev)
{
    log_t *log = ctx;
    assert_true(log->count < 64);
    seen *s = &log->items[log->count++];
    s->state = ev->state;
    s->condition = ev->condition;
    snprintf(s->rule, sizeof s->rule, "%s", ev->rule);
    snprintf(s->device, sizeof s->device, "%s", ev->device);
    snprintf(s->plot, sizeof s->plot, "%s", ev->plot);
    snprintf(s->field, sizeof s->field, "%s", ev->field);
    snprintf(s->unit, sizeof s->unit, "%s", ev->unit);
    s->value = ev->value;
    s->threshold = ev->threshold;
    s->since_ns = ev->since_ns;
    s->time_ns = ev->time_ns;
    s->had_why = ev->why != NULL;
}

/* A config with two plots (tea, konjac), a device on each, and the rules given. */
typedef struct farm {
    selgw_config cfg;
    selgw_plot plots[2];
    selgw_device devices[2];
    selgw_alert_rule rules[4];
    char *konjac[1];
} farm;

static void farm_init(farm *f)
{
    memset(f, 0, sizeof *f);
    f->plots[0] = (selgw_plot){.id = "tea-1", .crop = "tea"};
    f->plots[1] = (selgw_plot){.id = "konjac-1", .crop = "konjac"};
    f->devices[0] = (selgw_device){.id = "air-1", .plot = 0};
    f->devices[1] = (selgw_device){.id = "soil-1", .plot = 1};
    f->cfg.plots = f->plots;
    f->cfg.plot_count = 2;
    f->cfg.devices = f->devices;
    f->cfg.device_count = 2;
    f->cfg.alerts = f->rules;
    f->konjac[0] = "konjac";
}

/* An engine for the farm's first count rules. */
static selgw_alert_engine *engine_of(farm *f, size_t count)
{
    f->cfg.alert_count = count;
    selgw_alert_engine *e = NULL;
    assert_int_equal(selgw_alert_engine_new(&f->cfg, &e), SELGW_OK);
    return e;
}

static selgw_alert_rule frost_rule(int64_t for_ms)
{
    return (selgw_alert_rule){.id = "tea-frost",
                              .condition = SELGW_ALERT_BELOW,
                              .field = "air_temperature",
                              .threshold = 2,
                              .clear_threshold = 3,
                              .for_ms = for_ms,
                              .clear_for_ms = for_ms};
}

/* A reading of device air-1 (plot tea-1): air_temperature and humidity. */
static selgw_reading air(int64_t t, double temperature, selgw_quality q)
{
    selgw_reading r = {.time_ns = t,
                       .base = "b1",
                       .plot = "tea-1",
                       .crop = "tea",
                       .device = "air-1",
                       .status = q == SELGW_QUALITY_READ_FAILED ? SELGW_ERR_TIMEOUT : SELGW_OK,
                       .field_count = 2};
    r.fields[0] = (selgw_reading_field){"air_temperature", "degC", temperature, q};
    r.fields[1] = (selgw_reading_field){"air_humidity", "%RH", 80, q};
    return r;
}

static void feed(selgw_alert_engine *e, selgw_reading r, log_t *log)
{
    assert_int_equal(selgw_alert_engine_feed(e, &r, collect, log), SELGW_OK);
}

/* A cold night, one reading a minute: 5 degC falling to 1 degC, 40 minutes below 2 degC,
 * then rising to 6 degC. Raised once, 10 minutes after it first went below 2, and cleared
 * once, 10 minutes after it first went above 3. */
static void test_cold_night_raises_once_and_clears_once(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = frost_rule(10 * 60000);
    selgw_alert_engine *e = engine_of(&f, 1);
    log_t log = {0};
    double night[120];
    size_t n = 0;
    for (double v = 5; v > 1.05; v -= 0.25) /* 5.0 .. 1.25 */
        night[n++] = v;
    for (int i = 0; i < 30; i++)
        night[n++] = 1.0;
    for (double v = 1.0; v < 6; v += 0.25)
        night[n++] = v;
    for (int i = 0; i < 15; i++)
        night[n++] = 6;
    int64_t first_below = 0, first_above = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t t = T0 + (int64_t)i * MIN_NS;
        if (!first_below && night[i] < 2)
            first_below = t;
        if (first_below && !first_above && night[i] > 3 && i > 20)
            first_above = t;
        feed(e, air(t, night[i], SELGW_QUALITY_OK), &log);
    }
    assert_int_equal(log.count, 2);
    seen *up = &log.items[0], *down = &log.items[1];
    assert_int_equal(up->state, SELGW_ALERT_RAISED);
    assert_int_equal(up->condition, SELGW_ALERT_BELOW);
    assert_string_equal(up->rule, "tea-frost");
    assert_string_equal(up->device, "air-1");
    assert_string_equal(up->plot, "tea-1");
    assert_string_equal(up->field, "air_temperature");
    assert_string_equal(up->unit, "degC");
    assert_true(up->threshold == 2);
    assert_true(up->since_ns == first_below);
    assert_true(up->time_ns == first_below + 10 * MIN_NS);
    assert_true(up->value < 2);
    assert_int_equal(down->state, SELGW_ALERT_CLEARED);
    assert_true(down->threshold == 3);
    assert_true(down->since_ns == up->time_ns);
    assert_true(down->time_ns == first_above + 10 * MIN_NS);
    assert_true(down->value > 3);
    assert_int_equal(selgw_alert_engine_active_count(e), 0);
    selgw_alert_engine_free(e);
}

/* Hovering at each threshold: 1.9, 2.1, 1.9 ... raises once (no wait), then 2.9, 3.1,
 * 2.9 ... with a 5 minute clearing wait never stays above 3 long enough: no clear, and no
 * second raise. Once it stays above 3 it clears, once. */
static void test_hovering_at_the_threshold_does_not_flap(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = frost_rule(0);
    f.rules[0].clear_for_ms = 5 * 60000;
    selgw_alert_engine *e = engine_of(&f, 1);
    log_t log = {0};
    int64_t t = T0;
    for (int i = 0; i < 60; i++, t += MIN_NS)
        feed(e, air(t, i % 2 ? 2.1 : 1.9, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.items[0].state, SELGW_ALERT_RAISED);
    assert_true(log.items[0].time_ns == T0);
    for (int i = 0; i < 60; i++, t += MIN_NS)
        feed(e, air(t, i % 2 ? 3.1 : 2.9, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 1);
    for (int i = 0; i < 10; i++, t += MIN_NS)
        feed(e, air(t, 3.1, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 2);
    assert_int_equal(log.items[1].state, SELGW_ALERT_CLEARED);
    /* between the thresholds after the clear: nothing */
    for (int i = 0; i < 60; i++, t += MIN_NS)
        feed(e, air(t, i % 2 ? 2.5 : 2.9, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 2);
    selgw_alert_engine_free(e);
}

/* Below the threshold for 9 minutes with a 10 minute rule: nothing. Values between the
 * thresholds end the wait: two 6 minute dips with a 2.5 in between raise nothing either. */
static void test_a_short_dip_raises_nothing(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = frost_rule(10 * 60000);
    selgw_alert_engine *e = engine_of(&f, 1);
    log_t log = {0};
    int64_t t = T0;
    for (int i = 0; i < 10; i++, t += MIN_NS) /* 0..9 min: readings at 0, 1, ... 9 */
        feed(e, air(t, 1.5, SELGW_QUALITY_OK), &log);
    feed(e, air(t, 2.5, SELGW_QUALITY_OK), &log);
    t += MIN_NS;
    for (int i = 0; i < 7; i++, t += MIN_NS)
        feed(e, air(t, 1.5, SELGW_QUALITY_OK), &log);
    feed(e, air(t, 2.0, SELGW_QUALITY_OK), &log); /* at the threshold is not below it */
    t += MIN_NS;
    for (int i = 0; i < 7; i++, t += MIN_NS)
        feed(e, air(t, 1.5, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 0);
    assert_int_equal(selgw_alert_engine_active_count(e), 0);
    selgw_alert_engine_free(e);
}

/* Failed and out-of-range readings neither raise, nor clear, nor restart a wait. */
static void test_failed_readings_neither_raise_nor_clear(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = frost_rule(10 * 60000);
    selgw_alert_engine *e = engine_of(&f, 1);
    log_t log = {0};
    int64_t t = T0;
    feed(e, air(t, 1.0, SELGW_QUALITY_OK), &log);
    for (int i = 1; i <= 9; i++) /* the wait goes on through failed polls */
        feed(e, air(t + i * MIN_NS, NAN, SELGW_QUALITY_READ_FAILED), &log);
    assert_int_equal(log.count, 0);
    feed(e, air(t + 10 * MIN_NS, 1.0, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 1);
    assert_true(log.items[0].since_ns == T0);
    /* a failed read (NaN) and an out-of-range 85 degC do not clear it */
    for (int i = 11; i < 40; i++)
        feed(e,
             air(t + i * MIN_NS, i % 2 ? NAN : 85,
                 i % 2 ? SELGW_QUALITY_READ_FAILED : SELGW_QUALITY_OUT_OF_RANGE),
             &log);
    assert_int_equal(log.count, 1);
    assert_int_equal(selgw_alert_engine_active_count(e), 1);
    selgw_alert_engine_free(e);
}

/* Stale after 3 failed polls in a row (the device as a whole); cleared at the first valid
 * reading; a valid reading between failures starts the count over. */
static void test_stale_after_n_failed_polls_and_cleared_by_a_valid_one(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = (selgw_alert_rule){.id = "stale",
                                    .condition = SELGW_ALERT_STALE,
                                    .threshold = NAN,
                                    .clear_threshold = NAN,
                                    .stale_after = 3};
    selgw_alert_engine *e = engine_of(&f, 1);
    log_t log = {0};
    int64_t t = T0;
    feed(e, air(t, 10, SELGW_QUALITY_OK), &log);
    feed(e, air(t + 1 * MIN_NS, NAN, SELGW_QUALITY_READ_FAILED), &log);
    feed(e, air(t + 2 * MIN_NS, NAN, SELGW_QUALITY_READ_FAILED), &log);
    feed(e, air(t + 3 * MIN_NS, 10, SELGW_QUALITY_OK), &log);
    feed(e, air(t + 4 * MIN_NS, NAN, SELGW_QUALITY_READ_FAILED), &log);
    feed(e, air(t + 5 * MIN_NS, NAN, SELGW_QUALITY_READ_FAILED), &log);
    assert_int_equal(log.count, 0);
    feed(e, air(t + 6 * MIN_NS, NAN, SELGW_QUALITY_READ_FAILED), &log);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.items[0].state, SELGW_ALERT_RAISED);
    assert_int_equal(log.items[0].condition, SELGW_ALERT_STALE);
    assert_true(isnan(log.items[0].value));
    assert_true(isnan(log.items[0].threshold));
    assert_true(log.items[0].since_ns == t + 4 * MIN_NS);
    assert_string_equal(log.items[0].field, "");
    for (int i = 7; i < 30; i++)
        feed(e, air(t + i * MIN_NS, NAN, SELGW_QUALITY_READ_FAILED), &log);
    assert_int_equal(log.count, 1);
    feed(e, air(t + 30 * MIN_NS, 9, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 2);
    assert_int_equal(log.items[1].state, SELGW_ALERT_CLEARED);
    assert_true(log.items[1].since_ns == t + 6 * MIN_NS);
    selgw_alert_engine_free(e);
}

/* Stuck: the same value bit for bit for 30 minutes raises; a change clears; -0.0 is not
 * 0.0 (bit for bit), and failed polls in between neither end nor extend the run. */
static void test_stuck_raised_after_the_duration_and_cleared_by_a_change(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = (selgw_alert_rule){.id = "frozen",
                                    .condition = SELGW_ALERT_STUCK,
                                    .field = "air_temperature",
                                    .threshold = NAN,
                                    .clear_threshold = NAN,
                                    .stuck_for_ms = 30 * 60000};
    selgw_alert_engine *e = engine_of(&f, 1);
    log_t log = {0};
    int64_t t = T0;
    for (int i = 0; i < 30; i++) /* 0..29 min */
        feed(e,
             air(t + i * MIN_NS, i == 10 ? NAN : 7.25,
                 i == 10 ? SELGW_QUALITY_READ_FAILED : SELGW_QUALITY_OK),
             &log);
    assert_int_equal(log.count, 0);
    feed(e, air(t + 30 * MIN_NS, 7.25, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.items[0].condition, SELGW_ALERT_STUCK);
    assert_true(log.items[0].value == 7.25);
    assert_true(log.items[0].since_ns == T0);
    for (int i = 31; i < 90; i++)
        feed(e, air(t + i * MIN_NS, 7.25, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 1);
    feed(e, air(t + 90 * MIN_NS, 7.5, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 2);
    assert_int_equal(log.items[1].state, SELGW_ALERT_CLEARED);
    assert_true(log.items[1].value == 7.5);

    /* 0.0 then -0.0: a change */
    farm g;
    farm_init(&g);
    g.rules[0] = f.rules[0];
    g.cfg.alert_count = 1;
    selgw_alert_engine *e2;
    assert_int_equal(selgw_alert_engine_new(&g.cfg, &e2), SELGW_OK);
    log_t log2 = {0};
    for (int i = 0; i <= 40; i++)
        feed(e2, air(t + i * MIN_NS, i == 20 ? -0.0 : 0.0, SELGW_QUALITY_OK), &log2);
    assert_int_equal(log2.count, 0);
    selgw_alert_engine_free(e2);
    selgw_alert_engine_free(e);
}

/* A rule scoped to konjac watches the konjac plot's device only; a rule whose field a
 * device lacks ignores that device. */
static void test_scope_and_field_choose_the_devices(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = (selgw_alert_rule){.id = "waterlogged",
                                    .condition = SELGW_ALERT_ABOVE,
                                    .field = "air_temperature",
                                    .threshold = 40,
                                    .clear_threshold = 35,
                                    .crop_count = 1,
                                    .crops = f.konjac};
    f.rules[1] = frost_rule(0);
    f.rules[1].field = "soil_moisture"; /* air-1 has none */
    selgw_alert_engine *e = engine_of(&f, 2);
    log_t log = {0};
    feed(e, air(T0, 45, SELGW_QUALITY_OK), &log); /* tea plot: not in scope */
    feed(e, air(T0 + MIN_NS, -5, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 0);
    selgw_reading r = air(T0 + 2 * MIN_NS, 45, SELGW_QUALITY_OK);
    r.plot = "konjac-1";
    r.crop = "konjac";
    r.device = "soil-1";
    feed(e, r, &log);
    assert_int_equal(log.count, 1);
    assert_string_equal(log.items[0].rule, "waterlogged");
    assert_string_equal(log.items[0].device, "soil-1");
    selgw_alert_engine_free(e);
}

static selgw_record alert_record(const char *rule, selgw_alert_state st, double threshold,
                                 int64_t time_ns)
{
    return (selgw_record){.type = SELGW_RECORD_ALERT,
                          .time_ns = time_ns,
                          .base = {"b1", 2},
                          .plot = {"tea-1", 5},
                          .crop = {"tea", 3},
                          .rule = {rule, strlen(rule)},
                          .device = {"air-1", 5},
                          .field = {"air_temperature", 15},
                          .unit = {"degC", 4},
                          .alert_state = st,
                          .alert_condition = SELGW_ALERT_BELOW,
                          .alert_value = 1.5,
                          .alert_threshold = threshold,
                          .alert_since_ns = time_ns - 10 * MIN_NS};
}

/* A restart: an alert raised before (its record restored) is not raised again by the cold
 * readings after the restart, and is cleared by the warm ones; one raised and cleared
 * before stays cleared; one of a rule removed while the gateway was down is cleared at
 * once, with a reason. */
static void test_restart_restores_active_alerts(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = frost_rule(0);
    selgw_alert_engine *e = engine_of(&f, 1);
    selgw_record recs[] = {
        alert_record("tea-frost", SELGW_ALERT_RAISED, 2, T0),
        alert_record("old-rule", SELGW_ALERT_RAISED, 2, T0),
        alert_record("gone-quiet", SELGW_ALERT_RAISED, 2, T0),
        alert_record("gone-quiet", SELGW_ALERT_CLEARED, 3, T0 + MIN_NS),
    };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(selgw_alert_engine_restore(e, &recs[i]), SELGW_OK);
    log_t log = {0};
    assert_int_equal(selgw_alert_engine_settle(e, &f.cfg, collect, &log), SELGW_OK);
    assert_int_equal(log.count, 1);
    assert_string_equal(log.items[0].rule, "old-rule");
    assert_int_equal(log.items[0].state, SELGW_ALERT_CLEARED);
    assert_true(log.items[0].had_why);
    assert_true(log.items[0].since_ns == T0); /* when it was raised */
    assert_int_equal(selgw_alert_engine_active_count(e), 1);
    int64_t t = T0 + 60 * MIN_NS;
    for (int i = 0; i < 10; i++)
        feed(e, air(t + i * MIN_NS, 0.5, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 1);
    feed(e, air(t + 10 * MIN_NS, 4, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 2);
    assert_string_equal(log.items[1].rule, "tea-frost");
    assert_int_equal(log.items[1].state, SELGW_ALERT_CLEARED);
    assert_true(log.items[1].since_ns == T0);
    selgw_alert_engine_free(e);

    /* a restored alert whose threshold is no longer the rule's is cleared at settling */
    assert_int_equal(selgw_alert_engine_new(&f.cfg, &e), SELGW_OK);
    selgw_record other = alert_record("tea-frost", SELGW_ALERT_RAISED, 0, T0);
    assert_int_equal(selgw_alert_engine_restore(e, &other), SELGW_OK);
    log_t log2 = {0};
    assert_int_equal(selgw_alert_engine_settle(e, &f.cfg, collect, &log2), SELGW_OK);
    assert_int_equal(log2.count, 1);
    assert_true(log2.items[0].had_why);
    assert_int_equal(selgw_alert_engine_active_count(e), 0);
    selgw_alert_engine_free(e);
}

/* A reload: an unchanged rule keeps its active alert (nothing reported, the cold goes on
 * without a second raise); a changed one is cleared with a reason; a removed one too. */
static void test_reload_keeps_unchanged_rules_and_clears_the_others(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = frost_rule(0);
    f.rules[1] = frost_rule(0);
    f.rules[1].id = "frost-2";
    f.rules[2] = frost_rule(0);
    f.rules[2].id = "frost-3";
    selgw_alert_engine *e = engine_of(&f, 3);
    log_t log = {0};
    feed(e, air(T0, 1, SELGW_QUALITY_OK), &log);
    assert_int_equal(log.count, 3);
    assert_int_equal(selgw_alert_engine_active_count(e), 3);

    farm g;
    farm_init(&g);
    g.rules[0] = frost_rule(0); /* the same */
    g.rules[1] = frost_rule(0); /* frost-2 with another threshold */
    g.rules[1].id = "frost-2";
    g.rules[1].threshold = 0;
    g.cfg.alert_count = 2; /* frost-3 removed */
    log_t log2 = {0};
    assert_int_equal(selgw_alert_engine_reconfigure(e, &g.cfg, collect, &log2), SELGW_OK);
    assert_int_equal(log2.count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(log2.items[i].state, SELGW_ALERT_CLEARED);
        assert_true(log2.items[i].had_why);
        assert_true(isnan(log2.items[i].value));
        assert_string_not_equal(log2.items[i].rule, "tea-frost");
    }
    assert_int_equal(selgw_alert_engine_active_count(e), 1);
    feed(e, air(T0 + MIN_NS, 1, SELGW_QUALITY_OK), &log2); /* tea-frost: still raised */
    assert_int_equal(log2.count, 2);
    feed(e, air(T0 + 2 * MIN_NS, -1, SELGW_QUALITY_OK), &log2); /* frost-2 anew, below 0 */
    assert_int_equal(log2.count, 3);
    assert_string_equal(log2.items[2].rule, "frost-2");
    assert_int_equal(log2.items[2].state, SELGW_ALERT_RAISED);

    /* a new scope without tea-1's crop: tea-frost is cleared (the state of a rule whose
     * condition is unchanged is kept, but not for a plot out of its scope) */
    char *tea[] = {"tea"};
    g.rules[0].crop_count = 1;
    g.rules[0].crops = g.konjac;
    g.rules[1].crop_count = 1; /* frost-2: now for tea, which tea-1 still is */
    g.rules[1].crops = tea;
    log_t log3 = {0};
    assert_int_equal(selgw_alert_engine_reconfigure(e, &g.cfg, collect, &log3), SELGW_OK);
    assert_int_equal(log3.count, 1);
    assert_string_equal(log3.items[0].rule, "tea-frost");
    assert_true(log3.items[0].had_why);
    assert_int_equal(selgw_alert_engine_active_count(e), 1);

    /* tea-1 now grows konjac: frost-2, for tea, is cleared */
    g.plots[0].crop = "konjac";
    log_t log4 = {0};
    assert_int_equal(selgw_alert_engine_reconfigure(e, &g.cfg, collect, &log4), SELGW_OK);
    assert_int_equal(log4.count, 1);
    assert_string_equal(log4.items[0].rule, "frost-2");
    assert_int_equal(selgw_alert_engine_active_count(e), 0);

    /* raised again on konjac, then the device moves to the other plot: cleared */
    selgw_reading r = air(T0 + 3 * MIN_NS, -1, SELGW_QUALITY_OK);
    r.crop = "konjac";
    feed(e, r, &log4);
    assert_int_equal(log4.count, 2); /* tea-frost (konjac scope) */
    g.devices[0].plot = 1;
    log_t log5 = {0};
    assert_int_equal(selgw_alert_engine_reconfigure(e, &g.cfg, collect, &log5), SELGW_OK);
    assert_int_equal(log5.count, 1);
    assert_true(log5.items[0].had_why);
    assert_int_equal(selgw_alert_engine_active_count(e), 0);
    selgw_alert_engine_free(e);
}

static void test_active_alerts_are_listed(void **state)
{
    (void)state;
    farm f;
    farm_init(&f);
    f.rules[0] = frost_rule(0);
    selgw_alert_engine *e = engine_of(&f, 1);
    log_t log = {0};
    selgw_alert_engine_each_active(e, collect, &log);
    assert_int_equal(log.count, 0);
    feed(e, air(T0, 1, SELGW_QUALITY_OK), &log);
    log_t active = {0};
    selgw_alert_engine_each_active(e, collect, &active);
    assert_int_equal(active.count, 1);
    assert_string_equal(active.items[0].rule, "tea-frost");
    assert_true(active.items[0].value == 1);
    assert_true(active.items[0].threshold == 2);
    selgw_alert_engine_free(e);
    selgw_alert_engine_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cold_night_raises_once_and_clears_once),
        cmocka_unit_test(test_hovering_at_the_threshold_does_not_flap),
        cmocka_unit_test(test_a_short_dip_raises_nothing),
        cmocka_unit_test(test_failed_readings_neither_raise_nor_clear),
        cmocka_unit_test(test_stale_after_n_failed_polls_and_cleared_by_a_valid_one),
        cmocka_unit_test(test_stuck_raised_after_the_duration_and_cleared_by_a_change),
        cmocka_unit_test(test_scope_and_field_choose_the_devices),
        cmocka_unit_test(test_restart_restores_active_alerts),
        cmocka_unit_test(test_reload_keeps_unchanged_rules_and_clears_the_others),
        cmocka_unit_test(test_active_alerts_are_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
