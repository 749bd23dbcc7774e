#include "http/pages.h"

#include <string.h>

#include "base/embedded.h"

#define SHELL "index.html"
#define ASSETS "/assets/"
#define PLOT "/plot/"

static const struct selgw_embedded_file *find(const char *name)
{
    for (size_t i = 0; i < selgw_embedded_web_count; i++)
        if (!strcmp(selgw_embedded_web[i].name, name))
            return &selgw_embedded_web[i];
    return NULL;
}

/* The API's paths are the server's own; everything else is the dashboard's. */
static bool is_api(const char *url)
{
    return !strcmp(url, "/metrics") || !strcmp(url, "/api") || !strncmp(url, "/api/", 5);
}

static bool is_page(const char *url)
{
    if (!strcmp(url, "/") || !strcmp(url, "/devices") || !strcmp(url, "/delivery"))
        return true;
    size_t n = strlen(PLOT);
    return !strncmp(url, PLOT, n) && url[n] && !strchr(url + n, '/');
}

/* An asset by its name; the shell is a page, not an asset. */
static const struct selgw_embedded_file *asset(const char *url)
{
    size_t n = strlen(ASSETS);
    if (strncmp(url, ASSETS, n) || !url[n] || strchr(url + n, '/') || !strcmp(url + n, SHELL))
        return NULL;
    return find(url + n);
}

/* RFC 9110: If-None-Match is "*" or a list of entity tags (weak ones compare too). */
static bool etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return false;
    if (!strcmp(if_none_match, "*"))
        return true;
    size_t n = strlen(etag);
    for (const char *p = strstr(if_none_match, etag); p; p = strstr(p + 1, etag)) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ' || after == '\t')
            return true;
    }
    return false;
}

bool selgw_pages_route(const char *url, const char *if_none_match, selgw_page_answer *out)
{
    *out = (selgw_page_answer){0};
    if (is_api(url))
        return false;
    const struct selgw_embedded_file *f = is_page(url) ? find(SHELL) : asset(url);
    if (!f) {
        /* the shell again, with 404: its script says "no such page" in the reader's
         * language; never cached, so the page that appears later at that path is seen */
        f = find(SHELL);
        if (!f)
            return false; /* a build without pages: the server's own 404 */
        *out = (selgw_page_answer){404, f->content_type, f->data, f->size, NULL, "no-store"};
        return true;
    }
    if (etag_matches(if_none_match, f->etag)) {
        *out = (selgw_page_answer){304, NULL, NULL, 0, f->etag, "no-cache"};
        return true;
    }
    *out = (selgw_page_answer){200, f->content_type, f->data, f->size, f->etag, "no-cache"};
    return true;
}
