/* selgw: the evidence uplink. Reads the journal from its own cursor `uplink` and publishes
 * every record's exact payload to PREFIX/GATEWAY/evidence at QoS 1 over MQTT 5
 * (sinks/uplink_msg.h: the message); the cursor advances only on the broker's PUBACK, as
 * the MQTT sink's does. A PUBACK with a reason code >= 0x80 is a refusal: the record is
 * skipped, counted and logged, not delivered. docs/ARCHIVE.md. */
#ifndef SELGW_UPLINK_SINK_H
#define SELGW_UPLINK_SINK_H

#include "config.h"
#include "base/error.h"
#include "base/health.h"
#include "journal/journal.h"
#include "sinks/sink.h"

#define SELGW_UPLINK_SINK_NAME "uplink"

typedef struct selgw_uplink_sink selgw_uplink_sink;

/* cfg is the config's `uplink` section (protocol 5, QoS 1). */
selgw_err selgw_uplink_sink_new(const selgw_mqtt_config *cfg, const char *gateway_id,
                                selgw_journal *journal, selgw_uplink_sink **out);
selgw_err selgw_uplink_sink_start(selgw_uplink_sink *s); /* its own thread */
void selgw_uplink_sink_stop(selgw_uplink_sink *s);       /* waits; the cursor is persisted */
void selgw_uplink_sink_free(selgw_uplink_sink *s);       /* stops first; NULL is fine */
/* Before start: subscribe to PREFIX/GATEWAY/witness and hand each witness statement's
 * payload to fn (the gateway checks and journals it). Without it nothing is subscribed. */
void selgw_uplink_sink_set_inbound(selgw_uplink_sink *s, selgw_sink_inbound_fn fn, void *ctx);
void selgw_uplink_sink_stats(selgw_uplink_sink *s, selgw_sink_stats *out);

#endif
