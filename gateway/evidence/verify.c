/* `selgw verify`: an evidence bundle checked offline, and the summary an auditor reads. The
 * bundle format and what it proves are specified in docs/EVIDENCE.md; keep the two in
 * step.
 *
 * Everything in a bundle is data from someone else: every string it prints is escaped
 * (safe_text.h), so that no record can draw a line of its own, and every lookup is by a
 * keyed hash (strmap.h), so that crafted names cannot make verification slow. */
#include "evidence/evidence.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/clock.h"
#include "evidence/bundle.h"
#include "evidence/bundle_io.h"
#include "evidence/geo.h"
#include "evidence/keys.h"
#include "evidence/witness.h"
#include "evidence/lot.h"
#include "evidence/provenance.h"
#include "evidence/report.h"
#include "journal/record.h"
#include "base/safe_text.h"
#include "base/strmap.h"
#include "base/text_writer.h"

#define HASH SELGW_RECORD_HASH_BYTES
#define MAX_PROBLEMS_LISTED 20
#define HASH_PREFIX_BYTES 8        /* a seal is named by the first 16 hex digits of its hash */
#define MAX_FIELDS_PER_DEVICE 1024 /* a profile has at most SELGW_READING_MAX_FIELDS */
/* Daily statistics for the report are kept for periods of at most this many local days
 * (about three years): fixed memory per device, field and day. */
#define MAX_REPORT_DAYS 1100
#define DEFAULT_UTC_OFFSET_MINUTES (8 * 60) /* China, as the config's default */

static const uint8_t zero_hash[HASH];

/* ---- lists of text ------------------------------------------------------------------- */

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

static bool text_list_take(text_list *l, char *s)
{
    if (!s)
        return false;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) {
            free(s);
            return false;
        }
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = s;
    return true;
}

static bool text_list_add(text_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool text_list_add(text_list *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n >= 0 && text_list_take(l, s);
}

/* ---- what the verifier keeps ------------------------------------------------------------- */

typedef enum chain_kind { CHAIN_OTHER, CHAIN_DEVICE, CHAIN_PLOT, CHAIN_GATEWAY } chain_kind;

/* A chain the bundle holds records of, followed record by record. */
typedef struct vchain {
    char *shown; /* its name, escaped */
    chain_kind kind;
    uint64_t pos;
    uint8_t head[HASH];
    uint64_t last_jseq;
    bool has_reading;
    int64_t last_reading_ns;
    uint64_t last_reading_jseq;
    uint64_t seal_mark; /* the number of the last seal that named it */
} vchain;

/* A head a seal names. */
typedef struct named_head {
    uint64_t pos;
    uint8_t head[HASH];
} named_head;

/* One local day of a field, for the report. */
typedef struct day_stats {
    uint64_t count;
    double min, max, sum;
} day_stats;

typedef struct field_stats {
    char *name, *unit; /* escaped */
    uint64_t count, out_of_range;
    double min, max, sum;
    day_stats *days; /* with a report: one per day of the period, from vs->first_day */
} field_stats;

typedef struct device_stats {
    char *shown, *chain_shown; /* escaped */
    uint64_t readings, ok, failed, other_plot, outside;
    int64_t first_ns, last_ns;
    int64_t *intervals; /* between consecutive readings in the period, for the median */
    size_t interval_count, interval_cap;
    field_stats *fields;
    size_t field_count, field_cap;
    selgw_strmap *field_index;
    size_t *order; /* fields[] index of field i of the last reading */
    size_t order_count, order_cap;
    bool too_many_fields;
    /* worked out once at the end, for the console and the report */
    bool has_median;
    int64_t median_ns;
    double expected, coverage;
    /* the run of failed polls in progress */
    bool in_failed_run;
    int64_t run_from, run_to;
    uint64_t run_polls;
    char run_status[64];
} device_stats;

typedef struct tags_entry {
    int64_t time_ns;
    uint64_t jseq;
    selgw_tags *tags;
} tags_entry;

typedef enum key_source { KEY_BUNDLE, KEY_GIVEN, KEY_REGISTERED } key_source;

/* A gap or event: its line on the console ("<UTC time>  <what>") and the same fact for
 * the report, noted once. */
typedef struct vevent {
    char *line;
    size_t index; /* in the order noted: equal times stay in bundle order */
    selgw_report_event fact;
} vevent;

/* A seal of the bundle, for the witness statements that name it. */
typedef struct vseal {
    uint64_t chain_seq, jseq;
    uint8_t hash[HASH];
    int64_t time_ns;
    bool witnessed; /* by a trusted witness */
} vseal;

typedef struct verify_state {
    FILE *out;
    const selgw_verify_options *opt;
    const char *name;
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    key_source key_from;
    char key_label[160]; /* escaped */
    char fingerprint[SELGW_KEY_FINGERPRINT_SIZE];
    char bundle_hash[SELGW_BUNDLE_HASH_TEXT_SIZE]; /* "" when the stream gives none */
    char *gateway, *plot;                          /* header: ids, checked */
    int64_t from_ns, to_ns;
    char plot_chain[160];

    uint64_t records; /* record lines read */
    uint64_t last_jseq;
    vchain *chains;
    size_t chain_count, chain_cap;
    selgw_strmap *chain_index;
    size_t followed; /* chains other than the gateway's */

    /* the opening seal: the first gateway record, if a seal */
    bool have_opening;
    int64_t opening_time;
    uint64_t opening_jseq;
    named_head *opening_heads;
    size_t opening_count;
    selgw_strmap *opening_index;
    selgw_strmap *seal_index; /* the latest seal's heads, made when first asked */
    uint64_t *seal_positions;
    uint64_t seal_index_jseq; /* the seal they are of */

    /* the latest seal: compared with the chains when the next record shows it was not the
     * last one, or at the end */
    uint8_t *seal_payload;
    size_t seal_len;
    selgw_record *seal_rec;
    bool pending_seal, last_was_seal, gateway_seen;
    uint64_t seals, seal_number;
    int64_t last_seal_time;
    bool last_seal_has_covers;
    int64_t last_seal_covers; /* every poll begun before it is before the seal */
    uint64_t last_seal_jseq;
    uint8_t last_seal_hash[HASH];

    /* times (docs/EVIDENCE.md, "Times") */
    uint64_t last_step_jseq; /* the last CLOCK record saying the clock stepped back */
    int64_t max_time_since_seal;
    uint64_t max_time_jseq;
    int run_state; /* -1 unknown, 0 stopped, 1 running: to tell a crash */
    int64_t last_record_ns;

    /* summary */
    text_list households;
    selgw_strmap *household_index;
    char *last_households; /* the last reading's households, to skip repeats quickly */
    size_t last_households_len;
    vevent *events;
    size_t event_count, event_cap;
    uint64_t clock_records;
    bool clock_synchronised;
    device_stats *devices;
    size_t device_count, device_cap;
    selgw_strmap *device_index;
    tags_entry *tags;
    size_t tag_count, tag_cap;
    uint64_t period_readings;

    /* with a report: local days of the period for daily statistics */
    bool report;
    bool report_zh;          /* the report is in Chinese: the TAGS facts are too */
    int tags_offset_minutes; /* the latest tags' utc_offset, or the default */
    bool days_fixed, days_kept;
    int utc_offset_minutes;
    int32_t first_day, day_count;
    /* the lot the bundle is a section of (opt->lot): its LOT record in the plot chain */
    const char *want_lot;
    char *lot_text; /* as recorded, NUL-terminated */
    size_t lot_len;
    uint64_t lot_jseq;
    int64_t lot_time_ns;

    /* witnessed seals (docs/EVIDENCE.md, "Witnessed seals") */
    vseal *vseals;
    size_t vseal_count, vseal_cap;
    uint64_t statements, untrusted_statements, unjudged_statements;
    uint64_t gateway_first_seq;  /* the bundle's first position in the gateway chain */
    int64_t latest_witnessed_ns; /* the latest seal witnessed by a trusted witness */
    char latest_witness[SELGW_KEY_FINGERPRINT_SIZE];
    int64_t latest_witnessed_seal_ns;
    text_list warnings;
    /* the last witness key judged, so that a season's statements (one per seal, almost
     * always by one witness) read the keys files once */
    bool judged;
    uint8_t judged_key[SELGW_PUBLIC_KEY_BYTES];
    bool judged_trusted;
    char judged_label[128];

    text_list problems;
    uint64_t problem_count;
    bool nomem;
    char failure[800]; /* why verification could not be done at all, as printed */
} verify_state;

/* ---- problems ---------------------------------------------------------------------------- */

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
    if (n < 0 || !text_list_take(&vs->problems, s))
        vs->nomem = true;
}

/* A record's chain name, escaped, for messages (into buf). */
static const char *shown_chain(const selgw_record *rec, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    selgw_text_escape(buf, cap, &len, rec->chain.ptr, rec->chain.len);
    if (len >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
    return buf;
}

/* "record 17 (chain device/soil-1, position 5): what" */
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
    char chain[200];
    if (rec && rec->chained)
        problem(vs, "record %" PRIu64 " (chain %s, position %" PRIu64 "): %s", jseq,
                shown_chain(rec, chain, sizeof chain), rec->chain_seq, what);
    else
        problem(vs, "record %" PRIu64 ": %s", jseq, what);
    free(what);
}

static char *shown(selgw_str s)
{
    return selgw_text_escape_dup(s.ptr, s.len);
}

static char *shown_text(const char *s)
{
    return selgw_text_escape_dup(s ? s : "", s ? strlen(s) : 0);
}

static bool str_is(selgw_str s, const char *text)
{
    size_t n = strlen(text);
    return s.len == n && (n == 0 || !memcmp(s.ptr, text, n));
}

static void hex_prefix(const uint8_t *hash, char out[2 * HASH_PREFIX_BYTES + 1])
{
    sodium_bin2hex(out, 2 * HASH_PREFIX_BYTES + 1, hash, HASH_PREFIX_BYTES);
}

/* ---- gaps and events ----------------------------------------------------------------------- */

/* Notes an event: its console line (formatted) and its fact, whose strings it takes. */
static void event_add(verify_state *vs, selgw_report_event *fact, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void event_add(verify_state *vs, selgw_report_event *fact, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n >= 0 && vs->event_count == vs->event_cap) {
        size_t cap = vs->event_cap ? vs->event_cap * 2 : 16;
        vevent *grown = realloc(vs->events, cap * sizeof *grown);
        if (grown) {
            vs->events = grown;
            vs->event_cap = cap;
        }
    }
    if (n < 0 || vs->event_count == vs->event_cap) {
        if (n >= 0)
            free(line);
        selgw_report_event_clear(fact);
        vs->nomem = true;
        return;
    }
    vs->events[vs->event_count] = (vevent){line, vs->event_count, *fact};
    vs->event_count++;
}

/* A copy for a fact (NULL stays NULL); out of memory is noted. */
static char *fact_text(verify_state *vs, const char *s)
{
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        vs->nomem = true;
    return copy;
}

/* ---- chains -------------------------------------------------------------------------------- */

static vchain *chain_find(const verify_state *vs, selgw_str name)
{
    size_t i;
    return selgw_strmap_get(vs->chain_index, name.ptr, name.len, &i) ? &vs->chains[i] : NULL;
}

static vchain *chain_add(verify_state *vs, const selgw_record *rec)
{
    if (vs->chain_count == vs->chain_cap) {
        size_t cap = vs->chain_cap ? vs->chain_cap * 2 : 16;
        vchain *grown = realloc(vs->chains, cap * sizeof *grown);
        if (!grown)
            return NULL;
        vs->chains = grown;
        vs->chain_cap = cap;
    }
    vchain *c = &vs->chains[vs->chain_count];
    memset(c, 0, sizeof *c);
    c->shown = shown(rec->chain);
    if (!c->shown || selgw_strmap_put(vs->chain_index, rec->chain.ptr, rec->chain.len,
                                      vs->chain_count) != SELGW_OK) {
        free(c->shown);
        return NULL;
    }
    if (str_is(rec->chain, "gateway"))
        c->kind = CHAIN_GATEWAY;
    else if (str_is(rec->chain, vs->plot_chain))
        c->kind = CHAIN_PLOT;
    else if (rec->chain.len > 7 && !memcmp(rec->chain.ptr, "device/", 7))
        c->kind = CHAIN_DEVICE;
    if (c->kind != CHAIN_GATEWAY)
        vs->followed++;
    vs->chain_count++;
    return c;
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
    case SELGW_RECORD_ALERT:
    case SELGW_RECORD_LOT:
        return rec->chain.len == 5 + rec->plot.len && !memcmp(rec->chain.ptr, "plot/", 5) &&
               !memcmp(rec->chain.ptr + 5, rec->plot.ptr, rec->plot.len) &&
               str_is(rec->chain, plot_chain);
    default:
        return str_is(rec->chain, "gateway");
    }
}

static selgw_err opening_from_seal(verify_state *vs, const selgw_record *seal)
{
    vs->opening_heads = calloc(seal->seal_count ? seal->seal_count : 1, sizeof *vs->opening_heads);
    if (!vs->opening_heads)
        return SELGW_ERR_NOMEM;
    selgw_str name;
    uint64_t pos;
    const uint8_t *head;
    for (size_t off = 0; selgw_record_seal_next(seal, &off, &name, &pos, &head);) {
        size_t i;
        if (selgw_strmap_get(vs->opening_index, name.ptr, name.len, &i))
            continue; /* named twice: the first counts; the seal check says so */
        vs->opening_heads[vs->opening_count] = (named_head){pos, {0}};
        memcpy(vs->opening_heads[vs->opening_count].head, head, HASH);
        if (selgw_strmap_put(vs->opening_index, name.ptr, name.len, vs->opening_count) != SELGW_OK)
            return SELGW_ERR_NOMEM;
        vs->opening_count++;
    }
    return SELGW_OK;
}

static const named_head *opening_head(const verify_state *vs, const char *name, size_t len)
{
    size_t i;
    if (!vs->have_opening || !selgw_strmap_get(vs->opening_index, name, len, &i))
        return NULL;
    return &vs->opening_heads[i];
}

/* Compares the heads the latest seal named with where the bundle's chains are. */
static void check_seal_heads(verify_state *vs, bool closing)
{
    const selgw_record *seal = vs->seal_rec;
    uint64_t mark = ++vs->seal_number;
    size_t named = 0;
    selgw_str name;
    uint64_t pos;
    const uint8_t *head;
    for (size_t off = 0; selgw_record_seal_next(seal, &off, &name, &pos, &head);) {
        vchain *c = chain_find(vs, name);
        if (!c || c->kind == CHAIN_GATEWAY)
            continue; /* a seal is itself the gateway chain's head */
        if (c->seal_mark == mark) {
            problem(vs, "record %" PRIu64 " (seal): it names chain %s twice", vs->last_seal_jseq,
                    c->shown);
            continue;
        }
        c->seal_mark = mark;
        named++;
        if (pos == c->pos && !memcmp(head, c->head, HASH))
            continue;
        if (closing)
            problem(vs,
                    "chain %s ends at position %" PRIu64 " (record %" PRIu64
                    "), the closing seal (record %" PRIu64 ") names position %" PRIu64 "%s: %s",
                    c->shown, c->pos, c->last_jseq, vs->last_seal_jseq, pos,
                    pos == c->pos ? " with another hash" : "",
                    pos == c->pos ? "that record was altered"
                                  : "records missing or added at the end");
        else
            problem(vs,
                    "record %" PRIu64 " (seal): it names position %" PRIu64
                    " of chain %s%s, but the bundle is at position %" PRIu64 " (record %" PRIu64
                    ") there",
                    vs->last_seal_jseq, pos, c->shown, pos == c->pos ? " with another hash" : "",
                    c->pos, c->last_jseq);
    }
    if (named == vs->followed)
        return;
    if (vs->problems.count >= MAX_PROBLEMS_LISTED) {
        /* counted, not listed: no walk over every chain for every seal of a bad bundle */
        vs->problem_count += vs->followed - named;
        return;
    }
    for (size_t i = 0; i < vs->chain_count; i++) {
        const vchain *c = &vs->chains[i];
        if (c->kind != CHAIN_GATEWAY && c->seal_mark != mark)
            problem(vs,
                    "record %" PRIu64 " (seal): it does not name chain %s, which the bundle holds",
                    vs->last_seal_jseq, c->shown);
    }
}

/* The position the latest seal (at the end: the closing seal) names for chain `name`;
 * false (and 0) if it names none. Its heads are indexed once, when first asked about, not
 * walked for every chain asked about. */
static bool seal_head(verify_state *vs, const char *name, size_t len, uint64_t *pos)
{
    *pos = 0;
    if (vs->seal_index_jseq != vs->last_seal_jseq || !vs->seal_index) {
        const selgw_record *seal = vs->seal_rec;
        selgw_strmap_free(vs->seal_index);
        vs->seal_index = NULL;
        free(vs->seal_positions);
        vs->seal_positions =
            calloc(seal->seal_count ? seal->seal_count : 1, sizeof *vs->seal_positions);
        if (!vs->seal_positions || selgw_strmap_new(&vs->seal_index) != SELGW_OK) {
            vs->nomem = true;
            return false;
        }
        vs->seal_index_jseq = vs->last_seal_jseq;
        selgw_str entry;
        uint64_t at;
        const uint8_t *head;
        size_t n = 0, i;
        for (size_t off = 0; selgw_record_seal_next(seal, &off, &entry, &at, &head);) {
            if (selgw_strmap_get(vs->seal_index, entry.ptr, entry.len, &i))
                continue; /* named twice: the first counts, as for the opening seal */
            if (selgw_strmap_put(vs->seal_index, entry.ptr, entry.len, n) != SELGW_OK) {
                vs->nomem = true;
                return false;
            }
            vs->seal_positions[n++] = at;
        }
    }
    size_t i;
    if (!selgw_strmap_get(vs->seal_index, name, len, &i))
        return false;
    *pos = vs->seal_positions[i];
    return true;
}

static bool closing_head(verify_state *vs, const char *name, uint64_t *pos)
{
    return seal_head(vs, name, strlen(name), pos);
}

/* ---- readings ------------------------------------------------------------------------------ */

static device_stats *device_for(verify_state *vs, const selgw_record *rec)
{
    size_t i;
    if (selgw_strmap_get(vs->device_index, rec->device.ptr, rec->device.len, &i))
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
    d->shown = shown(rec->device);
    d->chain_shown = shown(rec->chain);
    if (!d->shown || !d->chain_shown || selgw_strmap_new(&d->field_index) != SELGW_OK ||
        selgw_strmap_put(vs->device_index, rec->device.ptr, rec->device.len, vs->device_count) !=
            SELGW_OK) {
        free(d->shown);
        free(d->chain_shown);
        selgw_strmap_free(d->field_index);
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
    selgw_format_utc(d->run_from, a);
    selgw_format_utc(d->run_to, b);
    selgw_report_event fact = {.kind = SELGW_REPORT_FAILED_POLLS,
                               .time_ns = d->run_from,
                               .device = fact_text(vs, d->shown),
                               .status = fact_text(vs, d->run_status),
                               .polls = d->run_polls,
                               .until_ns = d->run_to};
    if (d->run_polls == 1)
        event_add(vs, &fact, "%s  device %s: failed poll: %s", a, d->shown, d->run_status);
    else
        event_add(vs, &fact, "%s  device %s: %" PRIu64 " failed polls until %s: %s", a, d->shown,
                  d->run_polls, b, d->run_status);
    d->in_failed_run = false;
}

static void note_households(verify_state *vs, const selgw_record *rec)
{
    /* Consecutive readings nearly always name the same households: compare them whole. */
    size_t need = 0;
    for (size_t i = 0; i < rec->household_count; i++)
        need += rec->households[i].household.len + rec->households[i].contract.len + 2;
    if (vs->last_households && need == vs->last_households_len) {
        const char *p = vs->last_households;
        bool same = true;
        for (size_t i = 0; same && i < rec->household_count; i++) {
            const selgw_record_household *h = &rec->households[i];
            same = !memcmp(p, h->household.ptr, h->household.len) && p[h->household.len] == 0 &&
                   !memcmp(p + h->household.len + 1, h->contract.ptr, h->contract.len);
            p += h->household.len + h->contract.len + 2;
        }
        if (same)
            return;
    }
    char *key = malloc(need ? need : 1);
    if (!key) {
        vs->nomem = true;
        return;
    }
    char *p = key;
    for (size_t i = 0; i < rec->household_count; i++) {
        const selgw_record_household *h = &rec->households[i];
        memcpy(p, h->household.ptr, h->household.len);
        p[h->household.len] = 0;
        memcpy(p + h->household.len + 1, h->contract.ptr, h->contract.len);
        p[h->household.len + 1 + h->contract.len] = 0;
        size_t one = h->household.len + h->contract.len + 2, seen;
        if (!selgw_strmap_get(vs->household_index, p, one, &seen)) {
            char *hh = shown(h->household), *ct = shown(h->contract);
            if (!hh || !ct || selgw_strmap_put(vs->household_index, p, one, 0) != SELGW_OK ||
                !text_list_add(&vs->households, "%s (contract %s)", hh, ct))
                vs->nomem = true;
            free(hh);
            free(ct);
        }
        p += one;
    }
    free(vs->last_households);
    vs->last_households = key;
    vs->last_households_len = need;
}

static field_stats *field_for(verify_state *vs, device_stats *d, size_t i,
                              const selgw_record_field *f)
{
    /* Field i is nearly always where it was in the device's last reading. */
    if (i < d->order_count && d->order[i] < d->field_count) {
        field_stats *fs = &d->fields[d->order[i]];
        if (strlen(fs->name) == f->name.len && !memcmp(fs->name, f->name.ptr, f->name.len))
            return fs;
    }
    size_t k;
    if (!selgw_strmap_get(d->field_index, f->name.ptr, f->name.len, &k)) {
        if (d->field_count >= MAX_FIELDS_PER_DEVICE) {
            d->too_many_fields = true;
            return NULL;
        }
        if (d->field_count == d->field_cap) {
            size_t cap = d->field_cap ? d->field_cap * 2 : 8;
            field_stats *grown = realloc(d->fields, cap * sizeof *grown);
            if (!grown) {
                vs->nomem = true;
                return NULL;
            }
            d->fields = grown;
            d->field_cap = cap;
        }
        field_stats *fs = &d->fields[d->field_count];
        memset(fs, 0, sizeof *fs);
        fs->name = shown(f->name);
        fs->unit = shown(f->unit);
        if (!fs->name || !fs->unit ||
            selgw_strmap_put(d->field_index, f->name.ptr, f->name.len, d->field_count) !=
                SELGW_OK) {
            free(fs->name);
            free(fs->unit);
            vs->nomem = true;
            return NULL;
        }
        fs->min = INFINITY;
        fs->max = -INFINITY;
        k = d->field_count++;
    }
    if (i >= d->order_cap) {
        size_t cap = d->order_cap ? d->order_cap * 2 : 8;
        while (cap <= i)
            cap *= 2;
        size_t *grown = realloc(d->order, cap * sizeof *grown);
        if (!grown) {
            vs->nomem = true;
            return &d->fields[k];
        }
        for (size_t n = d->order_cap; n < cap; n++)
            grown[n] = SIZE_MAX; /* no field seen there yet (read_failed fields are skipped) */
        d->order = grown;
        d->order_cap = cap;
    }
    d->order[i] = k;
    if (i + 1 > d->order_count)
        d->order_count = i + 1;
    return &d->fields[k];
}

/* The local days of the period, at the utc_offset of the tags seen before the period's
 * first reading (+08:00 when they give none): fixed once, so that every reading of a field
 * falls on the same days. */
static void fix_days(verify_state *vs)
{
    vs->days_fixed = true;
    vs->utc_offset_minutes = vs->tags_offset_minutes;
    vs->first_day = selgw_local_day(vs->from_ns, vs->utc_offset_minutes);
    int64_t count =
        (int64_t)selgw_local_day(vs->to_ns - 1, vs->utc_offset_minutes) - vs->first_day + 1;
    vs->days_kept = count >= 1 && count <= MAX_REPORT_DAYS;
    vs->day_count = vs->days_kept ? (int32_t)count : 0;
}

static void count_day(verify_state *vs, field_stats *fs, int64_t day, double value)
{
    if (day < 0 || day >= vs->day_count)
        return;
    if (!fs->days && !(fs->days = calloc((size_t)vs->day_count, sizeof *fs->days))) {
        vs->nomem = true;
        return;
    }
    day_stats *d = &fs->days[day];
    if (!d->count || value < d->min)
        d->min = value;
    if (!d->count || value > d->max)
        d->max = value;
    d->sum += value;
    d->count++;
}

static void count_reading(verify_state *vs, const selgw_record *rec)
{
    device_stats *d = device_for(vs, rec);
    if (!d) {
        vs->nomem = true;
        return;
    }
    if (!str_is(rec->plot, vs->plot)) {
        d->other_plot++;
        return;
    }
    if (rec->time_ns < vs->from_ns || rec->time_ns >= vs->to_ns) {
        d->outside++;
        return;
    }
    vs->period_readings++;
    if (vs->report && !vs->days_fixed)
        fix_days(vs);
    int64_t day = vs->days_kept ? (int64_t)selgw_local_day(rec->time_ns, vs->utc_offset_minutes) -
                                      vs->first_day
                                : -1;
    note_households(vs, rec);
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
        field_stats *fs = field_for(vs, d, i, f);
        if (!fs)
            continue;
        fs->count++;
        if (f->quality == SELGW_QUALITY_OUT_OF_RANGE)
            fs->out_of_range++;
        if (isfinite(f->value)) {
            fs->sum += f->value;
            if (f->value < fs->min)
                fs->min = f->value;
            if (f->value > fs->max)
                fs->max = f->value;
            if (day >= 0)
                count_day(vs, fs, day, f->value);
        }
    }
}

/* ---- events ------------------------------------------------------------------------------- */

/* A TAGS record as people read it: "crop tea; households ...; devices ...", or in Chinese
 * for a zh report ("作物 tea；农户 ...；设备 ..."). */
typedef struct tags_words {
    const char *crop, *households, *none, *list_sep, *open, *contract_sep, *since, *close, *devices,
        *on, *unit, *part_sep;
} tags_words;

static const tags_words tags_en = {"crop ", "; households ", "(none)", ", ",     " (", ", ", "..",
                                   ")",     "; devices ",    " on ",   " unit ", "; "};
static const tags_words tags_zh = {"作物 ",  "；农户 ", "（无）",  "、",      "（合同 ", "，",
                                   " 起至 ", "）",      "；设备 ", "，总线 ", "，地址 ", "；"};

static char *describe_tags(const selgw_tags *t, bool zh)
{
    const tags_words *w = zh ? &tags_zh : &tags_en;
    size_t need = 0;
    char *buf = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t cap = pass ? need + 1 : 0, len = 0;
        if (pass && !(buf = malloc(cap)))
            return NULL;
        selgw_text_format(buf, cap, &len, "%s", w->crop);
        selgw_text_escape(buf, cap, &len, t->crop ? t->crop : "-", t->crop ? strlen(t->crop) : 1);
        selgw_text_format(buf, cap, &len, "%s", w->households);
        if (!t->household_count)
            selgw_text_format(buf, cap, &len, "%s", w->none);
        for (size_t i = 0; i < t->household_count; i++) {
            const selgw_tags_household *h = &t->households[i];
            selgw_text_format(buf, cap, &len, "%s", i ? w->list_sep : "");
            selgw_text_escape(buf, cap, &len, h->household, strlen(h->household));
            selgw_text_format(buf, cap, &len, "%s", w->open);
            selgw_text_escape(buf, cap, &len, h->contract, strlen(h->contract));
            selgw_text_format(buf, cap, &len, "%s", w->contract_sep);
            selgw_text_escape(buf, cap, &len, h->from, strlen(h->from));
            selgw_text_format(buf, cap, &len, "%s", w->since);
            if (h->to)
                selgw_text_escape(buf, cap, &len, h->to, strlen(h->to));
            else if (zh)
                selgw_text_format(buf, cap, &len, "今");
            selgw_text_format(buf, cap, &len, "%s", w->close);
        }
        selgw_text_format(buf, cap, &len, "%s", w->devices);
        if (!t->device_count)
            selgw_text_format(buf, cap, &len, "%s", w->none);
        for (size_t i = 0; i < t->device_count; i++) {
            const selgw_tags_device *d = &t->devices[i];
            selgw_text_format(buf, cap, &len, "%s", i ? w->list_sep : "");
            selgw_text_escape(buf, cap, &len, d->id, strlen(d->id));
            selgw_text_format(buf, cap, &len, "%s", zh ? "（" : " (");
            selgw_text_escape(buf, cap, &len, d->profile, strlen(d->profile));
            selgw_text_format(buf, cap, &len, "%s", w->on);
            selgw_text_escape(buf, cap, &len, d->bus, strlen(d->bus));
            selgw_text_format(buf, cap, &len, "%s%d", w->unit, d->unit_id);
            for (size_t k = 0; k < d->calibration_count; k++) {
                selgw_text_format(buf, cap, &len, "%s", w->part_sep);
                if (zh)
                    selgw_text_format(buf, cap, &len, "校准 ");
                selgw_text_escape(buf, cap, &len, d->calibration[k].field,
                                  strlen(d->calibration[k].field));
                selgw_text_format(buf, cap, &len, " x%.15g %+.15g", d->calibration[k].scale,
                                  d->calibration[k].offset);
            }
            selgw_text_format(buf, cap, &len, "%s", w->close);
        }
        need = len;
    }
    return buf;
}

static void note_tags(verify_state *vs, uint64_t jseq, const selgw_record *rec, const char *t)
{
    char why[200] = "";
    selgw_tags *tags = NULL;
    selgw_err err = selgw_tags_parse(rec->text.ptr, rec->text.len, &tags, why, sizeof why);
    if (err != SELGW_OK) {
        if (err == SELGW_ERR_NOMEM)
            vs->nomem = true;
        else
            record_problem(vs, jseq, rec, "the tags are %s", why);
        return;
    }
    if (!tags->plot || strcmp(tags->plot, vs->plot))
        record_problem(vs, jseq, rec, "the tags are of another plot");
    char *text = describe_tags(tags, false);
    char *shown = vs->report_zh ? describe_tags(tags, true) : text;
    if (!text || !shown) {
        vs->nomem = true;
        if (shown != text)
            free(shown);
        free(text);
    } else {
        selgw_report_event fact = {
            .kind = SELGW_REPORT_TAGS, .time_ns = rec->time_ns, .text = shown};
        event_add(vs, &fact, "%s  TAGS: %s", t, text);
        if (shown != text)
            free(text);
    }
    /* tags of gateways that did not record the offset give the default */
    if (!selgw_parse_utc_offset(tags->utc_offset, &vs->tags_offset_minutes))
        vs->tags_offset_minutes = DEFAULT_UTC_OFFSET_MINUTES;
    if (vs->tag_count == vs->tag_cap) {
        size_t cap = vs->tag_cap ? vs->tag_cap * 2 : 8;
        tags_entry *grown = realloc(vs->tags, cap * sizeof *grown);
        if (!grown) {
            selgw_tags_free(tags);
            vs->nomem = true;
            return;
        }
        vs->tags = grown;
        vs->tag_cap = cap;
    }
    vs->tags[vs->tag_count++] = (tags_entry){rec->time_ns, jseq, tags};
}

static bool text_starts(selgw_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && !memcmp(s.ptr, prefix, n);
}

/* A lot as people read it: "ZY-1 紫阳富硒茶, 120.5 kg; plots hw-p01 (season from
 * 2025-10-01, harvest 2026-04-01..2026-04-10); households ...; processing ...; refs ...". */
static char *describe_lot(const selgw_lot *l)
{
    size_t need = 0;
    char *buf = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t cap = pass ? need + 1 : 0, len = 0;
        if (pass && !(buf = malloc(cap)))
            return NULL;
        selgw_text_escape(buf, cap, &len, l->lot, strlen(l->lot));
        selgw_text_format(buf, cap, &len, " ");
        selgw_text_escape(buf, cap, &len, l->product, strlen(l->product));
        selgw_text_format(buf, cap, &len, ", %.15g ", l->quantity);
        selgw_text_escape(buf, cap, &len, l->unit, strlen(l->unit));
        selgw_text_format(buf, cap, &len, "; plots ");
        for (size_t i = 0; i < l->plot_count; i++) {
            const selgw_lot_plot *p = &l->plots[i];
            selgw_text_format(buf, cap, &len, "%s", i ? ", " : "");
            selgw_text_escape(buf, cap, &len, p->plot, strlen(p->plot));
            selgw_text_format(buf, cap, &len, " (season from %s, harvest %s..%s)", p->season_from,
                              p->harvest_from, p->harvest_to);
        }
        selgw_text_format(buf, cap, &len, "; households ");
        if (!l->household_count)
            selgw_text_format(buf, cap, &len, "(none)");
        for (size_t i = 0; i < l->household_count; i++) {
            selgw_text_format(buf, cap, &len, "%s", i ? ", " : "");
            selgw_text_escape(buf, cap, &len, l->households[i], strlen(l->households[i]));
        }
        if (l->processing) {
            selgw_text_format(buf, cap, &len, "; processing ");
            selgw_text_escape(buf, cap, &len, l->processing, strlen(l->processing));
        }
        for (size_t i = 0; i < l->ref_count; i++) {
            selgw_text_format(buf, cap, &len, "%s", i ? ", " : "; refs ");
            selgw_text_escape(buf, cap, &len, l->refs[i], strlen(l->refs[i]));
        }
        if (l->url) {
            selgw_text_format(buf, cap, &len, "; published at ");
            selgw_text_escape(buf, cap, &len, l->url, strlen(l->url));
        }
        need = len;
    }
    return buf;
}

/* A LOT record: its text must be a lot, of this record's id, naming this plot. The one of
 * the lot asked for (opt->lot) is kept for the checks at the end. */
static void note_lot(verify_state *vs, uint64_t jseq, const selgw_record *rec, const char *t)
{
    char why[200] = "";
    selgw_lot *lot = NULL;
    selgw_err err = selgw_lot_parse(rec->text.ptr, rec->text.len, &lot, why, sizeof why);
    if (err != SELGW_OK) {
        if (err == SELGW_ERR_NOMEM)
            vs->nomem = true;
        else
            record_problem(vs, jseq, rec, "the lot is %s", why);
        return;
    }
    bool names_plot = false;
    for (size_t i = 0; i < lot->plot_count; i++)
        names_plot = names_plot || !strcmp(lot->plots[i].plot, vs->plot);
    if (!str_is(rec->ref, lot->lot))
        record_problem(vs, jseq, rec, "the record's lot id is not the one in its text");
    if (!names_plot)
        record_problem(vs, jseq, rec, "the lot does not name plot %s, whose chain holds it",
                       vs->plot);
    char *text = describe_lot(lot);
    if (!text) {
        vs->nomem = true;
    } else {
        selgw_report_event fact = {.kind = SELGW_REPORT_LOT, .time_ns = rec->time_ns, .text = text};
        event_add(vs, &fact, "%s  LOT: %s", t, text); /* takes text */
    }
    if (vs->want_lot && !strcmp(lot->lot, vs->want_lot)) {
        if (vs->lot_text)
            record_problem(vs, jseq, rec,
                           "a second LOT record of lot %s (the first is record %" PRIu64 ")",
                           lot->lot, vs->lot_jseq);
        else if (!(vs->lot_text = strndup(rec->text.ptr, rec->text.len)))
            vs->nomem = true;
        vs->lot_len = rec->text.len;
        vs->lot_jseq = jseq;
        vs->lot_time_ns = rec->time_ns;
    }
    selgw_lot_free(lot);
}

static void note_event(verify_state *vs, uint64_t jseq, const selgw_record *rec,
                       const uint8_t *hash)
{
    char t[SELGW_UTC_TEXT_SIZE];
    selgw_format_utc(rec->time_ns, t);
    if (rec->type == SELGW_RECORD_SEAL) {
        memcpy(vs->last_seal_hash, hash, HASH);
        return;
    }
    if (rec->type == SELGW_RECORD_TAGS) {
        note_tags(vs, jseq, rec, t);
        return;
    }
    if (rec->type == SELGW_RECORD_LOT) {
        note_lot(vs, jseq, rec, t);
        return;
    }
    if (rec->type != SELGW_RECORD_START && rec->type != SELGW_RECORD_STOP &&
        rec->type != SELGW_RECORD_GAP && rec->type != SELGW_RECORD_CLOCK &&
        rec->type != SELGW_RECORD_ANNOTATION && rec->type != SELGW_RECORD_ALERT)
        return;
    char *text = shown(rec->text);
    if (!text) {
        vs->nomem = true;
        return;
    }
    selgw_report_event fact = {.time_ns = rec->time_ns, .text = text};
    switch (rec->type) {
    case SELGW_RECORD_START: {
        char seal[2 * HASH_PREFIX_BYTES + 1], last[SELGW_UTC_TEXT_SIZE];
        hex_prefix(rec->prev_seal, seal);
        const char *crash = "";
        char crash_text[120] = "";
        /* A reload starts no new run (docs/EVIDENCE.md): only a START of a new process
         * after one that never stopped tells of a crash. */
        bool reload = rec->text.len >= strlen(SELGW_RELOAD_TEXT) &&
                      !memcmp(rec->text.ptr, SELGW_RELOAD_TEXT, strlen(SELGW_RELOAD_TEXT));
        fact.kind = SELGW_REPORT_START;
        if (vs->run_state == 1 && !reload) {
            selgw_format_utc(vs->last_record_ns, last);
            snprintf(crash_text, sizeof crash_text,
                     "; the run before it has no STOP: a crash or power cut after %s", last);
            crash = crash_text;
            fact.crash = true;
            fact.crash_after_ns = vs->last_record_ns;
        }
        char detail[160];
        if (!memcmp(rec->prev_seal, zero_hash, HASH)) {
            snprintf(detail, sizeof detail, "no seal before it");
            fact.detail = fact_text(vs, detail);
            event_add(vs, &fact, "%s  START: %s (no seal before it%s)", t, text, crash);
        } else if (vs->seals && memcmp(rec->prev_seal, vs->last_seal_hash, HASH)) {
            snprintf(detail, sizeof detail,
                     "continues from seal %s, which is NOT the last seal before it in the bundle",
                     seal);
            fact.detail = fact_text(vs, detail);
            event_add(vs, &fact,
                      "%s  START: %s (continues from seal %s, which is NOT the last "
                      "seal before it in the bundle%s)",
                      t, text, seal, crash);
        } else {
            snprintf(detail, sizeof detail, "continues from seal %s", seal);
            fact.detail = fact_text(vs, detail);
            event_add(vs, &fact, "%s  START: %s (continues from seal %s%s)", t, text, seal, crash);
        }
        vs->run_state = 1;
        break;
    }
    case SELGW_RECORD_STOP:
        fact.kind = SELGW_REPORT_STOP;
        event_add(vs, &fact, "%s  STOP: %s", t, text);
        vs->run_state = 0;
        break;
    case SELGW_RECORD_GAP:
        fact.kind = SELGW_REPORT_GAP;
        fact.gap_first = rec->gap_first_seq;
        fact.gap_last = rec->gap_last_seq;
        event_add(vs, &fact, "%s  GAP: journal records %" PRIu64 "..%" PRIu64 ": %s", t,
                  rec->gap_first_seq, rec->gap_last_seq, text);
        break;
    case SELGW_RECORD_CLOCK:
        fact.kind = SELGW_REPORT_CLOCK;
        fact.clock_step = text_starts(rec->text, "stepped");
        vs->clock_records++;
        if (text_starts(rec->text, "synchronised"))
            vs->clock_synchronised = true;
        event_add(vs, &fact, "%s  CLOCK: %s", t, text);
        break;
    case SELGW_RECORD_ANNOTATION: {
        fact.kind = SELGW_REPORT_ANNOTATION;
        char *ref = shown(rec->ref);
        if (!ref) {
            selgw_report_event_clear(&fact);
            vs->nomem = true;
            break;
        }
        fact.detail = ref;
        event_add(vs, &fact, "%s  ANNOTATION: %s (ref %s)", t, text, ref);
        break;
    }
    case SELGW_RECORD_ALERT: {
        char *rule = shown(rec->rule), *field = shown(rec->field), *device = shown(rec->device);
        char value[32] = "-", threshold[32] = "-";
        if (isfinite(rec->alert_value))
            snprintf(value, sizeof value, "%g", rec->alert_value);
        if (isfinite(rec->alert_threshold))
            snprintf(threshold, sizeof threshold, "%g", rec->alert_threshold);
        fact.kind = SELGW_REPORT_ALERT;
        fact.detail = field;
        fact.device = device;
        fact.status = fact_text(vs, selgw_alert_state_name(rec->alert_state));
        fact.condition = fact_text(vs, selgw_alert_condition_name(rec->alert_condition));
        fact.value = rec->alert_value;
        fact.threshold = rec->alert_threshold;
        if (!rule || !field || !device) {
            free(rule);
            selgw_report_event_clear(&fact);
            vs->nomem = true;
            break;
        }
        /* an alert is told by its rule (the record's text is not shown) */
        free(fact.text);
        fact.text = rule;
        event_add(vs, &fact, "%s  ALERT %s: %s (%s %s, threshold %s) %s = %s", t,
                  selgw_alert_state_name(rec->alert_state), rule,
                  selgw_alert_condition_name(rec->alert_condition), field, threshold, device,
                  value);
        break;
    }
    default:
        selgw_report_event_clear(&fact);
        break;
    }
}

/* ---- one record -------------------------------------------------------------------------- */

/* Follows one record along its chain. */
static vchain *check_link(verify_state *vs, uint64_t jseq, const selgw_record *rec,
                          const uint8_t *hash, bool is_opening_seal)
{
    vchain *c = chain_find(vs, rec->chain);
    if (!c) {
        c = chain_add(vs, rec);
        if (!c) {
            vs->nomem = true;
            return NULL;
        }
        uint64_t after = 0;
        const uint8_t *head = zero_hash;
        const named_head *o = c->kind == CHAIN_PLOT
                                  ? NULL /* a plot's chain is always whole, from its start */
                                  : opening_head(vs, rec->chain.ptr, rec->chain.len);
        if (o) {
            after = o->pos;
            head = o->head;
        }
        if (is_opening_seal) {
            /* the gateway chain starts at the opening seal itself */
        } else if (rec->chain_seq != after + 1) {
            if (c->kind == CHAIN_PLOT)
                record_problem(vs, jseq, rec,
                               "the plot's chain must be in the bundle from its first record: "
                               "positions 1..%" PRIu64 " are missing (its tags, lab results and "
                               "notes before the period)",
                               rec->chain_seq - 1);
            else if (!vs->have_opening)
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
        } else if (memcmp(rec->prev, head, HASH)) {
            if (after)
                record_problem(vs, jseq, rec,
                               "prev hash does not match the head the opening seal names for "
                               "this chain (position %" PRIu64 ")",
                               after);
            else
                record_problem(vs, jseq, rec, "prev hash is not zero at the start of the chain");
        }
        /* A chain's first record after a later seal than the opening one: that seal must not
         * name it already (the record would have been moved past the seal). */
        uint64_t named;
        if (c->kind != CHAIN_GATEWAY && vs->have_opening && vs->last_seal_jseq > vs->opening_jseq &&
            seal_head(vs, rec->chain.ptr, rec->chain.len, &named) && named >= rec->chain_seq)
            record_problem(vs, jseq, rec,
                           "the seal before it (record %" PRIu64 ") already names position %" PRIu64
                           " of this chain: the record was journaled before that seal, not "
                           "after it (moved)",
                           vs->last_seal_jseq, named);
    } else {
        uint64_t k = rec->chain_seq;
        if (k == c->pos + 1) {
            if (memcmp(rec->prev, c->head, HASH))
                record_problem(vs, jseq, rec,
                               "prev hash does not match record %" PRIu64 " (position %" PRIu64
                               "): one of the two was altered, or a record "
                               "was put in between",
                               c->last_jseq, c->pos);
        } else if (k > c->pos + 1) {
            if (k == c->pos + 2)
                record_problem(vs, jseq, rec,
                               "follows position %" PRIu64 " (record %" PRIu64
                               "): position %" PRIu64 " missing",
                               c->pos, c->last_jseq, c->pos + 1);
            else
                record_problem(vs, jseq, rec,
                               "follows position %" PRIu64 " (record %" PRIu64
                               "): positions %" PRIu64 "..%" PRIu64 " missing",
                               c->pos, c->last_jseq, c->pos + 1, k - 1);
        } else {
            record_problem(vs, jseq, rec,
                           "comes after position %" PRIu64 " (record %" PRIu64
                           "): a record was added or the records were reordered",
                           c->pos, c->last_jseq);
        }
    }
    /* Follow the record as given, so that one break is reported once, not at every record
     * after it. */
    c->pos = rec->chain_seq;
    memcpy(c->head, hash, HASH);
    c->last_jseq = jseq;
    return c;
}

/* The times the gateway signed, against each other (docs/EVIDENCE.md, "Times"): each
 * finding is excused by a CLOCK record in between that says the clock stepped back. */
static void check_times(verify_state *vs, uint64_t jseq, const selgw_record *rec, vchain *c)
{
    char a[SELGW_UTC_TEXT_SIZE], b[SELGW_UTC_TEXT_SIZE];
    if (rec->type == SELGW_RECORD_CLOCK && rec->text.len >= strlen(SELGW_CLOCK_STEP_BACK) &&
        !memcmp(rec->text.ptr, SELGW_CLOCK_STEP_BACK, strlen(SELGW_CLOCK_STEP_BACK)))
        vs->last_step_jseq = jseq;
    if (rec->type == SELGW_RECORD_READING && c) {
        if (c->has_reading && rec->time_ns < c->last_reading_ns &&
            vs->last_step_jseq <= c->last_reading_jseq)
            record_problem(vs, jseq, rec,
                           "time goes backwards: %s is before the previous reading's %s (record "
                           "%" PRIu64 "), and no CLOCK record between says the clock stepped back",
                           selgw_format_utc(rec->time_ns, a),
                           selgw_format_utc(c->last_reading_ns, b), c->last_reading_jseq);
        c->has_reading = true;
        c->last_reading_ns = rec->time_ns;
        c->last_reading_jseq = jseq;
    }
    if (!vs->have_opening || jseq < vs->opening_jseq)
        return; /* what came before the opening seal is covered by seals not in the bundle */
    bool stepped = vs->last_step_jseq > vs->last_seal_jseq;
    if (rec->type == SELGW_RECORD_SEAL && jseq != vs->opening_jseq) {
        if (rec->time_ns < vs->last_seal_time && !stepped)
            record_problem(vs, jseq, rec,
                           "the seal's time %s is before the previous seal's %s (record %" PRIu64
                           "), and no CLOCK record between says the clock stepped back",
                           selgw_format_utc(rec->time_ns, a),
                           selgw_format_utc(vs->last_seal_time, b), vs->last_seal_jseq);
        if (vs->max_time_since_seal > rec->time_ns && !stepped)
            record_problem(vs, vs->max_time_jseq, NULL,
                           "its time %s is after the seal that covers it (record %" PRIu64
                           ", of %s), and no CLOCK record between says the clock stepped back",
                           selgw_format_utc(vs->max_time_since_seal, a), jseq,
                           selgw_format_utc(rec->time_ns, b));
    }
    if (rec->type == SELGW_RECORD_READING && jseq > vs->last_seal_jseq &&
        vs->last_seal_has_covers && rec->time_ns < vs->last_seal_covers && !stepped)
        record_problem(vs, jseq, rec,
                       "the poll began at %s, but the seal before it (record %" PRIu64
                       ") says every poll begun before %s was journaled before it, and no "
                       "CLOCK record between says the clock stepped back",
                       selgw_format_utc(rec->time_ns, a), vs->last_seal_jseq,
                       selgw_format_utc(vs->last_seal_covers, b));
    if (rec->type == SELGW_RECORD_ANNOTATION && jseq > vs->last_seal_jseq &&
        rec->time_ns < vs->last_seal_time && !stepped)
        record_problem(vs, jseq, rec,
                       "the annotation is dated %s, before the seal before it (record %" PRIu64
                       ", of %s)",
                       selgw_format_utc(rec->time_ns, a), vs->last_seal_jseq,
                       selgw_format_utc(vs->last_seal_time, b));
    if (rec->type == SELGW_RECORD_SEAL) {
        vs->max_time_since_seal = INT64_MIN;
    } else if (rec->time_ns > vs->max_time_since_seal) {
        vs->max_time_since_seal = rec->time_ns;
        vs->max_time_jseq = jseq;
    }
}

/* ---- witnessed seals -------------------------------------------------------------------- */

static void note_seal(verify_state *vs, uint64_t jseq, const selgw_record *rec,
                      const uint8_t hash[HASH])
{
    if (vs->vseal_count == vs->vseal_cap) {
        size_t cap = vs->vseal_cap ? vs->vseal_cap * 2 : 16;
        vseal *grown = realloc(vs->vseals, cap * sizeof *grown);
        if (!grown) {
            vs->nomem = true;
            return;
        }
        vs->vseals = grown;
        vs->vseal_cap = cap;
    }
    vseal *v = &vs->vseals[vs->vseal_count++];
    *v = (vseal){.chain_seq = rec->chain_seq, .jseq = jseq, .time_ns = rec->time_ns};
    memcpy(v->hash, hash, HASH);
}

static vseal *seal_at(verify_state *vs, uint64_t chain_seq)
{
    for (size_t i = vs->vseal_count; i-- > 0;)
        if (vs->vseals[i].chain_seq == chain_seq)
            return &vs->vseals[i];
    return NULL;
}

/* The lookup itself: the keys given, then the files. */
static bool look_up_witness(verify_state *vs, const uint8_t pk[SELGW_PUBLIC_KEY_BYTES], char *label,
                            size_t label_cap)
{
    const selgw_verify_options *opt = vs->opt;
    label[0] = '\0';
    for (size_t i = 0; i < opt->witness_key_count; i++) {
        const char *k = opt->witness_keys[i];
        uint8_t given[SELGW_PUBLIC_KEY_BYTES];
        if (!strncmp(k, "ed25519:", 8)) {
            if (selgw_public_key_parse(k, given) && !memcmp(given, pk, sizeof given))
                return true;
            continue;
        }
        bool found = false;
        char why[600] = "";
        if (selgw_registered_key(k, pk, &found, label, label_cap, why, sizeof why) != SELGW_OK) {
            char *w = shown_text(why);
            problem(vs, "witness keys: %s", w ? w : "");
            free(w);
            continue;
        }
        if (found)
            return true;
    }
    label[0] = '\0';
    return false;
}

/* Whether pk is one of the witnesses the auditor trusts (*label: its label, if a file
 * gave one); *checked false when none was given. A file that cannot be read is a failure
 * of verification (said once, in vs->failure). */
static bool trusted_witness(verify_state *vs, const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                            bool *checked, char *label, size_t label_cap)
{
    const selgw_verify_options *opt = vs->opt;
    *checked = opt && opt->witness_key_count > 0;
    label[0] = '\0';
    if (!*checked)
        return false;
    if (!vs->judged || memcmp(vs->judged_key, pk, SELGW_PUBLIC_KEY_BYTES) != 0) {
        vs->judged_trusted = look_up_witness(vs, pk, vs->judged_label, sizeof vs->judged_label);
        memcpy(vs->judged_key, pk, SELGW_PUBLIC_KEY_BYTES);
        vs->judged = true;
    }
    snprintf(label, label_cap, "%s", vs->judged_label);
    return vs->judged_trusted;
}

static void print_seconds(char *buf, size_t cap, int64_t ns)
{
    snprintf(buf, cap, "%.3f s", (double)ns / 1e9);
}

/* A statement that is not judged (no --witness-key, or a key not trusted), or about no
 * seal of this bundle: listed, never counted. */
static void witness_claim(verify_state *vs, const selgw_witness *w, const char *fp,
                          const char *key_text, const char *what, const char *status,
                          const char *why)
{
    char t_w[SELGW_UTC_TEXT_SIZE];
    selgw_format_utc(w->witnessed_ns, t_w);
    selgw_report_event fact = {.kind = SELGW_REPORT_WITNESS,
                               .time_ns = w->witnessed_ns,
                               .text = fact_text(vs, fp),
                               .status = fact_text(vs, status)};
    event_add(vs, &fact,
              "%s  WITNESS: statement by key %s (%s) claims it had seal %" PRIu64 " %s at %s; %s",
              t_w, key_text, fp, w->seal_seq, what, t_w, why);
}

/* A WITNESS record: the witness's statement about one of the gateway's seals. Its
 * signature checked, its key judged against the witnesses the auditor trusts (only those
 * count, docs/EVIDENCE.md "Witnessed seals"), checked against the seal it names (in this
 * bundle), and the two clocks compared. */
static void note_witness(verify_state *vs, uint64_t jseq, const selgw_record *rec)
{
    vs->statements++;
    selgw_witness w;
    memset(&w, 0, sizeof w);
    if (!rec->gateway.len || rec->gateway.len >= sizeof w.gateway ||
        memchr(rec->gateway.ptr, '\0', rec->gateway.len)) {
        record_problem(vs, jseq, rec, "the witness statement's gateway id is not a gateway id");
        return;
    }
    memcpy(w.gateway, rec->gateway.ptr, rec->gateway.len);
    w.seal_seq = rec->witness_seal_seq;
    memcpy(w.seal_hash, rec->witness_seal_hash, HASH);
    memcpy(w.key, rec->witness_key, sizeof w.key);
    w.witnessed_ns = rec->witness_time_ns;
    memcpy(w.signature, rec->witness_signature, sizeof w.signature);
    char fp[SELGW_KEY_FINGERPRINT_SIZE], key_text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    selgw_key_fingerprint(w.key, fp);
    selgw_public_key_format(w.key, key_text);
    if (!selgw_witness_signature_ok(&w)) {
        record_problem(vs, jseq, rec,
                       "the witness statement of seal %" PRIu64 " (witness %s) does not verify: "
                       "forged or altered",
                       w.seal_seq, fp);
        return;
    }
    if (!str_is(rec->gateway, vs->gateway)) {
        record_problem(vs, jseq, rec, "the witness statement is about another gateway's seal");
        return;
    }
    if (!memcmp(w.key, vs->pk, sizeof w.key)) {
        record_problem(vs, jseq, rec,
                       "the witness statement of seal %" PRIu64 " is signed by the gateway's own "
                       "key: not a witness",
                       w.seal_seq);
        return;
    }
    if (!selgw_witness_time_plausible(w.witnessed_ns)) {
        record_problem(vs, jseq, rec,
                       "the witness statement of seal %" PRIu64 " (witness %s) gives a time "
                       "before 2000 or after 2200 (%" PRId64 " ns)",
                       w.seal_seq, fp, w.witnessed_ns);
        return;
    }
    bool checked;
    char label[128];
    bool trusted = trusted_witness(vs, w.key, &checked, label, sizeof label);
    const char *not_judged =
        !checked ? "not judged: no --witness-key given" : "not judged: key not trusted";
    vseal *seal = seal_at(vs, w.seal_seq);
    if (!seal || memcmp(seal->hash, w.seal_hash, HASH) != 0) {
        const char *which = seal                                 ? "another seal at that place"
                            : w.seal_seq < vs->gateway_first_seq ? "a seal before this bundle"
                                                                 : "no seal of this bundle";
        if (trusted && seal) /* a fork: the witness saw another seal at that place */
            record_problem(vs, jseq, rec,
                           "the witness statement of seal %" PRIu64 " (trusted witness %s) names "
                           "another seal than the bundle's at that place: forked, forged or "
                           "altered",
                           w.seal_seq, fp);
        else if (trusted && w.seal_seq >= vs->gateway_first_seq)
            record_problem(vs, jseq, rec,
                           "the witness statement of seal %" PRIu64 " (trusted witness %s) names "
                           "no seal of this bundle",
                           w.seal_seq, fp);
        else if (trusted)
            witness_claim(vs, &w, fp, key_text, "(a seal before this bundle)", "outside",
                          "true, but about nothing in it");
        else {
            char what[60];
            snprintf(what, sizeof what, "(%s)", which);
            witness_claim(vs, &w, fp, key_text, what, seal ? "other" : "outside", not_judged);
        }
        return;
    }
    char t_seal[SELGW_UTC_TEXT_SIZE], t_w[SELGW_UTC_TEXT_SIZE];
    selgw_format_utc(w.witnessed_ns, t_w);
    selgw_format_utc(seal->time_ns, t_seal);
    if (!trusted) {
        if (checked)
            vs->untrusted_statements++;
        else
            vs->unjudged_statements++;
        selgw_report_event fact = {.kind = SELGW_REPORT_WITNESS,
                                   .time_ns = w.witnessed_ns,
                                   .until_ns = seal->time_ns,
                                   .text = fact_text(vs, fp),
                                   .status = fact_text(vs, checked ? "untrusted" : "unchecked")};
        event_add(vs, &fact,
                  "%s  WITNESS: statement by key %s (%s) claims it had the seal of %s (record "
                  "%" PRIu64 ") at %s; %s",
                  t_w, key_text, fp, t_seal, seal->jseq, t_w, not_judged);
        return;
    }
    char trust[300];
    char *shown_label = shown_text(label); /* the keys file's text, escaped */
    snprintf(trust, sizeof trust, "a trusted witness%s%s%s", label[0] ? " \"" : "",
             shown_label ? shown_label : "", label[0] ? "\"" : "");
    free(shown_label);
    selgw_report_event fact = {.kind = SELGW_REPORT_WITNESS,
                               .time_ns = w.witnessed_ns,
                               .until_ns = seal->time_ns,
                               .text = fact_text(vs, fp),
                               .status = fact_text(vs, "trusted")};
    int64_t tolerance = vs->opt && vs->opt->witness_tolerance_set
                            ? vs->opt->witness_tolerance_ns
                            : SELGW_VERIFY_WITNESS_TOLERANCE_NS;
    int64_t ahead; /* > 0: sealed "after" it was seen; both times are in range, but checked */
    char d[40], tol[40], clock_note[300] = "";
    if (__builtin_sub_overflow(seal->time_ns, w.witnessed_ns, &ahead))
        ahead = seal->time_ns > w.witnessed_ns ? INT64_MAX : INT64_MIN + 1;
    if (ahead > tolerance) {
        print_seconds(d, sizeof d, ahead);
        print_seconds(tol, sizeof tol, tolerance);
        snprintf(clock_note, sizeof clock_note,
                 "; the gateway's clock is AHEAD of its witness by %s (more than the %s "
                 "tolerance)",
                 d, tol);
        text_list_add(&vs->warnings,
                      "seal %" PRIu64 " (record %" PRIu64 ") says %s, but witness %s had it at "
                      "%s: the gateway's clock was ahead of its witness by %s (tolerance %s); "
                      "its times are not to be trusted as they stand",
                      w.seal_seq, seal->jseq, t_seal, fp, t_w, d, tol);
        fact.detail = fact_text(vs, d);
        fact.clock_step = true;
    } else if (ahead < 0 && -ahead > tolerance) {
        print_seconds(d, sizeof d, -ahead);
        snprintf(clock_note, sizeof clock_note,
                 "; witnessed %s after its time: a delivery delay, or the gateway's clock behind",
                 d);
    }
    event_add(vs, &fact,
              "%s  WITNESS: the seal of %s (record %" PRIu64 ") was sealed no later than %s, "
              "witnessed by %s (%s), %s%s",
              t_w, t_seal, seal->jseq, t_w, key_text, fp, trust, clock_note);
    seal->witnessed = true;
    if (seal->time_ns >= vs->latest_witnessed_seal_ns || !vs->latest_witness[0]) {
        vs->latest_witnessed_seal_ns = seal->time_ns;
        vs->latest_witnessed_ns = w.witnessed_ns;
        memcpy(vs->latest_witness, fp, sizeof fp);
    }
}

static void verify_record(verify_state *vs, uint64_t jseq, const uint8_t *payload, size_t len,
                          selgw_record *rec, const uint8_t hash[HASH])
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
    /* The opening seal is the gateway chain's first record in the bundle, if that is a
     * seal; only plot chain records from the chain's start may come before it. */
    bool gateway = str_is(rec->chain, "gateway");
    bool is_opening_seal = !vs->gateway_seen && gateway && rec->type == SELGW_RECORD_SEAL;
    if (gateway && !vs->gateway_seen)
        vs->gateway_first_seq = rec->chain_seq;
    if (gateway)
        vs->gateway_seen = true;
    if (is_opening_seal) {
        if (opening_from_seal(vs, rec) != SELGW_OK)
            vs->nomem = true;
        vs->have_opening = true;
        vs->opening_time = rec->time_ns;
        vs->opening_jseq = jseq;
        vs->max_time_since_seal = INT64_MIN;
    }
    vchain *c = check_link(vs, jseq, rec, hash, is_opening_seal);
    check_times(vs, jseq, rec, c);
    if (rec->type == SELGW_RECORD_SEAL) {
        vs->seals++;
        if (!str_is(rec->gateway, vs->gateway)) {
            char *g = shown(rec->gateway);
            record_problem(vs, jseq, rec, "the seal is from gateway %s, the bundle says %s",
                           g ? g : "?", vs->gateway);
            free(g);
        }
        /* Kept to be compared with the chains when the next record shows that this was not
         * the last seal, or at the end. */
        memcpy(vs->seal_payload, payload, len);
        vs->seal_len = len;
        if (selgw_record_decode(vs->seal_payload, vs->seal_len, vs->seal_rec) != SELGW_OK)
            vs->nomem = true; /* cannot be: it decoded a moment ago */
        vs->pending_seal = true;
        vs->last_was_seal = true;
        vs->last_seal_time = rec->time_ns;
        vs->last_seal_has_covers = rec->seal_has_covers;
        vs->last_seal_covers = rec->seal_covers_until_ns;
        vs->last_seal_jseq = jseq;
        note_seal(vs, jseq, rec, hash);
    }
    if (rec->type == SELGW_RECORD_WITNESS && str_is(rec->chain, "gateway"))
        note_witness(vs, jseq, rec);
    if (rec->type == SELGW_RECORD_READING)
        count_reading(vs, rec);
    else
        note_event(vs, jseq, rec, hash);
    vs->last_record_ns = rec->time_ns;
}

/* ---- the end: what must be there --------------------------------------------------------- */

static bool followed_device(const verify_state *vs, const char *chain)
{
    return chain_find(vs, (selgw_str){chain, strlen(chain)}) != NULL;
}

/* The plot's chain is there, every device its tags name during the period has its chain
 * (or the seals show it had no record between them), and the plot has readings. */
static void check_completeness(verify_state *vs)
{
    const vchain *plot = chain_find(vs, (selgw_str){vs->plot_chain, strlen(vs->plot_chain)});
    if (!plot) {
        problem(vs,
                "the bundle holds no record of chain %s: the plot's tags (its households and "
                "devices) and its lab results are left out",
                vs->plot_chain);
    } else if (vs->tag_count == 0) {
        problem(vs,
                "chain %s has no TAGS record: nothing says which devices and households "
                "the plot had",
                vs->plot_chain);
    }
    if (vs->period_readings == 0) {
        char a[SELGW_INSTANT_TEXT_SIZE], b[SELGW_INSTANT_TEXT_SIZE];
        problem(vs, "the bundle holds no reading of plot %s from %s to %s", vs->plot,
                selgw_format_instant(vs->from_ns, a), selgw_format_instant(vs->to_ns, b));
    }
    if (!vs->last_was_seal)
        return;
    /* The tags in force at the start of the period and those recorded during it. */
    size_t in_force = SIZE_MAX;
    for (size_t i = 0; i < vs->tag_count; i++)
        if (vs->tags[i].time_ns <= vs->from_ns)
            in_force = i;
    for (size_t i = 0; i < vs->tag_count; i++) {
        const tags_entry *t = &vs->tags[i];
        if (i != in_force && (t->time_ns <= vs->from_ns || t->time_ns >= vs->to_ns))
            continue;
        for (size_t k = 0; k < t->tags->device_count; k++) {
            const char *id = t->tags->devices[k].id;
            char *chain = NULL; /* ids in a bundle are not limited: never truncated */
            if (asprintf(&chain, "device/%s", id) < 0) {
                problem(vs, "out of memory");
                return;
            }
            if (followed_device(vs, chain)) {
                free(chain);
                continue;
            }
            const named_head *o = opening_head(vs, chain, strlen(chain));
            uint64_t closing = 0;
            closing_head(vs, chain, &closing);
            uint64_t opened = o ? o->pos : 0;
            if (closing > opened) {
                char *d = shown_text(id);
                problem(vs,
                        "device %s, which the plot's tags name (record %" PRIu64
                        "), is left out: the seals show its records %" PRIu64 "..%" PRIu64
                        " between them, and the bundle holds none",
                        d ? d : "?", t->jseq, opened + 1, closing);
                free(d);
            }
            free(chain);
        }
    }
}

/* What the auditor asked for (--plot, --from, --to) against what the bundle is of. */
static void check_asked(verify_state *vs, const selgw_verify_options *opt)
{
    char a[SELGW_INSTANT_TEXT_SIZE], b[SELGW_INSTANT_TEXT_SIZE];
    if (!opt)
        return;
    if (opt->plot && strcmp(opt->plot, vs->plot) != 0) {
        char *asked = selgw_text_escape_dup(opt->plot, strlen(opt->plot));
        problem(vs, "the bundle is evidence for plot %s, not for plot %s as asked", vs->plot,
                asked ? asked : "?");
        free(asked);
    }
    if (opt->has_from && opt->from_ns < vs->from_ns)
        problem(vs, "the bundle's period begins at %s, after %s, the start asked for",
                selgw_format_instant(vs->from_ns, a), selgw_format_instant(opt->from_ns, b));
    if (opt->has_to && opt->to_ns > vs->to_ns)
        problem(vs, "the bundle's period ends at %s, before %s, the end asked for",
                selgw_format_instant(vs->to_ns, a), selgw_format_instant(opt->to_ns, b));
}

/* ---- printing ------------------------------------------------------------------------------- */

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
static int compare_events(const void *a, const void *b)
{
    const vevent *x = a, *y = b;
    int c = strncmp(x->line, y->line, SELGW_UTC_TEXT_SIZE - 1);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static const char *key_source_text(const verify_state *vs)
{
    switch (vs->key_from) {
    case KEY_GIVEN:
        return "the key given with --pubkey";
    case KEY_REGISTERED:
        return "registered";
    default:
        return "only the bundle's own claim: nobody vouched for it";
    }
}

/* The tags in force at the end of the period (the last recorded before its end). */
static const selgw_tags *latest_tags(const verify_state *vs)
{
    const selgw_tags *t = NULL;
    for (size_t i = 0; i < vs->tag_count; i++)
        if (vs->tags[i].time_ns < vs->to_ns || !t)
            t = vs->tags[i].tags;
    return t;
}

static int find_product(const selgw_tags *t, const char *name)
{
    for (size_t i = 0; t && i < t->product_count; i++)
        if (!strcmp(t->products[i].name, name))
            return (int)i;
    return -1;
}

/* A section of a lot bundle (opt->lot): the plot's chain holds the lot's LOT record; the
 * bundle covers the plot's period for the lot (its local dates at the offset the lot
 * record); the plot's tags list the lot's product and place the plot inside its
 * area. All from signed records: the container's own header is checked against them by
 * the caller. */
static void check_lot(verify_state *vs)
{
    if (!vs->want_lot)
        return;
    char *want = shown_text(vs->want_lot);
    if (!vs->lot_text) {
        problem(vs, "chain %s holds no LOT record of lot %s: the bundle is not evidence for it",
                vs->plot_chain, want ? want : "?");
        free(want);
        return;
    }
    free(want);
    selgw_lot *lot = NULL;
    if (selgw_lot_parse(vs->lot_text, vs->lot_len, &lot, NULL, 0) != SELGW_OK) {
        vs->nomem = true; /* it parsed when it was noted */
        return;
    }
    const selgw_lot_plot *mine = NULL;
    for (size_t i = 0; i < lot->plot_count; i++)
        if (!strcmp(lot->plots[i].plot, vs->plot))
            mine = &lot->plots[i];
    const selgw_tags *tags = latest_tags(vs);
    int offset = 0;
    int64_t from = 0, to = 0;
    char *product = shown_text(lot->product);
    /* the lot's own offset (it parsed with the lot): the exporter places the period with it */
    selgw_parse_utc_offset(lot->utc_offset, &offset);
    if (!mine) {
        /* said when the record was noted */
    } else if (!selgw_lot_plot_period(mine, offset, vs->lot_time_ns, &from, &to)) {
        problem(vs, "the lot's record (record %" PRIu64 ") is dated before its season began",
                vs->lot_jseq);
    } else if (vs->from_ns > from || vs->to_ns < to) {
        char a[SELGW_INSTANT_TEXT_SIZE], b[SELGW_INSTANT_TEXT_SIZE];
        problem(vs,
                "the bundle's period does not cover the lot's for plot %s: %s (season_from "
                "%s) to %s (the day after harvest_to %s, or the lot's record if earlier)",
                vs->plot, selgw_format_instant(from, a), mine->season_from,
                selgw_format_instant(to, b), mine->harvest_to);
    }
    int p = find_product(tags, lot->product);
    if (tags && p < 0) {
        problem(vs,
                "the plot's tags do not list product %s, the lot's: its crop is not one "
                "the product covers, or the product was not configured",
                product ? product : "?");
    } else if (tags) {
        /* a lot claims its product: a place that cannot be checked proves nothing */
        char why[512];
        selgw_gi_verdict v = selgw_gi_check(tags, (size_t)p, why, sizeof why);
        char *w = v != SELGW_GI_INSIDE ? shown_text(why) : NULL;
        if (v == SELGW_GI_OUTSIDE)
            problem(vs, "plot %s lies OUTSIDE the area of product %s, the lot's: %s", vs->plot,
                    product ? product : "?", w ? w : "?");
        else if (v == SELGW_GI_UNDETERMINED)
            problem(vs,
                    "whether plot %s lies in the area of product %s, the lot's, cannot be "
                    "checked: %s",
                    vs->plot, product ? product : "?", w ? w : "?");
        free(w);
    }
    free(product);
    selgw_lot_free(lot);
}

/* The centroid of a polygon (of its area; the mean of its points if it has none). */
static void centroid(const double (*pts)[2], size_t n, double *lat, double *lon)
{
    double a = 0, cy = 0, cx = 0, my = 0, mx = 0;
    for (size_t i = 0, j = n - 1; i < n; j = i++) {
        double f = pts[j][1] * pts[i][0] - pts[i][1] * pts[j][0];
        a += f;
        cx += (pts[j][1] + pts[i][1]) * f;
        cy += (pts[j][0] + pts[i][0]) * f;
        my += pts[i][0];
        mx += pts[i][1];
    }
    if (fabs(a) < 1e-18) {
        *lat = my / (double)n;
        *lon = mx / (double)n;
    } else {
        *lat = cy / (3 * a);
        *lon = cx / (3 * a);
    }
}

/* The plot's own location and, per GI product the tags name, whether it lies inside. */
static void print_location_and_gi(verify_state *vs, const selgw_tags *t)
{
    FILE *out = vs->out;
    if (t->has_location) {
        fprintf(out, "  location:   point %.6f, %.6f (WGS84)\n", t->plot_latitude,
                t->plot_longitude);
    } else if (t->boundary_count >= 3) {
        double lat, lon;
        centroid((const double(*)[2])t->boundary, t->boundary_count, &lat, &lon);
        fprintf(out, "  location:   boundary of %zu points, centroid %.6f, %.6f (WGS84)\n",
                t->boundary_count, lat, lon);
    }
    for (size_t i = 0; i < t->product_count; i++) {
        char why[512];
        selgw_gi_verdict v = selgw_gi_check(t, i, why, sizeof why);
        char *name = shown_text(t->products[i].name), *w = shown_text(why);
        if (!name || !w)
            vs->nomem = true;
        else
            fprintf(out, "  GI:         %s: %s (%s)\n", name, selgw_gi_verdict_name(v), w);
        free(name);
        free(w);
        char area[2048];
        selgw_gi_area_text(&t->products[i], false, area, sizeof area);
        char *a = shown_text(area);
        if (!a)
            vs->nomem = true;
        else
            fprintf(out, "  GI area:    %s (declared in the signed tags)\n", a);
        free(a);
    }
}

static void print_place(verify_state *vs, const selgw_tags *t)
{
    FILE *out = vs->out;
    char *base = shown_text(t->base_id), *name = shown_text(t->base_name),
         *county = shown_text(t->county), *township = shown_text(t->township),
         *crop = shown_text(t->crop);
    if (!base || !name || !county || !township || !crop) {
        vs->nomem = true;
    } else {
        fprintf(out, "  base:       %s%s%s%s\n", base, t->base_name ? " (" : "", name,
                t->base_name ? ")" : "");
        if (t->county || t->township || t->has_coordinates) {
            fprintf(out, "  place:      %s%s%s", county, t->county && t->township ? ", " : "",
                    township);
            if (t->has_coordinates)
                fprintf(out, "%s%.6f, %.6f (WGS84)", t->county || t->township ? "; " : "",
                        t->latitude, t->longitude);
            fprintf(out, "\n");
        }
        print_location_and_gi(vs, t);
        fprintf(out, "  crop:       %s\n", t->crop ? crop : "(none recorded)");
    }
    free(base);
    free(name);
    free(county);
    free(township);
    free(crop);
}

/* The median interval between polls and the coverage it gives, once, for the console and
 * the report. */
static void finish_device(const verify_state *vs, device_stats *d)
{
    if (!d->interval_count)
        return;
    qsort(d->intervals, d->interval_count, sizeof *d->intervals, compare_i64);
    d->has_median = true;
    d->median_ns = d->intervals[d->interval_count / 2];
    if (d->median_ns > 0) {
        d->expected = (double)(vs->to_ns - vs->from_ns) / (double)d->median_ns;
        double coverage = 100.0 * (double)d->readings / d->expected;
        d->coverage = coverage > 100 ? 100.0 : coverage;
    }
}

static void print_device(verify_state *vs, device_stats *d)
{
    FILE *out = vs->out;
    char a[SELGW_UTC_TEXT_SIZE], b[SELGW_UTC_TEXT_SIZE];
    fprintf(out,
            "\nDevice %s (chain %s): %" PRIu64 " polls in the period, %" PRIu64 " ok, %" PRIu64
            " failed\n",
            d->shown, d->chain_shown, d->readings, d->ok, d->failed);
    if (d->other_plot)
        fprintf(out,
                "  %" PRIu64 " more readings tagged with another plot (the device was moved; "
                "checked, not counted)\n",
                d->other_plot);
    if (d->outside)
        fprintf(out, "  %" PRIu64 " more readings outside the period (checked, not counted)\n",
                d->outside);
    if (d->has_median) {
        fprintf(out, "  median interval ");
        print_duration(out, d->median_ns);
        if (d->median_ns > 0)
            fprintf(out,
                    ", coverage %.1f%% of the period (%" PRIu64 " polls of about %.0f expected)",
                    d->coverage, d->readings, d->expected);
        fprintf(out, "\n");
    }
    if (d->readings) {
        selgw_format_utc(d->first_ns, a);
        selgw_format_utc(d->last_ns, b);
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
    if (d->too_many_fields)
        fprintf(out, "  (more than %d distinct field names: the rest are not summarised)\n",
                MAX_FIELDS_PER_DEVICE);
}

static void print_summary(verify_state *vs, const char *key_text)
{
    FILE *out = vs->out;
    char a[SELGW_INSTANT_TEXT_SIZE], b[SELGW_INSTANT_TEXT_SIZE];
    fprintf(out, "Evidence for plot %s, %s to %s\n", vs->plot, selgw_format_instant(vs->from_ns, a),
            selgw_format_instant(vs->to_ns, b));
    fprintf(out, "  gateway:    %s\n", vs->gateway);
    const selgw_tags *tags = latest_tags(vs);
    if (tags)
        print_place(vs, tags);
    else
        fprintf(out, "  base:       (no tags recorded)\n");
    fprintf(out, "  households: ");
    if (!vs->households.count)
        fprintf(out, "(none in the readings)");
    for (size_t i = 0; i < vs->households.count; i++)
        fprintf(out, "%s%s", i ? ", " : "", vs->households.items[i]);
    fprintf(out, "\n  key:        %s\n", key_text);
    fprintf(out, "  key check:  fingerprint %s, %s%s%s%s\n", vs->fingerprint, key_source_text(vs),
            vs->key_label[0] ? " as \"" : "", vs->key_label, vs->key_label[0] ? "\"" : "");
    if (vs->bundle_hash[0])
        fprintf(out, "  bundle:     %s\n", vs->bundle_hash);
    char sa[SELGW_UTC_TEXT_SIZE], sb[SELGW_UTC_TEXT_SIZE];
    if (vs->have_opening) {
        selgw_format_utc(vs->opening_time, sa);
        fprintf(out, "  sealed:     from the seal of %s (record %" PRIu64 ")", sa,
                vs->opening_jseq);
    } else {
        fprintf(out, "  sealed:     from the start of every chain");
    }
    if (vs->last_was_seal) {
        selgw_format_utc(vs->last_seal_time, sb);
        fprintf(out, " to the seal of %s (record %" PRIu64 ")", sb, vs->last_seal_jseq);
    }
    fprintf(out, "; %" PRIu64 " records in %zu chains, %" PRIu64 " seals\n", vs->records,
            vs->chain_count, vs->seals);
    if (vs->statements) {
        /* A seal's statement is journaled after it: the closing seal's is never inside. */
        size_t before = vs->vseal_count - (vs->last_was_seal && vs->vseal_count ? 1 : 0);
        size_t witnessed = 0;
        for (size_t i = 0; i < before; i++)
            witnessed += vs->vseals[i].witnessed;
        bool judged = vs->opt && vs->opt->witness_key_count > 0;
        fprintf(out, "  witnessed:  %zu of %zu seals%s by a trusted witness%s", witnessed, before,
                vs->last_was_seal ? " before the closing seal" : "",
                judged ? "" : " (no --witness-key given)");
        if (vs->latest_witness[0]) {
            char w[SELGW_UTC_TEXT_SIZE], t[SELGW_UTC_TEXT_SIZE];
            fprintf(out,
                    "; the seal of %s sealed no later than %s, witnessed by %s: the records "
                    "it covers existed by then, the later ones are not witnessed in this bundle",
                    selgw_format_utc(vs->latest_witnessed_seal_ns, t),
                    selgw_format_utc(vs->latest_witnessed_ns, w), vs->latest_witness);
        }
        if (vs->untrusted_statements)
            fprintf(out, "; %" PRIu64 " statement%s by an untrusted key", vs->untrusted_statements,
                    vs->untrusted_statements == 1 ? "" : "s");
        if (vs->unjudged_statements)
            fprintf(out, "; %" PRIu64 " statement%s not judged", vs->unjudged_statements,
                    vs->unjudged_statements == 1 ? "" : "s");
        fprintf(out, "\n");
    }

    for (size_t i = 0; i < vs->device_count; i++)
        print_device(vs, &vs->devices[i]);
    fprintf(out, "\nGaps and events:\n");
    if (!vs->event_count)
        fprintf(out, "  (none)\n");
    if (vs->event_count)
        qsort(vs->events, vs->event_count, sizeof *vs->events, compare_events);
    for (size_t i = 0; i < vs->event_count; i++)
        fprintf(out, "  %s\n", vs->events[i].line);
}

static void verify_state_free(verify_state *vs)
{
    free(vs->gateway);
    free(vs->plot);
    for (size_t i = 0; i < vs->chain_count; i++)
        free(vs->chains[i].shown);
    free(vs->chains);
    selgw_strmap_free(vs->chain_index);
    free(vs->opening_heads);
    selgw_strmap_free(vs->opening_index);
    selgw_strmap_free(vs->seal_index);
    free(vs->seal_positions);
    free(vs->seal_payload);
    free(vs->seal_rec);
    text_list_free(&vs->households);
    selgw_strmap_free(vs->household_index);
    free(vs->last_households);
    for (size_t i = 0; i < vs->event_count; i++) {
        free(vs->events[i].line);
        selgw_report_event_clear(&vs->events[i].fact);
    }
    free(vs->events);
    text_list_free(&vs->problems);
    text_list_free(&vs->warnings);
    free(vs->vseals);
    for (size_t i = 0; i < vs->device_count; i++) {
        device_stats *d = &vs->devices[i];
        free(d->shown);
        free(d->chain_shown);
        free(d->intervals);
        for (size_t k = 0; k < d->field_count; k++) {
            free(d->fields[k].name);
            free(d->fields[k].unit);
            free(d->fields[k].days);
        }
        free(d->fields);
        free(d->order);
        selgw_strmap_free(d->field_index);
    }
    free(vs->devices);
    selgw_strmap_free(vs->device_index);
    for (size_t i = 0; i < vs->tag_count; i++)
        selgw_tags_free(vs->tags[i].tags);
    free(vs->tags);
    free(vs->lot_text);
}

/* ---- the report: the same facts, for people ----------------------------------------------- */

static char *report_text(verify_state *vs, const char *s)
{
    return s ? fact_text(vs, s) : NULL;
}

/* A section that says only why the bundle could not be verified at all. */
static void report_failure(const selgw_verify_options *opt, const char *name, const char *why)
{
    if (!opt || !opt->report)
        return;
    selgw_report_section *sec = selgw_report_add_section(opt->report);
    if (!sec)
        return;
    sec->verdict = SELGW_REPORT_NOT_VERIFIED;
    sec->bundle = selgw_text_escape_dup(name ? name : "", name ? strlen(name) : 0);
    sec->error = strdup(why);
    if (opt->lot)
        sec->lot = shown_text(opt->lot);
    if (opt->bundle_hash)
        sec->bundle_hash = shown_text(opt->bundle_hash);
}

/* The contracts of the tags that count for the period (as check_completeness: those in
 * force at its start and those recorded within it) whose dates meet the period's local
 * days, each once. */
static void report_contracts(verify_state *vs, selgw_report_section *sec)
{
    char from_day[SELGW_DAY_TEXT_SIZE], to_day[SELGW_DAY_TEXT_SIZE];
    selgw_format_day(selgw_local_day(vs->from_ns, vs->utc_offset_minutes), from_day);
    selgw_format_day(selgw_local_day(vs->to_ns - 1, vs->utc_offset_minutes), to_day);
    size_t in_force = SIZE_MAX;
    for (size_t i = 0; i < vs->tag_count; i++)
        if (vs->tags[i].time_ns <= vs->from_ns)
            in_force = i;
    for (size_t i = 0; i < vs->tag_count; i++) {
        const tags_entry *t = &vs->tags[i];
        if (i != in_force && (t->time_ns <= vs->from_ns || t->time_ns >= vs->to_ns))
            continue;
        for (size_t k = 0; k < t->tags->household_count; k++) {
            const selgw_tags_household *h = &t->tags->households[k];
            /* dates are YYYY-MM-DD (checked by the tags parser): they compare as text */
            if (strcmp(h->from, to_day) > 0 || (h->to && strcmp(h->to, from_day) < 0))
                continue;
            char *hh = shown_text(h->household), *ct = shown_text(h->contract);
            bool seen = false;
            for (size_t j = 0; hh && ct && j < sec->contract_count && !seen; j++)
                seen = !strcmp(sec->contracts[j].household, hh) &&
                       !strcmp(sec->contracts[j].contract, ct);
            selgw_report_contract *grown =
                seen || !hh || !ct
                    ? NULL
                    : realloc(sec->contracts, (sec->contract_count + 1) * sizeof *grown);
            if (!grown) {
                if (!seen)
                    vs->nomem = true;
                free(hh);
                free(ct);
                continue;
            }
            sec->contracts = grown;
            sec->contracts[sec->contract_count++] = (selgw_report_contract){
                hh, ct, shown_text(h->from), h->to ? shown_text(h->to) : NULL};
        }
    }
}

static void report_devices(verify_state *vs, selgw_report_section *sec)
{
    sec->devices = calloc(vs->device_count ? vs->device_count : 1, sizeof *sec->devices);
    if (!sec->devices) {
        vs->nomem = true;
        return;
    }
    for (size_t i = 0; i < vs->device_count; i++) {
        const device_stats *d = &vs->devices[i];
        selgw_report_device *rd = &sec->devices[sec->device_count++];
        rd->id = report_text(vs, d->shown);
        rd->chain = report_text(vs, d->chain_shown);
        rd->polls = d->readings;
        rd->ok = d->ok;
        rd->failed = d->failed;
        rd->other_plot = d->other_plot;
        rd->outside = d->outside;
        rd->has_interval = d->has_median;
        rd->median_interval_ns = d->median_ns;
        rd->coverage_percent = d->coverage;
        rd->expected_polls = d->expected;
        rd->first_ns = d->first_ns;
        rd->last_ns = d->last_ns;
        rd->fields = calloc(d->field_count ? d->field_count : 1, sizeof *rd->fields);
        if (!rd->fields) {
            vs->nomem = true;
            continue;
        }
        for (size_t k = 0; k < d->field_count; k++) {
            const field_stats *f = &d->fields[k];
            selgw_report_field *rf = &rd->fields[rd->field_count++];
            rf->name = report_text(vs, f->name);
            rf->unit = report_text(vs, f->unit);
            rf->count = f->count;
            rf->out_of_range = f->out_of_range;
            /* as the console prints them */
            rf->min = f->min;
            rf->max = f->max;
            rf->mean = f->count ? f->sum / (double)f->count : NAN;
            rf->days_left_out = !vs->days_kept && vs->days_fixed;
            size_t n = 0;
            for (int32_t day = 0; f->days && day < vs->day_count; day++)
                n += f->days[day].count > 0;
            if (!n)
                continue;
            rf->days = malloc(n * sizeof *rf->days);
            if (!rf->days) {
                vs->nomem = true;
                continue;
            }
            for (int32_t day = 0; day < vs->day_count; day++) {
                const day_stats *ds = &f->days[day];
                if (ds->count)
                    rf->days[rf->day_count++] = (selgw_report_day){vs->first_day + day, ds->count,
                                                                   ds->min, ds->max, ds->sum};
            }
        }
    }
}

/* The plot's own location and the GI checks, as print_location_and_gi prints them. */
static void report_location_and_gi(verify_state *vs, selgw_report_section *sec, const selgw_tags *t,
                                   bool zh)
{
    if (t->has_location) {
        sec->has_plot_location = true;
        sec->plot_latitude = t->plot_latitude;
        sec->plot_longitude = t->plot_longitude;
    } else if (t->boundary_count) {
        if (!(sec->boundary = malloc(t->boundary_count * sizeof *sec->boundary))) {
            vs->nomem = true;
            return;
        }
        memcpy(sec->boundary, t->boundary, t->boundary_count * sizeof *sec->boundary);
        sec->boundary_count = t->boundary_count;
    }
    if (!t->product_count)
        return;
    if (!(sec->gi = calloc(t->product_count, sizeof *sec->gi))) {
        vs->nomem = true;
        return;
    }
    for (size_t i = 0; i < t->product_count; i++) {
        char why[2560];
        selgw_gi_verdict v = selgw_gi_check_in(t, i, zh, why, sizeof why);
        /* and the area it was checked against: the enterprise's own declaration */
        size_t used = strlen(why);
        if (used + 8 < sizeof why) {
            snprintf(why + used, sizeof why - used, "%s",
                     zh ? "。保护范围（标签所载）：" : ". The area (as the tags declare it): ");
            used = strlen(why);
            selgw_gi_area_text(&t->products[i], zh, why + used, sizeof why - used);
        }
        selgw_report_gi *g = &sec->gi[sec->gi_count];
        g->verdict = v == SELGW_GI_INSIDE    ? SELGW_REPORT_GI_INSIDE
                     : v == SELGW_GI_OUTSIDE ? SELGW_REPORT_GI_OUTSIDE
                                             : SELGW_REPORT_GI_UNDETERMINED;
        g->product = shown_text(t->products[i].name);
        g->reason = shown_text(why);
        if (!g->product || !g->reason) {
            free(g->product);
            free(g->reason);
            vs->nomem = true;
            return;
        }
        sec->gi_count++;
    }
}

/* One section of the report with what verify found (and printed) for this bundle. */
static void fill_report(verify_state *vs, const selgw_verify_options *opt, bool header_ok,
                        const char *key_text, selgw_err result)
{
    selgw_report_section *sec = selgw_report_add_section(opt->report);
    if (!sec)
        return;
    sec->bundle = shown_text(vs->name);
    sec->verdict = result == SELGW_OK         ? SELGW_REPORT_VERIFIED
                   : result == SELGW_ERR_AUTH ? SELGW_REPORT_KEY_UNTRUSTED
                                              : SELGW_REPORT_NOT_VERIFIED;
    sec->problems = calloc(vs->problems.count ? vs->problems.count : 1, sizeof *sec->problems);
    for (size_t i = 0; sec->problems && i < vs->problems.count; i++)
        sec->problems[sec->problem_count_listed++] = report_text(vs, vs->problems.items[i]);
    sec->problem_count = vs->problem_count;
    if (opt->lot)
        sec->lot = shown_text(opt->lot);
    /* the hash verify printed: the caller's (a lot bundle's, for its sections), else that
     * of the stream read whole */
    if (vs->bundle_hash[0])
        sec->bundle_hash = strdup(vs->bundle_hash);
    if (!header_ok)
        return;
    sec->public_key = report_text(vs, key_text);
    sec->fingerprint = report_text(vs, vs->fingerprint);
    sec->key_label = report_text(vs, vs->key_label);
    sec->key_source = vs->key_from == KEY_GIVEN        ? SELGW_REPORT_KEY_GIVEN
                      : vs->key_from == KEY_REGISTERED ? SELGW_REPORT_KEY_REGISTERED
                                                       : SELGW_REPORT_KEY_BUNDLE;
    sec->gateway = report_text(vs, vs->gateway);
    sec->plot = report_text(vs, vs->plot);
    sec->has_period = true;
    sec->from_ns = vs->from_ns;
    sec->to_ns = vs->to_ns;
    if (!vs->days_fixed)
        fix_days(vs); /* no reading in the period: the tags' offset all the same */
    sec->utc_offset_minutes = vs->utc_offset_minutes;
    sec->has_opening = vs->have_opening;
    sec->opening_ns = vs->opening_time;
    sec->has_closing = vs->last_was_seal;
    sec->closing_ns = vs->last_seal_time;
    sec->records = vs->records;
    sec->chains = vs->chain_count;
    sec->seals = vs->seals;
    sec->clock_synchronised = vs->clock_synchronised;
    sec->clock_records = vs->clock_records;
    const selgw_tags *t = latest_tags(vs);
    if (t) {
        sec->has_tags = true;
        sec->base_id = t->base_id ? shown_text(t->base_id) : NULL;
        sec->base_name = t->base_name ? shown_text(t->base_name) : NULL;
        sec->county = t->county ? shown_text(t->county) : NULL;
        sec->township = t->township ? shown_text(t->township) : NULL;
        sec->crop = t->crop ? shown_text(t->crop) : NULL;
        sec->has_coordinates = t->has_coordinates;
        sec->latitude = t->latitude;
        sec->longitude = t->longitude;
        sec->area_mu = t->area_mu;
        report_location_and_gi(vs, sec, t, selgw_report_is_zh(opt->report));
    }
    if (vs->lot_text && !(sec->lot_json = strdup(vs->lot_text)))
        vs->nomem = true;
    report_contracts(vs, sec);
    sec->households_seen =
        calloc(vs->households.count ? vs->households.count : 1, sizeof *sec->households_seen);
    for (size_t i = 0; sec->households_seen && i < vs->households.count; i++)
        sec->households_seen[sec->household_seen_count++] =
            report_text(vs, vs->households.items[i]);
    report_devices(vs, sec);
    /* the facts move to the report, in the order the console printed them */
    sec->events = calloc(vs->event_count ? vs->event_count : 1, sizeof *sec->events);
    for (size_t i = 0; sec->events && i < vs->event_count; i++) {
        sec->events[sec->event_count++] = vs->events[i].fact;
        memset(&vs->events[i].fact, 0, sizeof vs->events[i].fact);
    }
}

/* ---- reading the bundle ----------------------------------------------------------------- */

/* The value after "NAME " on a header line, or NULL. */
static const char *header_value(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) || line[n] != ' ' || !line[n + 1])
        return NULL;
    return line + n + 1;
}

/* Gateway and plot ids are what the config allows: letters, digits, '.', '_' and '-'. */
static bool is_id(const char *s)
{
    if (!*s || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* The six header lines. False (a problem said) when one is not what it must be. */
static bool read_header_line(verify_state *vs, uint64_t line_no, const char *line,
                             char key_text[SELGW_PUBLIC_KEY_TEXT_SIZE])
{
    static const char *const names[] = {"public-key", "gateway", "plot", "from", "to"};
    const char *name = names[line_no - 2];
    const char *v = header_value(line, name);
    bool ok = v != NULL;
    if (ok && line_no == 2) {
        ok = selgw_public_key_parse(v, vs->pk);
        if (ok)
            selgw_public_key_format(vs->pk, key_text);
    } else if (ok && line_no == 3) {
        ok = is_id(v) && (vs->gateway = strdup(v)) != NULL;
    } else if (ok && line_no == 4) {
        ok = is_id(v) && (vs->plot = strdup(v)) != NULL;
        /* a plot id too long for its chain name is no id a config allows */
        ok = ok && (size_t)snprintf(vs->plot_chain, sizeof vs->plot_chain, "plot/%s", v) <
                       sizeof vs->plot_chain;
    } else if (ok && line_no == 5) {
        ok = selgw_parse_instant(v, &vs->from_ns);
    } else if (ok && line_no == 6) {
        ok = selgw_parse_instant(v, &vs->to_ns) && vs->to_ns > vs->from_ns;
    }
    if (!ok)
        problem(vs, "line %" PRIu64 ": expected \"%s <%s>\"", line_no, name,
                line_no == 2   ? "ed25519:64 hex digits"
                : line_no >= 5 ? "YYYY-MM-DDTHH:MM:SS[.fraction]Z from 1970 to 2262, from "
                                 "before to"
                               : "id of letters, digits, '.', '_' and '-'");
    return ok;
}

/* Which key the signatures are checked with, and whether anyone vouched for it. False
 * (printed) when a key or the keys file cannot be used at all. */
static bool decide_key(verify_state *vs, const selgw_verify_options *opt,
                       char key_text[SELGW_PUBLIC_KEY_TEXT_SIZE])
{
    uint8_t bundle_pk[SELGW_PUBLIC_KEY_BYTES];
    memcpy(bundle_pk, vs->pk, sizeof bundle_pk);
    if (opt && opt->pubkey) {
        uint8_t given[SELGW_PUBLIC_KEY_BYTES];
        selgw_public_key_parse(opt->pubkey, given); /* checked before the bundle was read */
        if (memcmp(given, vs->pk, SELGW_PUBLIC_KEY_BYTES)) {
            char fp[SELGW_KEY_FINGERPRINT_SIZE];
            selgw_key_fingerprint(vs->pk, fp);
            problem(vs,
                    "bundle key differs from the given key: the bundle was signed with "
                    "another key (fingerprint %s), or it claims to be",
                    fp);
            selgw_public_key_format(given, key_text);
        }
        memcpy(vs->pk, given, SELGW_PUBLIC_KEY_BYTES);
        vs->key_from = KEY_GIVEN;
    }
    if (opt && opt->keys_file) {
        bool found = false;
        char label[128] = "", why[600] = "";
        selgw_err err = selgw_registered_key(opt->keys_file, bundle_pk, &found, label, sizeof label,
                                             why, sizeof why);
        if (err != SELGW_OK) {
            char *w = shown_text(why);
            snprintf(vs->failure, sizeof vs->failure, "registered keys: %s", w ? w : "");
            fprintf(vs->out, "NOT VERIFIED: %s\n", vs->failure);
            free(w);
            return false;
        }
        char fp[SELGW_KEY_FINGERPRINT_SIZE];
        selgw_key_fingerprint(bundle_pk, fp);
        if (!found) {
            char *f = shown_text(opt->keys_file);
            problem(vs, "the bundle's key (fingerprint %s) is not among the registered keys in %s",
                    fp, f ? f : "");
            free(f);
        } else if (vs->key_from != KEY_GIVEN) {
            vs->key_from = KEY_REGISTERED;
            size_t len = 0;
            selgw_text_escape(vs->key_label, sizeof vs->key_label, &len, label, strlen(label));
        }
    }
    selgw_key_fingerprint(vs->pk, vs->fingerprint);
    return true;
}

static void print_verdict(verify_state *vs, selgw_err *result)
{
    FILE *out = vs->out;
    if (vs->warnings.count) {
        fprintf(out, "\nWarnings:\n");
        for (size_t i = 0; i < vs->warnings.count; i++)
            fprintf(out, "  WARNING: %s\n", vs->warnings.items[i]);
    }
    if (vs->problem_count) {
        fprintf(out, "\nProblems:\n");
        for (size_t i = 0; i < vs->problems.count; i++)
            fprintf(out, "  %s\n", vs->problems.items[i]);
        if (vs->problem_count > vs->problems.count)
            fprintf(out, "  ... and %" PRIu64 " more\n", vs->problem_count - vs->problems.count);
        fprintf(out, "NOT VERIFIED: %" PRIu64 " problem%s\n", vs->problem_count,
                vs->problem_count == 1 ? "" : "s");
        *result = SELGW_ERR_CORRUPT;
        return;
    }
    static const char checked[] =
        "the closing seal's signature, which covers every record through the chains' links; "
        "every record intact and in its place in its chain, none "
        "missing, added or reordered between the opening and the closing seal; the plot's "
        "chain whole from its first record; a chain for every device the plot's tags name in "
        "the period; readings of the plot in the period; seals covering the period; the "
        "gateway's times in order. Not checked: the order of records of different chains "
        "between two seals";
    if (vs->key_from == KEY_BUNDLE) {
        fprintf(out,
                "\nNOT VERIFIED: the key is not trusted. Every check passed (%s), but the key "
                "(fingerprint %s) is only the bundle's own claim, and anyone can sign a forgery "
                "with a key of their own: compare the fingerprint with the key the enterprise "
                "registered, then verify with --pubkey KEY or --keys FILE\n",
                checked, vs->fingerprint);
        *result = SELGW_ERR_AUTH;
        return;
    }
    fprintf(out,
            "\nVERIFIED with key %s (%s): %" PRIu64 " records in %zu chains, %" PRIu64
            " seals. Checked: %s\n",
            vs->fingerprint, vs->key_from == KEY_GIVEN ? "given" : "registered", vs->records,
            vs->chain_count, vs->seals, checked);
    *result = SELGW_OK;
}

/* ---- reading in batches: base64 and hashes on two cores ------------------------------------
 *
 * Decoding base64 and hashing every record is most of the work, and each record's is
 * independent of the others': a batch of lines is read, then its records are decoded and
 * hashed by this thread and a helper thread together, while everything that depends on
 * order (links, seals, times, the summary) runs afterwards in this thread alone. The next
 * batch is read and handed to the helper before this one is checked, so both cores work
 * all the time. */

#define BATCH_BYTES (4u << 20)
#define MAX_LINE_BYTES (1536u << 10) /* a record line of the largest payload is ~1.34 MiB */
#define CLAIM 64                     /* items a thread takes at a time */

typedef struct line_item {
    char *text; /* in the batch's buffer, NUL-terminated */
    size_t len;
    uint64_t line_no;
    bool unterminated, too_long;
    bool is_record; /* "record <seq> <base64>" */
    uint64_t jseq;
    const char *b64;
    size_t b64_len;
    size_t payload_off, payload_len;
    bool decoded;
    uint8_t hash[HASH];
} line_item;

typedef struct batch {
    char *text;
    size_t text_len, text_cap;
    line_item *items;
    size_t count, cap;
    uint8_t *arena; /* the decoded payloads */
    size_t arena_len, arena_cap;
    bool ready;     /* read and split into items (under the pipeline's lock) */
    bool has_lines; /* false at the end of the stream */
    bool nomem;
    atomic_size_t next; /* the next item to decode and hash */
    size_t done;        /* items finished (under the pipeline's lock) */
} batch;

struct line_reader;
static bool read_batch(struct line_reader *r, batch *b, bool *nomem);

typedef struct pipeline {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct line_reader *reader;
    batch *current;
    uint64_t generation;
    bool stop;
    pthread_t helper;
    bool helper_running;
} pipeline;

static void decode_items(batch *b, size_t *finished)
{
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, CLAIM);
        if (i >= b->count)
            return;
        size_t end = i + CLAIM < b->count ? i + CLAIM : b->count;
        for (size_t k = i; k < end; k++) {
            line_item *it = &b->items[k];
            if (!it->is_record || it->b64_len < 4)
                continue; /* not even one group of base64: no payload, not decoded */
            uint8_t *out = b->arena + it->payload_off;
            it->decoded = selgw_base64_decode(it->b64, it->b64_len, out, it->b64_len / 4 * 3,
                                              &it->payload_len) &&
                          it->payload_len <= SELGW_RECORD_MAX_PAYLOAD;
            if (it->decoded)
                selgw_record_hash(out, it->payload_len, it->hash);
        }
        *finished += end - i;
    }
}

/* Reads and splits the batch, says so, then decodes and hashes with whoever joins. */
static void fill_batch(pipeline *p, batch *b)
{
    b->has_lines = read_batch(p->reader, b, &b->nomem);
    pthread_mutex_lock(&p->lock);
    b->ready = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->lock);
}

static void *helper_main(void *arg)
{
    pipeline *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->generation == seen) {
            pthread_cond_wait(&p->cv, &p->lock);
            continue;
        }
        seen = p->generation;
        batch *b = p->current;
        pthread_mutex_unlock(&p->lock);
        fill_batch(p, b);
        size_t finished = 0;
        decode_items(b, &finished);
        pthread_mutex_lock(&p->lock);
        b->done += finished;
        if (b->done >= b->count)
            pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Has the next batch read, split, decoded and hashed: by the helper, while the caller
 * checks the one before (or by the caller, when there is no helper). */
static void pipeline_start(pipeline *p, batch *b)
{
    atomic_store(&b->next, 0);
    pthread_mutex_lock(&p->lock);
    b->ready = false;
    b->done = 0;
    b->count = 0;
    p->current = b;
    p->generation++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->lock);
    if (!p->helper_running)
        fill_batch(p, b);
}

/* Joins the work on b and waits until all of it is done. */
static void pipeline_finish(pipeline *p, batch *b)
{
    pthread_mutex_lock(&p->lock);
    while (!b->ready)
        pthread_cond_wait(&p->cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
    size_t finished = 0;
    decode_items(b, &finished);
    pthread_mutex_lock(&p->lock);
    b->done += finished;
    while (b->done < b->count)
        pthread_cond_wait(&p->cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

static void batch_free(batch *b)
{
    free(b->text);
    free(b->items);
    free(b->arena);
}

static bool batch_add(batch *b, char *text, size_t len, uint64_t line_no, bool unterminated,
                      bool too_long)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        line_item *grown = realloc(b->items, cap * sizeof *grown);
        if (!grown)
            return false;
        b->items = grown;
        b->cap = cap;
    }
    line_item *it = &b->items[b->count++];
    memset(it, 0, sizeof *it);
    it->text = text;
    it->len = len;
    it->line_no = line_no;
    it->unterminated = unterminated;
    it->too_long = too_long;
    /* "record <seq> <base64>": the payload gets its room in the arena now */
    const char *end;
    /* (a NUL byte in the base64 makes the payload fail to decode) */
    if (!too_long && !strncmp(text, "record ", 7) && selgw_parse_u64(text + 7, &end, &it->jseq) &&
        *end == ' ') {
        it->is_record = true;
        it->b64 = end + 1;
        it->b64_len = (size_t)(text + len - it->b64);
        it->payload_off = b->arena_len;
        b->arena_len += it->b64_len / 4 * 3;
    }
    return true;
}

/* The reader: whole lines of the stream, a batch at a time, with what is left of a line
 * carried over to the next batch. */
typedef struct line_reader {
    FILE *in;
    char *carry;
    size_t carry_len, carry_cap;
    bool skipping; /* inside a line longer than MAX_LINE_BYTES */
    bool eof, error;
    int read_errno; /* errno of the failed read (errno is the reading thread's own) */
    uint64_t line_no;
    size_t chunk; /* bytes read a batch: from 64 KiB, doubling up to BATCH_BYTES, so that
                   * a small bundle costs little memory and a large one few batches */
} line_reader;

/* Fills b with the next lines; false when there are none left (or memory ran out: *nomem). */
static bool read_batch(line_reader *r, batch *b, bool *nomem)
{
    b->count = 0;
    b->arena_len = 0;
    if (r->eof && !r->carry_len && !r->skipping)
        return false;
    r->chunk = r->chunk ? (r->chunk < BATCH_BYTES ? r->chunk * 2 : BATCH_BYTES) : 64u << 10;
    size_t want = r->carry_len + r->chunk + 1;
    if (b->text_cap < want) {
        char *grown = realloc(b->text, want);
        if (!grown) {
            *nomem = true;
            return false;
        }
        b->text = grown;
        b->text_cap = want;
    }
    if (r->carry_len)
        memcpy(b->text, r->carry, r->carry_len);
    size_t len = r->carry_len;
    r->carry_len = 0;
    if (!r->eof) {
        size_t n = fread(b->text + len, 1, r->chunk, r->in);
        len += n;
        if (n < r->chunk) {
            r->eof = true;
            r->error = ferror(r->in) != 0;
            r->read_errno = errno;
        }
    }
    b->text_len = len;
    size_t pos = 0;
    while (pos < len) {
        char *line = b->text + pos;
        char *nl = memchr(line, '\n', len - pos);
        if (!nl) {
            size_t rest = len - pos;
            if (!r->eof) { /* carried over, unless it is already too long */
                if (r->skipping || rest > MAX_LINE_BYTES) {
                    if (!r->skipping && !batch_add(b, line, 0, ++r->line_no, false, true)) {
                        *nomem = true;
                        return false;
                    }
                    r->skipping = true;
                    break;
                }
                if (r->carry_cap < rest) {
                    char *grown = realloc(r->carry, rest);
                    if (!grown) {
                        *nomem = true;
                        return false;
                    }
                    r->carry = grown;
                    r->carry_cap = rest;
                }
                memcpy(r->carry, line, rest);
                r->carry_len = rest;
                break;
            }
            line[rest] = '\0'; /* the last line, with no newline */
            if (!r->skipping &&
                !batch_add(b, line, rest, ++r->line_no, true, rest > MAX_LINE_BYTES)) {
                *nomem = true;
                return false;
            }
            r->skipping = false;
            break;
        }
        size_t n = (size_t)(nl - line);
        *nl = '\0';
        if (r->skipping)
            r->skipping = false; /* the end of a line already reported as too long */
        else if (!batch_add(b, line, n, ++r->line_no, false, n > MAX_LINE_BYTES)) {
            *nomem = true;
            return false;
        }
        pos += n + 1;
    }
    if (b->arena_cap < b->arena_len) {
        uint8_t *grown = realloc(b->arena, b->arena_len);
        if (!grown) {
            *nomem = true;
            return false;
        }
        b->arena = grown;
        b->arena_cap = b->arena_len;
    }
    return b->count > 0 || !r->eof || r->carry_len;
}

typedef struct bundle_reading {
    bool header_ok, ended, key_ok, stop;
    char key_text[SELGW_PUBLIC_KEY_TEXT_SIZE];
    selgw_record *rec;
    const selgw_verify_options *opt;
} bundle_reading;

/* One line, in order. */
static void check_line(verify_state *vs, bundle_reading *br, const batch *b, const line_item *it)
{
    uint64_t line_no = it->line_no;
    if (it->too_long) {
        problem(vs, "line %" PRIu64 ": longer than any record line can be", line_no);
        if (line_no <= 6)
            br->stop = true;
        else
            vs->records++;
        return;
    }
    if (it->unterminated)
        problem(vs, "line %" PRIu64 ": the last line has no newline: the file is cut off", line_no);
    if (it->is_record && line_no > 6 && !br->ended) {
        /* the common case first, without touching the line's text again */
        if (!it->decoded) {
            vs->records++;
            problem(vs, "record %" PRIu64 ": the payload is not valid base64 (or too long)",
                    it->jseq);
            return;
        }
        verify_record(vs, it->jseq, b->arena + it->payload_off, it->payload_len, br->rec, it->hash);
        return;
    }
    const char *line = it->text;
    if (!it->is_record && strlen(line) != it->len) {
        problem(vs, "line %" PRIu64 ": a NUL byte inside the line", line_no);
        if (line_no <= 6)
            br->stop = true;
        else
            vs->records++;
        return;
    }
    if (line_no == 1) {
        if (strcmp(line, SELGW_BUNDLE_MAGIC)) {
            problem(vs, "line 1: not a selgw evidence bundle (expected \"%s\")",
                    SELGW_BUNDLE_MAGIC);
            br->stop = true;
        }
        return;
    }
    if (line_no <= 6) {
        if (!read_header_line(vs, line_no, line, br->key_text)) {
            br->stop = true;
        } else if (line_no == 6) {
            br->header_ok = true;
            br->key_ok = decide_key(vs, br->opt, br->key_text);
            br->stop = !br->key_ok;
        }
        return;
    }
    if (br->ended) {
        problem(vs, "line %" PRIu64 ": text after the end line", line_no);
        br->stop = true;
        return;
    }
    if (!strncmp(line, "end ", 4)) {
        uint64_t count;
        const char *end;
        if (!selgw_parse_u64(line + 4, &end, &count) || *end)
            problem(vs, "line %" PRIu64 ": expected \"end <number of records>\"", line_no);
        else if (count != vs->records)
            problem(vs,
                    "the end line says %" PRIu64 " records, the bundle has %" PRIu64
                    ": lines were added or removed",
                    count, vs->records);
        br->ended = true;
        return;
    }
    if (!it->is_record) {
        problem(vs, "line %" PRIu64 ": expected \"record <seq> <base64>\" or \"end <n>\"", line_no);
        return;
    }
    if (!it->decoded) {
        vs->records++;
        problem(vs, "record %" PRIu64 ": the payload is not valid base64 (or too long)", it->jseq);
        return;
    }
    verify_record(vs, it->jseq, b->arena + it->payload_off, it->payload_len, br->rec, it->hash);
}

/* The verification of one bundle read from f; *lot_text (when lot_text is not NULL) gets the
 * text of the LOT record of opt->lot that the plot chain holds, or NULL. `source` is the
 * bundle file's own stream that f reads through (f itself, or the stream under a section
 * or under the first line replayed): its read errors say why, and when `whole` (f is the
 * whole file) its hash is the bundle's. */
static selgw_err verify_stream(FILE *f, FILE *source, bool whole, const char *name,
                               const selgw_verify_options *opt, FILE *out, char **lot_text)
{
    if (lot_text)
        *lot_text = NULL;
    if (!out)
        out = stdout;
    if (sodium_init() < 0) {
        fprintf(out, "NOT VERIFIED: libsodium cannot be initialised\n");
        return SELGW_ERR_IO;
    }
    uint8_t given[SELGW_PUBLIC_KEY_BYTES];
    if (opt && opt->pubkey && !selgw_public_key_parse(opt->pubkey, given)) {
        char *k = shown_text(opt->pubkey), why[300];
        snprintf(why, sizeof why, "the given key is not ed25519:<64 hex digits>: %s", k ? k : "");
        fprintf(out, "NOT VERIFIED: %s\n", why);
        report_failure(opt, name, why);
        free(k);
        return SELGW_ERR_INVALID;
    }
    for (size_t i = 0; opt && i < opt->witness_key_count; i++) {
        const char *k = opt->witness_keys[i];
        char why[700] = "";
        bool found;
        memset(given, 0, sizeof given);
        if (!strncmp(k, "ed25519:", 8)
                ? !selgw_public_key_parse(k, given)
                : selgw_registered_key(k, given, &found, NULL, 0, why, sizeof why) != SELGW_OK) {
            char *shown_k = shown_text(k), *shown_why = shown_text(why), text[1000];
            snprintf(text, sizeof text, "--witness-key %s: %s", shown_k ? shown_k : "",
                     !strncmp(k, "ed25519:", 8) ? "not ed25519:<64 hex digits>"
                     : shown_why                ? shown_why
                                                : "");
            fprintf(out, "NOT VERIFIED: %s\n", text);
            report_failure(opt, name, text);
            free(shown_k);
            free(shown_why);
            return SELGW_ERR_INVALID;
        }
    }
    verify_state vs;
    memset(&vs, 0, sizeof vs);
    vs.out = out;
    vs.opt = opt;
    vs.name = name;
    vs.run_state = -1;
    vs.report = opt && opt->report;
    vs.report_zh = vs.report && selgw_report_is_zh(opt->report);
    vs.tags_offset_minutes = vs.utc_offset_minutes = DEFAULT_UTC_OFFSET_MINUTES;
    vs.want_lot = opt ? opt->lot : NULL;
    bundle_reading br = {.key_ok = true, .opt = opt};
    br.rec = malloc(sizeof *br.rec);
    vs.seal_payload = malloc(SELGW_RECORD_MAX_PAYLOAD);
    vs.seal_rec = malloc(sizeof *vs.seal_rec);
    if (!br.rec || !vs.seal_payload || !vs.seal_rec ||
        selgw_strmap_new(&vs.chain_index) != SELGW_OK ||
        selgw_strmap_new(&vs.opening_index) != SELGW_OK ||
        selgw_strmap_new(&vs.household_index) != SELGW_OK ||
        selgw_strmap_new(&vs.device_index) != SELGW_OK)
        vs.nomem = true;

    line_reader reader = {.in = f};
    pipeline p = {
        .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .reader = &reader};
    p.helper_running = pthread_create(&p.helper, NULL, helper_main, &p) == 0;
    batch batches[2];
    memset(batches, 0, sizeof batches);
    int cur = 0;
    bool have = false;
    if (!vs.nomem) {
        pipeline_start(&p, &batches[cur]);
        pipeline_finish(&p, &batches[cur]);
        have = batches[cur].has_lines;
        vs.nomem = batches[cur].nomem;
    }
    while (have && !vs.nomem && !br.stop) {
        /* the helper reads the next batch while this one is checked */
        batch *next = &batches[1 - cur];
        pipeline_start(&p, next);
        const batch *b = &batches[cur];
        for (size_t i = 0; i < b->count && !vs.nomem && !br.stop; i++)
            check_line(&vs, &br, b, &b->items[i]);
        pipeline_finish(&p, next);
        vs.nomem = vs.nomem || next->nomem;
        cur = 1 - cur;
        have = next->has_lines;
    }
    pthread_mutex_lock(&p.lock);
    p.stop = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.lock);
    if (p.helper_running)
        pthread_join(p.helper, NULL);
    if (reader.error) {
        const char *why = selgw_bundle_read_error(source);
        problem(&vs, "%s: read error: %s", name, why ? why : strerror(reader.read_errno));
    } else if (opt && opt->bundle_hash) {
        char *h = shown_text(opt->bundle_hash);
        snprintf(vs.bundle_hash, sizeof vs.bundle_hash, "%s", h ? h : "");
        free(h);
    } else if (whole) {
        uint8_t hash[SELGW_BUNDLE_HASH_BYTES];
        if (selgw_bundle_read_hash(source, hash))
            selgw_bundle_hash_text(hash, vs.bundle_hash);
    }
    batch_free(&batches[0]);
    batch_free(&batches[1]);
    free(reader.carry);
    free(br.rec);
    if (!br.key_ok) {
        report_failure(opt, name, vs.failure);
        verify_state_free(&vs);
        return SELGW_ERR_INVALID;
    }

    bool header_ok = br.header_ok, ended = br.ended;
    if (!vs.nomem && !header_ok && !vs.problem_count)
        problem(&vs, "the header is incomplete: the file is cut off");
    if (!vs.nomem && header_ok) {
        if (!ended)
            problem(&vs, "no end line: the bundle is cut off");
        if (!vs.last_was_seal) {
            problem(&vs, "the bundle does not end with a seal: its last records are covered by "
                         "no signature (cut off?)");
        } else {
            /* The closing seal names the head of every chain, and every record of the bundle
             * is linked to one of them (the seals before it too, in the gateway chain): its
             * signature is the one that covers them all. */
            if (!selgw_signature_ok(vs.pk, vs.seal_payload, vs.seal_rec->signed_len,
                                    vs.seal_rec->signature))
                record_problem(&vs, vs.last_seal_jseq, vs.seal_rec,
                               "the closing seal's signature does not verify with the %s key",
                               vs.key_from == KEY_BUNDLE ? "bundle's" : "trusted");
            check_seal_heads(&vs, true);
            vs.pending_seal = false;
        }
        check_completeness(&vs);
        check_asked(&vs, opt);
        check_lot(&vs);
        char a[SELGW_UTC_TEXT_SIZE], b[SELGW_INSTANT_TEXT_SIZE];
        if (vs.have_opening && vs.opening_time > vs.from_ns) {
            selgw_format_utc(vs.opening_time, a);
            problem(&vs,
                    "seals do not cover the period: the opening seal is of %s, after its "
                    "start %s",
                    a, selgw_format_instant(vs.from_ns, b));
        }
        if (vs.last_was_seal && !vs.last_seal_has_covers) {
            problem(&vs,
                    "the closing seal (record %" PRIu64 ") is of record format 2, which does "
                    "not say up to when it covers every poll: readings polled before the end "
                    "of the period could have been journaled after it and be left out",
                    vs.last_seal_jseq);
        } else if (vs.last_was_seal && vs.last_seal_covers < vs.to_ns) {
            char c[SELGW_INSTANT_TEXT_SIZE];
            problem(&vs,
                    "seals do not cover the period: the closing seal covers the polls begun "
                    "before %s, not all those before its end %s",
                    selgw_format_instant(vs.last_seal_covers, c),
                    selgw_format_instant(vs.to_ns, b));
        }
        for (size_t i = 0; i < vs.device_count; i++) {
            end_failed_run(&vs, &vs.devices[i]);
            finish_device(&vs, &vs.devices[i]);
        }
        if (!vs.nomem)
            print_summary(&vs, br.key_text);
    }
    if (vs.nomem) {
        fprintf(out, "NOT VERIFIED: out of memory while verifying\n");
        report_failure(opt, name, "out of memory while verifying");
        verify_state_free(&vs);
        return SELGW_ERR_NOMEM;
    }
    selgw_err result;
    print_verdict(&vs, &result);
    if (vs.report)
        fill_report(&vs, opt, header_ok, br.key_text, result);
    if (lot_text) {
        *lot_text = vs.lot_text;
        vs.lot_text = NULL;
    }
    verify_state_free(&vs);
    return result;
}

/* ---- lot bundles (docs/EVIDENCE.md, "Lot bundle format") -------------------------------- */

/* A stream over another: first the bytes of `prefix` (what was read to tell the kind of
 * bundle), then the other stream's, at most `left` of them when limited (one section of a
 * lot bundle). Closing it leaves the other stream open. */
typedef struct sub_stream {
    FILE *in;
    const char *prefix;
    size_t prefix_len, prefix_pos;
    bool limited;
    uint64_t left;
} sub_stream;

static ssize_t sub_stream_read(void *cookie, char *buf, size_t size)
{
    sub_stream *k = cookie;
    if (k->prefix_pos < k->prefix_len) {
        size_t n = k->prefix_len - k->prefix_pos < size ? k->prefix_len - k->prefix_pos : size;
        memcpy(buf, k->prefix + k->prefix_pos, n);
        k->prefix_pos += n;
        return (ssize_t)n;
    }
    if (k->limited && size > k->left)
        size = (size_t)k->left;
    if (!size)
        return 0;
    size_t got = fread(buf, 1, size, k->in);
    if (got == 0 && ferror(k->in))
        return -1;
    if (k->limited)
        k->left -= got;
    return (ssize_t)got;
}

static FILE *sub_stream_open(sub_stream *k)
{
    cookie_io_functions_t io = {.read = sub_stream_read};
    return fopencookie(k, "r", io);
}

#define LOT_MAGIC "selgw-lot 1"
#define LOT_LINE_MAX (1u << 20)

/* One line of the container without its LF, malloc'd; NULL at EOF, on a NUL byte, without
 * an LF, or longer than LOT_LINE_MAX (*bad says which of these it was). */
static char *read_container_line(FILE *f, bool *bad)
{
    size_t cap = 128, len = 0;
    char *line = malloc(cap);
    *bad = false;
    if (!line)
        return NULL;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (c == 0 || len + 1 >= LOT_LINE_MAX) {
            *bad = true;
            free(line);
            return NULL;
        }
        if (len + 1 >= cap) {
            char *grown = realloc(line, cap * 2);
            if (!grown) {
                free(line);
                return NULL;
            }
            line = grown;
            cap *= 2;
        }
        line[len++] = (char)c;
    }
    line[len] = '\0';
    if (c == EOF) {
        *bad = len > 0; /* a line cut off */
        free(line);
        return NULL;
    }
    return line;
}

typedef struct lot_check {
    text_list problems;
    uint64_t problem_count;
} lot_check;

static void lot_problem(lot_check *lc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lot_problem(lot_check *lc, const char *fmt, ...)
{
    lc->problem_count++;
    if (lc->problems.count >= MAX_PROBLEMS_LISTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n >= 0)
        text_list_take(&lc->problems, s);
}

static selgw_err verify_lot_bundle(FILE *f, const char *name, const selgw_verify_options *opt,
                                   FILE *out)
{
    lot_check lc;
    memset(&lc, 0, sizeof lc);
    selgw_lot *lot = NULL;
    char *header_text = NULL;
    bool *seen = NULL;
    char **verdicts = NULL;
    size_t sections = 0;
    selgw_err worst_other = SELGW_OK; /* a key or file that could not be read */
    bool untrusted = false, failed = false, ended = false;
    bool bad;
    size_t first_section = opt && opt->report ? selgw_report_section_count(opt->report) : 0;
    char *line = read_container_line(f, &bad);
    const char *id = line && !strncmp(line, "lot ", 4) ? line + 4 : NULL;
    char *text_line = id ? read_container_line(f, &bad) : NULL;
    char why[256] = "";
    if (!id || !selgw_lot_is_id(id)) {
        lot_problem(&lc, "line 2: expected \"lot <id>\"");
    } else if (!text_line || strncmp(text_line, "text ", 5)) {
        lot_problem(&lc, "line 3: expected \"text <the lot's JSON>\"");
    } else if (selgw_lot_parse(text_line + 5, strlen(text_line + 5), &lot, why, sizeof why) !=
               SELGW_OK) {
        char *w = shown_text(why);
        lot_problem(&lc, "line 3: the lot's text is %s", w ? w : "?");
        free(w);
    } else if (strcmp(lot->lot, id)) {
        lot_problem(&lc, "line 3: the text is of another lot than line 2 names");
        selgw_lot_free(lot);
        lot = NULL;
    }
    if (lot) {
        header_text = text_line + 5;
        char *d = describe_lot(lot);
        fprintf(out, "Lot %s\n", d ? d : "?");
        free(d);
        seen = calloc(lot->plot_count, sizeof *seen);
        verdicts = calloc(lot->plot_count, sizeof *verdicts);
        if (!seen || !verdicts)
            lot_problem(&lc, "out of memory");
    }
    uint64_t line_no = 3;
    while (lot && seen && verdicts && !ended) {
        free(line);
        line = read_container_line(f, &bad);
        line_no++;
        if (!line) {
            lot_problem(&lc, "line %" PRIu64 ": %s", line_no,
                        bad ? "a NUL byte, a line cut off or too long"
                            : "no end line: the lot bundle is cut off");
            break;
        }
        if (!strncmp(line, "end ", 4)) {
            uint64_t n;
            const char *end;
            if (!selgw_parse_u64(line + 4, &end, &n) || *end || n != sections)
                lot_problem(&lc,
                            "line %" PRIu64 ": the end line does not say %zu, the number of "
                            "sections",
                            line_no, sections);
            ended = true;
            if (fgetc(f) != EOF)
                lot_problem(&lc, "text after the end line");
            break;
        }
        char plot[SELGW_ID_MAX + 1];
        uint64_t len = 0;
        const char *rest;
        char *space = !strncmp(line, "section ", 8) ? strchr(line + 8, ' ') : NULL;
        size_t plot_len = space ? (size_t)(space - line - 8) : 0;
        if (!space || plot_len == 0 || plot_len >= sizeof plot ||
            !selgw_parse_u64(space + 1, &rest, &len) || *rest) {
            lot_problem(&lc, "line %" PRIu64 ": expected \"section <plot> <bytes>\" or \"end <n>\"",
                        line_no);
            break; /* the rest cannot be found */
        }
        memcpy(plot, line + 8, plot_len);
        plot[plot_len] = '\0';
        char *shown_plot = shown_text(plot);
        size_t index = SIZE_MAX;
        for (size_t i = 0; i < lot->plot_count; i++)
            if (!strcmp(lot->plots[i].plot, plot))
                index = i;
        sections++;
        fprintf(out, "\n==== Section %zu: plot %s (%" PRIu64 " bytes) ====\n", sections,
                shown_plot ? shown_plot : "?", len);
        if (index == SIZE_MAX)
            lot_problem(&lc, "section %zu is of plot %s, which is not a plot of the lot", sections,
                        shown_plot ? shown_plot : "?");
        else if (seen[index])
            lot_problem(&lc, "section %zu: a second section of plot %s", sections,
                        shown_plot ? shown_plot : "?");
        sub_stream k = {.in = f, .limited = true, .left = len};
        FILE *sf = sub_stream_open(&k);
        if (!sf) {
            lot_problem(&lc, "out of memory");
            free(shown_plot);
            break;
        }
        selgw_verify_options sopt = opt ? *opt : (selgw_verify_options){0};
        sopt.lot = lot->lot;
        sopt.plot = plot;
        /* the lot's period comes from its LOT record; a period the auditor asked for
         * (--from, --to) must lie in every section's too */
        char section_name[600];
        snprintf(section_name, sizeof section_name, "%s, section %zu", name, sections);
        char *text = NULL;
        selgw_err r = verify_stream(sf, f, false, section_name, &sopt, out, &text);
        char drain[4096];
        while (fread(drain, 1, sizeof drain, sf) > 0)
            ;
        fclose(sf);
        if (k.left) {
            lot_problem(&lc, "section %zu (plot %s): cut off: %" PRIu64 " of its bytes are missing",
                        sections, shown_plot ? shown_plot : "?", k.left);
            failed = true;
        }
        if (r == SELGW_ERR_AUTH)
            untrusted = true;
        else if (r == SELGW_ERR_CORRUPT || r == SELGW_ERR_NOMEM)
            failed = true;
        else if (r != SELGW_OK && worst_other == SELGW_OK)
            worst_other = r;
        if (r == SELGW_ERR_CORRUPT)
            lot_problem(&lc,
                        "section %zu (plot %s): NOT VERIFIED (its problems are listed with it)",
                        sections, shown_plot ? shown_plot : "?");
        if (text && strcmp(text, header_text))
            lot_problem(&lc,
                        "section %zu (plot %s): its LOT record's text is not the lot's text "
                        "(line 3): the lot was altered in one of them",
                        sections, shown_plot ? shown_plot : "?");
        if (index != SIZE_MAX && !seen[index]) {
            seen[index] = true;
            verdicts[index] = strdup(r == SELGW_OK            ? "VERIFIED"
                                     : r == SELGW_ERR_AUTH    ? "checked, key not trusted"
                                     : r == SELGW_ERR_CORRUPT ? "NOT VERIFIED"
                                                              : "not read");
        }
        free(text);
        free(shown_plot);
        if (worst_other != SELGW_OK)
            break; /* the key: every section would say the same */
    }
    if (lot && opt && opt->plot) { /* --plot: the lot must be evidence for that plot */
        bool of_lot = false;
        for (size_t i = 0; i < lot->plot_count; i++)
            of_lot = of_lot || !strcmp(lot->plots[i].plot, opt->plot);
        if (!of_lot) {
            char *asked = shown_text(opt->plot);
            lot_problem(&lc, "the bundle is evidence for lot %s, which has no plot %s as asked",
                        lot->lot, asked ? asked : "?");
            free(asked);
        }
    }
    for (size_t i = 0; lot && seen && i < lot->plot_count; i++)
        if (!seen[i] && ended) {
            char *p = shown_text(lot->plots[i].plot);
            lot_problem(&lc, "plot %s of the lot has no section: its evidence is left out",
                        p ? p : "?");
            free(p);
        }
    /* the hash of the whole file, read to its end (the QR label names it) */
    char hash_text[SELGW_BUNDLE_HASH_TEXT_SIZE] = "";
    uint8_t hash[SELGW_BUNDLE_HASH_BYTES];
    if (opt && opt->bundle_hash) {
        char *h = shown_text(opt->bundle_hash);
        snprintf(hash_text, sizeof hash_text, "%s", h ? h : "");
        free(h);
    } else if (ended && selgw_bundle_read_hash(f, hash)) {
        selgw_bundle_hash_text(hash, hash_text);
    }
    for (size_t i = first_section;
         hash_text[0] && opt && opt->report && i < selgw_report_section_count(opt->report); i++)
        selgw_report_set_bundle_hash(opt->report, i, hash_text);
    if (lot && verdicts) {
        fprintf(out, "\nLot %s, %zu section%s:\n", lot->lot, sections, sections == 1 ? "" : "s");
        if (hash_text[0])
            fprintf(out, "  bundle: %s\n", hash_text);
        for (size_t i = 0; i < lot->plot_count; i++) {
            char *p = shown_text(lot->plots[i].plot);
            fprintf(out, "  plot %s: %s\n", p ? p : "?", verdicts[i] ? verdicts[i] : "no section");
            free(p);
        }
    }
    selgw_err result;
    if (worst_other != SELGW_OK && !lc.problem_count) {
        result = worst_other; /* said by the section */
    } else if (lc.problem_count || failed) {
        fprintf(out, "\nProblems of the lot:\n");
        for (size_t i = 0; i < lc.problems.count; i++)
            fprintf(out, "  %s\n", lc.problems.items[i]);
        if (lc.problem_count > lc.problems.count)
            fprintf(out, "  ... and %" PRIu64 " more\n", lc.problem_count - lc.problems.count);
        fprintf(out, "NOT VERIFIED: %" PRIu64 " problem%s\n", lc.problem_count,
                lc.problem_count == 1 ? "" : "s");
        result = SELGW_ERR_CORRUPT;
    } else if (untrusted) {
        fprintf(out,
                "\nNOT VERIFIED: the key is not trusted. Every check of the lot's %zu sections "
                "passed, but their key is only the bundle's own claim: verify with --pubkey KEY "
                "or --keys FILE\n",
                sections);
        result = SELGW_ERR_AUTH;
    } else {
        char *product = shown_text(lot->product);
        fprintf(out,
                "\nVERIFIED lot %s (%s): %zu sections, one for each plot of the lot, each "
                "VERIFIED above with a trusted key. Checked: every section as a bundle of its "
                "own; each plot's chain holds the lot's LOT record, identical to the lot's text; "
                "each section covers its plot's season up to the end of its harvest (or the lot's "
                "record); each plot's "
                "tags list the lot's product and place the plot inside its area\n",
                lot->lot, product ? product : "?", sections);
        free(product);
        result = SELGW_OK;
    }
    if (opt && opt->report) /* the lot's own verdict on top of the report */
        selgw_report_set_lot_verdict(opt->report, lot ? lot->lot : "?",
                                     result == SELGW_OK         ? SELGW_REPORT_VERIFIED
                                     : result == SELGW_ERR_AUTH ? SELGW_REPORT_KEY_UNTRUSTED
                                                                : SELGW_REPORT_NOT_VERIFIED,
                                     lc.problems.items, lc.problems.count, lc.problem_count);
    for (size_t i = 0; lot && verdicts && i < lot->plot_count; i++)
        free(verdicts[i]);
    free(verdicts);
    free(seen);
    selgw_lot_free(lot);
    free(line);
    free(text_line);
    text_list_free(&lc.problems);
    return result;
}

selgw_err selgw_evidence_verify_stream(FILE *f, const char *name, const selgw_verify_options *opt,
                                       FILE *out)
{
    if (!out)
        out = stdout;
    /* The first line says which kind of bundle it is; what was read to know is replayed. */
    char first[sizeof LOT_MAGIC + 1];
    size_t n = 0;
    int c = 0;
    while (n < sizeof first && (c = fgetc(f)) != EOF) {
        first[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (n == sizeof LOT_MAGIC && !memcmp(first, LOT_MAGIC "\n", n))
        return verify_lot_bundle(f, name, opt, out);
    if (fseeko(f, -(off_t)n, SEEK_CUR) == 0) /* a file: read it again from its start */
        return verify_stream(f, f, true, name, opt, out, NULL);
    clearerr(f);
    sub_stream k = {.in = f, .prefix = first, .prefix_len = n};
    FILE *whole = sub_stream_open(&k);
    if (!whole) {
        fprintf(out, "NOT VERIFIED: out of memory\n");
        return SELGW_ERR_NOMEM;
    }
    selgw_err err = verify_stream(whole, f, true, name, opt, out, NULL);
    fclose(whole);
    return err;
}

selgw_err selgw_evidence_verify(const char *path, const selgw_verify_options *opt, FILE *out)
{
    if (!out)
        out = stdout;
    if (!path) {
        fprintf(out, "NOT VERIFIED: no bundle given\n");
        report_failure(opt, NULL, "no bundle given");
        return SELGW_ERR_INVALID;
    }
    FILE *f = selgw_bundle_open_read(path, NULL, 0);
    if (!f) {
        char *p = shown_text(path), why[600];
        snprintf(why, sizeof why, "%s: %s", p ? p : "", strerror(errno));
        fprintf(out, "NOT VERIFIED: %s\n", why);
        report_failure(opt, path, why);
        free(p);
        return SELGW_ERR_IO;
    }
    selgw_err err = selgw_evidence_verify_stream(f, path, opt, out);
    fclose(f);
    return err;
}
