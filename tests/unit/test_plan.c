/* Unit tests of sensors/plan.c: merging, gaps, limits, functions, overlaps, slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sensors/decode.h"
#include "sensors/plan.h"

#define MAX_TEST_FIELDS 256

/* A profile built in C, independent of the YAML loader. */
typedef struct test_profile {
    selgw_profile profile;
    selgw_field fields[MAX_TEST_FIELDS];
    char names[MAX_TEST_FIELDS][16];
} test_profile;

static test_profile *new_profile(void)
{
    test_profile *tp = calloc(1, sizeof *tp);
    assert_non_null(tp);
    tp->profile.name = "test";
    tp->profile.model = "test";
    tp->profile.source = "test";
    tp->profile.path = "test";
    tp->profile.fields = tp->fields;
    return tp;
}

static size_t add_field(test_profile *tp, uint8_t function, uint16_t address, selgw_value_type type)
{
    size_t i = tp->profile.field_count++;
    assert_true(i < MAX_TEST_FIELDS);
    snprintf(tp->names[i], sizeof tp->names[i], "f%zu", i);
    selgw_field *f = &tp->fields[i];
    f->name = tp->names[i];
    f->function = function;
    f->address = address;
    f->type = type;
    f->order = SELGW_ORDER_ABCD;
    f->scale = 1;
    f->unit = "";
    return i;
}

/* Every field's data lies inside its request, at its own address and function. */
static void check_plan_consistent(const selgw_profile *p, const selgw_plan *plan,
                                  unsigned max_registers)
{
    unsigned limit = max_registers == 0 || max_registers > 125 ? 125 : max_registers;
    assert_int_equal(plan->field_count, p->field_count);
    for (size_t r = 0; r < plan->request_count; r++) {
        const selgw_read_request *q = &plan->requests[r];
        assert_true(q->count >= 1);
        if (q->function == 1 || q->function == 2)
            assert_true(q->count <= SELGW_MODBUS_MAX_READ_BITS);
        else
            assert_true(q->count <= limit);
        if (r > 0) {
            const selgw_read_request *prev = &plan->requests[r - 1];
            assert_true(prev->function < q->function ||
                        (prev->function == q->function && prev->address < q->address));
        }
    }
    for (size_t i = 0; i < p->field_count; i++) {
        const selgw_field *f = &p->fields[i];
        const selgw_field_slot *s = &plan->slots[i];
        assert_true(s->request < plan->request_count);
        const selgw_read_request *q = &plan->requests[s->request];
        unsigned len = f->type == SELGW_TYPE_BIT ? 1 : selgw_type_registers(f->type);
        assert_int_equal(q->function, f->function);
        assert_int_equal(q->address + s->offset, f->address);
        assert_true((unsigned)s->offset + len <= q->count);
    }
}

static selgw_plan *build_ok(test_profile *tp, unsigned max_registers, unsigned max_gap)
{
    selgw_plan *plan = NULL;
    assert_int_equal(selgw_plan_build(&tp->profile, max_registers, max_gap, &plan), SELGW_OK);
    assert_non_null(plan);
    check_plan_consistent(&tp->profile, plan, max_registers);
    return plan;
}

static void assert_request(const selgw_plan *plan, size_t r, int function, int address, int count)
{
    assert_true(r < plan->request_count);
    assert_int_equal(plan->requests[r].function, function);
    assert_int_equal(plan->requests[r].address, address);
    assert_int_equal(plan->requests[r].count, count);
}

static void assert_slot(const selgw_plan *plan, size_t field, size_t request, int offset)
{
    assert_int_equal(plan->slots[field].request, request);
    assert_int_equal(plan->slots[field].offset, offset);
}

static void test_empty_profile(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    selgw_plan *plan = build_ok(tp, 0, 4);
    assert_int_equal(plan->request_count, 0);
    assert_int_equal(plan->field_count, 0);
    selgw_plan_free(plan);
    free(tp);
}

static void test_contiguous_merge(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    /* A 3-in-1 soil probe: five u16 registers from 0. */
    for (uint16_t a = 0; a < 5; a++)
        add_field(tp, 3, a, a == 1 ? SELGW_TYPE_S16 : SELGW_TYPE_U16);
    selgw_plan *plan = build_ok(tp, 0, 0);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 0, 5);
    for (size_t i = 0; i < 5; i++)
        assert_slot(plan, i, 0, (int)i);
    selgw_plan_free(plan);
    free(tp);
}

static void test_gap_merge_boundary(void **state)
{
    (void)state;
    /* Hole of exactly max_gap (4: registers 1..4 unused) merges. */
    test_profile *tp = new_profile();
    add_field(tp, 3, 0, SELGW_TYPE_U16);
    add_field(tp, 3, 5, SELGW_TYPE_U16);
    selgw_plan *plan = build_ok(tp, 0, 4);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 0, 6);
    assert_slot(plan, 0, 0, 0);
    assert_slot(plan, 1, 0, 5);
    selgw_plan_free(plan);

    /* A hole of max_gap + 1 does not. */
    tp->fields[1].address = 6;
    plan = build_ok(tp, 0, 4);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 0, 3, 0, 1);
    assert_request(plan, 1, 3, 6, 1);
    assert_slot(plan, 0, 0, 0);
    assert_slot(plan, 1, 1, 0);
    selgw_plan_free(plan);

    /* The hole is measured from the end of a multi-register field. */
    tp->fields[0].type = SELGW_TYPE_U32; /* registers 0..1, hole 2..5 */
    plan = build_ok(tp, 0, 4);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 0, 7);
    selgw_plan_free(plan);

    /* max_gap 0 merges only contiguous registers. */
    tp->fields[0].type = SELGW_TYPE_U16;
    tp->fields[1].address = 2;
    plan = build_ok(tp, 0, 0);
    assert_int_equal(plan->request_count, 2);
    selgw_plan_free(plan);
    tp->fields[1].address = 1;
    plan = build_ok(tp, 0, 0);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 0, 2);
    selgw_plan_free(plan);
    free(tp);
}

static void test_split_at_protocol_limit(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    /* 130 contiguous registers declared in reverse order: the plan sorts by address. */
    for (int a = 129; a >= 0; a--)
        add_field(tp, 4, (uint16_t)(1000 + a), SELGW_TYPE_U16);
    selgw_plan *plan = build_ok(tp, 0, 4);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 0, 4, 1000, 125);
    assert_request(plan, 1, 4, 1125, 5);
    assert_slot(plan, 0, 1, 4);   /* address 1129 */
    assert_slot(plan, 129, 0, 0); /* address 1000 */
    assert_slot(plan, 5, 0, 124); /* address 1124 */
    assert_slot(plan, 4, 1, 0);   /* address 1125 */
    selgw_plan_free(plan);

    /* A device limit above 125 is clamped to the protocol limit. */
    plan = build_ok(tp, 1000, 4);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 0, 4, 1000, 125);
    selgw_plan_free(plan);

    /* Exactly 125 registers fit in one read. */
    tp->profile.field_count = 0;
    for (uint16_t a = 0; a < 125; a++)
        add_field(tp, 3, a, SELGW_TYPE_U16);
    plan = build_ok(tp, 0, 0);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 0, 125);
    selgw_plan_free(plan);
    free(tp);
}

static void test_split_at_device_limit(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    for (uint16_t a = 0; a < 6; a++)
        add_field(tp, 3, a, SELGW_TYPE_U16);
    selgw_plan *plan = build_ok(tp, 4, 4);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 0, 3, 0, 4);
    assert_request(plan, 1, 3, 4, 2);
    assert_slot(plan, 3, 0, 3);
    assert_slot(plan, 4, 1, 0);
    assert_slot(plan, 5, 1, 1);
    selgw_plan_free(plan);

    /* A u32 that would straddle the limit moves to the next read whole. */
    tp->profile.field_count = 0;
    add_field(tp, 3, 0, SELGW_TYPE_U16);
    add_field(tp, 3, 1, SELGW_TYPE_U16);
    add_field(tp, 3, 2, SELGW_TYPE_U16);
    add_field(tp, 3, 3, SELGW_TYPE_U32); /* 3..4 */
    plan = build_ok(tp, 4, 4);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 0, 3, 0, 3);
    assert_request(plan, 1, 3, 3, 2);
    assert_slot(plan, 3, 1, 0);
    selgw_plan_free(plan);

    /* A gap that would exceed the limit also splits. */
    tp->profile.field_count = 0;
    add_field(tp, 3, 0, SELGW_TYPE_U16);
    add_field(tp, 3, 4, SELGW_TYPE_U16); /* span 0..4 = 5 > 4 */
    plan = build_ok(tp, 4, 10);
    assert_int_equal(plan->request_count, 2);
    selgw_plan_free(plan);
    plan = build_ok(tp, 5, 10);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 0, 5);
    selgw_plan_free(plan);
    free(tp);
}

static void test_functions_never_merged(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    add_field(tp, 4, 0, SELGW_TYPE_U16);
    add_field(tp, 3, 1, SELGW_TYPE_U16);
    add_field(tp, 2, 0, SELGW_TYPE_BIT);
    add_field(tp, 1, 1, SELGW_TYPE_BIT);
    add_field(tp, 4, 1, SELGW_TYPE_U16);
    add_field(tp, 3, 0, SELGW_TYPE_U16);
    selgw_plan *plan = build_ok(tp, 0, 10);
    assert_int_equal(plan->request_count, 4);
    assert_request(plan, 0, 1, 1, 1);
    assert_request(plan, 1, 2, 0, 1);
    assert_request(plan, 2, 3, 0, 2);
    assert_request(plan, 3, 4, 0, 2);
    assert_slot(plan, 0, 3, 0);
    assert_slot(plan, 1, 2, 1);
    assert_slot(plan, 2, 1, 0);
    assert_slot(plan, 3, 0, 0);
    assert_slot(plan, 4, 3, 1);
    assert_slot(plan, 5, 2, 0);
    selgw_plan_free(plan);
    free(tp);
}

static void test_bits_limit(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    add_field(tp, 1, 0, SELGW_TYPE_BIT);
    add_field(tp, 1, 1999, SELGW_TYPE_BIT);
    selgw_plan *plan = build_ok(tp, 0, 5000);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 1, 0, 2000);
    assert_slot(plan, 1, 0, 1999);
    selgw_plan_free(plan);

    tp->fields[1].address = 2000;
    plan = build_ok(tp, 0, 5000);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 0, 1, 0, 1);
    assert_request(plan, 1, 1, 2000, 1);
    selgw_plan_free(plan);

    /* The device's register limit does not apply to bits; the gap does. */
    tp->profile.field_count = 0;
    for (uint16_t a = 0; a < 10; a++)
        add_field(tp, 2, (uint16_t)(100 + a), SELGW_TYPE_BIT);
    add_field(tp, 2, 115, SELGW_TYPE_BIT); /* hole 110..114 = 5 */
    plan = build_ok(tp, 4, 4);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 0, 2, 100, 10);
    assert_request(plan, 1, 2, 115, 1);
    assert_slot(plan, 9, 0, 9);
    selgw_plan_free(plan);
    plan = build_ok(tp, 4, 5);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 2, 100, 16);
    assert_slot(plan, 10, 0, 15);
    selgw_plan_free(plan);
    free(tp);
}

static void test_overlapping_fields_share(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    add_field(tp, 3, 10, SELGW_TYPE_U32); /* 10..11 */
    add_field(tp, 3, 11, SELGW_TYPE_U16); /* low word of the same value */
    add_field(tp, 3, 10, SELGW_TYPE_U16); /* high word */
    add_field(tp, 3, 10, SELGW_TYPE_U32); /* the same registers again, e.g. as another order */
    selgw_plan *plan = build_ok(tp, 0, 0);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 10, 2);
    assert_slot(plan, 0, 0, 0);
    assert_slot(plan, 1, 0, 1);
    assert_slot(plan, 2, 0, 0);
    assert_slot(plan, 3, 0, 0);
    selgw_plan_free(plan);

    /* A field inside a wider one does not shorten the read; one after it extends it. */
    tp->profile.field_count = 0;
    add_field(tp, 3, 0, SELGW_TYPE_F64); /* 0..3 */
    add_field(tp, 3, 1, SELGW_TYPE_U16);
    add_field(tp, 3, 3, SELGW_TYPE_U32); /* 3..4 */
    plan = build_ok(tp, 0, 0);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 0, 5);
    assert_slot(plan, 2, 0, 3);
    selgw_plan_free(plan);

    /* Overlapping fields that together exceed the device limit are read separately. */
    tp->profile.field_count = 0;
    add_field(tp, 3, 0, SELGW_TYPE_U64); /* 0..3 */
    add_field(tp, 3, 2, SELGW_TYPE_U64); /* 2..5 */
    plan = build_ok(tp, 4, 4);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 0, 3, 0, 4);
    assert_request(plan, 1, 3, 2, 4);
    assert_slot(plan, 1, 1, 0);
    selgw_plan_free(plan);
    free(tp);
}

/* The JXCT NPK map has holes: with a small gap it takes three reads, with a big one one. */
static void test_map_with_holes(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    size_t ph = add_field(tp, 3, 0x06, SELGW_TYPE_U16);
    size_t moisture = add_field(tp, 3, 0x12, SELGW_TYPE_U16);
    size_t temp = add_field(tp, 3, 0x13, SELGW_TYPE_S16);
    size_t ec = add_field(tp, 3, 0x15, SELGW_TYPE_U16);
    size_t n = add_field(tp, 3, 0x1E, SELGW_TYPE_U16);
    size_t p = add_field(tp, 3, 0x1F, SELGW_TYPE_U16);
    size_t k = add_field(tp, 3, 0x20, SELGW_TYPE_U16);

    selgw_plan *plan = build_ok(tp, 0, 0);
    assert_int_equal(plan->request_count, 4);
    assert_request(plan, 0, 3, 0x06, 1);
    assert_request(plan, 1, 3, 0x12, 2);
    assert_request(plan, 2, 3, 0x15, 1);
    assert_request(plan, 3, 3, 0x1E, 3);
    selgw_plan_free(plan);

    plan = build_ok(tp, 0, 4);
    assert_int_equal(plan->request_count, 3);
    assert_request(plan, 0, 3, 0x06, 1);
    assert_request(plan, 1, 3, 0x12, 4);
    assert_request(plan, 2, 3, 0x1E, 3);
    assert_slot(plan, ph, 0, 0);
    assert_slot(plan, moisture, 1, 0);
    assert_slot(plan, temp, 1, 1);
    assert_slot(plan, ec, 1, 3);
    assert_slot(plan, n, 2, 0);
    assert_slot(plan, p, 2, 1);
    assert_slot(plan, k, 2, 2);
    selgw_plan_free(plan);

    /* Holes 0x07..0x11 (11) and 0x16..0x1D (8). */
    plan = build_ok(tp, 0, 11);
    assert_int_equal(plan->request_count, 1);
    assert_request(plan, 0, 3, 0x06, 0x21 - 0x06);
    assert_slot(plan, k, 0, 0x20 - 0x06);
    selgw_plan_free(plan);
    plan = build_ok(tp, 0, 10);
    assert_int_equal(plan->request_count, 2);
    assert_request(plan, 1, 3, 0x12, 0x21 - 0x12);
    selgw_plan_free(plan);
    free(tp);
}

static void test_field_cannot_fit(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    add_field(tp, 3, 0, SELGW_TYPE_U16);
    add_field(tp, 3, 1, SELGW_TYPE_U32);
    static selgw_plan sentinel;
    selgw_plan *plan = &sentinel; /* must be reset to NULL on error */
    assert_int_equal(selgw_plan_build(&tp->profile, 1, 4, &plan), SELGW_ERR_INVALID);
    assert_null(plan);
    plan = build_ok(tp, 2, 4);
    assert_int_equal(plan->request_count, 2);
    selgw_plan_free(plan);

    tp->fields[1].type = SELGW_TYPE_F64;
    assert_int_equal(selgw_plan_build(&tp->profile, 2, 4, &plan), SELGW_ERR_INVALID);
    assert_int_equal(selgw_plan_build(&tp->profile, 3, 4, &plan), SELGW_ERR_INVALID);
    plan = build_ok(tp, 4, 4);
    selgw_plan_free(plan);
    free(tp);
}

static void test_invalid_fields(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    add_field(tp, 3, 0, SELGW_TYPE_U16);
    size_t bad = add_field(tp, 3, 1, SELGW_TYPE_U16);
    selgw_plan *plan = NULL;

    tp->fields[bad].type = SELGW_TYPE_BIT; /* a bit in a register function */
    assert_int_equal(selgw_plan_build(&tp->profile, 0, 4, &plan), SELGW_ERR_INVALID);
    tp->fields[bad].function = 1; /* fine */
    plan = build_ok(tp, 0, 4);
    selgw_plan_free(plan);
    tp->fields[bad].type = SELGW_TYPE_U16; /* a register in a bit function */
    assert_int_equal(selgw_plan_build(&tp->profile, 0, 4, &plan), SELGW_ERR_INVALID);
    tp->fields[bad].function = 5;
    assert_int_equal(selgw_plan_build(&tp->profile, 0, 4, &plan), SELGW_ERR_INVALID);
    tp->fields[bad].function = 0;
    assert_int_equal(selgw_plan_build(&tp->profile, 0, 4, &plan), SELGW_ERR_INVALID);

    /* The last register is 0xFFFF: a u16 there is fine, a u32 runs off the end. */
    tp->fields[bad].function = 3;
    tp->fields[bad].address = 0xFFFF;
    plan = build_ok(tp, 0, 4);
    assert_request(plan, 1, 3, 0xFFFF, 1);
    selgw_plan_free(plan);
    tp->fields[bad].type = SELGW_TYPE_U32;
    assert_int_equal(selgw_plan_build(&tp->profile, 0, 4, &plan), SELGW_ERR_INVALID);
    assert_null(plan);

    assert_int_equal(selgw_plan_build(NULL, 0, 4, &plan), SELGW_ERR_INVALID);
    assert_int_equal(selgw_plan_build(&tp->profile, 0, 4, NULL), SELGW_ERR_INVALID);
    selgw_plan_free(NULL);
    free(tp);
}

static void test_deterministic(void **state)
{
    (void)state;
    test_profile *tp = new_profile();
    /* A scattered map with duplicates and several functions. */
    const uint16_t addrs[] = {40, 3, 17, 3, 90, 41, 8, 200, 17, 5, 130, 60};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
        add_field(tp, (uint8_t)(3 + i % 2), addrs[i], i % 3 ? SELGW_TYPE_U16 : SELGW_TYPE_U32);
    selgw_plan *a = build_ok(tp, 50, 6);
    selgw_plan *b = build_ok(tp, 50, 6);
    assert_int_equal(a->request_count, b->request_count);
    for (size_t r = 0; r < a->request_count; r++)
        assert_request(b, r, a->requests[r].function, a->requests[r].address, a->requests[r].count);
    for (size_t i = 0; i < a->field_count; i++)
        assert_slot(b, i, a->slots[i].request, a->slots[i].offset);
    selgw_plan_free(a);
    selgw_plan_free(b);
    free(tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_profile),
        cmocka_unit_test(test_contiguous_merge),
        cmocka_unit_test(test_gap_merge_boundary),
        cmocka_unit_test(test_split_at_protocol_limit),
        cmocka_unit_test(test_split_at_device_limit),
        cmocka_unit_test(test_functions_never_merged),
        cmocka_unit_test(test_bits_limit),
        cmocka_unit_test(test_overlapping_fields_share),
        cmocka_unit_test(test_map_with_holes),
        cmocka_unit_test(test_field_cannot_fit),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
