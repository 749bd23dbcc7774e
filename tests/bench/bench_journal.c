/* Journal throughput: 4 threads append 200-byte payloads for a few seconds with the
 * default durability (fsync: batch, commit_interval_ms: 50), then it prints the append
 * rate, the committed rate, fdatasyncs per second and the bytes written per second.
 *
 *   bench_journal [--seconds N] [--threads N] [--payload BYTES] [--interval MS] [--dir BASE]
 *
 * The journal goes to a fresh directory under BASE (default /tmp), removed at the end.
 * It counts the fdatasyncs and written bytes through the journal's test hooks. */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "journal/journal.h"
#include "journal/journal_testing.h"

static atomic_ullong written_bytes;
static atomic_ullong fdatasyncs;
static atomic_int stop_flag;

static ssize_t counting_pwrite(int fd, const void *buf, size_t len, off_t offset)
{
    ssize_t n = pwrite(fd, buf, len, offset);
    if (n > 0)
        atomic_fetch_add(&written_bytes, (unsigned long long)n);
    return n;
}

static int counting_fdatasync(int fd)
{
    atomic_fetch_add(&fdatasyncs, 1);
    return fdatasync(fd);
}

typedef struct appender {
    selgw_journal *j;
    size_t payload;
    uint64_t appended;
    selgw_err err;
} appender;

static void *append_loop(void *arg)
{
    appender *a = arg;
    uint8_t buf[65536];
    memset(buf, 'r', a->payload);
    while (!atomic_load(&stop_flag)) {
        uint64_t seq;
        selgw_err err = selgw_journal_append(a->j, buf, a->payload, &seq);
        if (err != SELGW_OK) {
            a->err = err;
            break;
        }
        a->appended++;
    }
    return NULL;
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

int main(int argc, char **argv)
{
    double seconds = 5;
    int threads = 4, interval = 50;
    size_t payload = 200;
    const char *base = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--payload") == 0)
            payload = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--interval") == 0)
            interval = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0)
            base = argv[i + 1];
        else {
            fprintf(stderr, "bench_journal: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || payload < 1 || payload > 65536 || seconds <= 0) {
        fprintf(stderr, "bench_journal: bad arguments\n");
        return 2;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/selgw-bench-journal-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    selgw_journal_io_hooks.pwrite = counting_pwrite;
    selgw_journal_io_hooks.fdatasync = counting_fdatasync;
    selgw_journal_config cfg = {.dir = dir,
                                .segment_bytes = 64u << 20,
                                .fsync = SELGW_FSYNC_BATCH,
                                .commit_interval_ms = interval,
                                .retention_ms = 0};
    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    selgw_err err = selgw_journal_open(&cfg, NULL, 0, true, &j, &rec);
    if (err != SELGW_OK) {
        fprintf(stderr, "bench_journal: %s: %s\n", selgw_strerror(err), rec.message);
        remove_dir(dir);
        return 1;
    }
    pthread_t tid[64];
    appender args[64];
    int64_t start = selgw_mono_ns();
    for (int i = 0; i < threads; i++) {
        args[i] = (appender){j, payload, 0, SELGW_OK};
        pthread_create(&tid[i], NULL, append_loop, &args[i]);
    }
    selgw_sleep_until(start + (int64_t)(seconds * 1e9));
    atomic_store(&stop_flag, 1);
    uint64_t appended = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        appended += args[i].appended;
        if (args[i].err != SELGW_OK) {
            fprintf(stderr, "bench_journal: append: %s\n", selgw_strerror(args[i].err));
            failed = 1;
        }
    }
    int64_t appended_at = selgw_mono_ns();
    err = selgw_journal_flush(j);
    int64_t end = selgw_mono_ns();
    uint64_t committed = selgw_journal_committed_seq(j);
    selgw_journal_close(j);
    remove_dir(dir);
    if (err != SELGW_OK || committed != appended) {
        fprintf(stderr, "bench_journal: flush: %s, %" PRIu64 " committed of %" PRIu64 "\n",
                selgw_strerror(err), committed, appended);
        failed = 1;
    }
    double append_s = (double)(appended_at - start) / 1e9;
    double total_s = (double)(end - start) / 1e9;
    unsigned long long syncs = atomic_load(&fdatasyncs);
    unsigned long long bytes = atomic_load(&written_bytes);
    printf("journal in %s (fsync batch, commit interval %d ms), %d threads, %zu-byte payloads\n",
           base, interval, threads, payload);
    printf("appended   %" PRIu64 " records in %.2f s: %.0f records/s\n", appended, append_s,
           (double)appended / append_s);
    printf("committed  %" PRIu64 " records in %.2f s (with the final flush): %.0f records/s\n",
           committed, total_s, (double)committed / total_s);
    printf("fdatasync  %llu in all: %.1f per second, %.0f records per fdatasync\n", syncs,
           (double)syncs / total_s, syncs ? (double)committed / (double)syncs : 0.0);
    printf("written    %.1f MB: %.1f MB/s\n", (double)bytes / 1e6, (double)bytes / 1e6 / total_s);
    return failed;
}
