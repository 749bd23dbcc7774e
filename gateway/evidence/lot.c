#include "evidence/lot.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/text_writer.h"

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

int selgw_lot_plot_period(const selgw_lot_plot *p, int offset_minutes, int64_t *from_ns,
                          int64_t *to_ns)
{
    int32_t from, to;
    if (!p->season_from || !p->harvest_to || !selgw_parse_date(p->season_from, &from) ||
        !selgw_parse_date(p->harvest_to, &to))
        return 0;
    const int64_t day_ns = 86400LL * 1000000000LL, offset_ns = offset_minutes * 60LL * 1000000000LL;
    *from_ns = (int64_t)from * day_ns - offset_ns;
    *to_ns = ((int64_t)to + 1) * day_ns - offset_ns;
    return 1;
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
        char *copy = json_is_string(s) ? strndup(json_string_value(s), json_string_length(s)) : NULL;
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
