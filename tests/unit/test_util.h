/* What the C tests share: their scratch directories, reading and writing whole files, and
 * a CRC32C to check the journal's against. Header-only (static inline); its asserts are
 * cmocka's. */
#ifndef SELGW_TEST_UTIL_H
#define SELGW_TEST_UTIL_H

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static inline int test_remove_entry(const char *path, const struct stat *st, int type,
                                    struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Removes a scratch directory and everything in it (or a single file). */
static inline void remove_tree(const char *path)
{
    nftw(path, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a new scratch directory, /tmp/selgw-test-<what>-XXXXXX, its name into dir; false
 * when it cannot (cap too small, /tmp not writable). */
static inline bool test_scratch_dir(char *dir, size_t cap, const char *what)
{
    int n = snprintf(dir, cap, "/tmp/selgw-test-%s-XXXXXX", what);
    return n > 0 && (size_t)n < cap && mkdtemp(dir) != NULL;
}

static inline void test_put_file(const char *path, const char *how, const void *data, size_t n)
{
    FILE *out = fopen(path, how);
    if (!out)
        fail_msg("%s: cannot be opened to write", path);
    assert_int_equal(fwrite(data, 1, n, out), n);
    assert_int_equal(fclose(out), 0);
}

/* Makes path hold exactly these n bytes; fails the test if it cannot. */
static inline void test_write_file(const char *path, const void *data, size_t n)
{
    test_put_file(path, "wb", data, n);
}

/* Adds n bytes at the end of path (made if need be); fails the test if it cannot. */
static inline void test_append_file(const char *path, const void *data, size_t n)
{
    test_put_file(path, "ab", data, n);
}

/* The whole of a (small) file, NUL-terminated, in a buffer that the next call overwrites;
 * its length in *len unless len is NULL. Fails the test if it cannot be read whole. */
static inline char *test_read_file(const char *path, size_t *len)
{
    static char buf[1 << 20];
    FILE *in = fopen(path, "rb");
    if (!in)
        fail_msg("%s: cannot be opened", path);
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    assert_int_equal(ferror(in), 0);
    assert_true(n < sizeof buf - 1); /* else it may not all be there */
    fclose(in);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* An independent bitwise CRC32C, straight from the definition (reflected polynomial
 * 0x82F63B78): what the journal's table and SSE 4.2 versions are checked against, and what
 * the tests frame records with by hand. */
static inline uint32_t test_crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

#endif
