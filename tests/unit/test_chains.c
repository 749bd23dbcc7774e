/* The chain heads across restarts: a journal is written here as the gateway writes it (each
 * record the next of its chain, seals with a snapshot of the heads), then the heads are
 * loaded back by a fresh selgw_chains, with and without a chain state file, after a crash
 * that lost what was not committed, after retention removed the first segments, and when
 * the journal lost records the state names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_farm.h"
#include "test_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evidence/chains.h"
#include "journal/journal.h"
#include "evidence/keys.h"
#include "journal/record.h"

#define T0 INT64_C(1795960000000000000)
#define SEC INT64_C(1000000000)

typedef struct fixture {
    char dir[64];
    char journal_dir[96];
    char state[128];
    char key[96];
    selgw_journal_config jcfg;
    selgw_journal *journal;
    selgw_chains *live; /* what the gateway holds in memory */
    selgw_signer *signer;
    int64_t t;
} fixture;

static void open_journal(fixture *f)
{
    f->journal = test_journal_open(&f->jcfg, NULL);
}

static void close_journal(fixture *f)
{
    assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
    selgw_journal_close(f->journal);
    f->journal = NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || sodium_init() < 0)
        return -1;
    if (!test_scratch_dir(f->dir, sizeof f->dir, "chains"))
        return -1;
    snprintf(f->journal_dir, sizeof f->journal_dir, "%s/journal", f->dir);
    snprintf(f->state, sizeof f->state, "%s/chains.state", f->journal_dir);
    snprintf(f->key, sizeof f->key, "%s/gw.key", f->dir);
    char pub[SELGW_PUBLIC_KEY_TEXT_SIZE], why[256];
    if (selgw_keygen(f->key, pub, why, sizeof why) != SELGW_OK ||
        selgw_signer_load(f->key, &f->signer, why, sizeof why) != SELGW_OK ||
        selgw_chains_new(&f->live) != SELGW_OK)
        return -1;
    /* small segments, so that retention and a lost tail can take whole files */
    f->jcfg = test_journal_config(f->journal_dir);
    f->jcfg.segment_bytes = 2048;
    f->t = T0;
    open_journal(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->journal)
        selgw_journal_close(f->journal);
    selgw_chains_free(f->live);
    selgw_signer_free(f->signer);
    remove_tree(f->dir);
    free(f);
    return 0;
}

/* One record of `chain`, appended and taken into the live heads as the gateway does. */
static uint64_t add(fixture *f, const char *chain)
{
    selgw_chain_link link;
    assert_int_equal(selgw_chains_next(f->live, chain, &link), SELGW_OK);
    f->t += SEC;
    selgw_record rec = {.type = SELGW_RECORD_CLOCK,
                        .time_ns = f->t,
                        .gateway = {"gw", 2},
                        .text = {"synchronised", 12}};
    if (!strncmp(chain, "plot/", 5)) {
        rec.type = SELGW_RECORD_ANNOTATION;
        rec.plot = (selgw_str){chain + 5, strlen(chain + 5)};
    }
    uint8_t buf[512];
    size_t len = selgw_record_encode_event(&rec, &link, buf, sizeof buf);
    assert_true(len > 0 && len <= sizeof buf);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(f->journal, buf, len, &seq), SELGW_OK);
    uint8_t hash[SELGW_RECORD_HASH_BYTES];
    selgw_record_hash(buf, len, hash);
    assert_int_equal(selgw_chains_advance(f->live, link.chain, link.chain_seq, hash, f->t, seq),
                     SELGW_OK);
    return seq;
}

/* A seal of every head, and the snapshot of the state the gateway saves once it is
 * committed (written here at once). */
static uint64_t seal(fixture *f, bool save_state)
{
    uint8_t buf[8192];
    size_t len = 0;
    selgw_chain_link link;
    assert_int_equal(selgw_chains_next(f->live, "gateway", &link), SELGW_OK);
    f->t += SEC;
    assert_int_equal(
        selgw_chains_encode_seal(f->live, f->signer, f->t, f->t, "gw", buf, sizeof buf, &len),
        SELGW_OK);
    uint64_t seq;
    assert_int_equal(selgw_journal_append(f->journal, buf, len, &seq), SELGW_OK);
    uint8_t hash[SELGW_RECORD_HASH_BYTES];
    selgw_record_hash(buf, len, hash);
    selgw_chains_advance(f->live, "gateway", link.chain_seq, hash, f->t, seq);
    selgw_chains_note_seal(f->live, hash, seq, f->t);
    if (save_state) {
        char *text = NULL;
        size_t text_len = 0;
        assert_int_equal(selgw_chains_state_text(f->live, &text, &text_len), SELGW_OK);
        assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
        assert_int_equal(selgw_chains_write_state(f->state, text, text_len), SELGW_OK);
        free(text);
    }
    return seq;
}

static selgw_chains *load(fixture *f, selgw_chains_recovery *rec, selgw_err expect)
{
    selgw_chains *c = NULL;
    assert_int_equal(selgw_chains_new(&c), SELGW_OK);
    char why[512] = "";
    selgw_err err = selgw_chains_load(c, f->journal, f->state, 0, NULL, NULL, rec, why, sizeof why);
    if (err != expect)
        fprintf(stderr, "load: %s: %s\n", selgw_strerror(err), why);
    assert_int_equal(err, expect);
    return c;
}

static void assert_same_chain(const selgw_chains *a, const selgw_chains *b, const char *chain)
{
    const selgw_chain_info *x = selgw_chains_find(a, chain), *y = selgw_chains_find(b, chain);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(x->chain_seq, y->chain_seq);
    assert_memory_equal(x->head, y->head, SELGW_RECORD_HASH_BYTES);
    assert_int_equal(x->last_time_ns, y->last_time_ns);
    assert_int_equal(x->last_jseq, y->last_jseq);
}

static const char *const chains[] = {"gateway", "device/a", "device/b", "plot/p"};

static void assert_same_heads(const selgw_chains *a, const selgw_chains *b)
{
    for (size_t i = 0; i < sizeof chains / sizeof *chains; i++)
        assert_same_chain(a, b, chains[i]);
    uint8_t ha[SELGW_RECORD_HASH_BYTES], hb[SELGW_RECORD_HASH_BYTES];
    uint64_t ja, jb;
    int64_t ta, tb;
    selgw_chains_last_seal(a, ha, &ja, &ta);
    selgw_chains_last_seal(b, hb, &jb, &tb);
    assert_memory_equal(ha, hb, sizeof ha);
    assert_int_equal(ja, jb);
    assert_int_equal(ta, tb);
}

static void write_some(fixture *f, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        add(f, "device/a");
        add(f, "device/b");
        if (i % 4 == 0)
            add(f, "plot/p");
    }
}

static void test_without_state_the_journal_gives_every_head(void **state)
{
    fixture *f = *state;
    write_some(f, 10);
    seal(f, false);
    write_some(f, 5);
    close_journal(f);
    open_journal(f);
    selgw_chains_recovery rec;
    selgw_chains *c = load(f, &rec, SELGW_OK);
    assert_false(rec.state_found);
    assert_false(rec.state_ahead);
    assert_same_heads(c, f->live);
    selgw_chains_free(c);
}

static void test_state_then_the_records_after_its_seal(void **state)
{
    fixture *f = *state;
    write_some(f, 8);
    seal(f, true);
    write_some(f, 3); /* committed after the state was saved */
    close_journal(f);
    open_journal(f);
    selgw_chains_recovery rec;
    selgw_chains *c = load(f, &rec, SELGW_OK);
    assert_true(rec.state_found);
    assert_true(rec.state_used);
    assert_false(rec.state_ahead);
    assert_int_equal(rec.records_read, 3 * 2 + 1); /* only what came after the seal */
    assert_same_heads(c, f->live);
    selgw_chains_free(c);
}

/* A SIGKILL loses what was appended but not committed: the chains continue from the last
 * committed record, with no hole and no position given twice. */
static void test_crash_loses_only_what_was_not_committed(void **state)
{
    fixture *f = *state;
    write_some(f, 6);
    seal(f, true);
    write_some(f, 2);
    close_journal(f); /* committed */
    /* records appended after that die with the process: simulated by not journaling them */
    selgw_chain_link link;
    selgw_chains_next(f->live, "device/a", &link);
    uint8_t fake[SELGW_RECORD_HASH_BYTES] = {1};
    selgw_chains_advance(f->live, "device/a", link.chain_seq, fake, f->t + SEC, 999);
    open_journal(f);
    selgw_chains_recovery rec;
    selgw_chains *c = load(f, &rec, SELGW_OK);
    assert_true(rec.state_used);
    const selgw_chain_info *a = selgw_chains_find(c, "device/a");
    assert_int_equal(a->chain_seq, link.chain_seq - 1); /* the lost record is not claimed */
    selgw_chain_link next;
    selgw_chains_next(c, "device/a", &next);
    assert_int_equal(next.chain_seq, link.chain_seq); /* its position is given again */
    assert_memory_equal(next.prev, link.prev, SELGW_RECORD_HASH_BYTES);
    selgw_chains_free(c);
}

static size_t segments(const fixture *f, uint64_t *firsts, size_t max)
{
    DIR *d = opendir(f->journal_dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len == 24 && !strcmp(e->d_name + 20, ".seg") && n < max)
            firsts[n++] = strtoull(e->d_name, NULL, 10);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* sort: few */
        for (size_t k = i; k > 0 && firsts[k - 1] > firsts[k]; k--) {
            uint64_t t = firsts[k];
            firsts[k] = firsts[k - 1];
            firsts[k - 1] = t;
        }
    return n;
}

static void remove_segment(const fixture *f, uint64_t first)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%020" PRIu64 ".seg", f->journal_dir, first);
    assert_int_equal(unlink(path), 0);
}

/* The journal lost its last segments (a disk that lied about a flush, a restored backup),
 * but the chain state was saved at a seal in them: the records it names are reported lost
 * and the chains continue after them, never giving their positions again. */
static void test_state_ahead_of_the_journal(void **state)
{
    fixture *f = *state;
    write_some(f, 10);
    uint64_t first_lost = add(f, "device/a");
    write_some(f, 12);
    uint64_t seal_seq = seal(f, true);
    close_journal(f);
    uint64_t firsts[64];
    size_t n = segments(f, firsts, 64);
    assert_true(n >= 3);
    size_t keep = 0;
    while (keep < n && firsts[keep] <= first_lost)
        keep++;
    for (size_t i = keep; i < n; i++)
        remove_segment(f, firsts[i]);
    open_journal(f);
    selgw_chains_recovery rec;
    selgw_chains *c = load(f, &rec, SELGW_OK);
    assert_true(rec.state_found);
    assert_false(rec.state_used);
    assert_true(rec.state_ahead);
    assert_int_equal(rec.state_checkpoint_jseq, seal_seq);
    assert_true(rec.journal_last_seq < seal_seq);
    assert_non_null(strstr(rec.lost, "device/a "));
    assert_non_null(strstr(rec.lost, "gateway "));
    /* every chain continues after what the state names */
    assert_same_heads(c, f->live);
    selgw_chains_free(c);
}

/* Retention removed the first segments, which held every record of a quiet chain, and the
 * state file is gone: the last seal in the journal still names that chain's head. */
static void test_retention_and_no_state(void **state)
{
    fixture *f = *state;
    add(f, "device/quiet");
    add(f, "device/quiet");
    write_some(f, 30);
    seal(f, false);
    write_some(f, 2);
    close_journal(f);
    uint64_t firsts[64];
    size_t n = segments(f, firsts, 64);
    assert_true(n >= 3);
    remove_segment(f, firsts[0]); /* device/quiet's records were in the first segment */
    open_journal(f);
    selgw_chains_recovery rec;
    selgw_chains *c = load(f, &rec, SELGW_OK);
    assert_false(rec.state_found);
    assert_same_chain(c, f->live, "device/a");
    const selgw_chain_info *quiet = selgw_chains_find(c, "device/quiet");
    assert_non_null(quiet);
    assert_int_equal(quiet->chain_seq, 2);
    assert_memory_equal(quiet->head, selgw_chains_find(f->live, "device/quiet")->head,
                        SELGW_RECORD_HASH_BYTES);
    selgw_chains_free(c);
}

/* Without seals (signing off) the gateway saves its state at checkpoints, and retention
 * keeps every record after the last saved checkpoint: a crash then loses no head, even of
 * a chain whose records are all in segments retention removed. Without the hold, retention
 * would have taken records after the checkpoint, and the chains would continue from the
 * state's older heads: positions given twice. */
static void test_checkpoint_and_retention_hold(void **state)
{
    fixture *f = *state;
    close_journal(f);
    f->jcfg.retention_ms = 0;
    f->jcfg.hold_retention = true;
    open_journal(f);
    add(f, "device/quiet"); /* only before the checkpoint */
    write_some(f, 30);
    /* the checkpoint: a snapshot as of the latest record, saved once it is committed */
    char *text = NULL;
    size_t text_len = 0;
    assert_int_equal(selgw_chains_state_text(f->live, &text, &text_len), SELGW_OK);
    uint64_t checkpoint = selgw_chains_checkpoint(f->live);
    assert_true(checkpoint > 0);
    assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
    /* nothing removed before the gateway says from where it reads */
    struct timespec pause = {1, 300000000};
    nanosleep(&pause, NULL);
    uint64_t firsts[256];
    assert_int_equal(segments(f, firsts, 256) > 0 ? firsts[0] : 0, 1);
    assert_int_equal(selgw_chains_write_state(f->state, text, text_len), SELGW_OK);
    free(text);
    selgw_journal_hold_retention(f->journal, checkpoint);
    write_some(f, 30);
    assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
    nanosleep(&pause, NULL); /* the writer's housekeeping runs retention every second */
    size_t n = segments(f, firsts, 256);
    assert_true(n >= 2);
    assert_true(firsts[0] > 1);               /* retention removed segments before it */
    assert_true(firsts[0] <= checkpoint + 1); /* and none with records after it */
    close_journal(f); /* a crash after the last commit: no state saved since */
    open_journal(f);
    selgw_chains_recovery rec;
    selgw_chains *c = load(f, &rec, SELGW_OK);
    assert_true(rec.state_used);
    assert_false(rec.state_ahead);
    assert_int_equal(rec.state_checkpoint_jseq, checkpoint);
    assert_same_chain(c, f->live, "device/quiet");
    for (size_t i = 1; i < sizeof chains / sizeof *chains; i++)
        assert_same_chain(c, f->live, chains[i]);
    selgw_chains_free(c);
}

/* The disk budget (drop_oldest) GAP takes the gateway chain's next place, as in the
 * gateway: through the journal's gap hook. */
static size_t budget_gap_encode(void *ctx, const selgw_record *gap, uint8_t *buf, size_t cap)
{
    fixture *f = ctx;
    selgw_chain_link link;
    if (selgw_chains_next(f->live, "gateway", &link) != SELGW_OK)
        return 0;
    return selgw_record_encode_event(gap, &link, buf, cap);
}

static void budget_gap_appended(void *ctx, const uint8_t *payload, size_t len, uint64_t seq)
{
    fixture *f = ctx;
    selgw_record rec;
    uint8_t hash[SELGW_RECORD_HASH_BYTES];
    assert_int_equal(selgw_record_decode(payload, len, &rec), SELGW_OK);
    selgw_record_hash(payload, len, hash);
    selgw_chains_advance(f->live, "gateway", rec.chain_seq, hash, rec.time_ns, seq);
}

static uint64_t last_segment_first(fixture *f)
{
    uint64_t firsts[256];
    assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
    size_t n = segments(f, firsts, 256);
    return n ? firsts[n - 1] : 0;
}

static bool has_segment(fixture *f, uint64_t first)
{
    uint64_t firsts[256];
    size_t n = segments(f, firsts, 256);
    for (size_t i = 0; i < n; i++)
        if (firsts[i] == first)
            return true;
    return false;
}

/* The disk budget drops a segment after the last saved checkpoint, holding the only records
 * of device/quiet since it, and the gateway is killed before its next checkpoint. The
 * dropped file stays until a state after its GAP is saved, so the start reads those
 * records again: no position is given twice. Once such a state is saved, the file goes. */
static void test_budget_drop_waits_for_a_checkpoint(void **state)
{
    fixture *f = *state;
    close_journal(f);
    f->jcfg.hold_retention = true;
    f->jcfg.max_backlog_bytes = 3 * 2048;
    f->jcfg.when_full = SELGW_WHEN_FULL_DROP_OLDEST;
    f->journal = test_journal_open(&f->jcfg, "x");
    selgw_journal_set_gateway(f->journal, "gw");
    selgw_journal_gap_hook hook = {budget_gap_encode, budget_gap_appended, f};
    selgw_journal_set_gap_hook(f->journal, &hook);

    add(f, "device/quiet");
    write_some(f, 3);
    char *text = NULL;
    size_t text_len = 0;
    assert_int_equal(selgw_chains_state_text(f->live, &text, &text_len), SELGW_OK);
    uint64_t checkpoint = selgw_chains_checkpoint(f->live);
    assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
    assert_int_equal(selgw_chains_write_state(f->state, text, text_len), SELGW_OK);
    free(text);
    selgw_journal_hold_retention(f->journal, checkpoint);

    /* on to a new segment; the sink has delivered everything before it */
    uint64_t seg = last_segment_first(f);
    while (last_segment_first(f) == seg)
        add(f, "device/a");
    uint64_t dropped = last_segment_first(f);
    assert_true(dropped > checkpoint);
    assert_int_equal(selgw_journal_set_cursor(f->journal, "x", dropped - 1), SELGW_OK);
    for (int i = 0; i < 3; i++)
        add(f, "device/quiet"); /* positions 2..4, only in that segment */
    /* a burst: the budget drops the oldest undelivered segment (room made first, as the
     * gateway does) */
    const selgw_chain_info *gap = NULL; /* the gateway chain: only budget GAPs here */
    for (int i = 0; i < 400 && !gap; i++) {
        selgw_journal_make_room(f->journal, 200);
        add(f, "device/a");
        if (i % 8 == 0)
            assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
        gap = selgw_chains_find(f->live, "gateway");
    }
    assert_non_null(gap);
    assert_true(gap->last_jseq > dropped);
    assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
    struct timespec pause = {1, 300000000};
    nanosleep(&pause, NULL);              /* housekeeping would remove a dropped file now */
    assert_true(has_segment(f, dropped)); /* kept: no state after the GAP yet */
    selgw_journal_set_gap_hook(f->journal, NULL);
    close_journal(f); /* killed before the next checkpoint */

    f->journal = test_journal_open(&f->jcfg, "x");
    selgw_chains_recovery rec;
    selgw_chains *c = load(f, &rec, SELGW_OK);
    assert_true(rec.state_used);
    assert_same_chain(c, f->live, "device/quiet"); /* at 4, not at 1 */
    assert_int_equal(selgw_chains_find(c, "device/quiet")->chain_seq, 4);
    selgw_chains_free(c);
}

/* The state names a seal, but the journal holds another record there (replaced): it is
 * not trusted, the journal is read whole and the state's heads merged in. */
static void test_state_of_another_journal(void **state)
{
    fixture *f = *state;
    write_some(f, 4);
    seal(f, true);
    close_journal(f);
    /* the same state, in front of a journal written anew */
    char saved[256];
    snprintf(saved, sizeof saved, "%s/state.saved", f->dir);
    assert_int_equal(rename(f->state, saved), 0);
    remove_tree(f->journal_dir);
    selgw_chains_free(f->live);
    assert_int_equal(selgw_chains_new(&f->live), SELGW_OK);
    open_journal(f);
    f->t += 100 * SEC;
    write_some(f, 6);
    close_journal(f);
    assert_int_equal(rename(saved, f->state), 0);
    open_journal(f);
    selgw_chains_recovery rec;
    selgw_chains *c = load(f, &rec, SELGW_OK);
    assert_false(rec.state_used);
    assert_true(rec.state_ahead);
    assert_string_equal(rec.lost, "gateway 1..1"); /* the old journal's seal */
    /* device/a: the journal's records go further than the old state named */
    assert_same_chain(c, f->live, "device/a");
    selgw_chains_free(c);
}

static void test_damaged_state_file(void **state)
{
    fixture *f = *state;
    write_some(f, 2);
    close_journal(f);
    FILE *out = fopen(f->state, "w");
    assert_non_null(out);
    fputs("selgw-chains 2\nseal 1 00 0\n", out);
    fclose(out);
    open_journal(f);
    selgw_chains *c = NULL;
    assert_int_equal(selgw_chains_new(&c), SELGW_OK);
    selgw_chains_recovery rec;
    char why[512] = "";
    assert_int_equal(
        selgw_chains_load(c, f->journal, f->state, 0, NULL, NULL, &rec, why, sizeof why),
        SELGW_ERR_CORRUPT);
    assert_non_null(strstr(why, "chains.state:2: not a chain state line"));
    selgw_chains_free(c);
}

typedef struct scan_seen {
    uint64_t count, first, last;
} scan_seen;

static void note_scan(void *ctx, uint64_t jseq, const selgw_record *rec, const uint8_t *payload,
                      size_t len)
{
    (void)rec;
    (void)payload;
    (void)len;
    scan_seen *s = ctx;
    if (!s->count)
        s->first = jseq;
    s->last = jseq;
    s->count++;
}

/* The plot chain log catches up from its own point, which may be before the state's. */
static void test_scan_from_before_the_state(void **state)
{
    fixture *f = *state;
    write_some(f, 4);
    uint64_t seal_seq = seal(f, true);
    uint64_t last = add(f, "device/a");
    close_journal(f);
    open_journal(f);
    selgw_chains *c = NULL;
    assert_int_equal(selgw_chains_new(&c), SELGW_OK);
    selgw_chains_recovery rec;
    char why[512] = "";
    scan_seen seen = {0};
    assert_int_equal(
        selgw_chains_load(c, f->journal, f->state, 3, note_scan, &seen, &rec, why, sizeof why),
        SELGW_OK);
    assert_true(rec.state_used);
    assert_int_equal(rec.records_read, last - seal_seq);
    assert_int_equal(seen.first, 4);
    assert_int_equal(seen.last, last);
    assert_int_equal(seen.count, last - 3);
    assert_same_heads(c, f->live);
    selgw_chains_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_without_state_the_journal_gives_every_head, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_then_the_records_after_its_seal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_loses_only_what_was_not_committed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_state_ahead_of_the_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_and_no_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_and_retention_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_drop_waits_for_a_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_of_another_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_state_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_from_before_the_state, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
