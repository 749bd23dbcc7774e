/* Diagnostics: messages carry their position, sort by file, line and column, and keep the
 * order they were added in where positions are equal (the sort is stable because each
 * entry remembers its place). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/diag.h"

static void test_message_forms(void **state)
{
    (void)state;
    selgw_diag *d = selgw_diag_new();
    assert_non_null(d);
    selgw_diag_add(d, "a.yaml", 3, 7, "bad %s", "value");
    selgw_diag_add(d, "a.yaml", 4, 0, "no column");
    selgw_diag_add(d, NULL, 0, 0, "nowhere");
    assert_int_equal(selgw_diag_count(d), 3);
    assert_string_equal(selgw_diag_message(d, 0), "a.yaml:3:7: bad value");
    assert_string_equal(selgw_diag_message(d, 1), "a.yaml:4: no column");
    assert_string_equal(selgw_diag_message(d, 2), "<input>: nowhere");
    selgw_diag_free(d);
}

static void test_sort_is_stable(void **state)
{
    (void)state;
    selgw_diag *d = selgw_diag_new();
    assert_non_null(d);
    /* more than the first allocation (16), so that growth keeps the order too */
    for (int i = 0; i < 40; i++)
        selgw_diag_add(d, i % 2 ? "b.yaml" : "a.yaml", 5, 1, "%d", i);
    selgw_diag_add(d, "a.yaml", 1, 1, "first");
    selgw_diag_sort(d);
    assert_int_equal(selgw_diag_count(d), 41);
    assert_string_equal(selgw_diag_message(d, 0), "a.yaml:1:1: first");
    for (int k = 0; k < 20; k++) {
        char want[64];
        snprintf(want, sizeof want, "a.yaml:5:1: %d", 2 * k);
        assert_string_equal(selgw_diag_message(d, 1 + (size_t)k), want);
        snprintf(want, sizeof want, "b.yaml:5:1: %d", 2 * k + 1);
        assert_string_equal(selgw_diag_message(d, 21 + (size_t)k), want);
    }
    selgw_diag_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_forms),
        cmocka_unit_test(test_sort_is_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
