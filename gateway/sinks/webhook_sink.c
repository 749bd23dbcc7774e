/* The webhook sink. One thread owns the curl handle, the record in hand and the dead-letter
 * file; only the stop flag and the stats are shared, under `lock`. The URL holds the
 * robot's key: it is never logged, only its host. */
#include "sinks/webhook_sink.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/text_writer.h"
#include "base/worker.h"
#include "journal/record.h"
#include "sinks/http_post.h"
#include "sinks/webhook_msg.h"

/* The journal cannot be woken by our stop: wait for new records in slices this long. */
#define JOURNAL_WAIT_MS 500
/* The cursor must not hold back the journal's retention, so it moves past the records
 * passed over (not alerts) too; but each save is an fsync, on an SD card too, and almost
 * every record is passed over: those are saved at most every PASSED_SAVE_INTERVAL_MS (a
 * minute of readings is nothing to retention), and at stop. An acknowledged alert is saved
 * at once. */
#define PASSED_SAVE_INTERVAL_MS 60000
/* The robots' own rate limit answered: wait this long before the next try. */
#define SLOW_DOWN_MS 60000
#define ERRMSG_SIZE 256
#define DETAIL_SIZE 512

typedef enum deliver_outcome {
    DELIVER_DONE,    /* acknowledged, or set aside in the dead-letter file */
    DELIVER_STOPPED, /* stop was asked before that */
} deliver_outcome;

typedef struct base_name {
    char *id, *name;
} base_name;

struct selgw_webhook_sink {
    selgw_journal *journal;
    selgw_webhook_render render;
    selgw_i18n *names;
    char *url;      /* a secret */
    char *secret;   /* a secret; DingTalk sign mode, NULL when none */
    char what[128]; /* "webhook (HOST)" for logs */
    base_name *bases;
    size_t base_count;
    int retry_min_ms, retry_max_ms, dead_letter_after;
    int64_t spacing_ns;
    char *dead_letter_path;
    int dead_letter_fd;

    selgw_http_post http;
    char *signed_url;     /* url with DingTalk's timestamp and sign, rebuilt for each request */
    int64_t last_post_ns; /* monotonic; 0 before the first */
    long backoff_ms;
    selgw_record record;
    char errmsg[ERRMSG_SIZE];
    long errcode;

    selgw_repeat alarm;       /* the server or the connection */
    selgw_repeat local;       /* our own journal or disk */
    selgw_repeat undecodable; /* records this build cannot decode, passed over */
    uint64_t start_after;     /* the first start: the journal's records up to here are history */
    selgw_worker *worker;
    pthread_mutex_t lock; /* guards stats */
    selgw_sink_stats stats;
};

static void note_error(selgw_webhook_sink *s, selgw_err err, bool retried)
{
    pthread_mutex_lock(&s->lock);
    s->stats.last_error = err;
    if (err != SELGW_OK && (unsigned)err < SELGW_ERR_COUNT_)
        s->stats.errors[err]++;
    if (retried)
        s->stats.reconnects++;
    pthread_mutex_unlock(&s->lock);
}

static const char *base_name_of(const selgw_webhook_sink *s, selgw_str id)
{
    for (size_t i = 0; i < s->base_count; i++)
        if (strlen(s->bases[i].id) == id.len && !memcmp(s->bases[i].id, id.ptr, id.len))
            return s->bases[i].name;
    return NULL;
}

/* The URL of the next request: DingTalk's sign mode signs the time of each one. */
static selgw_err request_url(selgw_webhook_sink *s)
{
    if (!s->secret)
        return SELGW_OK; /* set once at start */
    char params[SELGW_DINGTALK_SIGN_PARAMS_MAX];
    int64_t now_ms = selgw_utc_ns() / SELGW_NS_PER_MS;
    if (!selgw_dingtalk_sign_params(s->secret, now_ms, !strchr(s->url, '?'), params, sizeof params))
        return SELGW_ERR_INVALID;
    free(s->signed_url);
    s->signed_url = NULL;
    if (asprintf(&s->signed_url, "%s%s", s->url, params) < 0) {
        s->signed_url = NULL;
        return SELGW_ERR_NOMEM;
    }
    return selgw_http_post_url(&s->http, s->signed_url);
}

/* Appends the refused alert to the dead-letter file as one JSON line: when, its record,
 * the answer, and the body that was refused. */
static selgw_err write_dead_letter(selgw_webhook_sink *s, uint64_t seq, long status,
                                   const char *body, size_t body_len)
{
    char when[SELGW_UTC_TEXT_SIZE];
    char head[ERRMSG_SIZE * 7 + 256];
    size_t len = 0;
    selgw_text_format(head, sizeof head, &len,
                      "{\"time\":\"%s\",\"seq\":%" PRIu64 ",\"http_status\":%ld,\"errcode\":%ld,"
                      "\"errmsg\":",
                      selgw_format_utc(selgw_utc_ns(), when), seq, status, s->errcode);
    selgw_json_string(head, sizeof head, &len, s->errmsg);
    selgw_text_format(head, sizeof head, &len, ",\"body\":");
    if (len >= sizeof head)
        return SELGW_ERR_RANGE;
    const char *parts[3] = {head, body, "}\n"};
    size_t lens[3] = {len, body_len, 2};
    return selgw_dead_letter_append(&s->dead_letter_fd, s->dead_letter_path, parts, lens, 3);
}

/* Sets the alert aside in the dead-letter file (`why` for the log): a local failure to
 * write it is retried until it works or the sink stops, never passed. */
static deliver_outcome dead_letter(selgw_webhook_sink *s, uint64_t seq, long status,
                                   const char *body, size_t body_len, const char *why)
{
    for (;;) {
        selgw_err err = write_dead_letter(s, seq, status, body, body_len);
        if (err == SELGW_OK)
            break;
        char detail[DETAIL_SIZE];
        snprintf(detail, sizeof detail, "cannot write the dead-letter file %s",
                 s->dead_letter_path);
        selgw_repeat_fail(&s->local, s->what, err, detail);
        note_error(s, err, false);
        if (!selgw_worker_wait_ms(s->worker, s->retry_max_ms))
            return DELIVER_STOPPED;
    }
    selgw_repeat_ok(&s->local, s->what);
    selgw_log(SELGW_LOG_WARN, "%s: alert %" PRIu64 " %s, set aside in %s", s->what, seq, why,
              s->dead_letter_path);
    pthread_mutex_lock(&s->lock);
    s->stats.refused++;
    s->stats.errors[SELGW_ERR_REJECTED]++;
    pthread_mutex_unlock(&s->lock);
    return DELIVER_DONE;
}

/* An ALERT record (its type byte says so) that this build cannot decode: it passed the
 * journal's CRC, so it is what was written, by a newer build (a downgrade) or a faulty one.
 * No message can be made of it, and holding the cursor before it would stop every later
 * alert, so it is set aside in the dead-letter file with the reason and no body; it stays
 * in the journal (until retention) for a build that can read it. */
static deliver_outcome dead_letter_undecodable(selgw_webhook_sink *s, uint64_t seq, selgw_err err)
{
    s->errcode = -1;
    snprintf(s->errmsg, sizeof s->errmsg,
             "journal record %" PRIu64 " is an ALERT record this build cannot decode (%s): "
             "no message was made; read it with a newer selgw journal --dump",
             seq, selgw_strerror(err));
    return dead_letter(s, seq, 0, "null", 4, "cannot be decoded by this build");
}

static long next_backoff(selgw_webhook_sink *s)
{
    s->backoff_ms = s->backoff_ms == 0 ? s->retry_min_ms : s->backoff_ms * 2;
    if (s->backoff_ms > s->retry_max_ms)
        s->backoff_ms = s->retry_max_ms;
    return s->backoff_ms;
}

/* Sends the alert in s->record until it is acknowledged or set aside. */
static deliver_outcome deliver(selgw_webhook_sink *s, uint64_t seq)
{
    char *body = NULL;
    size_t body_len = 0;
    for (;;) {
        selgw_err err = selgw_webhook_body(&s->render, &s->record, base_name_of(s, s->record.base),
                                           &body, &body_len);
        if (err == SELGW_OK)
            break;
        selgw_repeat_fail(&s->local, s->what, err, "cannot build a message");
        note_error(s, err, false);
        if (!selgw_worker_wait_ms(s->worker, s->retry_max_ms))
            return DELIVER_STOPPED;
    }
    int refusals = 0;
    deliver_outcome outcome = DELIVER_STOPPED;
    while (!selgw_worker_stopping(s->worker)) {
        /* The robots take about rate_limit messages a minute: every request waits its turn. */
        if (s->last_post_ns && !selgw_worker_wait_until(s->worker, s->last_post_ns + s->spacing_ns))
            break;
        selgw_err err = request_url(s);
        if (err != SELGW_OK) {
            selgw_repeat_fail(&s->local, s->what, err, "cannot sign the request");
            note_error(s, err, false);
            if (!selgw_worker_wait_ms(s->worker, s->retry_max_ms))
                break;
            continue;
        }
        long status = 0;
        selgw_http_post_send(&s->http, body, body_len, &status);
        s->last_post_ns = selgw_mono_ns();
        selgw_webhook_verdict verdict =
            selgw_webhook_classify(s->render.format, status, s->http.response, s->http.response_len,
                                   &s->errcode, s->errmsg, sizeof s->errmsg);
        char detail[DETAIL_SIZE];
        if (status == 0)
            snprintf(detail, sizeof detail, "%s", selgw_http_post_why(&s->http));
        else if (s->errcode >= 0)
            snprintf(detail, sizeof detail, "HTTP %ld, errcode %ld: %s", status, s->errcode,
                     s->errmsg);
        else
            snprintf(detail, sizeof detail, "HTTP %ld%s", status,
                     status >= 200 && status < 300 && s->render.format != SELGW_WEBHOOK_JSON
                         ? " without an errcode: not an acknowledgement"
                         : "");
        long delay_ms;
        switch (verdict) {
        case SELGW_WEBHOOK_DELIVERED:
            selgw_repeat_ok(&s->alarm, s->what);
            s->backoff_ms = 0;
            pthread_mutex_lock(&s->lock);
            s->stats.delivered++;
            s->stats.last_delivery_ns = selgw_utc_ns();
            s->stats.last_error = SELGW_OK;
            pthread_mutex_unlock(&s->lock);
            outcome = DELIVER_DONE;
            goto done;
        case SELGW_WEBHOOK_REFUSED:
            selgw_repeat_fail(&s->alarm, s->what, SELGW_ERR_REJECTED, detail);
            note_error(s, SELGW_ERR_REJECTED, true);
            if (++refusals >= s->dead_letter_after) {
                s->backoff_ms = 0;
                char why[64];
                snprintf(why, sizeof why, "refused %d times", s->dead_letter_after);
                outcome = dead_letter(s, seq, status, body, body_len, why);
                goto done;
            }
            delay_ms = next_backoff(s);
            break;
        case SELGW_WEBHOOK_OPERATOR:
            err = status == 404 ? SELGW_ERR_NOT_FOUND : SELGW_ERR_AUTH;
            strncat(detail,
                    "; the URL, key or signature is wrong: alerts are kept, retried until fixed",
                    sizeof detail - strlen(detail) - 1);
            selgw_repeat_fail(&s->alarm, s->what, err, detail);
            note_error(s, err, true);
            delay_ms = s->retry_max_ms;
            break;
        case SELGW_WEBHOOK_SLOW_DOWN:
            selgw_repeat_fail(&s->alarm, s->what, SELGW_ERR_SERVER, detail);
            note_error(s, SELGW_ERR_SERVER, true);
            delay_ms = SLOW_DOWN_MS > s->retry_min_ms ? SLOW_DOWN_MS : s->retry_min_ms;
            break;
        case SELGW_WEBHOOK_RETRY:
        default:
            err = selgw_http_post_error(&s->http, status);
            selgw_repeat_fail(&s->alarm, s->what, err, detail);
            note_error(s, err, true);
            delay_ms = next_backoff(s);
            break;
        }
        if (!selgw_worker_wait_ms(s->worker, delay_ms))
            break;
    }
done:
    free(body);
    return outcome;
}

static void save_cursor(selgw_webhook_sink *s, uint64_t seq, uint64_t *cursor)
{
    selgw_err err = selgw_journal_set_cursor(s->journal, SELGW_WEBHOOK_SINK_NAME, seq);
    if (err != SELGW_OK) {
        /* Sent all the same: after a restart the alert is sent once more. */
        selgw_repeat_fail(&s->local, s->what, err, "cannot save the cursor");
        note_error(s, err, false);
        return;
    }
    selgw_repeat_ok(&s->local, s->what);
    *cursor = seq;
    pthread_mutex_lock(&s->lock);
    s->stats.last_seq = seq;
    pthread_mutex_unlock(&s->lock);
}

/* Saves what was passed over since the last save when that was long enough ago. */
static void save_passed(selgw_webhook_sink *s, uint64_t done_seq, uint64_t *cursor,
                        int64_t *saved_ns)
{
    if (done_seq > *cursor &&
        selgw_mono_ns() - *saved_ns >= (int64_t)PASSED_SAVE_INTERVAL_MS * SELGW_NS_PER_MS) {
        save_cursor(s, done_seq, cursor);
        *saved_ns = selgw_mono_ns();
    }
}

static void sink_thread(void *arg)
{
    selgw_webhook_sink *s = arg;
    uint64_t cursor = selgw_journal_cursor(s->journal, SELGW_WEBHOOK_SINK_NAME);
    /* the last record done with (passed over or delivered): reading goes on after it. On
     * the first start it is ahead of a cursor that could not be saved (the save is tried
     * again with the next records passed over). */
    uint64_t done_seq = cursor > s->start_after ? cursor : s->start_after;
    uint64_t read_seq = done_seq; /* the last record read */
    int64_t saved_ns = selgw_mono_ns();
    pthread_mutex_lock(&s->lock);
    s->stats.last_seq = cursor;
    pthread_mutex_unlock(&s->lock);
    selgw_journal_reader *reader = NULL;
    while (!selgw_worker_stopping(s->worker)) {
        if (!reader) {
            selgw_err err = selgw_journal_reader_new(s->journal, done_seq, &reader);
            if (err != SELGW_OK) {
                selgw_repeat_fail(&s->local, s->what, err, "cannot read the journal");
                note_error(s, err, false);
                if (!selgw_worker_wait_ms(s->worker, s->retry_max_ms))
                    break;
                continue;
            }
            read_seq = done_seq;
        }
        uint64_t seq;
        const uint8_t *payload;
        size_t len;
        selgw_err err = selgw_journal_read(reader, &seq, &payload, &len);
        if (err == SELGW_ERR_AGAIN) {
            save_passed(s, done_seq, &cursor, &saved_ns); /* caught up */
            int64_t began = selgw_mono_ns();
            uint64_t committed = selgw_journal_wait(s->journal, read_seq, JOURNAL_WAIT_MS);
            /* A journal that returns at once with nothing new (closed under us) must not
             * turn this into a busy loop. */
            if (committed <= read_seq &&
                selgw_mono_ns() - began < (int64_t)JOURNAL_WAIT_MS * SELGW_NS_PER_MS / 2 &&
                !selgw_worker_wait_ms(s->worker, JOURNAL_WAIT_MS))
                break;
            continue;
        }
        if (err != SELGW_OK) {
            /* A bad record in the journal: nothing can pass it. Try again from there now
             * and then. */
            selgw_repeat_fail(&s->local, s->what, err,
                              "the next journal record is unreadable; delivery is stopped there");
            note_error(s, err, false);
            selgw_journal_reader_free(reader);
            reader = NULL;
            if (!selgw_worker_wait_ms(s->worker, s->retry_max_ms))
                break;
            continue;
        }
        read_seq = seq;
        err = selgw_record_decode(payload, len, &s->record);
        if (err != SELGW_OK && len >= 2 && payload[1] == SELGW_RECORD_ALERT) {
            if (dead_letter_undecodable(s, seq, err) == DELIVER_STOPPED)
                break;
            done_seq = seq;
            save_cursor(s, seq, &cursor);
            saved_ns = selgw_mono_ns();
            continue;
        }
        if (err != SELGW_OK) {
            /* Not an alert (a newer build's record, read after a downgrade): not ours to
             * send. Logged once, counted until a record decodes again. */
            selgw_repeat_fail(&s->undecodable, s->what, err,
                              "journal records this build cannot decode, not alerts: passed over");
            done_seq = seq;
            save_passed(s, done_seq, &cursor, &saved_ns);
            continue;
        }
        selgw_repeat_ok(&s->undecodable, s->what);
        if (s->record.type != SELGW_RECORD_ALERT) {
            done_seq = seq;
            save_passed(s, done_seq, &cursor, &saved_ns);
            continue;
        }
        s->record.seq = seq;
        selgw_record_hash(payload, len, s->record.hash);
        s->record.has_hash = true;
        if (deliver(s, seq) == DELIVER_STOPPED)
            break;
        done_seq = seq;
        save_cursor(s, seq, &cursor);
        saved_ns = selgw_mono_ns();
    }
    /* What was passed over since the last save is done with (never the alert in hand). */
    if (done_seq > cursor)
        save_cursor(s, done_seq, &cursor);
    selgw_journal_reader_free(reader);
}

/* A webhook turned on for the first time (its cursor has no file) starts at the journal's
 * committed sequence: a season of old alerts posted to the group at 20 a minute would bury
 * today's. Called at creation, before the gateway appends this run's first record. */
static void skip_history(selgw_webhook_sink *s)
{
    uint64_t first = 0, last = 0;
    selgw_journal_range(s->journal, &first, &last);
    s->start_after = selgw_journal_committed_seq(s->journal);
    selgw_log(SELGW_LOG_INFO,
              "%s: first start (no cursor file): the %" PRIu64 " records already in the "
              "journal (up to seq %" PRIu64 "), alerts among them, are history and not sent; "
              "alerts from now on are",
              s->what, first && last >= first ? last - first + 1 : 0, s->start_after);
    selgw_err err = selgw_journal_set_cursor(s->journal, SELGW_WEBHOOK_SINK_NAME, s->start_after);
    if (err != SELGW_OK) {
        /* the thread starts there all the same and saves with the next records passed */
        selgw_repeat_fail(&s->local, s->what, err, "cannot save the cursor");
        note_error(s, err, false);
    }
}

/* ---- life cycle ---- */

selgw_err selgw_webhook_sink_new(const selgw_config *cfg, selgw_journal *journal,
                                 selgw_webhook_sink **out)
{
    if (out)
        *out = NULL;
    if (!cfg || !journal || !out)
        return SELGW_ERR_INVALID;
    const selgw_webhook_config *w = &cfg->webhook;
    if (!w->url || !w->url[0] || !w->dead_letter_path || !w->dead_letter_path[0]) {
        selgw_log(SELGW_LOG_ERROR, "webhook: no %s configured",
                  !w->url || !w->url[0] ? "URL" : "dead_letter file");
        return SELGW_ERR_INVALID;
    }
    /* The defaults and bounds are the config's (docs/CONFIG.md); a config built by hand
     * must be as complete. */
    if (w->timeout_ms < 1 || w->retry_min_ms < 1 || w->retry_max_ms < w->retry_min_ms ||
        w->rate_per_minute < 1 || w->dead_letter_after < 1 ||
        (unsigned)w->format > SELGW_WEBHOOK_JSON) {
        selgw_log(SELGW_LOG_ERROR, "webhook: timeout, retry, rate_limit and dead_letter_after "
                                   "must be positive, retry max not less than min");
        return SELGW_ERR_INVALID;
    }
    selgw_webhook_sink *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    s->dead_letter_fd = -1;
    s->journal = journal;
    s->render = (selgw_webhook_render){.format = w->format,
                                       .style = w->style,
                                       .language = w->language,
                                       .mention_all = w->mention_all,
                                       .utc_offset_minutes = cfg->utc_offset_minutes};
    s->retry_min_ms = w->retry_min_ms;
    s->retry_max_ms = w->retry_max_ms;
    s->dead_letter_after = w->dead_letter_after;
    s->spacing_ns = 60 * SELGW_NS_PER_S / w->rate_per_minute;
    const char *host;
    size_t host_len = selgw_url_host(w->url, &host);
    snprintf(s->what, sizeof s->what, "webhook (%.*s)", (int)(host_len < 100 ? host_len : 100),
             host);
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return SELGW_ERR_NOMEM;
    }
    static const char *const headers[] = {"Content-Type: application/json; charset=utf-8", NULL};
    selgw_err err = selgw_http_post_init(&s->http, headers, w->timeout_ms);
    if (err == SELGW_OK)
        err = selgw_worker_new(&s->worker);
    if (err == SELGW_OK)
        err = selgw_i18n_builtin(&s->names);
    if (err == SELGW_OK) {
        s->render.names = s->names;
        s->url = strdup(w->url);
        s->secret = w->secret ? strdup(w->secret) : NULL;
        s->dead_letter_path = selgw_sink_path(cfg->journal.dir, w->dead_letter_path);
        s->bases = calloc(cfg->base_count ? cfg->base_count : 1, sizeof *s->bases);
        if (!s->url || (w->secret && !s->secret) || !s->dead_letter_path || !s->bases)
            err = SELGW_ERR_NOMEM;
    }
    for (size_t i = 0; err == SELGW_OK && i < cfg->base_count; i++) {
        s->bases[i].id = strdup(cfg->bases[i].id);
        s->bases[i].name = strdup(cfg->bases[i].name ? cfg->bases[i].name : "");
        s->base_count++;
        if (!s->bases[i].id || !s->bases[i].name)
            err = SELGW_ERR_NOMEM;
    }
    if (err == SELGW_OK && !s->secret)
        err = selgw_http_post_url(&s->http, s->url);
    if (err != SELGW_OK) {
        selgw_webhook_sink_free(s);
        return err;
    }
    if (!selgw_journal_cursor_saved(journal, SELGW_WEBHOOK_SINK_NAME))
        skip_history(s);
    *out = s;
    return SELGW_OK;
}

selgw_err selgw_webhook_sink_start(selgw_webhook_sink *s)
{
    if (!s)
        return SELGW_ERR_INVALID;
    selgw_err err = selgw_worker_start(s->worker, sink_thread, s);
    if (err != SELGW_OK)
        return err;
    static const char *const formats[] = {"WeCom group robot", "DingTalk robot", "JSON"};
    selgw_log(SELGW_LOG_INFO, "%s: alerts as %s%s messages, at most %lld a minute", s->what,
              formats[s->render.format], s->secret ? " (signed)" : "",
              (long long)(60 * SELGW_NS_PER_S / s->spacing_ns));
    return SELGW_OK;
}

void selgw_webhook_sink_stop(selgw_webhook_sink *s)
{
    if (s)
        selgw_worker_stop(s->worker);
}

static void free_secret(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}

void selgw_webhook_sink_free(selgw_webhook_sink *s)
{
    if (!s)
        return;
    selgw_worker_free(s->worker); /* stops the thread first */
    selgw_http_post_cleanup(&s->http);
    if (s->dead_letter_fd >= 0)
        close(s->dead_letter_fd);
    selgw_i18n_free(s->names);
    free_secret(s->url);
    free_secret(s->secret);
    free_secret(s->signed_url);
    free(s->dead_letter_path);
    for (size_t i = 0; i < s->base_count; i++) {
        free(s->bases[i].id);
        free(s->bases[i].name);
    }
    free(s->bases);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void selgw_webhook_sink_stats(selgw_webhook_sink *s, selgw_sink_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

/* ---- as a sink of the gateway -------------------------------------------------------- */

static bool ops_configured(const selgw_config *cfg)
{
    return cfg->webhook.enabled;
}

static selgw_err ops_create(const selgw_config *cfg, selgw_journal *journal, void **state)
{
    selgw_webhook_sink *s = NULL;
    selgw_err err = selgw_webhook_sink_new(cfg, journal, &s);
    *state = s;
    return err;
}

SELGW_SINK_TRAMPOLINES(selgw_webhook_sink)

const selgw_sink_ops selgw_webhook_sink_ops = {
    .name = SELGW_WEBHOOK_SINK_NAME,
    .refused_what = "dead-lettered",
    .configured = ops_configured,
    .create = ops_create,
    .start = ops_start,
    .stop = ops_stop,
    .stats = ops_stats,
    .destroy = ops_destroy,
};
