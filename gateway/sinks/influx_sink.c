/* The InfluxDB sink. One thread owns the curl handle, the batch in hand and the
 * dead-letter file; only the stop flag and the stats are shared, under `lock`. A batch is
 * sent by send_range(), which splits (413, timeouts) and bisects (400, 422) recursively,
 * so a batch is settled line by line before the cursor moves past it. */
#include "sinks/influx_sink.h"

#include <jansson.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/clock.h"
#include "sinks/http_post.h"
#include "sinks/lineproto.h"
#include "base/log.h"
#include "base/safe_text.h"
#include "base/worker.h"
#include "journal/record.h"

/* A batch stops growing past this many bytes of line protocol even below batch_lines:
 * InfluxDB 1.x refuses bodies over 25,000,000 bytes by default (max-body-size). */
#define BATCH_TEXT_LIMIT ((size_t)8 << 20)
#define MESSAGE_SIZE 512
/* A Retry-After beyond this is taken as nonsense and capped. */
#define RETRY_AFTER_CAP_S 3600L
/* The journal cannot be woken by our stop: wait for new records in slices this long. */
#define JOURNAL_WAIT_MS 500

/* One line of the batch: where it is in the batch text, and the record it renders. */
typedef struct batch_line {
    size_t offset, len;
    uint64_t seq;
} batch_line;

typedef enum send_outcome {
    SEND_DONE,    /* every line delivered or set aside in the dead-letter file */
    SEND_STOPPED, /* stop was asked before that */
} send_outcome;

struct selgw_influx_sink {
    selgw_journal *journal;
    char *write_url;
    char *measurement;
    char *dead_letter_path;
    int api;
    int batch_lines;
    /* Lines per batch: halved when the server says 413, doubled back after a few batches
     * without one (a single oversized line, or a proxy's limit that was raised, must not
     * leave every batch small for good). */
    size_t batch_limit;
    unsigned clean_batches; /* batches in a row without a 413 */
    bool split_in_batch;
    bool gzip;
    int timeout_ms, retry_min_ms, retry_max_ms;

    selgw_http_post http;
    char message[MESSAGE_SIZE]; /* why the last request failed, for logs and dead letters */

    /* The batch in hand: its line protocol text, its lines, the last record it covers
     * (events have no line but are covered all the same). */
    char *text;
    size_t text_len, text_cap;
    batch_line *lines;
    size_t line_count, line_cap;
    uint64_t batch_last_seq;
    selgw_record record;

    z_stream zs;
    bool zs_ready;
    unsigned char *gz;
    size_t gz_cap;

    int dead_letter_fd;
    selgw_repeat alarm;      /* the server or the connection */
    selgw_repeat rejections; /* lines set aside */
    selgw_repeat local;      /* our own journal or disk */
    long backoff_ms;

    selgw_worker *worker;
    pthread_mutex_t lock; /* guards stats */
    selgw_sink_stats stats;
};

selgw_influx_verdict selgw_influx_classify(long http_status)
{
    if (http_status >= 200 && http_status <= 299)
        return SELGW_INFLUX_DELIVERED;
    switch (http_status) {
    case 413:
        return SELGW_INFLUX_SPLIT;
    case 400:
    case 422:
        return SELGW_INFLUX_BISECT;
    case 401:
    case 403:
    case 404:
        return SELGW_INFLUX_OPERATOR;
    default:
        return SELGW_INFLUX_RETRY;
    }
}

long selgw_influx_retry_after_s(const char *header_value, long long now_utc_s)
{
    if (!header_value)
        return -1;
    const char *p = header_value;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (n == 0 || n >= 128)
        return -1;
    char text[128];
    memcpy(text, p, n);
    text[n] = '\0';
    if (text[0] >= '0' && text[0] <= '9') {
        /* delay-seconds = 1*DIGIT */
        long long secs = 0;
        for (size_t i = 0; i < n; i++) {
            if (text[i] < '0' || text[i] > '9')
                return -1;
            if (secs < LONG_MAX / 10)
                secs = secs * 10 + (text[i] - '0');
            else
                secs = LONG_MAX;
        }
        return secs > LONG_MAX ? LONG_MAX : (long)secs;
    }
    /* HTTP-date, e.g. "Wed, 21 Oct 2015 07:28:00 GMT": it begins with a day name. curl's
     * parser is lenient, so ask for the shape of a date before trusting it. */
    if (!((text[0] >= 'A' && text[0] <= 'Z') || (text[0] >= 'a' && text[0] <= 'z')))
        return -1;
    bool has_digit = false;
    for (size_t i = 0; i < n; i++)
        has_digit |= text[i] >= '0' && text[i] <= '9';
    if (!has_digit)
        return -1;
    time_t when = curl_getdate(text, NULL);
    if (when == (time_t)-1)
        return -1;
    long long delta = (long long)when - now_utc_s;
    if (delta < 0)
        return 0;
    return delta > LONG_MAX ? LONG_MAX : (long)delta;
}

/* ---- small helpers ---- */

/* The sink's state after a failure (or SELGW_OK), counted by kind; `retried` when the
 * request will be sent again. */
static void note_error(selgw_influx_sink *s, selgw_err err, bool retried)
{
    pthread_mutex_lock(&s->lock);
    s->stats.last_error = err;
    if (err != SELGW_OK && (unsigned)err < SELGW_ERR_COUNT_)
        s->stats.errors[err]++;
    if (retried)
        s->stats.reconnects++;
    pthread_mutex_unlock(&s->lock);
}

static void set_error(selgw_influx_sink *s, selgw_err err)
{
    note_error(s, err, false);
}

static bool stopping(selgw_influx_sink *s)
{
    return selgw_worker_stopping(s->worker);
}

/* Sleeps up to ms, woken early by stop. Returns false when the sink is stopping. */
static bool pause_ms(selgw_influx_sink *s, long ms)
{
    return selgw_worker_wait_ms(s->worker, ms);
}

/* Copies text into the message, one line of printable text. */
static void set_message(selgw_influx_sink *s, const char *text, size_t n)
{
    selgw_influx_plain_text(text, n, s->message, sizeof s->message);
}

void selgw_influx_plain_text(const char *text, size_t n, char *out, size_t cap)
{
    if (!cap)
        return;
    /* One line, as the log and the dead-letter file want it; well-formed UTF-8 only. */
    size_t len = 0;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < n && len + 1 < cap;) {
        uint32_t cp;
        size_t seq = selgw_utf8_sequence(p + i, n - i, &cp);
        if (seq == 0 || selgw_code_point_is_control(cp) || len + seq >= cap) {
            out[len++] = seq == 0 || selgw_code_point_is_control(cp) ? ' ' : '?';
            i += seq ? seq : 1;
            continue;
        }
        memcpy(out + len, text + i, seq);
        len += seq;
        i += seq;
    }
    while (len > 0 && out[len - 1] == ' ')
        len--;
    out[len] = '\0';
}

size_t selgw_influx_response_message(const char *body, size_t len, char *out, size_t cap)
{
    /* InfluxDB 1.x answers {"error": "..."}, 2.x {"code": "...", "message": "..."}; anything
     * else (a proxy's HTML page) is shown as it came. */
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *text = body;
    size_t text_len = len;
    json_t *member = json_is_object(root) ? json_object_get(root, "error") : NULL;
    if (!json_is_string(member))
        member = json_is_object(root) ? json_object_get(root, "message") : NULL;
    if (json_is_string(member)) {
        text = json_string_value(member);
        text_len = json_string_length(member);
    }
    selgw_influx_plain_text(text, text_len, out, cap);
    json_decref(root);
    return cap ? strlen(out) : 0;
}

/* Fills s->message with the reason of the last response or transfer failure. */
static void describe_failure(selgw_influx_sink *s, long status)
{
    if (status == 0) {
        const char *why = selgw_http_post_why(&s->http);
        set_message(s, why, strlen(why));
        return;
    }
    selgw_influx_response_message(s->http.response, s->http.response_len, s->message,
                                  sizeof s->message);
}

/* ---- the batch ---- */

static selgw_err grow(void **buf, size_t *cap, size_t need, size_t item)
{
    if (need <= *cap)
        return SELGW_OK;
    size_t new_cap = *cap ? *cap : 64;
    while (new_cap < need)
        new_cap *= 2;
    void *p = realloc(*buf, new_cap * item);
    if (!p)
        return SELGW_ERR_NOMEM;
    *buf = p;
    *cap = new_cap;
    return SELGW_OK;
}

/* Renders the record in s->record as a line at the end of the batch (none for events). */
static selgw_err add_line(selgw_influx_sink *s, uint64_t seq)
{
    size_t room = s->text_cap - s->text_len;
    size_t need = selgw_lp_record(&s->record, s->measurement,
                                  s->text ? s->text + s->text_len : NULL, s->text ? room : 0);
    if (need == 0)
        return SELGW_OK;
    if (need + 1 > room) {
        void *text = s->text;
        if (grow(&text, &s->text_cap, s->text_len + need + 1, 1) != SELGW_OK)
            return SELGW_ERR_NOMEM;
        s->text = text;
        need = selgw_lp_record(&s->record, s->measurement, s->text + s->text_len,
                               s->text_cap - s->text_len);
    }
    void *lines = s->lines;
    if (grow(&lines, &s->line_cap, s->line_count + 1, sizeof *s->lines) != SELGW_OK)
        return SELGW_ERR_NOMEM;
    s->lines = lines;
    s->lines[s->line_count++] = (batch_line){.offset = s->text_len, .len = need, .seq = seq};
    s->text_len += need;
    return SELGW_OK;
}

/* Reads committed records into a fresh batch, up to the batch limit. Returns how many
 * records were read; *err is SELGW_ERR_CORRUPT when the journal has a bad record next, or
 * NOMEM. */
static size_t fill_batch(selgw_influx_sink *s, selgw_journal_reader *reader, uint64_t *read_seq,
                         selgw_err *err)
{
    s->text_len = 0;
    s->line_count = 0;
    s->batch_last_seq = *read_seq;
    *err = SELGW_OK;
    size_t records = 0;
    while (s->line_count < s->batch_limit && s->text_len < BATCH_TEXT_LIMIT) {
        uint64_t seq;
        const uint8_t *payload;
        size_t len;
        selgw_err rc = selgw_journal_read(reader, &seq, &payload, &len);
        if (rc == SELGW_ERR_AGAIN)
            break;
        if (rc != SELGW_OK) {
            *err = rc;
            break;
        }
        uint64_t previous = s->batch_last_seq;
        *read_seq = seq;
        records++;
        s->batch_last_seq = seq;
        if (selgw_record_decode(payload, len, &s->record) != SELGW_OK) {
            /* It passed the journal's CRC, so it is what was written: a format this build
             * cannot read. It stays in the journal for a newer build. */
            selgw_log(SELGW_LOG_ERROR,
                      "influxdb: journal record %" PRIu64 " is not a record this version can "
                      "decode; not sent",
                      seq);
            continue;
        }
        s->record.seq = seq;
        /* Points carry the record's hash, so that a central system can check what it
         * received against an evidence export. */
        selgw_record_hash(payload, len, s->record.hash);
        s->record.has_hash = true;
        if (add_line(s, seq) != SELGW_OK) {
            /* Leave this record to the next batch: the reader goes back before it. */
            *err = SELGW_ERR_NOMEM;
            records--;
            s->batch_last_seq = previous;
            *read_seq = previous;
            if (selgw_journal_reader_seek(reader, previous) != SELGW_OK)
                records = 0; /* the caller starts over from the cursor */
            break;
        }
    }
    return records;
}

/* ---- sending ---- */

static selgw_err gzip_text(selgw_influx_sink *s, const char *in, size_t len,
                           const unsigned char **out, size_t *out_len)
{
    if (!s->zs_ready) {
        memset(&s->zs, 0, sizeof s->zs);
        /* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip wants. */
        /* Level 1: on a two-core field box the default level costs more CPU than the
         * bytes it saves; line protocol still shrinks about tenfold. */
        if (deflateInit2(&s->zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return SELGW_ERR_NOMEM;
        s->zs_ready = true;
    } else if (deflateReset(&s->zs) != Z_OK) {
        return SELGW_ERR_NOMEM;
    }
    size_t bound = deflateBound(&s->zs, (uLong)len);
    if (bound > s->gz_cap) {
        unsigned char *p = realloc(s->gz, bound);
        if (!p)
            return SELGW_ERR_NOMEM;
        s->gz = p;
        s->gz_cap = bound;
    }
    s->zs.next_in = (Bytef *)(uintptr_t)in;
    s->zs.avail_in = (uInt)len;
    s->zs.next_out = s->gz;
    s->zs.avail_out = (uInt)s->gz_cap;
    if (deflate(&s->zs, Z_FINISH) != Z_STREAM_END)
        return SELGW_ERR_NOMEM;
    *out = s->gz;
    *out_len = s->zs.total_out;
    return SELGW_OK;
}

/* POSTs lines [lo, hi). *status is the HTTP status, 0 when no answer came. */
static selgw_err post_lines(selgw_influx_sink *s, size_t lo, size_t hi, long *status)
{
    const char *text = s->text + s->lines[lo].offset;
    size_t len = s->lines[hi - 1].offset + s->lines[hi - 1].len - s->lines[lo].offset;
    const unsigned char *body = (const unsigned char *)text;
    size_t body_len = len;
    if (s->gzip) {
        selgw_err err = gzip_text(s, text, len, &body, &body_len);
        if (err != SELGW_OK)
            return err;
    }
    s->message[0] = '\0';
    selgw_http_post_send(&s->http, body, body_len, status);
    return SELGW_OK;
}

/* Appends a refused line to the dead-letter file: a comment with the time, the record's
 * sequence, the status and the server's reason, then the line itself; fsync'd. */
static selgw_err write_dead_letter(selgw_influx_sink *s, const batch_line *line, long status)
{
    char when[SELGW_UTC_TEXT_SIZE];
    char comment[MESSAGE_SIZE + 128];
    int n = snprintf(comment, sizeof comment, "# %s seq=%" PRIu64 " %ld %s\n",
                     selgw_format_utc(selgw_utc_ns(), when), line->seq, status, s->message);
    if (n < 0)
        return SELGW_ERR_IO;
    size_t comment_len = (size_t)n < sizeof comment ? (size_t)n : sizeof comment - 1;
    const char *parts[2] = {comment, s->text + line->offset};
    size_t lens[2] = {comment_len, line->len};
    return selgw_dead_letter_append(&s->dead_letter_fd, s->dead_letter_path, parts, lens, 2);
}

/* Sets a refused line aside; a local failure to do so is retried (the line is never
 * dropped and the cursor never passes it) until it works or the sink stops. */
static send_outcome dead_letter(selgw_influx_sink *s, size_t index, long status)
{
    const batch_line *line = &s->lines[index];
    for (;;) {
        selgw_err err = write_dead_letter(s, line, status);
        if (err == SELGW_OK)
            break;
        char detail[PATH_MAX + 64];
        snprintf(detail, sizeof detail, "cannot write the dead-letter file %s",
                 s->dead_letter_path);
        selgw_repeat_fail(&s->local, "influxdb", err, detail);
        set_error(s, err);
        if (!pause_ms(s, s->retry_max_ms))
            return SEND_STOPPED;
    }
    selgw_repeat_ok(&s->local, "influxdb");
    char detail[MESSAGE_SIZE + PATH_MAX + 64];
    snprintf(detail, sizeof detail, "record %" PRIu64 " refused (HTTP %ld: %s), set aside in %s",
             line->seq, status, s->message, s->dead_letter_path);
    selgw_repeat_fail(&s->rejections, "influxdb", SELGW_ERR_REJECTED, detail);
    pthread_mutex_lock(&s->lock);
    s->stats.refused++;
    s->stats.errors[SELGW_ERR_REJECTED]++;
    pthread_mutex_unlock(&s->lock);
    return SEND_DONE;
}

static send_outcome send_range(selgw_influx_sink *s, size_t lo, size_t hi)
{
    for (;;) {
        if (stopping(s))
            return SEND_STOPPED;
        long status = 0;
        selgw_err err = post_lines(s, lo, hi, &status);
        if (err != SELGW_OK) {
            selgw_repeat_fail(&s->local, "influxdb", err, "cannot compress a batch");
            set_error(s, err);
            if (!pause_ms(s, s->retry_max_ms))
                return SEND_STOPPED;
            continue;
        }
        selgw_influx_verdict verdict = selgw_influx_classify(status);
        if (verdict != SELGW_INFLUX_DELIVERED)
            describe_failure(s, status);
        if (verdict != SELGW_INFLUX_RETRY)
            s->backoff_ms = 0;
        char detail[MESSAGE_SIZE + 64];
        switch (verdict) {
        case SELGW_INFLUX_DELIVERED:
            selgw_repeat_ok(&s->alarm, "influxdb");
            pthread_mutex_lock(&s->lock);
            s->stats.delivered += hi - lo;
            s->stats.last_delivery_ns = selgw_utc_ns();
            s->stats.last_error = SELGW_OK;
            pthread_mutex_unlock(&s->lock);
            return SEND_DONE;
        case SELGW_INFLUX_SPLIT:
        case SELGW_INFLUX_BISECT:
            selgw_repeat_ok(&s->alarm, "influxdb");
            if (hi - lo == 1)
                return dead_letter(s, lo, status);
            if (verdict == SELGW_INFLUX_SPLIT) {
                s->split_in_batch = true;
                if (hi - lo <= s->batch_limit) {
                    s->batch_limit = (hi - lo) / 2;
                    selgw_log(SELGW_LOG_WARN,
                              "influxdb: a request of %zu lines was too large (HTTP 413); "
                              "batches are at most %zu line%s for a while",
                              hi - lo, s->batch_limit, s->batch_limit == 1 ? "" : "s");
                }
            }
            size_t mid = lo + (hi - lo) / 2;
            if (send_range(s, lo, mid) == SEND_STOPPED)
                return SEND_STOPPED;
            return send_range(s, mid, hi);
        case SELGW_INFLUX_OPERATOR:
            err = status == 404 ? SELGW_ERR_NOT_FOUND : SELGW_ERR_AUTH;
            snprintf(detail, sizeof detail,
                     "HTTP %ld: %s; the data is kept, retrying every %d ms until fixed", status,
                     s->message, s->retry_max_ms);
            selgw_repeat_fail(&s->alarm, "influxdb", err, detail);
            note_error(s, err, true);
            if (!pause_ms(s, s->retry_max_ms))
                return SEND_STOPPED;
            break;
        case SELGW_INFLUX_RETRY: {
            err = selgw_http_post_error(&s->http, status);
            if (status != 0)
                snprintf(detail, sizeof detail, "HTTP %ld: %s", status, s->message);
            else
                snprintf(detail, sizeof detail, "%s", s->message);
            selgw_repeat_fail(&s->alarm, "influxdb", err, detail);
            s->backoff_ms = s->backoff_ms == 0 ? s->retry_min_ms : s->backoff_ms * 2;
            if (s->backoff_ms > s->retry_max_ms)
                s->backoff_ms = s->retry_max_ms;
            long delay_ms = s->backoff_ms;
            long after_s =
                status != 0 ? selgw_influx_retry_after_s(s->http.retry_after, (long long)time(NULL))
                            : -1;
            if (after_s >= 0) {
                /* The server said when: not sooner, however short our own backoff is. */
                if (after_s > RETRY_AFTER_CAP_S)
                    after_s = RETRY_AFTER_CAP_S;
                delay_ms = after_s * 1000 > s->retry_min_ms ? after_s * 1000 : s->retry_min_ms;
            }
            note_error(s, err, true);
            if (!pause_ms(s, delay_ms))
                return SEND_STOPPED;
            if (status == 0 && s->http.result == CURLE_OPERATION_TIMEDOUT && hi - lo > 1) {
                /* A slow uplink may never carry the whole request within timeout_ms:
                 * send it in halves (points written by a late success are written again,
                 * the same). */
                s->split_in_batch = true;
                if (hi - lo <= s->batch_limit)
                    s->batch_limit = (hi - lo) / 2;
                size_t mid = lo + (hi - lo) / 2;
                if (send_range(s, lo, mid) == SEND_STOPPED)
                    return SEND_STOPPED;
                return send_range(s, mid, hi);
            }
            break;
        }
        }
    }
}

/* ---- the thread ---- */

#define CLEAN_BATCHES_TO_GROW 4

static void adapt_batch_limit(selgw_influx_sink *s)
{
    if (s->split_in_batch || s->line_count == 0) {
        s->clean_batches = 0;
        return;
    }
    if ((size_t)s->batch_lines <= s->batch_limit || ++s->clean_batches < CLEAN_BATCHES_TO_GROW)
        return;
    s->clean_batches = 0;
    s->batch_limit =
        s->batch_limit * 2 < (size_t)s->batch_lines ? s->batch_limit * 2 : (size_t)s->batch_lines;
}

static void sink_thread(void *arg)
{
    selgw_influx_sink *s = arg;
    uint64_t cursor = selgw_journal_cursor(s->journal, SELGW_INFLUX_SINK_NAME);
    uint64_t read_seq = cursor;
    pthread_mutex_lock(&s->lock);
    s->stats.last_seq = cursor;
    pthread_mutex_unlock(&s->lock);
    selgw_journal_reader *reader = NULL;
    while (!stopping(s)) {
        if (!reader) {
            selgw_err err = selgw_journal_reader_new(s->journal, cursor, &reader);
            if (err != SELGW_OK) {
                selgw_repeat_fail(&s->local, "influxdb", err, "cannot read the journal");
                set_error(s, err);
                if (!pause_ms(s, s->retry_max_ms))
                    break;
                continue;
            }
            read_seq = cursor;
        }
        selgw_err err;
        size_t records = fill_batch(s, reader, &read_seq, &err);
        if (records == 0) {
            if (err != SELGW_OK) {
                /* A bad record in the journal (or no memory): nothing can pass it. Say so,
                 * and try again from the cursor now and then. */
                selgw_repeat_fail(&s->local, "influxdb", err,
                                  err == SELGW_ERR_CORRUPT
                                      ? "the next journal record is unreadable; delivery is "
                                        "stopped there"
                                      : "cannot build a batch");
                set_error(s, err);
                selgw_journal_reader_free(reader);
                reader = NULL;
                if (!pause_ms(s, s->retry_max_ms))
                    break;
                continue;
            }
            int64_t began = selgw_mono_ns();
            uint64_t committed = selgw_journal_wait(s->journal, read_seq, JOURNAL_WAIT_MS);
            /* A journal that returns at once with nothing new (closed under us) must not
             * turn this into a busy loop. */
            if (committed <= read_seq &&
                selgw_mono_ns() - began < (int64_t)JOURNAL_WAIT_MS * SELGW_NS_PER_MS / 2 &&
                !pause_ms(s, JOURNAL_WAIT_MS))
                break;
            continue;
        }
        s->split_in_batch = false;
        if (s->line_count > 0 && send_range(s, 0, s->line_count) == SEND_STOPPED)
            break;
        adapt_batch_limit(s);
        if (s->rejections.err != SELGW_OK) {
            /* The first refused line of a batch is logged in full; this sums up the rest. */
            if (s->rejections.count > 1)
                selgw_log(SELGW_LOG_WARN, "influxdb: %lu lines of this batch set aside in %s",
                          s->rejections.count, s->dead_letter_path);
            s->rejections.err = SELGW_OK;
            s->rejections.count = 0;
        }
        err = selgw_journal_set_cursor(s->journal, SELGW_INFLUX_SINK_NAME, s->batch_last_seq);
        if (err != SELGW_OK) {
            /* Delivered all the same; after a restart the batch is sent again, which
             * writes the same points. */
            selgw_repeat_fail(&s->local, "influxdb", err, "cannot save the cursor");
            set_error(s, err);
            continue;
        }
        selgw_repeat_ok(&s->local, "influxdb");
        cursor = s->batch_last_seq;
        pthread_mutex_lock(&s->lock);
        s->stats.last_seq = cursor;
        pthread_mutex_unlock(&s->lock);
    }
    selgw_journal_reader_free(reader);
}

/* ---- life cycle ---- */

static char *build_write_url(CURL *curl, const selgw_influx_config *cfg)
{
    size_t base_len = strlen(cfg->url);
    while (base_len > 0 && cfg->url[base_len - 1] == '/')
        base_len--;
    const char *names[3];
    const char *values[3];
    size_t count = 0;
    const char *path;
    if (cfg->api == 2) {
        path = "/api/v2/write";
        names[count] = "org";
        values[count++] = cfg->org;
        names[count] = "bucket";
        values[count++] = cfg->bucket;
    } else {
        path = "/write";
        names[count] = "db";
        values[count++] = cfg->database;
        if (cfg->retention_policy && cfg->retention_policy[0]) {
            names[count] = "rp";
            values[count++] = cfg->retention_policy;
        }
    }
    char *escaped[3] = {NULL, NULL, NULL};
    size_t len = base_len + strlen(path) + sizeof "?precision=ns";
    for (size_t i = 0; i < count; i++) {
        escaped[i] = curl_easy_escape(curl, values[i], 0);
        if (!escaped[i])
            goto fail;
        len += strlen(names[i]) + strlen(escaped[i]) + 2;
    }
    char *url = malloc(len);
    if (!url)
        goto fail;
    size_t o = (size_t)snprintf(url, len, "%.*s%s", (int)base_len, cfg->url, path);
    for (size_t i = 0; i < count; i++)
        o +=
            (size_t)snprintf(url + o, len - o, "%c%s=%s", i == 0 ? '?' : '&', names[i], escaped[i]);
    snprintf(url + o, len - o, "&precision=ns");
    for (size_t i = 0; i < count; i++)
        curl_free(escaped[i]);
    return url;
fail:
    for (size_t i = 0; i < count; i++)
        curl_free(escaped[i]);
    return NULL;
}

static selgw_err setup_curl(selgw_influx_sink *s, const selgw_influx_config *cfg)
{
    char *auth = NULL;
    if (cfg->api == 2 && cfg->token && asprintf(&auth, "Authorization: Token %s", cfg->token) < 0)
        return SELGW_ERR_NOMEM;
    const char *headers[4];
    size_t n = 0;
    headers[n++] = "Content-Type: text/plain; charset=utf-8";
    if (s->gzip)
        headers[n++] = "Content-Encoding: gzip";
    if (auth)
        headers[n++] = auth;
    headers[n] = NULL;
    selgw_err err = selgw_http_post_init(&s->http, headers, s->timeout_ms);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    if (err != SELGW_OK)
        return err;
    s->write_url = build_write_url(s->http.curl, cfg);
    if (!s->write_url)
        return SELGW_ERR_NOMEM;
    err = selgw_http_post_url(&s->http, s->write_url);
    CURL *c = s->http.curl;
    if (err == SELGW_OK && cfg->api != 2 && cfg->username && cfg->username[0]) {
        bool ok =
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_USERNAME, cfg->username) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->password ? cfg->password : "") == CURLE_OK;
        err = ok ? SELGW_OK : SELGW_ERR_INVALID;
    }
    return err;
}

selgw_err selgw_influx_sink_new(const selgw_influx_config *cfg, const char *journal_dir,
                                selgw_journal *journal, selgw_influx_sink **out)
{
    if (out)
        *out = NULL;
    if (!cfg || !journal || !out)
        return SELGW_ERR_INVALID;
    const char *missing = NULL;
    if (!cfg->url || !cfg->url[0])
        missing = "url";
    else if (cfg->api == 2 && (!cfg->org || !cfg->org[0]))
        missing = "org";
    else if (cfg->api == 2 && (!cfg->bucket || !cfg->bucket[0]))
        missing = "bucket";
    else if (cfg->api != 2 && (!cfg->database || !cfg->database[0]))
        missing = "database";
    else if (!cfg->measurement || !cfg->measurement[0])
        missing = "measurement";
    else if (!cfg->dead_letter_path || !cfg->dead_letter_path[0])
        missing = "dead_letter";
    if (missing) {
        selgw_log(SELGW_LOG_ERROR, "influxdb: no %s configured", missing);
        return SELGW_ERR_INVALID;
    }
    /* The defaults and bounds are the config's (its one table of keys, as docs/CONFIG.md
     * lists them), applied when it is loaded; a config built by hand must be as complete. */
    if (cfg->batch_lines < 1 || cfg->timeout_ms < 1 || cfg->retry_min_ms < 1 ||
        cfg->retry_max_ms < cfg->retry_min_ms) {
        selgw_log(SELGW_LOG_ERROR, "influxdb: batch_lines, timeout and retry must be positive, "
                                   "retry max not less than min");
        return SELGW_ERR_INVALID;
    }
    if (cfg->api != 1 && cfg->api != 2) {
        selgw_log(SELGW_LOG_ERROR, "influxdb: api is %d; it must be 1 or 2", cfg->api);
        return SELGW_ERR_INVALID;
    }
    selgw_influx_sink *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    s->dead_letter_fd = -1;
    s->journal = journal;
    s->api = cfg->api;
    s->batch_lines = cfg->batch_lines;
    s->batch_limit = (size_t)s->batch_lines;
    s->gzip = cfg->gzip;
    s->timeout_ms = cfg->timeout_ms;
    s->retry_min_ms = cfg->retry_min_ms;
    s->retry_max_ms = cfg->retry_max_ms;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return SELGW_ERR_NOMEM;
    }
    selgw_err err = selgw_worker_new(&s->worker);
    if (err == SELGW_OK) {
        s->measurement = strdup(cfg->measurement);
        s->dead_letter_path = selgw_sink_path(journal_dir, cfg->dead_letter_path);
        err = s->measurement && s->dead_letter_path ? setup_curl(s, cfg) : SELGW_ERR_NOMEM;
    }
    if (err != SELGW_OK) {
        selgw_influx_sink_free(s);
        return err;
    }
    *out = s;
    return SELGW_OK;
}

selgw_err selgw_influx_sink_start(selgw_influx_sink *s)
{
    if (!s)
        return SELGW_ERR_INVALID;
    selgw_err err = selgw_worker_start(s->worker, sink_thread, s);
    if (err != SELGW_OK)
        return err;
    selgw_log(SELGW_LOG_INFO, "influxdb: sending to the %s API (%s, batches of up to %d lines%s)",
              s->api == 2 ? "v2" : "v1", s->api == 2 ? "/api/v2/write" : "/write", s->batch_lines,
              s->gzip ? ", gzip" : "");
    return SELGW_OK;
}

void selgw_influx_sink_stop(selgw_influx_sink *s)
{
    if (s)
        selgw_worker_stop(s->worker);
}

void selgw_influx_sink_free(selgw_influx_sink *s)
{
    if (!s)
        return;
    selgw_worker_free(s->worker); /* stops the thread first */
    selgw_http_post_cleanup(&s->http);
    if (s->zs_ready)
        deflateEnd(&s->zs);
    if (s->dead_letter_fd >= 0)
        close(s->dead_letter_fd);
    free(s->gz);
    free(s->text);
    free(s->lines);
    free(s->write_url);
    free(s->measurement);
    free(s->dead_letter_path);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void selgw_influx_sink_stats(selgw_influx_sink *s, selgw_sink_stats *out)
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
    return cfg->influxdb.enabled;
}

static selgw_err ops_create(const selgw_config *cfg, selgw_journal *journal, void **state)
{
    /* The dead-letter file is relative to the journal's directory. */
    selgw_influx_sink *s = NULL;
    selgw_err err = selgw_influx_sink_new(&cfg->influxdb, cfg->journal.dir, journal, &s);
    *state = s;
    return err;
}

SELGW_SINK_TRAMPOLINES(selgw_influx_sink)

const selgw_sink_ops selgw_influx_sink_ops = {
    .name = SELGW_INFLUX_SINK_NAME,
    .refused_what = "dead-lettered",
    .configured = ops_configured,
    .create = ops_create,
    .start = ops_start,
    .stop = ops_stop,
    .stats = ops_stats,
    .destroy = ops_destroy,
};
