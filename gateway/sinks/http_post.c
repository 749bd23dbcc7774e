/* One HTTP POST at a time over libcurl, and the dead-letter file. */
#include "sinks/http_post.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/durable.h"

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    selgw_http_post *p = user;
    size_t n = size * nmemb;
    size_t room = SELGW_HTTP_RESPONSE_KEEP - p->response_len;
    size_t take = n < room ? n : room;
    memcpy(p->response + p->response_len, data, take);
    p->response_len += take;
    p->response[p->response_len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    selgw_http_post *p = user;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        size_t value_len = n - (sizeof name - 1);
        if (value_len >= sizeof p->retry_after)
            value_len = sizeof p->retry_after - 1;
        memcpy(p->retry_after, data + sizeof name - 1, value_len);
        p->retry_after[value_len] = '\0';
    }
    return n;
}

selgw_err selgw_http_post_init(selgw_http_post *p, const char *const *headers, int timeout_ms)
{
    memset(p, 0, sizeof *p);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return SELGW_ERR_NOMEM;
    p->curl = curl_easy_init();
    if (!p->curl) {
        curl_global_cleanup();
        return SELGW_ERR_NOMEM;
    }
    /* no 100-continue round trip before each body */
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; h && headers && headers[i]; i++) {
        struct curl_slist *more = curl_slist_append(h, headers[i]);
        if (!more) {
            curl_slist_free_all(h);
            h = NULL;
        } else {
            h = more;
        }
    }
    p->headers = h;
    CURL *c = p->curl;
    bool ok = h && curl_easy_setopt(c, CURLOPT_POST, 1L) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_HTTPHEADER, p->headers) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_USERAGENT, "selgw/" SELGW_VERSION) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_ERRORBUFFER, p->curl_error) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_WRITEDATA, p) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_HEADERDATA, p) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                   CURLE_OK;
#endif
    if (!ok) {
        selgw_http_post_cleanup(p);
        return h ? SELGW_ERR_INVALID : SELGW_ERR_NOMEM;
    }
    return SELGW_OK;
}

selgw_err selgw_http_post_url(selgw_http_post *p, const char *url)
{
    return curl_easy_setopt(p->curl, CURLOPT_URL, url) == CURLE_OK ? SELGW_OK : SELGW_ERR_NOMEM;
}

void selgw_http_post_send(selgw_http_post *p, const void *body, size_t len, long *status)
{
    curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    p->response_len = 0;
    p->response[0] = '\0';
    p->retry_after[0] = '\0';
    p->curl_error[0] = '\0';
    p->result = curl_easy_perform(p->curl);
    *status = 0;
    if (p->result == CURLE_OK)
        curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, status);
}

const char *selgw_http_post_why(const selgw_http_post *p)
{
    return p->curl_error[0] ? p->curl_error : curl_easy_strerror(p->result);
}

selgw_err selgw_http_post_error(const selgw_http_post *p, long status)
{
    if (status != 0)
        return SELGW_ERR_SERVER;
    switch (p->result) {
    case CURLE_OPERATION_TIMEDOUT:
        return SELGW_ERR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return SELGW_ERR_CONNECT;
    default:
        return SELGW_ERR_DISCONNECTED;
    }
}

void selgw_http_post_cleanup(selgw_http_post *p)
{
    if (!p->curl)
        return;
    curl_easy_cleanup(p->curl);
    curl_slist_free_all(p->headers);
    p->curl = NULL;
    p->headers = NULL;
    curl_global_cleanup();
}

selgw_err selgw_dead_letter_append(int *fd, const char *path, const char *const *parts,
                                   const size_t *lens, size_t n)
{
    if (*fd < 0) {
        int f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        bool created = f >= 0;
        if (f < 0 && errno == EEXIST)
            f = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (f < 0)
            return selgw_err_from_errno(errno);
        if (created)
            selgw_fsync_parent(path); /* the new name must survive too */
        *fd = f;
    }
    selgw_err err = SELGW_OK;
    for (size_t i = 0; i < n && err == SELGW_OK; i++) {
        size_t done = 0;
        while (done < lens[i]) {
            ssize_t w = write(*fd, parts[i] + done, lens[i] - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                err = selgw_err_from_errno(errno);
                break;
            }
            done += (size_t)w;
        }
    }
    if (err == SELGW_OK && fsync(*fd) != 0)
        err = selgw_err_from_errno(errno);
    if (err != SELGW_OK) {
        close(*fd);
        *fd = -1;
    }
    return err;
}

char *selgw_sink_path(const char *dir, const char *path)
{
    char *out = NULL;
    if (path[0] == '/' || !dir || !dir[0])
        return strdup(path);
    size_t n = strlen(dir);
    if (asprintf(&out, "%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", path) < 0)
        return NULL;
    return out;
}
