/* Evidence bundles: export from the journal, offline verification. The bundle format and
 * what it proves are specified in docs/EVIDENCE.md; keep the two in step. */
#include "evidence.h"

#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "influx_sink.h"
#include "journal.h"
#include "keys.h"
#include "mqtt_sink.h"
#include "record.h"

#define BUNDLE_MAGIC "selgw-evidence 1"
#define MAX_PROBLEMS_LISTED 20
#define HASH_PREFIX_BYTES 8 /* a seal is named by the first 16 hex digits of its hash */

static const uint8_t zero_hash[SELGW_RECORD_HASH_BYTES];

static bool str_is(selgw_str s, const char *text)
{
    size_t n = strlen(text);
    return s.len == n && (n == 0 || !memcmp(s.ptr, text, n));
}

/* ---- time text ----------------------------------------------------------------------- */

/* RFC 3339 in UTC with as many fraction digits as the instant needs (none, or up to 9):
 * "2026-11-28T13:55:21Z", "2026-11-28T13:55:21.5Z". Exact, so that a verifier reads back
 * the very instant the exporter was given. */
static void format_instant(int64_t ns, char buf[48])
{
    int64_t secs = ns / SELGW_NS_PER_S;
    int64_t frac = ns % SELGW_NS_PER_S;
    if (frac < 0) {
        frac += SELGW_NS_PER_S;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    int n = snprintf(buf, 48, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (frac) {
        char digits[16];
        snprintf(digits, sizeof digits, "%09" PRId64, frac);
        size_t len = strlen(digits);
        while (len > 1 && digits[len - 1] == '0')
            digits[--len] = '\0';
        n += snprintf(buf + n, (size_t)(48 - n), ".%s", digits);
    }
    snprintf(buf + n, (size_t)(48 - n), "Z");
}

static bool parse_digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += count;
    *out = v;
    return true;
}

/* The inverse of format_instant: YYYY-MM-DDTHH:MM:SS[.1-9 digits]Z. */
static bool parse_instant(const char *text, int64_t *out)
{
    const char *p = text;
    int year, mon, day, hour, min, sec;
    if (!parse_digits(&p, 4, &year) || *p++ != '-' || !parse_digits(&p, 2, &mon) || *p++ != '-' ||
        !parse_digits(&p, 2, &day) || *p++ != 'T' || !parse_digits(&p, 2, &hour) || *p++ != ':' ||
        !parse_digits(&p, 2, &min) || *p++ != ':' || !parse_digits(&p, 2, &sec))
        return false;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
        return false;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 9) {
            frac = frac * 10 + (*p++ - '0');
            digits++;
        }
        if (digits == 0 || (*p >= '0' && *p <= '9'))
            return false;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    if (*p++ != 'Z' || *p)
        return false;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (tm.tm_mday != day) /* 2026-02-30 normalised to March */
        return false;
    *out = (int64_t)t * SELGW_NS_PER_S + frac;
    return true;
}

/* ---- chain heads ----------------------------------------------------------------------- */

/* A list of (chain, position, hash): a seal's heads, the chains of interest of an export,
 * the chains a verifier follows. Chains are few (one per device, plot and the gateway), so
 * a linear search with a one-entry cache is enough. */
typedef struct chain_head {
    char *chain;
    uint64_t seq;
    uint8_t head[SELGW_RECORD_HASH_BYTES];
    uint64_t limit; /* export: last position to write; verify: journal seq of the last record */
    int64_t last_reading_ns; /* verify: time of the chain's last reading */
    bool has_reading;
} chain_head;

typedef struct head_list {
    chain_head *items;
    size_t count, cap;
    size_t last_hit;
} head_list;

static void head_list_clear(head_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i].chain);
    l->count = 0;
    l->last_hit = 0;
}

static void head_list_free(head_list *l)
{
    head_list_clear(l);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static chain_head *head_list_find(head_list *l, const char *s, size_t len)
{
    if (l->last_hit < l->count) {
        chain_head *h = &l->items[l->last_hit];
        if (strlen(h->chain) == len && !memcmp(h->chain, s, len))
            return h;
    }
    for (size_t i = 0; i < l->count; i++) {
        chain_head *h = &l->items[i];
        if (strlen(h->chain) == len && !memcmp(h->chain, s, len)) {
            l->last_hit = i;
            return h;
        }
    }
    return NULL;
}

/* Appends a chain (not checked for duplicates); NULL when memory runs out. */
static chain_head *head_list_add(head_list *l, const char *s, size_t len, uint64_t seq,
                                 const uint8_t *head)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        chain_head *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        l->items = grown;
        l->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    chain_head *h = &l->items[l->count++];
    memset(h, 0, sizeof *h);
    h->chain = copy;
    h->seq = seq;
    memcpy(h->head, head ? head : zero_hash, SELGW_RECORD_HASH_BYTES);
    return h;
}

/* Replaces the list with a decoded seal's heads. */
static selgw_err head_list_from_seal(head_list *l, const selgw_record *seal)
{
    head_list_clear(l);
    for (size_t i = 0; i < seal->seal_count; i++) {
        selgw_str chain;
        uint64_t seq;
        const uint8_t *head;
        selgw_record_seal_entry(seal, i, &chain, &seq, &head);
        if (!head_list_add(l, chain.ptr, chain.len, seq, head))
            return SELGW_ERR_NOMEM;
    }
    return SELGW_OK;
}

/* ---- export ------------------------------------------------------------------------------ */

typedef struct export_state {
    const selgw_config *cfg;
    const char *plot_id;
    int64_t from_ns, to_ns;
    char plot_chain[512];
    selgw_journal *journal;
    selgw_record *rec;
    head_list first_seen; /* every chain: the first position the journal still holds */
    head_list devices;    /* device chains with readings of the plot in the period */
    head_list opening;    /* heads named by the opening seal */
    head_list closing;    /* heads named by the closing seal */
    head_list interest;   /* chains to export: seq = last position before, limit = last */
    bool have_opening, have_closing;
    uint64_t opening_jseq, closing_jseq;
    uint64_t opening_pos, closing_pos; /* the seals' own positions in the gateway chain */
    uint64_t plot_start_jseq; /* the plot chain's first record, when exported from its start */
    int64_t opening_time, closing_time;
} export_state;

static selgw_err open_journal(export_state *st, char *why, size_t why_cap)
{
    const char *sinks[2];
    size_t sink_count = 0;
    if (st->cfg->mqtt.enabled)
        sinks[sink_count++] = SELGW_MQTT_SINK_NAME;
    if (st->cfg->influxdb.enabled)
        sinks[sink_count++] = SELGW_INFLUX_SINK_NAME;
    selgw_journal_recovery recovery;
    memset(&recovery, 0, sizeof recovery);
    /* Read-only: the gateway may be running on this journal right now. */
    selgw_err err =
        selgw_journal_open(&st->cfg->journal, sinks, sink_count, false, &st->journal, &recovery);
    if (err != SELGW_OK)
        selgw_explain(why, why_cap, "journal %s: %s%s%s", st->cfg->journal.dir, selgw_strerror(err),
                      recovery.message[0] ? ": " : "", recovery.message);
    return err;
}

/* Pass 1: which device chains matter, and which seals bound the period. */
static selgw_err find_chains_and_seals(export_state *st, char *why, size_t why_cap)
{
    selgw_journal_reader *reader = NULL;
    selgw_err err = selgw_journal_reader_new(st->journal, 0, &reader);
    if (err != SELGW_OK) {
        selgw_explain(why, why_cap, "reading the journal: %s", selgw_strerror(err));
        return err;
    }
    uint64_t jseq;
    const uint8_t *payload;
    size_t len;
    while ((err = selgw_journal_read(reader, &jseq, &payload, &len)) == SELGW_OK) {
        selgw_record *rec = st->rec;
        if (selgw_record_decode(payload, len, rec) != SELGW_OK) {
            selgw_explain(why, why_cap, "journal record %" PRIu64 " cannot be decoded", jseq);
            err = SELGW_ERR_CORRUPT;
            break;
        }
        if (!rec->chained)
            continue; /* format 1: written before evidence chains existed */
        if (!head_list_find(&st->first_seen, rec->chain.ptr, rec->chain.len)) {
            chain_head *h = head_list_add(&st->first_seen, rec->chain.ptr, rec->chain.len,
                                          rec->chain_seq, NULL);
            if (!h) {
                err = SELGW_ERR_NOMEM;
                break;
            }
            h->limit = jseq; /* where the chain's first record still held is */
        }
        if (rec->type == SELGW_RECORD_READING && str_is(rec->plot, st->plot_id) &&
            rec->time_ns >= st->from_ns && rec->time_ns < st->to_ns &&
            !head_list_find(&st->devices, rec->chain.ptr, rec->chain.len) &&
            !head_list_add(&st->devices, rec->chain.ptr, rec->chain.len, 0, NULL)) {
            err = SELGW_ERR_NOMEM;
            break;
        }
        if (rec->type != SELGW_RECORD_SEAL)
            continue;
        if (rec->time_ns <= st->from_ns) {
            if ((err = head_list_from_seal(&st->opening, rec)) != SELGW_OK)
                break;
            st->have_opening = true;
            st->opening_jseq = jseq;
            st->opening_pos = rec->chain_seq;
            st->opening_time = rec->time_ns;
        } else if (rec->time_ns >= st->to_ns) {
            if ((err = head_list_from_seal(&st->closing, rec)) != SELGW_OK)
                break;
            st->have_closing = true;
            st->closing_jseq = jseq;
            st->closing_pos = rec->chain_seq;
            st->closing_time = rec->time_ns;
            err = SELGW_OK;
            break;
        }
    }
    if (err == SELGW_ERR_AGAIN)
        err = SELGW_OK;
    else if (err == SELGW_ERR_CORRUPT && (!why || !why[0]))
        selgw_explain(why, why_cap,
                      "the journal has a bad record (run `selgw journal` to see where)");
    else if (err == SELGW_ERR_NOMEM)
        selgw_explain(why, why_cap, "out of memory");
    selgw_journal_reader_free(reader);
    return err;
}

/* Adds one chain to export: positions after its head in the opening seal (or from its
 * start) up to its head in the closing seal. */
static selgw_err add_interest(export_state *st, const char *chain, bool required, char *why,
                              size_t why_cap)
{
    size_t len = strlen(chain);
    const chain_head *end = head_list_find(&st->closing, chain, len);
    if (!end) {
        if (!required)
            return SELGW_OK; /* e.g. a plot with no annotations or tags yet */
        selgw_explain(why, why_cap, "the closing seal does not name chain %s", chain);
        return SELGW_ERR_CORRUPT;
    }
    uint64_t after = 0;
    const uint8_t *head = zero_hash;
    const chain_head *start = st->have_opening ? head_list_find(&st->opening, chain, len) : NULL;
    if (start) {
        after = start->seq;
        head = start->head;
    }
    /* The plot's chain is short (tags, lab results) and is the context of everything
     * else: exported from its first record while the journal still holds it. */
    const chain_head *seen = head_list_find(&st->first_seen, chain, len);
    if (!strcmp(chain, st->plot_chain) && seen && seen->seq == 1 && end->seq > 0) {
        after = 0;
        head = zero_hash;
        st->plot_start_jseq = seen->limit;
    }
    if (end->seq <= after)
        return SELGW_OK; /* nothing happened on this chain between the seals */
    if (!st->have_opening) {
        if (!seen || seen->seq != 1) {
            char t1[48];
            format_instant(st->from_ns, t1);
            selgw_explain(
                why, why_cap,
                "no seal at or before %s, and the journal no longer holds the start of chain %s "
                "(it begins at position %" PRIu64 "): choose a later start of the period",
                t1, chain, seen ? seen->seq : end->seq + 1);
            return SELGW_ERR_NOT_FOUND;
        }
    }
    chain_head *h = head_list_add(&st->interest, chain, len, after, head);
    if (!h) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    h->limit = end->seq;
    return SELGW_OK;
}

static selgw_err choose_chains(export_state *st, char *why, size_t why_cap)
{
    char t1[48], t2[48];
    format_instant(st->from_ns, t1);
    format_instant(st->to_ns, t2);
    if (!st->have_closing) {
        selgw_explain(
            why, why_cap,
            "no seal at or after %s yet: wait for the next seal (signing.seal_interval) or stop "
            "the gateway cleanly",
            t2);
        return SELGW_ERR_AGAIN;
    }
    if (st->devices.count == 0) {
        selgw_explain(why, why_cap, "no readings of plot %s from %s to %s in the journal",
                      st->plot_id, t1, t2);
        return SELGW_ERR_NOT_FOUND;
    }
    selgw_err err = SELGW_OK;
    for (size_t i = 0; err == SELGW_OK && i < st->devices.count; i++)
        err = add_interest(st, st->devices.items[i].chain, true, why, why_cap);
    if (err == SELGW_OK)
        err = add_interest(st, st->plot_chain, false, why, why_cap);
    if (err != SELGW_OK)
        return err;
    /* The gateway chain runs from the opening seal itself (it cannot name its own hash)
     * to the closing seal. */
    uint64_t after = st->have_opening ? st->opening_pos - 1 : 0;
    if (!st->have_opening) {
        const chain_head *seen = head_list_find(&st->first_seen, "gateway", 7);
        if (!seen || seen->seq != 1) {
            selgw_explain(
                why, why_cap,
                "no seal at or before %s, and the journal no longer holds the start of the "
                "gateway chain: choose a later start of the period",
                t1);
            return SELGW_ERR_NOT_FOUND;
        }
    }
    chain_head *h = head_list_add(&st->interest, "gateway", 7, after, NULL);
    if (!h) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    h->limit = st->closing_pos;
    return SELGW_OK;
}

static bool write_header(FILE *f, const export_state *st, const uint8_t pk[SELGW_PUBLIC_KEY_BYTES])
{
    char key[SELGW_PUBLIC_KEY_TEXT_SIZE], t1[48], t2[48];
    selgw_public_key_format(pk, key);
    format_instant(st->from_ns, t1);
    format_instant(st->to_ns, t2);
    return fprintf(f, "%s\npublic-key %s\ngateway %s\nplot %s\nfrom %s\nto %s\n", BUNDLE_MAGIC, key,
                   st->cfg->gateway_id, st->plot_id, t1, t2) > 0;
}

/* Pass 2: writes the record lines; returns how many through *count. */
static selgw_err write_records(export_state *st, FILE *f, uint64_t *count, char *why,
                               size_t why_cap)
{
    selgw_journal_reader *reader = NULL;
    uint64_t start = st->have_opening ? st->opening_jseq - 1 : 0;
    if (st->plot_start_jseq && st->plot_start_jseq - 1 < start)
        start = st->plot_start_jseq - 1;
    selgw_err err = selgw_journal_reader_new(st->journal, start, &reader);
    if (err != SELGW_OK) {
        selgw_explain(why, why_cap, "reading the journal: %s", selgw_strerror(err));
        return err;
    }
    /* interest[i].seq becomes the last position written */
    char *text =
        malloc(sodium_base64_ENCODED_LEN(SELGW_RECORD_MAX_PAYLOAD, sodium_base64_VARIANT_ORIGINAL));
    if (!text) {
        selgw_journal_reader_free(reader);
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    uint64_t jseq = 0;
    const uint8_t *payload;
    size_t len;
    *count = 0;
    while (jseq < st->closing_jseq &&
           (err = selgw_journal_read(reader, &jseq, &payload, &len)) == SELGW_OK) {
        if (jseq > st->closing_jseq)
            break;
        if (selgw_record_decode(payload, len, st->rec) != SELGW_OK) {
            selgw_explain(why, why_cap, "journal record %" PRIu64 " cannot be decoded", jseq);
            err = SELGW_ERR_CORRUPT;
            break;
        }
        const selgw_record *rec = st->rec;
        if (!rec->chained)
            continue;
        chain_head *h = head_list_find(&st->interest, rec->chain.ptr, rec->chain.len);
        if (!h || rec->chain_seq <= h->seq || rec->chain_seq > h->limit)
            continue;
        if (rec->chain_seq != h->seq + 1) {
            selgw_explain(why, why_cap,
                          "chain %s: positions %" PRIu64 "..%" PRIu64
                          " are no longer in the journal (removed by retention or the disk budget)",
                          h->chain, h->seq + 1, rec->chain_seq - 1);
            err = SELGW_ERR_NOT_FOUND;
            break;
        }
        h->seq = rec->chain_seq;
        sodium_bin2base64(text, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL),
                          payload, len, sodium_base64_VARIANT_ORIGINAL);
        if (fprintf(f, "record %" PRIu64 " %s\n", jseq, text) < 0) {
            selgw_explain(why, why_cap, "writing the bundle: %s", strerror(errno));
            err = SELGW_ERR_IO;
            break;
        }
        (*count)++;
    }
    if (err == SELGW_ERR_AGAIN)
        err = SELGW_OK;
    if (err == SELGW_OK) {
        for (size_t i = 0; i < st->interest.count; i++) {
            const chain_head *h = &st->interest.items[i];
            if (h->seq != h->limit) {
                selgw_explain(why, why_cap,
                              "chain %s: positions %" PRIu64 "..%" PRIu64 " are not in the journal",
                              h->chain, h->seq + 1, h->limit);
                err = SELGW_ERR_NOT_FOUND;
                break;
            }
        }
    } else if (err == SELGW_ERR_CORRUPT && (!why || !why[0])) {
        selgw_explain(why, why_cap,
                      "the journal has a bad record (run `selgw journal` to see where)");
    }
    free(text);
    selgw_journal_reader_free(reader);
    return err;
}

/* Writes the bundle to a temporary file next to out_path and renames it into place only
 * when complete and durable: a bundle on disk is never half-written. */
static selgw_err write_bundle(export_state *st, const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                              const char *out_path, char *why, size_t why_cap)
{
    size_t tmp_len = strlen(out_path) + 16;
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    snprintf(tmp, tmp_len, "%s.tmp-XXXXXX", out_path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        selgw_explain(why, why_cap, "%s: %s", out_path, strerror(errno));
        free(tmp);
        return SELGW_ERR_IO;
    }
    (void)fchmod(fd, 0644); /* evidence is for others to read; nothing secret in it */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        selgw_explain(why, why_cap, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return SELGW_ERR_IO;
    }
    selgw_err err = SELGW_OK;
    uint64_t count = 0;
    if (!write_header(f, st, pk)) {
        selgw_explain(why, why_cap, "writing %s: %s", tmp, strerror(errno));
        err = SELGW_ERR_IO;
    }
    if (err == SELGW_OK)
        err = write_records(st, f, &count, why, why_cap);
    if (err == SELGW_OK && fprintf(f, "end %" PRIu64 "\n", count) < 0) {
        selgw_explain(why, why_cap, "writing %s: %s", tmp, strerror(errno));
        err = SELGW_ERR_IO;
    }
    if (err == SELGW_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
        selgw_explain(why, why_cap, "writing %s: %s", tmp, strerror(errno));
        err = errno == ENOSPC || errno == EDQUOT ? SELGW_ERR_NO_SPACE : SELGW_ERR_IO;
    }
    if (fclose(f) != 0 && err == SELGW_OK) {
        selgw_explain(why, why_cap, "writing %s: %s", tmp, strerror(errno));
        err = SELGW_ERR_IO;
    }
    if (err == SELGW_OK && rename(tmp, out_path) != 0) {
        selgw_explain(why, why_cap, "renaming %s to %s: %s", tmp, out_path, strerror(errno));
        err = SELGW_ERR_IO;
    }
    if (err != SELGW_OK)
        unlink(tmp);
    else if (selgw_fsync_parent(out_path) != SELGW_OK) {
        selgw_explain(why, why_cap, "%s: cannot sync its directory: %s", out_path, strerror(errno));
        err = SELGW_ERR_IO;
    }
    free(tmp);
    return err;
}

selgw_err selgw_evidence_export(const selgw_config *cfg, const char *plot_id, int64_t from_ns,
                                int64_t to_ns, const char *out_path, char *why, size_t why_cap)
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
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    selgw_signer *signer = NULL;
    char key_why[256] = "";
    selgw_err err = selgw_signer_load(cfg->signing.secret_key, &signer, key_why, sizeof key_why);
    if (err != SELGW_OK) {
        selgw_explain(why, why_cap, "signing key: %s", key_why[0] ? key_why : selgw_strerror(err));
        return err;
    }
    selgw_signer_public_key(signer, pk);
    selgw_signer_free(signer);

    export_state st;
    memset(&st, 0, sizeof st);
    st.cfg = cfg;
    st.plot_id = plot_id;
    st.from_ns = from_ns;
    st.to_ns = to_ns;
    if ((size_t)snprintf(st.plot_chain, sizeof st.plot_chain, "plot/%s", plot_id) >=
        sizeof st.plot_chain) {
        selgw_explain(why, why_cap, "plot id too long");
        return SELGW_ERR_INVALID;
    }
    st.rec = malloc(sizeof *st.rec);
    if (!st.rec) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    err = open_journal(&st, why, why_cap);
    if (err == SELGW_OK)
        err = find_chains_and_seals(&st, why, why_cap);
    if (err == SELGW_OK)
        err = choose_chains(&st, why, why_cap);
    if (err == SELGW_OK)
        err = write_bundle(&st, pk, out_path, why, why_cap);
    selgw_journal_close(st.journal);
    head_list_free(&st.first_seen);
    head_list_free(&st.devices);
    head_list_free(&st.opening);
    head_list_free(&st.closing);
    head_list_free(&st.interest);
    free(st.rec);
    return err;
}

/* ---- verification ------------------------------------------------------------------------ */

typedef struct text_list {
    char **items;
    size_t count, cap;
} text_list;

static void text_list_free(text_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static bool text_list_add(text_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool text_list_add(text_list *l, const char *fmt, ...)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return false;
        l->items = grown;
        l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    l->items[l->count++] = s;
    return true;
}

typedef struct field_stats {
    char *name, *unit;
    uint64_t count, out_of_range;
    double min, max, sum;
} field_stats;

typedef struct device_stats {
    char *device;
    char *chain;
    uint64_t readings, ok, failed, elsewhere;
    int64_t first_ns, last_ns;
    int64_t *intervals; /* between consecutive readings in the period, for the median */
    size_t interval_count, interval_cap;
    size_t field_count;
    field_stats *fields;
    /* the run of failed polls in progress */
    bool in_failed_run;
    int64_t run_from, run_to;
    uint64_t run_polls;
    char run_status[64];
} device_stats;

typedef struct verify_state {
    FILE *out;
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    bool key_given;
    char *gateway, *plot;
    int64_t from_ns, to_ns;
    char plot_chain[512];

    uint64_t records; /* record lines read */
    uint64_t last_jseq;
    head_list chains;  /* per chain: last position, hash, journal seq */
    head_list opening; /* heads named by the opening seal */
    bool have_opening;
    int64_t opening_time;
    uint64_t opening_jseq;
    head_list last_seal; /* heads named by the latest seal, compared when it is known to
                          * be an intermediate or the closing one */
    bool last_was_seal, pending_seal;
    bool gateway_seen;
    int64_t last_seal_time;
    uint64_t last_seal_jseq;
    uint8_t last_seal_hash[SELGW_RECORD_HASH_BYTES];
    bool have_seal_hash;
    uint64_t seals;

    /* summary */
    char *base, *crop;
    text_list households;
    text_list events;
    device_stats *devices;
    size_t device_count, device_cap;

    text_list problems;
    uint64_t problem_count;
    bool nomem;
} verify_state;

static void problem(verify_state *vs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(verify_state *vs, const char *fmt, ...)
{
    vs->problem_count++;
    if (vs->problems.count >= MAX_PROBLEMS_LISTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0 || !text_list_add(&vs->problems, "%s", s))
        vs->nomem = true;
    free(s);
}

/* "record 17 (chain device/soil-1, position 5)" */
static void record_problem(verify_state *vs, uint64_t jseq, const selgw_record *rec,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void record_problem(verify_state *vs, uint64_t jseq, const selgw_record *rec,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = NULL;
    int n = vasprintf(&what, fmt, ap);
    va_end(ap);
    if (n < 0) {
        vs->nomem = true;
        vs->problem_count++;
        return;
    }
    if (rec && rec->chained)
        problem(vs, "record %" PRIu64 " (chain %.*s, position %" PRIu64 "): %s", jseq,
                (int)rec->chain.len, rec->chain.ptr, rec->chain_seq, what);
    else
        problem(vs, "record %" PRIu64 ": %s", jseq, what);
    free(what);
}

static char *dup_str(selgw_str s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        if (s.len)
            memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

static void utc_text(int64_t ns, char buf[SELGW_UTC_TEXT_SIZE])
{
    selgw_format_utc(ns, buf);
}

static void hex_prefix(const uint8_t *hash, char out[2 * HASH_PREFIX_BYTES + 1])
{
    sodium_bin2hex(out, 2 * HASH_PREFIX_BYTES + 1, hash, HASH_PREFIX_BYTES);
}

/* The chain a record of this type must be in. */
static bool chain_fits(const selgw_record *rec, const char *plot_chain)
{
    switch (rec->type) {
    case SELGW_RECORD_READING:
        return rec->chain.len == 7 + rec->device.len && !memcmp(rec->chain.ptr, "device/", 7) &&
               !memcmp(rec->chain.ptr + 7, rec->device.ptr, rec->device.len);
    case SELGW_RECORD_ANNOTATION:
    case SELGW_RECORD_TAGS:
        return rec->chain.len == 5 + rec->plot.len && !memcmp(rec->chain.ptr, "plot/", 5) &&
               !memcmp(rec->chain.ptr + 5, rec->plot.ptr, rec->plot.len) &&
               str_is(rec->chain, plot_chain);
    default:
        return str_is(rec->chain, "gateway");
    }
}

/* Compares the heads the latest seal named with where the bundle's chains are. */
static void check_seal_heads(verify_state *vs, bool closing)
{
    for (size_t i = 0; i < vs->chains.count; i++) {
        const chain_head *c = &vs->chains.items[i];
        if (!strcmp(c->chain, "gateway"))
            continue; /* a seal is itself the gateway chain's head */
        const chain_head *s = head_list_find(&vs->last_seal, c->chain, strlen(c->chain));
        if (!s) {
            problem(vs,
                    "record %" PRIu64 " (seal): it does not name chain %s, which the bundle holds",
                    vs->last_seal_jseq, c->chain);
        } else if (s->seq != c->seq || memcmp(s->head, c->head, SELGW_RECORD_HASH_BYTES)) {
            if (closing)
                problem(vs,
                        "chain %s ends at position %" PRIu64 " (record %" PRIu64
                        "), the closing seal (record %" PRIu64 ") names position %" PRIu64 "%s: %s",
                        c->chain, c->seq, c->limit, vs->last_seal_jseq, s->seq,
                        s->seq == c->seq ? " with another hash" : "",
                        s->seq == c->seq ? "that record was altered"
                                         : "records missing or added at the end");
            else
                problem(vs,
                        "record %" PRIu64 " (seal): it names position %" PRIu64
                        " of chain %s%s, but the bundle is at position %" PRIu64 " (record %" PRIu64
                        ") there",
                        vs->last_seal_jseq, s->seq, c->chain,
                        s->seq == c->seq ? " with another hash" : "", c->seq, c->limit);
        }
    }
    if (!closing)
        return;
    /* The plot's own chain must be there whenever the seals say it moved. */
    const chain_head *p = head_list_find(&vs->last_seal, vs->plot_chain, strlen(vs->plot_chain));
    if (p && !head_list_find(&vs->chains, vs->plot_chain, strlen(vs->plot_chain))) {
        const chain_head *o =
            vs->have_opening ? head_list_find(&vs->opening, vs->plot_chain, strlen(vs->plot_chain))
                             : NULL;
        uint64_t from = o ? o->seq : 0;
        if (p->seq > from)
            problem(vs,
                    "chain %s: the closing seal names position %" PRIu64
                    ", but the bundle holds none of its records after position %" PRIu64,
                    vs->plot_chain, p->seq, from);
    }
}

static device_stats *device_for(verify_state *vs, const selgw_record *rec)
{
    for (size_t i = 0; i < vs->device_count; i++)
        if (str_is(rec->device, vs->devices[i].device))
            return &vs->devices[i];
    if (vs->device_count == vs->device_cap) {
        size_t cap = vs->device_cap ? vs->device_cap * 2 : 4;
        device_stats *grown = realloc(vs->devices, cap * sizeof *grown);
        if (!grown)
            return NULL;
        vs->devices = grown;
        vs->device_cap = cap;
    }
    device_stats *d = &vs->devices[vs->device_count];
    memset(d, 0, sizeof *d);
    d->device = dup_str(rec->device);
    d->chain = dup_str(rec->chain);
    if (!d->device || !d->chain) {
        free(d->device);
        free(d->chain);
        return NULL;
    }
    vs->device_count++;
    return d;
}

static void end_failed_run(verify_state *vs, device_stats *d)
{
    if (!d->in_failed_run)
        return;
    char a[SELGW_UTC_TEXT_SIZE], b[SELGW_UTC_TEXT_SIZE];
    utc_text(d->run_from, a);
    utc_text(d->run_to, b);
    bool ok =
        d->run_polls == 1
            ? text_list_add(&vs->events, "%s  device %s: failed poll: %s", a, d->device,
                            d->run_status)
            : text_list_add(&vs->events, "%s  device %s: %" PRIu64 " failed polls until %s: %s", a,
                            d->device, d->run_polls, b, d->run_status);
    if (!ok)
        vs->nomem = true;
    d->in_failed_run = false;
}

static bool seen_household(const verify_state *vs, const char *text)
{
    for (size_t i = 0; i < vs->households.count; i++)
        if (!strcmp(vs->households.items[i], text))
            return true;
    return false;
}

static void count_reading(verify_state *vs, const selgw_record *rec)
{
    device_stats *d = device_for(vs, rec);
    if (!d) {
        vs->nomem = true;
        return;
    }
    if (!str_is(rec->plot, vs->plot) || rec->time_ns < vs->from_ns || rec->time_ns >= vs->to_ns) {
        d->elsewhere++;
        return;
    }
    if (!vs->base && rec->base.len)
        vs->base = dup_str(rec->base);
    if (!vs->crop && rec->crop.len)
        vs->crop = dup_str(rec->crop);
    for (size_t i = 0; i < rec->household_count; i++) {
        char text[512];
        const selgw_record_household *h = &rec->households[i];
        snprintf(text, sizeof text, "%.*s (contract %.*s)", (int)h->household.len, h->household.ptr,
                 (int)h->contract.len, h->contract.ptr);
        if (!seen_household(vs, text) && !text_list_add(&vs->households, "%s", text))
            vs->nomem = true;
    }
    if (d->readings) {
        if (d->interval_count == d->interval_cap) {
            size_t cap = d->interval_cap ? d->interval_cap * 2 : 64;
            int64_t *grown = realloc(d->intervals, cap * sizeof *grown);
            if (!grown) {
                vs->nomem = true;
                return;
            }
            d->intervals = grown;
            d->interval_cap = cap;
        }
        d->intervals[d->interval_count++] = rec->time_ns - d->last_ns;
    } else {
        d->first_ns = rec->time_ns;
    }
    d->last_ns = rec->time_ns;
    d->readings++;
    if (rec->status == SELGW_OK) {
        d->ok++;
        end_failed_run(vs, d);
    } else {
        d->failed++;
        if (!d->in_failed_run) {
            d->in_failed_run = true;
            d->run_from = rec->time_ns;
            d->run_polls = 0;
            if (rec->status == SELGW_ERR_EXCEPTION)
                snprintf(d->run_status, sizeof d->run_status, "%s (Modbus exception %d)",
                         selgw_err_token(rec->status), rec->exception_code);
            else
                snprintf(d->run_status, sizeof d->run_status, "%s", selgw_err_token(rec->status));
        }
        d->run_to = rec->time_ns;
        d->run_polls++;
    }
    for (size_t i = 0; i < rec->field_count; i++) {
        const selgw_record_field *f = &rec->fields[i];
        if (f->quality == SELGW_QUALITY_READ_FAILED)
            continue;
        field_stats *fs = NULL;
        for (size_t k = 0; k < d->field_count; k++)
            if (str_is(f->name, d->fields[k].name))
                fs = &d->fields[k];
        if (!fs) {
            field_stats *grown = realloc(d->fields, (d->field_count + 1) * sizeof *grown);
            if (!grown) {
                vs->nomem = true;
                return;
            }
            d->fields = grown;
            fs = &d->fields[d->field_count];
            memset(fs, 0, sizeof *fs);
            fs->name = dup_str(f->name);
            fs->unit = dup_str(f->unit);
            if (!fs->name || !fs->unit) {
                free(fs->name);
                free(fs->unit);
                vs->nomem = true;
                return;
            }
            d->field_count++;
            fs->min = fs->max = f->value;
        }
        fs->count++;
        if (f->quality == SELGW_QUALITY_OUT_OF_RANGE)
            fs->out_of_range++;
        if (isfinite(f->value)) {
            fs->sum += f->value;
            if (f->value < fs->min || !isfinite(fs->min))
                fs->min = f->value;
            if (f->value > fs->max || !isfinite(fs->max))
                fs->max = f->value;
        }
    }
}

static void note_event(verify_state *vs, const selgw_record *rec, const uint8_t *hash)
{
    char t[SELGW_UTC_TEXT_SIZE];
    utc_text(rec->time_ns, t);
    int tl = (int)rec->text.len;
    const char *tp = rec->text.ptr;
    bool ok = true;
    switch (rec->type) {
    case SELGW_RECORD_START: {
        char seal[2 * HASH_PREFIX_BYTES + 1];
        hex_prefix(rec->prev_seal, seal);
        if (!memcmp(rec->prev_seal, zero_hash, SELGW_RECORD_HASH_BYTES))
            ok = text_list_add(&vs->events, "%s  START: %.*s (no seal before it)", t, tl, tp);
        else if (vs->have_seal_hash &&
                 memcmp(rec->prev_seal, vs->last_seal_hash, SELGW_RECORD_HASH_BYTES))
            ok = text_list_add(&vs->events,
                               "%s  START: %.*s (continues from seal %s, which is NOT the last "
                               "seal before it in the bundle)",
                               t, tl, tp, seal);
        else
            ok = text_list_add(&vs->events, "%s  START: %.*s (continues from seal %s)", t, tl, tp,
                               seal);
        break;
    }
    case SELGW_RECORD_STOP:
        ok = text_list_add(&vs->events, "%s  STOP: %.*s", t, tl, tp);
        break;
    case SELGW_RECORD_GAP:
        ok = text_list_add(&vs->events, "%s  GAP: journal records %" PRIu64 "..%" PRIu64 ": %.*s",
                           t, rec->gap_first_seq, rec->gap_last_seq, tl, tp);
        break;
    case SELGW_RECORD_CLOCK:
        ok = text_list_add(&vs->events, "%s  CLOCK: %.*s", t, tl, tp);
        break;
    case SELGW_RECORD_ANNOTATION:
        ok = text_list_add(&vs->events, "%s  ANNOTATION: %.*s (ref %.*s)", t, tl, tp,
                           (int)rec->ref.len, rec->ref.ptr);
        break;
    case SELGW_RECORD_TAGS:
        ok = text_list_add(&vs->events, "%s  TAGS: %.*s", t, tl, tp);
        break;
    case SELGW_RECORD_SEAL:
        memcpy(vs->last_seal_hash, hash, SELGW_RECORD_HASH_BYTES);
        vs->have_seal_hash = true;
        break;
    default:
        break;
    }
    if (!ok)
        vs->nomem = true;
}

/* Follows one record along its chain. */
static void check_link(verify_state *vs, uint64_t jseq, const selgw_record *rec,
                       const uint8_t *hash, bool is_opening_seal)
{
    chain_head *c = head_list_find(&vs->chains, rec->chain.ptr, rec->chain.len);
    if (!c) {
        uint64_t after = 0;
        const uint8_t *head = zero_hash;
        const chain_head *o =
            vs->have_opening ? head_list_find(&vs->opening, rec->chain.ptr, rec->chain.len) : NULL;
        if (o) {
            after = o->seq;
            head = o->head;
        }
        if (is_opening_seal) {
            /* the gateway chain starts at the opening seal itself */
        } else if (rec->chain_seq != after + 1) {
            if (!vs->have_opening)
                record_problem(vs, jseq, rec,
                               "the bundle has no opening seal, so the chain must start at "
                               "position 1");
            else if (rec->chain_seq > after + 1)
                record_problem(vs, jseq, rec,
                               "the opening seal names position %" PRIu64
                               " for this chain: positions %" PRIu64 "..%" PRIu64
                               " are missing at the start",
                               after, after + 1, rec->chain_seq - 1);
            else
                record_problem(vs, jseq, rec,
                               "the opening seal names position %" PRIu64
                               " for this chain: this record comes before the sealed head "
                               "(added or reordered)",
                               after);
        } else if (memcmp(rec->prev, head, SELGW_RECORD_HASH_BYTES)) {
            if (after)
                record_problem(vs, jseq, rec,
                               "prev hash does not match the head the opening seal names for "
                               "this chain (position %" PRIu64 ")",
                               after);
            else
                record_problem(vs, jseq, rec, "prev hash is not zero at the start of the chain");
        }
        c = head_list_add(&vs->chains, rec->chain.ptr, rec->chain.len, 0, NULL);
        if (!c) {
            vs->nomem = true;
            return;
        }
    } else {
        uint64_t k = rec->chain_seq;
        if (k == c->seq + 1) {
            if (memcmp(rec->prev, c->head, SELGW_RECORD_HASH_BYTES))
                record_problem(vs, jseq, rec,
                               "prev hash does not match record %" PRIu64 " (position %" PRIu64
                               "): one of the two was altered, or a record "
                               "was put in between",
                               c->limit, c->seq);
        } else if (k > c->seq + 1) {
            if (k == c->seq + 2)
                record_problem(vs, jseq, rec,
                               "follows position %" PRIu64 " (record %" PRIu64
                               "): position %" PRIu64 " missing",
                               c->seq, c->limit, c->seq + 1);
            else
                record_problem(vs, jseq, rec,
                               "follows position %" PRIu64 " (record %" PRIu64
                               "): positions %" PRIu64 "..%" PRIu64 " missing",
                               c->seq, c->limit, c->seq + 1, k - 1);
        } else {
            record_problem(vs, jseq, rec,
                           "comes after position %" PRIu64 " (record %" PRIu64
                           "): a record was added or the records were reordered",
                           c->seq, c->limit);
        }
    }
    /* Follow the record as given, so that one break is reported once, not at every record
     * after it. */
    c->seq = rec->chain_seq;
    memcpy(c->head, hash, SELGW_RECORD_HASH_BYTES);
    c->limit = jseq;
    if (rec->type == SELGW_RECORD_READING) {
        if (c->has_reading && rec->time_ns < c->last_reading_ns) {
            char a[SELGW_UTC_TEXT_SIZE], b[SELGW_UTC_TEXT_SIZE];
            utc_text(rec->time_ns, a);
            utc_text(c->last_reading_ns, b);
            record_problem(vs, jseq, rec,
                           "time goes backwards: %s is before the previous reading's %s", a, b);
        }
        c->has_reading = true;
        c->last_reading_ns = rec->time_ns;
    }
}

static void verify_record(verify_state *vs, uint64_t jseq, const uint8_t *payload, size_t len,
                          selgw_record *rec)
{
    vs->records++;
    if (vs->records > 1 && jseq <= vs->last_jseq)
        problem(vs, "record %" PRIu64 ": journal sequence does not increase (previous %" PRIu64 ")",
                jseq, vs->last_jseq);
    vs->last_jseq = jseq;
    if (vs->pending_seal) {
        check_seal_heads(vs, false); /* the previous seal was not the last record */
        vs->pending_seal = false;
    }
    vs->last_was_seal = false;
    if (selgw_record_decode(payload, len, rec) != SELGW_OK) {
        record_problem(vs, jseq, NULL, "the payload does not decode: corrupt or altered");
        return;
    }
    if (!rec->chained) {
        record_problem(vs, jseq, NULL, "not a chained record (format 1): it proves nothing");
        return;
    }
    if (!chain_fits(rec, vs->plot_chain))
        record_problem(vs, jseq, rec, "a record of this type does not belong in this chain");
    uint8_t hash[SELGW_RECORD_HASH_BYTES];
    selgw_record_hash(payload, len, hash);
    /* The opening seal is the gateway chain's first record in the bundle, if that is a
     * seal; only plot chain records from the chain's start may come before it. */
    bool is_opening_seal =
        !vs->gateway_seen && rec->type == SELGW_RECORD_SEAL && str_is(rec->chain, "gateway");
    if (str_is(rec->chain, "gateway"))
        vs->gateway_seen = true;
    if (is_opening_seal) {
        if (head_list_from_seal(&vs->opening, rec) != SELGW_OK)
            vs->nomem = true;
        vs->have_opening = true;
        vs->opening_time = rec->time_ns;
        vs->opening_jseq = jseq;
    }
    check_link(vs, jseq, rec, hash, is_opening_seal);
    if (rec->type == SELGW_RECORD_SEAL) {
        vs->seals++;
        if (!selgw_signature_ok(vs->pk, payload, rec->signed_len, rec->signature))
            record_problem(vs, jseq, rec, "the seal's signature does not verify with the %s key",
                           vs->key_given ? "given" : "bundle's");
        if (!str_is(rec->gateway, vs->gateway))
            record_problem(vs, jseq, rec, "the seal is from gateway %.*s, the bundle says %s",
                           (int)rec->gateway.len, rec->gateway.ptr, vs->gateway);
        /* compared with the chains followed so far when the next record shows that
         * this was not the last seal */
        if (head_list_from_seal(&vs->last_seal, rec) != SELGW_OK)
            vs->nomem = true;
        vs->pending_seal = true;
        vs->last_was_seal = true;
        vs->last_seal_time = rec->time_ns;
        vs->last_seal_jseq = jseq;
    }
    if (rec->type == SELGW_RECORD_READING)
        count_reading(vs, rec);
    else
        note_event(vs, rec, hash);
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_duration(FILE *out, int64_t ns)
{
    double s = (double)ns / 1e9;
    if (s < 120)
        fprintf(out, "%g s", round(s * 1000) / 1000);
    else if (s < 7200)
        fprintf(out, "%g min", round(s / 6) / 10);
    else
        fprintf(out, "%g h", round(s / 360) / 10);
}

/* Events are noted when they are known (a run of failed polls when it ends), each line
 * starting with its fixed-width UTC time: sorted by that, in bundle order for equal times. */
typedef struct event_ref {
    const char *text;
    size_t index;
} event_ref;

static int compare_events(const void *a, const void *b)
{
    const event_ref *x = a, *y = b;
    int c = strncmp(x->text, y->text, SELGW_UTC_TEXT_SIZE - 1);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void print_summary(verify_state *vs, const char *key_text)
{
    FILE *out = vs->out;
    char a[48], b[48];
    format_instant(vs->from_ns, a);
    format_instant(vs->to_ns, b);
    fprintf(out, "Evidence for plot %s, %s to %s\n", vs->plot, a, b);
    fprintf(out, "  gateway:    %s\n", vs->gateway);
    fprintf(out, "  base:       %s\n", vs->base ? vs->base : "(no readings)");
    fprintf(out, "  crop:       %s\n", vs->crop ? vs->crop : "(none recorded)");
    fprintf(out, "  households: ");
    if (!vs->households.count)
        fprintf(out, "(none recorded)");
    for (size_t i = 0; i < vs->households.count; i++)
        fprintf(out, "%s%s", i ? ", " : "", vs->households.items[i]);
    fprintf(out, "\n  key:        %s (%s)\n", key_text,
            vs->key_given ? "the key given to verify"
                          : "taken from the bundle: compare it with the key the enterprise "
                            "registered, or verify with --pubkey");
    if (vs->have_opening) {
        utc_text(vs->opening_time, a);
        fprintf(out, "  sealed:     from the seal of %s (record %" PRIu64 ")", a, vs->opening_jseq);
    } else {
        fprintf(out, "  sealed:     from the start of every chain");
    }
    if (vs->last_was_seal) {
        utc_text(vs->last_seal_time, b);
        fprintf(out, " to the seal of %s (record %" PRIu64 ")", b, vs->last_seal_jseq);
    }
    fprintf(out, "; %" PRIu64 " records in %zu chains, %" PRIu64 " seals\n", vs->records,
            vs->chains.count, vs->seals);

    for (size_t i = 0; i < vs->device_count; i++) {
        device_stats *d = &vs->devices[i];
        fprintf(out,
                "\nDevice %s (chain %s): %" PRIu64 " polls in the period, %" PRIu64 " ok, %" PRIu64
                " failed\n",
                d->device, d->chain, d->readings, d->ok, d->failed);
        if (d->elsewhere)
            fprintf(out,
                    "  %" PRIu64 " more readings outside the period or of another plot "
                    "(checked, not counted)\n",
                    d->elsewhere);
        if (d->interval_count) {
            qsort(d->intervals, d->interval_count, sizeof *d->intervals, compare_i64);
            int64_t median = d->intervals[d->interval_count / 2];
            fprintf(out, "  median interval ");
            print_duration(out, median);
            if (median > 0) {
                double expected = (double)(vs->to_ns - vs->from_ns) / (double)median;
                double coverage = 100.0 * (double)d->readings / expected;
                fprintf(out,
                        ", coverage %.1f%% of the period (%" PRIu64
                        " polls of about %.0f expected)",
                        coverage > 100 ? 100.0 : coverage, d->readings, expected);
            }
            fprintf(out, "\n");
        }
        if (d->readings) {
            utc_text(d->first_ns, a);
            utc_text(d->last_ns, b);
            fprintf(out, "  first %s, last %s\n", a, b);
        }
        for (size_t k = 0; k < d->field_count; k++) {
            const field_stats *f = &d->fields[k];
            fprintf(out, "  %-20s %-8s n=%-6" PRIu64 " min %g  mean %g  max %g", f->name,
                    f->unit[0] ? f->unit : "-", f->count, f->min,
                    f->count ? f->sum / (double)f->count : NAN, f->max);
            if (f->out_of_range)
                fprintf(out, "  (%" PRIu64 " out of range)", f->out_of_range);
            fprintf(out, "\n");
        }
    }
    fprintf(out, "\nGaps and events:\n");
    if (!vs->events.count)
        fprintf(out, "  (none)\n");
    event_ref *order = malloc((vs->events.count ? vs->events.count : 1) * sizeof *order);
    for (size_t i = 0; order && i < vs->events.count; i++)
        order[i] = (event_ref){vs->events.items[i], i};
    if (order)
        qsort(order, vs->events.count, sizeof *order, compare_events);
    for (size_t i = 0; i < vs->events.count; i++)
        fprintf(out, "  %s\n", order ? order[i].text : vs->events.items[i]);
    free(order);
}

static void verify_state_free(verify_state *vs)
{
    free(vs->gateway);
    free(vs->plot);
    free(vs->base);
    free(vs->crop);
    head_list_free(&vs->chains);
    head_list_free(&vs->opening);
    head_list_free(&vs->last_seal);
    text_list_free(&vs->households);
    text_list_free(&vs->events);
    text_list_free(&vs->problems);
    for (size_t i = 0; i < vs->device_count; i++) {
        device_stats *d = &vs->devices[i];
        free(d->device);
        free(d->chain);
        free(d->intervals);
        for (size_t k = 0; k < d->field_count; k++) {
            free(d->fields[k].name);
            free(d->fields[k].unit);
        }
        free(d->fields);
    }
    free(vs->devices);
}

/* The value after "NAME " on a header line, or NULL. */
static const char *header_value(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) || line[n] != ' ' || !line[n + 1])
        return NULL;
    return line + n + 1;
}

static bool parse_u64(const char *s, const char **end, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *e;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno)
        return false;
    *out = v;
    *end = e;
    return true;
}

selgw_err selgw_evidence_verify(const char *path, const char *pubkey_text, FILE *out)
{
    if (!out)
        out = stdout;
    if (!path) {
        fprintf(out, "NOT VERIFIED: no bundle given\n");
        return SELGW_ERR_INVALID;
    }
    if (sodium_init() < 0) {
        fprintf(out, "NOT VERIFIED: libsodium cannot be initialised\n");
        return SELGW_ERR_IO;
    }
    verify_state vs;
    memset(&vs, 0, sizeof vs);
    vs.out = out;
    uint8_t given[SELGW_PUBLIC_KEY_BYTES];
    if (pubkey_text) {
        if (!selgw_public_key_parse(pubkey_text, given)) {
            fprintf(out, "NOT VERIFIED: the given key is not ed25519:<64 hex digits>: %s\n",
                    pubkey_text);
            return SELGW_ERR_INVALID;
        }
        vs.key_given = true;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(out, "NOT VERIFIED: %s: %s\n", path, strerror(errno));
        return SELGW_ERR_IO;
    }
    selgw_record *rec = malloc(sizeof *rec);
    uint8_t *payload = malloc(SELGW_RECORD_MAX_PAYLOAD);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t n;
    uint64_t line_no = 0;
    bool header_ok = false, ended = false;
    char key_text[SELGW_PUBLIC_KEY_TEXT_SIZE] = "";
    if (!rec || !payload)
        vs.nomem = true;
    static const char *const header_names[] = {"public-key", "gateway", "plot", "from", "to"};
    while (!vs.nomem && (n = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        if (n == 0 || line[n - 1] != '\n') {
            problem(&vs, "line %" PRIu64 ": the last line has no newline: the file is cut off",
                    line_no);
        } else {
            line[--n] = '\0';
        }
        if (line_no == 1) {
            if (strcmp(line, BUNDLE_MAGIC)) {
                problem(&vs, "line 1: not a selgw evidence bundle (expected \"%s\")", BUNDLE_MAGIC);
                break;
            }
            continue;
        }
        if (line_no <= 6) {
            const char *name = header_names[line_no - 2];
            const char *v = header_value(line, name);
            bool ok = v != NULL;
            if (ok && line_no == 2) {
                ok = selgw_public_key_parse(v, vs.pk);
                snprintf(key_text, sizeof key_text, "%s", v);
            } else if (ok && line_no == 3) {
                ok = (vs.gateway = strdup(v)) != NULL;
            } else if (ok && line_no == 4) {
                ok = (vs.plot = strdup(v)) != NULL &&
                     (size_t)snprintf(vs.plot_chain, sizeof vs.plot_chain, "plot/%s", v) <
                         sizeof vs.plot_chain;
            } else if (ok && line_no == 5) {
                ok = parse_instant(v, &vs.from_ns);
            } else if (ok && line_no == 6) {
                ok = parse_instant(v, &vs.to_ns) && vs.to_ns > vs.from_ns;
            }
            if (!ok) {
                problem(&vs, "line %" PRIu64 ": expected \"%s <%s>\"", line_no, name,
                        line_no == 2   ? "ed25519:64 hex digits"
                        : line_no >= 5 ? "YYYY-MM-DDTHH:MM:SS[.fraction]Z, from before to"
                                       : "id");
                break;
            }
            if (line_no == 6) {
                header_ok = true;
                if (vs.key_given) {
                    if (memcmp(given, vs.pk, SELGW_PUBLIC_KEY_BYTES)) {
                        problem(&vs, "bundle key differs from the given key");
                        selgw_public_key_format(given, key_text);
                    }
                    memcpy(vs.pk, given, SELGW_PUBLIC_KEY_BYTES);
                }
            }
            continue;
        }
        if (ended) {
            problem(&vs, "line %" PRIu64 ": text after the end line", line_no);
            break;
        }
        uint64_t jseq, count;
        const char *end;
        if (!strncmp(line, "end ", 4)) {
            if (!parse_u64(line + 4, &end, &count) || *end)
                problem(&vs, "line %" PRIu64 ": expected \"end <number of records>\"", line_no);
            else if (count != vs.records)
                problem(&vs,
                        "the end line says %" PRIu64 " records, the bundle has %" PRIu64
                        ": lines were added or removed",
                        count, vs.records);
            ended = true;
            continue;
        }
        if (strncmp(line, "record ", 7) || !parse_u64(line + 7, &end, &jseq) || *end != ' ') {
            problem(&vs, "line %" PRIu64 ": expected \"record <seq> <base64>\" or \"end <n>\"",
                    line_no);
            continue;
        }
        const char *b64 = end + 1;
        size_t bin_len = 0;
        const char *b64_end = NULL;
        if (sodium_base642bin(payload, SELGW_RECORD_MAX_PAYLOAD, b64, strlen(b64), NULL, &bin_len,
                              &b64_end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
            *b64_end) {
            vs.records++;
            problem(&vs, "record %" PRIu64 ": the payload is not valid base64 (or too long)", jseq);
            continue;
        }
        verify_record(&vs, jseq, payload, bin_len, rec);
    }
    if (ferror(f))
        problem(&vs, "%s: read error: %s", path, strerror(errno));
    fclose(f);
    free(line);
    free(payload);
    free(rec);

    if (!vs.nomem && !header_ok && !vs.problem_count)
        problem(&vs, "the header is incomplete: the file is cut off");
    if (!vs.nomem && header_ok) {
        if (!ended)
            problem(&vs, "no end line: the bundle is cut off");
        if (!vs.last_was_seal) {
            problem(&vs, "the bundle does not end with a seal: its last records are covered by "
                         "no signature (cut off?)");
        } else {
            check_seal_heads(&vs, true);
            vs.pending_seal = false;
        }
        char a[48], b[48];
        if (vs.have_opening && vs.opening_time > vs.from_ns) {
            utc_text(vs.opening_time, a);
            format_instant(vs.from_ns, b);
            problem(&vs,
                    "seals do not cover the period: the opening seal is of %s, after its "
                    "start %s",
                    a, b);
        }
        if (vs.last_was_seal && vs.last_seal_time < vs.to_ns) {
            utc_text(vs.last_seal_time, a);
            format_instant(vs.to_ns, b);
            problem(&vs,
                    "seals do not cover the period: the closing seal is of %s, before its "
                    "end %s",
                    a, b);
        }
        for (size_t i = 0; i < vs.device_count; i++)
            end_failed_run(&vs, &vs.devices[i]);
        if (!vs.nomem)
            print_summary(&vs, key_text);
    }
    if (vs.nomem) {
        fprintf(out, "NOT VERIFIED: out of memory while verifying\n");
        verify_state_free(&vs);
        return SELGW_ERR_NOMEM;
    }
    selgw_err result = SELGW_OK;
    if (vs.problem_count) {
        fprintf(out, "\nProblems:\n");
        for (size_t i = 0; i < vs.problems.count; i++)
            fprintf(out, "  %s\n", vs.problems.items[i]);
        if (vs.problem_count > vs.problems.count)
            fprintf(out, "  ... and %" PRIu64 " more\n", vs.problem_count - vs.problems.count);
        fprintf(out, "NOT VERIFIED: %" PRIu64 " problem%s\n", vs.problem_count,
                vs.problem_count == 1 ? "" : "s");
        result = SELGW_ERR_CORRUPT;
    } else {
        fprintf(out,
                "\nVERIFIED: %" PRIu64 " records in %zu chains and %" PRIu64
                " seals: every signature valid, nothing edited, removed, added or reordered "
                "between the seals, which cover the period\n",
                vs.records, vs.chains.count, vs.seals);
    }
    verify_state_free(&vs);
    return result;
}
