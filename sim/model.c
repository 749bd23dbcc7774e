#include "sim/model.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define SECONDS_PER_HOUR 3600.0
#define SECONDS_PER_DAY 86400.0

/* splitmix64: a cheap, well-mixed hash of a 64-bit value. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* A number in [-1, 1] fixed by (seed, salt). */
static double hash_unit(uint64_t seed, uint64_t salt)
{
    uint64_t h = mix64(seed ^ mix64(salt));
    return (double)(h >> 11) / (double)(1ULL << 52) - 1.0;
}

/* Smooth value noise in [-1, 1]: one random value per integer step of x, interpolated with
 * a smoothstep so the curve has no corners. Different salts give independent curves. */
static double smooth_noise(uint64_t seed, uint64_t salt, double x)
{
    double cell = floor(x);
    double frac = x - cell;
    double w = frac * frac * (3.0 - 2.0 * frac);
    uint64_t salted = mix64(seed + salt * 0x632BE59BD9B4E019ULL);
    double a = hash_unit(salted, (uint64_t)(int64_t)cell);
    double b = hash_unit(salted, (uint64_t)(int64_t)cell + 1);
    return a + (b - a) * w;
}

uint64_t selgw_model_device_seed(uint64_t run_seed, const char *device_id)
{
    uint64_t h = 0xCBF29CE484222325ULL; /* FNV-1a over the id */
    for (const unsigned char *p = (const unsigned char *)device_id; p && *p; p++) {
        h ^= *p;
        h *= 0x100000001B3ULL;
    }
    return mix64(h ^ mix64(run_seed));
}

/* True when `token` is one of the '_'-separated words of `name` (case-insensitive). */
static bool has_token(const char *name, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = name;
    while (*p) {
        const char *end = p;
        while (*end && *end != '_' && *end != '-' && *end != '.')
            end++;
        if ((size_t)(end - p) == tlen && strncasecmp(p, token, tlen) == 0)
            return true;
        p = *end ? end + 1 : end;
    }
    return false;
}

static bool contains(const char *name, const char *part)
{
    return strcasestr(name, part) != NULL;
}

selgw_model_quantity selgw_model_quantity_of(const char *name)
{
    if (!name)
        return SELGW_MODEL_UNKNOWN;
    if (contains(name, "co2"))
        return SELGW_MODEL_CO2;
    if (contains(name, "illum") || contains(name, "lux") || contains(name, "light"))
        return SELGW_MODEL_ILLUMINANCE;
    if (contains(name, "valve") || contains(name, "pump") || contains(name, "irrigat"))
        return SELGW_MODEL_IRRIGATION_VALVE;
    if (has_token(name, "ph"))
        return SELGW_MODEL_SOIL_PH;
    if (contains(name, "nitrogen") || has_token(name, "n"))
        return SELGW_MODEL_NITROGEN;
    if (contains(name, "phosph") || has_token(name, "p"))
        return SELGW_MODEL_PHOSPHORUS;
    if (contains(name, "potass") || has_token(name, "k"))
        return SELGW_MODEL_POTASSIUM;
    if (contains(name, "salin"))
        return SELGW_MODEL_SALINITY;
    if (has_token(name, "tds"))
        return SELGW_MODEL_TDS;
    if (has_token(name, "ec") || contains(name, "conductiv"))
        return SELGW_MODEL_SOIL_EC;
    if (contains(name, "moist") || has_token(name, "vwc") || contains(name, "water_content"))
        return SELGW_MODEL_SOIL_MOISTURE;
    if (contains(name, "humid") || has_token(name, "rh"))
        return SELGW_MODEL_AIR_HUMIDITY;
    if (contains(name, "wet"))
        return SELGW_MODEL_LEAF_WETNESS;
    if (contains(name, "rain"))
        return SELGW_MODEL_RAINFALL;
    if (contains(name, "temp")) {
        if (contains(name, "soil") || contains(name, "water") || contains(name, "root"))
            return SELGW_MODEL_SOIL_TEMPERATURE;
        return SELGW_MODEL_AIR_TEMPERATURE;
    }
    return SELGW_MODEL_UNKNOWN;
}

/* Salts that keep the noise curves of different quantities independent. */
enum {
    SALT_DEVICE_OFFSET = 1,
    SALT_DAY_MEAN,
    SALT_DAY_AMPLITUDE,
    SALT_JITTER,
    SALT_HUMIDITY,
    SALT_MOISTURE,
    SALT_EC,
    SALT_PH,
    SALT_NPK,
    SALT_CLOUD,
    SALT_FLICKER,
    SALT_CO2,
    SALT_UNKNOWN,
};

/* The shape of the daily air temperature cycle in [-1, 1]: -1 at 05:00, +1 at 14:00 local,
 * rising over 9 hours and falling over 15, as a clear day does. */
static double daily_shape(double local_hour)
{
    double h = fmod(local_hour, 24.0);
    if (h < 0)
        h += 24.0;
    if (h >= 5.0 && h < 14.0)
        return -cos(M_PI * (h - 5.0) / 9.0);
    double since_max = h >= 14.0 ? h - 14.0 : h + 10.0; /* 0..15 hours after 14:00 */
    return cos(M_PI * since_max / 15.0);
}

/* Daylight in [0, 1]: 0 at night, a bell from 06:00 to 18:30 local with its top after noon. */
static double daylight_fraction(double local_hour)
{
    double h = fmod(local_hour, 24.0);
    if (h < 0)
        h += 24.0;
    if (h <= 6.0 || h >= 18.5)
        return 0.0;
    double s = sin(M_PI * (h - 6.0) / 12.5);
    return s * s;
}

double selgw_model_irrigation_period_s(uint64_t seed)
{
    static const double hours[] = {24.0, 36.0, 48.0};
    return hours[mix64(seed ^ 0x1A2B) % 3] * SECONDS_PER_HOUR;
}

static double irrigation_phase_s(uint64_t seed)
{
    double period = selgw_model_irrigation_period_s(seed);
    return (double)(mix64(seed ^ 0x3C4D) % (uint64_t)period);
}

double selgw_model_next_irrigation(uint64_t seed, double time_s)
{
    double period = selgw_model_irrigation_period_s(seed);
    double phase = irrigation_phase_s(seed);
    /* Irrigations happen at k * period - phase. */
    double k = floor((time_s + phase) / period) + 1.0;
    return k * period - phase;
}

static double seconds_since_irrigation(uint64_t seed, double time_s)
{
    double period = selgw_model_irrigation_period_s(seed);
    return time_s - (selgw_model_next_irrigation(seed, time_s) - period);
}

/* The model's quantities in their canonical units (degC, %, uS/cm, mg/kg, mg/L, lx, ppm). */
struct site_state {
    uint64_t seed;
    double time_s;
    double local_hour;
    double day; /* fractional local day number */
};

static double air_temperature(const struct site_state *s)
{
    double mean = 17.0 + 1.0 * hash_unit(s->seed, SALT_DEVICE_OFFSET) +
                  2.0 * smooth_noise(s->seed, SALT_DAY_MEAN, s->day / 3.0);
    double amplitude = 8.0 + 1.0 * smooth_noise(s->seed, SALT_DAY_AMPLITUDE, s->day);
    double jitter = 0.15 * smooth_noise(s->seed, SALT_JITTER, s->time_s / 300.0);
    return mean + amplitude * daily_shape(s->local_hour) + jitter;
}

static double soil_temperature(const struct site_state *s)
{
    /* Soil at root depth follows the air with a lag of about three hours and a third of the
     * swing. */
    double mean = 17.0 + 0.5 * hash_unit(s->seed, SALT_DEVICE_OFFSET) +
                  1.0 * smooth_noise(s->seed, SALT_DAY_MEAN, s->day / 3.0);
    double jitter = 0.05 * smooth_noise(s->seed, SALT_JITTER, s->time_s / 600.0);
    return mean + 2.5 * daily_shape(s->local_hour - 3.0) + jitter;
}

static double air_humidity(const struct site_state *s)
{
    double shape = daily_shape(s->local_hour); /* warm air holds more water: RH drops */
    double noise = 3.0 * smooth_noise(s->seed, SALT_HUMIDITY, s->time_s / 900.0);
    return 70.0 - 22.0 * shape + noise;
}

static double soil_moisture(const struct site_state *s)
{
    double period = selgw_model_irrigation_period_s(s->seed);
    double since = seconds_since_irrigation(s->seed, s->time_s);
    double wet = 36.0 + 2.0 * hash_unit(s->seed, SALT_DEVICE_OFFSET);
    double dry = 17.0 + 1.5 * hash_unit(s->seed, SALT_MOISTURE);
    double noise = 0.2 * smooth_noise(s->seed, SALT_JITTER, s->time_s / 600.0);
    return dry + (wet - dry) * exp(-since / (0.4 * period)) + noise;
}

static double soil_ec(const struct site_state *s)
{
    /* More water carries more dissolved ions to the electrodes. */
    double base = 150.0 + 40.0 * hash_unit(s->seed, SALT_EC);
    return base + 16.0 * soil_moisture(s) +
           5.0 * smooth_noise(s->seed, SALT_EC, s->time_s / 1200.0);
}

static double soil_ph(const struct site_state *s)
{
    double v = 5.5 + 0.2 * hash_unit(s->seed, SALT_PH) +
               0.25 * smooth_noise(s->seed, SALT_PH, s->day / 4.0);
    return fmin(6.0, fmax(5.0, v));
}

static double npk(const struct site_state *s, double mean, double spread, uint64_t salt)
{
    return mean + spread * (0.6 * hash_unit(s->seed, SALT_NPK + salt) +
                            0.4 * smooth_noise(s->seed, SALT_NPK + salt, s->day / 5.0));
}

static double illuminance(const struct site_state *s)
{
    double light = daylight_fraction(s->local_hour);
    if (light <= 0.0)
        return 0.0;
    double cloud = 0.65 + 0.35 * smooth_noise(s->seed, SALT_CLOUD, s->day);
    double flicker = 0.9 + 0.1 * smooth_noise(s->seed, SALT_FLICKER, s->time_s / 600.0);
    return 60000.0 * light * cloud * flicker;
}

static double co2(const struct site_state *s)
{
    /* A closed greenhouse: respiration raises CO2 at night, photosynthesis draws it down. */
    double night = 1.0 - sqrt(daylight_fraction(s->local_hour));
    return 430.0 + 700.0 * night + 25.0 * smooth_noise(s->seed, SALT_CO2, s->time_s / 900.0);
}

static double unknown_value(const selgw_field *field, const struct site_state *s)
{
    double lo = 0.0, hi = 100.0;
    if (field->has_min && field->has_max) {
        lo = field->min;
        hi = field->max;
    } else if (field->has_min) {
        lo = field->min;
        hi = lo + 100.0;
    } else if (field->has_max) {
        hi = field->max;
        lo = hi - 100.0;
    }
    double period_h = 1.0 + (double)(mix64(s->seed ^ SALT_UNKNOWN) % 5);
    double phase = hash_unit(s->seed, SALT_UNKNOWN) * M_PI;
    return (lo + hi) / 2.0 +
           0.05 * (hi - lo) * sin(2.0 * M_PI * s->time_s / (period_h * 3600.0) + phase);
}

static bool unit_is(const char *unit, const char *a, const char *b)
{
    return unit && (strcasecmp(unit, a) == 0 || (b && strcasecmp(unit, b) == 0));
}

/* Converts from the model's canonical unit to the field's unit where they differ in a way
 * sensors commonly do. */
static double to_field_unit(selgw_model_quantity q, const char *unit, double v)
{
    switch (q) {
    case SELGW_MODEL_AIR_TEMPERATURE:
    case SELGW_MODEL_SOIL_TEMPERATURE:
        if (unit_is(unit, "degF", "F"))
            return v * 9.0 / 5.0 + 32.0;
        if (unit_is(unit, "K", NULL))
            return v + 273.15;
        return v;
    case SELGW_MODEL_SOIL_EC:
        if (unit_is(unit, "mS/cm", "dS/m"))
            return v / 1000.0;
        return v;
    case SELGW_MODEL_ILLUMINANCE:
        if (unit_is(unit, "klx", "klux"))
            return v / 1000.0;
        return v;
    case SELGW_MODEL_SALINITY:
    case SELGW_MODEL_TDS:
        if (unit_is(unit, "g/L", "ppt"))
            return v / 1000.0;
        return v;
    default:
        return v;
    }
}

static double clamp_to_field(const selgw_field *field, double v)
{
    if (!isfinite(v))
        v = 0.0;
    if (field->has_min && v < field->min)
        v = field->min;
    if (field->has_max && v > field->max)
        v = field->max;
    return v;
}

static struct site_state site_at(uint64_t seed, int utc_offset_minutes, double time_s)
{
    struct site_state s;
    double local = time_s + utc_offset_minutes * 60.0;
    s.seed = seed;
    s.time_s = time_s;
    s.day = local / SECONDS_PER_DAY;
    s.local_hour = fmod(local, SECONDS_PER_DAY) / SECONDS_PER_HOUR;
    if (s.local_hour < 0)
        s.local_hour += 24.0;
    return s;
}

double selgw_model_value(const selgw_field *field, uint64_t device_seed, int utc_offset_minutes,
                         double time_s)
{
    struct site_state s = site_at(device_seed, utc_offset_minutes, time_s);
    selgw_model_quantity q = selgw_model_quantity_of(field->name);
    double v;
    switch (q) {
    case SELGW_MODEL_AIR_TEMPERATURE:
        v = air_temperature(&s);
        break;
    case SELGW_MODEL_SOIL_TEMPERATURE:
        v = soil_temperature(&s);
        break;
    case SELGW_MODEL_AIR_HUMIDITY:
        v = fmin(100.0, fmax(0.0, air_humidity(&s)));
        break;
    case SELGW_MODEL_SOIL_MOISTURE:
        v = soil_moisture(&s);
        break;
    case SELGW_MODEL_SOIL_EC:
        v = soil_ec(&s);
        break;
    case SELGW_MODEL_SOIL_PH:
        v = soil_ph(&s);
        break;
    case SELGW_MODEL_NITROGEN:
        v = npk(&s, 95.0, 20.0, 0);
        break;
    case SELGW_MODEL_PHOSPHORUS:
        v = npk(&s, 30.0, 8.0, 1);
        break;
    case SELGW_MODEL_POTASSIUM:
        v = npk(&s, 140.0, 30.0, 2);
        break;
    case SELGW_MODEL_SALINITY:
        v = 0.55 * soil_ec(&s);
        break;
    case SELGW_MODEL_TDS:
        v = 0.5 * soil_ec(&s);
        break;
    case SELGW_MODEL_ILLUMINANCE:
        v = illuminance(&s);
        break;
    case SELGW_MODEL_CO2:
        v = co2(&s);
        break;
    case SELGW_MODEL_LEAF_WETNESS:
        /* Dew forms when the air nears saturation, mostly before dawn. */
        v = fmax(0.0, (air_humidity(&s) - 80.0) * 5.0);
        break;
    case SELGW_MODEL_RAINFALL:
        v = 0.0;
        break;
    case SELGW_MODEL_IRRIGATION_VALVE:
        v = seconds_since_irrigation(device_seed, time_s) < 1200.0 ? 1.0 : 0.0;
        break;
    case SELGW_MODEL_UNKNOWN:
    default:
        v = unknown_value(field, &s);
        break;
    }
    return clamp_to_field(field, to_field_unit(q, field->unit, v));
}

uint8_t selgw_model_bit(const selgw_field *field, uint64_t device_seed, int utc_offset_minutes,
                        double time_s)
{
    (void)utc_offset_minutes;
    if (selgw_model_quantity_of(field->name) == SELGW_MODEL_IRRIGATION_VALVE)
        return seconds_since_irrigation(device_seed, time_s) < 1200.0;
    /* Anything else: a contact that changes state every hour or so, at random. */
    uint64_t salt = (uint64_t)(int64_t)floor(time_s / 3600.0) ^ (uint64_t)field->address << 40;
    return (mix64(device_seed ^ mix64(salt)) & 7) < 2;
}

double selgw_model_cold_night(int utc_offset_minutes, double time_s)
{
    double local_h = fmod((time_s + utc_offset_minutes * 60.0) / 3600.0, 24.0);
    if (local_h < 0)
        local_h += 24.0;
    return 5.5 + 6.5 * cos(2.0 * M_PI * (local_h - 14.0) / 24.0);
}
