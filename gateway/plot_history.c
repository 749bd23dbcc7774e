#include "plot_history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "journal/record.h"

/* ---- reading a period of the journal -------------------------------------------------- */

/* Called with each record of a wanted type in the period, decoded; false: out of memory. */
typedef bool (*record_fn)(void *ctx, const selgw_record *rec);

static bool str_is(selgw_str s, const char *c)
{
    return strlen(c) == s.len && !memcmp(s.ptr, c, s.len);
}

/* Visits the records of `wanted` types of the plot with a time in [from, to]: only the
 * segments whose time range overlaps it are read, and only the plot's records in them are
 * decoded (a record's head names its plot). */
static selgw_err scan_period(selgw_journal *j, const char *plot, int64_t from, int64_t to,
                             unsigned wanted, selgw_history_scan *stats, record_fn fn, void *ctx)
{
    selgw_journal_segment_info *segs;
    size_t n;
    selgw_err err = selgw_journal_segments(j, &segs, &n);
    if (err)
        return err;
    stats->segments = n;
    selgw_journal_reader *r = NULL;
    selgw_record *rec = malloc(sizeof *rec);
    if (!rec)
        err = SELGW_ERR_NOMEM;
    for (size_t i = 0; i < n && !err; i++) {
        if (segs[i].max_time_ns < from || segs[i].min_time_ns > to)
            continue;
        stats->segments_read++;
        if (!r)
            err = selgw_journal_reader_new(j, segs[i].first_seq - 1, &r);
        else
            err = selgw_journal_reader_seek(r, segs[i].first_seq - 1);
        while (!err) {
            uint64_t seq;
            const uint8_t *payload;
            size_t len;
            selgw_err e = selgw_journal_read(r, &seq, &payload, &len);
            if (e == SELGW_ERR_AGAIN)
                break; /* the end of what is committed */
            if (e) {
                err = e;
                break;
            }
            if (seq > segs[i].last_seq)
                break;
            stats->records_read++;
            selgw_record_type type;
            int64_t t;
            selgw_str p;
            if (!selgw_record_head(payload, len, &type, &t, NULL, &p) || !(wanted & (1u << type)) ||
                t < from || t > to || !str_is(p, plot))
                continue;
            if (selgw_record_decode(payload, len, rec) != SELGW_OK)
                continue; /* not ours to judge here: selgw journal and verify report it */
            if (!fn(ctx, rec))
                err = SELGW_ERR_NOMEM;
        }
    }
    selgw_journal_reader_free(r);
    free(rec);
    free(segs);
    return err;
}

static char *str_dup(selgw_str s)
{
    char *c = malloc(s.len + 1);
    if (c) {
        if (s.len)
            memcpy(c, s.ptr, s.len);
        c[s.len] = '\0';
    }
    return c;
}

/* ---- series ------------------------------------------------------------------------------ */

typedef struct bucket {
    double sum;
    uint32_t good, polls;
    int64_t first, last; /* the times of its earliest and latest reading */
} bucket;

typedef struct series {
    char *field, *unit;
    size_t device;            /* index into acc.devices */
    const char *device_id;    /* its id (owned by the device entry) */
    size_t order;             /* the field's position in its device's readings */
    selgw_history_point *raw; /* up to max_points + 1 readings */
    size_t raw_count;
    bucket *buckets;     /* bucket_count */
    int64_t interval_ns; /* the device's configured poll interval, 0: not in the config */
    size_t out_count;
    selgw_history_point *out;
} series;

typedef struct device_entry {
    char *id;
    int64_t interval_ns; /* from the query, 0: not in the running config */
    size_t *by_position; /* series index of the field at each position, SIZE_MAX: none yet */
    size_t positions;
} device_entry;

typedef struct acc {
    const selgw_history_query *q;
    int64_t first_bucket; /* start of the first bucket (a multiple of step) */
    size_t bucket_count;
    device_entry *devices;
    size_t device_count;
    series *series;
    size_t series_count, series_cap;
    size_t last_device; /* the device of the last record: readings come in runs */
} acc;

static device_entry *find_device(acc *a, selgw_str id)
{
    if (a->last_device < a->device_count && str_is(id, a->devices[a->last_device].id))
        return &a->devices[a->last_device];
    for (size_t i = 0; i < a->device_count; i++)
        if (str_is(id, a->devices[i].id)) {
            a->last_device = i;
            return &a->devices[i];
        }
    device_entry *grown = realloc(a->devices, (a->device_count + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    a->devices = grown;
    device_entry *d = &a->devices[a->device_count];
    *d = (device_entry){.id = str_dup(id)};
    if (!d->id)
        return NULL;
    for (size_t i = 0; i < a->q->interval_count; i++)
        if (str_is(id, a->q->intervals[i].device))
            d->interval_ns = a->q->intervals[i].interval_ns;
    a->last_device = a->device_count++;
    return d;
}

static series *find_series(acc *a, device_entry *d, size_t pos, const selgw_record_field *f)
{
    if (pos < d->positions && d->by_position[pos] != SIZE_MAX) {
        series *s = &a->series[d->by_position[pos]];
        if (str_is(f->name, s->field))
            return s;
    }
    size_t dev = (size_t)(d - a->devices);
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < a->series_count && found == SIZE_MAX; i++)
        if (a->series[i].device == dev && str_is(f->name, a->series[i].field))
            found = i;
    if (found == SIZE_MAX) {
        if (a->series_count == a->series_cap) {
            size_t cap = a->series_cap ? a->series_cap * 2 : 16;
            series *grown = realloc(a->series, cap * sizeof *grown);
            if (!grown)
                return NULL;
            a->series = grown;
            a->series_cap = cap;
        }
        series *s = &a->series[a->series_count];
        *s = (series){
            .device = dev, .device_id = d->id, .order = pos, .interval_ns = d->interval_ns};
        s->field = str_dup(f->name);
        s->unit = str_dup(f->unit);
        s->raw = malloc((a->q->max_points + 1) * sizeof *s->raw);
        s->buckets = calloc(a->bucket_count, sizeof *s->buckets);
        if (!s->field || !s->unit || !s->raw || !s->buckets) {
            free(s->field);
            free(s->unit);
            free(s->raw);
            free(s->buckets);
            return NULL;
        }
        found = a->series_count++;
    }
    if (pos >= d->positions) {
        size_t *grown = realloc(d->by_position, (pos + 1) * sizeof *grown);
        if (!grown)
            return NULL;
        for (size_t i = d->positions; i <= pos; i++)
            grown[i] = SIZE_MAX;
        d->by_position = grown;
        d->positions = pos + 1;
    }
    d->by_position[pos] = found;
    return &a->series[found];
}

static bool add_reading(void *ctx, const selgw_record *rec)
{
    acc *a = ctx;
    if (!str_is(rec->plot, a->q->plot))
        return true;
    device_entry *d = find_device(a, rec->device);
    if (!d)
        return false;
    size_t b = (size_t)((rec->time_ns - a->first_bucket) / a->q->step_ns);
    for (size_t i = 0; i < rec->field_count; i++) {
        const selgw_record_field *f = &rec->fields[i];
        series *s = find_series(a, d, i, f);
        if (!s)
            return false;
        bool good = f->quality == SELGW_QUALITY_OK && isfinite(f->value);
        double v = good ? f->value : NAN;
        if (s->raw_count <= a->q->max_points)
            s->raw[s->raw_count] = (selgw_history_point){rec->time_ns, v};
        s->raw_count++;
        if (b < a->bucket_count) {
            bucket *k = &s->buckets[b];
            if (!k->polls++)
                k->first = k->last = rec->time_ns;
            else if (rec->time_ns < k->first)
                k->first = rec->time_ns;
            else if (rec->time_ns > k->last)
                k->last = rec->time_ns;
            if (good) {
                k->sum += v;
                k->good++;
            }
        }
    }
    return true;
}

static int compare_points(const void *x, const void *y)
{
    const selgw_history_point *p = x, *q = y;
    return p->time_ns < q->time_ns ? -1 : p->time_ns > q->time_ns;
}

/* A pause longer than this many poll intervals is a gap. */
#define GAP_INTERVALS 2.5
/* How many intervals on either side of a pause show the interval polls kept there. */
#define GAP_WINDOW 5

static int64_t median(const int64_t *d, size_t n)
{
    int64_t v[GAP_WINDOW];
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j && v[j - 1] > d[i]; j--)
            v[j] = v[j - 1];
        v[j] = d[i];
    }
    return n ? v[n / 2] : 0;
}

/* The poll interval the pause d[i] (of the n intervals between a series' readings, in time
 * order) is judged against: the device's configured one, or what its polls kept before or
 * after the pause when that is longer: the median of up to GAP_WINDOW intervals on each
 * side, so one short interval (a restart just after a poll) changes nothing, and a part of
 * the period polled at a longer interval (the config changed since) is no row of gaps.
 * 0: nothing to judge by. */
static int64_t expected_interval(const int64_t *d, size_t n, size_t i, int64_t configured)
{
    size_t before = i < GAP_WINDOW ? i : GAP_WINDOW;
    size_t after = n - i - 1 < GAP_WINDOW ? n - i - 1 : GAP_WINDOW;
    int64_t e = configured, m = median(d + i - before, before);
    if (m > e)
        e = m;
    m = median(d + i + 1, after);
    return m > e ? m : e;
}

static bool is_gap(int64_t delta, int64_t expected)
{
    return expected > 0 && (double)delta > GAP_INTERVALS * (double)expected;
}

static bool finish_raw(series *s)
{
    qsort(s->raw, s->raw_count, sizeof *s->raw, compare_points);
    s->out = malloc((2 * s->raw_count + 1) * sizeof *s->out);
    int64_t *d = malloc((s->raw_count + 1) * sizeof *d);
    if (!s->out || !d) {
        free(d);
        return false;
    }
    size_t n = s->raw_count ? s->raw_count - 1 : 0;
    for (size_t i = 0; i < n; i++)
        d[i] = s->raw[i + 1].time_ns - s->raw[i].time_ns;
    for (size_t i = 0; i < s->raw_count; i++) {
        if (i) {
            int64_t e = expected_interval(d, n, i - 1, s->interval_ns);
            if (is_gap(d[i - 1], e))
                s->out[s->out_count++] = (selgw_history_point){s->raw[i - 1].time_ns + e, NAN};
        }
        s->out[s->out_count++] = s->raw[i];
    }
    free(d);
    return true;
}

static bool finish_buckets(const acc *a, series *s)
{
    /* The intervals between readings as far as buckets tell: from one polled bucket's last
     * reading to the next one's first (a pause: empty buckets between, a candidate gap),
     * and a bucket of several polls stands for the mean interval in it. */
    s->out = malloc((a->bucket_count + 1) * sizeof *s->out);
    int64_t *d = malloc((2 * a->bucket_count + 1) * sizeof *d);
    size_t *pause = malloc((a->bucket_count + 1) * sizeof *pause); /* index into d */
    bool ok = s->out && d && pause;
    size_t n = 0;
    const bucket *prev = NULL;
    for (size_t b = 0; ok && b < a->bucket_count; b++) {
        const bucket *k = &s->buckets[b];
        if (!k->polls)
            continue;
        pause[b] = SIZE_MAX;
        if (prev) {
            if (prev != k - 1)
                pause[b] = n;
            d[n++] = k->first - prev->last;
        }
        if (k->polls > 1)
            d[n++] = (k->last - k->first) / (k->polls - 1);
        prev = k;
    }
    int64_t step = a->q->step_ns;
    size_t empty_run = 0;
    int64_t run_start = 0;
    for (size_t b = 0; ok && b < a->bucket_count; b++) {
        const bucket *k = &s->buckets[b];
        int64_t t = a->first_bucket + (int64_t)b * step;
        if (!k->polls) {
            if (!empty_run++)
                run_start = t;
            continue;
        }
        /* a run of empty buckets between two polled ones is a gap when the pause is; a
         * device polled less often than the step leaves empty buckets that are none */
        if (pause[b] != SIZE_MAX &&
            is_gap(d[pause[b]], expected_interval(d, n, pause[b], s->interval_ns)))
            s->out[s->out_count++] = (selgw_history_point){run_start, NAN};
        empty_run = 0;
        s->out[s->out_count++] = (selgw_history_point){t, k->good ? k->sum / (double)k->good : NAN};
    }
    free(d);
    free(pause);
    return ok;
}

static int compare_series(const void *x, const void *y)
{
    const series *p = x, *q = y;
    int c = strcmp(p->device_id, q->device_id);
    if (c)
        return c;
    return p->order < q->order ? -1 : p->order > q->order;
}

static void free_acc(acc *a)
{
    for (size_t i = 0; i < a->series_count; i++) {
        free(a->series[i].field);
        free(a->series[i].unit);
        free(a->series[i].raw);
        free(a->series[i].buckets);
        free(a->series[i].out);
    }
    free(a->series);
    for (size_t i = 0; i < a->device_count; i++) {
        free(a->devices[i].id);
        free(a->devices[i].by_position);
    }
    free(a->devices);
}

selgw_err selgw_plot_history(selgw_journal *j, const selgw_history_query *q,
                             selgw_history_visit_fn visit, void *visit_ctx)
{
    if (!j || !q || !q->plot || q->step_ns <= 0 || q->to_ns < q->from_ns || q->max_points == 0)
        return SELGW_ERR_INVALID;
    acc a = {.q = q};
    a.first_bucket = q->from_ns - (q->from_ns % q->step_ns + q->step_ns) % q->step_ns;
    a.bucket_count = (size_t)((q->to_ns - a.first_bucket) / q->step_ns) + 1;
    if (a.bucket_count > 100 * q->max_points)
        return SELGW_ERR_INVALID; /* the caller chose the step: a slip, not a request */
    selgw_history h = {.plot = q->plot, .from_ns = q->from_ns, .to_ns = q->to_ns};
    selgw_err err = scan_period(j, q->plot, q->from_ns, q->to_ns, 1u << SELGW_RECORD_READING,
                                &h.scan, add_reading, &a);
    bool raw = true;
    for (size_t i = 0; i < a.series_count; i++)
        if (a.series[i].raw_count > q->max_points)
            raw = false;
    h.step_ns = raw ? 0 : q->step_ns;
    for (size_t i = 0; !err && i < a.series_count; i++)
        if (!(raw ? finish_raw(&a.series[i]) : finish_buckets(&a, &a.series[i])))
            err = SELGW_ERR_NOMEM;
    selgw_history_series *out = NULL;
    if (!err && a.series_count) {
        /* by device, then in the device's own field order */
        qsort(a.series, a.series_count, sizeof *a.series, compare_series);
        out = calloc(a.series_count, sizeof *out);
        if (!out)
            err = SELGW_ERR_NOMEM;
    }
    if (!err) {
        for (size_t i = 0; i < a.series_count; i++)
            out[i] =
                (selgw_history_series){a.series[i].device_id, a.series[i].field, a.series[i].unit,
                                       a.series[i].out_count, a.series[i].out};
        h.series = out;
        h.series_count = a.series_count;
        visit(visit_ctx, &h);
    }
    free(out);
    free_acc(&a);
    return err;
}

/* ---- notes ------------------------------------------------------------------------------- */

typedef struct note_list {
    selgw_history_note *items;
    size_t count, cap;
} note_list;

typedef struct notes_acc {
    const char *plot;
    note_list annotations, events;
} notes_acc;

static bool add_note(note_list *l, const selgw_record *rec, const char *type)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        selgw_history_note *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return false;
        l->items = grown;
        l->cap = cap;
    }
    char *text = str_dup(rec->text);
    char *ref = str_dup(rec->ref.ptr ? rec->ref : (selgw_str){"", 0});
    if (!text || !ref) {
        free(text);
        free(ref);
        return false;
    }
    l->items[l->count++] =
        (selgw_history_note){rec->time_ns, type, text, ref, rec->text.len, rec->ref.len};
    return true;
}

static bool add_plot_note(void *ctx, const selgw_record *rec)
{
    notes_acc *n = ctx;
    if (!str_is(rec->plot, n->plot))
        return true;
    if (rec->type == SELGW_RECORD_ANNOTATION)
        return add_note(&n->annotations, rec, "annotation");
    if (rec->type == SELGW_RECORD_TAGS)
        return add_note(&n->events, rec, "tags");
    if (rec->type == SELGW_RECORD_LOT) /* text: the lot's JSON; ref: its id */
        return add_note(&n->events, rec, "lot");
    /* an alert's text is its record's JSON: the page words it in the reader's language */
    selgw_record alert = *rec;
    alert.chained = false;
    size_t need = selgw_record_json(&alert, NULL, 0);
    char *json = malloc(need + 1);
    if (!json)
        return false;
    selgw_record_json(&alert, json, need + 1);
    alert.text = (selgw_str){json, need};
    bool ok = add_note(&n->events, &alert, "alert");
    free(json);
    return ok;
}

static int compare_notes(const void *x, const void *y)
{
    const selgw_history_note *p = x, *q = y;
    return p->time_ns < q->time_ns ? -1 : p->time_ns > q->time_ns;
}

static void free_notes(note_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free((char *)l->items[i].text);
        free((char *)l->items[i].ref);
    }
    free(l->items);
}

selgw_err selgw_plot_notes(selgw_journal *j, const selgw_history_query *q,
                           selgw_notes_visit_fn visit, void *visit_ctx)
{
    if (!j || !q || !q->plot || q->to_ns < q->from_ns)
        return SELGW_ERR_INVALID;
    notes_acc n = {.plot = q->plot};
    selgw_history_scan scan = {0};
    selgw_err err = scan_period(j, q->plot, q->from_ns, q->to_ns,
                                1u << SELGW_RECORD_ANNOTATION | 1u << SELGW_RECORD_TAGS |
                                    1u << SELGW_RECORD_ALERT | 1u << SELGW_RECORD_LOT,
                                &scan, add_plot_note, &n);
    if (!err) {
        /* mergesort would keep journal order among equal times; qsort's is fine: the
         * journal order of two notes of the same nanosecond says nothing more */
        if (n.annotations.count)
            qsort(n.annotations.items, n.annotations.count, sizeof *n.annotations.items,
                  compare_notes);
        if (n.events.count)
            qsort(n.events.items, n.events.count, sizeof *n.events.items, compare_notes);
        selgw_notes notes = {
            q->plot,        q->from_ns,    q->to_ns, n.annotations.count, n.annotations.items,
            n.events.count, n.events.items};
        visit(visit_ctx, &notes);
    }
    free_notes(&n.annotations);
    free_notes(&n.events);
    return err;
}
