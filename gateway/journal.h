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

#include "config.h"
#include "error.h"

typedef struct selgw_journal selgw_journal;
typedef struct selgw_journal_reader selgw_journal_reader;

typedef struct selgw_journal_recovery {
    uint64_t records;        /* records found */
    uint64_t first_seq;      /* 0 when empty */
    uint64_t last_seq;
    uint64_t torn_bytes;     /* bytes cut off the tail */
    char message[256];       /* on SELGW_ERR_CORRUPT: "segment FILE offset N: what is wrong" */
} selgw_journal_recovery;

/* Opens (creating the directory if needed) and recovers. `sinks` names every configured
 * sink; a sink without a cursor file starts at the beginning of the journal. With
 * start_writer false nothing is written (for `selgw journal` listing). */
selgw_err selgw_journal_open(const selgw_journal_config *cfg, const char *const *sinks,
                             size_t sink_count, bool start_writer, selgw_journal **out,
                             selgw_journal_recovery *recovery);
/* The gateway named in the GAP records the journal writes itself (disk budget). */
void selgw_journal_set_gateway(selgw_journal *j, const char *gateway_id);

/* Commits what was appended, stops the writer and closes. Releases threads blocked in
 * wait, flush or append; readers must be freed before. NULL is fine. */
void selgw_journal_close(selgw_journal *j);

/* Appends one record payload (copied) and returns its sequence number. Thread-safe, does
 * not wait for the disk. SELGW_ERR_FULL: refused by the disk budget (when_full: stop);
 * SELGW_ERR_IO / _NO_SPACE: the journal has failed (see selgw_journal_failure). */
selgw_err selgw_journal_append(selgw_journal *j, const void *payload, size_t len, uint64_t *seq);

/* Waits until everything appended so far is committed (or the journal failed). */
selgw_err selgw_journal_flush(selgw_journal *j);

uint64_t selgw_journal_committed_seq(selgw_journal *j);

/* Waits until the committed sequence exceeds `after`, the journal closes, or timeout_ms
 * passes; returns the committed sequence. */
uint64_t selgw_journal_wait(selgw_journal *j, uint64_t after, int timeout_ms);

/* After a write or fsync error the journal refuses appends; this says why (NULL if not). */
const char *selgw_journal_failure(selgw_journal *j);

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

/* Cursors: the last sequence a sink delivered. set persists crash-safely, and may let the
 * journal remove segments that every sink has passed. */
uint64_t selgw_journal_cursor(selgw_journal *j, const char *sink);
selgw_err selgw_journal_set_cursor(selgw_journal *j, const char *sink, uint64_t seq);

/* Undelivered bytes (from the slowest cursor to the head). */
uint64_t selgw_journal_backlog_bytes(selgw_journal *j);

/* `selgw journal`: segments with their sequence ranges, sizes and times, each sink's
 * cursor and backlog. */
void selgw_journal_describe(selgw_journal *j, FILE *out);

#endif
