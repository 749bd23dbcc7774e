/* A test shim (LD_PRELOAD) that makes fdatasync and fsync slow, as they are on an SD card
 * or eMMC: each call sleeps a random time in [MIN, MAX] milliseconds, then does the real
 * call. SELGW_SLOWSYNC_MS="MIN-MAX" sets the range (default "20-50"). The calls are counted
 * and their delays summed; if SELGW_SLOWSYNC_REPORT names a file, each call rewrites it
 * with "calls N delay_ms D" so that a test or benchmark can print what was injected. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sync_fn real_fdatasync, real_fsync;
static long min_ms = 20, max_ms = 50;
static const char *report_path;
static atomic_uint_fast64_t calls, delay_us_total;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void init(void)
{
    real_fdatasync = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    real_fsync = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    const char *range = getenv("SELGW_SLOWSYNC_MS");
    if (range) {
        char *end;
        long lo = strtol(range, &end, 10);
        long hi = *end == '-' ? strtol(end + 1, NULL, 10) : lo;
        if (lo >= 0 && hi >= lo) {
            min_ms = lo;
            max_ms = hi;
        }
    }
    report_path = getenv("SELGW_SLOWSYNC_REPORT");
}

static void report(void)
{
    if (!report_path)
        return;
    pthread_mutex_lock(&report_lock);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", report_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        char line[96];
        int n = snprintf(line, sizeof line, "calls %llu delay_ms %.3f\n",
                         (unsigned long long)atomic_load(&calls),
                         (double)atomic_load(&delay_us_total) / 1e3);
        if (write(fd, line, (size_t)n) == n)
            rename(tmp, report_path); /* never synced: it is the shim's own file */
        close(fd);
    }
    pthread_mutex_unlock(&report_lock);
}

static void slow_down(void)
{
    pthread_once(&once, init);
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    long us =
        min_ms * 1000 + (max_ms > min_ms ? rand_r(&seed) % ((max_ms - min_ms) * 1000 + 1) : 0);
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    atomic_fetch_add(&calls, 1);
    atomic_fetch_add(&delay_us_total, (uint_fast64_t)us);
}

/* The delay, then the real call (looked up by then), with the caller's errno kept. */
static int slowed(sync_fn *real, int fd)
{
    int saved = errno;
    slow_down();
    report();
    errno = saved;
    return *real ? (*real)(fd) : (errno = ENOSYS, -1);
}

int fdatasync(int fd)
{
    return slowed(&real_fdatasync, fd);
}

int fsync(int fd)
{
    return slowed(&real_fsync, fd);
}
