/* selgw: files compiled into the binary (shipped sensor profiles, the demo config, the
 * dashboard's pages and scripts). The arrays are generated at build time by
 * cmake/embed.cmake. */
#ifndef SELGW_EMBEDDED_H
#define SELGW_EMBEDDED_H

#include <stddef.h>

struct selgw_embedded_file {
    const char *name;         /* file name without directory, e.g. "cwt-soil-thc-s.yaml" */
    const char *data;         /* contents, NUL-terminated */
    size_t size;              /* without the terminating NUL */
    const char *content_type; /* from the extension: "text/css; charset=utf-8" */
    const char *etag;         /* an HTTP entity tag, quoted: the start of its SHA-256 */
};

/* the *.yaml files of sensors/profiles, sorted by name */
extern const struct selgw_embedded_file selgw_embedded_profiles[];
extern const size_t selgw_embedded_profiles_count;

/* config/demo.yaml */
extern const struct selgw_embedded_file selgw_embedded_demo[];
extern const size_t selgw_embedded_demo_count;

/* the gateway's own dashboard: the files of dashboards/gateway and Debian's dygraph.min.js and
 * dygraph.min.css (libjs-dygraphs), served by gateway/http/pages.c */
extern const struct selgw_embedded_file selgw_embedded_web[];
extern const size_t selgw_embedded_web_count;

#endif
