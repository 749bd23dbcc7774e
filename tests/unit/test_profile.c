/* Sensor profiles: parsing, defaults, validation with positions, sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/embedded.h"
#include "sensors/profile.h"

#define PROFILES SELGW_TEST_DATA "/profiles"

/* Loads an inline profile named "p.yaml"; returns the result, diagnostics sorted in *diag. */
static selgw_err load_inline(selgw_profile_set *set, const char *text, selgw_diag **diag)
{
    *diag = selgw_diag_new();
    assert_non_null(*diag);
    selgw_err err = selgw_profile_set_load_string(set, "p.yaml", text, strlen(text), *diag);
    selgw_diag_sort(*diag);
    return err;
}

static void print_diag(const selgw_diag *diag)
{
    for (size_t i = 0; i < selgw_diag_count(diag); i++)
        fprintf(stderr, "  diag[%zu] %s\n", i, selgw_diag_message(diag, i));
}

/* Asserts that some diagnostic starts with prefix. */
static void assert_diag(const selgw_diag *diag, const char *prefix)
{
    for (size_t i = 0; i < selgw_diag_count(diag); i++)
        if (!strncmp(selgw_diag_message(diag, i), prefix, strlen(prefix)))
            return;
    print_diag(diag);
    fail_msg("no diagnostic starts with \"%s\"", prefix);
}

/* Loads an inline profile that must fail with exactly one diagnostic starting with prefix. */
static void expect_one_error(const char *text, const char *prefix)
{
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag;
    assert_int_equal(load_inline(set, text, &diag), SELGW_ERR_CONFIG);
    assert_int_equal(selgw_profile_set_count(set), 0);
    if (selgw_diag_count(diag) != 1)
        print_diag(diag);
    assert_int_equal(selgw_diag_count(diag), 1);
    assert_diag(diag, prefix);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

#define HEAD "name: p\nmodel: M\nsource: S\n"

static void test_load_file_fields_and_defaults(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag = selgw_diag_new();
    assert_int_equal(selgw_profile_set_load_file(set, PROFILES "/test-soil.yaml", diag), SELGW_OK);
    assert_int_equal(selgw_diag_count(diag), 0);
    const selgw_profile *p = selgw_profile_set_find(set, "test-soil");
    assert_non_null(p);
    assert_string_equal(p->model, "Test soil probe (fixture)");
    assert_string_equal(p->source, "tests/data/profiles");
    assert_string_equal(p->path, PROFILES "/test-soil.yaml");
    assert_int_equal(p->baud, 4800);
    assert_int_equal(p->parity, 'N');
    assert_int_equal(p->data_bits, 8);
    assert_int_equal(p->stop_bits, 1);
    assert_int_equal(p->default_unit_id, 1);
    assert_int_equal(p->max_read_registers, 125);
    assert_int_equal(p->max_gap, 2);
    assert_int_equal(p->field_count, 3);

    const selgw_field *m = &p->fields[0];
    assert_string_equal(m->name, "soil_moisture");
    assert_int_equal(m->function, 3);
    assert_int_equal(m->address, 0);
    assert_int_equal(m->type, SELGW_TYPE_U16);
    assert_int_equal(m->order, SELGW_ORDER_ABCD);
    assert_true(m->scale > 0.0999 && m->scale < 0.1001);
    assert_true(m->offset == 0);
    assert_string_equal(m->unit, "%");
    assert_true(m->has_min && m->has_max);
    assert_true(m->min == 0 && m->max == 100);

    const selgw_field *ec = &p->fields[2];
    assert_int_equal(ec->address, 0x10);
    assert_int_equal(ec->type, SELGW_TYPE_U32);
    assert_int_equal(ec->order, SELGW_ORDER_CDAB);
    assert_true(ec->scale == 1);
    assert_true(ec->has_min);
    assert_false(ec->has_max);

    assert_int_equal(selgw_profile_field_index(p, "soil_ec"), 2);
    assert_int_equal(selgw_profile_field_index(p, "soil_ph"), -1);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

static void test_load_dir_in_name_order(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag = selgw_diag_new();
    /* bad/ is a subdirectory: not loaded */
    assert_int_equal(selgw_profile_set_load_dir(set, PROFILES, diag), SELGW_OK);
    print_diag(diag);
    assert_int_equal(selgw_diag_count(diag), 0);
    assert_int_equal(selgw_profile_set_count(set), 2);
    assert_string_equal(selgw_profile_set_at(set, 0)->name, "test-climate");
    assert_string_equal(selgw_profile_set_at(set, 1)->name, "test-soil");
    assert_null(selgw_profile_set_at(set, 2));

    const selgw_profile *c = selgw_profile_set_find(set, "test-climate");
    assert_int_equal(c->baud, 9600); /* link absent: 9600 8N1 unit 1 */
    assert_int_equal(c->parity, 'N');
    assert_int_equal(c->max_read_registers, 8);
    assert_int_equal(c->max_gap, 4);
    assert_int_equal(c->fields[0].type, SELGW_TYPE_F32);
    assert_int_equal(c->fields[0].address, 100);
    assert_string_equal(c->fields[2].unit, "");
    assert_int_equal(c->fields[2].type, SELGW_TYPE_BIT);
    assert_true(c->fields[1].has_max && !c->fields[1].has_min);

    /* loading the same directory again: every name is taken, nothing is added */
    assert_int_equal(selgw_profile_set_load_dir(set, PROFILES, diag), SELGW_ERR_CONFIG);
    assert_int_equal(selgw_profile_set_count(set), 2);
    selgw_diag_sort(diag);
    assert_diag(diag, PROFILES "/test-climate.yaml:2:7: duplicate profile name 'test-climate': "
                               "already defined in " PROFILES "/test-climate.yaml");
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

static void test_missing_dir_and_file(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag = selgw_diag_new();
    assert_int_equal(selgw_profile_set_load_dir(set, PROFILES "/nope", diag), SELGW_ERR_IO);
    assert_int_equal(selgw_profile_set_load_file(set, PROFILES "/nope.yaml", diag), SELGW_ERR_IO);
    assert_int_equal(selgw_diag_count(diag), 2);
    assert_diag(diag, PROFILES "/nope: cannot open profile directory: ");
    assert_diag(diag, PROFILES "/nope.yaml: cannot open: No such file or directory");
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

/* Every problem of the file, each at its position. */
static void test_all_errors_reported_with_positions(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag = selgw_diag_new();
    const char *path = PROFILES "/bad/errors.yaml";
    assert_int_equal(selgw_profile_set_load_file(set, path, diag), SELGW_ERR_CONFIG);
    assert_int_equal(selgw_profile_set_count(set), 0);
    selgw_diag_sort(diag);
    static const char *const expected[] = {
        ":1:7: profile name 'Bad_Name': use lower-case letters, digits and '-'",
        ":1:1: missing required key 'source' in profile",
        ":3:14: baud: 4801 is not one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200",
        ":3:28: parity: expected N, E or O (none, even, odd)",
        ":3:42: data_bits: 9 is out of range 7..8",
        ":4:10: max_gap: 200 is out of range 0..125",
        ":5:1: unknown key 'colour' in profile",
        ":13:14: field 'b' (function 3, registers 1..1) overlaps field 'a' (registers 0..1, at "
        "9:14)",
        ":15:11: duplicate field name 'a' (first defined at 7:11)",
        ":16:15: function: 5 is not a read function (1 coils, 2 discrete inputs, 3 holding "
        "registers, 4 input registers)",
        ":17:14: address: 70000 is out of range 0..65535",
        ":18:11: type: expected one of bit, u16, s16, u32, s32, u64, s64, f32, f64",
        ":22:11: type u16 needs a register function (3 or 4); function 1 reads bits",
        ":25:14: field 'd': u32 at address 65535 runs past register 65535",
        ":27:12: scale must not be 0",
        ":28:12: range: minimum 10 is greater than maximum 1",
        ":29:5: unknown key 'ordre' in field (did you mean 'order'?)",
    };
    size_t n = sizeof(expected) / sizeof(expected[0]);
    if (selgw_diag_count(diag) != n)
        print_diag(diag);
    assert_int_equal(selgw_diag_count(diag), n);
    for (size_t i = 0; i < n; i++) {
        char want[512];
        snprintf(want, sizeof(want), "%s%s", path, expected[i]);
        assert_diag(diag, want);
    }
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

static void test_function_and_type_must_match(void **state)
{
    (void)state;
    expect_one_error(HEAD "fields:\n  - {name: x, function: 3, address: 0, type: bit}\n",
                     "p.yaml:5:46: type bit needs a bit function (1 or 2); function 3 reads "
                     "registers");
    expect_one_error(HEAD "fields:\n  - {name: x, function: 2, address: 0, type: f32}\n",
                     "p.yaml:5:46: type f32 needs a register function (3 or 4); function 2 reads "
                     "bits");
}

static void test_overlap_names_both_fields(void **state)
{
    (void)state;
    expect_one_error(HEAD "fields:\n"
                          "  - {name: t, function: 4, address: 10, type: f64}\n"
                          "  - {name: h, function: 4, address: 13, type: u16}\n",
                     "p.yaml:6:37: field 'h' (function 4, registers 13..13) overlaps field 't' "
                     "(registers 10..13, at 5:37)");
    /* same addresses with different functions do not overlap */
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag;
    assert_int_equal(load_inline(set,
                                 HEAD "fields:\n"
                                      "  - {name: t, function: 4, address: 10, type: u16}\n"
                                      "  - {name: h, function: 3, address: 10, type: u16}\n"
                                      "  - {name: c, function: 1, address: 10, type: bit}\n"
                                      "  - {name: d, function: 1, address: 11, type: bit}\n",
                                 &diag),
                     SELGW_OK);
    assert_int_equal(selgw_diag_count(diag), 0);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

#define FIELD "fields:\n  - {name: x, function: 3, address: 0, type: u16}\n"

static void test_addressing(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag;
    assert_int_equal(load_inline(set,
                                 HEAD "addressing: {unit_id_register: 0x07D0, baud_register: "
                                      "0x07D1, baud_codes: {4800: 1, 9600: 2}, apply: "
                                      "immediate}\n" FIELD,
                                 &diag),
                     SELGW_OK);
    const selgw_addressing *a = &selgw_profile_set_find(set, "p")->addressing;
    assert_true(a->present);
    assert_int_equal(a->function, 6);
    assert_int_equal(a->unit_id_register, 0x07D0);
    assert_true(a->has_baud_register);
    assert_int_equal(a->baud_register, 0x07D1);
    assert_int_equal(a->apply, SELGW_APPLY_IMMEDIATE);
    assert_int_equal(selgw_addressing_baud_code(a, 9600), 2);
    assert_int_equal(selgw_addressing_baud_code(a, 4800), 1);
    assert_int_equal(selgw_addressing_baud_code(a, 19200), -1);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);

    /* absent: nothing known; present without apply: unstated */
    set = selgw_profile_set_new();
    assert_int_equal(load_inline(set, HEAD FIELD, &diag), SELGW_OK);
    assert_false(selgw_profile_set_find(set, "p")->addressing.present);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
    set = selgw_profile_set_new();
    assert_int_equal(load_inline(set, HEAD "addressing: {unit_id_register: 256}\n" FIELD, &diag),
                     SELGW_OK);
    a = &selgw_profile_set_find(set, "p")->addressing;
    assert_int_equal(a->apply, SELGW_APPLY_UNSTATED);
    assert_false(a->has_baud_register);
    assert_int_equal(selgw_addressing_baud_code(a, 9600), -1);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);

    expect_one_error(HEAD "addressing: {unit_id_register: 1, function: 3}\n" FIELD,
                     "p.yaml:4:45: function: 3 is not a write function (6 write single register, "
                     "16 write multiple registers)");
    expect_one_error(HEAD "addressing: {baud_register: 1}\n" FIELD,
                     "p.yaml:4:13: missing required key 'unit_id_register' in addressing");
    expect_one_error(HEAD "addressing: {unit_id_register: 1, baud_codes: {9600: 2}}\n" FIELD,
                     "p.yaml:4:47: baud_codes needs baud_register");
    expect_one_error(HEAD "addressing: {unit_id_register: 1, baud_register: 2, baud_codes: "
                          "{9601: 2}}\n" FIELD,
                     "p.yaml:4:66: baud_codes: 9601 is not one of 1200, 2400");
    expect_one_error(HEAD "addressing: {unit_id_register: 1, apply: later}\n" FIELD,
                     "p.yaml:4:42: apply: expected power-cycle or immediate");
    expect_one_error(HEAD "addressing: {unit_id_register: 1, wait: 1}\n" FIELD,
                     "p.yaml:4:35: unknown key 'wait' in addressing");
}

static void test_field_wider_than_max_read(void **state)
{
    (void)state;
    expect_one_error(HEAD "max_read_registers: 2\nfields:\n"
                          "  - {name: e, function: 3, address: 0, type: u64}\n",
                     "p.yaml:6:5: field 'e' (u64) needs 4 registers in one read, more than "
                     "max_read_registers 2");
    expect_one_error(HEAD "max_read_registers: 0\nfields:\n"
                          "  - {name: e, function: 3, address: 0, type: u16}\n",
                     "p.yaml:4:21: max_read_registers: 0 is out of range 1..125");
}

static void test_required_keys_and_types(void **state)
{
    (void)state;
    expect_one_error("name: p\nmodel: M\nsource: S\n", "p.yaml:1:1: missing required key "
                                                       "'fields' in profile");
    expect_one_error(HEAD "fields: []\n", "p.yaml:4:9: fields: a profile needs at least one field");
    expect_one_error(HEAD "fields: {a: 1}\n", "p.yaml:4:9: fields: expected a sequence, got a "
                                              "mapping");
    expect_one_error(HEAD "fields:\n  - {name: x, address: 0, type: u16}\n",
                     "p.yaml:5:5: missing required key 'function' in field 'x'");
    expect_one_error(HEAD "fields:\n  - {name: x, function: 3, address: '7', type: u16}\n",
                     "p.yaml:5:37: address: expected an integer, got '7'");
    expect_one_error(HEAD "fields:\n  - {name: x, function: 3, address: 0x, type: u16}\n",
                     "p.yaml:5:37: address: expected an integer, got '0x'");
    expect_one_error(HEAD "fields:\n  - {name: x, function: 3, address: 0, type: u16, scale: "
                          "nan}\n",
                     "p.yaml:5:58: scale: expected a number, got 'nan'");
    expect_one_error(HEAD "fields:\n  - {name: Soil, function: 3, address: 0, type: u16}\n",
                     "p.yaml:5:12: field name 'Soil': use lower-case letters, digits and '_'");
    expect_one_error(HEAD "fields:\n  - {name: x, function: 3, address: 0, type: u16, order: "
                          "ABDC}\n",
                     "p.yaml:5:58: order: expected one of ABCD, CDAB, BADC, DCBA");
    expect_one_error(HEAD "fields:\n  - {name: x, function: 3, address: 0, type: u16, range: "
                          "[1]}\n",
                     "p.yaml:5:58: range: expected [min, max] (either may be null)");
    expect_one_error("name: p\nmodel: \"\"\nsource: S\nfields:\n"
                     "  - {name: x, function: 3, address: 0, type: u16}\n",
                     "p.yaml:2:8: model must not be empty");
}

static void test_syntax_and_duplicate_keys(void **state)
{
    (void)state;
    expect_one_error(HEAD "fields: [\n", "p.yaml:5:1: ");
    expect_one_error(HEAD "max_gap: 1\nmax_gap: 2\nfields:\n"
                          "  - {name: x, function: 3, address: 0, type: u16}\n",
                     "p.yaml:5:1: duplicate key 'max_gap' (first at 4:1)");
    expect_one_error(HEAD "fields:\n  - {name: x, function: 3, function: 4, address: 0, type: "
                          "u16}\n",
                     "p.yaml:5:28: duplicate key 'function' (first at 5:15)");
}

static void test_hex_decimal_and_orders(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag;
    assert_int_equal(load_inline(set,
                                 HEAD "link: {unit_id: 0xFE, parity: even, stop_bits: 2}\n"
                                      "fields:\n"
                                      "  - {name: a, function: 3, address: 010, type: s32, order: "
                                      "dcba}\n"
                                      "  - {name: b, function: 3, address: 0x00FF, type: u64, "
                                      "order: BADC, offset: -40, scale: 1e-2}\n"
                                      "  - {name: c, function: 3, address: 65532, type: f64}\n",
                                 &diag),
                     SELGW_OK);
    print_diag(diag);
    const selgw_profile *p = selgw_profile_set_find(set, "p");
    assert_non_null(p);
    assert_int_equal(p->default_unit_id, 254);
    assert_int_equal(p->parity, 'E');
    assert_int_equal(p->stop_bits, 2);
    assert_int_equal(p->fields[0].address, 10); /* "010" is decimal, not octal */
    assert_int_equal(p->fields[0].order, SELGW_ORDER_DCBA);
    assert_int_equal(p->fields[1].address, 255);
    assert_int_equal(p->fields[1].order, SELGW_ORDER_BADC);
    assert_true(p->fields[1].offset == -40);
    assert_true(p->fields[1].scale == 0.01);
    assert_int_equal(p->fields[2].address, 65532); /* 65532..65535 fits exactly */
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

static void test_failed_load_adds_nothing(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag;
    assert_int_equal(
        load_inline(set, HEAD "fields:\n  - {name: x, function: 3, address: 0, type: u16}\n",
                    &diag),
        SELGW_OK);
    selgw_diag_free(diag);
    /* same name again: an error naming both files */
    assert_int_equal(
        selgw_profile_set_load_string(
            set, "q.yaml", HEAD "fields:\n  - {name: y, function: 4, address: 0, type: u16}\n",
            strlen(HEAD "fields:\n  - {name: y, function: 4, address: 0, type: u16}\n"),
            (diag = selgw_diag_new())),
        SELGW_ERR_CONFIG);
    assert_int_equal(selgw_diag_count(diag), 1);
    assert_diag(diag, "q.yaml:1:7: duplicate profile name 'p': already defined in p.yaml");
    assert_int_equal(selgw_profile_set_count(set), 1);
    assert_int_equal(selgw_profile_set_find(set, "p")->fields[0].function, 3);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

static void test_builtin_profiles(void **state)
{
    (void)state;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag = selgw_diag_new();
    selgw_err err = selgw_profile_set_load_builtin(set, diag);
    print_diag(diag);
    assert_int_equal(err, SELGW_OK);
    assert_int_equal(selgw_diag_count(diag), 0);
    assert_int_equal(selgw_profile_set_count(set), selgw_embedded_profiles_count);
    for (size_t i = 0; i < selgw_embedded_profiles_count; i++) {
        const selgw_profile *p = selgw_profile_set_at(set, i);
        char want[256];
        snprintf(want, sizeof(want), "<builtin>/%s.yaml", p->name);
        /* file NAME.yaml holds profile NAME */
        assert_string_equal(p->path, want);
        assert_true(p->field_count > 0);
    }
    static const char *const shipped[] = {
        "cwt-soil-thc-s",     "renke-rs-ecth-n01-tr", "sn-3002-tr-ecthnpkph",
        "jxct-jxbs-3001-npk", "seeed-s-soil-mtec-02", "xy-md02",
        "senseair-k30",       "generic-climate",
    };
    for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++)
        assert_non_null(selgw_profile_set_find(set, shipped[i]));
    /* a second load: every name is taken, nothing is added */
    assert_int_equal(selgw_profile_set_load_builtin(set, diag), SELGW_ERR_CONFIG);
    assert_int_equal(selgw_profile_set_count(set), selgw_embedded_profiles_count);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
}

static void test_type_and_order_names(void **state)
{
    (void)state;
    static const char *const types[] = {"bit", "u16", "s16", "u32", "s32",
                                        "u64", "s64", "f32", "f64"};
    for (int t = SELGW_TYPE_BIT; t <= SELGW_TYPE_F64; t++) {
        selgw_value_type parsed;
        assert_string_equal(selgw_value_type_name((selgw_value_type)t), types[t]);
        assert_true(selgw_value_type_parse(types[t], &parsed));
        assert_int_equal(parsed, t);
    }
    static const char *const orders[] = {"ABCD", "CDAB", "BADC", "DCBA"};
    for (int o = SELGW_ORDER_ABCD; o <= SELGW_ORDER_DCBA; o++) {
        selgw_byte_order parsed;
        assert_string_equal(selgw_byte_order_name((selgw_byte_order)o), orders[o]);
        assert_true(selgw_byte_order_parse(orders[o], &parsed));
        assert_int_equal(parsed, o);
    }
    selgw_value_type t;
    selgw_byte_order o;
    assert_false(selgw_value_type_parse("u8", &t));
    assert_false(selgw_value_type_parse("", &t));
    assert_false(selgw_byte_order_parse("ABDC", &o));
    assert_false(selgw_byte_order_parse(NULL, &o));
}

static void test_null_set_is_fine(void **state)
{
    (void)state;
    selgw_profile_set_free(NULL);
    assert_null(selgw_profile_set_find(NULL, "x"));
    assert_int_equal(selgw_profile_set_count(NULL), 0);
    assert_int_equal(selgw_profile_field_index(NULL, "x"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_file_fields_and_defaults),
        cmocka_unit_test(test_load_dir_in_name_order),
        cmocka_unit_test(test_missing_dir_and_file),
        cmocka_unit_test(test_all_errors_reported_with_positions),
        cmocka_unit_test(test_function_and_type_must_match),
        cmocka_unit_test(test_overlap_names_both_fields),
        cmocka_unit_test(test_field_wider_than_max_read),
        cmocka_unit_test(test_required_keys_and_types),
        cmocka_unit_test(test_syntax_and_duplicate_keys),
        cmocka_unit_test(test_hex_decimal_and_orders),
        cmocka_unit_test(test_failed_load_adds_nothing),
        cmocka_unit_test(test_builtin_profiles),
        cmocka_unit_test(test_addressing),
        cmocka_unit_test(test_type_and_order_names),
        cmocka_unit_test(test_null_set_is_fine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
