/* selgw: the MQTT sink (libmosquitto 2.0). See mqtt_sink.h for the contract and docs/MQTT.md
 * for topics, delivery guarantees and the choices made here.
 *
 * One thread per sink owns the libmosquitto client and drives it itself (client_loop: the
 * work of mosquitto_loop(), not mosquitto_loop_start), so that it sees every failure the
 * library reports
 * and decides what to do: reconnect with backoff, or throw the client away and build a
 * new one when the library would give up (TLS, authentication, name lookup, protocol).
 * All the sink's delivery state (window, cursor, client) is touched only by that thread;
 * the libmosquitto callbacks run inside client_loop() on the same thread. Only the stop
 * request and the statistics are shared, under `lock`. */
#include "sinks/mqtt_sink.h"

#include <errno.h>
#include <limits.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/worker.h"

enum {
    LOOP_WAIT_MS = 50, /* longest one client_loop() waits: latency of new records */
    /* The cursor is persisted (a durable save: fdatasync and a directory fsync) at most
     * every PERSIST_INTERVAL_MS, or sooner after PERSIST_EVERY_ACKS acknowledgements (a
     * backlog drained fast), and at stop. At 50 messages a second saving it every 200 ms
     * cost more system calls than publishing (docs/BENCHMARKS.md); what a crash can make
     * the sink publish again is bounded by these two. */
    PERSIST_INTERVAL_MS = 5000,
    PERSIST_EVERY_ACKS = 10000,
    STOP_DRAIN_MS = 2000,    /* at stop, how long to wait for the window's acknowledgements */
    STOP_STATUS_MS = 500,    /* at stop, how long to wait for "offline" to be acknowledged */
    JOURNAL_RETRY_MS = 1000, /* pause after the journal failed to give a record */
    CONNECT_TIMEOUT_MIN_MS = 30000, /* a connection attempt without CONNACK is abandoned */
    STALL_MIN_MS = 60000,           /* connected, messages in flight, no acknowledgement at all */
    REFUSAL_REPORT_MS = 60000,      /* refusals after the first are summed up this often */
    TOPIC_MAX = 65535,              /* MQTT topic names are at most 65535 bytes */
};

static const char STATUS_ONLINE[] = "online";
static const char STATUS_OFFLINE[] = "offline";

typedef struct window_entry {
    uint64_t seq;
    int mid;   /* libmosquitto message id; 16-bit and reused, so only valid while in flight */
    bool done; /* acknowledged, refused, or skipped: the cursor may pass it */
    bool more; /* another publish of the same record follows (a cleared alert's two): the
                * cursor passes the record only with the last of them */
} window_entry;

typedef enum link_state {
    LINK_IDLE,       /* not connected; next attempt at next_attempt_ns */
    LINK_CONNECTING, /* connect sent (or TCP connect pending), no CONNACK yet */
    LINK_UP,         /* CONNACK 0 received */
} link_state;

struct selgw_mqtt_sink {
    /* configuration (owned copies: the caller's config may be freed on reload) */
    char *host;
    int port;
    int protocol; /* 311 or 5 */
    int qos;
    char *prefix;
    char *client_id;
    char *username;
    char *password;
    char *ca_file, *cert_file, *key_file;
    bool tls_insecure;
    int keepalive_s;
    int max_inflight;
    int reconnect_min_ms, reconnect_max_ms;
    char *status_topic; /* <prefix>/<gateway>/status */
    char *what;         /* "mqtt broker HOST:PORT", for log lines */
    selgw_journal *journal;

    /* shared with other threads */
    selgw_worker *worker;
    pthread_mutex_t lock; /* guards stats */
    selgw_sink_stats stats;

    /* owned by the sink thread while it runs */
    struct mosquitto *mosq;
    bool connect_called; /* mosquitto_connect_async was called on this client */
    selgw_journal_reader *reader;
    link_state link;
    int connack_rc; /* refusal code of the last CONNACK, 0 when none */
    bool dropped;   /* on_disconnect fired */
    window_entry *window;
    size_t window_head, window_count;
    uint64_t acked_seq;     /* the cursor: it and everything before it are done */
    uint64_t persisted_seq; /* the cursor as last persisted */
    unsigned acks_unpersisted;
    int64_t persisted_ns;
    int backoff_ms;
    int64_t next_attempt_ns;
    int64_t connect_started_ns;
    int64_t last_progress_ns; /* last acknowledgement, or when the window started filling */
    int64_t journal_retry_ns;
    int status_mid;
    bool status_acked;
    unsigned rng;
    selgw_record record;
    char *topic;
    size_t topic_cap;
    char *json;
    size_t json_cap;
    selgw_repeat link_repeat, journal_repeat, cursor_repeat;
    /* refusals not yet logged: the first is logged at once, the rest summed up */
    unsigned long refusals_unlogged;
    uint64_t last_refused_seq;
    char last_refusal[128];
    int64_t refusal_logged_ns;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    /* Never cleaned up: another sink may still use it; the process exit releases it. */
    mosquitto_lib_init();
}

/* ---- topic ---------------------------------------------------------------------------- */

/* One topic level taken from a record: an id. Never empty and free of the characters that
 * would change the topic's structure or make it a filter. */
static bool topic_level_ok(const char *p, size_t len)
{
    if (!p || len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '/' || p[i] == '+' || p[i] == '#' || p[i] == '\0')
            return false;
    return true;
}

/* The operator's prefix may have several levels ("farm/selgw") but no wildcard, no empty
 * first or last level, and no leading '$' (topics the broker reserves, like $SYS). */
static bool topic_prefix_ok(const char *prefix)
{
    size_t len = prefix ? strlen(prefix) : 0;
    if (len == 0 || prefix[0] == '$' || prefix[0] == '/' || prefix[len - 1] == '/')
        return false;
    return strpbrk(prefix, "+#") == NULL;
}

static void topic_put(char *buf, size_t cap, size_t *len, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++, (*len)++)
        if (*len + 1 < cap)
            buf[*len] = p[i];
}

size_t selgw_mqtt_topic(const char *prefix, const selgw_record *rec, char *buf, size_t cap)
{
    if (!rec || !topic_prefix_ok(prefix))
        return 0;
    selgw_str levels[3];
    size_t level_count;
    selgw_str levels_alert[5];
    selgw_str *use = levels;
    if (rec->type == SELGW_RECORD_READING) {
        levels[0] = rec->base;
        levels[1] = rec->plot;
        levels[2] = rec->device;
        level_count = 3;
    } else if (rec->type == SELGW_RECORD_ALERT) {
        /* one retained message per (rule, device): see docs/MQTT.md, "Alerts" */
        levels_alert[0] = rec->base;
        levels_alert[1] = rec->plot;
        levels_alert[2] = (selgw_str){"alert", 5};
        levels_alert[3] = rec->rule;
        levels_alert[4] = rec->device;
        use = levels_alert;
        level_count = 5;
    } else {
        levels[0] = rec->gateway;
        levels[1] = (selgw_str){"event", 5};
        level_count = 2;
    }
    for (size_t i = 0; i < level_count; i++)
        if (!topic_level_ok(use[i].ptr, use[i].len))
            return 0;
    size_t len = 0;
    topic_put(buf, cap, &len, prefix, strlen(prefix));
    for (size_t i = 0; i < level_count; i++) {
        topic_put(buf, cap, &len, "/", 1);
        topic_put(buf, cap, &len, use[i].ptr, use[i].len);
    }
    if (len > TOPIC_MAX)
        return 0;
    if (cap > 0)
        buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

/* ---- small helpers ------------------------------------------------------------------------ */

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

static void set_last_error(selgw_mqtt_sink *s, selgw_err err)
{
    pthread_mutex_lock(&s->lock);
    s->stats.last_error = err;
    if (err != SELGW_OK && (unsigned)err < SELGW_ERR_COUNT_)
        s->stats.errors[err]++;
    pthread_mutex_unlock(&s->lock);
}

/* Grows a buffer to at least `need` bytes. */
static bool ensure_capacity(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t new_cap = *cap ? *cap : 256;
    while (new_cap < need)
        new_cap *= 2;
    char *grown = realloc(*buf, new_cap);
    if (!grown)
        return false;
    *buf = grown;
    *cap = new_cap;
    return true;
}

/* ---- window and cursor ------------------------------------------------------------------- */

/* The window holds max_inflight records, and one more entry: a cleared alert's second
 * publish (see record_publish). */
static size_t window_cap(const selgw_mqtt_sink *s)
{
    return (size_t)s->max_inflight + 1;
}

static window_entry *window_at(selgw_mqtt_sink *s, size_t i)
{
    return &s->window[(s->window_head + i) % window_cap(s)];
}

static void window_push_part(selgw_mqtt_sink *s, uint64_t seq, int mid, bool done, bool more)
{
    if (s->window_count == 0)
        s->last_progress_ns = selgw_mono_ns();
    *window_at(s, s->window_count) =
        (window_entry){.seq = seq, .mid = mid, .done = done, .more = more};
    s->window_count++;
}

static void window_push(selgw_mqtt_sink *s, uint64_t seq, int mid, bool done)
{
    window_push_part(s, seq, mid, done, false);
}

/* Moves the cursor over the done entries at the front of the window: acknowledgements can
 * arrive out of order, the cursor only ever covers a gap-free prefix. */
static void window_advance(selgw_mqtt_sink *s)
{
    uint64_t before = s->acked_seq;
    while (s->window_count > 0 && s->window[s->window_head].done) {
        const window_entry *front = &s->window[s->window_head];
        if (!front->more) /* a record's first part done: only what came before it is */
            s->acked_seq = front->seq;
        s->window_head = (s->window_head + 1) % window_cap(s);
        s->window_count--;
        s->acks_unpersisted++;
    }
    if (s->acked_seq != before) {
        pthread_mutex_lock(&s->lock);
        s->stats.last_seq = s->acked_seq;
        pthread_mutex_unlock(&s->lock);
    }
}

/* Forgets what is in flight (the client that held it is gone) and reads it again from the
 * journal, starting after the cursor. */
static void window_restart(selgw_mqtt_sink *s)
{
    s->window_head = 0;
    s->window_count = 0;
    if (s->reader) {
        selgw_err err = selgw_journal_reader_seek(s->reader, s->acked_seq);
        if (err != SELGW_OK) {
            /* The thread makes a new reader from the cursor. */
            selgw_log(SELGW_LOG_ERROR, "%s: cannot read the journal again after seq %llu: %s",
                      s->what, (unsigned long long)s->acked_seq, selgw_strerror(err));
            selgw_journal_reader_free(s->reader);
            s->reader = NULL;
        }
    }
}

/* Persisting fsyncs: not for every acknowledgement. After a crash the few acknowledged but
 * unpersisted records are published again (at-least-once; consumers drop them by seq). */
static void cursor_persist(selgw_mqtt_sink *s, bool force)
{
    if (s->acked_seq == s->persisted_seq)
        return;
    int64_t now = selgw_mono_ns();
    if (!force && s->acks_unpersisted < PERSIST_EVERY_ACKS &&
        now - s->persisted_ns < PERSIST_INTERVAL_MS * SELGW_NS_PER_MS)
        return;
    s->persisted_ns = now;
    selgw_err err = selgw_journal_set_cursor(s->journal, SELGW_MQTT_SINK_NAME, s->acked_seq);
    if (err != SELGW_OK) {
        selgw_repeat_fail(&s->cursor_repeat, "mqtt sink cursor", err, NULL);
        return;
    }
    selgw_repeat_ok(&s->cursor_repeat, "mqtt sink cursor");
    s->persisted_seq = s->acked_seq;
    s->acks_unpersisted = 0;
}

/* ---- refusals --------------------------------------------------------------------------- */

static void refusal_report(selgw_mqtt_sink *s)
{
    if (s->refusals_unlogged == 0)
        return;
    if (s->refusals_unlogged == 1)
        selgw_log(SELGW_LOG_WARN,
                  "%s: record seq %llu not published: %s; skipped, it stays in "
                  "the journal",
                  s->what, (unsigned long long)s->last_refused_seq, s->last_refusal);
    else
        selgw_log(SELGW_LOG_WARN,
                  "%s: %lu records not published, the last seq %llu: %s; "
                  "skipped, they stay in the journal",
                  s->what, s->refusals_unlogged, (unsigned long long)s->last_refused_seq,
                  s->last_refusal);
    s->refusals_unlogged = 0;
    s->refusal_logged_ns = selgw_mono_ns();
}

/* A record the cursor passes without delivery: refused by the broker, or impossible to
 * publish. Skipped, not retried: it would be refused again (ACL, quota, payload format),
 * and one poisoned record must not block the sink forever. Counted as refused; logged
 * once at first, then summed up at most every REFUSAL_REPORT_MS. */
static void refusal_note(selgw_mqtt_sink *s, uint64_t seq, const char *why)
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

/* ---- libmosquitto callbacks (run inside client_loop on the sink thread) ----------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)flags;
    (void)props;
    selgw_mqtt_sink *s = obj;
    if (rc != 0) {
        s->connack_rc = rc; /* the loop reports the failure; this says why */
        return;
    }
    s->link = LINK_UP;
    s->connack_rc = 0;
    s->backoff_ms = s->reconnect_min_ms;
    s->last_progress_ns = selgw_mono_ns();
    selgw_repeat_ok(&s->link_repeat, s->what);
    selgw_log(SELGW_LOG_INFO, "%s: connected as %s (MQTT %s), %zu record%s in flight", s->what,
              s->client_id, s->protocol == 5 ? "5" : "3.1.1", s->window_count,
              s->window_count == 1 ? "" : "s");
    pthread_mutex_lock(&s->lock);
    s->stats.reconnects++;
    s->stats.last_error = SELGW_OK;
    pthread_mutex_unlock(&s->lock);
    int status_rc = mosquitto_publish(mosq, NULL, s->status_topic, (int)strlen(STATUS_ONLINE),
                                      STATUS_ONLINE, 1, true);
    if (status_rc != MOSQ_ERR_SUCCESS)
        selgw_log(SELGW_LOG_WARN, "%s: cannot publish status \"online\": %s", s->what,
                  mosquitto_strerror(status_rc));
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    (void)mosq;
    (void)rc;
    (void)props;
    selgw_mqtt_sink *s = obj;
    selgw_log(SELGW_LOG_DEBUG, "%s: disconnected: %s", s->what, mosquitto_strerror(rc));
    s->dropped = true;
}

/* PUBACK (QoS 1) or PUBCOMP (QoS 2): the only delivery confirmation. With MQTT 5 the same
 * callback reports a refusal (reason code >= 0x80), which is not a delivery. */
static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason_code,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    selgw_mqtt_sink *s = obj;
    if (mid == s->status_mid) {
        s->status_acked = true;
        return;
    }
    if (s->qos == 0)
        return; /* QoS 0 counts as delivered when handed over; this is only "written" */
    window_entry *entry = NULL;
    for (size_t i = 0; i < s->window_count; i++) {
        window_entry *e = window_at(s, i);
        if (!e->done && e->mid == mid) {
            entry = e;
            break;
        }
    }
    if (!entry)
        return; /* e.g. the status message, or a client that was replaced */
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
    selgw_mqtt_sink *s = obj;
    selgw_log(SELGW_LOG_DEBUG, "%s: libmosquitto: %s", s->what, text);
}

/* ---- the client ------------------------------------------------------------------------------ */

static void client_destroy(selgw_mqtt_sink *s)
{
    if (s->mosq) {
        mosquitto_destroy(s->mosq);
        s->mosq = NULL;
    }
    s->connect_called = false;
    s->link = LINK_IDLE;
}

/* Everything that must be set before connecting: protocol, in-flight limit, credentials,
 * TLS, will. On failure *why says which setting was refused. */
static selgw_err client_create(selgw_mqtt_sink *s, char *why, size_t why_cap)
{
    /* clean session: see docs/MQTT.md ("Session"). */
    struct mosquitto *mosq = mosquitto_new(s->client_id, true, s);
    if (!mosq) {
        /* libmosquitto says EINVAL or ENOMEM */
        return selgw_explain_errno(why, why_cap, errno, "cannot create the client");
    }
    const char *step = "protocol version";
    int rc = mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION,
                                  s->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
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
    if (rc == MOSQ_ERR_SUCCESS) {
        step = "will";
        rc = mosquitto_will_set(mosq, s->status_topic, (int)strlen(STATUS_OFFLINE), STATUS_OFFLINE,
                                1, true);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        selgw_explain(why, why_cap, "%s refused by libmosquitto: %s", step, mosquitto_strerror(rc));
        mosquitto_destroy(mosq);
        return rc == MOSQ_ERR_NOMEM ? SELGW_ERR_NOMEM : SELGW_ERR_CONFIG;
    }
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(mosq, on_publish);
    /* libmosquitto formats each of its messages (two per record: PUBLISH sent, PUBACK
     * received) with vsnprintf into a malloc'd buffer whenever a callback is set, and
     * only debug logging shows them: without it the callback cost a tenth of the
     * gateway's instructions for nothing (docs/BENCHMARKS.md). The level is set once at
     * start, before any client is made. */
    if (selgw_log_enabled(SELGW_LOG_DEBUG))
        mosquitto_log_callback_set(mosq, on_library_log);
    s->mosq = mosq;
    s->connect_called = false;
    return SELGW_OK;
}

static bool is_auth_refusal(int protocol, int connack_rc)
{
    if (protocol == 5)
        return connack_rc == 0x86 || connack_rc == 0x87 || connack_rc == 0x8C;
    return connack_rc == 4 || connack_rc == 5;
}

/* The connection failed or could not be made: log (once per kind of failure, with a
 * count), schedule the next attempt with backoff, and throw the client away when the
 * library would give up on it (then the window is read again from the journal). */
static void link_failed(selgw_mqtt_sink *s, int rc, int saved_errno)
{
    bool was_up = s->link == LINK_UP;
    selgw_log(SELGW_LOG_DEBUG, "%s: link failed: libmosquitto %d (%s), errno %d, CONNACK %d",
              s->what, rc, mosquitto_strerror(rc), saved_errno, s->connack_rc);
    selgw_err err = was_up ? SELGW_ERR_DISCONNECTED : SELGW_ERR_CONNECT;
    bool recreate = false;
    char detail[256];
    if (s->connack_rc != 0) {
        const char *text = s->protocol == 5 ? mosquitto_reason_string(s->connack_rc)
                                            : mosquitto_connack_string(s->connack_rc);
        snprintf(detail, sizeof detail, "connection refused: %s", text);
        if (is_auth_refusal(s->protocol, s->connack_rc))
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
        case MOSQ_ERR_EAI:
        case MOSQ_ERR_LOOKUP:
            snprintf(detail, sizeof detail, "cannot resolve host name: %s", mosquitto_strerror(rc));
            recreate = true;
            break;
        case MOSQ_ERR_TLS:
        case MOSQ_ERR_TLS_HANDSHAKE:
        case MOSQ_ERR_OCSP:
            snprintf(detail, sizeof detail, "TLS: %s", mosquitto_strerror(rc));
            recreate = true;
            break;
        case MOSQ_ERR_AUTH:
        case MOSQ_ERR_CONN_REFUSED:
            snprintf(detail, sizeof detail, "%s", mosquitto_strerror(rc));
            err = SELGW_ERR_AUTH;
            recreate = true;
            break;
        default: /* protocol errors and what loop_forever treats as fatal */
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
    /* Jitter, so that gateways cut off together do not all come back in the same second. */
    int delay = s->backoff_ms + (int)(rand_r(&s->rng) % (unsigned)(s->backoff_ms / 4 + 1));
    if (delay > s->reconnect_max_ms)
        delay = s->reconnect_max_ms;
    s->next_attempt_ns = selgw_mono_ns() + (int64_t)delay * SELGW_NS_PER_MS;
    s->backoff_ms =
        s->backoff_ms > s->reconnect_max_ms / 2 ? s->reconnect_max_ms : s->backoff_ms * 2;
    cursor_persist(s, true);
}

static void link_connect(selgw_mqtt_sink *s)
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
    /* Asynchronous: the TCP connect does not block the thread (name lookup still does). */
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

/* ---- feeding the window from the journal ------------------------------------------------ */

/* Makes the reader give `seq` again (it was read but not handed to the library). Should
 * the reader fail, the window cannot stay consistent with the journal: start over from the
 * cursor with a new client. */
static void reader_rewind(selgw_mqtt_sink *s, uint64_t seq)
{
    selgw_err err = selgw_journal_reader_seek(s->reader, seq - 1);
    if (err == SELGW_OK)
        return;
    selgw_log(SELGW_LOG_ERROR, "%s: cannot read the journal again at seq %llu: %s", s->what,
              (unsigned long long)seq, selgw_strerror(err));
    client_destroy(s);
    window_restart(s);
    selgw_journal_reader_free(s->reader);
    s->reader = NULL;
    s->next_attempt_ns = selgw_mono_ns() + (int64_t)s->backoff_ms * SELGW_NS_PER_MS;
}

/* A record that can never be published (undecodable, no valid topic, too large for the
 * broker): the cursor passes it, it stays in the journal, it is counted as refused. */
static void record_skip(selgw_mqtt_sink *s, uint64_t seq, const char *why)
{
    refusal_note(s, seq, why);
    window_push(s, seq, 0, true);
    window_advance(s);
}

typedef enum part_result {
    PART_SENT,        /* handed to the library (QoS 0: done) */
    PART_SKIPPED,     /* refused by the library for good: counted, the cursor may pass it */
    PART_QUEUED,      /* queued inside the library for the next connection: stop feeding */
    PART_AGAIN,       /* nothing kept: read the record again */
    PART_AGAIN_LATER, /* nothing kept, and wait a moment before reading it again */
} part_result;

/* One publish of a record to s->topic; a window entry is pushed unless it must be read
 * again. more: another publish of the same record follows. */
static part_result publish_part(selgw_mqtt_sink *s, uint64_t seq, const char *payload, size_t len,
                                bool retain, bool more)
{
    int mid = 0;
    int rc = mosquitto_publish(s->mosq, &mid, s->topic, (int)len, payload, s->qos, retain);
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
        if (s->qos == 0) {
            pthread_mutex_lock(&s->lock);
            s->stats.delivered++;
            s->stats.last_delivery_ns = selgw_utc_ns();
            pthread_mutex_unlock(&s->lock);
        }
        window_push_part(s, seq, mid, s->qos == 0, more);
        return PART_SENT;
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_INVAL: {
        char why[96];
        selgw_explain(why, sizeof why, "libmosquitto refused it: %s", mosquitto_strerror(rc));
        refusal_note(s, seq, why);
        window_push_part(s, seq, 0, true, more);
        return PART_SKIPPED;
    }
    case MOSQ_ERR_NOMEM:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
    case MOSQ_ERR_NOT_SUPPORTED:
        /* Not queued: read it again later. */
        selgw_log(SELGW_LOG_ERROR, "%s: cannot publish record seq %llu: %s", s->what,
                  (unsigned long long)seq, mosquitto_strerror(rc));
        return PART_AGAIN_LATER;
    default:
        if (s->qos > 0) {
            /* Queued inside the library (e.g. MOSQ_ERR_NO_CONN) and sent again on the next
             * connection: publishing it again would duplicate it. */
            window_push_part(s, seq, mid, false, more);
            return PART_QUEUED;
        }
        return PART_AGAIN; /* QoS 0: nothing was kept */
    }
}

/* Publishes one record. Returns false when feeding must stop for now (the record will be
 * read again, or is queued inside the library for the next connection). */
static bool record_publish(selgw_mqtt_sink *s, uint64_t seq, const uint8_t *payload, size_t len)
{
    selgw_err err = selgw_record_decode(payload, len, &s->record);
    if (err != SELGW_OK) {
        char why[96];
        selgw_explain(why, sizeof why, "it cannot be decoded (%s)", selgw_strerror(err));
        record_skip(s, seq, why);
        return true;
    }
    s->record.seq = seq;
    /* The payload carries the record's hash, for cross-checking against an export. */
    selgw_record_hash(payload, len, s->record.hash);
    s->record.has_hash = true;
    size_t topic_len = selgw_mqtt_topic(s->prefix, &s->record, s->topic, s->topic_cap);
    if (topic_len == 0) {
        record_skip(s, seq, "it has no valid topic (an empty id, or '/', '+', '#' in one)");
        return true;
    }
    size_t json_len = selgw_record_json(&s->record, s->json, s->json_cap);
    if (topic_len >= s->topic_cap || json_len >= s->json_cap) {
        if (!ensure_capacity(&s->topic, &s->topic_cap, topic_len + 1) ||
            !ensure_capacity(&s->json, &s->json_cap, json_len + 1)) {
            selgw_log(SELGW_LOG_ERROR, "%s: out of memory for record seq %llu", s->what,
                      (unsigned long long)seq);
            reader_rewind(s, seq);
            s->journal_retry_ns = selgw_mono_ns() + JOURNAL_RETRY_MS * SELGW_NS_PER_MS;
            return false;
        }
        selgw_mqtt_topic(s->prefix, &s->record, s->topic, s->topic_cap);
        selgw_record_json(&s->record, s->json, s->json_cap);
    }
    if (json_len > INT_MAX) {
        record_skip(s, seq, "it is too large for MQTT");
        return true;
    }
    bool alert = s->record.type == SELGW_RECORD_ALERT;
    bool cleared = alert && s->record.alert_state == SELGW_ALERT_CLEARED;
    /* An alert is retained while it is active: raised, its JSON retained; cleared, its
     * JSON (not retained, for those listening) and then an empty retained message, which
     * removes the raised one from the broker. The cursor passes the record only when
     * both are acknowledged (docs/MQTT.md, "Alerts"). */
    part_result first = publish_part(s, seq, s->json, json_len, alert && !cleared, cleared);
    if (first == PART_AGAIN || first == PART_AGAIN_LATER) {
        reader_rewind(s, seq);
        if (first == PART_AGAIN_LATER)
            s->journal_retry_ns = selgw_mono_ns() + JOURNAL_RETRY_MS * SELGW_NS_PER_MS;
        return false;
    }
    part_result second = PART_SENT;
    if (cleared) {
        second = publish_part(s, seq, NULL, 0, true, false);
        if (second == PART_AGAIN || second == PART_AGAIN_LATER) {
            /* the first part is in flight and cannot be taken back: this one is given up,
             * counted as refused, rather than holding the cursor forever */
            refusal_note(s, seq, "the retained alert could not be removed");
            window_push(s, seq, 0, true);
        }
    }
    window_advance(s);
    return first != PART_QUEUED && second != PART_QUEUED;
}

static void window_feed(selgw_mqtt_sink *s)
{
    if (s->link != LINK_UP || !s->reader || selgw_mono_ns() < s->journal_retry_ns)
        return;
    for (int n = 0; n < s->max_inflight; n++) {
        if (s->window_count >= (size_t)s->max_inflight)
            break;
        /* QoS 0 has no acknowledgements to pace it: feed only when the library has written
         * what it had, so its queue holds at most one batch. */
        if (s->qos == 0 && mosquitto_want_write(s->mosq))
            break;
        uint64_t seq;
        const uint8_t *payload;
        size_t len;
        selgw_err err = selgw_journal_read(s->reader, &seq, &payload, &len);
        if (err == SELGW_ERR_AGAIN)
            break;
        if (err != SELGW_OK) {
            char detail[96];
            snprintf(detail, sizeof detail, "after seq %llu",
                     (unsigned long long)(s->window_count ? window_at(s, s->window_count - 1)->seq
                                                          : s->acked_seq));
            selgw_repeat_fail(&s->journal_repeat, "mqtt sink reading the journal", err, detail);
            set_last_error(s, err);
            s->journal_retry_ns = selgw_mono_ns() + JOURNAL_RETRY_MS * SELGW_NS_PER_MS;
            break;
        }
        selgw_repeat_ok(&s->journal_repeat, "mqtt sink reading the journal");
        if (!record_publish(s, seq, payload, len))
            break;
    }
}

/* ---- the thread ---------------------------------------------------------------------------- */

static void link_check_timeouts(selgw_mqtt_sink *s)
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
        /* The broker answers pings but acknowledges nothing: start over with a new client
         * rather than wait forever on messages the library may have lost. */
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

/* One round of the client's I/O: what mosquitto_loop() does (wait for the socket, read,
 * write what is queued, keepalive), through libmosquitto's functions for an event loop of
 * one's own. mosquitto_loop() also waits on a socketpair into which every publish writes a
 * byte, to wake a loop running on another thread, and reads that byte back, one per round:
 * on this thread, which publishes itself and whose publish writes to the socket at once,
 * that was one more read and often one more round per message (docs/BENCHMARKS.md). The
 * socketpair is non-blocking: once full, libmosquitto's writes to it fail and are ignored.
 * Returns a libmosquitto error as mosquitto_loop() does. */
static int client_loop(selgw_mqtt_sink *s, int wait_ms)
{
    int fd = mosquitto_socket(s->mosq);
    if (fd < 0)
        return MOSQ_ERR_NO_CONN;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (mosquitto_want_write(s->mosq))
        pfd.events |= POLLOUT;
    int n = poll(&pfd, 1, wait_ms);
    if (n < 0)
        return errno == EINTR ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ERRNO;
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
        int rc = mosquitto_loop_read(s->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(s->mosq) < 0)
            return rc;
    }
    if ((pfd.revents & POLLOUT) && mosquitto_want_write(s->mosq)) {
        int rc = mosquitto_loop_write(s->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(s->mosq) < 0)
            return rc;
    }
    return mosquitto_loop_misc(s->mosq);
}

/* Stop: publish nothing new, give the window a moment to be acknowledged, persist the
 * cursor, say "offline" (a clean disconnect does not fire the will), disconnect. */
static void link_shutdown(selgw_mqtt_sink *s)
{
    if (s->mosq && s->link == LINK_UP) {
        int64_t deadline = selgw_mono_ns() + STOP_DRAIN_MS * SELGW_NS_PER_MS;
        while (s->window_count > 0 && s->link == LINK_UP && selgw_mono_ns() < deadline) {
            int rc = client_loop(s, LOOP_WAIT_MS);
            if (rc != MOSQ_ERR_SUCCESS || s->dropped)
                s->link = LINK_IDLE;
        }
        cursor_persist(s, true);
        if (s->link == LINK_UP) {
            s->status_acked = false;
            int rc = mosquitto_publish(s->mosq, &s->status_mid, s->status_topic,
                                       (int)strlen(STATUS_OFFLINE), STATUS_OFFLINE, 1, true);
            deadline = selgw_mono_ns() + STOP_STATUS_MS * SELGW_NS_PER_MS;
            while (rc == MOSQ_ERR_SUCCESS && !s->status_acked && selgw_mono_ns() < deadline) {
                rc = client_loop(s, LOOP_WAIT_MS);
                if (s->dropped)
                    break;
            }
            s->status_mid = -1;
            if (mosquitto_disconnect(s->mosq) == MOSQ_ERR_SUCCESS) {
                /* Let the DISCONNECT go out and the broker close its side. */
                for (int i = 0; i < 10; i++)
                    if (client_loop(s, LOOP_WAIT_MS) != MOSQ_ERR_SUCCESS)
                        break;
            }
        }
    }
    cursor_persist(s, true);
    refusal_report(s);
    if (s->window_count > 0)
        selgw_log(SELGW_LOG_INFO,
                  "%s: stopping with %zu record%s unacknowledged after seq %llu; "
                  "they are published again at the next start",
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
    selgw_mqtt_sink *s = arg;
    s->acked_seq = selgw_journal_cursor(s->journal, SELGW_MQTT_SINK_NAME);
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
                selgw_repeat_fail(&s->journal_repeat, "mqtt sink reading the journal", err, NULL);
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
        int rc = client_loop(s, LOOP_WAIT_MS);
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

/* ---- public ---------------------------------------------------------------------------- */

/* The defaults are the config's (its one table of keys, as docs/CONFIG.md lists them),
 * applied when it is loaded; a config built by hand must be as complete. */
static selgw_err config_check(const selgw_mqtt_config *cfg, const char *gateway_id)
{
    const char *problem = NULL;
    if (!cfg->host || !cfg->host[0])
        problem = "host is missing";
    else if (!cfg->topic_prefix)
        problem = "topic_prefix is missing";
    else if (!cfg->client_id)
        problem = "client_id is missing";
    else if (cfg->port < 1 || cfg->port > 65535)
        problem = "port is outside 1..65535";
    else if (cfg->protocol != 311 && cfg->protocol != 5)
        problem = "protocol must be 311 or 5";
    else if (cfg->qos < 0 || cfg->qos > 2)
        problem = "qos must be 0, 1 or 2";
    else if (cfg->max_inflight < 1 || cfg->max_inflight > 65535)
        problem = "max_inflight is outside 1..65535";
    else if (cfg->keepalive_s < 1 || cfg->keepalive_s > 65535)
        problem = "keepalive is outside 1..65535 s";
    else if (cfg->reconnect_min_ms < 1 || cfg->reconnect_min_ms > cfg->reconnect_max_ms)
        problem = "reconnect_min_ms must be positive and <= reconnect_max_ms";
    else if ((cfg->cert_file != NULL) != (cfg->key_file != NULL))
        problem = "cert_file and key_file go together";
    else if (cfg->cert_file && !cfg->ca_file)
        problem = "a client certificate needs ca_file (TLS)";
    else if (!gateway_id || !topic_level_ok(gateway_id, strlen(gateway_id)))
        problem = "the gateway id cannot be a topic level";
    else if (!topic_prefix_ok(cfg->topic_prefix))
        problem = "topic_prefix must not be empty, begin with '$' or '/', end with '/', or "
                  "contain '+' or '#'";
    if (problem) {
        selgw_log(SELGW_LOG_ERROR, "mqtt sink: %s", problem);
        return SELGW_ERR_INVALID;
    }
    return SELGW_OK;
}

selgw_err selgw_mqtt_sink_new(const selgw_mqtt_config *cfg, const char *gateway_id,
                              selgw_journal *journal, selgw_mqtt_sink **out)
{
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (!cfg || !journal)
        return SELGW_ERR_INVALID;
    selgw_err err = config_check(cfg, gateway_id);
    if (err != SELGW_OK)
        return err;
    pthread_once(&lib_once, lib_init);

    selgw_mqtt_sink *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    pthread_mutex_init(&s->lock, NULL);
    bool failed = selgw_worker_new(&s->worker) != SELGW_OK;
    s->host = copy_string(cfg->host, &failed);
    s->protocol = cfg->protocol;
    s->qos = cfg->qos;
    s->port = cfg->port;
    s->prefix = copy_string(cfg->topic_prefix, &failed);
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
    s->journal = journal;
    s->stats.last_seq = selgw_journal_cursor(journal, SELGW_MQTT_SINK_NAME);
    s->status_mid = -1;
    s->rng = (unsigned)selgw_mono_ns() ^ (unsigned)(uintptr_t)s;
    if (!failed && s->prefix &&
        asprintf(&s->status_topic, "%s/%s/status", s->prefix, gateway_id) < 0) {
        s->status_topic = NULL;
        failed = true;
    }
    if (!failed && asprintf(&s->what, "mqtt broker %s:%d", s->host, s->port) < 0) {
        s->what = NULL;
        failed = true;
    }
    s->window = calloc(window_cap(s), sizeof *s->window);
    if (failed || !s->window || !ensure_capacity(&s->topic, &s->topic_cap, 256) ||
        !ensure_capacity(&s->json, &s->json_cap, 8192)) {
        selgw_mqtt_sink_free(s);
        return SELGW_ERR_NOMEM;
    }
    if (mosquitto_validate_utf8(s->status_topic, (int)strlen(s->status_topic)) !=
        MOSQ_ERR_SUCCESS) {
        selgw_log(SELGW_LOG_ERROR, "mqtt sink: topic_prefix is not valid UTF-8");
        selgw_mqtt_sink_free(s);
        return SELGW_ERR_INVALID;
    }
    /* Build the client once now so that bad TLS files or credentials are reported at
     * start-up, not only in the log of a background thread. */
    char why[256];
    err = client_create(s, why, sizeof why);
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "mqtt sink: %s", why);
        selgw_mqtt_sink_free(s);
        return err;
    }
    *out = s;
    return SELGW_OK;
}

selgw_err selgw_mqtt_sink_start(selgw_mqtt_sink *s)
{
    if (!s)
        return SELGW_ERR_INVALID;
    selgw_err err = selgw_worker_start(s->worker, sink_thread, s);
    if (err == SELGW_ERR_NOMEM)
        selgw_log(SELGW_LOG_ERROR, "mqtt sink: cannot start its thread: %s", selgw_strerror(err));
    return err;
}

void selgw_mqtt_sink_stop(selgw_mqtt_sink *s)
{
    if (s)
        selgw_worker_stop(s->worker);
}

void selgw_mqtt_sink_free(selgw_mqtt_sink *s)
{
    if (!s)
        return;
    selgw_worker_free(s->worker); /* stops the thread first */
    client_destroy(s);
    pthread_mutex_destroy(&s->lock);
    free(s->host);
    free(s->prefix);
    free(s->client_id);
    free(s->username);
    free_secret(s->password);
    free(s->ca_file);
    free(s->cert_file);
    free(s->key_file);
    free(s->status_topic);
    free(s->what);
    free(s->window);
    free(s->topic);
    free(s->json);
    free(s);
}

void selgw_mqtt_sink_stats(selgw_mqtt_sink *s, selgw_sink_stats *out)
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
    return cfg->mqtt.enabled;
}

static selgw_err ops_create(const selgw_config *cfg, selgw_journal *journal, void **state)
{
    selgw_mqtt_sink *s = NULL;
    selgw_err err = selgw_mqtt_sink_new(&cfg->mqtt, cfg->gateway_id, journal, &s);
    *state = s;
    return err;
}

SELGW_SINK_TRAMPOLINES(selgw_mqtt_sink)

const selgw_sink_ops selgw_mqtt_sink_ops = {
    .name = SELGW_MQTT_SINK_NAME,
    .refused_what = "refused",
    .configured = ops_configured,
    .create = ops_create,
    .start = ops_start,
    .stop = ops_stop,
    .stats = ops_stats,
    .destroy = ops_destroy,
};
