/* selgw: MQTT topic levels and prefixes (mqtt_topic.h). */
#include "sinks/mqtt_topic.h"

#include <string.h>

bool selgw_mqtt_topic_level_ok(const char *p, size_t len)
{
    if (!p || len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '/' || p[i] == '+' || p[i] == '#' || p[i] == '\0')
            return false;
    return true;
}

bool selgw_mqtt_topic_prefix_ok(const char *prefix)
{
    size_t len = prefix ? strlen(prefix) : 0;
    if (len == 0 || prefix[0] == '$' || prefix[0] == '/' || prefix[len - 1] == '/')
        return false;
    return strpbrk(prefix, "+#") == NULL && strstr(prefix, "//") == NULL;
}
