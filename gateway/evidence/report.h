/* selgw: the report people read (docs/REPORT.md): what `selgw verify` found in one or more
 * bundles, as one self-contained HTML file, zh-CN first, English as an option.
 *
 * The report is a model and a renderer. `selgw verify` fills the model (one section per
 * bundle verified: a lot bundle has one per plot) from the same facts it prints on the
 * console; other code adds what verify does not know (the lot's JSON, the bundle's hash,
 * the plot's own location, the GI checks) to a section by its index; the renderer
 * (selgw_report_html) is a pure function of the model. Every string in the model is text
 * as the console shows it (safe_text.h: one inert line); the renderer HTML-escapes all of
 * them. */
#ifndef SELGW_REPORT_H
#define SELGW_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct selgw_report selgw_report;

/* lang "zh" (zh-CN) or "en"; NULL for any other text or out of memory. */
selgw_report *selgw_report_new(const char *lang);
/* Whether the report is in Chinese: texts made for it (the GI checks' reasons) follow it. */
bool selgw_report_is_zh(const selgw_report *r);
void selgw_report_free(selgw_report *r); /* NULL is fine */

/* Renders the report (selgw_report_html) and writes it to path whole or not at all
 * (base/durable.h). `why` says what failed. */
selgw_err selgw_report_write_html(selgw_report *r, const char *path, char *why, size_t cap);

/* The report as one HTML document (malloc'd, NUL-terminated, *len its length if len is
 * not NULL): inline CSS and SVG, no script, nothing loaded from anywhere. NULL when out of
 * memory. Pure. */
char *selgw_report_html(const selgw_report *r, size_t *len);

/* Prints an HTML file to PDF with headless Chromium (`chromium` on PATH, or
 * /usr/bin/chromium): SELGW_ERR_NOT_FOUND with `why` when there is none,
 * SELGW_ERR_IO when it fails or writes no PDF. */
selgw_err selgw_report_print_pdf(const char *html_path, const char *pdf_path, char *why,
                                 size_t cap);

/* s[0..n) as HTML text or attribute value, snprintf-style (base/text_writer.h; an entity
 * or character that does not fit whole is not written): & < > " ' as entities; control
 * characters (C0 with tab and newline, DEL, C1, bidirectional overrides and the rest of
 * selgw_code_point_is_control) as U+FFFD, and each byte of malformed UTF-8 as U+FFFD; all
 * else as is. */
void selgw_html_escape(char *buf, size_t cap, size_t *len, const char *s, size_t n);

/* ---- the model ------------------------------------------------------------------------- */

typedef enum selgw_report_verdict {
    SELGW_REPORT_VERIFIED,      /* every check holds, with a key the auditor trusts */
    SELGW_REPORT_NOT_VERIFIED,  /* problems (listed), or the bundle could not be read */
    SELGW_REPORT_KEY_UNTRUSTED, /* every check holds, but the key is the bundle's own claim */
} selgw_report_verdict;

typedef enum selgw_report_key_source {
    SELGW_REPORT_KEY_BUNDLE, /* only the bundle's claim */
    SELGW_REPORT_KEY_GIVEN,  /* --pubkey */
    SELGW_REPORT_KEY_REGISTERED,
} selgw_report_key_source;

/* One local day of a field (the gateway's utc_offset): values of quality ok and
 * out_of_range. */
typedef struct selgw_report_day {
    int32_t day; /* local days since 1970-01-01 */
    uint64_t count;
    double min, max, sum;
} selgw_report_day;

typedef struct selgw_report_field {
    char *name, *unit; /* as recorded; the renderer looks them up in dashboards/i18n.json */
    uint64_t count, out_of_range;
    double min, mean, max; /* NAN when count is 0 */
    size_t day_count;      /* days with values, in order */
    selgw_report_day *days;
    bool days_left_out; /* the period is longer than daily statistics are kept for */
} selgw_report_field;

typedef struct selgw_report_device {
    char *id, *chain;
    uint64_t polls, ok, failed, other_plot, outside;
    bool has_interval;
    int64_t median_interval_ns;
    double coverage_percent, expected_polls; /* when has_interval and the median > 0 */
    int64_t first_ns, last_ns;               /* when polls > 0 */
    size_t field_count;
    selgw_report_field *fields;
} selgw_report_device;

typedef enum selgw_report_event_kind {
    SELGW_REPORT_FAILED_POLLS, /* a run of failed polls of one device */
    SELGW_REPORT_GAP,          /* journal records lost, and why */
    SELGW_REPORT_START,
    SELGW_REPORT_STOP,
    SELGW_REPORT_CLOCK,
    SELGW_REPORT_ANNOTATION, /* a lab result or note */
    SELGW_REPORT_TAGS,
    SELGW_REPORT_ALERT,
    SELGW_REPORT_LOT,     /* a harvest lot recorded in the plot's chain: what it says */
    SELGW_REPORT_WITNESS, /* a witness countersigned a seal: time_ns when it had it, until_ns
                           * the seal's own time, text the witness key's fingerprint, status
                           * "trusted", "untrusted" or "unchecked" (not judged: a claim),
                           * "outside" (a seal not in the bundle) or "other" (another seal
                           * at that place, not judged; both: until_ns unused), clock_step with
                           * detail: the gateway's clock was ahead of the witness by detail */
} selgw_report_event_kind;

typedef struct selgw_report_event {
    selgw_report_event_kind kind;
    int64_t time_ns;
    char *text;       /* GAP: why; START, STOP, CLOCK, ANNOTATION: the record's text; TAGS, LOT:
                       * what they say; ALERT: the rule */
    char *detail;     /* ANNOTATION: its ref; START: which seal it continues from; ALERT: the
                       * field */
    char *device;     /* FAILED_POLLS, ALERT */
    char *status;     /* FAILED_POLLS: the status (e.g. "timeout"); ALERT: "raised" / "cleared" */
    char *condition;  /* ALERT: below, above, stale, stuck */
    uint64_t polls;   /* FAILED_POLLS */
    int64_t until_ns; /* FAILED_POLLS: the last failed poll */
    uint64_t gap_first, gap_last; /* GAP: journal records */
    bool crash;                   /* START: the run before it has no STOP */
    int64_t crash_after_ns;
    bool clock_step;         /* CLOCK: the clock stepped */
    double value, threshold; /* ALERT, NAN when none */
} selgw_report_event;

/* A contract of the plot's tags in force during the period (dates are local dates). */
typedef struct selgw_report_contract {
    char *household, *contract, *from, *to; /* to NULL when open-ended */
} selgw_report_contract;

typedef enum selgw_report_gi_verdict {
    SELGW_REPORT_GI_INSIDE,
    SELGW_REPORT_GI_OUTSIDE,
    SELGW_REPORT_GI_UNDETERMINED,
} selgw_report_gi_verdict;

typedef struct selgw_report_gi {
    char *product, *reason;
    selgw_report_gi_verdict verdict;
} selgw_report_gi;

typedef struct selgw_report_section {
    char *bundle; /* the bundle's name as given (its path) */
    char *error;  /* set when the bundle or a key could not be read: nothing else is known */
    selgw_report_verdict verdict;
    size_t problem_count_listed;
    char **problems;
    uint64_t problem_count; /* may be more than listed */

    char *public_key, *fingerprint, *key_label;
    selgw_report_key_source key_source;
    char *gateway, *plot;
    bool has_period;
    int64_t from_ns, to_ns;
    int utc_offset_minutes; /* local days and times in the report */
    bool has_opening;
    int64_t opening_ns, closing_ns; /* seals; closing when has_closing */
    bool has_closing;
    uint64_t records, chains, seals;

    bool clock_synchronised; /* some CLOCK record says synchronised */
    uint64_t clock_records;

    /* the place, from the latest TAGS record */
    bool has_tags;
    char *base_id, *base_name, *county, *township, *crop;
    bool has_coordinates;
    double latitude, longitude, area_mu;
    /* the plot's own location (filled by the integrator from the tags' `location`) */
    bool has_plot_location;
    double plot_latitude, plot_longitude;
    size_t boundary_count;
    double (*boundary)[2];
    /* GI checks (filled by the integrator); none declared when empty */
    size_t gi_count;
    selgw_report_gi *gi;

    size_t contract_count;
    selgw_report_contract *contracts;
    size_t household_seen_count; /* "HH-001 (contract ZY-2025-001)" as in the readings */
    char **households_seen;

    size_t device_count;
    selgw_report_device *devices;
    size_t event_count; /* in time order */
    selgw_report_event *events;

    /* a lot (opt->lot), its record's JSON (docs/EVIDENCE.md, the lot) and the bundle's hash */
    char *lot, *lot_json, *bundle_hash;
} selgw_report_section;

/* A new empty section at the end (verify fills it); NULL when out of memory. */
selgw_report_section *selgw_report_add_section(selgw_report *r);
size_t selgw_report_section_count(const selgw_report *r);
/* Section i (0 first), NULL past the end. */
selgw_report_section *selgw_report_section_at(selgw_report *r, size_t i);

/* The verdict of a lot bundle as a whole (each section also has its own): shown on top,
 * before the sections, with the lot's own problems (a section missing, a lot text that
 * differs...). Copies lot and the first `listed` problems; count may be more than listed. */
selgw_err selgw_report_set_lot_verdict(selgw_report *r, const char *lot,
                                       selgw_report_verdict verdict, char *const *problems,
                                       size_t listed, uint64_t count);

/* What others add to section i (NULL strings are refused with SELGW_ERR_INVALID, as is an
 * index past the end). Texts are copied as shown (safe_text.h). */
selgw_err selgw_report_set_lot_json(selgw_report *r, size_t section, const char *json);
selgw_err selgw_report_set_bundle_hash(selgw_report *r, size_t section, const char *hash);
selgw_err selgw_report_set_plot_location(selgw_report *r, size_t section, double latitude,
                                         double longitude);
selgw_err selgw_report_set_plot_boundary(selgw_report *r, size_t section, const double (*points)[2],
                                         size_t count);
selgw_err selgw_report_add_gi(selgw_report *r, size_t section, const char *product,
                              selgw_report_gi_verdict verdict, const char *reason);

/* Frees what a section or event owns (the report does this for its own). */
void selgw_report_event_clear(selgw_report_event *e);

#endif
