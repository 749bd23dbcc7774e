/* The HTTP server's password (http/auth.c): Basic credentials checked against a
 * crypto_pwhash_str hash, any user name, every malformed header refused; a verified
 * credential remembered so that the slow verify runs once for many requests, a wrong one
 * never remembered; after a wrong one no verify for a second (remembered credentials still
 * pass); the hash strings the config and the server take (base/password.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "base/password.h"
#include "http/auth.h"

#define MS INT64_C(1000000)

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
        /* each a back-off after the last: verified, not refused unseen */
        unsigned long before = selgw_http_auth_verifies(a);
        basic(wrong[i], header, sizeof header);
        assert_false(selgw_http_auth_check_at(a, header, (int64_t)(i + 1) * 10000 * MS));
        assert_int_equal(selgw_http_auth_verifies(a), before + (i == 2 ? 0 : 1)); /* no colon */
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

/* Ten requests with the right password: one verify. A wrong password: a verify when the
 * last failed one is a back-off ago (never remembered), and it does not evict the right one.
 * The times are given (selgw_http_auth_check_at): 1 s apart, each wrong one is verified. */
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
    int64_t t = 1000 * MS;
    for (int i = 0; i < 10; i++)
        assert_true(selgw_http_auth_check_at(a, good, t));
    assert_int_equal(selgw_http_auth_verifies(a), 1);
    for (int i = 0; i < 3; i++) {
        t += SELGW_HTTP_AUTH_BACKOFF_MS * MS;
        assert_false(selgw_http_auth_check_at(a, bad, t));
    }
    assert_int_equal(selgw_http_auth_verifies(a), 4);
    assert_true(selgw_http_auth_check_at(a, good, t));
    assert_int_equal(selgw_http_auth_verifies(a), 4);
    /* a server with another hash: what one remembered is nothing to the other */
    char other[SELGW_PASSWORD_HASH_SIZE];
    quick_hash("something-else", other);
    selgw_http_auth *b;
    assert_int_equal(selgw_http_auth_new(other, &b), SELGW_OK);
    assert_false(selgw_http_auth_check_at(b, good, t));
    selgw_http_auth_free(b);
    selgw_http_auth_free(a);
}

/* A stream of wrong passwords (review 11 #7): after one failed verify, every other guess
 * within the back-off is refused without a verify; a credential already remembered passes
 * all along; the right password not yet remembered is refused too until the back-off ends,
 * then verified and taken. Malformed credentials never verify, so they start no back-off. */
static void test_failed_verify_backs_off(void **state)
{
    (void)state;
    char hash[SELGW_PASSWORD_HASH_SIZE];
    quick_hash("rice-blast", hash);
    selgw_http_auth *a;
    assert_int_equal(selgw_http_auth_new(hash, &a), SELGW_OK);
    char good[128], good_other_user[128], bad[128], bad2[128];
    basic("selgw:rice-blast", good, sizeof good);
    basic("farmer:rice-blast", good_other_user, sizeof good_other_user);
    basic("selgw:guess-1", bad, sizeof bad);
    basic("selgw:guess-2", bad2, sizeof bad2);
    int64_t t0 = 5000 * MS;
    assert_false(selgw_http_auth_check_at(a, "Basic !!!!", t0));
    assert_false(selgw_http_auth_check_at(a, "Basic bm9jb2xvbg==", t0)); /* "nocolon" */
    assert_int_equal(selgw_http_auth_verifies(a), 0);
    assert_true(selgw_http_auth_check_at(a, good, t0)); /* remembered from now on */
    assert_int_equal(selgw_http_auth_verifies(a), 1);

    assert_false(selgw_http_auth_check_at(a, bad, t0 + 1 * MS)); /* verified, failed */
    assert_int_equal(selgw_http_auth_verifies(a), 2);
    for (int64_t ms = 2; ms < 1 + SELGW_HTTP_AUTH_BACKOFF_MS; ms += 50) {
        assert_false(selgw_http_auth_check_at(a, bad2, t0 + ms * MS));
        assert_false(selgw_http_auth_check_at(a, good_other_user, t0 + ms * MS));
        assert_true(selgw_http_auth_check_at(a, good, t0 + ms * MS));
    }
    assert_int_equal(selgw_http_auth_verifies(a), 2);
    /* the back-off over: one verify again, and the right password is taken */
    int64_t after = t0 + (1 + SELGW_HTTP_AUTH_BACKOFF_MS) * MS;
    assert_true(selgw_http_auth_check_at(a, good_other_user, after));
    assert_int_equal(selgw_http_auth_verifies(a), 3);
    assert_false(selgw_http_auth_check_at(a, bad2, after));
    assert_int_equal(selgw_http_auth_verifies(a), 4);
    assert_false(selgw_http_auth_check_at(a, bad, after + 10 * MS));
    assert_int_equal(selgw_http_auth_verifies(a), 4);
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
    /* the shape of selgw passwd's hash with Argon2 parameters no verify takes (m below 8 KiB,
     * a 4-byte salt): refused by the one rule, here as by the config */
    const char *shaped[] = {
        "$argon2id$v=19$m=1,t=1,p=1$mkwISnxGxvmRPOLSYPQVOg$WdSOockoLdUMYfYauS4zy5cBglz+"
        "ofErWl80N3ZYjWU",
        "$argon2id$v=19$m=65536,t=2,p=1$mkwISg$WdSOockoLdUMYfYauS4zy5cBglz+ofErWl80N3ZYjWU",
        "$argon2id$v=19$m=65536,t=0,p=1$mkwISnxGxvmRPOLSYPQVOg$WdSOockoLdUMYfYauS4zy5cBglz+"
        "ofErWl80N3ZYjWU",
    };
    for (size_t i = 0; i < sizeof shaped / sizeof shaped[0]; i++) {
        assert_false(selgw_password_hash_valid(shaped[i]));
        assert_int_equal(selgw_http_auth_new(shaped[i], &a), SELGW_ERR_INVALID);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_credentials),
        cmocka_unit_test(test_verified_credentials_are_remembered),
        cmocka_unit_test(test_failed_verify_backs_off),
        cmocka_unit_test(test_hash_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
