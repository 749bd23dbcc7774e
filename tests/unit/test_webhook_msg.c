/* Alert messages for webhooks (docs/WEBHOOK.md): the text in both languages for every kind
 * of alert, the exact request body of each format, every escaping rule (JSON, one line,
 * markdown), truncation at the robots' limits on a UTF-8 boundary, DingTalk's signature
 * against a vector computed independently (Python's hmac, base64 and urllib), and what
 * the robots' answers mean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/safe_text.h"
#include "journal/record.h"
#include "sinks/webhook_msg.h"

static selgw_i18n *names;

static int setup(void **state)
{
    (void)state;
    return selgw_i18n_builtin(&names) == SELGW_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    selgw_i18n_free(names);
    return 0;
}

static selgw_str str(const char *s)
{
    return (selgw_str){s, strlen(s)};
}

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    int64_t ns;
    assert_true(selgw_utc_from_civil(y, mo, d, h, mi, 0, 0, &ns));
    return ns;
}

/* The tea frost alert of the demo: raised at 08:15 (+08:00), below since 08:05. */
static selgw_record frost(void)
{
    return (selgw_record){.type = SELGW_RECORD_ALERT,
                          .time_ns = utc(2026, 11, 29, 0, 15),
                          .gateway = str("gw-1"),
                          .base = str("demo-base"),
                          .plot = str("demo-p01"),
                          .crop = str("tea"),
                          .rule = str("tea-frost"),
                          .alert_state = SELGW_ALERT_RAISED,
                          .alert_condition = SELGW_ALERT_BELOW,
                          .device = str("air-1"),
                          .field = str("air_temperature"),
                          .unit = str("degC"),
                          .alert_value = 1.5,
                          .alert_threshold = 2,
                          .alert_since_ns = utc(2026, 11, 29, 0, 5)};
}

static selgw_webhook_render render(selgw_webhook_format format, selgw_webhook_style style,
                                   selgw_language lang)
{
    return (selgw_webhook_render){.format = format,
                                  .style = style,
                                  .language = lang,
                                  .utc_offset_minutes = 480,
                                  .names = names};
}

/* The text, checked to be as long as the function says. */
static const char *text_of(const selgw_webhook_render *r, const selgw_record *a, const char *base,
                           bool markdown)
{
    static char buf[2048];
    size_t n = selgw_webhook_alert_text(r, a, base, markdown, buf, sizeof buf);
    assert_true(n < sizeof buf);
    assert_int_equal(strlen(buf), n);
    assert_int_equal(selgw_webhook_alert_text(r, a, base, markdown, NULL, 0), n);
    return buf;
}

#define BASE_ZH "演示富硒茶基地"

static void test_frost_text_zh_and_en(void **state)
{
    (void)state;
    selgw_record a = frost();
    selgw_webhook_render zh = render(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_TEXT, SELGW_LANG_ZH);
    selgw_webhook_render en = render(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_TEXT, SELGW_LANG_EN);
    assert_string_equal(text_of(&zh, &a, BASE_ZH, false),
                        "【告警】演示富硒茶基地 / 地块 demo-p01（茶叶）：空气温度 1.5 °C，低于 2 "
                        "°C，自 08:05 起（设备 air-1）");
    assert_string_equal(text_of(&en, &a, "Demo base", false),
                        "[ALERT] Demo base / plot demo-p01 (Tea): Air temperature 1.5 °C, below "
                        "2 °C since 08:05 (device air-1)");
    /* no name from the config: the base id */
    assert_string_equal(text_of(&en, &a, NULL, false),
                        "[ALERT] demo-base / plot demo-p01 (Tea): Air temperature 1.5 °C, below "
                        "2 °C since 08:05 (device air-1)");

    a.alert_state = SELGW_ALERT_CLEARED;
    a.alert_value = 3.25;
    a.alert_threshold = 3;
    assert_string_equal(
        text_of(&zh, &a, BASE_ZH, false),
        "【解除】演示富硒茶基地 / 地块 demo-p01（茶叶）：空气温度 3.25 °C，已回升至 "
        "3 °C 以上（告警自 08:05 起）（设备 air-1）");
    assert_string_equal(text_of(&en, &a, "Demo base", false),
                        "[CLEARED] Demo base / plot demo-p01 (Tea): Air temperature 3.25 °C, back "
                        "above 3 °C (alert since 08:05) (device air-1)");
}

static void test_other_conditions(void **state)
{
    (void)state;
    selgw_webhook_render zh = render(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_TEXT, SELGW_LANG_ZH);
    selgw_webhook_render en = render(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_TEXT, SELGW_LANG_EN);
    /* waterlogged konjac: above, a percentage without a space, a value rounded to 2 places */
    selgw_record a = frost();
    a.crop = str("konjac");
    a.field = str("soil_moisture");
    a.unit = str("%");
    a.alert_condition = SELGW_ALERT_ABOVE;
    a.alert_value = 45.678;
    a.alert_threshold = 40;
    assert_string_equal(text_of(&zh, &a, "B", false),
                        "【告警】B / 地块 demo-p01（魔芋）：土壤含水率 45.68%，高于 40%，自 08:05 "
                        "起（设备 air-1）");
    a.alert_state = SELGW_ALERT_CLEARED;
    a.alert_value = 38;
    assert_string_equal(text_of(&en, &a, "B", false),
                        "[CLEARED] B / plot demo-p01 (Konjac): Soil moisture 38%, back below 40% "
                        "(alert since 08:05) (device air-1)");

    /* a stale sensor has no value and no threshold */
    a = frost();
    a.alert_condition = SELGW_ALERT_STALE;
    a.alert_value = NAN;
    a.alert_threshold = NAN;
    assert_string_equal(text_of(&zh, &a, "B", false),
                        "【告警】B / 地块 demo-p01（茶叶）：空气温度 自 08:05 起无有效读数（设备 "
                        "air-1）");
    assert_string_equal(text_of(&en, &a, "B", false),
                        "[ALERT] B / plot demo-p01 (Tea): Air temperature: no valid reading since "
                        "08:05 (device air-1)");
    a.alert_state = SELGW_ALERT_CLEARED;
    a.alert_value = 4;
    assert_string_equal(text_of(&zh, &a, "B", false),
                        "【解除】B / 地块 demo-p01（茶叶）：空气温度 恢复读数 4 °C（告警自 08:05 "
                        "起）（设备 air-1）");

    /* a frozen pH sensor: pH has no unit to show; the condition began the day before */
    a = frost();
    a.field = str("soil_ph");
    a.unit = str("pH");
    a.alert_condition = SELGW_ALERT_STUCK;
    a.alert_value = 6.5;
    a.alert_threshold = NAN;
    a.alert_since_ns = utc(2026, 11, 28, 14, 5); /* 22:05 local on the 28th */
    assert_string_equal(text_of(&zh, &a, "B", false),
                        "【告警】B / 地块 demo-p01（茶叶）：土壤pH 读数自 2026-11-28 22:05 "
                        "起一直为 6.5，传感器可能故障（设备 air-1）");
    assert_string_equal(text_of(&en, &a, "B", false),
                        "[ALERT] B / plot demo-p01 (Tea): Soil pH has read 6.5 since 2026-11-28 "
                        "22:05: the sensor may be stuck (device air-1)");
    a.alert_state = SELGW_ALERT_CLEARED;
    a.alert_value = -0.001; /* rounds to 0, never "-0" */
    assert_string_equal(text_of(&en, &a, "B", false),
                        "[CLEARED] B / plot demo-p01 (Tea): Soil pH changes again, now 0 (alert "
                        "since 2026-11-28 22:05) (device air-1)");

    /* a stale rule without a field watches the whole device; cleared, it may have no value */
    a = frost();
    a.field = str("");
    a.unit = str("");
    a.alert_condition = SELGW_ALERT_STALE;
    a.alert_value = NAN;
    a.alert_threshold = NAN;
    assert_string_equal(text_of(&zh, &a, "B", false),
                        "【告警】B / 地块 demo-p01（茶叶）：所有字段 自 08:05 起无有效读数（设备 "
                        "air-1）");
    a.alert_state = SELGW_ALERT_CLEARED;
    assert_string_equal(text_of(&en, &a, "B", false),
                        "[CLEARED] B / plot demo-p01 (Tea): Every field reads again (alert since "
                        "08:05) (device air-1)");
    /* cleared by no reading (its rule removed or changed on a reload) */
    a = frost();
    a.alert_state = SELGW_ALERT_CLEARED;
    a.alert_value = NAN;
    a.alert_threshold = NAN;
    assert_string_equal(
        text_of(&zh, &a, "B", false),
        "【解除】B / 地块 demo-p01（茶叶）：空气温度 告警撤销，并非读数恢复（告警自 "
        "08:05 起）（设备 air-1）");
    assert_string_equal(text_of(&en, &a, "B", false),
                        "[CLEARED] B / plot demo-p01 (Tea): Air temperature: alert withdrawn, not "
                        "by a reading (alert since 08:05) (device air-1)");

    /* a field, unit and crop the table does not know show as their ids */
    a = frost();
    a.field = str("leaf_wetness");
    a.unit = str("min");
    a.crop = str("kiwi");
    assert_string_equal(text_of(&en, &a, "B", false),
                        "[ALERT] B / plot demo-p01 (kiwi): leaf_wetness 1.5 min, below 2 min since "
                        "08:05 (device air-1)");
    /* the time is the gateway's local time: UTC here */
    zh.utc_offset_minutes = 0;
    a = frost();
    assert_string_equal(text_of(&zh, &a, "B", false),
                        "【告警】B / 地块 demo-p01（茶叶）：空气温度 1.5 °C，低于 2 °C，自 00:05 "
                        "起（设备 air-1）");
}

/* The body of a format for an alert, checked to be valid JSON. */
static char *body_of(const selgw_webhook_render *r, const selgw_record *a, const char *base)
{
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(selgw_webhook_body(r, a, base, &body, &len), SELGW_OK);
    assert_int_equal(strlen(body), len);
    json_error_t error;
    json_t *root = json_loadb(body, len, 0, &error);
    if (!root)
        fail_msg("not JSON (%s): %s", error.text, body);
    json_decref(root);
    return body;
}

static void test_bodies_of_each_format(void **state)
{
    (void)state;
    selgw_record a = frost();
    struct {
        selgw_webhook_format format;
        selgw_webhook_style style;
        const char *want;
    } cases[] = {
        {SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_MARKDOWN,
         "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":\"**【告警】**演示富硒茶基地 / 地块 "
         "demo-p01（茶叶）：空气温度 1.5 °C，低于 2 °C，自 08:05 起（设备 air-1）\"}}"},
        {SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_TEXT,
         "{\"msgtype\":\"text\",\"text\":{\"content\":\"【告警】演示富硒茶基地 / 地块 "
         "demo-p01（茶叶）：空气温度 1.5 °C，低于 2 °C，自 08:05 起（设备 air-1）\"}}"},
        {SELGW_WEBHOOK_DINGTALK, SELGW_WEBHOOK_MARKDOWN,
         "{\"msgtype\":\"markdown\",\"markdown\":{\"title\":\"【告警】地块 demo-p01 "
         "空气温度\",\"text\":\"**【告警】**演示富硒茶基地 "
         "/ 地块 demo-p01（茶叶）：空气温度 1.5 °C，低于 2 °C，自 08:05 起（设备 air-1）\"}}"},
        {SELGW_WEBHOOK_DINGTALK, SELGW_WEBHOOK_TEXT,
         "{\"msgtype\":\"text\",\"text\":{\"content\":\"【告警】演示富硒茶基地 / 地块 "
         "demo-p01（茶叶）：空气温度 1.5 °C，低于 2 °C，自 08:05 起（设备 air-1）\"}}"},
        {SELGW_WEBHOOK_JSON, SELGW_WEBHOOK_MARKDOWN,
         "{\"type\":\"alert\",\"time\":\"2026-11-29T00:15:00.000000Z\",\"gateway\":\"gw-1\","
         "\"base\":\"demo-base\",\"plot\":\"demo-p01\",\"crop\":\"tea\",\"rule\":\"tea-frost\","
         "\"state\":\"raised\",\"condition\":\"below\",\"device\":\"air-1\","
         "\"field\":\"air_temperature\",\"unit\":\"degC\",\"value\":1.5,\"threshold\":2,"
         "\"since\":\"2026-11-29T00:05:00.000000Z\",\"message\":\"【告警】演示富硒茶基地 / 地块 "
         "demo-p01（茶叶）：空气温度 1.5 °C，低于 2 °C，自 08:05 起（设备 air-1）\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_webhook_render r = render(cases[i].format, cases[i].style, SELGW_LANG_ZH);
        char *body = body_of(&r, &a, BASE_ZH);
        assert_string_equal(body, cases[i].want);
        free(body);
    }
    /* the JSON form carries the record's sequence number and hash when it has them */
    a.seq = 42;
    a.has_hash = true;
    memset(a.hash, 0xab, sizeof a.hash);
    selgw_webhook_render r = render(SELGW_WEBHOOK_JSON, SELGW_WEBHOOK_MARKDOWN, SELGW_LANG_EN);
    char *body = body_of(&r, &a, "B");
    json_t *root = json_loads(body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(root, "seq")), 42);
    assert_int_equal(strlen(json_string_value(json_object_get(root, "hash"))), 64);
    assert_string_equal(json_string_value(json_object_get(root, "message")),
                        "[ALERT] B / plot demo-p01 (Tea): Air temperature 1.5 °C, below 2 °C "
                        "since 08:05 (device air-1)");
    json_decref(root);
    free(body);

    /* @all: everyone in the group is notified of a raised alert, of a cleared one not */
    selgw_record m = frost();
    m.device = str("d");
    m.plot = str("p");
    selgw_webhook_render wt = render(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_TEXT, SELGW_LANG_EN);
    wt.mention_all = true;
    body = body_of(&wt, &m, "B");
    assert_string_equal(body, "{\"msgtype\":\"text\",\"text\":{\"content\":\"[ALERT] B / plot p "
                              "(Tea): Air temperature 1.5 °C, below 2 °C since 08:05 (device "
                              "d)\",\"mentioned_list\":[\"@all\"]}}");
    free(body);
    selgw_webhook_render dm = render(SELGW_WEBHOOK_DINGTALK, SELGW_WEBHOOK_MARKDOWN, SELGW_LANG_EN);
    dm.mention_all = true;
    body = body_of(&dm, &m, "B");
    assert_string_equal(body, "{\"msgtype\":\"markdown\",\"markdown\":{\"title\":\"[ALERT] plot "
                              "p: Air temperature\",\"text\":\"**[ALERT]** B / plot p (Tea): Air "
                              "temperature 1.5 °C, below 2 °C since 08:05 (device d)\"},"
                              "\"at\":{\"isAtAll\":true}}");
    free(body);
    m.alert_state = SELGW_ALERT_CLEARED;
    m.alert_value = 3;
    body = body_of(&wt, &m, "B");
    assert_null(strstr(body, "@all"));
    free(body);
    dm.style = SELGW_WEBHOOK_TEXT;
    body = body_of(&dm, &m, "B");
    assert_null(strstr(body, "isAtAll"));
    free(body);

    /* what is not an alert has no message */
    a.type = SELGW_RECORD_READING;
    size_t len = 1;
    assert_int_equal(selgw_webhook_body(&r, &a, "B", &body, &len), SELGW_ERR_INVALID);
    assert_null(body);
    assert_int_equal(len, 0);
}

/* A plot id with a quote, a backslash, a newline, a tab, a control byte, a right-to-left
 * override, a malformed byte and markdown's punctuation. */
static void test_escaping(void **state)
{
    (void)state;
    selgw_record a = frost();
    a.plot = str("p\"1\\x\ny\tz\x01q\xe2\x80\xaeo\xff*_`[a](b)#<c>~|");
    a.device = str("d\r1");
    selgw_webhook_render r = render(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_TEXT, SELGW_LANG_EN);
    /* text: one line (control characters as spaces, malformed bytes as U+FFFD); JSON escapes
     * the quote and the backslash */
    char *body = body_of(&r, &a, "B");
    assert_string_equal(body, "{\"msgtype\":\"text\",\"text\":{\"content\":\"[ALERT] B / plot "
                              "p\\\"1\\\\x y z q o\xef\xbf\xbd*_`[a](b)#<c>~| (Tea): Air "
                              "temperature 1.5 °C, below 2 °C since 08:05 (device d 1)\"}}");
    free(body);
    /* markdown: its punctuation in data escaped with a backslash, then JSON-escaped */
    r.style = SELGW_WEBHOOK_MARKDOWN;
    body = body_of(&r, &a, "B*");
    assert_string_equal(
        body, "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":\"**[ALERT]** "
              "B\\\\* / plot p\\\"1\\\\\\\\x y z q "
              "o\xef\xbf\xbd\\\\*\\\\_\\\\`\\\\[a\\\\]\\\\(b\\\\)\\\\#\\\\<c\\\\>\\\\~\\\\| "
              "(Tea): Air temperature 1.5 °C, below 2 °C since 08:05 (device d 1)\"}}");
    free(body);
    /* the base name from the config is data too */
    r.style = SELGW_WEBHOOK_TEXT;
    a = frost();
    body = body_of(&r, &a, "line1\nline2 \"q\"");
    assert_string_equal(body, "{\"msgtype\":\"text\",\"text\":{\"content\":\"[ALERT] line1 line2 "
                              "\\\"q\\\" / plot demo-p01 (Tea): Air temperature 1.5 °C, below 2 "
                              "°C since 08:05 (device air-1)\"}}");
    free(body);
}

static void test_utf8_prefix(void **state)
{
    (void)state;
    const char *s = "a茶b"; /* 1 + 3 + 1 bytes */
    assert_int_equal(selgw_utf8_prefix(s, 5, 10), 5);
    assert_int_equal(selgw_utf8_prefix(s, 5, 5), 5);
    assert_int_equal(selgw_utf8_prefix(s, 5, 4), 4);
    assert_int_equal(selgw_utf8_prefix(s, 5, 3), 1); /* never half a character */
    assert_int_equal(selgw_utf8_prefix(s, 5, 2), 1);
    assert_int_equal(selgw_utf8_prefix(s, 5, 1), 1);
    assert_int_equal(selgw_utf8_prefix(s, 5, 0), 0);
    assert_int_equal(selgw_utf8_prefix("\xff\xfe", 2, 1), 1); /* a malformed byte is one */
}

/* The content of a robot's body. */
static char *content_of(const char *body, const char *member)
{
    json_t *root = json_loads(body, 0, NULL);
    assert_non_null(root);
    json_t *inner = json_object_get(root, json_string_value(json_object_get(root, "msgtype")));
    const char *text = json_string_value(json_object_get(inner, member));
    assert_non_null(text);
    char *copy = strdup(text);
    json_decref(root);
    return copy;
}

static void check_truncated(selgw_webhook_format format, selgw_webhook_style style,
                            const char *member, const char *base, size_t limit, size_t want_len)
{
    selgw_record a = frost();
    selgw_webhook_render r = render(format, style, SELGW_LANG_ZH);
    char *body = body_of(&r, &a, base);
    char *content = content_of(body, member);
    size_t n = strlen(content);
    assert_true(n <= limit);
    assert_int_equal(n, want_len);
    assert_true(selgw_text_is_clean(content, n)); /* whole characters only */
    assert_string_equal(content + n - 3, "…");
    /* a prefix of the whole text */
    bool markdown = style == SELGW_WEBHOOK_MARKDOWN;
    size_t full_len = selgw_webhook_alert_text(&r, &a, base, markdown, NULL, 0);
    char *full = malloc(full_len + 1);
    selgw_webhook_alert_text(&r, &a, base, markdown, full, full_len + 1);
    assert_memory_equal(full, content, n - 3);
    /* never a markdown escape cut in half */
    size_t slashes = 0;
    while (slashes < n - 3 && content[n - 4 - slashes] == '\\')
        slashes++;
    assert_int_equal(slashes % 2, 0);
    free(full);
    free(content);
    free(body);
}

static void test_truncation_at_the_limits(void **state)
{
    (void)state;
    /* a base name of 2000 three-byte characters */
    char *tea = malloc(6001);
    for (int i = 0; i < 2000; i++)
        memcpy(tea + 3 * i, "茶", 3);
    tea[6000] = '\0';
    /* WeCom text: 2048 bytes; 2045 for the text before "…": 12 bytes of 【告警】 and 677
     * characters of 2031 bytes, the 678th would not fit */
    check_truncated(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_TEXT, "content", tea, SELGW_WECOM_TEXT_MAX,
                    12 + 677 * 3 + 3);
    /* WeCom markdown: 4096; 16 bytes of **【告警】**, 1359 characters (4077 bytes) */
    check_truncated(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_MARKDOWN, "content", tea,
                    SELGW_WECOM_MARKDOWN_MAX, 16 + 1359 * 3 + 3);
    check_truncated(SELGW_WEBHOOK_DINGTALK, SELGW_WEBHOOK_TEXT, "content", tea, SELGW_DINGTALK_MAX,
                    12 + 1360 * 3 + 3);
    /* markdown escapes of 2 bytes: 4093 - 16 is odd, so the last escape's backslash alone
     * would fit; it goes too */
    char *stars = malloc(3001);
    memset(stars, '*', 3000);
    stars[3000] = '\0';
    check_truncated(SELGW_WEBHOOK_WECOM, SELGW_WEBHOOK_MARKDOWN, "content", stars,
                    SELGW_WECOM_MARKDOWN_MAX, 16 + 4076 + 3);
    /* the generic JSON has no limit */
    selgw_record a = frost();
    selgw_webhook_render r = render(SELGW_WEBHOOK_JSON, SELGW_WEBHOOK_TEXT, SELGW_LANG_ZH);
    char *body = body_of(&r, &a, tea);
    assert_non_null(strstr(body, tea));
    free(body);
    free(stars);
    free(tea);
}

/* python3 -c "import hmac,hashlib,base64,urllib.parse; s='SEC0123456789abcdef';
 *   t=1764662400000; d=hmac.new(s.encode(), f'{t}\n{s}'.encode(), hashlib.sha256).digest();
 *   print(urllib.parse.quote_plus(base64.b64encode(d).decode()))" */
static void test_dingtalk_signature(void **state)
{
    (void)state;
    char out[SELGW_DINGTALK_SIGN_PARAMS_MAX];
    size_t n = selgw_dingtalk_sign_params("SEC0123456789abcdef", INT64_C(1764662400000), false, out,
                                          sizeof out);
    assert_string_equal(out, "&timestamp=1764662400000&sign="
                             "mvejO7nSWE3FqdHHOr0FhDJpVIFYfRUf%2FIYErn5LZqY%3D");
    assert_int_equal(n, strlen(out));
    selgw_dingtalk_sign_params("SEC0123456789abcdef", INT64_C(1764662400000), true, out,
                               sizeof out);
    assert_int_equal(out[0], '?');
    /* another time, another signature */
    char other[SELGW_DINGTALK_SIGN_PARAMS_MAX];
    selgw_dingtalk_sign_params("SEC0123456789abcdef", INT64_C(1764662400001), true, other,
                               sizeof other);
    assert_string_not_equal(strchr(out, '&'), strchr(other, '&'));
    /* too small a buffer: nothing */
    char small[40];
    assert_int_equal(
        selgw_dingtalk_sign_params("SEC0123456789abcdef", 1, false, small, sizeof small), 0);
    assert_string_equal(small, "");
}

static void test_answers(void **state)
{
    (void)state;
    struct {
        selgw_webhook_format format;
        long status;
        const char *body;
        selgw_webhook_verdict want;
        long errcode;
        const char *errmsg;
    } cases[] = {
        {SELGW_WEBHOOK_WECOM, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", SELGW_WEBHOOK_DELIVERED, 0,
         "ok"},
        {SELGW_WEBHOOK_DINGTALK, 200, "{\"errmsg\":\"ok\",\"errcode\":0}", SELGW_WEBHOOK_DELIVERED,
         0, "ok"},
        {SELGW_WEBHOOK_WECOM, 200, "{\"errcode\":40008,\"errmsg\":\"invalid message type\"}",
         SELGW_WEBHOOK_REFUSED, 40008, "invalid message type"},
        {SELGW_WEBHOOK_WECOM, 200, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}",
         SELGW_WEBHOOK_SLOW_DOWN, 45009, "api freq out of limit"},
        {SELGW_WEBHOOK_DINGTALK, 200, "{\"errcode\":130101,\"errmsg\":\"send too fast\"}",
         SELGW_WEBHOOK_SLOW_DOWN, 130101, "send too fast"},
        {SELGW_WEBHOOK_WECOM, 200, "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}",
         SELGW_WEBHOOK_OPERATOR, 93000, "invalid webhook url"},
        {SELGW_WEBHOOK_DINGTALK, 200, "{\"errcode\":310000,\"errmsg\":\"sign not match\"}",
         SELGW_WEBHOOK_OPERATOR, 310000, "sign not match"},
        /* an errmsg is shown as one line */
        {SELGW_WEBHOOK_WECOM, 200, "{\"errcode\":1,\"errmsg\":\"bad\\nline\\u001b[31m\"}",
         SELGW_WEBHOOK_REFUSED, 1, "bad line [31m"},
        /* a 2xx that does not say errcode 0 is no acknowledgement */
        {SELGW_WEBHOOK_WECOM, 200, "<html>ok</html>", SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 200, "{}", SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 200, "{\"errcode\":\"0\"}", SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 200, "{\"errcode\":0.0}", SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 200, "", SELGW_WEBHOOK_RETRY, -1, ""},
        /* HTTP statuses, whatever the body */
        {SELGW_WEBHOOK_WECOM, 0, NULL, SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 500, "{\"errcode\":0}", SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 503, "", SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 429, "", SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 408, "", SELGW_WEBHOOK_RETRY, -1, ""},
        {SELGW_WEBHOOK_WECOM, 404, "", SELGW_WEBHOOK_OPERATOR, -1, ""},
        {SELGW_WEBHOOK_JSON, 403, "", SELGW_WEBHOOK_OPERATOR, -1, ""},
        {SELGW_WEBHOOK_JSON, 302, "", SELGW_WEBHOOK_OPERATOR, -1, ""},
        {SELGW_WEBHOOK_JSON, 400, "", SELGW_WEBHOOK_REFUSED, -1, ""},
        {SELGW_WEBHOOK_JSON, 422, "", SELGW_WEBHOOK_REFUSED, -1, ""},
        /* the generic endpoint: any 2xx */
        {SELGW_WEBHOOK_JSON, 200, "whatever", SELGW_WEBHOOK_DELIVERED, -1, ""},
        {SELGW_WEBHOOK_JSON, 204, "", SELGW_WEBHOOK_DELIVERED, -1, ""},
        {SELGW_WEBHOOK_JSON, 200, "{\"errcode\":5}", SELGW_WEBHOOK_DELIVERED, -1, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long errcode = 7;
        char errmsg[64] = "x";
        selgw_webhook_verdict v = selgw_webhook_classify(
            cases[i].format, cases[i].status, cases[i].body,
            cases[i].body ? strlen(cases[i].body) : 0, &errcode, errmsg, sizeof errmsg);
        if (v != cases[i].want || errcode != cases[i].errcode ||
            strcmp(errmsg, cases[i].errmsg) != 0)
            fail_msg("case %zu (HTTP %ld %s): verdict %d errcode %ld errmsg '%s'", i,
                     cases[i].status, cases[i].body ? cases[i].body : "(none)", v, errcode, errmsg);
    }
}

static void test_names_table(void **state)
{
    (void)state;
    assert_string_equal(selgw_i18n_name(names, "fields", str("soil_moisture"), SELGW_LANG_ZH),
                        "土壤含水率");
    assert_string_equal(selgw_i18n_name(names, "crops", str("konjac"), SELGW_LANG_EN), "Konjac");
    assert_string_equal(selgw_i18n_name(names, "units", str("pH"), SELGW_LANG_ZH), "");
    assert_null(selgw_i18n_name(names, "fields", str("nothing"), SELGW_LANG_ZH));
    assert_null(selgw_i18n_name(names, "nothing", str("tea"), SELGW_LANG_ZH));
    assert_null(selgw_i18n_name(names, "crops", (selgw_str){"tea\0x", 5}, SELGW_LANG_ZH));
    assert_null(selgw_i18n_name(NULL, "crops", str("tea"), SELGW_LANG_ZH));
    /* a table of another shape is refused */
    selgw_i18n *t = NULL;
    static const char *const bad[] = {"", "[]", "{\"fields\":{},\"units\":{}}",
                                      "{\"fields\":[],\"units\":{},\"crops\":{}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(selgw_i18n_parse(bad[i], strlen(bad[i]), &t), SELGW_ERR_INVALID);
        assert_null(t);
    }
    const char *good = "{\"fields\":{\"x\":{\"zh\":\"叉\",\"en\":\"Ex\"}},\"units\":{},"
                       "\"crops\":{}}";
    assert_int_equal(selgw_i18n_parse(good, strlen(good), &t), SELGW_OK);
    assert_string_equal(selgw_i18n_name(t, "fields", str("x"), SELGW_LANG_EN), "Ex");
    selgw_i18n_free(t);
    selgw_i18n_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frost_text_zh_and_en),
        cmocka_unit_test(test_other_conditions),
        cmocka_unit_test(test_bodies_of_each_format),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_utf8_prefix),
        cmocka_unit_test(test_truncation_at_the_limits),
        cmocka_unit_test(test_dingtalk_signature),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_names_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
