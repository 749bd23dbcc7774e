/* The HTTP server's password (http/auth.c): Basic credentials checked against a
 * crypto_pwhash_str hash, any user name, every malformed header refused; a verified
 * credential remembered so that the slow verify runs once for many requests, a wrong one
 * never remembered; the hash strings the config takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "http/auth.h"

/* A hash with libsodium's smallest limits: the checks are the same, the test fast. */
static void quick_hash(const char *password, char out[SELGW_PASSWORD_HASH_SIZE])
{
    assert_true(sodium_init() >= 0);
    assert_int_equal(crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN),
                     0);
}

/* "Basic " and base64 of text. */
static void basic(const char *text, char *out, size_t cap)
{
    memcpy(out, "Basic ", 6);
    sodium_bin2base64(out + 6, cap - 6, (const unsigned char *)text, strlen(text),
                      sodium_base64_VARIANT_ORIGINAL);
}

static void test_basic_credentials(void **state)
{
    (void)state;
    char hash[SELGW_PASSWORD_HASH_SIZE];
    quick_hash("tea-frost-2026", hash);
    selgw_http_auth *a;
    assert_int_equal(selgw_http_auth_new(hash, &a), SELGW_OK);
    char header[256];
    basic("selgw:tea-frost-2026", header, sizeof header);
    assert_true(selgw_http_auth_check(a, header));
    basic("manager:tea-frost-2026", header, sizeof header); /* any user name */
    assert_true(selgw_http_auth_check(a, header));
    basic(":tea-frost-2026", header, sizeof header);
    assert_true(selgw_http_auth_check(a, header));
    header[0] = 'b'; /* the scheme's case does not matter */
    assert_true(selgw_http_auth_check(a, header));

    const char *wrong[] = {"selgw:tea-frost-2025", "selgw:", "tea-frost-2026",
                           "selgw:tea-frost-2026 ", "selgw:TEA-FROST-2026"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        basic(wrong[i], header, sizeof header);
        assert_false(selgw_http_auth_check(a, header));
    }
    assert_false(selgw_http_auth_check(a, NULL));
    assert_false(selgw_http_auth_check(a, ""));
    assert_false(selgw_http_auth_check(a, "Basic "));
    assert_false(selgw_http_auth_check(a, "Basic !!!!"));
    assert_false(selgw_http_auth_check(a, "Bearer c2VsZ3c6dGVhLWZyb3N0LTIwMjY="));
    char huge[4096];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    memcpy(huge, "Basic ", 6);
    assert_false(selgw_http_auth_check(a, huge));
    selgw_http_auth_free(a);
    selgw_http_auth_free(NULL);
}

/* Ten requests with the right password: one verify. A wrong password: a verify each time
 * (never remembered), and it does not evict the right one. */
static void test_verified_credentials_are_remembered(void **state)
{
    (void)state;
    char hash[SELGW_PASSWORD_HASH_SIZE];
    quick_hash("konjac-rot", hash);
    selgw_http_auth *a;
    assert_int_equal(selgw_http_auth_new(hash, &a), SELGW_OK);
    char good[128], bad[128];
    basic("selgw:konjac-rot", good, sizeof good);
    basic("selgw:konjac-rat", bad, sizeof bad);
    for (int i = 0; i < 10; i++)
        assert_true(selgw_http_auth_check(a, good));
    assert_int_equal(selgw_http_auth_verifies(a), 1);
    for (int i = 0; i < 3; i++)
        assert_false(selgw_http_auth_check(a, bad));
    assert_int_equal(selgw_http_auth_verifies(a), 4);
    assert_true(selgw_http_auth_check(a, good));
    assert_int_equal(selgw_http_auth_verifies(a), 4);
    /* a server with another hash: what one remembered is nothing to the other */
    char other[SELGW_PASSWORD_HASH_SIZE];
    quick_hash("something-else", other);
    selgw_http_auth *b;
    assert_int_equal(selgw_http_auth_new(other, &b), SELGW_OK);
    assert_false(selgw_http_auth_check(b, good));
    selgw_http_auth_free(b);
    selgw_http_auth_free(a);
}

/* selgw passwd's hash (libsodium's interactive limits) verifies; the strings taken. */
static void test_hash_strings(void **state)
{
    (void)state;
    char hash[SELGW_PASSWORD_HASH_SIZE];
    assert_int_equal(selgw_password_hash("a long password", 15, hash), SELGW_OK);
    assert_true(selgw_password_hash_valid(hash));
    assert_int_equal(strncmp(hash, "$argon2id$v=19$", 15), 0);
    selgw_http_auth *a;
    assert_int_equal(selgw_http_auth_new(hash, &a), SELGW_OK);
    char header[128];
    basic("x:a long password", header, sizeof header);
    assert_true(selgw_http_auth_check(a, header));
    selgw_http_auth_free(a);

    assert_false(selgw_password_hash_valid(NULL));
    assert_false(selgw_password_hash_valid(""));
    assert_false(selgw_password_hash_valid("hunter22"));
    assert_false(selgw_password_hash_valid("$2y$10$abcdefghijklmnopqrstuv")); /* bcrypt */
    assert_false(selgw_password_hash_valid("$argon2id$v=19$m=garbage"));
    assert_int_equal(selgw_http_auth_new("hunter22", &a), SELGW_ERR_INVALID);
    assert_null(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_credentials),
        cmocka_unit_test(test_verified_credentials_are_remembered),
        cmocka_unit_test(test_hash_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
