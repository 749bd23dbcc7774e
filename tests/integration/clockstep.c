/* A test shim (LD_PRELOAD) that sets CLOCK_REALTIME back, and nothing else, as an NTP step
 * does: the offset (int64 nanoseconds, little-endian) is read from the 8-byte file named
 * by SELGW_CLOCKSTEP_FILE, mapped shared so that the test can change it while the process
 * runs. Timed waits and the monotonic clock are untouched, so a thread asleep in a timed
 * wait does not wake at the step (libfaketime's does). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static _Atomic(int64_t *) offset_ns;

static int64_t *map_offset(void)
{
    int64_t *off = atomic_load(&offset_ns);
    if (off)
        return off;
    const char *path = getenv("SELGW_CLOCKSTEP_FILE");
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return NULL;
    void *p = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return NULL;
    int64_t *expected = NULL;
    if (!atomic_compare_exchange_strong(&offset_ns, &expected, (int64_t *)p)) {
        munmap(p, sizeof(int64_t));
        return expected;
    }
    return p;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static _Atomic(clock_gettime_fn) real;
    clock_gettime_fn fn = atomic_load(&real);
    if (!fn) {
        fn = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        atomic_store(&real, fn);
    }
    int r = fn(id, ts);
    if (r != 0 || id != CLOCK_REALTIME)
        return r;
    const volatile int64_t *off = map_offset();
    if (!off)
        return r;
    int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec - *off;
    ts->tv_sec = ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
    return r;
}
