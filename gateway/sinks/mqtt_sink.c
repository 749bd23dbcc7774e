/* selgw: the MQTT sink (libmosquitto 2.0). See mqtt_sink.h for the contract and docs/MQTT.md
 * for topics, delivery guarantees and the choices made here.
 *
 * The delivery itself (the client and its thread, reconnects, the window of publishes
 * awaiting acknowledgement, the cursor) is sinks/mqtt_delivery.[ch], shared with the
 * evidence uplink. What is the MQTT sink's own: a record's topic and JSON payload, alerts
 * retained while active (a cleared alert's two publishes), the retained status topic with
 * its will, and MQTT 3.1.1 or 5 at any QoS. The hooks below run on the delivery's thread;
 * the record and buffers are touched only there. */
#include "sinks/mqtt_sink.h"

#include <mosquitto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "sinks/mqtt_delivery.h"
#include "sinks/mqtt_topic.h"

enum {
    /* The cursor is persisted (a durable save: fdatasync and a directory fsync) at most
     * every PERSIST_INTERVAL_MS, or sooner after PERSIST_EVERY_ACKS acknowledgements (a
     * backlog drained fast), and at stop. At 50 messages a second saving it every 200 ms
     * cost more system calls than publishing (docs/BENCHMARKS.md); what a crash can make
     * the sink publish again is bounded by these two. */
    PERSIST_INTERVAL_MS = 5000,
    PERSIST_EVERY_ACKS = 10000,
    STOP_STATUS_MS = 500, /* at stop, how long to wait for "offline" to be acknowledged */
    TOPIC_MAX = 65535,    /* MQTT topic names are at most 65535 bytes */
};

static const char STATUS_ONLINE[] = "online";
static const char STATUS_OFFLINE[] = "offline";

struct selgw_mqtt_sink {
    char *prefix;
    char *status_topic; /* <prefix>/<gateway>/status */
    selgw_mqtt_delivery *delivery;

    /* the delivery thread's */
    selgw_record record;
    char *topic;
    size_t topic_cap;
    char *json;
    size_t json_cap;
};

/* ---- topic ---------------------------------------------------------------------------- */

static void topic_put(char *buf, size_t cap, size_t *len, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++, (*len)++)
        if (*len + 1 < cap)
            buf[*len] = p[i];
}

size_t selgw_mqtt_topic(const char *prefix, const selgw_record *rec, char *buf, size_t cap)
{
    if (!rec || !selgw_mqtt_topic_prefix_ok(prefix))
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
        if (!selgw_mqtt_topic_level_ok(use[i].ptr, use[i].len))
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

/* ---- the delivery's hooks ------------------------------------------------------------------ */

/* The will: "offline" when the broker loses the gateway without a clean disconnect. */
static int configure_client(void *owner, struct mosquitto *mosq, const char **step)
{
    selgw_mqtt_sink *s = owner;
    *step = "will";
    return mosquitto_will_set(mosq, s->status_topic, (int)strlen(STATUS_OFFLINE), STATUS_OFFLINE, 1,
                              true);
}

static void connected(void *owner, struct mosquitto *mosq)
{
    selgw_mqtt_sink *s = owner;
    int status_rc = mosquitto_publish(mosq, NULL, s->status_topic, (int)strlen(STATUS_ONLINE),
                                      STATUS_ONLINE, 1, true);
    if (status_rc != MOSQ_ERR_SUCCESS)
        selgw_log(SELGW_LOG_WARN, "%s: cannot publish status \"online\": %s",
                  selgw_mqtt_delivery_what(s->delivery), mosquitto_strerror(status_rc));
}

/* A clean disconnect does not fire the will: say "offline" first. */
static void stopping(void *owner, selgw_mqtt_delivery *d)
{
    selgw_mqtt_sink *s = owner;
    selgw_mqtt_delivery_publish_wait(d, s->status_topic, STATUS_OFFLINE, strlen(STATUS_OFFLINE),
                                     true, STOP_STATUS_MS);
}

/* Publishes one record: its JSON to its topic. */
static selgw_mqtt_publish_result publish_record(void *owner, selgw_mqtt_delivery *d, uint64_t seq,
                                                const uint8_t *payload, size_t len)
{
    selgw_mqtt_sink *s = owner;
    selgw_err err = selgw_record_decode(payload, len, &s->record);
    if (err != SELGW_OK) {
        char why[96];
        selgw_explain(why, sizeof why, "it cannot be decoded (%s)", selgw_strerror(err));
        selgw_mqtt_delivery_skip(d, seq, why);
        return SELGW_MQTT_SKIPPED;
    }
    s->record.seq = seq;
    /* The payload carries the record's hash, for cross-checking against an export. */
    selgw_record_hash(payload, len, s->record.hash);
    s->record.has_hash = true;
    size_t topic_len = selgw_mqtt_topic(s->prefix, &s->record, s->topic, s->topic_cap);
    if (topic_len == 0) {
        selgw_mqtt_delivery_skip(d, seq,
                                 "it has no valid topic (an empty id, or '/', '+', '#' in one)");
        return SELGW_MQTT_SKIPPED;
    }
    size_t json_len = selgw_record_json(&s->record, s->json, s->json_cap);
    if (topic_len >= s->topic_cap || json_len >= s->json_cap) {
        if (!ensure_capacity(&s->topic, &s->topic_cap, topic_len + 1) ||
            !ensure_capacity(&s->json, &s->json_cap, json_len + 1)) {
            selgw_log(SELGW_LOG_ERROR, "%s: out of memory for record seq %llu",
                      selgw_mqtt_delivery_what(d), (unsigned long long)seq);
            return SELGW_MQTT_AGAIN_LATER;
        }
        selgw_mqtt_topic(s->prefix, &s->record, s->topic, s->topic_cap);
        selgw_record_json(&s->record, s->json, s->json_cap);
    }
    bool alert = s->record.type == SELGW_RECORD_ALERT;
    bool cleared = alert && s->record.alert_state == SELGW_ALERT_CLEARED;
    /* An alert is retained while it is active: raised, its JSON retained; cleared, its
     * JSON (not retained, for those listening) and then an empty retained message, which
     * removes the raised one from the broker. The cursor passes the record only when
     * both are acknowledged (docs/MQTT.md, "Alerts"). */
    selgw_mqtt_publish_result first = selgw_mqtt_delivery_publish(
        d, seq, s->topic, s->json, json_len, alert && !cleared, cleared, NULL);
    if (first == SELGW_MQTT_AGAIN || first == SELGW_MQTT_AGAIN_LATER || !cleared)
        return first;
    selgw_mqtt_publish_result second =
        selgw_mqtt_delivery_publish(d, seq, s->topic, NULL, 0, true, false, NULL);
    if (second == SELGW_MQTT_AGAIN || second == SELGW_MQTT_AGAIN_LATER) {
        /* the first part is in flight and cannot be taken back: this one is given up,
         * counted as refused, rather than holding the cursor forever */
        selgw_mqtt_delivery_skip(d, seq, "the retained alert could not be removed");
        second = SELGW_MQTT_SKIPPED;
    }
    return first == SELGW_MQTT_QUEUED ? first : second;
}

/* ---- public ---------------------------------------------------------------------------- */

/* The defaults are the config's (its one table of keys, as docs/CONFIG.md lists them),
 * applied when it is loaded; a config built by hand must be as complete. */
static const char *own_config_problem(const selgw_mqtt_config *cfg, const char *gateway_id)
{
    if (!cfg->topic_prefix)
        return "topic_prefix is missing";
    if (cfg->protocol != 311 && cfg->protocol != 5)
        return "protocol must be 311 or 5";
    if (cfg->qos < 0 || cfg->qos > 2)
        return "qos must be 0, 1 or 2";
    if (!gateway_id || !selgw_mqtt_topic_level_ok(gateway_id, strlen(gateway_id)))
        return "the gateway id cannot be a topic level";
    if (!selgw_mqtt_topic_prefix_ok(cfg->topic_prefix))
        return "topic_prefix must not be empty, begin with '$' or '/', end with '/', or "
               "contain '+' or '#'";
    return NULL;
}

static selgw_err config_check(const selgw_mqtt_config *cfg, const char *gateway_id)
{
    const char *problem = selgw_mqtt_delivery_config_problem(cfg);
    if (!problem)
        problem = own_config_problem(cfg, gateway_id);
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

    selgw_mqtt_sink *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    bool failed = false;
    s->prefix = strdup(cfg->topic_prefix);
    char *what = NULL;
    if (!s->prefix || asprintf(&s->status_topic, "%s/%s/status", s->prefix, gateway_id) < 0) {
        s->status_topic = NULL;
        failed = true;
    }
    if (!failed && asprintf(&what, "mqtt broker %s:%d", cfg->host, cfg->port) < 0) {
        what = NULL;
        failed = true;
    }
    if (failed || !ensure_capacity(&s->topic, &s->topic_cap, 256) ||
        !ensure_capacity(&s->json, &s->json_cap, 8192)) {
        free(what);
        selgw_mqtt_sink_free(s);
        return SELGW_ERR_NOMEM;
    }
    if (mosquitto_validate_utf8(s->status_topic, (int)strlen(s->status_topic)) !=
        MOSQ_ERR_SUCCESS) {
        selgw_log(SELGW_LOG_ERROR, "mqtt sink: topic_prefix is not valid UTF-8");
        free(what);
        selgw_mqtt_sink_free(s);
        return SELGW_ERR_INVALID;
    }
    selgw_mqtt_delivery_options opts = {
        .cfg = cfg,
        .protocol = cfg->protocol,
        .qos = cfg->qos,
        .cursor_name = SELGW_MQTT_SINK_NAME,
        .label = "mqtt sink",
        .what = what,
        .persist_interval_ms = PERSIST_INTERVAL_MS,
        .persist_every_acks = PERSIST_EVERY_ACKS,
        .hooks = {.publish_record = publish_record,
                  .configure_client = configure_client,
                  .connected = connected,
                  .stopping = stopping},
        .owner = s,
    };
    err = selgw_mqtt_delivery_new(&opts, journal, &s->delivery);
    free(what);
    if (err != SELGW_OK) {
        selgw_mqtt_sink_free(s);
        return err;
    }
    *out = s;
    return SELGW_OK;
}

selgw_err selgw_mqtt_sink_start(selgw_mqtt_sink *s)
{
    return s ? selgw_mqtt_delivery_start(s->delivery) : SELGW_ERR_INVALID;
}

void selgw_mqtt_sink_stop(selgw_mqtt_sink *s)
{
    if (s)
        selgw_mqtt_delivery_stop(s->delivery);
}

void selgw_mqtt_sink_free(selgw_mqtt_sink *s)
{
    if (!s)
        return;
    selgw_mqtt_delivery_free(s->delivery); /* stops the thread first */
    free(s->prefix);
    free(s->status_topic);
    free(s->topic);
    free(s->json);
    free(s);
}

void selgw_mqtt_sink_stats(selgw_mqtt_sink *s, selgw_sink_stats *out)
{
    selgw_mqtt_delivery_stats(s ? s->delivery : NULL, out);
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
