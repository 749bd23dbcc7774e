#include "base/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

bool selgw_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, char *why,
                        size_t why_cap)
{
    memset(addr, 0, sizeof *addr);
    char host[64];
    const char *port_text;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof host) {
            selgw_explain(why, why_cap, "\"%s\" is not [IPV6]:PORT", text);
            return false;
        }
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = '\0';
        port_text = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof host) {
            selgw_explain(why, why_cap, "\"%s\" is not ADDRESS:PORT (e.g. 127.0.0.1:9108)", text);
            return false;
        }
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
    }
    char *end = NULL;
    long port = strtol(port_text, &end, 10);
    if (!*port_text || *end || port < 1 || port > 65535) {
        selgw_explain(why, why_cap, "\"%s\": the port must be a number from 1 to 65535", text);
        return false;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (text[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return true;
    }
    if (text[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return true;
    }
    selgw_explain(why, why_cap,
                  "\"%s\": the address must be numeric (127.0.0.1, 0.0.0.0 or [::1]), not a name",
                  text);
    return false;
}
