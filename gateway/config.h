/* selgw: the configuration an operator writes (YAML), parsed and validated.
 *
 * Loading parses into a fresh selgw_config, validates every value with its FILE:LINE:COLUMN,
 * cross-checks references, and only then hands the result over: a caller keeps its old
 * config until a new one is fully valid. The format is documented in docs/CONFIG.md and
 * config/example-tea-base.yaml. Defaults and bounds live in one table in config.c. */
#ifndef SELGW_CONFIG_H
#define SELGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/diag.h"
#include "base/error.h"
#include "journal/journal.h" /* selgw_journal_config */
#include "journal/record.h"  /* selgw_alert_condition */
#include "sensors/calibration.h"

/* The sensor library's types the config refers to; the .c files that use them include
 * their headers ("sensors/profile.h", "sensors/plan.h"). */
struct selgw_profile;
struct selgw_profile_set;
struct selgw_plan;

/* Longest id (of the gateway, a base, plot, bus, device, household, contract, profile...)
 * in bytes. Ids name evidence chains ("device/<id>"), MQTT topics and log lines; the limit
 * keeps every name built from them bounded, and the config refuses a longer id with its
 * position. */
#define SELGW_ID_MAX 64

/* A household's contract on a plot, valid from from_day to to_day inclusive, in days since
 * 1970-01-01 in the gateway's local time (gateway.utc_offset). Households are referred to
 * by codes only, never by personal data. */
typedef struct selgw_contract {
    char *household; /* household code, e.g. "HH-017" */
    char *contract;  /* contract id, e.g. "ZY-2025-031" */
    int32_t from_day;
    int32_t to_day; /* INT32_MAX when open-ended */
} selgw_contract;

typedef struct selgw_base {
    char *id;
    char *name; /* may be Chinese text */
    char *county;
    char *township;
    bool has_coordinates;
    double latitude, longitude; /* WGS84 degrees */
} selgw_base;

typedef struct selgw_plot {
    char *id;
    char *chain;    /* its evidence chain, "plot/<id>" */
    size_t base;    /* index into selgw_config.bases */
    char *crop;     /* e.g. "tea", "konjac" */
    double area_mu; /* 亩 (1 mu = 666.7 m2); 0 when not given */
    size_t contract_count;
    selgw_contract *contracts;
    /* Where the plot lies (optional `location:`): a point, or a boundary of at least three
     * [latitude, longitude] points (WGS84 degrees), or neither. */
    bool has_point;
    double latitude, longitude;
    size_t boundary_count;
    double (*boundary)[2];
} selgw_plot;

/* A geographic-indication product (`products:`, docs/CONFIG.md): its protected area, the
 * crops it covers, how far before harvest a lot's evidence starts, and where the
 * enterprise publishes a lot of it. */
typedef struct selgw_product {
    char *name; /* e.g. 紫阳富硒茶 */
    size_t crop_count;
    char **crops;
    size_t county_count;
    char **counties;
    size_t township_count;
    char **townships;
    size_t polygon_count; /* 0: no polygon; else at least 3 [latitude, longitude] points */
    double (*polygon)[2];
    int season_days;
    char *lot_url; /* a URL with "{lot}" in it, or NULL */
} selgw_product;

typedef enum selgw_bus_kind { SELGW_BUS_TCP, SELGW_BUS_RTU } selgw_bus_kind;

typedef struct selgw_bus {
    char *id;
    selgw_bus_kind kind;
    /* TCP */
    char *host;
    int port;
    /* RTU */
    char *device; /* e.g. /dev/ttyUSB0 or /dev/serial/by-id/... */
    int baud;
    char parity; /* 'N', 'E', 'O' */
    int data_bits;
    int stop_bits;
    /* both */
    int response_timeout_ms;
    int frame_delay_ms; /* extra silence between frames; RTU always keeps at least 3.5 chars */
    int retries;        /* further attempts of a failed read within one poll */
} selgw_bus;

typedef struct selgw_field_calibration {
    int field; /* index into the device profile's fields */
    selgw_calibration cal;
} selgw_field_calibration;

typedef struct selgw_device {
    char *id;
    char *chain;                  /* its evidence chain, "device/<id>" */
    size_t bus;                   /* index into selgw_config.buses */
    size_t plot;                  /* index into selgw_config.plots */
    int unit_id;                  /* 1..247 */
    const struct selgw_profile *profile; /* owned by selgw_config.profiles */
    int interval_ms;
    char *serial;           /* serial number printed on the sensor; "" if not given */
    int max_read_registers; /* 0 = the profile's */
    int max_gap;            /* -1 = the profile's */
    size_t calibration_count;
    selgw_field_calibration *calibrations;
} selgw_device;

typedef struct selgw_mqtt_config {
    bool enabled;     /* the config has an `mqtt:` section */
    char *host;
    int port;         /* default 1883, 8883 with TLS */
    int protocol;     /* 311 (MQTT 3.1.1) or 5 */
    int qos;          /* 0, 1 (default) or 2 */
    char *topic_prefix; /* default "selgw" */
    char *client_id;  /* default "selgw-<gateway id>" */
    char *username;   /* NULL when none */
    char *password;   /* read from password_file or password_env at load; never logged */
    char *ca_file;    /* TLS when ca_file is set */
    char *cert_file;  /* client certificate, with key_file */
    char *key_file;
    bool tls_insecure; /* skip host name verification: tests only */
    int keepalive_s;
    int max_inflight; /* QoS>0 messages awaiting PUBACK at once */
    int reconnect_min_ms, reconnect_max_ms;
    /* uplink only: a file of the witness keys whose statements it journals (docs/KEYS.md
     * format); NULL: any witness's well-signed statement */
    char *witness_keys;
} selgw_mqtt_config;

typedef struct selgw_influx_config {
    bool enabled;     /* the config has an `influxdb:` section */
    char *url;        /* e.g. http://127.0.0.1:8086 */
    int api;          /* 1: /write?db=&rp=, 2: /api/v2/write?org=&bucket= */
    char *database;   /* v1 */
    char *retention_policy; /* v1, NULL for the database's default */
    char *username;   /* v1, NULL when none */
    char *password;   /* v1, from password_file or password_env; never logged */
    char *org;        /* v2 */
    char *bucket;     /* v2 */
    char *token;      /* v2, from token_file or token_env; never logged */
    char *measurement; /* default "reading" */
    int batch_lines;  /* up to 5000 (default) */
    bool gzip;        /* default true */
    int timeout_ms;   /* one request, default 10 s */
    int retry_min_ms, retry_max_ms;
    char *dead_letter_path; /* lines the server rejected, with its reason; relative to the
                             * journal dir when not absolute; default "dead-letter.lp" */
} selgw_influx_config;

/* Alerts sent to a group robot or any JSON endpoint (docs/WEBHOOK.md). */
typedef enum selgw_webhook_format {
    SELGW_WEBHOOK_WECOM,    /* enterprise WeChat (WeCom) group robot */
    SELGW_WEBHOOK_DINGTALK, /* DingTalk custom robot */
    SELGW_WEBHOOK_JSON,     /* the alert record's JSON with a rendered "message" */
} selgw_webhook_format;

typedef enum selgw_webhook_style {
    SELGW_WEBHOOK_MARKDOWN, /* the robots' markdown message (default) */
    SELGW_WEBHOOK_TEXT,     /* their plain text message */
} selgw_webhook_style;

/* The language of texts people read: Chinese first, English as a switch. */
typedef enum selgw_language {
    SELGW_LANG_ZH,
    SELGW_LANG_EN,
} selgw_language;

typedef struct selgw_webhook_config {
    bool enabled; /* a `webhook:` section with enabled: true (the default) */
    selgw_webhook_format format;
    selgw_webhook_style style;
    selgw_language language;
    bool mention_all; /* raised alerts notify everyone in the group (@all) */
    char *url;        /* from url_file or url_env: holds the robot's key, a secret; never logged */
    char *secret;     /* DingTalk sign mode, from secret_file or secret_env; NULL when none */
    int timeout_ms;
    int rate_per_minute; /* messages a minute at most: spaced out, never dropped */
    int retry_min_ms, retry_max_ms;
    int dead_letter_after;  /* refusals of one alert before it is set aside */
    char *dead_letter_path; /* relative to the journal dir when not absolute */
} selgw_webhook_config;

/* The host (and port) of a URL, which is all of a webhook URL that may be shown: its path
 * or query holds the robot's key. *host points into url; returns its length. Pure. */
size_t selgw_url_host(const char *url, const char **host);

/* Signed seals over the evidence chains (docs/EVIDENCE.md). Without a `signing:` section
 * records are still hash-chained, but nothing is sealed, so nothing can be exported as
 * evidence. */
typedef struct selgw_signing_config {
    bool enabled;
    char *secret_key;     /* file written by `selgw keygen`; must be private (0600) */
    int seal_interval_ms; /* a seal at least this often, and at every clean stop */
} selgw_signing_config;

/* The local HTTP API of a running gateway (docs/API.md): on by default, on loopback. */
typedef struct selgw_http_config {
    bool enabled;
    char *listen; /* "127.0.0.1:9108" (base/listen.h) */
    /* The password of every page and request (HTTP Basic): a crypto_pwhash_str string
     * from password_hash or the first line of password_file (`selgw passwd` makes it);
     * NULL: none. Not read by the read-only commands. */
    char *password_hash;
    char *tls_cert, *tls_key; /* PEM files: HTTPS only; both or neither */
} selgw_http_config;

/* An alert rule (docs/ALERTS.md): one condition on the devices of its scope's plots. */
typedef struct selgw_alert_rule {
    char *id;
    selgw_alert_condition condition;
    char *field;            /* the field watched; NULL: any field (stuck), the device (stale) */
    double threshold;       /* below/above: raised past it */
    double clear_threshold; /* below: clear_above; above: clear_below (the hysteresis) */
    int64_t for_ms;         /* below/above: how long the condition holds before it is raised */
    int64_t clear_for_ms;   /* how long past the clearing threshold before it clears */
    int stale_after;        /* stale: polls in a row without a valid reading */
    int64_t stuck_for_ms;   /* stuck: the same value, bit for bit, this long */
    char *source;           /* the agronomic source of the threshold; NULL when not given */
    size_t crop_count;      /* scope: plots of these crops ... */
    char **crops;
    size_t plot_count; /* ... and these plots (ids, each one of the config's); none: all */
    char **plots;
} selgw_alert_rule;

/* Whether a rule watches a plot (its id and crop). */
bool selgw_alert_rule_applies(const selgw_alert_rule *rule, const char *plot_id, const char *crop);

typedef struct selgw_config {
    char *path; /* file it was loaded from, or the display name */
    char *gateway_id;
    char *gateway_location;
    int utc_offset_minutes;      /* local time of contract dates; default +08:00 (China) */
    struct selgw_profile_set *profiles; /* built-in profiles plus profiles_dir, owned */
    size_t base_count;
    selgw_base *bases;
    size_t plot_count;
    selgw_plot *plots;
    size_t bus_count;
    selgw_bus *buses;
    size_t device_count;
    selgw_device *devices;
    selgw_journal_config journal;
    selgw_mqtt_config mqtt;
    /* the evidence uplink (`uplink:`, docs/ARCHIVE.md): the same keys as mqtt but protocol
     * (always 5) and qos (always 1) */
    selgw_mqtt_config uplink;
    selgw_influx_config influxdb;
    selgw_webhook_config webhook;
    selgw_signing_config signing;
    selgw_http_config http;
    size_t alert_count;
    selgw_alert_rule *alerts;
    size_t product_count;
    selgw_product *products;
} selgw_config;

/* Loads and validates. On success *out owns everything; on failure *out is NULL, every
 * problem found is in diag and the result is SELGW_ERR_CONFIG (or SELGW_ERR_IO, or
 * SELGW_ERR_NOMEM). */
selgw_err selgw_config_load_file(const char *path, selgw_diag *diag, selgw_config **out);
selgw_err selgw_config_load_string(const char *display_name, const char *yaml, size_t len,
                                   selgw_diag *diag, selgw_config **out);
/* The same for a command that only reads (selgw journal, export, annotate): every value is
 * checked as usual, but the sinks' passwords and tokens are not read (left empty), so such
 * a command needs neither their environment variables nor access to their files. */
selgw_err selgw_config_load_file_read_only(const char *path, selgw_diag *diag, selgw_config **out);

/* The demo configuration (config/demo.yaml) compiled into the binary. */
selgw_err selgw_config_load_builtin_demo(selgw_diag *diag, selgw_config **out);
void selgw_config_free(selgw_config *cfg); /* NULL is fine */

/* The reads one poll of the device needs, planned with the device's read limits, or its
 * profile's where the device sets none. Free with selgw_plan_free. */
selgw_err selgw_device_plan(const selgw_device *dev, struct selgw_plan **out);

/* The name of a device's profile, and of one of its profile's fields (field < the
 * profile's field count): for the layers above, which do not see the sensor types. */
const char *selgw_device_profile_name(const selgw_device *dev);
const char *selgw_device_field_name(const selgw_device *dev, int field);

/* The calibration of one field of a device; {1, 0} when none is configured. */
selgw_calibration selgw_device_calibration(const selgw_device *dev, int field);

/* Day number (days since 1970-01-01) in the gateway's local time of a UTC instant. */
int32_t selgw_config_local_day(const selgw_config *cfg, int64_t utc_ns);

/* The contracts of a plot valid on a given day: writes up to max pointers into out and
 * returns how many there are in all. */
size_t selgw_plot_contracts_on(const selgw_plot *plot, int32_t day, const selgw_contract **out,
                               size_t max);

/* Prints the summary `selgw check` shows: counts of bases, plots, buses, devices, and the
 * Modbus requests one poll cycle of every device needs (from the request plans). */
void selgw_config_summary(const selgw_config *cfg, FILE *out);

#endif
