/* What the C tests share: their scratch directories, and a CRC32C to check the journal's
 * against. Header-only (static inline). */
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
