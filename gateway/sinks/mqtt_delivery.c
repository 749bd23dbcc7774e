/* selgw: delivering the journal over MQTT. See mqtt_delivery.h and docs/MQTT.md.
 *
 * All the delivery state (window, cursor, client) is touched only by the delivery's
 * thread; the libmosquitto callbacks run inside client_loop() on the same thread, and so
 * do the sink's hooks. Only the stop request and the statistics are shared, under `lock`. */
#include "sinks/mqtt_delivery.h"

#include <errno.h>
#include <limits.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/worker.h"

enum {
    LOOP_WAIT_MS = 50,       /* a client_loop() wait in the loops that wait for an answer */
    IDLE_WAIT_MS = 1000,     /* longest the main loop waits when the journal wakes it */
    STOP_DRAIN_MS = 2000,    /* at stop, how long to wait for the window's acknowledgements */
    JOURNAL_RETRY_MS = 1000, /* pause after the journal failed to give a record */
    CONNECT_TIMEOUT_MIN_MS = 30000, /* a connection attempt without CONNACK is abandoned */
    STALL_MIN_MS = 60000,           /* connected, messages in flight, no acknowledgement at all */
    REFUSAL_REPORT_MS = 60000,      /* refusals after the first are summed up this often */
};

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

struct selgw_mqtt_delivery {
    /* configuration (owned copies: the caller's config may be freed on reload) */
    char *host;
    int port;
    int protocol; /* 311 or 5 */
    int qos;
    char *client_id;
    char *username;
    char *password;
    char *ca_file, *cert_file, *key_file;
    bool tls_insecure;
    int keepalive_s;
    int max_inflight;
    int reconnect_min_ms, reconnect_max_ms;
    int persist_interval_ms, persist_every_acks;
    char *cursor_name;
    char *label;        /* "mqtt sink" */
    char *what;         /* "mqtt broker HOST:PORT", for log lines about the link */
    char *journal_what; /* "mqtt sink reading the journal" */
    char *cursor_what;  /* "mqtt sink cursor" */
    selgw_mqtt_delivery_hooks hooks;
    void *owner;
    selgw_journal *journal;

    /* shared with other threads */
    selgw_worker *worker;
    /* eventfd the journal adds to at each commit and the stop at a stop, beside the MQTT
     * socket in client_loop's poll: the loop sleeps until there is something to publish,
     * an answer, or a stop, not 20 times a second. -1 if it cannot be made: then it looks
     * every LOOP_WAIT_MS, as before. */
    int wake_fd;
    bool watching;        /* the journal adds to wake_fd */
    pthread_mutex_t lock; /* guards stats */
    selgw_sink_stats stats;

    /* owned by the delivery thread while it runs */
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
    int side_mid; /* a message outside the window (publish_wait), -1 when none */
    bool side_acked;
    unsigned rng;
    selgw_repeat link_repeat, journal_repeat, cursor_repeat;
    /* refusals not yet logged: the first is logged at once, the rest summed up */
    unsigned long refusals_unlogged;
    uint64_t last_refused_seq;
    char last_refusal[128];
    int64_t refusal_logged_ns;
    /* needs_subscriber: publishes the broker dropped for want of a subscriber */
    bool needs_subscriber;
    int64_t unheard_since_ns; /* the first of them since a subscriber last took one, or 0 */
    int64_t resend_at_ns;     /* when to publish the window again from the cursor, or 0 */
    int resend_backoff_ms;
    unsigned long unheard;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    /* Never cleaned up: another client may still use it; the process exit releases it. */
    mosquitto_lib_init();
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

static void set_last_error(selgw_mqtt_delivery *d, selgw_err err)
{
    pthread_mutex_lock(&d->lock);
    d->stats.last_error = err;
    if (err != SELGW_OK && (unsigned)err < SELGW_ERR_COUNT_)
        d->stats.errors[err]++;
    pthread_mutex_unlock(&d->lock);
}

/* ---- window and cursor ------------------------------------------------------------------- */

/* The window holds max_inflight records, and one more entry: a record's second publish
 * (a cleared alert's, see mqtt_sink.c). */
static size_t window_cap(const selgw_mqtt_delivery *d)
{
    return (size_t)d->max_inflight + 1;
}

static window_entry *window_at(selgw_mqtt_delivery *d, size_t i)
{
    return &d->window[(d->window_head + i) % window_cap(d)];
}

static void window_push(selgw_mqtt_delivery *d, uint64_t seq, int mid, bool done, bool more)
{
    if (d->window_count == 0)
        d->last_progress_ns = selgw_mono_ns();
    *window_at(d, d->window_count) =
        (window_entry){.seq = seq, .mid = mid, .done = done, .more = more};
    d->window_count++;
}

/* Moves the cursor over the done entries at the front of the window: acknowledgements can
 * arrive out of order, the cursor only ever covers a gap-free prefix. */
static void window_advance(selgw_mqtt_delivery *d)
{
    uint64_t before = d->acked_seq;
    while (d->window_count > 0 && d->window[d->window_head].done) {
        const window_entry *front = &d->window[d->window_head];
        if (!front->more) /* a record's first part done: only what came before it is */
            d->acked_seq = front->seq;
        d->window_head = (d->window_head + 1) % window_cap(d);
        d->window_count--;
        d->acks_unpersisted++;
    }
    if (d->acked_seq != before) {
        pthread_mutex_lock(&d->lock);
        d->stats.last_seq = d->acked_seq;
        pthread_mutex_unlock(&d->lock);
    }
}

/* needs_subscriber: a PUBACK that says the broker did not pass the message on, for now:
 * no subscriber (0x10), or a refusal that may pass (unspecified 0x80, implementation
 * specific 0x83, quota exceeded 0x97). Evidence waits for it rather than be skipped; a
 * refusal that will not pass (not authorised, a bad topic) is skipped and counted, as the
 * MQTT sink does with every refusal. */
static bool not_taken(int reason_code)
{
    return reason_code == MQTT_RC_NO_MATCHING_SUBSCRIBERS || reason_code == 0x80 ||
           reason_code == 0x83 || reason_code == 0x97;
}

/* Forgets what is in flight (the client that held it is gone) and reads it again from the
 * journal, starting after the cursor. */
static void window_restart(selgw_mqtt_delivery *d)
{
    d->window_head = 0;
    d->window_count = 0;
    d->resend_at_ns = 0; /* the window goes out now, from the cursor */
    if (d->reader) {
        selgw_err err = selgw_journal_reader_seek(d->reader, d->acked_seq);
        if (err != SELGW_OK) {
            /* The thread makes a new reader from the cursor. */
            selgw_log(SELGW_LOG_ERROR, "%s: cannot read the journal again after seq %llu: %s",
                      d->what, (unsigned long long)d->acked_seq, selgw_strerror(err));
            selgw_journal_reader_free(d->reader);
            d->reader = NULL;
        }
    }
}

/* Persisting fsyncs: not for every acknowledgement. After a crash the few acknowledged but
 * unpersisted records are published again (at-least-once; consumers drop them by seq). */
static void cursor_persist(selgw_mqtt_delivery *d, bool force)
{
    if (d->acked_seq == d->persisted_seq)
        return;
    int64_t now = selgw_mono_ns();
    if (!force && d->acks_unpersisted < (unsigned)d->persist_every_acks &&
        now - d->persisted_ns < d->persist_interval_ms * SELGW_NS_PER_MS)
        return;
    d->persisted_ns = now;
    selgw_err err = selgw_journal_set_cursor(d->journal, d->cursor_name, d->acked_seq);
    if (err != SELGW_OK) {
        selgw_repeat_fail(&d->cursor_repeat, d->cursor_what, err, NULL);
        return;
    }
    selgw_repeat_ok(&d->cursor_repeat, d->cursor_what);
    d->persisted_seq = d->acked_seq;
    d->acks_unpersisted = 0;
}

/* ---- refusals --------------------------------------------------------------------------- */

static void refusal_report(selgw_mqtt_delivery *d)
{
    if (d->refusals_unlogged == 0)
        return;
    if (d->refusals_unlogged == 1)
        selgw_log(SELGW_LOG_WARN,
                  "%s: record seq %llu not published: %s; skipped, it stays in "
                  "the journal",
                  d->what, (unsigned long long)d->last_refused_seq, d->last_refusal);
    else
        selgw_log(SELGW_LOG_WARN,
                  "%s: %lu records not published, the last seq %llu: %s; "
                  "skipped, they stay in the journal",
                  d->what, d->refusals_unlogged, (unsigned long long)d->last_refused_seq,
                  d->last_refusal);
    d->refusals_unlogged = 0;
    d->refusal_logged_ns = selgw_mono_ns();
}

/* A record the cursor passes without delivery: refused by the broker, or impossible to
 * publish. Skipped, not retried: it would be refused again (ACL, quota, payload format),
 * and one poisoned record must not block the sink forever. Counted as refused; logged
 * once at first, then summed up at most every REFUSAL_REPORT_MS. */
static void refusal_note(selgw_mqtt_delivery *d, uint64_t seq, const char *why)
{
    d->refusals_unlogged++;
    d->last_refused_seq = seq;
    snprintf(d->last_refusal, sizeof d->last_refusal, "%s", why);
    pthread_mutex_lock(&d->lock);
    d->stats.refused++;
    d->stats.last_error = SELGW_ERR_REJECTED;
    d->stats.errors[SELGW_ERR_REJECTED]++;
    pthread_mutex_unlock(&d->lock);
    if (d->refusal_logged_ns == 0 ||
        selgw_mono_ns() - d->refusal_logged_ns >= REFUSAL_REPORT_MS * SELGW_NS_PER_MS)
        refusal_report(d);
}

/* ---- libmosquitto callbacks (run inside client_loop on the delivery thread) ------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)flags;
    (void)props;
    selgw_mqtt_delivery *d = obj;
    if (rc != 0) {
        d->connack_rc = rc; /* the loop reports the failure; this says why */
        return;
    }
    d->link = LINK_UP;
    d->connack_rc = 0;
    d->backoff_ms = d->reconnect_min_ms;
    d->last_progress_ns = selgw_mono_ns();
    selgw_repeat_ok(&d->link_repeat, d->what);
    selgw_log(SELGW_LOG_INFO, "%s: connected as %s (MQTT %s), %zu record%s in flight", d->what,
              d->client_id, d->protocol == 5 ? "5" : "3.1.1", d->window_count,
              d->window_count == 1 ? "" : "s");
    pthread_mutex_lock(&d->lock);
    d->stats.reconnects++;
    d->stats.last_error = SELGW_OK;
    pthread_mutex_unlock(&d->lock);
    if (d->hooks.connected)
        d->hooks.connected(d->owner, mosq);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    selgw_mqtt_delivery *d = obj;
    selgw_log(SELGW_LOG_DEBUG, "%s: disconnected: %s", d->what, mosquitto_strerror(rc));
    d->dropped = true;
}

/* PUBACK (QoS 1) or PUBCOMP (QoS 2): the only delivery confirmation. With MQTT 5 the same
 * callback reports a refusal (reason code >= 0x80), which is not a delivery. */
static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason_code,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    selgw_mqtt_delivery *d = obj;
    if (mid == d->side_mid) {
        d->side_acked = true;
        return;
    }
    if (d->qos == 0)
        return; /* QoS 0 counts as delivered when handed over; this is only "written" */
    window_entry *entry = NULL;
    for (size_t i = 0; i < d->window_count; i++) {
        window_entry *e = window_at(d, i);
        if (!e->done && e->mid == mid) {
            entry = e;
            break;
        }
    }
    if (!entry)
        return; /* e.g. a message outside the window, or a client that was replaced */
    d->last_progress_ns = selgw_mono_ns();
    if (d->needs_subscriber && not_taken(reason_code)) {
        /* Acknowledged and dropped: not delivered. The entry stays, so the cursor does not
         * pass it; the window goes out again after a pause. */
        if (d->unheard_since_ns == 0) {
            d->unheard_since_ns = d->last_progress_ns;
            d->resend_backoff_ms = d->reconnect_min_ms;
            if (reason_code == MQTT_RC_NO_MATCHING_SUBSCRIBERS)
                selgw_log(SELGW_LOG_WARN,
                          "%s: record seq %llu reached no subscriber (the broker dropped it: "
                          "%s); publishing again from there until one takes it",
                          d->what, (unsigned long long)entry->seq,
                          mosquitto_reason_string(reason_code));
            else
                selgw_log(SELGW_LOG_WARN,
                          "%s: record seq %llu was not taken (the broker says: %s, 0x%02x); "
                          "publishing again from there until it is",
                          d->what, (unsigned long long)entry->seq,
                          mosquitto_reason_string(reason_code), (unsigned)reason_code);
        }
        d->unheard++;
        if (d->resend_at_ns == 0)
            d->resend_at_ns = d->last_progress_ns + (int64_t)d->resend_backoff_ms * SELGW_NS_PER_MS;
        return;
    }
    entry->done = true;
    if (d->unheard_since_ns != 0 && reason_code < 0x80) {
        /* someone takes them again: what waits for the pause goes out at once */
        if (d->resend_at_ns != 0)
            d->resend_at_ns = d->last_progress_ns;
        selgw_log(SELGW_LOG_INFO,
                  "%s: a subscriber takes the records again, after %lu publishes that reached "
                  "none in %lld s",
                  d->what, d->unheard,
                  (long long)((d->last_progress_ns - d->unheard_since_ns) / SELGW_NS_PER_S));
        d->unheard_since_ns = 0;
        d->unheard = 0;
    }
    if (reason_code >= 0x80) {
        char why[96];
        selgw_explain(why, sizeof why, "the broker refused it: %s (0x%02x)",
                      mosquitto_reason_string(reason_code), (unsigned)reason_code);
        refusal_note(d, entry->seq, why);
    } else {
        pthread_mutex_lock(&d->lock);
        d->stats.delivered++;
        d->stats.last_delivery_ns = selgw_utc_ns();
        if (d->stats.last_error == SELGW_ERR_REJECTED)
            d->stats.last_error = SELGW_OK;
        pthread_mutex_unlock(&d->lock);
    }
    window_advance(d);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    (void)mosq;
    selgw_mqtt_delivery *d = obj;
    d->hooks.message(d->owner, msg, props);
}

static void on_library_log(struct mosquitto *mosq, void *obj, int level, const char *text)
{
    (void)mosq;
    (void)level;
    selgw_mqtt_delivery *d = obj;
    selgw_log(SELGW_LOG_DEBUG, "%s: libmosquitto: %s", d->what, text);
}

/* ---- the client ------------------------------------------------------------------------------ */

static void client_destroy(selgw_mqtt_delivery *d)
{
    if (d->mosq) {
        mosquitto_destroy(d->mosq);
        d->mosq = NULL;
    }
    d->connect_called = false;
    d->link = LINK_IDLE;
}

/* Everything that must be set before connecting: protocol, in-flight limit, credentials,
 * TLS, and the sink's own settings. On failure *why says which setting was refused. */
static selgw_err client_create(selgw_mqtt_delivery *d, char *why, size_t why_cap)
{
    /* clean session: the publisher's state that matters is in the journal and the cursor
     * (docs/MQTT.md, "Session"). */
    struct mosquitto *mosq = mosquitto_new(d->client_id, true, d);
    if (!mosq) {
        /* libmosquitto says EINVAL or ENOMEM */
        return selgw_explain_errno(why, why_cap, errno, "cannot create the client");
    }
    const char *step = "protocol version";
    int rc = mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION,
                                  d->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (rc == MOSQ_ERR_SUCCESS) {
        step = "max_inflight";
        rc = mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, d->max_inflight);
    }
    if (rc == MOSQ_ERR_SUCCESS && (d->username || d->password)) {
        step = "username/password";
        rc = mosquitto_username_pw_set(mosq, d->username, d->password);
    }
    if (rc == MOSQ_ERR_SUCCESS && d->ca_file) {
        step = "TLS files (ca_file, cert_file, key_file)";
        rc = mosquitto_tls_set(mosq, d->ca_file, NULL, d->cert_file, d->key_file, NULL);
        if (rc == MOSQ_ERR_SUCCESS && d->tls_insecure) {
            step = "tls_insecure";
            rc = mosquitto_tls_insecure_set(mosq, true);
        }
    }
    if (rc == MOSQ_ERR_SUCCESS && d->hooks.message) {
        /* the PUBACK of a received message waits until the hook returned (see the hook) */
        step = "threaded mode";
        rc = mosquitto_threaded_set(mosq, true);
    }
    if (rc == MOSQ_ERR_SUCCESS && d->hooks.configure_client)
        rc = d->hooks.configure_client(d->owner, mosq, &step);
    if (rc != MOSQ_ERR_SUCCESS) {
        selgw_explain(why, why_cap, "%s refused by libmosquitto: %s", step, mosquitto_strerror(rc));
        mosquitto_destroy(mosq);
        return rc == MOSQ_ERR_NOMEM ? SELGW_ERR_NOMEM : SELGW_ERR_CONFIG;
    }
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(mosq, on_publish);
    if (d->hooks.message)
        mosquitto_message_v5_callback_set(mosq, on_message);
    /* libmosquitto formats each of its messages (two per record: PUBLISH sent, PUBACK
     * received) with vsnprintf into a malloc'd buffer whenever a callback is set, and
     * only debug logging shows them: without it the callback cost a tenth of the
     * gateway's instructions for nothing (docs/BENCHMARKS.md). The level is set once at
     * start, before any client is made. */
    if (selgw_log_enabled(SELGW_LOG_DEBUG))
        mosquitto_log_callback_set(mosq, on_library_log);
    d->mosq = mosq;
    d->connect_called = false;
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
static void link_failed(selgw_mqtt_delivery *d, int rc, int saved_errno)
{
    bool was_up = d->link == LINK_UP;
    selgw_log(SELGW_LOG_DEBUG, "%s: link failed: libmosquitto %d (%s), errno %d, CONNACK %d",
              d->what, rc, mosquitto_strerror(rc), saved_errno, d->connack_rc);
    selgw_err err = was_up ? SELGW_ERR_DISCONNECTED : SELGW_ERR_CONNECT;
    bool recreate = false;
    char detail[256];
    if (d->connack_rc != 0) {
        const char *text = d->protocol == 5 ? mosquitto_reason_string(d->connack_rc)
                                            : mosquitto_connack_string(d->connack_rc);
        snprintf(detail, sizeof detail, "connection refused: %s", text);
        if (is_auth_refusal(d->protocol, d->connack_rc))
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
    selgw_repeat_fail(&d->link_repeat, d->what, err, detail);
    set_last_error(d, err);
    d->connack_rc = 0;
    d->dropped = false;
    if (recreate) {
        client_destroy(d);
        window_restart(d);
    }
    d->link = LINK_IDLE;
    /* Jitter, so that gateways cut off together do not all come back in the same second. */
    int delay = d->backoff_ms + (int)(rand_r(&d->rng) % (unsigned)(d->backoff_ms / 4 + 1));
    if (delay > d->reconnect_max_ms)
        delay = d->reconnect_max_ms;
    d->next_attempt_ns = selgw_mono_ns() + (int64_t)delay * SELGW_NS_PER_MS;
    d->backoff_ms =
        d->backoff_ms > d->reconnect_max_ms / 2 ? d->reconnect_max_ms : d->backoff_ms * 2;
    cursor_persist(d, true);
}

static void link_connect(selgw_mqtt_delivery *d)
{
    if (!d->mosq) {
        char why[256];
        selgw_err err = client_create(d, why, sizeof why);
        if (err != SELGW_OK) {
            selgw_repeat_fail(&d->link_repeat, d->what, err, why);
            set_last_error(d, err);
            d->next_attempt_ns = selgw_mono_ns() + (int64_t)d->reconnect_max_ms * SELGW_NS_PER_MS;
            return;
        }
    }
    d->connack_rc = 0;
    d->dropped = false;
    d->connect_started_ns = selgw_mono_ns();
    /* Asynchronous: the TCP connect does not block the thread (name lookup still does). */
    int rc = d->connect_called ? mosquitto_reconnect_async(d->mosq)
                               : mosquitto_connect_async(d->mosq, d->host, d->port, d->keepalive_s);
    int saved_errno = errno;
    d->connect_called = true;
    if (rc != MOSQ_ERR_SUCCESS) {
        link_failed(d, rc, saved_errno);
        return;
    }
    d->link = LINK_CONNECTING;
}

/* One round of the client's I/O: what mosquitto_loop() does (wait for the socket, read,
 * write what is queued, keepalive), through libmosquitto's functions for an event loop of
 * one's own. mosquitto_loop() also waits on a socketpair into which every publish writes a
 * byte, to wake a loop running on another thread, and reads that byte back, one per round:
 * on this thread, which publishes itself and whose publish writes to the socket at once,
 * that was one more read and often one more round per message (docs/BENCHMARKS.md). The
 * socketpair is non-blocking: once full, libmosquitto's writes to it fail and are ignored.
 * Returns a libmosquitto error as mosquitto_loop() does. */
static int client_loop(selgw_mqtt_delivery *d, int wait_ms)
{
    int fd = mosquitto_socket(d->mosq);
    if (fd < 0)
        return MOSQ_ERR_NO_CONN;
    struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = d->wake_fd, .events = POLLIN}};
    struct pollfd *pfd = &fds[0];
    if (mosquitto_want_write(d->mosq))
        pfd->events |= POLLOUT;
    int n = poll(fds, d->watching ? 2 : 1, wait_ms);
    if (n < 0)
        return errno == EINTR ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ERRNO;
    if (d->watching && (fds[1].revents & POLLIN)) {
        eventfd_t ignored;
        (void)eventfd_read(d->wake_fd, &ignored); /* cleared before the records are read */
    }
    if (pfd->revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
        int rc = mosquitto_loop_read(d->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(d->mosq) < 0)
            return rc;
    }
    if ((pfd->revents & POLLOUT) && mosquitto_want_write(d->mosq)) {
        int rc = mosquitto_loop_write(d->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(d->mosq) < 0)
            return rc;
    }
    return mosquitto_loop_misc(d->mosq);
}

/* ---- feeding the window from the journal ------------------------------------------------ */

/* Makes the reader give `seq` again (it was read but not handed to the library). Should
 * the reader fail, the window cannot stay consistent with the journal: start over from the
 * cursor with a new client. */
static void reader_rewind(selgw_mqtt_delivery *d, uint64_t seq)
{
    selgw_err err = selgw_journal_reader_seek(d->reader, seq - 1);
    if (err == SELGW_OK)
        return;
    selgw_log(SELGW_LOG_ERROR, "%s: cannot read the journal again at seq %llu: %s", d->what,
              (unsigned long long)seq, selgw_strerror(err));
    client_destroy(d);
    window_restart(d);
    selgw_journal_reader_free(d->reader);
    d->reader = NULL;
    d->next_attempt_ns = selgw_mono_ns() + (int64_t)d->backoff_ms * SELGW_NS_PER_MS;
}

selgw_mqtt_publish_result selgw_mqtt_delivery_publish(selgw_mqtt_delivery *d, uint64_t seq,
                                                      const char *topic, const void *payload,
                                                      size_t len, bool retain, bool more,
                                                      const mosquitto_property *props)
{
    if (len > INT_MAX) {
        refusal_note(d, seq, "it is too large for MQTT");
        window_push(d, seq, 0, true, more);
        return SELGW_MQTT_SKIPPED;
    }
    int mid = 0;
    int rc = mosquitto_publish_v5(d->mosq, &mid, topic, (int)len, payload, d->qos, retain, props);
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
        if (d->qos == 0) {
            pthread_mutex_lock(&d->lock);
            d->stats.delivered++;
            d->stats.last_delivery_ns = selgw_utc_ns();
            pthread_mutex_unlock(&d->lock);
        }
        window_push(d, seq, mid, d->qos == 0, more);
        return SELGW_MQTT_SENT;
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_INVAL: {
        char why[96];
        selgw_explain(why, sizeof why, "libmosquitto refused it: %s", mosquitto_strerror(rc));
        refusal_note(d, seq, why);
        window_push(d, seq, 0, true, more);
        return SELGW_MQTT_SKIPPED;
    }
    case MOSQ_ERR_NOMEM:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
    case MOSQ_ERR_NOT_SUPPORTED:
    case MOSQ_ERR_DUPLICATE_PROPERTY:
        /* Not queued: read it again later. */
        selgw_log(SELGW_LOG_ERROR, "%s: cannot publish record seq %llu: %s", d->what,
                  (unsigned long long)seq, mosquitto_strerror(rc));
        return SELGW_MQTT_AGAIN_LATER;
    default:
        if (d->qos > 0) {
            /* Queued inside the library (e.g. MOSQ_ERR_NO_CONN) and sent again on the next
             * connection: publishing it again would duplicate it. */
            window_push(d, seq, mid, false, more);
            return SELGW_MQTT_QUEUED;
        }
        return SELGW_MQTT_AGAIN; /* QoS 0: nothing was kept */
    }
}

void selgw_mqtt_delivery_skip(selgw_mqtt_delivery *d, uint64_t seq, const char *why)
{
    refusal_note(d, seq, why);
    window_push(d, seq, 0, true, false);
}

/* needs_subscriber: after a publish that reached no subscriber, the whole window again
 * from the cursor once the pause is over (what reached one comes twice: at least once). */
static void window_resend_due(selgw_mqtt_delivery *d)
{
    if (d->resend_at_ns == 0 || selgw_mono_ns() < d->resend_at_ns)
        return;
    d->resend_at_ns = 0;
    d->resend_backoff_ms = d->resend_backoff_ms > d->reconnect_max_ms / 2
                               ? d->reconnect_max_ms
                               : d->resend_backoff_ms * 2;
    window_restart(d);
}

/* Hands the library what the journal has, while the window has room. Returns true when it
 * stopped because the journal had nothing more: only then may the loop sleep until the
 * journal's next commit (a pending resend is looked at again within the loop's 50 ms). */
static bool window_feed(selgw_mqtt_delivery *d)
{
    if (d->link != LINK_UP || !d->reader || selgw_mono_ns() < d->journal_retry_ns)
        return false;
    window_resend_due(d);
    if (d->resend_at_ns != 0 || !d->reader) /* (a failed rewind: the thread makes a reader) */
        return false;
    for (int n = 0; n < d->max_inflight; n++) {
        if (d->window_count >= (size_t)d->max_inflight)
            break;
        /* QoS 0 has no acknowledgements to pace it: feed only when the library has written
         * what it had, so its queue holds at most one batch. */
        if (d->qos == 0 && mosquitto_want_write(d->mosq))
            break;
        uint64_t seq;
        const uint8_t *payload;
        size_t len;
        selgw_err err = selgw_journal_read(d->reader, &seq, &payload, &len);
        if (err == SELGW_ERR_AGAIN)
            return true;
        if (err != SELGW_OK) {
            char detail[96];
            snprintf(detail, sizeof detail, "after seq %llu",
                     (unsigned long long)(d->window_count ? window_at(d, d->window_count - 1)->seq
                                                          : d->acked_seq));
            selgw_repeat_fail(&d->journal_repeat, d->journal_what, err, detail);
            set_last_error(d, err);
            d->journal_retry_ns = selgw_mono_ns() + JOURNAL_RETRY_MS * SELGW_NS_PER_MS;
            break;
        }
        selgw_repeat_ok(&d->journal_repeat, d->journal_what);
        selgw_mqtt_publish_result result = d->hooks.publish_record(d->owner, d, seq, payload, len);
        window_advance(d);
        if (result == SELGW_MQTT_AGAIN || result == SELGW_MQTT_AGAIN_LATER) {
            reader_rewind(d, seq);
            if (result == SELGW_MQTT_AGAIN_LATER)
                d->journal_retry_ns = selgw_mono_ns() + JOURNAL_RETRY_MS * SELGW_NS_PER_MS;
            break;
        }
        if (result == SELGW_MQTT_QUEUED)
            break;
    }
    return false;
}

/* ---- the thread ---------------------------------------------------------------------------- */

static void link_check_timeouts(selgw_mqtt_delivery *d)
{
    int64_t now = selgw_mono_ns();
    if (d->link == LINK_CONNECTING) {
        int64_t limit_ms = (int64_t)d->keepalive_s * 1500;
        if (limit_ms < CONNECT_TIMEOUT_MIN_MS)
            limit_ms = CONNECT_TIMEOUT_MIN_MS;
        if (now - d->connect_started_ns > limit_ms * SELGW_NS_PER_MS)
            link_failed(d, MOSQ_ERR_TIMEOUT, 0);
        return;
    }
    if (d->link == LINK_UP && d->window_count > 0 && d->resend_at_ns == 0) {
        /* The broker answers pings but acknowledges nothing: start over with a new client
         * rather than wait forever on messages the library may have lost. (Not while a
         * window that reached no subscriber waits for its pause: it was answered.) */
        int64_t limit_ms = (int64_t)d->keepalive_s * 3000;
        if (limit_ms < STALL_MIN_MS)
            limit_ms = STALL_MIN_MS;
        if (now - d->last_progress_ns > limit_ms * SELGW_NS_PER_MS) {
            selgw_log(SELGW_LOG_WARN,
                      "%s: no acknowledgement for %lld s with %zu records in flight; "
                      "reconnecting with a new client",
                      d->what, (long long)(limit_ms / 1000), d->window_count);
            mosquitto_disconnect(d->mosq);
            link_failed(d, MOSQ_ERR_PROTOCOL, 0);
        }
    }
}

void selgw_mqtt_delivery_publish_wait(selgw_mqtt_delivery *d, const char *topic,
                                      const void *payload, size_t len, bool retain, int wait_ms)
{
    if (!d->mosq || d->link != LINK_UP || len > INT_MAX)
        return;
    d->side_acked = false;
    int rc = mosquitto_publish(d->mosq, &d->side_mid, topic, (int)len, payload, 1, retain);
    int64_t deadline = selgw_mono_ns() + (int64_t)wait_ms * SELGW_NS_PER_MS;
    while (rc == MOSQ_ERR_SUCCESS && !d->side_acked && selgw_mono_ns() < deadline) {
        rc = client_loop(d, LOOP_WAIT_MS);
        if (d->dropped)
            break;
    }
    d->side_mid = -1;
}

/* Stop: publish nothing new, give the window a moment to be acknowledged, persist the
 * cursor, let the sink say its last (the MQTT sink's "offline"), disconnect. */
static void link_shutdown(selgw_mqtt_delivery *d)
{
    if (d->mosq && d->link == LINK_UP) {
        int64_t deadline = selgw_mono_ns() + STOP_DRAIN_MS * SELGW_NS_PER_MS;
        /* (a window that reached no subscriber stays in the journal: no use waiting) */
        while (d->window_count > 0 && d->link == LINK_UP && d->resend_at_ns == 0 &&
               selgw_mono_ns() < deadline) {
            int rc = client_loop(d, LOOP_WAIT_MS);
            if (rc != MOSQ_ERR_SUCCESS || d->dropped)
                d->link = LINK_IDLE;
        }
        cursor_persist(d, true);
        if (d->link == LINK_UP) {
            if (d->hooks.stopping)
                d->hooks.stopping(d->owner, d);
            if (mosquitto_disconnect(d->mosq) == MOSQ_ERR_SUCCESS) {
                /* Let the DISCONNECT go out and the broker close its side. */
                for (int i = 0; i < 10; i++)
                    if (client_loop(d, LOOP_WAIT_MS) != MOSQ_ERR_SUCCESS)
                        break;
            }
        }
    }
    cursor_persist(d, true);
    refusal_report(d);
    if (d->window_count > 0)
        selgw_log(SELGW_LOG_INFO,
                  "%s: stopping with %zu record%s unacknowledged after seq %llu; "
                  "they are published again at the next start",
                  d->what, d->window_count, d->window_count == 1 ? "" : "s",
                  (unsigned long long)d->acked_seq);
    client_destroy(d);
    d->window_head = 0;
    d->window_count = 0;
    selgw_journal_reader_free(d->reader);
    d->reader = NULL;
}

/* The main loop's longest wait when the journal wakes it: a second, and short enough for
 * libmosquitto's keepalive (a PINGREQ is due keepalive_s after the last packet sent). */
static int idle_wait_ms(const selgw_mqtt_delivery *d)
{
    int64_t quarter = (int64_t)d->keepalive_s * 250;
    return quarter < IDLE_WAIT_MS ? (int)quarter : IDLE_WAIT_MS;
}

static void delivery_thread(void *arg)
{
    selgw_mqtt_delivery *d = arg;
    d->watching = selgw_journal_watch(d->journal, d->wake_fd);
    d->acked_seq = selgw_journal_cursor(d->journal, d->cursor_name);
    d->persisted_seq = d->acked_seq;
    d->acks_unpersisted = 0;
    d->persisted_ns = selgw_mono_ns();
    d->backoff_ms = d->reconnect_min_ms;
    d->next_attempt_ns = 0;
    d->journal_retry_ns = 0;
    d->link = LINK_IDLE;
    pthread_mutex_lock(&d->lock);
    d->stats.last_seq = d->acked_seq;
    pthread_mutex_unlock(&d->lock);

    while (!selgw_worker_stopping(d->worker)) {
        if (!d->reader) {
            selgw_err err = selgw_journal_reader_new(d->journal, d->acked_seq, &d->reader);
            if (err != SELGW_OK) {
                selgw_repeat_fail(&d->journal_repeat, d->journal_what, err, NULL);
                set_last_error(d, err);
                d->reader = NULL;
                selgw_worker_wait_ms(d->worker, JOURNAL_RETRY_MS);
                continue;
            }
        }
        if (d->link == LINK_IDLE) {
            if (selgw_mono_ns() < d->next_attempt_ns) {
                selgw_worker_wait_until(d->worker, d->next_attempt_ns);
                continue;
            }
            link_connect(d);
            continue;
        }
        bool drained = window_feed(d);
        int rc = client_loop(d, d->watching && drained ? idle_wait_ms(d) : LOOP_WAIT_MS);
        int saved_errno = errno;
        if (rc != MOSQ_ERR_SUCCESS)
            link_failed(d, rc, saved_errno);
        else if (d->dropped || mosquitto_socket(d->mosq) < 0)
            link_failed(d, MOSQ_ERR_CONN_LOST, 0);
        else
            link_check_timeouts(d);
        cursor_persist(d, false);
        if (d->refusals_unlogged > 0 &&
            selgw_mono_ns() - d->refusal_logged_ns >= REFUSAL_REPORT_MS * SELGW_NS_PER_MS)
            refusal_report(d);
    }
    link_shutdown(d);
    if (d->watching)
        selgw_journal_unwatch(d->journal, d->wake_fd);
    d->watching = false;
}

/* ---- public ---------------------------------------------------------------------------- */

/* The defaults are the config's (its one table of keys, as docs/CONFIG.md lists them),
 * applied when it is loaded; a config built by hand must be as complete. */
const char *selgw_mqtt_delivery_config_problem(const selgw_mqtt_config *cfg)
{
    if (!cfg->host || !cfg->host[0])
        return "host is missing";
    if (!cfg->client_id)
        return "client_id is missing";
    if (cfg->port < 1 || cfg->port > 65535)
        return "port is outside 1..65535";
    if (cfg->max_inflight < 1 || cfg->max_inflight > 65535)
        return "max_inflight is outside 1..65535";
    if (cfg->keepalive_s < 1 || cfg->keepalive_s > 65535)
        return "keepalive is outside 1..65535 s";
    if (cfg->reconnect_min_ms < 1 || cfg->reconnect_min_ms > cfg->reconnect_max_ms)
        return "reconnect_min_ms must be positive and <= reconnect_max_ms";
    if ((cfg->cert_file != NULL) != (cfg->key_file != NULL))
        return "cert_file and key_file go together";
    if (cfg->cert_file && !cfg->ca_file)
        return "a client certificate needs ca_file (TLS)";
    return NULL;
}

selgw_err selgw_mqtt_delivery_new(const selgw_mqtt_delivery_options *opts, selgw_journal *journal,
                                  selgw_mqtt_delivery **out)
{
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (!opts || !opts->cfg || !opts->hooks.publish_record || !opts->cursor_name || !opts->label ||
        !opts->what || !journal)
        return SELGW_ERR_INVALID;
    const char *problem = selgw_mqtt_delivery_config_problem(opts->cfg);
    if (problem) {
        selgw_log(SELGW_LOG_ERROR, "%s: %s", opts->label, problem);
        return SELGW_ERR_INVALID;
    }
    const selgw_mqtt_config *cfg = opts->cfg;
    pthread_once(&lib_once, lib_init);

    selgw_mqtt_delivery *d = calloc(1, sizeof *d);
    if (!d)
        return SELGW_ERR_NOMEM;
    pthread_mutex_init(&d->lock, NULL);
    d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    bool failed = selgw_worker_new(&d->worker) != SELGW_OK;
    d->host = copy_string(cfg->host, &failed);
    d->port = cfg->port;
    d->protocol = opts->protocol;
    d->qos = opts->qos;
    d->client_id = copy_string(cfg->client_id, &failed);
    d->username = copy_string(cfg->username, &failed);
    d->password = copy_string(cfg->password, &failed);
    d->ca_file = copy_string(cfg->ca_file, &failed);
    d->cert_file = copy_string(cfg->cert_file, &failed);
    d->key_file = copy_string(cfg->key_file, &failed);
    d->tls_insecure = cfg->tls_insecure;
    d->keepalive_s = cfg->keepalive_s;
    d->max_inflight = cfg->max_inflight;
    d->reconnect_min_ms = cfg->reconnect_min_ms;
    d->reconnect_max_ms = cfg->reconnect_max_ms;
    d->persist_interval_ms = opts->persist_interval_ms;
    d->persist_every_acks = opts->persist_every_acks;
    d->needs_subscriber = opts->needs_subscriber;
    d->cursor_name = copy_string(opts->cursor_name, &failed);
    d->label = copy_string(opts->label, &failed);
    d->what = copy_string(opts->what, &failed);
    d->hooks = opts->hooks;
    d->owner = opts->owner;
    d->journal = journal;
    d->stats.last_seq = selgw_journal_cursor(journal, opts->cursor_name);
    d->side_mid = -1;
    d->rng = (unsigned)selgw_mono_ns() ^ (unsigned)(uintptr_t)d;
    if (!failed && asprintf(&d->journal_what, "%s reading the journal", opts->label) < 0) {
        d->journal_what = NULL;
        failed = true;
    }
    if (!failed && asprintf(&d->cursor_what, "%s cursor", opts->label) < 0) {
        d->cursor_what = NULL;
        failed = true;
    }
    d->window = calloc(window_cap(d), sizeof *d->window);
    if (failed || !d->window) {
        selgw_mqtt_delivery_free(d);
        return SELGW_ERR_NOMEM;
    }
    char why[256];
    selgw_err err = client_create(d, why, sizeof why);
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "%s: %s", opts->label, why);
        selgw_mqtt_delivery_free(d);
        return err;
    }
    *out = d;
    return SELGW_OK;
}

selgw_err selgw_mqtt_delivery_start(selgw_mqtt_delivery *d)
{
    if (!d)
        return SELGW_ERR_INVALID;
    selgw_err err = selgw_worker_start(d->worker, delivery_thread, d);
    if (err == SELGW_ERR_NOMEM)
        selgw_log(SELGW_LOG_ERROR, "%s: cannot start its thread: %s", d->label,
                  selgw_strerror(err));
    return err;
}

void selgw_mqtt_delivery_stop(selgw_mqtt_delivery *d)
{
    if (!d)
        return;
    selgw_worker_ask_stop(d->worker);
    if (d->wake_fd >= 0)
        (void)eventfd_write(d->wake_fd, 1); /* after the flag: the woken loop sees it */
    selgw_worker_stop(d->worker);
}

void selgw_mqtt_delivery_free(selgw_mqtt_delivery *d)
{
    if (!d)
        return;
    selgw_mqtt_delivery_stop(d);
    selgw_worker_free(d->worker);
    if (d->wake_fd >= 0)
        close(d->wake_fd);
    client_destroy(d);
    pthread_mutex_destroy(&d->lock);
    free(d->host);
    free(d->client_id);
    free(d->username);
    free_secret(d->password);
    free(d->ca_file);
    free(d->cert_file);
    free(d->key_file);
    free(d->cursor_name);
    free(d->label);
    free(d->what);
    free(d->journal_what);
    free(d->cursor_what);
    free(d->window);
    free(d);
}

void selgw_mqtt_delivery_stats(selgw_mqtt_delivery *d, selgw_sink_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    *out = d->stats;
    pthread_mutex_unlock(&d->lock);
}

const char *selgw_mqtt_delivery_what(const selgw_mqtt_delivery *d)
{
    return d ? d->what : "";
}
