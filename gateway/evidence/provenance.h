/* selgw: the facts besides readings that an evidence chain records: a plot's tags (crop,
 * households and their contracts, the devices on it and their calibration), annotations
 * entered by the enterprise (lab results). (The clock's synchronisation state, recorded
 * too, is base/clock.h's selgw_clock_synchronised.) */
#ifndef SELGW_PROVENANCE_H
#define SELGW_PROVENANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "base/error.h"

/* A plot's tags as one canonical line of JSON (docs/EVIDENCE.md, "Tags"), snprintf-style:
 * the same config gives the same text, so a change shows as a different hash, and every
 * value is a JSON string or number, so two different tag sets never give the same text.
 * Members in this order: format (1), plot, base (id, name, county, township, latitude,
 * longitude as the config has them), crop, area_mu, households (household, contract,
 * from, to: local dates, to null when open-ended), devices (id, bus, unit_id, profile,
 * serial, calibration: field, scale, offset), location (null, {latitude, longitude} or
 * {boundary: [[lat, lon], ...]}), utc_offset ("+08:00"), products (the GI products of the
 * config whose crops include the plot's crop: name, crops, area {counties, townships,
 * polygon or null}, season_days). */
size_t selgw_plot_tags_text(const selgw_config *cfg, size_t plot, char *buf, size_t cap);

/* A TAGS record's text read back (the verifier and the exporter need the plot's devices;
 * the summary shows the rest). Strings are NUL-terminated copies, as recorded (escape
 * them before showing them: safe_text.h). */
typedef struct selgw_tags_household {
    char *household, *contract, *from, *to; /* to NULL when open-ended */
} selgw_tags_household;

typedef struct selgw_tags_calibration {
    char *field;
    double scale, offset;
} selgw_tags_calibration;

typedef struct selgw_tags_device {
    char *id, *bus, *profile, *serial;
    int unit_id;
    size_t calibration_count;
    selgw_tags_calibration *calibration;
} selgw_tags_device;

/* A geographic-indication product as the tags record it (docs/RECORD.md, "Tags"). */
typedef struct selgw_tags_product {
    char *name;
    size_t crop_count;
    char **crops;
    size_t county_count;
    char **counties;
    size_t township_count;
    char **townships;
    size_t polygon_count; /* 0: no polygon */
    double (*polygon)[2]; /* [latitude, longitude] */
    int season_days;
} selgw_tags_product;

typedef struct selgw_tags {
    int format;
    char *plot, *crop;
    char *base_id, *base_name, *county, *township; /* NULL when not recorded */
    bool has_coordinates;
    double latitude, longitude, area_mu;
    size_t household_count;
    selgw_tags_household *households;
    size_t device_count;
    selgw_tags_device *devices;
    /* Recorded since issue 12; absent (false, 0, NULL) in older tags. */
    bool has_location;
    double plot_latitude, plot_longitude; /* the plot's point, when has_location */
    size_t boundary_count;                /* or its boundary (>= 3 points) */
    double (*boundary)[2];
    char *utc_offset; /* "+08:00", or NULL */
    size_t product_count;
    selgw_tags_product *products;
} selgw_tags;

/* Parses a TAGS text (format 1, as selgw_plot_tags_text writes it; members it does not
 * know are ignored, duplicate members refused). SELGW_ERR_CORRUPT with `why` when it is
 * not such a text. */
selgw_err selgw_tags_parse(const char *text, size_t len, selgw_tags **out, char *why,
                           size_t why_cap);
void selgw_tags_free(selgw_tags *t); /* NULL is fine */

/* `selgw annotate`: queues an annotation for a plot of cfg in <journal dir>/annotations/
 * (temp file, fsync, rename); the running gateway chains it in plot/<P> and removes the
 * file. text and ref must be single lines of UTF-8 without control characters (tabs,
 * escapes, direction overrides: selgw_text_is_clean); ref may be NULL. */
selgw_err selgw_annotation_spool(const selgw_config *cfg, const char *plot, const char *text,
                                 const char *ref, char *why, size_t why_cap);

/* `selgw lot`: queues a lot (its canonical JSON, evidence/lot.h, with id `lot`) in the same
 * queue as annotations (a *.lot file); the running gateway journals one LOT record per plot
 * of the lot, all under one hold of its append lock, and removes the file. The caller has
 * checked the lot against the config (lot.h says what a lot is). */
selgw_err selgw_lot_spool(const selgw_config *cfg, const char *lot, const char *json, char *why,
                          size_t why_cap);

/* Whether a lot with this id is queued and not yet journaled (read-only: sets nothing aside). */
bool selgw_lot_is_queued(const char *journal_dir, const char *lot);

/* Two `selgw lot` with the same id at once would both find it neither queued nor
 * journaled and both queue it: each holds this exclusive lock (a flock on
 * <journal dir>/annotations/lot.lock, waited for) from its checks until its file is
 * queued. The gateway removes a queue file only after its records are committed, so a lot
 * is always in the queue or the journal, and checking the queue first sees it. Returns the
 * lock's descriptor (>= 0) or -1 with `why`; selgw_lot_queue_unlock(-1) does nothing. */
int selgw_lot_queue_lock(const char *journal_dir, char *why, size_t why_cap);
void selgw_lot_queue_unlock(int fd);

#define SELGW_QUEUED_TEXT_MAX 16384 /* a lot's JSON; an annotation's text is under 1024 */

/* An entry of the queue: an annotation (type SELGW_RECORD_ANNOTATION: plot, text, ref) or a
 * lot (SELGW_RECORD_LOT: ref is the lot id, text its JSON, plot empty: the lot names its
 * plots). */
typedef struct selgw_annotation {
    char file[96]; /* its file in the queue */
    int type;      /* selgw_record_type: SELGW_RECORD_ANNOTATION or SELGW_RECORD_LOT */
    char plot[128];
    char ref[256];
    char text[SELGW_QUEUED_TEXT_MAX];
    int64_t time_ns; /* when it was entered (the record takes the gateway's clock) */
} selgw_annotation;

/* Reads every queued annotation and lot, oldest first, into a new array (free it); returns
 * how many. Files that cannot be read or hold what `selgw annotate` or `selgw lot` would
 * refuse are renamed *.bad and logged. */
size_t selgw_annotations_read(const char *journal_dir, selgw_annotation **out);

/* Removes a queued annotation's file: call it once its record is committed. An error (the
 * file is still there: it must stay in flight, or it would be journaled again) is the
 * caller's to log. */
selgw_err selgw_annotation_done(const char *journal_dir, const selgw_annotation *a);

/* Renames a queued annotation's file to FILE.<why> so that it is not read again, and logs
 * it (e.g. "unknown-plot": an operator can rename it back once the config has the plot). */
void selgw_annotation_set_aside(const char *journal_dir, const selgw_annotation *a,
                                const char *why);

#endif
