/* String map: keys are byte strings compared by length and content (NUL bytes and the
 * empty key included), values are replaced in place, the map keeps every value while it
 * grows to 100000 keys, and clear leaves it usable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/strmap.h"

#define NOT_SET ((size_t)0xfeedface)

static selgw_strmap *new_map(void)
{
    selgw_strmap *m = NULL;
    assert_int_equal(selgw_strmap_new(&m), SELGW_OK);
    assert_non_null(m);
    return m;
}

static void put(selgw_strmap *m, const char *key, size_t len, size_t value)
{
    assert_int_equal(selgw_strmap_put(m, key, len, value), SELGW_OK);
}

/* The value for key[0..len), or NOT_SET when there is none (and then nothing was written
 * to the caller's variable). */
static size_t get(const selgw_strmap *m, const char *key, size_t len)
{
    size_t value = NOT_SET;
    bool found = selgw_strmap_get(m, key, len, &value);
    if (!found)
        assert_int_equal(value, NOT_SET);
    else
        assert_true(value != NOT_SET);
    return value;
}

#define GET(m, s) get((m), (s), sizeof(s) - 1)
#define PUT(m, s, v) put((m), (s), sizeof(s) - 1, (v))

static void test_get_on_an_empty_map(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    assert_int_equal(selgw_strmap_count(m), 0);
    assert_int_equal(GET(m, "plot/7"), NOT_SET);
    assert_int_equal(GET(m, ""), NOT_SET);
    selgw_strmap_free(m);
}

static void test_put_then_get(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    PUT(m, "plot/7", 7);
    PUT(m, "device/soil-1", 11);
    PUT(m, "household/HH-001", 0); /* zero is a value like any other */
    assert_int_equal(GET(m, "plot/7"), 7);
    assert_int_equal(GET(m, "device/soil-1"), 11);
    assert_int_equal(GET(m, "household/HH-001"), 0);
    assert_int_equal(GET(m, "plot/8"), NOT_SET);
    selgw_strmap_free(m);
}

static void test_put_replaces(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    PUT(m, "chain", 1);
    PUT(m, "chain", 2);
    assert_int_equal(GET(m, "chain"), 2);
    PUT(m, "chain", SIZE_MAX);
    assert_int_equal(GET(m, "chain"), SIZE_MAX);
    assert_int_equal(selgw_strmap_count(m), 1);
    selgw_strmap_free(m);
}

/* "abcd" cut at three lengths is three keys; and a key that is a prefix of another is not
 * found through it. */
static void test_keys_that_differ_only_in_length(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    const char *text = "abcdef";
    put(m, text, 2, 20);
    put(m, text, 3, 30);
    put(m, text, 4, 40);
    assert_int_equal(get(m, text, 2), 20);
    assert_int_equal(get(m, text, 3), 30);
    assert_int_equal(get(m, text, 4), 40);
    assert_int_equal(get(m, text, 1), NOT_SET);
    assert_int_equal(get(m, text, 5), NOT_SET);
    assert_int_equal(selgw_strmap_count(m), 3);
    selgw_strmap_free(m);
}

static void test_keys_that_differ_only_in_the_last_byte(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    PUT(m, "device-01", 1);
    PUT(m, "device-02", 2);
    PUT(m, "device-0\xff", 3);
    assert_int_equal(GET(m, "device-01"), 1);
    assert_int_equal(GET(m, "device-02"), 2);
    assert_int_equal(GET(m, "device-0\xff"), 3);
    assert_int_equal(GET(m, "device-03"), NOT_SET);
    assert_int_equal(GET(m, "device-0\x7f"), NOT_SET);
    selgw_strmap_free(m);
}

static void test_the_empty_key(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    PUT(m, "", 5);
    assert_int_equal(selgw_strmap_count(m), 1);
    assert_int_equal(GET(m, ""), 5);
    /* the empty key is not a one-byte NUL key */
    assert_int_equal(get(m, "\0", 1), NOT_SET);
    put(m, "\0", 1, 6);
    assert_int_equal(GET(m, ""), 5);
    assert_int_equal(get(m, "\0", 1), 6);
    /* any pointer spells the empty key */
    assert_int_equal(get(m, "something", 0), 5);
    selgw_strmap_free(m);
}

/* Keys are byte strings, not C strings: everything after a NUL counts. */
static void test_keys_with_nul_bytes_inside(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    put(m, "a", 1, 1);
    put(m, "a\0", 2, 2);
    put(m, "a\0b", 3, 3);
    put(m, "a\0c", 3, 4);
    put(m, "\0\0\0", 3, 5);
    assert_int_equal(selgw_strmap_count(m), 5);
    assert_int_equal(get(m, "a", 1), 1);
    assert_int_equal(get(m, "a\0", 2), 2);
    assert_int_equal(get(m, "a\0b", 3), 3);
    assert_int_equal(get(m, "a\0c", 3), 4);
    assert_int_equal(get(m, "\0\0\0", 3), 5);
    assert_int_equal(get(m, "\0\0", 2), NOT_SET);
    assert_int_equal(get(m, "a\0d", 3), NOT_SET);
    selgw_strmap_free(m);
}

/* The map keeps its own copy: changing or freeing the caller's bytes changes nothing. */
static void test_keys_are_copied(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    char key[] = "household/HH-001";
    put(m, key, strlen(key), 1);
    key[strlen(key) - 1] = '2';
    assert_int_equal(GET(m, "household/HH-001"), 1);
    assert_int_equal(GET(m, "household/HH-002"), NOT_SET);
    selgw_strmap_free(m);
}

static size_t key_of(char *buf, size_t cap, size_t i)
{
    int n = snprintf(buf, cap, "device/%zu", i);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* 100000 keys: the table grows many times over, and every value is still there, every
 * replacement lands on the right key, and keys never put are not found. */
static void test_hundred_thousand_keys(void **state)
{
    (void)state;
    enum { COUNT = 100000 };
    selgw_strmap *m = new_map();
    char key[32];
    for (size_t i = 0; i < COUNT; i++) {
        put(m, key, key_of(key, sizeof key, i), i * 3 + 1);
        assert_int_equal(selgw_strmap_count(m), i + 1);
    }
    for (size_t i = 0; i < COUNT; i++)
        assert_int_equal(get(m, key, key_of(key, sizeof key, i)), i * 3 + 1);
    for (size_t i = 0; i < COUNT; i += 2)
        put(m, key, key_of(key, sizeof key, i), i);
    assert_int_equal(selgw_strmap_count(m), COUNT);
    for (size_t i = 0; i < COUNT; i++)
        assert_int_equal(get(m, key, key_of(key, sizeof key, i)), i % 2 ? i * 3 + 1 : i);
    for (size_t i = COUNT; i < COUNT + 1000; i++)
        assert_int_equal(get(m, key, key_of(key, sizeof key, i)), NOT_SET);
    assert_int_equal(GET(m, "device/"), NOT_SET);
    selgw_strmap_free(m);
}

static void test_count(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    assert_int_equal(selgw_strmap_count(m), 0);
    PUT(m, "a", 1);
    PUT(m, "b", 2);
    assert_int_equal(selgw_strmap_count(m), 2);
    PUT(m, "a", 3); /* a replacement is not a new key */
    assert_int_equal(selgw_strmap_count(m), 2);
    PUT(m, "", 4);
    assert_int_equal(selgw_strmap_count(m), 3);
    selgw_strmap_free(m);
}

static void test_clear_keeps_the_map_usable(void **state)
{
    (void)state;
    selgw_strmap *m = new_map();
    selgw_strmap_clear(m); /* clearing a map that never held anything */
    assert_int_equal(selgw_strmap_count(m), 0);

    char key[32];
    for (size_t i = 0; i < 1000; i++)
        put(m, key, key_of(key, sizeof key, i), i);
    selgw_strmap_clear(m);
    assert_int_equal(selgw_strmap_count(m), 0);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(get(m, key, key_of(key, sizeof key, i)), NOT_SET);

    /* filled again, some keys old and some new, with other values */
    for (size_t i = 500; i < 1500; i++)
        put(m, key, key_of(key, sizeof key, i), i + 7);
    assert_int_equal(selgw_strmap_count(m), 1000);
    for (size_t i = 0; i < 1500; i++)
        assert_int_equal(get(m, key, key_of(key, sizeof key, i)), i < 500 ? NOT_SET : i + 7);

    selgw_strmap_clear(m);
    selgw_strmap_clear(m);
    assert_int_equal(selgw_strmap_count(m), 0);
    PUT(m, "again", 9);
    assert_int_equal(GET(m, "again"), 9);
    selgw_strmap_free(m);
}

/* Maps share the process's hash key but nothing else. */
static void test_maps_are_independent(void **state)
{
    (void)state;
    selgw_strmap *a = new_map(), *b = new_map();
    PUT(a, "plot/7", 1);
    PUT(b, "plot/7", 2);
    assert_int_equal(GET(a, "plot/7"), 1);
    assert_int_equal(GET(b, "plot/7"), 2);
    selgw_strmap_clear(a);
    assert_int_equal(GET(a, "plot/7"), NOT_SET);
    assert_int_equal(GET(b, "plot/7"), 2);
    selgw_strmap_free(a);
    selgw_strmap_free(b);
}

static void test_free_null(void **state)
{
    (void)state;
    selgw_strmap_free(NULL);
    selgw_strmap_free(new_map()); /* and a map that never held a key */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_on_an_empty_map),
        cmocka_unit_test(test_put_then_get),
        cmocka_unit_test(test_put_replaces),
        cmocka_unit_test(test_keys_that_differ_only_in_length),
        cmocka_unit_test(test_keys_that_differ_only_in_the_last_byte),
        cmocka_unit_test(test_the_empty_key),
        cmocka_unit_test(test_keys_with_nul_bytes_inside),
        cmocka_unit_test(test_keys_are_copied),
        cmocka_unit_test(test_hundred_thousand_keys),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_clear_keeps_the_map_usable),
        cmocka_unit_test(test_maps_are_independent),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
