#include "gateway.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evidence/chains.h"
#include "base/clock.h"
#include "base/durable.h"
#include "journal/journal.h"
#include "evidence/keys.h"
#include "evidence/witness.h"
#include "base/log.h"
#include "base/worker.h"
#include "sinks/sink.h"
#include "evidence/plotlog.h"
#include "evidence/bundle.h"
#include "poll/poller.h"
#include "evidence/lot.h"
#include "evidence/provenance.h"
#include "journal/record.h"
#include "poll/transport.h"
#include "http/server.h"
#include "plot_history.h"
#include "alerts/alerts.h"

/* A change of CLOCK_REALTIME against CLOCK_MONOTONIC larger than these is a step (NTP
 * steps past 128 ms; slewing moves far less than this in a second). */
#define STEP_BACK_NS (50 * SELGW_NS_PER_MS)
#define STEP_FORWARD_NS SELGW_NS_PER_S
/* How often the sealer asks the kernel whether the clock is synchronised (adjtimex, a
 * system call) when nothing suggests it changed: a step, and a seal, look at once. */
#define CLOCK_SYNC_CHECK_NS (60 * SELGW_NS_PER_S)
/* The chain state is saved at least this often (and at every seal): a start reads the
 * journal from there, and retention keeps what follows it. */
#define CHECKPOINT_INTERVAL_NS (60 * SELGW_NS_PER_S)

/* A plot chain record appended, to be copied to the plot chain log once committed. */
typedef struct plot_record {
    uint64_t jseq;
    size_t len;
    uint8_t *payload;
} plot_record;

/* An annotation journaled, whose queue file goes once its record is committed. */
typedef struct taken_annotation {
    uint64_t jseq;
    selgw_annotation a;
} taken_annotation;

enum { WITNESS_REMEMBERED = 64, RECENT_SEALS = 256 };

/* One of this gateway's recent seals, which a witness statement must name to be journaled:
 * its hash, and its position in the gateway chain when known (not for the last seal of the
 * previous run once the journal no longer holds it). */
typedef struct recent_seal {
    uint8_t hash[SELGW_HASH_BYTES];
    uint64_t chain_seq;
    bool chain_seq_known;
} recent_seal;

struct selgw_gateway {
    selgw_config *cfg; /* replaced by a reload: other threads read it under lock only */
    char *journal_dir; /* the journal's directory, which a reload cannot change */
    selgw_gateway_options opt;
    selgw_journal *journal;
    selgw_sinks *sinks;
    selgw_poller **pollers; /* one per bus of cfg; replaced under lock (the sealer reads) */
    size_t poller_count;
    bool running;

    /* The accept path: pollers' threads append records. */
    pthread_mutex_t lock;
    selgw_repeat refusals;    /* the journal refused records: logged once, counted */
    uint64_t refused;         /* readings refused since the last accepted one */
    int64_t refused_first_ns; /* when the first of them was polled */
    int64_t refused_last_ns;
    selgw_err refused_err;
    uint64_t accepted, refused_total;
    bool failed;

    /* --print: JSON lines on stdout */
    char *print_buf;
    size_t print_cap;
    bool print_failed;

    uint64_t polls, failed_polls, late_polls; /* of pollers already freed (reloads) */
    selgw_lateness lateness;                  /* idem */

    /* Evidence (under lock): chain heads, the payload being built, the signing key. */
    selgw_chains *chains;
    char *chains_state; /* path of the chain state file in the journal directory */
    uint8_t payload[SELGW_RECORD_MAX_PAYLOAD];
    selgw_signer *signer;          /* NULL when signing is off: chained, not sealed */
    int64_t last_seal_ns;          /* monotonic */
    atomic_bool seal_requested;    /* selgw_gateway_request_seal: seal at the next round */
    int clock_synced;              /* last recorded clock state: -1 none yet */
    int64_t clock_sync_checked_ns; /* monotonic: the last look at the synchronisation state */
    int64_t clock_offset_ns;       /* CLOCK_REALTIME - CLOCK_MONOTONIC at the last look */
    bool clock_offset_known;
    uint64_t last_step_jseq;     /* the last CLOCK record saying the clock stepped back */
    int64_t max_time_since_seal; /* latest time of a record appended since the last seal */
    int64_t last_seal_covers_ns; /* covers_until of the last seal of this run */
    uint64_t last_seal_jseq;     /* its journal sequence number; 0 before the first */
    bool checkpoint_due;         /* a state snapshot is wanted at the next sealer tick */
    uint64_t last_jseq;          /* the last record appended */

    /* Written once committed (under lock until taken by persist). */
    char *state_text; /* chain state as of its checkpoint (the last seal, or later) */
    size_t state_len;
    uint64_t state_checkpoint_jseq;
    int64_t last_checkpoint_ns; /* monotonic: when the last state snapshot was taken */
    plot_record *plot_pending;
    size_t plot_pending_count, plot_pending_cap;
    taken_annotation *annotations;
    size_t annotation_count, annotation_cap;
    selgw_plotlog *plotlog;    /* NULL when it cannot be opened (logged) */
    uint64_t plot_copy_failed; /* at start: a plot record that could not be copied */
    uint64_t plotlog_last_jseq, journal_last_at_load; /* the log ahead of the journal? */
    selgw_chains_recovery recovery;          /* what loading the chains found, for the START */
    selgw_journal_recovery journal_recovery; /* what opening the journal found */
    selgw_repeat persist_repeat;             /* writing the plot chain log or chain state */
    selgw_repeat seal_repeat;
    /* Witness statements (docs/ARCHIVE.md, "The archive as a witness"): the last ones
     * journaled (seal hash and key), so that a statement sent again is not journaled twice
     * (seeded at start from the journal's records after the last seal); this gateway's
     * recent seals, the only ones a statement journaled may name (seeded at start with the
     * last seal of the previous run); bad statements and statements naming no recent seal,
     * each logged once with a count; whether the gateway is stopping (nothing is journaled
     * after its final seal). Under lock. */
    uint8_t witnessed[WITNESS_REMEMBERED][SELGW_HASH_BYTES + SELGW_PUBLIC_KEY_BYTES];
    size_t witnessed_count, witnessed_next;
    recent_seal recent_seals[RECENT_SEALS];
    size_t recent_seal_count, recent_seal_next;
    selgw_repeat bad_witness, foreign_witness;
    bool stopping;
    selgw_repeat annotation_repeat; /* removing queue files of journaled annotations */
    uint64_t refusal_gap_jseq;      /* the last GAP of refusals; its note goes once it is in */
    bool refusal_noted;             /* the journal holds a note of refusals */
    pthread_mutex_t persist_lock;   /* one persist at a time, in the order of their snapshots */

    /* The sealer thread: seals on time, journals annotations and clock changes. */
    selgw_worker *sealer;

    /* The HTTP API (NULL when off or it could not listen); it reads through status_source. */
    selgw_http_server *http;
    int64_t start_ns;           /* UTC */
    uint64_t config_generation; /* under lock: 1, and +1 at each reload taken */

    /* Alerts (under lock): fed every reading; each transition an ALERT in the plot's chain. */
    selgw_alert_engine *alerts;
};

static void print_record(selgw_gateway *g, const uint8_t *payload, size_t len, uint64_t seq)
{
    selgw_record *rec = malloc(sizeof *rec);
    if (!rec || selgw_record_decode(payload, len, rec) != SELGW_OK) {
        free(rec);
        return;
    }
    rec->seq = seq;
    selgw_record_hash(payload, len, rec->hash);
    rec->has_hash = true;
    size_t need = selgw_record_json(rec, g->print_buf, g->print_cap);
    if (need + 2 > g->print_cap) {
        char *grown = realloc(g->print_buf, need + 2);
        if (grown) {
            g->print_buf = grown;
            g->print_cap = need + 2;
            selgw_record_json(rec, g->print_buf, g->print_cap);
        }
    }
    free(rec);
    if (need + 2 > g->print_cap)
        return;
    g->print_buf[need] = '\n';
    if (fwrite(g->print_buf, 1, need + 1, stdout) != need + 1 || fflush(stdout) != 0) {
        if (!g->print_failed)
            selgw_log(SELGW_LOG_ERROR, "cannot print readings to stdout: %s", strerror(errno));
        g->print_failed = true;
    }
}

typedef size_t (*encode_fn)(const void *arg, const selgw_chain_link *link, uint8_t *buf,
                            size_t cap);

static size_t encode_reading(const void *arg, const selgw_chain_link *link, uint8_t *buf,
                             size_t cap)
{
    return selgw_record_encode_reading(arg, link, buf, cap);
}

static size_t encode_event(const void *arg, const selgw_chain_link *link, uint8_t *buf, size_t cap)
{
    return selgw_record_encode_event(arg, link, buf, cap);
}

static selgw_str str_of(const char *s)
{
    return (selgw_str){s, s ? strlen(s) : 0};
}

/* ---- appending ------------------------------------------------------------------------ */

/* A record is in the journal (not yet committed): its chain moves on, and what must
 * outlive the journal or be shown is taken note of. Under lock. */
static void note_appended_locked(selgw_gateway *g, const char *chain, uint64_t chain_seq,
                                 const uint8_t *payload, size_t len, uint64_t seq, int64_t time_ns)
{
    uint8_t hash[SELGW_RECORD_HASH_BYTES];
    selgw_record_hash(payload, len, hash);
    if (selgw_chains_advance(g->chains, chain, chain_seq, hash, time_ns, seq) != SELGW_OK)
        selgw_log(SELGW_LOG_ERROR, "%s: out of memory for the chain head", chain);
    g->accepted++;
    g->last_jseq = seq;
    if (time_ns > g->max_time_since_seal)
        g->max_time_since_seal = time_ns;
    if (!strncmp(chain, "plot/", 5)) {
        uint8_t *copy = malloc(len);
        if (copy && g->plot_pending_count == g->plot_pending_cap) {
            size_t cap = g->plot_pending_cap ? g->plot_pending_cap * 2 : 8;
            plot_record *grown = realloc(g->plot_pending, cap * sizeof *grown);
            if (grown) {
                g->plot_pending = grown;
                g->plot_pending_cap = cap;
            }
        }
        if (copy && g->plot_pending_count < g->plot_pending_cap) {
            memcpy(copy, payload, len);
            g->plot_pending[g->plot_pending_count++] = (plot_record){seq, len, copy};
        } else {
            free(copy);
            selgw_log(SELGW_LOG_ERROR,
                      "%s: out of memory: record %" PRIu64 " is not copied "
                      "to the plot chain log (the next start copies it)",
                      chain, seq);
        }
    }
    if (g->opt.print_readings)
        print_record(g, payload, len, seq);
}

/* Encodes a record as the next of its chain and appends it, under g->lock: positions in a
 * chain are handed out in the order records enter the journal. No checks, no accounting:
 * the callers do those. */
static selgw_err append_raw_locked(selgw_gateway *g, const char *chain, encode_fn encode,
                                   const void *arg, int64_t time_ns, uint64_t *seq_out)
{
    selgw_chain_link link;
    selgw_err err = selgw_chains_next(g->chains, chain, &link);
    if (err != SELGW_OK)
        return err;
    size_t len = encode(arg, &link, g->payload, sizeof g->payload);
    if (len == 0 || len > sizeof g->payload) {
        selgw_log(SELGW_LOG_ERROR, "%s: record too large to journal (%zu bytes)", chain, len);
        return SELGW_ERR_RANGE;
    }
    /* The disk budget's GAP records take the next places of the gateway chain: made now,
     * before this record's place is final. */
    selgw_journal_make_room(g->journal, len);
    if (!strcmp(link.chain, "gateway")) {
        selgw_chain_link now;
        if (selgw_chains_next(g->chains, "gateway", &now) == SELGW_OK &&
            now.chain_seq != link.chain_seq) {
            link = now;
            len = encode(arg, &link, g->payload, sizeof g->payload);
        }
    }
    uint64_t seq;
    err = selgw_journal_append(g->journal, g->payload, len, &seq);
    if (err == SELGW_OK) {
        note_appended_locked(g, link.chain, link.chain_seq, g->payload, len, seq, time_ns);
        if (seq_out)
            *seq_out = seq;
    }
    return err;
}

/* The clock stepped back: said in the gateway chain, before any record whose time would
 * otherwise look out of order (docs/EVIDENCE.md, "Times"). */
static void record_step_back_locked(selgw_gateway *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void record_step_back_locked(selgw_gateway *g, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    selgw_record event = {.type = SELGW_RECORD_CLOCK,
                          .time_ns = selgw_utc_ns(),
                          .gateway = str_of(g->cfg->gateway_id),
                          .text = str_of(text)};
    uint64_t seq;
    if (append_raw_locked(g, "gateway", encode_event, &event, event.time_ns, &seq) == SELGW_OK) {
        g->last_step_jseq = seq;
        selgw_log(SELGW_LOG_WARN, "clock %s", text);
    }
}

typedef enum record_kind {
    KIND_READING,    /* stamped when its poll began */
    KIND_EVENT,      /* stamped now by the gateway */
    KIND_ANNOTATION, /* an event a verifier checks against the last seal */
    KIND_SEAL,
} record_kind;

/* Before a record with time_ns joins `chain`: if its time is before its chain's last record,
 * or (a reading) before what the last seal covers, or (an event) before the last seal, or
 * (a seal) before a record it covers, the clock stepped back, and a CLOCK record says so
 * first unless one already has since then. */
static void check_clock_locked(selgw_gateway *g, const char *chain, int64_t time_ns,
                               record_kind kind)
{
    char a[SELGW_UTC_TEXT_SIZE], b[SELGW_UTC_TEXT_SIZE];
    const selgw_chain_info *h = selgw_chains_find(g->chains, chain);
    if (h && h->chain_seq && time_ns < h->last_time_ns && g->last_step_jseq <= h->last_jseq) {
        record_step_back_locked(g, "stepped back: chain %s was at %s, the clock now says %s", chain,
                                selgw_format_utc(h->last_time_ns, a), selgw_format_utc(time_ns, b));
        return;
    }
    uint64_t seal_jseq;
    int64_t seal_time;
    selgw_chains_last_seal(g->chains, NULL, &seal_jseq, &seal_time);
    if (kind == KIND_READING) {
        /* the last seal said it covers every poll begun before this one's time */
        if (seal_jseq && g->last_step_jseq <= seal_jseq && time_ns < g->last_seal_covers_ns)
            record_step_back_locked(g,
                                    "stepped back: the last seal covers the polls begun before "
                                    "%s, a poll began at %s",
                                    selgw_format_utc(g->last_seal_covers_ns, a),
                                    selgw_format_utc(time_ns, b));
        return;
    }
    if (!seal_jseq || g->last_step_jseq > seal_jseq)
        return;
    if (time_ns < seal_time)
        record_step_back_locked(g, "stepped back: the last seal is of %s, the clock now says %s",
                                selgw_format_utc(seal_time, a), selgw_format_utc(time_ns, b));
    else if (kind == KIND_SEAL && time_ns < g->max_time_since_seal)
        record_step_back_locked(g,
                                "stepped back: a record since the last seal is of %s, the "
                                "clock now says %s",
                                selgw_format_utc(g->max_time_since_seal, a),
                                selgw_format_utc(time_ns, b));
}

/* Before the first record accepted after refusals, a GAP record says how many readings
 * the journal refused, from when to when, and why, so the gap is explicit in the
 * gateway's chain. Refusals stay counted until the GAP is in. */
static void record_refusals_locked(selgw_gateway *g)
{
    /* The GAP waits until the journal would take it (a refused GAP is no reading refused,
     * and trying one before every refused reading would double the work). */
    if (selgw_journal_would_refuse(g->journal, 1024) != SELGW_OK)
        return;
    char text[300], since[SELGW_UTC_TEXT_SIZE], until[SELGW_UTC_TEXT_SIZE];
    snprintf(text, sizeof text, "%" PRIu64 " readings polled from %s to %s were not journaled: %s",
             g->refused, selgw_format_utc(g->refused_first_ns, since),
             selgw_format_utc(g->refused_last_ns, until), selgw_strerror(g->refused_err));
    selgw_record gap = {.type = SELGW_RECORD_GAP,
                        .time_ns = selgw_utc_ns(),
                        .gateway = str_of(g->cfg->gateway_id),
                        .text = str_of(text)};
    check_clock_locked(g, "gateway", gap.time_ns, KIND_EVENT);
    uint64_t seq;
    if (append_raw_locked(g, "gateway", encode_event, &gap, gap.time_ns, &seq) == SELGW_OK) {
        g->refused = 0;
        g->refusal_gap_jseq = seq;
        selgw_repeat_ok(&g->refusals, "journaling readings");
    }
}

/* Appends a record as the next of its chain, after the checks every record gets: a GAP
 * for readings refused before it, a CLOCK record for a clock that stepped back. A reading
 * the journal refuses is counted for the GAP. */
static selgw_err append_chained_locked(selgw_gateway *g, const char *chain, encode_fn encode,
                                       const void *arg, int64_t time_ns, record_kind kind,
                                       uint64_t *seq)
{
    if (g->refused > 0)
        record_refusals_locked(g);
    check_clock_locked(g, chain, time_ns, kind);
    selgw_err err = append_raw_locked(g, chain, encode, arg, time_ns, seq);
    if (err != SELGW_OK && kind == KIND_READING) {
        if (g->refused == 0)
            g->refused_first_ns = time_ns;
        g->refused_last_ns = time_ns;
        g->refused++;
        g->refused_total++;
        g->refused_err = err;
        selgw_repeat_fail(&g->refusals, "journaling readings", err, "refused readings are counted");
    }
    /* A full disk or a used-up budget is a condition: refused and counted, the GAP
     * follows. Only a journal that failed (an fdatasync error) stops the gateway. */
    if (err == SELGW_ERR_IO && !g->failed) {
        const char *why = selgw_journal_failure(g->journal);
        selgw_log(SELGW_LOG_ERROR, "journal failed%s%s: stopping", why ? ": " : "", why ? why : "");
        g->failed = true;
        if (g->opt.on_failure)
            g->opt.on_failure(g->opt.on_failure_ctx);
    }
    return err;
}

/* ---- alerts ------------------------------------------------------------------------------ */

static size_t encode_alert(const void *arg, const selgw_chain_link *link, uint8_t *buf, size_t cap)
{
    return selgw_record_encode_alert(arg, link, buf, cap);
}

static void format_alert_value(char *buf, size_t cap, double v, const char *unit)
{
    if (isfinite(v))
        snprintf(buf, cap, "%g%s%s", v, unit[0] ? " " : "", unit);
    else
        snprintf(buf, cap, "no value");
}

/* One INFO line per transition (docs/ALERTS.md). */
static void log_alert(const selgw_alert_event *ev)
{
    char value[64], threshold[64], since[SELGW_UTC_TEXT_SIZE], what[200];
    format_alert_value(value, sizeof value, ev->value, ev->unit);
    format_alert_value(threshold, sizeof threshold, ev->threshold, ev->unit);
    if (ev->field[0])
        snprintf(what, sizeof what, "%s of device %s", ev->field, ev->device);
    else
        snprintf(what, sizeof what, "device %s", ev->device);
    selgw_format_utc(ev->since_ns, since);
    if (ev->why)
        selgw_log(SELGW_LOG_INFO, "alert %s cleared on plot %s (%s): %s", ev->rule, ev->plot, what,
                  ev->why);
    else if (ev->state == SELGW_ALERT_CLEARED)
        selgw_log(SELGW_LOG_INFO, "alert %s cleared on plot %s: %s is %s%s%s (raised at %s)",
                  ev->rule, ev->plot, what, value, isfinite(ev->threshold) ? ", past " : "",
                  isfinite(ev->threshold) ? threshold : "", since);
    else if (ev->condition == SELGW_ALERT_STALE)
        selgw_log(SELGW_LOG_INFO, "alert %s raised on plot %s: no valid reading of %s since %s",
                  ev->rule, ev->plot, what, since);
    else if (ev->condition == SELGW_ALERT_STUCK)
        selgw_log(SELGW_LOG_INFO, "alert %s raised on plot %s: %s has been %s since %s", ev->rule,
                  ev->plot, what, value, since);
    else
        selgw_log(SELGW_LOG_INFO, "alert %s raised on plot %s: %s is %s, %s %s since %s", ev->rule,
                  ev->plot, what, value, selgw_alert_condition_name(ev->condition), threshold,
                  since);
}

/* The engine's callback, under g->lock: the transition as the next record of the plot's
 * chain, stamped now (the gateway decided it now; `since` says when the condition began). */
static void journal_alert_locked(void *ctx, const selgw_alert_event *ev)
{
    selgw_gateway *g = ctx;
    char chain[8 + SELGW_ID_MAX * 4];
    snprintf(chain, sizeof chain, "plot/%s", ev->plot);
    selgw_record *rec = calloc(1, sizeof *rec);
    if (!rec) {
        selgw_log(SELGW_LOG_ERROR, "alert %s on plot %s: out of memory: not journaled", ev->rule,
                  ev->plot);
        return;
    }
    rec->type = SELGW_RECORD_ALERT;
    rec->time_ns = selgw_utc_ns();
    rec->gateway = str_of(g->cfg->gateway_id);
    rec->base = str_of(ev->base);
    rec->plot = str_of(ev->plot);
    rec->crop = str_of(ev->crop);
    rec->rule = str_of(ev->rule);
    rec->device = str_of(ev->device);
    rec->field = str_of(ev->field);
    rec->unit = str_of(ev->unit);
    rec->alert_state = ev->state;
    rec->alert_condition = ev->condition;
    rec->alert_value = ev->value;
    rec->alert_threshold = ev->threshold;
    rec->alert_since_ns = ev->since_ns;
    log_alert(ev);
    selgw_err err =
        append_chained_locked(g, chain, encode_alert, rec, rec->time_ns, KIND_EVENT, NULL);
    if (err != SELGW_OK)
        selgw_log(SELGW_LOG_ERROR, "alert %s on plot %s: not journaled: %s", ev->rule, ev->plot,
                  selgw_strerror(err));
    free(rec);
}

static void feed_alerts_locked(selgw_gateway *g, const selgw_reading *reading)
{
    if (g->alerts &&
        selgw_alert_engine_feed(g->alerts, reading, journal_alert_locked, g) == SELGW_ERR_NOMEM)
        selgw_log(SELGW_LOG_ERROR, "alerts: out of memory: a reading of %s was not checked",
                  reading->device);
}

static bool restore_alert(void *ctx, uint64_t jseq, const uint8_t *payload, size_t len)
{
    (void)jseq;
    selgw_gateway *g = ctx;
    selgw_record *rec = malloc(sizeof *rec);
    if (!rec)
        return false;
    bool ok = true;
    if (selgw_record_decode(payload, len, rec) == SELGW_OK && rec->type == SELGW_RECORD_ALERT)
        ok = selgw_alert_engine_restore(g->alerts, rec) == SELGW_OK;
    free(rec);
    return ok;
}

/* At start: the alerts active before it, from the ALERT records of the plot chain log
 * (which load_chains brought up to date with the journal), so that none is raised again
 * or forgotten. */
static selgw_err load_alerts(selgw_gateway *g)
{
    selgw_err err = selgw_alert_engine_new(g->cfg, &g->alerts);
    if (err != SELGW_OK)
        return err;
    char why[512] = "";
    err = selgw_plotlog_each(g->journal_dir, NULL, restore_alert, g, why, sizeof why);
    if (err != SELGW_OK)
        selgw_log(SELGW_LOG_WARN,
                  "alerts: cannot read the plot chain log (%s): alerts active "
                  "before this start are not known and may be raised again",
                  why[0] ? why : selgw_strerror(err));
    size_t active = selgw_alert_engine_active_count(g->alerts);
    if (active)
        selgw_log(SELGW_LOG_INFO, "alerts: %zu active before this start", active);
    return SELGW_OK;
}

/* Pollers call this from their threads for every completed poll. */
static void accept_reading(void *ctx, const selgw_device *device, const selgw_reading *reading)
{
    selgw_gateway *g = ctx;
    pthread_mutex_lock(&g->lock);
    append_chained_locked(g, device->chain, encode_reading, reading, reading->time_ns, KIND_READING,
                          NULL);
    feed_alerts_locked(g, reading);
    pthread_mutex_unlock(&g->lock);
}

/* An event of the gateway's, stamped now. */
static selgw_err append_event_locked(selgw_gateway *g, selgw_record *event, const char *chain,
                                     record_kind kind, uint64_t *seq)
{
    event->time_ns = selgw_utc_ns();
    event->gateway = str_of(g->cfg->gateway_id);
    return append_chained_locked(g, chain, encode_event, event, event->time_ns, kind, seq);
}

static selgw_err append_gateway_event_locked(selgw_gateway *g, selgw_record_type type,
                                             const char *text)
{
    selgw_record *event = calloc(1, sizeof *event);
    if (!event)
        return SELGW_ERR_NOMEM;
    event->type = type;
    event->text = str_of(text);
    if (type == SELGW_RECORD_START)
        selgw_chains_last_seal(g->chains, event->prev_seal, NULL, NULL);
    selgw_err err = append_event_locked(g, event, "gateway", KIND_EVENT, NULL);
    free(event);
    return err;
}

/* The journal's disk budget dropped a segment: its GAP record is the next of the gateway
 * chain. Called inside selgw_journal_append, so under g->lock. */
static size_t encode_budget_gap(void *ctx, const selgw_record *gap, uint8_t *buf, size_t cap)
{
    selgw_gateway *g = ctx;
    selgw_chain_link link;
    if (selgw_chains_next(g->chains, "gateway", &link) != SELGW_OK)
        return 0;
    return selgw_record_encode_event(gap, &link, buf, cap);
}

static void budget_gap_appended(void *ctx, const uint8_t *payload, size_t len, uint64_t seq)
{
    selgw_gateway *g = ctx;
    selgw_record *rec = malloc(sizeof *rec);
    if (rec && selgw_record_decode(payload, len, rec) == SELGW_OK && rec->chained)
        note_appended_locked(g, "gateway", rec->chain_seq, payload, len, seq, rec->time_ns);
    free(rec);
    /* The dropped segment's file goes once a chain state after its GAP is saved (the
     * journal's retention hold): soon, so that the budget is not passed for long. */
    g->checkpoint_due = true;
    selgw_worker_nudge(g->sealer);
}

/* ---- seals and what is written once committed ---------------------------------------- */

/* A snapshot of the chain state as of the latest record, to be saved once that record is
 * committed (persist). */
static void take_state_locked(selgw_gateway *g)
{
    char *text = NULL;
    size_t text_len = 0;
    if (selgw_chains_state_text(g->chains, &text, &text_len) != SELGW_OK)
        return; /* out of memory: the next checkpoint tries again */
    free(g->state_text);
    g->state_text = text;
    g->state_len = text_len;
    g->state_checkpoint_jseq = selgw_chains_checkpoint(g->chains);
    g->last_checkpoint_ns = selgw_mono_ns();
}

/* Up to when a seal made now covers every poll: now, or earlier while a poll begun before
 * is still on its way, or while readings refused are not yet written down in a GAP. */
static int64_t polls_covered_until_locked(const selgw_gateway *g, int64_t now)
{
    int64_t until = now;
    for (size_t i = 0; i < g->poller_count; i++) {
        int64_t oldest = g->pollers[i] ? selgw_poller_oldest_poll_ns(g->pollers[i]) : 0;
        if (oldest != 0 && oldest < until)
            until = oldest;
    }
    if (g->refused > 0 && g->refused_first_ns < until)
        until = g->refused_first_ns;
    return until;
}

static size_t encode_witness(const void *arg, const selgw_chain_link *link, uint8_t *buf,
                             size_t cap)
{
    return selgw_record_encode_witness(arg, link, buf, cap);
}

static void remember_seal_locked(selgw_gateway *g, const uint8_t hash[SELGW_HASH_BYTES],
                                 uint64_t chain_seq, bool chain_seq_known)
{
    recent_seal *r = &g->recent_seals[g->recent_seal_next];
    memcpy(r->hash, hash, SELGW_HASH_BYTES);
    r->chain_seq = chain_seq;
    r->chain_seq_known = chain_seq_known;
    g->recent_seal_next = (g->recent_seal_next + 1) % RECENT_SEALS;
    if (g->recent_seal_count < RECENT_SEALS)
        g->recent_seal_count++;
}

/* Whether w names one of this gateway's recent seals, at its position when known. */
static bool names_recent_seal_locked(const selgw_gateway *g, const selgw_witness *w)
{
    for (size_t i = 0; i < g->recent_seal_count; i++) {
        const recent_seal *r = &g->recent_seals[i];
        if (!memcmp(r->hash, w->seal_hash, SELGW_HASH_BYTES))
            return !r->chain_seq_known || r->chain_seq == w->seal_seq;
    }
    return false;
}

static void remember_witnessed_locked(selgw_gateway *g, const uint8_t *seal_hash,
                                      const uint8_t *key)
{
    memcpy(g->witnessed[g->witnessed_next], seal_hash, SELGW_HASH_BYTES);
    memcpy(g->witnessed[g->witnessed_next] + SELGW_HASH_BYTES, key, SELGW_PUBLIC_KEY_BYTES);
    g->witnessed_next = (g->witnessed_next + 1) % WITNESS_REMEMBERED;
    if (g->witnessed_count < WITNESS_REMEMBERED)
        g->witnessed_count++;
}

static bool witnessed_already_locked(const selgw_gateway *g, const selgw_witness *w)
{
    for (size_t i = 0; i < g->witnessed_count; i++)
        if (!memcmp(g->witnessed[i], w->seal_hash, SELGW_HASH_BYTES) &&
            !memcmp(g->witnessed[i] + SELGW_HASH_BYTES, w->key, SELGW_PUBLIC_KEY_BYTES))
            return true;
    return false;
}

/* At start, before the uplink: the last seal of the previous run (the chains know its
 * hash; the journal, while it still holds that seal, its position) becomes the first
 * recent seal, and the statements about it journaled after it are remembered, so that
 * the retained statement, delivered again at every start, is journaled once. Reads only
 * the records after the last seal (after a clean stop: none). */
static void recall_last_seal(selgw_gateway *g)
{
    uint8_t hash[SELGW_HASH_BYTES];
    uint64_t jseq = 0;
    selgw_chains_last_seal(g->chains, hash, &jseq, NULL);
    if (jseq == 0)
        return;
    uint64_t chain_seq = 0;
    bool known = false;
    selgw_journal_reader *r = NULL;
    selgw_record *rec = malloc(sizeof *rec);
    if (rec && selgw_journal_reader_new(g->journal, jseq - 1, &r) == SELGW_OK) {
        uint64_t seq;
        const uint8_t *payload;
        size_t len;
        while (selgw_journal_read(r, &seq, &payload, &len) == SELGW_OK) {
            if (selgw_record_decode(payload, len, rec) != SELGW_OK || !rec->chained ||
                rec->chain.len != 7 || memcmp(rec->chain.ptr, "gateway", 7) != 0)
                continue;
            uint8_t h[SELGW_RECORD_HASH_BYTES];
            if (seq == jseq && rec->type == SELGW_RECORD_SEAL) {
                selgw_record_hash(payload, len, h);
                known = !memcmp(h, hash, sizeof h);
                chain_seq = rec->chain_seq;
            } else if (rec->type == SELGW_RECORD_WITNESS &&
                       !memcmp(rec->witness_seal_hash, hash, SELGW_HASH_BYTES)) {
                remember_witnessed_locked(g, rec->witness_seal_hash, rec->witness_key);
            }
        }
    }
    selgw_journal_reader_free(r);
    free(rec);
    remember_seal_locked(g, hash, chain_seq, known);
}

/* A witness statement came back over the uplink (its thread). Checked first without the
 * gateway's lock (well formed, this gateway's, signed by the key it names, a key of
 * uplink.witness_keys when given); then, under the lock, it must name one of this
 * gateway's recent seals (at its position) and not have been journaled already, and the
 * gateway must not be stopping (nothing follows the final seal; the retained statement
 * comes back at the next start). It is journaled as a WITNESS record of the gateway
 * chain, and committed before this returns, so before the broker has its PUBACK. A
 * statement that cannot be journaled is lost (docs/ARCHIVE.md). */
static void journal_witness(void *ctx, const uint8_t *payload, size_t len)
{
    selgw_gateway *g = ctx;
    selgw_witness w;
    const char *why = NULL;
    char id[SELGW_WITNESS_MAX_GATEWAY + 1], *trusted = NULL;
    pthread_mutex_lock(&g->lock); /* the config a reload may replace */
    snprintf(id, sizeof id, "%s", g->cfg->gateway_id);
    bool no_memory =
        g->cfg->uplink.witness_keys && !(trusted = strdup(g->cfg->uplink.witness_keys));
    pthread_mutex_unlock(&g->lock);
    char label[128], file_why[600];
    bool found = false;
    if (no_memory)
        why = "out of memory";
    else if (selgw_witness_decode(payload, len, &w) != SELGW_OK)
        why = "not a well-formed witness statement";
    else if (strcmp(w.gateway, id) != 0)
        why = "a statement about another gateway's seal";
    else if (!selgw_witness_signature_ok(&w))
        why = "the witness's signature does not verify";
    else if (!selgw_witness_time_plausible(w.witnessed_ns))
        why = "a witnessed time before 2000 or after 2200";
    else if (trusted && selgw_registered_key(trusted, w.key, &found, label, sizeof label, file_why,
                                             sizeof file_why) != SELGW_OK)
        why = file_why; /* a witness_keys file that went away: nothing is journaled */
    else if (trusted && !found)
        why = "a statement by a key not in uplink.witness_keys";
    free(trusted);
    pthread_mutex_lock(&g->lock);
    if (why) {
        selgw_repeat_fail(&g->bad_witness, "witness statements", SELGW_ERR_INVALID, why);
        pthread_mutex_unlock(&g->lock);
        return;
    }
    if (g->stopping || witnessed_already_locked(g, &w)) {
        pthread_mutex_unlock(&g->lock);
        return;
    }
    if (!names_recent_seal_locked(g, &w)) {
        selgw_repeat_fail(&g->foreign_witness, "witness statements", SELGW_ERR_INVALID,
                          "names no recent seal of this gateway: not journaled");
        pthread_mutex_unlock(&g->lock);
        return;
    }
    selgw_record rec = {.type = SELGW_RECORD_WITNESS,
                        .time_ns = selgw_utc_ns(),
                        .gateway = str_of(id),
                        .witness_seal_seq = w.seal_seq,
                        .witness_time_ns = w.witnessed_ns,
                        .witness_signature = w.signature};
    memcpy(rec.witness_seal_hash, w.seal_hash, SELGW_HASH_BYTES);
    memcpy(rec.witness_key, w.key, SELGW_PUBLIC_KEY_BYTES);
    selgw_err err =
        append_chained_locked(g, "gateway", encode_witness, &rec, rec.time_ns, KIND_EVENT, NULL);
    if (err == SELGW_OK) {
        selgw_repeat_ok(&g->bad_witness, "witness statements");
        selgw_repeat_ok(&g->foreign_witness, "witness statements");
        remember_witnessed_locked(g, w.seal_hash, w.key);
    }
    pthread_mutex_unlock(&g->lock);
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR,
                  "cannot journal the witness statement of seal %" PRIu64 ": %s (it is lost)",
                  w.seal_seq, selgw_strerror(err));
        return;
    }
    err = selgw_journal_flush(g->journal); /* committed before the PUBACK */
    if (err == SELGW_OK) {
        char fp[SELGW_KEY_FINGERPRINT_SIZE], when[SELGW_UTC_TEXT_SIZE];
        selgw_key_fingerprint(w.key, fp);
        selgw_log(SELGW_LOG_INFO, "seal %" PRIu64 " witnessed by %s at %s", w.seal_seq, fp,
                  selgw_format_utc(w.witnessed_ns, when));
    } else {
        selgw_log(SELGW_LOG_ERROR,
                  "the witness statement of seal %" PRIu64 " is journaled but not committed "
                  "(%s): acknowledged all the same; it is written when the journal can",
                  w.seal_seq, selgw_strerror(err));
    }
}

/* A signed statement of every chain's head, as the next record of the gateway chain; the
 * heads are taken and the seal appended under the same lock, so every record a seal covers
 * comes before it. A snapshot of exactly those heads is kept, to be saved as the chain
 * state once the seal is committed (persist), never before. */
static selgw_err seal_locked(selgw_gateway *g)
{
    if (!g->signer)
        return SELGW_OK;
    int64_t now = selgw_utc_ns();
    check_clock_locked(g, "gateway", now, KIND_SEAL);
    int64_t covers = polls_covered_until_locked(g, now);
    size_t len = 0;
    selgw_chain_link link;
    selgw_err err = selgw_chains_next(g->chains, "gateway", &link);
    if (err == SELGW_OK)
        err = selgw_chains_encode_seal(g->chains, g->signer, now, covers, g->cfg->gateway_id,
                                       g->payload, sizeof g->payload, &len);
    uint64_t seq = 0;
    if (err == SELGW_OK) {
        /* room first (see append_raw_locked): a GAP record would take the seal's place */
        selgw_journal_make_room(g->journal, len);
        selgw_chain_link again;
        if (selgw_chains_next(g->chains, "gateway", &again) == SELGW_OK &&
            again.chain_seq != link.chain_seq) {
            link = again;
            err = selgw_chains_encode_seal(g->chains, g->signer, now, covers, g->cfg->gateway_id,
                                           g->payload, sizeof g->payload, &len);
        }
    }
    if (err == SELGW_OK)
        err = selgw_journal_append(g->journal, g->payload, len, &seq);
    if (err == SELGW_OK) {
        note_appended_locked(g, "gateway", link.chain_seq, g->payload, len, seq, now);
        uint8_t hash[SELGW_RECORD_HASH_BYTES];
        selgw_record_hash(g->payload, len, hash);
        selgw_chains_note_seal(g->chains, hash, seq, now);
        remember_seal_locked(g, hash, link.chain_seq, true);
        g->max_time_since_seal = now;
        g->last_seal_covers_ns = covers;
        g->last_seal_jseq = seq;
        take_state_locked(g);
    }
    if (err != SELGW_OK)
        selgw_repeat_fail(&g->seal_repeat, "seal", err, "retried at the next seal interval");
    else
        selgw_repeat_ok(&g->seal_repeat, "seal");
    g->last_seal_ns = selgw_mono_ns();
    return err;
}

/* What persist takes over from under the lock. */
typedef struct persist_work {
    char *state_text;
    size_t state_len;
    uint64_t state_checkpoint_jseq;
    plot_record *plots;
    size_t plot_count;
    taken_annotation *annotations;
    size_t annotation_count;
    uint64_t through; /* every plot chain record up to here is in `plots` or written */
} persist_work;

/* Puts n items of `size` bytes back in front of a list (what was queued meanwhile comes
 * after them); false when out of memory. */
static bool put_back(void **list, size_t *count, size_t *cap, const void *items, size_t n,
                     size_t size)
{
    char *merged = malloc((n + *count) * size);
    if (!merged)
        return false;
    memcpy(merged, items, n * size);
    if (*count)
        memcpy(merged + n * size, *list, *count * size);
    free(*list);
    *list = merged;
    *count += n;
    *cap = *count;
    return true;
}

/* Writes what may only be written once its records are committed: the plot chain log,
 * then the chain state (so that a state never names a plot record the log lacks), and
 * removes queued annotations that are in. Waits for the commit without holding the
 * append lock; what is not committed yet (the disk is full) goes back for next time. */
static void persist(selgw_gateway *g)
{
    pthread_mutex_lock(&g->persist_lock);
    persist_work w = {0};
    pthread_mutex_lock(&g->lock);
    w.state_text = g->state_text;
    w.state_len = g->state_len;
    w.state_checkpoint_jseq = g->state_checkpoint_jseq;
    g->state_text = NULL;
    w.plots = g->plot_pending;
    w.plot_count = g->plot_pending_count;
    g->plot_pending = NULL;
    g->plot_pending_count = g->plot_pending_cap = 0;
    /* Copied, not taken: until its file is gone an annotation must stay in flight, or the
     * sealer would journal it again from the queue. */
    if (g->annotation_count) {
        w.annotations = malloc(g->annotation_count * sizeof *w.annotations);
        if (w.annotations) {
            memcpy(w.annotations, g->annotations, g->annotation_count * sizeof *w.annotations);
            w.annotation_count = g->annotation_count;
        }
    }
    w.through = g->last_jseq;
    pthread_mutex_unlock(&g->lock);

    selgw_journal_flush(g->journal);
    uint64_t committed = selgw_journal_committed_seq(g->journal);

    size_t plots_done = 0;
    if (g->plotlog) {
        while (plots_done < w.plot_count && w.plots[plots_done].jseq <= committed &&
               selgw_plotlog_add(g->plotlog, w.plots[plots_done].jseq, w.plots[plots_done].payload,
                                 w.plots[plots_done].len) == SELGW_OK)
            plots_done++;
        /* Plot records appended after the take are not in w.plots: claim no further. */
        uint64_t through = w.through < committed ? w.through : committed;
        if (plots_done < w.plot_count)
            through = w.plots[plots_done].jseq - 1;
        selgw_err err = selgw_plotlog_sync(g->plotlog, through);
        if (err != SELGW_OK) {
            selgw_repeat_fail(&g->persist_repeat, "plot chain log", err,
                              "its new records are kept in memory and written when it can");
            plots_done = 0;
        }
    } else {
        plots_done = w.plot_count; /* logged at start; the journal still has them */
    }
    bool plots_written = plots_done == w.plot_count;
    if (w.state_text && plots_written && w.state_checkpoint_jseq <= committed) {
        selgw_err err = selgw_chains_write_state(g->chains_state, w.state_text, w.state_len);
        if (err != SELGW_OK) {
            selgw_repeat_fail(&g->persist_repeat, "chain state", err,
                              "the next start reads further back in the journal, and "
                              "retention is held back until a state is saved");
        } else {
            selgw_repeat_ok(&g->persist_repeat, "chain state and plot chain log");
            /* the next start reads from here: retention may now take what came before */
            selgw_journal_hold_retention(g->journal, w.state_checkpoint_jseq);
        }
        free(w.state_text);
        w.state_text = NULL;
    }
    size_t ann_done = 0;
    selgw_err ann_err = SELGW_OK;
    for (; ann_done < w.annotation_count && w.annotations[ann_done].jseq <= committed; ann_done++)
        if ((ann_err = selgw_annotation_done(g->journal_dir, &w.annotations[ann_done].a)) !=
            SELGW_OK)
            break; /* it stays in flight (and so do those after it) until it can go */
    if (ann_err != SELGW_OK)
        selgw_repeat_fail(&g->annotation_repeat, "removing journaled annotations from the queue",
                          ann_err,
                          "they stay in flight, not journaled again; retried every second");
    else if (ann_done)
        selgw_repeat_ok(&g->annotation_repeat, "removing journaled annotations from the queue");

    /* What is left goes back, before anything queued meanwhile. */
    size_t left = w.plot_count - plots_done;
    bool plots_back = false;
    pthread_mutex_lock(&g->lock);
    if (w.state_text && !g->state_text) {
        g->state_text = w.state_text;
        g->state_len = w.state_len;
        g->state_checkpoint_jseq = w.state_checkpoint_jseq;
        w.state_text = NULL;
    }
    plots_back =
        left && put_back((void **)&g->plot_pending, &g->plot_pending_count, &g->plot_pending_cap,
                         w.plots + plots_done, left, sizeof *w.plots);
    /* Only persist removes annotations, one persist at a time, and new ones are added at
     * the end: the first ann_done are those whose files are gone. */
    if (ann_done) {
        memmove(g->annotations, g->annotations + ann_done,
                (g->annotation_count - ann_done) * sizeof *g->annotations);
        g->annotation_count -= ann_done;
    }
    pthread_mutex_unlock(&g->lock);
    /* Payloads that could not be put back are copied from the journal at the next start. */
    for (size_t i = 0; i < w.plot_count; i++)
        if (i < plots_done || !plots_back)
            free(w.plots[i].payload);
    free(w.plots);
    free(w.annotations);
    free(w.state_text);
    pthread_mutex_unlock(&g->persist_lock);
}

/* A plot's tags are recorded in its chain when first seen and whenever they change. */
static void record_tags_locked(selgw_gateway *g)
{
    selgw_record *event = calloc(1, sizeof *event);
    for (size_t i = 0; event && i < g->cfg->plot_count; i++) {
        size_t n = selgw_plot_tags_text(g->cfg, i, NULL, 0);
        char *text = malloc(n + 1);
        if (!text)
            break;
        selgw_plot_tags_text(g->cfg, i, text, n + 1);
        uint8_t now[SELGW_RECORD_HASH_BYTES], before[SELGW_RECORD_HASH_BYTES];
        selgw_hash((const uint8_t *)text, n, now);
        const char *plot = g->cfg->plots[i].id;
        if (!selgw_chains_tags_hash(g->chains, plot, before) || memcmp(now, before, sizeof now)) {
            memset(event, 0, sizeof *event);
            event->type = SELGW_RECORD_TAGS;
            event->plot = str_of(plot);
            event->text = (selgw_str){text, n};
            if (append_event_locked(g, event, g->cfg->plots[i].chain, KIND_EVENT, NULL) == SELGW_OK)
                selgw_chains_set_tags_hash(g->chains, plot, now);
        }
        free(text);
    }
    free(event);
}

/* The clock's synchronisation state when it changes, and steps of CLOCK_REALTIME against
 * CLOCK_MONOTONIC (an operator setting the date, NTP stepping at its first sync). Steps are
 * looked for every call (two clock reads); the state, a system call, at the first call,
 * after a step (a first sync steps), when `sync_now` (before a seal) and otherwise once a
 * minute, so a change in it is journaled up to a minute late. */
static void record_clock_locked(selgw_gateway *g, bool sync_now)
{
    int64_t mono = selgw_mono_ns();
    int64_t offset = selgw_utc_ns() - mono;
    if (g->clock_offset_known) {
        int64_t step = offset - g->clock_offset_ns;
        char a[SELGW_UTC_TEXT_SIZE];
        if (step < -STEP_BACK_NS || step > STEP_FORWARD_NS)
            sync_now = true;
        if (step < -STEP_BACK_NS)
            record_step_back_locked(g, "stepped back by %.3f s (to %s)", (double)-step / 1e9,
                                    selgw_format_utc(selgw_utc_ns(), a));
        else if (step > STEP_FORWARD_NS) {
            selgw_record event = {.type = SELGW_RECORD_CLOCK};
            char text[160];
            snprintf(text, sizeof text, "stepped forward by %.3f s (to %s)", (double)step / 1e9,
                     selgw_format_utc(selgw_utc_ns(), a));
            event.text = str_of(text);
            if (append_event_locked(g, &event, "gateway", KIND_EVENT, NULL) == SELGW_OK)
                selgw_log(SELGW_LOG_INFO, "clock %s", text);
        }
    }
    g->clock_offset_ns = offset;
    g->clock_offset_known = true;

    if (!sync_now && g->clock_synced >= 0 && mono - g->clock_sync_checked_ns < CLOCK_SYNC_CHECK_NS)
        return;
    char text[160];
    int synced = selgw_clock_synchronised(text, sizeof text) ? 1 : 0;
    if (synced == g->clock_synced) {
        g->clock_sync_checked_ns = mono;
        return;
    }
    /* a change the journal did not take is looked at again next second, not next minute */
    selgw_record event = {.type = SELGW_RECORD_CLOCK, .text = str_of(text)};
    if (append_event_locked(g, &event, "gateway", KIND_EVENT, NULL) == SELGW_OK) {
        g->clock_synced = synced;
        g->clock_sync_checked_ns = mono;
    }
}

static const selgw_plot *find_plot(const selgw_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->plot_count; i++)
        if (!strcmp(cfg->plots[i].id, id))
            return &cfg->plots[i];
    return NULL;
}

static bool annotation_in_flight_locked(const selgw_gateway *g, const char *file)
{
    for (size_t i = 0; i < g->annotation_count; i++)
        if (!strcmp(g->annotations[i].a.file, file))
            return true;
    return false;
}

/* A queued lot: one LOT record in each of its plots' chains, under the one hold of the
 * append lock the caller has, so that no seal falls between them. *seq is the last one's.
 * SELGW_ERR_NOT_FOUND: the lot names a plot the config does not have (set aside). A lot
 * whose records could be appended only in part is set aside too, not journaled again: the
 * verifier of its bundle names the plot without one. */
static selgw_err journal_lot_locked(selgw_gateway *g, const selgw_annotation *a, uint64_t *seq)
{
    selgw_lot *lot = NULL;
    if (selgw_lot_parse(a->text, strlen(a->text), &lot, NULL, 0) != SELGW_OK) {
        selgw_annotation_set_aside(g->journal_dir, a, "bad");
        return SELGW_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < lot->plot_count; i++)
        if (!find_plot(g->cfg, lot->plots[i].plot)) {
            selgw_annotation_set_aside(g->journal_dir, a, "unknown-plot");
            selgw_lot_free(lot);
            return SELGW_ERR_NOT_FOUND;
        }
    selgw_err err = SELGW_OK;
    size_t done = 0;
    for (; done < lot->plot_count; done++) {
        const selgw_plot *plot = find_plot(g->cfg, lot->plots[done].plot);
        selgw_record event = {.type = SELGW_RECORD_LOT,
                              .plot = str_of(plot->id),
                              .text = str_of(a->text),
                              .ref = str_of(lot->lot)};
        if ((err = append_event_locked(g, &event, plot->chain, KIND_ANNOTATION, seq)) != SELGW_OK)
            break;
    }
    if (err != SELGW_OK && done > 0) {
        selgw_log(SELGW_LOG_ERROR,
                  "lot %s: journaled for %zu of its %zu plots, then refused (%s): not journaled "
                  "again",
                  lot->lot, done, lot->plot_count, selgw_strerror(err));
        selgw_annotation_set_aside(g->journal_dir, a, "partly-journaled");
        err = SELGW_ERR_NOT_FOUND;
    } else if (err == SELGW_OK) {
        selgw_log(SELGW_LOG_INFO, "lot %s (%s) journaled in the chains of %zu plot%s", lot->lot,
                  lot->product, lot->plot_count, lot->plot_count == 1 ? "" : "s");
    }
    selgw_lot_free(lot);
    return err;
}

/* Queued annotations, read outside the lock; each journaled with the gateway's clock (the
 * time in a queue file is only what its writer claims) and its file removed once
 * committed. */
static void journal_annotations(selgw_gateway *g)
{
    selgw_annotation *list = NULL;
    size_t count = selgw_annotations_read(g->journal_dir, &list);
    if (!count)
        return;
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < count; i++) {
        const selgw_annotation *a = &list[i];
        if (annotation_in_flight_locked(g, a->file))
            continue;
        const selgw_plot *plot = a->type == SELGW_RECORD_LOT ? NULL : find_plot(g->cfg, a->plot);
        if (!plot && a->type != SELGW_RECORD_LOT) {
            selgw_annotation_set_aside(g->journal_dir, a, "unknown-plot");
            continue;
        }
        if (g->annotation_count == g->annotation_cap) {
            size_t cap = g->annotation_cap ? g->annotation_cap * 2 : 4;
            taken_annotation *grown = realloc(g->annotations, cap * sizeof *grown);
            if (!grown)
                break;
            g->annotations = grown;
            g->annotation_cap = cap;
        }
        uint64_t seq;
        if (a->type == SELGW_RECORD_LOT) {
            selgw_err err = journal_lot_locked(g, a, &seq);
            if (err == SELGW_ERR_NOT_FOUND)
                continue; /* set aside */
            if (err != SELGW_OK)
                break;
            g->annotations[g->annotation_count++] = (taken_annotation){seq, *a};
            continue;
        }
        selgw_record event = {.type = SELGW_RECORD_ANNOTATION,
                              .plot = str_of(a->plot),
                              .text = str_of(a->text),
                              .ref = str_of(a->ref)};
        if (append_event_locked(g, &event, plot->chain, KIND_ANNOTATION, &seq) != SELGW_OK)
            break;
        g->annotations[g->annotation_count++] = (taken_annotation){seq, *a};
        selgw_log(SELGW_LOG_INFO, "annotation for plot %s journaled: %s%s%s", a->plot, a->text,
                  a->ref[0] ? " (ref " : "", a->ref[0] ? a->ref : "");
    }
    pthread_mutex_unlock(&g->lock);
    free(list);
}

/* Readings refused right now are noted in the journal (in place, no space needed) every
 * second, so that a crash before their GAP is in still leaves them counted; the note goes
 * once the GAP is committed. */
static void note_refusals(selgw_gateway *g)
{
    pthread_mutex_lock(&g->lock);
    uint64_t refused = g->refused, gap = g->refusal_gap_jseq;
    int64_t from = g->refused_first_ns, to = g->refused_last_ns;
    selgw_err why = g->refused_err;
    bool noted = g->refusal_noted;
    pthread_mutex_unlock(&g->lock);
    if (refused) {
        selgw_journal_note_refused(g->journal, refused, from, to, why);
        noted = true;
    } else if (noted && gap && selgw_journal_committed_seq(g->journal) >= gap) {
        selgw_journal_note_refused(g->journal, 0, 0, 0, SELGW_OK);
        noted = false;
    }
    pthread_mutex_lock(&g->lock);
    g->refusal_noted = noted;
    pthread_mutex_unlock(&g->lock);
}

static void sealer_thread(void *arg)
{
    selgw_gateway *g = arg;
    while (selgw_worker_wait_ms(g->sealer, 1000)) {
        journal_annotations(g);
        pthread_mutex_lock(&g->lock);
        bool asked = atomic_exchange(&g->seal_requested, false);
        if (asked)
            selgw_log(SELGW_LOG_INFO, g->signer ? "seal asked for (SIGUSR1): sealing now"
                                                : "seal asked for (SIGUSR1), but signing is off");
        bool seal =
            g->signer && (asked || selgw_mono_ns() - g->last_seal_ns >=
                                       (int64_t)g->cfg->signing.seal_interval_ms * SELGW_NS_PER_MS);
        record_clock_locked(g, seal); /* a seal comes after the clock state it was made in */
        bool sealed = false;
        if (seal)
            sealed = seal_locked(g) == SELGW_OK;
        else if ((g->checkpoint_due ||
                  selgw_mono_ns() - g->last_checkpoint_ns >= CHECKPOINT_INTERVAL_NS) &&
                 selgw_chains_checkpoint(g->chains) > g->state_checkpoint_jseq)
            take_state_locked(g);
        g->checkpoint_due = false;
        bool work = g->state_text || g->plot_pending_count || g->annotation_count;
        uint64_t seal_jseq = g->last_seal_jseq;
        int64_t seal_covers = g->last_seal_covers_ns;
        pthread_mutex_unlock(&g->lock);
        /* once the seal is on disk, say so to a `selgw export` waiting for it */
        if (sealed && selgw_journal_flush(g->journal) == SELGW_OK)
            selgw_journal_announce_seal(g->journal, (long)getpid(), seal_jseq, seal_covers);
        if (work)
            persist(g);
        note_refusals(g);
    }
}

/* ---- start-up: the chains and the plot chain log from the journal --------------------- */

static void copy_plot_record(void *ctx, uint64_t jseq, const selgw_record *rec,
                             const uint8_t *payload, size_t len)
{
    selgw_gateway *g = ctx;
    if (g->plotlog && rec->chained && rec->chain.len > 5 && !memcmp(rec->chain.ptr, "plot/", 5) &&
        !g->plot_copy_failed && selgw_plotlog_add(g->plotlog, jseq, payload, len) != SELGW_OK)
        g->plot_copy_failed = jseq; /* the start fails: the log must have no hole */
}

/* What the journal lacks that the chain state names, and how it came to lack it. */
static void describe_lost(const selgw_chains_recovery *rec, char *buf, size_t cap)
{
    uint64_t at = rec->state_checkpoint_jseq;
    char how[300];
    if (at > rec->journal_last_seq)
        snprintf(how, sizeof how,
                 "the journal ends at record %" PRIu64 ", before it: records the disk "
                 "acknowledged were lost (a crash with a disk that lied about a flush) or the "
                 "journal was replaced by an older copy",
                 rec->journal_last_seq);
    else if (at >= rec->journal_first_seq)
        snprintf(how, sizeof how,
                 "the journal holds another record there: it was replaced or altered");
    else
        snprintf(how, sizeof how,
                 "the journal begins at record %" PRIu64 ": the records after it were removed "
                 "(by retention or the disk budget) before this start read them",
                 rec->journal_first_seq);
    snprintf(buf, cap,
             "the chain state saved at journal record %" PRIu64 " names records the journal "
             "does not hold: %s%s%s",
             at, how, rec->lost[0] ? "; chain positions " : "", rec->lost);
}

typedef struct plot_heads_ctx {
    selgw_chains *chains;
    uint64_t last_jseq; /* the log's last record */
    selgw_err err;
} plot_heads_ctx;

static bool take_plot_head(void *ctx, uint64_t jseq, const uint8_t *payload, size_t len)
{
    plot_heads_ctx *h = ctx;
    if (jseq > h->last_jseq)
        h->last_jseq = jseq;
    selgw_record *rec = malloc(sizeof *rec);
    if (!rec) {
        h->err = SELGW_ERR_NOMEM;
        return false;
    }
    if (selgw_record_decode(payload, len, rec) == SELGW_OK) {
        /* whatever its length: a chain of an older config's may be longer than ids are now */
        char *chain = strndup(rec->chain.ptr, rec->chain.len);
        const selgw_chain_info *known = chain ? selgw_chains_find(h->chains, chain) : NULL;
        if (!chain || ((!known || rec->chain_seq > known->chain_seq) &&
                       selgw_chains_apply(h->chains, payload, len, jseq) == SELGW_ERR_NOMEM))
            h->err = SELGW_ERR_NOMEM;
        free(chain);
    }
    free(rec);
    return h->err == SELGW_OK;
}

/* Loads the chain heads and brings the plot chain log up to date with the journal. */
static selgw_err load_chains(selgw_gateway *g, selgw_chains_recovery *rec)
{
    const char *dir = g->cfg->journal.dir;
    char why[512] = "";
    selgw_err err = selgw_plotlog_open(dir, &g->plotlog, why, sizeof why);
    if (err != SELGW_OK)
        selgw_log(SELGW_LOG_ERROR,
                  "plot chain log: %s: exports will need the journal to hold every plot's "
                  "chain from its start",
                  why[0] ? why : selgw_strerror(err));
    uint64_t scan_from = g->plotlog ? selgw_plotlog_through(g->plotlog) : UINT64_MAX;
    why[0] = '\0';
    if (asprintf(&g->chains_state, "%s/chains.state", dir) < 0) {
        g->chains_state = NULL;
        return SELGW_ERR_NOMEM;
    }
    /* a state file being written when the gateway died; it holds the journal's lock */
    selgw_durable_remove_temps(dir, "chains.state", 0);
    err = selgw_chains_new(&g->chains);
    if (err == SELGW_OK)
        err = selgw_chains_load(g->chains, g->journal, g->chains_state, scan_from,
                                g->plotlog ? copy_plot_record : NULL, g, rec, why, sizeof why);
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "evidence chains: %s", why[0] ? why : selgw_strerror(err));
        return err;
    }
    if (why[0])
        selgw_log(SELGW_LOG_WARN, "evidence chains: %s", why);
    /* Plot chains outlive the journal: their heads come from the log where it is ahead
     * (the journal lost or no longer holds their last records). */
    plot_heads_ctx heads = {g->chains, 0, SELGW_OK};
    if (g->plotlog &&
        (err = selgw_plotlog_each(dir, NULL, take_plot_head, &heads, why, sizeof why)) != SELGW_OK)
        selgw_log(SELGW_LOG_WARN, "plot chain log: %s", why[0] ? why : selgw_strerror(err));
    if (heads.err != SELGW_OK)
        return heads.err;
    if (heads.last_jseq)
        selgw_journal_skip_to(g->journal, heads.last_jseq);
    g->plotlog_last_jseq = heads.last_jseq;
    g->journal_last_at_load = rec->journal_last_seq;
    selgw_journal_hold_retention(g->journal, rec->state_used ? rec->state_checkpoint_jseq : 0);
    if (g->plotlog) {
        uint64_t first, last;
        selgw_journal_range(g->journal, &first, &last);
        if (g->plot_copy_failed) {
            selgw_log(SELGW_LOG_ERROR,
                      "plot chain log: out of memory copying journal record "
                      "%" PRIu64,
                      g->plot_copy_failed);
            return SELGW_ERR_NOMEM;
        }
        if (selgw_plotlog_sync(g->plotlog, last) != SELGW_OK)
            selgw_log(SELGW_LOG_ERROR, "plot chain log: cannot write: %s", strerror(errno));
    }
    if (rec->state_ahead) {
        /* Numbers the journal lost may have been seen (delivered, exported): never again. */
        selgw_journal_skip_to(g->journal, rec->state_checkpoint_jseq);
        char what[1000];
        describe_lost(rec, what, sizeof what);
        selgw_log(SELGW_LOG_ERROR,
                  "evidence chains: %s; a GAP record says so and the chains "
                  "continue after them",
                  what);
    }
    uint64_t seal_jseq;
    int64_t seal_time;
    selgw_chains_last_seal(g->chains, NULL, &seal_jseq, &seal_time);
    g->max_time_since_seal = selgw_chains_latest_time_since(g->chains, seal_jseq, seal_time);
    return SELGW_OK;
}

/* After START: what the last stop could not write (the disk was full), as a GAP. */
static bool record_unwritten_gap_locked(selgw_gateway *g, const selgw_journal_recovery *rec)
{
    if (!rec->unwritten_records)
        return false;
    char text[400], a[SELGW_UTC_TEXT_SIZE], b[SELGW_UTC_TEXT_SIZE];
    snprintf(text, sizeof text,
             "%" PRIu64 " records (journal records %" PRIu64 "..%" PRIu64 ", of %s to %s) "
             "were accepted but could not be written before the last stop: the disk was full",
             rec->unwritten_records, rec->unwritten_first, rec->unwritten_last,
             selgw_format_utc(rec->unwritten_from_ns, a),
             selgw_format_utc(rec->unwritten_to_ns, b));
    selgw_record gap = {.type = SELGW_RECORD_GAP,
                        .text = str_of(text),
                        .gap_first_seq = rec->unwritten_first,
                        .gap_last_seq = rec->unwritten_last};
    selgw_log(SELGW_LOG_WARN, "%s", text);
    return append_event_locked(g, &gap, "gateway", KIND_EVENT, NULL) == SELGW_OK;
}

/* After START: readings refused before the gateway ended without recording them (a crash on
 * a full disk), from the journal's note of them, as a GAP. */
static bool record_noted_refusals_locked(selgw_gateway *g, const selgw_journal_recovery *rec)
{
    if (!rec->refused_records)
        return false;
    char text[400], a[SELGW_UTC_TEXT_SIZE], b[SELGW_UTC_TEXT_SIZE];
    snprintf(text, sizeof text,
             "%" PRIu64 " readings polled from %s to %s were not journaled: %s (counted before "
             "the gateway ended unexpectedly)",
             rec->refused_records, selgw_format_utc(rec->refused_from_ns, a),
             selgw_format_utc(rec->refused_to_ns, b), selgw_strerror(rec->refused_err));
    selgw_record gap = {.type = SELGW_RECORD_GAP, .text = str_of(text)};
    selgw_log(SELGW_LOG_WARN, "%s", text);
    return append_event_locked(g, &gap, "gateway", KIND_EVENT, NULL) == SELGW_OK;
}

/* After START: the records a chain state named that the journal lacks, as a GAP. */
static void record_recovery_gap_locked(selgw_gateway *g, const selgw_chains_recovery *rec)
{
    if (!rec->state_ahead)
        return;
    char text[1000];
    describe_lost(rec, text, sizeof text);
    uint64_t at = rec->state_checkpoint_jseq, first = at, last = at;
    if (at > rec->journal_last_seq) {
        first = rec->journal_last_seq + 1; /* lost from the end */
    } else if (at + 1 < rec->journal_first_seq) {
        first = at + 1; /* removed from the start */
        last = rec->journal_first_seq - 1;
    }
    selgw_record gap = {.type = SELGW_RECORD_GAP,
                        .text = str_of(text),
                        .gap_first_seq = first,
                        .gap_last_seq = last};
    append_event_locked(g, &gap, "gateway", KIND_EVENT, NULL);
}

/* After START: the plot chain log holds records the journal does not (and the chain state
 * did not say so already): the journal lost committed records. */
static void record_plotlog_ahead_gap_locked(selgw_gateway *g)
{
    uint64_t last = g->journal_last_at_load;
    if (g->plotlog_last_jseq <= last ||
        (g->recovery.state_ahead && g->recovery.state_checkpoint_jseq >= g->plotlog_last_jseq))
        return;
    char text[400];
    snprintf(text, sizeof text,
             "the plot chain log holds journal records up to %" PRIu64 ", the journal ends at "
             "%" PRIu64 ": records the disk acknowledged were lost (a crash with a disk that "
             "lied about a flush) or the journal was replaced by an older copy",
             g->plotlog_last_jseq, last);
    selgw_log(SELGW_LOG_ERROR, "evidence chains: %s; a GAP record says so", text);
    selgw_record gap = {.type = SELGW_RECORD_GAP,
                        .text = str_of(text),
                        .gap_first_seq = last + 1,
                        .gap_last_seq = g->plotlog_last_jseq};
    append_event_locked(g, &gap, "gateway", KIND_EVENT, NULL);
}

static void free_pollers(selgw_gateway *g, selgw_poller **pollers, size_t count)
{
    if (!pollers)
        return;
    for (size_t i = 0; i < count; i++) {
        if (!pollers[i])
            continue;
        selgw_poller_stop(pollers[i]);
        selgw_poller_stats st;
        selgw_poller_get_stats(pollers[i], &st);
        g->polls += st.polls;
        g->failed_polls += st.failed_polls;
        g->late_polls += st.late_polls;
        selgw_lateness_merge(&g->lateness, &st.lateness);
        selgw_poller_free(pollers[i]);
    }
    free(pollers);
}

/* Stops g's pollers and frees them. Stopped first while the sealer still sees them: a
 * poll in progress holds seals back until it is journaled (or abandoned). */
static void stop_pollers(selgw_gateway *g)
{
    for (size_t i = 0; g->pollers && i < g->poller_count; i++)
        if (g->pollers[i])
            selgw_poller_stop(g->pollers[i]);
    pthread_mutex_lock(&g->lock);
    selgw_poller **old = g->pollers;
    size_t count = g->poller_count;
    g->pollers = NULL;
    g->poller_count = 0;
    pthread_mutex_unlock(&g->lock);
    free_pollers(g, old, count);
}

static void install_pollers(selgw_gateway *g, selgw_poller **pollers, size_t count)
{
    pthread_mutex_lock(&g->lock);
    g->pollers = pollers;
    g->poller_count = count;
    pthread_mutex_unlock(&g->lock);
}

static selgw_err make_pollers(selgw_gateway *g, const selgw_config *cfg, selgw_poller ***out)
{
    selgw_poller **pollers = calloc(cfg->bus_count ? cfg->bus_count : 1, sizeof *pollers);
    if (!pollers)
        return SELGW_ERR_NOMEM;
    for (size_t i = 0; i < cfg->bus_count; i++) {
        selgw_transport *t = NULL;
        selgw_err err = selgw_transport_new(&cfg->buses[i], &t);
        if (err == SELGW_OK)
            err = selgw_poller_new(cfg, i, t, accept_reading, g, &pollers[i]);
        if (err != SELGW_OK) {
            selgw_log(SELGW_LOG_ERROR, "bus %s: %s", cfg->buses[i].id, selgw_strerror(err));
            free_pollers(g, pollers, cfg->bus_count);
            return err;
        }
    }
    *out = pollers;
    return SELGW_OK;
}

selgw_err selgw_gateway_new(selgw_config *cfg, const selgw_gateway_options *opt,
                            selgw_gateway **out)
{
    *out = NULL;
    selgw_gateway *g = calloc(1, sizeof *g);
    if (!g) {
        selgw_config_free(cfg);
        return SELGW_ERR_NOMEM;
    }
    g->cfg = cfg;
    g->config_generation = 1;
    g->opt = *opt;
    g->journal_dir = strdup(cfg->journal.dir);
    if (!g->journal_dir) {
        selgw_config_free(cfg);
        free(g);
        return SELGW_ERR_NOMEM;
    }
    g->clock_synced = -1;
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->persist_lock, NULL);
    selgw_err err = selgw_worker_new(&g->sealer);
    if (err != SELGW_OK) {
        selgw_gateway_free(g);
        return err;
    }
    const char *sink_names[SELGW_SINK_KINDS_MAX];
    size_t sink_count = selgw_sink_names(cfg, sink_names);

    selgw_journal_recovery rec;
    memset(&rec, 0, sizeof rec);
    /* Retention waits until the chain state says from where the next start reads. */
    selgw_journal_config journal_cfg = cfg->journal;
    journal_cfg.hold_retention = true;
    err = selgw_journal_open(&journal_cfg, sink_names, sink_count, true, &g->journal, &rec);
    g->journal_recovery = rec;
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "journal %s: %s%s%s", cfg->journal.dir, selgw_strerror(err),
                  rec.message[0] ? ": " : "", rec.message);
        selgw_gateway_free(g);
        return err;
    }
    selgw_journal_set_gateway(g->journal, cfg->gateway_id);
    if (rec.torn_bytes)
        selgw_log(SELGW_LOG_WARN,
                  "journal %s: cut %llu bytes of a torn record off the tail (a write "
                  "interrupted by a crash or power cut; it was never committed)",
                  cfg->journal.dir, (unsigned long long)rec.torn_bytes);
    selgw_log(SELGW_LOG_INFO, "journal %s: %llu records (seq %llu..%llu)", cfg->journal.dir,
              (unsigned long long)rec.records, (unsigned long long)rec.first_seq,
              (unsigned long long)rec.last_seq);

    /* Evidence: the chains continue where the journal left them; the key signs seals; the
     * journal's own GAP records join the gateway chain. */
    err = load_chains(g, &g->recovery);
    char why[512] = "";
    if (err == SELGW_OK && cfg->signing.enabled) {
        err = selgw_signer_load(cfg->signing.secret_key, &g->signer, why, sizeof why);
        if (err != SELGW_OK)
            selgw_log(SELGW_LOG_ERROR, "signing key: %s", why[0] ? why : selgw_strerror(err));
    }
    if (err == SELGW_OK)
        err = load_alerts(g);
    if (err != SELGW_OK) {
        selgw_gateway_free(g);
        return err;
    }
    selgw_journal_gap_hook hook = {encode_budget_gap, budget_gap_appended, g};
    selgw_journal_set_gap_hook(g->journal, &hook);
    if (!g->signer)
        selgw_log(SELGW_LOG_INFO, "signing is off: records are hash-chained but not sealed");
    recall_last_seal(g);
    err = selgw_sinks_new(cfg, g->journal, &g->sinks);
    selgw_sinks_set_inbound(g->sinks, journal_witness, g);
    selgw_poller **pollers = NULL;
    if (err == SELGW_OK)
        err = make_pollers(g, cfg, &pollers);
    if (err == SELGW_OK)
        install_pollers(g, pollers, cfg->bus_count);
    if (err != SELGW_OK) {
        selgw_gateway_free(g);
        return err;
    }
    *out = g;
    return SELGW_OK;
}

static void start_pollers(selgw_gateway *g)
{
    selgw_log(SELGW_LOG_INFO, "gateway %s: polling %zu devices on %zu buses (%s)",
              g->cfg->gateway_id, g->cfg->device_count, g->cfg->bus_count, g->cfg->path);
    for (size_t i = 0; i < g->poller_count; i++)
        if (selgw_poller_start(g->pollers[i]) != SELGW_OK)
            selgw_log(SELGW_LOG_ERROR, "cannot start the poller of bus %s", g->cfg->buses[i].id);
}

/* ---- the status API's snapshot ---------------------------------------------------------- */

/* The bases, plots and contracts of the snapshot (the dashboard's farm view), pointing into
 * cfg; NULL arrays when out of memory (then false). */
typedef struct farm_view {
    selgw_status_base *bases;
    selgw_status_plot *plots;
    selgw_status_household *households;
} farm_view;

static bool farm_snapshot(const selgw_config *cfg, selgw_status *st, farm_view *v)
{
    size_t household_total = 0;
    for (size_t i = 0; i < cfg->plot_count; i++)
        household_total += cfg->plots[i].contract_count;
    v->bases = calloc(cfg->base_count ? cfg->base_count : 1, sizeof *v->bases);
    v->plots = calloc(cfg->plot_count ? cfg->plot_count : 1, sizeof *v->plots);
    v->households = calloc(household_total ? household_total : 1, sizeof *v->households);
    if (!v->bases || !v->plots || !v->households)
        return false;
    for (size_t i = 0; i < cfg->base_count; i++) {
        const selgw_base *b = &cfg->bases[i];
        v->bases[i] = (selgw_status_base){b->id, b->name, b->county, b->township};
    }
    size_t h = 0;
    for (size_t i = 0; i < cfg->plot_count; i++) {
        const selgw_plot *p = &cfg->plots[i];
        v->plots[i] = (selgw_status_plot){p->id,      cfg->bases[p->base].id, p->crop,
                                          p->area_mu, p->contract_count,      v->households + h};
        for (size_t c = 0; c < p->contract_count; c++, h++) {
            const selgw_contract *k = &p->contracts[c];
            v->households[h] =
                (selgw_status_household){k->household, k->contract, k->from_day, k->to_day};
        }
    }
    st->utc_offset_minutes = cfg->utc_offset_minutes;
    st->base_count = cfg->base_count;
    st->bases = v->bases;
    st->plot_count = cfg->plot_count;
    st->plots = v->plots;
    return true;
}

/* The active alerts, gathered for a status snapshot. */
typedef struct alert_list {
    selgw_status_alert *items;
    size_t count, cap;
} alert_list;

static void list_alert(void *ctx, const selgw_alert_event *ev)
{
    alert_list *list = ctx;
    if (list->count == list->cap)
        return;
    list->items[list->count++] = (selgw_status_alert){
        .rule = ev->rule,
        .base = ev->base,
        .plot = ev->plot,
        .crop = ev->crop,
        .device = ev->device,
        .field = ev->field,
        .unit = ev->unit,
        .condition = selgw_alert_condition_name(ev->condition),
        .value = ev->value,
        .threshold = ev->threshold,
        .since_ns = ev->since_ns,
        .raised_ns = ev->raised_ns,
    };
}

/* The HTTP server's source (http/status.h). Under g->lock, which a reload takes to replace
 * the pollers, the sinks and the config, so the strings of the snapshot (pointing into the
 * config) stay valid while the server encodes it. The encoding is short (no I/O): pollers
 * that hand over a reading meanwhile wait that long. */
static bool status_source(void *ctx, selgw_status_visit_fn visit, void *visit_ctx)
{
    selgw_gateway *g = ctx;
    bool ok = false;
    pthread_mutex_lock(&g->lock);
    size_t device_count = 0, field_total = 0;
    size_t bus_count = 0; /* pollers: a slot may be empty (see polls_covered_until_locked) */
    for (size_t b = 0; g->pollers && b < g->poller_count; b++)
        if (g->pollers[b]) {
            bus_count++;
            device_count += selgw_poller_device_count(g->pollers[b]);
        }
    selgw_status_bus *buses = calloc(bus_count ? bus_count : 1, sizeof *buses);
    selgw_status_device *devices = calloc(device_count ? device_count : 1, sizeof *devices);
    selgw_status_sink *sinks = calloc(SELGW_SINK_KINDS_MAX, sizeof *sinks);
    selgw_reading_field *fields = NULL;
    farm_view farm = {0};
    size_t alert_count = selgw_alert_engine_active_count(g->alerts);
    alert_list alerts = {calloc(alert_count ? alert_count : 1, sizeof *alerts.items), 0,
                         alert_count};
    if (buses && devices && sinks && alerts.items) {
        /* first the field counts, so that every device's fields fit in one allocation */
        size_t d = 0;
        for (size_t b = 0; g->pollers && b < g->poller_count; b++)
            for (size_t i = 0; g->pollers[b] && i < selgw_poller_device_count(g->pollers[b]);
                 i++, d++) {
                selgw_poller_device_health(g->pollers[b], i, &devices[d].health, NULL,
                                           &devices[d].field_count);
                field_total += devices[d].field_count;
            }
        fields = calloc(field_total ? field_total : 1, sizeof *fields);
    }
    if (fields) {
        selgw_status st = {.gateway_id = g->cfg->gateway_id,
                           .version = SELGW_VERSION,
                           .now_ns = selgw_utc_ns(),
                           .start_ns = g->start_ns,
                           .config_generation = g->config_generation,
                           .bus_count = bus_count,
                           .buses = buses,
                           .device_count = device_count,
                           .devices = devices,
                           .sinks = sinks};
        /* the engine's strings stay valid under g->lock, while the snapshot is encoded */
        selgw_alert_engine_each_active(g->alerts, list_alert, &alerts);
        st.alerts = alerts.items;
        st.alert_count = alerts.count;
        size_t d = 0, f = 0, b = 0;
        for (size_t k = 0; g->pollers && k < g->poller_count; k++) {
            selgw_poller *p = g->pollers[k];
            if (!p)
                continue;
            const selgw_bus *bus = selgw_poller_bus(p);
            buses[b].id = bus->id;
            buses[b].type = bus->kind == SELGW_BUS_RTU ? "rtu" : "tcp";
            selgw_poller_get_stats(p, &buses[b].stats);
            for (size_t i = 0; i < selgw_poller_device_count(p); i++, d++) {
                /* a device's field count is fixed when its poller is made: the room
                 * counted above */
                selgw_status_device *sd = &devices[d];
                const selgw_device *dev =
                    selgw_poller_device_health(p, i, &sd->health, fields + f, &sd->field_count);
                sd->fields = fields + f;
                f += sd->field_count;
                sd->id = dev->id;
                sd->bus = bus->id;
                sd->profile = selgw_device_profile_name(dev);
                /* the poller's own config: during a reload g->cfg may still be the old one */
                sd->plot = selgw_poller_config(p)->plots[dev->plot].id;
                sd->unit_id = dev->unit_id;
                sd->interval_ms = dev->interval_ms;
            }
            b++;
        }
        selgw_journal_get_stats(g->journal, &st.journal);
        st.sink_count = selgw_sinks_count(g->sinks);
        for (size_t i = 0; i < st.sink_count; i++) {
            sinks[i].name = selgw_sinks_get_stats(g->sinks, i, &sinks[i].stats);
            uint64_t head = st.journal.committed_seq, cursor = sinks[i].stats.last_seq;
            sinks[i].backlog_records = head > cursor ? head - cursor : 0;
        }
        if (farm_snapshot(g->cfg, &st, &farm)) {
            visit(visit_ctx, &st);
            ok = true;
        }
    }
    pthread_mutex_unlock(&g->lock);
    free(farm.bases);
    free(farm.plots);
    free(farm.households);
    free(fields);
    free(buses);
    free(devices);
    free(sinks);
    free(alerts.items);
    return ok;
}

/* The HTTP server's history source (http/history.h): the plot is checked against the running
 * config under g->lock; the journal is read without it (the journal has its own lock, and
 * lives as long as the server), so a month's chart never holds up a poller. */
static bool has_plot(selgw_gateway *g, const char *plot)
{
    pthread_mutex_lock(&g->lock);
    bool found = false;
    for (size_t i = 0; i < g->cfg->plot_count && !found; i++)
        found = !strcmp(g->cfg->plots[i].id, plot);
    pthread_mutex_unlock(&g->lock);
    return found;
}

/* A copy of every device's poll interval in the running config (all devices: one moved from
 * the plot has readings in its past), in one allocation: freed with free(*out). */
static bool device_intervals(selgw_gateway *g, selgw_history_interval **out, size_t *count)
{
    pthread_mutex_lock(&g->lock);
    size_t n = g->cfg->device_count, ids = 0;
    for (size_t i = 0; i < n; i++)
        ids += strlen(g->cfg->devices[i].id) + 1;
    selgw_history_interval *iv = malloc(n * sizeof *iv + ids + 1);
    if (iv) {
        char *p = (char *)(iv + n);
        for (size_t i = 0; i < n; i++) {
            const selgw_device *d = &g->cfg->devices[i];
            size_t len = strlen(d->id) + 1;
            memcpy(p, d->id, len);
            iv[i] = (selgw_history_interval){p, (int64_t)d->interval_ms * SELGW_NS_PER_MS};
            p += len;
        }
    }
    pthread_mutex_unlock(&g->lock);
    *out = iv;
    *count = n;
    return iv != NULL;
}

static selgw_err history_source(void *ctx, const selgw_history_query *q,
                                selgw_history_visit_fn visit, void *visit_ctx)
{
    selgw_gateway *g = ctx;
    if (!has_plot(g, q->plot))
        return SELGW_ERR_NOT_FOUND;
    selgw_history_query with = *q;
    selgw_history_interval *intervals;
    if (!device_intervals(g, &intervals, &with.interval_count))
        return SELGW_ERR_NOMEM;
    with.intervals = intervals;
    selgw_err err = selgw_plot_history(g->journal, &with, visit, visit_ctx);
    free(intervals);
    return err;
}

static selgw_err notes_source(void *ctx, const selgw_history_query *q, selgw_notes_visit_fn visit,
                              void *visit_ctx)
{
    selgw_gateway *g = ctx;
    if (!has_plot(g, q->plot))
        return SELGW_ERR_NOT_FOUND;
    return selgw_plot_notes(g->journal, q, visit, visit_ctx);
}

static void start_http(selgw_gateway *g)
{
    if (!g->opt.serve_http || !g->cfg->http.enabled || g->http)
        return;
    char why[300] = "";
    const selgw_http_config *h = &g->cfg->http;
    selgw_http_options opt = {h->listen, h->password_hash, h->tls_cert, h->tls_key};
    selgw_history_source history = {history_source, notes_source, g};
    /* Watching is not worth losing readings over: without the API the gateway runs on. */
    if (selgw_http_server_new(&opt, status_source, g, &history, &g->http, why, sizeof why) !=
        SELGW_OK)
        selgw_log(SELGW_LOG_ERROR,
                  "HTTP API: %s; running without it (selgw status cannot "
                  "reach this gateway)",
                  why[0] ? why : "cannot start");
    else
        selgw_log(
            SELGW_LOG_INFO, "HTTP API on %s://%s/ (/metrics, /api/v1/status, /api/v1/plots)%s",
            h->tls_cert ? "https" : "http", h->listen, h->password_hash ? ", with a password" : "");
}

selgw_err selgw_gateway_start(selgw_gateway *g)
{
    g->start_ns = selgw_utc_ns();
    char text[300];
    snprintf(text, sizeof text, "selgw %s started with %s", SELGW_VERSION, g->cfg->path);
    pthread_mutex_lock(&g->lock);
    append_gateway_event_locked(g, SELGW_RECORD_START, text);
    bool noted = record_unwritten_gap_locked(g, &g->journal_recovery);
    noted = record_noted_refusals_locked(g, &g->journal_recovery) || noted;
    record_recovery_gap_locked(g, &g->recovery);
    record_plotlog_ahead_gap_locked(g);
    record_clock_locked(g, true);
    record_tags_locked(g);
    /* restored alerts that today's rules no longer hold are cleared, on record */
    selgw_alert_engine_settle(g->alerts, g->cfg, journal_alert_locked, g);
    g->last_seal_ns = selgw_mono_ns();
    pthread_mutex_unlock(&g->lock);
    if (noted && selgw_journal_flush(g->journal) == SELGW_OK)
        selgw_journal_forget_notes(g->journal); /* on record now */
    if (g->opt.start_sinks) {
        selgw_err err = selgw_sinks_start(g->sinks);
        if (err != SELGW_OK)
            return err;
    }
    if (selgw_worker_start(g->sealer, sealer_thread, g) != SELGW_OK)
        selgw_log(SELGW_LOG_ERROR, "cannot start the sealer: no seals until restart");
    start_pollers(g);
    g->running = true;
    start_http(g);
    /* from now on a SIGUSR1 reaches a sealer that answers it */
    selgw_journal_announce_owner(g->journal, (long)getpid());
    return SELGW_OK;
}

void selgw_gateway_request_seal(selgw_gateway *g)
{
    if (!g)
        return;
    atomic_store(&g->seal_requested, true);
    selgw_worker_nudge(g->sealer);
}

size_t selgw_gateway_device_count(const selgw_gateway *g)
{
    return g->cfg->device_count;
}

size_t selgw_gateway_poll_once(selgw_gateway *g)
{
    size_t failed = 0;
    for (size_t i = 0; i < g->poller_count; i++)
        failed += selgw_poller_poll_once(g->pollers[i]);
    persist(g);
    return failed;
}

static bool same_string(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_journal(const selgw_journal_config *a, const selgw_journal_config *b)
{
    return same_string(a->dir, b->dir) && a->segment_bytes == b->segment_bytes &&
           a->fsync == b->fsync && a->fsync_interval_ms == b->fsync_interval_ms &&
           a->commit_interval_ms == b->commit_interval_ms && a->retention_ms == b->retention_ms &&
           a->max_backlog_bytes == b->max_backlog_bytes && a->when_full == b->when_full &&
           same_string(a->group, b->group);
}

selgw_err selgw_gateway_reload(selgw_gateway *g, selgw_config *cfg)
{
    if (!same_journal(&g->cfg->journal, &cfg->journal) || !selgw_sinks_same_kinds(g->cfg, cfg)) {
        selgw_log(SELGW_LOG_ERROR, "reload: the journal section or the set of sinks changed; "
                                   "that needs a restart. Keeping the running configuration");
        selgw_config_free(cfg);
        return SELGW_ERR_INVALID;
    }
    selgw_poller **pollers = NULL;
    selgw_err err = make_pollers(g, cfg, &pollers);
    if (err != SELGW_OK) {
        selgw_config_free(cfg);
        return err;
    }
    /* Old pollers stop first, so that a serial line is closed before its new owner opens
     * it; sinks restart with their new settings from their persisted cursors. */
    stop_pollers(g);
    install_pollers(g, pollers, cfg->bus_count);
    pthread_mutex_lock(&g->lock); /* the status API reads the sinks under lock */
    selgw_sinks *old_sinks = g->sinks;
    g->sinks = NULL;
    pthread_mutex_unlock(&g->lock);
    selgw_sinks_free(old_sinks); /* stops them first */
    if (g->http && (cfg->http.enabled != g->cfg->http.enabled ||
                    !same_string(cfg->http.listen, g->cfg->http.listen) ||
                    !same_string(cfg->http.password_hash, g->cfg->http.password_hash) ||
                    !same_string(cfg->http.tls_cert, g->cfg->http.tls_cert) ||
                    !same_string(cfg->http.tls_key, g->cfg->http.tls_key)))
        selgw_log(SELGW_LOG_WARN, "reload: the http section changed; the HTTP API keeps its "
                                  "address, password and TLS until a restart");
    selgw_sinks *sinks = NULL;
    err = selgw_sinks_new(cfg, g->journal, &sinks);
    selgw_sinks_set_inbound(sinks, journal_witness, g);
    pthread_mutex_lock(&g->lock);
    selgw_config *old = g->cfg;
    g->cfg = cfg;
    g->sinks = sinks;
    g->config_generation++;
    pthread_mutex_unlock(&g->lock);
    if (err == SELGW_OK && g->opt.start_sinks && g->running)
        err = selgw_sinks_start(g->sinks);
    selgw_config_free(old);
    char text[300];
    snprintf(text, sizeof text, "%s from %s", SELGW_RELOAD_TEXT, cfg->path);
    pthread_mutex_lock(&g->lock);
    append_gateway_event_locked(g, SELGW_RECORD_START, text);
    record_tags_locked(g); /* households, devices or calibration of a plot may have changed */
    /* rules removed or changed: their alerts are cleared, on record (docs/ALERTS.md) */
    if (selgw_alert_engine_reconfigure(g->alerts, cfg, journal_alert_locked, g) != SELGW_OK)
        selgw_log(SELGW_LOG_ERROR, "reload: out of memory for the alert rules: the previous "
                                   "rules stay in force");
    pthread_mutex_unlock(&g->lock);
    persist(g);
    if (g->running)
        start_pollers(g);
    return err;
}

void selgw_gateway_stop(selgw_gateway *g, const char *why)
{
    selgw_http_server_free(g->http); /* first: nothing is watched while it winds down */
    g->http = NULL;
    if (!g->pollers && !g->running)
        return;
    stop_pollers(g);
    selgw_worker_stop(g->sealer);
    if (g->running) {
        /* Every clean stop is sealed, so the last records are covered; on a full disk too
         * (the journal takes these last records, and the close writes them). */
        selgw_journal_last_records(g->journal);
        pthread_mutex_lock(&g->lock);
        g->stopping = true; /* no witness statement after the final seal */
        record_clock_locked(g, true); /* the final seal too follows the clock state it is in */
        append_gateway_event_locked(g, SELGW_RECORD_STOP, why ? why : "stopped");
        seal_locked(g);
        pthread_mutex_unlock(&g->lock);
    }
    persist(g);
    selgw_sinks_stop(g->sinks);
    g->running = false;
}

bool selgw_gateway_failed(selgw_gateway *g)
{
    pthread_mutex_lock(&g->lock);
    bool failed = g->failed;
    pthread_mutex_unlock(&g->lock);
    return failed;
}

bool selgw_gateway_healthy(selgw_gateway *g, int64_t stall_ns, char *why, size_t why_cap)
{
    why[0] = '\0';
    pthread_mutex_lock(&g->lock);
    int64_t stalled;
    if (g->failed) {
        const char *failure = selgw_journal_failure(g->journal);
        snprintf(why, why_cap, "the journal failed%s%s", failure ? ": " : "",
                 failure ? failure : "");
    } else if ((stalled = selgw_journal_writer_silence_ns(g->journal)) > stall_ns) {
        snprintf(why, why_cap, "the journal's writer has been in one write or fdatasync for %lld s",
                 (long long)(stalled / SELGW_NS_PER_S));
    } else if ((stalled = selgw_worker_busy_ns(g->sealer)) > stall_ns) {
        snprintf(why, why_cap, "the sealer has not come back to its wait for %lld s",
                 (long long)(stalled / SELGW_NS_PER_S));
    } else {
        for (size_t i = 0; g->pollers && i < g->poller_count; i++)
            if (g->pollers[i] && (stalled = selgw_poller_busy_ns(g->pollers[i])) > stall_ns) {
                snprintf(why, why_cap,
                         "the poller of bus %s has been in one transaction for %lld s",
                         g->cfg->buses[i].id, (long long)(stalled / SELGW_NS_PER_S));
                break;
            }
    }
    pthread_mutex_unlock(&g->lock);
    return why[0] == '\0';
}

void selgw_gateway_log_totals(selgw_gateway *g)
{
    /* Pollers freed by reloads or a stop have added theirs already; live ones add now. */
    uint64_t polls = g->polls, failed = g->failed_polls, late = g->late_polls;
    selgw_lateness lateness = g->lateness;
    for (size_t i = 0; g->pollers && i < g->poller_count; i++) {
        selgw_poller_stats st;
        selgw_poller_get_stats(g->pollers[i], &st);
        polls += st.polls;
        failed += st.failed_polls;
        late += st.late_polls;
        selgw_lateness_merge(&lateness, &st.lateness);
    }
    char late_text[96] = "";
    if (lateness.count)
        snprintf(late_text, sizeof late_text, "; polls began late by p50 %.1f ms, p99 %.1f ms",
                 1e3 * selgw_buckets_quantile(selgw_lateness_bounds_s, SELGW_LATENESS_BOUNDS,
                                              lateness.buckets, 0.5),
                 1e3 * selgw_buckets_quantile(selgw_lateness_bounds_s, SELGW_LATENESS_BOUNDS,
                                              lateness.buckets, 0.99));
    selgw_log(SELGW_LOG_INFO,
              "stopped: %llu polls, %llu failed, %llu skipped (bus busy)%s; %llu records "
              "journaled, %llu readings refused by the journal",
              (unsigned long long)polls, (unsigned long long)failed, (unsigned long long)late,
              late_text, (unsigned long long)g->accepted, (unsigned long long)g->refused_total);
    selgw_sinks_log_totals(g->sinks);
}

void selgw_gateway_free(selgw_gateway *g)
{
    if (!g)
        return;
    if (g->journal)
        selgw_gateway_stop(g, "stopped");
    stop_pollers(g);
    selgw_sinks_free(g->sinks);
    if (g->journal)
        selgw_journal_set_gap_hook(g->journal, NULL);
    selgw_journal_close(g->journal);
    selgw_chains_free(g->chains);
    selgw_alert_engine_free(g->alerts);
    selgw_signer_free(g->signer);
    selgw_plotlog_free(g->plotlog);
    for (size_t i = 0; i < g->plot_pending_count; i++)
        free(g->plot_pending[i].payload);
    free(g->plot_pending);
    free(g->annotations);
    free(g->state_text);
    selgw_worker_free(g->sealer);
    free(g->chains_state);
    pthread_mutex_destroy(&g->persist_lock);
    pthread_mutex_destroy(&g->lock);
    free(g->print_buf);
    selgw_config_free(g->cfg);
    free(g->journal_dir);
    free(g);
}
