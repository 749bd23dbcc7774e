/* selgw: the evidence uplink's MQTT message (docs/ARCHIVE.md, "Message"), the one
 * definition that the gateway's uplink sink writes and `selgw archive` reads.
 *
 * A message is one journal record: the topic PREFIX/GATEWAY/evidence, the payload the
 * record's exact bytes as journaled (RECORD.md), and two MQTT 5 properties: the content
 * type application/vnd.selgw.record and the user property ("selgw-seq", the record's
 * journal sequence number in decimal). The sequence number is not in the payload, which
 * stays byte for byte what the chain hashes. Pure, but for the property list, which is
 * libmosquitto's. */
#ifndef SELGW_UPLINK_MSG_H
#define SELGW_UPLINK_MSG_H

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define SELGW_UPLINK_CONTENT_TYPE "application/vnd.selgw.record"
#define SELGW_UPLINK_SEQ_PROPERTY "selgw-seq"
#define SELGW_UPLINK_TOPIC_LEAF "evidence"

/* PREFIX/GATEWAY/evidence, snprintf-style; 0 when the prefix is empty, begins with '$' or
 * '/', ends with '/' or holds a wildcard, or when the gateway id is empty or holds '/',
 * '+', '#'. */
size_t selgw_uplink_topic(const char *prefix, const char *gateway, char *buf, size_t cap);

/* The subscription of an archive: $share/GROUP/PREFIX/+/evidence, snprintf-style; 0 as
 * above, or when the group is empty or holds '/', '+', '#'. */
/* PREFIX/GATEWAY/witness: where a witness (the archive) publishes its countersignatures of
 * the gateway's seals, and where the gateway's uplink subscribes (docs/ARCHIVE.md, "The
 * archive as a witness"). Same convention as selgw_uplink_topic. */
#define SELGW_UPLINK_WITNESS_LEAF "witness"
#define SELGW_UPLINK_WITNESS_CONTENT_TYPE "application/vnd.selgw.witness"
size_t selgw_uplink_witness_topic(const char *prefix, const char *gateway, char *buf, size_t cap);

size_t selgw_uplink_filter(const char *group, const char *prefix, char *buf, size_t cap);

/* The gateway id in a topic PREFIX/GATEWAY/evidence: its start and length, or 0 when the
 * topic is not of that form for this prefix. */
size_t selgw_uplink_topic_gateway(const char *topic, const char *prefix, const char **gateway);

/* The decimal text of seq (no sign, no leading zeros) into buf (21 bytes), and back:
 * SELGW_ERR_CORRUPT for anything but 1..UINT64_MAX written so. */
#define SELGW_UPLINK_SEQ_TEXT_MAX 21
void selgw_uplink_seq_text(uint64_t seq, char buf[SELGW_UPLINK_SEQ_TEXT_MAX]);
selgw_err selgw_uplink_seq_parse(const char *text, uint64_t *seq);

/* The properties of the message for seq: content type and the seq user property. The
 * caller frees them with mosquitto_property_free_all. SELGW_ERR_NOMEM. */
selgw_err selgw_uplink_properties(uint64_t seq, mosquitto_property **out);

/* The sequence number a message's properties carry: SELGW_ERR_CORRUPT when the content
 * type is not SELGW_UPLINK_CONTENT_TYPE or the seq property is absent, given twice or not
 * a sequence number. why (may be NULL) says which. */
selgw_err selgw_uplink_properties_seq(const mosquitto_property *props, uint64_t *seq,
                                      const char **why);

#endif
