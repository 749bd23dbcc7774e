/* selgw: delivering the journal over MQTT (libmosquitto 2.0), what the MQTT sink and the
 * evidence uplink share (docs/MQTT.md, "Delivery guarantees" and "Connections").
 *
 * One thread owns the client and drives it with its own poll() (not mosquitto_loop): it
 * connects and reconnects with backoff and jitter, logs a failure once with a count, and
 * throws the client away when the library would give up on it (TLS, authentication, name
 * lookup, protocol), then reads the unacknowledged records again from the journal. A
 * window of at most max_inflight records is in flight, fed from the journal from the
 * cursor; the cursor advances only over a gap-free prefix of acknowledged (PUBACK, or
 * PUBCOMP at QoS 2) or skipped records, and is persisted at most every persist_interval_ms
 * or persist_every_acks acknowledgements, on a connection failure and at stop.
 *
 * What a sink owns is only what differs: the topic and payload of a record (its
 * publish_record hook, which calls selgw_mqtt_delivery_publish or _skip), and optionally a
 * setting of the client (the will), a message on connecting and one at stop. */
#ifndef SELGW_MQTT_DELIVERY_H
#define SELGW_MQTT_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>

#include "config.h"
#include "base/error.h"
#include "base/health.h"
#include "journal/journal.h"

typedef struct selgw_mqtt_delivery selgw_mqtt_delivery;

/* What became of one publish, or of a whole record. */
typedef enum selgw_mqtt_publish_result {
    SELGW_MQTT_SENT,        /* handed to the library (QoS 0: done) */
    SELGW_MQTT_SKIPPED,     /* refused for good: counted, the cursor may pass it */
    SELGW_MQTT_QUEUED,      /* queued inside the library for the next connection: stop feeding */
    SELGW_MQTT_AGAIN,       /* nothing kept: read the record again */
    SELGW_MQTT_AGAIN_LATER, /* nothing kept: read it again after a pause */
} selgw_mqtt_publish_result;

typedef struct selgw_mqtt_delivery_hooks {
    /* Publishes one journal record (its payload is valid only during the call). For
     * AGAIN or AGAIN_LATER nothing of the record may be in the window. Required. */
    selgw_mqtt_publish_result (*publish_record)(void *owner, selgw_mqtt_delivery *d, uint64_t seq,
                                                const uint8_t *payload, size_t len);
    /* A setting of a new client before it connects (the will); a libmosquitto error,
     * *step names what was refused. Optional. */
    int (*configure_client)(void *owner, struct mosquitto *mosq, const char **step);
    /* After each CONNACK that accepts the connection. Optional. */
    void (*connected)(void *owner, struct mosquitto *mosq);
    /* A message that arrived on a subscription the sink made (in `connected`); on the
     * delivery's thread. The client is then marked threaded (mosquitto_threaded_set), so
     * that libmosquitto 2.0 sends the PUBACK of a QoS 1 message only after this returned
     * (docs/ARCHIVE.md, "Acknowledging only what is committed"). Optional. */
    void (*message)(void *owner, const struct mosquitto_message *msg,
                    const mosquitto_property *props);
    /* At stop, still connected, after the window is acknowledged or given up and the
     * cursor persisted, before DISCONNECT. Optional. */
    void (*stopping)(void *owner, selgw_mqtt_delivery *d);
} selgw_mqtt_delivery_hooks;

typedef struct selgw_mqtt_delivery_options {
    const selgw_mqtt_config *cfg; /* server, client id, credentials, TLS, keepalive, window,
                                   * backoff; copied */
    int protocol;                 /* 311 or 5 */
    int qos;                      /* 0, 1 or 2 */
    const char *cursor_name;      /* the journal cursor it reads from and advances */
    const char *label;            /* "mqtt sink": log lines about the journal and the cursor */
    const char *what;             /* "mqtt broker HOST:PORT": log lines about the link */
    int persist_interval_ms, persist_every_acks;
    /* MQTT 5: a PUBACK "no matching subscribers" (0x10) is not a delivery. The broker
     * dropped the message: nobody has it. The cursor stays, and the window is published
     * again from the cursor after a pause (reconnect backoff), until a subscriber takes it.
     * For the evidence uplink, whose records must reach an archive; the MQTT sink's readings
     * may well have no subscriber. */
    bool needs_subscriber;
    selgw_mqtt_delivery_hooks hooks;
    void *owner; /* the hooks' first argument */
} selgw_mqtt_delivery_options;

/* What is wrong with the part of cfg the delivery uses (server, client id, window,
 * keepalive, backoff, TLS files), NULL when nothing; a sink checks its own part. Pure. */
const char *selgw_mqtt_delivery_config_problem(const selgw_mqtt_config *cfg);

/* Builds the client once, so that bad TLS files or credentials are reported now (logged
 * with the label), not only in the thread's log. */
selgw_err selgw_mqtt_delivery_new(const selgw_mqtt_delivery_options *opts, selgw_journal *journal,
                                  selgw_mqtt_delivery **out);
selgw_err selgw_mqtt_delivery_start(selgw_mqtt_delivery *d); /* its own thread */
void selgw_mqtt_delivery_stop(selgw_mqtt_delivery *d);       /* waits; the cursor is persisted */
void selgw_mqtt_delivery_free(selgw_mqtt_delivery *d);       /* stops first; NULL is fine */
void selgw_mqtt_delivery_stats(selgw_mqtt_delivery *d, selgw_sink_stats *out);

/* For publish_record, on the delivery's thread. */

/* One publish of record `seq` at the delivery's QoS; a window entry is pushed unless the
 * result is AGAIN or AGAIN_LATER. more: another publish of the same record follows, and
 * the cursor passes the record only with the last. props may be NULL. */
selgw_mqtt_publish_result selgw_mqtt_delivery_publish(selgw_mqtt_delivery *d, uint64_t seq,
                                                      const char *topic, const void *payload,
                                                      size_t len, bool retain, bool more,
                                                      const mosquitto_property *props);
/* A record (or the rest of one) that cannot be published: counted as refused, logged once
 * with a count, and the cursor passes it; it stays in the journal. */
void selgw_mqtt_delivery_skip(selgw_mqtt_delivery *d, uint64_t seq, const char *why);

/* For the stopping hook: publishes a message outside the window at QoS 1 and waits up to
 * wait_ms for its acknowledgement. */
void selgw_mqtt_delivery_publish_wait(selgw_mqtt_delivery *d, const char *topic,
                                      const void *payload, size_t len, bool retain, int wait_ms);

/* Log lines: "what" as given in the options. */
const char *selgw_mqtt_delivery_what(const selgw_mqtt_delivery *d);

#endif
