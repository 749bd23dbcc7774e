/* selgw: the MQTT sink. Reads the journal from its cursor and publishes every record; the
 * cursor advances only when the broker has acknowledged (PUBACK; with MQTT 5 a reason code
 * >= 0x80 is a refusal, not a delivery). A bounded window of messages is in flight, fed
 * from the journal, so that the library's unbounded queue never holds what the journal
 * already holds. Nothing is published twice by the gateway's own doing: messages in
 * flight across a reconnect are resent by libmosquitto, not by us; only when the client is
 * recreated (the library gave up on TLS, auth or DNS) is the unacknowledged window read
 * from the journal again.
 *
 * Topics: readings go to <prefix>/<base>/<plot>/<device> with the record's JSON as payload
 * (sequence number, time, tags, households, fields); alerts to
 * <prefix>/<base>/<plot>/alert/<rule>/<device>, retained while active (a clear publishes its
 * JSON, then an empty retained message; the cursor passes it when both are acknowledged);
 * <prefix>/<gateway>/status is retained "online" after connecting and set to "offline" by
 * the will. */
#ifndef SELGW_MQTT_SINK_H
#define SELGW_MQTT_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "base/error.h"
#include "journal/journal.h"
#include "journal/record.h"
#include "sinks/sink.h"

#define SELGW_MQTT_SINK_NAME "mqtt"

typedef struct selgw_mqtt_sink selgw_mqtt_sink;

selgw_err selgw_mqtt_sink_new(const selgw_mqtt_config *cfg, const char *gateway_id,
                              selgw_journal *journal, selgw_mqtt_sink **out);
selgw_err selgw_mqtt_sink_start(selgw_mqtt_sink *s); /* its own thread */
void selgw_mqtt_sink_stop(selgw_mqtt_sink *s);       /* waits for the thread */
void selgw_mqtt_sink_free(selgw_mqtt_sink *s);       /* stops first; NULL is fine */

void selgw_mqtt_sink_stats(selgw_mqtt_sink *s, selgw_sink_stats *out);

/* <prefix>/<base>/<plot>/<device> for a reading, <prefix>/<base>/<plot>/alert/<rule>/<device>
 * for an alert, <prefix>/<gateway>/event for other records, snprintf-style; 0 when a level
 * would be empty or hold '/', '+', '#' or NUL. Pure. */
size_t selgw_mqtt_topic(const char *prefix, const selgw_record *rec, char *buf, size_t cap);

#endif
