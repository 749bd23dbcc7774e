/* selgw: the Prometheus text exposition format (version 0.0.4), written into a growing
 * buffer. Pure: no clock, no I/O; a test checks its exact output.
 *
 * A family is announced once (HELP, TYPE), then its samples follow. Label values are
 * escaped as the format says (backslash, double quote, newline); HELP text escapes
 * backslash and newline. */
#ifndef SELGW_EXPO_H
#define SELGW_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/health.h"

typedef struct selgw_expo {
    char *buf;
    size_t len, cap;
    bool failed; /* out of memory at some point: the text is incomplete */
} selgw_expo;

/* A label: name="value". A sample takes up to SELGW_EXPO_MAX_LABELS of them. */
typedef struct selgw_expo_label {
    const char *name;
    const char *value;
} selgw_expo_label;
#define SELGW_EXPO_MAX_LABELS 6

void selgw_expo_init(selgw_expo *e);
void selgw_expo_free(selgw_expo *e);

/* # HELP name help \n # TYPE name type ("counter", "gauge", "histogram") */
void selgw_expo_family(selgw_expo *e, const char *name, const char *type, const char *help);
/* name{labels} value: integers without a fraction, other numbers with 15 significant
 * digits, or 17 when 15 would not read back as the same double; NaN and
 * infinities as NaN, +Inf, -Inf. */
void selgw_expo_sample(selgw_expo *e, const char *name, const selgw_expo_label *labels,
                       size_t label_count, double value);
/* name_bucket{labels,le="..."} (cumulative, ending with le="+Inf"), name_sum, name_count. */
void selgw_expo_histogram(selgw_expo *e, const char *name, const selgw_expo_label *labels,
                          size_t label_count, const selgw_histogram *h);
/* The same for any bucket bounds (bound_count of them; buckets has one more, not cumulative). */
void selgw_expo_buckets(selgw_expo *e, const char *name, const selgw_expo_label *labels,
                        size_t label_count, const double *bounds, int bound_count,
                        const uint64_t *buckets, uint64_t count, double sum_s);

/* Appends value escaped as a label value (without the quotes). */
void selgw_expo_escape_label(selgw_expo *e, const char *value);

#endif
