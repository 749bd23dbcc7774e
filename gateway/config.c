#include "config.h"
#include "base/durable.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/embedded.h"
#include "base/listen.h"
#include "base/log.h"
#include "base/password.h"
#include "base/reading.h"
#include "base/yaml.h"
#include "journal/record.h" /* how large a seal may be */
#include "sensors/decode.h"
#include "sensors/plan.h"
#include "sensors/profile.h"

/* ---- the option table ----
 *
 * Every key a config may hold, with its kind, bounds and default, in one place (as redis's
 * config.c does); the parsing code below looks values up here and docs/CONFIG.md is
 * written from it. Sections "rtu" and "tcp" are the kind-specific keys of a bus, sections
 * "influx_v1" and "influx_v2" those of an `influxdb:` section with api 1 or 2. */

typedef enum option_kind {
    OPT_ID,            /* string of [A-Za-z0-9._-]+ */
    OPT_STRING,        /* any non-empty string (UTF-8 fine) */
    OPT_INT,           /* integer within [min, max] */
    OPT_BAUD,          /* one of the standard rates */
    OPT_PARITY,        /* N, E, O (none, even, odd) */
    OPT_DOUBLE,        /* finite number within [min, max] */
    OPT_DURATION,      /* milliseconds within [min, max] */
    OPT_DATE,          /* YYYY-MM-DD as a day number */
    OPT_UTC_OFFSET,    /* +HH:MM as minutes within [min, max] */
    OPT_BUS_TYPE,      /* rtu or tcp */
    OPT_MAPPING,       /* a nested section */
    OPT_SEQUENCE,      /* a list of sections */
    OPT_BOOL,          /* true or false */
    OPT_SIZE,          /* bytes (uint64_t) within [min, max] */
    OPT_LONG_DURATION, /* milliseconds (int64_t) within [min, max] */
    OPT_CHOICE,        /* one of the words of `choices` ("a|b|c"), as its index (int) */
    OPT_MQTT_PROTOCOL, /* 311 ("3.1.1") or 5 */
    OPT_PATH,          /* string; relative paths are made relative to the config's directory */
    OPT_FILE,          /* OPT_PATH of a regular file that can be read now */
    OPT_PRIVATE_FILE,  /* OPT_FILE that others cannot read (see check_private_mode) */
    OPT_OWNER_FILE,    /* OPT_PRIVATE_FILE that its group cannot read either (signing key) */
    OPT_SECRET_FILE,   /* OPT_PRIVATE_FILE whose first line is the value */
    OPT_SECRET_ENV,    /* name of an environment variable whose value is the value */
    OPT_URL,           /* http:// or https:// URL without credentials, query or fragment */
    OPT_TOPIC,         /* MQTT topic levels: [A-Za-z0-9._-]+ separated by '/' */
    OPT_NAME,          /* string without control characters, not starting with '_' */
} option_kind;

typedef struct option {
    const char *section;
    const char *key;
    option_kind kind;
    bool required;
    double min, max;
    double default_value;     /* numbers, durations (ms), utc offset (minutes) */
    const char *default_text; /* strings; NULL = no default (absent stays NULL) */
    const char *choices;      /* OPT_CHOICE: "a|b|c", in the order of the enum's values */
} option;

#define DAY_MS (86400.0 * 1000)
#define KIB 1024.0
#define MIB (1024.0 * KIB)
#define GIB (1024.0 * MIB)
#define TIB (1024.0 * GIB)

/* OPT_CHOICE words map to enum values by position. */
_Static_assert(SELGW_FSYNC_BATCH == 0 && SELGW_FSYNC_INTERVAL == 1 && SELGW_FSYNC_NONE == 2,
               "fsync choices follow selgw_fsync_policy");
_Static_assert(SELGW_WEBHOOK_WECOM == 0 && SELGW_WEBHOOK_DINGTALK == 1 && SELGW_WEBHOOK_JSON == 2,
               "webhook format choices follow selgw_webhook_format");
_Static_assert(SELGW_WEBHOOK_MARKDOWN == 0 && SELGW_WEBHOOK_TEXT == 1 && SELGW_LANG_ZH == 0 &&
                   SELGW_LANG_EN == 1,
               "webhook message and language choices follow their enums");
_Static_assert(SELGW_WHEN_FULL_STOP == 0 && SELGW_WHEN_FULL_DROP_OLDEST == 1,
               "when_full choices follow selgw_when_full");

static const option options[] = {
    /* section      key                   kind            req    min     max      default */
    {"root", "gateway", OPT_MAPPING, true, 0, 0, 0, NULL, NULL},
    {"root", "profiles_dir", OPT_STRING, false, 0, 0, 0, NULL, NULL},
    {"root", "bases", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"root", "plots", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"root", "buses", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"root", "devices", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"root", "journal", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"root", "mqtt", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"root", "uplink", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"root", "influxdb", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"root", "webhook", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"root", "signing", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"root", "http", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"root", "alerts", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"root", "products", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},

    {"gateway", "id", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"gateway", "location", OPT_STRING, false, 0, 0, 0, "", NULL},
    {"gateway", "utc_offset", OPT_UTC_OFFSET, false, -12 * 60, 14 * 60, 8 * 60, NULL, NULL},

    {"base", "id", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"base", "name", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"base", "county", OPT_STRING, false, 0, 0, 0, "", NULL},
    {"base", "township", OPT_STRING, false, 0, 0, 0, "", NULL},
    {"base", "coordinates", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"coordinates", "latitude", OPT_DOUBLE, true, -90, 90, 0, NULL, NULL},
    {"coordinates", "longitude", OPT_DOUBLE, true, -180, 180, 0, NULL, NULL},

    {"plot", "id", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"plot", "base", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"plot", "crop", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"plot", "area_mu", OPT_DOUBLE, false, 0, 1e6, 0, NULL, NULL},
    {"plot", "households", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"plot", "location", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    /* a plot's location: a point, or a boundary of at least 3 [latitude, longitude] */
    {"location", "latitude", OPT_DOUBLE, false, -90, 90, 0, NULL, NULL},
    {"location", "longitude", OPT_DOUBLE, false, -180, 180, 0, NULL, NULL},
    {"location", "boundary", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"household", "household", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"household", "contract", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"household", "from", OPT_DATE, true, 0, 0, 0, NULL, NULL},
    {"household", "to", OPT_DATE, false, 0, 0, INT32_MAX, NULL, NULL},

    {"bus", "id", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"bus", "type", OPT_BUS_TYPE, true, 0, 0, 0, NULL, NULL},
    {"rtu", "device", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"rtu", "baud", OPT_BAUD, false, 1200, 115200, 9600, NULL, NULL},
    {"rtu", "parity", OPT_PARITY, false, 0, 0, 'N', NULL, NULL},
    {"rtu", "data_bits", OPT_INT, false, 7, 8, 8, NULL, NULL},
    {"rtu", "stop_bits", OPT_INT, false, 1, 2, 1, NULL, NULL},
    {"rtu", "response_timeout", OPT_DURATION, false, 10, 30000, 500, NULL, NULL},
    {"rtu", "frame_delay", OPT_DURATION, false, 0, 5000, 0, NULL, NULL},
    {"rtu", "retries", OPT_INT, false, 0, 5, 1, NULL, NULL},
    {"tcp", "host", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"tcp", "port", OPT_INT, false, 1, 65535, 502, NULL, NULL},
    {"tcp", "response_timeout", OPT_DURATION, false, 10, 30000, 1000, NULL, NULL},
    {"tcp", "frame_delay", OPT_DURATION, false, 0, 5000, 0, NULL, NULL},
    {"tcp", "retries", OPT_INT, false, 0, 5, 1, NULL, NULL},

    {"device", "id", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"device", "bus", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"device", "unit_id", OPT_INT, true, 1, 247, 0, NULL, NULL},
    {"device", "profile", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"device", "plot", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"device", "interval", OPT_DURATION, false, 100, DAY_MS, 60000, NULL, NULL},
    {"device", "serial", OPT_STRING, false, 0, 0, 0, "", NULL},
    {"device", "calibration", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"device", "max_read_registers", OPT_INT, false, 0, 125, 0, NULL, NULL},
    {"device", "max_gap", OPT_INT, false, 0, 125, -1, NULL, NULL},
    {"calibration", "scale", OPT_DOUBLE, false, -1e9, 1e9, 1, NULL, NULL},
    {"calibration", "offset", OPT_DOUBLE, false, -1e9, 1e9, 0, NULL, NULL},

    /* journal: present with these defaults when the section is absent */
    {"journal", "dir", OPT_PATH, false, 0, 0, 0, "/var/lib/selgw/journal", NULL},
    {"journal", "segment_size", OPT_SIZE, false, MIB, GIB, 64 * MIB, NULL, NULL},
    {"journal", "fsync", OPT_CHOICE, false, 0, 0, SELGW_FSYNC_BATCH, NULL, "batch|interval|none"},
    {"journal", "fsync_interval", OPT_DURATION, false, 10, 600000, 1000, NULL, NULL},
    {"journal", "commit_interval", OPT_DURATION, false, 1, 10000, 50, NULL, NULL},
    {"journal", "retention", OPT_LONG_DURATION, false, 0, 3650 * DAY_MS, 7 * DAY_MS, NULL, NULL},
    /* 0 = no limit but the disk's; otherwise at least two segments (checked in code) */
    {"journal", "max_backlog", OPT_SIZE, false, 0, TIB, GIB, NULL, NULL},
    {"journal", "group", OPT_ID, false, 0, 0, 0, NULL, NULL},
    {"journal", "when_full", OPT_CHOICE, false, 0, 0, SELGW_WHEN_FULL_STOP, NULL,
     "stop|drop_oldest"},

    /* mqtt: the sink is enabled by the presence of the section */
    {"mqtt", "host", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"mqtt", "port", OPT_INT, false, 1, 65535, 1883, NULL, NULL}, /* 8883 with tls.ca_file */
    {"mqtt", "protocol", OPT_MQTT_PROTOCOL, false, 0, 0, 311, NULL, NULL},
    {"mqtt", "qos", OPT_INT, false, 0, 2, 1, NULL, NULL},
    {"mqtt", "topic_prefix", OPT_TOPIC, false, 0, 0, 0, "selgw", NULL},
    {"mqtt", "client_id", OPT_ID, false, 0, 0, 0, NULL, NULL}, /* selgw-<gateway id> */
    {"mqtt", "username", OPT_STRING, false, 0, 0, 0, NULL, NULL},
    {"mqtt", "password_file", OPT_SECRET_FILE, false, 0, 0, 0, NULL, NULL},
    {"mqtt", "password_env", OPT_SECRET_ENV, false, 0, 0, 0, NULL, NULL},
    {"mqtt", "tls", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"mqtt", "keepalive", OPT_DURATION, false, 5000, 18 * 3600000.0, 60000, NULL, NULL},
    {"mqtt", "max_inflight", OPT_INT, false, 1, 1000, 20, NULL, NULL},
    {"mqtt", "reconnect", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    /* uplink: the evidence uplink (docs/ARCHIVE.md), enabled by the presence of the
     * section; always MQTT 5 and QoS 1, so it has no protocol or qos key. tls and
     * reconnect are the mqtt section's sub-sections. */
    {"uplink", "host", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"uplink", "port", OPT_INT, false, 1, 65535, 1883, NULL, NULL}, /* 8883 with tls.ca_file */
    {"uplink", "topic_prefix", OPT_TOPIC, false, 0, 0, 0, "selgw", NULL},
    {"uplink", "client_id", OPT_ID, false, 0, 0, 0, NULL, NULL}, /* selgw-<gateway id>-uplink */
    {"uplink", "username", OPT_STRING, false, 0, 0, 0, NULL, NULL},
    {"uplink", "password_file", OPT_SECRET_FILE, false, 0, 0, 0, NULL, NULL},
    {"uplink", "password_env", OPT_SECRET_ENV, false, 0, 0, 0, NULL, NULL},
    {"uplink", "tls", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"uplink", "keepalive", OPT_DURATION, false, 5000, 18 * 3600000.0, 60000, NULL, NULL},
    {"uplink", "max_inflight", OPT_INT, false, 1, 1000, 20, NULL, NULL},
    /* the witnesses whose statements it journals: a file of keys (docs/KEYS.md) */
    {"uplink", "witness_keys", OPT_FILE, false, 0, 0, 0, NULL, NULL},
    {"uplink", "reconnect", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"tls", "ca_file", OPT_FILE, false, 0, 0, 0, NULL, NULL},
    {"tls", "cert_file", OPT_FILE, false, 0, 0, 0, NULL, NULL},
    {"tls", "key_file", OPT_PRIVATE_FILE, false, 0, 0, 0, NULL, NULL},
    {"tls", "insecure", OPT_BOOL, false, 0, 0, 0, NULL, NULL},
    {"reconnect", "min", OPT_DURATION, false, 100, 600000, 1000, NULL, NULL},
    {"reconnect", "max", OPT_DURATION, false, 1000, 3600000, 60000, NULL, NULL},

    /* influxdb: the sink is enabled by the presence of the section */
    {"influxdb", "url", OPT_URL, true, 0, 0, 0, NULL, NULL},
    {"influxdb", "api", OPT_INT, false, 1, 2, 1, NULL, NULL},
    {"influxdb", "measurement", OPT_NAME, false, 0, 0, 0, "reading", NULL},
    {"influxdb", "batch_lines", OPT_INT, false, 1, 5000, 5000, NULL, NULL},
    {"influxdb", "gzip", OPT_BOOL, false, 0, 0, 1, NULL, NULL},
    {"influxdb", "timeout", OPT_DURATION, false, 1000, 300000, 10000, NULL, NULL},
    {"influxdb", "retry", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"influxdb", "dead_letter", OPT_STRING, false, 0, 0, 0, "dead-letter.lp", NULL},
    {"influx_v1", "database", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"influx_v1", "retention_policy", OPT_STRING, false, 0, 0, 0, NULL, NULL},
    {"influx_v1", "username", OPT_STRING, false, 0, 0, 0, NULL, NULL},
    {"influx_v1", "password_file", OPT_SECRET_FILE, false, 0, 0, 0, NULL, NULL},
    {"influx_v1", "password_env", OPT_SECRET_ENV, false, 0, 0, 0, NULL, NULL},
    {"influx_v2", "org", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"influx_v2", "bucket", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"influx_v2", "token_file", OPT_SECRET_FILE, false, 0, 0, 0, NULL, NULL},
    {"influx_v2", "token_env", OPT_SECRET_ENV, false, 0, 0, 0, NULL, NULL},
    {"retry", "min", OPT_DURATION, false, 100, 600000, 1000, NULL, NULL},
    {"retry", "max", OPT_DURATION, false, 1000, 3600000, 300000, NULL, NULL},

    /* webhook: alerts to a group robot; on when the section is present and not disabled */
    {"webhook", "enabled", OPT_BOOL, false, 0, 0, 1, NULL, NULL},
    {"webhook", "format", OPT_CHOICE, true, 0, 0, 0, NULL, "wecom|dingtalk|json"},
    {"webhook", "message", OPT_CHOICE, false, 0, 0, SELGW_WEBHOOK_MARKDOWN, NULL, "markdown|text"},
    {"webhook", "language", OPT_CHOICE, false, 0, 0, SELGW_LANG_ZH, NULL, "zh|en"},
    {"webhook", "mention_all", OPT_BOOL, false, 0, 0, 0, NULL, NULL},
    {"webhook", "url_file", OPT_SECRET_FILE, false, 0, 0, 0, NULL, NULL},
    {"webhook", "url_env", OPT_SECRET_ENV, false, 0, 0, 0, NULL, NULL},
    {"webhook", "secret_file", OPT_SECRET_FILE, false, 0, 0, 0, NULL, NULL},
    {"webhook", "secret_env", OPT_SECRET_ENV, false, 0, 0, 0, NULL, NULL},
    {"webhook", "timeout", OPT_DURATION, false, 1000, 120000, 10000, NULL, NULL},
    /* the robots take about 20 messages a minute (docs/WEBHOOK.md) */
    {"webhook", "rate_limit", OPT_INT, false, 1, 600, 20, NULL, NULL},
    {"webhook", "retry", OPT_MAPPING, false, 0, 0, 0, NULL, NULL},
    {"webhook", "dead_letter", OPT_STRING, false, 0, 0, 0, "webhook-dead-letter.jsonl", NULL},
    {"webhook", "dead_letter_after", OPT_INT, false, 1, 1000, 10, NULL, NULL},

    /* signing: seals are written only when the section is present (docs/EVIDENCE.md) */
    {"signing", "secret_key", OPT_OWNER_FILE, true, 0, 0, 0, NULL, NULL},
    {"signing", "seal_interval", OPT_DURATION, false, 1000, DAY_MS, 600000, NULL, NULL},

    /* http: the local status API (docs/API.md), on with these defaults when absent */
    {"http", "enabled", OPT_BOOL, false, 0, 0, 1, NULL, NULL},
    {"http", "listen", OPT_STRING, false, 0, 0, 0, "127.0.0.1:9108", NULL},
    {"http", "password_hash", OPT_STRING, false, 0, 0, 0, NULL, NULL},
    {"http", "password_file", OPT_SECRET_FILE, false, 0, 0, 0, NULL, NULL},
    {"http", "tls_cert", OPT_FILE, false, 0, 0, 0, NULL, NULL},
    {"http", "tls_key", OPT_PRIVATE_FILE, false, 0, 0, 0, NULL, NULL},

    /* alerts: a list of rules (docs/ALERTS.md); each has one condition: below (with
     * clear_above), above (with clear_below), stale_after or stuck_for */
    {"alert", "id", OPT_ID, true, 0, 0, 0, NULL, NULL},
    {"alert", "crops", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"alert", "plots", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"alert", "field", OPT_ID, false, 0, 0, 0, NULL, NULL},
    {"alert", "below", OPT_DOUBLE, false, -1e9, 1e9, 0, NULL, NULL},
    {"alert", "clear_above", OPT_DOUBLE, false, -1e9, 1e9, 0, NULL, NULL},
    {"alert", "above", OPT_DOUBLE, false, -1e9, 1e9, 0, NULL, NULL},
    {"alert", "clear_below", OPT_DOUBLE, false, -1e9, 1e9, 0, NULL, NULL},
    /* clear_for: the same as `for` when not given */
    {"alert", "for", OPT_LONG_DURATION, false, 0, 30 * DAY_MS, 0, NULL, NULL},
    {"alert", "clear_for", OPT_LONG_DURATION, false, 0, 30 * DAY_MS, 0, NULL, NULL},
    {"alert", "stale_after", OPT_INT, false, 1, 100000, 0, NULL, NULL},
    {"alert", "stuck_for", OPT_LONG_DURATION, false, 1000, 365 * DAY_MS, 0, NULL, NULL},
    {"alert", "source", OPT_STRING, false, 0, 0, 0, NULL, NULL},

    /* products: geographic-indication products (docs/CONFIG.md, docs/EVIDENCE.md) */
    {"product", "name", OPT_STRING, true, 0, 0, 0, NULL, NULL},
    {"product", "crops", OPT_SEQUENCE, true, 0, 0, 0, NULL, NULL},
    {"product", "area", OPT_MAPPING, true, 0, 0, 0, NULL, NULL},
    /* how many days before the end of its harvest a lot's evidence starts */
    {"product", "season_days", OPT_INT, false, 1, 730, 365, NULL, NULL},
    {"product", "lot_url", OPT_STRING, false, 0, 0, 0, NULL, NULL},
    {"area", "counties", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"area", "townships", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
    {"area", "polygon", OPT_SEQUENCE, false, 0, 0, 0, NULL, NULL},
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))
#define MAX_SECTION_KEYS 24

static const option *option_find(const char *section, const char *key)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (!strcmp(options[i].section, section) && !strcmp(options[i].key, key))
            return &options[i];
    return NULL;
}

/* The keys of up to three sections, without repeats, NULL-terminated. */
static void section_keys(const char *const *sections, const char **out)
{
    size_t n = 0;
    for (size_t s = 0; sections[s]; s++)
        for (size_t i = 0; i < OPTION_COUNT; i++) {
            if (strcmp(options[i].section, sections[s]))
                continue;
            bool seen = false;
            for (size_t j = 0; j < n; j++)
                seen |= !strcmp(out[j], options[i].key);
            if (!seen && n + 1 < MAX_SECTION_KEYS)
                out[n++] = options[i].key;
        }
    out[n] = NULL;
}

static bool check_section_keys(selgw_yaml *yaml, struct fy_node *map, const char *section,
                               const char *what)
{
    const char *sections[] = {section, NULL};
    const char *keys[MAX_SECTION_KEYS];
    section_keys(sections, keys);
    return selgw_yaml_check_keys(yaml, map, what, keys);
}

/* ---- small helpers ---- */

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static bool is_id(const char *text)
{
    if (!*text)
        return false;
    for (const char *p = text; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* "500ms", "30s", "5m", "1h", "1d": the largest unit that divides exactly. */
static void format_duration(char *buf, size_t size, double ms)
{
    long long v = (long long)ms;
    if (v && v % 86400000 == 0)
        snprintf(buf, size, "%lldd", v / 86400000);
    else if (v && v % 3600000 == 0)
        snprintf(buf, size, "%lldh", v / 3600000);
    else if (v && v % 60000 == 0)
        snprintf(buf, size, "%lldm", v / 60000);
    else if (v && v % 1000 == 0)
        snprintf(buf, size, "%llds", v / 1000);
    else
        snprintf(buf, size, "%lldms", v);
}

/* A contract's day; INT32_MAX is a contract without an end. */
static void format_day(char *buf, size_t size, int32_t day)
{
    char text[SELGW_DAY_TEXT_SIZE];
    snprintf(buf, size, "%s", day == INT32_MAX ? "open-ended" : selgw_format_day(day, text));
}

/* "+08:00", "-05:30", "+8", "Z" */
static bool parse_utc_offset(const char *text, int *minutes)
{
    if (!strcmp(text, "Z") || !strcmp(text, "UTC")) {
        *minutes = 0;
        return true;
    }
    if (text[0] != '+' && text[0] != '-')
        return false;
    int sign = text[0] == '-' ? -1 : 1;
    const char *p = text + 1;
    int hours = 0, mins = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 2) {
        hours = hours * 10 + (*p++ - '0');
        digits++;
    }
    if (!digits)
        return false;
    if (*p == ':') {
        p++;
        if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'))
            return false;
        mins = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
    }
    if (*p || mins > 59)
        return false;
    *minutes = sign * (hours * 60 + mins);
    return true;
}

/* ---- loading state ---- */

struct contract_nodes {
    struct fy_node *item, *household, *to;
    bool dated; /* from and to are valid and in order */
};

struct base_nodes {
    struct fy_node *item, *id;
};

struct plot_nodes {
    struct fy_node *item, *id, *base;
    struct contract_nodes *contracts;
};

struct bus_nodes {
    struct fy_node *item, *id, *endpoint; /* endpoint: device (RTU) or host (TCP) */
    bool kind_known;
};

struct alert_nodes {
    struct fy_node *item, *id, *field, *crops, *plots;
};

struct product_nodes {
    struct fy_node *item, *name, *crops;
};

struct device_nodes {
    struct fy_node *item, *id, *bus, *plot, *profile, *unit_id, *calibration, *max_read_registers;
};

typedef struct loader {
    selgw_yaml *yaml;
    selgw_diag *diag;
    selgw_config *cfg;
    char *base_dir;       /* relative paths are relative to this; NULL: the current directory */
    bool failed;          /* out of memory */
    bool profiles_failed; /* a profile file was rejected (reported in that file) */
    bool skip_secrets;    /* a read-only command: passwords and tokens are not read */
    struct base_nodes *base_nodes;
    struct plot_nodes *plot_nodes;
    struct bus_nodes *bus_nodes;
    struct device_nodes *device_nodes;
    struct alert_nodes *alert_nodes;
    struct product_nodes *product_nodes;
} loader;

static void error_at(loader *ld, struct fy_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void error_at(loader *ld, struct fy_node *node, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0) {
        ld->failed = true;
        return;
    }
    selgw_yaml_error(ld->yaml, node, "%s", text);
    free(text);
}

static bool has_errors(const loader *ld)
{
    return ld->failed || ld->profiles_failed || selgw_yaml_error_count(ld->yaml) > 0;
}

static char *dup_or_fail(loader *ld, const char *text)
{
    char *copy = strdup(text ? text : "");
    if (!copy)
        ld->failed = true;
    return copy;
}

typedef enum read_result { READ_ABSENT, READ_OK, READ_BAD } read_result;

/* "64MiB", "1GiB", "1MB", "1000 bytes": the largest unit that divides exactly. */
static void format_size(char *buf, size_t size, uint64_t bytes)
{
    static const struct {
        const char *unit;
        uint64_t factor;
    } units[] = {
        {"TiB", UINT64_C(1) << 40},
        {"GiB", UINT64_C(1) << 30},
        {"MiB", UINT64_C(1) << 20},
        {"KiB", UINT64_C(1) << 10},
        {"TB", UINT64_C(1000000000000)},
        {"GB", 1000000000},
        {"MB", 1000000},
        {"kB", 1000},
    };
    for (size_t i = 0; bytes && i < sizeof(units) / sizeof(units[0]); i++)
        if (bytes % units[i].factor == 0) {
            snprintf(buf, size, "%llu%s", (unsigned long long)(bytes / units[i].factor),
                     units[i].unit);
            return;
        }
    if (bytes)
        snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
    else
        snprintf(buf, size, "0");
}

/* Index of word in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *word)
{
    size_t len = strlen(word);
    int index = 0;
    for (const char *p = choices; *p; index++) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && !strncmp(p, word, n))
            return index;
        p += n + (end ? 1 : 0);
    }
    return -1;
}

/* "a|b|c" as "a, b or c". */
static void describe_choices(char *buf, size_t size, const char *choices)
{
    size_t used = 0;
    buf[0] = 0;
    for (const char *p = choices; *p && used < size;) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *sep = p == choices ? "" : end ? ", " : " or ";
        used += (size_t)snprintf(buf + used, size - used, "%s%.*s", sep, (int)n, p);
        p += n + (end ? 1 : 0);
    }
}

/* A path of the config: relative paths are taken from the config file's directory (the
 * current directory for the built-in demo), so that a config works wherever it is run. */
static char *resolve_path(loader *ld, const char *path)
{
    char *out = NULL;
    if (path[0] == '/' || !ld->base_dir)
        out = strdup(path);
    else if (asprintf(&out, "%s/%s", ld->base_dir, path) < 0)
        out = NULL;
    if (!out)
        ld->failed = true;
    return out;
}

/* Zeroes a secret before freeing it: a heap dump or a later allocation must not find it. */
static void free_secret(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}

/* Opens a file the config names, for reading; reports why not at node. Returns the
 * descriptor (>= 0) with *st filled, or -1. */
static int open_config_file(loader *ld, struct fy_node *node, const char *key, const char *path,
                            struct stat *st)
{
    /* O_NONBLOCK: a FIFO must not hang the loader; it is refused below anyway */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        error_at(ld, node, "%s: cannot read '%s': %s", key, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        error_at(ld, node, "%s: '%s' is not a regular file", key, path);
        close(fd);
        return -1;
    }
    return fd;
}

/* A file holding a secret must not be open to others: mode 0600 or stricter, or 0640 when
 * root owns it (root:selgw 0640 lets the service's group read it). This is PostgreSQL's
 * rule for its key file; ssh refuses private keys the same way. With owner_only not even
 * that: the signing key is the gateway's identity, and selgw_signer_load refuses any group
 * access, so the config check must not pass what the daemon then refuses. */
static bool check_private_mode(loader *ld, struct fy_node *node, const char *key, const char *path,
                               const struct stat *st, bool owner_only)
{
    unsigned mode = (unsigned)(st->st_mode & 07777);
    unsigned group = (unsigned)(st->st_mode & S_IRWXG);
    if (st->st_mode & S_IRWXO) {
        error_at(ld, node, "%s: '%s' is accessible by others (mode %04o); chmod 600 it", key, path,
                 mode);
        return false;
    }
    if (group && owner_only) {
        error_at(ld, node, "%s: '%s' is accessible by its group (mode %04o); chmod 600 it", key,
                 path, mode);
        return false;
    }
    if (group && !(st->st_uid == 0 && group == S_IRGRP)) {
        error_at(ld, node,
                 "%s: '%s' is accessible by its group (mode %04o); chmod 600 it (or 640 when "
                 "root owns it)",
                 key, path, mode);
        return false;
    }
    return true;
}

#define SECRET_MAX 4096

/* The first line of a secret file, without its line end. Never puts the secret into a
 * message; every buffer that held it is zeroed. */
static char *read_secret_file(loader *ld, struct fy_node *node, const char *key, const char *path)
{
    struct stat st;
    int fd = open_config_file(ld, node, key, path, &st);
    if (fd < 0)
        return NULL;
    char *secret = NULL;
    char buf[SECRET_MAX + 1];
    size_t len = 0;
    bool read_error = false;
    if (check_private_mode(ld, node, key, path, &st, false)) {
        while (len < sizeof(buf)) {
            ssize_t n = read(fd, buf + len, sizeof(buf) - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                error_at(ld, node, "%s: cannot read '%s': %s", key, path, strerror(errno));
                read_error = true;
                break;
            }
            if (n == 0)
                break;
            len += (size_t)n;
            if (memchr(buf, '\n', len))
                break;
        }
        size_t line = 0;
        while (line < len && buf[line] != '\n')
            line++;
        if (read_error) {
            /* reported */
        } else if (line > SECRET_MAX - 1) {
            error_at(ld, node, "%s: the first line of '%s' is longer than %d bytes", key, path,
                     SECRET_MAX - 1);
        } else {
            if (line > 0 && buf[line - 1] == '\r')
                line--;
            if (line == 0 || memchr(buf, 0, line)) {
                error_at(ld, node, "%s: '%s' holds no secret on its first line", key, path);
            } else {
                secret = strndup(buf, line);
                if (!secret)
                    ld->failed = true;
            }
        }
    }
    explicit_bzero(buf, sizeof(buf));
    close(fd);
    return secret;
}

static bool is_env_name(const char *text)
{
    if (!((*text >= 'A' && *text <= 'Z') || (*text >= 'a' && *text <= 'z') || *text == '_'))
        return false;
    for (const char *p = text; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

/* MQTT topic levels of [A-Za-z0-9._-]: no wildcards, no '$' (reserved for the broker), no
 * empty level. */
static bool is_topic(const char *text)
{
    if (!*text || *text == '/')
        return false;
    for (const char *p = text; *p; p++) {
        if (*p == '/') {
            if (p[1] == '/' || p[1] == 0)
                return false;
            continue;
        }
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool has_control_chars(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

/* Checks an InfluxDB URL; on success *out is the URL without trailing slashes (the sink
 * appends /write or /api/v2/write). Credentials in the URL are refused without echoing it. */
static bool check_url(loader *ld, struct fy_node *node, const char *key, char *url)
{
    size_t scheme = 0;
    if (!strncasecmp(url, "http://", 7))
        scheme = 7;
    else if (!strncasecmp(url, "https://", 8))
        scheme = 8;
    const char *authority = url + scheme;
    size_t authority_len = strcspn(authority, "/");
    if (scheme && memchr(authority, '@', authority_len)) {
        error_at(ld, node,
                 "%s: put credentials in username and password_file (or token_file), not in the "
                 "URL",
                 key);
        return false;
    }
    bool bad_chars = has_control_chars(url) || strpbrk(url, " ?#") != NULL;
    if (!scheme || authority_len == 0 || bad_chars) {
        error_at(ld, node,
                 "%s '%s': expected http://HOST[:PORT][/PATH] or https://... (no query or "
                 "fragment)",
                 key, url);
        return false;
    }
    size_t len = strlen(url);
    while (len > scheme + authority_len && url[len - 1] == '/')
        url[--len] = 0;
    return true;
}

/* The value of a text option of one of the checked kinds (see option_kind). */
static read_result read_text_option(loader *ld, const option *opt, struct fy_node *node, void *out)
{
    const char *key = opt->key;
    char *text;
    if (!selgw_yaml_string(ld->yaml, node, key, &text))
        return READ_BAD;
    if (!*text) {
        error_at(ld, node, "%s must not be empty", key);
        free(text);
        return READ_BAD;
    }
    char *value = NULL;
    switch (opt->kind) {
    case OPT_PATH:
        value = resolve_path(ld, text);
        break;
    case OPT_FILE:
    case OPT_PRIVATE_FILE:
    case OPT_OWNER_FILE:
    case OPT_SECRET_FILE: {
        char *path = resolve_path(ld, text);
        if (!path)
            break;
        if (opt->kind == OPT_SECRET_FILE) {
            value = read_secret_file(ld, node, key, path);
            free(path);
            break;
        }
        struct stat st;
        int fd = open_config_file(ld, node, key, path, &st);
        if (fd >= 0) {
            close(fd);
            if (opt->kind == OPT_FILE ||
                check_private_mode(ld, node, key, path, &st, opt->kind == OPT_OWNER_FILE)) {
                value = path;
                path = NULL;
            }
        }
        free(path);
        break;
    }
    case OPT_SECRET_ENV: {
        if (!is_env_name(text)) {
            error_at(ld, node, "%s: '%s' is not an environment variable name", key, text);
            break;
        }
        const char *secret = getenv(text);
        if (!secret)
            error_at(ld, node, "%s: environment variable %s is not set", key, text);
        else if (!*secret)
            error_at(ld, node, "%s: environment variable %s is empty", key, text);
        else if (!(value = strdup(secret)))
            ld->failed = true;
        break;
    }
    case OPT_URL:
        if (check_url(ld, node, key, text)) {
            value = text;
            text = NULL;
        }
        break;
    case OPT_TOPIC:
        if (is_topic(text)) {
            value = text;
            text = NULL;
        } else {
            error_at(ld, node,
                     "%s '%s': use topic levels of letters, digits, '.', '_' and '-' separated by "
                     "single '/' (no '+', '#', '$', leading or trailing '/')",
                     key, text);
        }
        break;
    case OPT_NAME:
        if (text[0] == '_')
            error_at(ld, node, "%s '%s' must not start with '_' (InfluxDB reserves such names)",
                     key, text);
        else if (has_control_chars(text))
            error_at(ld, node, "%s must not contain control characters", key);
        else {
            value = text;
            text = NULL;
        }
        break;
    default:
        error_at(ld, node, "internal error: %s is not a text option", key);
        break;
    }
    free(text);
    if (!value)
        return READ_BAD;
    *(char **)out = value;
    return READ_OK;
}

/* Reads key of section from map into out (whose type follows the option's kind: char **
 * for ids and strings, int * for ints, bauds, durations and offsets, char * for parity,
 * double * for doubles, int32_t * for dates). An absent or null optional key gets the
 * default; an absent required key is reported at the mapping. `what` names the mapping in
 * messages, e.g. "device 'soil-1'". */
static read_result read_option(loader *ld, struct fy_node *map, const char *section,
                               const char *key, const char *what, void *out,
                               struct fy_node **value_out)
{
    const option *opt = option_find(section, key);
    if (!opt) {
        error_at(ld, map, "internal error: no option %s.%s", section, key);
        return READ_BAD;
    }
    struct fy_node *key_node;
    struct fy_node *node = selgw_yaml_get(map, key, &key_node);
    if (value_out)
        *value_out = node;
    if (node && selgw_yaml_is_null(node)) {
        if (opt->required) {
            error_at(ld, key_node, "%s: a value is required", key);
            return READ_BAD;
        }
        node = NULL;
    }
    if (!node) {
        if (opt->required) {
            error_at(ld, map, "missing required key '%s' in %s", key, what);
            return READ_BAD;
        }
        switch (opt->kind) {
        case OPT_ID:
        case OPT_STRING:
        case OPT_FILE:
        case OPT_PRIVATE_FILE:
        case OPT_OWNER_FILE:
        case OPT_SECRET_FILE:
        case OPT_SECRET_ENV:
        case OPT_URL:
        case OPT_TOPIC:
        case OPT_NAME:
            *(char **)out = opt->default_text ? dup_or_fail(ld, opt->default_text) : NULL;
            break;
        case OPT_PATH:
            *(char **)out = opt->default_text ? resolve_path(ld, opt->default_text) : NULL;
            break;
        case OPT_INT:
        case OPT_BAUD:
        case OPT_DURATION:
        case OPT_UTC_OFFSET:
        case OPT_CHOICE:
        case OPT_MQTT_PROTOCOL:
            *(int *)out = (int)opt->default_value;
            break;
        case OPT_BOOL:
            *(bool *)out = opt->default_value != 0;
            break;
        case OPT_SIZE:
            *(uint64_t *)out = (uint64_t)opt->default_value;
            break;
        case OPT_LONG_DURATION:
            *(int64_t *)out = (int64_t)opt->default_value;
            break;
        case OPT_PARITY:
            *(char *)out = (char)opt->default_value;
            break;
        case OPT_DOUBLE:
            *(double *)out = opt->default_value;
            break;
        case OPT_DATE:
            *(int32_t *)out = (int32_t)opt->default_value;
            break;
        case OPT_BUS_TYPE:
        case OPT_MAPPING:
        case OPT_SEQUENCE:
            break;
        }
        return READ_ABSENT;
    }

    selgw_yaml *yaml = ld->yaml;
    switch (opt->kind) {
    case OPT_PATH:
    case OPT_FILE:
    case OPT_PRIVATE_FILE:
    case OPT_OWNER_FILE:
    case OPT_SECRET_FILE:
    case OPT_SECRET_ENV:
    case OPT_URL:
    case OPT_TOPIC:
    case OPT_NAME:
        return read_text_option(ld, opt, node, out);
    case OPT_ID:
    case OPT_STRING: {
        char *text;
        if (!selgw_yaml_string(yaml, node, key, &text))
            return READ_BAD;
        if (!*text) {
            error_at(ld, node, "%s must not be empty", key);
            free(text);
            return READ_BAD;
        }
        if (opt->kind == OPT_ID && !is_id(text)) {
            error_at(ld, node, "%s '%s': use only letters, digits, '.', '_' and '-'", key, text);
            free(text);
            return READ_BAD;
        }
        if (opt->kind == OPT_ID && strlen(text) > SELGW_ID_MAX) {
            error_at(ld, node, "%s '%.20s...' is %zu bytes long: ids have at most %d", key, text,
                     strlen(text), SELGW_ID_MAX);
            free(text);
            return READ_BAD;
        }
        *(char **)out = text;
        return READ_OK;
    }
    case OPT_INT:
    case OPT_BAUD: {
        int64_t value;
        if (!selgw_yaml_int(yaml, node, key, &value))
            return READ_BAD;
        if (opt->kind == OPT_BAUD) {
            if (!selgw_baud_is_common(value)) {
                error_at(ld, node,
                         "%s: %lld is not one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
                         "115200",
                         key, (long long)value);
                return READ_BAD;
            }
        } else if (value < opt->min || value > opt->max) {
            error_at(ld, node, "%s: %lld is out of range %.0f..%.0f", key, (long long)value,
                     opt->min, opt->max);
            return READ_BAD;
        }
        *(int *)out = (int)value;
        return READ_OK;
    }
    case OPT_PARITY: {
        const char *text = selgw_yaml_text(node);
        char parity = 0;
        if (selgw_yaml_is_scalar(node)) {
            if (!strcasecmp(text, "N") || !strcasecmp(text, "none"))
                parity = 'N';
            else if (!strcasecmp(text, "E") || !strcasecmp(text, "even"))
                parity = 'E';
            else if (!strcasecmp(text, "O") || !strcasecmp(text, "odd"))
                parity = 'O';
        }
        if (!parity) {
            error_at(ld, node, "%s: expected N, E or O (none, even, odd)", key);
            return READ_BAD;
        }
        *(char *)out = parity;
        return READ_OK;
    }
    case OPT_DOUBLE: {
        double value;
        if (!selgw_yaml_double(yaml, node, key, &value))
            return READ_BAD;
        if (value < opt->min || value > opt->max) {
            error_at(ld, node, "%s: %g is out of range %g..%g", key, value, opt->min, opt->max);
            return READ_BAD;
        }
        *(double *)out = value;
        return READ_OK;
    }
    case OPT_DURATION:
    case OPT_LONG_DURATION: { /* stored as int ms, or int64_t ms for long ones */
        int64_t ms;
        if (!selgw_yaml_duration_ms(yaml, node, key, &ms))
            return READ_BAD;
        if (ms < opt->min || ms > opt->max) {
            char value[32], lo[32], hi[32];
            format_duration(value, sizeof(value), (double)ms);
            format_duration(lo, sizeof(lo), opt->min);
            format_duration(hi, sizeof(hi), opt->max);
            error_at(ld, node, "%s: %s is out of range %s..%s", key, value, lo, hi);
            return READ_BAD;
        }
        if (opt->kind == OPT_LONG_DURATION)
            *(int64_t *)out = ms;
        else
            *(int *)out = (int)ms;
        return READ_OK;
    }
    case OPT_SIZE: {
        uint64_t bytes;
        if (!selgw_yaml_size_bytes(yaml, node, key, &bytes))
            return READ_BAD;
        if ((double)bytes < opt->min || (double)bytes > opt->max) {
            char lo[32], hi[32];
            format_size(lo, sizeof(lo), (uint64_t)opt->min);
            format_size(hi, sizeof(hi), (uint64_t)opt->max);
            error_at(ld, node, "%s: %s is out of range %s..%s", key, selgw_yaml_text(node), lo, hi);
            return READ_BAD;
        }
        *(uint64_t *)out = bytes;
        return READ_OK;
    }
    case OPT_BOOL:
        return selgw_yaml_bool(yaml, node, key, (bool *)out) ? READ_OK : READ_BAD;
    case OPT_CHOICE: {
        const char *text = selgw_yaml_is_scalar(node) ? selgw_yaml_text(node) : NULL;
        int index = text ? choice_index(opt->choices, text) : -1;
        if (index < 0) {
            char expected[128];
            describe_choices(expected, sizeof(expected), opt->choices);
            /* the words, for a suggestion */
            char words[128];
            const char *candidates[9];
            size_t n = 0;
            snprintf(words, sizeof(words), "%s", opt->choices);
            for (char *save = NULL, *w = strtok_r(words, "|", &save); w && n < 8;
                 w = strtok_r(NULL, "|", &save))
                candidates[n++] = w;
            candidates[n] = NULL;
            const char *guess = text ? selgw_closest(text, candidates) : NULL;
            if (guess)
                error_at(ld, node, "%s: expected %s, got '%s' (did you mean '%s'?)", key, expected,
                         text, guess);
            else
                selgw_yaml_type_error(yaml, node, key, expected);
            return READ_BAD;
        }
        *(int *)out = index;
        return READ_OK;
    }
    case OPT_MQTT_PROTOCOL: {
        const char *text = selgw_yaml_is_scalar(node) ? selgw_yaml_text(node) : "";
        int protocol = 0;
        if (!strcmp(text, "311") || !strcmp(text, "3.1.1"))
            protocol = 311;
        else if (!strcmp(text, "5") || !strcmp(text, "5.0"))
            protocol = 5;
        if (!protocol) {
            selgw_yaml_type_error(yaml, node, key, "311 (or \"3.1.1\") or 5");
            return READ_BAD;
        }
        *(int *)out = protocol;
        return READ_OK;
    }
    case OPT_DATE:
        return selgw_yaml_date(yaml, node, key, (int32_t *)out) ? READ_OK : READ_BAD;
    case OPT_UTC_OFFSET: {
        const char *text = selgw_yaml_text(node);
        int minutes;
        if (!selgw_yaml_is_scalar(node) || !parse_utc_offset(text, &minutes)) {
            error_at(ld, node, "%s: expected an offset such as +08:00", key);
            return READ_BAD;
        }
        if (minutes < opt->min || minutes > opt->max) {
            error_at(ld, node, "%s: %s is out of range -12:00..+14:00", key, text);
            return READ_BAD;
        }
        *(int *)out = minutes;
        return READ_OK;
    }
    case OPT_BUS_TYPE: {
        const char *text = selgw_yaml_text(node);
        if (selgw_yaml_is_scalar(node) && !strcasecmp(text, "rtu")) {
            *(selgw_bus_kind *)out = SELGW_BUS_RTU;
            return READ_OK;
        }
        if (selgw_yaml_is_scalar(node) && !strcasecmp(text, "tcp")) {
            *(selgw_bus_kind *)out = SELGW_BUS_TCP;
            return READ_OK;
        }
        error_at(ld, node, "%s: expected rtu or tcp", key);
        return READ_BAD;
    }
    case OPT_MAPPING:
        if (!selgw_yaml_is_mapping(node)) {
            selgw_yaml_type_error(yaml, node, key, "a mapping");
            return READ_BAD;
        }
        return READ_OK;
    case OPT_SEQUENCE:
        if (!selgw_yaml_check_sequence(yaml, node, key))
            return READ_BAD;
        return READ_OK;
    }
    return READ_BAD;
}

/* Items of a list section of the root (NULL when absent or not a sequence), and the count. */
static struct fy_node *root_list(loader *ld, struct fy_node *root, const char *key, size_t *count)
{
    struct fy_node *list;
    *count = 0;
    if (read_option(ld, root, "root", key, "config", NULL, &list) != READ_OK)
        return NULL;
    *count = selgw_yaml_count(list);
    return list;
}

static void describe_item(char *buf, size_t size, const char *noun, const char *id)
{
    if (id)
        snprintf(buf, size, "%s '%s'", noun, id);
    else
        snprintf(buf, size, "%s", noun);
}

/* ---- sections ---- */

static void parse_gateway(loader *ld, struct fy_node *gateway)
{
    selgw_config *cfg = ld->cfg;
    if (!check_section_keys(ld->yaml, gateway, "gateway", "gateway"))
        return;
    read_option(ld, gateway, "gateway", "id", "gateway", &cfg->gateway_id, NULL);
    read_option(ld, gateway, "gateway", "location", "gateway", &cfg->gateway_location, NULL);
    read_option(ld, gateway, "gateway", "utc_offset", "gateway", &cfg->utc_offset_minutes, NULL);
}

static void parse_base(loader *ld, struct fy_node *item, selgw_base *base, struct base_nodes *nodes)
{
    nodes->item = item;
    if (!check_section_keys(ld->yaml, item, "base", "base"))
        return;
    read_option(ld, item, "base", "id", "base", &base->id, &nodes->id);
    char what[160];
    describe_item(what, sizeof(what), "base", base->id);
    read_option(ld, item, "base", "name", what, &base->name, NULL);
    read_option(ld, item, "base", "county", what, &base->county, NULL);
    read_option(ld, item, "base", "township", what, &base->township, NULL);
    struct fy_node *coordinates;
    if (read_option(ld, item, "base", "coordinates", what, NULL, &coordinates) == READ_OK &&
        check_section_keys(ld->yaml, coordinates, "coordinates", "coordinates")) {
        bool ok = read_option(ld, coordinates, "coordinates", "latitude", "coordinates",
                              &base->latitude, NULL) == READ_OK;
        ok &= read_option(ld, coordinates, "coordinates", "longitude", "coordinates",
                          &base->longitude, NULL) == READ_OK;
        base->has_coordinates = ok;
    }
}

static void parse_contract(loader *ld, struct fy_node *item, selgw_contract *contract,
                           struct contract_nodes *nodes)
{
    nodes->item = item;
    if (!check_section_keys(ld->yaml, item, "household", "household entry"))
        return;
    read_option(ld, item, "household", "household", "household entry", &contract->household,
                &nodes->household);
    read_option(ld, item, "household", "contract", "household entry", &contract->contract, NULL);
    bool from_ok = read_option(ld, item, "household", "from", "household entry",
                               &contract->from_day, NULL) == READ_OK;
    bool to_ok = read_option(ld, item, "household", "to", "household entry", &contract->to_day,
                             &nodes->to) != READ_BAD;
    nodes->dated = from_ok && to_ok && contract->to_day >= contract->from_day;
    if (from_ok && to_ok && contract->to_day < contract->from_day) {
        char from[16], to[16];
        format_day(from, sizeof(from), contract->from_day);
        format_day(to, sizeof(to), contract->to_day);
        error_at(ld, nodes->to, "contract '%s' ends (%s) before it starts (%s)",
                 contract->contract ? contract->contract : "?", to, from);
    }
}

/* A list of at least three [latitude, longitude] points (WGS84 degrees, in the bounds of a
 * base's coordinates), as a new array; NULL with the error reported at the point or the
 * list. `what` names the list in messages ("boundary", "polygon"). */
static double (*read_points(loader *ld, struct fy_node *list, const char *what,
                            size_t *count))[2]
{
    *count = 0;
    size_t n = selgw_yaml_count(list);
    if (n < 3) {
        error_at(ld, list, "%s: a polygon needs at least 3 [latitude, longitude] points, got %zu",
                 what, n);
        return NULL;
    }
    double(*points)[2] = calloc(n, sizeof *points);
    if (!points) {
        ld->failed = true;
        return NULL;
    }
    const option *lat = option_find("coordinates", "latitude");
    const option *lon = option_find("coordinates", "longitude");
    bool ok = true;
    void *iter = NULL;
    struct fy_node *entry;
    size_t i = 0;
    while ((entry = selgw_yaml_seq_next(list, &iter)) && i < n) {
        if (!selgw_yaml_is_sequence(entry) || selgw_yaml_count(entry) != 2) {
            error_at(ld, entry, "%s: point %zu must be [latitude, longitude]", what, i + 1);
            ok = false;
            i++;
            continue;
        }
        void *it = NULL;
        struct fy_node *a = selgw_yaml_seq_next(entry, &it);
        struct fy_node *b = selgw_yaml_seq_next(entry, &it);
        double la = 0, lo = 0;
        if (!selgw_yaml_double(ld->yaml, a, "latitude", &la) ||
            !selgw_yaml_double(ld->yaml, b, "longitude", &lo)) {
            ok = false;
        } else if (la < lat->min || la > lat->max) {
            error_at(ld, a, "%s: latitude %g of point %zu is out of range %g..%g", what, la, i + 1,
                     lat->min, lat->max);
            ok = false;
        } else if (lo < lon->min || lo > lon->max) {
            error_at(ld, b, "%s: longitude %g of point %zu is out of range %g..%g", what, lo,
                     i + 1, lon->min, lon->max);
            ok = false;
        }
        points[i][0] = la;
        points[i][1] = lo;
        i++;
    }
    if (!ok) {
        free(points);
        return NULL;
    }
    *count = n;
    return points;
}

/* A plot's `location:`: {latitude, longitude} or {boundary: [[lat, lon], ...]}. */
static void parse_location(loader *ld, struct fy_node *map, selgw_plot *plot, const char *what)
{
    unsigned errors = selgw_yaml_error_count(ld->yaml);
    if (!check_section_keys(ld->yaml, map, "location", "location") ||
        selgw_yaml_error_count(ld->yaml) > errors)
        return; /* an unknown key (a misspelt latitude): said; nothing more to say */
    struct fy_node *lat_node = NULL, *lon_node = NULL, *boundary = NULL;
    read_result lat = read_option(ld, map, "location", "latitude", what, &plot->latitude, &lat_node);
    read_result lon =
        read_option(ld, map, "location", "longitude", what, &plot->longitude, &lon_node);
    read_result bnd = read_option(ld, map, "location", "boundary", what, NULL, &boundary);
    bool point = lat != READ_ABSENT || lon != READ_ABSENT;
    if (point && bnd != READ_ABSENT) {
        error_at(ld, boundary,
                 "%s: location is either a point (latitude, longitude) or a boundary, not both",
                 what);
        return;
    }
    if (point) {
        if (lat == READ_ABSENT || lon == READ_ABSENT)
            error_at(ld, map, "%s: location needs both latitude and longitude", what);
        plot->has_point = lat == READ_OK && lon == READ_OK;
        return;
    }
    if (bnd == READ_OK)
        plot->boundary = read_points(ld, boundary, "boundary", &plot->boundary_count);
    else if (bnd == READ_ABSENT)
        error_at(ld, map, "%s: location needs latitude and longitude, or a boundary", what);
}

static void parse_plot(loader *ld, struct fy_node *item, selgw_plot *plot, struct plot_nodes *nodes)
{
    nodes->item = item;
    if (!check_section_keys(ld->yaml, item, "plot", "plot"))
        return;
    read_option(ld, item, "plot", "id", "plot", &plot->id, &nodes->id);
    char what[160];
    describe_item(what, sizeof(what), "plot", plot->id);
    /* the reference itself is resolved in cross_check, once every base is known */
    char *base_id = NULL;
    if (read_option(ld, item, "plot", "base", what, &base_id, &nodes->base) != READ_OK)
        nodes->base = NULL;
    free(base_id);
    read_option(ld, item, "plot", "crop", what, &plot->crop, NULL);
    read_option(ld, item, "plot", "area_mu", what, &plot->area_mu, NULL);
    struct fy_node *location;
    if (read_option(ld, item, "plot", "location", what, NULL, &location) == READ_OK)
        parse_location(ld, location, plot, what);
    struct fy_node *households;
    if (read_option(ld, item, "plot", "households", what, NULL, &households) != READ_OK)
        return;
    size_t n = selgw_yaml_count(households);
    if (n == 0)
        return;
    /* a reading records the households of its day; bounding all contracts of the plot
     * bounds those of any one day */
    if (n > SELGW_READING_MAX_HOUSEHOLDS)
        error_at(ld, households,
                 "plot '%s' has %zu household contracts; at most %d fit in a journal record",
                 plot->id ? plot->id : "?", n, SELGW_READING_MAX_HOUSEHOLDS);
    plot->contracts = calloc(n, sizeof(*plot->contracts));
    nodes->contracts = calloc(n, sizeof(*nodes->contracts));
    if (!plot->contracts || !nodes->contracts) {
        ld->failed = true;
        return;
    }
    void *iter = NULL;
    struct fy_node *entry;
    while ((entry = selgw_yaml_seq_next(households, &iter)) && plot->contract_count < n) {
        size_t i = plot->contract_count++;
        parse_contract(ld, entry, &plot->contracts[i], &nodes->contracts[i]);
    }
}

/* Reports each key of a bus that belongs to the other kind of bus. */
static void check_bus_kind_keys(loader *ld, struct fy_node *item, const selgw_bus *bus)
{
    const char *own = bus->kind == SELGW_BUS_RTU ? "rtu" : "tcp";
    const char *other = bus->kind == SELGW_BUS_RTU ? "tcp" : "rtu";
    void *iter = NULL;
    struct fy_node *key, *value;
    while (selgw_yaml_map_next(item, &iter, &key, &value)) {
        const char *text = selgw_yaml_text(key);
        if (!text || option_find("bus", text) || option_find(own, text) ||
            !option_find(other, text))
            continue;
        error_at(ld, key, "'%s' is an option of %s buses; bus '%s' has type %s", text, other,
                 bus->id ? bus->id : "?", own);
    }
}

static void parse_bus(loader *ld, struct fy_node *item, selgw_bus *bus, struct bus_nodes *nodes)
{
    nodes->item = item;
    const char *sections[] = {"bus", "rtu", "tcp", NULL};
    const char *keys[MAX_SECTION_KEYS];
    section_keys(sections, keys);
    if (!selgw_yaml_check_keys(ld->yaml, item, "bus", keys))
        return;
    read_option(ld, item, "bus", "id", "bus", &bus->id, &nodes->id);
    char what[160];
    describe_item(what, sizeof(what), "bus", bus->id);
    if (read_option(ld, item, "bus", "type", what, &bus->kind, NULL) != READ_OK)
        return;
    nodes->kind_known = true;
    check_bus_kind_keys(ld, item, bus);
    const char *kind = bus->kind == SELGW_BUS_RTU ? "rtu" : "tcp";
    if (bus->kind == SELGW_BUS_RTU) {
        read_option(ld, item, kind, "device", what, &bus->device, &nodes->endpoint);
        read_option(ld, item, kind, "baud", what, &bus->baud, NULL);
        read_option(ld, item, kind, "parity", what, &bus->parity, NULL);
        read_option(ld, item, kind, "data_bits", what, &bus->data_bits, NULL);
        read_option(ld, item, kind, "stop_bits", what, &bus->stop_bits, NULL);
    } else {
        read_option(ld, item, kind, "host", what, &bus->host, &nodes->endpoint);
        read_option(ld, item, kind, "port", what, &bus->port, NULL);
    }
    read_option(ld, item, kind, "response_timeout", what, &bus->response_timeout_ms, NULL);
    read_option(ld, item, kind, "frame_delay", what, &bus->frame_delay_ms, NULL);
    read_option(ld, item, kind, "retries", what, &bus->retries, NULL);
}

static void parse_calibration(loader *ld, struct fy_node *map, selgw_device *dev)
{
    size_t n = selgw_yaml_count(map);
    if (n == 0)
        return;
    dev->calibrations = calloc(n, sizeof(*dev->calibrations));
    if (!dev->calibrations) {
        ld->failed = true;
        return;
    }
    void *iter = NULL;
    struct fy_node *key, *value;
    while (selgw_yaml_map_next(map, &iter, &key, &value)) {
        const char *field = selgw_yaml_text(key);
        if (!field || selgw_yaml_is_null(key)) {
            error_at(ld, key, "calibration: keys must be field names");
            continue;
        }
        char what[160];
        snprintf(what, sizeof(what), "calibration of '%s'", field);
        if (!check_section_keys(ld->yaml, value, "calibration", what))
            continue;
        selgw_field_calibration *entry = &dev->calibrations[dev->calibration_count];
        entry->field = -1;
        bool ok = read_option(ld, value, "calibration", "scale", what, &entry->cal.scale, NULL) !=
                  READ_BAD;
        ok &= read_option(ld, value, "calibration", "offset", what, &entry->cal.offset, NULL) !=
              READ_BAD;
        if (ok && entry->cal.scale == 0) {
            error_at(ld, selgw_yaml_get(value, "scale", NULL), "scale must not be 0");
            ok = false;
        }
        if (dev->profile) {
            entry->field = selgw_profile_field_index(dev->profile, field);
            if (entry->field < 0) {
                const char *names[64];
                size_t count = 0;
                for (size_t i = 0; i < dev->profile->field_count && count + 1 < 64; i++)
                    names[count++] = dev->profile->fields[i].name;
                names[count] = NULL;
                const char *guess = selgw_closest(field, names);
                if (guess) {
                    error_at(ld, key,
                             "calibration for '%s': profile '%s' has no such field (did you "
                             "mean '%s'?)",
                             field, dev->profile->name, guess);
                } else {
                    /* no likely typo: list what there is */
                    char list[512] = "";
                    size_t used = 0;
                    for (size_t i = 0; i < count && used < sizeof(list); i++)
                        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                                 i ? ", " : "", names[i]);
                    error_at(ld, key,
                             "calibration for '%s': profile '%s' has no such field (it has %s)",
                             field, dev->profile->name, list);
                }
                ok = false;
            }
        }
        if (ok)
            dev->calibration_count++;
    }
}

/* "unknown NOUN 'ID' (did you mean 'X'?)", then "; HINT" when there is one (where to look). */
static void suggest_error(loader *ld, struct fy_node *node, const char *noun, const char *id,
                          const char *const *candidates, const char *hint)
{
    const char *guess = selgw_closest(id, candidates);
    char mean[160] = "";
    if (guess)
        snprintf(mean, sizeof mean, " (did you mean '%s'?)", guess);
    error_at(ld, node, "unknown %s '%s'%s%s%s", noun, id, mean, hint ? "; " : "", hint ? hint : "");
}

static void parse_device(loader *ld, struct fy_node *item, selgw_device *dev,
                         struct device_nodes *nodes)
{
    nodes->item = item;
    dev->max_gap = -1;
    if (!check_section_keys(ld->yaml, item, "device", "device"))
        return;
    read_option(ld, item, "device", "id", "device", &dev->id, &nodes->id);
    char what[160];
    describe_item(what, sizeof(what), "device", dev->id);
    char *ref = NULL;
    if (read_option(ld, item, "device", "bus", what, &ref, &nodes->bus) != READ_OK)
        nodes->bus = NULL;
    free(ref);
    ref = NULL;
    if (read_option(ld, item, "device", "plot", what, &ref, &nodes->plot) != READ_OK)
        nodes->plot = NULL;
    free(ref);
    ref = NULL;
    read_option(ld, item, "device", "unit_id", what, &dev->unit_id, &nodes->unit_id);
    if (read_option(ld, item, "device", "profile", what, &ref, &nodes->profile) == READ_OK) {
        dev->profile = selgw_profile_set_find(ld->cfg->profiles, ref);
        if (!dev->profile && !ld->failed) {
            size_t count = selgw_profile_set_count(ld->cfg->profiles);
            const char **names = calloc(count + 1, sizeof(*names));
            if (names) {
                for (size_t i = 0; i < count; i++)
                    names[i] = selgw_profile_set_at(ld->cfg->profiles, i)->name;
                suggest_error(ld, nodes->profile, "profile", ref, names,
                              "`selgw profiles` lists them");
                free(names);
            } else {
                ld->failed = true;
            }
        }
    }
    free(ref);
    read_option(ld, item, "device", "interval", what, &dev->interval_ms, NULL);
    read_option(ld, item, "device", "serial", what, &dev->serial, NULL);
    read_option(ld, item, "device", "max_read_registers", what, &dev->max_read_registers,
                &nodes->max_read_registers);
    read_option(ld, item, "device", "max_gap", what, &dev->max_gap, NULL);
    struct fy_node *calibration;
    if (read_option(ld, item, "device", "calibration", what, NULL, &calibration) == READ_OK)
        parse_calibration(ld, calibration, dev);

    /* a device limit below a field's width would make the field unreadable */
    if (dev->profile && dev->max_read_registers > 0) {
        for (size_t i = 0; i < dev->profile->field_count; i++) {
            const selgw_field *f = &dev->profile->fields[i];
            unsigned width = selgw_type_registers(f->type);
            if ((int)width > dev->max_read_registers) {
                error_at(ld, nodes->max_read_registers,
                         "max_read_registers: %d is too small for field '%s' (%s, %u registers) "
                         "of profile '%s'",
                         dev->max_read_registers, f->name, selgw_value_type_name(f->type), width,
                         dev->profile->name);
                break;
            }
        }
    }
}

/* ---- journal and sinks ---- */

/* The mapping of an optional section of the root, or NULL when it is absent, null or not a
 * mapping (then reported). *present says whether a mapping was there. */
static struct fy_node *root_section(loader *ld, struct fy_node *root, const char *key,
                                    bool *present)
{
    struct fy_node *map = NULL;
    *present = false;
    read_result result = read_option(ld, root, "root", key, "config", NULL, &map);
    if (result == READ_ABSENT)
        return NULL;
    *present = true; /* given, even if wrongly: the section is meant to be on */
    return result == READ_OK ? map : NULL;
}

/* Reports each key of map that belongs to the other variant of a section (bus type, API
 * version): `own` and `other` are its option sections, `variant` says which one applies. */
static void check_variant_keys(loader *ld, struct fy_node *map, const char *common, const char *own,
                               const char *other, const char *other_name, const char *variant)
{
    void *iter = NULL;
    struct fy_node *key, *value;
    while (selgw_yaml_map_next(map, &iter, &key, &value)) {
        const char *text = selgw_yaml_text(key);
        if (!text || option_find(common, text) || option_find(own, text) ||
            !option_find(other, text))
            continue;
        error_at(ld, key, "'%s' is an option of %s; %s", text, other_name, variant);
    }
}

/* A secret given as FILE_KEY (a file) or ENV_KEY (an environment variable), not both; with
 * needs_key (e.g. "username") the secret is only allowed when that key is given. */
static void read_secret(loader *ld, struct fy_node *map, const char *section, const char *file_key,
                        const char *env_key, const char *needs_key, const char *what, char **out)
{
    struct fy_node *file_node = selgw_yaml_get(map, file_key, NULL);
    struct fy_node *env_node = selgw_yaml_get(map, env_key, NULL);
    if (selgw_yaml_is_null(file_node))
        file_node = NULL;
    if (selgw_yaml_is_null(env_node))
        env_node = NULL;
    if (file_node && env_node) {
        /* reported at whichever comes second */
        selgw_yaml_pos file_pos = selgw_yaml_node_pos(file_node);
        selgw_yaml_pos env_pos = selgw_yaml_node_pos(env_node);
        bool env_later = env_pos.line > file_pos.line ||
                         (env_pos.line == file_pos.line && env_pos.column > file_pos.column);
        error_at(ld, env_later ? env_node : file_node, "%s: give %s or %s, not both",
                 env_later ? env_key : file_key, file_key, env_key);
        return;
    }
    if (!file_node && !env_node)
        return;
    if (needs_key) {
        struct fy_node *needed = selgw_yaml_get(map, needs_key, NULL);
        if (!needed || selgw_yaml_is_null(needed)) {
            error_at(ld, file_node ? file_node : env_node, "%s needs %s",
                     file_node ? file_key : env_key, needs_key);
            return;
        }
    }
    if (ld->skip_secrets) {
        /* A read-only command does not talk to the servers: it neither needs the secret
         * nor may demand the environment or file access the service has. */
        if (!(*out = strdup("")))
            ld->failed = true;
        return;
    }
    read_option(ld, map, section, file_node ? file_key : env_key, what, out, NULL);
}

static void parse_journal(loader *ld, struct fy_node *root)
{
    selgw_journal_config *j = &ld->cfg->journal;
    bool present;
    struct fy_node *map = root_section(ld, root, "journal", &present);
    if (map && !check_section_keys(ld->yaml, map, "journal", "journal"))
        map = NULL;
    /* with no mapping every key takes its default */
    const char *what = "journal";
    struct fy_node *segment_node, *interval_node, *backlog_node;
    read_option(ld, map, "journal", "dir", what, &j->dir, NULL);
    bool segment_ok = read_option(ld, map, "journal", "segment_size", what, &j->segment_bytes,
                                  &segment_node) != READ_BAD;
    int fsync = 0;
    bool fsync_ok = read_option(ld, map, "journal", "fsync", what, &fsync, NULL) != READ_BAD;
    j->fsync = (selgw_fsync_policy)fsync;
    if (read_option(ld, map, "journal", "fsync_interval", what, &j->fsync_interval_ms,
                    &interval_node) == READ_OK &&
        fsync_ok && j->fsync != SELGW_FSYNC_INTERVAL)
        error_at(ld, interval_node, "fsync_interval needs fsync: interval (fsync is %s)",
                 j->fsync == SELGW_FSYNC_BATCH ? "batch" : "none");
    read_option(ld, map, "journal", "commit_interval", what, &j->commit_interval_ms, NULL);
    read_option(ld, map, "journal", "retention", what, &j->retention_ms, NULL);
    read_result backlog =
        read_option(ld, map, "journal", "max_backlog", what, &j->max_backlog_bytes, &backlog_node);
    int when_full = 0;
    read_option(ld, map, "journal", "when_full", what, &when_full, NULL);
    j->when_full = (selgw_when_full)when_full;
    struct fy_node *group_node;
    if (read_option(ld, map, "journal", "group", what, &j->group, &group_node) == READ_OK) {
        struct group *gr = getgrnam(j->group);
        if (!gr)
            error_at(ld, group_node,
                     "group: there is no group '%s' on this system (see getent group; create "
                     "it with groupadd)",
                     j->group);
        else
            j->gid = gr->gr_gid;
    }

    /* the budget must hold the segment being written and one more: dropping the oldest
     * segment needs a closed one to drop */
    if (segment_ok && backlog != READ_BAD && j->max_backlog_bytes &&
        j->max_backlog_bytes < 2 * j->segment_bytes) {
        char budget[32], segment[32];
        format_size(budget, sizeof(budget), j->max_backlog_bytes);
        format_size(segment, sizeof(segment), j->segment_bytes);
        error_at(ld, backlog == READ_OK ? backlog_node : segment_node,
                 "max_backlog%s %s is less than two segments of %s (segment_size); raise "
                 "max_backlog or lower segment_size",
                 backlog == READ_OK ? "" : " (default)", budget, segment);
    }
}

/* A broker section: `mqtt` (the MQTT sink) or `uplink` (the evidence uplink, always MQTT 5
 * at QoS 1: its table has no protocol or qos key). Its client id defaults to
 * selgw-<gateway id> followed by client_id_suffix, so that the two sections never connect
 * with one id to one broker (the broker would drop one for the other). */
static void parse_broker(loader *ld, struct fy_node *root, const char *section,
                         const char *client_id_suffix, selgw_mqtt_config *m)
{
    struct fy_node *map = root_section(ld, root, section, &m->enabled);
    if (!map || !check_section_keys(ld->yaml, map, section, section))
        return;
    const char *what = section;
    struct fy_node *node;
    if (read_option(ld, map, section, "host", what, &m->host, &node) == READ_OK &&
        (strstr(m->host, "://") || strpbrk(m->host, " /") || has_control_chars(m->host)))
        error_at(ld, node, "host '%s': give the broker's name or address, not a URL or path",
                 m->host);

    struct fy_node *tls;
    if (read_option(ld, map, section, "tls", what, NULL, &tls) == READ_OK &&
        check_section_keys(ld->yaml, tls, "tls", "tls")) {
        struct fy_node *cert_node, *key_node, *insecure_node;
        read_option(ld, tls, "tls", "ca_file", "tls", &m->ca_file, NULL);
        read_result cert =
            read_option(ld, tls, "tls", "cert_file", "tls", &m->cert_file, &cert_node);
        read_result key = read_option(ld, tls, "tls", "key_file", "tls", &m->key_file, &key_node);
        read_option(ld, tls, "tls", "insecure", "tls", &m->tls_insecure, &insecure_node);
        if (cert != READ_ABSENT && key == READ_ABSENT)
            error_at(ld, cert_node, "cert_file needs key_file (the client certificate's key)");
        if (key != READ_ABSENT && cert == READ_ABSENT)
            error_at(ld, key_node, "key_file needs cert_file (the client certificate)");
        /* TLS is on when ca_file is set: the other keys mean nothing without it */
        if (!selgw_yaml_get(tls, "ca_file", NULL)) {
            struct fy_node *orphan = cert != READ_ABSENT  ? cert_node
                                     : key != READ_ABSENT ? key_node
                                     : m->tls_insecure    ? insecure_node
                                                          : NULL;
            if (orphan)
                error_at(ld, orphan,
                         "tls needs ca_file (the CA that signed the broker's certificate; "
                         "/etc/ssl/certs/ca-certificates.crt for a public CA)");
        }
    }
    if (read_option(ld, map, section, "port", what, &m->port, NULL) == READ_ABSENT && m->ca_file)
        m->port = 8883;
    if (option_find(section, "protocol")) {
        read_option(ld, map, section, "protocol", what, &m->protocol, NULL);
        read_option(ld, map, section, "qos", what, &m->qos, NULL);
    } else {
        m->protocol = 5;
        m->qos = 1;
    }
    read_option(ld, map, section, "topic_prefix", what, &m->topic_prefix, NULL);
    if (read_option(ld, map, section, "client_id", what, &m->client_id, NULL) == READ_ABSENT &&
        ld->cfg->gateway_id && asprintf(&m->client_id, "selgw-%s%s", ld->cfg->gateway_id, client_id_suffix) < 0) {
        m->client_id = NULL;
        ld->failed = true;
    }
    read_option(ld, map, section, "username", what, &m->username, NULL);
    read_secret(ld, map, section, "password_file", "password_env", "username", what, &m->password);
    int keepalive_ms = 0;
    if (read_option(ld, map, section, "keepalive", what, &keepalive_ms, &node) != READ_BAD) {
        if (keepalive_ms % 1000)
            error_at(ld, node, "keepalive: %dms is not a whole number of seconds", keepalive_ms);
        m->keepalive_s = keepalive_ms / 1000;
    }
    read_option(ld, map, section, "max_inflight", what, &m->max_inflight, NULL);

    struct fy_node *reconnect = NULL;
    if (read_option(ld, map, section, "reconnect", what, NULL, &reconnect) != READ_OK ||
        !check_section_keys(ld->yaml, reconnect, "reconnect", "reconnect"))
        reconnect = NULL;
    struct fy_node *max_node;
    bool ok = read_option(ld, reconnect, "reconnect", "min", "reconnect", &m->reconnect_min_ms,
                          NULL) != READ_BAD;
    ok &= read_option(ld, reconnect, "reconnect", "max", "reconnect", &m->reconnect_max_ms,
                      &max_node) != READ_BAD;
    if (ok && m->reconnect_max_ms < m->reconnect_min_ms) {
        char lo[32], hi[32];
        format_duration(lo, sizeof(lo), m->reconnect_min_ms);
        format_duration(hi, sizeof(hi), m->reconnect_max_ms);
        error_at(ld, max_node ? max_node : reconnect, "reconnect: max %s is less than min %s", hi,
                 lo);
    }
}

static void parse_mqtt(loader *ld, struct fy_node *root)
{
    parse_broker(ld, root, "mqtt", "", &ld->cfg->mqtt);
}

static void parse_uplink(loader *ld, struct fy_node *root)
{
    selgw_mqtt_config *u = &ld->cfg->uplink;
    parse_broker(ld, root, "uplink", "-uplink", u);
    struct fy_node *map = u->enabled ? selgw_yaml_get(root, "uplink", NULL) : NULL;
    if (map && selgw_yaml_is_mapping(map))
        read_option(ld, map, "uplink", "witness_keys", "uplink", &u->witness_keys, NULL);
}

static void parse_influx(loader *ld, struct fy_node *root)
{
    selgw_influx_config *x = &ld->cfg->influxdb;
    struct fy_node *map = root_section(ld, root, "influxdb", &x->enabled);
    if (!map) {
        /* the default also without the sink: `selgw journal --dump --format lp` writes the
         * points InfluxDB would get */
        x->measurement = dup_or_fail(ld, option_find("influxdb", "measurement")->default_text);
        return;
    }
    const char *sections[] = {"influxdb", "influx_v1", "influx_v2", NULL};
    const char *keys[MAX_SECTION_KEYS];
    section_keys(sections, keys);
    if (!selgw_yaml_check_keys(ld->yaml, map, "influxdb", keys))
        return;
    const char *what = "influxdb";
    read_option(ld, map, "influxdb", "url", what, &x->url, NULL);
    bool api_ok = read_option(ld, map, "influxdb", "api", what, &x->api, NULL) != READ_BAD;
    if (api_ok && x->api == 1) {
        check_variant_keys(ld, map, "influxdb", "influx_v1", "influx_v2", "InfluxDB API v2",
                           "influxdb has api: 1");
        read_option(ld, map, "influx_v1", "database", what, &x->database, NULL);
        read_option(ld, map, "influx_v1", "retention_policy", what, &x->retention_policy, NULL);
        read_option(ld, map, "influx_v1", "username", what, &x->username, NULL);
        read_secret(ld, map, "influx_v1", "password_file", "password_env", "username", what,
                    &x->password);
    } else if (api_ok) {
        check_variant_keys(ld, map, "influxdb", "influx_v2", "influx_v1", "InfluxDB API v1",
                           "influxdb has api: 2");
        read_option(ld, map, "influx_v2", "org", what, &x->org, NULL);
        read_option(ld, map, "influx_v2", "bucket", what, &x->bucket, NULL);
        struct fy_node *file = selgw_yaml_get(map, "token_file", NULL);
        struct fy_node *env = selgw_yaml_get(map, "token_env", NULL);
        if ((!file || selgw_yaml_is_null(file)) && (!env || selgw_yaml_is_null(env)))
            error_at(ld, map, "missing token_file or token_env in influxdb (API v2 needs a token)");
        else
            read_secret(ld, map, "influx_v2", "token_file", "token_env", NULL, what, &x->token);
    }
    read_option(ld, map, "influxdb", "measurement", what, &x->measurement, NULL);
    read_option(ld, map, "influxdb", "batch_lines", what, &x->batch_lines, NULL);
    read_option(ld, map, "influxdb", "gzip", what, &x->gzip, NULL);
    read_option(ld, map, "influxdb", "timeout", what, &x->timeout_ms, NULL);
    read_option(ld, map, "influxdb", "dead_letter", what, &x->dead_letter_path, NULL);

    struct fy_node *retry = NULL;
    if (read_option(ld, map, "influxdb", "retry", what, NULL, &retry) != READ_OK ||
        !check_section_keys(ld->yaml, retry, "retry", "retry"))
        retry = NULL;
    struct fy_node *max_node;
    bool ok = read_option(ld, retry, "retry", "min", "retry", &x->retry_min_ms, NULL) != READ_BAD;
    ok &= read_option(ld, retry, "retry", "max", "retry", &x->retry_max_ms, &max_node) != READ_BAD;
    if (ok && x->retry_max_ms < x->retry_min_ms) {
        char lo[32], hi[32];
        format_duration(lo, sizeof(lo), x->retry_min_ms);
        format_duration(hi, sizeof(hi), x->retry_max_ms);
        error_at(ld, max_node ? max_node : retry, "retry: max %s is less than min %s", hi, lo);
    }
}

/* Whether a URL's authority (HOST[:PORT]) names this machine: localhost, 127.x.y.z, [::1]. */
static bool url_host_is_loopback(const char *authority, size_t len)
{
    if (len >= 5 && !strncmp(authority, "[::1]", 5))
        return len == 5 || authority[5] == ':';
    size_t n = 0;
    while (n < len && authority[n] != ':')
        n++;
    char host[16];
    if (n >= sizeof host)
        return false;
    memcpy(host, authority, n);
    host[n] = '\0';
    struct in_addr a;
    return !strcasecmp(host, "localhost") ||
           (inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127);
}

/* A webhook URL read from a secret: http(s)://HOST... with no credentials and no spaces. It
 * holds the robot's key, so no message quotes it; http:// to another machine is warned of. */
static void check_webhook_url(loader *ld, struct fy_node *node, const char *key, const char *url)
{
    size_t scheme = !strncasecmp(url, "https://", 8) ? 8 : !strncasecmp(url, "http://", 7) ? 7 : 0;
    const char *authority = url + scheme;
    size_t authority_len = strcspn(authority, "/?#");
    if (!scheme || authority_len == 0)
        error_at(ld, node, "%s: the URL it holds must begin with https:// (or http://) and a host",
                 key);
    else if (memchr(authority, '@', authority_len))
        error_at(ld, node, "%s: the URL it holds must not carry credentials before its host", key);
    else if (strpbrk(url, " #") || has_control_chars(url))
        error_at(ld, node, "%s: the URL it holds has a space, '#' or a control character", key);
    else if (scheme == 7 && !url_host_is_loopback(authority, authority_len)) {
        /* a warning, not an error: a relay on the LAN may be the robot's way out. The URL is
         * not quoted, its key in it */
        selgw_yaml_pos pos = selgw_yaml_node_pos(node);
        selgw_log(SELGW_LOG_WARN,
                  "%s:%d:%d: webhook %s: the URL it holds is http:// to another machine: the "
                  "robot's key in it travels in clear; use https://",
                  selgw_yaml_file(ld->yaml), pos.line, pos.column, key);
    }
}

size_t selgw_url_host(const char *url, const char **host)
{
    const char *p = url ? strstr(url, "://") : NULL;
    *host = p ? p + 3 : url ? url : "";
    size_t n = strcspn(*host, "/?#");
    const char *at = memchr(*host, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - *host);
        *host = at + 1;
    }
    return n;
}

static void parse_webhook(loader *ld, struct fy_node *root)
{
    selgw_webhook_config *w = &ld->cfg->webhook;
    bool present;
    struct fy_node *map = root_section(ld, root, "webhook", &present);
    if (!map || !check_section_keys(ld->yaml, map, "webhook", "webhook"))
        return;
    const char *what = "webhook";
    bool enabled = true;
    read_option(ld, map, "webhook", "enabled", what, &enabled, NULL);
    int format = 0, style = 0, language = 0;
    bool format_ok = read_option(ld, map, "webhook", "format", what, &format, NULL) == READ_OK;
    w->format = (selgw_webhook_format)format;
    struct fy_node *style_node;
    if (read_option(ld, map, "webhook", "message", what, &style, &style_node) == READ_OK &&
        format_ok && w->format == SELGW_WEBHOOK_JSON)
        error_at(ld, style_node, "message: only the robots' formats (wecom, dingtalk) have one");
    w->style = (selgw_webhook_style)style;
    read_option(ld, map, "webhook", "language", what, &language, NULL);
    w->language = (selgw_language)language;
    struct fy_node *mention_node;
    if (read_option(ld, map, "webhook", "mention_all", what, &w->mention_all, &mention_node) ==
            READ_OK &&
        w->mention_all && format_ok) {
        if (w->format == SELGW_WEBHOOK_JSON)
            error_at(ld, mention_node,
                     "mention_all: only the robots' formats (wecom, dingtalk) "
                     "have one");
        else if (w->format == SELGW_WEBHOOK_WECOM && w->style == SELGW_WEBHOOK_MARKDOWN)
            error_at(ld, mention_node,
                     "mention_all: WeCom's markdown messages cannot mention anyone; use "
                     "message: text");
    }
    read_option(ld, map, "webhook", "timeout", what, &w->timeout_ms, NULL);
    read_option(ld, map, "webhook", "rate_limit", what, &w->rate_per_minute, NULL);
    read_option(ld, map, "webhook", "dead_letter", what, &w->dead_letter_path, NULL);
    read_option(ld, map, "webhook", "dead_letter_after", what, &w->dead_letter_after, NULL);

    struct fy_node *retry = NULL;
    if (read_option(ld, map, "webhook", "retry", what, NULL, &retry) != READ_OK ||
        !check_section_keys(ld->yaml, retry, "retry", "retry"))
        retry = NULL;
    struct fy_node *max_node;
    bool ok = read_option(ld, retry, "retry", "min", "retry", &w->retry_min_ms, NULL) != READ_BAD;
    ok &= read_option(ld, retry, "retry", "max", "retry", &w->retry_max_ms, &max_node) != READ_BAD;
    if (ok && w->retry_max_ms < w->retry_min_ms) {
        char lo[32], hi[32];
        format_duration(lo, sizeof(lo), w->retry_min_ms);
        format_duration(hi, sizeof(hi), w->retry_max_ms);
        error_at(ld, max_node ? max_node : retry, "retry: max %s is less than min %s", hi, lo);
    }

    /* A section switched off keeps its settings checked but needs no secret. */
    if (!enabled)
        return;
    w->enabled = true;
    struct fy_node *file = selgw_yaml_get(map, "url_file", NULL);
    struct fy_node *env = selgw_yaml_get(map, "url_env", NULL);
    if ((!file || selgw_yaml_is_null(file)) && (!env || selgw_yaml_is_null(env))) {
        error_at(ld, map,
                 "missing url_file or url_env in webhook (the robot's URL holds its key: a "
                 "secret, so it is not written in the config)");
    } else {
        read_secret(ld, map, "webhook", "url_file", "url_env", NULL, what, &w->url);
        if (w->url && w->url[0])
            check_webhook_url(ld, file && !selgw_yaml_is_null(file) ? file : env,
                              file && !selgw_yaml_is_null(file) ? "url_file" : "url_env", w->url);
    }
    struct fy_node *secret = selgw_yaml_get(map, "secret_file", NULL);
    if (!secret || selgw_yaml_is_null(secret))
        secret = selgw_yaml_get(map, "secret_env", NULL);
    if (secret && !selgw_yaml_is_null(secret) && format_ok && w->format != SELGW_WEBHOOK_DINGTALK)
        error_at(ld, secret,
                 "a signing secret is for format: dingtalk (its robot's \"sign\" security mode)");
    else
        read_secret(ld, map, "webhook", "secret_file", "secret_env", NULL, what, &w->secret);
}

static void parse_signing(loader *ld, struct fy_node *root)
{
    selgw_signing_config *sg = &ld->cfg->signing;
    struct fy_node *map = root_section(ld, root, "signing", &sg->enabled);
    /* the default also when signing is off, so that no caller ever sees 0 */
    sg->seal_interval_ms = (int)option_find("signing", "seal_interval")->default_value;
    if (!map || !check_section_keys(ld->yaml, map, "signing", "signing"))
        return;
    read_option(ld, map, "signing", "secret_key", "signing", &sg->secret_key, NULL);
    read_option(ld, map, "signing", "seal_interval", "signing", &sg->seal_interval_ms, NULL);
}

/* http's password (password_hash or password_file, not both) and TLS files (both or
 * neither). */
static void parse_http_access(loader *ld, struct fy_node *map)
{
    selgw_http_config *h = &ld->cfg->http;
    if (!map)
        return;
    struct fy_node *hash_node = NULL, *file_node = NULL, *cert_node = NULL, *key_node = NULL;
    read_result hash =
        read_option(ld, map, "http", "password_hash", "http", &h->password_hash, &hash_node);
    struct fy_node *file_key = selgw_yaml_get(map, "password_file", NULL);
    if (file_key && !selgw_yaml_is_null(file_key)) {
        if (hash != READ_ABSENT) {
            error_at(ld, file_key, "password_file: give password_hash or password_file, not both");
        } else if (!ld->skip_secrets) {
            /* a read-only command serves nothing: it need not read the file */
            if (read_option(ld, map, "http", "password_file", "http", &h->password_hash,
                            &file_node) == READ_OK)
                hash_node = file_node;
        }
    }
    if (h->password_hash && !selgw_password_hash_valid(h->password_hash)) {
        /* the server's own rule (base/password.h): what passes here, it takes. The text is
         * a hash, not the password: still, it is not echoed */
        error_at(ld, hash_node ? hash_node : map,
                 "%s: not a password hash ($argon2id$v=19$m=...); make one with `selgw passwd`",
                 file_node ? "password_file" : "password_hash");
    }
    read_result cert = read_option(ld, map, "http", "tls_cert", "http", &h->tls_cert, &cert_node);
    read_result key = read_option(ld, map, "http", "tls_key", "http", &h->tls_key, &key_node);
    if (cert == READ_OK && key == READ_ABSENT)
        error_at(ld, cert_node ? cert_node : map, "tls_cert needs tls_key");
    if (key == READ_OK && cert == READ_ABSENT)
        error_at(ld, key_node ? key_node : map, "tls_key needs tls_cert");
}

static void parse_http(loader *ld, struct fy_node *root)
{
    selgw_http_config *h = &ld->cfg->http;
    bool present;
    struct fy_node *map = root_section(ld, root, "http", &present);
    if (map && !check_section_keys(ld->yaml, map, "http", "http"))
        map = NULL;
    /* with no mapping every key takes its default */
    read_option(ld, map, "http", "enabled", "http", &h->enabled, NULL);
    struct fy_node *listen_node = NULL;
    if (read_option(ld, map, "http", "listen", "http", &h->listen, &listen_node) == READ_OK &&
        h->listen) {
        struct sockaddr_storage addr;
        socklen_t len;
        char why[200];
        if (!selgw_parse_listen(h->listen, &addr, &len, why, sizeof why))
            error_at(ld, listen_node ? listen_node : map, "listen: %s", why);
    }
    parse_http_access(ld, map);
}

/* ---- cross-checks ---- */

/* Reports the second and later occurrences of an id among n items. */
static void check_duplicate_ids(loader *ld, const char *noun, size_t n, char *const *ids,
                                struct fy_node *const *id_nodes)
{
    for (size_t j = 0; j < n; j++) {
        if (!ids[j])
            continue;
        for (size_t i = 0; i < j; i++) {
            if (!ids[i] || strcmp(ids[i], ids[j]))
                continue;
            selgw_yaml_pos first = selgw_yaml_node_pos(id_nodes[i]);
            error_at(ld, id_nodes[j], "duplicate %s id '%s' (first defined at %d:%d)", noun, ids[j],
                     first.line, first.column);
            break;
        }
    }
}

/* Resolves a reference by id; reports an unknown one. Returns the index or SIZE_MAX. */
static size_t resolve(loader *ld, struct fy_node *ref_node, const char *noun, size_t n,
                      char *const *ids)
{
    const char *ref = selgw_yaml_text(ref_node);
    if (!ref || !selgw_yaml_is_scalar(ref_node) || !is_id(ref) || strlen(ref) > SELGW_ID_MAX)
        return SIZE_MAX; /* already reported while parsing */
    for (size_t i = 0; i < n; i++)
        if (ids[i] && !strcmp(ids[i], ref))
            return i;
    const char **names = calloc(n + 1, sizeof(*names));
    if (!names) {
        ld->failed = true;
        return SIZE_MAX;
    }
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i])
            names[count++] = ids[i];
    suggest_error(ld, ref_node, noun, ref, names, NULL);
    free(names);
    return SIZE_MAX;
}

/* Gathers the ids of an array of structs whose first member is `char *id`. */
#define GATHER_IDS(array, count, out)                                                              \
    do {                                                                                           \
        for (size_t k_ = 0; k_ < (count); k_++)                                                    \
            (out)[k_] = (array)[k_].id;                                                            \
    } while (0)

static void check_contract_overlaps(loader *ld, const selgw_plot *plot,
                                    const struct plot_nodes *nodes)
{
    for (size_t j = 0; j < plot->contract_count; j++) {
        const selgw_contract *b = &plot->contracts[j];
        if (!b->household || !nodes->contracts[j].dated)
            continue;
        for (size_t i = 0; i < j; i++) {
            const selgw_contract *a = &plot->contracts[i];
            if (!a->household || !nodes->contracts[i].dated || strcmp(a->household, b->household))
                continue;
            if (b->from_day > a->to_day || a->from_day > b->to_day)
                continue;
            char af[16], at[16], bf[16], bt[16];
            format_day(af, sizeof(af), a->from_day);
            format_day(at, sizeof(at), a->to_day);
            format_day(bf, sizeof(bf), b->from_day);
            format_day(bt, sizeof(bt), b->to_day);
            selgw_yaml_pos first = selgw_yaml_node_pos(nodes->contracts[i].item);
            error_at(ld, nodes->contracts[j].item,
                     "household '%s' is contracted twice on plot '%s' for overlapping periods: "
                     "'%s' (%s..%s) and '%s' (%s..%s, at %d:%d)",
                     b->household, plot->id ? plot->id : "?", b->contract ? b->contract : "?", bf,
                     bt, a->contract ? a->contract : "?", af, at, first.line, first.column);
            break;
        }
    }
}

static void cross_check(loader *ld)
{
    selgw_config *cfg = ld->cfg;
    size_t most = cfg->base_count;
    if (cfg->plot_count > most)
        most = cfg->plot_count;
    if (cfg->bus_count > most)
        most = cfg->bus_count;
    if (cfg->device_count > most)
        most = cfg->device_count;
    char **ids = calloc(most + 1, sizeof(*ids));
    struct fy_node **id_nodes = calloc(most + 1, sizeof(*id_nodes));
    char **plot_ids = calloc(cfg->plot_count + 1, sizeof(*plot_ids));
    char **bus_ids = calloc(cfg->bus_count + 1, sizeof(*bus_ids));
    if (!ids || !id_nodes || !plot_ids || !bus_ids) {
        ld->failed = true;
        goto done;
    }

    /* duplicate ids */
    GATHER_IDS(cfg->bases, cfg->base_count, ids);
    for (size_t i = 0; i < cfg->base_count; i++)
        id_nodes[i] = ld->base_nodes[i].id;
    check_duplicate_ids(ld, "base", cfg->base_count, ids, id_nodes);
    GATHER_IDS(cfg->plots, cfg->plot_count, plot_ids);
    for (size_t i = 0; i < cfg->plot_count; i++)
        id_nodes[i] = ld->plot_nodes[i].id;
    check_duplicate_ids(ld, "plot", cfg->plot_count, plot_ids, id_nodes);
    GATHER_IDS(cfg->buses, cfg->bus_count, bus_ids);
    for (size_t i = 0; i < cfg->bus_count; i++)
        id_nodes[i] = ld->bus_nodes[i].id;
    check_duplicate_ids(ld, "bus", cfg->bus_count, bus_ids, id_nodes);
    {
        char **device_ids = ids + 0;
        for (size_t i = 0; i < cfg->device_count; i++) {
            device_ids[i] = cfg->devices[i].id;
            id_nodes[i] = ld->device_nodes[i].id;
        }
        check_duplicate_ids(ld, "device", cfg->device_count, device_ids, id_nodes);
    }

    /* plots: base references and contracts */
    GATHER_IDS(cfg->bases, cfg->base_count, ids);
    for (size_t i = 0; i < cfg->plot_count; i++) {
        size_t base = resolve(ld, ld->plot_nodes[i].base, "base", cfg->base_count, ids);
        cfg->plots[i].base = base;
        check_contract_overlaps(ld, &cfg->plots[i], &ld->plot_nodes[i]);
    }

    /* buses: two buses on one line or one endpoint */
    for (size_t j = 0; j < cfg->bus_count; j++) {
        const selgw_bus *b = &cfg->buses[j];
        if (!ld->bus_nodes[j].kind_known)
            continue;
        for (size_t i = 0; i < j; i++) {
            const selgw_bus *a = &cfg->buses[i];
            if (!ld->bus_nodes[i].kind_known || a->kind != b->kind)
                continue;
            bool same;
            if (b->kind == SELGW_BUS_RTU)
                same = a->device && b->device && !strcmp(a->device, b->device);
            else
                same = a->host && b->host && !strcasecmp(a->host, b->host) && a->port == b->port;
            if (!same)
                continue;
            selgw_yaml_pos first = selgw_yaml_node_pos(ld->bus_nodes[i].endpoint);
            if (b->kind == SELGW_BUS_RTU)
                error_at(ld, ld->bus_nodes[j].endpoint,
                         "bus '%s' uses serial device '%s', already used by bus '%s' (at %d:%d)",
                         b->id ? b->id : "?", b->device, a->id ? a->id : "?", first.line,
                         first.column);
            else
                error_at(ld, ld->bus_nodes[j].endpoint,
                         "bus '%s' connects to %s:%d, already used by bus '%s' (at %d:%d)",
                         b->id ? b->id : "?", b->host, b->port, a->id ? a->id : "?", first.line,
                         first.column);
            break;
        }
    }

    /* devices: references, and one unit id per bus */
    for (size_t i = 0; i < cfg->device_count; i++) {
        selgw_device *dev = &cfg->devices[i];
        dev->bus = resolve(ld, ld->device_nodes[i].bus, "bus", cfg->bus_count, bus_ids);
        dev->plot = resolve(ld, ld->device_nodes[i].plot, "plot", cfg->plot_count, plot_ids);
    }
    for (size_t j = 0; j < cfg->device_count; j++) {
        const selgw_device *b = &cfg->devices[j];
        if (b->bus == SIZE_MAX || !b->unit_id)
            continue;
        for (size_t i = 0; i < j; i++) {
            const selgw_device *a = &cfg->devices[i];
            if (a->bus != b->bus || a->unit_id != b->unit_id)
                continue;
            selgw_yaml_pos first = selgw_yaml_node_pos(ld->device_nodes[i].unit_id);
            error_at(ld, ld->device_nodes[j].unit_id,
                     "unit id %d on bus '%s' is already used by device '%s' (at %d:%d)", b->unit_id,
                     cfg->buses[b->bus].id, a->id ? a->id : "?", first.line, first.column);
            break;
        }
    }

    /* A seal names every chain's head in one record: it must fit. (Chains of devices and
     * plots removed from the config stay in the seals too; this checks today's.) */
    size_t seal_bytes = 59 + 2 + strlen(cfg->gateway_id ? cfg->gateway_id : "") + 8 + 4 +
                        (2 + strlen("gateway") + 40) + SELGW_RECORD_SIGNATURE_BYTES;
    for (size_t i = 0; i < cfg->device_count; i++)
        seal_bytes +=
            2 + strlen("device/") + strlen(cfg->devices[i].id ? cfg->devices[i].id : "") + 40;
    for (size_t i = 0; i < cfg->plot_count; i++)
        seal_bytes += 2 + strlen("plot/") + strlen(cfg->plots[i].id ? cfg->plots[i].id : "") + 40;
    if (seal_bytes > SELGW_RECORD_MAX_PAYLOAD && cfg->device_count > 0)
        error_at(ld, ld->device_nodes[cfg->device_count - 1].id,
                 "%zu %s and %zu %s are more than a seal can name: it would take %zu bytes, "
                 "and a record holds at most %u (use shorter ids, or split the base between "
                 "gateways)",
                 cfg->device_count, plural(cfg->device_count, "device", "devices"), cfg->plot_count,
                 plural(cfg->plot_count, "plot", "plots"), seal_bytes, SELGW_RECORD_MAX_PAYLOAD);

done:
    free(ids);
    free(id_nodes);
    free(plot_ids);
    free(bus_ids);
}

/* ---- top level ---- */

static void load_profiles(loader *ld, struct fy_node *root)
{
    selgw_config *cfg = ld->cfg;
    cfg->profiles = selgw_profile_set_new();
    if (!cfg->profiles) {
        ld->failed = true;
        return;
    }
    /* a broken profile is reported in its own file; the config is still read through so
     * that all of its problems are found in the same pass */
    if (selgw_profile_set_load_builtin(cfg->profiles, ld->diag) != SELGW_OK)
        ld->profiles_failed = true;
    char *dir = NULL;
    struct fy_node *node;
    if (read_option(ld, root, "root", "profiles_dir", "config", &dir, &node) != READ_OK)
        return;
    char *path = resolve_path(ld, dir);
    free(dir);
    if (!path)
        return;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        error_at(ld, node, "profiles_dir: '%s' is not a directory", path);
    } else if (selgw_profile_set_load_dir(cfg->profiles, path, ld->diag) != SELGW_OK) {
        ld->profiles_failed = true;
    }
    free(path);
}

/* Allocates the items of a list section (and their node records). */
#define ALLOC_ITEMS(ld, list_count, array, count, nodes)                                           \
    do {                                                                                           \
        if ((list_count) > 0) {                                                                    \
            (array) = calloc((list_count), sizeof(*(array)));                                      \
            (nodes) = calloc((list_count), sizeof(*(nodes)));                                      \
            if (!(array) || !(nodes))                                                              \
                (ld)->failed = true;                                                               \
        }                                                                                          \
    } while (0)

static void parse_alerts(loader *ld, struct fy_node *root);
static void check_alerts(loader *ld);
static void free_alerts(selgw_config *cfg);
static void parse_products(loader *ld, struct fy_node *root);
static void check_products(loader *ld);
static void free_products(selgw_config *cfg);

static void parse_config(loader *ld)
{
    static const char *const sections[] = {"root", NULL};
    selgw_config *cfg = ld->cfg;
    struct fy_node *root = selgw_yaml_root(ld->yaml);
    const char *keys[MAX_SECTION_KEYS];
    section_keys(sections, keys);
    if (!selgw_yaml_check_keys(ld->yaml, root, "config", keys))
        return;

    cfg->utc_offset_minutes = (int)option_find("gateway", "utc_offset")->default_value;
    load_profiles(ld, root);
    if (ld->failed)
        return;

    struct fy_node *gateway;
    if (read_option(ld, root, "root", "gateway", "config", NULL, &gateway) == READ_OK)
        parse_gateway(ld, gateway);

    size_t n;
    struct fy_node *list, *item;
    void *iter;

    list = root_list(ld, root, "bases", &n);
    ALLOC_ITEMS(ld, n, cfg->bases, cfg->base_count, ld->base_nodes);
    iter = NULL;
    while (!ld->failed && (item = selgw_yaml_seq_next(list, &iter)) && cfg->base_count < n) {
        size_t i = cfg->base_count++;
        parse_base(ld, item, &cfg->bases[i], &ld->base_nodes[i]);
    }

    list = root_list(ld, root, "plots", &n);
    ALLOC_ITEMS(ld, n, cfg->plots, cfg->plot_count, ld->plot_nodes);
    iter = NULL;
    while (!ld->failed && (item = selgw_yaml_seq_next(list, &iter)) && cfg->plot_count < n) {
        size_t i = cfg->plot_count++;
        cfg->plots[i].base = SIZE_MAX;
        parse_plot(ld, item, &cfg->plots[i], &ld->plot_nodes[i]);
    }

    list = root_list(ld, root, "buses", &n);
    ALLOC_ITEMS(ld, n, cfg->buses, cfg->bus_count, ld->bus_nodes);
    iter = NULL;
    while (!ld->failed && (item = selgw_yaml_seq_next(list, &iter)) && cfg->bus_count < n) {
        size_t i = cfg->bus_count++;
        parse_bus(ld, item, &cfg->buses[i], &ld->bus_nodes[i]);
    }

    list = root_list(ld, root, "devices", &n);
    ALLOC_ITEMS(ld, n, cfg->devices, cfg->device_count, ld->device_nodes);
    iter = NULL;
    while (!ld->failed && (item = selgw_yaml_seq_next(list, &iter)) && cfg->device_count < n) {
        size_t i = cfg->device_count++;
        cfg->devices[i].bus = SIZE_MAX;
        cfg->devices[i].plot = SIZE_MAX;
        parse_device(ld, item, &cfg->devices[i], &ld->device_nodes[i]);
    }

    parse_journal(ld, root);
    parse_mqtt(ld, root);
    parse_uplink(ld, root);
    parse_influx(ld, root);
    parse_webhook(ld, root);
    parse_signing(ld, root);
    parse_http(ld, root);
    parse_alerts(ld, root);
    parse_products(ld, root);

    if (!ld->failed)
        cross_check(ld);
    if (!ld->failed)
        check_alerts(ld);
    if (!ld->failed)
        check_products(ld);
}

void selgw_config_free(selgw_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->base_count; i++) {
        free(cfg->bases[i].id);
        free(cfg->bases[i].name);
        free(cfg->bases[i].county);
        free(cfg->bases[i].township);
    }
    free(cfg->bases);
    for (size_t i = 0; i < cfg->plot_count; i++) {
        selgw_plot *plot = &cfg->plots[i];
        free(plot->id);
        free(plot->chain);
        free(plot->crop);
        for (size_t j = 0; j < plot->contract_count; j++) {
            free(plot->contracts[j].household);
            free(plot->contracts[j].contract);
        }
        free(plot->contracts);
        free(plot->boundary);
    }
    free(cfg->plots);
    for (size_t i = 0; i < cfg->bus_count; i++) {
        free(cfg->buses[i].id);
        free(cfg->buses[i].host);
        free(cfg->buses[i].device);
    }
    free(cfg->buses);
    for (size_t i = 0; i < cfg->device_count; i++) {
        free(cfg->devices[i].id);
        free(cfg->devices[i].chain);
        free(cfg->devices[i].serial);
        free(cfg->devices[i].calibrations);
    }
    free(cfg->devices);
    selgw_profile_set_free(cfg->profiles);
    free(cfg->journal.dir);
    free(cfg->journal.group);
    selgw_mqtt_config *brokers[] = {&cfg->mqtt, &cfg->uplink};
    for (size_t i = 0; i < sizeof brokers / sizeof brokers[0]; i++) {
        selgw_mqtt_config *m = brokers[i];
        free(m->host);
        free(m->topic_prefix);
        free(m->client_id);
        free(m->username);
        free_secret(m->password);
        free(m->ca_file);
        free(m->cert_file);
        free(m->key_file);
        free(m->witness_keys);
    }
    selgw_influx_config *x = &cfg->influxdb;
    free(x->url);
    free(x->database);
    free(x->retention_policy);
    free(x->username);
    free_secret(x->password);
    free(x->org);
    free(x->bucket);
    free_secret(x->token);
    free(x->measurement);
    free(x->dead_letter_path);
    selgw_webhook_config *w = &cfg->webhook;
    free_secret(w->url);
    free_secret(w->secret);
    free(w->dead_letter_path);
    free(cfg->signing.secret_key);
    free(cfg->http.listen);
    free(cfg->http.password_hash);
    free(cfg->http.tls_cert);
    free(cfg->http.tls_key);
    free_alerts(cfg);
    free_products(cfg);
    free(cfg->gateway_id);
    free(cfg->gateway_location);
    free(cfg->path);
    free(cfg);
}

static void loader_free_nodes(loader *ld)
{
    for (size_t i = 0; ld->plot_nodes && i < ld->cfg->plot_count; i++)
        free(ld->plot_nodes[i].contracts);
    free(ld->base_nodes);
    free(ld->plot_nodes);
    free(ld->bus_nodes);
    free(ld->device_nodes);
    free(ld->alert_nodes);
    free(ld->product_nodes);
}

/* Every device's and plot's evidence chain name, built once here rather than formatted
 * for every record. */
static void name_chains(loader *ld)
{
    selgw_config *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->device_count; i++)
        if (asprintf(&cfg->devices[i].chain, "device/%s", cfg->devices[i].id) < 0) {
            cfg->devices[i].chain = NULL;
            ld->failed = true;
        }
    for (size_t i = 0; i < cfg->plot_count; i++)
        if (asprintf(&cfg->plots[i].chain, "plot/%s", cfg->plots[i].id) < 0) {
            cfg->plots[i].chain = NULL;
            ld->failed = true;
        }
}

/* builtin: the config is compiled in, its relative paths are relative to the current
 * directory instead of a file's. */
static selgw_err load_from_yaml(selgw_yaml *yaml, bool builtin, bool skip_secrets, selgw_diag *diag,
                                selgw_config **out)
{
    selgw_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return SELGW_ERR_NOMEM;
    loader ld = {.yaml = yaml, .diag = diag, .cfg = cfg, .skip_secrets = skip_secrets};
    cfg->path = strdup(selgw_yaml_file(yaml));
    if (cfg->path && !builtin)
        ld.base_dir = selgw_parent_dir(cfg->path); /* relative paths start here */
    if (!cfg->path || (!builtin && !ld.base_dir))
        ld.failed = true;
    else
        parse_config(&ld);
    if (!has_errors(&ld))
        name_chains(&ld);
    loader_free_nodes(&ld);
    free(ld.base_dir);
    if (has_errors(&ld)) {
        bool reported = selgw_yaml_error_count(yaml) > 0 || selgw_diag_count(diag) > 0;
        selgw_config_free(cfg);
        return reported ? SELGW_ERR_CONFIG : SELGW_ERR_NOMEM;
    }
    *out = cfg;
    return SELGW_OK;
}

static selgw_err load_string(const char *display_name, const char *yaml_text, size_t len,
                             bool builtin, selgw_diag *diag, selgw_config **out)
{
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (!yaml_text)
        return SELGW_ERR_INVALID;
    selgw_yaml *yaml;
    selgw_err err = selgw_yaml_load_string(display_name, yaml_text, len, diag, &yaml);
    if (err != SELGW_OK)
        return err;
    err = load_from_yaml(yaml, builtin, false, diag, out);
    selgw_yaml_free(yaml);
    return err;
}

selgw_err selgw_config_load_string(const char *display_name, const char *yaml_text, size_t len,
                                   selgw_diag *diag, selgw_config **out)
{
    return load_string(display_name, yaml_text, len, false, diag, out);
}

static selgw_err load_file(const char *path, bool skip_secrets, selgw_diag *diag,
                           selgw_config **out)
{
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (!path)
        return SELGW_ERR_INVALID;
    selgw_yaml *yaml;
    selgw_err err = selgw_yaml_load_file(path, NULL, diag, &yaml);
    if (err != SELGW_OK)
        return err;
    err = load_from_yaml(yaml, false, skip_secrets, diag, out);
    selgw_yaml_free(yaml);
    return err;
}

selgw_err selgw_config_load_file(const char *path, selgw_diag *diag, selgw_config **out)
{
    return load_file(path, false, diag, out);
}

selgw_err selgw_config_load_file_read_only(const char *path, selgw_diag *diag, selgw_config **out)
{
    return load_file(path, true, diag, out);
}

selgw_err selgw_config_load_builtin_demo(selgw_diag *diag, selgw_config **out)
{
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (selgw_embedded_demo_count < 1) {
        selgw_diag_add(diag, "<builtin>/demo.yaml", 0, 0, "no demo config compiled in");
        return SELGW_ERR_CONFIG;
    }
    return load_string("<builtin>/demo.yaml", selgw_embedded_demo[0].data,
                       selgw_embedded_demo[0].size, true, diag, out);
}

/* ---- queries ---- */

const char *selgw_device_profile_name(const selgw_device *dev)
{
    return dev->profile->name;
}

const char *selgw_device_field_name(const selgw_device *dev, int field)
{
    return dev->profile->fields[field].name;
}

selgw_calibration selgw_device_calibration(const selgw_device *dev, int field)
{
    for (size_t i = 0; dev && i < dev->calibration_count; i++)
        if (dev->calibrations[i].field == field)
            return dev->calibrations[i].cal;
    return (selgw_calibration){1, 0};
}

int32_t selgw_config_local_day(const selgw_config *cfg, int64_t utc_ns)
{
    return selgw_local_day(utc_ns, cfg ? cfg->utc_offset_minutes : 0);
}

size_t selgw_plot_contracts_on(const selgw_plot *plot, int32_t day, const selgw_contract **out,
                               size_t max)
{
    size_t total = 0;
    for (size_t i = 0; plot && i < plot->contract_count; i++) {
        const selgw_contract *c = &plot->contracts[i];
        if (day < c->from_day || day > c->to_day)
            continue;
        if (out && total < max)
            out[total] = c;
        total++;
    }
    return total;
}

selgw_err selgw_device_plan(const selgw_device *dev, selgw_plan **out)
{
    unsigned max_registers = dev->max_read_registers > 0
                                 ? (unsigned)dev->max_read_registers
                                 : (unsigned)dev->profile->max_read_registers;
    unsigned max_gap = dev->max_gap >= 0 ? (unsigned)dev->max_gap : (unsigned)dev->profile->max_gap;
    return selgw_plan_build(dev->profile, max_registers, max_gap, out);
}

/* Requests one poll of the device needs, or 0 if it cannot be planned. */
static size_t device_requests(const selgw_device *dev)
{
    selgw_plan *plan = NULL;
    if (!dev->profile || selgw_device_plan(dev, &plan) != SELGW_OK)
        return 0;
    size_t count = plan->request_count;
    selgw_plan_free(plan);
    return count;
}

void selgw_config_summary(const selgw_config *cfg, FILE *out)
{
    if (!cfg || !out)
        return;
    fprintf(out, "gateway %s", cfg->gateway_id ? cfg->gateway_id : "?");
    if (cfg->gateway_location && *cfg->gateway_location)
        fprintf(out, " (%s)", cfg->gateway_location);
    char offset[SELGW_OFFSET_TEXT_SIZE];
    fprintf(out, ", local time UTC%s\n", selgw_format_utc_offset(cfg->utc_offset_minutes, offset));
    fprintf(out, "config %s\n", cfg->path ? cfg->path : "?");
    fprintf(out, "%zu %s, %zu %s, %zu %s, %zu %s; %zu %s available\n", cfg->base_count,
            plural(cfg->base_count, "base", "bases"), cfg->plot_count,
            plural(cfg->plot_count, "plot", "plots"), cfg->bus_count,
            plural(cfg->bus_count, "bus", "buses"), cfg->device_count,
            plural(cfg->device_count, "device", "devices"), selgw_profile_set_count(cfg->profiles),
            plural(selgw_profile_set_count(cfg->profiles), "profile", "profiles"));
    size_t total = 0;
    for (size_t b = 0; b < cfg->bus_count; b++) {
        const selgw_bus *bus = &cfg->buses[b];
        size_t devices = 0, requests = 0;
        for (size_t d = 0; d < cfg->device_count; d++) {
            if (cfg->devices[d].bus != b)
                continue;
            devices++;
            requests += device_requests(&cfg->devices[d]);
        }
        total += requests;
        char link[512];
        if (bus->kind == SELGW_BUS_RTU)
            snprintf(link, sizeof(link), "rtu %s %d %d%c%d", bus->device, bus->baud, bus->data_bits,
                     bus->parity, bus->stop_bits);
        else
            snprintf(link, sizeof(link), "tcp %s:%d", bus->host, bus->port);
        fprintf(out, "  bus %s: %s, %zu %s, %zu Modbus %s per poll cycle\n", bus->id, link, devices,
                plural(devices, "device", "devices"), requests,
                plural(requests, "request", "requests"));
    }
    fprintf(out, "total: %zu Modbus %s per poll cycle\n", total,
            plural(total, "request", "requests"));

    const selgw_journal_config *j = &cfg->journal;
    char segment[32], budget[48], retention[32], commit[32], interval[32];
    format_size(segment, sizeof(segment), j->segment_bytes);
    if (j->max_backlog_bytes)
        format_size(budget, sizeof(budget), j->max_backlog_bytes);
    else
        snprintf(budget, sizeof(budget), "the disk's");
    format_duration(retention, sizeof(retention), (double)j->retention_ms);
    format_duration(commit, sizeof(commit), j->commit_interval_ms);
    format_duration(interval, sizeof(interval), j->fsync_interval_ms);
    fprintf(out,
            "journal %s: fsync %s%s%s, commit within %s, segments of %s, undelivered data "
            "limit %s (when full: %s), delivered data kept %s\n",
            j->dir ? j->dir : "?",
            j->fsync == SELGW_FSYNC_BATCH      ? "batch"
            : j->fsync == SELGW_FSYNC_INTERVAL ? "every "
                                               : "none",
            j->fsync == SELGW_FSYNC_INTERVAL ? interval : "",
            j->fsync == SELGW_FSYNC_NONE ? " (a power cut loses records)" : "", commit, segment,
            budget, j->when_full == SELGW_WHEN_FULL_STOP ? "stop" : "drop oldest", retention);
    const selgw_mqtt_config *m = &cfg->mqtt;
    if (m->enabled)
        fprintf(out, "sink mqtt: %s:%d, MQTT %s, QoS %d%s, topics %s/..., client id %s%s\n",
                m->host ? m->host : "?", m->port, m->protocol == 5 ? "5" : "3.1.1", m->qos,
                m->ca_file ? (m->cert_file ? ", TLS with client certificate" : ", TLS") : "",
                m->topic_prefix ? m->topic_prefix : "?", m->client_id ? m->client_id : "?",
                m->username ? ", with username" : "");
    const selgw_mqtt_config *u = &cfg->uplink;
    if (u->enabled)
        fprintf(out,
                "sink uplink: %s:%d, MQTT 5, QoS 1, evidence to %s/%s/evidence, client id "
                "%s%s%s\n",
                u->host ? u->host : "?", u->port, u->topic_prefix ? u->topic_prefix : "?",
                cfg->gateway_id ? cfg->gateway_id : "?", u->client_id ? u->client_id : "?",
                u->ca_file ? (u->cert_file ? ", TLS with client certificate" : ", TLS") : "",
                u->username ? ", with username" : "");
    if (u->enabled)
        fprintf(out, "sink uplink: witness statements from %s/%s/witness journaled%s%s\n",
                u->topic_prefix ? u->topic_prefix : "?", cfg->gateway_id ? cfg->gateway_id : "?",
                u->witness_keys ? " from the witnesses in " : " from any witness",
                u->witness_keys ? u->witness_keys : "");
    const selgw_influx_config *x = &cfg->influxdb;
    if (x->enabled) {
        if (x->api == 2)
            fprintf(out, "sink influxdb: %s, API v2, org %s, bucket %s, measurement %s\n",
                    x->url ? x->url : "?", x->org ? x->org : "?", x->bucket ? x->bucket : "?",
                    x->measurement ? x->measurement : "?");
        else
            fprintf(out, "sink influxdb: %s, API v1, database %s%s%s, measurement %s\n",
                    x->url ? x->url : "?", x->database ? x->database : "?",
                    x->retention_policy ? ", retention policy " : "",
                    x->retention_policy ? x->retention_policy : "",
                    x->measurement ? x->measurement : "?");
    }
    const selgw_webhook_config *w = &cfg->webhook;
    if (w->enabled) {
        const char *host;
        size_t host_len = selgw_url_host(w->url, &host);
        static const char *const formats[] = {"WeCom group robot", "DingTalk robot", "JSON POST"};
        fprintf(out, "sink webhook: alerts to a %s at %.*s%s, %s, at most %d a minute\n",
                formats[w->format], (int)host_len, host, w->secret ? " (signed)" : "",
                w->language == SELGW_LANG_EN ? "English" : "Chinese", w->rate_per_minute);
    }
    if (!m->enabled && !x->enabled && !w->enabled)
        fprintf(out, "no sinks: records stay in the journal\n");
    const selgw_signing_config *sg = &cfg->signing;
    if (sg->enabled) {
        char seal[32];
        format_duration(seal, sizeof(seal), sg->seal_interval_ms);
        fprintf(out, "signing: key %s, seal every %s\n", sg->secret_key ? sg->secret_key : "?",
                seal);
    } else {
        fprintf(out, "signing: off (records are hash-chained but not sealed)\n");
    }
    if (cfg->http.enabled)
        fprintf(out, "http: status API on %s (selgw status, /metrics)%s%s\n", cfg->http.listen,
                cfg->http.password_hash ? ", with a password" : "",
                cfg->http.tls_cert ? ", over TLS" : "");
    else
        fprintf(out, "http: off (no status API)\n");
    if (cfg->alert_count) {
        fprintf(out, "alerts: %zu %s:", cfg->alert_count,
                plural(cfg->alert_count, "rule", "rules"));
        for (size_t i = 0; i < cfg->alert_count; i++)
            fprintf(out, " %s (%s)", cfg->alerts[i].id,
                    selgw_alert_condition_name(cfg->alerts[i].condition));
        fprintf(out, "\n");
    } else {
        fprintf(out, "alerts: none\n");
    }
    for (size_t i = 0; i < cfg->product_count; i++) {
        const selgw_product *p = &cfg->products[i];
        fprintf(out, "product %s: crops", p->name);
        for (size_t k = 0; k < p->crop_count; k++)
            fprintf(out, " %s", p->crops[k]);
        fprintf(out, "; area:");
        for (size_t k = 0; k < p->county_count; k++)
            fprintf(out, " %s", p->counties[k]);
        for (size_t k = 0; k < p->township_count; k++)
            fprintf(out, " %s", p->townships[k]);
        if (p->polygon_count)
            fprintf(out, " polygon of %zu points", p->polygon_count);
        fprintf(out, "; lot evidence from %d days before the end of harvest\n", p->season_days);
    }
}

/* ---- alerts (docs/ALERTS.md) ---- */

/* A list of ids (plots) or crop names: strings, each checked as its option says. */
static char **read_name_list(loader *ld, struct fy_node *list, const char *what, size_t *count)
{
    size_t n = selgw_yaml_count(list);
    *count = 0;
    if (n == 0)
        return NULL;
    char **out = calloc(n, sizeof *out);
    if (!out) {
        ld->failed = true;
        return NULL;
    }
    void *iter = NULL;
    struct fy_node *entry;
    while ((entry = selgw_yaml_seq_next(list, &iter)) && *count < n) {
        char *text = NULL;
        if (!selgw_yaml_string(ld->yaml, entry, what, &text))
            continue;
        if (!*text || has_control_chars(text)) {
            error_at(ld, entry, "%s: an entry must be a non-empty name", what);
            free(text);
            continue;
        }
        out[(*count)++] = text;
    }
    return out;
}

static void parse_alert(loader *ld, struct fy_node *item, selgw_alert_rule *rule,
                        struct alert_nodes *nodes)
{
    nodes->item = item;
    if (!check_section_keys(ld->yaml, item, "alert", "alert rule"))
        return;
    read_option(ld, item, "alert", "id", "alert rule", &rule->id, &nodes->id);
    char what[160];
    describe_item(what, sizeof(what), "alert rule", rule->id);
    if (read_option(ld, item, "alert", "crops", what, NULL, &nodes->crops) == READ_OK)
        rule->crops = read_name_list(ld, nodes->crops, "crops", &rule->crop_count);
    else
        nodes->crops = NULL;
    if (read_option(ld, item, "alert", "plots", what, NULL, &nodes->plots) == READ_OK)
        rule->plots = read_name_list(ld, nodes->plots, "plots", &rule->plot_count);
    else
        nodes->plots = NULL;
    if (read_option(ld, item, "alert", "field", what, &rule->field, &nodes->field) != READ_OK)
        nodes->field = NULL;
    read_option(ld, item, "alert", "source", what, &rule->source, NULL);

    /* exactly one condition */
    static const char *const conditions[] = {"below", "above", "stale_after", "stuck_for"};
    struct fy_node *cond_nodes[4] = {NULL};
    read_result got[4];
    got[0] = read_option(ld, item, "alert", "below", what, &rule->threshold, &cond_nodes[0]);
    double above = 0;
    got[1] = read_option(ld, item, "alert", "above", what, &above, &cond_nodes[1]);
    got[2] =
        read_option(ld, item, "alert", "stale_after", what, &rule->stale_after, &cond_nodes[2]);
    got[3] = read_option(ld, item, "alert", "stuck_for", what, &rule->stuck_for_ms, &cond_nodes[3]);
    int which = -1, given = 0;
    for (int i = 0; i < 4; i++)
        if (got[i] != READ_ABSENT) {
            given++;
            if (which < 0)
                which = i;
            else
                error_at(ld, cond_nodes[i],
                         "%s: '%s' and '%s' are two conditions; a rule has one (write two rules)",
                         what, conditions[which], conditions[i]);
        }
    if (given == 0) {
        error_at(ld, item,
                 "%s has no condition: give one of below (with clear_above), above "
                 "(with clear_below), stale_after or stuck_for",
                 what);
        return;
    }
    struct fy_node *clear_node = NULL, *other_clear = NULL, *for_node = NULL,
                   *clear_for_node = NULL;
    double clear_above = 0, clear_below = 0;
    read_result clear_above_got =
        read_option(ld, item, "alert", "clear_above", what, &clear_above, &clear_node);
    read_result clear_below_got =
        read_option(ld, item, "alert", "clear_below", what, &clear_below, &other_clear);
    read_result for_got = read_option(ld, item, "alert", "for", what, &rule->for_ms, &for_node);
    read_result clear_for_got =
        read_option(ld, item, "alert", "clear_for", what, &rule->clear_for_ms, &clear_for_node);
    if (clear_for_got == READ_ABSENT)
        rule->clear_for_ms = rule->for_ms;
    bool threshold_rule = which == 0 || which == 1;
    if (!threshold_rule) {
        struct fy_node *stray[] = {clear_above_got != READ_ABSENT ? clear_node : NULL,
                                   clear_below_got != READ_ABSENT ? other_clear : NULL,
                                   for_got != READ_ABSENT ? for_node : NULL,
                                   clear_for_got != READ_ABSENT ? clear_for_node : NULL};
        static const char *const stray_keys[] = {"clear_above", "clear_below", "for", "clear_for"};
        for (int i = 0; i < 4; i++)
            if (stray[i])
                error_at(ld, stray[i], "%s: '%s' goes with below or above, not with %s", what,
                         stray_keys[i], conditions[which]);
    }
    switch (which) {
    case 0:
        rule->condition = SELGW_ALERT_BELOW;
        if (clear_below_got != READ_ABSENT)
            error_at(ld, other_clear,
                     "%s: clear_below goes with above; below clears with "
                     "clear_above",
                     what);
        if (clear_above_got == READ_ABSENT)
            error_at(ld, cond_nodes[0],
                     "%s: below needs clear_above (the value above which "
                     "it clears: the hysteresis)",
                     what);
        else if (clear_above_got == READ_OK && got[0] == READ_OK &&
                 !(clear_above > rule->threshold))
            error_at(ld, clear_node,
                     "%s: clear_above (%g) must be above below (%g), or the "
                     "alert would flap at the threshold",
                     what, clear_above, rule->threshold);
        rule->clear_threshold = clear_above;
        break;
    case 1:
        rule->condition = SELGW_ALERT_ABOVE;
        rule->threshold = above;
        if (clear_above_got != READ_ABSENT)
            error_at(ld, clear_node,
                     "%s: clear_above goes with below; above clears with "
                     "clear_below",
                     what);
        if (clear_below_got == READ_ABSENT)
            error_at(ld, cond_nodes[1],
                     "%s: above needs clear_below (the value below which "
                     "it clears: the hysteresis)",
                     what);
        else if (clear_below_got == READ_OK && got[1] == READ_OK && !(clear_below < above))
            error_at(ld, other_clear,
                     "%s: clear_below (%g) must be below above (%g), or the "
                     "alert would flap at the threshold",
                     what, clear_below, above);
        rule->clear_threshold = clear_below;
        break;
    case 2:
        rule->condition = SELGW_ALERT_STALE;
        rule->threshold = rule->clear_threshold = NAN;
        break;
    default:
        rule->condition = SELGW_ALERT_STUCK;
        rule->threshold = rule->clear_threshold = NAN;
        break;
    }
    if (threshold_rule && !rule->field)
        error_at(ld, item, "%s: %s needs a field", what, conditions[which]);
}

static void parse_alerts(loader *ld, struct fy_node *root)
{
    selgw_config *cfg = ld->cfg;
    size_t n;
    struct fy_node *list = root_list(ld, root, "alerts", &n);
    ALLOC_ITEMS(ld, n, cfg->alerts, cfg->alert_count, ld->alert_nodes);
    void *iter = NULL;
    struct fy_node *item;
    while (!ld->failed && (item = selgw_yaml_seq_next(list, &iter)) && cfg->alert_count < n) {
        size_t i = cfg->alert_count++;
        parse_alert(ld, item, &cfg->alerts[i], &ld->alert_nodes[i]);
    }
}

bool selgw_alert_rule_applies(const selgw_alert_rule *rule, const char *plot_id, const char *crop)
{
    if (rule->crop_count == 0 && rule->plot_count == 0)
        return true;
    for (size_t i = 0; i < rule->plot_count; i++)
        if (plot_id && !strcmp(rule->plots[i], plot_id))
            return true;
    for (size_t i = 0; i < rule->crop_count; i++)
        if (crop && !strcmp(rule->crops[i], crop))
            return true;
    return false;
}

/* The n-th entry node of a sequence. */
static struct fy_node *seq_entry(struct fy_node *seq, size_t n)
{
    void *iter = NULL;
    struct fy_node *entry = NULL;
    for (size_t i = 0; i <= n; i++)
        if (!(entry = selgw_yaml_seq_next(seq, &iter)))
            return seq;
    return entry;
}

/* After cross_check: ids unique, the scope's plots and crops known, and the field one that
 * a device of the scope has. An unknown crop is an error, not a warning: a rule that
 * watches nothing because of a typo would stay silent through the frost it was written for. */
static void check_alerts(loader *ld)
{
    selgw_config *cfg = ld->cfg;
    if (cfg->alert_count == 0)
        return;
    char **ids = calloc(cfg->alert_count, sizeof *ids);
    struct fy_node **id_nodes = calloc(cfg->alert_count, sizeof *id_nodes);
    char **plot_ids = calloc(cfg->plot_count + 1, sizeof *plot_ids);
    const char **crops = calloc(cfg->plot_count + 1, sizeof *crops);
    const char **fields = calloc(SELGW_READING_MAX_FIELDS * 4 + 1, sizeof *fields);
    if (!ids || !id_nodes || !plot_ids || !crops || !fields) {
        ld->failed = true;
        goto done;
    }
    for (size_t i = 0; i < cfg->alert_count; i++) {
        ids[i] = cfg->alerts[i].id;
        id_nodes[i] = ld->alert_nodes[i].id;
    }
    check_duplicate_ids(ld, "alert rule", cfg->alert_count, ids, id_nodes);
    GATHER_IDS(cfg->plots, cfg->plot_count, plot_ids);
    size_t crop_count = 0;
    for (size_t i = 0; i < cfg->plot_count; i++) {
        bool seen = false;
        for (size_t j = 0; j < crop_count && cfg->plots[i].crop; j++)
            seen |= !strcmp(crops[j], cfg->plots[i].crop);
        if (!seen && cfg->plots[i].crop)
            crops[crop_count++] = cfg->plots[i].crop;
    }
    for (size_t r = 0; r < cfg->alert_count; r++) {
        selgw_alert_rule *rule = &cfg->alerts[r];
        struct alert_nodes *nodes = &ld->alert_nodes[r];
        for (size_t i = 0; i < rule->plot_count; i++)
            resolve(ld, seq_entry(nodes->plots, i), "plot", cfg->plot_count, plot_ids);
        for (size_t i = 0; i < rule->crop_count; i++) {
            bool known = false;
            for (size_t j = 0; j < crop_count; j++)
                known |= !strcmp(crops[j], rule->crops[i]);
            if (!known)
                suggest_error(ld, seq_entry(nodes->crops, i), "crop", rule->crops[i], crops,
                              "no plot of this config grows it");
        }
        if (!rule->field)
            continue;
        /* the fields the devices of the scope's plots have */
        size_t field_count = 0;
        bool found = false;
        for (size_t d = 0; d < cfg->device_count && !found; d++) {
            const selgw_device *dev = &cfg->devices[d];
            if (dev->plot == SIZE_MAX || !selgw_alert_rule_applies(rule, cfg->plots[dev->plot].id,
                                                                   cfg->plots[dev->plot].crop))
                continue;
            if (!dev->profile) {
                found = true; /* its unknown profile is reported: no guess about its fields */
                break;
            }
            for (size_t f = 0; f < dev->profile->field_count; f++) {
                const char *name = selgw_device_field_name(dev, (int)f);
                if (!strcmp(name, rule->field)) {
                    found = true;
                    break;
                }
                bool seen = false;
                for (size_t k = 0; k < field_count; k++)
                    seen |= !strcmp(fields[k], name);
                if (!seen && field_count < SELGW_READING_MAX_FIELDS * 4)
                    fields[field_count++] = name;
            }
        }
        if (found)
            continue;
        char what[160];
        describe_item(what, sizeof(what), "alert rule", rule->id);
        if (field_count == 0) {
            error_at(ld, nodes->field, "%s: no device is on a plot of its scope", what);
            continue;
        }
        size_t need = 1;
        for (size_t k = 0; k < field_count; k++)
            need += strlen(fields[k]) + 2;
        char *list = malloc(need);
        if (!list) {
            ld->failed = true;
            break;
        }
        size_t len = 0;
        for (size_t k = 0; k < field_count; k++)
            len += (size_t)sprintf(list + len, "%s%s", k ? ", " : "", fields[k]);
        fields[field_count] = NULL;
        const char *guess = selgw_closest(rule->field, fields);
        error_at(ld, nodes->field,
                 "%s: no device of its plots has a field '%s'%s%s%s; they have: %s", what,
                 rule->field, guess ? " (did you mean '" : "", guess ? guess : "",
                 guess ? "'?)" : "", list);
        free(list);
    }
    /* a rule with a field but no device at all in scope is reported above; a rule without
     * a field watches what its scope has */
done:
    free(ids);
    free(id_nodes);
    free(plot_ids);
    free(crops);
    free(fields);
}

static void free_alerts(selgw_config *cfg)
{
    for (size_t i = 0; i < cfg->alert_count; i++) {
        selgw_alert_rule *rule = &cfg->alerts[i];
        free(rule->id);
        free(rule->field);
        free(rule->source);
        for (size_t j = 0; j < rule->crop_count; j++)
            free(rule->crops[j]);
        free(rule->crops);
        for (size_t j = 0; j < rule->plot_count; j++)
            free(rule->plots[j]);
        free(rule->plots);
    }
    free(cfg->alerts);
}

/* ---- products: geographic indications (docs/CONFIG.md) ---- */

static void parse_product(loader *ld, struct fy_node *item, selgw_product *p,
                          struct product_nodes *nodes)
{
    nodes->item = item;
    if (!check_section_keys(ld->yaml, item, "product", "product"))
        return;
    read_option(ld, item, "product", "name", "product", &p->name, &nodes->name);
    if (p->name && has_control_chars(p->name)) {
        error_at(ld, nodes->name, "name: control characters are not allowed");
    }
    char what[160];
    describe_item(what, sizeof(what), "product", p->name);
    if (read_option(ld, item, "product", "crops", what, NULL, &nodes->crops) == READ_OK) {
        p->crops = read_name_list(ld, nodes->crops, "crops", &p->crop_count);
        if (p->crop_count == 0 && selgw_yaml_count(nodes->crops) == 0)
            error_at(ld, nodes->crops, "%s: crops must name at least one crop", what);
    } else {
        nodes->crops = NULL;
    }
    read_option(ld, item, "product", "season_days", what, &p->season_days, NULL);
    struct fy_node *url = NULL;
    if (read_option(ld, item, "product", "lot_url", what, &p->lot_url, &url) == READ_OK) {
        bool http = !strncasecmp(p->lot_url, "http://", 7) || !strncasecmp(p->lot_url, "https://", 8);
        if (!http || has_control_chars(p->lot_url) || strchr(p->lot_url, ' ') ||
            !strstr(p->lot_url, "{lot}"))
            error_at(ld, url,
                     "%s: lot_url '%s' must be an http:// or https:// URL without spaces that "
                     "contains {lot} (where the lot id goes)",
                     what, p->lot_url);
    }
    struct fy_node *area;
    if (read_option(ld, item, "product", "area", what, NULL, &area) != READ_OK ||
        !check_section_keys(ld->yaml, area, "area", "area"))
        return;
    struct fy_node *list;
    read_result got[3];
    if ((got[0] = read_option(ld, area, "area", "counties", what, NULL, &list)) == READ_OK)
        p->counties = read_name_list(ld, list, "counties", &p->county_count);
    if ((got[1] = read_option(ld, area, "area", "townships", what, NULL, &list)) == READ_OK)
        p->townships = read_name_list(ld, list, "townships", &p->township_count);
    if ((got[2] = read_option(ld, area, "area", "polygon", what, NULL, &list)) == READ_OK)
        p->polygon = read_points(ld, list, "polygon", &p->polygon_count);
    /* an area of nothing would hold no plot at all */
    if (got[0] == READ_ABSENT && got[1] == READ_ABSENT && got[2] == READ_ABSENT)
        error_at(ld, area, "%s: the area needs counties, townships or a polygon", what);
    else if (got[0] == READ_OK && got[1] != READ_OK && got[2] != READ_OK && !p->county_count)
        error_at(ld, area, "%s: the area's list of counties is empty", what);
    else if (got[1] == READ_OK && got[0] != READ_OK && got[2] != READ_OK && !p->township_count)
        error_at(ld, area, "%s: the area's list of townships is empty", what);
}

static void parse_products(loader *ld, struct fy_node *root)
{
    selgw_config *cfg = ld->cfg;
    size_t n;
    struct fy_node *list = root_list(ld, root, "products", &n);
    ALLOC_ITEMS(ld, n, cfg->products, cfg->product_count, ld->product_nodes);
    void *iter = NULL;
    struct fy_node *item;
    while (!ld->failed && (item = selgw_yaml_seq_next(list, &iter)) && cfg->product_count < n) {
        size_t i = cfg->product_count++;
        cfg->products[i].season_days = (int)option_find("product", "season_days")->default_value;
        parse_product(ld, item, &cfg->products[i], &ld->product_nodes[i]);
    }
}

/* Names unique, and every crop one that a plot of the config grows (a typo would make a
 * product that covers nothing). */
static void check_products(loader *ld)
{
    selgw_config *cfg = ld->cfg;
    for (size_t j = 0; j < cfg->product_count; j++) {
        const selgw_product *b = &cfg->products[j];
        for (size_t i = 0; b->name && i < j; i++) {
            if (!cfg->products[i].name || strcmp(cfg->products[i].name, b->name))
                continue;
            selgw_yaml_pos first = selgw_yaml_node_pos(ld->product_nodes[i].name);
            error_at(ld, ld->product_nodes[j].name,
                     "duplicate product name '%s' (first defined at %d:%d)", b->name, first.line,
                     first.column);
            break;
        }
    }
    const char **crops = calloc(cfg->plot_count + 1, sizeof *crops);
    if (!crops) {
        ld->failed = true;
        return;
    }
    size_t crop_count = 0;
    for (size_t i = 0; i < cfg->plot_count; i++) {
        bool seen = false;
        for (size_t j = 0; j < crop_count && cfg->plots[i].crop; j++)
            seen |= !strcmp(crops[j], cfg->plots[i].crop);
        if (!seen && cfg->plots[i].crop)
            crops[crop_count++] = cfg->plots[i].crop;
    }
    for (size_t p = 0; p < cfg->product_count; p++) {
        const selgw_product *prod = &cfg->products[p];
        for (size_t i = 0; i < prod->crop_count; i++) {
            bool known = false;
            for (size_t j = 0; j < crop_count; j++)
                known |= !strcmp(crops[j], prod->crops[i]);
            if (!known)
                suggest_error(ld, seq_entry(ld->product_nodes[p].crops, i), "crop", prod->crops[i],
                              crops, "no plot of this config grows it");
        }
    }
    free(crops);
}

static void free_products(selgw_config *cfg)
{
    for (size_t i = 0; i < cfg->product_count; i++) {
        selgw_product *p = &cfg->products[i];
        free(p->name);
        for (size_t j = 0; j < p->crop_count; j++)
            free(p->crops[j]);
        free(p->crops);
        for (size_t j = 0; j < p->county_count; j++)
            free(p->counties[j]);
        free(p->counties);
        for (size_t j = 0; j < p->township_count; j++)
            free(p->townships[j]);
        free(p->townships);
        free(p->polygon);
        free(p->lot_url);
    }
    free(cfg->products);
}
