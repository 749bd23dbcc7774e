/* Keys: keygen writes a private file and never overwrites one; a loaded key signs what its
 * printed public key verifies; refused key files say why; public key text; BLAKE2b-256
 * known answers. Tests run as root too, so permission checks chmod files rather than rely
 * on another user being unable to read them. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "evidence/keys.h"
#include "test_util.h"

#define HEADER "selgw-ed25519-secret-key 1\n"

static char scratch[64];
static char paths[64][256];
static size_t path_count;

static int setup_scratch(void **state)
{
    (void)state;
    return test_scratch_dir(scratch, sizeof scratch, "keys") ? 0 : -1;
}

static int teardown_scratch(void **state)
{
    (void)state;
    remove_tree(scratch);
    return 0;
}

/* A path in the scratch directory, removed at the end. */
static const char *scratch_path(const char *name)
{
    assert_true(path_count < sizeof(paths) / sizeof(paths[0]));
    char *path = paths[path_count++];
    snprintf(path, sizeof(paths[0]), "%s/%s", scratch, name);
    unlink(path);
    return path;
}

static const char *write_file(const char *name, const char *text, mode_t mode)
{
    const char *path = scratch_path(name);
    test_write_file(path, text, strlen(text));
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" does not contain \"%s\"", text, part);
}

static selgw_signer *keygen_and_load(const char *name, char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE])
{
    const char *path = scratch_path(name);
    char why[512] = "";
    assert_int_equal(selgw_keygen(path, public_text, why, sizeof(why)), SELGW_OK);
    selgw_signer *signer = NULL;
    selgw_err err = selgw_signer_load(path, &signer, why, sizeof(why));
    if (err != SELGW_OK)
        fail_msg("load: %s", why);
    assert_non_null(signer);
    return signer;
}

static void test_keygen_writes_private_file(void **state)
{
    (void)state;
    const char *path = scratch_path("gw.key");
    mode_t old_umask = umask(0); /* a permissive umask must not widen the mode */
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    char why[512] = "";
    selgw_err err = selgw_keygen(path, public_text, why, sizeof(why));
    umask(old_umask);
    if (err != SELGW_OK)
        fail_msg("keygen: %s", why);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    const char *text = test_read_file(path, NULL);
    assert_int_equal(strlen(text), strlen(HEADER) + 128 + 1);
    assert_memory_equal(text, HEADER, strlen(HEADER));
    for (size_t i = strlen(HEADER); i < strlen(HEADER) + 128; i++)
        assert_non_null(strchr("0123456789abcdef", text[i]));
    assert_int_equal(text[strlen(text) - 1], '\n');

    /* the printed public key is the second half of the libsodium secret key */
    assert_int_equal(strlen(public_text), 8 + 64);
    assert_memory_equal(public_text, "ed25519:", 8);
    assert_memory_equal(public_text + 8, text + strlen(HEADER) + 64, 64);

    /* a strict umask must not leave the owner unable to read the key */
    const char *strict = scratch_path("strict-umask.key");
    old_umask = umask(0277);
    err = selgw_keygen(strict, public_text, why, sizeof(why));
    umask(old_umask);
    assert_int_equal(err, SELGW_OK);
    assert_int_equal(stat(strict, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_keygen_refuses_existing_file(void **state)
{
    (void)state;
    const char *path = write_file("existing.key", "precious\n", 0600);
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE] = "untouched";
    char why[512] = "";
    assert_int_equal(selgw_keygen(path, public_text, why, sizeof(why)), SELGW_ERR_IO);
    char expected[512];
    snprintf(expected, sizeof(expected), "%s exists: not overwriting a key", path);
    assert_string_equal(why, expected);
    assert_string_equal(test_read_file(path, NULL), "precious\n");

    /* a second keygen over a key keeps the first key */
    const char *key = scratch_path("twice.key");
    char first[SELGW_PUBLIC_KEY_TEXT_SIZE], second[SELGW_PUBLIC_KEY_TEXT_SIZE];
    assert_int_equal(selgw_keygen(key, first, why, sizeof(why)), SELGW_OK);
    char before[1024];
    snprintf(before, sizeof(before), "%.1023s", test_read_file(key, NULL));
    assert_int_equal(selgw_keygen(key, second, why, sizeof(why)), SELGW_ERR_IO);
    assert_string_equal(test_read_file(key, NULL), before);
}

static void test_keygen_bad_directory(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof(path), "%s/no-such-dir/gw.key", scratch);
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    char why[512] = "";
    assert_int_equal(selgw_keygen(path, public_text, why, sizeof(why)), SELGW_ERR_IO);
    assert_contains(why, path);
    assert_contains(why, strerror(ENOENT));
}

static void test_two_keys_differ(void **state)
{
    (void)state;
    char a[SELGW_PUBLIC_KEY_TEXT_SIZE], b[SELGW_PUBLIC_KEY_TEXT_SIZE];
    selgw_signer *sa = keygen_and_load("a.key", a);
    selgw_signer *sb = keygen_and_load("b.key", b);
    assert_string_not_equal(a, b);
    selgw_signer_free(sa);
    selgw_signer_free(sb);
}

static void test_sign_and_verify(void **state)
{
    (void)state;
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    selgw_signer *signer = keygen_and_load("sign.key", public_text);

    /* the signer's public key is the one keygen printed */
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES], printed[SELGW_PUBLIC_KEY_BYTES];
    selgw_signer_public_key(signer, pk);
    assert_true(selgw_public_key_parse(public_text, printed));
    assert_memory_equal(pk, printed, sizeof(pk));

    const uint8_t msg[] = "SEAL gateway tea-gw-1 device/soil-1 42";
    uint8_t sig[SELGW_SIGNATURE_BYTES];
    selgw_sign(signer, msg, sizeof(msg), sig);
    assert_true(selgw_signature_ok(printed, msg, sizeof(msg), sig));

    /* Ed25519 is deterministic: the same message gets the same signature */
    uint8_t again[SELGW_SIGNATURE_BYTES];
    selgw_sign(signer, msg, sizeof(msg), again);
    assert_memory_equal(sig, again, sizeof(sig));

    /* an altered message */
    uint8_t altered[sizeof(msg)];
    memcpy(altered, msg, sizeof(msg));
    altered[5] ^= 0x01;
    assert_false(selgw_signature_ok(printed, altered, sizeof(altered), sig));
    /* a shortened message */
    assert_false(selgw_signature_ok(printed, msg, sizeof(msg) - 1, sig));
    /* an altered signature, in either half */
    for (size_t i = 0; i < SELGW_SIGNATURE_BYTES; i += 21) {
        uint8_t bad[SELGW_SIGNATURE_BYTES];
        memcpy(bad, sig, sizeof(bad));
        bad[i] ^= 0x80;
        assert_false(selgw_signature_ok(printed, msg, sizeof(msg), bad));
    }
    /* another key */
    char other_text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    selgw_signer *other = keygen_and_load("other.key", other_text);
    uint8_t other_pk[SELGW_PUBLIC_KEY_BYTES];
    selgw_signer_public_key(other, other_pk);
    assert_false(selgw_signature_ok(other_pk, msg, sizeof(msg), sig));
    uint8_t other_sig[SELGW_SIGNATURE_BYTES];
    selgw_sign(other, msg, sizeof(msg), other_sig);
    assert_false(selgw_signature_ok(pk, msg, sizeof(msg), other_sig));
    assert_true(selgw_signature_ok(other_pk, msg, sizeof(msg), other_sig));

    /* an empty message can be signed too */
    selgw_sign(signer, NULL, 0, sig);
    assert_true(selgw_signature_ok(pk, NULL, 0, sig));
    assert_false(selgw_signature_ok(pk, msg, 1, sig));

    selgw_signer_free(signer);
    selgw_signer_free(other);
}

/* The same key loaded twice signs identically (the file round-trips the whole key). */
static void test_load_twice_same_key(void **state)
{
    (void)state;
    const char *path = scratch_path("twice-load.key");
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE], why[512];
    assert_int_equal(selgw_keygen(path, public_text, why, sizeof(why)), SELGW_OK);
    selgw_signer *a = NULL, *b = NULL;
    assert_int_equal(selgw_signer_load(path, &a, why, sizeof(why)), SELGW_OK);
    assert_int_equal(selgw_signer_load(path, &b, why, sizeof(why)), SELGW_OK);
    const uint8_t msg[] = "x";
    uint8_t sa[SELGW_SIGNATURE_BYTES], sb[SELGW_SIGNATURE_BYTES];
    selgw_sign(a, msg, 1, sa);
    selgw_sign(b, msg, 1, sb);
    assert_memory_equal(sa, sb, sizeof(sa));
    selgw_signer_free(a);
    selgw_signer_free(b);
}

static void test_load_refuses_readable_key(void **state)
{
    (void)state;
    static const mode_t modes[] = {0644, 0640, 0604, 0660, 0601, 0610};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "open-%04o.key", (unsigned)modes[i]);
        const char *path = scratch_path(name);
        char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE], why[512] = "";
        assert_int_equal(selgw_keygen(path, public_text, why, sizeof(why)), SELGW_OK);
        assert_int_equal(chmod(path, modes[i]), 0);
        selgw_signer *signer = (selgw_signer *)1;
        assert_int_equal(selgw_signer_load(path, &signer, why, sizeof(why)), SELGW_ERR_AUTH);
        assert_null(signer);
        char expected[512];
        snprintf(expected, sizeof(expected), "%s can be read by others (mode %04o); chmod 600 %s",
                 path, (unsigned)modes[i], path);
        assert_string_equal(why, expected);
    }
    /* 0400 is private enough */
    const char *path = scratch_path("read-only.key");
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE], why[512] = "";
    assert_int_equal(selgw_keygen(path, public_text, why, sizeof(why)), SELGW_OK);
    assert_int_equal(chmod(path, 0400), 0);
    selgw_signer *signer = NULL;
    assert_int_equal(selgw_signer_load(path, &signer, why, sizeof(why)), SELGW_OK);
    selgw_signer_free(signer);
}

static void test_load_missing_file(void **state)
{
    (void)state;
    const char *path = scratch_path("missing.key");
    selgw_signer *signer = (selgw_signer *)1;
    char why[512] = "";
    assert_int_equal(selgw_signer_load(path, &signer, why, sizeof(why)), SELGW_ERR_IO);
    assert_null(signer);
    char expected[600];
    snprintf(expected, sizeof(expected), "no secret key at %s (create one with: selgw keygen %s)",
             path, path);
    assert_string_equal(why, expected);
}

static void test_load_malformed_files(void **state)
{
    (void)state;
    char good[1024];
    {
        const char *path = scratch_path("good.key");
        char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE], why[512];
        assert_int_equal(selgw_keygen(path, public_text, why, sizeof(why)), SELGW_OK);
        snprintf(good, sizeof(good), "%.1023s", test_read_file(path, NULL));
    }
    const char *hex = good + strlen(HEADER);
    char text[1024];
    struct {
        const char *name;
        const char *text;
    } cases[16];
    size_t n = 0;
    static char storage[16][1024];
#define CASE(NAME, ...)                                                                            \
    do {                                                                                           \
        int written = snprintf(storage[n], sizeof(storage[n]), __VA_ARGS__);                       \
        assert_true(written >= 0 && (size_t)written < sizeof(storage[n]));                         \
        cases[n].name = NAME;                                                                      \
        cases[n].text = storage[n];                                                                \
        n++;                                                                                       \
    } while (0)
    CASE("empty", "%s", "");
    CASE("header-only", "%s", HEADER);
    CASE("version-2", "selgw-ed25519-secret-key 2\n%s", hex);
    CASE("other-header", "-----BEGIN PRIVATE KEY-----\n%s", hex);
    CASE("no-final-newline", HEADER "%.128s", hex);
    CASE("crlf", "selgw-ed25519-secret-key 1\r\n%.128s\r\n", hex);
    CASE("short-hex", HEADER "%.126s\n", hex);
    CASE("long-hex", HEADER "%.128s00\n", hex);
    CASE("trailing-line", HEADER "%.128s\nmore\n", hex);
    CASE("not-hex", HEADER "zz%.126s\n", hex + 2);
    CASE("space-in-hex", HEADER "%.63s %.64s\n", hex, hex + 64);
    /* a valid-looking key whose public half does not belong to its seed */
    snprintf(text, sizeof(text), "%.128s", hex);
    text[127] = text[127] == '0' ? '1' : '0';
    CASE("damaged-public-half", HEADER "%.128s\n", text);
    snprintf(text, sizeof(text), "%.128s", hex);
    text[0] = text[0] == '0' ? '1' : '0';
    CASE("damaged-seed", HEADER "%.128s\n", text);
#undef CASE
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "bad-%s.key", cases[i].name);
        const char *path = write_file(name, cases[i].text, 0600);
        selgw_signer *signer = (selgw_signer *)1;
        char why[512] = "";
        selgw_err err = selgw_signer_load(path, &signer, why, sizeof(why));
        if (err != SELGW_ERR_INVALID)
            fail_msg("%s: expected SELGW_ERR_INVALID, got %s (%s)", cases[i].name,
                     selgw_strerror(err), why);
        assert_null(signer);
        assert_contains(why, path);
        assert_contains(why, "is not a selgw secret key file");
    }
    /* a directory is not a key file */
    selgw_signer *signer = (selgw_signer *)1;
    char why[512] = "";
    assert_int_equal(selgw_signer_load(scratch, &signer, why, sizeof(why)), SELGW_ERR_INVALID);
    assert_null(signer);
    assert_contains(why, "not a regular file");
    /* the good text itself loads */
    const char *path = write_file("good-copy.key", good, 0600);
    assert_int_equal(selgw_signer_load(path, &signer, why, sizeof(why)), SELGW_OK);
    selgw_signer_free(signer);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    selgw_signer *signer = (selgw_signer *)1;
    char why[128] = "";
    assert_int_equal(selgw_signer_load(NULL, &signer, why, sizeof(why)), SELGW_ERR_INVALID);
    assert_null(signer);
    assert_int_equal(selgw_signer_load("x", NULL, why, sizeof(why)), SELGW_ERR_INVALID);
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    assert_int_equal(selgw_keygen(NULL, public_text, why, sizeof(why)), SELGW_ERR_INVALID);
    assert_int_equal(selgw_keygen("", public_text, why, sizeof(why)), SELGW_ERR_INVALID);
    /* why may be omitted */
    assert_int_equal(selgw_signer_load(scratch_path("none.key"), &signer, NULL, 0), SELGW_ERR_IO);
    selgw_signer_free(NULL);
}

static void test_public_key_text(void **state)
{
    (void)state;
    char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    selgw_signer *signer = keygen_and_load("text.key", public_text);
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES], parsed[SELGW_PUBLIC_KEY_BYTES];
    selgw_signer_public_key(signer, pk);
    selgw_signer_free(signer);

    char text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    selgw_public_key_format(pk, text);
    assert_string_equal(text, public_text);
    assert_true(selgw_public_key_parse(text, parsed));
    assert_memory_equal(parsed, pk, sizeof(pk));

    /* upper-case hex digits are the same key */
    char upper[SELGW_PUBLIC_KEY_TEXT_SIZE];
    snprintf(upper, sizeof(upper), "%s", text);
    for (char *p = upper + 8; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    memset(parsed, 0, sizeof(parsed));
    assert_true(selgw_public_key_parse(upper, parsed));
    assert_memory_equal(parsed, pk, sizeof(pk));

    /* RFC 8032 test 1 public key */
    static const char rfc8032[] =
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    assert_true(selgw_public_key_parse(rfc8032, parsed));
    assert_int_equal(parsed[0], 0xd7);
    assert_int_equal(parsed[31], 0x1a);
    selgw_public_key_format(parsed, text);
    assert_string_equal(text, rfc8032);

    char buf[200];
    const char *bad[] = {
        "",
        "ed25519:",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", /* no prefix */
        "ED25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "ed25519 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511",   /* 63 */
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a0", /* 65 */
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511g",
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n",
        " ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "ed25519:d75a9801 82b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        /* 64 hex digits that are no key: the identity and other small-order points */
        "ed25519:0100000000000000000000000000000000000000000000000000000000000000",
        "ed25519:0000000000000000000000000000000000000000000000000000000000000000",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        memset(parsed, 0xAA, sizeof(parsed));
        if (selgw_public_key_parse(bad[i], parsed))
            fail_msg("accepted \"%s\"", bad[i]);
        /* a refused text leaves the output alone */
        for (size_t j = 0; j < sizeof(parsed); j++)
            assert_int_equal(parsed[j], 0xAA);
    }
    assert_false(selgw_public_key_parse(NULL, parsed));
    snprintf(buf, sizeof(buf), "%s", rfc8032);
    assert_true(selgw_public_key_parse(buf, parsed));
}

static void hash_hex_of(const char *text, char hex[2 * SELGW_HASH_BYTES + 1])
{
    uint8_t hash[SELGW_HASH_BYTES];
    selgw_hash((const uint8_t *)text, strlen(text), hash);
    selgw_hash_hex(hash, hex);
}

static void test_hash_known_answers(void **state)
{
    (void)state;
    char hex[2 * SELGW_HASH_BYTES + 1];
    hash_hex_of("", hex);
    assert_string_equal(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    hash_hex_of("abc", hex);
    assert_string_equal(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");

    uint8_t empty[SELGW_HASH_BYTES];
    selgw_hash(NULL, 0, empty);
    selgw_hash_hex(empty, hex);
    assert_string_equal(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");

    /* one bit of difference changes the hash */
    char other[2 * SELGW_HASH_BYTES + 1];
    hash_hex_of("abd", other);
    assert_string_not_equal(other,
                            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_writes_private_file),
        cmocka_unit_test(test_keygen_refuses_existing_file),
        cmocka_unit_test(test_keygen_bad_directory),
        cmocka_unit_test(test_two_keys_differ),
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_load_twice_same_key),
        cmocka_unit_test(test_load_refuses_readable_key),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_malformed_files),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_public_key_text),
        cmocka_unit_test(test_hash_known_answers),
    };
    return cmocka_run_group_tests(tests, setup_scratch, teardown_scratch);
}
