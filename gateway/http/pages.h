/* selgw: the gateway's own dashboard, as answers of the HTTP server (docs/DASHBOARD.md).
 *
 * The pages, their style, scripts and translations, and Debian's dygraphs are compiled into
 * the binary (base/embedded.h); every page route answers the same small shell page, whose
 * script draws the page from the read-only JSON API. Pure: an URL in, a static answer out,
 * nothing allocated. */
#ifndef SELGW_HTTP_PAGES_H
#define SELGW_HTTP_PAGES_H

#include <stdbool.h>
#include <stddef.h>

/* script-src 'self': no inline script, nothing from another origin, no eval; the pages
 * insert every text as text, and this is the second line of defence. */
#define SELGW_PAGES_CSP                                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

typedef struct selgw_page_answer {
    unsigned status;           /* 200, 304 (not modified) or 404 */
    const char *content_type;  /* NULL with 304 */
    const char *data;          /* static, never freed; NULL with 304 */
    size_t size;               /* 0 with 304 */
    const char *etag;          /* quoted entity tag, or NULL */
    const char *cache_control; /* "no-cache" (revalidate with the etag) or "no-store" */
} selgw_page_answer;

/* Whether url belongs to the dashboard, and then its answer: the pages "/", "/devices",
 * "/delivery" and "/plot/PLOT" (the shell page), "/assets/NAME" (an embedded file), and
 * the 404 page for every other path that is not the API ("/api/..." and "/metrics", which
 * return false). if_none_match is the request's If-None-Match header or NULL: a matching
 * entity tag gives 304. */
bool selgw_pages_route(const char *url, const char *if_none_match, selgw_page_answer *out);

#endif
