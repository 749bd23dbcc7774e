/* A plot's history from a season's journal: writes a season of readings through the
 * journal API (default 180 days of a 20-device base, 5 plots of 4 devices, 5 fields each,
 * one poll a minute, a failed poll now and then), reopens the journal (recovery builds the
 * time index), then times the dashboard's history of one plot over the last 24 h, 7 d and
 * 30 d (the journal read, the bucketing and the JSON), and for comparison one pass over
 * every record's head, what a query without the index would at least cost. Prints the
 * figures and the peak RSS; asserts no timing.
 *
 *   bench_history [--days N] [--devices N] [--interval S] [--dir BASE] [--runs N]
 *
 * The journal goes to a fresh directory under BASE (default /tmp), removed at the end. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/reading.h"
#include "http/render.h"
#include "journal/journal.h"
#include "journal/record.h"
#include "plot_history.h"

#define S SELGW_NS_PER_S
#define DEVICES_PER_PLOT 4

static const char *const field_names[] = {"soil_moisture", "soil_temperature", "soil_ec", "soil_ph",
                                          "air_temperature"};
static const char *const field_units[] = {"%", "degC", "uS/cm", "pH", "degC"};
#define FIELDS (sizeof field_names / sizeof field_names[0])

static double ms_since(int64_t t0)
{
    return (double)(selgw_mono_ns() - t0) / 1e6;
}

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char child[600];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        unlink(child);
    }
    closedir(d);
    rmdir(path);
}

typedef struct rendered {
    size_t series, points, bytes;
    selgw_history_scan scan;
} rendered;

static void render(void *ctx, const selgw_history *h)
{
    rendered *r = ctx;
    char *json = selgw_render_history_json(h);
    r->bytes = json ? strlen(json) : 0;
    free(json);
    r->series = h->series_count;
    r->points = 0;
    for (size_t i = 0; i < h->series_count; i++)
        r->points += h->series[i].point_count;
    r->scan = h->scan;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int days = 180, devices = 20, interval_s = 60, runs = 5;
    const char *base = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--days") && i + 1 < argc)
            days = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--devices") && i + 1 < argc)
            devices = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--interval") && i + 1 < argc)
            interval_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_history [--days N] [--devices N] [--interval S] "
                            "[--dir BASE] [--runs N]\n");
            return 2;
        }
    }
    if (days < 1 || devices < 1 || interval_s < 1 || runs < 1) {
        fprintf(stderr, "bench_history: days, devices, interval and runs must be positive\n");
        return 2;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/selgw-bench-history-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    selgw_journal_config cfg = {.dir = dir,
                                .fsync = SELGW_FSYNC_NONE,
                                .commit_interval_ms = 50,
                                .retention_ms = INT64_C(3650) * 86400 * 1000};
    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    if (selgw_journal_open(&cfg, NULL, 0, true, &j, &rec) != SELGW_OK) {
        fprintf(stderr, "bench_history: cannot open a journal in %s: %s\n", dir, rec.message);
        remove_dir(dir);
        return 1;
    }

    /* the season, ending now, in poll order */
    int64_t step = (int64_t)interval_s * S;
    int64_t end = selgw_utc_ns() / step * step;
    int64_t polls = (int64_t)days * 86400 / interval_s;
    int64_t start = end - (polls - 1) * step;
    char ids[64][32], plots[16][24];
    int plot_count = (devices + DEVICES_PER_PLOT - 1) / DEVICES_PER_PLOT;
    if (devices > 64 || plot_count > 16) {
        fprintf(stderr, "bench_history: at most 64 devices\n");
        return 2;
    }
    for (int p = 0; p < plot_count; p++)
        snprintf(plots[p], sizeof plots[p], "bench-p%02d", p + 1);
    for (int d = 0; d < devices; d++)
        snprintf(ids[d], sizeof ids[d], "p%02d-soil-%c", d / DEVICES_PER_PLOT + 1,
                 'a' + d % DEVICES_PER_PLOT);
    selgw_reading r = {.gateway = "bench-gw",
                       .base = "bench-base",
                       .crop = "tea",
                       .profile = "bench-soil",
                       .serial = "",
                       .bus = "rs485-1",
                       .attempts = 1,
                       .household_count = 1,
                       .field_count = FIELDS};
    r.households[0] = (selgw_reading_household){"HH-001", "BENCH-2026-001"};
    for (size_t f = 0; f < FIELDS; f++) {
        r.fields[f].name = field_names[f];
        r.fields[f].unit = field_units[f];
    }
    uint8_t buf[4096];
    uint64_t records = 0, bytes = 0;
    int64_t t0 = selgw_mono_ns();
    for (int64_t k = 0; k < polls; k++) {
        for (int d = 0; d < devices; d++) {
            r.time_ns = start + k * step + (int64_t)d * 50 * SELGW_NS_PER_MS;
            r.plot = plots[d / DEVICES_PER_PLOT];
            r.device = ids[d];
            r.unit_id = d + 1;
            bool failed = (k * devices + d) % 97 == 0;
            r.status = failed ? SELGW_ERR_TIMEOUT : SELGW_OK;
            double phase = (double)(k % 1440) / 1440.0 * 2 * M_PI;
            for (size_t f = 0; f < FIELDS; f++) {
                r.fields[f].quality = failed ? SELGW_QUALITY_READ_FAILED : SELGW_QUALITY_OK;
                r.fields[f].value = failed ? NAN : 20 + 5 * sin(phase + (double)f) + d * 0.1;
            }
            size_t n = selgw_record_encode_reading(&r, NULL, buf, sizeof buf);
            uint64_t seq;
            if (n == 0 || n > sizeof buf || selgw_journal_append(j, buf, n, &seq) != SELGW_OK) {
                fprintf(stderr, "bench_history: append failed\n");
                selgw_journal_close(j);
                remove_dir(dir);
                return 1;
            }
            records++;
            bytes += n;
        }
    }
    selgw_journal_flush(j);
    double write_ms = ms_since(t0);
    selgw_journal_close(j);

    t0 = selgw_mono_ns();
    if (selgw_journal_open(&cfg, NULL, 0, false, &j, &rec) != SELGW_OK) {
        fprintf(stderr, "bench_history: cannot reopen: %s\n", rec.message);
        remove_dir(dir);
        return 1;
    }
    double open_ms = ms_since(t0);
    selgw_journal_segment_info *segs;
    size_t seg_count;
    selgw_journal_segments(j, &segs, &seg_count);
    free(segs);

    printf("bench_history: %d days of %d devices (%d plots) every %d s: %" PRIu64
           " records, %.1f MiB of payload in %zu segments\n",
           days, devices, plot_count, interval_s, records, (double)bytes / (1 << 20), seg_count);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  written in %.1f s (%.0f records/s); reopened (recovery and time index) in %.0f ms; "
           "peak RSS so far %.1f MiB\n",
           write_ms / 1000, (double)records / (write_ms / 1000), open_ms,
           (double)ru.ru_maxrss / 1024);

    static const struct {
        const char *name;
        int64_t seconds;
    } periods[] = {{"24h", 86400}, {"7d", 7 * 86400}, {"30d", 30 * 86400}};
    const char *plot = plots[plot_count / 2];
    for (size_t p = 0; p < sizeof periods / sizeof periods[0]; p++) {
        selgw_history_query q = {0};
        char why[160];
        if (selgw_history_period(periods[p].name, NULL, NULL, "24h", end + S, &q, why,
                                 sizeof why) != SELGW_OK) {
            fprintf(stderr, "bench_history: %s\n", why);
            return 1;
        }
        q.plot = plot;
        double times[64];
        rendered out = {0};
        int n = runs < 64 ? runs : 64;
        for (int i = 0; i < n; i++) {
            t0 = selgw_mono_ns();
            if (selgw_plot_history(j, &q, render, &out) != SELGW_OK) {
                fprintf(stderr, "bench_history: the query failed\n");
                return 1;
            }
            times[i] = ms_since(t0);
        }
        double first = times[0];
        qsort(times, (size_t)n, sizeof *times, compare_double);
        printf("  history %-3s of %s: first %.0f ms, median of %d %.0f ms; %zu of %zu "
               "segments read, %" PRIu64 " records, %zu series, %zu points (step %" PRId64
               " s), %.0f KiB of JSON\n",
               periods[p].name, plot, first, n, times[n / 2], out.scan.segments_read,
               out.scan.segments, out.scan.records_read, out.series, out.points, q.step_ns / S,
               (double)out.bytes / 1024);
    }

    /* without the index a query would read every record: at least its head */
    t0 = selgw_mono_ns();
    selgw_journal_reader *reader;
    selgw_journal_reader_new(j, 0, &reader);
    uint64_t seq, seen = 0;
    const uint8_t *payload;
    size_t len;
    while (selgw_journal_read(reader, &seq, &payload, &len) == SELGW_OK) {
        selgw_record_type type;
        int64_t t;
        seen += selgw_record_head(payload, len, &type, &t, NULL, NULL);
    }
    selgw_journal_reader_free(reader);
    printf("  one pass over every record's head (no index): %.0f ms for %" PRIu64 " records\n",
           ms_since(t0), seen);

    getrusage(RUSAGE_SELF, &ru);
    printf("  peak RSS %.1f MiB\n", (double)ru.ru_maxrss / 1024);
    selgw_journal_close(j);
    remove_dir(dir);
    return 0;
}
