/* The report people read: its model and its HTML (report.h, docs/REPORT.md).
 *
 * The renderer is a pure function of the model. Every text that came from a bundle is
 * written through selgw_html_escape; the only markup not written here is the QR code's SVG
 * (qr.c), which holds nothing but numbers. Names of fields, units and crops come from the
 * one table of names (dashboards/i18n.json, compiled into the binary: base/embedded.h);
 * the report's own labels are in one table per language below. */
#include "evidence/report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/durable.h"
#include "base/embedded.h"
#include "base/safe_text.h"
#include "base/text_writer.h"
#include "evidence/qr.h"
#include "evidence/report_zh.h"

/* ---- escaping ------------------------------------------------------------------------- */

/* Appends s[0..n) whole or not at all, so that a cut text never ends inside an entity or a
 * character (once a piece does not fit, no later one does: *len only grows). */
static void put_whole(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (buf && *len + n < cap) {
        memcpy(buf + *len, s, n);
        buf[*len + n] = '\0';
    }
    *len += n;
}

void selgw_html_escape(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            uint32_t cp;
            size_t seq = selgw_utf8_sequence(p + i, n - i, &cp);
            if (seq == 0 || selgw_code_point_is_control(cp)) {
                put_whole(buf, cap, len, replacement, 3); /* each malformed byte */
                if (seq)
                    i += seq - 1;
            } else {
                put_whole(buf, cap, len, s + i, seq);
                i += seq - 1;
            }
            continue;
        }
        switch (c) {
        case '&':
            put_whole(buf, cap, len, "&amp;", 5);
            break;
        case '<':
            put_whole(buf, cap, len, "&lt;", 4);
            break;
        case '>':
            put_whole(buf, cap, len, "&gt;", 4);
            break;
        case '"':
            put_whole(buf, cap, len, "&quot;", 6);
            break;
        case '\'':
            put_whole(buf, cap, len, "&#39;", 5);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                put_whole(buf, cap, len, replacement, 3);
            else
                put_whole(buf, cap, len, (const char *)&p[i], 1);
        }
    }
}

/* ---- the model -------------------------------------------------------------------------- */

typedef enum report_lang { LANG_ZH, LANG_EN } report_lang;

struct selgw_report {
    report_lang lang;
    selgw_report_section *sections;
    size_t count, cap;
    /* a lot bundle's verdict over all its sections (selgw_report_set_lot_verdict) */
    char *lot;
    selgw_report_verdict lot_verdict;
    char **lot_problems;
    size_t lot_listed;
    uint64_t lot_problem_count;
};

static void lot_verdict_clear(selgw_report *r)
{
    free(r->lot);
    for (size_t i = 0; i < r->lot_listed; i++)
        free(r->lot_problems[i]);
    free(r->lot_problems);
    r->lot = NULL;
    r->lot_problems = NULL;
    r->lot_listed = 0;
    r->lot_problem_count = 0;
}

bool selgw_report_is_zh(const selgw_report *r)
{
    return r && r->lang == LANG_ZH;
}

selgw_report *selgw_report_new(const char *lang)
{
    report_lang l;
    if (lang && !strcmp(lang, "zh"))
        l = LANG_ZH;
    else if (lang && !strcmp(lang, "en"))
        l = LANG_EN;
    else
        return NULL;
    selgw_report *r = calloc(1, sizeof *r);
    if (r)
        r->lang = l;
    return r;
}

void selgw_report_event_clear(selgw_report_event *e)
{
    free(e->text);
    free(e->detail);
    free(e->device);
    free(e->status);
    free(e->condition);
    memset(e, 0, sizeof *e);
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static void section_clear(selgw_report_section *s)
{
    free(s->bundle);
    free(s->error);
    free_list(s->problems, s->problem_count_listed);
    free(s->public_key);
    free(s->fingerprint);
    free(s->key_label);
    free(s->gateway);
    free(s->plot);
    free(s->base_id);
    free(s->base_name);
    free(s->county);
    free(s->township);
    free(s->crop);
    free(s->boundary);
    for (size_t i = 0; i < s->gi_count; i++) {
        free(s->gi[i].product);
        free(s->gi[i].reason);
    }
    free(s->gi);
    for (size_t i = 0; i < s->contract_count; i++) {
        free(s->contracts[i].household);
        free(s->contracts[i].contract);
        free(s->contracts[i].from);
        free(s->contracts[i].to);
    }
    free(s->contracts);
    free_list(s->households_seen, s->household_seen_count);
    for (size_t i = 0; i < s->device_count; i++) {
        selgw_report_device *d = &s->devices[i];
        free(d->id);
        free(d->chain);
        for (size_t k = 0; k < d->field_count; k++) {
            free(d->fields[k].name);
            free(d->fields[k].unit);
            free(d->fields[k].days);
        }
        free(d->fields);
    }
    free(s->devices);
    for (size_t i = 0; i < s->event_count; i++)
        selgw_report_event_clear(&s->events[i]);
    free(s->events);
    free(s->lot);
    free(s->lot_json);
    free(s->bundle_hash);
    memset(s, 0, sizeof *s);
}

void selgw_report_free(selgw_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++)
        section_clear(&r->sections[i]);
    free(r->sections);
    lot_verdict_clear(r);
    free(r);
}

selgw_report_section *selgw_report_add_section(selgw_report *r)
{
    if (!r)
        return NULL;
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        selgw_report_section *grown = realloc(r->sections, cap * sizeof *grown);
        if (!grown)
            return NULL;
        r->sections = grown;
        r->cap = cap;
    }
    selgw_report_section *s = &r->sections[r->count++];
    memset(s, 0, sizeof *s);
    s->utc_offset_minutes = 8 * 60;
    return s;
}

size_t selgw_report_section_count(const selgw_report *r)
{
    return r ? r->count : 0;
}

selgw_report_section *selgw_report_section_at(selgw_report *r, size_t i)
{
    return r && i < r->count ? &r->sections[i] : NULL;
}

static char *shown_copy(const char *s)
{
    return selgw_text_escape_dup(s, strlen(s));
}

static selgw_err replace_text(char **slot, const char *text, bool as_shown)
{
    char *copy = as_shown ? shown_copy(text) : strdup(text);
    if (!copy)
        return SELGW_ERR_NOMEM;
    free(*slot);
    *slot = copy;
    return SELGW_OK;
}

selgw_err selgw_report_set_lot_json(selgw_report *r, size_t section, const char *json)
{
    selgw_report_section *s = selgw_report_section_at(r, section);
    if (!s || !json)
        return SELGW_ERR_INVALID;
    /* kept as recorded: it is parsed when rendered, and each value escaped then */
    return replace_text(&s->lot_json, json, false);
}

selgw_err selgw_report_set_bundle_hash(selgw_report *r, size_t section, const char *hash)
{
    selgw_report_section *s = selgw_report_section_at(r, section);
    if (!s || !hash)
        return SELGW_ERR_INVALID;
    return replace_text(&s->bundle_hash, hash, true);
}

selgw_err selgw_report_set_plot_location(selgw_report *r, size_t section, double latitude,
                                         double longitude)
{
    selgw_report_section *s = selgw_report_section_at(r, section);
    if (!s || !isfinite(latitude) || !isfinite(longitude))
        return SELGW_ERR_INVALID;
    s->has_plot_location = true;
    s->plot_latitude = latitude;
    s->plot_longitude = longitude;
    return SELGW_OK;
}

selgw_err selgw_report_set_plot_boundary(selgw_report *r, size_t section, const double (*points)[2],
                                         size_t count)
{
    selgw_report_section *s = selgw_report_section_at(r, section);
    if (!s || (!points && count))
        return SELGW_ERR_INVALID;
    double(*copy)[2] = NULL;
    if (count) {
        copy = malloc(count * sizeof *copy);
        if (!copy)
            return SELGW_ERR_NOMEM;
        memcpy(copy, points, count * sizeof *copy);
    }
    free(s->boundary);
    s->boundary = copy;
    s->boundary_count = count;
    return SELGW_OK;
}

selgw_err selgw_report_add_gi(selgw_report *r, size_t section, const char *product,
                              selgw_report_gi_verdict verdict, const char *reason)
{
    selgw_report_section *s = selgw_report_section_at(r, section);
    if (!s || !product || !reason || verdict > SELGW_REPORT_GI_UNDETERMINED)
        return SELGW_ERR_INVALID;
    selgw_report_gi *grown = realloc(s->gi, (s->gi_count + 1) * sizeof *grown);
    if (!grown)
        return SELGW_ERR_NOMEM;
    s->gi = grown;
    selgw_report_gi *g = &s->gi[s->gi_count];
    g->product = shown_copy(product);
    g->reason = shown_copy(reason);
    g->verdict = verdict;
    if (!g->product || !g->reason) {
        free(g->product);
        free(g->reason);
        return SELGW_ERR_NOMEM;
    }
    s->gi_count++;
    return SELGW_OK;
}

selgw_err selgw_report_set_lot_verdict(selgw_report *r, const char *lot,
                                       selgw_report_verdict verdict, char *const *problems,
                                       size_t listed, uint64_t count)
{
    if (!r || !lot || (listed && !problems) || verdict > SELGW_REPORT_KEY_UNTRUSTED)
        return SELGW_ERR_INVALID;
    lot_verdict_clear(r);
    r->lot = shown_copy(lot);
    r->lot_problems = calloc(listed ? listed : 1, sizeof *r->lot_problems);
    if (!r->lot || !r->lot_problems) {
        lot_verdict_clear(r);
        return SELGW_ERR_NOMEM;
    }
    for (size_t i = 0; i < listed; i++) {
        if (!(r->lot_problems[i] = shown_copy(problems[i]))) {
            lot_verdict_clear(r);
            return SELGW_ERR_NOMEM;
        }
        r->lot_listed++;
    }
    r->lot_verdict = verdict;
    r->lot_problem_count = count > listed ? count : listed;
    return SELGW_OK;
}

/* ---- the labels ------------------------------------------------------------------------- */

typedef struct labels {
    const char *html_lang, *title, *intro, *bundle_title, *could_not_read, *lot_title,
        *lot_verified_expl;
    const char *verified, *not_verified, *untrusted, *verified_expl, *untrusted_expl;
    const char *problems, *more_problems;
    const char *fingerprint, *public_key, *key_source, *key_given, *key_registered, *key_bundle;
    const char *clock_never, *clock_ok;
    const char *h_place, *base, *place, *coordinates, *plot_location, *boundary, *not_recorded;
    const char *gi, *gi_none, *gi_inside, *gi_outside, *gi_undetermined, *product, *verdict_col,
        *reason;
    const char *h_plot, *plot, *gateway, *period, *crop, *area, *sealed, *sealed_text, *seal_open,
        *seal_close, *from_start;
    const char *contracts, *household, *contract, *from, *to, *open_ended, *none;
    const char *households_seen;
    const char *h_lot, *lot_id, *lot_plots, *season_from, *harvest, *quantity, *lot_households,
        *processing, *refs, *url, *qr_caption, *bundle_hash, *no_hash, *lot_unreadable;
    const char *h_notes, *time, *text, *ref;
    const char *h_fields, *device, *field, *unit, *n, *min, *mean, *max, *out_of_range, *daily,
        *date, *legend, *days_left_out, *no_values;
    const char *h_coverage, *polls, *ok, *failed, *coverage, *median, *first, *last, *other_plot,
        *outside;
    const char *gaps, *failed_one, *failed_run, *gap, *start, *crash, *stop, *clock, *clock_step,
        *tags, *alert, *raised, *cleared, *seconds, *minutes, *hours;
    const char *witness, *witnessed, *witness_trusted, *witness_untrusted, *witness_unchecked,
        *witness_claimed, *witness_outside, *witness_other, *witness_ahead;
    const char *h_events, *kind, *what;
} labels;

static const labels zh = {
    .html_lang = "zh-CN",
    .title = "产地证据报告",
    .intro = "本报告由 selgw verify "
             "根据签名的证据包离线生成，不依赖任何服务器。时间均为网关本地时间（UTC%s）。",
    .bundle_title = "地块 %s 的证据",
    .lot_title = "批次 %s 的证据",
    .lot_verified_expl = "批次的每个地块各有一节证据，且各自通过验证（见下）；每个地块的链中都有这"
                         "份批次记录，内容一致；每节覆盖该地块自生长季开始至采收结束（或批次登记时"
                         "）；每个地块的标签列出该产品，且地块位于其保护范围内。",
    .could_not_read = "无法读取证据包",
    .verified = "已验证",
    .not_verified = "未通过验证",
    .untrusted = "未验证：密钥不受信任",
    .verified_expl = "所有检查均通过：封印签名有效；每条记录完整、位置正确，无缺失、增添或调序；地"
                     "块链从第一条记录起完整；地块标签列出的每台设备都在；时段内有该地块的读数；封"
                     "印覆盖整个时段；网关时间顺序正确。未检查：两次封印之间不同链记录的先后顺序。",
    .untrusted_expl = "所有检查均通过，但密钥只是证据包自己的声明，任何人都可以用自己的密钥签署伪造"
                      "的证据。请将下面的指纹与企业登记的密钥核对，再用 --pubkey 或 --keys 验证。",
    .problems = "发现的问题（共 %" PRIu64 " 个）",
    .more_problems = "……另有 %" PRIu64 " 个问题",
    .fingerprint = "密钥指纹",
    .public_key = "公钥",
    .key_source = "密钥来源",
    .key_given = "验证者给定的密钥（--pubkey）",
    .key_registered = "已登记的密钥",
    .key_bundle = "仅为证据包自身的声明，无人担保",
    .clock_never = "网关时钟从未同步：本报告中的日期和时间只是网关自己的说法，无法证明真实时间。",
    .clock_ok = "网关时钟已同步（见时钟记录）。",
    .h_place = "地点与地理标志",
    .base = "基地",
    .place = "县、镇",
    .coordinates = "基地坐标（WGS84）",
    .plot_location = "地块位置（WGS84）",
    .boundary = "地块边界：%zu 个点",
    .not_recorded = "未记录",
    .gi = "地理标志产品核查",
    .gi_none = "未声明",
    .gi_inside = "在保护范围内",
    .gi_outside = "在保护范围外",
    .gi_undetermined = "无法确定",
    .product = "产品",
    .verdict_col = "结论",
    .reason = "依据",
    .h_plot = "地块、作物与农户",
    .plot = "地块",
    .gateway = "网关",
    .period = "时段",
    .crop = "作物",
    .area = "面积（亩）",
    .sealed = "封印",
    .sealed_text = "%s；记录 %" PRIu64 " 条，链 %" PRIu64 " 条，封印 %" PRIu64 " 个",
    .seal_open = "自 %s 的封印",
    .seal_close = "至 %s 的封印",
    .from_start = "自每条链的开头",
    .contracts = "承包农户与合同（时段内有效）",
    .household = "农户",
    .contract = "合同",
    .from = "起",
    .to = "止",
    .open_ended = "长期",
    .none = "无",
    .households_seen = "读数中标记的农户",
    .h_lot = "批次",
    .lot_id = "批次号",
    .lot_plots = "地块与采收期",
    .season_from = "生长季自",
    .harvest = "采收",
    .quantity = "数量",
    .lot_households = "采摘农户",
    .processing = "加工",
    .refs = "参考编号",
    .url = "网址",
    .qr_caption = "扫码核对：批次号与证据包哈希",
    .bundle_hash = "证据包哈希",
    .no_hash = "证据包哈希未知，无法生成二维码",
    .lot_unreadable = "批次记录无法读取",
    .h_notes = "检测结果与备注",
    .time = "时间",
    .text = "内容",
    .ref = "编号",
    .h_fields = "各字段数据",
    .device = "设备",
    .field = "字段",
    .unit = "单位",
    .n = "读数",
    .min = "最小",
    .mean = "平均",
    .max = "最大",
    .out_of_range = "超出量程",
    .daily = "逐日统计",
    .date = "日期",
    .legend = "色带：每日最小值至最大值；折线：每日平均值",
    .days_left_out = "时段过长，未保留逐日统计",
    .no_values = "时段内无数值",
    .h_coverage = "设备覆盖率与数据缺口",
    .polls = "采集次数",
    .ok = "成功",
    .failed = "失败",
    .coverage = "覆盖率",
    .median = "中位间隔",
    .first = "首次",
    .last = "末次",
    .other_plot = "另有 %" PRIu64 " 条读数标记为其他地块（设备曾移动；已检查，未计入）",
    .outside = "另有 %" PRIu64 " 条读数在时段之外（已检查，未计入）",
    .gaps = "缺口及原因（按时间顺序）",
    .failed_one = "设备 %s：采集失败：%s",
    .failed_run = "设备 %s：%" PRIu64 " 次采集失败，直至 %s：%s",
    .gap = "日志记录 %" PRIu64 "..%" PRIu64 " 丢失：%s",
    .start = "启动",
    .crash = "此前的运行没有停止记录：%s 之后崩溃或断电",
    .stop = "停止",
    .clock = "时钟",
    .clock_step = "时钟跳变",
    .witness = "见证",
    .witnessed = "%s 的签封不晚于 %s 已存在，见证者密钥指纹 %s",
    .witness_trusted = "（受信任的见证者）",
    .witness_untrusted = "（未判断：密钥不受信任，不计入）",
    .witness_unchecked = "（未判断：未给出 --witness-key，不计入）",
    .witness_claimed = "密钥 %s 声称已有 %s 的签封（于 %s）",
    .witness_outside = "密钥 %s 于 %s 已有一个不在本证据包中的签封",
    .witness_other = "密钥 %s 声称于 %s 在同一位置有另一个签封（未判断，不计入）",
    .witness_ahead = "警告：网关时钟比见证者快 %s",
    .tags = "地块标签",
    .alert = "告警",
    .raised = "触发",
    .cleared = "解除",
    .seconds = "秒",
    .minutes = "分钟",
    .hours = "小时",
    .h_events = "事件",
    .kind = "类型",
    .what = "说明",
};

static const labels en = {
    .html_lang = "en",
    .title = "Evidence of origin",
    .intro = "Written by selgw verify offline from the signed evidence bundle, with no server. "
             "Times are the gateway's local time (UTC%s).",
    .bundle_title = "Evidence for plot %s",
    .lot_title = "Evidence for lot %s",
    .lot_verified_expl =
        "Every plot of the lot has its section, each VERIFIED on its own (below); each plot's "
        "chain holds the lot's record, the same text in all; each section covers its plot from the "
        "start of the season to the end of the harvest (or the lot's record); each plot's tags "
        "list the product and place the plot inside its area.",
    .could_not_read = "The bundle could not be read",
    .verified = "VERIFIED",
    .not_verified = "NOT VERIFIED",
    .untrusted = "NOT VERIFIED: the key is not trusted",
    .verified_expl =
        "Every check passed: the closing seal's signature; every record intact and in its place in "
        "its chain, none missing, added or reordered; the plot's chain whole from its first "
        "record; a chain for every device the plot's tags name; readings of the plot in the "
        "period; seals covering the period; the gateway's times in order. Not checked: the order "
        "of records of different chains between two seals.",
    .untrusted_expl =
        "Every check passed, but the key is only the bundle's own claim, and anyone can sign a "
        "forgery with a key of their own: compare the fingerprint below with the key the "
        "enterprise registered, then verify with --pubkey or --keys.",
    .problems = "Problems (%" PRIu64 ")",
    .more_problems = "... and %" PRIu64 " more",
    .fingerprint = "Key fingerprint",
    .public_key = "Public key",
    .key_source = "Key",
    .key_given = "the key given with --pubkey",
    .key_registered = "registered",
    .key_bundle = "only the bundle's own claim: nobody vouched for it",
    .clock_never = "The gateway's clock was never synchronised: the dates and times in this report "
                   "are only the gateway's own claim.",
    .clock_ok = "The gateway's clock was synchronised (see the clock records).",
    .h_place = "Place and geographical indication",
    .base = "Base",
    .place = "County, township",
    .coordinates = "Base coordinates (WGS84)",
    .plot_location = "Plot location (WGS84)",
    .boundary = "plot boundary: %zu points",
    .not_recorded = "not recorded",
    .gi = "Geographical-indication products",
    .gi_none = "none declared",
    .gi_inside = "inside",
    .gi_outside = "outside",
    .gi_undetermined = "undetermined",
    .product = "Product",
    .verdict_col = "Verdict",
    .reason = "Reason",
    .h_plot = "Plot, crop and households",
    .plot = "Plot",
    .gateway = "Gateway",
    .period = "Period",
    .crop = "Crop",
    .area = "Area (mu)",
    .sealed = "Sealed",
    .sealed_text = "%s; %" PRIu64 " records in %" PRIu64 " chains, %" PRIu64 " seals",
    .seal_open = "from the seal of %s",
    .seal_close = " to the seal of %s",
    .from_start = "from the start of every chain",
    .contracts = "Contracting households and contracts in force",
    .household = "Household",
    .contract = "Contract",
    .from = "From",
    .to = "To",
    .open_ended = "open-ended",
    .none = "none",
    .households_seen = "Households in the readings",
    .h_lot = "Lot",
    .lot_id = "Lot",
    .lot_plots = "Plots and harvest",
    .season_from = "season from",
    .harvest = "harvest",
    .quantity = "Quantity",
    .lot_households = "Households who picked",
    .processing = "Processing",
    .refs = "References",
    .url = "URL",
    .qr_caption = "Scan to check: the lot id and the bundle's hash",
    .bundle_hash = "Bundle hash",
    .no_hash = "the bundle's hash is not known: no QR code",
    .lot_unreadable = "the lot record cannot be read",
    .h_notes = "Lab results and notes",
    .time = "Time",
    .text = "Text",
    .ref = "Reference",
    .h_fields = "Fields",
    .device = "Device",
    .field = "Field",
    .unit = "Unit",
    .n = "n",
    .min = "Min",
    .mean = "Mean",
    .max = "Max",
    .out_of_range = "out of range",
    .daily = "Daily statistics",
    .date = "Date",
    .legend = "band: daily min to max; line: daily mean",
    .days_left_out = "the period is too long: no daily statistics kept",
    .no_values = "no values in the period",
    .h_coverage = "Coverage per device, and every gap with its cause",
    .polls = "Polls",
    .ok = "OK",
    .failed = "Failed",
    .coverage = "Coverage",
    .median = "Median interval",
    .first = "First",
    .last = "Last",
    .other_plot =
        "%" PRIu64
        " more readings tagged with another plot (the device was moved; checked, not counted)",
    .outside = "%" PRIu64 " more readings outside the period (checked, not counted)",
    .gaps = "Gaps and their causes, in time order",
    .failed_one = "device %s: failed poll: %s",
    .failed_run = "device %s: %" PRIu64 " failed polls until %s: %s",
    .gap = "journal records %" PRIu64 "..%" PRIu64 " lost: %s",
    .start = "start",
    .crash = "the run before it has no stop: a crash or power cut after %s",
    .stop = "stop",
    .clock = "clock",
    .clock_step = "clock step",
    .witness = "witness",
    .witnessed = "the seal of %s was sealed no later than %s, witnessed by key %s",
    .witness_trusted = " (a trusted witness)",
    .witness_untrusted = " (not judged: key not trusted; not counted)",
    .witness_unchecked = " (not judged: no --witness-key given; not counted)",
    .witness_claimed = "key %s claims it had the seal of %s at %s",
    .witness_outside = "key %s had a seal that is not in this bundle at %s",
    .witness_other = "key %s claims it had another seal at that place at %s (not judged; not "
                     "counted)",
    .witness_ahead = "WARNING: the gateway's clock is ahead of its witness by %s",
    .tags = "plot tags",
    .alert = "alert",
    .raised = "raised",
    .cleared = "cleared",
    .seconds = "s",
    .minutes = "min",
    .hours = "h",
    .h_events = "Events",
    .kind = "Kind",
    .what = "What",
};

/* ---- a growing buffer of HTML --------------------------------------------------------- */

typedef struct hbuf {
    char *p;
    size_t len, cap;
    bool nomem;
} hbuf;

static bool hb_room(hbuf *b, size_t more)
{
    if (b->nomem)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *grown = realloc(b->p, cap);
    if (!grown) {
        b->nomem = true;
        return false;
    }
    b->p = grown;
    b->cap = cap;
    return true;
}

static void hb_put(hbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (hb_room(b, n)) {
        memcpy(b->p + b->len, s, n + 1);
        b->len += n;
    }
}

static void hb_printf(hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hb_printf(hbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !hb_room(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A label with printf conversions, whose arguments are already HTML. */
static void hb_label(hbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !hb_room(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void hb_esc(hbuf *b, const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s), need = 0;
    selgw_html_escape(NULL, 0, &need, s, n);
    if (!hb_room(b, need))
        return;
    size_t len = b->len;
    selgw_html_escape(b->p, b->cap, &len, s, n);
    b->len = len;
}

/* s as HTML in a new string, for a label's arguments ("" when s is NULL). */
static char *html_dup(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s), need = 0;
    selgw_html_escape(NULL, 0, &need, s, n);
    char *out = malloc(need + 1);
    if (!out)
        return NULL;
    size_t len = 0;
    out[0] = '\0';
    selgw_html_escape(out, need + 1, &len, s, n);
    return out;
}

/* ---- what the renderer needs besides the model --------------------------------------- */

typedef struct render {
    hbuf b;
    const labels *t;
    report_lang lang;
    json_t *names; /* dashboards/i18n.json */
    int offset;    /* the section's utc_offset_minutes */
} render;

/* The name of id in table "fields", "units" or "crops" in the report's language, or id. */
static const char *name_of(const render *rd, const char *table, const char *id)
{
    if (!id)
        return "";
    json_t *entry = json_object_get(json_object_get(rd->names, table), id);
    json_t *name = json_object_get(entry, rd->lang == LANG_EN ? "en" : "zh");
    return json_is_string(name) ? json_string_value(name) : id;
}

static json_t *load_names(void)
{
    for (size_t i = 0; i < selgw_embedded_web_count; i++)
        if (!strcmp(selgw_embedded_web[i].name, "i18n.json"))
            return json_loadb(selgw_embedded_web[i].data, selgw_embedded_web[i].size, 0, NULL);
    return NULL;
}

/* "2026-04-01 08:00:00" at the section's offset. */
static char *local_time(const render *rd, int64_t utc_ns, char out[32])
{
    int64_t s = utc_ns / 1000000000 - (utc_ns % 1000000000 < 0) + (int64_t)rd->offset * 60;
    int64_t days = s / 86400 - (s % 86400 < 0);
    int64_t sec = s - days * 86400;
    int y;
    unsigned m, d;
    selgw_civil_from_days((int32_t)days, &y, &m, &d);
    snprintf(out, 32, "%04d-%02u-%02u %02d:%02d:%02d", y, m, d, (int)(sec / 3600),
             (int)(sec / 60 % 60), (int)(sec % 60));
    return out;
}

static char *day_text(int32_t day, char out[16])
{
    int y;
    unsigned m, d;
    selgw_civil_from_days(day, &y, &m, &d);
    snprintf(out, 16, "%04d-%02u-%02u", y, m, d);
    return out;
}

static void put_time(render *rd, int64_t utc_ns)
{
    char t[32];
    hb_printf(&rd->b, "<time>%s</time>", local_time(rd, utc_ns, t));
}

static void put_duration(render *rd, int64_t ns)
{
    double s = (double)ns / 1e9;
    if (s < 120)
        hb_printf(&rd->b, "%g %s", round(s * 1000) / 1000, rd->t->seconds);
    else if (s < 7200)
        hb_printf(&rd->b, "%g %s", round(s / 6) / 10, rd->t->minutes);
    else
        hb_printf(&rd->b, "%g %s", round(s / 360) / 10, rd->t->hours);
}

static void put_number(render *rd, double v)
{
    if (isfinite(v))
        hb_printf(&rd->b, "%g", v);
    else
        hb_put(&rd->b, "–");
}

/* ---- the verdict, the clock ----------------------------------------------------------- */

static void put_problem_list(render *rd, char *const *problems, size_t listed, uint64_t count)
{
    const labels *t = rd->t;
    if (!count)
        return;
    hb_put(&rd->b, "<p class=\"problems-title\">");
    hb_label(&rd->b, t->problems, count);
    hb_put(&rd->b, "</p><ol class=\"problems\">");
    for (size_t i = 0; i < listed; i++) {
        hb_put(&rd->b, "<li>");
        hb_esc(&rd->b, problems[i]);
        hb_put(&rd->b, "</li>");
    }
    hb_put(&rd->b, "</ol>");
    if (count > listed) {
        hb_put(&rd->b, "<p>");
        hb_label(&rd->b, t->more_problems, count - listed);
        hb_put(&rd->b, "</p>");
    }
}

/* A lot bundle's verdict over all its sections, on top. */
static void put_lot_verdict(render *rd, const selgw_report *r)
{
    const labels *t = rd->t;
    const char *cls = r->lot_verdict == SELGW_REPORT_VERIFIED        ? "verified"
                      : r->lot_verdict == SELGW_REPORT_KEY_UNTRUSTED ? "untrusted"
                                                                     : "not-verified";
    const char *word = r->lot_verdict == SELGW_REPORT_VERIFIED        ? t->verified
                       : r->lot_verdict == SELGW_REPORT_KEY_UNTRUSTED ? t->untrusted
                                                                      : t->not_verified;
    char *lot = html_dup(r->lot);
    if (!lot) {
        rd->b.nomem = true;
        return;
    }
    hb_put(&rd->b, "<section class=\"lot-verdict\" id=\"lot-verdict\"><h2>");
    hb_label(&rd->b, t->lot_title, lot);
    free(lot);
    hb_printf(&rd->b, "</h2><div class=\"verdict %s\" id=\"verdict-lot\"><p class=\"word\">%s</p>",
              cls, word);
    if (r->lot_verdict == SELGW_REPORT_VERIFIED)
        hb_printf(&rd->b, "<p>%s</p>", t->lot_verified_expl);
    else if (r->lot_verdict == SELGW_REPORT_KEY_UNTRUSTED)
        hb_printf(&rd->b, "<p>%s</p>", t->untrusted_expl);
    put_problem_list(rd, r->lot_problems, r->lot_listed, r->lot_problem_count);
    /* the lot's plots at a glance: each section's own verdict */
    hb_put(&rd->b, "<ul class=\"lot-sections\">");
    for (size_t i = 0; i < r->count; i++) {
        const selgw_report_section *s = &r->sections[i];
        const char *v = s->verdict == SELGW_REPORT_VERIFIED        ? t->verified
                        : s->verdict == SELGW_REPORT_KEY_UNTRUSTED ? t->untrusted
                                                                   : t->not_verified;
        hb_put(&rd->b, "<li>");
        char *plot = html_dup(s->plot ? s->plot : s->bundle);
        if (plot)
            hb_label(&rd->b, t->bundle_title, plot);
        else
            rd->b.nomem = true;
        free(plot);
        hb_printf(&rd->b, ": %s</li>", v);
    }
    hb_put(&rd->b, "</ul></div></section>\n");
}

static void put_verdict(render *rd, const selgw_report_section *s, size_t index)
{
    const labels *t = rd->t;
    const char *cls = s->verdict == SELGW_REPORT_VERIFIED        ? "verified"
                      : s->verdict == SELGW_REPORT_KEY_UNTRUSTED ? "untrusted"
                                                                 : "not-verified";
    const char *word = s->verdict == SELGW_REPORT_VERIFIED        ? t->verified
                       : s->verdict == SELGW_REPORT_KEY_UNTRUSTED ? t->untrusted
                                                                  : t->not_verified;
    hb_printf(&rd->b, "<div class=\"verdict %s\" id=\"verdict-%zu\"><p class=\"word\">%s</p>", cls,
              index + 1, word);
    if (s->error) {
        hb_printf(&rd->b, "<p>%s: ", t->could_not_read);
        hb_esc(&rd->b, s->error);
        hb_put(&rd->b, "</p>");
    } else if (s->verdict == SELGW_REPORT_VERIFIED) {
        hb_printf(&rd->b, "<p>%s</p>", t->verified_expl);
    } else if (s->verdict == SELGW_REPORT_KEY_UNTRUSTED) {
        hb_printf(&rd->b, "<p>%s</p>", t->untrusted_expl);
    }
    put_problem_list(rd, s->problems, s->problem_count_listed, s->problem_count);
    if (s->fingerprint) {
        hb_printf(&rd->b, "<table class=\"key\"><tr><th>%s</th><td class=\"fingerprint\">",
                  t->fingerprint);
        hb_esc(&rd->b, s->fingerprint);
        hb_printf(&rd->b, "</td></tr><tr><th>%s</th><td>", t->key_source);
        if (s->key_source == SELGW_REPORT_KEY_GIVEN)
            hb_put(&rd->b, t->key_given);
        else if (s->key_source == SELGW_REPORT_KEY_REGISTERED) {
            hb_put(&rd->b, t->key_registered);
            if (s->key_label && *s->key_label) {
                hb_put(&rd->b, " “");
                hb_esc(&rd->b, s->key_label);
                hb_put(&rd->b, "”");
            }
        } else
            hb_put(&rd->b, t->key_bundle);
        hb_printf(&rd->b, "</td></tr><tr><th>%s</th><td class=\"mono\">", t->public_key);
        hb_esc(&rd->b, s->public_key);
        hb_put(&rd->b, "</td></tr></table>");
    }
    hb_put(&rd->b, "</div>");
}

static void put_clock(render *rd, const selgw_report_section *s)
{
    if (s->error || !s->has_period)
        return;
    if (!s->clock_synchronised)
        hb_printf(&rd->b, "<div class=\"banner clock-never\">%s</div>", rd->t->clock_never);
    else
        hb_printf(&rd->b, "<p class=\"clock-ok\">%s</p>", rd->t->clock_ok);
}

/* ---- place, plot, households ------------------------------------------------------------- */

static void row_start(render *rd, const char *head)
{
    hb_printf(&rd->b, "<tr><th>%s</th><td>", head);
}

static void put_place(render *rd, const selgw_report_section *s)
{
    const labels *t = rd->t;
    hb_printf(&rd->b, "<h3>%s</h3><div class=\"part sec-place\"><table class=\"facts\">",
              t->h_place);
    row_start(rd, t->base);
    if (s->base_id) {
        hb_esc(&rd->b, s->base_id);
        if (s->base_name) {
            hb_put(&rd->b, "（");
            hb_esc(&rd->b, s->base_name);
            hb_put(&rd->b, "）");
        }
    } else {
        hb_put(&rd->b, t->not_recorded);
    }
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->place);
    if (s->county || s->township) {
        hb_esc(&rd->b, s->county);
        if (s->county && s->township)
            hb_put(&rd->b, rd->lang == LANG_EN ? ", " : "，");
        hb_esc(&rd->b, s->township);
    } else {
        hb_put(&rd->b, t->not_recorded);
    }
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->coordinates);
    if (s->has_coordinates)
        hb_printf(&rd->b, "%.6f, %.6f", s->latitude, s->longitude);
    else
        hb_put(&rd->b, t->not_recorded);
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->plot_location);
    if (s->has_plot_location)
        hb_printf(&rd->b, "%.6f, %.6f", s->plot_latitude, s->plot_longitude);
    if (s->boundary_count) {
        if (s->has_plot_location)
            hb_put(&rd->b, "; ");
        hb_label(&rd->b, t->boundary, s->boundary_count);
        hb_put(&rd->b, ": ");
        for (size_t i = 0; i < s->boundary_count; i++)
            hb_printf(&rd->b, "%s(%.6f, %.6f)", i ? " " : "", s->boundary[i][0], s->boundary[i][1]);
    }
    if (!s->has_plot_location && !s->boundary_count)
        hb_put(&rd->b, t->not_recorded);
    hb_put(&rd->b, "</td></tr></table>");
    hb_printf(&rd->b, "<h4>%s</h4>", t->gi);
    if (!s->gi_count) {
        hb_printf(&rd->b, "<p class=\"gi-none\">%s</p>", t->gi_none);
    } else {
        hb_printf(&rd->b, "<table class=\"list gi\"><tr><th>%s</th><th>%s</th><th>%s</th></tr>",
                  t->product, t->verdict_col, t->reason);
        for (size_t i = 0; i < s->gi_count; i++) {
            const selgw_report_gi *g = &s->gi[i];
            const char *cls = g->verdict == SELGW_REPORT_GI_INSIDE    ? "inside"
                              : g->verdict == SELGW_REPORT_GI_OUTSIDE ? "outside"
                                                                      : "undetermined";
            const char *word = g->verdict == SELGW_REPORT_GI_INSIDE    ? t->gi_inside
                               : g->verdict == SELGW_REPORT_GI_OUTSIDE ? t->gi_outside
                                                                       : t->gi_undetermined;
            hb_put(&rd->b, "<tr><td>");
            hb_esc(&rd->b, g->product);
            hb_printf(&rd->b, "</td><td class=\"gi-%s\">%s</td><td>", cls, word);
            hb_esc(&rd->b, g->reason);
            hb_put(&rd->b, "</td></tr>");
        }
        hb_put(&rd->b, "</table>");
    }
    hb_put(&rd->b, "</div>");
}

static void put_plot(render *rd, const selgw_report_section *s)
{
    const labels *t = rd->t;
    char a[32], b[32];
    hb_printf(&rd->b, "<h3>%s</h3><div class=\"part sec-plot\"><table class=\"facts\">", t->h_plot);
    row_start(rd, t->plot);
    hb_esc(&rd->b, s->plot);
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->gateway);
    hb_esc(&rd->b, s->gateway);
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->period);
    hb_printf(&rd->b, "%s – %s", local_time(rd, s->from_ns, a), local_time(rd, s->to_ns, b));
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->crop);
    if (s->crop)
        hb_esc(&rd->b, name_of(rd, "crops", s->crop));
    else
        hb_put(&rd->b, t->not_recorded);
    hb_put(&rd->b, "</td></tr>");
    if (s->area_mu > 0) {
        row_start(rd, t->area);
        hb_printf(&rd->b, "%g</td></tr>", s->area_mu);
    }
    row_start(rd, t->sealed);
    char from[96], to[96] = "";
    if (s->has_opening)
        snprintf(from, sizeof from, t->seal_open, local_time(rd, s->opening_ns, a));
    else
        snprintf(from, sizeof from, "%s", t->from_start);
    if (s->has_closing)
        snprintf(to, sizeof to, t->seal_close, local_time(rd, s->closing_ns, b));
    char both[200];
    snprintf(both, sizeof both, "%s%s%s", from, rd->lang == LANG_EN || !s->has_closing ? "" : "，",
             to);
    hb_label(&rd->b, t->sealed_text, both, s->records, s->chains, s->seals);
    hb_put(&rd->b, "</td></tr></table>");

    hb_printf(&rd->b, "<h4>%s</h4>", t->contracts);
    if (!s->contract_count) {
        hb_printf(&rd->b, "<p>%s</p>", t->none);
    } else {
        hb_printf(&rd->b,
                  "<table class=\"list contracts\"><tr><th>%s</th><th>%s</th><th>%s</th>"
                  "<th>%s</th></tr>",
                  t->household, t->contract, t->from, t->to);
        for (size_t i = 0; i < s->contract_count; i++) {
            const selgw_report_contract *c = &s->contracts[i];
            hb_put(&rd->b, "<tr><td>");
            hb_esc(&rd->b, c->household);
            hb_put(&rd->b, "</td><td>");
            hb_esc(&rd->b, c->contract);
            hb_put(&rd->b, "</td><td>");
            hb_esc(&rd->b, c->from);
            hb_put(&rd->b, "</td><td>");
            if (c->to)
                hb_esc(&rd->b, c->to);
            else
                hb_put(&rd->b, t->open_ended);
            hb_put(&rd->b, "</td></tr>");
        }
        hb_put(&rd->b, "</table>");
    }
    hb_printf(&rd->b, "<p class=\"seen\">%s: ", t->households_seen);
    if (!s->household_seen_count)
        hb_put(&rd->b, t->none);
    for (size_t i = 0; i < s->household_seen_count; i++) {
        if (i)
            hb_put(&rd->b, rd->lang == LANG_EN ? ", " : "、");
        hb_esc(&rd->b, s->households_seen[i]);
    }
    hb_put(&rd->b, "</p></div>");
}

/* ---- the lot ------------------------------------------------------------------------------ */

/* A JSON string member as shown: escaped twice over (safe_text, then HTML). */
static void put_json_text(render *rd, json_t *v)
{
    if (!json_is_string(v)) {
        hb_put(&rd->b, "–");
        return;
    }
    char *shown = selgw_text_escape_dup(json_string_value(v), json_string_length(v));
    if (!shown) {
        rd->b.nomem = true;
        return;
    }
    hb_esc(&rd->b, shown);
    free(shown);
}

static void put_json_list(render *rd, json_t *a)
{
    if (!json_is_array(a) || !json_array_size(a)) {
        hb_put(&rd->b, rd->t->none);
        return;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (i)
            hb_put(&rd->b, rd->lang == LANG_EN ? ", " : "、");
        put_json_text(rd, json_array_get(a, i));
    }
}

static void put_lot(render *rd, const selgw_report_section *s)
{
    const labels *t = rd->t;
    if (!s->lot && !s->lot_json)
        return;
    hb_printf(&rd->b, "<h3>%s</h3><div class=\"part sec-lot\">", t->h_lot);
    json_t *lot = s->lot_json ? json_loads(s->lot_json, 0, NULL) : NULL;
    if (!json_is_object(lot)) {
        hb_printf(&rd->b, "<p class=\"lot-unreadable\">%s", t->lot_unreadable);
        if (s->lot) {
            hb_put(&rd->b, ": ");
            hb_esc(&rd->b, s->lot);
        }
        hb_put(&rd->b, "</p></div>");
        json_decref(lot);
        return;
    }
    hb_put(&rd->b, "<div class=\"lot-box\"><table class=\"facts lot\">");
    row_start(rd, t->lot_id);
    put_json_text(rd, json_object_get(lot, "lot"));
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->product);
    put_json_text(rd, json_object_get(lot, "product"));
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->lot_plots);
    json_t *plots = json_object_get(lot, "plots");
    for (size_t i = 0; json_is_array(plots) && i < json_array_size(plots); i++) {
        json_t *p = json_array_get(plots, i);
        hb_put(&rd->b, "<div>");
        put_json_text(rd, json_object_get(p, "plot"));
        hb_printf(&rd->b, ": %s ", t->season_from);
        put_json_text(rd, json_object_get(p, "season_from"));
        hb_printf(&rd->b, rd->lang == LANG_EN ? ", %s " : "，%s ", t->harvest);
        put_json_text(rd, json_object_get(p, "harvest_from"));
        hb_put(&rd->b, " – ");
        put_json_text(rd, json_object_get(p, "harvest_to"));
        hb_put(&rd->b, "</div>");
    }
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->quantity);
    json_t *q = json_object_get(lot, "quantity");
    if (json_is_number(q))
        hb_printf(&rd->b, "%g ", json_number_value(q));
    json_t *unit = json_object_get(lot, "unit");
    if (json_is_string(unit))
        hb_esc(&rd->b, name_of(rd, "units", json_string_value(unit)));
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->lot_households);
    put_json_list(rd, json_object_get(lot, "households"));
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->processing);
    put_json_text(rd, json_object_get(lot, "processing"));
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->refs);
    put_json_list(rd, json_object_get(lot, "refs"));
    hb_put(&rd->b, "</td></tr>");
    json_t *url = json_object_get(lot, "url");
    row_start(rd, t->url);
    put_json_text(rd, url);
    hb_put(&rd->b, "</td></tr>");
    row_start(rd, t->bundle_hash);
    if (s->bundle_hash)
        hb_esc(&rd->b, s->bundle_hash);
    else
        hb_put(&rd->b, "–");
    hb_put(&rd->b, "</td></tr></table>");

    json_t *id = json_object_get(lot, "lot");
    const char *lot_id = json_is_string(id) ? json_string_value(id) : s->lot;
    char *text = s->bundle_hash && lot_id
                     ? selgw_lot_qr_text(lot_id, s->bundle_hash,
                                         json_is_string(url) ? json_string_value(url) : NULL)
                     : NULL;
    char *svg = text ? selgw_qr_svg(text) : NULL;
    if (svg) {
        /* the SVG holds only numbers (qr.c); the text it encodes is shown escaped */
        hb_printf(&rd->b, "<figure class=\"qr\">%s<figcaption>%s<br><span class=\"mono\">", svg,
                  t->qr_caption);
        hb_esc(&rd->b, text);
        hb_put(&rd->b, "</span></figcaption></figure>");
    } else {
        hb_printf(&rd->b, "<p class=\"no-qr\">%s</p>", t->no_hash);
    }
    free(svg);
    free(text);
    json_decref(lot);
    hb_put(&rd->b, "</div></div>");
}

/* ---- lab results and notes -------------------------------------------------------------- */

static void put_notes(render *rd, const selgw_report_section *s)
{
    const labels *t = rd->t;
    hb_printf(&rd->b, "<h3>%s</h3><div class=\"part sec-notes\">", t->h_notes);
    size_t n = 0;
    for (size_t i = 0; i < s->event_count; i++) {
        const selgw_report_event *e = &s->events[i];
        if (e->kind != SELGW_REPORT_ANNOTATION)
            continue;
        if (!n++)
            hb_printf(&rd->b,
                      "<table class=\"list notes\"><tr><th>%s</th><th>%s</th><th>%s</th></tr>",
                      t->time, t->text, t->ref);
        hb_put(&rd->b, "<tr><td>");
        put_time(rd, e->time_ns);
        hb_put(&rd->b, "</td><td class=\"note-text\">");
        hb_esc(&rd->b, e->text);
        hb_put(&rd->b, "</td><td class=\"note-ref\">");
        hb_esc(&rd->b, e->detail);
        hb_put(&rd->b, "</td></tr>");
    }
    if (n)
        hb_put(&rd->b, "</table>");
    else
        hb_printf(&rd->b, "<p>%s</p>", t->none);
    hb_put(&rd->b, "</div>");
}

/* ---- fields: a chart and the statistics -------------------------------------------------- */

#define CHART_W 680
#define CHART_H 240
#define CHART_L 64
#define CHART_R 16
#define CHART_T 26
#define CHART_B 40

static double nice_step(double range, int ticks)
{
    double raw = range / ticks;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

/* A local day's range of the chart: the period's days, or the field's own. */
static void chart_days(const render *rd, const selgw_report_section *s, const selgw_report_field *f,
                       int32_t *first, int32_t *last)
{
    if (s->has_period) {
        *first = selgw_local_day(s->from_ns, rd->offset);
        *last = selgw_local_day(s->to_ns - 1, rd->offset);
    } else {
        *first = f->days[0].day;
        *last = f->days[f->day_count - 1].day;
    }
    if (f->days[0].day < *first)
        *first = f->days[0].day;
    if (f->days[f->day_count - 1].day > *last)
        *last = f->days[f->day_count - 1].day;
}

/* Per field a daily band min..max with a line through the daily means, axes with dates
 * and the unit: inline SVG, no script. */
static void put_chart(render *rd, const selgw_report_section *s, const selgw_report_field *f,
                      const char *title, const char *unit)
{
    int32_t first, last;
    chart_days(rd, s, f, &first, &last);
    double ndays = (double)(last - first + 1);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < f->day_count; i++) {
        if (f->days[i].min < lo)
            lo = f->days[i].min;
        if (f->days[i].max > hi)
            hi = f->days[i].max;
    }
    if (!isfinite(lo) || !isfinite(hi))
        return;
    if (hi - lo < 1e-9 * (fabs(hi) + 1)) {
        double pad = fabs(hi) > 10 ? fabs(hi) * 0.05 : 1;
        lo -= pad;
        hi += pad;
    }
    double step = nice_step(hi - lo, 4);
    double y0 = floor(lo / step) * step, y1 = ceil(hi / step) * step;
    const double pw = CHART_W - CHART_L - CHART_R, ph = CHART_H - CHART_T - CHART_B;
    double slot = pw / ndays;
#define X(d) (CHART_L + ((double)((d)-first) + 0.5) * slot)
#define Y(v) (CHART_T + (y1 - (v)) / (y1 - y0) * ph)
    hbuf *b = &rd->b;
    hb_printf(b,
              "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
              "role=\"img\" aria-label=\"",
              CHART_W, CHART_H);
    hb_esc(b, title);
    hb_put(b, "\"><title>");
    hb_esc(b, title);
    hb_put(b, "</title>");
    /* the y axis: grid lines at round values, labelled */
    for (double v = y0; v <= y1 + step / 2; v += step) {
        double y = Y(v);
        hb_printf(b,
                  "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                  "<text x=\"%d\" y=\"%.1f\" class=\"ylabel\">%g</text>",
                  CHART_L, CHART_W - CHART_R, y, y, CHART_L - 6, y + 4,
                  fabs(v) < step / 1e6 ? 0 : v);
    }
    hb_printf(b, "<text x=\"%d\" y=\"%d\" class=\"unit\">", CHART_L, CHART_T - 10);
    hb_esc(b, unit && *unit ? unit : "");
    hb_put(b, "</text>");
    /* the x axis: dates, at most about eight */
    int every = (int)ceil(ndays / 8.0);
    for (int32_t d = first; d <= last; d += every) {
        char text[16];
        day_text(d, text);
        hb_printf(b, "<text x=\"%.1f\" y=\"%d\" class=\"xlabel\">%s</text>", X(d),
                  CHART_H - CHART_B + 18, ndays > 1 ? text + 5 : text);
    }
    hb_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", CHART_L,
              CHART_W - CHART_R, CHART_T + ph, CHART_T + ph);
    /* runs of consecutive days with values: a band and a line each */
    for (size_t i = 0; i < f->day_count;) {
        size_t end = i + 1;
        while (end < f->day_count && f->days[end].day == f->days[end - 1].day + 1)
            end++;
        if (end - i == 1) {
            const selgw_report_day *d = &f->days[i];
            double w = slot * 0.6 < 3 ? 3 : slot * 0.6 > 48 ? 48 : slot * 0.6;
            double top = Y(d->max), bottom = Y(d->min);
            hb_printf(b,
                      "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                      "height=\"%.1f\"/>",
                      X(d->day) - w / 2, top, w, bottom - top < 1 ? 1 : bottom - top);
        } else {
            hb_put(b, "<polygon class=\"band\" points=\"");
            for (size_t k = i; k < end; k++)
                hb_printf(b, "%.1f,%.1f ", X(f->days[k].day), Y(f->days[k].max));
            for (size_t k = end; k-- > i;)
                hb_printf(b, "%.1f,%.1f ", X(f->days[k].day), Y(f->days[k].min));
            hb_put(b, "\"/><polyline class=\"mean\" points=\"");
            for (size_t k = i; k < end; k++)
                hb_printf(b, "%.1f,%.1f ", X(f->days[k].day),
                          Y(f->days[k].sum / (double)f->days[k].count));
            hb_put(b, "\"/>");
        }
        if (ndays <= 62 || end - i == 1)
            for (size_t k = i; k < end; k++)
                hb_printf(b, "<circle class=\"mean-dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>",
                          X(f->days[k].day), Y(f->days[k].sum / (double)f->days[k].count));
        i = end;
    }
#undef X
#undef Y
    hb_put(b, "</svg>");
}

static void put_fields(render *rd, const selgw_report_section *s)
{
    const labels *t = rd->t;
    hb_printf(&rd->b, "<h3>%s</h3><div class=\"part sec-fields\"><p class=\"legend\">%s</p>",
              t->h_fields, t->legend);
    for (size_t i = 0; i < s->device_count; i++) {
        const selgw_report_device *d = &s->devices[i];
        hb_put(&rd->b, "<div class=\"device-fields\" data-device=\"");
        hb_esc(&rd->b, d->id);
        hb_printf(&rd->b, "\"><h4>%s ", t->device);
        hb_esc(&rd->b, d->id);
        hb_printf(&rd->b,
                  "</h4><table class=\"list stats\"><tr><th>%s</th><th>%s</th><th>%s</th>"
                  "<th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>",
                  t->field, t->unit, t->n, t->min, t->mean, t->max, t->out_of_range);
        for (size_t k = 0; k < d->field_count; k++) {
            const selgw_report_field *f = &d->fields[k];
            hb_put(&rd->b, "<tr class=\"field-stats\" data-field=\"");
            hb_esc(&rd->b, f->name);
            hb_put(&rd->b, "\"><td>");
            hb_esc(&rd->b, name_of(rd, "fields", f->name));
            hb_put(&rd->b, "</td><td>");
            hb_esc(&rd->b, name_of(rd, "units", f->unit));
            hb_printf(&rd->b, "</td><td class=\"n\">%" PRIu64 "</td><td class=\"min\">", f->count);
            put_number(rd, f->min);
            hb_put(&rd->b, "</td><td class=\"mean\">");
            put_number(rd, f->mean);
            hb_put(&rd->b, "</td><td class=\"max\">");
            put_number(rd, f->max);
            hb_printf(&rd->b, "</td><td>%" PRIu64 "</td></tr>", f->out_of_range);
        }
        hb_put(&rd->b, "</table>");
        for (size_t k = 0; k < d->field_count; k++) {
            const selgw_report_field *f = &d->fields[k];
            const char *name = name_of(rd, "fields", f->name);
            const char *unit = name_of(rd, "units", f->unit);
            hb_put(&rd->b, "<figure class=\"field-chart\" data-field=\"");
            hb_esc(&rd->b, f->name);
            hb_put(&rd->b, "\"><figcaption>");
            hb_esc(&rd->b, name);
            if (unit && *unit) {
                hb_put(&rd->b, " (");
                hb_esc(&rd->b, unit);
                hb_put(&rd->b, ")");
            }
            hb_put(&rd->b, " · ");
            hb_esc(&rd->b, d->id);
            hb_put(&rd->b, "</figcaption>");
            if (f->days_left_out) {
                hb_printf(&rd->b, "<p>%s</p>", t->days_left_out);
            } else if (!f->day_count) {
                hb_printf(&rd->b, "<p>%s</p>", t->no_values);
            } else {
                char title[300];
                snprintf(title, sizeof title, "%s · %s", name, d->id);
                put_chart(rd, s, f, title, unit);
                hb_printf(&rd->b,
                          "<details><summary>%s</summary><table class=\"list daily\"><tr>"
                          "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>",
                          t->daily, t->date, t->n, t->min, t->mean, t->max);
                for (size_t j = 0; j < f->day_count; j++) {
                    const selgw_report_day *day = &f->days[j];
                    char dt[16];
                    hb_printf(&rd->b,
                              "<tr><td>%s</td><td>%" PRIu64 "</td><td>%g</td><td>%g</td>"
                              "<td>%g</td></tr>",
                              day_text(day->day, dt), day->count, day->min,
                              day->sum / (double)day->count, day->max);
                }
                hb_put(&rd->b, "</table></details>");
            }
            hb_put(&rd->b, "</figure>");
        }
        hb_put(&rd->b, "</div>");
    }
    hb_put(&rd->b, "</div>");
}

/* ---- coverage, gaps and events --------------------------------------------------------- */

/* An alert's condition (docs/ALERTS.md) in Chinese; as written when unknown. */
static const char *zh_condition(const char *condition)
{
    static const char *const names[][2] = {
        {"below", "低于阈值"}, {"above", "高于阈值"}, {"stale", "数据中断"}, {"stuck", "读数不变"}};
    for (size_t i = 0; condition && i < sizeof names / sizeof *names; i++)
        if (!strcmp(condition, names[i][0]))
            return names[i][1];
    return condition;
}

/* A gateway's English text as the report shows it, HTML-escaped: in Chinese when the
 * report is and the form is known (report_zh.h), as written otherwise. */
static char *shown_dup(const render *rd, const char *en, char *(*translate)(const char *))
{
    char *zh = rd->lang == LANG_ZH ? translate(en) : NULL;
    char *out = html_dup(zh ? zh : en);
    free(zh);
    return out;
}

static void put_event_text(render *rd, const selgw_report_event *e)
{
    const labels *t = rd->t;
    char a[32];
    bool gateway_text = e->kind == SELGW_REPORT_GAP || e->kind == SELGW_REPORT_START ||
                        e->kind == SELGW_REPORT_STOP || e->kind == SELGW_REPORT_CLOCK;
    char *device = html_dup(e->device),
         *status = e->kind == SELGW_REPORT_FAILED_POLLS
                       ? shown_dup(rd, e->status, selgw_report_zh_status)
                       : html_dup(e->status),
         *text = gateway_text ? shown_dup(rd, e->text, selgw_report_zh_text) : html_dup(e->text);
    if (!device || !status || !text) {
        rd->b.nomem = true;
    } else {
        switch (e->kind) {
        case SELGW_REPORT_FAILED_POLLS:
            if (e->polls == 1)
                hb_label(&rd->b, t->failed_one, device, status);
            else
                hb_label(&rd->b, t->failed_run, device, e->polls, local_time(rd, e->until_ns, a),
                         status);
            break;
        case SELGW_REPORT_GAP:
            hb_label(&rd->b, t->gap, e->gap_first, e->gap_last, text);
            break;
        case SELGW_REPORT_START:
            hb_put(&rd->b, text);
            if (e->detail) {
                char *detail = shown_dup(rd, e->detail, selgw_report_zh_text);
                if (!detail)
                    rd->b.nomem = true;
                hb_put(&rd->b, rd->lang == LANG_ZH ? "（" : " (");
                hb_put(&rd->b, detail ? detail : "");
                hb_put(&rd->b, rd->lang == LANG_ZH ? "）" : ")");
                free(detail);
            }
            if (e->crash) {
                hb_put(&rd->b, "<br><strong class=\"crash\">");
                hb_label(&rd->b, t->crash, local_time(rd, e->crash_after_ns, a));
                hb_put(&rd->b, "</strong>");
            }
            break;
        case SELGW_REPORT_ALERT: {
            hb_printf(&rd->b, rd->lang == LANG_ZH ? "%s：" : "%s: ",
                      e->status && !strcmp(e->status, "raised") ? t->raised : t->cleared);
            hb_put(&rd->b, text);
            hb_put(&rd->b, " (");
            hb_esc(&rd->b, rd->lang == LANG_ZH ? zh_condition(e->condition) : e->condition);
            if (e->detail && *e->detail) {
                hb_put(&rd->b, " ");
                hb_esc(&rd->b, name_of(rd, "fields", e->detail));
            }
            if (isfinite(e->threshold))
                hb_printf(&rd->b, " %g", e->threshold);
            hb_put(&rd->b, ") ");
            hb_put(&rd->b, device);
            if (isfinite(e->value))
                hb_printf(&rd->b, " = %g", e->value);
            break;
        }
        case SELGW_REPORT_WITNESS: {
            char b[32];
            if (!strcmp(status, "outside") || !strcmp(status, "other")) {
                /* about no seal of the bundle: the witnessed time only */
                hb_label(&rd->b, !strcmp(status, "outside") ? t->witness_outside : t->witness_other,
                         text, local_time(rd, e->time_ns, b));
            } else if (!strcmp(status, "trusted")) {
                hb_label(&rd->b, t->witnessed, local_time(rd, e->until_ns, a),
                         local_time(rd, e->time_ns, b), text);
                hb_put(&rd->b, t->witness_trusted);
            } else {
                hb_label(&rd->b, t->witness_claimed, text, local_time(rd, e->until_ns, a),
                         local_time(rd, e->time_ns, b));
                hb_put(&rd->b,
                       !strcmp(status, "untrusted") ? t->witness_untrusted : t->witness_unchecked);
            }
            if (e->clock_step && e->detail) {
                hb_put(&rd->b, "<br><strong class=\"crash\">");
                hb_label(&rd->b, t->witness_ahead, e->detail);
                hb_put(&rd->b, "</strong>");
            }
            break;
        }
        case SELGW_REPORT_ANNOTATION:
            hb_put(&rd->b, text);
            if (e->detail) {
                hb_put(&rd->b, " (");
                hb_esc(&rd->b, e->detail);
                hb_put(&rd->b, ")");
            }
            break;
        default:
            hb_put(&rd->b, text);
        }
    }
    free(device);
    free(status);
    free(text);
}

static const char *event_kind_label(const labels *t, const selgw_report_event *e)
{
    switch (e->kind) {
    case SELGW_REPORT_FAILED_POLLS:
        return t->failed;
    case SELGW_REPORT_GAP:
        return "GAP";
    case SELGW_REPORT_START:
        return t->start;
    case SELGW_REPORT_STOP:
        return t->stop;
    case SELGW_REPORT_CLOCK:
        return e->clock_step ? t->clock_step : t->clock;
    case SELGW_REPORT_ANNOTATION:
        return t->h_notes;
    case SELGW_REPORT_TAGS:
        return t->tags;
    case SELGW_REPORT_ALERT:
        return t->alert;
    case SELGW_REPORT_LOT:
        return t->h_lot;
    case SELGW_REPORT_WITNESS:
        return t->witness;
    }
    return "";
}

static const char *event_class(const selgw_report_event *e)
{
    static const char *const names[] = {"failed-polls", "gap",  "start", "stop", "clock",
                                        "annotation",   "tags", "alert", "lot",  "witness"};
    return e->kind <= SELGW_REPORT_WITNESS ? names[e->kind] : "other";
}

static void put_event_rows(render *rd, const selgw_report_section *s, bool gaps)
{
    size_t n = 0;
    for (size_t i = 0; i < s->event_count; i++) {
        const selgw_report_event *e = &s->events[i];
        bool is_gap = e->kind == SELGW_REPORT_FAILED_POLLS || e->kind == SELGW_REPORT_GAP ||
                      e->kind == SELGW_REPORT_START || e->kind == SELGW_REPORT_STOP ||
                      (e->kind == SELGW_REPORT_CLOCK && e->clock_step);
        bool is_event = e->kind != SELGW_REPORT_FAILED_POLLS && e->kind != SELGW_REPORT_ANNOTATION;
        if (gaps ? !is_gap : !is_event)
            continue;
        if (!n++)
            hb_printf(&rd->b, "<table class=\"list %s\"><tr><th>%s</th><th>%s</th><th>%s</th></tr>",
                      gaps ? "gaps" : "events", rd->t->time, rd->t->kind, rd->t->what);
        hb_printf(&rd->b, "<tr class=\"%s%s\"><td>", event_class(e),
                  e->kind == SELGW_REPORT_START && e->crash ? " crash" : "");
        put_time(rd, e->time_ns);
        hb_printf(&rd->b, "</td><td class=\"kind\">%s</td><td>", event_kind_label(rd->t, e));
        put_event_text(rd, e);
        hb_put(&rd->b, "</td></tr>");
    }
    if (n)
        hb_put(&rd->b, "</table>");
    else
        hb_printf(&rd->b, "<p>%s</p>", rd->t->none);
}

static void put_coverage(render *rd, const selgw_report_section *s)
{
    const labels *t = rd->t;
    char a[32];
    hb_printf(&rd->b,
              "<h3>%s</h3><div class=\"part sec-coverage\"><table class=\"list coverage\"><tr>"
              "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
              "<th>%s</th></tr>",
              t->h_coverage, t->device, t->polls, t->ok, t->failed, t->coverage, t->median,
              t->first, t->last);
    for (size_t i = 0; i < s->device_count; i++) {
        const selgw_report_device *d = &s->devices[i];
        hb_put(&rd->b, "<tr data-device=\"");
        hb_esc(&rd->b, d->id);
        hb_put(&rd->b, "\"><td>");
        hb_esc(&rd->b, d->id);
        hb_printf(&rd->b,
                  "</td><td class=\"polls\">%" PRIu64 "</td><td class=\"ok\">%" PRIu64
                  "</td><td class=\"failed\">%" PRIu64 "</td><td class=\"coverage\">",
                  d->polls, d->ok, d->failed);
        if (d->has_interval && d->median_interval_ns > 0)
            hb_printf(&rd->b, "%.1f%%", d->coverage_percent);
        else
            hb_put(&rd->b, "–");
        hb_put(&rd->b, "</td><td class=\"median\">");
        if (d->has_interval)
            put_duration(rd, d->median_interval_ns);
        else
            hb_put(&rd->b, "–");
        hb_put(&rd->b, "</td><td>");
        if (d->polls)
            hb_put(&rd->b, local_time(rd, d->first_ns, a));
        hb_put(&rd->b, "</td><td>");
        if (d->polls)
            hb_put(&rd->b, local_time(rd, d->last_ns, a));
        hb_put(&rd->b, "</td></tr>");
    }
    hb_put(&rd->b, "</table>");
    for (size_t i = 0; i < s->device_count; i++) {
        const selgw_report_device *d = &s->devices[i];
        char *id = html_dup(d->id);
        if (!id) {
            rd->b.nomem = true;
            continue;
        }
        if (d->other_plot) {
            hb_printf(&rd->b, "<p>%s: ", id);
            hb_label(&rd->b, t->other_plot, d->other_plot);
            hb_put(&rd->b, "</p>");
        }
        if (d->outside) {
            hb_printf(&rd->b, "<p>%s: ", id);
            hb_label(&rd->b, t->outside, d->outside);
            hb_put(&rd->b, "</p>");
        }
        free(id);
    }
    hb_printf(&rd->b, "<h4>%s</h4>", t->gaps);
    put_event_rows(rd, s, true);
    hb_put(&rd->b, "</div>");
}

static void put_events(render *rd, const selgw_report_section *s)
{
    hb_printf(&rd->b, "<h3>%s</h3><div class=\"part sec-events\">", rd->t->h_events);
    put_event_rows(rd, s, false);
    hb_put(&rd->b, "</div>");
}

/* ---- the document ------------------------------------------------------------------------- */

static const char style[] =
    "@page{size:A4;margin:14mm 12mm}"
    "*{box-sizing:border-box}"
    "body{font-family:\"Noto Sans CJK SC\",\"Noto Sans SC\",\"Source Han Sans SC\",\"PingFang SC\","
    "\"Microsoft YaHei\",sans-serif;color:#1a1a1a;margin:0 auto;max-width:980px;padding:16px;"
    "line-height:1.5;font-size:14px;-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:24px 0 8px;border-bottom:2px solid "
    "#333}h3{font-size:17px;margin:20px 0 6px;border-bottom:1px solid #bbb;break-after:avoid}"
    "h4{font-size:15px;margin:12px 0 4px;break-after:avoid}"
    ".intro{color:#555}"
    ".verdict{border-radius:6px;padding:12px 16px;margin:8px 0;border:3px solid}"
    ".verdict .word{font-size:26px;font-weight:700;margin:0 0 4px}"
    ".verdict.verified{border-color:#1b7f3b;background:#e8f5ec}.verdict.verified "
    ".word{color:#1b7f3b}"
    ".verdict.not-verified{border-color:#c0161d;background:#fdecec}"
    ".verdict.not-verified .word{color:#c0161d}"
    ".verdict.untrusted{border-color:#b36b00;background:#fff4e0}.verdict.untrusted "
    ".word{color:#b36b00}"
    ".problems li{color:#8a0f14;word-break:break-word}"
    ".banner{border:2px solid #b36b00;background:#fff4e0;color:#7a4700;font-weight:700;padding:8px "
    "12px;"
    "border-radius:6px;margin:8px 0}"
    ".clock-ok{color:#1b7f3b}"
    "table{border-collapse:collapse;margin:4px 0 8px}th,td{padding:3px 8px;text-align:left;"
    "vertical-align:top}"
    "table.facts th{color:#444;font-weight:600;white-space:nowrap}"
    "table.list{width:100%}table.list th{background:#eef1f4;border-bottom:1px solid #999}"
    "table.list td{border-bottom:1px solid #ddd}tr{break-inside:avoid}td.kind{white-space:nowrap}"
    "table.key td{word-break:break-all}.mono,.fingerprint{font-family:\"Noto Sans Mono CJK SC\","
    "monospace}.fingerprint{font-weight:700}"
    ".gi-inside{color:#1b7f3b;font-weight:700}.gi-outside{color:#c0161d;font-weight:700}"
    ".gi-undetermined{color:#b36b00;font-weight:700}"
    ".lot-box{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}"
    ".qr{margin:0;text-align:center;max-width:260px}.qr svg{width:200px;height:200px}"
    ".qr figcaption{font-size:12px;word-break:break-all}"
    "figure.field-chart{margin:8px 0 16px;break-inside:avoid}figure.field-chart figcaption{"
    "font-weight:600}"
    "svg.chart{width:100%;max-width:680px;height:auto;display:block}"
    "svg.chart .grid{stroke:#e3e3e3;stroke-width:1}svg.chart .axis{stroke:#555;stroke-width:1}"
    "svg.chart text{font-size:11px;fill:#444;font-family:inherit}"
    "svg.chart .ylabel{text-anchor:end}svg.chart .xlabel{text-anchor:middle}"
    "svg.chart .band{fill:#9ecae1;fill-opacity:.65;stroke:#6baed6;stroke-width:.5}"
    "svg.chart .mean{fill:none;stroke:#08519c;stroke-width:2}svg.chart .mean-dot{fill:#08519c}"
    ".legend{color:#555;font-size:13px}"
    "tr.crash td,.crash{color:#c0161d}"
    "details summary{cursor:pointer;color:#333}time{white-space:nowrap}"
    "section.bundle+section.bundle{break-before:page}"
    "@media print{body{max-width:none;padding:0;font-size:11pt}details{display:none}"
    "section.bundle+section.bundle{page-break-before:always}}";

char *selgw_report_html(const selgw_report *r, size_t *len)
{
    if (!r)
        return NULL;
    render rd = {.t = r->lang == LANG_EN ? &en : &zh, .lang = r->lang, .names = load_names()};
    const labels *t = rd.t;
    int offset = r->count ? r->sections[0].utc_offset_minutes : 8 * 60;
    char offset_text[SELGW_OFFSET_TEXT_SIZE];
    selgw_format_utc_offset(offset, offset_text);
    hb_printf(&rd.b,
              "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
              "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
              "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
              "style-src 'unsafe-inline'; img-src data:\">"
              "<title>%s</title><style>%s</style></head><body><header><h1>%s</h1>"
              "<p class=\"intro\">",
              t->html_lang, t->title, style, t->title);
    hb_label(&rd.b, t->intro, offset_text);
    hb_put(&rd.b, "</p></header>\n");
    if (r->lot)
        put_lot_verdict(&rd, r);
    for (size_t i = 0; i < r->count; i++) {
        const selgw_report_section *s = &r->sections[i];
        rd.offset = s->utc_offset_minutes;
        hb_printf(&rd.b, "<section class=\"bundle\" id=\"section-%zu\"><h2>", i + 1);
        char *plot = html_dup(s->plot ? s->plot : s->bundle);
        if (plot)
            hb_label(&rd.b, t->bundle_title, plot);
        else
            rd.b.nomem = true;
        free(plot);
        hb_put(&rd.b, "</h2>");
        put_verdict(&rd, s, i);
        put_clock(&rd, s);
        if (!s->error && s->has_period) {
            put_place(&rd, s);
            put_plot(&rd, s);
            put_lot(&rd, s);
            put_notes(&rd, s);
            put_fields(&rd, s);
            put_coverage(&rd, s);
            put_events(&rd, s);
        }
        hb_put(&rd.b, "</section>\n");
    }
    hb_put(&rd.b, "</body></html>\n");
    json_decref(rd.names);
    if (rd.b.nomem) {
        free(rd.b.p);
        return NULL;
    }
    if (len)
        *len = rd.b.len;
    return rd.b.p;
}

/* ---- files --------------------------------------------------------------------------------- */

typedef struct html_out {
    const char *text;
    size_t len;
} html_out;

static selgw_err write_text(FILE *f, void *ctx)
{
    const html_out *h = ctx;
    return fwrite(h->text, 1, h->len, f) == h->len ? SELGW_OK : SELGW_ERR_IO;
}

selgw_err selgw_report_write_html(selgw_report *r, const char *path, char *why, size_t cap)
{
    if (!r || !path) {
        snprintf(why, cap, "no report or no path");
        return SELGW_ERR_INVALID;
    }
    html_out h = {0};
    char *text = selgw_report_html(r, &h.len);
    if (!text) {
        snprintf(why, cap, "out of memory while rendering the report");
        return SELGW_ERR_NOMEM;
    }
    h.text = text;
    selgw_err err = selgw_durable_replace(path, 0644, write_text, &h);
    if (err != SELGW_OK)
        snprintf(why, cap, "%s: %s", path, strerror(errno));
    free(text);
    return err;
}

/* Chromium on PATH, or Debian's /usr/bin/chromium. */
static bool find_chromium(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if ((size_t)snprintf(out, cap, "%s/chromium", *d ? d : ".") < cap && !access(out, X_OK))
            return true;
    }
    snprintf(out, cap, "/usr/bin/chromium");
    return !access(out, X_OK);
}

selgw_err selgw_report_print_pdf(const char *html_path, const char *pdf_path, char *why, size_t cap)
{
    char chromium[4200];
    if (!find_chromium(chromium, sizeof chromium)) {
        snprintf(why, cap,
                 "no chromium on PATH or at /usr/bin/chromium: install it (Debian package "
                 "chromium) or print %s to PDF from any browser",
                 html_path);
        return SELGW_ERR_NOT_FOUND;
    }
    char *abs_html = realpath(html_path, NULL);
    char *url = NULL, *flag = NULL;
    if (!abs_html || asprintf(&url, "file://%s", abs_html) < 0 ||
        asprintf(&flag, "--print-to-pdf=%s", pdf_path) < 0) {
        snprintf(why, cap, "%s: %s", html_path, strerror(errno));
        free(abs_html);
        return SELGW_ERR_IO;
    }
    free(abs_html);
    /* an old PDF must not pass for a new one */
    if (unlink(pdf_path) != 0 && errno != ENOENT) {
        snprintf(why, cap, "%s: %s", pdf_path, strerror(errno));
        free(url);
        free(flag);
        return SELGW_ERR_IO;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execl(chromium, chromium, "--headless", "--no-sandbox", "--disable-gpu",
              "--no-pdf-header-footer", flag, url, (char *)NULL);
        _exit(127);
    }
    free(url);
    free(flag);
    if (pid < 0) {
        snprintf(why, cap, "cannot start %s: %s", chromium, strerror(errno));
        return SELGW_ERR_IO;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    struct stat st;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(pdf_path, &st) != 0 ||
        st.st_size == 0) {
        snprintf(why, cap, "%s --headless --print-to-pdf did not write %s (exit status %d)",
                 chromium, pdf_path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return SELGW_ERR_IO;
    }
    return SELGW_OK;
}
