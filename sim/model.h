/* selgw-sim: the value model, plausible engineering values for the fields of a simulated
 * sensor as a pure function of (field, device seed, simulated time).
 *
 * No I/O, no allocation, no global state: the same inputs always give the same value, so
 * tests and benchmarks are reproducible. Values follow what a tea base in southern China
 * sees (daily temperature cycle with its minimum near 05:00 and maximum near 14:00 local
 * time, irrigation every one to two days, acid soil) and always stay within the field's
 * valid range. Field names are matched loosely ("soil_temperature", "temp_soil", "co2",
 * "soil_ec" ...); a name the model does not know gets the middle of its valid range with a
 * small oscillation. */
#ifndef SELGW_SIM_MODEL_H
#define SELGW_SIM_MODEL_H

#include <stdint.h>

#include "sensors/profile.h"

typedef enum selgw_model_quantity {
    SELGW_MODEL_UNKNOWN,
    SELGW_MODEL_AIR_TEMPERATURE,
    SELGW_MODEL_SOIL_TEMPERATURE,
    SELGW_MODEL_AIR_HUMIDITY,
    SELGW_MODEL_SOIL_MOISTURE,
    SELGW_MODEL_SOIL_EC,
    SELGW_MODEL_SOIL_PH,
    SELGW_MODEL_NITROGEN,
    SELGW_MODEL_PHOSPHORUS,
    SELGW_MODEL_POTASSIUM,
    SELGW_MODEL_SALINITY,
    SELGW_MODEL_TDS,
    SELGW_MODEL_ILLUMINANCE,
    SELGW_MODEL_CO2,
    SELGW_MODEL_LEAF_WETNESS,
    SELGW_MODEL_RAINFALL,
    SELGW_MODEL_IRRIGATION_VALVE, /* a bit that is on while the plot is being irrigated */
} selgw_model_quantity;

/* What a field name stands for; SELGW_MODEL_UNKNOWN when the model does not know it. */
selgw_model_quantity selgw_model_quantity_of(const char *field_name);

/* The seed of one device: mixes the run's seed (--seed) with the device id, so that two
 * devices of the same model differ but a device keeps its values across runs. */
uint64_t selgw_model_device_seed(uint64_t run_seed, const char *device_id);

/* The engineering value (after the profile's scale and offset, before any calibration) the
 * device reports for `field` at simulated UTC time `time_s` (seconds since 1970-01-01).
 * utc_offset_minutes is the local time zone of the site (+480 for China). The result is
 * always finite and within [field->min, field->max] where the field has them. */
double selgw_model_value(const selgw_field *field, uint64_t device_seed, int utc_offset_minutes,
                         double time_s);

/* The state (0 or 1) of a coil or discrete input (function 1 or 2). */
uint8_t selgw_model_bit(const selgw_field *field, uint64_t device_seed, int utc_offset_minutes,
                        double time_s);

/* The irrigation schedule behind soil moisture: the device's plot is irrigated every
 * selgw_model_irrigation_period_s(seed) seconds, at a phase of its own. Returns the first
 * irrigation instant strictly after time_s. */
double selgw_model_irrigation_period_s(uint64_t device_seed);
double selgw_model_next_irrigation(uint64_t device_seed, double time_s);

/* The air temperature of the cold-night scenario (selgw-sim --scenario cold-night): 12 degC at
 * 14:00 local time, -1 degC at 02:00, a cosine between, so that it is below 2 degC from
 * about 22:10 to 05:50 and above 3 degC again from about 06:30: a spring night with frost
 * for the alert rules and the demo. Pure, like the model. */
double selgw_model_cold_night(int utc_offset_minutes, double time_s);

#endif
