#include "http/expo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void selgw_expo_init(selgw_expo *e)
{
    memset(e, 0, sizeof *e);
}

void selgw_expo_free(selgw_expo *e)
{
    free(e->buf);
    memset(e, 0, sizeof *e);
}

static bool reserve(selgw_expo *e, size_t more)
{
    if (e->failed)
        return false;
    if (e->len + more + 1 <= e->cap)
        return true;
    size_t cap = e->cap ? e->cap : 4096;
    while (cap < e->len + more + 1)
        cap *= 2;
    char *grown = realloc(e->buf, cap);
    if (!grown) {
        e->failed = true;
        return false;
    }
    e->buf = grown;
    e->cap = cap;
    return true;
}

static void put(selgw_expo *e, const char *s, size_t n)
{
    if (!reserve(e, n))
        return;
    memcpy(e->buf + e->len, s, n);
    e->len += n;
    e->buf[e->len] = '\0';
}

static void puts_(selgw_expo *e, const char *s)
{
    put(e, s, strlen(s));
}

static void putf(selgw_expo *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(selgw_expo *e, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(e, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* HELP escapes backslash and newline; label values also the double quote. */
static void escaped(selgw_expo *e, const char *s, bool quote)
{
    for (; s && *s; s++) {
        if (*s == '\\')
            puts_(e, "\\\\");
        else if (*s == '\n')
            puts_(e, "\\n");
        else if (quote && *s == '"')
            puts_(e, "\\\"");
        else
            put(e, s, 1);
    }
}

void selgw_expo_escape_label(selgw_expo *e, const char *value)
{
    escaped(e, value, true);
}

void selgw_expo_family(selgw_expo *e, const char *name, const char *type, const char *help)
{
    puts_(e, "# HELP ");
    puts_(e, name);
    puts_(e, " ");
    escaped(e, help, false);
    puts_(e, "\n# TYPE ");
    puts_(e, name);
    puts_(e, " ");
    puts_(e, type);
    puts_(e, "\n");
}

static void value(selgw_expo *e, double v)
{
    if (isnan(v))
        puts_(e, "NaN");
    else if (isinf(v))
        puts_(e, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        putf(e, "%.0f", v);
    else {
        /* the shortest of 15 or 17 digits that reads back as the same double */
        char text[40];
        snprintf(text, sizeof text, "%.15g", v);
        if (strtod(text, NULL) != v)
            snprintf(text, sizeof text, "%.17g", v);
        puts_(e, text);
    }
}

static void labels_(selgw_expo *e, const selgw_expo_label *labels, size_t n, const char *le)
{
    if (n == 0 && !le)
        return;
    puts_(e, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            puts_(e, ",");
        puts_(e, labels[i].name);
        puts_(e, "=\"");
        escaped(e, labels[i].value, true);
        puts_(e, "\"");
    }
    if (le) {
        puts_(e, n ? ",le=\"" : "le=\"");
        puts_(e, le);
        puts_(e, "\"");
    }
    puts_(e, "}");
}

void selgw_expo_sample(selgw_expo *e, const char *name, const selgw_expo_label *labels,
                       size_t label_count, double v)
{
    puts_(e, name);
    labels_(e, labels, label_count, NULL);
    puts_(e, " ");
    value(e, v);
    puts_(e, "\n");
}

void selgw_expo_buckets(selgw_expo *e, const char *name, const selgw_expo_label *labels,
                        size_t label_count, const double *bounds, int bound_count,
                        const uint64_t *buckets, uint64_t count, double sum_s)
{
    char series[128];
    uint64_t cumulative = 0;
    snprintf(series, sizeof series, "%s_bucket", name);
    for (int i = 0; i <= bound_count; i++) {
        char le[32];
        if (i < bound_count)
            snprintf(le, sizeof le, "%g", bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        cumulative += buckets[i];
        puts_(e, series);
        labels_(e, labels, label_count, le);
        puts_(e, " ");
        value(e, (double)cumulative);
        puts_(e, "\n");
    }
    snprintf(series, sizeof series, "%s_sum", name);
    selgw_expo_sample(e, series, labels, label_count, sum_s);
    snprintf(series, sizeof series, "%s_count", name);
    selgw_expo_sample(e, series, labels, label_count, (double)count);
}

void selgw_expo_histogram(selgw_expo *e, const char *name, const selgw_expo_label *labels,
                          size_t label_count, const selgw_histogram *h)
{
    selgw_expo_buckets(e, name, labels, label_count, selgw_histogram_bounds_s,
                       SELGW_HISTOGRAM_BOUNDS, h->buckets, h->count, h->sum_s);
}
