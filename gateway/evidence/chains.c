#include "evidence/chains.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/durable.h"
#include "evidence/keys.h"
#include "base/safe_text.h"
#include "base/strmap.h"
#include "base/text_writer.h"

#define HASH SELGW_RECORD_HASH_BYTES
#define STATE_MAGIC_V1 "selgw-chains 1"
#define STATE_MAGIC_V2 "selgw-chains 2"
#define STATE_MAGIC "selgw-chains 3"

typedef struct chain_head {
    char *name;
    selgw_chain_info info;
} chain_head;

typedef struct plot_tags {
    char *plot;
    uint8_t hash[HASH];
} plot_tags;

struct selgw_chains {
    chain_head *items;
    size_t count, cap;
    selgw_strmap *index; /* chain name -> items[] */
    plot_tags *tags;
    size_t tag_count, tag_cap;
    uint64_t seal_jseq; /* journal sequence of the last seal; 0 if none */
    int64_t seal_time_ns;
    uint8_t last_seal[HASH];
    /* The latest record taken into account (appended or read): a state saved now is
     * checked against it at the next start, and brought up to date from what follows. */
    uint64_t checkpoint_jseq;
    uint8_t checkpoint_hash[HASH];
    bool has_checkpoint; /* false for a state file of version 1 or 2 */
};

selgw_err selgw_chains_new(selgw_chains **out)
{
    *out = NULL;
    selgw_chains *c = calloc(1, sizeof *c);
    if (!c)
        return SELGW_ERR_NOMEM;
    selgw_err err = selgw_strmap_new(&c->index);
    if (err != SELGW_OK) {
        free(c);
        return err;
    }
    *out = c;
    return SELGW_OK;
}

void selgw_chains_free(selgw_chains *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        free(c->items[i].name);
    free(c->items);
    for (size_t i = 0; i < c->tag_count; i++)
        free(c->tags[i].plot);
    free(c->tags);
    selgw_strmap_free(c->index);
    free(c);
}

static chain_head *find(const selgw_chains *c, const char *name, size_t len)
{
    size_t i;
    return selgw_strmap_get(c->index, name, len, &i) ? &c->items[i] : NULL;
}

static chain_head *find_or_add(selgw_chains *c, const char *name, size_t len)
{
    chain_head *h = find(c, name, len);
    if (h)
        return h;
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        chain_head *grown = realloc(c->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->items = grown;
        c->cap = cap;
    }
    char *copy = strndup(name, len);
    if (!copy || selgw_strmap_put(c->index, name, len, c->count) != SELGW_OK) {
        free(copy);
        return NULL;
    }
    h = &c->items[c->count++];
    memset(h, 0, sizeof *h);
    h->name = copy;
    return h;
}

selgw_err selgw_chains_next(selgw_chains *c, const char *chain, selgw_chain_link *link)
{
    chain_head *h = find_or_add(c, chain, strlen(chain));
    if (!h)
        return SELGW_ERR_NOMEM;
    link->chain = h->name;
    link->chain_seq = h->info.chain_seq + 1;
    memcpy(link->prev, h->info.head, HASH);
    return SELGW_OK;
}

const selgw_chain_info *selgw_chains_find(const selgw_chains *c, const char *chain)
{
    const chain_head *h = find(c, chain, strlen(chain));
    return h ? &h->info : NULL;
}

static void set_head(chain_head *h, uint64_t chain_seq, const uint8_t *hash, int64_t time_ns,
                     uint64_t jseq)
{
    h->info.chain_seq = chain_seq;
    memcpy(h->info.head, hash, HASH);
    h->info.last_time_ns = time_ns;
    h->info.last_jseq = jseq;
}

static void note_checkpoint(selgw_chains *c, uint64_t jseq, const uint8_t *hash)
{
    if (jseq >= c->checkpoint_jseq) {
        c->checkpoint_jseq = jseq;
        memcpy(c->checkpoint_hash, hash, HASH);
        c->has_checkpoint = true;
    }
}

selgw_err selgw_chains_advance(selgw_chains *c, const char *chain, uint64_t chain_seq,
                               const uint8_t hash[SELGW_RECORD_HASH_BYTES], int64_t time_ns,
                               uint64_t jseq)
{
    chain_head *h = find_or_add(c, chain, strlen(chain));
    if (!h)
        return SELGW_ERR_NOMEM;
    set_head(h, chain_seq, hash, time_ns, jseq);
    note_checkpoint(c, jseq, hash);
    return SELGW_OK;
}

void selgw_chains_note_seal(selgw_chains *c, const uint8_t hash[SELGW_RECORD_HASH_BYTES],
                            uint64_t jseq, int64_t time_ns)
{
    memcpy(c->last_seal, hash, HASH);
    c->seal_jseq = jseq;
    c->seal_time_ns = time_ns;
}

void selgw_chains_last_seal(const selgw_chains *c, uint8_t hash[SELGW_RECORD_HASH_BYTES],
                            uint64_t *jseq, int64_t *time_ns)
{
    if (hash)
        memcpy(hash, c->last_seal, HASH);
    if (jseq)
        *jseq = c->seal_jseq;
    if (time_ns)
        *time_ns = c->seal_time_ns;
}

uint64_t selgw_chains_checkpoint(const selgw_chains *c)
{
    return c->checkpoint_jseq;
}

int64_t selgw_chains_latest_time_since(const selgw_chains *c, uint64_t jseq, int64_t floor_ns)
{
    int64_t latest = floor_ns;
    for (size_t i = 0; i < c->count; i++) {
        const selgw_chain_info *h = &c->items[i].info;
        if (h->last_jseq > jseq && h->last_time_ns > latest)
            latest = h->last_time_ns;
    }
    return latest;
}

static plot_tags *find_tags(const selgw_chains *c, const char *plot, size_t len)
{
    for (size_t i = 0; i < c->tag_count; i++)
        if (strlen(c->tags[i].plot) == len && !memcmp(c->tags[i].plot, plot, len))
            return &c->tags[i];
    return NULL;
}

static selgw_err set_tags(selgw_chains *c, const char *plot, size_t len, const uint8_t *hash)
{
    plot_tags *t = find_tags(c, plot, len);
    if (!t) {
        if (c->tag_count == c->tag_cap) {
            size_t cap = c->tag_cap ? c->tag_cap * 2 : 8;
            plot_tags *grown = realloc(c->tags, cap * sizeof *grown);
            if (!grown)
                return SELGW_ERR_NOMEM;
            c->tags = grown;
            c->tag_cap = cap;
        }
        char *copy = strndup(plot, len);
        if (!copy)
            return SELGW_ERR_NOMEM;
        t = &c->tags[c->tag_count++];
        t->plot = copy;
    }
    memcpy(t->hash, hash, HASH);
    return SELGW_OK;
}

bool selgw_chains_tags_hash(const selgw_chains *c, const char *plot,
                            uint8_t out[SELGW_RECORD_HASH_BYTES])
{
    const plot_tags *t = find_tags(c, plot, strlen(plot));
    if (t)
        memcpy(out, t->hash, HASH);
    return t != NULL;
}

selgw_err selgw_chains_set_tags_hash(selgw_chains *c, const char *plot,
                                     const uint8_t hash[SELGW_RECORD_HASH_BYTES])
{
    return set_tags(c, plot, strlen(plot), hash);
}

/* A seal names every chain's head at its place in the journal: chains it names beyond
 * what is known (their records were removed by retention) continue from there. */
static selgw_err merge_seal_heads(selgw_chains *c, const selgw_record *seal, uint64_t jseq)
{
    selgw_str name;
    uint64_t pos;
    const uint8_t *head;
    for (size_t off = 0; selgw_record_seal_next(seal, &off, &name, &pos, &head);) {
        if (!name.len)
            continue;
        chain_head *h = find_or_add(c, name.ptr, name.len);
        if (!h)
            return SELGW_ERR_NOMEM;
        if (pos > h->info.chain_seq)
            set_head(h, pos, head, seal->time_ns, jseq);
    }
    return SELGW_OK;
}

static selgw_err apply_decoded(selgw_chains *c, const selgw_record *rec, const uint8_t *payload,
                               size_t len, uint64_t jseq)
{
    if (!rec->chained || rec->chain.len == 0)
        return SELGW_OK;
    uint8_t hash[HASH];
    selgw_record_hash(payload, len, hash);
    note_checkpoint(c, jseq, hash);
    selgw_err err = SELGW_OK;
    if (rec->type == SELGW_RECORD_SEAL) {
        err = merge_seal_heads(c, rec, jseq);
        if (err == SELGW_OK)
            selgw_chains_note_seal(c, hash, jseq, rec->time_ns);
    }
    chain_head *h = err == SELGW_OK ? find_or_add(c, rec->chain.ptr, rec->chain.len) : NULL;
    if (!h)
        return SELGW_ERR_NOMEM;
    if (rec->chain_seq > h->info.chain_seq)
        set_head(h, rec->chain_seq, hash, rec->time_ns, jseq);
    if (rec->type == SELGW_RECORD_TAGS) {
        uint8_t tags[HASH];
        selgw_hash((const uint8_t *)rec->text.ptr, rec->text.len, tags);
        err = set_tags(c, rec->plot.ptr, rec->plot.len, tags);
    }
    return err;
}

selgw_err selgw_chains_apply(selgw_chains *c, const uint8_t *payload, size_t len,
                             uint64_t journal_seq)
{
    selgw_record *rec = malloc(sizeof *rec);
    if (!rec)
        return SELGW_ERR_NOMEM;
    selgw_err err = selgw_record_decode(payload, len, rec);
    if (err == SELGW_OK)
        err = apply_decoded(c, rec, payload, len, journal_seq);
    free(rec);
    return err;
}

selgw_err selgw_chains_encode_seal(selgw_chains *c, const selgw_signer *signer, int64_t time_ns,
                                   int64_t covers_until_ns, const char *gateway, uint8_t *buf,
                                   size_t cap, size_t *len)
{
    /* The seal's own place first, so that the gateway chain is among the heads even before
     * its first record. */
    selgw_chain_link link;
    selgw_err err = selgw_chains_next(c, "gateway", &link);
    if (err != SELGW_OK)
        return err;
    selgw_seal_entry *heads = calloc(c->count ? c->count : 1, sizeof *heads);
    if (!heads)
        return SELGW_ERR_NOMEM;
    for (size_t i = 0; i < c->count; i++) {
        heads[i].chain = c->items[i].name;
        heads[i].chain_seq = c->items[i].info.chain_seq;
        memcpy(heads[i].head, c->items[i].info.head, HASH);
    }
    size_t signed_len = 0;
    *len = selgw_record_encode_seal(time_ns, covers_until_ns, gateway, heads, c->count, &link, buf,
                                    cap, &signed_len);
    free(heads);
    if (*len == 0 || *len > cap)
        return SELGW_ERR_RANGE;
    selgw_sign(signer, buf, signed_len, buf + signed_len);
    return SELGW_OK;
}

/* ---- the state file ----------------------------------------------------------------- */

/* One item a line, fields separated by single spaces (names are ids: no spaces):
 *   selgw-chains 3
 *   seal <journal seq of the last seal> <hex hash of it> <its time, ns>
 *   checkpoint <journal seq of the latest record> <hex hash of it>
 *   chain <name> <position> <hex head> <time of the head record, ns> <its journal seq>
 *   tags <plot> <hex hash of its latest tags text>
 * Version 2 had no checkpoint line: it was saved at its seal, which served as one.
 * Version 1 had no times and journal sequences in its seal and chain lines either. */

selgw_err selgw_chains_state_text(const selgw_chains *c, char **text, size_t *len)
{
    size_t need = 0;
    char hex[2 * HASH + 1];
    for (int pass = 0; pass < 2; pass++) {
        size_t cap = pass ? need + 1 : 0;
        char *buf = pass ? malloc(cap) : NULL;
        if (pass && !buf)
            return SELGW_ERR_NOMEM;
        size_t n = 0;
        selgw_text_format(buf, cap, &n, "%s\n", STATE_MAGIC);
        selgw_hash_hex(c->last_seal, hex);
        selgw_text_format(buf, cap, &n, "seal %" PRIu64 " %s %" PRId64 "\n", c->seal_jseq, hex,
                          c->seal_time_ns);
        selgw_hash_hex(c->checkpoint_hash, hex);
        selgw_text_format(buf, cap, &n, "checkpoint %" PRIu64 " %s\n", c->checkpoint_jseq, hex);
        for (size_t i = 0; i < c->count; i++) {
            const selgw_chain_info *h = &c->items[i].info;
            selgw_hash_hex(h->head, hex);
            selgw_text_format(buf, cap, &n, "chain %s %" PRIu64 " %s %" PRId64 " %" PRIu64 "\n",
                              c->items[i].name, h->chain_seq, hex, h->last_time_ns, h->last_jseq);
        }
        for (size_t i = 0; i < c->tag_count; i++) {
            selgw_hash_hex(c->tags[i].hash, hex);
            selgw_text_format(buf, cap, &n, "tags %s %s\n", c->tags[i].plot, hex);
        }
        if (pass) {
            *text = buf;
            *len = n;
        }
        need = n;
    }
    return SELGW_OK;
}

typedef struct state_text {
    const char *text;
    size_t len;
} state_text;

static selgw_err write_text(FILE *f, void *ctx)
{
    const state_text *t = ctx;
    return fwrite(t->text, 1, t->len, f) == t->len ? SELGW_OK : selgw_err_from_errno(errno);
}

selgw_err selgw_chains_write_state(const char *state_path, const char *text, size_t len)
{
    state_text t = {text, len};
    return selgw_durable_replace(state_path, 0640, write_text, &t);
}

static bool parse_hex(const char *hex, uint8_t out[HASH])
{
    if (strlen(hex) != 2 * HASH)
        return false;
    for (size_t i = 0; i < HASH; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    const char *end;
    return selgw_parse_u64(s, &end, out) && !*end;
}

static bool parse_i64(const char *s, int64_t *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || !*s || *end)
        return false;
    *out = v;
    return true;
}

/* Splits a line at single spaces into at most max words. */
static size_t split_words(char *line, char **words, size_t max)
{
    size_t n = 0;
    for (char *p = line; n < max;) {
        words[n++] = p;
        char *space = strchr(p, ' ');
        if (!space)
            break;
        *space = '\0';
        p = space + 1;
    }
    return n;
}

static bool parse_state_line(selgw_chains *c, char *line, int version)
{
    char *w[8];
    size_t n = split_words(line, w, 8);
    uint8_t hash[HASH];
    uint64_t seq = 0, jseq = 0;
    int64_t time_ns = 0;
    if (!strcmp(w[0], "seal") && n == (version == 1 ? 3u : 4u)) {
        if (!parse_u64(w[1], &seq) || !parse_hex(w[2], hash) ||
            (version > 1 && !parse_i64(w[3], &time_ns)))
            return false;
        selgw_chains_note_seal(c, hash, seq, time_ns);
        return true;
    }
    if (!strcmp(w[0], "checkpoint") && n == 3 && version >= 3) {
        if (!parse_u64(w[1], &seq) || !parse_hex(w[2], hash))
            return false;
        c->checkpoint_jseq = seq;
        memcpy(c->checkpoint_hash, hash, HASH);
        c->has_checkpoint = true;
        return true;
    }
    if (!strcmp(w[0], "chain") && n == (version == 1 ? 4u : 6u)) {
        if (!*w[1] || !parse_u64(w[2], &seq) || !parse_hex(w[3], hash) ||
            (version > 1 && (!parse_i64(w[4], &time_ns) || !parse_u64(w[5], &jseq))))
            return false;
        chain_head *h = find_or_add(c, w[1], strlen(w[1]));
        if (!h)
            return false;
        set_head(h, seq, hash, time_ns, jseq);
        return true;
    }
    if (!strcmp(w[0], "tags") && n == 3)
        return *w[1] && parse_hex(w[2], hash) && set_tags(c, w[1], strlen(w[1]), hash) == SELGW_OK;
    return false;
}

/* SELGW_ERR_NOT_FOUND when there is no state file. */
static selgw_err read_state(selgw_chains *c, const char *path, char *why, size_t why_cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return SELGW_ERR_NOT_FOUND;
        return selgw_explain_errno(why, why_cap, errno, "%s", path);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, version = 0;
    selgw_err err = SELGW_OK;
    while (err == SELGW_OK && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n == 0 || line[n - 1] != '\n' || strlen(line) != (size_t)n) {
            err = SELGW_ERR_CORRUPT;
        } else {
            line[n - 1] = '\0';
            if (lineno == 1)
                version = !strcmp(line, STATE_MAGIC)      ? 3
                          : !strcmp(line, STATE_MAGIC_V2) ? 2
                          : !strcmp(line, STATE_MAGIC_V1) ? 1
                                                          : 0;
            if (lineno == 1 ? version == 0 : !parse_state_line(c, line, version))
                err = SELGW_ERR_CORRUPT;
        }
        if (err == SELGW_ERR_CORRUPT)
            selgw_explain(why, why_cap, "%s:%d: not a chain state line", path, lineno);
    }
    if (err == SELGW_OK && lineno == 0) {
        selgw_explain(why, why_cap, "%s: empty", path);
        err = SELGW_ERR_CORRUPT;
    }
    if (err == SELGW_OK && version >= 3 && !c->has_checkpoint) {
        selgw_explain(why, why_cap, "%s: no checkpoint line", path);
        err = SELGW_ERR_CORRUPT;
    }
    free(line);
    fclose(f);
    return err;
}

/* Whether the journal holds the record the state was saved at as journal record jseq, with
 * its hash. */
static bool journal_has_record(selgw_journal *j, uint64_t jseq, const uint8_t *hash)
{
    selgw_journal_reader *r = NULL;
    if (selgw_journal_reader_new(j, jseq - 1, &r) != SELGW_OK)
        return false;
    uint64_t seq;
    const uint8_t *payload;
    size_t len;
    bool found = false;
    if (selgw_journal_read(r, &seq, &payload, &len) == SELGW_OK && seq == jseq) {
        uint8_t actual[HASH];
        selgw_record_hash(payload, len, actual);
        found = !memcmp(actual, hash, HASH);
    }
    selgw_journal_reader_free(r);
    return found;
}

static selgw_err scan_journal(selgw_chains *c, selgw_journal *j, uint64_t apply_from,
                              uint64_t scan_from, selgw_chains_scan_fn scan, void *scan_ctx,
                              selgw_chains_recovery *recovery, char *why, size_t why_cap)
{
    uint64_t start = scan && scan_from < apply_from ? scan_from : apply_from;
    selgw_journal_reader *r = NULL;
    selgw_err err = selgw_journal_reader_new(j, start, &r);
    selgw_record *rec = malloc(sizeof *rec);
    if (err != SELGW_OK || !rec) {
        selgw_explain(why, why_cap, "cannot read the journal: %s",
                      selgw_strerror(err != SELGW_OK ? err : SELGW_ERR_NOMEM));
        selgw_journal_reader_free(r);
        free(rec);
        return err != SELGW_OK ? err : SELGW_ERR_NOMEM;
    }
    uint64_t seq;
    const uint8_t *payload;
    size_t len;
    while ((err = selgw_journal_read(r, &seq, &payload, &len)) == SELGW_OK) {
        if (selgw_record_decode(payload, len, rec) != SELGW_OK) {
            /* Should not happen (the journal checked its CRC): it has no place in a
             * chain. Say so and go on. */
            selgw_explain(why, why_cap, "journal record %" PRIu64 " cannot be decoded", seq);
            continue;
        }
        if (seq > apply_from) {
            recovery->records_read++;
            err = apply_decoded(c, rec, payload, len, seq);
            if (err != SELGW_OK)
                break;
        }
        if (scan && seq > scan_from)
            scan(scan_ctx, seq, rec, payload, len);
    }
    selgw_journal_reader_free(r);
    free(rec);
    if (err == SELGW_ERR_AGAIN)
        return SELGW_OK;
    selgw_explain(why, why_cap, "reading the journal: %s", selgw_strerror(err));
    return err;
}

/* Chains the state names beyond what the rebuilt heads hold: the journal lacks those
 * records. They continue from the state's head (a position is never given twice). */
static selgw_err merge_state(selgw_chains *c, const selgw_chains *state,
                             selgw_chains_recovery *recovery)
{
    size_t n = 0;
    for (size_t i = 0; i < state->count; i++) {
        const chain_head *s = &state->items[i];
        chain_head *h = find_or_add(c, s->name, strlen(s->name));
        if (!h)
            return SELGW_ERR_NOMEM;
        if (s->info.chain_seq <= h->info.chain_seq)
            continue;
        selgw_text_format(recovery->lost, sizeof recovery->lost, &n, "%s%s %" PRIu64 "..%" PRIu64,
                          n ? ", " : "", s->name, h->info.chain_seq + 1, s->info.chain_seq);
        h->info = s->info;
    }
    if (n >= sizeof recovery->lost && sizeof recovery->lost > 4)
        memcpy(recovery->lost + sizeof recovery->lost - 4, "...", 4);
    if (state->seal_jseq > c->seal_jseq)
        selgw_chains_note_seal(c, state->last_seal, state->seal_jseq, state->seal_time_ns);

    for (size_t i = 0; i < state->tag_count; i++)
        if (!find_tags(c, state->tags[i].plot, strlen(state->tags[i].plot)) &&
            set_tags(c, state->tags[i].plot, strlen(state->tags[i].plot), state->tags[i].hash) !=
                SELGW_OK)
            return SELGW_ERR_NOMEM;
    if (n)
        recovery->state_ahead = true;
    return SELGW_OK;
}

selgw_err selgw_chains_load(selgw_chains *c, selgw_journal *journal, const char *state_path,
                            uint64_t scan_from, selgw_chains_scan_fn scan, void *scan_ctx,
                            selgw_chains_recovery *recovery, char *why, size_t why_cap)
{
    memset(recovery, 0, sizeof *recovery);
    selgw_chains *state = NULL;
    selgw_err err = selgw_chains_new(&state);
    if (err != SELGW_OK)
        return err;
    err = read_state(state, state_path, why, why_cap);
    if (err != SELGW_OK && err != SELGW_ERR_NOT_FOUND) {
        selgw_chains_free(state);
        return err;
    }
    recovery->state_found = err == SELGW_OK;
    uint64_t first = 0, last = 0;
    selgw_journal_range(journal, &first, &last);
    recovery->journal_first_seq = first;
    recovery->journal_last_seq = last;
    /* The record the state was saved at: its checkpoint, or (version 1, 2) its seal. */
    uint64_t s = state->has_checkpoint ? state->checkpoint_jseq : state->seal_jseq;
    const uint8_t *at_hash = state->has_checkpoint ? state->checkpoint_hash : state->last_seal;
    recovery->state_checkpoint_jseq = s;
    if (recovery->state_found) {
        if (s == 0)
            recovery->state_used = first <= 1; /* saved before any record: the whole journal */
        else if (s > last)
            recovery->state_ahead = true; /* the journal lost that record (and what followed) */
        else if (s >= first)
            recovery->state_used = journal_has_record(journal, s, at_hash);
        else
            recovery->state_used = first == s + 1; /* retention took it, nothing after */
        if (!recovery->state_used && s <= last && s >= first)
            recovery->state_ahead = true; /* another record in its place: replaced */
    }
    if (recovery->state_used) {
        /* c is empty: take the state over, then what the journal holds after it. */
        selgw_chains tmp = *c;
        *c = *state;
        *state = tmp;
        err = scan_journal(c, journal, s, scan_from, scan, scan_ctx, recovery, why, why_cap);
    } else {
        err = scan_journal(c, journal, 0, scan_from, scan, scan_ctx, recovery, why, why_cap);
        if (err == SELGW_OK && recovery->state_found)
            err = merge_state(c, state, recovery);
    }
    selgw_chains_free(state);
    return err;
}
