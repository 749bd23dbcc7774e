#include "http/client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An answer larger than this is not the API's. */
#define MAX_BODY (64u << 20)

void selgw_http_url_of_listen(const char *listen, bool tls, char *buf, size_t cap)
{
    const char *scheme = tls ? "https" : "http";
    if (!strncmp(listen, "0.0.0.0:", 8))
        snprintf(buf, cap, "%s://127.0.0.1:%s", scheme, listen + 8);
    else if (!strncmp(listen, "[::]:", 5))
        snprintf(buf, cap, "%s://[::1]:%s", scheme, listen + 5);
    else
        snprintf(buf, cap, "%s://%s", scheme, listen);
}

/* Whether the URL names this machine by a loopback address or localhost. */
static bool url_is_loopback(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    return !strncmp(host, "127.", 4) || !strncmp(host, "[::1]", 5) ||
           !strncasecmp(host, "localhost", 9);
}

typedef struct body_buf {
    char *data;
    size_t len;
    bool failed;
} body_buf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    body_buf *b = ctx;
    size_t n = size * nmemb;
    char *grown = b->len + n <= MAX_BODY ? realloc(b->data, b->len + n + 1) : NULL;
    if (!grown) {
        b->failed = true;
        return 0;
    }
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

selgw_err selgw_http_get(const char *base_url, const char *path, const char *ca_file, char **body,
                         char *why, size_t why_cap)
{
    *body = NULL;
    char url[512];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    CURL *curl = curl_easy_init();
    if (!curl)
        return SELGW_ERR_NOMEM;
    body_buf b = {0};
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* a local API: never through a proxy */
    if (ca_file) {
        /* the gateway's own certificate (http.tls_cert) is the one trusted: a self-signed one
         * works, and nothing else passes. Its name is not checked on loopback, where the URL
         * from a wildcard listen (127.0.0.1) is rarely a name the certificate carries: only
         * the holder of tls_key can present that certificate anyway */
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
        curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
        if (url_is_loopback(url))
            curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* a gateway whose API has a password (http.password_hash): the operator's environment
     * holds it, never a command line that `ps` shows */
    const char *password = getenv(SELGW_HTTP_PASSWORD_ENV);
    if (password && *password) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, "selgw");
        curl_easy_setopt(curl, CURLOPT_PASSWORD, password);
    }
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    selgw_err err = SELGW_OK;
    if (b.failed) {
        err = SELGW_ERR_NOMEM;
        selgw_explain(why, why_cap, "%s: the answer is too large", url);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        err = SELGW_ERR_TIMEOUT;
        selgw_explain(why, why_cap, "%s: no answer in time", url);
    } else if (rc != CURLE_OK) {
        err = SELGW_ERR_CONNECT;
        selgw_explain(why, why_cap, "%s: %s", url, error[0] ? error : curl_easy_strerror(rc));
    } else if (status == 401) {
        err = SELGW_ERR_AUTH;
        selgw_explain(why, why_cap, "%s: the API needs its password%s", url,
                      password && *password ? " (" SELGW_HTTP_PASSWORD_ENV " is not it)"
                                            : ": set " SELGW_HTTP_PASSWORD_ENV);
    } else if (status != 200) {
        err = SELGW_ERR_SERVER;
        selgw_explain(why, why_cap, "%s: HTTP %ld%s%s", url, status, b.data ? ": " : "",
                      b.data ? b.data : "");
    }
    if (err != SELGW_OK) {
        free(b.data);
        return err;
    }
    *body = b.data ? b.data : strdup("");
    return *body ? SELGW_OK : SELGW_ERR_NOMEM;
}

/* ---- the table ------------------------------------------------------------------------- */

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static long long num(json_t *o, const char *key)
{
    return (long long)json_number_value(json_object_get(o, key));
}

/* "4s", "3m12s", "2h05m", "3d04h"; "-" when unknown. */
static void format_age(json_t *age, char *buf, size_t cap)
{
    if (!json_is_number(age)) {
        snprintf(buf, cap, "-");
        return;
    }
    long long s = (long long)json_number_value(age);
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, cap, "%llds", s);
    else if (s < 3600)
        snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, cap, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* The last reading's fields, "moisture 23.4 %, temperature 18.2 °C", cut to fit. */
static void format_values(json_t *fields, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    size_t i;
    json_t *f;
    bool any = false;
    json_array_foreach(fields, i, f) any |= json_is_number(json_object_get(f, "value"));
    if (!any) {
        snprintf(buf, cap, "(nothing read)");
        return;
    }
    json_array_foreach(fields, i, f)
    {
        json_t *v = json_object_get(f, "value");
        char one[96];
        const char *unit = str(f, "unit");
        if (json_is_number(v))
            snprintf(one, sizeof one, "%s%s %.4g%s%s%s", i ? ", " : "", str(f, "name"),
                     json_number_value(v), *unit && strcmp(unit, "-") ? " " : "",
                     strcmp(unit, "-") ? unit : "",
                     strcmp(str(f, "quality"), "ok") ? " (out of range)" : "");
        else
            snprintf(one, sizeof one, "%s%s -", i ? ", " : "", str(f, "name"));
        size_t n = strlen(one);
        if (at + n + 1 > cap) {
            if (cap > 4)
                snprintf(buf + (at + 4 < cap ? at : cap - 4), 4, "...");
            return;
        }
        memcpy(buf + at, one, n + 1);
        at += n;
    }
}

static long long sum_failures(json_t *failures)
{
    long long n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(failures, k, v) n += (long long)json_integer_value(v);
    return n;
}

selgw_err selgw_status_print(const char *status_json, const char *latest_json, FILE *out)
{
    json_t *st = json_loads(status_json, 0, NULL);
    json_t *latest = json_loads(latest_json, 0, NULL);
    json_t *buses = json_object_get(st, "buses"), *devices = json_object_get(latest, "devices");
    json_t *sinks = json_object_get(st, "sinks"), *journal = json_object_get(st, "journal");
    if (!json_is_array(buses) || !json_is_array(devices) || !json_is_array(sinks) ||
        !json_is_object(journal)) {
        json_decref(st);
        json_decref(latest);
        return SELGW_ERR_INVALID;
    }
    fprintf(out, "gateway %s (selgw %s), started %s, config generation %lld\n", str(st, "gateway"),
            str(st, "version"), str(st, "started"), num(st, "config_generation"));

    fprintf(out, "\n%-16s %-4s %10s %10s %8s\n", "BUS", "TYPE", "POLLS", "FAILED", "SKIPPED");
    size_t i;
    json_t *o;
    json_array_foreach(buses, i, o)
        fprintf(out, "%-16s %-4s %10lld %10lld %8lld\n", str(o, "id"), str(o, "type"),
                num(o, "polls"), num(o, "failed_polls"), num(o, "skipped_polls"));

    fprintf(out, "\n%-16s %-12s %-9s %-14s %8s %8s  %s\n", "DEVICE", "BUS", "VALUE AGE", "STATUS",
            "FAILURES", "IN A ROW", "LAST VALUE");
    json_array_foreach(devices, i, o)
    {
        json_t *h = json_object_get(o, "health");
        char age[32], values[160];
        /* the age of the last value read, not of the last (maybe failed) poll */
        format_age(json_object_get(h, "last_success_age_s"), age, sizeof age);
        format_values(json_object_get(o, "fields"), values, sizeof values);
        fprintf(out, "%-16s %-12s %-9s %-14s %8lld %8lld  %s\n", str(o, "id"), str(o, "bus"), age,
                str(o, "status"), sum_failures(json_object_get(h, "failures")),
                num(h, "consecutive_failures"), values);
    }

    fprintf(out, "\n%-10s %10s %10s %10s %-14s %s\n", "SINK", "DELIVERED", "BACKLOG", "CURSOR",
            "LAST ERROR", "LAST DELIVERY");
    if (json_array_size(sinks) == 0)
        fprintf(out, "(no sinks configured)\n");
    json_array_foreach(sinks, i, o) fprintf(
        out, "%-10s %10lld %10lld %10lld %-14s %s\n", str(o, "name"), num(o, "delivered"),
        num(o, "backlog_records"), num(o, "cursor"), str(o, "last_error"), str(o, "last_delivery"));

    fprintf(out,
            "\njournal: committed seq %lld (from %lld), %lld records appended since start, "
            "backlog %lld bytes",
            num(journal, "committed_seq"), num(journal, "first_seq"), num(journal, "records"),
            num(journal, "backlog_bytes"));
    if (num(journal, "backlog_limit_bytes"))
        fprintf(out, " of %lld", num(journal, "backlog_limit_bytes"));
    fprintf(out, "\n");
    json_decref(st);
    json_decref(latest);
    return SELGW_OK;
}

bool selgw_status_is_gateway(const char *status_json, const char *gateway_id, char *answered,
                             size_t cap)
{
    json_t *st = json_loads(status_json, 0, NULL);
    snprintf(answered, cap, "%s", str(st, "gateway"));
    json_decref(st);
    return !strcmp(answered, gateway_id);
}

/* ---- one device's last reading --------------------------------------------------------- */

static void copy_str(json_t *o, const char *key, char *buf, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, key));
    snprintf(buf, cap, "%s", s ? s : "");
}

static bool number_at(json_t *o, const char *key, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

selgw_err selgw_latest_device_parse(const char *json, selgw_latest_device *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = json_loads(json, 0, NULL);
    json_t *fields = json_object_get(root, "fields"), *h = json_object_get(root, "health");
    if (!json_is_string(json_object_get(root, "id")) ||
        !json_is_string(json_object_get(root, "status")) || !json_is_array(fields) ||
        json_array_size(fields) > SELGW_READING_MAX_FIELDS || !json_is_object(h)) {
        json_decref(root);
        return SELGW_ERR_INVALID;
    }
    copy_str(root, "id", out->id, sizeof out->id);
    copy_str(root, "status", out->status, sizeof out->status);
    copy_str(root, "time", out->time, sizeof out->time);
    out->has_age = number_at(root, "age_s", &out->age_s);
    copy_str(h, "last_success", out->last_success, sizeof out->last_success);
    out->has_success_age = number_at(h, "last_success_age_s", &out->last_success_age_s);
    out->consecutive_failures = num(h, "consecutive_failures");
    out->failures = sum_failures(json_object_get(h, "failures"));
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        selgw_latest_field *lf = &out->fields[out->field_count++];
        copy_str(f, "name", lf->name, sizeof lf->name);
        copy_str(f, "unit", lf->unit, sizeof lf->unit);
        copy_str(f, "quality", lf->quality, sizeof lf->quality);
        lf->has_value = number_at(f, "value", &lf->value);
    }
    json_decref(root);
    return SELGW_OK;
}
