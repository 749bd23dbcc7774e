/* selgw: the evidence uplink (libmosquitto 2.0, MQTT 5). See uplink_sink.h and
 * docs/ARCHIVE.md.
 *
 * The delivery is the MQTT sink's (sinks/mqtt_delivery.h; docs/MQTT.md, "Delivery
 * guarantees" and "Connections"): one thread, a window of at most max_inflight records in
 * flight, the cursor advanced only on PUBACK and in order. What differs: every record
 * goes, unchanged, to one topic with the properties of uplink_msg.h, always MQTT 5 at
 * QoS 1; the cursor is saved more often (at most every 200 ms or 100 acknowledgements);
 * there is no status topic and no will (the MQTT sink says whether the gateway is
 * online). */
#include "sinks/uplink_sink.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "sinks/mqtt_delivery.h"
#include "sinks/sink.h"
#include "sinks/uplink_msg.h"

enum {
    PERSIST_INTERVAL_MS = 200,
    PERSIST_EVERY_ACKS = 100,
};

struct selgw_uplink_sink {
    char *topic;         /* PREFIX/GATEWAY/evidence */
    char *witness_topic; /* PREFIX/GATEWAY/witness: the witnesses' statements come back */
    selgw_mqtt_delivery *delivery;
    selgw_sink_inbound_fn inbound; /* the gateway journals the statements; NULL: ignored */
    void *inbound_ctx;
    selgw_repeat foreign; /* messages on the witness topic that are not statements */
};

/* The delivery's hooks for what comes back: on every connection the subscription to the
 * witness topic (QoS 1; again on each reconnection, since the session is clean), and each
 * statement handed to the gateway, which journals it before this returns (and so before
 * the PUBACK goes). */
static void subscribe_witness(void *owner, struct mosquitto *mosq)
{
    selgw_uplink_sink *s = owner;
    if (!s->inbound)
        return;
    int rc = mosquitto_subscribe_v5(mosq, NULL, s->witness_topic, 1, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        selgw_log(SELGW_LOG_ERROR, "evidence uplink: cannot subscribe to %s: %s", s->witness_topic,
                  mosquitto_strerror(rc));
}

static void witness_message(void *owner, const struct mosquitto_message *msg,
                            const mosquitto_property *props)
{
    selgw_uplink_sink *s = owner;
    char *type = NULL;
    bool ours = msg->topic && !strcmp(msg->topic, s->witness_topic) &&
                mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &type, false) &&
                type && !strcmp(type, SELGW_UPLINK_WITNESS_CONTENT_TYPE) && msg->payloadlen > 0;
    free(type);
    if (!ours) {
        selgw_repeat_fail(&s->foreign, "evidence uplink: messages on the witness topic",
                          SELGW_ERR_INVALID,
                          "not a witness statement (topic or content type); "
                          "ignored");
        return;
    }
    if (s->inbound)
        s->inbound(s->inbound_ctx, msg->payload, (size_t)msg->payloadlen);
}

void selgw_uplink_sink_set_inbound(selgw_uplink_sink *s, selgw_sink_inbound_fn fn, void *ctx)
{
    s->inbound = fn;
    s->inbound_ctx = ctx;
}

/* The delivery's hook: the record's exact payload, its seq and content type as MQTT 5
 * properties. */
static selgw_mqtt_publish_result publish_record(void *owner, selgw_mqtt_delivery *d, uint64_t seq,
                                                const uint8_t *payload, size_t len)
{
    selgw_uplink_sink *s = owner;
    mosquitto_property *props = NULL;
    if (selgw_uplink_properties(seq, &props) != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "%s: out of memory for record seq %llu",
                  selgw_mqtt_delivery_what(d), (unsigned long long)seq);
        return SELGW_MQTT_AGAIN_LATER;
    }
    selgw_mqtt_publish_result result =
        selgw_mqtt_delivery_publish(d, seq, s->topic, payload, len, false, false, props);
    mosquitto_property_free_all(&props);
    return result;
}

/* ---- public -------------------------------------------------------------------------------- */

static const char *own_config_problem(const selgw_mqtt_config *cfg, const char *gateway_id,
                                      char *topic, size_t topic_cap)
{
    if (selgw_uplink_topic(cfg->topic_prefix, gateway_id, topic, topic_cap) == 0 ||
        strlen(topic) >= topic_cap - 1)
        return "topic_prefix and the gateway id do not make a topic";
    if (mosquitto_validate_utf8(topic, (int)strlen(topic)) != MOSQ_ERR_SUCCESS)
        return "topic_prefix is not valid UTF-8";
    return NULL;
}

static selgw_err config_check(const selgw_mqtt_config *cfg, const char *gateway_id, char *topic,
                              size_t topic_cap)
{
    const char *problem = selgw_mqtt_delivery_config_problem(cfg);
    if (!problem)
        problem = own_config_problem(cfg, gateway_id, topic, topic_cap);
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
    char topic[1024], witness_topic[1024];
    selgw_err err = config_check(cfg, gateway_id, topic, sizeof topic);
    if (err != SELGW_OK)
        return err;
    if (selgw_uplink_witness_topic(cfg->topic_prefix, gateway_id, witness_topic,
                                   sizeof witness_topic) == 0 ||
        strlen(witness_topic) >= sizeof witness_topic - 1)
        return SELGW_ERR_INVALID;
    selgw_uplink_sink *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    char *what = NULL;
    s->topic = strdup(topic);
    s->witness_topic = strdup(witness_topic);
    if (!s->topic || !s->witness_topic ||
        asprintf(&what, "evidence uplink %s:%d", cfg->host, cfg->port) < 0) {
        selgw_uplink_sink_free(s);
        return SELGW_ERR_NOMEM;
    }
    selgw_mqtt_delivery_options opts = {
        .cfg = cfg,
        .protocol = 5,
        .qos = 1,
        .cursor_name = SELGW_UPLINK_SINK_NAME,
        .label = "evidence uplink",
        .what = what,
        .persist_interval_ms = PERSIST_INTERVAL_MS,
        .persist_every_acks = PERSIST_EVERY_ACKS,
        .needs_subscriber = true,
        .hooks = {.publish_record = publish_record,
                  .connected = subscribe_witness,
                  .message = witness_message},
        .owner = s,
    };
    err = selgw_mqtt_delivery_new(&opts, journal, &s->delivery);
    free(what);
    if (err != SELGW_OK) {
        selgw_uplink_sink_free(s);
        return err;
    }
    *out = s;
    return SELGW_OK;
}

selgw_err selgw_uplink_sink_start(selgw_uplink_sink *s)
{
    return s ? selgw_mqtt_delivery_start(s->delivery) : SELGW_ERR_INVALID;
}

void selgw_uplink_sink_stop(selgw_uplink_sink *s)
{
    if (s)
        selgw_mqtt_delivery_stop(s->delivery);
}

void selgw_uplink_sink_free(selgw_uplink_sink *s)
{
    if (!s)
        return;
    selgw_mqtt_delivery_free(s->delivery); /* stops the thread first */
    free(s->topic);
    free(s->witness_topic);
    free(s);
}

void selgw_uplink_sink_stats(selgw_uplink_sink *s, selgw_sink_stats *out)
{
    selgw_mqtt_delivery_stats(s ? s->delivery : NULL, out);
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

static void ops_set_inbound(void *state, selgw_sink_inbound_fn fn, void *ctx)
{
    selgw_uplink_sink_set_inbound(state, fn, ctx);
}

const selgw_sink_ops selgw_uplink_sink_ops = {
    .name = SELGW_UPLINK_SINK_NAME,
    .refused_what = "refused",
    .configured = ops_configured,
    .create = ops_create,
    .start = ops_start,
    .stop = ops_stop,
    .stats = ops_stats,
    .destroy = ops_destroy,
    .set_inbound = ops_set_inbound,
};
