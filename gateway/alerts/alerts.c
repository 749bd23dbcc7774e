/* selgw: the alert engine. See alerts.h for the semantics, docs/ALERTS.md for the rules.
 *
 * State is a flat list of entries, one per (rule id, device id) that has been fed or
 * restored; a base has tens of rules and devices, so a linear look-up per rule and reading
 * costs less than keeping an index. */
#include "alerts/alerts.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

typedef struct stuck_field {
    bool known;
    double value;
    int64_t since_ns;
} stuck_field;

typedef struct entry {
    char *rule_id;
    size_t rule; /* index into e->rules; SIZE_MAX while restored and not yet settled */
    char *device, *base, *plot, *crop;
    /* the active alert */
    bool active;
    selgw_alert_condition condition;
    char *field, *unit;
    double value, threshold;
    int64_t since_ns, raised_ns;
    /* below/above: a wait in progress (to raise when not active, to clear when active) */
    bool waiting;
    int64_t wait_from_ns;
    /* stale */
    unsigned stale_count;
    int64_t stale_first_ns;
    /* stuck: one per field of the device's readings */
    size_t stuck_count;
    stuck_field *stuck;
} entry;

struct selgw_alert_engine {
    size_t rule_count;
    selgw_alert_rule *rules; /* deep copies */
    size_t entry_count, entry_cap;
    entry *entries;
};

/* ---- rules ------------------------------------------------------------------------------- */

static void rule_free(selgw_alert_rule *r)
{
    free(r->id);
    free(r->field);
    free(r->source);
    for (size_t i = 0; i < r->crop_count; i++)
        free(r->crops[i]);
    free(r->crops);
    for (size_t i = 0; i < r->plot_count; i++)
        free(r->plots[i]);
    free(r->plots);
}

static void rules_free(selgw_alert_rule *rules, size_t count)
{
    for (size_t i = 0; i < count; i++)
        rule_free(&rules[i]);
    free(rules);
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *failed = true;
    return copy;
}

static char **dup_list(char *const *list, size_t count, bool *failed)
{
    if (count == 0)
        return NULL;
    char **copy = calloc(count, sizeof *copy);
    if (!copy) {
        *failed = true;
        return NULL;
    }
    for (size_t i = 0; i < count; i++)
        copy[i] = dup_or_null(list[i], failed);
    return copy;
}

static selgw_err rules_copy(const selgw_config *cfg, selgw_alert_rule **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (cfg->alert_count == 0)
        return SELGW_OK;
    selgw_alert_rule *rules = calloc(cfg->alert_count, sizeof *rules);
    if (!rules)
        return SELGW_ERR_NOMEM;
    bool failed = false;
    for (size_t i = 0; i < cfg->alert_count; i++) {
        const selgw_alert_rule *src = &cfg->alerts[i];
        selgw_alert_rule *r = &rules[i];
        *r = *src;
        r->id = dup_or_null(src->id, &failed);
        r->field = dup_or_null(src->field, &failed);
        r->source = dup_or_null(src->source, &failed);
        r->crops = dup_list(src->crops, src->crop_count, &failed);
        r->plots = dup_list(src->plots, src->plot_count, &failed);
        if (!r->crops)
            r->crop_count = 0;
        if (!r->plots)
            r->plot_count = 0;
    }
    if (failed || !rules) {
        rules_free(rules, cfg->alert_count);
        return SELGW_ERR_NOMEM;
    }
    *out = rules;
    *count = cfg->alert_count;
    return SELGW_OK;
}

static bool same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The same condition: what decides raising and clearing (not the scope or the source). */
static bool same_condition(const selgw_alert_rule *a, const selgw_alert_rule *b)
{
    return a->condition == b->condition && same_text(a->field, b->field) &&
           same_double(a->threshold, b->threshold) &&
           same_double(a->clear_threshold, b->clear_threshold) && a->for_ms == b->for_ms &&
           a->clear_for_ms == b->clear_for_ms && a->stale_after == b->stale_after &&
           a->stuck_for_ms == b->stuck_for_ms;
}

static size_t rule_index(const selgw_alert_rule *rules, size_t count, const char *id)
{
    for (size_t i = 0; i < count; i++)
        if (!strcmp(rules[i].id, id))
            return i;
    return SIZE_MAX;
}

/* ---- entries ------------------------------------------------------------------------------ */

static void entry_free(entry *en)
{
    free(en->rule_id);
    free(en->device);
    free(en->base);
    free(en->plot);
    free(en->crop);
    free(en->field);
    free(en->unit);
    free(en->stuck);
}

static void entry_remove(selgw_alert_engine *e, size_t i)
{
    entry_free(&e->entries[i]);
    e->entries[i] = e->entries[--e->entry_count];
}

static entry *entry_find(selgw_alert_engine *e, const char *rule_id, const char *device)
{
    for (size_t i = 0; i < e->entry_count; i++)
        if (!strcmp(e->entries[i].rule_id, rule_id) && !strcmp(e->entries[i].device, device))
            return &e->entries[i];
    return NULL;
}

static bool set_text(char **slot, const char *text)
{
    if (*slot && !strcmp(*slot, text))
        return true;
    char *copy = strdup(text);
    if (!copy)
        return false;
    free(*slot);
    *slot = copy;
    return true;
}

static entry *entry_get(selgw_alert_engine *e, const char *rule_id, size_t rule, const char *device)
{
    entry *en = entry_find(e, rule_id, device);
    if (en)
        return en;
    if (e->entry_count == e->entry_cap) {
        size_t cap = e->entry_cap ? e->entry_cap * 2 : 16;
        entry *grown = realloc(e->entries, cap * sizeof *grown);
        if (!grown)
            return NULL;
        e->entries = grown;
        e->entry_cap = cap;
    }
    en = &e->entries[e->entry_count];
    memset(en, 0, sizeof *en);
    en->rule = rule;
    en->rule_id = strdup(rule_id);
    en->device = strdup(device);
    if (!en->rule_id || !en->device) {
        entry_free(en);
        return NULL;
    }
    e->entry_count++;
    return en;
}

/* ---- transitions ------------------------------------------------------------------------- */

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static void report(const entry *en, selgw_alert_state state, double value, double threshold,
                   int64_t since_ns, int64_t time_ns, const char *why, selgw_alert_fn fn, void *ctx)
{
    selgw_alert_event ev = {.rule = en->rule_id,
                            .base = or_empty(en->base),
                            .plot = or_empty(en->plot),
                            .crop = or_empty(en->crop),
                            .device = en->device,
                            .field = or_empty(en->field),
                            .unit = or_empty(en->unit),
                            .state = state,
                            .condition = en->condition,
                            .value = value,
                            .threshold = threshold,
                            .since_ns = since_ns,
                            .time_ns = time_ns,
                            .raised_ns = en->raised_ns,
                            .why = why};
    if (fn)
        fn(ctx, &ev);
}

static bool raise_alert(entry *en, const selgw_alert_rule *rule, const selgw_reading_field *f,
                        double value, double threshold, int64_t since_ns, int64_t time_ns,
                        selgw_alert_fn fn, void *ctx)
{
    if (!set_text(&en->field, f ? f->name : or_empty(rule->field)) ||
        !set_text(&en->unit, f ? or_empty(f->unit) : ""))
        return false;
    en->active = true;
    en->condition = rule->condition;
    en->value = value;
    en->threshold = threshold;
    en->since_ns = since_ns;
    en->raised_ns = time_ns;
    en->waiting = false;
    report(en, SELGW_ALERT_RAISED, value, threshold, since_ns, time_ns, NULL, fn, ctx);
    return true;
}

static void clear_alert(entry *en, double value, double threshold, int64_t time_ns, const char *why,
                        selgw_alert_fn fn, void *ctx)
{
    en->active = false;
    en->waiting = false;
    report(en, SELGW_ALERT_CLEARED, value, threshold, en->raised_ns, time_ns, why, fn, ctx);
}

static const selgw_reading_field *find_field(const selgw_reading *r, const char *name,
                                             size_t *index)
{
    for (size_t i = 0; i < r->field_count; i++)
        if (r->fields[i].name && !strcmp(r->fields[i].name, name)) {
            *index = i;
            return &r->fields[i];
        }
    return NULL;
}

static selgw_err feed_threshold(entry *en, const selgw_alert_rule *rule,
                                const selgw_reading_field *f, int64_t t, selgw_alert_fn fn,
                                void *ctx)
{
    if (f->quality != SELGW_QUALITY_OK || !isfinite(f->value))
        return SELGW_OK; /* neither raises nor clears, nor restarts a wait */
    double v = f->value;
    bool below = rule->condition == SELGW_ALERT_BELOW;
    if (!en->active) {
        bool past = below ? v < rule->threshold : v > rule->threshold;
        if (!past) {
            en->waiting = false;
            return SELGW_OK;
        }
        if (!en->waiting) {
            en->waiting = true;
            en->wait_from_ns = t;
        }
        if (t - en->wait_from_ns >= rule->for_ms * SELGW_NS_PER_MS &&
            !raise_alert(en, rule, f, v, rule->threshold, en->wait_from_ns, t, fn, ctx))
            return SELGW_ERR_NOMEM;
        return SELGW_OK;
    }
    bool back = below ? v > rule->clear_threshold : v < rule->clear_threshold;
    if (!back) {
        en->waiting = false; /* between the thresholds, or past again: still active */
        return SELGW_OK;
    }
    if (!en->waiting) {
        en->waiting = true;
        en->wait_from_ns = t;
    }
    if (t - en->wait_from_ns >= rule->clear_for_ms * SELGW_NS_PER_MS)
        clear_alert(en, v, rule->clear_threshold, t, NULL, fn, ctx);
    return SELGW_OK;
}

static selgw_err feed_stale(entry *en, const selgw_alert_rule *rule, const selgw_reading *r,
                            const selgw_reading_field *f, selgw_alert_fn fn, void *ctx)
{
    bool valid = false;
    if (f) {
        valid = f->quality == SELGW_QUALITY_OK;
    } else {
        for (size_t i = 0; i < r->field_count && !valid; i++)
            valid = r->fields[i].quality == SELGW_QUALITY_OK;
    }
    if (valid) {
        en->stale_count = 0;
        if (en->active)
            clear_alert(en, f ? f->value : NAN, NAN, r->time_ns, NULL, fn, ctx);
        return SELGW_OK;
    }
    if (en->stale_count == 0)
        en->stale_first_ns = r->time_ns;
    if (en->stale_count < UINT32_MAX)
        en->stale_count++;
    if (!en->active && en->stale_count >= (unsigned)rule->stale_after) {
        /* the field's name and unit, from the profile, even without a value */
        if (!raise_alert(en, rule, f, NAN, NAN, en->stale_first_ns, r->time_ns, fn, ctx))
            return SELGW_ERR_NOMEM;
    }
    return SELGW_OK;
}

static selgw_err feed_stuck(entry *en, const selgw_alert_rule *rule, const selgw_reading *r,
                            size_t only, selgw_alert_fn fn, void *ctx)
{
    if (en->stuck_count != r->field_count) {
        /* first reading, or the device's profile changed: start over */
        free(en->stuck);
        en->stuck = calloc(r->field_count ? r->field_count : 1, sizeof *en->stuck);
        en->stuck_count = en->stuck ? r->field_count : 0;
        if (!en->stuck)
            return SELGW_ERR_NOMEM;
    }
    int64_t t = r->time_ns;
    for (size_t i = 0; i < r->field_count; i++) {
        if (only != SIZE_MAX && i != only)
            continue;
        const selgw_reading_field *f = &r->fields[i];
        stuck_field *s = &en->stuck[i];
        if (f->quality != SELGW_QUALITY_OK)
            continue; /* a failed read neither ends nor extends a run */
        if (!s->known || memcmp(&s->value, &f->value, sizeof s->value) != 0) {
            if (en->active && en->field && f->name && !strcmp(en->field, f->name))
                clear_alert(en, f->value, NAN, t, NULL, fn, ctx);
            s->known = true;
            s->value = f->value;
            s->since_ns = t;
            continue;
        }
        if (!en->active && t - s->since_ns >= rule->stuck_for_ms * SELGW_NS_PER_MS &&
            !raise_alert(en, rule, f, f->value, NAN, s->since_ns, t, fn, ctx))
            return SELGW_ERR_NOMEM;
    }
    return SELGW_OK;
}

selgw_err selgw_alert_engine_feed(selgw_alert_engine *e, const selgw_reading *r, selgw_alert_fn fn,
                                  void *ctx)
{
    if (!e || !r || !r->device || !r->plot)
        return SELGW_ERR_INVALID;
    selgw_err result = SELGW_OK;
    for (size_t i = 0; i < e->rule_count; i++) {
        const selgw_alert_rule *rule = &e->rules[i];
        if (!selgw_alert_rule_applies(rule, r->plot, r->crop))
            continue;
        size_t fi = SIZE_MAX;
        const selgw_reading_field *f = NULL;
        if (rule->field && !(f = find_field(r, rule->field, &fi)))
            continue; /* this device does not measure it */
        entry *en = entry_get(e, rule->id, i, r->device);
        if (!en || !set_text(&en->plot, r->plot) || !set_text(&en->base, or_empty(r->base)) ||
            !set_text(&en->crop, or_empty(r->crop))) {
            result = SELGW_ERR_NOMEM;
            continue;
        }
        en->rule = i;
        selgw_err err = SELGW_OK;
        switch (rule->condition) {
        case SELGW_ALERT_BELOW:
        case SELGW_ALERT_ABOVE:
            err = feed_threshold(en, rule, f, r->time_ns, fn, ctx);
            break;
        case SELGW_ALERT_STALE:
            err = feed_stale(en, rule, r, f, fn, ctx);
            break;
        case SELGW_ALERT_STUCK:
            err = feed_stuck(en, rule, r, fi, fn, ctx);
            break;
        }
        if (err != SELGW_OK)
            result = err;
    }
    return result;
}

/* ---- restart and reload --------------------------------------------------------------------- */

static char *str_dup(selgw_str s)
{
    return strndup(s.ptr ? s.ptr : "", s.len);
}

selgw_err selgw_alert_engine_restore(selgw_alert_engine *e, const selgw_record *rec)
{
    if (!e || !rec)
        return SELGW_ERR_INVALID;
    if (rec->type != SELGW_RECORD_ALERT)
        return SELGW_OK;
    char *rule_id = str_dup(rec->rule), *device = str_dup(rec->device);
    selgw_err err = SELGW_ERR_NOMEM;
    if (rule_id && device) {
        entry *en = entry_find(e, rule_id, device);
        if (rec->alert_state == SELGW_ALERT_CLEARED) {
            if (en)
                entry_remove(e, (size_t)(en - e->entries));
            err = SELGW_OK;
        } else if ((en = entry_get(e, rule_id, SIZE_MAX, device))) {
            char *texts[] = {str_dup(rec->base), str_dup(rec->plot), str_dup(rec->crop),
                             str_dup(rec->field), str_dup(rec->unit)};
            char **slots[] = {&en->base, &en->plot, &en->crop, &en->field, &en->unit};
            bool ok = true;
            for (size_t i = 0; i < 5; i++) {
                ok &= texts[i] != NULL;
                free(*slots[i]);
                *slots[i] = texts[i];
            }
            en->rule = SIZE_MAX; /* settled against today's rules */
            en->active = true;
            en->condition = rec->alert_condition;
            en->value = rec->alert_value;
            en->threshold = rec->alert_threshold;
            en->since_ns = rec->alert_since_ns;
            en->raised_ns = rec->time_ns;
            en->waiting = false;
            err = ok ? SELGW_OK : SELGW_ERR_NOMEM;
        }
    }
    free(rule_id);
    free(device);
    return err;
}

/* Why an active alert of entry en is no longer held by today's config (NULL: it is): the
 * device must still be on the alert's plot, and that plot (with today's crop) in the rule's
 * scope. */
static const char *not_watched(const entry *en, const selgw_alert_rule *rule,
                               const selgw_config *cfg)
{
    for (size_t d = 0; d < cfg->device_count; d++) {
        const selgw_device *dev = &cfg->devices[d];
        if (strcmp(dev->id, en->device))
            continue;
        if (dev->plot >= cfg->plot_count || strcmp(cfg->plots[dev->plot].id, en->plot))
            return "the device is no longer on the plot";
        if (!selgw_alert_rule_applies(rule, en->plot, cfg->plots[dev->plot].crop))
            return "its plot is no longer in the rule's scope";
        return NULL;
    }
    return "the device is no longer in the config";
}

/* A restored alert against today's rule: the same kind, field and raising threshold. */
static bool restored_matches(const entry *en, const selgw_alert_rule *rule)
{
    if (en->condition != rule->condition)
        return false;
    if (rule->field && !same_text(en->field, rule->field))
        return false;
    if (rule->condition == SELGW_ALERT_BELOW || rule->condition == SELGW_ALERT_ABOVE)
        return same_double(en->threshold, rule->threshold);
    return true;
}

selgw_err selgw_alert_engine_settle(selgw_alert_engine *e, const selgw_config *cfg,
                                    selgw_alert_fn fn, void *ctx)
{
    if (!e || !cfg)
        return SELGW_ERR_INVALID;
    for (size_t i = 0; i < e->entry_count;) {
        entry *en = &e->entries[i];
        if (en->rule != SIZE_MAX) {
            i++;
            continue;
        }
        size_t r = rule_index(e->rules, e->rule_count, en->rule_id);
        const char *why = NULL;
        if (r == SIZE_MAX)
            why = "the rule is no longer in the config";
        else if (!restored_matches(en, &e->rules[r]))
            why = "the rule's condition changed";
        else
            why = not_watched(en, &e->rules[r], cfg);
        if (why) {
            if (en->active)
                clear_alert(en, NAN, NAN, 0, why, fn, ctx);
            entry_remove(e, i);
            continue;
        }
        en->rule = r;
        i++;
    }
    return SELGW_OK;
}

selgw_err selgw_alert_engine_reconfigure(selgw_alert_engine *e, const selgw_config *cfg,
                                         selgw_alert_fn fn, void *ctx)
{
    if (!e || !cfg)
        return SELGW_ERR_INVALID;
    selgw_alert_rule *rules;
    size_t count;
    selgw_err err = rules_copy(cfg, &rules, &count);
    if (err != SELGW_OK)
        return err;
    for (size_t i = 0; i < e->entry_count;) {
        entry *en = &e->entries[i];
        size_t r = rule_index(rules, count, en->rule_id);
        const char *why = NULL;
        if (r == SIZE_MAX)
            why = "the rule was removed from the config";
        else if (en->rule == SIZE_MAX ? !restored_matches(en, &rules[r])
                                      : !same_condition(&e->rules[en->rule], &rules[r]))
            why = "the rule's condition changed";
        else if (en->active)
            why = not_watched(en, &rules[r], cfg);
        if (why) {
            if (en->active)
                clear_alert(en, NAN, NAN, 0, why, fn, ctx);
            entry_remove(e, i);
            continue;
        }
        en->rule = r;
        i++;
    }
    rules_free(e->rules, e->rule_count);
    e->rules = rules;
    e->rule_count = count;
    return SELGW_OK;
}

/* ---- new, free, active --------------------------------------------------------------------- */

selgw_err selgw_alert_engine_new(const selgw_config *cfg, selgw_alert_engine **out)
{
    *out = NULL;
    selgw_alert_engine *e = calloc(1, sizeof *e);
    if (!e)
        return SELGW_ERR_NOMEM;
    selgw_err err = rules_copy(cfg, &e->rules, &e->rule_count);
    if (err != SELGW_OK) {
        free(e);
        return err;
    }
    *out = e;
    return SELGW_OK;
}

void selgw_alert_engine_free(selgw_alert_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->entry_count; i++)
        entry_free(&e->entries[i]);
    free(e->entries);
    rules_free(e->rules, e->rule_count);
    free(e);
}

size_t selgw_alert_engine_active_count(const selgw_alert_engine *e)
{
    size_t n = 0;
    for (size_t i = 0; e && i < e->entry_count; i++)
        n += e->entries[i].active;
    return n;
}

void selgw_alert_engine_each_active(const selgw_alert_engine *e, selgw_alert_fn fn, void *ctx)
{
    for (size_t i = 0; e && i < e->entry_count; i++) {
        const entry *en = &e->entries[i];
        if (en->active)
            report(en, SELGW_ALERT_RAISED, en->value, en->threshold, en->since_ns, 0, NULL, fn,
                   ctx);
    }
}
