/* `selgw export`: a plot's evidence bundle from the journal (and the plot chain log). The
 * bundle format and what it proves are specified in docs/EVIDENCE.md; keep the two in
 * step. */
#include "evidence/evidence.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/durable.h"
#include "evidence/bundle.h"
#include "evidence/bundle_io.h"
#include "journal/journal.h"
#include "evidence/keys.h"
#include "evidence/lot.h"
#include "evidence/plotlog.h"
#include "evidence/provenance.h"
#include "journal/record.h"
#include "base/strmap.h"

static const uint8_t zero_hash[SELGW_RECORD_HASH_BYTES];

/* ---- chain heads by name ------------------------------------------------------------- */

typedef struct head {
    char *chain;
    uint64_t seq; /* a position: named by a seal, first held, or last written */
    uint8_t hash[SELGW_RECORD_HASH_BYTES];
    uint64_t limit; /* last position to write; or the journal seq of the first held */
} head;

typedef struct heads {
    selgw_strmap *index;
    head *items;
    size_t count, cap;
} heads;

static void heads_clear(heads *h)
{
    for (size_t i = 0; i < h->count; i++)
        free(h->items[i].chain);
    h->count = 0;
    if (h->index)
        selgw_strmap_clear(h->index);
}

static void heads_free(heads *h)
{
    heads_clear(h);
    free(h->items);
    selgw_strmap_free(h->index);
    memset(h, 0, sizeof *h);
}

static head *heads_find(const heads *h, const char *s, size_t len)
{
    size_t i;
    return h->index && selgw_strmap_get(h->index, s, len, &i) ? &h->items[i] : NULL;
}

/* Adds a chain not there yet (or returns the one there); NULL when memory runs out. */
static head *heads_add(heads *h, const char *s, size_t len, uint64_t seq, const uint8_t *hash)
{
    head *found = heads_find(h, s, len);
    if (found)
        return found;
    if (!h->index && selgw_strmap_new(&h->index) != SELGW_OK)
        return NULL;
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        head *grown = realloc(h->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        h->items = grown;
        h->cap = cap;
    }
    char *copy = strndup(s, len);
    if (!copy || selgw_strmap_put(h->index, s, len, h->count) != SELGW_OK) {
        free(copy);
        return NULL;
    }
    head *e = &h->items[h->count++];
    memset(e, 0, sizeof *e);
    e->chain = copy;
    e->seq = seq;
    memcpy(e->hash, hash ? hash : zero_hash, SELGW_RECORD_HASH_BYTES);
    return e;
}

static selgw_err heads_from_seal(heads *h, const selgw_record *seal)
{
    heads_clear(h);
    selgw_str chain;
    uint64_t seq;
    const uint8_t *hash;
    for (size_t off = 0; selgw_record_seal_next(seal, &off, &chain, &seq, &hash);) {
        if (!heads_add(h, chain.ptr, chain.len, seq, hash))
            return SELGW_ERR_NOMEM;
    }
    return SELGW_OK;
}

/* ---- the plot chain -------------------------------------------------------------------- */

typedef struct plot_record {
    uint64_t jseq;
    uint64_t chain_seq;
    int64_t time_ns;
    bool is_tags;
    size_t len;
    uint8_t *payload;
} plot_record;

typedef struct plot_records {
    plot_record *items;
    size_t count, cap;
} plot_records;

static void plot_records_free(plot_records *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i].payload);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static bool plot_records_add(plot_records *l, uint64_t jseq, const selgw_record *rec,
                             const uint8_t *payload, size_t len)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        plot_record *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return false;
        l->items = grown;
        l->cap = cap;
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return false;
    memcpy(copy, payload, len);
    l->items[l->count++] = (plot_record){
        jseq, rec->chain_seq, rec->time_ns, rec->type == SELGW_RECORD_TAGS, len, copy};
    return true;
}

static int compare_plot_records(const void *a, const void *b)
{
    const plot_record *x = a, *y = b;
    return x->jseq < y->jseq ? -1 : x->jseq > y->jseq;
}

/* ---- export ------------------------------------------------------------------------------ */

typedef struct export_state {
    const selgw_config *cfg;
    const char *plot_id;
    int64_t from_ns, to_ns;
    uint64_t closing_after; /* the closing seal must come after this journal record (a lot's) */
    char plot_chain[512];
    const char *gateway_id;
    const selgw_record_source *src; /* NULL: the config's journal and plot chain log */
    selgw_journal *journal;
    selgw_record *rec;
    heads first_seen;  /* every chain: the first position the journal still holds */
    heads devices;     /* device chains with readings of the plot in the period */
    heads opening;     /* heads named by the opening seal */
    heads closing;     /* heads named by the closing seal */
    heads interest;    /* chains to export: seq = last position before, limit = last */
    plot_records plot; /* the plot chain, from the journal and the plot chain log */
    size_t plot_written;
    bool have_opening, have_closing;
    uint64_t opening_jseq, closing_jseq;
    uint64_t opening_pos, closing_pos; /* the seals' own positions in the gateway chain */
} export_state;

static selgw_err open_journal(export_state *st, char *why, size_t why_cap)
{
    selgw_journal_recovery recovery;
    memset(&recovery, 0, sizeof recovery);
    /* Read-only (the gateway may be running on this journal right now), and without the
     * sinks' cursors, which an export does not need. */
    selgw_err err = selgw_journal_open(&st->cfg->journal, NULL, 0, false, &st->journal, &recovery);
    if (err != SELGW_OK)
        selgw_explain(why, why_cap, "journal %s: %s%s%s", st->cfg->journal.dir, selgw_strerror(err),
                      recovery.message[0] ? ": " : "", recovery.message);
    return err;
}

/* The records in journal order: from the config's journal, or from another source (the
 * archive's rows, which hold every plot chain record, so no plot chain log is read). */
static selgw_err reader_open(export_state *st, uint64_t after_seq, void **reader)
{
    if (st->src)
        return st->src->open(st->src->ctx, after_seq, reader);
    selgw_journal_reader *r = NULL;
    selgw_err err = selgw_journal_reader_new(st->journal, after_seq, &r);
    *reader = r;
    return err;
}

static selgw_err reader_read(export_state *st, void *reader, uint64_t *seq,
                             const uint8_t **payload, size_t *len)
{
    if (st->src)
        return st->src->read(reader, seq, payload, len);
    return selgw_journal_read(reader, seq, payload, len);
}

static void reader_close(export_state *st, void *reader)
{
    if (st->src)
        st->src->close(reader);
    else
        selgw_journal_reader_free(reader);
}

static bool is_plot_chain(const export_state *st, const selgw_record *rec)
{
    size_t n = strlen(st->plot_chain);
    return rec->chain.len == n && !memcmp(rec->chain.ptr, st->plot_chain, n);
}

/* Whether a seal covers every poll begun before `until`. A format 2 seal does not say, so
 * it closes no bundle (the verifier would refuse it): a period sealed only by format 2
 * seals closes with the first format 3 seal after it. */
static bool seal_covers(const selgw_record *seal, int64_t until)
{
    return seal->seal_has_covers && seal->seal_covers_until_ns >= until;
}

/* Pass 1: which device chains matter, which seals bound the period, and the plot chain's
 * records the journal holds. */
static selgw_err find_chains_and_seals(export_state *st, char *why, size_t why_cap)
{
    void *reader = NULL;
    selgw_err err = reader_open(st, 0, &reader);
    if (err != SELGW_OK) {
        selgw_explain(why, why_cap, "reading the journal: %s", selgw_strerror(err));
        return err;
    }
    uint64_t jseq;
    const uint8_t *payload;
    size_t len;
    bool seen_in_period = false;
    while ((err = reader_read(st, reader, &jseq, &payload, &len)) == SELGW_OK) {
        selgw_record *rec = st->rec;
        if (selgw_record_decode(payload, len, rec) != SELGW_OK) {
            selgw_explain(why, why_cap, "journal record %" PRIu64 " cannot be decoded", jseq);
            err = SELGW_ERR_CORRUPT;
            break;
        }
        if (!rec->chained)
            continue; /* format 1: written before evidence chains existed */
        if (!heads_find(&st->first_seen, rec->chain.ptr, rec->chain.len)) {
            head *h =
                heads_add(&st->first_seen, rec->chain.ptr, rec->chain.len, rec->chain_seq, NULL);
            if (!h) {
                err = SELGW_ERR_NOMEM;
                break;
            }
            h->limit = jseq; /* where the chain's first record still held is */
        }
        bool in_period = rec->type == SELGW_RECORD_READING &&
                         rec->plot.len == strlen(st->plot_id) &&
                         !memcmp(rec->plot.ptr, st->plot_id, rec->plot.len) &&
                         rec->time_ns >= st->from_ns && rec->time_ns < st->to_ns;
        if (in_period) {
            if (!heads_add(&st->devices, rec->chain.ptr, rec->chain.len, 0, NULL)) {
                err = SELGW_ERR_NOMEM;
                break;
            }
            seen_in_period = true;
            /* a poll that began before the candidate closing seal and ended after it (or a
             * clock that stepped back): the closing seal must come after this reading */
            st->have_closing = false;
        }
        if (is_plot_chain(st, rec) && !plot_records_add(&st->plot, jseq, rec, payload, len)) {
            err = SELGW_ERR_NOMEM;
            break;
        }
        if (rec->type != SELGW_RECORD_SEAL)
            continue;
        if (st->have_closing)
            break; /* a whole seal interval after the closing seal: no reading of the
                    * period still to come */
        if (rec->time_ns <= st->from_ns && !seen_in_period) {
            /* the last seal before the first reading of the period */
            if ((err = heads_from_seal(&st->opening, rec)) != SELGW_OK)
                break;
            st->have_opening = true;
            st->opening_jseq = jseq;
            st->opening_pos = rec->chain_seq;
        } else if (seal_covers(rec, st->to_ns) && jseq > st->closing_after) {
            if ((err = heads_from_seal(&st->closing, rec)) != SELGW_OK)
                break;
            st->have_closing = true;
            st->closing_jseq = jseq;
            st->closing_pos = rec->chain_seq;
        }
    }
    if (err == SELGW_ERR_AGAIN)
        err = SELGW_OK;
    else if (err == SELGW_ERR_CORRUPT && (!why || !why[0]))
        selgw_explain(why, why_cap,
                      "the journal has a bad record (run `selgw journal` to see where)");
    else if (err == SELGW_ERR_NOMEM)
        selgw_explain(why, why_cap, "out of memory");
    reader_close(st, reader);
    return err;
}

typedef struct plotlog_ctx {
    export_state *st;
    bool nomem;
} plotlog_ctx;

static bool take_logged_plot_record(void *ctx, uint64_t jseq, const uint8_t *payload, size_t len)
{
    plotlog_ctx *pc = ctx;
    if (selgw_record_decode(payload, len, pc->st->rec) != SELGW_OK)
        return true; /* the verifier would say so; the journal's copy may be there */
    if (!plot_records_add(&pc->st->plot, jseq, pc->st->rec, payload, len)) {
        pc->nomem = true;
        return false;
    }
    return true;
}

/* The plot chain from its first record to the closing seal's head: the journal's records
 * and the plot chain log's, merged by journal sequence. */
static selgw_err complete_plot_chain(export_state *st, char *why, size_t why_cap)
{
    plotlog_ctx pc = {st, false};
    selgw_err err = st->src ? SELGW_OK
                            : selgw_plotlog_each(st->cfg->journal.dir, st->plot_chain,
                                                 take_logged_plot_record, &pc, why, why_cap);
    if (pc.nomem) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    if (err != SELGW_OK && err != SELGW_ERR_CORRUPT)
        return err; /* a damaged log line: the journal may still hold what it held */
    plot_records *l = &st->plot;
    if (l->count > 1)
        qsort(l->items, l->count, sizeof *l->items, compare_plot_records);
    size_t kept = 0;
    const head *end = heads_find(&st->closing, st->plot_chain, strlen(st->plot_chain));
    uint64_t last = end ? end->seq : 0;
    for (size_t i = 0; i < l->count; i++) {
        plot_record *r = &l->items[i];
        bool dup = kept && l->items[kept - 1].jseq == r->jseq;
        if (dup || r->chain_seq > last || r->jseq > st->closing_jseq) {
            free(r->payload);
            continue;
        }
        l->items[kept++] = *r;
    }
    l->count = kept;
    if (last == 0) {
        selgw_explain(why, why_cap,
                      "plot %s has no chain (no TAGS record) at the closing seal: nothing says "
                      "what its devices and households were",
                      st->plot_id);
        return SELGW_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < l->count; i++) {
        if (l->items[i].chain_seq != i + 1) {
            selgw_explain(why, why_cap,
                          "chain %s: positions %zu..%" PRIu64
                          " are neither in the journal nor in the plot chain log (%s)",
                          st->plot_chain, i + 1, l->items[i].chain_seq - 1, SELGW_PLOTLOG_FILE);
            return SELGW_ERR_NOT_FOUND;
        }
    }
    if (l->count != last) {
        selgw_explain(why, why_cap,
                      "chain %s: positions %zu..%" PRIu64
                      " are neither in the journal nor in the plot chain log (%s)",
                      st->plot_chain, l->count + 1, last, SELGW_PLOTLOG_FILE);
        return SELGW_ERR_NOT_FOUND;
    }
    return SELGW_OK;
}

/* The devices the plot's tags name at any time of the period: those in force at its start
 * (the last TAGS at or before it) and those recorded during it. Their chains belong in the
 * bundle even when none of their readings carries the plot. */
static selgw_err add_tagged_devices(export_state *st, char *why, size_t why_cap)
{
    const plot_records *l = &st->plot;
    size_t in_force = SIZE_MAX;
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i].is_tags && l->items[i].time_ns <= st->from_ns)
            in_force = i;
    for (size_t i = 0; i < l->count; i++) {
        const plot_record *r = &l->items[i];
        if (!r->is_tags ||
            (i != in_force && (r->time_ns <= st->from_ns || r->time_ns >= st->to_ns)))
            continue;
        if (selgw_record_decode(r->payload, r->len, st->rec) != SELGW_OK)
            continue;
        selgw_tags *tags = NULL;
        if (selgw_tags_parse(st->rec->text.ptr, st->rec->text.len, &tags, NULL, 0) != SELGW_OK)
            continue; /* the verifier names it */
        for (size_t d = 0; d < tags->device_count; d++) {
            char *chain = NULL; /* ids in old records are not limited: never truncated */
            int n = asprintf(&chain, "device/%s", tags->devices[d].id);
            bool added = n >= 0 && heads_add(&st->devices, chain, (size_t)n, 1, NULL);
            if (n >= 0)
                free(chain);
            if (!added) {
                selgw_tags_free(tags);
                selgw_explain(why, why_cap, "out of memory");
                return SELGW_ERR_NOMEM;
            }
        }
        selgw_tags_free(tags);
    }
    return SELGW_OK;
}

/* Adds one chain to export: positions after its head in the opening seal (or from its
 * start) up to its head in the closing seal. */
static selgw_err add_interest(export_state *st, const char *chain, bool required, char *why,
                              size_t why_cap)
{
    size_t len = strlen(chain);
    const head *end = heads_find(&st->closing, chain, len);
    if (!end) {
        if (!required)
            return SELGW_OK; /* a device the tags name that has never been polled */
        selgw_explain(why, why_cap, "the closing seal does not name chain %s", chain);
        return SELGW_ERR_CORRUPT;
    }
    uint64_t after = 0;
    const uint8_t *hash = zero_hash;
    const head *start = st->have_opening ? heads_find(&st->opening, chain, len) : NULL;
    if (start) {
        after = start->seq;
        hash = start->hash;
    }
    if (end->seq <= after)
        return SELGW_OK; /* nothing happened on this chain between the seals */
    const head *seen = heads_find(&st->first_seen, chain, len);
    if (!st->have_opening && (!seen || seen->seq != 1)) {
        char t1[SELGW_INSTANT_TEXT_SIZE];
        selgw_explain(why, why_cap,
                      "no seal at or before %s, and the journal no longer holds the start of "
                      "chain %s (it begins at position %" PRIu64 "): choose a later start of "
                      "the period",
                      selgw_format_instant(st->from_ns, t1), chain,
                      seen ? seen->seq : end->seq + 1);
        return SELGW_ERR_NOT_FOUND;
    }
    head *h = heads_add(&st->interest, chain, len, after, hash);
    if (!h) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    h->limit = end->seq;
    return SELGW_OK;
}

static selgw_err choose_chains(export_state *st, char *why, size_t why_cap)
{
    char t1[SELGW_INSTANT_TEXT_SIZE], t2[SELGW_INSTANT_TEXT_SIZE];
    selgw_format_instant(st->from_ns, t1);
    selgw_format_instant(st->to_ns, t2);
    if (!st->have_closing) {
        selgw_explain(why, why_cap,
                      "no seal covers every poll begun before %s yet: wait for the next seal "
                      "(signing.seal_interval) or stop the gateway cleanly",
                      t2);
        return SELGW_ERR_AGAIN;
    }
    if (st->devices.count == 0) {
        selgw_explain(why, why_cap, "no readings of plot %s from %s to %s in the journal",
                      st->plot_id, t1, t2);
        return SELGW_ERR_NOT_FOUND;
    }
    selgw_err err = complete_plot_chain(st, why, why_cap);
    if (err == SELGW_OK)
        err = add_tagged_devices(st, why, why_cap);
    /* devices.seq: 0 for chains with readings of the plot, 1 for those only the tags name */
    for (size_t i = 0; err == SELGW_OK && i < st->devices.count; i++)
        err = add_interest(st, st->devices.items[i].chain, st->devices.items[i].seq == 0, why,
                           why_cap);
    if (err != SELGW_OK)
        return err;
    /* The gateway chain runs from the opening seal itself (it cannot name its own hash)
     * to the closing seal. */
    uint64_t after = st->have_opening ? st->opening_pos - 1 : 0;
    if (!st->have_opening) {
        const head *seen = heads_find(&st->first_seen, "gateway", 7);
        if (!seen || seen->seq != 1) {
            selgw_explain(
                why, why_cap,
                "no seal at or before %s, and the journal no longer holds the start of the "
                "gateway chain: choose a later start of the period",
                t1);
            return SELGW_ERR_NOT_FOUND;
        }
    }
    head *h = heads_add(&st->interest, "gateway", 7, after, NULL);
    if (!h) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    h->limit = st->closing_pos;
    return SELGW_OK;
}

typedef struct bundle_writer {
    export_state *st;
    const uint8_t *pk;
    char *text; /* base64 of one payload */
    uint64_t count;
    char *why;
    size_t why_cap;
} bundle_writer;

static selgw_err write_line(bundle_writer *w, FILE *f, uint64_t jseq, const uint8_t *payload,
                            size_t len)
{
    sodium_bin2base64(w->text, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL),
                      payload, len, sodium_base64_VARIANT_ORIGINAL);
    if (fprintf(f, "record %" PRIu64 " %s\n", jseq, w->text) < 0)
        return selgw_explain_errno(w->why, w->why_cap, errno, "writing the bundle");
    w->count++;
    return SELGW_OK;
}

/* The plot chain's records before journal record `before`. */
static selgw_err write_plot_records(bundle_writer *w, FILE *f, uint64_t before)
{
    export_state *st = w->st;
    selgw_err err = SELGW_OK;
    while (err == SELGW_OK && st->plot_written < st->plot.count &&
           st->plot.items[st->plot_written].jseq < before) {
        const plot_record *r = &st->plot.items[st->plot_written++];
        err = write_line(w, f, r->jseq, r->payload, r->len);
    }
    return err;
}

/* Pass 2: writes the record lines. */
static selgw_err write_records(bundle_writer *w, FILE *f)
{
    export_state *st = w->st;
    void *reader = NULL;
    uint64_t start = st->have_opening ? st->opening_jseq - 1 : 0;
    selgw_err err = reader_open(st, start, &reader);
    if (err != SELGW_OK) {
        selgw_explain(w->why, w->why_cap, "reading the journal: %s", selgw_strerror(err));
        return err;
    }
    uint64_t jseq = 0;
    const uint8_t *payload;
    size_t len;
    while (jseq < st->closing_jseq &&
           (err = reader_read(st, reader, &jseq, &payload, &len)) == SELGW_OK) {
        if (jseq > st->closing_jseq)
            break;
        if (selgw_record_decode(payload, len, st->rec) != SELGW_OK) {
            selgw_explain(w->why, w->why_cap, "journal record %" PRIu64 " cannot be decoded", jseq);
            err = SELGW_ERR_CORRUPT;
            break;
        }
        const selgw_record *rec = st->rec;
        if (!rec->chained || is_plot_chain(st, rec))
            continue;
        head *h = heads_find(&st->interest, rec->chain.ptr, rec->chain.len);
        if (!h || rec->chain_seq <= h->seq || rec->chain_seq > h->limit)
            continue;
        if (rec->chain_seq != h->seq + 1) {
            selgw_explain(w->why, w->why_cap,
                          "chain %s: positions %" PRIu64 "..%" PRIu64
                          " are no longer in the journal (removed by retention or the disk budget)",
                          h->chain, h->seq + 1, rec->chain_seq - 1);
            err = SELGW_ERR_NOT_FOUND;
            break;
        }
        h->seq = rec->chain_seq;
        if ((err = write_plot_records(w, f, jseq)) != SELGW_OK ||
            (err = write_line(w, f, jseq, payload, len)) != SELGW_OK)
            break;
    }
    if (err == SELGW_ERR_AGAIN)
        err = SELGW_OK;
    if (err == SELGW_OK)
        err = write_plot_records(w, f, st->closing_jseq);
    if (err == SELGW_OK) {
        for (size_t i = 0; i < st->interest.count; i++) {
            const head *h = &st->interest.items[i];
            if (h->seq != h->limit) {
                selgw_explain(w->why, w->why_cap,
                              "chain %s: positions %" PRIu64 "..%" PRIu64 " are not in the journal",
                              h->chain, h->seq + 1, h->limit);
                err = SELGW_ERR_NOT_FOUND;
                break;
            }
        }
    } else if (err == SELGW_ERR_CORRUPT && (!w->why || !w->why[0])) {
        selgw_explain(w->why, w->why_cap,
                      "the journal has a bad record (run `selgw journal` to see where)");
    }
    reader_close(st, reader);
    return err;
}

static selgw_err write_bundle_file(FILE *f, void *ctx)
{
    bundle_writer *w = ctx;
    export_state *st = w->st;
    char key[SELGW_PUBLIC_KEY_TEXT_SIZE], t1[SELGW_INSTANT_TEXT_SIZE], t2[SELGW_INSTANT_TEXT_SIZE];
    selgw_public_key_format(w->pk, key);
    selgw_format_instant(st->from_ns, t1);
    selgw_format_instant(st->to_ns, t2);
    if (fprintf(f, "%s\npublic-key %s\ngateway %s\nplot %s\nfrom %s\nto %s\n", SELGW_BUNDLE_MAGIC,
                key, st->gateway_id, st->plot_id, t1, t2) < 0)
        return selgw_explain_errno(w->why, w->why_cap, errno, "writing the bundle");
    selgw_err err = write_records(w, f);
    if (err == SELGW_OK && fprintf(f, "end %" PRIu64 "\n", w->count) < 0)
        err = selgw_explain_errno(w->why, w->why_cap, errno, "writing the bundle");
    return err;
}

/* What every export needs first: signing on, the config's ids, the public key. */
static selgw_err export_key(const selgw_config *cfg, uint8_t pk[SELGW_PUBLIC_KEY_BYTES], char *why,
                            size_t why_cap)
{
    if (!cfg->signing.enabled || !cfg->signing.secret_key) {
        selgw_explain(
            why, why_cap,
            "signing is off (no `signing:` section in %s): nothing is sealed, so nothing can be "
            "exported as evidence",
            cfg->path ? cfg->path : "the config");
        return SELGW_ERR_INVALID;
    }
    if (!cfg->gateway_id || !*cfg->gateway_id || !cfg->journal.dir) {
        selgw_explain(why, why_cap, "the config names no gateway id or journal directory");
        return SELGW_ERR_INVALID;
    }
    if (sodium_init() < 0) {
        selgw_explain(why, why_cap, "libsodium cannot be initialised");
        return SELGW_ERR_IO;
    }
    selgw_signer *signer = NULL;
    char key_why[256] = "";
    selgw_err err = selgw_signer_load(cfg->signing.secret_key, &signer, key_why, sizeof key_why);
    if (err != SELGW_OK) {
        selgw_explain(why, why_cap, "signing key: %s", key_why[0] ? key_why : selgw_strerror(err));
        return err;
    }
    selgw_signer_public_key(signer, pk);
    selgw_signer_free(signer);
    return SELGW_OK;
}

/* One plot's bundle. With out_path, written durably there (gzip when compress, its hash in
 * hash unless NULL); else to f. */
static selgw_err export_plot(const selgw_config *cfg, const selgw_record_source *src,
                             const char *gateway_id, const uint8_t *pk, const char *plot_id,
                             int64_t from_ns, int64_t to_ns, uint64_t closing_after,
                             const char *out_path, bool compress, uint8_t hash[32], FILE *f,
                             char *why, size_t why_cap)
{
    selgw_err err;
    export_state st;
    memset(&st, 0, sizeof st);
    st.cfg = cfg;
    st.src = src;
    st.gateway_id = gateway_id;
    st.plot_id = plot_id;
    st.from_ns = from_ns;
    st.to_ns = to_ns;
    st.closing_after = closing_after;
    if ((size_t)snprintf(st.plot_chain, sizeof st.plot_chain, "plot/%s", plot_id) >=
        sizeof st.plot_chain) {
        selgw_explain(why, why_cap, "plot id too long");
        return SELGW_ERR_INVALID;
    }
    st.rec = malloc(sizeof *st.rec);
    char *text =
        malloc(sodium_base64_ENCODED_LEN(SELGW_RECORD_MAX_PAYLOAD, sodium_base64_VARIANT_ORIGINAL));
    if (!st.rec || !text) {
        free(st.rec);
        free(text);
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    err = src ? SELGW_OK : open_journal(&st, why, why_cap);
    if (err == SELGW_OK)
        err = find_chains_and_seals(&st, why, why_cap);
    if (err == SELGW_OK)
        err = choose_chains(&st, why, why_cap);
    if (err == SELGW_OK) {
        /* Evidence is for others to read: nothing secret in it. A bundle on disk is never
         * half-written: a temporary file until it is whole. */
        bundle_writer w = {&st, pk, text, 0, why, why_cap};
        if (out_path) {
            FILE *out = selgw_bundle_open_write(out_path, compress, why, why_cap);
            if (!out) {
                err = selgw_err_from_errno(errno);
            } else {
                err = write_bundle_file(out, &w);
                selgw_err closed = selgw_bundle_close_write(out, err != SELGW_OK, hash,
                                                            err == SELGW_OK ? why : NULL, why_cap);
                if (err == SELGW_OK)
                    err = closed;
            }
        } else {
            err = write_bundle_file(f, &w);
        }
    }
    selgw_journal_close(st.journal);
    heads_free(&st.first_seen);
    heads_free(&st.devices);
    heads_free(&st.opening);
    heads_free(&st.closing);
    heads_free(&st.interest);
    plot_records_free(&st.plot);
    free(st.rec);
    free(text);
    return err;
}

selgw_err selgw_evidence_export(const selgw_config *cfg, const char *plot_id, int64_t from_ns,
                                int64_t to_ns, const char *out_path, bool compress,
                                uint8_t hash[32], char *why, size_t why_cap)
{
    if (why && why_cap)
        why[0] = '\0';
    if (!cfg || !plot_id || !*plot_id || !out_path || !*out_path) {
        selgw_explain(why, why_cap, "export needs a config, a plot and an output file");
        return SELGW_ERR_INVALID;
    }
    if (from_ns >= to_ns) {
        selgw_explain(why, why_cap, "the period is empty: its start must be before its end");
        return SELGW_ERR_INVALID;
    }
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    selgw_err err = export_key(cfg, pk, why, why_cap);
    if (err == SELGW_OK)
        err = export_plot(cfg, NULL, cfg->gateway_id, pk, plot_id, from_ns, to_ns, 0, out_path,
                          compress, hash, NULL, why, why_cap);
    return err;
}

selgw_err selgw_evidence_export_source(const selgw_record_source *src, const char *gateway_id,
                                       const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                                       const char *plot_id, int64_t from_ns, int64_t to_ns,
                                       const char *out_path, bool compress, uint8_t hash[32],
                                       char *why, size_t why_cap)
{
    if (why && why_cap)
        why[0] = '\0';
    if (!src || !gateway_id || !*gateway_id || !plot_id || !*plot_id || !out_path ||
        !*out_path) {
        selgw_explain(why, why_cap, "export needs a source, a gateway, a plot and an output file");
        return SELGW_ERR_INVALID;
    }
    if (from_ns >= to_ns) {
        selgw_explain(why, why_cap, "the period is empty: its start must be before its end");
        return SELGW_ERR_INVALID;
    }
    return export_plot(NULL, src, gateway_id, pk, plot_id, from_ns, to_ns, 0, out_path, compress,
                       hash, NULL, why, why_cap);
}

/* ---- lots -------------------------------------------------------------------------------- */

void selgw_lot_records_free(selgw_lot_record *records, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(records[i].plot);
        free(records[i].text);
    }
    free(records);
}

typedef struct lot_scan {
    const char *lot;
    selgw_record *rec;
    selgw_lot_record *items;
    size_t count, cap;
    bool nomem;
} lot_scan;

static bool lot_scan_take(void *ctx, uint64_t jseq, const uint8_t *payload, size_t len)
{
    lot_scan *ls = ctx;
    selgw_record_type type;
    int64_t t;
    if (!selgw_record_head(payload, len, &type, &t, NULL, NULL) || type != SELGW_RECORD_LOT ||
        selgw_record_decode(payload, len, ls->rec) != SELGW_OK || !ls->rec->chained ||
        ls->rec->ref.len != strlen(ls->lot) || memcmp(ls->rec->ref.ptr, ls->lot, ls->rec->ref.len))
        return true;
    for (size_t i = 0; i < ls->count; i++)
        if (ls->items[i].jseq == jseq)
            return true; /* in the journal and in the plot chain log */
    if (ls->count == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 4;
        selgw_lot_record *grown = realloc(ls->items, cap * sizeof *grown);
        if (!grown) {
            ls->nomem = true;
            return false;
        }
        ls->items = grown;
        ls->cap = cap;
    }
    selgw_lot_record *r = &ls->items[ls->count];
    r->jseq = jseq;
    r->time_ns = t;
    r->plot = strndup(ls->rec->plot.ptr, ls->rec->plot.len);
    r->text = strndup(ls->rec->text.ptr, ls->rec->text.len);
    if (!r->plot || !r->text) {
        free(r->plot);
        free(r->text);
        ls->nomem = true;
        return false;
    }
    ls->count++;
    return true;
}

selgw_err selgw_lot_records(const selgw_config *cfg, const char *lot, selgw_lot_record **out,
                            size_t *count, char *why, size_t why_cap)
{
    *out = NULL;
    *count = 0;
    lot_scan ls = {.lot = lot, .rec = malloc(sizeof(selgw_record))};
    if (!ls.rec) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    /* the plot chain log holds every plot chain record the journal has removed */
    selgw_err err =
        selgw_plotlog_each(cfg->journal.dir, NULL, lot_scan_take, &ls, why, why_cap);
    if (err == SELGW_ERR_CORRUPT)
        err = SELGW_OK; /* a damaged line: the journal may hold what it held */
    selgw_journal *journal = NULL;
    if (err == SELGW_OK) {
        export_state st = {.cfg = cfg};
        err = open_journal(&st, why, why_cap);
        journal = st.journal;
    }
    selgw_journal_reader *reader = NULL;
    if (err == SELGW_OK && (err = selgw_journal_reader_new(journal, 0, &reader)) != SELGW_OK)
        selgw_explain(why, why_cap, "reading the journal: %s", selgw_strerror(err));
    uint64_t jseq;
    const uint8_t *payload;
    size_t len;
    while (err == SELGW_OK && !ls.nomem &&
           (err = selgw_journal_read(reader, &jseq, &payload, &len)) == SELGW_OK)
        lot_scan_take(&ls, jseq, payload, len);
    if (err == SELGW_ERR_AGAIN)
        err = SELGW_OK;
    selgw_journal_reader_free(reader);
    selgw_journal_close(journal);
    free(ls.rec);
    if (ls.nomem && err == SELGW_OK) {
        selgw_explain(why, why_cap, "out of memory");
        err = SELGW_ERR_NOMEM;
    }
    if (err != SELGW_OK) {
        selgw_lot_records_free(ls.items, ls.count);
        return err;
    }
    *out = ls.items;
    *count = ls.count;
    return SELGW_OK;
}

/* A section's temporary file, beside the bundle rather than in /tmp (a season's section is
 * hundreds of MB; /tmp may be memory), removed from the directory at once. */
static FILE *section_file(const char *out_path)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s.section-XXXXXX", out_path) >= sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    FILE *f = fdopen(fd, "w+");
    if (!f)
        close(fd);
    return f;
}

/* Copies the section's bytes (a finished plot bundle in a temporary file) after its line. */
static selgw_err put_section(FILE *out, const char *plot, FILE *section, char *why, size_t why_cap)
{
    long size = ftell(section);
    if (size < 0 || fseek(section, 0, SEEK_SET) != 0 ||
        fprintf(out, "section %s %ld\n", plot, size) < 0)
        return selgw_explain_errno(why, why_cap, errno, "writing the lot bundle");
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, section)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            return selgw_explain_errno(why, why_cap, errno, "writing the lot bundle");
    if (ferror(section))
        return selgw_explain_errno(why, why_cap, errno, "reading a section back");
    return SELGW_OK;
}

selgw_err selgw_evidence_export_lot(const selgw_config *cfg, const char *lot_id,
                                    const char *out_path, bool compress, uint8_t hash[32],
                                    int64_t *needs_seal_ns, selgw_lot **lot_out, char *why,
                                    size_t why_cap)
{
    if (lot_out)
        *lot_out = NULL;
    if (why && why_cap)
        why[0] = '\0';
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    selgw_err err = export_key(cfg, pk, why, why_cap);
    if (err != SELGW_OK)
        return err;
    selgw_lot_record *records = NULL;
    size_t count = 0;
    if ((err = selgw_lot_records(cfg, lot_id, &records, &count, why, why_cap)) != SELGW_OK)
        return err;
    if (count == 0) {
        bool queued = selgw_lot_is_queued(cfg->journal.dir, lot_id);
        selgw_explain(why, why_cap,
                      queued ? "lot %s is queued, but the gateway has not journaled it yet (is it "
                               "running?)"
                             : "no lot %s in the journal or the plot chain log",
                      lot_id);
        return SELGW_ERR_NOT_FOUND;
    }
    selgw_lot *lot = NULL;
    char lot_why[200] = "";
    if (selgw_lot_parse(records[0].text, strlen(records[0].text), &lot, lot_why, sizeof lot_why) !=
        SELGW_OK) {
        selgw_explain(why, why_cap, "lot %s: its record (journal record %" PRIu64 ") is %s", lot_id,
                      records[0].jseq, lot_why);
        selgw_lot_records_free(records, count);
        return SELGW_ERR_CORRUPT;
    }
    /* each section's closing seal must come after its LOT record: a seal covering the
     * latest record's time */
    for (size_t k = 0; needs_seal_ns && k < count; k++)
        if (records[k].time_ns > *needs_seal_ns)
            *needs_seal_ns = records[k].time_ns;
    FILE *out = NULL;
    for (size_t i = 0; err == SELGW_OK && i < lot->plot_count; i++) {
        const selgw_lot_record *r = NULL;
        for (size_t k = 0; k < count; k++)
            if (!strcmp(records[k].plot, lot->plots[i].plot))
                r = &records[k];
        if (!r) {
            selgw_explain(why, why_cap, "lot %s has no LOT record in the chain of its plot %s", lot_id,
                          lot->plots[i].plot);
            err = SELGW_ERR_NOT_FOUND;
        }
    }
    /* written, compressed and hashed as a plot bundle is */
    if (err == SELGW_OK && !(out = selgw_bundle_open_write(out_path, compress, why, why_cap)))
        err = selgw_err_from_errno(errno);
    if (err == SELGW_OK &&
        fprintf(out, "selgw-lot 1\nlot %s\ntext %s\n", lot->lot, records[0].text) < 0)
        err = selgw_explain_errno(why, why_cap, errno, "writing the lot bundle");
    for (size_t i = 0; err == SELGW_OK && i < lot->plot_count; i++) {
        const selgw_lot_plot *p = &lot->plots[i];
        const selgw_lot_record *r = NULL;
        for (size_t k = 0; k < count; k++)
            if (!strcmp(records[k].plot, p->plot))
                r = &records[k];
        int64_t from = 0, to = 0;
        int offset = 0; /* the lot's own: verify places the period with it too */
        selgw_parse_utc_offset(lot->utc_offset, &offset); /* it parsed with the lot */
        if (!selgw_lot_plot_period(p, offset, r->time_ns, &from, &to)) {
            selgw_explain(why, why_cap,
                          "lot %s: its record in the chain of plot %s (journal record %" PRIu64
                          ") is dated before the plot's season began (%s)",
                          lot_id, p->plot, r->jseq, p->season_from);
            err = SELGW_ERR_CORRUPT;
            break;
        }
        FILE *section = section_file(out_path);
        if (!section) {
            err = selgw_explain_errno(why, why_cap, errno, "a temporary file for a section");
            break;
        }
        char plot_why[512] = "";
        err = export_plot(cfg, NULL, cfg->gateway_id, pk, p->plot, from, to, r->jseq, NULL, false,
                          NULL, section,
                          plot_why, sizeof plot_why);
        if (err != SELGW_OK)
            selgw_explain(why, why_cap, "plot %s (%s..%s): %s", p->plot, p->season_from,
                          p->harvest_to, plot_why[0] ? plot_why : selgw_strerror(err));
        else
            err = put_section(out, p->plot, section, why, why_cap);
        fclose(section);
    }
    if (err == SELGW_OK && fprintf(out, "end %zu\n", lot->plot_count) < 0)
        err = selgw_explain_errno(why, why_cap, errno, "writing the lot bundle");
    if (out) {
        selgw_err closed = selgw_bundle_close_write(out, err != SELGW_OK, hash,
                                                    err == SELGW_OK ? why : NULL, why_cap);
        if (err == SELGW_OK)
            err = closed;
    }
    if (err == SELGW_OK && lot_out)
        *lot_out = lot;
    else
        selgw_lot_free(lot);
    selgw_lot_records_free(records, count);
    return err;
}
