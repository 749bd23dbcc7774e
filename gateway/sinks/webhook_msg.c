/* Alert messages for webhooks: the text people read, the robots' request bodies, DingTalk's
 * signature and the robots' answers. Pure (allocation aside). */
#include "sinks/webhook_msg.h"

#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/embedded.h"
#include "base/safe_text.h"
#include "base/text_writer.h"
#include "sinks/influx_sink.h" /* selgw_influx_plain_text: one printable line */

/* ---- the table of names ---- */

struct selgw_i18n {
    json_t *root;
};

selgw_err selgw_i18n_parse(const char *json, size_t len, selgw_i18n **out)
{
    *out = NULL;
    json_t *root = json_loadb(json, len, 0, NULL);
    bool ok = json_is_object(root);
    static const char *const tables[] = {"fields", "units", "crops"};
    for (size_t i = 0; ok && i < sizeof tables / sizeof tables[0]; i++)
        ok = json_is_object(json_object_get(root, tables[i]));
    if (!ok) {
        json_decref(root);
        return SELGW_ERR_INVALID;
    }
    selgw_i18n *t = malloc(sizeof *t);
    if (!t) {
        json_decref(root);
        return SELGW_ERR_NOMEM;
    }
    t->root = root;
    *out = t;
    return SELGW_OK;
}

selgw_err selgw_i18n_builtin(selgw_i18n **out)
{
    for (size_t i = 0; i < selgw_embedded_web_count; i++)
        if (!strcmp(selgw_embedded_web[i].name, "i18n.json"))
            return selgw_i18n_parse(selgw_embedded_web[i].data, selgw_embedded_web[i].size, out);
    *out = NULL;
    return SELGW_ERR_NOT_FOUND;
}

void selgw_i18n_free(selgw_i18n *t)
{
    if (!t)
        return;
    json_decref(t->root);
    free(t);
}

const char *selgw_i18n_name(const selgw_i18n *t, const char *table, selgw_str id,
                            selgw_language lang)
{
    char key[256];
    if (!t || id.len == 0 || id.len >= sizeof key || memchr(id.ptr, 0, id.len))
        return NULL;
    memcpy(key, id.ptr, id.len);
    key[id.len] = '\0';
    json_t *entry = json_object_get(json_object_get(t->root, table), key);
    json_t *name = json_object_get(entry, lang == SELGW_LANG_EN ? "en" : "zh");
    return json_is_string(name) ? json_string_value(name) : NULL;
}

/* ---- the text ---- */

typedef struct writer {
    char *buf;
    size_t cap, len;
    bool markdown;
} writer;

static void put(writer *w, const char *s)
{
    selgw_text_bytes(w->buf, w->cap, &w->len, s, strlen(s));
}

/* Text that came from the record or the table: one line, and inert in markdown. */
static void put_data(writer *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t seq = selgw_utf8_sequence(p + i, n - i, &cp);
        if (seq == 0) {
            selgw_text_bytes(w->buf, w->cap, &w->len, "\xef\xbf\xbd", 3); /* U+FFFD */
            i++;
            continue;
        }
        if (selgw_code_point_is_control(cp))
            selgw_text_char(w->buf, w->cap, &w->len, ' ');
        else if (w->markdown && cp < 0x80 && strchr("\\`*_[]()#<>~|", (int)cp)) {
            selgw_text_char(w->buf, w->cap, &w->len, '\\');
            selgw_text_char(w->buf, w->cap, &w->len, (char)cp);
        } else
            selgw_text_bytes(w->buf, w->cap, &w->len, s + i, seq);
        i += seq;
    }
}

static void put_str(writer *w, selgw_str s)
{
    put_data(w, s.ptr, s.len);
}

/* The table's name of id, else the id. */
static void put_name(writer *w, const selgw_webhook_render *r, const char *table, selgw_str id)
{
    const char *name = selgw_i18n_name(r->names, table, id, r->language);
    if (name)
        put_data(w, name, strlen(name));
    else
        put_str(w, id);
}

/* A reading with its unit: "1.5 °C", "15%", "6.5" (pH), at most two decimals. */
static void put_value(writer *w, const selgw_webhook_render *r, const selgw_record *a, double v)
{
    if (!isfinite(v)) {
        put(w, r->language == SELGW_LANG_EN ? "no value" : "无读数");
        return;
    }
    char text[64];
    snprintf(text, sizeof text, "%.2f", v);
    char *dot = strchr(text, '.');
    if (dot) {
        char *end = text + strlen(text);
        while (end > dot && (end[-1] == '0' || end[-1] == '.'))
            *--end = '\0';
    }
    if (!strcmp(text, "-0"))
        strcpy(text, "0");
    put(w, text);
    const char *unit = selgw_i18n_name(r->names, "units", a->unit, r->language);
    size_t unit_len = unit ? strlen(unit) : a->unit.len;
    if (unit_len == 0)
        return;
    bool percent = unit ? !strcmp(unit, "%") : a->unit.len == 1 && a->unit.ptr[0] == '%';
    if (!percent)
        put(w, " ");
    if (unit)
        put_data(w, unit, unit_len);
    else
        put_str(w, a->unit);
}

/* A local time: "08:05" on the alert's own day, "2026-11-28 22:05" on another. */
static void put_time(writer *w, const selgw_webhook_render *r, int64_t when_ns, int64_t alert_ns)
{
    int32_t day = selgw_local_day(when_ns, r->utc_offset_minutes);
    int32_t alert_day = selgw_local_day(alert_ns, r->utc_offset_minutes);
    int64_t local_s = when_ns / SELGW_NS_PER_S + (int64_t)r->utc_offset_minutes * 60;
    int64_t second_of_day = local_s - (int64_t)day * 86400;
    char text[48];
    if (day == alert_day) {
        snprintf(text, sizeof text, "%02d:%02d", (int)(second_of_day / 3600),
                 (int)(second_of_day % 3600 / 60));
    } else {
        int year;
        unsigned month, mday;
        selgw_civil_from_days(day, &year, &month, &mday);
        snprintf(text, sizeof text, "%04d-%02u-%02u %02d:%02d", year, month, mday,
                 (int)(second_of_day / 3600), (int)(second_of_day % 3600 / 60));
    }
    put(w, text);
}

/* The words of each kind of alert, in both languages. In `what`: F the field, V the value,
 * T the threshold, S the time since when. */
typedef struct wording {
    const char *zh, *en;
} wording;

static const wording raised_words[] = {
    [SELGW_ALERT_BELOW] = {"F V，低于 T，自 S 起", "F V, below T since S"},
    [SELGW_ALERT_ABOVE] = {"F V，高于 T，自 S 起", "F V, above T since S"},
    [SELGW_ALERT_STALE] = {"F 自 S 起无有效读数", "F: no valid reading since S"},
    [SELGW_ALERT_STUCK] = {"F 读数自 S 起一直为 V，传感器可能故障",
                           "F has read V since S: the sensor may be stuck"},
};
static const wording cleared_words[] = {
    [SELGW_ALERT_BELOW] = {"F V，已回升至 T 以上（告警自 S 起）",
                           "F V, back above T (alert since S)"},
    [SELGW_ALERT_ABOVE] = {"F V，已回落至 T 以下（告警自 S 起）",
                           "F V, back below T (alert since S)"},
    [SELGW_ALERT_STALE] = {"F 恢复读数 V（告警自 S 起）", "F reads again: V (alert since S)"},
    [SELGW_ALERT_STUCK] = {"F 读数恢复变化，现为 V（告警自 S 起）",
                           "F changes again, now V (alert since S)"},
};

static const wording withdrawn = {"F 告警撤销，并非读数恢复（告警自 S 起）",
                                  "F: alert withdrawn, not by a reading (alert since S)"};
static const wording stale_back = {"F 恢复读数（告警自 S 起）", "F reads again (alert since S)"};

size_t selgw_webhook_alert_text(const selgw_webhook_render *r, const selgw_record *a,
                                const char *base_name, bool markdown, char *buf, size_t cap)
{
    writer w = {.buf = buf, .cap = cap, .len = 0, .markdown = markdown};
    if (cap)
        buf[0] = '\0';
    bool en = r->language == SELGW_LANG_EN;
    bool raised = a->alert_state != SELGW_ALERT_CLEARED;
    const char *head = raised ? (en ? "[ALERT]" : "【告警】") : (en ? "[CLEARED]" : "【解除】");
    if (markdown) {
        put(&w, "**");
        put(&w, head);
        put(&w, "**");
    } else {
        put(&w, head);
    }
    if (en)
        put(&w, " ");
    if (base_name && base_name[0])
        put_data(&w, base_name, strlen(base_name));
    else
        put_str(&w, a->base);
    put(&w, en ? " / plot " : " / 地块 ");
    put_str(&w, a->plot);
    if (a->crop.len) {
        put(&w, en ? " (" : "（");
        put_name(&w, r, "crops", a->crop);
        put(&w, en ? ")" : "）");
    }
    put(&w, en ? ": " : "：");
    unsigned condition = (unsigned)a->alert_condition;
    const wording *words = raised ? raised_words : cleared_words;
    const char *what =
        condition >= 1 && condition <= 4 ? (en ? words[condition].en : words[condition].zh) : "F V";
    /* Cleared by no reading (its rule was removed or changed: the gateway's log says why). A
     * stale sensor's clearing may carry no single value: it reads again. */
    if (!raised && !isfinite(a->alert_value))
        what = a->alert_condition == SELGW_ALERT_STALE ? (en ? stale_back.en : stale_back.zh)
                                                       : (en ? withdrawn.en : withdrawn.zh);
    for (const char *p = what; *p; p++) {
        switch (*p) {
        case 'F':
            /* a rule without a field watches the device as a whole */
            if (a->field.len)
                put_name(&w, r, "fields", a->field);
            else
                put(&w, en ? "Every field" : "所有字段");
            break;
        case 'V':
            put_value(&w, r, a, a->alert_value);
            break;
        case 'T':
            put_value(&w, r, a, a->alert_threshold);
            break;
        case 'S':
            put_time(&w, r, a->alert_since_ns, a->time_ns);
            break;
        default:
            selgw_text_char(w.buf, w.cap, &w.len, *p);
        }
    }
    put(&w, en ? " (device " : "（设备 ");
    put_str(&w, a->device);
    put(&w, en ? ")" : "）");
    return w.len;
}

/* "【告警】地块 demo-p01 空气温度", "[ALERT] plot demo-p01: Air temperature", snprintf-style. */
static size_t alert_title(const selgw_webhook_render *r, const selgw_record *a, char *buf,
                          size_t cap)
{
    writer w = {.buf = buf, .cap = cap, .len = 0, .markdown = false};
    bool en = r->language == SELGW_LANG_EN;
    bool raised = a->alert_state != SELGW_ALERT_CLEARED;
    put(&w, raised ? (en ? "[ALERT] plot " : "【告警】地块 ")
                   : (en ? "[CLEARED] plot " : "【解除】地块 "));
    put_str(&w, a->plot);
    put(&w, en ? ": " : " ");
    put_name(&w, r, "fields", a->field);
    return w.len;
}

size_t selgw_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t i = 0;
    while (i < max) {
        uint32_t cp;
        size_t seq = selgw_utf8_sequence((const unsigned char *)s + i, len - i, &cp);
        if (seq == 0)
            seq = 1;
        if (i + seq > max)
            break;
        i += seq;
    }
    return i;
}

/* ---- request bodies ---- */

#define TITLE_MAX 128

static size_t content_limit(const selgw_webhook_render *r)
{
    switch (r->format) {
    case SELGW_WEBHOOK_WECOM:
        return r->style == SELGW_WEBHOOK_TEXT ? SELGW_WECOM_TEXT_MAX : SELGW_WECOM_MARKDOWN_MAX;
    case SELGW_WEBHOOK_DINGTALK:
        return SELGW_DINGTALK_MAX;
    default:
        return SIZE_MAX;
    }
}

/* The alert's text (malloc'd) held to limit bytes: cut on a character boundary, with "…". */
static char *limited_text(const selgw_webhook_render *r, const selgw_record *a,
                          const char *base_name, bool markdown, size_t limit, size_t *len)
{
    size_t n = selgw_webhook_alert_text(r, a, base_name, markdown, NULL, 0);
    char *text = malloc(n + 1);
    if (!text)
        return NULL;
    selgw_webhook_alert_text(r, a, base_name, markdown, text, n + 1);
    static const char ellipsis[] = "…";
    if (n > limit) {
        size_t keep = selgw_utf8_prefix(text, n, limit - (sizeof ellipsis - 1));
        /* a markdown escape is never left half: a trailing lone backslash goes too */
        size_t slashes = 0;
        while (markdown && slashes < keep && text[keep - 1 - slashes] == '\\')
            slashes++;
        if (slashes % 2)
            keep--;
        memcpy(text + keep, ellipsis, sizeof ellipsis);
        n = keep + sizeof ellipsis - 1;
    }
    *len = n;
    return text;
}

static size_t render_body(const selgw_webhook_render *r, const selgw_record *a, const char *text,
                          size_t text_len, const char *title, size_t title_len, char *buf,
                          size_t cap)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    bool markdown = r->style == SELGW_WEBHOOK_MARKDOWN;
    switch (r->format) {
    case SELGW_WEBHOOK_WECOM:
    case SELGW_WEBHOOK_DINGTALK:
        if (markdown) {
            selgw_text_format(buf, cap, &len, "{\"msgtype\":\"markdown\",\"markdown\":{");
            if (r->format == SELGW_WEBHOOK_DINGTALK) {
                selgw_text_format(buf, cap, &len, "\"title\":");
                selgw_json_string_n(buf, cap, &len, title, title_len);
                selgw_text_format(buf, cap, &len, ",\"text\":");
            } else {
                selgw_text_format(buf, cap, &len, "\"content\":");
            }
        } else {
            selgw_text_format(buf, cap, &len, "{\"msgtype\":\"text\",\"text\":{\"content\":");
        }
        selgw_json_string_n(buf, cap, &len, text, text_len);
        /* Everyone in the group is notified of a raised alert when asked to. */
        if (r->mention_all && a->alert_state == SELGW_ALERT_RAISED) {
            if (r->format == SELGW_WEBHOOK_WECOM)
                selgw_text_format(buf, cap, &len, ",\"mentioned_list\":[\"@all\"]}}");
            else
                selgw_text_format(buf, cap, &len, "},\"at\":{\"isAtAll\":true}}");
        } else {
            selgw_text_format(buf, cap, &len, "}}");
        }
        break;
    case SELGW_WEBHOOK_JSON: {
        /* The record's own JSON object, "message" added as its last member. */
        size_t start = len;
        len += selgw_record_json(a, len < cap ? buf + len : NULL, len < cap ? cap - len : 0);
        if (len > start && len - 1 < cap)
            buf[len - 1] = '\0'; /* its closing brace, written again below */
        len = len > start ? len - 1 : len;
        selgw_text_format(buf, cap, &len, ",\"message\":");
        selgw_json_string_n(buf, cap, &len, text, text_len);
        selgw_text_char(buf, cap, &len, '}');
        break;
    }
    }
    return len;
}

selgw_err selgw_webhook_body(const selgw_webhook_render *r, const selgw_record *a,
                             const char *base_name, char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (a->type != SELGW_RECORD_ALERT)
        return SELGW_ERR_INVALID;
    bool markdown = r->format != SELGW_WEBHOOK_JSON && r->style == SELGW_WEBHOOK_MARKDOWN;
    size_t text_len = 0;
    char *text = limited_text(r, a, base_name, markdown, content_limit(r), &text_len);
    if (!text)
        return SELGW_ERR_NOMEM;
    /* DingTalk shows a markdown message's title in the notification: what and where, in at
     * most TITLE_MAX bytes. */
    char *title = NULL;
    size_t title_len = 0;
    if (r->format == SELGW_WEBHOOK_DINGTALK && markdown) {
        size_t full = alert_title(r, a, NULL, 0);
        if (!(title = malloc(full + 1))) {
            free(text);
            return SELGW_ERR_NOMEM;
        }
        alert_title(r, a, title, full + 1);
        title_len = selgw_utf8_prefix(title, full, TITLE_MAX);
    }
    size_t n = render_body(r, a, text, text_len, title, title_len, NULL, 0);
    char *out = malloc(n + 1);
    if (!out) {
        free(text);
        free(title);
        return SELGW_ERR_NOMEM;
    }
    render_body(r, a, text, text_len, title, title_len, out, n + 1);
    free(text);
    free(title);
    *body = out;
    *len = n;
    return SELGW_OK;
}

/* ---- DingTalk's signature ---- */

size_t selgw_dingtalk_sign_params(const char *secret, int64_t timestamp_ms, bool first_param,
                                  char *out, size_t cap)
{
    if (sodium_init() < 0) /* idempotent and thread-safe */
        return 0;
    char to_sign[64];
    int prefix = snprintf(to_sign, sizeof to_sign, "%lld\n", (long long)timestamp_ms);
    size_t secret_len = strlen(secret);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)to_sign, (unsigned long long)prefix);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)secret, secret_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    char b64[sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,
                                       sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    size_t len = 0;
    selgw_text_format(out, cap, &len, "%ctimestamp=%lld&sign=", first_param ? '?' : '&',
                      (long long)timestamp_ms);
    for (const char *p = b64; *p; p++) {
        if (*p == '+' || *p == '/' || *p == '=')
            selgw_text_format(out, cap, &len, "%%%02X", (unsigned)*p);
        else
            selgw_text_char(out, cap, &len, *p);
    }
    if (len >= cap) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    return len;
}

/* ---- answers ---- */

selgw_webhook_verdict selgw_webhook_classify(selgw_webhook_format format, long http_status,
                                             const char *body, size_t len, long *errcode,
                                             char *errmsg, size_t cap)
{
    *errcode = -1;
    if (cap)
        errmsg[0] = '\0';
    if (http_status == 0 || http_status == 408 || http_status == 429 || http_status >= 500)
        return SELGW_WEBHOOK_RETRY;
    if (http_status == 401 || http_status == 403 || http_status == 404 ||
        (http_status >= 300 && http_status < 400))
        return SELGW_WEBHOOK_OPERATOR;
    if (http_status < 200 || http_status >= 300)
        return http_status >= 400 ? SELGW_WEBHOOK_REFUSED : SELGW_WEBHOOK_RETRY;
    if (format == SELGW_WEBHOOK_JSON)
        return SELGW_WEBHOOK_DELIVERED;
    /* A robot acknowledges with errcode 0; a 2xx that does not say so (a proxy's page, an
     * empty body) is no acknowledgement. */
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *code = json_object_get(root, "errcode");
    json_t *msg = json_object_get(root, "errmsg");
    if (json_is_string(msg))
        selgw_influx_plain_text(json_string_value(msg), json_string_length(msg), errmsg, cap);
    selgw_webhook_verdict verdict = SELGW_WEBHOOK_RETRY;
    if (json_is_integer(code)) {
        json_int_t value = json_integer_value(code);
        *errcode = value < 0 || value > 999999999 ? -1 : (long)value;
        switch (value) {
        case 0:
            verdict = SELGW_WEBHOOK_DELIVERED;
            break;
        case 45009:  /* WeCom: api freq out of limit */
        case 130101: /* DingTalk: send too fast */
            verdict = SELGW_WEBHOOK_SLOW_DOWN;
            break;
        case 93000:  /* WeCom: invalid webhook url (the key) */
        case 300001: /* DingTalk: the access token is not valid */
        case 310000: /* DingTalk: keyword, signature or IP allow-list check failed */
            verdict = SELGW_WEBHOOK_OPERATOR;
            break;
        default:
            verdict = SELGW_WEBHOOK_REFUSED;
        }
    }
    json_decref(root);
    return verdict;
}
