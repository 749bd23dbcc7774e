/* The plot chain log (plot-chains.log): what is added and synced is read back byte for
 * byte, per chain and in journal order, after the file is reopened; nothing is stored
 * twice; a torn last line (a crash while appending) is cut off, while a damaged line with
 * good lines after it is reported, never silently dropped: the file is what an evidence
 * bundle takes a plot's history from once the journal has removed it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evidence/plotlog.h"
#include "journal/record.h"

#define MAGIC "selgw-plot-chains 1\n"
#define MAX_SEEN 16

typedef struct fixture {
    char dir[64];
    char path[128]; /* <dir>/plot-chains.log */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || sodium_init() < 0)
        return -1;
    if (!test_scratch_dir(f->dir, sizeof f->dir, "plotlog")) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, SELGW_PLOTLOG_FILE);
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

/* ---- records ----------------------------------------------------------------------- */

/* A plot chain record as the gateway journals it: TAGS or ANNOTATION of plot `plot`, at
 * position chain_seq of chain plot/<plot>. */
typedef struct payload {
    uint8_t bytes[1024];
    size_t len;
} payload;

static payload make_record(const char *plot, selgw_record_type type, uint64_t chain_seq,
                           const char *text)
{
    char chain[64];
    snprintf(chain, sizeof chain, "plot/%s", plot);
    selgw_chain_link link = {.chain = chain, .chain_seq = chain_seq};
    memset(link.prev, (int)chain_seq, sizeof link.prev);
    selgw_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = type;
    rec.time_ns = INT64_C(1795960000000000000) + (int64_t)chain_seq * 1000000000;
    rec.gateway = (selgw_str){"gw-1", 4};
    rec.plot = (selgw_str){plot, strlen(plot)};
    rec.text = (selgw_str){text, strlen(text)};
    if (type == SELGW_RECORD_ANNOTATION)
        rec.ref = (selgw_str){"LAB-2026-118", 12};
    payload p;
    p.len = selgw_record_encode_event(&rec, &link, p.bytes, sizeof p.bytes);
    assert_true(p.len > 0 && p.len <= sizeof p.bytes);
    return p;
}

/* The line the file holds for a record, with its LF. */
static char *record_line(uint64_t jseq, const payload *p)
{
    size_t b64_len = sodium_base64_ENCODED_LEN(p->len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    assert_non_null(b64);
    sodium_bin2base64(b64, b64_len, p->bytes, p->len, sodium_base64_VARIANT_ORIGINAL);
    char *line = NULL;
    assert_true(asprintf(&line, "record %" PRIu64 " %s\n", jseq, b64) > 0);
    free(b64);
    return line;
}

/* ---- files ------------------------------------------------------------------------- */

static off_t size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static selgw_plotlog *open_ok(const fixture *f)
{
    selgw_plotlog *p = NULL;
    char why[512] = "";
    selgw_err err = selgw_plotlog_open(f->dir, &p, why, sizeof why);
    if (err != SELGW_OK)
        fail_msg("open: %s: %s", selgw_strerror(err), why);
    assert_non_null(p);
    return p;
}

/* ---- reading back ------------------------------------------------------------------ */

typedef struct seen {
    size_t count;
    size_t stop_after; /* fn returns false at this call; 0: never */
    uint64_t jseq[MAX_SEEN];
    payload records[MAX_SEEN];
} seen;

static bool collect(void *ctx, uint64_t jseq, const uint8_t *bytes, size_t len)
{
    seen *s = ctx;
    assert_true(s->count < MAX_SEEN);
    assert_true(len <= sizeof s->records[0].bytes);
    s->jseq[s->count] = jseq;
    memcpy(s->records[s->count].bytes, bytes, len);
    s->records[s->count].len = len;
    s->count++;
    return !(s->stop_after && s->count == s->stop_after);
}

static seen each_ok(const fixture *f, const char *chain)
{
    seen s;
    memset(&s, 0, sizeof s);
    char why[512] = "";
    selgw_err err = selgw_plotlog_each(f->dir, chain, collect, &s, why, sizeof why);
    if (err != SELGW_OK)
        fail_msg("each %s: %s: %s", chain, selgw_strerror(err), why);
    return s;
}

/* s holds exactly the records want[0..n) with journal seqs jseq[0..n), in that order. */
static void assert_seen(const seen *s, const uint64_t *jseq, const payload *const *want, size_t n)
{
    assert_int_equal(s->count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s->jseq[i], jseq[i]);
        assert_int_equal(s->records[i].len, want[i]->len);
        assert_memory_equal(s->records[i].bytes, want[i]->bytes, want[i]->len);
    }
}

/* ---- tests ------------------------------------------------------------------------- */

/* A new file: its first line and nothing else, mode 0640 (the usual umask 022 leaves the
 * group's read bit; a permissive umask must not add more), nothing synced through. */
static void test_open_creates_file(void **state)
{
    fixture *f = *state;
    mode_t old = umask(022);
    selgw_plotlog *p = open_ok(f);
    umask(old);
    assert_int_equal(selgw_plotlog_through(p), 0);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0640);
    size_t len;
    const char *text = test_read_file(f->path, &len);
    assert_int_equal(len, strlen(MAGIC));
    assert_string_equal(text, MAGIC);
    /* a new file has no records */
    seen s = each_ok(f, "plot/a");
    assert_int_equal(s.count, 0);
    selgw_plotlog_free(p);

    /* reopening an empty log changes nothing */
    p = open_ok(f);
    assert_int_equal(selgw_plotlog_through(p), 0);
    selgw_plotlog_free(p);
    assert_string_equal(test_read_file(f->path, &len), MAGIC);

    /* with umask 0 */
    assert_int_equal(unlink(f->path), 0);
    old = umask(0);
    p = open_ok(f);
    umask(old);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    selgw_plotlog_free(p);
    selgw_plotlog_free(NULL);
}

/* Records of two plots, both types, added and synced: read back after a reopen exactly as
 * added (payload bytes, journal seqs, order), each chain only its own; the file holds the
 * documented lines. */
static void test_add_sync_reopen(void **state)
{
    fixture *f = *state;
    payload a1 = make_record("a", SELGW_RECORD_TAGS, 1, "{\"format\":1,\"plot\":\"a\"}");
    payload b1 = make_record("b", SELGW_RECORD_TAGS, 1, "{\"format\":1,\"plot\":\"b\"}");
    payload a2 = make_record("a", SELGW_RECORD_ANNOTATION, 2, "lab: no residue found");
    payload b2 = make_record("b", SELGW_RECORD_ANNOTATION, 2, "农药残留未检出");

    selgw_plotlog *p = open_ok(f);
    assert_int_equal(selgw_plotlog_add(p, 3, a1.bytes, a1.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 5, b1.bytes, b1.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 9, a2.bytes, a2.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 12, b2.bytes, b2.len), SELGW_OK);
    /* queued only: nothing in the file before the sync */
    size_t len;
    assert_string_equal(test_read_file(f->path, &len), MAGIC);
    assert_int_equal(selgw_plotlog_through(p), 0);
    assert_int_equal(selgw_plotlog_sync(p, 14), SELGW_OK);
    assert_int_equal(selgw_plotlog_through(p), 14);

    /* the file, line by line */
    char *l1 = record_line(3, &a1), *l2 = record_line(5, &b1), *l3 = record_line(9, &a2),
         *l4 = record_line(12, &b2);
    char expected[8192];
    snprintf(expected, sizeof expected, "%s%s%s%s%sthrough 14\n", MAGIC, l1, l2, l3, l4);
    assert_string_equal(test_read_file(f->path, &len), expected);
    free(l1);
    free(l2);
    free(l3);
    free(l4);

    /* a reader while the writer still has the file open */
    seen s = each_ok(f, "plot/a");
    assert_int_equal(s.count, 2);
    selgw_plotlog_free(p);

    p = open_ok(f);
    assert_int_equal(selgw_plotlog_through(p), 14);
    selgw_plotlog_free(p);
    /* reopening cut nothing off */
    assert_string_equal(test_read_file(f->path, &len), expected);

    s = each_ok(f, "plot/a");
    assert_seen(&s, (uint64_t[]){3, 9}, (const payload *[]){&a1, &a2}, 2);
    s = each_ok(f, "plot/b");
    assert_seen(&s, (uint64_t[]){5, 12}, (const payload *[]){&b1, &b2}, 2);
    /* the chain name is matched whole */
    s = each_ok(f, "plot/c");
    assert_int_equal(s.count, 0);
    s = each_ok(f, "plot/");
    assert_int_equal(s.count, 0);
    s = each_ok(f, "plot/aa");
    assert_int_equal(s.count, 0);
    s = each_ok(f, "a");
    assert_int_equal(s.count, 0);
}

/* Records added after a reopen go after the ones already there. */
static void test_append_after_reopen(void **state)
{
    fixture *f = *state;
    payload a1 = make_record("a", SELGW_RECORD_TAGS, 1, "tags 1");
    payload a2 = make_record("a", SELGW_RECORD_ANNOTATION, 2, "note 2");
    payload a3 = make_record("a", SELGW_RECORD_TAGS, 3, "tags 3");
    selgw_plotlog *p = open_ok(f);
    assert_int_equal(selgw_plotlog_add(p, 10, a1.bytes, a1.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 10), SELGW_OK);
    selgw_plotlog_free(p);
    p = open_ok(f);
    assert_int_equal(selgw_plotlog_add(p, 20, a2.bytes, a2.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 25), SELGW_OK);
    selgw_plotlog_free(p);
    p = open_ok(f);
    assert_int_equal(selgw_plotlog_through(p), 25);
    assert_int_equal(selgw_plotlog_add(p, 30, a3.bytes, a3.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 31), SELGW_OK);
    selgw_plotlog_free(p);
    seen s = each_ok(f, "plot/a");
    assert_seen(&s, (uint64_t[]){10, 20, 30}, (const payload *[]){&a1, &a2, &a3}, 3);
}

/* A record the file already has (the same or a lower journal seq: the gateway re-reads the
 * journal after `through` at start) is ignored, queued or synced, before and after a
 * reopen: the file never holds a record twice. */
static void test_add_ignores_what_the_file_has(void **state)
{
    fixture *f = *state;
    payload a1 = make_record("a", SELGW_RECORD_TAGS, 1, "tags 1");
    payload a2 = make_record("a", SELGW_RECORD_ANNOTATION, 2, "note 2");
    payload other = make_record("a", SELGW_RECORD_ANNOTATION, 9, "not the record at 5");
    payload a3 = make_record("a", SELGW_RECORD_TAGS, 3, "tags 3");

    selgw_plotlog *p = open_ok(f);
    assert_int_equal(selgw_plotlog_add(p, 3, a1.bytes, a1.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 5, a2.bytes, a2.len), SELGW_OK);
    /* queued but not yet synced */
    assert_int_equal(selgw_plotlog_add(p, 5, other.bytes, other.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 4, other.bytes, other.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 5), SELGW_OK);
    /* synced */
    assert_int_equal(selgw_plotlog_add(p, 5, other.bytes, other.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 3, other.bytes, other.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 5), SELGW_OK);
    selgw_plotlog_free(p);

    /* after a reopen */
    p = open_ok(f);
    assert_int_equal(selgw_plotlog_add(p, 5, other.bytes, other.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 1, other.bytes, other.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 8, a3.bytes, a3.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 8), SELGW_OK);
    selgw_plotlog_free(p);

    seen s = each_ok(f, "plot/a");
    assert_seen(&s, (uint64_t[]){3, 5, 8}, (const payload *[]){&a1, &a2, &a3}, 3);
    /* and the file holds three record lines */
    size_t len;
    const char *text = test_read_file(f->path, &len);
    size_t records = 0;
    for (const char *line = text; *line; line = strchr(line, '\n') + 1)
        records += !strncmp(line, "record ", 7); /* every line of the file ends with LF */
    assert_int_equal(records, 3);
}

/* A sync without records but with a higher `through` records it (a plot-less stretch of
 * journal need not be read again at the next start); a lower or equal one writes
 * nothing. */
static void test_sync_through_without_records(void **state)
{
    fixture *f = *state;
    selgw_plotlog *p = open_ok(f);
    assert_int_equal(selgw_plotlog_sync(p, 40), SELGW_OK);
    assert_int_equal(selgw_plotlog_through(p), 40);
    size_t len;
    assert_string_equal(test_read_file(f->path, &len), MAGIC "through 40\n");
    assert_int_equal(selgw_plotlog_sync(p, 40), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 39), SELGW_OK);
    assert_int_equal(selgw_plotlog_through(p), 40);
    assert_string_equal(test_read_file(f->path, &len), MAGIC "through 40\n");
    selgw_plotlog_free(p);

    p = open_ok(f);
    assert_int_equal(selgw_plotlog_through(p), 40);
    assert_int_equal(selgw_plotlog_sync(p, 41), SELGW_OK);
    selgw_plotlog_free(p);
    p = open_ok(f);
    assert_int_equal(selgw_plotlog_through(p), 41);
    selgw_plotlog_free(p);
    assert_string_equal(test_read_file(f->path, &len), MAGIC "through 40\nthrough 41\n");
    seen s = each_ok(f, "plot/a");
    assert_int_equal(s.count, 0);
}

/* A crash while appending leaves half a record line without its LF: readers ignore it,
 * opening for writing cuts it off, and the file takes records again after it. */
static void test_torn_last_line(void **state)
{
    fixture *f = *state;
    payload a1 = make_record("a", SELGW_RECORD_TAGS, 1, "tags 1");
    payload a2 = make_record("a", SELGW_RECORD_ANNOTATION, 2, "note 2");
    payload a3 = make_record("a", SELGW_RECORD_ANNOTATION, 3, "note 3");
    selgw_plotlog *p = open_ok(f);
    assert_int_equal(selgw_plotlog_add(p, 3, a1.bytes, a1.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_add(p, 5, a2.bytes, a2.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 6), SELGW_OK);
    selgw_plotlog_free(p);
    size_t len;
    char before[8192];
    snprintf(before, sizeof before, "%.8191s", test_read_file(f->path, &len));
    off_t intact = size_of(f->path);

    /* half of the line of a record at 7 */
    char *line = record_line(7, &a3);
    test_append_file(f->path, line, strlen(line) / 2);

    /* a reader ignores the torn line */
    seen s = each_ok(f, "plot/a");
    assert_seen(&s, (uint64_t[]){3, 5}, (const payload *[]){&a1, &a2}, 2);

    /* opening cuts it off */
    p = open_ok(f);
    assert_int_equal(size_of(f->path), intact);
    assert_string_equal(test_read_file(f->path, &len), before);
    assert_int_equal(selgw_plotlog_through(p), 6);

    /* and the file still works: the record at 7 goes on a line of its own */
    assert_int_equal(selgw_plotlog_add(p, 7, a3.bytes, a3.len), SELGW_OK);
    assert_int_equal(selgw_plotlog_sync(p, 7), SELGW_OK);
    selgw_plotlog_free(p);
    char expected[16384];
    int n = snprintf(expected, sizeof expected, "%s%sthrough 7\n", before, line);
    assert_true(n > 0 && (size_t)n < sizeof expected);
    assert_string_equal(test_read_file(f->path, &len), expected);
    free(line);
    s = each_ok(f, "plot/a");
    assert_seen(&s, (uint64_t[]){3, 5, 7}, (const payload *[]){&a1, &a2, &a3}, 3);

    /* a torn "through" line is cut off the same way */
    test_append_file(f->path, "through 1", 9);
    p = open_ok(f);
    assert_int_equal(selgw_plotlog_through(p), 7);
    selgw_plotlog_free(p);
    assert_string_equal(test_read_file(f->path, &len), expected);
}

/* Calls fn for each copy of a damaged log kept beside it (plot-chains.log.damaged-*);
 * returns how many fn counted. */
static int each_aside(const fixture *f, int (*fn)(const char *path, const char *text),
                      const char *text)
{
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "plot-chains.log.damaged-", 24))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
        n += fn(path, text);
    }
    closedir(d);
    return n;
}

static int holds_text(const char *path, const char *text)
{
    size_t len;
    return strcmp(test_read_file(path, &len), text) == 0;
}

static int remove_file(const char *path, const char *text)
{
    (void)text;
    return unlink(path) == 0;
}

/* The copies kept aside that hold exactly `text`. */
static int count_aside(const fixture *f, const char *text)
{
    return each_aside(f, holds_text, text);
}

static void remove_aside(const fixture *f)
{
    each_aside(f, remove_file, NULL);
}

/* A crash while writing the first line: the file is begun again. */
static void test_torn_first_line(void **state)
{
    fixture *f = *state;
    test_write_file(f->path, "selgw-plot-ch", 13);
    seen s = each_ok(f, "plot/a");
    assert_int_equal(s.count, 0);
    selgw_plotlog *p = open_ok(f);
    assert_int_equal(selgw_plotlog_through(p), 0);
    selgw_plotlog_free(p);
    size_t len;
    assert_string_equal(test_read_file(f->path, &len), MAGIC);
}

/* A damaged line with good lines after it is not a torn tail: the reader says which file
 * and which line; opening for writing keeps the whole file aside, as it was, and goes on
 * from the intact lines before the damage. */
static void test_damaged_middle_line(void **state)
{
    fixture *f = *state;
    payload a1 = make_record("a", SELGW_RECORD_TAGS, 1, "tags 1");
    payload a2 = make_record("a", SELGW_RECORD_ANNOTATION, 2, "note 2");
    char *l1 = record_line(3, &a1), *l2 = record_line(5, &a2);
    static const char *const damage[] = {
        "record 4 !!!! not base64\n", /* not base64 */
        "recrod 4 AAAA\n",            /* not a record line */
        "record 2 AAAA\n",            /* journal seq going backwards */
        "record 3 AAAA\n",            /* the same journal seq twice */
        "through x\n",                /* not a number */
        "\n",                         /* empty */
    };
    for (size_t k = 0; k < sizeof damage / sizeof damage[0]; k++) {
        char text[8192];
        int n = snprintf(text, sizeof text, "%s%s%s%sthrough 5\n", MAGIC, l1, damage[k], l2);
        test_write_file(f->path, text, (size_t)n);

        seen s;
        memset(&s, 0, sizeof s);
        char why[512] = "";
        assert_int_equal(selgw_plotlog_each(f->dir, "plot/a", collect, &s, why, sizeof why),
                         SELGW_ERR_CORRUPT);
        char expected[256];
        snprintf(expected, sizeof expected, "%s: line 3 is damaged", f->path);
        if (strcmp(why, expected))
            fail_msg("damage %zu: why \"%s\", expected \"%s\"", k, why, expected);
        /* the record after the damage is never handed out */
        for (size_t i = 0; i < s.count; i++)
            assert_int_not_equal(s.jseq[i], 5);

        /* opening for writing keeps the whole file aside and goes on from the intact
         * lines before the damage */
        selgw_plotlog *p = NULL;
        why[0] = '\0';
        assert_int_equal(selgw_plotlog_open(f->dir, &p, why, sizeof why), SELGW_OK);
        assert_int_equal(selgw_plotlog_through(p), 3); /* its last intact record */
        selgw_plotlog_free(p);
        size_t len;
        char prefix[8192];
        snprintf(prefix, sizeof prefix, "%s%s", MAGIC, l1);
        assert_string_equal(test_read_file(f->path, &len), prefix);
        assert_int_equal(count_aside(f, text), 1);
        remove_aside(f);
    }

    /* a NUL byte inside a line (it would hide the rest of the line from a string compare) */
    char text[8192];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", MAGIC, l1);
    memcpy(text + n, "through 4\0junk\n", 15);
    n += 15;
    n += (size_t)snprintf(text + n, sizeof text - n, "%s", l2);
    test_write_file(f->path, text, n);
    char why[512] = "";
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(selgw_plotlog_each(f->dir, "plot/a", collect, &s, why, sizeof why),
                     SELGW_ERR_CORRUPT);
    char expected[256];
    snprintf(expected, sizeof expected, "%s: line 3 is damaged", f->path);
    assert_string_equal(why, expected);

    /* a damaged first line with lines after it: not a plot chain log at all */
    test_write_file(f->path, "selgw-plot-chains 2\nthrough 5\n", 30);
    memset(&s, 0, sizeof s);
    assert_int_equal(selgw_plotlog_each(f->dir, "plot/a", collect, &s, why, sizeof why),
                     SELGW_ERR_CORRUPT);
    snprintf(expected, sizeof expected, "%s: line 1 is damaged", f->path);
    assert_string_equal(why, expected);
    assert_int_equal(s.count, 0);
    free(l1);
    free(l2);
}

/* A whole last line (ended by its LF) that is wrong was damaged, not cut short by a crash:
 * it is reported, and the file is kept whole beside the log before it is cut. */
static void test_damaged_last_line_is_not_cut(void **state)
{
    fixture *f = *state;
    payload a1 = make_record("a", SELGW_RECORD_TAGS, 1, "tags 1");
    char *l1 = record_line(3, &a1);
    char text[4096];
    int n = snprintf(text, sizeof text, "%s%srecord 4 AAA!\n", MAGIC, l1);
    test_write_file(f->path, text, (size_t)n);
    char why[512] = "", expected[256];
    snprintf(expected, sizeof expected, "%s: line 3 is damaged", f->path);
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(selgw_plotlog_each(f->dir, "plot/a", collect, &s, why, sizeof why),
                     SELGW_ERR_CORRUPT);
    assert_string_equal(why, expected);
    selgw_plotlog *p = NULL;
    assert_int_equal(selgw_plotlog_open(f->dir, &p, why, sizeof why), SELGW_OK);
    selgw_plotlog_free(p);
    size_t len;
    char prefix[4096];
    snprintf(prefix, sizeof prefix, "%s%s", MAGIC, l1);
    assert_string_equal(test_read_file(f->path, &len), prefix); /* cut at the damage */
    assert_int_equal(count_aside(f, text), 1);                  /* and kept whole beside it */
    free(l1);
}

/* No file yet (a gateway that never saw a plot chain record), or no directory: no records,
 * and no file created by reading. */
static void test_each_missing_file(void **state)
{
    fixture *f = *state;
    seen s = each_ok(f, "plot/a");
    assert_int_equal(s.count, 0);
    assert_int_equal(access(f->path, F_OK), -1);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no-such-journal", f->dir);
    memset(&s, 0, sizeof s);
    char why[128] = "";
    assert_int_equal(selgw_plotlog_each(missing, "plot/a", collect, &s, why, sizeof why), SELGW_OK);
    assert_int_equal(s.count, 0);
}

/* fn returning false ends the walk at once: an exporter that has found what it needs. */
static void test_fn_false_stops(void **state)
{
    fixture *f = *state;
    payload r[4];
    selgw_plotlog *p = open_ok(f);
    for (size_t i = 0; i < 4; i++) {
        r[i] = make_record(i == 2 ? "b" : "a", SELGW_RECORD_ANNOTATION, i + 1, "note");
        assert_int_equal(selgw_plotlog_add(p, 10 + i, r[i].bytes, r[i].len), SELGW_OK);
    }
    assert_int_equal(selgw_plotlog_sync(p, 13), SELGW_OK);
    selgw_plotlog_free(p);

    seen s;
    memset(&s, 0, sizeof s);
    s.stop_after = 1;
    char why[128] = "";
    assert_int_equal(selgw_plotlog_each(f->dir, "plot/a", collect, &s, why, sizeof why), SELGW_OK);
    assert_seen(&s, (uint64_t[]){10}, (const payload *[]){&r[0]}, 1);

    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    assert_int_equal(selgw_plotlog_each(f->dir, "plot/a", collect, &s, why, sizeof why), SELGW_OK);
    assert_seen(&s, (uint64_t[]){10, 11}, (const payload *[]){&r[0], &r[1]}, 2);

    /* without stopping, all three of plot/a */
    s = each_ok(f, "plot/a");
    assert_seen(&s, (uint64_t[]){10, 11, 13}, (const payload *[]){&r[0], &r[1], &r[3]}, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_sync_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_ignores_what_the_file_has, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_through_without_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_first_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_last_line_is_not_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_middle_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fn_false_stops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
