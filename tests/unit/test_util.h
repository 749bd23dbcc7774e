/* What the unit tests share: their scratch directories. Header-only (static inline). */
#ifndef SELGW_TEST_UTIL_H
#define SELGW_TEST_UTIL_H

#include <ftw.h>
#include <stdio.h>

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

#endif
