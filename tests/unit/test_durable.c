/* Durable files: selgw_durable_replace leaves either the old file or the whole new one,
 * with exactly the mode asked for, and never a temporary file beside it (whose name is
 * recognisable); the directory part of a path; errno translated into selgw_err. Tests run as root
 * too, so nothing here relies on permissions being refused. */
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

#include "base/durable.h"
#include <fcntl.h>
#include <time.h>
#include "test_util.h"

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (!test_scratch_dir(f->dir, sizeof f->dir, "durable")) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    remove_tree(f->dir);
    free(f);
    return 0;
}

static const char *path_in(const fixture *f, const char *name)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", f->dir, name);
    return p;
}

/* The names in the scratch directory, sorted, joined by spaces: what a crash would leave. */
static const char *listing(const fixture *f)
{
    static char out[1024];
    char names[32][128];
    size_t n = 0;
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        assert_true(n < 32 && strlen(e->d_name) < sizeof names[0]);
        memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of names */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[128];
            memcpy(t, names[j], sizeof t);
            memcpy(names[j], names[j - 1], sizeof t);
            memcpy(names[j - 1], t, sizeof t);
        }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, i ? " " : "");
        strcat(out, names[i]);
    }
    return out;
}

static void write_plain(const char *path, const char *text)
{
    test_write_file(path, text, strlen(text));
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    return st.st_mode & 07777;
}

/* ---- writers ------------------------------------------------------------------------- */

typedef struct text_ctx {
    const char *text;
    size_t len;
    int calls;
} text_ctx;

static selgw_err write_text(FILE *out, void *ctx)
{
    text_ctx *t = ctx;
    t->calls++;
    return fwrite(t->text, 1, t->len, out) == t->len ? SELGW_OK : SELGW_ERR_IO;
}

/* Writes part of a new content, then gives up with its own error. */
static selgw_err write_then_fail(FILE *out, void *ctx)
{
    int *calls = ctx;
    (*calls)++;
    fputs("half of a new ", out);
    fflush(out); /* the half is in the temporary file, not only in stdio's buffer */
    return SELGW_ERR_RANGE;
}

static selgw_err write_nothing(FILE *out, void *ctx)
{
    (void)out;
    (void)ctx;
    return SELGW_OK;
}

/* ---- selgw_durable_replace ---------------------------------------------------------- */

static void test_replace_creates_file(void **state)
{
    fixture *f = *state;
    const char *path = path_in(f, "cursor.state");
    text_ctx t = {"cursor mqtt 42\n", 15, 0};
    errno = 0;
    assert_int_equal(selgw_durable_replace(path, 0640, write_text, &t), SELGW_OK);
    assert_int_equal(t.calls, 1);
    size_t len;
    const char *text = test_read_file(path, &len);
    assert_int_equal(len, 15);
    assert_memory_equal(text, "cursor mqtt 42\n", 15);
    /* only the file itself: the temporary file was renamed, not copied */
    assert_string_equal(listing(f), "cursor.state");
}

/* The mode is given with fchmod, so it is exactly the one asked for, whatever the umask
 * (a strict umask must not take the owner's read bit; a permissive one must not open a
 * key to others). */
static void test_replace_mode_is_exact(void **state)
{
    fixture *f = *state;
    static const struct {
        mode_t umask_value, mode;
    } cases[] = {{022, 0640},  {022, 0600},  {0, 0640},  {0, 0600},
                 {0277, 0640}, {0277, 0600}, {077, 0644}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "mode-%zu", i);
        const char *path = path_in(f, name);
        text_ctx t = {"x", 1, 0};
        mode_t old = umask(cases[i].umask_value);
        selgw_err err = selgw_durable_replace(path, cases[i].mode, write_text, &t);
        umask(old);
        assert_int_equal(err, SELGW_OK);
        if (mode_of(path) != cases[i].mode)
            fail_msg("umask %04o, mode %04o: the file has %04o", (unsigned)cases[i].umask_value,
                     (unsigned)cases[i].mode, (unsigned)mode_of(path));
    }
    /* replacing a file gives the new mode, not the old file's */
    const char *path = path_in(f, "mode-change");
    write_plain(path, "old\n");
    assert_int_equal(chmod(path, 0644), 0);
    text_ctx t = {"new\n", 4, 0};
    assert_int_equal(selgw_durable_replace(path, 0600, write_text, &t), SELGW_OK);
    assert_int_equal(mode_of(path), 0600);
}

/* A longer old file is replaced completely: nothing of its tail is left behind a shorter
 * new content (as it would be after rewriting in place without truncating). */
static void test_replace_existing_file_completely(void **state)
{
    fixture *f = *state;
    const char *path = path_in(f, "chains.state");
    write_plain(path, "a much longer old content\nwith a second line\n");
    text_ctx t = {"new\n", 4, 0};
    assert_int_equal(selgw_durable_replace(path, 0640, write_text, &t), SELGW_OK);
    size_t len;
    const char *text = test_read_file(path, &len);
    assert_int_equal(len, 4);
    assert_string_equal(text, "new\n");
    assert_string_equal(listing(f), "chains.state");

    /* an empty new content is a complete replacement too */
    assert_int_equal(selgw_durable_replace(path, 0640, write_nothing, NULL), SELGW_OK);
    test_read_file(path, &len);
    assert_int_equal(len, 0);
    assert_string_equal(listing(f), "chains.state");
}

/* The new content goes to another file that is renamed over the old one: a reader holding
 * the old file (here a second hard link to it) still sees the whole old content, never a
 * mix. */
static void test_replace_does_not_write_in_place(void **state)
{
    fixture *f = *state;
    const char *path = path_in(f, "bundle.txt");
    const char *link_path = path_in(f, "reader-view");
    write_plain(path, "old content\n");
    assert_int_equal(link(path, link_path), 0);
    text_ctx t = {"new content, longer than the old\n", 34, 0};
    assert_int_equal(selgw_durable_replace(path, 0640, write_text, &t), SELGW_OK);
    size_t len;
    assert_string_equal(test_read_file(link_path, &len), "old content\n");
    assert_string_equal(test_read_file(path, &len), "new content, longer than the old\n");
    struct stat a, b;
    assert_int_equal(stat(path, &a), 0);
    assert_int_equal(stat(link_path, &b), 0);
    assert_true(a.st_ino != b.st_ino);
}

/* More than stdio buffers: every byte reaches the file (flushed before fdatasync). */
static void test_replace_large_content(void **state)
{
    fixture *f = *state;
    const char *path = path_in(f, "large");
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = '\n';
    text_ctx t = {big, sizeof big, 0};
    assert_int_equal(selgw_durable_replace(path, 0600, write_text, &t), SELGW_OK);
    size_t len;
    const char *text = test_read_file(path, &len);
    assert_int_equal(len, sizeof big);
    assert_memory_equal(text, big, sizeof big);
}

/* A writer that gives up: its error is returned as it is, the old file keeps its content
 * and mode, and the half-written temporary file is gone. */
static void test_writer_error_keeps_old_file(void **state)
{
    fixture *f = *state;
    const char *path = path_in(f, "cursor.state");
    write_plain(path, "cursor mqtt 41\n");
    assert_int_equal(chmod(path, 0644), 0);
    int calls = 0;
    assert_int_equal(selgw_durable_replace(path, 0600, write_then_fail, &calls), SELGW_ERR_RANGE);
    assert_int_equal(calls, 1);
    size_t len;
    assert_string_equal(test_read_file(path, &len), "cursor mqtt 41\n");
    assert_int_equal(mode_of(path), 0644);
    assert_string_equal(listing(f), "cursor.state");

    /* a failing writer with no old file: nothing at all is left */
    const char *fresh = path_in(f, "never-written");
    calls = 0;
    assert_int_equal(selgw_durable_replace(fresh, 0600, write_then_fail, &calls), SELGW_ERR_RANGE);
    assert_int_equal(calls, 1);
    assert_int_equal(access(fresh, F_OK), -1);
    assert_string_equal(listing(f), "cursor.state");
}

/* A path in a directory that does not exist: ENOENT from creating the temporary file,
 * translated to SELGW_ERR_NOT_FOUND, with errno left saying so; the writer is never called
 * and nothing is created anywhere. */
static void test_missing_directory(void **state)
{
    fixture *f = *state;
    const char *path = path_in(f, "no-such-dir/cursor.state");
    text_ctx t = {"x", 1, 0};
    errno = 0;
    assert_int_equal(selgw_durable_replace(path, 0640, write_text, &t), SELGW_ERR_NOT_FOUND);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(t.calls, 0);
    assert_string_equal(listing(f), "");
}

/* A directory in the way of the new file: the rename fails, the directory stays as it was
 * and the temporary file is removed. */
static void test_directory_in_the_way(void **state)
{
    fixture *f = *state;
    const char *path = path_in(f, "taken");
    assert_int_equal(mkdir(path, 0700), 0);
    text_ctx t = {"x", 1, 0};
    selgw_err err = selgw_durable_replace(path, 0640, write_text, &t);
    int e = errno;
    assert_int_equal(t.calls, 1);
    assert_int_equal(err, SELGW_ERR_IO);
    assert_int_equal(e, EISDIR);
    assert_string_equal(listing(f), "taken");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(rmdir(path), 0);
}

/* While the writer runs, the only new name in the directory is the temporary file, and
 * selgw_durable_is_temp knows it for one (the journal removes such files a crash left);
 * the final name and near misses are not taken for one. */
typedef struct peek_ctx {
    const fixture *f;
    char seen[256];
} peek_ctx;

static selgw_err write_and_peek(FILE *out, void *ctx)
{
    peek_ctx *p = ctx;
    snprintf(p->seen, sizeof p->seen, "%s", listing(p->f));
    return fputs("1\n", out) < 0 ? SELGW_ERR_IO : SELGW_OK;
}

static void test_temporary_name(void **state)
{
    fixture *f = *state;
    peek_ctx p = {f, ""};
    assert_int_equal(selgw_durable_replace(path_in(f, "cursor.mqtt"), 0640, write_and_peek, &p),
                     SELGW_OK);
    assert_int_equal(strncmp(p.seen, "cursor.mqtt.tmp-", 16), 0);
    assert_null(strchr(p.seen, ' ')); /* one file: the temporary one */
    assert_true(selgw_durable_is_temp(p.seen));
    assert_string_equal(listing(f), "cursor.mqtt");

    assert_true(selgw_durable_is_temp("chains.state.tmp-a1B2c3"));
    assert_false(selgw_durable_is_temp("cursor.mqtt"));
    assert_false(selgw_durable_is_temp("cursor.mqtt.tmp"));
    assert_false(selgw_durable_is_temp("cursor.mqtt.tmp-a1B2c"));   /* five characters */
    assert_false(selgw_durable_is_temp("cursor.mqtt.tmp-a1B2c3d")); /* seven */
    assert_false(selgw_durable_is_temp("cursor.mqtt.tmp-a1/2c3"));
    assert_false(selgw_durable_is_temp(".tmp-a1B2c3")); /* no file it stands in for */
}

/* Temporary files a crash left: those of one file, or all of them past an age; never the
 * files themselves, nor a temporary file of another name, nor one too young. */
static void test_remove_temps(void **state)
{
    fixture *f = *state;
    static const char *const names[] = {"chains.state",
                                        "chains.state.tmp-a1B2c3",
                                        "chains.state.tmp-Zz9900",
                                        "chains.statex.tmp-a1B2c3",
                                        "cursor.mqtt.tmp-q1w2e3",
                                        "a.ann",
                                        "a.ann.tmp-x1y2z3"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        test_write_file(path_in(f, names[i]), "x", 1);
    assert_int_equal(selgw_durable_remove_temps(f->dir, "chains.state", 0), 2);
    assert_string_equal(listing(f), "a.ann a.ann.tmp-x1y2z3 chains.state "
                                    "chains.statex.tmp-a1B2c3 cursor.mqtt.tmp-q1w2e3");
    /* all of them, but only past an age: these were just written */
    assert_int_equal(selgw_durable_remove_temps(f->dir, NULL, 3600), 0);
    struct timespec old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
    assert_int_equal(utimensat(AT_FDCWD, path_in(f, "a.ann.tmp-x1y2z3"), old, 0), 0);
    assert_int_equal(selgw_durable_remove_temps(f->dir, NULL, 3600), 1);
    assert_string_equal(listing(f),
                        "a.ann chains.state chains.statex.tmp-a1B2c3 cursor.mqtt.tmp-q1w2e3");
    assert_int_equal(selgw_durable_remove_temps(f->dir, NULL, 0), 2);
    assert_string_equal(listing(f), "a.ann chains.state");
    assert_int_equal(selgw_durable_remove_temps("/nonexistent/selgw", NULL, 0), 0);
}

/* ---- selgw_parent_dir, selgw_fsync_parent ------------------------------------------ */

static void test_parent_dir(void **state)
{
    (void)state;
    static const struct {
        const char *path, *parent;
    } cases[] = {
        {"a", "."},         /* no slash: the current directory */
        {"/a", "/"},        /* a file in the root */
        {"d/a", "d"},       /* relative */
        {"/d/e/a", "/d/e"}, /* absolute, two levels */
        {"d/e/", "d/e"},    /* everything before the last slash */
        {"./a", "."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *parent = selgw_parent_dir(cases[i].path);
        assert_non_null(parent);
        if (strcmp(parent, cases[i].parent))
            fail_msg("selgw_parent_dir(\"%s\") = \"%s\", expected \"%s\"", cases[i].path, parent,
                     cases[i].parent);
        free(parent);
    }
}

static void test_fsync_parent(void **state)
{
    fixture *f = *state;
    assert_int_equal(selgw_fsync_parent(path_in(f, "not-even-there")), SELGW_OK);
    assert_int_equal(selgw_fsync_parent("/tmp/selgw-no-such-directory-here/x"), SELGW_ERR_IO);
}

/* ---- selgw_err_from_errno ----------------------------------------------------------- */

static void test_err_from_errno(void **state)
{
    (void)state;
    /* called on a failure: a failure whose errno says nothing is still one */
    assert_int_equal(selgw_err_from_errno(0), SELGW_ERR_IO);
    assert_int_equal(selgw_err_from_errno(ENOSPC), SELGW_ERR_NO_SPACE);
    assert_int_equal(selgw_err_from_errno(EDQUOT), SELGW_ERR_NO_SPACE);
    assert_int_equal(selgw_err_from_errno(ENOMEM), SELGW_ERR_NOMEM);
    assert_int_equal(selgw_err_from_errno(ENOENT), SELGW_ERR_NOT_FOUND);
    assert_int_equal(selgw_err_from_errno(EINVAL), SELGW_ERR_INVALID);
    /* anything else is a local I/O error */
    assert_int_equal(selgw_err_from_errno(EIO), SELGW_ERR_IO);
    assert_int_equal(selgw_err_from_errno(EACCES), SELGW_ERR_PERMISSION);
    assert_int_equal(selgw_err_from_errno(EPERM), SELGW_ERR_PERMISSION);
    assert_int_equal(selgw_err_from_errno(EISDIR), SELGW_ERR_IO);
    assert_int_equal(selgw_err_from_errno(EROFS), SELGW_ERR_IO);
}

/* The explanation of a failed system call ends with errno's text; the result is the
 * translated errno, errno itself is left at it, and no buffer (or a short one) is fine. */
static void test_explain_errno(void **state)
{
    (void)state;
    char why[128];
    errno = 0;
    assert_int_equal(selgw_explain_errno(why, sizeof why, ENOSPC, "cannot write %s", "x.state"),
                     SELGW_ERR_NO_SPACE);
    assert_int_equal(errno, ENOSPC);
    char want[128];
    snprintf(want, sizeof want, "cannot write x.state: %s", strerror(ENOSPC));
    assert_string_equal(why, want);
    assert_int_equal(selgw_explain_errno(NULL, 0, EIO, "nowhere"), SELGW_ERR_IO);
    assert_int_equal(errno, EIO);
    char tiny[8];
    assert_int_equal(selgw_explain_errno(tiny, sizeof tiny, ENOENT, "a long explanation"),
                     SELGW_ERR_NOT_FOUND);
    assert_string_equal(tiny, "a long ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replace_creates_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_temps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_mode_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_existing_file_completely, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_does_not_write_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_large_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_error_keeps_old_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_in_the_way, setup, teardown),
        cmocka_unit_test(test_parent_dir),
        cmocka_unit_test_setup_teardown(test_fsync_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temporary_name, setup, teardown),
        cmocka_unit_test(test_err_from_errno),
        cmocka_unit_test(test_explain_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
