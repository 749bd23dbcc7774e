/* Unit tests of the simulator: the value model, Modbus framing (CRC16, RTU request
 * lengths), fault parsing and a simulated device answering request PDUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "sim/model.h"
#include "sim/sim.h"
#include "sensors/decode.h"

/* A big-endian register from a response PDU. */
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

#define UTC8 480
#define HOUR 3600.0
#define DAY 86400.0
/* 2025-04-01T00:00:00+08:00, a spring day on a tea base. */
#define T0 1743436800.0

/* A field as a profile loader would make it. */
static selgw_field make_field(const char *name, uint8_t function, uint16_t address,
                              selgw_value_type type, double scale, const char *unit, bool ranged,
                              double min, double max)
{
    selgw_field f;
    memset(&f, 0, sizeof f);
    f.name = (char *)name;
    f.function = function;
    f.address = address;
    f.type = type;
    f.order = SELGW_ORDER_ABCD;
    f.scale = scale;
    f.offset = 0;
    f.unit = (char *)unit;
    f.has_min = f.has_max = ranged;
    f.min = min;
    f.max = max;
    return f;
}

static selgw_field soil_fields[9];
static selgw_field odd_fields[8];
static selgw_profile soil_profile, odd_profile;

static void build_profiles(void)
{
    /* The SN-3002 7-in-1 map (function 3, registers 0..8). */
    soil_fields[0] = make_field("soil_moisture", 3, 0, SELGW_TYPE_U16, 0.1, "%", true, 0, 100);
    soil_fields[1] =
        make_field("soil_temperature", 3, 1, SELGW_TYPE_S16, 0.1, "degC", true, -40, 80);
    soil_fields[2] = make_field("soil_ec", 3, 2, SELGW_TYPE_U16, 1, "uS/cm", true, 0, 20000);
    soil_fields[3] = make_field("soil_ph", 3, 3, SELGW_TYPE_U16, 0.1, "pH", true, 3, 9);
    soil_fields[4] = make_field("soil_nitrogen", 3, 4, SELGW_TYPE_U16, 1, "mg/kg", true, 0, 1999);
    soil_fields[5] = make_field("soil_phosphorus", 3, 5, SELGW_TYPE_U16, 1, "mg/kg", true, 0, 1999);
    soil_fields[6] = make_field("soil_potassium", 3, 6, SELGW_TYPE_U16, 1, "mg/kg", true, 0, 1999);
    soil_fields[7] = make_field("soil_salinity", 3, 7, SELGW_TYPE_U16, 1, "mg/L", false, 0, 0);
    soil_fields[8] = make_field("soil_tds", 3, 8, SELGW_TYPE_U16, 1, "mg/L", false, 0, 0);
    soil_profile.name = "test-soil";
    soil_profile.field_count = 9;
    soil_profile.fields = soil_fields;

    /* Greenhouse-ish fields with holes, other functions, 32-bit values and ranges narrow
     * enough that the model's plausible values must be clamped. */
    odd_fields[0] = make_field("air_temperature", 4, 1, SELGW_TYPE_S16, 0.1, "degC", true, 10, 12);
    odd_fields[1] = make_field("air_humidity", 4, 2, SELGW_TYPE_U16, 0.1, "%", true, 0, 99.95);
    odd_fields[2] = make_field("illuminance", 3, 10, SELGW_TYPE_U32, 1, "lx", true, 0, 200000);
    odd_fields[3] = make_field("co2", 4, 3, SELGW_TYPE_U16, 1, "ppm", true, 0, 10000);
    odd_fields[4] = make_field("mystery", 3, 20, SELGW_TYPE_F32, 1, "", false, 0, 0);
    odd_fields[5] = make_field("gadget_level", 3, 22, SELGW_TYPE_S32, 0.01, "m", true, -5, 3);
    odd_fields[6] = make_field("valve_open", 1, 5, SELGW_TYPE_BIT, 1, "", true, 0, 1);
    odd_fields[7] = make_field("leaf_wetness", 3, 30, SELGW_TYPE_U16, 0.1, "%", true, 0, 100);
    odd_profile.name = "test-odd";
    odd_profile.field_count = 8;
    odd_profile.fields = odd_fields;
}

static int setup(void **state)
{
    (void)state;
    build_profiles();
    return 0;
}

/* ---- framing ---- */

static void test_crc16_known_vectors(void **state)
{
    (void)state;
    const uint8_t read1[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x01};
    uint16_t crc = selgw_sim_crc16(read1, sizeof read1);
    assert_int_equal(crc & 0xFF, 0x84); /* sent first */
    assert_int_equal(crc >> 8, 0x0A);
    /* The catalogue check value of CRC-16/MODBUS. */
    assert_int_equal(selgw_sim_crc16((const uint8_t *)"123456789", 9), 0x4B37);
    /* A frame with its CRC appended has a residue of 0. */
    const uint8_t framed[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A};
    assert_int_equal(selgw_sim_crc16(framed, sizeof framed), 0);
    assert_true(selgw_sim_rtu_crc_ok(framed, sizeof framed));
    const uint8_t broken[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0B};
    assert_false(selgw_sim_rtu_crc_ok(broken, sizeof broken));
    assert_int_equal(selgw_sim_crc16(NULL, 0), 0xFFFF);
}

static void test_rtu_request_length(void **state)
{
    (void)state;
    const uint8_t one[] = {0x01};
    assert_int_equal(selgw_sim_rtu_request_length(one, 1), 0);
    for (uint8_t fc = 1; fc <= 6; fc++) {
        const uint8_t req[] = {0x05, fc};
        assert_int_equal(selgw_sim_rtu_request_length(req, 2), 8);
    }
    /* Write multiple registers: the byte count (7th byte) decides. */
    const uint8_t w16[] = {0x01, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0, 0, 0, 0};
    assert_int_equal(selgw_sim_rtu_request_length(w16, 6), 0);
    assert_int_equal(selgw_sim_rtu_request_length(w16, 7), 13);
    const uint8_t w15[] = {0x01, 0x0F, 0x00, 0x00, 0x00, 0x0A, 0x02};
    assert_int_equal(selgw_sim_rtu_request_length(w15, 7), 11);
    /* Functions whose request length is not fixed end by silence. */
    const uint8_t mei[] = {0x01, 0x2B, 0x0E};
    assert_int_equal(selgw_sim_rtu_request_length(mei, 3), -1);
    const uint8_t id[] = {0x01, 0x11};
    assert_int_equal(selgw_sim_rtu_request_length(id, 2), -1);
}

static void test_fault_parse(void **state)
{
    (void)state;
    selgw_sim_fault f;
    char why[160];
    assert_int_equal(selgw_sim_fault_parse("none", &f, why, sizeof why), SELGW_OK);
    assert_int_equal(f.kind, SELGW_SIM_FAULT_NONE);
    assert_int_equal(selgw_sim_fault_parse("silent", &f, why, sizeof why), SELGW_OK);
    assert_int_equal(f.kind, SELGW_SIM_FAULT_SILENT);
    assert_int_equal(selgw_sim_fault_parse("exception", &f, why, sizeof why), SELGW_OK);
    assert_int_equal(f.kind, SELGW_SIM_FAULT_EXCEPTION);
    assert_int_equal(f.arg, 4);
    assert_int_equal(selgw_sim_fault_parse("exception:0x0B", &f, why, sizeof why), SELGW_OK);
    assert_int_equal(f.arg, 11);
    assert_int_equal(selgw_sim_fault_parse("exception:6", &f, why, sizeof why), SELGW_OK);
    assert_int_equal(f.arg, 6);
    assert_int_equal(selgw_sim_fault_parse("slow:250", &f, why, sizeof why), SELGW_OK);
    assert_int_equal(f.kind, SELGW_SIM_FAULT_SLOW);
    assert_int_equal(f.arg, 250);
    assert_int_equal(selgw_sim_fault_parse("corrupt", &f, why, sizeof why), SELGW_OK);
    assert_int_equal(f.kind, SELGW_SIM_FAULT_CORRUPT);

    f.kind = SELGW_SIM_FAULT_CORRUPT;
    const char *bad[] = {"slow",          "slow:",    "slow:-1", "slow:12x", "exception:0",
                         "exception:256", "silent:3", "explode", "",         "Silent",
                         "none:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(selgw_sim_fault_parse(bad[i], &f, why, sizeof why), SELGW_ERR_INVALID);
        assert_true(strlen(why) > 0);
    }
    assert_int_equal(f.kind, SELGW_SIM_FAULT_CORRUPT); /* untouched on failure */
    char text[32];
    selgw_sim_fault slow = {SELGW_SIM_FAULT_SLOW, 40};
    selgw_sim_fault_format(&slow, text, sizeof text);
    assert_string_equal(text, "slow:40");
}

/* ---- the value model ---- */

static void test_quantity_names(void **state)
{
    (void)state;
    assert_int_equal(selgw_model_quantity_of("soil_temperature"), SELGW_MODEL_SOIL_TEMPERATURE);
    assert_int_equal(selgw_model_quantity_of("air_temperature"), SELGW_MODEL_AIR_TEMPERATURE);
    assert_int_equal(selgw_model_quantity_of("temperature"), SELGW_MODEL_AIR_TEMPERATURE);
    assert_int_equal(selgw_model_quantity_of("soil_moisture"), SELGW_MODEL_SOIL_MOISTURE);
    assert_int_equal(selgw_model_quantity_of("vwc"), SELGW_MODEL_SOIL_MOISTURE);
    assert_int_equal(selgw_model_quantity_of("soil_ec"), SELGW_MODEL_SOIL_EC);
    assert_int_equal(selgw_model_quantity_of("soil_ph"), SELGW_MODEL_SOIL_PH);
    assert_int_equal(selgw_model_quantity_of("phosphorus"), SELGW_MODEL_PHOSPHORUS);
    assert_int_equal(selgw_model_quantity_of("soil_nitrogen"), SELGW_MODEL_NITROGEN);
    assert_int_equal(selgw_model_quantity_of("air_humidity"), SELGW_MODEL_AIR_HUMIDITY);
    assert_int_equal(selgw_model_quantity_of("co2"), SELGW_MODEL_CO2);
    assert_int_equal(selgw_model_quantity_of("illuminance"), SELGW_MODEL_ILLUMINANCE);
    assert_int_equal(selgw_model_quantity_of("mystery"), SELGW_MODEL_UNKNOWN);
    assert_int_equal(selgw_model_quantity_of("phase"), SELGW_MODEL_UNKNOWN); /* not "ph" */
}

static void test_deterministic(void **state)
{
    (void)state;
    uint64_t a = selgw_model_device_seed(7, "p01-soil-1");
    assert_true(a == selgw_model_device_seed(7, "p01-soil-1"));
    uint64_t b = selgw_model_device_seed(7, "p01-soil-2");
    uint64_t c = selgw_model_device_seed(8, "p01-soil-1");
    assert_true(a != b && a != c);
    bool differs = false;
    for (size_t i = 0; i < soil_profile.field_count; i++) {
        for (double t = T0; t < T0 + 3 * DAY; t += 1234.5) {
            double v1 = selgw_model_value(&soil_fields[i], a, UTC8, t);
            double v2 = selgw_model_value(&soil_fields[i], a, UTC8, t);
            assert_true(v1 == v2);
            if (v1 != selgw_model_value(&soil_fields[i], b, UTC8, t))
                differs = true;
        }
    }
    assert_true(differs); /* two probes of the same model do not report identical values */

    /* The same through the device: identical registers for the same seed and time. */
    selgw_sim_device *d1 = selgw_sim_device_new(&soil_profile, a, UTC8);
    selgw_sim_device *d2 = selgw_sim_device_new(&soil_profile, a, UTC8);
    assert_non_null(d1);
    assert_non_null(d2);
    const uint8_t req[] = {3, 0, 0, 0, 9};
    uint8_t r1[SELGW_SIM_MAX_PDU], r2[SELGW_SIM_MAX_PDU];
    size_t n1, n2;
    assert_int_equal(selgw_sim_device_reply(d1, req, sizeof req, T0 + 5000, r1, &n1), SELGW_OK);
    assert_int_equal(selgw_sim_device_reply(d2, req, sizeof req, T0 + 5000, r2, &n2), SELGW_OK);
    assert_int_equal(n1, 2 + 18);
    assert_int_equal(n1, n2);
    assert_memory_equal(r1, r2, n1);
    selgw_sim_device_free(d1);
    selgw_sim_device_free(d2);
}

/* Every value of every field, directly and after the round trip through the registers a
 * device sends, lies within the field's valid range over two weeks of simulated time. */
static void check_profile_ranges(const selgw_profile *p)
{
    for (uint64_t run_seed = 1; run_seed <= 5; run_seed++) {
        uint64_t seed = selgw_model_device_seed(run_seed, p->name);
        selgw_sim_device *dev = selgw_sim_device_new(p, seed, UTC8);
        assert_non_null(dev);
        for (double t = T0; t < T0 + 14 * DAY; t += 1111.0) {
            for (size_t i = 0; i < p->field_count; i++) {
                const selgw_field *f = &p->fields[i];
                if (f->type == SELGW_TYPE_BIT) {
                    uint8_t bit = selgw_model_bit(f, seed, UTC8, t);
                    assert_true(bit == 0 || bit == 1);
                    continue;
                }
                double v = selgw_model_value(f, seed, UTC8, t);
                assert_true(isfinite(v));
                double lo = f->has_min ? f->min : (f->has_max ? f->max - 100.0 : 0.0);
                double hi = f->has_max ? f->max : lo + 100.0;
                if (selgw_model_quantity_of(f->name) == SELGW_MODEL_UNKNOWN || f->has_min)
                    assert_true(v >= lo);
                if (selgw_model_quantity_of(f->name) == SELGW_MODEL_UNKNOWN || f->has_max)
                    assert_true(v <= hi);

                /* What a gateway decodes from the device's answer. */
                unsigned n = selgw_type_registers(f->type);
                uint8_t req[5] = {f->function, (uint8_t)(f->address >> 8),
                                  (uint8_t)(f->address & 0xFF), 0, (uint8_t)n};
                uint8_t rsp[SELGW_SIM_MAX_PDU];
                size_t rsp_len;
                assert_int_equal(selgw_sim_device_reply(dev, req, 5, t, rsp, &rsp_len), SELGW_OK);
                assert_int_equal(rsp[0], f->function);
                assert_int_equal(rsp_len, 2 + 2 * n);
                uint16_t regs[4];
                for (unsigned k = 0; k < n; k++)
                    regs[k] = get16(rsp + 2 + 2 * k);
                double decoded;
                assert_int_equal(selgw_decode_registers(f, regs, n, NULL, &decoded),
                                 SELGW_QUALITY_OK);
                assert_true(fabs(decoded - v) <= fabs(f->scale) * 1.0001 + 1e-6);
            }
        }
        selgw_sim_device_free(dev);
    }
}

static void test_ranges_respected(void **state)
{
    (void)state;
    check_profile_ranges(&soil_profile);
    check_profile_ranges(&odd_profile);
}

/* The same for every shipped profile (sensors/profiles). */
static void test_ranges_shipped_profiles(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag = selgw_diag_new();
    assert_non_null(set);
    assert_non_null(diag);
    selgw_err e = selgw_profile_set_load_builtin(set, diag);
    if (e != SELGW_OK)
        selgw_diag_print(diag, stderr);
    assert_int_equal(e, SELGW_OK);
    assert_true(selgw_profile_set_count(set) > 0);
    for (size_t i = 0; i < selgw_profile_set_count(set); i++)
        check_profile_ranges(selgw_profile_set_at(set, i));
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

static void test_values_plausible(void **state)
{
    (void)state;
    uint64_t seed = selgw_model_device_seed(1, "plausible");
    const selgw_field *moist = &soil_fields[0], *ph = &soil_fields[3];
    selgw_field air =
        make_field("air_temperature", 4, 0, SELGW_TYPE_S16, 0.1, "degC", true, -40, 80);
    selgw_field soil = soil_fields[1];
    for (double t = T0; t < T0 + 10 * DAY; t += 600) {
        double a = selgw_model_value(&air, seed, UTC8, t);
        assert_true(a > 3 && a < 31);
        double s = selgw_model_value(&soil, seed, UTC8, t);
        assert_true(s > 12 && s < 22);
        double m = selgw_model_value(moist, seed, UTC8, t);
        assert_true(m > 14 && m < 41);
        double p = selgw_model_value(ph, seed, UTC8, t);
        assert_true(p >= 5.0 && p <= 6.0); /* tea soil is acid */
    }
}

static void test_daily_cycle(void **state)
{
    (void)state;
    selgw_field air =
        make_field("air_temperature", 4, 0, SELGW_TYPE_S16, 0.1, "degC", true, -40, 80);
    selgw_field lux = make_field("illuminance", 3, 0, SELGW_TYPE_U32, 1, "lx", true, 0, 200000);
    selgw_field co2 = make_field("co2", 4, 3, SELGW_TYPE_U16, 1, "ppm", true, 0, 10000);
    selgw_field rh = make_field("air_humidity", 4, 1, SELGW_TYPE_U16, 0.1, "%", true, 0, 100);
    for (uint64_t s = 1; s <= 20; s++) {
        uint64_t seed = selgw_model_device_seed(s, "greenhouse");
        for (int day = 0; day < 30; day++) {
            double midnight = T0 + day * DAY; /* local midnight */
            double at05 = midnight + 5 * HOUR, at14 = midnight + 14 * HOUR;
            double at02 = midnight + 2 * HOUR, at12 = midnight + 12.5 * HOUR;
            assert_true(selgw_model_value(&air, seed, UTC8, at14) >
                        selgw_model_value(&air, seed, UTC8, at05) + 8);
            assert_true(selgw_model_value(&rh, seed, UTC8, at14) <
                        selgw_model_value(&rh, seed, UTC8, at05));
            assert_true(selgw_model_value(&lux, seed, UTC8, at02) == 0);
            assert_true(selgw_model_value(&lux, seed, UTC8, at12) > 10000);
            assert_true(selgw_model_value(&co2, seed, UTC8, at02) >
                        selgw_model_value(&co2, seed, UTC8, at12) + 300);
            /* Soil lags: it is still warming at 15:00 while the air cools. */
            assert_true(selgw_model_value(&soil_fields[1], seed, UTC8, midnight + 16 * HOUR) >
                        selgw_model_value(&soil_fields[1], seed, UTC8, midnight + 13 * HOUR));
        }
        /* The coldest hour of a day is near 05:00, the warmest near 14:00 (local). */
        double coldest = 0, warmest = 0, cmin = 1e9, cmax = -1e9;
        for (double h = 0; h < 24; h += 0.25) {
            double v = selgw_model_value(&air, seed, UTC8, T0 + 3 * DAY + h * HOUR);
            if (v < cmin) {
                cmin = v;
                coldest = h;
            }
            if (v > cmax) {
                cmax = v;
                warmest = h;
            }
        }
        assert_true(coldest >= 4 && coldest <= 6);
        assert_true(warmest >= 13 && warmest <= 15);
    }
}

static void test_irrigation_jump(void **state)
{
    (void)state;
    const selgw_field *moist = &soil_fields[0];
    const selgw_field *ec = &soil_fields[2];
    for (uint64_t s = 1; s <= 10; s++) {
        uint64_t seed = selgw_model_device_seed(s, "p01-soil");
        double period = selgw_model_irrigation_period_s(seed);
        assert_true(period >= 24 * HOUR && period <= 48 * HOUR);
        double t = T0;
        for (int k = 0; k < 5; k++) {
            double irr = selgw_model_next_irrigation(seed, t);
            assert_true(irr > t);
            assert_true(irr - t <= period + 1e-6);
            double before = selgw_model_value(moist, seed, UTC8, irr - 60);
            double after = selgw_model_value(moist, seed, UTC8, irr + 60);
            assert_true(after > before + 10); /* the jump */
            /* Then it dries: lower an hour later, lower still six hours later. */
            double later = selgw_model_value(moist, seed, UTC8, irr + HOUR);
            double much_later = selgw_model_value(moist, seed, UTC8, irr + 6 * HOUR);
            assert_true(later < after);
            assert_true(much_later < later);
            /* EC follows moisture. */
            assert_true(selgw_model_value(ec, seed, UTC8, irr + 60) >
                        selgw_model_value(ec, seed, UTC8, irr - 60));
            t = irr + 1;
        }
    }
    /* Devices water at different times: per-device phase. */
    double i1 = selgw_model_next_irrigation(selgw_model_device_seed(1, "a"), T0);
    double i2 = selgw_model_next_irrigation(selgw_model_device_seed(1, "b"), T0);
    double i3 = selgw_model_next_irrigation(selgw_model_device_seed(1, "c"), T0);
    assert_false(i1 == i2 && i2 == i3);
}

/* ---- a device answering PDUs ---- */

static size_t ask(selgw_sim_device *dev, const uint8_t *req, size_t len, uint8_t *rsp)
{
    size_t n = 0;
    assert_int_equal(selgw_sim_device_reply(dev, req, len, T0 + 3600, rsp, &n), SELGW_OK);
    return n;
}

static void test_device_reads(void **state)
{
    (void)state;
    selgw_sim_device *dev = selgw_sim_device_new(&odd_profile, 42, UTC8);
    assert_non_null(dev);
    uint8_t rsp[SELGW_SIM_MAX_PDU];

    /* A read spanning the hole 12..19 and ending in the f32 at 20..21: holes read 0. */
    const uint8_t span[] = {3, 0, 10, 0, 12};
    assert_int_equal(ask(dev, span, 5, rsp), 2 + 24);
    assert_int_equal(rsp[0], 3);
    assert_int_equal(rsp[1], 24);
    for (int r = 2; r < 10; r++)
        assert_int_equal(get16(rsp + 2 + 2 * r), 0);
    /* Reading only the second word of the u32 illuminance is allowed (it overlaps). */
    const uint8_t half[] = {3, 0, 11, 0, 1};
    assert_int_equal(ask(dev, half, 5, rsp), 4);

    /* Entirely outside every function-3 field: illegal data address. */
    const uint8_t outside[] = {3, 0, 12, 0, 8};
    assert_int_equal(ask(dev, outside, 5, rsp), 2);
    assert_int_equal(rsp[0], 0x83);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_ADDRESS);
    /* Registers of function 4 do not count for function 3. */
    const uint8_t wrong_fc[] = {3, 0, 1, 0, 3};
    ask(dev, wrong_fc, 5, rsp);
    assert_int_equal(rsp[0], 0x83);
    const uint8_t input[] = {4, 0, 0, 0, 4};
    assert_int_equal(ask(dev, input, 5, rsp), 2 + 8);
    assert_int_equal(get16(rsp + 2), 0); /* register 0 is a hole */
    int16_t temp = (int16_t)get16(rsp + 4);
    assert_true(temp >= 100 && temp <= 120); /* 10..12 degC at 0.1 */
    /* Past the end of the address space. */
    const uint8_t wrap[] = {3, 0xFF, 0xFF, 0, 2};
    ask(dev, wrap, 5, rsp);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_ADDRESS);

    /* Quantity limits. */
    const uint8_t zero[] = {3, 0, 10, 0, 0};
    ask(dev, zero, 5, rsp);
    assert_int_equal(rsp[0], 0x83);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_VALUE);
    const uint8_t many[] = {3, 0, 10, 0, 126};
    ask(dev, many, 5, rsp);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_VALUE);
    const uint8_t max[] = {3, 0, 0, 0, 125};
    assert_int_equal(ask(dev, max, 5, rsp), 2 + 250);
    const uint8_t bits_many[] = {1, 0, 0, 0x07, 0xD1}; /* 2001 */
    ask(dev, bits_many, 5, rsp);
    assert_int_equal(rsp[0], 0x81);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_VALUE);
    const uint8_t bits_max[] = {1, 0, 0, 0x07, 0xD0}; /* 2000 */
    assert_int_equal(ask(dev, bits_max, 5, rsp), 2 + 250);

    /* Coils: bit 5 is the valve; 8 bits from 0 is one byte. */
    const uint8_t coils[] = {1, 0, 0, 0, 8};
    assert_int_equal(ask(dev, coils, 5, rsp), 3);
    assert_int_equal(rsp[2] & ~0x20, 0);
    const uint8_t no_inputs[] = {2, 0, 0, 0, 8};
    ask(dev, no_inputs, 5, rsp);
    assert_int_equal(rsp[0], 0x82);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_ADDRESS);

    /* Unknown function; malformed request. */
    const uint8_t report_id[] = {0x11};
    ask(dev, report_id, 1, rsp);
    assert_int_equal(rsp[0], 0x91);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_FUNCTION);
    const uint8_t short_read[] = {3, 0, 10};
    ask(dev, short_read, 3, rsp);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_VALUE);
    selgw_sim_device_free(dev);
}

/* The air temperature register (function 4, address 1, s16 at 0.1 degC) at time_s. */
static double air_at(selgw_sim_device *dev, double time_s)
{
    const uint8_t req[] = {4, 0, 1, 0, 1};
    uint8_t rsp[SELGW_SIM_MAX_PDU];
    size_t n = 0;
    assert_int_equal(selgw_sim_device_reply(dev, req, sizeof req, time_s, rsp, &n), SELGW_OK);
    assert_int_equal(n, 4);
    return (int16_t)get16(rsp + 2) * 0.1;
}

/* The cold night: -1 degC at 02:00 local, 12 at 14:00, below 2 from before 23:00 to after
 * 05:00, above 3 by 07:00; and the device reports it for its air temperature only. */
static void test_cold_night_scenario(void **state)
{
    (void)state;
    double midnight = 1796140800; /* 2026-12-02T00:00:00+08:00 */
    assert_true(fabs(selgw_model_cold_night(UTC8, midnight + 2 * 3600) - -1) < 1e-9);
    assert_true(fabs(selgw_model_cold_night(UTC8, midnight + 14 * 3600) - 12) < 1e-9);
    assert_true(selgw_model_cold_night(UTC8, midnight - 3600) < 2);     /* 23:00 */
    assert_true(selgw_model_cold_night(UTC8, midnight + 5 * 3600) < 2); /* 05:00 */
    assert_true(selgw_model_cold_night(UTC8, midnight + 7 * 3600) > 3); /* 07:00 */
    assert_true(selgw_model_cold_night(UTC8, midnight - 3 * 3600) > 3); /* 21:00 */
    assert_true(selgw_model_cold_night(0, midnight + 2 * 3600) > 3);    /* 02:00 UTC = 10:00 */

    selgw_sim_device *dev = selgw_sim_device_new(&odd_profile, 42, UTC8);
    assert_non_null(dev);
    double model = air_at(dev, midnight + 2 * 3600);
    assert_true(model >= 10 && model <= 12); /* the model keeps the field's range */
    selgw_sim_device_set_scenario(dev, SELGW_SIM_SCENARIO_COLD_NIGHT);
    assert_true(fabs(air_at(dev, midnight + 2 * 3600) - -1) < 0.051);
    selgw_sim_scenario sc;
    assert_int_equal(selgw_sim_scenario_parse("cold-night", &sc), SELGW_OK);
    assert_int_equal(sc, SELGW_SIM_SCENARIO_COLD_NIGHT);
    assert_int_equal(selgw_sim_scenario_parse("cold", &sc), SELGW_ERR_INVALID);
    selgw_sim_device_free(dev);
}

/* Scripted values: a value replaces the model's; a frozen field keeps the value it had
 * when frozen (freezing again does not move it); clearing returns to the model. */
static void test_scripted_values(void **state)
{
    (void)state;
    selgw_sim_device *dev = selgw_sim_device_new(&odd_profile, 42, UTC8);
    assert_non_null(dev);
    double t = T0;
    assert_int_equal(selgw_sim_device_set_value(dev, "air_temperature", 1.5), SELGW_OK);
    assert_true(fabs(air_at(dev, t) - 1.5) < 1e-9);
    assert_true(fabs(air_at(dev, t + 86400 / 2) - 1.5) < 1e-9);
    assert_int_equal(selgw_sim_device_set_value(dev, "no_such_field", 1), SELGW_ERR_INVALID);
    selgw_sim_device_clear_script(dev);
    double at_6h = air_at(dev, t + 6 * 3600), at_12h = air_at(dev, t + 12 * 3600);
    assert_true(at_6h != at_12h); /* the model moves */
    assert_int_equal(selgw_sim_device_freeze(dev, NULL, t + 6 * 3600), SELGW_OK);
    assert_true(air_at(dev, t + 12 * 3600) == at_6h);
    assert_int_equal(selgw_sim_device_freeze(dev, "air_temperature", t + 12 * 3600), SELGW_OK);
    assert_true(air_at(dev, t + 18 * 3600) == at_6h);
    selgw_sim_device_clear_script(dev);
    assert_true(air_at(dev, t + 12 * 3600) == at_12h);
    selgw_sim_device_free(dev);
}

static void test_device_writes(void **state)
{
    (void)state;
    selgw_sim_device *dev = selgw_sim_device_new(&soil_profile, 9, UTC8);
    assert_non_null(dev);
    uint8_t rsp[SELGW_SIM_MAX_PDU];

    /* Before any write the re-addressing register is outside every field. */
    const uint8_t read_addr[] = {3, 0x07, 0xD0, 0, 2};
    ask(dev, read_addr, 5, rsp);
    assert_int_equal(rsp[0], 0x83);

    /* Write single register: echoed, then read back. */
    const uint8_t w6[] = {6, 0x07, 0xD0, 0x00, 0x05};
    assert_int_equal(ask(dev, w6, 5, rsp), 5);
    assert_memory_equal(rsp, w6, 5);
    assert_int_equal(ask(dev, read_addr, 5, rsp), 6);
    assert_int_equal(get16(rsp + 2), 5);
    assert_int_equal(get16(rsp + 4), 0); /* never written: 0 */

    /* Write multiple registers. */
    const uint8_t w16[] = {16, 0x07, 0xD0, 0, 2, 4, 0x00, 0x07, 0x00, 0x02};
    assert_int_equal(ask(dev, w16, sizeof w16, rsp), 5);
    assert_memory_equal(rsp, w16, 5);
    ask(dev, read_addr, 5, rsp);
    assert_int_equal(get16(rsp + 2), 7);
    assert_int_equal(get16(rsp + 4), 2);

    /* Byte count that does not match the quantity. */
    const uint8_t bad16[] = {16, 0, 0, 0, 2, 2, 0, 1};
    ask(dev, bad16, sizeof bad16, rsp);
    assert_int_equal(rsp[0], 0x90);
    assert_int_equal(rsp[1], SELGW_SIM_EX_ILLEGAL_VALUE);

    /* A written measurement register reads back as written. */
    const uint8_t w_moist[] = {6, 0, 0, 0x01, 0x2C};
    ask(dev, w_moist, 5, rsp);
    const uint8_t r_moist[] = {3, 0, 0, 0, 1};
    ask(dev, r_moist, 5, rsp);
    assert_int_equal(get16(rsp + 2), 300);
    selgw_sim_device_free(dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_known_vectors),
        cmocka_unit_test(test_rtu_request_length),
        cmocka_unit_test(test_fault_parse),
        cmocka_unit_test(test_quantity_names),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_ranges_respected),
        cmocka_unit_test(test_ranges_shipped_profiles),
        cmocka_unit_test(test_values_plausible),
        cmocka_unit_test(test_daily_cycle),
        cmocka_unit_test(test_irrigation_jump),
        cmocka_unit_test(test_device_reads),
        cmocka_unit_test(test_device_writes),
        cmocka_unit_test(test_cold_night_scenario),
        cmocka_unit_test(test_scripted_values),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
