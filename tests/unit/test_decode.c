/* Unit tests of sensors/decode.c: every type in every byte order from known byte patterns,
 * sign edges, scale/offset, calibration, range checks, bits, and encode as the inverse. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sensors/decode.h"

#define assert_double_exact(actual, expected)                                                      \
    do {                                                                                           \
        double actual_v = (actual), expected_v = (expected);                                       \
        if (!(actual_v == expected_v))                                                             \
            fail_msg("%s = %.17g, expected %.17g", #actual, actual_v, expected_v);                 \
    } while (0)

#define assert_double_near(actual, expected, tolerance)                                            \
    do {                                                                                           \
        double actual_v = (actual), expected_v = (expected);                                       \
        if (!(fabs(actual_v - expected_v) <= (tolerance)))                                         \
            fail_msg("%s = %.17g, expected %.17g +- %g", #actual, actual_v, expected_v,            \
                     (double)(tolerance));                                                         \
    } while (0)

static const selgw_value_type all_register_types[] = {
    SELGW_TYPE_U16, SELGW_TYPE_S16, SELGW_TYPE_U32, SELGW_TYPE_S32,
    SELGW_TYPE_U64, SELGW_TYPE_S64, SELGW_TYPE_F32, SELGW_TYPE_F64,
};
static const selgw_byte_order all_orders[] = {
    SELGW_ORDER_ABCD,
    SELGW_ORDER_CDAB,
    SELGW_ORDER_BADC,
    SELGW_ORDER_DCBA,
};

static selgw_field make_field(selgw_value_type type, selgw_byte_order order)
{
    selgw_field f;
    memset(&f, 0, sizeof f);
    f.name = "value";
    f.function = type == SELGW_TYPE_BIT ? 1 : 3;
    f.type = type;
    f.order = order;
    f.scale = 1.0;
    f.offset = 0.0;
    f.unit = "";
    return f;
}

static selgw_field make_ranged(selgw_value_type type, double scale, double min, double max)
{
    selgw_field f = make_field(type, SELGW_ORDER_ABCD);
    f.scale = scale;
    f.has_min = f.has_max = true;
    f.min = min;
    f.max = max;
    return f;
}

/* Decodes with no calibration and asserts quality OK. */
static double decode_ok(const selgw_field *f, const uint16_t *regs, size_t nregs)
{
    double v = -999999.0;
    selgw_quality q = selgw_decode_registers(f, regs, nregs, NULL, &v);
    assert_int_equal(q, SELGW_QUALITY_OK);
    return v;
}

static void test_quality_names(void **state)
{
    (void)state;
    assert_string_equal(selgw_quality_name(SELGW_QUALITY_OK), "ok");
    assert_string_equal(selgw_quality_name(SELGW_QUALITY_OUT_OF_RANGE), "out_of_range");
    assert_string_equal(selgw_quality_name(SELGW_QUALITY_READ_FAILED), "read_failed");
    assert_non_null(selgw_quality_name((selgw_quality)42));
}

static void test_type_registers(void **state)
{
    (void)state;
    assert_int_equal(selgw_type_registers(SELGW_TYPE_BIT), 0);
    assert_int_equal(selgw_type_registers(SELGW_TYPE_U16), 1);
    assert_int_equal(selgw_type_registers(SELGW_TYPE_S16), 1);
    assert_int_equal(selgw_type_registers(SELGW_TYPE_U32), 2);
    assert_int_equal(selgw_type_registers(SELGW_TYPE_S32), 2);
    assert_int_equal(selgw_type_registers(SELGW_TYPE_F32), 2);
    assert_int_equal(selgw_type_registers(SELGW_TYPE_U64), 4);
    assert_int_equal(selgw_type_registers(SELGW_TYPE_S64), 4);
    assert_int_equal(selgw_type_registers(SELGW_TYPE_F64), 4);
}

/* 16 bits: ABCD and CDAB read the register as is, BADC and DCBA swap its bytes. */
static void test_16bit_orders(void **state)
{
    (void)state;
    const uint16_t reg[] = {0x1234};
    const uint16_t neg[] = {0xFF9B};
    const uint16_t neg_swapped[] = {0x9BFF};
    struct {
        selgw_byte_order order;
        double u16, s16_neg, s16_neg_swapped;
    } cases[] = {
        {SELGW_ORDER_ABCD, 0x1234, -101, -25601},
        {SELGW_ORDER_CDAB, 0x1234, -101, -25601},
        {SELGW_ORDER_BADC, 0x3412, -25601, -101},
        {SELGW_ORDER_DCBA, 0x3412, -25601, -101},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_field u = make_field(SELGW_TYPE_U16, cases[i].order);
        selgw_field s = make_field(SELGW_TYPE_S16, cases[i].order);
        assert_double_exact(decode_ok(&u, reg, 1), cases[i].u16);
        assert_double_exact(decode_ok(&s, neg, 1), cases[i].s16_neg);
        assert_double_exact(decode_ok(&s, neg_swapped, 1), cases[i].s16_neg_swapped);
    }
}

/* 0x12345678 in every order, as u32, s32 and (bit pattern) f32. */
static void test_32bit_orders(void **state)
{
    (void)state;
    struct {
        selgw_byte_order order;
        uint16_t regs[2];
    } cases[] = {
        {SELGW_ORDER_ABCD, {0x1234, 0x5678}},
        {SELGW_ORDER_CDAB, {0x5678, 0x1234}},
        {SELGW_ORDER_BADC, {0x3412, 0x7856}},
        {SELGW_ORDER_DCBA, {0x7856, 0x3412}},
    };
    uint32_t bits = 0x12345678u;
    float as_float;
    memcpy(&as_float, &bits, sizeof as_float);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_field u = make_field(SELGW_TYPE_U32, cases[i].order);
        selgw_field s = make_field(SELGW_TYPE_S32, cases[i].order);
        selgw_field f = make_field(SELGW_TYPE_F32, cases[i].order);
        assert_double_exact(decode_ok(&u, cases[i].regs, 2), 305419896.0);
        assert_double_exact(decode_ok(&s, cases[i].regs, 2), 305419896.0);
        assert_double_exact(decode_ok(&f, cases[i].regs, 2), (double)as_float);
    }
}

/* 0xFEDCBA98 (negative as s32) in every order. */
static void test_32bit_signed_orders(void **state)
{
    (void)state;
    struct {
        selgw_byte_order order;
        uint16_t regs[2];
    } cases[] = {
        {SELGW_ORDER_ABCD, {0xFEDC, 0xBA98}},
        {SELGW_ORDER_CDAB, {0xBA98, 0xFEDC}},
        {SELGW_ORDER_BADC, {0xDCFE, 0x98BA}},
        {SELGW_ORDER_DCBA, {0x98BA, 0xDCFE}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_field u = make_field(SELGW_TYPE_U32, cases[i].order);
        selgw_field s = make_field(SELGW_TYPE_S32, cases[i].order);
        assert_double_exact(decode_ok(&u, cases[i].regs, 2), 4275878552.0);
        assert_double_exact(decode_ok(&s, cases[i].regs, 2), -19088744.0);
    }
}

/* -12.5f is 0xC1480000, 123.456f is 0x42F6E979. */
static void test_f32_orders(void **state)
{
    (void)state;
    struct {
        selgw_byte_order order;
        uint16_t minus_12_5[2];
        uint16_t v123[2];
    } cases[] = {
        {SELGW_ORDER_ABCD, {0xC148, 0x0000}, {0x42F6, 0xE979}},
        {SELGW_ORDER_CDAB, {0x0000, 0xC148}, {0xE979, 0x42F6}},
        {SELGW_ORDER_BADC, {0x48C1, 0x0000}, {0xF642, 0x79E9}},
        {SELGW_ORDER_DCBA, {0x0000, 0x48C1}, {0x79E9, 0xF642}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_field f = make_field(SELGW_TYPE_F32, cases[i].order);
        assert_double_exact(decode_ok(&f, cases[i].minus_12_5, 2), -12.5);
        assert_double_exact(decode_ok(&f, cases[i].v123, 2), (double)123.456f);
    }
}

/* 0x0123456789ABCDEF in every order (u64, s64); 0x00123456789ABCDE is exact in a double. */
static void test_64bit_orders(void **state)
{
    (void)state;
    struct {
        selgw_byte_order order;
        uint16_t regs[4];
        uint16_t exact[4];
    } cases[] = {
        {SELGW_ORDER_ABCD, {0x0123, 0x4567, 0x89AB, 0xCDEF}, {0x0012, 0x3456, 0x789A, 0xBCDE}},
        {SELGW_ORDER_CDAB, {0xCDEF, 0x89AB, 0x4567, 0x0123}, {0xBCDE, 0x789A, 0x3456, 0x0012}},
        {SELGW_ORDER_BADC, {0x2301, 0x6745, 0xAB89, 0xEFCD}, {0x1200, 0x5634, 0x9A78, 0xDEBC}},
        {SELGW_ORDER_DCBA, {0xEFCD, 0xAB89, 0x6745, 0x2301}, {0xDEBC, 0x9A78, 0x5634, 0x1200}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_field u = make_field(SELGW_TYPE_U64, cases[i].order);
        selgw_field s = make_field(SELGW_TYPE_S64, cases[i].order);
        assert_double_exact(decode_ok(&u, cases[i].regs, 4), (double)UINT64_C(0x0123456789ABCDEF));
        assert_double_exact(decode_ok(&s, cases[i].regs, 4), (double)INT64_C(0x0123456789ABCDEF));
        assert_double_exact(decode_ok(&u, cases[i].exact, 4), 5124095576030430.0);
        assert_double_exact(decode_ok(&s, cases[i].exact, 4), 5124095576030430.0);
    }
}

/* -12.5 is 0xC029000000000000, pi is 0x400921FB54442D18. */
static void test_f64_orders(void **state)
{
    (void)state;
    struct {
        selgw_byte_order order;
        uint16_t minus_12_5[4];
        uint16_t pi[4];
    } cases[] = {
        {SELGW_ORDER_ABCD, {0xC029, 0, 0, 0}, {0x4009, 0x21FB, 0x5444, 0x2D18}},
        {SELGW_ORDER_CDAB, {0, 0, 0, 0xC029}, {0x2D18, 0x5444, 0x21FB, 0x4009}},
        {SELGW_ORDER_BADC, {0x29C0, 0, 0, 0}, {0x0940, 0xFB21, 0x4454, 0x182D}},
        {SELGW_ORDER_DCBA, {0, 0, 0, 0x29C0}, {0x182D, 0x4454, 0xFB21, 0x0940}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_field f = make_field(SELGW_TYPE_F64, cases[i].order);
        assert_double_exact(decode_ok(&f, cases[i].minus_12_5, 4), -12.5);
        assert_double_exact(decode_ok(&f, cases[i].pi, 4), 3.141592653589793);
    }
}

static void test_sign_edges(void **state)
{
    (void)state;
    selgw_field s16 = make_field(SELGW_TYPE_S16, SELGW_ORDER_ABCD);
    selgw_field u16 = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    const uint16_t r8000[] = {0x8000}, rffff[] = {0xFFFF}, r7fff[] = {0x7FFF}, r0[] = {0};
    assert_double_exact(decode_ok(&s16, r8000, 1), -32768.0);
    assert_double_exact(decode_ok(&s16, rffff, 1), -1.0);
    assert_double_exact(decode_ok(&s16, r7fff, 1), 32767.0);
    assert_double_exact(decode_ok(&s16, r0, 1), 0.0);
    assert_double_exact(decode_ok(&u16, r8000, 1), 32768.0);
    assert_double_exact(decode_ok(&u16, rffff, 1), 65535.0);

    /* The common soil temperature trap: 0xFF9B at /10 is -10.1 degC, not 6543.5. */
    selgw_field temp = make_field(SELGW_TYPE_S16, SELGW_ORDER_ABCD);
    temp.scale = 0.1;
    const uint16_t rff9b[] = {0xFF9B};
    assert_double_near(decode_ok(&temp, rff9b, 1), -10.1, 1e-9);

    selgw_field s32 = make_field(SELGW_TYPE_S32, SELGW_ORDER_ABCD);
    selgw_field u32 = make_field(SELGW_TYPE_U32, SELGW_ORDER_ABCD);
    const uint16_t int32_min[] = {0x8000, 0x0000}, minus_one32[] = {0xFFFF, 0xFFFF},
                   int32_max[] = {0x7FFF, 0xFFFF};
    assert_double_exact(decode_ok(&s32, int32_min, 2), (double)INT32_MIN);
    assert_double_exact(decode_ok(&s32, minus_one32, 2), -1.0);
    assert_double_exact(decode_ok(&s32, int32_max, 2), (double)INT32_MAX);
    assert_double_exact(decode_ok(&u32, minus_one32, 2), 4294967295.0);

    selgw_field s64 = make_field(SELGW_TYPE_S64, SELGW_ORDER_ABCD);
    selgw_field u64 = make_field(SELGW_TYPE_U64, SELGW_ORDER_ABCD);
    const uint16_t int64_min[] = {0x8000, 0, 0, 0}, all_ones[] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF},
                   int64_max[] = {0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF};
    assert_double_exact(decode_ok(&s64, int64_min, 4), -9223372036854775808.0);
    assert_double_exact(decode_ok(&s64, all_ones, 4), -1.0);
    assert_double_exact(decode_ok(&s64, int64_max, 4), 9223372036854775807.0);
    assert_double_exact(decode_ok(&u64, all_ones, 4), 18446744073709551615.0);
    /* INT64_MIN in a word-swapped order. */
    selgw_field s64_cdab = make_field(SELGW_TYPE_S64, SELGW_ORDER_CDAB);
    const uint16_t int64_min_cdab[] = {0, 0, 0, 0x8000};
    assert_double_exact(decode_ok(&s64_cdab, int64_min_cdab, 4), -9223372036854775808.0);
}

static void test_scale_offset(void **state)
{
    (void)state;
    selgw_field f = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    const uint16_t r[] = {1234};
    f.scale = 0.1;
    assert_double_near(decode_ok(&f, r, 1), 123.4, 1e-9);
    f.scale = 0.01;
    assert_double_near(decode_ok(&f, r, 1), 12.34, 1e-9);
    f.scale = 10;
    f.offset = -40;
    assert_double_exact(decode_ok(&f, r, 1), 12300.0);
    f.scale = 0.1;
    f.offset = -40;
    assert_double_near(decode_ok(&f, r, 1), 83.4, 1e-9);
    /* Scale applies to floats too. */
    selgw_field g = make_field(SELGW_TYPE_F32, SELGW_ORDER_ABCD);
    g.scale = 2;
    g.offset = 1;
    const uint16_t m12_5[] = {0xC148, 0x0000};
    assert_double_exact(decode_ok(&g, m12_5, 2), -24.0);
}

static void test_calibration(void **state)
{
    (void)state;
    selgw_field f = make_field(SELGW_TYPE_S16, SELGW_ORDER_ABCD);
    f.scale = 0.1;
    f.offset = 1.0;
    const uint16_t r[] = {200}; /* 20.0 + 1 = 21.0 before calibration */
    selgw_calibration cal = {.scale = 2.0, .offset = -0.5};
    double v = 0;
    assert_int_equal(selgw_decode_registers(&f, r, 1, &cal, &v), SELGW_QUALITY_OK);
    assert_double_near(v, 41.5, 1e-9); /* (21 * 2) - 0.5 */

    selgw_calibration identity = {.scale = 1.0, .offset = 0.0};
    assert_int_equal(selgw_decode_registers(&f, r, 1, &identity, &v), SELGW_QUALITY_OK);
    assert_double_near(v, 21.0, 1e-9);

    /* The range applies to the calibrated value. */
    f.has_max = true;
    f.max = 30;
    assert_int_equal(selgw_decode_registers(&f, r, 1, NULL, &v), SELGW_QUALITY_OK);
    assert_int_equal(selgw_decode_registers(&f, r, 1, &cal, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_double_near(v, 41.5, 1e-9);
}

static void test_range_inclusive(void **state)
{
    (void)state;
    selgw_field f = make_ranged(SELGW_TYPE_S16, 0.1, -40, 80);
    double v = 0;
    const uint16_t at_min[] = {(uint16_t)-400}, at_max[] = {800};
    const uint16_t below[] = {(uint16_t)-401}, above[] = {801};
    assert_int_equal(selgw_decode_registers(&f, at_min, 1, NULL, &v), SELGW_QUALITY_OK);
    assert_double_near(v, -40.0, 1e-9);
    assert_int_equal(selgw_decode_registers(&f, at_max, 1, NULL, &v), SELGW_QUALITY_OK);
    assert_double_near(v, 80.0, 1e-9);
    assert_int_equal(selgw_decode_registers(&f, below, 1, NULL, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_double_near(v, -40.1, 1e-9); /* value kept */
    assert_int_equal(selgw_decode_registers(&f, above, 1, NULL, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_double_near(v, 80.1, 1e-9);

    /* Exactly representable bounds with scale 1: the bound itself is in range. */
    selgw_field g = make_ranged(SELGW_TYPE_U16, 1, 0, 20000);
    const uint16_t r20000[] = {20000}, r20001[] = {20001};
    assert_int_equal(selgw_decode_registers(&g, r20000, 1, NULL, &v), SELGW_QUALITY_OK);
    assert_int_equal(selgw_decode_registers(&g, r20001, 1, NULL, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_double_exact(v, 20001.0);
}

static void test_range_one_sided(void **state)
{
    (void)state;
    double v = 0;
    const uint16_t small[] = {5}, big[] = {60000};
    selgw_field only_min = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    only_min.has_min = true;
    only_min.min = 10;
    assert_int_equal(selgw_decode_registers(&only_min, small, 1, NULL, &v),
                     SELGW_QUALITY_OUT_OF_RANGE);
    assert_int_equal(selgw_decode_registers(&only_min, big, 1, NULL, &v), SELGW_QUALITY_OK);

    selgw_field only_max = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    only_max.has_max = true;
    only_max.max = 10;
    assert_int_equal(selgw_decode_registers(&only_max, small, 1, NULL, &v), SELGW_QUALITY_OK);
    assert_int_equal(selgw_decode_registers(&only_max, big, 1, NULL, &v),
                     SELGW_QUALITY_OUT_OF_RANGE);
    assert_double_exact(v, 60000.0);

    /* A min or max value left in the struct without its flag is not checked. */
    selgw_field unflagged = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    unflagged.min = 100;
    unflagged.max = 1;
    assert_int_equal(selgw_decode_registers(&unflagged, small, 1, NULL, &v), SELGW_QUALITY_OK);
}

static void test_not_finite_flagged(void **state)
{
    (void)state;
    double v = 0;
    selgw_field f32 = make_field(SELGW_TYPE_F32, SELGW_ORDER_ABCD);
    const uint16_t nan32[] = {0x7FC0, 0x0000}, inf32[] = {0x7F80, 0x0000},
                   ninf32[] = {0xFF80, 0x0000};
    assert_int_equal(selgw_decode_registers(&f32, nan32, 2, NULL, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_true(isnan(v));
    assert_int_equal(selgw_decode_registers(&f32, inf32, 2, NULL, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_true(isinf(v) && v > 0);
    assert_int_equal(selgw_decode_registers(&f32, ninf32, 2, NULL, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_true(isinf(v) && v < 0);

    selgw_field f64 = make_field(SELGW_TYPE_F64, SELGW_ORDER_DCBA);
    const uint16_t nan64_dcba[] = {0, 0, 0, 0xF87F}, inf64_dcba[] = {0, 0, 0, 0xF07F};
    assert_int_equal(selgw_decode_registers(&f64, nan64_dcba, 4, NULL, &v),
                     SELGW_QUALITY_OUT_OF_RANGE);
    assert_true(isnan(v));
    assert_int_equal(selgw_decode_registers(&f64, inf64_dcba, 4, NULL, &v),
                     SELGW_QUALITY_OUT_OF_RANGE);
    assert_true(isinf(v));

    /* NaN is flagged even when the field has a range (comparisons with NaN are false). */
    selgw_field ranged = make_ranged(SELGW_TYPE_F32, 1, -100, 100);
    assert_int_equal(selgw_decode_registers(&ranged, nan32, 2, NULL, &v),
                     SELGW_QUALITY_OUT_OF_RANGE);
    /* A finite float overflowing through the scale becomes Inf and is flagged. */
    selgw_field huge = make_field(SELGW_TYPE_F64, SELGW_ORDER_ABCD);
    huge.scale = 1e300;
    const uint16_t big64[] = {0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF}; /* DBL_MAX */
    assert_int_equal(selgw_decode_registers(&huge, big64, 4, NULL, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_true(isinf(v));
}

static void test_too_few_registers(void **state)
{
    (void)state;
    const uint16_t regs[4] = {1, 2, 3, 4};
    for (size_t t = 0; t < sizeof all_register_types / sizeof all_register_types[0]; t++) {
        selgw_field f = make_field(all_register_types[t], SELGW_ORDER_ABCD);
        unsigned need = selgw_type_registers(f.type);
        double v = 12345.0;
        assert_int_equal(selgw_decode_registers(&f, regs, need - 1, NULL, &v),
                         SELGW_QUALITY_READ_FAILED);
        assert_double_exact(v, 12345.0); /* untouched */
        assert_int_not_equal(selgw_decode_registers(&f, regs, need, NULL, &v),
                             SELGW_QUALITY_READ_FAILED);
        /* Extra registers after the field are ignored. */
        double w = 0;
        assert_int_not_equal(selgw_decode_registers(&f, regs, 4, NULL, &w),
                             SELGW_QUALITY_READ_FAILED);
        if (!isnan(v))
            assert_double_exact(w, v);
    }
    selgw_field bit = make_field(SELGW_TYPE_BIT, SELGW_ORDER_ABCD);
    double v = 7.0;
    assert_int_equal(selgw_decode_registers(&bit, regs, 4, NULL, &v), SELGW_QUALITY_READ_FAILED);
    assert_double_exact(v, 7.0);
}

static void test_bits(void **state)
{
    (void)state;
    selgw_field f = make_field(SELGW_TYPE_BIT, SELGW_ORDER_ABCD);
    double v = -1;
    assert_int_equal(selgw_decode_bit(&f, 0, NULL, &v), SELGW_QUALITY_OK);
    assert_double_exact(v, 0.0);
    assert_int_equal(selgw_decode_bit(&f, 1, NULL, &v), SELGW_QUALITY_OK);
    assert_double_exact(v, 1.0);
    /* Any nonzero state is "on". */
    assert_int_equal(selgw_decode_bit(&f, 0xFF, NULL, &v), SELGW_QUALITY_OK);
    assert_double_exact(v, 1.0);

    /* A range marks an alarm contact that must stay off. */
    f.has_max = true;
    f.max = 0;
    assert_int_equal(selgw_decode_bit(&f, 1, NULL, &v), SELGW_QUALITY_OUT_OF_RANGE);
    assert_double_exact(v, 1.0);
    assert_int_equal(selgw_decode_bit(&f, 0, NULL, &v), SELGW_QUALITY_OK);

    /* A register field is not a bit. */
    selgw_field reg = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    v = 3;
    assert_int_equal(selgw_decode_bit(&reg, 1, NULL, &v), SELGW_QUALITY_READ_FAILED);
    assert_double_exact(v, 3.0);
}

/* Encode gives the exact wire registers for known values. */
static void test_encode_known_patterns(void **state)
{
    (void)state;
    uint16_t regs[4];
    selgw_field u32 = make_field(SELGW_TYPE_U32, SELGW_ORDER_CDAB);
    assert_int_equal(selgw_encode_registers(&u32, 305419896.0, regs, 2), SELGW_OK);
    assert_int_equal(regs[0], 0x5678);
    assert_int_equal(regs[1], 0x1234);

    selgw_field f32 = make_field(SELGW_TYPE_F32, SELGW_ORDER_BADC);
    assert_int_equal(selgw_encode_registers(&f32, -12.5, regs, 2), SELGW_OK);
    assert_int_equal(regs[0], 0x48C1);
    assert_int_equal(regs[1], 0x0000);

    selgw_field u64 = make_field(SELGW_TYPE_U64, SELGW_ORDER_DCBA);
    assert_int_equal(selgw_encode_registers(&u64, 5124095576030430.0, regs, 4), SELGW_OK);
    assert_int_equal(regs[0], 0xDEBC);
    assert_int_equal(regs[1], 0x9A78);
    assert_int_equal(regs[2], 0x5634);
    assert_int_equal(regs[3], 0x1200);

    selgw_field temp = make_field(SELGW_TYPE_S16, SELGW_ORDER_ABCD);
    temp.scale = 0.1;
    assert_int_equal(selgw_encode_registers(&temp, -10.1, regs, 1), SELGW_OK);
    assert_int_equal(regs[0], 0xFF9B);

    selgw_field s16 = make_field(SELGW_TYPE_S16, SELGW_ORDER_DCBA);
    assert_int_equal(selgw_encode_registers(&s16, -32768, regs, 1), SELGW_OK);
    assert_int_equal(regs[0], 0x0080);

    selgw_field s64 = make_field(SELGW_TYPE_S64, SELGW_ORDER_ABCD);
    assert_int_equal(selgw_encode_registers(&s64, -9223372036854775808.0, regs, 4), SELGW_OK);
    assert_int_equal(regs[0], 0x8000);
    assert_int_equal(regs[1], 0);
    assert_int_equal(regs[2], 0);
    assert_int_equal(regs[3], 0);
    assert_int_equal(selgw_encode_registers(&s64, -1.0, regs, 4), SELGW_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(regs[i], 0xFFFF);
}

/* Encode rounds to the nearest raw step and accounts for scale and offset. */
static void test_encode_rounding(void **state)
{
    (void)state;
    uint16_t r[1];
    selgw_field f = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    f.scale = 0.1;
    assert_int_equal(selgw_encode_registers(&f, 23.44, r, 1), SELGW_OK);
    assert_int_equal(r[0], 234);
    assert_int_equal(selgw_encode_registers(&f, 23.46, r, 1), SELGW_OK);
    assert_int_equal(r[0], 235);
    f.offset = -40; /* value = raw/10 - 40 */
    assert_int_equal(selgw_encode_registers(&f, 25.0, r, 1), SELGW_OK);
    assert_int_equal(r[0], 650);
    selgw_field s = make_field(SELGW_TYPE_S16, SELGW_ORDER_ABCD);
    assert_int_equal(selgw_encode_registers(&s, -2.6, r, 1), SELGW_OK);
    assert_int_equal(r[0], (uint16_t)-3);
}

static void test_encode_range_errors(void **state)
{
    (void)state;
    uint16_t regs[4] = {0xAAAA, 0xAAAA, 0xAAAA, 0xAAAA};
    struct {
        selgw_value_type type;
        double ok_low, ok_high, bad_low, bad_high;
    } cases[] = {
        {SELGW_TYPE_U16, 0, 65535, -1, 65536},
        {SELGW_TYPE_S16, -32768, 32767, -32769, 32768},
        {SELGW_TYPE_U32, 0, 4294967295.0, -1, 4294967296.0},
        {SELGW_TYPE_S32, -2147483648.0, 2147483647.0, -2147483649.0, 2147483648.0},
        {SELGW_TYPE_U64, 0, 18446744073709549568.0, -1, 18446744073709551616.0},
        {SELGW_TYPE_S64, -9223372036854775808.0, 9223372036854774784.0, -9223372036854777856.0,
         9223372036854775808.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_field f = make_field(cases[i].type, SELGW_ORDER_ABCD);
        size_t n = selgw_type_registers(f.type);
        assert_int_equal(selgw_encode_registers(&f, cases[i].ok_low, regs, n), SELGW_OK);
        assert_int_equal(selgw_encode_registers(&f, cases[i].ok_high, regs, n), SELGW_OK);
        assert_int_equal(selgw_encode_registers(&f, cases[i].bad_low, regs, n), SELGW_ERR_RANGE);
        assert_int_equal(selgw_encode_registers(&f, cases[i].bad_high, regs, n), SELGW_ERR_RANGE);
        assert_int_equal(selgw_encode_registers(&f, NAN, regs, n), SELGW_ERR_RANGE);
        assert_int_equal(selgw_encode_registers(&f, INFINITY, regs, n), SELGW_ERR_RANGE);
    }
    /* Rounding decides: 65535.4 rounds into u16, 65535.5 does not. */
    selgw_field u16 = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    assert_int_equal(selgw_encode_registers(&u16, 65535.4, regs, 1), SELGW_OK);
    assert_int_equal(regs[0], 65535);
    assert_int_equal(selgw_encode_registers(&u16, 65535.5, regs, 1), SELGW_ERR_RANGE);
    assert_int_equal(selgw_encode_registers(&u16, -0.4, regs, 1), SELGW_OK);
    assert_int_equal(regs[0], 0);
    /* Scale makes a value too big: 7000 degC at /10 is 70000. */
    u16.scale = 0.1;
    assert_int_equal(selgw_encode_registers(&u16, 7000, regs, 1), SELGW_ERR_RANGE);

    /* Floats: beyond the binary32 range is an error, NaN and Inf pass through. */
    selgw_field f32 = make_field(SELGW_TYPE_F32, SELGW_ORDER_ABCD);
    assert_int_equal(selgw_encode_registers(&f32, 1e39, regs, 2), SELGW_ERR_RANGE);
    assert_int_equal(selgw_encode_registers(&f32, INFINITY, regs, 2), SELGW_OK);
    assert_int_equal(regs[0], 0x7F80);
    assert_int_equal(regs[1], 0x0000);
    selgw_field f64 = make_field(SELGW_TYPE_F64, SELGW_ORDER_ABCD);
    assert_int_equal(selgw_encode_registers(&f64, NAN, regs, 4), SELGW_OK);

    /* Too few registers or a bit field: invalid, registers untouched. */
    uint16_t guard[4] = {0x5555, 0x5555, 0x5555, 0x5555};
    selgw_field u32 = make_field(SELGW_TYPE_U32, SELGW_ORDER_ABCD);
    assert_int_equal(selgw_encode_registers(&u32, 1, guard, 1), SELGW_ERR_INVALID);
    selgw_field bit = make_field(SELGW_TYPE_BIT, SELGW_ORDER_ABCD);
    assert_int_equal(selgw_encode_registers(&bit, 1, guard, 4), SELGW_ERR_INVALID);
    for (int i = 0; i < 4; i++)
        assert_int_equal(guard[i], 0x5555);
    /* A zero scale has no inverse. */
    selgw_field zero = make_field(SELGW_TYPE_U16, SELGW_ORDER_ABCD);
    zero.scale = 0;
    assert_int_equal(selgw_encode_registers(&zero, 1, guard, 1), SELGW_ERR_INVALID);
}

/* Encode then decode gives the value back, for every type and order, with scale/offset. */
static void test_round_trip(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof all_register_types / sizeof all_register_types[0]; t++) {
        selgw_value_type type = all_register_types[t];
        bool is_signed = type == SELGW_TYPE_S16 || type == SELGW_TYPE_S32 ||
                         type == SELGW_TYPE_S64 || type == SELGW_TYPE_F32 || type == SELGW_TYPE_F64;
        const double plain[] = {
            0, 1, 255, 256, 4660, 32767, is_signed ? -32768 : 65535, is_signed ? -1 : 12345};
        for (size_t o = 0; o < sizeof all_orders / sizeof all_orders[0]; o++) {
            selgw_field f = make_field(type, all_orders[o]);
            uint16_t regs[4];
            for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++) {
                assert_int_equal(selgw_encode_registers(&f, plain[k], regs, 4), SELGW_OK);
                assert_double_exact(decode_ok(&f, regs, 4), plain[k]);
            }
            /* With a scale of 0.1 and an offset of -40 the value comes back within half a step. */
            f.scale = 0.1;
            f.offset = -40;
            const double scaled[] = {-12.3, 0.05, 25.4, 100.0};
            for (size_t k = 0; k < sizeof scaled / sizeof scaled[0]; k++) {
                assert_int_equal(selgw_encode_registers(&f, scaled[k], regs, 4), SELGW_OK);
                double tol = (type == SELGW_TYPE_F32)
                                 ? 1e-4
                                 : (type == SELGW_TYPE_F64 ? 1e-12 : 0.05 + 1e-9);
                assert_double_near(decode_ok(&f, regs, 4), scaled[k], tol);
            }
        }
    }
    /* Wide values round-trip in the wide types. */
    selgw_field s32 = make_field(SELGW_TYPE_S32, SELGW_ORDER_DCBA);
    selgw_field u64 = make_field(SELGW_TYPE_U64, SELGW_ORDER_BADC);
    selgw_field s64 = make_field(SELGW_TYPE_S64, SELGW_ORDER_CDAB);
    selgw_field f64 = make_field(SELGW_TYPE_F64, SELGW_ORDER_BADC);
    uint16_t regs[4];
    assert_int_equal(selgw_encode_registers(&s32, (double)INT32_MIN, regs, 2), SELGW_OK);
    assert_double_exact(decode_ok(&s32, regs, 2), (double)INT32_MIN);
    assert_int_equal(selgw_encode_registers(&u64, 18446744073709549568.0, regs, 4), SELGW_OK);
    assert_double_exact(decode_ok(&u64, regs, 4), 18446744073709549568.0);
    assert_int_equal(selgw_encode_registers(&s64, -9007199254740994.0, regs, 4), SELGW_OK);
    assert_double_exact(decode_ok(&s64, regs, 4), -9007199254740994.0);
    assert_int_equal(selgw_encode_registers(&f64, DBL_MIN, regs, 4), SELGW_OK);
    assert_double_exact(decode_ok(&f64, regs, 4), DBL_MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quality_names),
        cmocka_unit_test(test_type_registers),
        cmocka_unit_test(test_16bit_orders),
        cmocka_unit_test(test_32bit_orders),
        cmocka_unit_test(test_32bit_signed_orders),
        cmocka_unit_test(test_f32_orders),
        cmocka_unit_test(test_64bit_orders),
        cmocka_unit_test(test_f64_orders),
        cmocka_unit_test(test_sign_edges),
        cmocka_unit_test(test_scale_offset),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_range_inclusive),
        cmocka_unit_test(test_range_one_sided),
        cmocka_unit_test(test_not_finite_flagged),
        cmocka_unit_test(test_too_few_registers),
        cmocka_unit_test(test_bits),
        cmocka_unit_test(test_encode_known_patterns),
        cmocka_unit_test(test_encode_rounding),
        cmocka_unit_test(test_encode_range_errors),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
