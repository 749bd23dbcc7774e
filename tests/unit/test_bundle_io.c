/* Bundle files (evidence/bundle_io.h): what is written plain or gzip-compressed reads back
 * byte for byte through the same reader; the hash is BLAKE2b-256 of the uncompressed text,
 * the same for both forms; the gzip form is standard gzip (zlib's own gzread reads it); a
 * gzip file cut off or damaged is a read error that says so, never a shorter bundle; an
 * abandoned bundle leaves nothing beside its path. */
#include <dirent.h>
#include <errno.h>
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
#include <sodium.h>
#include <zlib.h>

#include "evidence/bundle_io.h"
#include "test_util.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    char *text; /* a bundle-like text: header lines and record lines of random base64 */
    size_t len;
} fixture;

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    fixture *f = calloc(1, sizeof *f);
    if (!f || !test_scratch_dir(f->dir, sizeof f->dir, "bundle-io")) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/b.evidence", f->dir);
    size_t lines = 2000, cap = 64 + lines * 120;
    f->text = malloc(cap);
    if (!f->text) {
        free(f);
        return -1;
    }
    size_t n = (size_t)snprintf(f->text, cap, "selgw-evidence 1\nplot hw-p01\n");
    for (size_t i = 0; i < lines; i++) {
        uint8_t raw[60];
        randombytes_buf(raw, sizeof raw);
        n += (size_t)snprintf(f->text + n, cap - n, "record %zu ", i + 1);
        sodium_bin2base64(f->text + n, cap - n, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
        n += strlen(f->text + n);
        f->text[n++] = '\n';
    }
    f->len = n;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    remove_tree(f->dir);
    free(f->text);
    free(f);
    return 0;
}

/* Writes f->text to f->path; returns the hash close_write gave. */
static void write_bundle(fixture *f, bool compress, uint8_t hash[32])
{
    char why[256] = "";
    FILE *out = selgw_bundle_open_write(f->path, compress, why, sizeof why);
    assert_non_null(out);
    /* in pieces, as the exporter writes lines */
    for (size_t off = 0; off < f->len; off += 1000) {
        size_t n = f->len - off < 1000 ? f->len - off : 1000;
        assert_int_equal(fwrite(f->text + off, 1, n, out), n);
    }
    assert_int_equal(selgw_bundle_close_write(out, false, hash, why, sizeof why), SELGW_OK);
}

/* Reads f->path back through the bundle reader; the text read, malloc'd, its length in *len. */
static char *read_bundle(const fixture *f, size_t *len, uint8_t hash[32], bool *hash_ok,
                         char *error, size_t error_cap)
{
    char why[256] = "";
    FILE *in = selgw_bundle_open_read(f->path, why, sizeof why);
    assert_non_null(in);
    size_t cap = f->len + (1 << 16), n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, 4096 < cap - n ? 4096 : cap - n, in)) > 0)
        n += got;
    error[0] = '\0';
    if (ferror(in)) {
        const char *e = selgw_bundle_read_error(in);
        assert_non_null(e);
        snprintf(error, error_cap, "%s", e);
    }
    *hash_ok = selgw_bundle_read_hash(in, hash);
    fclose(in);
    *len = n;
    return buf;
}

static void expected_hash(const fixture *f, uint8_t hash[32])
{
    crypto_generichash(hash, 32, (const unsigned char *)f->text, f->len, NULL, 0);
}

static void test_plain_round_trip(void **state)
{
    fixture *f = *state;
    uint8_t written[32], read[32], want[32];
    write_bundle(f, false, written);
    size_t len;
    char *on_disk = test_read_file(f->path, &len);
    assert_int_equal(len, f->len); /* the text itself, not wrapped */
    assert_memory_equal(on_disk, f->text, f->len);
    bool ok;
    char error[256];
    char *text = read_bundle(f, &len, read, &ok, error, sizeof error);
    assert_string_equal(error, "");
    assert_int_equal(len, f->len);
    assert_memory_equal(text, f->text, f->len);
    assert_true(ok);
    expected_hash(f, want);
    assert_memory_equal(written, want, 32);
    assert_memory_equal(read, want, 32);
    free(text);
}

static void test_gzip_round_trip_same_hash(void **state)
{
    fixture *f = *state;
    uint8_t written[32], read[32], want[32];
    write_bundle(f, true, written);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true((size_t)st.st_size < f->len); /* compressed */
    assert_int_equal(st.st_mode & 0777, 0644);
    size_t len;
    const unsigned char *on_disk = (const unsigned char *)test_read_file(f->path, &len);
    assert_int_equal(on_disk[0], 0x1f); /* a gzip header, as zcat wants */
    assert_int_equal(on_disk[1], 0x8b);
    /* zlib's own reader, apart from ours, gets the text back */
    gzFile gz = gzopen(f->path, "rb");
    assert_non_null(gz);
    char *direct = malloc(f->len + 16);
    assert_non_null(direct);
    assert_int_equal(gzread(gz, direct, (unsigned)f->len + 16), (int)f->len);
    assert_memory_equal(direct, f->text, f->len);
    assert_int_equal(gzdirect(gz), 0);
    gzclose(gz);
    free(direct);

    bool ok;
    char error[256];
    char *text = read_bundle(f, &len, read, &ok, error, sizeof error);
    assert_string_equal(error, "");
    assert_int_equal(len, f->len);
    assert_memory_equal(text, f->text, f->len);
    assert_true(ok);
    expected_hash(f, want);
    assert_memory_equal(written, want, 32);
    assert_memory_equal(read, want, 32);
    free(text);

    /* the plain file of the same text has the same hash */
    uint8_t plain[32];
    write_bundle(f, false, plain);
    assert_memory_equal(plain, written, 32);
}

/* Cuts the gzip file to `keep` bytes and reads it: a read error naming `expect`. */
static void check_damaged(fixture *f, const char *expect)
{
    size_t len;
    uint8_t hash[32];
    bool ok;
    char error[256];
    char *text = read_bundle(f, &len, hash, &ok, error, sizeof error);
    assert_false(ok); /* no hash of a bundle that was not read whole */
    if (!strstr(error, expect))
        fail_msg("expected an error with \"%s\", got \"%s\"", expect, error);
    free(text);
}

static void test_truncated_gzip_refused(void **state)
{
    fixture *f = *state;
    uint8_t hash[32];
    write_bundle(f, true, hash);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    /* cut in the middle of the compressed data */
    assert_int_equal(truncate(f->path, st.st_size / 2), 0);
    check_damaged(f, "cut off");
    /* only the trailer (CRC-32 and length) missing: every byte of text is there, and it is
     * still refused */
    write_bundle(f, true, hash);
    assert_int_equal(truncate(f->path, st.st_size - 8), 0);
    check_damaged(f, "cut off");
    /* a header and nothing more */
    write_bundle(f, true, hash);
    assert_int_equal(truncate(f->path, 12), 0);
    check_damaged(f, "cut off");
}

static void test_damaged_gzip_refused(void **state)
{
    fixture *f = *state;
    uint8_t hash[32];
    write_bundle(f, true, hash);
    size_t len;
    char *bytes = test_read_file(f->path, &len);
    char *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, bytes, len);
    copy[len - 6] ^= 0x40; /* in the CRC-32: the text decompresses but does not check */
    test_write_file(f->path, copy, len);
    check_damaged(f, "damaged");
    free(copy);
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_abandon_removes_temp(void **state)
{
    fixture *f = *state;
    for (int compress = 0; compress < 2; compress++) {
        char why[256] = "";
        FILE *out = selgw_bundle_open_write(f->path, compress, why, sizeof why);
        assert_non_null(out);
        assert_int_equal(entries(f->dir), 1); /* the temporary file, beside the path */
        assert_true(fwrite(f->text, 1, f->len, out) == f->len);
        assert_int_equal(selgw_bundle_close_write(out, true, NULL, why, sizeof why), SELGW_OK);
        assert_int_equal(entries(f->dir), 0);
    }
    /* an older bundle at the path stays as it was */
    test_write_file(f->path, "old\n", 4);
    char why[256] = "";
    FILE *out = selgw_bundle_open_write(f->path, true, why, sizeof why);
    assert_non_null(out);
    fputs("new\n", out);
    assert_int_equal(selgw_bundle_close_write(out, true, NULL, why, sizeof why), SELGW_OK);
    assert_int_equal(entries(f->dir), 1);
    assert_string_equal(test_read_file(f->path, NULL), "old\n");
}

static void test_open_errors(void **state)
{
    fixture *f = *state;
    char why[256] = "", path[160];
    snprintf(path, sizeof path, "%s/missing/b.evidence", f->dir);
    assert_null(selgw_bundle_open_write(path, true, why, sizeof why));
    assert_non_null(strstr(why, "missing/b.evidence"));
    assert_null(selgw_bundle_open_read(path, why, sizeof why));
    assert_non_null(strstr(why, "No such file"));
    /* not a bundle stream: no hash, and close_write refuses it */
    FILE *other = fopen("/dev/null", "r");
    assert_non_null(other);
    uint8_t hash[32];
    assert_false(selgw_bundle_read_hash(other, hash));
    assert_null(selgw_bundle_read_error(other));
    assert_int_equal(selgw_bundle_close_write(other, false, hash, why, sizeof why),
                     SELGW_ERR_INVALID);
    fclose(other);
    /* a reader before its end has no hash yet */
    write_bundle(f, true, hash);
    FILE *in = selgw_bundle_open_read(f->path, why, sizeof why);
    assert_non_null(in);
    char line[64];
    assert_non_null(fgets(line, sizeof line, in));
    assert_string_equal(line, "selgw-evidence 1\n");
    assert_false(selgw_bundle_read_hash(in, hash));
    fclose(in);
}

static void test_empty_bundle_and_hash_text(void **state)
{
    fixture *f = *state;
    char why[256] = "";
    uint8_t hash[32], want[32];
    FILE *out = selgw_bundle_open_write(f->path, true, why, sizeof why);
    assert_non_null(out);
    assert_int_equal(selgw_bundle_close_write(out, false, hash, why, sizeof why), SELGW_OK);
    crypto_generichash(want, 32, NULL, 0, NULL, 0);
    assert_memory_equal(hash, want, 32);
    char text[80];
    selgw_bundle_hash_text(hash, text);
    /* BLAKE2b-256 of nothing, as `b2sum -l 256 /dev/null` prints it */
    assert_string_equal(text, "blake2b-256:"
                              "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_round_trip_same_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_gzip_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_gzip_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon_removes_temp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_bundle_and_hash_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
