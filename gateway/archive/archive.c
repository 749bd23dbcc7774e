/* selgw: `selgw archive`. See archive.h and docs/ARCHIVE.md.
 *
 * Acknowledging only what is committed. libmosquitto 2.0 (Debian's 2.0.11) sends the
 * PUBACK of a QoS 1 message from handle__publish *before* it calls on_message when the
 * client is not marked threaded: packet__queue writes the PUBACK to the socket at once. A
 * client marked threaded (mosquitto_threaded_set) only queues it, and the loop writes it
 * after the read phase, that is after on_message returned. So this client is marked
 * threaded (it is still driven by mosquitto_loop on one thread), commits inside on_message,
 * and when the commit fails never returns: it logs and _exits, the queued PUBACK is never
 * written, and the broker redelivers the message to the persistent session.
 * tests/integration/test_archive.py checks it by stopping PostgreSQL under a running
 * archive. */
#include "archive/archive.h"

#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive_store.h"
#include "base/clock.h"
#include "base/log.h"
#include "evidence/keys.h"
#include "evidence/witness.h"
#include "journal/record.h"
#include "sinks/uplink_msg.h"

enum {
    LOOP_WAIT_MS = 500,
    RECONNECT_MIN_MS = 500,
    RECONNECT_MAX_MS = 30000,
    REPORT_INTERVAL_MS = 60000,
};

typedef struct archive {
    const selgw_archive_config *cfg;
    selgw_archive_store *store;
    struct mosquitto *mosq;
    char filter[1024];
    bool up, dropped, subscribe_failed;
    char what[300];          /* "archive: broker HOST:PORT", for repeated failures */
    selgw_repeat link_repeat; /* connection failures: logged when they start, with a count */
    selgw_record record;
    selgw_signer *witness;       /* witness: the key it countersigns seals with; NULL: none */
    selgw_repeat publish_repeat; /* statements the library would not take */
    /* counts since start */
    uint64_t stored, duplicates, conflicts, rejected, breaks, witnessed;
    int64_t reported_ns;
} archive;

static void fail_unacknowledged(const char *what, const char *gateway, uint64_t seq,
                                const char *why)
{
    selgw_log(SELGW_LOG_ERROR,
              "archive: cannot commit %s seq %" PRIu64 " of gateway %s: %s; exiting without "
              "acknowledging it: the broker sends it again to the session",
              what, seq, gateway, why);
    fflush(stderr);
    fflush(stdout);
    _exit(SELGW_ARCHIVE_EXIT_STORE); /* not exit(): nothing may run that could ack it */
}

static void reject(archive *a, const char *topic, const char *gateway, uint64_t seq,
                   const uint8_t *payload, size_t len, const char *reason)
{
    char why[512];
    if (selgw_archive_store_rejected(a->store, topic, seq, payload, len, reason, why,
                                     sizeof why) != SELGW_OK)
        fail_unacknowledged("the rejected message", gateway, seq, why);
    a->rejected++;
    selgw_log(SELGW_LOG_WARN, "archive: message on %s (seq %" PRIu64 ") is not a record: %s; "
                              "kept in evidence_rejected",
              topic, seq, reason);
}

/* After the commit: the statement to PREFIX/GATEWAY/witness at QoS 1, retained, also for a
 * seal redelivered (the same statement again: a publish lost before is made good). The
 * library queues it (the client is threaded) and the loop sends it. A failure here loses
 * nothing that is stored: the next delivery of the seal publishes it again. Retained,
 * because the gateway's uplink keeps a clean session: a gateway that was away (above all
 * one that stopped, whose last seal arrives as it goes) gets the latest statement when it
 * subscribes again, and the latest seal's witness vouches for everything chained before. */
static void publish_statement(archive *a, struct mosquitto *mosq, const selgw_witness *w)
{
    char topic[1024];
    uint8_t payload[SELGW_WITNESS_MAX_BYTES];
    size_t len = selgw_witness_encode(w, payload, sizeof payload);
    if (selgw_uplink_witness_topic(a->cfg->topic_prefix, w->gateway, topic, sizeof topic) == 0 ||
        strlen(topic) >= sizeof topic - 1 || len == 0 || len > sizeof payload)
        return;
    mosquitto_property *props = NULL;
    int rc = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE,
                                           SELGW_UPLINK_WITNESS_CONTENT_TYPE);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_publish_v5(mosq, NULL, topic, (int)len, payload, 1, true, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS)
        selgw_repeat_fail(&a->publish_repeat, "archive: publishing witness statements",
                          SELGW_ERR_IO, mosquitto_strerror(rc));
    else
        selgw_repeat_ok(&a->publish_repeat, "archive: publishing witness statements");
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    archive *a = obj;
    const uint8_t *payload = msg->payload;
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    const char *gw_start;
    size_t gw_len = selgw_uplink_topic_gateway(msg->topic, a->cfg->topic_prefix, &gw_start);
    char gateway[256];
    snprintf(gateway, sizeof gateway, "%.*s", (int)(gw_len < 255 ? gw_len : 255),
             gw_start ? gw_start : "");
    uint64_t seq = 0;
    const char *why = NULL;
    if (gw_len == 0 || gw_len >= sizeof gateway) {
        reject(a, msg->topic, "?", 0, payload, len, "the topic is not PREFIX/GATEWAY/evidence");
        return;
    }
    if (selgw_uplink_properties_seq(props, &seq, &why) != SELGW_OK) {
        reject(a, msg->topic, gateway, 0, payload, len, why);
        return;
    }
    if (!payload || selgw_record_decode(payload, len, &a->record) != SELGW_OK) {
        reject(a, msg->topic, gateway, seq, payload ? payload : (const uint8_t *)"", len,
               "the payload is not a record");
        return;
    }
    if (a->record.gateway.len != gw_len || memcmp(a->record.gateway.ptr, gateway, gw_len) != 0) {
        reject(a, msg->topic, gateway, seq, payload, len,
               "the record names another gateway than its topic");
        return;
    }
    uint8_t hash[SELGW_RECORD_HASH_BYTES];
    selgw_record_hash(payload, len, hash);
    selgw_archive_outcome outcome;
    selgw_archive_link link;
    char store_why[512];
    selgw_witness statement;
    bool witnessed = false;
    if (selgw_archive_store_record(a->store, gateway, seq, payload, len, &a->record, hash, &outcome,
                                   &link, &statement, &witnessed, store_why,
                                   sizeof store_why) != SELGW_OK)
        fail_unacknowledged("record", gateway, seq, store_why);
    /* committed: returning lets the library send the PUBACK */
    if (witnessed) {
        a->witnessed++;
        publish_statement(a, mosq, &statement);
    }
    switch (outcome) {
    case SELGW_ARCHIVE_STORED:
        a->stored++;
        if (link == SELGW_LINK_BREAK) {
            a->breaks++;
            selgw_log(SELGW_LOG_WARN,
                      "archive: gateway %s seq %" PRIu64 " (chain %.*s position %" PRIu64
                      ") breaks its chain; stored and flagged",
                      gateway, seq, (int)a->record.chain.len, a->record.chain.ptr,
                      a->record.chain_seq);
        }
        break;
    case SELGW_ARCHIVE_DUPLICATE:
        a->duplicates++;
        break;
    case SELGW_ARCHIVE_CONFLICT:
        a->conflicts++;
        selgw_log(SELGW_LOG_WARN,
                  "archive: gateway %s seq %" PRIu64 " is archived already with other bytes; "
                  "the new ones are kept in evidence_rejected",
                  gateway, seq);
        break;
    }
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)props;
    archive *a = obj;
    if (rc != 0) {
        selgw_log(SELGW_LOG_ERROR, "archive: the broker refused the connection: %s",
                  mosquitto_reason_string(rc));
        return;
    }
    a->up = true;
    selgw_repeat_ok(&a->link_repeat, a->what);
    selgw_log(SELGW_LOG_INFO, "archive: connected to %s:%d as %s (session %s)", a->cfg->host,
              a->cfg->port, a->cfg->client_id,
              flags & 1 ? "resumed" : "new: the broker had none for this client id");
    /* Also with a resumed session: subscribing again changes nothing, and a session the
     * broker lost (restarted without persistence) gets its subscription back. */
    int src = mosquitto_subscribe_v5(mosq, NULL, a->filter, 1, 0, NULL);
    if (src != MOSQ_ERR_SUCCESS)
        selgw_log(SELGW_LOG_ERROR, "archive: cannot subscribe to %s: %s", a->filter,
                  mosquitto_strerror(src));
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count,
                         const int *granted, const mosquitto_property *props)
{
    (void)mosq;
    (void)mid;
    (void)props;
    archive *a = obj;
    if (count < 1 || granted[0] >= 0x80) {
        selgw_log(SELGW_LOG_ERROR, "archive: the broker refused the subscription %s: %s",
                  a->filter, count < 1 ? "no answer" : mosquitto_reason_string(granted[0]));
        a->subscribe_failed = true;
        return;
    }
    selgw_log(SELGW_LOG_INFO, "archive: subscribed to %s at QoS %d", a->filter, granted[0]);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    archive *a = obj;
    if (a->up)
        selgw_log(SELGW_LOG_WARN, "archive: disconnected from the broker: %s",
                  mosquitto_strerror(rc));
    a->up = false;
    a->dropped = true;
}

static void on_library_log(struct mosquitto *mosq, void *obj, int level, const char *text)
{
    (void)mosq;
    (void)obj;
    (void)level;
    selgw_log(SELGW_LOG_DEBUG, "archive: libmosquitto: %s", text);
}

static void report(archive *a, const char *when)
{
    selgw_log(SELGW_LOG_INFO,
              "archive%s: %" PRIu64 " records stored (%" PRIu64 " chain breaks flagged), %" PRIu64
              " redelivered, %" PRIu64 " conflicting, %" PRIu64 " rejected, %" PRIu64
              " seals witnessed",
              when, a->stored, a->breaks, a->duplicates, a->conflicts, a->rejected, a->witnessed);
    a->reported_ns = selgw_mono_ns();
}

static bool client_create(archive *a)
{
    const selgw_archive_config *cfg = a->cfg;
    /* clean start false: the broker keeps the session (and queues for it) while away */
    a->mosq = mosquitto_new(cfg->client_id, false, a);
    if (!a->mosq) {
        selgw_log(SELGW_LOG_ERROR, "archive: cannot create the MQTT client: %s", strerror(errno));
        return false;
    }
    /* see the comment at the top: the PUBACK waits until on_message has returned */
    int rc = mosquitto_threaded_set(a->mosq, true);
    const char *step = "threaded mode";
    if (rc == MOSQ_ERR_SUCCESS) {
        step = "protocol version";
        rc = mosquitto_int_option(a->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    }
    if (rc == MOSQ_ERR_SUCCESS && cfg->username) {
        step = "username/password";
        rc = mosquitto_username_pw_set(a->mosq, cfg->username, cfg->password);
    }
    if (rc == MOSQ_ERR_SUCCESS && cfg->ca_file) {
        step = "TLS files";
        rc = mosquitto_tls_set(a->mosq, cfg->ca_file, NULL, cfg->cert_file, cfg->key_file, NULL);
        if (rc == MOSQ_ERR_SUCCESS && cfg->tls_insecure)
            rc = mosquitto_tls_insecure_set(a->mosq, true);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        selgw_log(SELGW_LOG_ERROR, "archive: %s refused by libmosquitto: %s", step,
                  mosquitto_strerror(rc));
        return false;
    }
    mosquitto_connect_v5_callback_set(a->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(a->mosq, on_disconnect);
    mosquitto_subscribe_v5_callback_set(a->mosq, on_subscribe);
    mosquitto_message_v5_callback_set(a->mosq, on_message);
    mosquitto_log_callback_set(a->mosq, on_library_log);
    return true;
}

/* Every (re)connection is a full CONNECT with the session's properties. */
static int connect_broker(archive *a)
{
    mosquitto_property *props = NULL;
    int rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                          (uint32_t)a->cfg->session_expiry_s);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_property_add_int16(&props, MQTT_PROP_RECEIVE_MAXIMUM,
                                          (uint16_t)a->cfg->receive_maximum);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_connect_bind_v5(a->mosq, a->cfg->host, a->cfg->port, a->cfg->keepalive_s,
                                       NULL, props);
    mosquitto_property_free_all(&props);
    return rc;
}

static void wait_ms(volatile sig_atomic_t *stop, int ms)
{
    for (int waited = 0; waited < ms && !*stop; waited += 100)
        usleep(100 * 1000);
}

int selgw_archive_run(const selgw_archive_config *cfg, volatile sig_atomic_t *stop)
{
    archive *a = calloc(1, sizeof *a);
    if (!a) {
        selgw_log(SELGW_LOG_ERROR, "archive: out of memory");
        return 1;
    }
    a->cfg = cfg;
    int status = 1;
    if (selgw_uplink_filter(cfg->share_group, cfg->topic_prefix, a->filter, sizeof a->filter) == 0 ||
        strlen(a->filter) >= sizeof a->filter - 1) {
        selgw_log(SELGW_LOG_ERROR, "archive: share_group and topic_prefix make no subscription");
        free(a);
        return 1;
    }
    char why[512];
    if (cfg->witness_key &&
        selgw_signer_load(cfg->witness_key, &a->witness, why, sizeof why) != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "archive: witness key: %s", why);
        free(a);
        return 1;
    }
    if (selgw_archive_store_open(cfg->conninfo, cfg->client_id, &a->store, why, sizeof why) !=
        SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "archive: %s", why);
        selgw_signer_free(a->witness);
        free(a);
        return 1;
    }
    if (a->witness) {
        uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
        char text[SELGW_PUBLIC_KEY_TEXT_SIZE], fp[SELGW_KEY_FINGERPRINT_SIZE];
        selgw_signer_public_key(a->witness, pk);
        selgw_public_key_format(pk, text);
        selgw_key_fingerprint(pk, fp);
        selgw_log(SELGW_LOG_INFO, "archive: witness of every seal with key %s (%s)", text, fp);
        selgw_archive_store_set_witness(a->store, a->witness);
    }
    snprintf(a->what, sizeof a->what, "archive: broker %s:%d", cfg->host, cfg->port);
    mosquitto_lib_init();
    if (!client_create(a))
        goto done;
    selgw_log(SELGW_LOG_INFO, "archive: PostgreSQL ready; connecting to %s:%d", cfg->host,
              cfg->port);
    a->reported_ns = selgw_mono_ns();
    int backoff = RECONNECT_MIN_MS;
    bool want_connect = true;
    while (!*stop && !a->subscribe_failed) {
        if (want_connect) {
            int rc = connect_broker(a);
            if (rc != MOSQ_ERR_SUCCESS) {
                selgw_repeat_fail(&a->link_repeat, a->what, SELGW_ERR_CONNECT,
                                  rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
                wait_ms(stop, backoff);
                backoff = backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2;
                continue;
            }
            want_connect = false;
            a->dropped = false;
        }
        int rc = mosquitto_loop(a->mosq, LOOP_WAIT_MS, 1);
        if (rc != MOSQ_ERR_SUCCESS || a->dropped) {
            a->up = false;
            want_connect = true;
            wait_ms(stop, backoff);
            backoff = backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2;
            continue;
        }
        if (a->up)
            backoff = RECONNECT_MIN_MS;
        if (selgw_mono_ns() - a->reported_ns >= (int64_t)REPORT_INTERVAL_MS * SELGW_NS_PER_MS)
            report(a, "");
    }
    status = a->subscribe_failed ? 1 : 0;
    if (a->up) {
        /* Let the acknowledgements of what is committed go out, then leave; the session
         * stays with the broker for session_expiry. */
        for (int i = 0; i < 4; i++)
            mosquitto_loop(a->mosq, 50, 1);
        mosquitto_disconnect_v5(a->mosq, 0, NULL);
        for (int i = 0; i < 4; i++)
            if (mosquitto_loop(a->mosq, 50, 1) != MOSQ_ERR_SUCCESS)
                break;
    }
    report(a, " stopping");
done:
    if (a->mosq)
        mosquitto_destroy(a->mosq);
    mosquitto_lib_cleanup();
    selgw_archive_store_free(a->store);
    selgw_signer_free(a->witness);
    free(a);
    return status;
}
