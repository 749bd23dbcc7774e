#include "evidence/lot.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/safe_text.h"
#include "base/text_writer.h"
#include "evidence/geo.h"
#include "evidence/provenance.h"
#include "config.h"

#define ID_MAX 64

static void put_text_or_null(char *buf, size_t cap, size_t *len, const char *s)
{
    if (s)
        selgw_json_string_n(buf, cap, len, s, strlen(s));
    else
        selgw_text_bytes(buf, cap, len, "null", 4);
}

static void put_list(char *buf, size_t cap, size_t *len, char *const *items, size_t n)
{
    selgw_text_char(buf, cap, len, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            selgw_text_char(buf, cap, len, ',');
        selgw_json_string_n(buf, cap, len, items[i], strlen(items[i]));
    }
    selgw_text_char(buf, cap, len, ']');
}

size_t selgw_lot_json(const selgw_lot *lot, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    selgw_text_format(buf, cap, &len, "{\"format\":1,\"lot\":");
    put_text_or_null(buf, cap, &len, lot->lot ? lot->lot : "");
    selgw_text_format(buf, cap, &len, ",\"product\":");
    put_text_or_null(buf, cap, &len, lot->product ? lot->product : "");
    selgw_text_format(buf, cap, &len, ",\"utc_offset\":");
    put_text_or_null(buf, cap, &len, lot->utc_offset ? lot->utc_offset : "");
    selgw_text_format(buf, cap, &len, ",\"plots\":[");
    for (size_t i = 0; i < lot->plot_count; i++) {
        const selgw_lot_plot *p = &lot->plots[i];
        selgw_text_format(buf, cap, &len, "%s{\"plot\":", i ? "," : "");
        put_text_or_null(buf, cap, &len, p->plot ? p->plot : "");
        selgw_text_format(buf, cap, &len, ",\"season_from\":");
        put_text_or_null(buf, cap, &len, p->season_from ? p->season_from : "");
        selgw_text_format(buf, cap, &len, ",\"harvest_from\":");
        put_text_or_null(buf, cap, &len, p->harvest_from ? p->harvest_from : "");
        selgw_text_format(buf, cap, &len, ",\"harvest_to\":");
        put_text_or_null(buf, cap, &len, p->harvest_to ? p->harvest_to : "");
        selgw_text_char(buf, cap, &len, '}');
    }
    selgw_text_format(buf, cap, &len, "],\"quantity\":");
    selgw_json_number_exact(buf, cap, &len, lot->quantity);
    selgw_text_format(buf, cap, &len, ",\"unit\":");
    put_text_or_null(buf, cap, &len, lot->unit ? lot->unit : "");
    selgw_text_format(buf, cap, &len, ",\"households\":");
    put_list(buf, cap, &len, lot->households, lot->household_count);
    selgw_text_format(buf, cap, &len, ",\"processing\":");
    put_text_or_null(buf, cap, &len, lot->processing);
    selgw_text_format(buf, cap, &len, ",\"refs\":");
    put_list(buf, cap, &len, lot->refs, lot->ref_count);
    selgw_text_format(buf, cap, &len, ",\"url\":");
    put_text_or_null(buf, cap, &len, lot->url);
    selgw_text_char(buf, cap, &len, '}');
    return len;
}

int selgw_lot_is_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > ID_MAX)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int selgw_lot_plot_period(const selgw_lot_plot *p, int offset_minutes, int64_t recorded_ns,
                          int64_t *from_ns, int64_t *to_ns)
{
    int32_t from, to;
    if (!p->season_from || !p->harvest_to || !selgw_parse_date(p->season_from, &from) ||
        !selgw_parse_date(p->harvest_to, &to))
        return 0;
    const int64_t day_ns = 86400LL * 1000000000LL, offset_ns = offset_minutes * 60LL * 1000000000LL;
    *from_ns = (int64_t)from * day_ns - offset_ns;
    *to_ns = ((int64_t)to + 1) * day_ns - offset_ns;
    if (recorded_ns < *to_ns)
        *to_ns = recorded_ns;
    return *from_ns < *to_ns;
}

void selgw_lot_free(selgw_lot *lot)
{
    if (!lot)
        return;
    free(lot->lot);
    free(lot->product);
    free(lot->unit);
    free(lot->processing);
    free(lot->url);
    free(lot->utc_offset);
    for (size_t i = 0; i < lot->plot_count; i++) {
        free(lot->plots[i].plot);
        free(lot->plots[i].season_from);
        free(lot->plots[i].harvest_from);
        free(lot->plots[i].harvest_to);
    }
    free(lot->plots);
    for (size_t i = 0; i < lot->household_count; i++)
        free(lot->households[i]);
    free(lot->households);
    for (size_t i = 0; i < lot->ref_count; i++)
        free(lot->refs[i]);
    free(lot->refs);
    free(lot);
}

typedef struct lot_reader {
    const char *what; /* the first problem */
    char detail[160];
} lot_reader;

/* A string member (null allowed when nullable); NULL and r->what set otherwise. */
static char *get_text(lot_reader *r, json_t *obj, const char *key, int nullable)
{
    json_t *v = json_object_get(obj, key);
    if (nullable && json_is_null(v))
        return NULL;
    char *s = NULL;
    if (!json_is_string(v) || !(s = strndup(json_string_value(v), json_string_length(v))) ||
        strlen(s) != json_string_length(v) || !*s) {
        free(s);
        if (!r->what)
            r->what = key;
        return NULL;
    }
    return s;
}

static char **get_list(lot_reader *r, json_t *obj, const char *key, size_t *count)
{
    *count = 0;
    json_t *v = json_object_get(obj, key);
    if (!json_is_array(v)) {
        if (!r->what)
            r->what = key;
        return NULL;
    }
    size_t n = json_array_size(v);
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out) {
        if (!r->what)
            r->what = "(out of memory)";
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        char *copy =
            json_is_string(s) ? strndup(json_string_value(s), json_string_length(s)) : NULL;
        if (!copy || strlen(copy) != json_string_length(s) || !*copy) {
            free(copy);
            if (!r->what)
                r->what = key;
            break;
        }
        for (size_t k = 0; k < *count; k++)
            if (!strcmp(out[k], copy) && !r->what) {
                r->what = key;
                snprintf(r->detail, sizeof r->detail, "%s twice", key);
            }
        out[(*count)++] = copy;
    }
    return out;
}

static int day_of(const char *s, int32_t *day)
{
    return s && strlen(s) == 10 && selgw_parse_date(s, day);
}

static void read_lot(lot_reader *r, json_t *root, selgw_lot *lot)
{
    if (!json_is_object(root)) {
        r->what = "the text";
        return;
    }
    json_t *format = json_object_get(root, "format");
    if (!json_is_integer(format) || json_integer_value(format) != 1) {
        r->what = "format";
        return;
    }
    lot->lot = get_text(r, root, "lot", 0);
    if (lot->lot && !selgw_lot_is_id(lot->lot) && !r->what)
        r->what = "lot";
    lot->product = get_text(r, root, "product", 0);
    lot->utc_offset = get_text(r, root, "utc_offset", 0);
    int offset;
    if (lot->utc_offset && !selgw_parse_utc_offset(lot->utc_offset, &offset) && !r->what)
        r->what = "utc_offset";
    json_t *plots = json_object_get(root, "plots");
    size_t n = json_array_size(plots);
    if (!json_is_array(plots) || n == 0) {
        if (!r->what)
            r->what = "plots";
        return;
    }
    lot->plots = calloc(n, sizeof *lot->plots);
    if (!lot->plots) {
        r->what = "(out of memory)";
        return;
    }
    for (size_t i = 0; i < n && !r->what; i++) {
        json_t *p = json_array_get(plots, i);
        selgw_lot_plot *out = &lot->plots[lot->plot_count++];
        if (!json_is_object(p)) {
            r->what = "plots";
            break;
        }
        out->plot = get_text(r, p, "plot", 0);
        out->season_from = get_text(r, p, "season_from", 0);
        out->harvest_from = get_text(r, p, "harvest_from", 0);
        out->harvest_to = get_text(r, p, "harvest_to", 0);
        if (r->what)
            break;
        int32_t a, b, c;
        if (!selgw_lot_is_id(out->plot)) {
            r->what = "plot";
        } else if (!day_of(out->season_from, &a) || !day_of(out->harvest_from, &b) ||
                   !day_of(out->harvest_to, &c)) {
            r->what = "dates";
            snprintf(r->detail, sizeof r->detail, "plot %s: a date is not YYYY-MM-DD", out->plot);
        } else if (a > b || b > c) {
            r->what = "dates";
            snprintf(r->detail, sizeof r->detail,
                     "plot %s: the dates are not in order (season_from <= harvest_from <= "
                     "harvest_to)",
                     out->plot);
        }
        for (size_t k = 0; k + 1 < lot->plot_count && !r->what; k++)
            if (!strcmp(lot->plots[k].plot, out->plot)) {
                r->what = "plots";
                snprintf(r->detail, sizeof r->detail, "plot %s twice", out->plot);
            }
    }
    json_t *q = json_object_get(root, "quantity");
    lot->quantity = json_is_number(q) ? json_number_value(q) : NAN;
    if (!r->what && !(isfinite(lot->quantity) && lot->quantity > 0))
        r->what = "quantity";
    lot->unit = get_text(r, root, "unit", 0);
    lot->households = get_list(r, root, "households", &lot->household_count);
    lot->processing = get_text(r, root, "processing", 1);
    lot->refs = get_list(r, root, "refs", &lot->ref_count);
    lot->url = get_text(r, root, "url", 1);
}

selgw_err selgw_lot_parse(const char *text, size_t len, selgw_lot **out, char *why, size_t cap)
{
    *out = NULL;
    if (why && cap)
        why[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (why)
            snprintf(why, cap, "not JSON: %s at character %d", jerr.text, jerr.position);
        return SELGW_ERR_CORRUPT;
    }
    selgw_lot *lot = calloc(1, sizeof *lot);
    if (!lot) {
        json_decref(root);
        return SELGW_ERR_NOMEM;
    }
    lot_reader r = {NULL, ""};
    read_lot(&r, root, lot);
    json_decref(root);
    if (r.what) {
        if (why)
            snprintf(why, cap, "not a lot of format 1: %s", r.detail[0] ? r.detail : r.what);
        selgw_lot_free(lot);
        return !strcmp(r.what, "(out of memory)") ? SELGW_ERR_NOMEM : SELGW_ERR_CORRUPT;
    }
    /* Only the canonical text is a lot's text: written again, it must give the same
     * bytes (member order, no whitespace, no unknown members). */
    size_t need = selgw_lot_json(lot, NULL, 0);
    char *again = malloc(need + 1);
    if (!again) {
        selgw_lot_free(lot);
        return SELGW_ERR_NOMEM;
    }
    selgw_lot_json(lot, again, need + 1);
    bool same = need == len && !memcmp(again, text, len);
    free(again);
    if (!same) {
        if (why)
            snprintf(why, cap,
                     "not a lot's canonical text (members in order, no whitespace, no other "
                     "members)");
        selgw_lot_free(lot);
        return SELGW_ERR_CORRUPT;
    }
    *out = lot;
    return SELGW_OK;
}

/* ---- a lot from `selgw lot` ------------------------------------------------------------- */

static selgw_err refuse(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static selgw_err refuse(char *why, size_t cap, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return SELGW_ERR_INVALID;
}

static int clean_line(const char *s)
{
    return s && *s && selgw_text_is_clean(s, strlen(s));
}

/* The GI check verify makes of a lot, made now on the tags the config gives the plot: a lot
 * whose plot is outside the product's area, or whose place cannot be checked, would never
 * verify, so it is refused here, where it can still be corrected. */
static selgw_err place_in_area(const selgw_config *cfg, const selgw_plot *plot,
                               const selgw_product *product, char *why, size_t cap)
{
    size_t index = (size_t)(plot - cfg->plots);
    size_t need = selgw_plot_tags_text(cfg, index, NULL, 0);
    char *text = malloc(need + 1);
    if (!text)
        return SELGW_ERR_NOMEM;
    selgw_plot_tags_text(cfg, index, text, need + 1);
    selgw_tags *tags = NULL;
    selgw_err err = selgw_tags_parse(text, need, &tags, NULL, 0);
    free(text);
    if (err != SELGW_OK)
        return err;
    size_t p = SIZE_MAX;
    for (size_t i = 0; i < tags->product_count; i++)
        if (!strcmp(tags->products[i].name, product->name))
            p = i;
    char reason[512] = "";
    selgw_gi_verdict v =
        p == SIZE_MAX ? SELGW_GI_UNDETERMINED : selgw_gi_check(tags, p, reason, sizeof reason);
    selgw_tags_free(tags);
    if (v == SELGW_GI_INSIDE)
        return SELGW_OK;
    return refuse(why, cap,
                  v == SELGW_GI_OUTSIDE
                      ? "plot %s lies outside the area of product %s: %s"
                      : "whether plot %s lies in the area of product %s cannot be checked: %s "
                        "(configure the base's county or coordinates, or the plot's location)",
                  plot->id, product->name, reason[0] ? reason : "the product is not in its tags");
}

typedef struct built_plot {
    const selgw_plot *plot;
    int32_t from, to;
    char season_from[SELGW_DAY_TEXT_SIZE], harvest_from[SELGW_DAY_TEXT_SIZE],
        harvest_to[SELGW_DAY_TEXT_SIZE];
} built_plot;

/* "P:YYYY-MM-DD..YYYY-MM-DD" */
static selgw_err read_plot_arg(const selgw_config *cfg, const selgw_product *product,
                               const char *arg, int32_t today, built_plot *out, char *why,
                               size_t cap)
{
    const char *colon = strrchr(arg, ':');
    const char *dots = colon ? strstr(colon, "..") : NULL;
    if (!colon || !dots || colon == arg)
        return refuse(why, cap,
                      "--plot %s: expected PLOT:YYYY-MM-DD..YYYY-MM-DD (the harvest's "
                      "first and last day)",
                      arg);
    size_t plot_len = (size_t)(colon - arg);
    out->plot = NULL;
    for (size_t i = 0; i < cfg->plot_count; i++)
        if (strlen(cfg->plots[i].id) == plot_len && !memcmp(cfg->plots[i].id, arg, plot_len))
            out->plot = &cfg->plots[i];
    if (!out->plot)
        return refuse(why, cap, "--plot %s: no plot '%.*s' in %s", arg, (int)plot_len, arg,
                      cfg->path ? cfg->path : "the config");
    char from[16] = "", to[16] = "";
    size_t from_len = (size_t)(dots - colon - 1);
    if (from_len < sizeof from)
        memcpy(from, colon + 1, from_len), from[from_len] = '\0';
    snprintf(to, sizeof to, "%s", dots + 2);
    if (from_len != 10 || strlen(dots + 2) != 10 || !selgw_parse_date(from, &out->from) ||
        !selgw_parse_date(to, &out->to))
        return refuse(why, cap,
                      "--plot %s: the harvest dates must be days that exist, "
                      "YYYY-MM-DD..YYYY-MM-DD",
                      arg);
    if (out->from > out->to)
        return refuse(why, cap, "--plot %s: the harvest ends before it begins", arg);
    if (out->to > today) {
        char t[SELGW_DAY_TEXT_SIZE];
        return refuse(why, cap,
                      "--plot %s: the harvest ends after today (%s, local): record a lot "
                      "once its harvest is over",
                      arg, selgw_format_day(today, t));
    }
    int covers = 0;
    for (size_t i = 0; i < product->crop_count; i++)
        covers = covers || !strcmp(product->crops[i], out->plot->crop);
    if (!covers)
        return refuse(why, cap, "plot %s grows %s, which product %s does not cover", out->plot->id,
                      out->plot->crop, product->name);
    selgw_err gi = place_in_area(cfg, out->plot, product, why, cap);
    if (gi != SELGW_OK)
        return gi;
    selgw_format_day(out->to - product->season_days, out->season_from);
    selgw_format_day(out->from, out->harvest_from);
    selgw_format_day(out->to, out->harvest_to);
    return SELGW_OK;
}

/* Whether the household has a contract on the plot in force on a day of [from, to]. */
static int contracted(const selgw_plot *plot, const char *household, int32_t from, int32_t to)
{
    for (size_t i = 0; i < plot->contract_count; i++) {
        const selgw_contract *c = &plot->contracts[i];
        if (!strcmp(c->household, household) && c->from_day <= to && c->to_day >= from)
            return 1;
    }
    return 0;
}

/* The product's lot_url with every {lot} replaced by the id (an id: nothing to escape). */
static char *lot_url(const char *tmpl, const char *id)
{
    size_t n = 0, k = strlen(id);
    for (const char *p = strstr(tmpl, "{lot}"); p; p = strstr(p + 5, "{lot}"))
        n++;
    char *out = malloc(strlen(tmpl) + n * k + 1);
    if (!out)
        return NULL;
    char *w = out;
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{lot}", 5)) {
            memcpy(w, id, k);
            w += k;
            p += 5;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return out;
}

selgw_err selgw_lot_build(const selgw_config *cfg, const selgw_lot_request *req, int64_t now_ns,
                          char **json, char *why, size_t cap)
{
    *json = NULL;
    if (!req->id || !selgw_lot_is_id(req->id))
        return refuse(why, cap, "--id %s: a lot id has 1 to 64 letters, digits, '.', '_' or '-'",
                      req->id ? req->id : "(missing)");
    const selgw_product *product = NULL;
    for (size_t i = 0; req->product && i < cfg->product_count; i++)
        if (!strcmp(cfg->products[i].name, req->product))
            product = &cfg->products[i];
    if (!product)
        return refuse(why, cap, "--product %s: no such product in %s (its `products:`)",
                      req->product ? req->product : "(missing)",
                      cfg->path ? cfg->path : "the config");
    if (!req->plot_count)
        return refuse(why, cap, "give at least one --plot PLOT:YYYY-MM-DD..YYYY-MM-DD");
    if (!(isfinite(req->quantity) && req->quantity > 0))
        return refuse(why, cap, "--quantity: a positive number");
    if (!clean_line(req->unit) || (req->processing && !clean_line(req->processing)))
        return refuse(why, cap,
                      "--unit and --processing must be single non-empty lines of UTF-8 "
                      "without control characters");
    for (size_t i = 0; i < req->ref_count; i++)
        if (!clean_line(req->refs[i]) || strlen(req->refs[i]) > 255)
            return refuse(why, cap,
                          "--ref %s: a reference is one line of at most 255 bytes "
                          "without control characters",
                          req->refs[i]);
    int32_t today = selgw_local_day(now_ns, cfg->utc_offset_minutes);
    built_plot *plots = calloc(req->plot_count, sizeof *plots);
    selgw_lot_plot *lot_plots = calloc(req->plot_count, sizeof *lot_plots);
    selgw_err err = plots && lot_plots ? SELGW_OK : SELGW_ERR_NOMEM;
    for (size_t i = 0; err == SELGW_OK && i < req->plot_count; i++) {
        err = read_plot_arg(cfg, product, req->plots[i], today, &plots[i], why, cap);
        for (size_t k = 0; err == SELGW_OK && k < i; k++)
            if (plots[k].plot == plots[i].plot)
                err = refuse(why, cap, "plot %s is given twice", plots[i].plot->id);
        lot_plots[i] =
            (selgw_lot_plot){plots[i].plot ? plots[i].plot->id : NULL, plots[i].season_from,
                             plots[i].harvest_from, plots[i].harvest_to};
    }
    for (size_t h = 0; err == SELGW_OK && h < req->household_count; h++) {
        const char *hh = req->households[h];
        int found = 0;
        for (size_t k = 0; k < h; k++)
            if (!strcmp(req->households[k], hh))
                err = refuse(why, cap, "household %s is given twice", hh);
        for (size_t i = 0; i < req->plot_count; i++)
            found = found || contracted(plots[i].plot, hh, plots[i].from, plots[i].to);
        if (err == SELGW_OK && !found) {
            size_t len = 0;
            char list[512] = "";
            for (size_t i = 0; i < req->plot_count; i++)
                len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0,
                                        "%s%s (%s..%s)", i ? ", " : "", plots[i].plot->id,
                                        plots[i].harvest_from, plots[i].harvest_to);
            err = refuse(why, cap,
                         "household %s has no contract (in %s) on the lot's plots during their "
                         "harvest: %s",
                         hh, cfg->path ? cfg->path : "the config", list);
        }
    }
    char *url = NULL;
    char offset[SELGW_OFFSET_TEXT_SIZE];
    selgw_format_utc_offset(cfg->utc_offset_minutes, offset);
    if (err == SELGW_OK && product->lot_url && !(url = lot_url(product->lot_url, req->id)))
        err = SELGW_ERR_NOMEM;
    if (err == SELGW_OK) {
        selgw_lot lot = {.lot = (char *)req->id,
                         .product = product->name,
                         .utc_offset = offset,
                         .unit = (char *)req->unit,
                         .processing = (char *)req->processing,
                         .url = url,
                         .quantity = req->quantity,
                         .plot_count = req->plot_count,
                         .plots = lot_plots,
                         .household_count = req->household_count,
                         .households = (char **)req->households,
                         .ref_count = req->ref_count,
                         .refs = (char **)req->refs};
        size_t need = selgw_lot_json(&lot, NULL, 0);
        if (!(*json = malloc(need + 1)))
            err = SELGW_ERR_NOMEM;
        else
            selgw_lot_json(&lot, *json, need + 1);
    }
    if (err == SELGW_ERR_NOMEM)
        refuse(why, cap, "out of memory");
    free(url);
    free(plots);
    free(lot_plots);
    return err;
}
