#include "base/health.h"

#include <math.h>

const double selgw_histogram_bounds_s[SELGW_HISTOGRAM_BOUNDS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
};

const double selgw_lateness_bounds_s[SELGW_LATENESS_BOUNDS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
};

/* Counts ns into the first bucket whose bound is not below it (the last: above them all). */
static void add_to(const double *bounds, int bound_count, uint64_t *buckets, uint64_t *count,
                   double *sum_s, int64_t ns)
{
    double s = ns > 0 ? (double)ns / 1e9 : 0;
    int i = 0;
    while (i < bound_count && s > bounds[i])
        i++;
    buckets[i]++;
    (*count)++;
    *sum_s += s;
}

void selgw_histogram_add(selgw_histogram *h, int64_t ns)
{
    add_to(selgw_histogram_bounds_s, SELGW_HISTOGRAM_BOUNDS, h->buckets, &h->count, &h->sum_s, ns);
}

void selgw_lateness_add(selgw_lateness *h, int64_t ns)
{
    add_to(selgw_lateness_bounds_s, SELGW_LATENESS_BOUNDS, h->buckets, &h->count, &h->sum_s, ns);
}

void selgw_lateness_merge(selgw_lateness *into, const selgw_lateness *from)
{
    for (int i = 0; i <= SELGW_LATENESS_BOUNDS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum_s += from->sum_s;
}

double selgw_buckets_quantile(const double *bounds, int bound_count, const uint64_t *buckets,
                              double q)
{
    uint64_t total = 0;
    for (int i = 0; i <= bound_count; i++)
        total += buckets[i];
    if (total == 0 || bound_count < 1)
        return NAN;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    double rank = q * (double)total;
    uint64_t below = 0;
    for (int i = 0; i < bound_count; i++) {
        if (buckets[i] > 0 && (double)(below + buckets[i]) >= rank) {
            double lower = i ? bounds[i - 1] : 0;
            return lower + (bounds[i] - lower) * (rank - (double)below) / (double)buckets[i];
        }
        below += buckets[i];
    }
    return bounds[bound_count - 1];
}
