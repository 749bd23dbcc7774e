/* selgw: alert messages for webhooks, as pure functions (docs/WEBHOOK.md).
 *
 * An ALERT record becomes one line people read, in Chinese (zh-CN) or English, with field,
 * unit and crop names from the one table of names (dashboards/i18n.json, compiled into the
 * binary), times in the gateway's local time; then the request body of the WeCom or
 * DingTalk group robot (markdown or text) or the generic JSON POST (the record's JSON with
 * that line as "message"). The robots' answers are read here too: a 2xx is a delivery only
 * with errcode 0. No I/O, no clock: the sink (webhook_sink.c) does those. */
#ifndef SELGW_WEBHOOK_MSG_H
#define SELGW_WEBHOOK_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h" /* selgw_webhook_format, _style, selgw_language */
#include "base/error.h"
#include "journal/record.h"

/* The robots' limits on a message's content, in bytes of UTF-8: WeCom's text 2048,
 * markdown 4096. DingTalk documents none that we know of; its messages are held to 4096
 * as well. A longer text is cut on a character boundary and ends with "…". */
#define SELGW_WECOM_TEXT_MAX 2048
#define SELGW_WECOM_MARKDOWN_MAX 4096
#define SELGW_DINGTALK_MAX 4096

/* The table of names people read (fields, units, crops) in zh and en. */
typedef struct selgw_i18n selgw_i18n;

/* Parses a table of the form of dashboards/i18n.json: {"fields": {ID: {"zh": ..., "en":
 * ...}}, "units": {...}, "crops": {...}}. SELGW_ERR_INVALID if it is not such an object. */
selgw_err selgw_i18n_parse(const char *json, size_t len, selgw_i18n **out);
/* The table compiled into the binary (dashboards/i18n.json). */
selgw_err selgw_i18n_builtin(selgw_i18n **out);
void selgw_i18n_free(selgw_i18n *t); /* NULL is fine */
/* The name of id in table "fields", "units" or "crops", in lang; NULL when not listed (the
 * caller shows the id). An empty name is a name ("pH" has no unit to show). */
const char *selgw_i18n_name(const selgw_i18n *t, const char *table, selgw_str id,
                            selgw_language lang);

/* How an alert is told. */
typedef struct selgw_webhook_render {
    selgw_webhook_format format;
    selgw_webhook_style style;
    selgw_language language;
    int utc_offset_minutes;  /* times are shown in the gateway's local time */
    bool mention_all;        /* a raised alert notifies everyone in the group (@all) */
    const selgw_i18n *names; /* may be NULL: ids are shown */
} selgw_webhook_render;

/* The alert as one line of text, snprintf-style (returns the length it needs, writes at
 * most cap bytes with the NUL). base_name is the base's name from the config (NULL or "":
 * the base id). Strings from the record and the table are put in as one line (control
 * characters as spaces, malformed UTF-8 as U+FFFD); with markdown, ASCII punctuation that
 * markdown reads (\ ` * _ [ ] ( ) # < > ~ |) is escaped with a backslash in them too. */
size_t selgw_webhook_alert_text(const selgw_webhook_render *r, const selgw_record *alert,
                                const char *base_name, bool markdown, char *buf, size_t cap);

/* The length of the longest prefix of s[0..len) of at most max bytes that ends on a
 * character boundary (a malformed byte counts as one character). */
size_t selgw_utf8_prefix(const char *s, size_t len, size_t max);

/* The request body for the alert in r's format (malloc'd, NUL-terminated, *len its length):
 *   wecom markdown  {"msgtype":"markdown","markdown":{"content":TEXT}}   (4096 bytes at most)
 *   wecom text      {"msgtype":"text","text":{"content":TEXT}}           (2048)
 *                   with mention_all, a raised alert: ...,"mentioned_list":["@all"]}}
 *   dingtalk md     {"msgtype":"markdown","markdown":{"title":T,"text":TEXT}}
 *   dingtalk text   {"msgtype":"text","text":{"content":TEXT}}
 *                   with mention_all, a raised alert: ...},"at":{"isAtAll":true}}
 *   json            the record's JSON (selgw_record_json) with "message":TEXT last
 * SELGW_ERR_INVALID for a record that is not an ALERT, NOMEM. */
selgw_err selgw_webhook_body(const selgw_webhook_render *r, const selgw_record *alert,
                             const char *base_name, char **body, size_t *len);

/* DingTalk's "sign" security mode: "&timestamp=MS&sign=S" (or with '?' first when
 * first_param), where S is base64(HMAC-SHA256(key = secret, timestamp_ms "\n" secret)),
 * URL-encoded. Writes at most cap bytes with the NUL; returns the length, 0 if it does not
 * fit. */
#define SELGW_DINGTALK_SIGN_PARAMS_MAX 128
size_t selgw_dingtalk_sign_params(const char *secret, int64_t timestamp_ms, bool first_param,
                                  char *out, size_t cap);

/* What an answer to a POST means. */
typedef enum selgw_webhook_verdict {
    SELGW_WEBHOOK_DELIVERED, /* 2xx and, from a robot, errcode 0 */
    SELGW_WEBHOOK_RETRY,     /* no answer, 408, 429, 5xx, an answer that says nothing: retry */
    SELGW_WEBHOOK_SLOW_DOWN, /* the robot's own rate limit (errcode 45009, 130101): retry later */
    SELGW_WEBHOOK_OPERATOR,  /* URL, key or signature wrong (401, 403, 404, 3xx, errcode 93000,
                              * 300001, 310000): keep the alert, alarm, retry slowly */
    SELGW_WEBHOOK_REFUSED,   /* this message refused (another 4xx or errcode): after
                              * dead_letter_after refusals it is set aside */
} selgw_webhook_verdict;

/* Classifies an answer: http_status (0: no answer) and its body. For the robots'
 * formats, a 2xx body must be a JSON object with an integer errcode; *errcode gets it (or
 * -1) and errmsg its errmsg as one printable line (cap bytes; "" when none). Pure. */
selgw_webhook_verdict selgw_webhook_classify(selgw_webhook_format format, long http_status,
                                             const char *body, size_t len, long *errcode,
                                             char *errmsg, size_t cap);

#endif
