#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/listen.h"
#include "base/log.h"
#include "base/text_writer.h"
#include "base/worker.h"
#include "http/auth.h"
#include "http/pages.h"
#include "http/render.h"

struct selgw_http_server {
    struct MHD_Daemon *daemon;
    selgw_worker *worker;
    /* Made readable to stop the thread. It used to wake every 100 ms to look whether it
     * should stop: 10 wake-ups a second while nobody asks anything (docs/BENCHMARKS.md);
     * now it sleeps until a connection, libmicrohttpd's own timeout, or this. */
    int stop_fd;
    selgw_status_source_fn source;
    void *source_ctx;
    selgw_history_source history; /* history NULL: none */
    selgw_http_auth *auth;        /* NULL: no password */
    char *tls_cert, *tls_key;     /* PEM, kept while the daemon runs */
    size_t tls_key_len;
};

/* What a request asks for. */
typedef enum route_kind {
    ROUTE_NONE,
    ROUTE_METRICS,
    ROUTE_STATUS,
    ROUTE_LATEST, /* arg: a device, or "" for every device */
    ROUTE_PLOTS,
    ROUTE_PLOT_HISTORY, /* arg: the plot */
    ROUTE_PLOT_NOTES,
} route_kind;

/* Longest id the URL may name (the config's ids are shorter: SELGW_ID_MAX). */
#define URL_ID_MAX 128

typedef struct route {
    route_kind kind;
    char arg[URL_ID_MAX + 1];
} route;

/* What one request asked for, and what the visit of the snapshot produced. */
typedef struct answer {
    route route;
    unsigned status;
    const char *content_type;
    char *body;
    size_t len;
} answer;

#define LATEST "/api/v1/latest"
#define PLOTS "/api/v1/plots"
#define JSON_TYPE "application/json"

/* The id in url after prefix "/" up to the next '/' or the end: its length, or 0 when
 * there is none or it is too long. *rest points after it. */
static size_t url_id(const char *url, const char **rest)
{
    size_t n = strcspn(url, "/");
    *rest = url + n;
    return n <= URL_ID_MAX ? n : 0;
}

static route parse_route(const char *url)
{
    route r = {ROUTE_NONE, ""};
    size_t latest = strlen(LATEST), plots = strlen(PLOTS);
    const char *rest;
    if (!strcmp(url, "/metrics")) {
        r.kind = ROUTE_METRICS;
    } else if (!strcmp(url, "/api/v1/status")) {
        r.kind = ROUTE_STATUS;
    } else if (!strcmp(url, LATEST)) {
        r.kind = ROUTE_LATEST;
    } else if (!strncmp(url, LATEST "/", latest + 1)) {
        size_t n = url_id(url + latest + 1, &rest);
        if (n && !*rest) {
            r.kind = ROUTE_LATEST;
            memcpy(r.arg, url + latest + 1, n);
            r.arg[n] = '\0';
        }
    } else if (!strcmp(url, PLOTS)) {
        r.kind = ROUTE_PLOTS;
    } else if (!strncmp(url, PLOTS "/", plots + 1)) {
        size_t n = url_id(url + plots + 1, &rest);
        if (n && (!strcmp(rest, "/history") || !strcmp(rest, "/notes"))) {
            r.kind = rest[1] == 'h' ? ROUTE_PLOT_HISTORY : ROUTE_PLOT_NOTES;
            memcpy(r.arg, url + plots + 1, n);
            r.arg[n] = '\0';
        }
    }
    return r;
}

/* {"error": message}: the message may quote what the URL said (escaped here). */
static void set_error(answer *a, unsigned status, const char *message)
{
    size_t need = 0;
    selgw_text_bytes(NULL, 0, &need, "{\"error\": ", 10);
    selgw_json_string(NULL, 0, &need, message);
    need += 2;
    free(a->body);
    a->body = malloc(need + 1);
    a->status = status;
    a->content_type = JSON_TYPE;
    a->len = 0;
    if (!a->body)
        return;
    selgw_text_bytes(a->body, need + 1, &a->len, "{\"error\": ", 10);
    selgw_json_string(a->body, need + 1, &a->len, message);
    selgw_text_bytes(a->body, need + 1, &a->len, "}\n", 2);
}

static void visit(void *ctx, const selgw_status *st)
{
    answer *a = ctx;
    a->content_type = JSON_TYPE;
    switch (a->route.kind) {
    case ROUTE_METRICS:
        a->body = selgw_render_metrics(st, &a->len);
        a->content_type = "text/plain; version=0.0.4; charset=utf-8";
        break;
    case ROUTE_STATUS:
        a->body = selgw_render_status_json(st);
        break;
    case ROUTE_PLOTS:
        a->body = selgw_render_plots_json(st);
        break;
    default: {
        const char *device = a->route.arg[0] ? a->route.arg : NULL;
        if (selgw_render_latest_json(st, device, &a->body) == SELGW_ERR_NOT_FOUND) {
            char message[200];
            snprintf(message, sizeof message, "no device %s in the running configuration", device);
            set_error(a, MHD_HTTP_NOT_FOUND, message);
            return;
        }
    }
    }
    if (a->body && a->route.kind != ROUTE_METRICS)
        a->len = strlen(a->body);
    a->status = a->body ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static void visit_history(void *ctx, const selgw_history *h)
{
    answer *a = ctx;
    a->body = selgw_render_history_json(h);
    a->len = a->body ? strlen(a->body) : 0;
    a->content_type = JSON_TYPE;
    a->status = a->body ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static void visit_notes(void *ctx, const selgw_notes *n)
{
    answer *a = ctx;
    a->body = selgw_render_notes_json(n);
    a->len = a->body ? strlen(a->body) : 0;
    a->content_type = JSON_TYPE;
    a->status = a->body ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* /api/v1/plots/PLOT/history and /notes: from the journal, through the history source. */
static void answer_plot(selgw_http_server *s, struct MHD_Connection *connection, answer *a)
{
    const char *period = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "period");
    const char *from = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "from");
    const char *to = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "to");
    bool history = a->route.kind == ROUTE_PLOT_HISTORY;
    selgw_history_query q = {.plot = a->route.arg};
    char why[160];
    if (selgw_history_period(period, from, to, history ? "24h" : "30d", selgw_utc_ns(), &q, why,
                             sizeof why) != SELGW_OK) {
        set_error(a, MHD_HTTP_BAD_REQUEST, why);
        return;
    }
    if (!s->history.history) {
        set_error(a, MHD_HTTP_SERVICE_UNAVAILABLE, "this gateway has no history to serve");
        return;
    }
    selgw_err err = history ? s->history.history(s->history.ctx, &q, visit_history, a)
                            : s->history.notes(s->history.ctx, &q, visit_notes, a);
    if (err == SELGW_ERR_NOT_FOUND) {
        char message[200];
        snprintf(message, sizeof message, "no plot %s in the running configuration", a->route.arg);
        set_error(a, MHD_HTTP_NOT_FOUND, message);
    } else if (err != SELGW_OK) {
        char message[200];
        snprintf(message, sizeof message, "the journal could not be read: %s", selgw_strerror(err));
        set_error(a,
                  err == SELGW_ERR_NOMEM ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                         : MHD_HTTP_SERVICE_UNAVAILABLE,
                  message);
    }
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

bool selgw_http_host_allowed(const char *host)
{
    if (!host)
        return true; /* HTTP/1.0: no browser sends a request without one */
    char name[64];
    size_t n;
    bool bracketed = host[0] == '[';
    if (bracketed) {
        const char *end = strchr(host, ']');
        if (!end || (end[1] && end[1] != ':'))
            return false;
        n = (size_t)(end - host - 1);
        host++;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
    }
    if (n == 0 || n >= sizeof name)
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    unsigned char addr[sizeof(struct in6_addr)];
    if (bracketed)
        return inet_pton(AF_INET6, name, addr) == 1;
    if (n > 0 && name[n - 1] == '.')
        name[--n] = '\0'; /* "localhost." is localhost */
    return !strcasecmp(name, "localhost") || inet_pton(AF_INET, name, addr) == 1;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    selgw_http_server *s = cls;
    /* without a password, a name that is not this machine's address or localhost: a page
     * of another site that rebinds its name here (selgw_http_host_allowed) */
    bool misdirected = !s->auth && !selgw_http_host_allowed(MHD_lookup_connection_value(
                                       connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST));
    /* one check of the password (a wrong one costs a slow verify): the pages need it too */
    bool unauthorized =
        s->auth &&
        !selgw_http_auth_check(s->auth, MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                                    MHD_HTTP_HEADER_AUTHORIZATION));
    enum MHD_Result page_rc;
    if (!unauthorized && !misdirected &&
        dashboard(connection, url, method, *upload_data_size, &page_rc))
        return page_rc;
    answer a = {.route = parse_route(url), .status = MHD_HTTP_INTERNAL_SERVER_ERROR};
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        set_error(&a, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET: the API never changes anything");
    } else if (*upload_data_size) {
        set_error(&a, MHD_HTTP_BAD_REQUEST, "a GET has no body");
    } else if (misdirected) {
        set_error(&a, MHD_HTTP_MISDIRECTED_REQUEST,
                  "this gateway answers by its address or localhost only, not by a name, "
                  "unless it has a password (http.password_hash): a guard against DNS "
                  "rebinding");
    } else if (unauthorized) {
        set_error(&a, MHD_HTTP_UNAUTHORIZED, "this gateway's API needs its password");
    } else if (a.route.kind == ROUTE_NONE) {
        set_error(&a, MHD_HTTP_NOT_FOUND,
                  "no such path; there are /metrics, /api/v1/status, /api/v1/latest, "
                  "/api/v1/latest/DEVICE, /api/v1/plots, /api/v1/plots/PLOT/history and "
                  "/api/v1/plots/PLOT/notes");
    } else if (a.route.kind == ROUTE_PLOT_HISTORY || a.route.kind == ROUTE_PLOT_NOTES) {
        answer_plot(s, connection, &a);
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
    /* read-only data of the moment: no cache may keep it; and a browser takes it for the
     * type it says, never for a page or a script it guessed */
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    if (a.status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (unauthorized)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"selgw\", charset=\"UTF-8\"");
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
        /* The stop fd stays readable once written (it is never drained), so that a stop
         * asked for just before the worker's flag is set cannot be slept through. */
        FD_SET(s->stop_fd, &rs);
        if (s->stop_fd > max)
            max = s->stop_fd;
        struct timeval tv, *wait = NULL; /* NULL: until something happens */
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        if (MHD_get_timeout(s->daemon, &mhd_ms) == MHD_YES) {
            tv.tv_sec = (time_t)(mhd_ms / 1000);
            tv.tv_usec = (suseconds_t)(mhd_ms % 1000) * 1000;
            wait = &tv;
        }
        if (select(max + 1, &rs, &ws, &es, wait) < 0 && errno != EINTR) {
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

/* A PEM file into memory (at most 1 MiB); NULL with why when it cannot be read. */
static char *read_pem(const char *what, const char *path, size_t *len, char *why, size_t why_cap)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        selgw_explain(why, why_cap, "cannot read the TLS %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1u << 20, n = 0;
    char *buf = malloc(cap + 1);
    if (buf)
        n = fread(buf, 1, cap + 1, f);
    bool bad = !buf || ferror(f) || n > cap || n == 0;
    fclose(f);
    if (bad) {
        if (buf)
            explicit_bzero(buf, cap + 1);
        free(buf);
        selgw_explain(why, why_cap, "cannot read the TLS %s %s: %s", what, path,
                      n > cap  ? "larger than 1 MiB"
                      : n == 0 ? "empty"
                               : "read error");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* Says at start what a listener beyond loopback exposes. */
static void warn_exposure(const selgw_http_options *opt, const struct sockaddr_storage *addr)
{
    if (is_loopback(addr))
        return;
    bool password = opt->password_hash != NULL, tls = opt->tls_cert_file != NULL;
    if (!password && !tls)
        selgw_log(SELGW_LOG_WARN,
                  "HTTP API: listening on %s, beyond this machine, with neither a password nor "
                  "TLS: the dashboard is exposed to the LAN without a password (set "
                  "http.password_hash from `selgw passwd`, and http.tls_cert and http.tls_key)",
                  opt->listen);
    else if (!password)
        selgw_log(SELGW_LOG_WARN,
                  "HTTP API: listening on %s over TLS but without a password: the dashboard is "
                  "exposed to the LAN without a password (set http.password_hash from `selgw "
                  "passwd`)",
                  opt->listen);
    else if (!tls)
        selgw_log(SELGW_LOG_WARN,
                  "HTTP API: listening on %s with a password but without TLS: the password "
                  "travels in clear over the LAN (set http.tls_cert and http.tls_key)",
                  opt->listen);
}

selgw_err selgw_http_server_new(const selgw_http_options *opt, selgw_status_source_fn source,
                                void *source_ctx, const selgw_history_source *history,
                                selgw_http_server **out, char *why, size_t why_cap)
{
    *out = NULL;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (!selgw_parse_listen(opt->listen, &addr, &addr_len, why, why_cap))
        return SELGW_ERR_INVALID;
    bool tls = opt->tls_cert_file || opt->tls_key_file;
    if (tls && (!opt->tls_cert_file || !opt->tls_key_file)) {
        selgw_explain(why, why_cap, "TLS needs both a certificate and a key");
        return SELGW_ERR_INVALID;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        selgw_explain(why, why_cap,
                      "this libmicrohttpd was built without TLS (GnuTLS): https cannot be "
                      "served; install a libmicrohttpd with TLS or remove http.tls_cert and "
                      "http.tls_key");
        return SELGW_ERR_INVALID;
    }
    selgw_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return SELGW_ERR_NOMEM;
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->stop_fd < 0 || s->stop_fd >= FD_SETSIZE) {
        selgw_explain(why, why_cap, "cannot make the HTTP API's stop signal: %s",
                      s->stop_fd < 0 ? strerror(errno) : "too many open files for select");
        selgw_http_server_free(s);
        return SELGW_ERR_IO;
    }
    s->source = source;
    s->source_ctx = source_ctx;
    if (history)
        s->history = *history;
    selgw_err err = SELGW_OK;
    if (opt->password_hash && (err = selgw_http_auth_new(opt->password_hash, &s->auth))) {
        if (err == SELGW_ERR_INVALID)
            selgw_explain(why, why_cap,
                          "the password hash is not a crypto_pwhash_str string "
                          "(make one with selgw passwd)");
        selgw_http_server_free(s);
        return err;
    }
    size_t cert_len = 0;
    if (tls &&
        (!(s->tls_cert = read_pem("certificate", opt->tls_cert_file, &cert_len, why, why_cap)) ||
         !(s->tls_key = read_pem("key", opt->tls_key_file, &s->tls_key_len, why, why_cap)))) {
        selgw_http_server_free(s);
        return SELGW_ERR_IO;
    }
    if ((err = selgw_worker_new(&s->worker)) != SELGW_OK) {
        selgw_http_server_free(s);
        return err;
    }
    unsigned flags = MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                     (tls ? MHD_USE_TLS : 0);
    /* The port is given again (MHD checks it against the address's). */
    uint16_t port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&addr)->sin_port);
    errno = 0;
    if (tls)
        s->daemon = MHD_start_daemon(
            flags, port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
            MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL, MHD_OPTION_CONNECTION_LIMIT, 16u,
            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert,
            MHD_OPTION_HTTPS_MEM_KEY, s->tls_key, MHD_OPTION_END);
    else
        s->daemon = MHD_start_daemon(flags, port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                                     (struct sockaddr *)&addr, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
                                     NULL, MHD_OPTION_CONNECTION_LIMIT, 16u,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!s->daemon) {
        int e = errno;
        selgw_http_server_free(s);
        selgw_explain(why, why_cap, "cannot listen on %s: %s", opt->listen,
                      e     ? strerror(e)
                      : tls ? "the address is taken or not on this machine, or the TLS "
                              "certificate and key are not a matching PEM pair"
                            : "the address is taken or not on this machine");
        return SELGW_ERR_IO;
    }
    err = selgw_worker_start(s->worker, server_thread, s);
    if (err != SELGW_OK) {
        selgw_http_server_free(s);
        return err;
    }
    warn_exposure(opt, &addr);
    *out = s;
    return SELGW_OK;
}

void selgw_http_server_free(selgw_http_server *s)
{
    if (!s)
        return;
    if (s->stop_fd >= 0) {
        uint64_t one = 1;
        if (write(s->stop_fd, &one, sizeof one) < 0) /* cannot fail: the count is tiny */
            selgw_log(SELGW_LOG_ERROR, "HTTP API: cannot signal the stop: %s", strerror(errno));
    }
    selgw_worker_free(s->worker); /* stops and joins the thread first; NULL is fine */
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    selgw_http_auth_free(s->auth);
    free(s->tls_cert);
    if (s->tls_key)
        explicit_bzero(s->tls_key, s->tls_key_len);
    free(s->tls_key);
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    free(s);
}
