/* The InfluxDB sink's pure parts: how answers are classified, what an error answer says,
 * Retry-After, and the configs a sink refuses to be made with. The sink against a server
 * is tests/integration/c/test_influx_delivery.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sinks/influx_sink.h"
#include "test_farm.h"
#include "test_sink_configs.h"

/* ---- pure functions ---- */

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(selgw_influx_classify(200), SELGW_INFLUX_DELIVERED);
    assert_int_equal(selgw_influx_classify(204), SELGW_INFLUX_DELIVERED);
    assert_int_equal(selgw_influx_classify(400), SELGW_INFLUX_BISECT);
    assert_int_equal(selgw_influx_classify(422), SELGW_INFLUX_BISECT);
    assert_int_equal(selgw_influx_classify(413), SELGW_INFLUX_SPLIT);
    assert_int_equal(selgw_influx_classify(401), SELGW_INFLUX_OPERATOR);
    assert_int_equal(selgw_influx_classify(403), SELGW_INFLUX_OPERATOR);
    assert_int_equal(selgw_influx_classify(404), SELGW_INFLUX_OPERATOR);
    assert_int_equal(selgw_influx_classify(429), SELGW_INFLUX_RETRY);
    assert_int_equal(selgw_influx_classify(500), SELGW_INFLUX_RETRY);
    assert_int_equal(selgw_influx_classify(503), SELGW_INFLUX_RETRY);
    assert_int_equal(selgw_influx_classify(0), SELGW_INFLUX_RETRY); /* no answer */
    assert_int_equal(selgw_influx_classify(307), SELGW_INFLUX_RETRY);
    assert_int_equal(selgw_influx_classify(199), SELGW_INFLUX_RETRY);
}

/* What an error answer says, as one printable line: JSON of 1.x and 2.x, anything else as
 * it came, never a control character or malformed UTF-8 in the log. */
static void test_response_message(void **state)
{
    (void)state;
    char out[128];
    const char *v1 = "{\"error\":\"partial write: field type conflict: input field "
                     "\\\"soil_ec\\\" is type float\"}\n";
    selgw_influx_response_message(v1, strlen(v1), out, sizeof out);
    assert_string_equal(out, "partial write: field type conflict: input field \"soil_ec\" is "
                             "type float");
    const char *v2 = "{\"code\":\"unauthorized\",\"message\":\"unauthorized access\"}";
    selgw_influx_response_message(v2, strlen(v2), out, sizeof out);
    assert_string_equal(out, "unauthorized access");
    const char *unicode = "{\"error\":\"\\u6c49\\u738b\\nline\\u0007\"}";
    selgw_influx_response_message(unicode, strlen(unicode), out, sizeof out);
    assert_string_equal(out, "汉王 line");
    const char *html = "<html>\r\n<body>502 Bad Gateway</body>\r\n</html>\r\n";
    selgw_influx_response_message(html, strlen(html), out, sizeof out);
    assert_string_equal(out, "<html>  <body>502 Bad Gateway</body>  </html>");
    const char *bad = "oops \xff\xc0 \x1b[2K end";
    selgw_influx_response_message(bad, strlen(bad), out, sizeof out);
    assert_string_equal(out, "oops     [2K end"); /* 0xff, 0xc0 and ESC: spaces */
    /* cut to fit, never in the middle of a character */
    char small[8];
    selgw_influx_plain_text("汉王汉王", strlen("汉王汉王"), small, sizeof small);
    assert_string_equal(small, "汉王?");
}

static void test_retry_after(void **state)
{
    (void)state;
    /* 2015-10-21 07:28:00 UTC */
    const long long when = 1445412480LL;
    assert_int_equal(selgw_influx_retry_after_s("1", when), 1);
    assert_int_equal(selgw_influx_retry_after_s(" 120 ", when), 120);
    assert_int_equal(selgw_influx_retry_after_s("0", when), 0);
    assert_int_equal(selgw_influx_retry_after_s("30\r\n", when), 30);
    assert_int_equal(selgw_influx_retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", when - 90), 90);
    assert_int_equal(selgw_influx_retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", when), 0);
    /* a date in the past: retry now */
    assert_int_equal(selgw_influx_retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", when + 60), 0);
    /* obsolete RFC 850 form, still an HTTP date */
    assert_int_equal(selgw_influx_retry_after_s("Wednesday, 21-Oct-15 07:28:00 GMT", when - 5), 5);
    assert_int_equal(selgw_influx_retry_after_s(NULL, when), -1);
    assert_int_equal(selgw_influx_retry_after_s("", when), -1);
    assert_int_equal(selgw_influx_retry_after_s("   ", when), -1);
    assert_int_equal(selgw_influx_retry_after_s("soon", when), -1);
    assert_int_equal(selgw_influx_retry_after_s("-5", when), -1);
    assert_int_equal(selgw_influx_retry_after_s("1.5", when), -1);
    assert_int_equal(selgw_influx_retry_after_s("12abc", when), -1);
    assert_int_equal(selgw_influx_retry_after_s("Someday 99", when), -1);
}

/* Needs a journal, but no server: the sink is never started. */
static void test_new_rejects_incomplete_config(void **state)
{
    (void)state;
    test_scratch_journal j;
    test_scratch_journal_init(&j, "influx-config", NULL);
    test_scratch_journal_open(&j, SELGW_INFLUX_SINK_NAME);
    test_scratch_journal *f = &j;
    selgw_influx_sink *sink = (selgw_influx_sink *)f; /* must be reset to NULL */
    selgw_influx_config cfg = test_influx_v1_config(8086);
    cfg.database = NULL;
    assert_int_equal(selgw_influx_sink_new(&cfg, f->journal_dir, f->journal, &sink),
                     SELGW_ERR_INVALID);
    assert_null(sink);
    cfg = test_influx_v2_config(8086);
    cfg.bucket = "";
    assert_int_equal(selgw_influx_sink_new(&cfg, f->journal_dir, f->journal, &sink),
                     SELGW_ERR_INVALID);
    cfg = test_influx_v1_config(8086);
    cfg.api = 3;
    assert_int_equal(selgw_influx_sink_new(&cfg, f->journal_dir, f->journal, &sink),
                     SELGW_ERR_INVALID);
    cfg = test_influx_v1_config(8086);
    cfg.url = NULL;
    assert_int_equal(selgw_influx_sink_new(&cfg, f->journal_dir, f->journal, &sink),
                     SELGW_ERR_INVALID);
    /* The defaults are the config loader's: a config built without them is incomplete. */
    cfg = test_influx_v1_config(8086);
    cfg.measurement = NULL;
    assert_int_equal(selgw_influx_sink_new(&cfg, f->journal_dir, f->journal, &sink),
                     SELGW_ERR_INVALID);
    cfg = test_influx_v1_config(8086);
    cfg.retry_max_ms = 0;
    assert_int_equal(selgw_influx_sink_new(&cfg, f->journal_dir, f->journal, &sink),
                     SELGW_ERR_INVALID);
    cfg = test_influx_v1_config(8086);
    assert_int_equal(selgw_influx_sink_new(&cfg, f->journal_dir, NULL, &sink), SELGW_ERR_INVALID);
    /* Made but never started: free is enough; and free(NULL), stop(NULL) are fine. */
    assert_int_equal(selgw_influx_sink_new(&cfg, f->journal_dir, f->journal, &sink), SELGW_OK);
    selgw_sink_stats st;
    selgw_influx_sink_stats(sink, &st);
    assert_int_equal(st.delivered, 0);
    selgw_influx_sink_free(sink);
    selgw_influx_sink_stop(NULL);
    selgw_influx_sink_free(NULL);
    test_scratch_journal_close(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_response_message),
        cmocka_unit_test(test_new_rejects_incomplete_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
