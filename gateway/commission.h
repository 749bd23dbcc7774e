/* selgw: commissioning, what an operator does with a laptop on the bus before a device
 * goes into a config: list the profiles, scan a line for devices, read one device once,
 * give a new probe its own unit id.
 *
 * Every bus access goes through the poller's own parts (poll/transport.h for the link,
 * sensors/plan.h and sensors/decode.h for the reads and the values): commissioning sees a
 * device exactly as the gateway will. Output goes to stdout, progress and refusals to
 * stderr; each command returns the process's exit status. */
#ifndef SELGW_COMMISSION_H
#define SELGW_COMMISSION_H

#include <stdbool.h>

#include "config.h"
#include "sensors/profile.h"

/* Where a device is, as given on the command line (all text, as typed; checked by the
 * commands, which say what is wrong). */
typedef struct selgw_link_options {
    const char *tcp;     /* HOST:PORT */
    const char *serial;  /* /dev/ttyX */
    const char *baud;    /* read and set-address: N; scan: N[,N...] (default: all common) */
    const char *parity;  /* read and set-address: N|E|O; scan: a list (default: N,E,O) */
    const char *timeout; /* response timeout in milliseconds */
} selgw_link_options;

typedef struct selgw_profiles_options {
    const char *config_path; /* its profiles_dir adds the site's profiles */
    const char *name;        /* NULL: the list */
} selgw_profiles_options;

typedef struct selgw_read_options {
    const char *config_path;
    const char *device; /* a device id of the config */
    selgw_link_options link;
    const char *unit, *profile;
    bool raw;
} selgw_read_options;

typedef struct selgw_scan_options {
    const char *config_path;
    selgw_link_options link;
    const char *units; /* A-B, default 1-247 */
} selgw_scan_options;

typedef struct selgw_set_address_options {
    const char *config_path;
    selgw_link_options link;
    const char *unit, *profile;
    const char *new_unit, *new_baud;
} selgw_set_address_options;

/* cfg may be NULL (the shipped profiles only): the commands that take -c get it loaded. */
int selgw_commission_profiles(const selgw_config *cfg, const selgw_profiles_options *opt);
int selgw_commission_read(const selgw_config *cfg, const selgw_read_options *opt);
int selgw_commission_scan(const selgw_config *cfg, const selgw_scan_options *opt);
int selgw_commission_set_address(const selgw_config *cfg, const selgw_set_address_options *opt);

#endif
