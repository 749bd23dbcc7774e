#include "base/health.h"

const double selgw_histogram_bounds_s[SELGW_HISTOGRAM_BOUNDS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
};

void selgw_histogram_add(selgw_histogram *h, int64_t ns)
{
    double s = ns > 0 ? (double)ns / 1e9 : 0;
    int i = 0;
    while (i < SELGW_HISTOGRAM_BOUNDS && s > selgw_histogram_bounds_s[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum_s += s;
}
