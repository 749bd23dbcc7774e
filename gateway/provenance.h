/* selgw: the facts besides readings that an evidence chain records: a plot's tags (crop,
 * households and their contracts, the devices on it and their calibration), annotations
 * entered by the enterprise (lab results), and the clock's synchronisation state. */
#ifndef SELGW_PROVENANCE_H
#define SELGW_PROVENANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/* A plot's tags as one canonical line of text, snprintf-style: the same config gives the
 * same text, so a change shows as a different hash. E.g.
 * "base=b1 crop=tea area_mu=35.5 households=HH-001:C-1:2024-03-01..2027-02-28
 *  devices=soil-1@rs485-1/2(cwt-soil-thc-s;soil_moisture*1+-1.5)" */
size_t selgw_plot_tags_text(const selgw_config *cfg, size_t plot, char *buf, size_t cap);

/* `selgw annotate`: queues an annotation for a plot of cfg in <journal dir>/annotations/
 * (temp file, fsync, rename); the running gateway chains it in plot/<P> and removes the
 * file. text and ref are single lines; ref may be NULL. */
selgw_err selgw_annotation_spool(const selgw_config *cfg, const char *plot, const char *text,
                                 const char *ref, char *why, size_t why_cap);

typedef struct selgw_annotation {
    char plot[128];
    char ref[256];
    char text[1024];
    int64_t time_ns; /* when it was entered */
} selgw_annotation;

/* Calls take() for each queued annotation, oldest first; removes a file when take returns
 * true (it was journaled). Unreadable files are renamed *.bad and logged once. */
void selgw_annotations_collect(const char *journal_dir,
                               bool (*take)(void *ctx, const selgw_annotation *a), void *ctx);

/* Whether the kernel believes the clock synchronised (adjtimex: not STA_UNSYNC), with a
 * short description ("synchronised, estimated error 12 ms" / "not synchronised"). */
bool selgw_clock_synchronised(char *text, size_t cap);

#endif
