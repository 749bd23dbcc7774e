#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "base/listen.h"
#include "base/log.h"
#include "base/worker.h"
#include "http/pages.h"
#include "http/render.h"

/* How long the thread waits for a connection before it looks whether it should stop: the
 * longest a stop waits for it. */
#define POLL_MS 100

struct selgw_http_server {
    struct MHD_Daemon *daemon;
    selgw_worker *worker;
    selgw_status_source_fn source;
    void *source_ctx;
};

/* What one request asked for, and what the visit of the snapshot produced. */
typedef struct answer {
    const char *url;
    unsigned status;
    const char *content_type;
    char *body;
    size_t len;
} answer;

#define LATEST "/api/v1/latest"

static void set_error(answer *a, unsigned status, const char *message)
{
    char text[256];
    int n = snprintf(text, sizeof text, "{\"error\": \"%s\"}\n", message);
    a->status = status;
    a->content_type = "application/json";
    a->body = strdup(text);
    a->len = a->body ? (size_t)n : 0;
}

static void visit(void *ctx, const selgw_status *st)
{
    answer *a = ctx;
    if (!strcmp(a->url, "/metrics")) {
        a->body = selgw_render_metrics(st, &a->len);
        a->content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (!strcmp(a->url, "/api/v1/status")) {
        a->body = selgw_render_status_json(st);
        a->content_type = "application/json";
    } else {
        const char *device = NULL;
        if (a->url[strlen(LATEST)] == '/')
            device = a->url + strlen(LATEST) + 1;
        a->content_type = "application/json";
        if (selgw_render_latest_json(st, device, &a->body) == SELGW_ERR_NOT_FOUND) {
            char message[160];
            snprintf(message, sizeof message, "no device %.100s in the running configuration",
                     device);
            /* the id came from the URL: only safe characters go into the JSON text */
            for (char *c = message; *c; c++)
                if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
                    *c = '?';
            set_error(a, MHD_HTTP_NOT_FOUND, message);
            return;
        }
    }
    if (a->body && a->content_type[0] == 'a')
        a->len = strlen(a->body);
    a->status = a->body ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static bool known_path(const char *url)
{
    size_t n = strlen(LATEST);
    return !strcmp(url, "/metrics") || !strcmp(url, "/api/v1/status") || !strcmp(url, LATEST) ||
           (!strncmp(url, LATEST, n) && url[n] == '/' && url[n + 1] && !strchr(url + n + 1, '/'));
}

/* The dashboard's pages and assets (http/pages.h): static answers, no snapshot needed.
 * Returns false for the API's paths (and for anything but a plain GET or HEAD), which
 * handle() answers. */
static bool dashboard(struct MHD_Connection *connection, const char *url, const char *method,
                      size_t upload_size, enum MHD_Result *rc)
{
    selgw_page_answer page;
    if ((strcmp(method, "GET") && strcmp(method, "HEAD")) || upload_size ||
        !selgw_pages_route(
            url,
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
            &page))
        return false;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(page.size, (void *)page.data, MHD_RESPMEM_PERSISTENT);
    if (!response) {
        *rc = MHD_NO;
        return true;
    }
    if (page.content_type)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, page.content_type);
    if (page.etag)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ETAG, page.etag);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, page.cache_control);
    MHD_add_response_header(response, "Content-Security-Policy", SELGW_PAGES_CSP);
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
    *rc = MHD_queue_response(connection, page.status, response);
    MHD_destroy_response(response);
    return true;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    selgw_http_server *s = cls;
    enum MHD_Result page_rc;
    if (dashboard(connection, url, method, *upload_data_size, &page_rc))
        return page_rc;
    answer a = {.url = url, .status = MHD_HTTP_INTERNAL_SERVER_ERROR};
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        set_error(&a, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET: the API never changes anything");
    } else if (*upload_data_size) {
        set_error(&a, MHD_HTTP_BAD_REQUEST, "a GET has no body");
    } else if (!known_path(url)) {
        set_error(&a, MHD_HTTP_NOT_FOUND,
                  "no such path; there are /metrics, /api/v1/status, /api/v1/latest and "
                  "/api/v1/latest/DEVICE");
    } else if (!s->source(s->source_ctx, visit, &a)) {
        set_error(&a, MHD_HTTP_SERVICE_UNAVAILABLE, "the gateway is not running");
    }
    if (!a.body)
        set_error(&a, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    struct MHD_Response *response =
        a.body ? MHD_create_response_from_buffer(a.len, a.body, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!response) {
        free(a.body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, a.content_type);
    if (a.status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(connection, a.status, response);
    MHD_destroy_response(response);
    return rc;
}

static void server_thread(void *arg)
{
    selgw_http_server *s = arg;
    while (!selgw_worker_stopping(s->worker)) {
        fd_set rs, ws, es;
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        FD_ZERO(&es);
        MHD_socket max = 0;
        if (MHD_get_fdset(s->daemon, &rs, &ws, &es, &max) != MHD_YES) {
            selgw_log(SELGW_LOG_ERROR, "HTTP API: cannot wait for connections; it stops");
            return;
        }
        struct timeval tv = {0, POLL_MS * 1000};
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        if (MHD_get_timeout(s->daemon, &mhd_ms) == MHD_YES && mhd_ms < POLL_MS)
            tv.tv_usec = (suseconds_t)mhd_ms * 1000;
        if (select(max + 1, &rs, &ws, &es, &tv) < 0 && errno != EINTR) {
            selgw_log(SELGW_LOG_ERROR, "HTTP API: select: %s; it stops", strerror(errno));
            return;
        }
        MHD_run_from_select(s->daemon, &rs, &ws, &es);
    }
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char text[256];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n')
        text[--n] = '\0';
    selgw_log(SELGW_LOG_DEBUG, "HTTP API: %s", text);
}

selgw_err selgw_http_server_new(const char *listen, selgw_status_source_fn source, void *source_ctx,
                                selgw_http_server **out, char *why, size_t why_cap)
{
    *out = NULL;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (!selgw_parse_listen(listen, &addr, &addr_len, why, why_cap))
        return SELGW_ERR_INVALID;
    selgw_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    s->source = source;
    s->source_ctx = source_ctx;
    selgw_err err = selgw_worker_new(&s->worker);
    if (err != SELGW_OK) {
        free(s);
        return err;
    }
    unsigned flags = MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* The port is given again (MHD checks it against the address's). */
    uint16_t port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&addr)->sin_port);
    errno = 0;
    s->daemon = MHD_start_daemon(flags, port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
                                 NULL, MHD_OPTION_CONNECTION_LIMIT, 16u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!s->daemon) {
        int e = errno;
        selgw_worker_free(s->worker);
        free(s);
        selgw_explain(why, why_cap, "cannot listen on %s: %s", listen,
                      e ? strerror(e) : "the address is taken or not on this machine");
        return SELGW_ERR_IO;
    }
    err = selgw_worker_start(s->worker, server_thread, s);
    if (err != SELGW_OK) {
        selgw_http_server_free(s);
        return err;
    }
    *out = s;
    return SELGW_OK;
}

void selgw_http_server_free(selgw_http_server *s)
{
    if (!s)
        return;
    selgw_worker_free(s->worker); /* stops and joins the thread first */
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    free(s);
}
