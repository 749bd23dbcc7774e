/* selgw: files compiled into the binary (shipped sensor profiles, the demo config).
 * The arrays are generated at build time by cmake/embed.cmake. */
#ifndef SELGW_EMBEDDED_H
#define SELGW_EMBEDDED_H

#include <stddef.h>

struct selgw_embedded_file {
    const char *name; /* file name without directory, e.g. "cwt-soil-thc-s.yaml" */
    const char *data; /* contents, NUL-terminated */
    size_t size;      /* without the terminating NUL */
};

/* the *.yaml files of sensors/profiles, sorted by name */
extern const struct selgw_embedded_file selgw_embedded_profiles[];
extern const size_t selgw_embedded_profiles_count;

/* config/demo.yaml */
extern const struct selgw_embedded_file selgw_embedded_demo[];
extern const size_t selgw_embedded_demo_count;

/* dashboards/i18n.json: the names of fields, units and crops in zh and en */
extern const struct selgw_embedded_file selgw_embedded_i18n[];
extern const size_t selgw_embedded_i18n_count;

#endif
