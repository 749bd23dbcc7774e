/* selgw: the evidence uplink's MQTT message. See uplink_msg.h and docs/ARCHIVE.md. */
#include "sinks/uplink_msg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/mqtt_topic.h"

static size_t finish(int n, char *buf, size_t cap)
{
    if (n < 0 || n > 65535) {
        if (cap > 0)
            buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

/* PREFIX/GATEWAY/LEAF */
static size_t gateway_topic(const char *prefix, const char *gateway, const char *leaf, char *buf,
                            size_t cap)
{
    if (!selgw_mqtt_topic_prefix_ok(prefix) || !gateway ||
        !selgw_mqtt_topic_level_ok(gateway, strlen(gateway))) {
        if (cap > 0)
            buf[0] = '\0';
        return 0;
    }
    return finish(snprintf(buf, cap, "%s/%s/%s", prefix, gateway, leaf), buf, cap);
}

size_t selgw_uplink_topic(const char *prefix, const char *gateway, char *buf, size_t cap)
{
    return gateway_topic(prefix, gateway, SELGW_UPLINK_TOPIC_LEAF, buf, cap);
}

size_t selgw_uplink_witness_topic(const char *prefix, const char *gateway, char *buf, size_t cap)
{
    return gateway_topic(prefix, gateway, SELGW_UPLINK_WITNESS_LEAF, buf, cap);
}

size_t selgw_uplink_filter(const char *group, const char *prefix, char *buf, size_t cap)
{
    if (!selgw_mqtt_topic_prefix_ok(prefix) || !group ||
        !selgw_mqtt_topic_level_ok(group, strlen(group))) {
        if (cap > 0)
            buf[0] = '\0';
        return 0;
    }
    return finish(snprintf(buf, cap, "$share/%s/%s/+/%s", group, prefix, SELGW_UPLINK_TOPIC_LEAF),
                  buf, cap);
}

size_t selgw_uplink_topic_gateway(const char *topic, const char *prefix, const char **gateway)
{
    *gateway = NULL;
    if (!topic || !selgw_mqtt_topic_prefix_ok(prefix))
        return 0;
    size_t plen = strlen(prefix);
    if (strncmp(topic, prefix, plen) != 0 || topic[plen] != '/')
        return 0;
    const char *start = topic + plen + 1;
    const char *slash = strchr(start, '/');
    if (!slash || strcmp(slash + 1, SELGW_UPLINK_TOPIC_LEAF) != 0)
        return 0;
    size_t len = (size_t)(slash - start);
    if (!selgw_mqtt_topic_level_ok(start, len))
        return 0;
    *gateway = start;
    return len;
}

void selgw_uplink_seq_text(uint64_t seq, char buf[SELGW_UPLINK_SEQ_TEXT_MAX])
{
    snprintf(buf, SELGW_UPLINK_SEQ_TEXT_MAX, "%llu", (unsigned long long)seq);
}

selgw_err selgw_uplink_seq_parse(const char *text, uint64_t *seq)
{
    *seq = 0;
    if (!text || text[0] < '1' || text[0] > '9')
        return SELGW_ERR_CORRUPT;
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return SELGW_ERR_CORRUPT;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return SELGW_ERR_CORRUPT;
        v = v * 10 + d;
    }
    *seq = v;
    return SELGW_OK;
}

selgw_err selgw_uplink_properties(uint64_t seq, mosquitto_property **out)
{
    *out = NULL;
    char text[SELGW_UPLINK_SEQ_TEXT_MAX];
    selgw_uplink_seq_text(seq, text);
    mosquitto_property *props = NULL;
    int rc =
        mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, SELGW_UPLINK_CONTENT_TYPE);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
                                                SELGW_UPLINK_SEQ_PROPERTY, text);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_property_free_all(&props);
        return SELGW_ERR_NOMEM;
    }
    *out = props;
    return SELGW_OK;
}

selgw_err selgw_uplink_properties_seq(const mosquitto_property *props, uint64_t *seq,
                                      const char **why)
{
    const char *unused;
    if (!why)
        why = &unused;
    *seq = 0;
    char *type = NULL;
    if (!mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &type, false)) {
        *why = "no content type";
        return SELGW_ERR_CORRUPT;
    }
    bool type_ok = strcmp(type, SELGW_UPLINK_CONTENT_TYPE) == 0;
    free(type);
    if (!type_ok) {
        *why = "content type is not " SELGW_UPLINK_CONTENT_TYPE;
        return SELGW_ERR_CORRUPT;
    }
    /* Walk every user property: exactly one selgw-seq. */
    const mosquitto_property *p = props;
    bool skip_first = false;
    int found = 0;
    uint64_t value = 0;
    bool bad = false;
    for (;;) {
        char *name = NULL, *text = NULL;
        p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &text,
                                                skip_first);
        skip_first = true;
        if (!p)
            break;
        if (name && strcmp(name, SELGW_UPLINK_SEQ_PROPERTY) == 0) {
            found++;
            if (selgw_uplink_seq_parse(text, &value) != SELGW_OK)
                bad = true;
        }
        free(name);
        free(text);
    }
    if (found != 1 || bad) {
        *why = found == 0  ? "no " SELGW_UPLINK_SEQ_PROPERTY " property"
               : found > 1 ? SELGW_UPLINK_SEQ_PROPERTY " given more than once"
                           : SELGW_UPLINK_SEQ_PROPERTY " is not a sequence number";
        return SELGW_ERR_CORRUPT;
    }
    *seq = value;
    *why = NULL;
    return SELGW_OK;
}
