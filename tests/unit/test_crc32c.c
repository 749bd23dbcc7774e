/* CRC32C: the known check value, the table and the SSE 4.2 versions against a bitwise one
 * from the definition at every alignment and many lengths, and chaining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "journal/crc32c.h"
#include "test_util.h"

static void test_check_value(void **state)
{
    (void)state;
    assert_int_equal(selgw_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(selgw_crc32c_portable(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(selgw_crc32c(0, "", 0), 0);
    assert_int_equal(selgw_crc32c_portable(0, "", 0), 0);
}

static void test_against_the_definition(void **state)
{
    (void)state;
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    for (size_t start = 0; start < 9; start++)
        for (size_t len = 0; len + start <= sizeof buf; len += 13) {
            uint32_t want = test_crc32c_bitwise(0, buf + start, len);
            assert_int_equal(selgw_crc32c(0, buf + start, len), want);
            assert_int_equal(selgw_crc32c_portable(0, buf + start, len), want);
        }
}

static void test_chaining(void **state)
{
    (void)state;
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    uint32_t a = selgw_crc32c(0, buf, 100);
    assert_int_equal(selgw_crc32c(a, buf + 100, 200), test_crc32c_bitwise(0, buf, 300));
    uint32_t b = selgw_crc32c_portable(0, buf, 7);
    assert_int_equal(selgw_crc32c_portable(b, buf + 7, 293), test_crc32c_bitwise(0, buf, 300));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_against_the_definition),
        cmocka_unit_test(test_chaining),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
