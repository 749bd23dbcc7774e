/* selgw: a device's reading, filled from the config.
 *
 * The base's selgw_reading knows no config; here is where a device's tags (its gateway,
 * base, plot, crop, profile, serial, bus) and its profile's fields are looked up, once per
 * device, and where the households of a poll's day are found. Strings point into the
 * config, which must outlive the reading. */
#ifndef SELGW_POLL_READING_H
#define SELGW_POLL_READING_H

#include "base/reading.h"
#include "config.h"

/* Fills what the config says of every reading of dev: the tags, unit id, and the profile's
 * fields by name and unit, not read (value 0, read_failed). Time 0, status OK, 0 attempts,
 * no households. */
void selgw_reading_for_device(selgw_reading *out, const selgw_config *cfg, const selgw_device *dev);

/* Sets the households: the contracts of dev's plot valid on the local day of r->time_ns. */
void selgw_reading_set_households(selgw_reading *r, const selgw_config *cfg,
                                  const selgw_device *dev);

#endif
