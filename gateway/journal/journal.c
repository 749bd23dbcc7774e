/* selgw: the durable journal. The on-disk format is specified in docs/JOURNAL.md.
 *
 * Threads: appenders (the pollers) frame records into an in-memory batch under the
 * journal's lock; one writer thread takes the batch, writes it with one pwrite per
 * segment, fdatasyncs it and only then publishes the committed sequence to the readers
 * (the sinks), each of which reads the segment files with its own file descriptor. */
#include "journal/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/durable.h"
#include "journal/journal_testing.h"
#include "base/log.h"
#include "base/worker.h"
#include "journal/crc32c.h"
#include "journal/record.h"

#define SEGMENT_MAGIC "SELGWJNL"
#define SEGMENT_VERSION 1u
#define SEGMENT_HEADER_SIZE 32u
#define FRAME_HEADER_SIZE 16u
/* The file a running writer holds an exclusive flock on. */
#define LOCK_FILE "lock"
/* At most this many watching threads (selgw_journal_watch): one per MQTT-driven sink. */
#define JOURNAL_WATCH_MAX 8
/* Largest payload the journal stores; a length above it in a frame header is damage. */
#define MAX_PAYLOAD (1u << 20)
/* The writer commits at once when this much is pending, without waiting for the interval. */
#define BATCH_BYTES (1u << 20)
/* Appenders wait for the writer (backpressure) when this much is pending. */
#define PENDING_LIMIT (8u << 20)
/* While the disk is full, at most this much waits in memory to be written (about 3,000
 * readings); records beyond it are refused, as by the disk budget. */
#define NO_SPACE_LIMIT (1u << 20)
/* space.reserve: disk space held back for the stop, when the disk may be full: released,
 * it makes room for what waits in memory (NO_SPACE_LIMIT, a batch being written) and the
 * files the gateway writes at a stop. Its first block keeps the note of records that could
 * not be written even then. */
#define RESERVE_FILE "space.reserve"
#define RESERVE_BYTES (UINT64_C(4) << 20)
#define RESERVE_NOTE_BYTES 4096u
#define RESERVE_MAGIC "selgw-reserve 1\n"

#define DEFAULT_SEGMENT_BYTES (UINT64_C(64) << 20)
#define SEGMENT_NAME_SIZE 32 /* 20 digits + ".seg" + NUL, rounded up */
#define MAX_SINK_NAME 64
#define HOUSEKEEPING_MS 1000 /* retention and dropped segments are looked at this often */
#define READER_RING 1024     /* offsets of the records a reader read last, for seek */
#define READ_CHUNK 65536
#define FAILURE_SIZE 512

/* ---- system calls, replaceable by the tests ------------------------------------------ */

static ssize_t sys_pwrite(int fd, const void *buf, size_t len, off_t offset)
{
    return pwrite(fd, buf, len, offset);
}

static int sys_fdatasync(int fd)
{
    return fdatasync(fd);
}

static int sys_fsync(int fd)
{
    return fsync(fd);
}

static int sys_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

selgw_journal_io selgw_journal_io_hooks = {sys_pwrite, sys_fdatasync, sys_fsync, sys_ftruncate};
int selgw_journal_retry_ms = 1000;
int selgw_journal_stop_wait_ms = 10000;

void selgw_journal_io_reset(void)
{
    selgw_journal_io_hooks =
        (selgw_journal_io){sys_pwrite, sys_fdatasync, sys_fsync, sys_ftruncate};
}

/* ---- little-endian fields ------------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---- the journal --------------------------------------------------------------------- */

typedef struct segment {
    uint64_t first_seq; /* also its file name */
    uint64_t last_seq;  /* first_seq - 1 while it holds no record */
    uint64_t bytes;     /* committed length of the file, header included */
    int64_t mtime_ns;   /* last write (UTC): retention counts from it */
    /* The time index: the smallest and largest of its records' own times (UTC). Records
     * come in poll order, but a clock step can put older times after newer ones, so a
     * reader of a time range goes by these, not by the order of segments. INT64_MAX and
     * INT64_MIN while it holds no record with a time. */
    int64_t min_time_ns, max_time_ns;
} segment;

#define NO_MIN_TIME INT64_MAX
#define NO_MAX_TIME INT64_MIN

/* Widens [*min, *max] by the time of one payload (one whose head does not decode has
 * none). */
static void widen_times(const uint8_t *payload, size_t len, int64_t *min, int64_t *max)
{
    selgw_record_type type;
    int64_t t;
    if (!selgw_record_head(payload, len, &type, &t, NULL, NULL))
        return;
    if (t < *min)
        *min = t;
    if (t > *max)
        *max = t;
}

/* A segment dropped by the disk budget: its file is removed once the GAP record that
 * stands for it is committed, so a crash in between never loses records silently. */
typedef struct dropped_segment {
    uint64_t first_seq, last_seq, bytes;
    uint64_t gap_first, gap_seq;
} dropped_segment;

typedef struct sink_cursor {
    char *name;
    uint64_t seq;
    bool saved; /* it has a file: read at opening or written since */
} sink_cursor;

typedef struct byte_buf {
    uint8_t *data;
    size_t len, cap;
} byte_buf;

struct selgw_journal {
    char gateway_id[128]; /* named in the GAP records the journal writes itself */
    selgw_journal_gap_hook gap_hook;
    char *dir;
    int dir_fd;
    int lock_fd;
    bool lock_held; /* lock_fd's flock is ours (else it is another process's) */
    bool writable;
    uint64_t segment_bytes;
    selgw_fsync_policy fsync_policy;
    int64_t commit_interval_ns;
    int64_t fsync_interval_ns;
    int64_t retention_ns;
    uint64_t retention_hold; /* retention keeps every segment with a record after this */
    uint64_t max_backlog;
    selgw_when_full when_full;

    pthread_mutex_t lock;
    pthread_cond_t work_cv;      /* the writer: something to do */
    pthread_cond_t committed_cv; /* waiters: committed moved, failure, closing */
    pthread_cond_t space_cv;     /* appenders: room in the pending batch */
    pthread_cond_t idle_cv;      /* close: the last waiter left */
    pthread_mutex_t cursor_lock; /* serialises cursor file writes */

    segment *segs; /* sorted by first_seq; the last one is the one written to */
    size_t seg_count, seg_cap;
    sink_cursor *sinks;
    size_t sink_count;
    int watch_fds[JOURNAL_WATCH_MAX]; /* eventfds told when committed moves (selgw_journal_watch) */
    size_t watch_count;
    dropped_segment *drops;
    size_t drop_count, drop_cap;

    uint64_t next_seq;
    uint64_t committed;
    byte_buf pend;         /* framed records not yet taken by the writer */
    int64_t pend_since_ns; /* monotonic time of the first of them */
    byte_buf writing;      /* the batch the writer is writing */
    size_t writing_off;    /* how much of it is committed */
    uint64_t backlog_disk; /* undelivered committed bytes */
    uint64_t flush_target;
    bool force_roll;
    bool stopping;
    unsigned waiters;
    bool failed;
    char failure[FAILURE_SIZE];
    bool no_space;
    int64_t retry_at_ns;
    int64_t stop_deadline_ns; /* closing with the disk full: when to give up waiting */
    bool reserve_released;
    bool last_records;        /* the owner is stopping: its last records are not refused */
    int reserve_fd;           /* space.reserve, -1 if there is none */
    char note_unwritten[160]; /* what the reserve's first block says ("" for nothing) */
    char note_refused[160];
    selgw_err refusing;       /* SELGW_ERR_FULL or _NO_SPACE while records are refused */
    uint64_t refused_records; /* since refusing began */
    selgw_repeat space_repeat;
    uint64_t appended_records, appended_bytes; /* since opening, for the status API */
    selgw_histogram fsync_latency;             /* the writer's fdatasyncs of segments */
    uint64_t commits, commit_records_max;      /* commits of a batch's part, its largest */
    pthread_t writer;
    bool writer_started;
    int64_t writer_beat_ns; /* monotonic: the writer's last turn of its loop */

    /* the writer thread's own */
    int active_fd;
    bool dirty; /* written but not fdatasynced (policies interval and none) */
    int64_t last_fsync_ns;
    int64_t next_housekeeping_ns;
};

static void segment_name(uint64_t first_seq, char name[SEGMENT_NAME_SIZE])
{
    snprintf(name, SEGMENT_NAME_SIZE, "%020" PRIu64 ".seg", first_seq);
}

/* 20 digits and ".seg": the sequence number, or 0 if the name is not a segment's. */
static uint64_t parse_segment_name(const char *name)
{
    if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        unsigned d = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return v;
}

static bool valid_sink_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MAX_SINK_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return name[0] != '.';
}

static void set_message(selgw_journal_recovery *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_message(selgw_journal_recovery *rec, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rec->message, sizeof rec->message, fmt, ap);
    va_end(ap);
}

static int64_t utc_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * SELGW_NS_PER_S + ts->tv_nsec;
}

static struct timespec mono_deadline(int64_t ns)
{
    return (struct timespec){.tv_sec = ns / SELGW_NS_PER_S, .tv_nsec = ns % SELGW_NS_PER_S};
}

static bool buf_reserve(byte_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return false;
    b->data = data;
    b->cap = cap;
    return true;
}

/* Writes all of buf at offset; a short write is continued. Returns 0 or an errno. */
static int write_all(int fd, const uint8_t *buf, size_t len, uint64_t offset)
{
    while (len > 0) {
        ssize_t n = selgw_journal_io_hooks.pwrite(fd, buf, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO; /* no progress and no error: do not spin */
        buf += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

static int sync_dir(selgw_journal *j)
{
    return selgw_journal_io_hooks.fsync(j->dir_fd) == 0 ? 0 : errno;
}

static void encode_segment_header(uint64_t first_seq, uint8_t hdr[SEGMENT_HEADER_SIZE])
{
    memset(hdr, 0, SEGMENT_HEADER_SIZE);
    memcpy(hdr, SEGMENT_MAGIC, 8);
    put_u32(hdr + 8, SEGMENT_VERSION);
    put_u32(hdr + 12, 0); /* flags */
    put_u64(hdr + 16, first_seq);
    put_u32(hdr + 24, selgw_crc32c(0, hdr, 24));
    put_u32(hdr + 28, 0);
}

static uint64_t segment_records(const segment *s)
{
    return s->last_seq >= s->first_seq ? s->last_seq - s->first_seq + 1 : 0;
}

/* Undelivered bytes of the segments after `cursor`. A segment the cursor is inside counts
 * in proportion to its records after the cursor (frames are about the same size). */
static uint64_t bytes_after(const selgw_journal *j, uint64_t cursor, uint64_t *records)
{
    uint64_t total = 0, count = 0;
    for (size_t i = 0; i < j->seg_count; i++) {
        const segment *s = &j->segs[i];
        uint64_t n = segment_records(s);
        if (n == 0 || s->last_seq <= cursor)
            continue;
        uint64_t data = s->bytes - SEGMENT_HEADER_SIZE;
        uint64_t after = s->first_seq > cursor ? n : s->last_seq - cursor;
        count += after;
        total += after == n ? data : (uint64_t)((double)data * (double)after / (double)n);
    }
    if (records)
        *records = count;
    return total;
}

static uint64_t min_cursor(const selgw_journal *j)
{
    if (j->sink_count == 0)
        return j->committed; /* no sink: delivered when committed */
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < j->sink_count; i++)
        if (j->sinks[i].seq < m)
            m = j->sinks[i].seq;
    return m;
}

static void recount_backlog(selgw_journal *j)
{
    j->backlog_disk = bytes_after(j, min_cursor(j), NULL);
}

static uint64_t pending_bytes(const selgw_journal *j)
{
    return j->pend.len + (j->writing.len - j->writing_off);
}

static uint64_t pending_records(const selgw_journal *j)
{
    return j->next_seq - 1 - j->committed;
}

static ssize_t find_segment(const selgw_journal *j, uint64_t first_seq)
{
    size_t lo = 0, hi = j->seg_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->segs[mid].first_seq < first_seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < j->seg_count && j->segs[lo].first_seq == first_seq ? (ssize_t)lo : -1;
}

static bool add_segment(selgw_journal *j, segment s)
{
    if (j->seg_count == j->seg_cap) {
        size_t cap = j->seg_cap ? j->seg_cap * 2 : 16;
        segment *segs = realloc(j->segs, cap * sizeof *segs);
        if (!segs)
            return false;
        j->segs = segs;
        j->seg_cap = cap;
    }
    j->segs[j->seg_count++] = s;
    return true;
}

static void remove_segment_at(selgw_journal *j, size_t i)
{
    memmove(&j->segs[i], &j->segs[i + 1], (j->seg_count - i - 1) * sizeof *j->segs);
    j->seg_count--;
}

/* The committed sequence moved, or the journal failed or closes: waiters on committed_cv
 * wake, and so do the threads that wait in poll() on a watched eventfd. Under lock. */
static void committed_moved_locked(selgw_journal *j)
{
    pthread_cond_broadcast(&j->committed_cv);
    for (size_t i = 0; i < j->watch_count; i++)
        (void)eventfd_write(j->watch_fds[i], 1); /* non-blocking; a full counter is awake */
}

/* Called with the lock held: the journal cannot go on. */
static void fail_locked(selgw_journal *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_locked(selgw_journal *j, const char *fmt, ...)
{
    if (j->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->failure, sizeof j->failure, fmt, ap);
    va_end(ap);
    j->failed = true;
    selgw_log(SELGW_LOG_ERROR,
              "journal %s: %s; it takes no more records (%" PRIu64
              " appended records were not written)",
              j->dir, j->failure, pending_records(j));
    committed_moved_locked(j);
    pthread_cond_broadcast(&j->space_cv);
}

/* ---- housekeeping: retention and dropped segments ------------------------------------ */

typedef struct removal {
    uint64_t first_seq, last_seq, bytes, gap_first, gap_seq;
} removal;

static void remove_files(selgw_journal *j, const removal *list, size_t n, bool dropped)
{
    bool removed = false;
    for (size_t i = 0; i < n; i++) {
        char name[SEGMENT_NAME_SIZE];
        segment_name(list[i].first_seq, name);
        if (unlinkat(j->dir_fd, name, 0) != 0 && errno != ENOENT) {
            selgw_log(SELGW_LOG_ERROR, "journal %s: cannot remove %s: %s", j->dir, name,
                      strerror(errno));
            continue;
        }
        removed = true;
        if (dropped)
            selgw_log(SELGW_LOG_WARN,
                      "journal %s: disk budget of %" PRIu64 " bytes reached: dropped %s "
                      "(%" PRIu64 " bytes, records %" PRIu64 "..%" PRIu64 "); GAP record %" PRIu64
                      " says records %" PRIu64 "..%" PRIu64 " are lost",
                      j->dir, j->max_backlog, name, list[i].bytes, list[i].first_seq,
                      list[i].last_seq, list[i].gap_seq, list[i].gap_first, list[i].last_seq);
        else
            selgw_log(SELGW_LOG_DEBUG,
                      "journal %s: removed %s (records %" PRIu64 "..%" PRIu64
                      ", delivered, retention over)",
                      j->dir, name, list[i].first_seq, list[i].last_seq);
    }
    if (removed && sync_dir(j) != 0)
        selgw_log(SELGW_LOG_WARN, "journal %s: fsync of the directory: %s", j->dir,
                  strerror(errno));
}

/* Removes the segments every sink has passed whose retention is over (never the last). */
static void run_retention(selgw_journal *j)
{
    if (!j->writable)
        return;
    int64_t now = selgw_utc_ns();
    pthread_mutex_lock(&j->lock);
    uint64_t delivered = min_cursor(j);
    if (delivered > j->retention_hold)
        delivered = j->retention_hold;
    size_t n = 0;
    removal *list = NULL;
    for (size_t i = 0; i + 1 < j->seg_count;) {
        segment *s = &j->segs[i];
        if (s->last_seq <= delivered && s->mtime_ns + j->retention_ns <= now) {
            removal *grown = realloc(list, (n + 1) * sizeof *list);
            if (!grown)
                break;
            list = grown;
            list[n++] = (removal){s->first_seq, s->last_seq, s->bytes, 0, 0};
            remove_segment_at(j, i);
        } else {
            i++;
        }
    }
    if (n)
        recount_backlog(j);
    pthread_mutex_unlock(&j->lock);
    remove_files(j, list, n, false);
    free(list);
}

/* Removes the files of dropped segments whose GAP record is committed ... */
static void finish_drops(selgw_journal *j)
{
    pthread_mutex_lock(&j->lock);
    size_t n = 0;
    removal *list = NULL;
    if (j->drop_count) {
        list = malloc(j->drop_count * sizeof *list);
        for (size_t i = 0; list && i < j->drop_count;) {
            dropped_segment *d = &j->drops[i];
            /* ... and, under a retention hold, once a saved chain state names its GAP: a
             * crash before that reads its records again at start rather than giving their
             * chain positions twice */
            if (d->gap_seq <= j->committed && d->gap_seq <= j->retention_hold) {
                list[n++] =
                    (removal){d->first_seq, d->last_seq, d->bytes, d->gap_first, d->gap_seq};
                memmove(d, d + 1, (j->drop_count - i - 1) * sizeof *d);
                j->drop_count--;
            } else {
                i++;
            }
        }
    }
    pthread_mutex_unlock(&j->lock);
    if (n)
        remove_files(j, list, n, true);
    free(list);
}

/* ---- cursors ------------------------------------------------------------------------- */

static selgw_err write_cursor_text(FILE *f, void *ctx)
{
    const uint64_t *seq = ctx;
    return fprintf(f, "%" PRIu64 "\n", *seq) < 0 ? selgw_err_from_errno(errno) : SELGW_OK;
}

/* Writes cursor.<sink> crash-safely (selgw_durable_replace). 0640 as every journal file. */
static selgw_err write_cursor_file(selgw_journal *j, const char *sink, uint64_t seq)
{
    char *path = NULL;
    if (asprintf(&path, "%s/cursor.%s", j->dir, sink) < 0)
        return SELGW_ERR_NOMEM;
    selgw_err err = selgw_durable_replace(path, 0640, write_cursor_text, &seq);
    if (err != SELGW_OK)
        selgw_log(SELGW_LOG_ERROR, "journal %s: cannot persist the cursor of %s: %s", j->dir, sink,
                  strerror(errno));
    free(path);
    return err;
}

static selgw_err read_cursor_file(selgw_journal *j, const char *sink, uint64_t *seq, bool *saved,
                                  selgw_journal_recovery *rec)
{
    char name[MAX_SINK_NAME + 16];
    snprintf(name, sizeof name, "cursor.%s", sink);
    *seq = 0;
    *saved = false;
    int fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return SELGW_OK; /* a sink configured for the first time */
        set_message(rec, "cursor file %s: %s", name, strerror(errno));
        return SELGW_ERR_IO;
    }
    char text[64];
    ssize_t n = read(fd, text, sizeof text - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        set_message(rec, "cursor file %s: %s", name, strerror(e));
        return SELGW_ERR_IO;
    }
    text[n] = '\0';
    uint64_t v = 0;
    ssize_t i = 0;
    for (; i < n && text[i] >= '0' && text[i] <= '9'; i++) {
        unsigned d = (unsigned)(text[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            break;
        v = v * 10 + d;
    }
    if (i == 0 || i + 1 != n || text[i] != '\n') {
        set_message(rec, "cursor file %s: not a sequence number followed by a newline", name);
        return SELGW_ERR_CORRUPT;
    }
    *seq = v;
    *saved = true;
    return SELGW_OK;
}

static ssize_t find_sink(const selgw_journal *j, const char *sink)
{
    for (size_t i = 0; sink && i < j->sink_count; i++)
        if (strcmp(j->sinks[i].name, sink) == 0)
            return (ssize_t)i;
    return -1;
}

uint64_t selgw_journal_cursor(selgw_journal *j, const char *sink)
{
    if (!j)
        return 0;
    pthread_mutex_lock(&j->lock);
    ssize_t i = find_sink(j, sink);
    uint64_t seq = i >= 0 ? j->sinks[i].seq : 0;
    pthread_mutex_unlock(&j->lock);
    return seq;
}

bool selgw_journal_cursor_saved(selgw_journal *j, const char *sink)
{
    if (!j)
        return false;
    pthread_mutex_lock(&j->lock);
    ssize_t i = find_sink(j, sink);
    bool saved = i >= 0 && j->sinks[i].saved;
    pthread_mutex_unlock(&j->lock);
    return saved;
}

selgw_err selgw_journal_set_cursor(selgw_journal *j, const char *sink, uint64_t seq)
{
    if (!j || !j->writable)
        return SELGW_ERR_INVALID;
    pthread_mutex_lock(&j->lock);
    ssize_t i = find_sink(j, sink);
    bool ok = i >= 0 && seq <= j->committed;
    pthread_mutex_unlock(&j->lock);
    if (!ok)
        return SELGW_ERR_INVALID;
    /* Persisted first: retention may remove what an in-memory cursor has passed. */
    pthread_mutex_lock(&j->cursor_lock);
    selgw_err err = write_cursor_file(j, sink, seq);
    if (err == SELGW_OK) {
        pthread_mutex_lock(&j->lock);
        j->sinks[i].seq = seq;
        j->sinks[i].saved = true;
        recount_backlog(j);
        if (j->refusing != SELGW_OK)
            pthread_cond_broadcast(&j->space_cv);
        pthread_mutex_unlock(&j->lock);
    }
    pthread_mutex_unlock(&j->cursor_lock);
    if (err == SELGW_OK)
        run_retention(j);
    return err;
}

uint64_t selgw_journal_backlog_bytes(selgw_journal *j)
{
    if (!j)
        return 0;
    pthread_mutex_lock(&j->lock);
    uint64_t b = j->backlog_disk + pending_bytes(j);
    pthread_mutex_unlock(&j->lock);
    return b;
}

void selgw_journal_get_stats(selgw_journal *j, selgw_journal_stats *out)
{
    selgw_journal_range(j, &out->first_seq, &out->committed_seq);
    pthread_mutex_lock(&j->lock);
    out->appended_records = j->appended_records;
    out->appended_bytes = j->appended_bytes;
    out->backlog_bytes = j->backlog_disk + pending_bytes(j);
    out->max_backlog_bytes = j->max_backlog;
    out->fsync = j->fsync_latency;
    out->commits = j->commits;
    out->commit_records_max = j->commit_records_max;
    pthread_mutex_unlock(&j->lock);
}

/* ---- the writer ---------------------------------------------------------------------- */

/* Closes the segment being written and begins the one whose first record is first_seq.
 * Returns 0 or an errno (the caller decides whether it is fatal). */
static int roll_segment(selgw_journal *j, uint64_t first_seq, const char **what, bool *fatal)
{
    char name[SEGMENT_NAME_SIZE];
    if (j->active_fd >= 0) {
        if (j->dirty && j->fsync_policy != SELGW_FSYNC_NONE) {
            if (selgw_journal_io_hooks.fdatasync(j->active_fd) != 0) {
                *what = "fdatasync of the closing segment";
                *fatal = true;
                return errno ? errno : EIO;
            }
            j->dirty = false;
            j->last_fsync_ns = selgw_mono_ns();
        }
        close(j->active_fd);
        j->active_fd = -1;
    }
    segment_name(first_seq, name);
    int fd = openat(j->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        *what = "creating a segment";
        return errno;
    }
    uint8_t hdr[SEGMENT_HEADER_SIZE];
    encode_segment_header(first_seq, hdr);
    int e = write_all(fd, hdr, sizeof hdr, 0);
    if (e == 0)
        e = sync_dir(j);
    if (e != 0) {
        close(fd);
        unlinkat(j->dir_fd, name, 0);
        *what = "creating a segment";
        return e;
    }
    pthread_mutex_lock(&j->lock);
    bool ok = add_segment(j, (segment){first_seq, first_seq - 1, SEGMENT_HEADER_SIZE,
                                       selgw_utc_ns(), NO_MIN_TIME, NO_MAX_TIME});
    j->force_roll = false;
    pthread_mutex_unlock(&j->lock);
    if (!ok) {
        close(fd);
        unlinkat(j->dir_fd, name, 0);
        *what = "creating a segment";
        return ENOMEM;
    }
    j->active_fd = fd;
    j->dirty = true; /* the header: synced with the first records */
    return 0;
}

/* Writes what is left of the batch, one segment's part at a time, each made durable per
 * the policy and then committed. Returns 0 or an errno with *what saying what failed;
 * nothing that was not committed stays in the file. */
static int write_batch(selgw_journal *j, const char **what, bool *fatal)
{
    const uint8_t *buf = j->writing.data;
    size_t end = j->writing.len;
    while (j->writing_off < end) {
        size_t off = j->writing_off;
        uint64_t first = get_u64(buf + off + 8);
        size_t flen = FRAME_HEADER_SIZE + get_u32(buf + off);

        pthread_mutex_lock(&j->lock);
        segment *last = j->seg_count ? &j->segs[j->seg_count - 1] : NULL;
        bool roll = j->active_fd < 0 || !last || j->force_roll || last->last_seq + 1 != first ||
                    (segment_records(last) > 0 && last->bytes + flen > j->segment_bytes);
        uint64_t at = last ? last->bytes : 0;
        pthread_mutex_unlock(&j->lock);
        if (roll) {
            int e = roll_segment(j, first, what, fatal);
            if (e)
                return e;
            at = SEGMENT_HEADER_SIZE;
        }

        /* The records that fit in this segment (at least one). */
        size_t chunk_end = off + flen;
        uint64_t last_seq = first;
        while (chunk_end < end) {
            size_t n = FRAME_HEADER_SIZE + get_u32(buf + chunk_end);
            if (at + (chunk_end - off) + n > j->segment_bytes)
                break;
            last_seq = get_u64(buf + chunk_end + 8);
            chunk_end += n;
        }
        size_t chunk = chunk_end - off;
        int64_t min_time = NO_MIN_TIME, max_time = NO_MAX_TIME;
        for (size_t f = off; f < chunk_end; f += FRAME_HEADER_SIZE + get_u32(buf + f))
            widen_times(buf + f + FRAME_HEADER_SIZE, get_u32(buf + f), &min_time, &max_time);

        int e = write_all(j->active_fd, buf + off, chunk, at);
        if (e) {
            *what = "write";
        } else if (j->fsync_policy == SELGW_FSYNC_BATCH ||
                   (j->fsync_policy == SELGW_FSYNC_INTERVAL &&
                    selgw_mono_ns() - j->last_fsync_ns >= j->fsync_interval_ns)) {
            int64_t began = selgw_mono_ns();
            int rc = selgw_journal_io_hooks.fdatasync(j->active_fd);
            int fsync_errno = errno;
            pthread_mutex_lock(&j->lock);
            selgw_histogram_add(&j->fsync_latency, selgw_mono_ns() - began);
            pthread_mutex_unlock(&j->lock);
            if (rc != 0) {
                e = fsync_errno ? fsync_errno : EIO;
                *what = "fdatasync";
                *fatal = true; /* whatever errno: the pages' fate is unknown */
            } else {
                j->dirty = false;
                j->last_fsync_ns = selgw_mono_ns();
            }
        } else {
            j->dirty = true;
        }
        if (e) {
            /* Nothing uncommitted may stay: a later write starts at the committed end. */
            if (selgw_journal_io_hooks.ftruncate(j->active_fd, (off_t)at) != 0) {
                int te = errno;
                pthread_mutex_lock(&j->lock);
                fail_locked(j, "%s failed (%s) and cutting the segment back failed too (%s)", *what,
                            strerror(e), strerror(te));
                pthread_mutex_unlock(&j->lock);
            }
            return e;
        }

        pthread_mutex_lock(&j->lock);
        last = &j->segs[j->seg_count - 1];
        last->bytes = at + chunk;
        last->last_seq = last_seq;
        last->mtime_ns = selgw_utc_ns();
        if (min_time < last->min_time_ns)
            last->min_time_ns = min_time;
        if (max_time > last->max_time_ns)
            last->max_time_ns = max_time;
        j->committed = last_seq;
        j->commits++;
        if (last_seq - first + 1 > j->commit_records_max)
            j->commit_records_max = last_seq - first + 1;
        j->writing_off = chunk_end;
        recount_backlog(j);
        committed_moved_locked(j);
        pthread_mutex_unlock(&j->lock);
    }
    return 0;
}

/* ---- the space reserve ---------------------------------------------------------------- */

/* Writes the reserve's first block: its magic and the notes held in j. */
static int write_reserve_note(selgw_journal *j)
{
    char block[RESERVE_NOTE_BYTES];
    memset(block, 0, sizeof block);
    snprintf(block, sizeof block, "%s%s%s", RESERVE_MAGIC, j->note_unwritten, j->note_refused);
    /* The block is allocated already: overwriting it needs no space. */
    if (pwrite(j->reserve_fd, block, sizeof block, 0) != (ssize_t)sizeof block ||
        fdatasync(j->reserve_fd) != 0)
        return errno ? errno : EIO;
    return 0;
}

/* Opens space.reserve (writable journals): reads the note a stop left in it, then makes
 * sure the reserve holds its space. */
static void open_reserve(selgw_journal *j, selgw_journal_recovery *rec)
{
    j->reserve_fd = openat(j->dir_fd, RESERVE_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (j->reserve_fd < 0) {
        selgw_log(SELGW_LOG_WARN, "journal %s: no space reserve (%s): %s", j->dir, RESERVE_FILE,
                  strerror(errno));
        return;
    }
    (void)fchmod(j->reserve_fd, 0640);
    char block[RESERVE_NOTE_BYTES + 1];
    ssize_t n = pread(j->reserve_fd, block, RESERVE_NOTE_BYTES, 0);
    block[n > 0 ? n : 0] = '\0';
    /* Notes are kept as they are until the owner has them on record (forget_notes). */
    bool noted = false;
    const char *line = n > 0 && !strncmp(block, RESERVE_MAGIC, strlen(RESERVE_MAGIC))
                           ? block + strlen(RESERVE_MAGIC)
                           : NULL;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        int line_len = nl ? (int)(nl - line) + 1 : (int)strlen(line);
        unsigned long long first, last, count;
        long long from, to;
        int why;
        if (sscanf(line, "unwritten %llu %llu %llu %lld %lld", &first, &last, &count, &from, &to) ==
                5 &&
            first <= last && count > 0) {
            rec->unwritten_first = first;
            rec->unwritten_last = last;
            rec->unwritten_records = count;
            rec->unwritten_from_ns = from;
            rec->unwritten_to_ns = to;
            snprintf(j->note_unwritten, sizeof j->note_unwritten, "%.*s", line_len, line);
            noted = true;
            if (j->next_seq <= last) { /* their numbers are never given again */
                j->next_seq = last + 1;
                j->committed = last;
                j->force_roll = true;
            }
        } else if (sscanf(line, "refused %llu %lld %lld %d", &count, &from, &to, &why) == 4 &&
                   count > 0 && why > 0 && why < SELGW_ERR_COUNT_) {
            rec->refused_records = count;
            rec->refused_from_ns = from;
            rec->refused_to_ns = to;
            rec->refused_err = (selgw_err)why;
            snprintf(j->note_refused, sizeof j->note_refused, "%.*s", line_len, line);
            noted = true;
        }
        line = nl ? nl + 1 : NULL;
    }
    int e = noted ? 0 : write_reserve_note(j);
    if (e == 0)
        e = posix_fallocate(j->reserve_fd, 0, (off_t)RESERVE_BYTES);
    if (e != 0)
        selgw_log(SELGW_LOG_WARN,
                  "journal %s: cannot hold back %llu MiB of space (%s): a stop with the disk "
                  "full may not be able to write what waits in memory",
                  j->dir, (unsigned long long)(RESERVE_BYTES >> 20), strerror(e));
}

/* journal.group: the directory (and annotations/ in it) gets the group and the setgid bit,
 * so that every file created in it from now on belongs to the group too (files are 0640,
 * directories 0750); the files already there are given to it. */
static void share_with_group(selgw_journal *j, const char *group, gid_t gid)
{
    int e = 0;
    if (fchown(j->dir_fd, (uid_t)-1, gid) != 0 || fchmod(j->dir_fd, 02750) != 0)
        e = errno;
    int fd = e ? -1 : dup(j->dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *ent;
    while (d && !e && (ent = readdir(d))) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
            continue;
        if (fchownat(j->dir_fd, ent->d_name, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) != 0)
            e = errno;
        else if (ent->d_type == DT_DIR && fchmodat(j->dir_fd, ent->d_name, 02750, 0) != 0)
            e = errno;
    }
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    if (e)
        selgw_log(SELGW_LOG_WARN,
                  "journal %s: cannot give group %s read access: %s (the service's user must "
                  "be a member of the group)",
                  j->dir, group, strerror(e));
}

void selgw_journal_forget_notes(selgw_journal *j)
{
    if (!j || j->reserve_fd < 0)
        return;
    pthread_mutex_lock(&j->lock);
    j->note_unwritten[0] = j->note_refused[0] = '\0';
    int e = write_reserve_note(j);
    pthread_mutex_unlock(&j->lock);
    if (e)
        selgw_log(SELGW_LOG_ERROR, "journal %s: cannot clear the notes in %s: %s", j->dir,
                  RESERVE_FILE, strerror(e));
}

void selgw_journal_note_refused(selgw_journal *j, uint64_t count, int64_t from_ns, int64_t to_ns,
                                selgw_err why)
{
    if (!j || j->reserve_fd < 0)
        return;
    pthread_mutex_lock(&j->lock);
    if (count)
        snprintf(j->note_refused, sizeof j->note_refused,
                 "refused %" PRIu64 " %" PRId64 " %" PRId64 " %d\n", count, from_ns, to_ns,
                 (int)why);
    else
        j->note_refused[0] = '\0';
    int e = write_reserve_note(j);
    pthread_mutex_unlock(&j->lock);
    if (e)
        selgw_log(SELGW_LOG_ERROR, "journal %s: cannot note refused records in %s: %s", j->dir,
                  RESERVE_FILE, strerror(e));
}

/* Closing with the disk full even after the reserve was released: what waits in memory is
 * noted in the reserve's first block (which needs no new space), so that the next start
 * records it as lost and never gives its numbers again. Lock held. */
static void note_unwritten_locked(selgw_journal *j)
{
    uint64_t count = 0, first = 0, last = 0;
    int64_t from = INT64_MAX, to = INT64_MIN;
    selgw_record *rec = malloc(sizeof *rec);
    const byte_buf *bufs[2] = {&j->writing, &j->pend};
    for (int b = 0; b < 2; b++) {
        size_t off = b == 0 ? j->writing_off : 0;
        while (off + FRAME_HEADER_SIZE <= bufs[b]->len) {
            const uint8_t *frame = bufs[b]->data + off;
            uint32_t len = get_u32(frame);
            uint64_t seq = get_u64(frame + 8);
            if (!count)
                first = seq;
            last = seq;
            count++;
            if (rec && selgw_record_decode(frame + FRAME_HEADER_SIZE, len, rec) == SELGW_OK) {
                if (rec->time_ns < from)
                    from = rec->time_ns;
                if (rec->time_ns > to)
                    to = rec->time_ns;
            }
            off += FRAME_HEADER_SIZE + len;
        }
    }
    free(rec);
    if (!count)
        return;
    if (from > to)
        from = to = 0;
    char a[SELGW_UTC_TEXT_SIZE], b[SELGW_UTC_TEXT_SIZE];
    snprintf(j->note_unwritten, sizeof j->note_unwritten,
             "unwritten %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 "\n", first, last,
             count, from, to);
    int e = j->reserve_fd >= 0 ? write_reserve_note(j) : ENOENT;
    selgw_log(SELGW_LOG_ERROR,
              "journal %s: closing with the disk full: %" PRIu64 " records (%" PRIu64 "..%" PRIu64
              ", of %s to %s) could not be written%s%s",
              j->dir, count, first, last, selgw_format_utc(from, a), selgw_format_utc(to, b),
              e ? "; they cannot even be noted: " : "; noted, the next start records them as a GAP",
              e ? strerror(e) : "");
}

static void *writer_main(void *arg)
{
    selgw_journal *j = arg;
    pthread_mutex_lock(&j->lock);
    for (;;) {
        int64_t now = selgw_mono_ns();
        j->writer_beat_ns = now;
        if (j->failed)
            break;
        if (now >= j->next_housekeeping_ns) {
            j->next_housekeeping_ns = now + HOUSEKEEPING_MS * SELGW_NS_PER_MS;
            pthread_mutex_unlock(&j->lock);
            finish_drops(j);
            run_retention(j);
            pthread_mutex_lock(&j->lock);
            continue;
        }
        bool batch_left = j->writing_off < j->writing.len;
        int64_t deadline = j->next_housekeeping_ns;
        if (j->dirty && j->fsync_policy == SELGW_FSYNC_INTERVAL && !batch_left) {
            int64_t due = j->last_fsync_ns + j->fsync_interval_ns;
            if (now >= due) {
                pthread_mutex_unlock(&j->lock);
                int64_t began = selgw_mono_ns();
                int rc = selgw_journal_io_hooks.fdatasync(j->active_fd);
                int e = errno;
                pthread_mutex_lock(&j->lock);
                selgw_histogram_add(&j->fsync_latency, selgw_mono_ns() - began);
                if (rc != 0) {
                    fail_locked(j, "fdatasync failed: %s", strerror(e));
                    break;
                }
                j->dirty = false;
                j->last_fsync_ns = selgw_mono_ns();
                continue;
            }
            if (due < deadline)
                deadline = due;
        }
        if (!batch_left) {
            if (j->pend.len == 0) {
                if (j->stopping)
                    break;
                struct timespec ts = mono_deadline(deadline);
                pthread_cond_timedwait(&j->work_cv, &j->lock, &ts);
                continue;
            }
            int64_t due = j->pend_since_ns + j->commit_interval_ns;
            bool go = j->stopping || now >= due || j->pend.len >= BATCH_BYTES ||
                      j->flush_target > j->committed;
            if (!go) {
                struct timespec ts = mono_deadline(due < deadline ? due : deadline);
                pthread_cond_timedwait(&j->work_cv, &j->lock, &ts);
                continue;
            }
            byte_buf taken = j->pend;
            j->pend = j->writing;
            j->pend.len = 0;
            j->writing = taken;
            j->writing_off = 0;
            pthread_cond_broadcast(&j->space_cv);
        } else if (j->no_space && now < j->retry_at_ns) {
            struct timespec ts =
                mono_deadline(j->retry_at_ns < deadline ? j->retry_at_ns : deadline);
            pthread_cond_timedwait(&j->work_cv, &j->lock, &ts);
            continue;
        }
        pthread_mutex_unlock(&j->lock);

        const char *what = "write";
        bool fatal = false;
        int e = write_batch(j, &what, &fatal);
        bool rolled_or_committed = e == 0;

        pthread_mutex_lock(&j->lock);
        if (e == 0) {
            if (j->no_space) {
                j->no_space = false;
                selgw_repeat_ok(&j->space_repeat, "journal");
                pthread_cond_broadcast(&j->space_cv);
            }
        } else if (!fatal && (e == ENOSPC || e == EDQUOT)) {
            char detail[160];
            snprintf(detail, sizeof detail,
                     "%s in %s: %" PRIu64 " records wait in memory, retried every %d ms", what,
                     j->dir, pending_records(j), selgw_journal_retry_ms);
            selgw_repeat_fail(&j->space_repeat, "journal", SELGW_ERR_NO_SPACE, detail);
            j->no_space = true;
            j->retry_at_ns = selgw_mono_ns() + (int64_t)selgw_journal_retry_ms * SELGW_NS_PER_MS;
            committed_moved_locked(j);
            pthread_cond_broadcast(&j->space_cv);
            if (j->stopping) {
                /* Nothing that was accepted is dropped at a stop: wait a while for space,
                 * then release the reserve, then note what still could not be written. */
                int64_t t = selgw_mono_ns();
                if (!j->stop_deadline_ns) {
                    j->stop_deadline_ns = t + (int64_t)selgw_journal_stop_wait_ms * SELGW_NS_PER_MS;
                    selgw_log(SELGW_LOG_WARN,
                              "journal %s: stopping with the disk full: %" PRIu64
                              " records wait in memory; waiting up to %.1f s for space",
                              j->dir, pending_records(j), selgw_journal_stop_wait_ms / 1000.0);
                } else if (t >= j->stop_deadline_ns && !j->reserve_released && j->reserve_fd >= 0) {
                    j->reserve_released = true;
                    if (ftruncate(j->reserve_fd, RESERVE_NOTE_BYTES) == 0) {
                        selgw_log(SELGW_LOG_WARN,
                                  "journal %s: the disk is still full: released the %llu MiB "
                                  "space reserve to write what waits",
                                  j->dir, (unsigned long long)(RESERVE_BYTES >> 20));
                        j->retry_at_ns = t;
                    }
                } else if (t >= j->stop_deadline_ns) {
                    note_unwritten_locked(j);
                    break;
                }
            }
        } else {
            /* EIO after fdatasync: the kernel may have dropped the pages and a second
             * fdatasync could report success all the same (PostgreSQL's lesson). */
            fail_locked(j, "%s failed: %s", what, strerror(e));
            break;
        }
        if (rolled_or_committed && j->drop_count)
            j->next_housekeeping_ns = 0; /* remove dropped segments now */
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* ---- recovery ------------------------------------------------------------------------ */

/* What is wrong with the frame at off, or NULL; *flen its size when fine. */
static const char *check_frame(const uint8_t *map, uint64_t size, uint64_t off, uint64_t expect,
                               uint64_t *flen, char *why, size_t why_cap)
{
    uint64_t left = size - off;
    if (left < FRAME_HEADER_SIZE) {
        selgw_explain(why, why_cap, "incomplete frame header (%" PRIu64 " of %u bytes)", left,
                      FRAME_HEADER_SIZE);
        return why;
    }
    uint32_t len = get_u32(map + off);
    if (len == 0 || len > MAX_PAYLOAD) {
        selgw_explain(why, why_cap, "frame length %" PRIu32 " is not valid", len);
        return why;
    }
    if (left - FRAME_HEADER_SIZE < len) {
        selgw_explain(why, why_cap, "frame of %" PRIu32 " bytes runs past the end of the file",
                      len);
        return why;
    }
    uint32_t stored = get_u32(map + off + 4);
    uint32_t crc = selgw_crc32c(0, map + off + 8, 8 + (size_t)len);
    if (stored != crc) {
        selgw_explain(why, why_cap, "CRC mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")",
                      stored, crc);
        return why;
    }
    uint64_t seq = get_u64(map + off + 8);
    if (seq != expect) {
        selgw_explain(why, why_cap, "sequence %" PRIu64 " where %" PRIu64 " was expected", seq,
                      expect);
        return why;
    }
    *flen = FRAME_HEADER_SIZE + len;
    return NULL;
}

/* Is there a frame that checks out anywhere after `from`? Then the damage before it is not
 * a torn write at the tail, and cutting there could throw committed records away. */
static bool intact_frame_after(const uint8_t *map, uint64_t size, uint64_t from)
{
    for (uint64_t off = from; off + FRAME_HEADER_SIZE <= size; off++) {
        uint32_t len = get_u32(map + off);
        if (len == 0 || len > MAX_PAYLOAD || size - off - FRAME_HEADER_SIZE < len)
            continue;
        if (get_u32(map + off + 4) == selgw_crc32c(0, map + off + 8, 8 + (size_t)len))
            return true;
    }
    return false;
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Checks one segment file; the last one may have its torn tail cut. */
static selgw_err recover_segment(selgw_journal *j, uint64_t first_seq, bool is_last,
                                 uint64_t prev_last, selgw_journal_recovery *rec)
{
    char name[SEGMENT_NAME_SIZE];
    segment_name(first_seq, name);
    if (first_seq <= prev_last) {
        set_message(rec,
                    "segment %s offset 0: begins at sequence %" PRIu64
                    " but the segment before ends at %" PRIu64,
                    name, first_seq, prev_last);
        return SELGW_ERR_CORRUPT;
    }
    bool fix = is_last && j->writable;
    int fd = openat(j->dir_fd, name, (fix ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        set_message(rec, "segment %s: %s", name, strerror(errno));
        return SELGW_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        set_message(rec, "segment %s: %s", name, strerror(errno));
        close(fd);
        return SELGW_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        set_message(rec, "segment %s: not a regular file", name);
        close(fd);
        return SELGW_ERR_IO;
    }
    uint64_t size = (uint64_t)st.st_size;
    const uint8_t *map = NULL;
    if (size > 0) {
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            set_message(rec, "segment %s: %s", name, strerror(errno));
            close(fd);
            return SELGW_ERR_IO;
        }
        map = m;
    }

    selgw_err err = SELGW_OK;
    char why[160];
    const char *problem = NULL;
    uint64_t valid = 0, expect = first_seq, bad_at = 0;
    int64_t min_time = NO_MIN_TIME, max_time = NO_MAX_TIME;
    if (size < SEGMENT_HEADER_SIZE) {
        selgw_explain(why, sizeof why, "segment header incomplete (%" PRIu64 " of %u bytes)", size,
                      SEGMENT_HEADER_SIZE);
        problem = why;
    } else if (memcmp(map, SEGMENT_MAGIC, 8) != 0) {
        problem = "not a selgw journal segment (bad magic)";
    } else if (get_u32(map + 24) != selgw_crc32c(0, map, 24)) {
        problem = "segment header CRC mismatch";
    } else if (get_u32(map + 8) != SEGMENT_VERSION) {
        selgw_explain(why, sizeof why, "segment format version %" PRIu32 " is not supported",
                      get_u32(map + 8));
        problem = why;
    } else if (get_u64(map + 16) != first_seq) {
        selgw_explain(why, sizeof why, "header says first sequence %" PRIu64 ", the name %" PRIu64,
                      get_u64(map + 16), first_seq);
        problem = why;
    }
    if (problem) {
        /* Only a header that never made it to the disk is a torn write; anything else in
         * that place is not ours, or damaged. */
        if (!is_last || (size >= SEGMENT_HEADER_SIZE && !all_zero(map, size))) {
            set_message(rec, "segment %s offset 0: %s", name, problem);
            err = SELGW_ERR_CORRUPT;
            goto out;
        }
        bad_at = 0;
    } else {
        uint64_t off = SEGMENT_HEADER_SIZE, flen = 0;
        while (off < size) {
            problem = check_frame(map, size, off, expect, &flen, why, sizeof why);
            if (problem)
                break;
            widen_times(map + off + FRAME_HEADER_SIZE, flen - FRAME_HEADER_SIZE, &min_time,
                        &max_time);
            off += flen;
            expect++;
        }
        valid = off;
        bad_at = off;
        if (problem && (!is_last || intact_frame_after(map, size, off + 1))) {
            set_message(rec, "segment %s offset %" PRIu64 ": %s", name, off, problem);
            err = SELGW_ERR_CORRUPT;
            goto out;
        }
    }

    if (problem) {
        rec->torn_bytes += size - bad_at;
        selgw_log(SELGW_LOG_DEBUG, "journal %s: torn tail in %s at offset %" PRIu64 ": %s", j->dir,
                  name, bad_at, problem);
    }
    if (fix && (problem || size < SEGMENT_HEADER_SIZE)) {
        int e = 0;
        if (selgw_journal_io_hooks.ftruncate(fd, (off_t)valid) != 0)
            e = errno;
        if (e == 0 && valid == 0) {
            uint8_t hdr[SEGMENT_HEADER_SIZE];
            encode_segment_header(first_seq, hdr);
            e = write_all(fd, hdr, sizeof hdr, 0);
            valid = SEGMENT_HEADER_SIZE;
        }
        if (e == 0 && selgw_journal_io_hooks.fdatasync(fd) != 0)
            e = errno;
        if (e != 0) {
            set_message(rec, "segment %s: cannot cut the torn tail: %s", name, strerror(e));
            err = selgw_err_from_errno(e);
            goto out;
        }
    } else if (valid < SEGMENT_HEADER_SIZE) {
        valid = SEGMENT_HEADER_SIZE; /* read-only: an empty segment, as it will be */
    }
    if (!add_segment(
            j, (segment){first_seq, expect - 1, valid, utc_of(&st.st_mtim), min_time, max_time})) {
        err = SELGW_ERR_NOMEM;
        goto out;
    }
    if (fix) {
        j->active_fd = fd;
        fd = -1;
    }
out:
    if (map)
        munmap((void *)map, size);
    if (fd >= 0)
        close(fd);
    return err;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Said when the journal's directory may not be made: the usual case is a user on a laptop
 * and the default /var/lib/selgw/journal, which belongs to the selgw service. */
#define PERMISSION_HINT                                                                            \
    " (this user may not write there: set journal.dir to a directory it may write, e.g. "          \
    "journal: {dir: journal}, or run as the user the journal belongs to, e.g. selgw)"

static selgw_err make_dir(const char *path, selgw_journal_recovery *rec)
{
    char *copy = strdup(path);
    if (!copy)
        return SELGW_ERR_NOMEM;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            int e = errno;
            set_message(rec, "journal directory %s: cannot create %s: %s%s", path, copy,
                        strerror(e), e == EACCES ? PERMISSION_HINT : "");
            free(copy);
            return selgw_err_from_errno(e);
        }
        *p = '/';
    }
    free(copy);
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        int e = errno;
        set_message(rec, "journal directory %s: %s%s", path, strerror(e),
                    e == EACCES ? PERMISSION_HINT : "");
        return selgw_err_from_errno(e);
    }
    return SELGW_OK;
}

static selgw_err scan_directory(selgw_journal *j, selgw_journal_recovery *rec)
{
    int fd = dup(j->dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        set_message(rec, "journal directory %s: %s", j->dir, strerror(errno));
        return SELGW_ERR_IO;
    }
    uint64_t *firsts = NULL;
    size_t n = 0, cap = 0;
    selgw_err err = SELGW_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t first = parse_segment_name(e->d_name);
        if (first == 0) {
            size_t len = strlen(e->d_name);
            /* a cursor's temporary file left by a crash (".tmp": by earlier versions) */
            if (j->writable && strncmp(e->d_name, "cursor.", 7) == 0 &&
                (selgw_durable_is_temp(e->d_name) ||
                 (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0)))
                unlinkat(j->dir_fd, e->d_name, 0);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *grown = realloc(firsts, cap * sizeof *firsts);
            if (!grown) {
                err = SELGW_ERR_NOMEM;
                break;
            }
            firsts = grown;
        }
        firsts[n++] = first;
    }
    closedir(d);
    if (err == SELGW_OK) {
        if (n > 1)
            qsort(firsts, n, sizeof *firsts, compare_u64);
        uint64_t prev_last = 0;
        for (size_t i = 0; i < n && err == SELGW_OK; i++) {
            err = recover_segment(j, firsts[i], i + 1 == n, prev_last, rec);
            if (err == SELGW_OK) {
                const segment *s = &j->segs[j->seg_count - 1];
                prev_last = s->last_seq;
                uint64_t count = segment_records(s);
                if (count && rec->first_seq == 0)
                    rec->first_seq = s->first_seq;
                if (count)
                    rec->last_seq = s->last_seq;
                rec->records += count;
            }
        }
    }
    free(firsts);
    return err;
}

static void free_journal(selgw_journal *j)
{
    if (!j)
        return;
    if (j->active_fd >= 0)
        close(j->active_fd);
    if (j->dir_fd >= 0)
        close(j->dir_fd);
    if (j->lock_fd >= 0) {
        /* no pid left behind to name a process that has gone */
        if (j->lock_held && ftruncate(j->lock_fd, 0) != 0)
            selgw_log(SELGW_LOG_DEBUG, "journal %s: cannot empty %s", j->dir, LOCK_FILE);
        close(j->lock_fd);
    }
    if (j->reserve_fd >= 0)
        close(j->reserve_fd);
    for (size_t i = 0; i < j->sink_count; i++)
        free(j->sinks[i].name);
    free(j->sinks);
    free(j->segs);
    free(j->drops);
    free(j->pend.data);
    free(j->writing.data);
    free(j->dir);
    pthread_mutex_destroy(&j->lock);
    pthread_mutex_destroy(&j->cursor_lock);
    pthread_cond_destroy(&j->work_cv);
    pthread_cond_destroy(&j->committed_cv);
    pthread_cond_destroy(&j->space_cv);
    pthread_cond_destroy(&j->idle_cv);
    free(j);
}

static selgw_journal *alloc_journal(void)
{
    selgw_journal *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->dir_fd = j->lock_fd = j->active_fd = j->reserve_fd = -1;
    pthread_mutex_init(&j->lock, NULL);
    pthread_mutex_init(&j->cursor_lock, NULL);
    pthread_cond_t *conds[] = {&j->work_cv, &j->committed_cv, &j->space_cv, &j->idle_cv};
    size_t made = 0;
    while (made < sizeof conds / sizeof conds[0] &&
           selgw_monotonic_cond_init(conds[made]) == SELGW_OK)
        made++;
    if (made < sizeof conds / sizeof conds[0]) {
        while (made > 0)
            pthread_cond_destroy(conds[--made]);
        pthread_mutex_destroy(&j->cursor_lock);
        pthread_mutex_destroy(&j->lock);
        free(j);
        return NULL;
    }
    return j;
}

selgw_err selgw_journal_open(const selgw_journal_config *cfg, const char *const *sinks,
                             size_t sink_count, bool start_writer, selgw_journal **out,
                             selgw_journal_recovery *recovery)
{
    selgw_journal_recovery scratch;
    selgw_journal_recovery *rec = recovery ? recovery : &scratch;
    memset(rec, 0, sizeof *rec);
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (!cfg || !cfg->dir || !cfg->dir[0] || (sink_count && !sinks) ||
        cfg->commit_interval_ms < 0 || cfg->fsync_interval_ms < 0 || cfg->retention_ms < 0) {
        set_message(rec, "journal: invalid configuration");
        return SELGW_ERR_INVALID;
    }
    for (size_t i = 0; i < sink_count; i++) {
        if (!sinks[i] || !valid_sink_name(sinks[i])) {
            set_message(rec, "journal: sink name \"%s\" is not valid (letters, digits, - _ .)",
                        sinks[i] ? sinks[i] : "(null)");
            return SELGW_ERR_INVALID;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(sinks[i], sinks[k]) == 0) {
                set_message(rec, "journal: sink \"%s\" named twice", sinks[i]);
                return SELGW_ERR_INVALID;
            }
    }

    selgw_journal *j = alloc_journal();
    if (!j)
        return SELGW_ERR_NOMEM;
    selgw_err err = SELGW_OK;
    j->writable = start_writer;
    j->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes : DEFAULT_SEGMENT_BYTES;
    j->fsync_policy = cfg->fsync;
    j->commit_interval_ns = (int64_t)cfg->commit_interval_ms * SELGW_NS_PER_MS;
    j->fsync_interval_ns = (int64_t)cfg->fsync_interval_ms * SELGW_NS_PER_MS;
    j->retention_ns = cfg->retention_ms * SELGW_NS_PER_MS;
    j->retention_hold = cfg->hold_retention ? 0 : UINT64_MAX;
    j->max_backlog = cfg->max_backlog_bytes;
    j->when_full = cfg->when_full;
    j->dir = strdup(cfg->dir);
    j->sinks = sink_count ? calloc(sink_count, sizeof *j->sinks) : NULL;
    if (!j->dir || (sink_count && !j->sinks)) {
        err = SELGW_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < sink_count; i++) {
        j->sinks[i].name = strdup(sinks[i]);
        if (!j->sinks[i].name) {
            err = SELGW_ERR_NOMEM;
            goto fail;
        }
        j->sink_count++;
    }

    if (start_writer && (err = make_dir(j->dir, rec)) != SELGW_OK)
        goto fail;
    j->dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dir_fd < 0) {
        set_message(rec, "journal directory %s: %s", j->dir, strerror(errno));
        err = SELGW_ERR_IO;
        goto fail;
    }
    if (start_writer) {
        /* Two gateways writing one journal would interleave their records. */
        j->lock_fd = openat(j->dir_fd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (j->lock_fd < 0 || flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            set_message(rec, "journal directory %s: %s", j->dir,
                        errno == EWOULDBLOCK ? "in use by another selgw process" : strerror(errno));
            err = SELGW_ERR_IO;
            goto fail;
        }
        j->lock_held = true;
    }

    if ((err = scan_directory(j, rec)) != SELGW_OK)
        goto fail;
    uint64_t last = rec->last_seq;
    if (j->seg_count && j->segs[j->seg_count - 1].first_seq - 1 > last)
        last = j->segs[j->seg_count - 1].first_seq - 1;
    uint64_t record_last = last;
    for (size_t i = 0; i < j->sink_count; i++) {
        if ((err = read_cursor_file(j, j->sinks[i].name, &j->sinks[i].seq, &j->sinks[i].saved,
                                    rec)) != SELGW_OK)
            goto fail;
        if (j->sinks[i].seq > last)
            last = j->sinks[i].seq;
    }
    if (last > record_last) {
        /* Records after a cursor were removed by hand: carry on after the cursor, so that
         * the sink does not take new records for ones it already delivered. */
        selgw_log(SELGW_LOG_WARN,
                  "journal %s: a cursor is at %" PRIu64 " but the journal ends at %" PRIu64
                  "; numbering continues after the cursor",
                  j->dir, last, record_last);
        j->force_roll = true;
    }
    j->next_seq = last + 1;
    j->committed = last;
    if (j->writable)
        open_reserve(j, rec);
    if (j->writable && cfg->group)
        share_with_group(j, cfg->group, (gid_t)cfg->gid);
    j->last_fsync_ns = selgw_mono_ns();
    recount_backlog(j);
    if (rec->torn_bytes)
        selgw_log(SELGW_LOG_DEBUG, "journal %s: %" PRIu64 " torn bytes %s", j->dir, rec->torn_bytes,
                  start_writer ? "cut off" : "found (left as they are)");

    if (start_writer) {
        j->next_housekeeping_ns = 0;
        j->writer_beat_ns = selgw_mono_ns();
        if (pthread_create(&j->writer, NULL, writer_main, j) != 0) {
            set_message(rec, "journal: cannot start the writer thread");
            err = SELGW_ERR_NOMEM;
            goto fail;
        }
        j->writer_started = true;
    }
    *out = j;
    return SELGW_OK;
fail:
    free_journal(j);
    return err;
}

void selgw_journal_close(selgw_journal *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->work_cv);
    committed_moved_locked(j);
    pthread_cond_broadcast(&j->space_cv);
    pthread_mutex_unlock(&j->lock);
    if (j->writer_started) {
        pthread_join(j->writer, NULL);
        finish_drops(j);
        if (j->active_fd >= 0 && j->dirty && !j->failed &&
            selgw_journal_io_hooks.fdatasync(j->active_fd) != 0)
            selgw_log(SELGW_LOG_ERROR, "journal %s: fdatasync at close: %s", j->dir,
                      strerror(errno));
    }
    pthread_mutex_lock(&j->lock);
    while (j->waiters > 0)
        pthread_cond_wait(&j->idle_cv, &j->lock);
    pthread_mutex_unlock(&j->lock);
    free_journal(j);
}

static void leave_wait(selgw_journal *j)
{
    if (--j->waiters == 0 && j->stopping)
        pthread_cond_broadcast(&j->idle_cv);
}

/* Drops the oldest segment holding undelivered records (never the one being written) and
 * appends the GAP record that stands for it. Lock held. */
static bool drop_oldest_locked(selgw_journal *j)
{
    uint64_t delivered = min_cursor(j);
    size_t i = 0;
    for (; i + 1 < j->seg_count; i++)
        if (segment_records(&j->segs[i]) && j->segs[i].last_seq > delivered)
            break;
    if (i + 1 >= j->seg_count) {
        /* Only the segment being written holds undelivered records: close it at the next
         * write so that it can go next time. */
        j->force_roll = true;
        return false;
    }
    if (j->drop_count == j->drop_cap) {
        size_t cap = j->drop_cap ? j->drop_cap * 2 : 4;
        dropped_segment *grown = realloc(j->drops, cap * sizeof *grown);
        if (!grown)
            return false;
        j->drops = grown;
        j->drop_cap = cap;
    }
    segment s = j->segs[i];
    /* The cursors stay where the sinks left them (their readers skip the missing numbers),
     * so each GAP covers everything after the slowest sink up to this segment's end: an
     * older GAP record that is dropped in its turn is covered by the newer one. */
    uint64_t gap_first = delivered + 1;
    char name[SEGMENT_NAME_SIZE], text[256];
    segment_name(s.first_seq, name);
    snprintf(text, sizeof text,
             "journal disk budget of %" PRIu64 " bytes for undelivered records reached: "
             "segment %s with records %" PRIu64 "..%" PRIu64 " dropped; records %" PRIu64
             "..%" PRIu64 " are lost to the slowest sink",
             j->max_backlog, name, s.first_seq, s.last_seq, gap_first, s.last_seq);
    uint8_t frame[FRAME_HEADER_SIZE + 1024];
    selgw_record gap = {.type = SELGW_RECORD_GAP,
                        .time_ns = selgw_utc_ns(),
                        .gateway = {j->gateway_id, strlen(j->gateway_id)},
                        .text = {text, strlen(text)},
                        .gap_first_seq = gap_first,
                        .gap_last_seq = s.last_seq};
    /* Room first: once the hook has given the GAP its place in a chain, it must be
     * appended. */
    if (!buf_reserve(&j->pend, sizeof frame))
        return false;
    size_t len = 0;
    if (j->gap_hook.encode)
        len = j->gap_hook.encode(j->gap_hook.ctx, &gap, frame + FRAME_HEADER_SIZE, 1024);
    if (len == 0 || len > 1024)
        len = selgw_record_encode_event(&gap, NULL, frame + FRAME_HEADER_SIZE, 1024);
    if (len == 0 || len > 1024)
        return false;
    uint64_t gap_seq = j->next_seq++;
    put_u32(frame, (uint32_t)len);
    put_u64(frame + 8, gap_seq);
    put_u32(frame + 4, selgw_crc32c(0, frame + 8, 8 + len));
    if (j->pend.len == 0)
        j->pend_since_ns = selgw_mono_ns();
    memcpy(j->pend.data + j->pend.len, frame, FRAME_HEADER_SIZE + len);
    j->pend.len += FRAME_HEADER_SIZE + len;
    if (j->gap_hook.appended)
        j->gap_hook.appended(j->gap_hook.ctx, frame + FRAME_HEADER_SIZE, len, gap_seq);

    remove_segment_at(j, i);
    j->drops[j->drop_count++] =
        (dropped_segment){s.first_seq, s.last_seq, s.bytes, gap_first, gap_seq};
    recount_backlog(j);
    pthread_cond_signal(&j->work_cv);
    return true;
}

/* Whether a record of `frame` bytes must be refused now: SELGW_ERR_FULL when the disk
 * budget for undelivered records is used up (when_full: stop), SELGW_ERR_NO_SPACE when the
 * disk is full and NO_SPACE_LIMIT of records already wait in memory. Both are one
 * condition for whoever appends: the record is refused and counted, and said once when it
 * starts and when it ends. Once refusing, records are taken again only with some room to
 * spare (a tenth of the budget, at most a segment; half the memory limit), so that the
 * state does not flap at every record at the edge. Lock held. */
static selgw_err why_refused_locked(const selgw_journal *j, uint64_t frame)
{
    if (j->last_records)
        return SELGW_OK;
    if (j->max_backlog && j->when_full == SELGW_WHEN_FULL_STOP) {
        uint64_t spare =
            j->max_backlog / 10 < j->segment_bytes ? j->max_backlog / 10 : j->segment_bytes;
        uint64_t limit = j->refusing == SELGW_ERR_FULL ? j->max_backlog - spare : j->max_backlog;
        if (j->backlog_disk + pending_bytes(j) + frame > limit)
            return SELGW_ERR_FULL;
    }
    if (j->no_space) {
        uint64_t limit = j->refusing == SELGW_ERR_NO_SPACE ? NO_SPACE_LIMIT / 2 : NO_SPACE_LIMIT;
        if (pending_bytes(j) + frame > limit)
            return SELGW_ERR_NO_SPACE;
    }
    return SELGW_OK;
}

static selgw_err refusal_locked(selgw_journal *j, uint64_t frame)
{
    selgw_err why = why_refused_locked(j, frame);
    uint64_t used = j->backlog_disk + pending_bytes(j) + frame;
    if (why != SELGW_OK) {
        if (j->refusing != why)
            selgw_log(SELGW_LOG_ERROR,
                      why == SELGW_ERR_FULL
                          ? "journal %s: %" PRIu64 " bytes undelivered, the disk budget of "
                            "%" PRIu64 " bytes is used up: new records are refused until the "
                            "sinks deliver"
                          : "journal %s: the disk is full and %" PRIu64 " bytes of records wait "
                            "in memory (at most %" PRIu64 "): new records are refused until "
                            "there is space",
                      j->dir, why == SELGW_ERR_FULL ? used - frame : pending_bytes(j),
                      why == SELGW_ERR_FULL ? j->max_backlog : (uint64_t)NO_SPACE_LIMIT);
        if (j->refusing != why)
            j->refused_records = 0;
        j->refusing = why;
        j->refused_records++;
        return why;
    }
    if (j->refusing != SELGW_OK) {
        selgw_log(SELGW_LOG_INFO,
                  "journal %s: %s again after %" PRIu64 " refused records: records are accepted",
                  j->dir,
                  j->refusing == SELGW_ERR_FULL ? "below the disk budget" : "space on the disk",
                  j->refused_records);
        j->refusing = SELGW_OK;
    }
    return SELGW_OK;
}

selgw_err selgw_journal_append(selgw_journal *j, const void *payload, size_t len, uint64_t *seq)
{
    if (!j || !seq || !payload || len == 0 || len > MAX_PAYLOAD)
        return SELGW_ERR_INVALID;
    size_t frame = FRAME_HEADER_SIZE + len;
    pthread_mutex_lock(&j->lock);
    selgw_err err = SELGW_OK;
    bool waited = false;
    for (;;) {
        if (!j->writable || j->stopping) {
            err = SELGW_ERR_INVALID;
            break;
        }
        if (j->failed) {
            err = SELGW_ERR_IO;
            break;
        }
        /* With a gap hook, the GAP record of a drop takes the next place of its owner's
         * chain, and the record being appended already has its place: only
         * selgw_journal_make_room, called before the place is given, drops. Here the budget
         * may then be passed by a record. */
        if (j->max_backlog && j->when_full == SELGW_WHEN_FULL_DROP_OLDEST && !j->gap_hook.encode)
            while (j->backlog_disk + pending_bytes(j) + frame > j->max_backlog &&
                   drop_oldest_locked(j))
                ;
        if ((err = refusal_locked(j, frame)) != SELGW_OK)
            break;
        if (j->pend.len == 0 || j->pend.len + frame <= PENDING_LIMIT)
            break;
        /* Backpressure: the writer is behind; wait for it rather than drop. */
        if (!waited) {
            j->waiters++;
            waited = true;
        }
        pthread_cond_signal(&j->work_cv);
        pthread_cond_wait(&j->space_cv, &j->lock);
    }
    if (waited)
        leave_wait(j);
    if (err == SELGW_OK && !buf_reserve(&j->pend, frame))
        err = SELGW_ERR_NOMEM;
    if (err != SELGW_OK) {
        pthread_mutex_unlock(&j->lock);
        return err;
    }
    uint64_t s = j->next_seq++;
    j->appended_records++;
    j->appended_bytes += len;
    uint8_t *p = j->pend.data + j->pend.len;
    put_u32(p, (uint32_t)len);
    put_u64(p + 8, s);
    memcpy(p + FRAME_HEADER_SIZE, payload, len);
    put_u32(p + 4, selgw_crc32c(0, p + 8, 8 + len));
    bool was_empty = j->pend.len == 0;
    j->pend.len += frame;
    if (was_empty) {
        j->pend_since_ns = selgw_mono_ns();
        pthread_cond_signal(&j->work_cv);
    } else if (j->pend.len >= BATCH_BYTES && j->pend.len - frame < BATCH_BYTES) {
        pthread_cond_signal(&j->work_cv);
    }
    pthread_mutex_unlock(&j->lock);
    *seq = s;
    return SELGW_OK;
}

selgw_err selgw_journal_flush(selgw_journal *j)
{
    if (!j)
        return SELGW_ERR_INVALID;
    pthread_mutex_lock(&j->lock);
    uint64_t target = j->next_seq - 1;
    if (target > j->flush_target)
        j->flush_target = target;
    pthread_cond_signal(&j->work_cv);
    selgw_err err = SELGW_OK;
    j->waiters++;
    while (j->committed < target) {
        if (j->failed) {
            err = SELGW_ERR_IO;
            break;
        }
        if (j->no_space) {
            err = SELGW_ERR_NO_SPACE;
            break;
        }
        if (!j->writer_started) {
            err = SELGW_ERR_INVALID;
            break;
        }
        pthread_cond_wait(&j->committed_cv, &j->lock);
    }
    leave_wait(j);
    pthread_mutex_unlock(&j->lock);
    return err;
}

uint64_t selgw_journal_committed_seq(selgw_journal *j)
{
    if (!j)
        return 0;
    pthread_mutex_lock(&j->lock);
    uint64_t c = j->committed;
    pthread_mutex_unlock(&j->lock);
    return c;
}

void selgw_journal_range(selgw_journal *j, uint64_t *first, uint64_t *last)
{
    pthread_mutex_lock(&j->lock);
    *first = 0;
    for (size_t i = 0; i < j->seg_count; i++) {
        if (segment_records(&j->segs[i])) {
            *first = j->segs[i].first_seq;
            break;
        }
    }
    *last = *first ? j->committed : 0;
    pthread_mutex_unlock(&j->lock);
}

void selgw_journal_skip_to(selgw_journal *j, uint64_t seq)
{
    pthread_mutex_lock(&j->lock);
    if (j->next_seq <= seq) {
        selgw_log(SELGW_LOG_WARN,
                  "journal %s: numbering continues after %" PRIu64 " (it was at %" PRIu64 ")",
                  j->dir, seq, j->next_seq - 1);
        if (j->committed == j->next_seq - 1)
            j->committed = seq;
        j->next_seq = seq + 1;
        j->force_roll = true;
    }
    pthread_mutex_unlock(&j->lock);
}

uint64_t selgw_journal_wait(selgw_journal *j, uint64_t after, int timeout_ms)
{
    if (!j)
        return 0;
    int64_t deadline = selgw_mono_ns() + (int64_t)timeout_ms * SELGW_NS_PER_MS;
    struct timespec ts = mono_deadline(deadline);
    pthread_mutex_lock(&j->lock);
    j->waiters++;
    while (j->committed <= after && !j->stopping && !j->failed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&j->committed_cv, &j->lock);
        } else if (pthread_cond_timedwait(&j->committed_cv, &j->lock, &ts) == ETIMEDOUT) {
            break;
        }
    }
    uint64_t c = j->committed;
    leave_wait(j);
    pthread_mutex_unlock(&j->lock);
    return c;
}

unsigned selgw_journal_waiters(selgw_journal *j)
{
    pthread_mutex_lock(&j->lock);
    unsigned n = j->waiters;
    pthread_mutex_unlock(&j->lock);
    return n;
}

int64_t selgw_journal_writer_silence_ns(selgw_journal *j)
{
    if (!j)
        return 0;
    pthread_mutex_lock(&j->lock);
    int64_t silence =
        j->writer_started && !j->failed && !j->stopping ? selgw_mono_ns() - j->writer_beat_ns : 0;
    pthread_mutex_unlock(&j->lock);
    return silence;
}

const char *selgw_journal_failure(selgw_journal *j)
{
    if (!j)
        return NULL;
    pthread_mutex_lock(&j->lock);
    const char *why = j->failed ? j->failure
                      : j->no_space
                          ? "the disk is full: appended records wait in memory and the writer "
                            "tries again every second"
                          : NULL;
    pthread_mutex_unlock(&j->lock);
    return why;
}

/* ---- readers ------------------------------------------------------------------------- */

typedef struct ring_entry {
    uint64_t seq, seg_first, offset;
} ring_entry;

struct selgw_journal_reader {
    selgw_journal *j;
    uint64_t after;     /* the last record returned, or where seek put it */
    bool positioned;    /* offset is the frame after `after` in segment seg_first */
    uint64_t seg_first; /* 0: none open */
    int fd;
    uint64_t offset;
    uint8_t *buf; /* file bytes [buf_pos, buf_pos + buf_len), all committed */
    size_t buf_cap, buf_len;
    uint64_t buf_pos;
    bool corrupt_logged;
    ring_entry ring[READER_RING];
};

bool selgw_journal_watch(selgw_journal *j, int fd)
{
    pthread_mutex_lock(&j->lock);
    bool ok = fd >= 0 && j->watch_count < JOURNAL_WATCH_MAX;
    if (ok)
        j->watch_fds[j->watch_count++] = fd;
    pthread_mutex_unlock(&j->lock);
    return ok;
}

void selgw_journal_unwatch(selgw_journal *j, int fd)
{
    pthread_mutex_lock(&j->lock);
    for (size_t i = 0; i < j->watch_count; i++)
        if (j->watch_fds[i] == fd) {
            j->watch_fds[i] = j->watch_fds[--j->watch_count];
            break;
        }
    pthread_mutex_unlock(&j->lock);
}

selgw_err selgw_journal_reader_new(selgw_journal *j, uint64_t after_seq, selgw_journal_reader **out)
{
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (!j)
        return SELGW_ERR_INVALID;
    selgw_journal_reader *r = calloc(1, sizeof *r);
    if (!r)
        return SELGW_ERR_NOMEM;
    r->j = j;
    r->after = after_seq;
    r->fd = -1;
    *out = r;
    return SELGW_OK;
}

void selgw_journal_reader_free(selgw_journal_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->buf);
    free(r);
}

selgw_err selgw_journal_reader_seek(selgw_journal_reader *r, uint64_t after_seq)
{
    if (!r)
        return SELGW_ERR_INVALID;
    r->after = after_seq;
    r->positioned = false;
    return SELGW_OK;
}

static void reader_close_segment(selgw_journal_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->seg_first = 0;
    r->buf_len = 0;
}

/* Bytes [off, off + n) of the segment, all below limit (committed, so they never change). */
static selgw_err reader_bytes(selgw_journal_reader *r, uint64_t off, size_t n, uint64_t limit,
                              const uint8_t **out)
{
    if (off >= r->buf_pos && off + n <= r->buf_pos + r->buf_len) {
        *out = r->buf + (off - r->buf_pos);
        return SELGW_OK;
    }
    size_t want = n > READ_CHUNK ? n : READ_CHUNK;
    if (off + want > limit)
        want = (size_t)(limit - off);
    if (want > r->buf_cap) {
        uint8_t *grown = realloc(r->buf, want);
        if (!grown)
            return SELGW_ERR_NOMEM;
        r->buf = grown;
        r->buf_cap = want;
    }
    r->buf_len = 0;
    size_t got = 0;
    while (got < want) {
        ssize_t k = pread(r->fd, r->buf + got, want - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            char name[SEGMENT_NAME_SIZE];
            segment_name(r->seg_first, name);
            selgw_log(SELGW_LOG_ERROR, "journal %s: reading %s at offset %" PRIu64 ": %s",
                      r->j->dir, name, off + got, k < 0 ? strerror(errno) : "file too short");
            return k < 0 ? SELGW_ERR_IO : SELGW_ERR_CORRUPT;
        }
        got += (size_t)k;
    }
    r->buf_pos = off;
    r->buf_len = want;
    *out = r->buf;
    return SELGW_OK;
}

static selgw_err reader_corrupt(selgw_journal_reader *r, uint64_t off, const char *what)
{
    if (!r->corrupt_logged) {
        char name[SEGMENT_NAME_SIZE];
        segment_name(r->seg_first, name);
        selgw_log(SELGW_LOG_ERROR, "journal %s: segment %s offset %" PRIu64 ": %s", r->j->dir, name,
                  off, what);
        r->corrupt_logged = true;
    }
    return SELGW_ERR_CORRUPT;
}

/* Reads the frame at off: its sequence, payload and size. */
static selgw_err reader_frame(selgw_journal_reader *r, uint64_t off, uint64_t limit, bool verify,
                              uint64_t *seq, const uint8_t **payload, size_t *len)
{
    const uint8_t *p;
    if (off + FRAME_HEADER_SIZE > limit)
        return reader_corrupt(r, off, "frame header past the committed end");
    selgw_err err = reader_bytes(r, off, FRAME_HEADER_SIZE, limit, &p);
    if (err)
        return err;
    uint32_t n = get_u32(p);
    if (n == 0 || n > MAX_PAYLOAD || off + FRAME_HEADER_SIZE + n > limit)
        return reader_corrupt(r, off, "frame length not valid");
    *seq = get_u64(p + 8);
    *len = n;
    if (!verify)
        return SELGW_OK;
    if ((err = reader_bytes(r, off, FRAME_HEADER_SIZE + n, limit, &p)) != SELGW_OK)
        return err;
    if (get_u32(p + 4) != selgw_crc32c(0, p + 8, 8 + (size_t)n))
        return reader_corrupt(r, off, "CRC mismatch");
    *payload = p + FRAME_HEADER_SIZE;
    return SELGW_OK;
}

/* Finds the segment and offset of the first record after r->after. AGAIN if none. */
static selgw_err reader_locate(selgw_journal_reader *r)
{
    selgw_journal *j = r->j;
    pthread_mutex_lock(&j->lock);
    size_t i = 0;
    while (i < j->seg_count &&
           (segment_records(&j->segs[i]) == 0 || j->segs[i].last_seq <= r->after))
        i++;
    if (i == j->seg_count) {
        pthread_mutex_unlock(&j->lock);
        return SELGW_ERR_AGAIN;
    }
    segment s = j->segs[i];
    pthread_mutex_unlock(&j->lock);

    if (s.first_seq != r->seg_first) {
        reader_close_segment(r);
        char name[SEGMENT_NAME_SIZE];
        segment_name(s.first_seq, name);
        r->fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            if (errno == ENOENT)
                return SELGW_ERR_AGAIN; /* removed meanwhile: look again */
            selgw_log(SELGW_LOG_ERROR, "journal %s: opening %s: %s", j->dir, name, strerror(errno));
            return SELGW_ERR_IO;
        }
        r->seg_first = s.first_seq;
    }
    uint64_t target = r->after + 1 > s.first_seq ? r->after + 1 : s.first_seq;
    const ring_entry *e = &r->ring[target % READER_RING];
    uint64_t off;
    if (target == s.first_seq) {
        off = SEGMENT_HEADER_SIZE;
    } else if (e->seq == target && e->seg_first == s.first_seq) {
        off = e->offset;
    } else {
        off = SEGMENT_HEADER_SIZE;
        for (;;) {
            uint64_t seq;
            size_t len;
            selgw_err err = reader_frame(r, off, s.bytes, false, &seq, NULL, &len);
            if (err)
                return err;
            if (seq >= target)
                break;
            off += FRAME_HEADER_SIZE + len;
        }
    }
    r->offset = off;
    r->after = target - 1;
    r->positioned = true;
    return SELGW_OK;
}

selgw_err selgw_journal_read(selgw_journal_reader *r, uint64_t *seq, const uint8_t **payload,
                             size_t *len)
{
    if (!r || !seq || !payload || !len)
        return SELGW_ERR_INVALID;
    selgw_journal *j = r->j;
    for (int round = 0; round < 4; round++) {
        pthread_mutex_lock(&j->lock);
        if (r->after >= j->committed) {
            pthread_mutex_unlock(&j->lock);
            return SELGW_ERR_AGAIN;
        }
        ssize_t i = r->positioned ? find_segment(j, r->seg_first) : -1;
        uint64_t limit = i >= 0 ? j->segs[i].bytes : 0;
        pthread_mutex_unlock(&j->lock);

        if (i < 0 || r->offset >= limit) {
            /* Not placed yet, the segment was removed, or it is read to its end: the
             * records after r->after are in a later segment (a gap is skipped there). */
            r->positioned = false;
            selgw_err err = reader_locate(r);
            if (err == SELGW_ERR_AGAIN)
                continue;
            if (err)
                return err;
            continue;
        }
        uint64_t s;
        size_t n;
        const uint8_t *p;
        selgw_err err = reader_frame(r, r->offset, limit, true, &s, &p, &n);
        if (err)
            return err;
        if (s <= r->after)
            return reader_corrupt(r, r->offset, "sequence number goes backwards");
        ring_entry *e = &r->ring[s % READER_RING];
        *e = (ring_entry){s, r->seg_first, r->offset};
        r->offset += FRAME_HEADER_SIZE + n;
        r->after = s;
        *seq = s;
        *payload = p;
        *len = n;
        return SELGW_OK;
    }
    return SELGW_ERR_AGAIN;
}

/* ---- the time index ------------------------------------------------------------------ */

selgw_err selgw_journal_segments(selgw_journal *j, selgw_journal_segment_info **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (!j)
        return SELGW_ERR_INVALID;
    pthread_mutex_lock(&j->lock);
    selgw_journal_segment_info *list = calloc(j->seg_count ? j->seg_count : 1, sizeof *list);
    if (!list) {
        pthread_mutex_unlock(&j->lock);
        return SELGW_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < j->seg_count; i++) {
        const segment *s = &j->segs[i];
        /* only committed records: the live segment's last_seq moves with each commit */
        if (segment_records(s) == 0)
            continue;
        list[n++] =
            (selgw_journal_segment_info){s->first_seq, s->last_seq, s->min_time_ns, s->max_time_ns};
    }
    pthread_mutex_unlock(&j->lock);
    *out = list;
    *count = n;
    return SELGW_OK;
}

/* ---- describe ------------------------------------------------------------------------ */

void selgw_journal_describe(selgw_journal *j, FILE *out)
{
    if (!j || !out)
        return;
    static const char *const policies[] = {"batch", "interval", "none"};
    pthread_mutex_lock(&j->lock);
    uint64_t total = 0, records = 0;
    for (size_t i = 0; i < j->seg_count; i++) {
        total += j->segs[i].bytes;
        records += segment_records(&j->segs[i]);
    }
    fprintf(out, "journal %s\n", j->dir);
    fprintf(out,
            "  committed sequence %" PRIu64 ", %" PRIu64 " records in %zu segment%s, %" PRIu64
            " bytes\n",
            j->committed, records, j->seg_count, j->seg_count == 1 ? "" : "s", total);
    fprintf(out, "  fsync %s, segments of %" PRIu64 " bytes, retention %" PRId64 " ms\n",
            (unsigned)j->fsync_policy < 3 ? policies[j->fsync_policy] : "?", j->segment_bytes,
            j->retention_ns / SELGW_NS_PER_MS);
    if (j->max_backlog)
        fprintf(out,
                "  disk budget %" PRIu64 " bytes (when full: %s), undelivered %" PRIu64 " bytes\n",
                j->max_backlog, j->when_full == SELGW_WHEN_FULL_STOP ? "stop" : "drop_oldest",
                j->backlog_disk + pending_bytes(j));
    else
        fprintf(out, "  no disk budget, undelivered %" PRIu64 " bytes\n",
                j->backlog_disk + pending_bytes(j));
    if (j->failed)
        fprintf(out, "  FAILED: %s\n", j->failure);
    else if (j->no_space)
        fprintf(out, "  DISK FULL: %" PRIu64 " records wait in memory\n", pending_records(j));
    fprintf(out, "  %-24s %20s %20s %10s %12s  %s\n", "segment", "first", "last", "records",
            "bytes", "last write");
    for (size_t i = 0; i < j->seg_count; i++) {
        const segment *s = &j->segs[i];
        char name[SEGMENT_NAME_SIZE], when[SELGW_UTC_TEXT_SIZE];
        segment_name(s->first_seq, name);
        uint64_t n = segment_records(s);
        if (n)
            fprintf(out, "  %-24s %20" PRIu64 " %20" PRIu64 " %10" PRIu64 " %12" PRIu64 "  %s\n",
                    name, s->first_seq, s->last_seq, n, s->bytes,
                    selgw_format_utc(s->mtime_ns, when));
        else
            fprintf(out, "  %-24s %20s %20s %10d %12" PRIu64 "  %s\n", name, "-", "-", 0, s->bytes,
                    selgw_format_utc(s->mtime_ns, when));
    }
    if (j->sink_count == 0)
        fprintf(out, "  no sinks: records count as delivered once committed\n");
    for (size_t i = 0; i < j->sink_count; i++) {
        uint64_t n = 0;
        uint64_t b = bytes_after(j, j->sinks[i].seq, &n);
        fprintf(out,
                "  sink %s: cursor %" PRIu64 ", backlog %" PRIu64 " records, %" PRIu64 " bytes\n",
                j->sinks[i].name, j->sinks[i].seq, n, b);
    }
    pthread_mutex_unlock(&j->lock);
}

void selgw_journal_set_gateway(selgw_journal *j, const char *gateway_id)
{
    pthread_mutex_lock(&j->lock);
    snprintf(j->gateway_id, sizeof j->gateway_id, "%s", gateway_id ? gateway_id : "");
    pthread_mutex_unlock(&j->lock);
}

void selgw_journal_set_gap_hook(selgw_journal *j, const selgw_journal_gap_hook *hook)
{
    pthread_mutex_lock(&j->lock);
    if (hook)
        j->gap_hook = *hook;
    else
        memset(&j->gap_hook, 0, sizeof j->gap_hook);
    pthread_mutex_unlock(&j->lock);
}

void selgw_journal_last_records(selgw_journal *j)
{
    pthread_mutex_lock(&j->lock);
    j->last_records = true;
    pthread_mutex_unlock(&j->lock);
}

void selgw_journal_hold_retention(selgw_journal *j, uint64_t seq)
{
    pthread_mutex_lock(&j->lock);
    j->retention_hold = seq;
    pthread_mutex_unlock(&j->lock);
}

void selgw_journal_make_room(selgw_journal *j, size_t len)
{
    uint64_t frame = FRAME_HEADER_SIZE + len;
    pthread_mutex_lock(&j->lock);
    if (j->writable && !j->failed && !j->stopping && j->max_backlog &&
        j->when_full == SELGW_WHEN_FULL_DROP_OLDEST)
        while (j->backlog_disk + pending_bytes(j) + frame > j->max_backlog && drop_oldest_locked(j))
            ;
    pthread_mutex_unlock(&j->lock);
}

selgw_err selgw_journal_would_refuse(selgw_journal *j, size_t len)
{
    pthread_mutex_lock(&j->lock);
    selgw_err why = j->writable && !j->failed && !j->stopping
                        ? why_refused_locked(j, FRAME_HEADER_SIZE + len)
                        : SELGW_OK;
    pthread_mutex_unlock(&j->lock);
    return why;
}

/* The lock file's text: "PID\n", and after a seal "PID\nSEAL_SEQ COVERS_UNTIL_NS\n". */
static void write_lock_text(selgw_journal *j, const char *text, size_t len)
{
    if (!j || j->lock_fd < 0 || !j->lock_held)
        return;
    /* best effort: without it, export cannot ask for a seal (or waits by reading the
     * journal) and says so */
    if (ftruncate(j->lock_fd, 0) != 0 || pwrite(j->lock_fd, text, len, 0) != (ssize_t)len)
        selgw_log(SELGW_LOG_WARN, "journal %s: cannot write the pid into %s: %s", j->dir, LOCK_FILE,
                  strerror(errno));
}

void selgw_journal_announce_owner(selgw_journal *j, long pid)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", pid);
    write_lock_text(j, text, (size_t)n);
}

void selgw_journal_announce_seal(selgw_journal *j, long pid, uint64_t seal_seq,
                                 int64_t covers_until_ns)
{
    char text[96];
    int n = snprintf(text, sizeof text, "%ld\n%" PRIu64 " %" PRId64 "\n", pid, seal_seq,
                     covers_until_ns);
    write_lock_text(j, text, (size_t)n);
}

/* Reads the lock file of a journal a process holds into text (NUL-terminated). */
static selgw_err read_lock_text(const char *dir, char *text, size_t cap)
{
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return errno == EACCES || errno == EPERM ? SELGW_ERR_PERMISSION : SELGW_ERR_NOT_FOUND;
    int fd = openat(dir_fd, LOCK_FILE, O_RDONLY | O_CLOEXEC);
    close(dir_fd);
    if (fd < 0)
        return errno == EACCES || errno == EPERM ? SELGW_ERR_PERMISSION : SELGW_ERR_NOT_FOUND;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
        close(fd); /* nobody holds it (this call's lock goes with the close) */
        return SELGW_ERR_NOT_FOUND;
    }
    ssize_t n = pread(fd, text, cap - 1, 0);
    close(fd);
    if (n <= 0)
        return SELGW_ERR_AGAIN;
    text[n] = '\0';
    return SELGW_OK;
}

selgw_err selgw_journal_owner(const char *dir, long *pid)
{
    char text[96];
    selgw_err err = read_lock_text(dir, text, sizeof text);
    if (err != SELGW_OK)
        return err;
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end != '\n' || value <= 1)
        return SELGW_ERR_AGAIN;
    *pid = value;
    return SELGW_OK;
}

selgw_err selgw_journal_owner_seal(const char *dir, uint64_t *seal_seq, int64_t *covers_until_ns)
{
    char text[96];
    selgw_err err = read_lock_text(dir, text, sizeof text);
    if (err != SELGW_OK)
        return err;
    const char *line = strchr(text, '\n');
    uint64_t seq;
    int64_t covers;
    char nl;
    if (!line || sscanf(line + 1, "%" SCNu64 " %" SCNd64 "%c", &seq, &covers, &nl) != 3 ||
        nl != '\n' || seq == 0)
        return SELGW_ERR_NOT_FOUND;
    *seal_seq = seq;
    *covers_until_ns = covers;
    return SELGW_OK;
}

bool selgw_journal_in_use(const char *dir)
{
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return false;
    int fd = openat(dir_fd, LOCK_FILE, O_RDWR | O_CLOEXEC);
    close(dir_fd);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* also releases the lock if this call took it */
    return held;
}
