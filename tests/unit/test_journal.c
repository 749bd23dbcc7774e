/* The journal: round trips across segments, the on-disk format, group commit, recovery of
 * torn tails and refusal of corruption, cursors, retention, the disk budget, and injected
 * disk failures (ENOSPC, short writes, EIO on fdatasync) through gateway/journal/journal_testing.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_farm.h"
#include "test_util.h"

#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "journal/journal.h"
#include "journal/journal_testing.h"
#include "journal/record.h"

#define SEG_HEADER 32
#define FRAME_HEADER 16

/* ---- fixtures ------------------------------------------------------------------------ */

typedef struct fixture {
    char dir[256];
    selgw_journal_config cfg;
} fixture;

static atomic_int fail_pwrite; /* pwrite calls still to fail */
static atomic_int fail_pwrite_errno;
static atomic_int partial_first;   /* the first failing call writes half and succeeds */
static atomic_int max_write_chunk; /* short writes: at most this many bytes a call */
static atomic_int fdatasync_count;
static atomic_int fail_fdatasync; /* fdatasync calls still to fail with EIO */
static atomic_int pwrite_calls;
static atomic_int hold_fdatasync; /* fdatasync hangs while set (a dead disk) */

static ssize_t test_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    atomic_fetch_add(&pwrite_calls, 1);
    if (atomic_load(&fail_pwrite) > 0) {
        if (atomic_exchange(&partial_first, 0) && len > 1)
            return pwrite(fd, buf, len / 2, off);
        atomic_fetch_sub(&fail_pwrite, 1);
        errno = atomic_load(&fail_pwrite_errno);
        return -1;
    }
    size_t n = len;
    int max = atomic_load(&max_write_chunk);
    if (max > 0 && n > (size_t)max)
        n = (size_t)max;
    return pwrite(fd, buf, n, off);
}

static int test_fdatasync(int fd)
{
    atomic_fetch_add(&fdatasync_count, 1);
    while (atomic_load(&hold_fdatasync)) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&fail_fdatasync) > 0) {
        atomic_fetch_sub(&fail_fdatasync, 1);
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!test_scratch_dir(f->dir, sizeof f->dir, "journal"))
        return -1;
    /* small segments and fsync, the journal's own subject; tests that remove set retention 0 */
    f->cfg = test_journal_config(f->dir);
    f->cfg.segment_bytes = 4096;
    f->cfg.fsync = SELGW_FSYNC_BATCH;
    selgw_journal_io_reset();
    selgw_journal_io_hooks.pwrite = test_pwrite;
    selgw_journal_io_hooks.fdatasync = test_fdatasync;
    selgw_journal_retry_ms = 20;
    atomic_store(&fail_pwrite, 0);
    atomic_store(&fail_pwrite_errno, ENOSPC);
    atomic_store(&partial_first, 0);
    atomic_store(&max_write_chunk, 0);
    atomic_store(&fdatasync_count, 0);
    atomic_store(&fail_fdatasync, 0);
    atomic_store(&pwrite_calls, 0);
    atomic_store(&hold_fdatasync, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    remove_tree(f->dir);
    selgw_journal_io_reset();
    free(f);
    return 0;
}

/* A payload that says which sequence it was appended as, of a length that varies. */
static size_t payload_for(uint64_t n, uint8_t *buf)
{
    size_t len = 20 + (size_t)(n * 37 % 200);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(n * 31 + i);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(n >> (8 * i));
    return len;
}

static uint64_t payload_number(const uint8_t *p, size_t len)
{
    uint8_t expect[256];
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)p[i] << (8 * i);
    size_t want = payload_for(n, expect);
    assert_int_equal(len, want);
    assert_memory_equal(p, expect, len);
    return n;
}

static selgw_journal *open_ok(fixture *f, const char *const *sinks, size_t n,
                              selgw_journal_recovery *rec)
{
    selgw_journal *j = NULL;
    selgw_journal_recovery scratch;
    selgw_err err = selgw_journal_open(&f->cfg, sinks, n, true, &j, rec ? rec : &scratch);
    if (err != SELGW_OK)
        fprintf(stderr, "open: %s: %s\n", selgw_strerror(err), (rec ? rec : &scratch)->message);
    assert_int_equal(err, SELGW_OK);
    assert_non_null(j);
    return j;
}

static void append_numbered(selgw_journal *j, uint64_t from, uint64_t to)
{
    uint8_t buf[256];
    for (uint64_t n = from; n <= to; n++) {
        uint64_t seq = 0;
        size_t len = payload_for(n, buf);
        assert_int_equal(selgw_journal_append(j, buf, len, &seq), SELGW_OK);
        assert_int_equal(seq, n);
    }
}

/* Reads everything after `after`; checks each numbered payload is its sequence. */
static uint64_t read_all(selgw_journal *j, uint64_t after, uint64_t *last)
{
    selgw_journal_reader *r = NULL;
    assert_int_equal(selgw_journal_reader_new(j, after, &r), SELGW_OK);
    uint64_t count = 0, prev = after, seq;
    const uint8_t *p;
    size_t len;
    selgw_err err;
    while ((err = selgw_journal_read(r, &seq, &p, &len)) == SELGW_OK) {
        assert_true(seq > prev);
        selgw_record rec;
        if (selgw_record_decode(p, len, &rec) == SELGW_OK && rec.type == SELGW_RECORD_GAP) {
            prev = seq;
            count++;
            continue;
        }
        assert_int_equal(seq, prev + 1);
        assert_int_equal(payload_number(p, len), seq);
        prev = seq;
        count++;
    }
    assert_int_equal(err, SELGW_ERR_AGAIN);
    selgw_journal_reader_free(r);
    if (last)
        *last = prev;
    return count;
}

/* Counts the records after `after`, whatever they hold. */
static uint64_t read_all_from_gap(selgw_journal *j, uint64_t after)
{
    selgw_journal_reader *r = NULL;
    assert_int_equal(selgw_journal_reader_new(j, after, &r), SELGW_OK);
    uint64_t count = 0, seq;
    const uint8_t *p;
    size_t len;
    while (selgw_journal_read(r, &seq, &p, &len) == SELGW_OK)
        count++;
    selgw_journal_reader_free(r);
    return count;
}

static size_t list_segments(const char *dir, char names[][32], size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len == 24 && strcmp(e->d_name + 20, ".seg") == 0) {
            if (n < max)
                memcpy(names[n], e->d_name, len + 1);
            n++;
        }
    }
    closedir(d);
    /* sort: the names are fixed-width numbers */
    for (size_t a = 0; a < n && a < max; a++)
        for (size_t b = a + 1; b < n && b < max; b++)
            if (strcmp(names[a], names[b]) > 0) {
                char t[32];
                memcpy(t, names[a], 32);
                memcpy(names[a], names[b], 32);
                memcpy(names[b], t, 32);
            }
    return n;
}

static void path_of(const fixture *f, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->dir, name);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Frame sizes of records a..b as appended by append_numbered. */
static size_t frames_size(uint64_t a, uint64_t b)
{
    uint8_t buf[256];
    size_t total = 0;
    for (uint64_t n = a; n <= b; n++)
        total += FRAME_HEADER + payload_for(n, buf);
    return total;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_round_trip_across_segments(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    assert_int_equal(selgw_journal_committed_seq(j), 0);
    append_numbered(j, 1, 300);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_committed_seq(j), 300);
    assert_null(selgw_journal_failure(j));
    uint64_t last = 0;
    assert_int_equal(read_all(j, 0, &last), 300);
    assert_int_equal(last, 300);
    assert_int_equal(read_all(j, 250, &last), 50);
    selgw_journal_close(j);

    char names[64][32];
    size_t n = list_segments(f->dir, names, 64);
    assert_true(n >= 10); /* 300 records of ~140 bytes in 4 KiB segments */
    assert_string_equal(names[0], "00000000000000000001.seg");
    /* no segment past the limit, unless a single record is larger */
    for (size_t i = 0; i < n; i++) {
        char path[512];
        path_of(f, names[i], path, sizeof path);
        assert_true(file_size(path) <= 4096);
    }

    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 300);
    assert_int_equal(rec.first_seq, 1);
    assert_int_equal(rec.last_seq, 300);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(selgw_journal_committed_seq(j), 300);
    assert_int_equal(read_all(j, 0, NULL), 300);
    append_numbered(j, 301, 320);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(read_all(j, 0, &last), 320);
    assert_int_equal(last, 320);
    selgw_journal_close(j);
}

static void test_format_on_disk(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(j, "hello", 5, &seq), SELGW_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_close(j);

    char path[512];
    path_of(f, "00000000000000000001.seg", path, sizeof path);
    size_t len;
    uint8_t *b = read_file(path, &len);
    assert_int_equal(len, SEG_HEADER + FRAME_HEADER + 5);
    assert_memory_equal(b, "SELGWJNL", 8);
    assert_int_equal(le32(b + 8), 1);  /* version */
    assert_int_equal(le32(b + 12), 0); /* flags */
    assert_int_equal(le64(b + 16), 1); /* first sequence */
    assert_int_equal(le32(b + 24), test_crc32c_bitwise(0, b, 24));
    const uint8_t *fr = b + SEG_HEADER;
    assert_int_equal(le32(fr), 5);
    assert_int_equal(le64(fr + 8), 1);
    assert_int_equal(le32(fr + 4), test_crc32c_bitwise(0, fr + 8, 8 + 5));
    assert_memory_equal(fr + 16, "hello", 5);
    free(b);

    /* A segment written by hand from the documented format reads back. */
    remove_tree(f->dir);
    mkdir(f->dir, 0755);
    uint8_t seg[SEG_HEADER + 2 * (FRAME_HEADER + 3)];
    memset(seg, 0, sizeof seg);
    memcpy(seg, "SELGWJNL", 8);
    put32(seg + 8, 1);
    put64(seg + 16, 7);
    put32(seg + 24, test_crc32c_bitwise(0, seg, 24));
    for (int k = 0; k < 2; k++) {
        uint8_t *p = seg + SEG_HEADER + k * (FRAME_HEADER + 3);
        put32(p, 3);
        put64(p + 8, 7 + (uint64_t)k);
        memcpy(p + 16, k ? "two" : "one", 3);
        put32(p + 4, test_crc32c_bitwise(0, p + 8, 11));
    }
    path_of(f, "00000000000000000007.seg", path, sizeof path);
    test_write_file(path, seg, sizeof seg);
    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 2);
    assert_int_equal(rec.first_seq, 7);
    assert_int_equal(rec.last_seq, 8);
    selgw_journal_reader *r;
    assert_int_equal(selgw_journal_reader_new(j, 0, &r), SELGW_OK);
    const uint8_t *p;
    size_t n;
    assert_int_equal(selgw_journal_read(r, &seq, &p, &n), SELGW_OK);
    assert_int_equal(seq, 7);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "one", 3);
    assert_int_equal(selgw_journal_read(r, &seq, &p, &n), SELGW_OK);
    assert_int_equal(seq, 8);
    assert_memory_equal(p, "two", 3);
    assert_int_equal(selgw_journal_read(r, &seq, &p, &n), SELGW_ERR_AGAIN);
    selgw_journal_reader_free(r);
    assert_int_equal(selgw_journal_append(j, "x", 1, &seq), SELGW_OK);
    assert_int_equal(seq, 9);
    selgw_journal_close(j);
}

static void test_append_rejects_bad_arguments(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(j, "x", 0, &seq), SELGW_ERR_INVALID);
    assert_int_equal(selgw_journal_append(j, NULL, 3, &seq), SELGW_ERR_INVALID);
    uint8_t *big = calloc(1, (1u << 20) + 1);
    assert_int_equal(selgw_journal_append(j, big, (1u << 20) + 1, &seq), SELGW_ERR_INVALID);
    free(big);
    assert_int_equal(selgw_journal_append(NULL, "x", 1, &seq), SELGW_ERR_INVALID);
    selgw_journal_close(j);
    selgw_journal_close(NULL);
    selgw_journal_reader_free(NULL);

    const char *twice[] = {"mqtt", "mqtt"};
    selgw_journal_recovery rec;
    j = NULL;
    assert_int_equal(selgw_journal_open(&f->cfg, twice, 2, true, &j, &rec), SELGW_ERR_INVALID);
    assert_null(j);
    const char *bad[] = {"../etc"};
    assert_int_equal(selgw_journal_open(&f->cfg, bad, 1, true, &j, &rec), SELGW_ERR_INVALID);
    assert_non_null(strstr(rec.message, "../etc"));
}

/* Many appends, one commit: with a long commit interval the writer commits only when
 * asked (flush), so exactly one fdatasync covers them all; and until then readers see
 * nothing, because nothing is durable. */
static void test_group_commit(void **state)
{
    fixture *f = *state;
    f->cfg.commit_interval_ms = 60000;
    f->cfg.segment_bytes = 1 << 20;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    atomic_store(&fdatasync_count, 0);
    append_numbered(j, 1, 500);
    assert_int_equal(selgw_journal_committed_seq(j), 0);
    assert_int_equal(read_all(j, 0, NULL), 0);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_committed_seq(j), 500);
    assert_int_equal(atomic_load(&fdatasync_count), 1);
    assert_int_equal(read_all(j, 0, NULL), 500);
    selgw_journal_close(j);
}

/* The writer goes round its loop at least once a second while idle; one stuck in an
 * fdatasync falls silent, which the service watchdog sees. */
static void test_writer_silence_while_stuck_in_fdatasync(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    struct timespec idle = {1, 300 * 1000000L};
    nanosleep(&idle, NULL);
    assert_true(selgw_journal_writer_silence_ns(j) < 1100 * SELGW_NS_PER_MS);
    atomic_store(&hold_fdatasync, 1);
    int syncs = atomic_load(&fdatasync_count);
    append_numbered(j, 1, 1);
    while (atomic_load(&fdatasync_count) == syncs)
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    struct timespec stuck = {1, 500 * 1000000L};
    nanosleep(&stuck, NULL);
    assert_true(selgw_journal_writer_silence_ns(j) >= 1400 * SELGW_NS_PER_MS);
    atomic_store(&hold_fdatasync, 0);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    /* Once the fdatasync returns the writer goes round its loop again; the flush may return
     * a moment before it does (seen 1 run in 25 on a loaded machine), so wait for it. */
    for (int i = 0; i < 5000 && selgw_journal_writer_silence_ns(j) >= 1100 * SELGW_NS_PER_MS; i++)
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    assert_true(selgw_journal_writer_silence_ns(j) < 1100 * SELGW_NS_PER_MS);
    selgw_journal_close(j);
    assert_int_equal(selgw_journal_writer_silence_ns(NULL), 0);
}

typedef struct appender_arg {
    selgw_journal *j;
    int count;
    uint64_t max_seq;
} appender_arg;

static void *appender(void *p)
{
    appender_arg *a = p;
    uint8_t buf[256];
    for (int i = 0; i < a->count; i++) {
        uint64_t seq;
        memset(buf, 'a', 100);
        if (selgw_journal_append(a->j, buf, 100, &seq) != SELGW_OK)
            return NULL;
        if (seq > a->max_seq)
            a->max_seq = seq;
    }
    return NULL;
}

/* Four threads append at once: every sequence number is handed out once, all commit. */
static void test_concurrent_appends(void **state)
{
    fixture *f = *state;
    f->cfg.segment_bytes = 64 << 10;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    pthread_t t[4];
    appender_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (appender_arg){j, 2000, 0};
        pthread_create(&t[i], NULL, appender, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_committed_seq(j), 8000);
    selgw_journal_reader *r;
    assert_int_equal(selgw_journal_reader_new(j, 0, &r), SELGW_OK);
    uint64_t seq, expect = 1;
    const uint8_t *p;
    size_t n;
    while (selgw_journal_read(r, &seq, &p, &n) == SELGW_OK) {
        assert_int_equal(seq, expect);
        assert_int_equal(n, 100);
        expect++;
    }
    assert_int_equal(expect, 8001);
    selgw_journal_reader_free(r);
    selgw_journal_close(j);
    /* fewer fdatasyncs than records: group commit */
    assert_true(atomic_load(&fdatasync_count) < 8000);
}

typedef struct waiter_arg {
    selgw_journal *j;
    uint64_t after;
    uint64_t got;
} waiter_arg;

static void *waiter(void *p)
{
    waiter_arg *w = p;
    w->got = selgw_journal_wait(w->j, w->after, 60000);
    return NULL;
}

static void test_wait_is_woken_by_commit(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    /* nothing to wait for: times out with the committed sequence */
    assert_int_equal(selgw_journal_wait(j, 0, 20), 0);
    waiter_arg w = {j, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, waiter, &w);
    append_numbered(j, 1, 3);
    pthread_join(t, NULL);
    assert_true(w.got >= 1);
    assert_true(w.got <= 3);
    /* a waiter for a record that never comes is released by close */
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    w = (waiter_arg){j, 1000, 0};
    pthread_create(&t, NULL, waiter, &w);
    while (selgw_journal_waiters(j) == 0) /* close only once it waits: after close, j is gone */
        usleep(1000);
    selgw_journal_close(j);
    pthread_join(t, NULL);
    assert_int_equal(w.got, 3);
}

/* A watched eventfd counts commits (and the close), for a sink waiting in poll(); once
 * unwatched it hears nothing more, and a full table of watchers refuses one more. */
static void test_watched_eventfd_is_told_of_commits(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_false(selgw_journal_watch(j, -1));
    assert_true(selgw_journal_watch(j, fd));
    eventfd_t count = 0;
    assert_int_equal(eventfd_read(fd, &count), -1); /* nothing committed yet */
    assert_int_equal(errno, EAGAIN);
    append_numbered(j, 1, 3);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 1);
    assert_int_equal(eventfd_read(fd, &count), 0);
    assert_true(count >= 1);
    selgw_journal_unwatch(j, fd);
    append_numbered(j, 4, 3);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(poll(&pfd, 1, 0), 0);

    int many[9];
    size_t watched = 0;
    for (size_t i = 0; i < sizeof many / sizeof *many; i++) {
        many[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (selgw_journal_watch(j, many[i]))
            watched++;
    }
    assert_int_equal(watched, 8);
    /* the close tells every watcher too (a sink stopping after the journal failed) */
    selgw_journal_close(j);
    for (size_t i = 0; i < watched; i++) {
        pfd.fd = many[i];
        assert_int_equal(poll(&pfd, 1, 0), 1);
    }
    for (size_t i = 0; i < sizeof many / sizeof *many; i++)
        close(many[i]);
    close(fd);
}

static void test_reader_seek(void **state)
{
    fixture *f = *state;
    f->cfg.segment_bytes = 64 << 10;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 3000);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_reader *r;
    assert_int_equal(selgw_journal_reader_new(j, 0, &r), SELGW_OK);
    uint64_t seq;
    const uint8_t *p;
    size_t n;
    for (int i = 1; i <= 2500; i++) {
        assert_int_equal(selgw_journal_read(r, &seq, &p, &n), SELGW_OK);
        assert_int_equal(seq, (uint64_t)i);
    }
    /* back a little (recently read), far back (another segment), forward, to the start */
    uint64_t targets[] = {2450, 17, 2999, 0, 1234};
    for (size_t k = 0; k < sizeof targets / sizeof *targets; k++) {
        assert_int_equal(selgw_journal_reader_seek(r, targets[k]), SELGW_OK);
        assert_int_equal(selgw_journal_read(r, &seq, &p, &n), SELGW_OK);
        assert_int_equal(seq, targets[k] + 1);
        assert_int_equal(payload_number(p, n), seq);
    }
    assert_int_equal(selgw_journal_reader_seek(r, 3000), SELGW_OK);
    assert_int_equal(selgw_journal_read(r, &seq, &p, &n), SELGW_ERR_AGAIN);
    append_numbered(j, 3001, 3001);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_read(r, &seq, &p, &n), SELGW_OK);
    assert_int_equal(seq, 3001);
    selgw_journal_reader_free(r);
    selgw_journal_close(j);
}

/* Writes 1..count, closes, and returns the path of the last segment. */
static void make_journal(fixture *f, uint64_t count, char *last_path, size_t cap)
{
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, count);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_close(j);
    char names[256][32];
    size_t n = list_segments(f->dir, names, 256);
    assert_true(n > 0 && n <= 256);
    path_of(f, names[n - 1], last_path, cap);
}

static void test_recovery_cuts_torn_frame(void **state)
{
    fixture *f = *state;
    char last[512];
    make_journal(f, 100, last, sizeof last);
    off_t size = file_size(last);
    assert_int_equal(truncate(last, size - 7), 0);
    uint8_t buf[256];
    size_t torn = FRAME_HEADER + payload_for(100, buf) - 7;

    selgw_journal_recovery rec;
    selgw_journal *j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, torn);
    assert_int_equal(rec.records, 99);
    assert_int_equal(rec.last_seq, 99);
    assert_int_equal(file_size(last), size - 7 - (off_t)torn);
    assert_int_equal(read_all(j, 0, NULL), 99);
    append_numbered(j, 100, 101);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_close(j);
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(rec.records, 101);
    selgw_journal_close(j);
}

static void test_recovery_cuts_garbage_and_zero_tails(void **state)
{
    fixture *f = *state;
    char last[512];
    make_journal(f, 50, last, sizeof last);
    off_t size = file_size(last);
    uint8_t junk[777];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    test_append_file(last, junk, sizeof junk);
    selgw_journal_recovery rec;
    selgw_journal *j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, sizeof junk);
    assert_int_equal(rec.records, 50);
    assert_int_equal(file_size(last), size);
    selgw_journal_close(j);

    uint8_t zeros[5000] = {0};
    test_append_file(last, zeros, sizeof zeros);
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, sizeof zeros);
    assert_int_equal(rec.records, 50);
    assert_int_equal(file_size(last), size);
    /* a frame header alone (the payload never written) */
    selgw_journal_close(j);
    uint8_t hdr[FRAME_HEADER];
    put32(hdr, 100);
    put32(hdr + 4, 0x12345678);
    put64(hdr + 8, 51);
    test_append_file(last, hdr, sizeof hdr);
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, FRAME_HEADER);
    assert_int_equal(read_all(j, 0, NULL), 50);
    selgw_journal_close(j);
}

static void test_recovery_torn_segment_header(void **state)
{
    fixture *f = *state;
    char last[512];
    make_journal(f, 40, last, sizeof last);
    /* a crash right after the next segment was created */
    char path[512];
    path_of(f, "00000000000000000041.seg", path, sizeof path);
    test_write_file(path, "SELGWJ", 6);
    selgw_journal_recovery rec;
    selgw_journal *j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, 6);
    assert_int_equal(rec.records, 40);
    assert_int_equal(file_size(path), SEG_HEADER); /* rewritten as an empty segment */
    append_numbered(j, 41, 45);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_close(j);
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(rec.records, 45);
    assert_int_equal(read_all(j, 0, NULL), 45);
    selgw_journal_close(j);

    /* an empty file */
    path_of(f, "00000000000000000046.seg", path, sizeof path);
    test_write_file(path, "", 0);
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(rec.records, 45);
    append_numbered(j, 46, 46);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(read_all(j, 0, NULL), 46);
    selgw_journal_close(j);
}

static void test_corrupt_middle_is_refused(void **state)
{
    fixture *f = *state;
    char last[512];
    make_journal(f, 200, last, sizeof last);
    char names[64][32];
    size_t n = list_segments(f->dir, names, 64);
    assert_true(n >= 3);
    char first[512];
    path_of(f, names[0], first, sizeof first);
    size_t len;
    uint8_t *before = read_file(first, &len);
    /* flip a payload byte of record 3 */
    size_t off3 = SEG_HEADER + frames_size(1, 2);
    uint8_t *copy = malloc(len);
    memcpy(copy, before, len);
    copy[off3 + FRAME_HEADER + 10] ^= 0x40;
    test_write_file(first, copy, len);

    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, true, &j, &rec), SELGW_ERR_CORRUPT);
    assert_null(j);
    char want[128];
    snprintf(want, sizeof want, "segment %s offset %zu: ", names[0], off3);
    assert_non_null(strstr(rec.message, want));
    assert_non_null(strstr(rec.message, "CRC"));
    size_t len2;
    uint8_t *after = read_file(first, &len2); /* nothing modified */
    assert_int_equal(len2, len);
    assert_memory_equal(after, copy, len);
    free(after);
    /* the same in the read-only mode of `selgw journal` */
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, false, &j, &rec), SELGW_ERR_CORRUPT);
    free(copy);
    free(before);
}

/* Damage in the last segment followed by records that check out is not a torn tail:
 * cutting there would throw away records that may have been committed. */
static void test_corrupt_inside_last_segment_is_refused(void **state)
{
    fixture *f = *state;
    char last[512];
    make_journal(f, 20, last, sizeof last);
    size_t len;
    uint8_t *b = read_file(last, &len);
    size_t off = SEG_HEADER + frames_size(1, 4);
    b[off] ^= 0xff; /* the length of record 5 */
    test_write_file(last, b, len);
    free(b);
    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, true, &j, &rec), SELGW_ERR_CORRUPT);
    char want[64];
    snprintf(want, sizeof want, "offset %zu:", off);
    assert_non_null(strstr(rec.message, want));
    assert_int_equal(file_size(last), (off_t)len);
}

static void test_bad_segment_header_and_unreadable_files(void **state)
{
    fixture *f = *state;
    char last[512];
    make_journal(f, 200, last, sizeof last);
    char names[64][32];
    list_segments(f->dir, names, 64);
    char first[512];
    path_of(f, names[0], first, sizeof first);
    size_t len;
    uint8_t *b = read_file(first, &len);
    uint8_t saved = b[3];
    b[3] = 'X';
    test_write_file(first, b, len);
    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, true, &j, &rec), SELGW_ERR_CORRUPT);
    assert_non_null(strstr(rec.message, "offset 0: not a selgw journal segment"));
    b[3] = saved;
    test_write_file(first, b, len);
    free(b);
    j = open_ok(f, NULL, 0, NULL);
    selgw_journal_close(j);

    /* a file that cannot be read as a segment */
    char path[512];
    path_of(f, "00000000000000009999.seg", path, sizeof path);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, true, &j, &rec), SELGW_ERR_IO);
    assert_non_null(strstr(rec.message, "00000000000000009999.seg"));
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, false, &j, &rec), SELGW_ERR_IO);
    rmdir(path);

    /* a segment that overlaps the one before */
    path_of(f, "00000000000000000003.seg", path, sizeof path);
    uint8_t seg[SEG_HEADER] = {0};
    memcpy(seg, "SELGWJNL", 8);
    put32(seg + 8, 1);
    put64(seg + 16, 3);
    put32(seg + 24, test_crc32c_bitwise(0, seg, 24));
    test_write_file(path, seg, sizeof seg);
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, true, &j, &rec), SELGW_ERR_CORRUPT);
    assert_non_null(strstr(rec.message, "00000000000000000003.seg"));
}

/* The pid a running gateway announces in the lock file: found while the journal is held,
 * not before it is announced, never after the close (a pid left behind would name some
 * other process); a second writer that is refused does not wipe it. */
static void test_owner_pid(void **state)
{
    fixture *f = *state;
    long pid = 0;
    assert_int_equal(selgw_journal_owner(f->cfg.dir, &pid), SELGW_ERR_NOT_FOUND);
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    assert_int_equal(selgw_journal_owner(f->cfg.dir, &pid), SELGW_ERR_AGAIN);
    selgw_journal_announce_owner(j, 4242);
    assert_int_equal(selgw_journal_owner(f->cfg.dir, &pid), SELGW_OK);
    assert_int_equal(pid, 4242);
    /* a seal announced beside the pid; the pid still reads */
    uint64_t seal_seq = 0;
    int64_t covers = 0;
    assert_int_equal(selgw_journal_owner_seal(f->cfg.dir, &seal_seq, &covers),
                     SELGW_ERR_NOT_FOUND);
    selgw_journal_announce_seal(j, 4242, 812, -5);
    assert_int_equal(selgw_journal_owner_seal(f->cfg.dir, &seal_seq, &covers), SELGW_OK);
    assert_int_equal(seal_seq, 812);
    assert_int_equal(covers, -5);
    selgw_journal_announce_seal(j, 4242, UINT64_MAX, INT64_MAX);
    assert_int_equal(selgw_journal_owner_seal(f->cfg.dir, &seal_seq, &covers), SELGW_OK);
    assert_true(seal_seq == UINT64_MAX && covers == INT64_MAX);
    assert_int_equal(selgw_journal_owner(f->cfg.dir, &pid), SELGW_OK);
    assert_int_equal(pid, 4242);
    selgw_journal_announce_owner(j, 4242); /* (a restart's announcement drops it) */
    assert_int_equal(selgw_journal_owner_seal(f->cfg.dir, &seal_seq, &covers),
                     SELGW_ERR_NOT_FOUND);
    selgw_journal *second = NULL;
    selgw_journal_recovery rec;
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, true, &second, &rec), SELGW_ERR_IO);
    pid = 0;
    assert_int_equal(selgw_journal_owner(f->cfg.dir, &pid), SELGW_OK);
    assert_int_equal(pid, 4242);
    selgw_journal_close(j);
    assert_int_equal(selgw_journal_owner(f->cfg.dir, &pid), SELGW_ERR_NOT_FOUND);
    /* a journal opened read-only announces nothing */
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, false, &j, &rec), SELGW_OK);
    selgw_journal_announce_owner(j, 99);
    selgw_journal_close(j);
    size_t len;
    char path[300];
    snprintf(path, sizeof path, "%s/lock", f->cfg.dir);
    test_read_file(path, &len);
    assert_int_equal(len, 0);
}

static void test_directory_created_and_read_only_mode(void **state)
{
    fixture *f = *state;
    char nested[512];
    snprintf(nested, sizeof nested, "%s/a/b/journal", f->dir);
    f->cfg.dir = nested;
    f->cfg.segment_bytes = 1 << 20;
    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    /* read-only: nothing is created */
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, false, &j, &rec), SELGW_ERR_IO);
    assert_non_null(strstr(rec.message, nested));
    j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 30);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    /* a second writer on the same directory is refused */
    selgw_journal *other = NULL;
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, true, &other, &rec), SELGW_ERR_IO);
    assert_non_null(strstr(rec.message, "in use"));
    selgw_journal_close(j);

    char path[600];
    snprintf(path, sizeof path, "%s/00000000000000000001.seg", nested);
    off_t size = file_size(path);
    test_append_file(path, "garbage", 7);
    assert_int_equal(selgw_journal_open(&f->cfg, NULL, 0, false, &j, &rec), SELGW_OK);
    assert_int_equal(rec.torn_bytes, 7);
    assert_int_equal(rec.records, 30);
    assert_int_equal(file_size(path), size + 7); /* reported, left alone */
    assert_int_equal(read_all(j, 0, NULL), 30);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(j, "x", 1, &seq), SELGW_ERR_INVALID);
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    selgw_journal_describe(j, mem);
    fclose(mem);
    assert_non_null(strstr(text, "00000000000000000001.seg"));
    assert_non_null(strstr(text, "committed sequence 30"));
    free(text);
    selgw_journal_close(j);
}

/* Files in the journal directory with ".tmp" in their name: none once writes are done. */
static size_t count_temp_files(const fixture *f)
{
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

static void test_cursors_persist(void **state)
{
    fixture *f = *state;
    const char *sinks[] = {"mqtt", "influx"};
    selgw_journal *j = open_ok(f, sinks, 2, NULL);
    assert_int_equal(selgw_journal_cursor(j, "mqtt"), 0);
    assert_int_equal(selgw_journal_cursor(j, "influx"), 0);
    append_numbered(j, 1, 20);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "mqtt", 15), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "influx", 7), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "influx", 21), SELGW_ERR_INVALID);
    assert_int_equal(selgw_journal_set_cursor(j, "nobody", 1), SELGW_ERR_INVALID);
    assert_int_equal(selgw_journal_cursor(j, "mqtt"), 15);
    assert_int_equal(selgw_journal_cursor(j, "nobody"), 0);
    selgw_journal_close(j);

    char path[512];
    path_of(f, "cursor.mqtt", path, sizeof path);
    size_t len;
    uint8_t *b = read_file(path, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "15\n", 3);
    free(b);
    assert_int_equal(count_temp_files(f), 0);

    /* temporary files left by a crash (and by earlier versions) are removed; the cursors
     * come back */
    char old_temp[512];
    path_of(f, "cursor.mqtt.tmp", old_temp, sizeof old_temp);
    test_write_file(old_temp, "99\n", 3);
    path_of(f, "cursor.mqtt.tmp-Ab12Cd", path, sizeof path);
    test_write_file(path, "98\n", 3);
    j = open_ok(f, sinks, 2, NULL);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_not_equal(access(old_temp, F_OK), 0);
    assert_int_equal(selgw_journal_cursor(j, "mqtt"), 15);
    assert_int_equal(selgw_journal_cursor(j, "influx"), 7);
    uint64_t undelivered = selgw_journal_backlog_bytes(j);
    assert_true(undelivered > 0);
    assert_true(undelivered <= frames_size(1, 20));
    selgw_journal_close(j);

    /* a new sink starts at the beginning */
    const char *three[] = {"mqtt", "influx", "archive"};
    j = open_ok(f, three, 3, NULL);
    assert_int_equal(selgw_journal_cursor(j, "archive"), 0);
    selgw_journal_close(j);

    /* a damaged cursor file stops the opening */
    path_of(f, "cursor.influx", path, sizeof path);
    test_write_file(path, "7x\n", 3);
    selgw_journal_recovery rec;
    assert_int_equal(selgw_journal_open(&f->cfg, sinks, 2, true, &j, &rec), SELGW_ERR_CORRUPT);
    assert_non_null(strstr(rec.message, "cursor.influx"));
}

static void test_cursor_beyond_the_end(void **state)
{
    fixture *f = *state;
    const char *sinks[] = {"mqtt"};
    char path[512];
    path_of(f, "cursor.mqtt", path, sizeof path);
    test_write_file(path, "500\n", 4);
    selgw_journal *j = open_ok(f, sinks, 1, NULL);
    assert_int_equal(selgw_journal_committed_seq(j), 500);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(j, "x", 1, &seq), SELGW_OK);
    assert_int_equal(seq, 501);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_close(j);
    selgw_journal_recovery rec;
    j = open_ok(f, sinks, 1, &rec);
    assert_int_equal(rec.first_seq, 501);
    assert_int_equal(rec.records, 1);
    selgw_journal_close(j);
}

static size_t count_segments(const fixture *f)
{
    char names[1][32];
    return list_segments(f->dir, names, 1);
}

static void test_retention(void **state)
{
    fixture *f = *state;
    const char *sinks[] = {"a", "b"};
    f->cfg.retention_ms = 3600 * 1000; /* an hour */
    selgw_journal *j = open_ok(f, sinks, 2, NULL);
    append_numbered(j, 1, 200);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    size_t n0 = count_segments(f);
    assert_true(n0 >= 5);
    assert_int_equal(selgw_journal_set_cursor(j, "a", 200), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "b", 200), SELGW_OK);
    assert_int_equal(count_segments(f), n0); /* delivered, but kept an hour */
    selgw_journal_close(j);

    /* b has delivered nothing after all */
    char path[512];
    path_of(f, "cursor.b", path, sizeof path);
    test_write_file(path, "0\n", 2);
    f->cfg.retention_ms = 0;
    j = open_ok(f, sinks, 2, NULL);
    assert_int_equal(selgw_journal_cursor(j, "b"), 0);
    assert_int_equal(selgw_journal_set_cursor(j, "a", 200), SELGW_OK);
    assert_int_equal(count_segments(f), n0);
    /* b passes the first two segments: exactly those go */
    char names[64][32];
    list_segments(f->dir, names, 64);
    uint64_t third_first = strtoull(names[2], NULL, 10);
    assert_int_equal(selgw_journal_set_cursor(j, "b", third_first - 1), SELGW_OK);
    assert_int_equal(count_segments(f), n0 - 2);
    char still[64][32];
    list_segments(f->dir, still, 64);
    assert_string_equal(still[0], names[2]);
    /* all delivered: everything but the segment being written goes */
    assert_int_equal(selgw_journal_set_cursor(j, "b", 200), SELGW_OK);
    assert_int_equal(count_segments(f), 1);
    uint64_t kept_first = strtoull(still[n0 - 3], NULL, 10);
    assert_int_equal(read_all(j, kept_first - 1, NULL), 200 - kept_first + 1);
    selgw_journal_close(j);
    selgw_journal_recovery rec;
    j = open_ok(f, sinks, 2, &rec);
    assert_int_equal(rec.last_seq, 200);
    append_numbered(j, 201, 210);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_close(j);
}

/* Without sinks, records count as delivered once committed: time alone removes them. */
static void test_retention_without_sinks(void **state)
{
    fixture *f = *state;
    f->cfg.retention_ms = 0;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 200);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    /* the writer looks once a second */
    int64_t give_up = selgw_mono_ns() + 20 * SELGW_NS_PER_S;
    while (count_segments(f) > 1 && selgw_mono_ns() < give_up)
        usleep(20000);
    assert_int_equal(count_segments(f), 1);
    selgw_journal_close(j);
}

static void test_budget_stop(void **state)
{
    fixture *f = *state;
    const char *sinks[] = {"mqtt"};
    f->cfg.max_backlog_bytes = 3 * 4096;
    f->cfg.when_full = SELGW_WHEN_FULL_STOP;
    f->cfg.retention_ms = 3600 * 1000;
    selgw_journal *j = open_ok(f, sinks, 1, NULL);
    uint8_t buf[256];
    uint64_t n = 1, seq;
    selgw_err err = SELGW_OK;
    for (; n < 10000; n++) {
        size_t len = payload_for(n, buf);
        err = selgw_journal_append(j, buf, len, &seq);
        if (err != SELGW_OK)
            break;
        assert_int_equal(seq, n);
    }
    assert_int_equal(err, SELGW_ERR_FULL);
    assert_true(n > 20);
    assert_true(selgw_journal_backlog_bytes(j) <= 3 * 4096);
    assert_int_equal(selgw_journal_append(j, buf, payload_for(n, buf), &seq), SELGW_ERR_FULL);
    assert_null(selgw_journal_failure(j)); /* full is not a failure */
    /* the sink catches up: accepted again, with the next number */
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "mqtt", selgw_journal_committed_seq(j)), SELGW_OK);
    assert_int_equal(selgw_journal_append(j, buf, payload_for(n, buf), &seq), SELGW_OK);
    assert_int_equal(seq, n);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    uint64_t last;
    assert_int_equal(read_all(j, 0, &last), n);
    selgw_journal_close(j);
}

static void test_budget_drop_oldest(void **state)
{
    fixture *f = *state;
    const char *sinks[] = {"mqtt", "influx"};
    f->cfg.max_backlog_bytes = 4 * 4096;
    f->cfg.when_full = SELGW_WHEN_FULL_DROP_OLDEST;
    f->cfg.retention_ms = 3600 * 1000;
    selgw_journal *j = open_ok(f, sinks, 2, NULL);
    uint8_t buf[256];
    uint64_t seq;
    /* mqtt delivers the first 10, influx nothing */
    append_numbered(j, 1, 20);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "mqtt", 10), SELGW_OK);
    uint64_t last_seq = 20;
    uint64_t gap_numbers = 0;
    for (uint64_t i = 21; i <= 420; i++) {
        size_t len = payload_for(i, buf);
        assert_int_equal(selgw_journal_append(j, buf, len, &seq), SELGW_OK);
        /* a GAP record may have taken the number before */
        assert_true(seq == last_seq + 1 || seq == last_seq + 2);
        gap_numbers += seq - last_seq - 1;
        last_seq = seq;
        if (i % 16 == 0)
            assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    }
    assert_true(gap_numbers >= 1);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    /* within the budget, give or take the segment being written */
    assert_true(selgw_journal_backlog_bytes(j) <= 6 * 4096);
    /* the cursors stay where the sinks left them */
    assert_int_equal(selgw_journal_cursor(j, "mqtt"), 10);
    assert_int_equal(selgw_journal_cursor(j, "influx"), 0);

    /* What a sink reads: a jump over the dropped records, and GAP records that name them
     * all, from the slowest sink's cursor on. */
    selgw_journal_reader *r;
    assert_int_equal(selgw_journal_reader_new(j, 0, &r), SELGW_OK);
    const uint8_t *p;
    size_t len;
    uint64_t prev = 0, gaps = 0, prev_number = 0, first_read = 0, max_hole = 0, max_gap_last = 0;
    while (selgw_journal_read(r, &seq, &p, &len) == SELGW_OK) {
        if (!first_read)
            first_read = seq;
        selgw_record rec;
        if (selgw_record_decode(p, len, &rec) == SELGW_OK && rec.type == SELGW_RECORD_GAP) {
            assert_int_equal(rec.gap_first_seq, 1);
            assert_true(rec.gap_last_seq > max_gap_last);
            max_gap_last = rec.gap_last_seq;
            assert_true(rec.gap_last_seq < seq);
            assert_non_null(memmem(rec.text.ptr, rec.text.len, "disk budget", 11));
            gaps++;
        } else {
            uint64_t number = payload_number(p, len); /* intact, in order */
            assert_true(number > prev_number);
            prev_number = number;
        }
        if (seq != prev + 1)
            max_hole = seq - 1;
        prev = seq;
    }
    selgw_journal_reader_free(r);
    assert_true(gaps >= 1);
    assert_true(gaps <= gap_numbers); /* older GAP records may be dropped in their turn */
    assert_int_equal(prev, last_seq);
    assert_int_equal(first_read, max_gap_last + 1);
    assert_true(max_hole <= max_gap_last);
    selgw_journal_close(j);

    /* the dropped segments' files are gone; it reopens cleanly */
    char path[512];
    path_of(f, "00000000000000000001.seg", path, sizeof path);
    assert_int_not_equal(access(path, F_OK), 0);
    selgw_journal_recovery rec;
    j = open_ok(f, sinks, 2, &rec);
    assert_int_equal(rec.last_seq, last_seq);
    assert_int_equal(rec.first_seq, max_gap_last + 1);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(selgw_journal_cursor(j, "influx"), 0);
    assert_int_equal(read_all_from_gap(j, 0), last_seq - max_gap_last);
    selgw_journal_close(j);
}

/* With a hook, the GAP records of the disk budget are links of their owner's chain. */
typedef struct gap_chain {
    uint64_t next_position;
    uint64_t appended, last_seq;
    uint8_t last_hash[SELGW_RECORD_HASH_BYTES];
} gap_chain;

static size_t encode_chained_gap(void *ctx, const selgw_record *gap, uint8_t *buf, size_t cap)
{
    gap_chain *c = ctx;
    selgw_chain_link link = {.chain = "gateway", .chain_seq = c->next_position};
    memcpy(link.prev, c->last_hash, sizeof link.prev);
    return selgw_record_encode_event(gap, &link, buf, cap);
}

static void gap_appended(void *ctx, const uint8_t *payload, size_t len, uint64_t seq)
{
    gap_chain *c = ctx;
    selgw_record_hash(payload, len, c->last_hash);
    c->next_position++;
    c->appended++;
    c->last_seq = seq;
}

static void test_budget_gap_hook(void **state)
{
    fixture *f = *state;
    const char *sinks[] = {"mqtt"};
    f->cfg.max_backlog_bytes = 4 * 4096;
    f->cfg.when_full = SELGW_WHEN_FULL_DROP_OLDEST;
    selgw_journal *j = open_ok(f, sinks, 1, NULL);
    gap_chain chain = {.next_position = 1};
    selgw_journal_gap_hook hook = {encode_chained_gap, gap_appended, &chain};
    selgw_journal_set_gap_hook(j, &hook);
    uint8_t buf[256];
    uint64_t seq;
    /* With a hook, an append never drops (the record has its place in a chain already):
     * the budget is passed, and nothing is dropped until room is made. */
    for (uint64_t i = 1; i <= 200; i++) {
        size_t len = payload_for(i, buf);
        assert_int_equal(selgw_journal_append(j, buf, len, &seq), SELGW_OK);
        if (i % 16 == 0)
            assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    }
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(chain.appended, 0);
    assert_true(selgw_journal_backlog_bytes(j) > f->cfg.max_backlog_bytes);
    /* as the gateway does: room first, then the append */
    for (uint64_t i = 201; i <= 400; i++) {
        size_t len = payload_for(i, buf);
        selgw_journal_make_room(j, len);
        uint64_t gaps_before = chain.appended;
        assert_int_equal(selgw_journal_append(j, buf, len, &seq), SELGW_OK);
        assert_int_equal(chain.appended, gaps_before);
        if (i % 16 == 0) /* segments on disk, that the budget can drop */
            assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    }
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_true(chain.appended >= 1);
    selgw_journal_reader *r;
    assert_int_equal(selgw_journal_reader_new(j, 0, &r), SELGW_OK);
    const uint8_t *p;
    size_t len;
    uint64_t gaps = 0, last_position = 0, last_gap_seq = 0;
    uint8_t prev[SELGW_RECORD_HASH_BYTES] = {0};
    while (selgw_journal_read(r, &seq, &p, &len) == SELGW_OK) {
        selgw_record rec;
        if (selgw_record_decode(p, len, &rec) != SELGW_OK || rec.type != SELGW_RECORD_GAP)
            continue;
        assert_true(rec.chained);
        assert_int_equal(rec.chain.len, 7);
        assert_memory_equal(rec.chain.ptr, "gateway", 7);
        if (gaps) { /* a GAP still held links to the one before it */
            assert_int_equal(rec.chain_seq, last_position + 1);
            assert_memory_equal(rec.prev, prev, sizeof prev);
        }
        selgw_record_hash(p, len, prev);
        last_position = rec.chain_seq;
        last_gap_seq = seq;
        gaps++;
    }
    selgw_journal_reader_free(r);
    assert_true(gaps >= 1);
    assert_int_equal(last_position, chain.next_position - 1); /* the last one is there */
    assert_int_equal(last_gap_seq, chain.last_seq);
    assert_memory_equal(prev, chain.last_hash, sizeof prev);
    selgw_journal_set_gap_hook(j, NULL);
    selgw_journal_close(j);
}

/* The disk fills up: nothing committed is lost, nothing partial stays in the file, and the
 * records waiting in memory are written when space comes back. */
static void test_no_space_then_space_again(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 10);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    char path[512];
    path_of(f, "00000000000000000001.seg", path, sizeof path);
    off_t committed_size = file_size(path);

    atomic_store(&fail_pwrite_errno, ENOSPC);
    atomic_store(&partial_first, 1); /* half a batch reaches the file first */
    atomic_store(&fail_pwrite, 1000000);
    append_numbered(j, 11, 15);
    assert_int_equal(selgw_journal_flush(j), SELGW_ERR_NO_SPACE);
    assert_non_null(selgw_journal_failure(j));
    assert_int_equal(selgw_journal_committed_seq(j), 10);
    assert_int_equal(file_size(path), committed_size); /* the half was cut back */
    /* still accepted meanwhile (memory holds them), still readable up to 10 */
    append_numbered(j, 16, 20);
    assert_int_equal(read_all(j, 0, NULL), 10);
    int calls = atomic_load(&pwrite_calls);
    int64_t give_up = selgw_mono_ns() + 20 * SELGW_NS_PER_S;
    while (atomic_load(&pwrite_calls) < calls + 2 && selgw_mono_ns() < give_up)
        usleep(5000);
    assert_true(atomic_load(&pwrite_calls) >= calls + 2); /* it keeps trying */

    atomic_store(&fail_pwrite, 0); /* space again */
    give_up = selgw_mono_ns() + 20 * SELGW_NS_PER_S;
    while (selgw_journal_wait(j, 19, 100) < 20 && selgw_mono_ns() < give_up)
        ;
    assert_int_equal(selgw_journal_committed_seq(j), 20);
    assert_null(selgw_journal_failure(j));
    assert_int_equal(read_all(j, 0, NULL), 20);
    selgw_journal_close(j);

    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(rec.records, 20);
    assert_int_equal(read_all(j, 0, NULL), 20);
    selgw_journal_close(j);
}

/* While the disk is full, what waits in memory is bounded: beyond it appends are refused
 * (SELGW_ERR_NO_SPACE, to be counted like the budget's refusals), nothing accepted is lost,
 * and refused records never took a number. */
static void test_no_space_bounds_memory(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 5);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    atomic_store(&fail_pwrite, 1000000000);
    append_numbered(j, 6, 6);
    assert_int_equal(selgw_journal_flush(j), SELGW_ERR_NO_SPACE);
    uint8_t buf[256];
    uint64_t seq, last = 6, accepted = 6, refused = 0;
    for (uint64_t i = 7; i < 20000 && refused < 50; i++) {
        size_t len = payload_for(i, buf);
        selgw_err err = selgw_journal_append(j, buf, len, &seq);
        if (err == SELGW_OK) {
            assert_int_equal(seq, last + 1); /* no number lost to a refusal */
            last = seq;
            accepted++;
        } else {
            assert_int_equal(err, SELGW_ERR_NO_SPACE);
            refused++;
        }
    }
    assert_int_equal(refused, 50);
    /* about 1 MiB of records (of ~100 bytes) waited, no more */
    assert_true(accepted * 100 < 2 * (1u << 20));
    assert_true(accepted > 5000);
    atomic_store(&fail_pwrite, 0); /* space again */
    int64_t give_up = selgw_mono_ns() + 20 * SELGW_NS_PER_S;
    while (selgw_journal_wait(j, last - 1, 100) < last && selgw_mono_ns() < give_up)
        ;
    assert_int_equal(selgw_journal_committed_seq(j), last);
    /* and records are taken again */
    size_t len = payload_for(last + 1, buf);
    assert_int_equal(selgw_journal_append(j, buf, len, &seq), SELGW_OK);
    assert_int_equal(seq, last + 1);
    selgw_journal_close(j);
}

/* The disk frees up only when the space reserve goes (as it would on a full disk): a stop
 * waits, releases the reserve, and writes everything that was accepted. */
static char reserve_path[512];

static ssize_t full_until_reserve_released(int fd, const void *buf, size_t len, off_t off)
{
    struct stat st;
    if (stat(reserve_path, &st) == 0 && st.st_size > 4096) {
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, buf, len, off);
}

static void test_stop_on_a_full_disk_uses_the_reserve(void **state)
{
    fixture *f = *state;
    selgw_journal_stop_wait_ms = 200;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    path_of(f, "space.reserve", reserve_path, sizeof reserve_path);
    struct stat st;
    assert_int_equal(stat(reserve_path, &st), 0);
    assert_int_equal(st.st_size, 4 << 20);
    assert_int_equal(st.st_mode & 0777, 0640);
    append_numbered(j, 1, 3);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_io_hooks.pwrite = full_until_reserve_released;
    /* the disk is full now: the reserve's size is all there is */
    append_numbered(j, 4, 40);
    assert_int_equal(selgw_journal_flush(j), SELGW_ERR_NO_SPACE);
    selgw_journal_close(j);
    selgw_journal_io_hooks.pwrite = test_pwrite;
    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 40); /* nothing accepted was dropped */
    assert_int_equal(rec.unwritten_records, 0);
    assert_int_equal(read_all(j, 0, NULL), 40);
    selgw_journal_close(j);
    selgw_journal_stop_wait_ms = 10000;
}

/* No space even then: the stop notes exactly what it could not write, and the next
 * opening says so and never gives those numbers again. */
static void test_stop_on_a_full_disk_notes_what_is_lost(void **state)
{
    fixture *f = *state;
    selgw_journal_stop_wait_ms = 100;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 3);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    atomic_store(&fail_pwrite, 1000000000);
    append_numbered(j, 4, 9);
    selgw_journal_close(j);
    atomic_store(&fail_pwrite, 0);
    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 3);
    assert_int_equal(rec.unwritten_records, 6);
    assert_int_equal(rec.unwritten_first, 4);
    assert_int_equal(rec.unwritten_last, 9);
    uint8_t buf[256];
    uint64_t seq;
    size_t len = payload_for(10, buf);
    assert_int_equal(selgw_journal_append(j, buf, len, &seq), SELGW_OK);
    assert_int_equal(seq, 10); /* 4..9 are never given again */
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_forget_notes(j);
    selgw_journal_close(j);
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.unwritten_records, 0); /* on record, forgotten */
    assert_int_equal(rec.last_seq, 10);
    selgw_journal_close(j);
    selgw_journal_stop_wait_ms = 10000;
}

/* A note of refused records outlives a crash, and goes when its owner forgets it. */
static void test_refusal_note(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    selgw_journal_note_refused(j, 1234, INT64_C(1795960000000000000), INT64_C(1795960060000000000),
                               SELGW_ERR_NO_SPACE);
    selgw_journal_close(j); /* or a crash: the note is on the disk already */
    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.refused_records, 1234);
    assert_int_equal(rec.refused_from_ns, INT64_C(1795960000000000000));
    assert_int_equal(rec.refused_to_ns, INT64_C(1795960060000000000));
    assert_int_equal(rec.refused_err, SELGW_ERR_NO_SPACE);
    assert_int_equal(rec.unwritten_records, 0);
    selgw_journal_forget_notes(j);
    selgw_journal_close(j);
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.refused_records, 0);
    selgw_journal_close(j);
}

/* The journal holds household codes and contracts: its files are 0640 and its directories
 * 0750; with journal.group they belong to that group (a dashboard's reader), also the files
 * created later (the directory's setgid bit). */
static void test_file_modes_and_group(void **state)
{
    fixture *f = *state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/made/journal", f->dir);
    f->cfg.dir = dir;
    mode_t old = umask(022);
    struct group *gr = getgrgid(getegid());
    assert_non_null(gr);
    f->cfg.group = gr->gr_name;
    f->cfg.gid = gr->gr_gid;
    const char *sinks[] = {"mqtt"};
    selgw_journal *j = open_ok(f, sinks, 1, NULL);
    append_numbered(j, 1, 3);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "mqtt", 2), SELGW_OK);
    selgw_journal_close(j);
    umask(old);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02750);
    assert_int_equal(st.st_gid, gr->gr_gid);
    static const char *const files[] = {"00000000000000000001.seg", "cursor.mqtt", "lock",
                                        "space.reserve"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        if ((st.st_mode & 0777) != 0640)
            fail_msg("%s has mode %o", files[i], st.st_mode & 0777);
        assert_int_equal(st.st_gid, gr->gr_gid);
    }
    f->cfg.dir = f->dir;
    f->cfg.group = NULL;
}

/* No space even for a new segment: the half-made file is not left behind. */
static void test_no_space_at_segment_roll(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    static uint8_t big[3000];
    memset(big, 'b', sizeof big);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(j, big, sizeof big, &seq), SELGW_OK);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(count_segments(f), 1);
    atomic_store(&fail_pwrite, 1000000);
    /* does not fit in the 4 KiB segment: a new one is begun, and its header fails */
    assert_int_equal(selgw_journal_append(j, big, sizeof big, &seq), SELGW_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(selgw_journal_flush(j), SELGW_ERR_NO_SPACE);
    assert_int_equal(selgw_journal_committed_seq(j), 1);
    assert_int_equal(count_segments(f), 1);
    atomic_store(&fail_pwrite, 0);
    int64_t give_up = selgw_mono_ns() + 20 * SELGW_NS_PER_S;
    while (selgw_journal_wait(j, 1, 100) < 2 && selgw_mono_ns() < give_up)
        ;
    assert_int_equal(selgw_journal_committed_seq(j), 2);
    assert_int_equal(count_segments(f), 2);
    selgw_journal_close(j);
    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 2);
    assert_int_equal(rec.torn_bytes, 0);
    selgw_journal_close(j);
}

static void test_short_writes(void **state)
{
    fixture *f = *state;
    atomic_store(&max_write_chunk, 7);
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 100);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_null(selgw_journal_failure(j));
    selgw_journal_close(j);
    atomic_store(&max_write_chunk, 0);
    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 100);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(read_all(j, 0, NULL), 100);
    selgw_journal_close(j);
}

/* EIO from fdatasync is fatal: no retry is trusted, appends are refused, and a reopen finds
 * exactly what was committed before. */
static void test_fdatasync_eio_is_fatal(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 30);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    atomic_store(&fail_fdatasync, 1);
    append_numbered(j, 31, 40);
    assert_int_equal(selgw_journal_flush(j), SELGW_ERR_IO);
    const char *why = selgw_journal_failure(j);
    assert_non_null(why);
    assert_non_null(strstr(why, "fdatasync"));
    assert_int_equal(selgw_journal_committed_seq(j), 30);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(j, "x", 1, &seq), SELGW_ERR_IO);
    assert_int_equal(read_all(j, 0, NULL), 30);
    int syncs = atomic_load(&fdatasync_count);
    selgw_journal_close(j);
    assert_int_equal(atomic_load(&fdatasync_count), syncs); /* not retried at close */

    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 30);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(read_all(j, 0, NULL), 30);
    append_numbered(j, 31, 31);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    selgw_journal_close(j);
}

/* Any other write error is fatal too, and leaves the file at its committed length. */
static void test_write_eio_is_fatal(void **state)
{
    fixture *f = *state;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 5);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    char path[512];
    path_of(f, "00000000000000000001.seg", path, sizeof path);
    off_t size = file_size(path);
    atomic_store(&fail_pwrite_errno, EIO);
    atomic_store(&partial_first, 1);
    atomic_store(&fail_pwrite, 1);
    append_numbered(j, 6, 9);
    assert_int_equal(selgw_journal_flush(j), SELGW_ERR_IO);
    assert_non_null(strstr(selgw_journal_failure(j), "write"));
    assert_int_equal(file_size(path), size);
    selgw_journal_close(j);
    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 5);
    assert_int_equal(rec.torn_bytes, 0);
    selgw_journal_close(j);
}

static void test_interval_and_none_policies(void **state)
{
    fixture *f = *state;
    f->cfg.fsync = SELGW_FSYNC_NONE;
    selgw_journal *j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 1, 100);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(read_all(j, 0, NULL), 100);
    selgw_journal_close(j);
    f->cfg.fsync = SELGW_FSYNC_INTERVAL;
    f->cfg.fsync_interval_ms = 100000;
    atomic_store(&fdatasync_count, 0);
    j = open_ok(f, NULL, 0, NULL);
    append_numbered(j, 101, 110);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(read_all(j, 0, NULL), 110);
    selgw_journal_close(j); /* close makes it durable */
    assert_true(atomic_load(&fdatasync_count) >= 1);
    selgw_journal_recovery rec;
    j = open_ok(f, NULL, 0, &rec);
    assert_int_equal(rec.records, 110);
    selgw_journal_close(j);
}

static void test_describe(void **state)
{
    fixture *f = *state;
    const char *sinks[] = {"mqtt", "influx"};
    f->cfg.max_backlog_bytes = 1 << 20;
    f->cfg.retention_ms = 3600 * 1000;
    selgw_journal *j = open_ok(f, sinks, 2, NULL);
    append_numbered(j, 1, 60);
    assert_int_equal(selgw_journal_flush(j), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "mqtt", 60), SELGW_OK);
    assert_int_equal(selgw_journal_set_cursor(j, "influx", 40), SELGW_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    selgw_journal_describe(j, mem);
    fclose(mem);
    assert_non_null(strstr(text, "committed sequence 60"));
    assert_non_null(strstr(text, "00000000000000000001.seg"));
    assert_non_null(strstr(text, "sink mqtt: cursor 60, backlog 0 records, 0 bytes"));
    assert_non_null(strstr(text, "sink influx: cursor 40, backlog 20 records"));
    assert_non_null(strstr(text, "disk budget 1048576 bytes (when full: stop)"));
    free(text);
    selgw_journal_close(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_across_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_rejects_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_silence_while_stuck_in_fdatasync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_is_woken_by_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watched_eventfd_is_told_of_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_seek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_cuts_torn_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_cuts_garbage_and_zero_tails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_torn_segment_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_middle_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_inside_last_segment_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_segment_header_and_unreadable_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_directory_created_and_read_only_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_pid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursors_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_beyond_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_without_sinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_drop_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_gap_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_space_then_space_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_space_at_segment_roll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_space_bounds_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_modes_and_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_on_a_full_disk_uses_the_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_on_a_full_disk_notes_what_is_lost, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_short_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fdatasync_eio_is_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_eio_is_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_and_none_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
