/* The dashboard's routes (gateway/http/pages.c), a pure function of the URL: which paths
 * are pages (the shell), which are embedded assets with their content type, entity tag and
 * 304 on a matching If-None-Match, which get the 404 page, and that the API's paths are
 * left to the server. The embedded files are the real ones the build compiled in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/embedded.h"
#include "http/pages.h"
#include "http/server.h"

static const struct selgw_embedded_file *file(const char *name)
{
    for (size_t i = 0; i < selgw_embedded_web_count; i++)
        if (!strcmp(selgw_embedded_web[i].name, name))
            return &selgw_embedded_web[i];
    fail_msg("%s is not embedded", name);
    return NULL;
}

static void test_pages_are_the_shell(void **state)
{
    (void)state;
    const struct selgw_embedded_file *shell = file("index.html");
    const char *pages[] = {"/", "/devices", "/delivery", "/plot/demo-p01", "/plot/a.b_c-9"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        selgw_page_answer a;
        assert_true(selgw_pages_route(pages[i], NULL, &a));
        assert_int_equal(a.status, 200);
        assert_ptr_equal(a.data, shell->data);
        assert_int_equal(a.size, shell->size);
        assert_string_equal(a.content_type, "text/html; charset=utf-8");
        assert_string_equal(a.cache_control, "no-cache");
        assert_string_equal(a.etag, shell->etag);
    }
}

static void test_assets_have_their_types(void **state)
{
    (void)state;
    struct {
        const char *url, *name, *type;
    } cases[] = {
        {"/assets/app.js", "app.js", "text/javascript; charset=utf-8"},
        {"/assets/i18n.js", "i18n.js", "text/javascript; charset=utf-8"},
        {"/assets/app.css", "app.css", "text/css; charset=utf-8"},
        {"/assets/i18n.json", "i18n.json", "application/json; charset=utf-8"},
        {"/assets/dygraph.min.js", "dygraph.min.js", "text/javascript; charset=utf-8"},
        {"/assets/dygraph.min.css", "dygraph.min.css", "text/css; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct selgw_embedded_file *f = file(cases[i].name);
        selgw_page_answer a;
        assert_true(selgw_pages_route(cases[i].url, NULL, &a));
        assert_int_equal(a.status, 200);
        assert_ptr_equal(a.data, f->data);
        assert_int_equal(a.size, f->size);
        assert_true(a.size > 0);
        assert_int_equal(strlen(a.data), a.size); /* text, NUL-terminated */
        assert_string_equal(a.content_type, cases[i].type);
        /* a quoted tag of 16 hex digits */
        assert_int_equal(strlen(a.etag), 18);
        assert_int_equal(a.etag[0], '"');
        assert_int_equal(a.etag[17], '"');
    }
    /* Debian's dygraphs, not a stand-in */
    assert_non_null(strstr(file("dygraph.min.js")->data, "dygraphs"));
}

static void test_etags_differ_and_give_304(void **state)
{
    (void)state;
    const char *app = file("app.js")->etag, *css = file("app.css")->etag;
    assert_string_not_equal(app, css);
    selgw_page_answer a;
    assert_true(selgw_pages_route("/assets/app.js", app, &a));
    assert_int_equal(a.status, 304);
    assert_null(a.data);
    assert_int_equal(a.size, 0);
    assert_string_equal(a.etag, app);
    /* in a list, weak, or "*" */
    char list[96];
    snprintf(list, sizeof list, "%s, W/%s", css, app);
    assert_true(selgw_pages_route("/assets/app.js", list, &a));
    assert_int_equal(a.status, 304);
    assert_true(selgw_pages_route("/assets/app.js", "*", &a));
    assert_int_equal(a.status, 304);
    /* another file's tag, or a tag that only starts like it: the file */
    assert_true(selgw_pages_route("/assets/app.js", css, &a));
    assert_int_equal(a.status, 200);
    char longer[64];
    snprintf(longer, sizeof longer, "%.17sx\"", app);
    assert_true(selgw_pages_route("/assets/app.js", longer, &a));
    assert_int_equal(a.status, 200);
}

static void test_everything_else_is_404_but_the_api(void **state)
{
    (void)state;
    const char *missing[] = {
        "/index.html", "/assets/",  "/assets/index.html", "/assets/nope.js", "/assets/x/app.js",
        "/plot/",      "/plot/a/b", "/devices/",          "/favicon.ico",    "/../etc/passwd",
        "/apix",       "/metricsx"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        selgw_page_answer a;
        assert_true(selgw_pages_route(missing[i], NULL, &a));
        assert_int_equal(a.status, 404);
        assert_string_equal(a.content_type, "text/html; charset=utf-8");
        assert_string_equal(a.cache_control, "no-store");
        assert_null(a.etag);
    }
    const char *api[] = {"/metrics",         "/api",          "/api/v1/status",
                         "/api/v1/latest/x", "/api/v1/plots", "/api/nope"};
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
        selgw_page_answer a;
        assert_false(selgw_pages_route(api[i], NULL, &a));
    }
}

/* The Host a server without a password answers (review 11 #10, DNS rebinding): an
 * address or localhost, with any port; no name, nothing malformed. */
static void test_host_allowed(void **state)
{
    (void)state;
    const char *good[] = {NULL,
                          "127.0.0.1:9108",
                          "127.0.0.1",
                          "localhost:9108",
                          "LocalHost",
                          "localhost.:80",
                          "[::1]:9108",
                          "[::1]",
                          "192.168.1.20:9108",
                          "10.0.0.7:8080",
                          "[fe80::1]:9108",
                          "0.0.0.0:9108"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!selgw_http_host_allowed(good[i]))
            fail_msg("%s refused", good[i] ? good[i] : "(none)");
    const char *bad[] = {"",
                         ":9108",
                         "evil.example:9108",
                         "evil.example",
                         "localhost.evil.example",
                         "127.0.0.1.nip.io:9108",
                         "[::1",
                         "[::1]x",
                         "[evil.example]:9108",
                         "::1:9108",
                         "127.1",
                         "gateway.local:9108",
                         "a-name-longer-than-sixty-four-characters-aaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (selgw_http_host_allowed(bad[i]))
            fail_msg("%s taken", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_allowed),
        cmocka_unit_test(test_pages_are_the_shell),
        cmocka_unit_test(test_assets_have_their_types),
        cmocka_unit_test(test_etags_differ_and_give_304),
        cmocka_unit_test(test_everything_else_is_404_but_the_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
