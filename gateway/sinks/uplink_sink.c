/* selgw: the evidence uplink (libmosquitto 2.0, MQTT 5). See uplink_sink.h and
 * docs/ARCHIVE.md.
 *
 * The delivery machinery is the MQTT sink's (docs/MQTT.md, "Delivery guarantees" and
 * "Connections"), kept apart so that the two can change independently: one thread drives
 * the client with mosquitto_loop() itself; a window of at most max_inflight records is in
 * flight, fed from the journal; the cursor is the highest seq such that it and everything
 * before it are acknowledged, persisted at most every 200 ms or 100 acknowledgements and
 * at stop; a plain connection loss reconnects the same client (libmosquitto resends what
 * was in flight), an error the library would give up on recreates the client and reads
 * the window again from the journal. What differs: every record goes, unchanged, to one
 * topic with the properties of uplink_msg.h; there is no status topic and no will (the
 * MQTT sink says whether the gateway is online). */
#include "sinks/uplink_sink.h"

#include <errno.h>
#include <limits.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/worker.h"
#include "sinks/sink.h"
#include "sinks/uplink_msg.h"

enum {
    LOOP_WAIT_MS = 50,
    PERSIST_INTERVAL_MS = 200,
    PERSIST_EVERY_ACKS = 100,
    STOP_DRAIN_MS = 2000,
    JOURNAL_RETRY_MS = 1000,
    CONNECT_TIMEOUT_MIN_MS = 30000,
    STALL_MIN_MS = 60000,
    REFUSAL_REPORT_MS = 60000,
};

typedef struct window_entry {
    uint64_t seq;
    int mid;   /* 16-bit and reused: valid only while in flight */
    bool done; /* acknowledged, refused or skipped */
} window_entry;

typedef enum link_state { LINK_IDLE, LINK_CONNECTING, LINK_UP } link_state;

struct selgw_uplink_sink {
    char *host;
    int port;
    char *client_id;
    char *username;
    char *password;
    char *ca_file, *cert_file, *key_file;
    bool tls_insecure;
    int keepalive_s;
    int max_inflight;
    int reconnect_min_ms, reconnect_max_ms;
    char *topic; /* PREFIX/GATEWAY/evidence */
    char *what;  /* "evidence uplink HOST:PORT" */
    selgw_journal *journal;

    selgw_worker *worker;
    pthread_mutex_t lock; /* guards stats */
    selgw_sink_stats stats;

    /* the sink thread's */
    struct mosquitto *mosq;
    bool connect_called;
    selgw_journal_reader *reader;
    link_state link;
    int connack_rc;
    bool dropped;
    window_entry *window;
    size_t window_head, window_count;
    uint64_t acked_seq, persisted_seq;
    unsigned acks_unpersisted;
    int64_t persisted_ns;
    int backoff_ms;
    int64_t next_attempt_ns, connect_started_ns, last_progress_ns, journal_retry_ns;
    unsigned rng;
    selgw_repeat link_repeat, journal_repeat, cursor_repeat;
    unsigned long refusals_unlogged;
    uint64_t last_refused_seq;
    char last_refusal[128];
    int64_t refusal_logged_ns;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    mosquitto_lib_init(); /* never cleaned up: other clients may use it */
}

static char *copy_string(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *failed = true;
    return copy;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void set_last_error(selgw_uplink_sink *s, selgw_err err)
{
    pthread_mutex_lock(&s->lock);
    s->stats.last_error = err;
    if (err != SELGW_OK && (unsigned)err < SELGW_ERR_COUNT_)
        s->stats.errors[err]++;
    pthread_mutex_unlock(&s->lock);
}

/* ---- window and cursor ---------------------------------------------------------------- */

static window_entry *window_at(selgw_uplink_sink *s, size_t i)
{
    return &s->window[(s->window_head + i) % (size_t)s->max_inflight];
}

static void window_push(selgw_uplink_sink *s, uint64_t seq, int mid, bool done)
{
    if (s->window_count == 0)
        s->last_progress_ns = selgw_mono_ns();
    *window_at(s, s->window_count) = (window_entry){.seq = seq, .mid = mid, .done = done};
    s->window_count++;
}

/* The cursor covers only a gap-free prefix: acknowledgements may come out of order. */
static void window_advance(selgw_uplink_sink *s)
{
    uint64_t before = s->acked_seq;
    while (s->window_count > 0 && s->window[s->window_head].done) {
        s->acked_seq = s->window[s->window_head].seq;
        s->window_head = (s->window_head + 1) % (size_t)s->max_inflight;
        s->window_count--;
        s->acks_unpersisted++;
    }
    if (s->acked_seq != before) {
        pthread_mutex_lock(&s->lock);
        s->stats.last_seq = s->acked_seq;
        pthread_mutex_unlock(&s->lock);
    }
}

static void window_restart(selgw_uplink_sink *s)
{
    s->window_head = 0;
    s->window_count = 0;
    if (s->reader && selgw_journal_reader_seek(s->reader, s->acked_seq) != SELGW_OK) {
        selgw_journal_reader_free(s->reader); /* the thread makes a new one from the cursor */
        s->reader = NULL;
    }
}

static void cursor_persist(selgw_uplink_sink *s, bool force)
{
    if (s->acked_seq == s->persisted_seq)
        return;
    int64_t now = selgw_mono_ns();
    if (!force && s->acks_unpersisted < PERSIST_EVERY_ACKS &&
        now - s->persisted_ns < PERSIST_INTERVAL_MS * SELGW_NS_PER_MS)
        return;
    s->persisted_ns = now;
    selgw_err err = selgw_journal_set_cursor(s->journal, SELGW_UPLINK_SINK_NAME, s->acked_seq);
    if (err != SELGW_OK) {
        selgw_repeat_fail(&s->cursor_repeat, "evidence uplink cursor", err, NULL);
        return;
    }
    selgw_repeat_ok(&s->cursor_repeat, "evidence uplink cursor");
    s->persisted_seq = s->acked_seq;
    s->acks_unpersisted = 0;
}

/* ---- refusals --------------------------------------------------------------------------- */

static void refusal_report(selgw_uplink_sink *s)
{
    if (s->refusals_unlogged == 0)
        return;
    if (s->refusals_unlogged == 1)
        selgw_log(SELGW_LOG_WARN, "%s: record seq %llu not published: %s; skipped, it stays in "
                                  "the journal",
                  s->what, (unsigned long long)s->last_refused_seq, s->last_refusal);
    else
        selgw_log(SELGW_LOG_WARN,
                  "%s: %lu records not published, the last seq %llu: %s; skipped, they stay "
                  "in the journal",
                  s->what, s->refusals_unlogged, (unsigned long long)s->last_refused_seq,
                  s->last_refusal);
    s->refusals_unlogged = 0;
    s->refusal_logged_ns = selgw_mono_ns();
}

/* Skipped, not retried: a refusal (ACL, quota, size) would come again, and one record
 * must not block every record behind it. The archive sees the hole as a chain break. */
static void refusal_note(selgw_uplink_sink *s, uint64_t seq, const char *why)
{
    s->refusals_unlogged++;
    s->last_refused_seq = seq;
    snprintf(s->last_refusal, sizeof s->last_refusal, "%s", why);
    pthread_mutex_lock(&s->lock);
    s->stats.refused++;
    s->stats.last_error = SELGW_ERR_REJECTED;
    s->stats.errors[SELGW_ERR_REJECTED]++;
    pthread_mutex_unlock(&s->lock);
    if (s->refusal_logged_ns == 0 ||
        selgw_mono_ns() - s->refusal_logged_ns >= REFUSAL_REPORT_MS * SELGW_NS_PER_MS)
        refusal_report(s);
}

/* ---- callbacks (inside mosquitto_loop, on the sink thread) ------------------------------ */

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)flags;
    (void)props;
    selgw_uplink_sink *s = obj;
    if (rc != 0) {
        s->connack_rc = rc;
        return;
    }
    s->link = LINK_UP;
    s->connack_rc = 0;
    s->backoff_ms = s->reconnect_min_ms;
    s->last_progress_ns = selgw_mono_ns();
    selgw_repeat_ok(&s->link_repeat, s->what);
    selgw_log(SELGW_LOG_INFO, "%s: connected as %s, %zu record%s in flight", s->what,
              s->client_id, s->window_count, s->window_count == 1 ? "" : "s");
    pthread_mutex_lock(&s->lock);
    s->stats.reconnects++;
    s->stats.last_error = SELGW_OK;
    pthread_mutex_unlock(&s->lock);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    selgw_uplink_sink *s = obj;
    selgw_log(SELGW_LOG_DEBUG, "%s: disconnected: %s", s->what, mosquitto_strerror(rc));
    s->dropped = true;
}

/* PUBACK: the only delivery confirmation; a reason code >= 0x80 is a refusal. */
static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason_code,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    selgw_uplink_sink *s = obj;
    window_entry *entry = NULL;
    for (size_t i = 0; i < s->window_count && !entry; i++) {
        window_entry *e = window_at(s, i);
        if (!e->done && e->mid == mid)
            entry = e;
    }
    if (!entry)
        return;
    entry->done = true;
    s->last_progress_ns = selgw_mono_ns();
    if (reason_code >= 0x80) {
        char why[96];
        selgw_explain(why, sizeof why, "the broker refused it: %s (0x%02x)",
                      mosquitto_reason_string(reason_code), (unsigned)reason_code);
        refusal_note(s, entry->seq, why);
    } else {
        pthread_mutex_lock(&s->lock);
        s->stats.delivered++;
        s->stats.last_delivery_ns = selgw_utc_ns();
        if (s->stats.last_error == SELGW_ERR_REJECTED)
            s->stats.last_error = SELGW_OK;
        pthread_mutex_unlock(&s->lock);
    }
    window_advance(s);
}

static void on_library_log(struct mosquitto *mosq, void *obj, int level, const char *text)
{
    (void)mosq;
    (void)level;
    selgw_uplink_sink *s = obj;
    selgw_log(SELGW_LOG_DEBUG, "%s: libmosquitto: %s", s->what, text);
}

/* ---- the client -------------------------------------------------------------------------- */

static void client_destroy(selgw_uplink_sink *s)
{
    if (s->mosq) {
        mosquitto_destroy(s->mosq);
        s->mosq = NULL;
    }
    s->connect_called = false;
    s->link = LINK_IDLE;
}

/* Clean start: the publisher's state that matters is in the journal and the cursor (as for
 * the MQTT sink, docs/MQTT.md "Session"). */
static selgw_err client_create(selgw_uplink_sink *s, char *why, size_t why_cap)
{
    struct mosquitto *mosq = mosquitto_new(s->client_id, true, s);
    if (!mosq)
        return selgw_explain_errno(why, why_cap, errno, "cannot create the client");
    const char *step = "protocol version";
    int rc = mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (rc == MOSQ_ERR_SUCCESS) {
        step = "max_inflight";
        rc = mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, s->max_inflight);
    }
    if (rc == MOSQ_ERR_SUCCESS && (s->username || s->password)) {
        step = "username/password";
        rc = mosquitto_username_pw_set(mosq, s->username, s->password);
    }
    if (rc == MOSQ_ERR_SUCCESS && s->ca_file) {
        step = "TLS files (ca_file, cert_file, key_file)";
        rc = mosquitto_tls_set(mosq, s->ca_file, NULL, s->cert_file, s->key_file, NULL);
        if (rc == MOSQ_ERR_SUCCESS && s->tls_insecure) {
            step = "tls_insecure";
            rc = mosquitto_tls_insecure_set(mosq, true);
        }
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        selgw_explain(why, why_cap, "%s refused by libmosquitto: %s", step, mosquitto_strerror(rc));
        mosquitto_destroy(mosq);
        return rc == MOSQ_ERR_NOMEM ? SELGW_ERR_NOMEM : SELGW_ERR_CONFIG;
    }
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(mosq, on_publish);
    mosquitto_log_callback_set(mosq, on_library_log);
    s->mosq = mosq;
    s->connect_called = false;
    return SELGW_OK;
}

static void link_failed(selgw_uplink_sink *s, int rc, int saved_errno)
{
    bool was_up = s->link == LINK_UP;
    selgw_err err = was_up ? SELGW_ERR_DISCONNECTED : SELGW_ERR_CONNECT;
    bool recreate = false;
    char detail[256];
    if (s->connack_rc != 0) {
        snprintf(detail, sizeof detail, "connection refused: %s",
                 mosquitto_reason_string(s->connack_rc));
        if (s->connack_rc == 0x86 || s->connack_rc == 0x87 || s->connack_rc == 0x8C)
            err = SELGW_ERR_AUTH;
        recreate = true;
    } else {
        switch (rc) {
        case MOSQ_ERR_ERRNO:
            snprintf(detail, sizeof detail, "%s", strerror(saved_errno));
            recreate = saved_errno == EPROTO;
            break;
        case MOSQ_ERR_CONN_LOST:
        case MOSQ_ERR_NO_CONN:
        case MOSQ_ERR_KEEPALIVE:
        case MOSQ_ERR_TIMEOUT:
            snprintf(detail, sizeof detail, "%s", mosquitto_strerror(rc));
            break;
        case MOSQ_ERR_AUTH:
        case MOSQ_ERR_CONN_REFUSED:
            snprintf(detail, sizeof detail, "%s", mosquitto_strerror(rc));
            err = SELGW_ERR_AUTH;
            recreate = true;
            break;
        default: /* name lookup, TLS, protocol: what loop_forever gives up on */
            snprintf(detail, sizeof detail, "%s", mosquitto_strerror(rc));
            recreate = true;
            break;
        }
    }
    selgw_repeat_fail(&s->link_repeat, s->what, err, detail);
    set_last_error(s, err);
    s->connack_rc = 0;
    s->dropped = false;
    if (recreate) {
        client_destroy(s);
        window_restart(s);
    }
    s->link = LINK_IDLE;
    int delay = s->backoff_ms + (int)(rand_r(&s->rng) % (unsigned)(s->backoff_ms / 4 + 1));
    if (delay > s->reconnect_max_ms)
        delay = s->reconnect_max_ms;
    s->next_attempt_ns = selgw_mono_ns() + (int64_t)delay * SELGW_NS_PER_MS;
    s->backoff_ms =
        s->backoff_ms > s->reconnect_max_ms / 2 ? s->reconnect_max_ms : s->backoff_ms * 2;
    cursor_persist(s, true);
}

static void link_connect(selgw_uplink_sink *s)
{
    if (!s->mosq) {
        char why[256];
        selgw_err err = client_create(s, why, sizeof why);
        if (err != SELGW_OK) {
            selgw_repeat_fail(&s->link_repeat, s->what, err, why);
            set_last_error(s, err);
            s->next_attempt_ns = selgw_mono_ns() + (int64_t)s->reconnect_max_ms * SELGW_NS_PER_MS;
            return;
        }
    }
    s->connack_rc = 0;
    s->dropped = false;
    s->connect_started_ns = selgw_mono_ns();
    int rc = s->connect_called ? mosquitto_reconnect_async(s->mosq)
                               : mosquitto_connect_async(s->mosq, s->host, s->port, s->keepalive_s);
    int saved_errno = errno;
    s->connect_called = true;
    if (rc != MOSQ_ERR_SUCCESS) {
        link_failed(s, rc, saved_errno);
        return;
    }
    s->link = LINK_CONNECTING;
}

/* ---- feeding the window ------------------------------------------------------------------ */

/* Publishes one record; false when feeding must stop for now. */
static bool record_publish(selgw_uplink_sink *s, uint64_t seq, const uint8_t *payload, size_t len)
{
    if (len > INT_MAX) {
        refusal_note(s, seq, "it is too large for MQTT");
        window_push(s, seq, 0, true);
        window_advance(s);
        return true;
    }
    mosquitto_property *props = NULL;
    if (selgw_uplink_properties(seq, &props) != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "%s: out of memory for record seq %llu", s->what,
                  (unsigned long long)seq);
        if (selgw_journal_reader_seek(s->reader, seq - 1) != SELGW_OK) {
            selgw_journal_reader_free(s->reader);
            s->reader = NULL;
            client_destroy(s);
            window_restart(s);
        }
        s->journal_retry_ns = selgw_mono_ns() + JOURNAL_RETRY_MS * SELGW_NS_PER_MS;
        return false;
    }
    int mid = 0;
    int rc = mosquitto_publish_v5(s->mosq, &mid, s->topic, (int)len, payload, 1, false, props);
    mosquitto_property_free_all(&props);
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
        window_push(s, seq, mid, false);
        return true;
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET:
    case MOSQ_ERR_INVAL: {
        char why[96];
        selgw_explain(why, sizeof why, "libmosquitto refused it: %s", mosquitto_strerror(rc));
        refusal_note(s, seq, why);
        window_push(s, seq, 0, true);
        window_advance(s);
        return true;
    }
    case MOSQ_ERR_NOMEM:
    case MOSQ_ERR_NOT_SUPPORTED:
    case MOSQ_ERR_DUPLICATE_PROPERTY:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
        /* not queued: read it again a moment later */
        selgw_log(SELGW_LOG_ERROR, "%s: cannot publish record seq %llu: %s", s->what,
                  (unsigned long long)seq, mosquitto_strerror(rc));
        if (selgw_journal_reader_seek(s->reader, seq - 1) != SELGW_OK) {
            selgw_journal_reader_free(s->reader);
            s->reader = NULL;
            client_destroy(s);
            window_restart(s);
        }
        s->journal_retry_ns = selgw_mono_ns() + JOURNAL_RETRY_MS * SELGW_NS_PER_MS;
        return false;
    default:
        /* queued inside the library (MOSQ_ERR_NO_CONN) and sent on the next connection:
         * publishing it again would duplicate it */
        window_push(s, seq, mid, false);
        return false;
    }
}

static void window_feed(selgw_uplink_sink *s)
{
    if (s->link != LINK_UP || !s->reader || selgw_mono_ns() < s->journal_retry_ns)
        return;
    while (s->window_count < (size_t)s->max_inflight) {
        uint64_t seq;
        const uint8_t *payload;
        size_t len;
        selgw_err err = selgw_journal_read(s->reader, &seq, &payload, &len);
        if (err == SELGW_ERR_AGAIN)
            break;
        if (err != SELGW_OK) {
            char detail[64];
            snprintf(detail, sizeof detail, "after seq %llu", (unsigned long long)s->acked_seq);
            selgw_repeat_fail(&s->journal_repeat, "evidence uplink reading the journal", err,
                              detail);
            set_last_error(s, err);
            s->journal_retry_ns = selgw_mono_ns() + JOURNAL_RETRY_MS * SELGW_NS_PER_MS;
            break;
        }
        selgw_repeat_ok(&s->journal_repeat, "evidence uplink reading the journal");
        if (!record_publish(s, seq, payload, len))
            break;
    }
}

/* ---- the thread -------------------------------------------------------------------------- */

static void link_check_timeouts(selgw_uplink_sink *s)
{
    int64_t now = selgw_mono_ns();
    if (s->link == LINK_CONNECTING) {
        int64_t limit_ms = (int64_t)s->keepalive_s * 1500;
        if (limit_ms < CONNECT_TIMEOUT_MIN_MS)
            limit_ms = CONNECT_TIMEOUT_MIN_MS;
        if (now - s->connect_started_ns > limit_ms * SELGW_NS_PER_MS)
            link_failed(s, MOSQ_ERR_TIMEOUT, 0);
        return;
    }
    if (s->link == LINK_UP && s->window_count > 0) {
        int64_t limit_ms = (int64_t)s->keepalive_s * 3000;
        if (limit_ms < STALL_MIN_MS)
            limit_ms = STALL_MIN_MS;
        if (now - s->last_progress_ns > limit_ms * SELGW_NS_PER_MS) {
            selgw_log(SELGW_LOG_WARN,
                      "%s: no acknowledgement for %lld s with %zu records in flight; "
                      "reconnecting with a new client",
                      s->what, (long long)(limit_ms / 1000), s->window_count);
            mosquitto_disconnect(s->mosq);
            link_failed(s, MOSQ_ERR_PROTOCOL, 0);
        }
    }
}

static void link_shutdown(selgw_uplink_sink *s)
{
    if (s->mosq && s->link == LINK_UP) {
        int64_t deadline = selgw_mono_ns() + STOP_DRAIN_MS * SELGW_NS_PER_MS;
        while (s->window_count > 0 && s->link == LINK_UP && selgw_mono_ns() < deadline) {
            int rc = mosquitto_loop(s->mosq, LOOP_WAIT_MS, 1);
            if (rc != MOSQ_ERR_SUCCESS || s->dropped)
                s->link = LINK_IDLE;
        }
        if (s->link == LINK_UP && mosquitto_disconnect(s->mosq) == MOSQ_ERR_SUCCESS)
            for (int i = 0; i < 10; i++)
                if (mosquitto_loop(s->mosq, LOOP_WAIT_MS, 1) != MOSQ_ERR_SUCCESS)
                    break;
    }
    cursor_persist(s, true);
    refusal_report(s);
    if (s->window_count > 0)
        selgw_log(SELGW_LOG_INFO,
                  "%s: stopping with %zu record%s unacknowledged after seq %llu; they are "
                  "published again at the next start",
                  s->what, s->window_count, s->window_count == 1 ? "" : "s",
                  (unsigned long long)s->acked_seq);
    client_destroy(s);
    s->window_head = 0;
    s->window_count = 0;
    selgw_journal_reader_free(s->reader);
    s->reader = NULL;
}

static void sink_thread(void *arg)
{
    selgw_uplink_sink *s = arg;
    s->acked_seq = selgw_journal_cursor(s->journal, SELGW_UPLINK_SINK_NAME);
    s->persisted_seq = s->acked_seq;
    s->acks_unpersisted = 0;
    s->persisted_ns = selgw_mono_ns();
    s->backoff_ms = s->reconnect_min_ms;
    s->next_attempt_ns = 0;
    s->journal_retry_ns = 0;
    s->link = LINK_IDLE;
    pthread_mutex_lock(&s->lock);
    s->stats.last_seq = s->acked_seq;
    pthread_mutex_unlock(&s->lock);

    while (!selgw_worker_stopping(s->worker)) {
        if (!s->reader) {
            selgw_err err = selgw_journal_reader_new(s->journal, s->acked_seq, &s->reader);
            if (err != SELGW_OK) {
                selgw_repeat_fail(&s->journal_repeat, "evidence uplink reading the journal", err,
                                  NULL);
                set_last_error(s, err);
                s->reader = NULL;
                selgw_worker_wait_ms(s->worker, JOURNAL_RETRY_MS);
                continue;
            }
        }
        if (s->link == LINK_IDLE) {
            if (selgw_mono_ns() < s->next_attempt_ns) {
                selgw_worker_wait_until(s->worker, s->next_attempt_ns);
                continue;
            }
            link_connect(s);
            continue;
        }
        window_feed(s);
        int rc = mosquitto_loop(s->mosq, LOOP_WAIT_MS, 1);
        int saved_errno = errno;
        if (rc != MOSQ_ERR_SUCCESS)
            link_failed(s, rc, saved_errno);
        else if (s->dropped || mosquitto_socket(s->mosq) < 0)
            link_failed(s, MOSQ_ERR_CONN_LOST, 0);
        else
            link_check_timeouts(s);
        cursor_persist(s, false);
        if (s->refusals_unlogged > 0 &&
            selgw_mono_ns() - s->refusal_logged_ns >= REFUSAL_REPORT_MS * SELGW_NS_PER_MS)
            refusal_report(s);
    }
    link_shutdown(s);
}

/* ---- public -------------------------------------------------------------------------------- */

static selgw_err config_check(const selgw_mqtt_config *cfg, const char *gateway_id, char *topic,
                              size_t topic_cap)
{
    const char *problem = NULL;
    if (!cfg->host || !cfg->host[0])
        problem = "host is missing";
    else if (!cfg->client_id)
        problem = "client_id is missing";
    else if (cfg->port < 1 || cfg->port > 65535)
        problem = "port is outside 1..65535";
    else if (cfg->max_inflight < 1 || cfg->max_inflight > 65535)
        problem = "max_inflight is outside 1..65535";
    else if (cfg->keepalive_s < 1 || cfg->keepalive_s > 65535)
        problem = "keepalive is outside 1..65535 s";
    else if (cfg->reconnect_min_ms < 1 || cfg->reconnect_min_ms > cfg->reconnect_max_ms)
        problem = "reconnect min must be positive and <= max";
    else if ((cfg->cert_file != NULL) != (cfg->key_file != NULL))
        problem = "cert_file and key_file go together";
    else if (cfg->cert_file && !cfg->ca_file)
        problem = "a client certificate needs ca_file (TLS)";
    else if (selgw_uplink_topic(cfg->topic_prefix, gateway_id, topic, topic_cap) == 0 ||
             strlen(topic) >= topic_cap - 1)
        problem = "topic_prefix and the gateway id do not make a topic";
    else if (mosquitto_validate_utf8(topic, (int)strlen(topic)) != MOSQ_ERR_SUCCESS)
        problem = "topic_prefix is not valid UTF-8";
    if (problem) {
        selgw_log(SELGW_LOG_ERROR, "evidence uplink: %s", problem);
        return SELGW_ERR_INVALID;
    }
    return SELGW_OK;
}

selgw_err selgw_uplink_sink_new(const selgw_mqtt_config *cfg, const char *gateway_id,
                                selgw_journal *journal, selgw_uplink_sink **out)
{
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (!cfg || !journal)
        return SELGW_ERR_INVALID;
    char topic[1024];
    selgw_err err = config_check(cfg, gateway_id, topic, sizeof topic);
    if (err != SELGW_OK)
        return err;
    pthread_once(&lib_once, lib_init);
    selgw_uplink_sink *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    pthread_mutex_init(&s->lock, NULL);
    bool failed = selgw_worker_new(&s->worker) != SELGW_OK;
    s->host = copy_string(cfg->host, &failed);
    s->port = cfg->port;
    s->client_id = copy_string(cfg->client_id, &failed);
    s->username = copy_string(cfg->username, &failed);
    s->password = copy_string(cfg->password, &failed);
    s->ca_file = copy_string(cfg->ca_file, &failed);
    s->cert_file = copy_string(cfg->cert_file, &failed);
    s->key_file = copy_string(cfg->key_file, &failed);
    s->tls_insecure = cfg->tls_insecure;
    s->keepalive_s = cfg->keepalive_s;
    s->max_inflight = cfg->max_inflight;
    s->reconnect_min_ms = cfg->reconnect_min_ms;
    s->reconnect_max_ms = cfg->reconnect_max_ms;
    s->topic = copy_string(topic, &failed);
    s->journal = journal;
    s->stats.last_seq = selgw_journal_cursor(journal, SELGW_UPLINK_SINK_NAME);
    s->rng = (unsigned)selgw_mono_ns() ^ (unsigned)(uintptr_t)s;
    if (!failed && asprintf(&s->what, "evidence uplink %s:%d", s->host, s->port) < 0) {
        s->what = NULL;
        failed = true;
    }
    s->window = calloc((size_t)s->max_inflight, sizeof *s->window);
    if (failed || !s->window) {
        selgw_uplink_sink_free(s);
        return SELGW_ERR_NOMEM;
    }
    /* Bad TLS files or credentials are reported at start-up, not only in a thread's log. */
    char why[256];
    err = client_create(s, why, sizeof why);
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "evidence uplink: %s", why);
        selgw_uplink_sink_free(s);
        return err;
    }
    *out = s;
    return SELGW_OK;
}

selgw_err selgw_uplink_sink_start(selgw_uplink_sink *s)
{
    if (!s)
        return SELGW_ERR_INVALID;
    selgw_err err = selgw_worker_start(s->worker, sink_thread, s);
    if (err == SELGW_ERR_NOMEM)
        selgw_log(SELGW_LOG_ERROR, "evidence uplink: cannot start its thread: %s",
                  selgw_strerror(err));
    return err;
}

void selgw_uplink_sink_stop(selgw_uplink_sink *s)
{
    if (s)
        selgw_worker_stop(s->worker);
}

void selgw_uplink_sink_free(selgw_uplink_sink *s)
{
    if (!s)
        return;
    selgw_worker_free(s->worker);
    client_destroy(s);
    pthread_mutex_destroy(&s->lock);
    free(s->host);
    free(s->client_id);
    free(s->username);
    free_secret(s->password);
    free(s->ca_file);
    free(s->cert_file);
    free(s->key_file);
    free(s->topic);
    free(s->what);
    free(s->window);
    free(s);
}

void selgw_uplink_sink_stats(selgw_uplink_sink *s, selgw_sink_stats *out)
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

/* ---- as a sink of the gateway -------------------------------------------------------------- */

static bool ops_configured(const selgw_config *cfg)
{
    return cfg->uplink.enabled;
}

static selgw_err ops_create(const selgw_config *cfg, selgw_journal *journal, void **state)
{
    selgw_uplink_sink *s = NULL;
    selgw_err err = selgw_uplink_sink_new(&cfg->uplink, cfg->gateway_id, journal, &s);
    *state = s;
    return err;
}

SELGW_SINK_TRAMPOLINES(selgw_uplink_sink)

const selgw_sink_ops selgw_uplink_sink_ops = {
    .name = SELGW_UPLINK_SINK_NAME,
    .refused_what = "refused",
    .configured = ops_configured,
    .create = ops_create,
    .start = ops_start,
    .stop = ops_stop,
    .stats = ops_stats,
    .destroy = ops_destroy,
};
