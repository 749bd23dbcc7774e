#include "poll/reading.h"

#include <string.h>

#include "sensors/profile.h"

void selgw_reading_for_device(selgw_reading *out, const selgw_config *cfg, const selgw_device *dev)
{
    const selgw_plot *plot = &cfg->plots[dev->plot];
    const selgw_profile *profile = dev->profile;
    memset(out, 0, sizeof *out);
    out->gateway = cfg->gateway_id;
    out->base = cfg->bases[plot->base].id;
    out->plot = plot->id;
    out->crop = plot->crop;
    out->device = dev->id;
    out->profile = profile->name;
    out->serial = dev->serial;
    out->bus = cfg->buses[dev->bus].id;
    out->unit_id = dev->unit_id;
    /* Profiles hold at most SELGW_READING_MAX_FIELDS fields (checked at load). */
    size_t n = profile->field_count;
    if (n > SELGW_READING_MAX_FIELDS)
        n = SELGW_READING_MAX_FIELDS;
    for (size_t i = 0; i < n; i++)
        out->fields[i] = (selgw_reading_field){.name = profile->fields[i].name,
                                               .unit = profile->fields[i].unit,
                                               .quality = SELGW_QUALITY_READ_FAILED};
    out->field_count = n;
}

void selgw_reading_set_households(selgw_reading *r, const selgw_config *cfg,
                                  const selgw_device *dev)
{
    const selgw_plot *plot = &cfg->plots[dev->plot];
    const selgw_contract *valid[SELGW_READING_MAX_HOUSEHOLDS];
    size_t n = selgw_plot_contracts_on(plot, selgw_config_local_day(cfg, r->time_ns), valid,
                                       SELGW_READING_MAX_HOUSEHOLDS);
    /* Plots hold at most SELGW_READING_MAX_HOUSEHOLDS contracts (checked at load). */
    if (n > SELGW_READING_MAX_HOUSEHOLDS)
        n = SELGW_READING_MAX_HOUSEHOLDS;
    for (size_t i = 0; i < n; i++)
        r->households[i] = (selgw_reading_household){valid[i]->household, valid[i]->contract};
    r->household_count = n;
}
