/* selgw: the durable journal, the one store between the pollers and the sinks.
 *
 * Append-only segment files in one directory. Every record is framed with its length, a
 * CRC32C and its sequence number (docs/JOURNAL.md). Appends go to memory; a writer thread
 * writes them in batches with one fdatasync per batch (group commit, per the fsync policy),
 * and only then are they committed: readers (the sinks) never see a record that is not
 * durable. Each sink keeps a cursor, the last sequence it delivered, persisted crash-safely
 * (write temp, fsync, rename, fsync dir). A segment is removed when every sink has passed
 * it and the retention has expired. When undelivered data reaches the disk budget the
 * journal refuses new records (default) or drops the oldest undelivered segment and
 * records a gap.
 *
 * Opening recovers: a torn or short record at the tail of the last segment is cut off and
 * reported; a bad record anywhere else stops the opening with its segment and offset. */
#ifndef SELGW_JOURNAL_H
#define SELGW_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "base/health.h"

/* How the journal makes records durable (docs/JOURNAL.md). */
typedef enum selgw_fsync_policy {
    SELGW_FSYNC_BATCH,    /* one fdatasync per group commit, before sinks see the records: a
                           * committed record survives a power cut (default) */
    SELGW_FSYNC_INTERVAL, /* fdatasync at most every fsync_interval_ms: may lose that much */
    SELGW_FSYNC_NONE,     /* leave it to the kernel: for tests and throwaway setups only */
} selgw_fsync_policy;

/* What happens when undelivered data reaches max_backlog_bytes. */
typedef enum selgw_when_full {
    SELGW_WHEN_FULL_STOP,        /* refuse new records and raise an alarm (default) */
    SELGW_WHEN_FULL_DROP_OLDEST, /* delete the oldest undelivered segment, record a gap */
} selgw_when_full;

/* The journal's options; the config file's `journal:` section (docs/CONFIG.md). */
typedef struct selgw_journal_config {
    char *dir;              /* relative paths are relative to the config file */
    uint64_t segment_bytes; /* a segment is closed and a new one begun past this size */
    selgw_fsync_policy fsync;
    int fsync_interval_ms;      /* SELGW_FSYNC_INTERVAL only */
    int commit_interval_ms;     /* longest a record waits for its group commit */
    int64_t retention_ms;       /* delivered segments are kept this long, then removed */
    uint64_t max_backlog_bytes; /* undelivered data limit; 0 = the disk's own limit */
    selgw_when_full when_full;
    char *group;  /* NULL, or a group (e.g. of a dashboard) that may read the journal */
    unsigned gid; /* its id, when group is set */
    /* Not a config file option: set by the gateway, whose chain state needs the records
     * after its checkpoint. Retention then removes nothing until
     * selgw_journal_hold_retention says from where. */
    bool hold_retention;
} selgw_journal_config;

typedef struct selgw_journal selgw_journal;
typedef struct selgw_journal_reader selgw_journal_reader;

typedef struct selgw_journal_recovery {
    uint64_t records;   /* records found */
    uint64_t first_seq; /* 0 when empty */
    uint64_t last_seq;
    uint64_t torn_bytes; /* bytes cut off the tail */
    /* Records the last stop could not write, the disk being full (noted in space.reserve):
     * their numbers are not given again; the owner records them as lost (a GAP) and then
     * calls selgw_journal_forget_unwritten. 0 records when there were none. */
    uint64_t unwritten_records, unwritten_first, unwritten_last;
    int64_t unwritten_from_ns, unwritten_to_ns; /* the records' own times, when they are records */
    /* Records refused while the process ran (its note, selgw_journal_note_refused), when it
     * ended before it could record them itself (a crash on a full disk). 0 when none. */
    uint64_t refused_records;
    int64_t refused_from_ns, refused_to_ns;
    selgw_err refused_err;
    char message[256]; /* on SELGW_ERR_CORRUPT: "segment FILE offset N: what is wrong" */
} selgw_journal_recovery;

/* Opens (creating the directory if needed) and recovers. `sinks` names every configured
 * sink; a sink without a cursor file starts at the beginning of the journal. With
 * start_writer false nothing is written (for `selgw journal` listing). */
selgw_err selgw_journal_open(const selgw_journal_config *cfg, const char *const *sinks,
                             size_t sink_count, bool start_writer, selgw_journal **out,
                             selgw_journal_recovery *recovery);
/* True when a running gateway holds the journal of dir (its lock, which selgw_journal_open
 * takes with start_writer): that gateway owns the config's buses too. */
bool selgw_journal_in_use(const char *dir);

/* The process that holds the journal writes its pid into the lock file once it answers
 * requests (SIGUSR1: a seal now, docs/EVIDENCE.md "Export"), so that `selgw export` knows
 * whom to ask; the close empties it again. Nothing for a journal opened read-only. */
void selgw_journal_announce_owner(selgw_journal *j, long pid);
/* The pid a running gateway announced for dir: SELGW_OK with *pid; SELGW_ERR_NOT_FOUND
 * when no process holds the journal; SELGW_ERR_AGAIN when one holds it but has announced
 * no pid (still starting, or not a gateway that answers); SELGW_ERR_PERMISSION when this
 * user may not read the lock file. */
selgw_err selgw_journal_owner(const char *dir, long *pid);
/* After a seal is committed, the owner writes its sequence number and the instant its
 * polls are covered until into the lock file beside the pid, so that `selgw export`
 * waiting for a seal reads a few bytes instead of opening (scanning) the journal again and
 * again. Best effort, as the pid. */
void selgw_journal_announce_seal(selgw_journal *j, long pid, uint64_t seal_seq,
                                 int64_t covers_until_ns);
/* The last seal announced there: SELGW_OK with both; SELGW_ERR_NOT_FOUND when no process
 * holds the journal or none was announced since it started; other as selgw_journal_owner. */
selgw_err selgw_journal_owner_seal(const char *dir, uint64_t *seal_seq, int64_t *covers_until_ns);

/* The gateway named in the GAP records the journal writes itself (disk budget). */
void selgw_journal_set_gateway(selgw_journal *j, const char *gateway_id);

/* The GAP record the journal appends when the disk budget drops a segment is a record like
 * any other: with a hook, its owner encodes it as the next record of its evidence chain.
 * Both calls happen inside selgw_journal_append (with the journal's lock held, and under
 * whatever lock the appender holds): `encode` writes the payload of `gap` into buf (cap
 * bytes) and returns its length (0: it cannot, the GAP goes unchained); `appended` is then
 * told its sequence number. Without a hook the GAP is written outside any chain. */
struct selgw_record;
typedef struct selgw_journal_gap_hook {
    size_t (*encode)(void *ctx, const struct selgw_record *gap, uint8_t *buf, size_t cap);
    void (*appended)(void *ctx, const uint8_t *payload, size_t len, uint64_t seq);
    void *ctx;
} selgw_journal_gap_hook;
void selgw_journal_set_gap_hook(selgw_journal *j, const selgw_journal_gap_hook *hook);

/* With when_full: drop_oldest, drops what the disk budget needs dropped for a record of
 * len bytes now (GAP records and hook calls included), so that the append that follows does
 * not: an owner who chains the GAP records encodes its record after this, knowing the
 * chain's head. Does nothing otherwise. */
void selgw_journal_make_room(selgw_journal *j, size_t len);

/* Commits what was appended, stops the writer and closes. Releases threads blocked in
 * wait, flush or append; readers must be freed before. With the disk full it waits up to
 * 10 s for space, then releases the space reserve it holds (space.reserve, 4 MiB) to write
 * what waits in memory; what still cannot be written is noted in the reserve's first block
 * and reported at the next opening (selgw_journal_recovery.unwritten_*). NULL is fine. */
void selgw_journal_close(selgw_journal *j);

/* Appends one record payload (copied) and returns its sequence number. Thread-safe, does
 * not wait for the disk. Refused, to be counted by the caller: SELGW_ERR_FULL when the disk
 * budget is used up (when_full: stop), SELGW_ERR_NO_SPACE when the disk is full and 1 MiB
 * of records already waits in memory. SELGW_ERR_IO: the journal has failed (see
 * selgw_journal_failure). */
selgw_err selgw_journal_append(selgw_journal *j, const void *payload, size_t len, uint64_t *seq);

/* Whether an append of len bytes would be refused now (SELGW_ERR_FULL, _NO_SPACE), without
 * counting it: to put off a record that says "refused" until it would itself be taken. */
selgw_err selgw_journal_would_refuse(selgw_journal *j, size_t len);

/* Waits until everything appended so far is committed (or the journal failed). */
selgw_err selgw_journal_flush(selgw_journal *j);

uint64_t selgw_journal_committed_seq(selgw_journal *j);

/* The notes the journal's opening reported (records the last stop could not write,
 * records refused before a crash; see selgw_journal_recovery) are on record now: cleared. */
void selgw_journal_forget_notes(selgw_journal *j);

/* While records are refused (a full disk, a used-up budget), the owner keeps a note of how
 * many and from when to when (its own times), count 0 to clear it: written in place into
 * space.reserve (no new space needed), so that a crash before the owner could record the
 * refusals itself still leaves them counted at the next opening. */
void selgw_journal_note_refused(selgw_journal *j, uint64_t count, int64_t from_ns, int64_t to_ns,
                                selgw_err why);

/* The first sequence number the journal still holds and the last committed one (0 and 0
 * when it is empty). */
void selgw_journal_range(selgw_journal *j, uint64_t *first, uint64_t *last);

/* The owner is stopping: it has stopped producing readings and appends its last few records
 * (a STOP, a seal), which are not refused for a full disk or a used-up budget: the close
 * writes them with what waits, with the space reserve if need be. */
void selgw_journal_last_records(selgw_journal *j);

/* Retention removes no segment that holds a record after seq (the gateway's chain state
 * is brought up to date from there at the next start). Without journal.hold_retention
 * there is no such limit; with it, nothing is removed until this is called. The disk
 * budget (drop_oldest) is not held back: it says what it drops in a GAP record. */
void selgw_journal_hold_retention(selgw_journal *j, uint64_t seq);

/* Numbering continues after seq: the next record appended gets a number above it. For a
 * journal that lost records someone else has seen (a chain state or a sink that got
 * further), so that no number is ever given to two different records. */
void selgw_journal_skip_to(selgw_journal *j, uint64_t seq);

/* Waits until the committed sequence exceeds `after`, the journal closes, or timeout_ms
 * passes; returns the committed sequence. */
uint64_t selgw_journal_wait(selgw_journal *j, uint64_t after, int timeout_ms);

/* After a write or fsync error the journal refuses appends; this says why (NULL if not). */
const char *selgw_journal_failure(selgw_journal *j);

/* How long since the writer thread last went round its loop (ns). It does at least once a
 * second while it runs, also with the disk full; a writer stuck in a write or fdatasync
 * shows here (the service watchdog looks). 0 when no writer runs, or once it failed. */
int64_t selgw_journal_writer_silence_ns(selgw_journal *j);

/* For a sink thread that waits in poll() beside its own sockets instead of on the journal:
 * from now on every move of the committed sequence (and a failure, and the close) adds 1
 * to the eventfd `fd`, which the thread reads to clear. false when fd < 0 or too many
 * watch (then wait with a timeout). The caller owns fd and unwatches it before closing. */
bool selgw_journal_watch(selgw_journal *j, int fd);
void selgw_journal_unwatch(selgw_journal *j, int fd);

/* A reader of committed records after a sequence number. One per sink thread. */
selgw_err selgw_journal_reader_new(selgw_journal *j, uint64_t after_seq,
                                   selgw_journal_reader **out);
void selgw_journal_reader_free(selgw_journal_reader *r);
/* Next committed record: SELGW_OK with *payload valid until the next call, SELGW_ERR_AGAIN
 * when there is none yet, SELGW_ERR_CORRUPT on a bad record. A gap in sequence numbers
 * (segments dropped by the budget) is skipped: the journal holds a GAP record for it. */
selgw_err selgw_journal_read(selgw_journal_reader *r, uint64_t *seq, const uint8_t **payload,
                             size_t *len);
/* Moves the reader back to just after `after_seq` (to resend what was not acknowledged). */
selgw_err selgw_journal_reader_seek(selgw_journal_reader *r, uint64_t after_seq);

/* The time index: each segment that holds committed records, in sequence order, with the
 * smallest and largest of its records' own times (a record's time is when its poll began
 * or its event happened; min > max when no record in it has one). Computed once per
 * segment at opening (recovery reads every record anyway) and kept up to date as records
 * are committed, so that a reader of a time range opens only the segments that can hold
 * it. Times are nearly in sequence order, but a clock step can put a later segment
 * earlier: a reader checks every segment's range. *out is malloc'd (free it). */
typedef struct selgw_journal_segment_info {
    uint64_t first_seq, last_seq;
    int64_t min_time_ns, max_time_ns;
} selgw_journal_segment_info;
selgw_err selgw_journal_segments(selgw_journal *j, selgw_journal_segment_info **out, size_t *count);

/* Cursors: the last sequence a sink delivered. set persists crash-safely, and may let the
 * journal remove segments that every sink has passed. */
uint64_t selgw_journal_cursor(selgw_journal *j, const char *sink);
selgw_err selgw_journal_set_cursor(selgw_journal *j, const char *sink, uint64_t seq);
/* Whether the sink's cursor has a file: found at opening or written since. A sink
 * configured for the first time has none, and its cursor reads 0 (the beginning); a cursor
 * file that says 0 is a real position. A sink that wants no history (the webhook) tells
 * them apart with this and sets its cursor to the committed sequence. */
bool selgw_journal_cursor_saved(selgw_journal *j, const char *sink);

/* Undelivered bytes (from the slowest cursor to the head). */
uint64_t selgw_journal_backlog_bytes(selgw_journal *j);

/* What the status API shows: records and bytes appended since opening, the range, the
 * backlog against its budget, fdatasync latency. */
void selgw_journal_get_stats(selgw_journal *j, selgw_journal_stats *out);

/* `selgw journal`: segments with their sequence ranges, sizes and times, each sink's
 * cursor and backlog. */
void selgw_journal_describe(selgw_journal *j, FILE *out);

#endif
