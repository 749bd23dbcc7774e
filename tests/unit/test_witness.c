/* Witness statements (gateway/evidence/witness.c): a signed statement verifies and
 * round-trips through its wire form; changing any field, the gateway, the seal or the
 * signature makes it fail; malformed wire forms are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "evidence/keys.h"
#include "evidence/witness.h"
#include "test_util.h"

static char scratch[64];
static selgw_signer *signer, *other;

static selgw_signer *make_key(const char *name)
{
    char path[256], pk[SELGW_PUBLIC_KEY_TEXT_SIZE], why[256];
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    unlink(path);
    assert_int_equal(selgw_keygen(path, pk, why, sizeof why), SELGW_OK);
    selgw_signer *s = NULL;
    assert_int_equal(selgw_signer_load(path, &s, why, sizeof why), SELGW_OK);
    return s;
}

static int setup(void **state)
{
    (void)state;
    if (!test_scratch_dir(scratch, sizeof scratch, "witness"))
        return -1;
    signer = make_key("witness.key");
    other = make_key("other.key");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    selgw_signer_free(signer);
    selgw_signer_free(other);
    remove_tree(scratch);
    return 0;
}

static selgw_witness statement(void)
{
    selgw_witness w = {
        .gateway = "ziyang-gw-01", .seal_seq = 42, .witnessed_ns = 1764600000123456789};
    for (int i = 0; i < SELGW_HASH_BYTES; i++)
        w.seal_hash[i] = (uint8_t)(i * 7 + 1);
    selgw_witness_sign(&w, signer);
    return w;
}

static void test_signed_statement_verifies_and_round_trips(void **state)
{
    (void)state;
    selgw_witness w = statement();
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    selgw_signer_public_key(signer, pk);
    assert_memory_equal(w.key, pk, sizeof pk);
    assert_true(selgw_witness_signature_ok(&w));

    uint8_t buf[SELGW_WITNESS_MAX_BYTES];
    size_t n = selgw_witness_encode(&w, buf, sizeof buf);
    assert_int_equal(n, 1 + 2 + 12 + 8 + 32 + 32 + 8 + 64);
    assert_int_equal(buf[0], SELGW_WITNESS_FORMAT);
    assert_int_equal(selgw_witness_encode(&w, NULL, 0), n); /* snprintf-style */
    selgw_witness back;
    assert_int_equal(selgw_witness_decode(buf, n, &back), SELGW_OK);
    assert_memory_equal(&back, &w, sizeof w);
    assert_true(selgw_witness_signature_ok(&back));

    /* the message starts with the domain and its NUL, then the gateway id */
    uint8_t msg[512];
    size_t m = selgw_witness_message(&w, msg, sizeof msg);
    assert_int_equal(m, sizeof SELGW_WITNESS_DOMAIN + n - 1 - 64);
    assert_memory_equal(msg, "selgw-witness 1\0\x0c\x00ziyang-gw-01", 16 + 2 + 12);
}

static void test_every_field_is_signed(void **state)
{
    (void)state;
    const selgw_witness good = statement();
    selgw_witness w;
    w = good;
    w.gateway[0] = 'x';
    assert_false(selgw_witness_signature_ok(&w));
    w = good;
    w.seal_seq++;
    assert_false(selgw_witness_signature_ok(&w));
    w = good;
    w.seal_hash[31] ^= 1;
    assert_false(selgw_witness_signature_ok(&w));
    w = good;
    w.witnessed_ns -= 1000000000; /* backdated by a second */
    assert_false(selgw_witness_signature_ok(&w));
    w = good;
    w.signature[0] ^= 0x80;
    assert_false(selgw_witness_signature_ok(&w));
    w = good; /* another key claimed for the same signature */
    selgw_signer_public_key(other, w.key);
    assert_false(selgw_witness_signature_ok(&w));
    w = good; /* re-signed by another witness: good, but by that key */
    selgw_witness_sign(&w, other);
    assert_true(selgw_witness_signature_ok(&w));
    assert_memory_not_equal(w.key, good.key, SELGW_PUBLIC_KEY_BYTES);
}

static void test_witnessed_time_must_be_plausible(void **state)
{
    (void)state;
    assert_true(selgw_witness_time_plausible(SELGW_WITNESS_EARLIEST_NS));
    assert_true(selgw_witness_time_plausible(1780000000LL * 1000000000LL)); /* 2026 */
    assert_true(selgw_witness_time_plausible(SELGW_WITNESS_LATEST_NS));
    assert_false(selgw_witness_time_plausible(SELGW_WITNESS_EARLIEST_NS - 1));
    assert_false(selgw_witness_time_plausible(0));
    assert_false(selgw_witness_time_plausible(INT64_MIN));
    assert_false(selgw_witness_time_plausible(SELGW_WITNESS_LATEST_NS + 1));
    assert_false(selgw_witness_time_plausible(INT64_MAX));
    /* the bounds are the dates they stand for */
    assert_int_equal(SELGW_WITNESS_EARLIEST_NS, 946684800LL * 1000000000LL); /* 2000-01-01 */
    assert_int_equal(SELGW_WITNESS_LATEST_NS, 7258118400LL * 1000000000LL);  /* 2200-01-01 */
}

static void test_malformed_wire_forms_are_refused(void **state)
{
    (void)state;
    selgw_witness w = statement();
    uint8_t buf[SELGW_WITNESS_MAX_BYTES + 1];
    size_t n = selgw_witness_encode(&w, buf, sizeof buf);
    selgw_witness out;
    for (size_t cut = 0; cut < n; cut++) /* every truncation */
        assert_int_equal(selgw_witness_decode(buf, cut, &out), SELGW_ERR_CORRUPT);
    buf[n] = 0; /* a byte left over */
    assert_int_equal(selgw_witness_decode(buf, n + 1, &out), SELGW_ERR_CORRUPT);
    buf[0] = 2; /* unknown format */
    assert_int_equal(selgw_witness_decode(buf, n, &out), SELGW_ERR_CORRUPT);
    buf[0] = 1;
    buf[3] = '\0'; /* a NUL in the gateway id */
    assert_int_equal(selgw_witness_decode(buf, n, &out), SELGW_ERR_CORRUPT);
    assert_int_equal(selgw_witness_decode(NULL, 0, &out), SELGW_ERR_CORRUPT);
    selgw_witness empty = w;
    empty.gateway[0] = '\0';
    assert_int_equal(selgw_witness_encode(&empty, buf, sizeof buf), 0);
    assert_int_equal(selgw_witness_message(&empty, buf, sizeof buf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_statement_verifies_and_round_trips),
        cmocka_unit_test(test_every_field_is_signed),
        cmocka_unit_test(test_witnessed_time_must_be_plausible),
        cmocka_unit_test(test_malformed_wire_forms_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
