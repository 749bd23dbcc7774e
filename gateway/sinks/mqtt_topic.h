/* selgw: what may stand in an MQTT topic the sinks publish on (the MQTT sink's and the
 * evidence uplink's). Pure. The config already refuses such prefixes and ids with their
 * position (config.c, OPT_TOPIC); these checks keep a topic built from a record's own names
 * (a device or plot id) from gaining levels or wildcards. */
#ifndef SELGW_MQTT_TOPIC_H
#define SELGW_MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/* One level: not empty, no '/', '+', '#' or NUL. */
bool selgw_mqtt_topic_level_ok(const char *p, size_t len);

/* The operator's prefix: several levels ("farm/selgw"), none empty (no leading, trailing or
 * doubled '/'), no wildcard, no leading '$' (topics the broker reserves, like $SYS). */
bool selgw_mqtt_topic_prefix_ok(const char *prefix);

#endif
