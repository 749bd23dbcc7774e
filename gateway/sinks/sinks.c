/* The table of sink kinds, and the set of sinks a config enables. */
#include "sinks/sink.h"

#include <stdlib.h>

#include "base/log.h"

const selgw_sink_ops *const selgw_sink_kinds[] = {
    &selgw_mqtt_sink_ops,
    &selgw_influx_sink_ops,
    &selgw_webhook_sink_ops,
    &selgw_uplink_sink_ops,
    NULL,
};

_Static_assert(sizeof selgw_sink_kinds / sizeof selgw_sink_kinds[0] <= SELGW_SINK_KINDS_MAX + 1,
               "raise SELGW_SINK_KINDS_MAX");

typedef struct sink {
    const selgw_sink_ops *ops;
    void *state;
} sink;

struct selgw_sinks {
    size_t count;
    sink sinks[SELGW_SINK_KINDS_MAX];
};

size_t selgw_sink_names(const selgw_config *cfg, const char *names[SELGW_SINK_KINDS_MAX])
{
    size_t n = 0;
    for (const selgw_sink_ops *const *k = selgw_sink_kinds; *k; k++)
        if ((*k)->configured(cfg))
            names[n++] = (*k)->name;
    return n;
}

bool selgw_sinks_same_kinds(const selgw_config *a, const selgw_config *b)
{
    for (const selgw_sink_ops *const *k = selgw_sink_kinds; *k; k++)
        if ((*k)->configured(a) != (*k)->configured(b))
            return false;
    return true;
}

selgw_err selgw_sinks_new(const selgw_config *cfg, selgw_journal *journal, selgw_sinks **out)
{
    *out = NULL;
    selgw_sinks *set = calloc(1, sizeof *set);
    selgw_err err = set ? SELGW_OK : SELGW_ERR_NOMEM;
    for (const selgw_sink_ops *const *k = selgw_sink_kinds; *k && err == SELGW_OK; k++) {
        if (!(*k)->configured(cfg))
            continue;
        sink *s = &set->sinks[set->count];
        err = (*k)->create(cfg, journal, &s->state);
        if (err == SELGW_OK) {
            s->ops = *k;
            set->count++;
        }
    }
    if (err != SELGW_OK) {
        selgw_log(SELGW_LOG_ERROR, "cannot set up the sinks: %s", selgw_strerror(err));
        selgw_sinks_free(set);
        return err;
    }
    *out = set;
    return SELGW_OK;
}

void selgw_sinks_set_inbound(selgw_sinks *set, selgw_sink_inbound_fn fn, void *ctx)
{
    for (size_t i = 0; set && i < set->count; i++)
        if (set->sinks[i].ops->set_inbound)
            set->sinks[i].ops->set_inbound(set->sinks[i].state, fn, ctx);
}

selgw_err selgw_sinks_start(selgw_sinks *set)
{
    for (size_t i = 0; set && i < set->count; i++) {
        selgw_err err = set->sinks[i].ops->start(set->sinks[i].state);
        if (err != SELGW_OK)
            return err;
    }
    return SELGW_OK;
}

void selgw_sinks_stop(selgw_sinks *set)
{
    for (size_t i = 0; set && i < set->count; i++)
        set->sinks[i].ops->stop(set->sinks[i].state);
}

void selgw_sinks_free(selgw_sinks *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++)
        set->sinks[i].ops->destroy(set->sinks[i].state);
    free(set);
}

void selgw_sinks_log_totals(selgw_sinks *set)
{
    for (size_t i = 0; set && i < set->count; i++) {
        const sink *s = &set->sinks[i];
        selgw_sink_stats st;
        s->ops->stats(s->state, &st);
        selgw_log(SELGW_LOG_INFO, "%s: %llu delivered, %llu %s, cursor %llu", s->ops->name,
                  (unsigned long long)st.delivered, (unsigned long long)st.refused,
                  s->ops->refused_what, (unsigned long long)st.last_seq);
    }
}

size_t selgw_sinks_count(const selgw_sinks *set)
{
    return set ? set->count : 0;
}

const char *selgw_sinks_get_stats(selgw_sinks *set, size_t i, selgw_sink_stats *out)
{
    const sink *s = &set->sinks[i];
    s->ops->stats(s->state, out);
    return s->ops->name;
}
