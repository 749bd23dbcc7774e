/* selgw: a listening address as the config writes it: "HOST:PORT", HOST an IPv4 address
 * or a bracketed IPv6 one ("127.0.0.1:9108", "[::1]:9108", "0.0.0.0:9108"). Numeric only:
 * a name would need the resolver at every start, and a gateway may have none. */
#ifndef SELGW_LISTEN_H
#define SELGW_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Parses text into *addr (its length in *len); false with the reason in why otherwise. */
bool selgw_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, char *why,
                        size_t why_cap);

#endif
