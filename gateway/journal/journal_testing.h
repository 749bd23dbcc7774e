/* selgw: test hooks of the journal. Not for production code.
 *
 * The journal does every write, fdatasync, fsync and ftruncate of its segments and the
 * directory through this table, so that the unit tests can inject ENOSPC, short writes and
 * EIO, and count the fdatasyncs of a group commit, without link-time wrapping (cursor files
 * are written by selgw_durable_replace, tested on its own in test_durable). The
 * table is read by the writer thread: replace entries only while no journal is open, or
 * while it is idle (after selgw_journal_flush). */
#ifndef SELGW_JOURNAL_TESTING_H
#define SELGW_JOURNAL_TESTING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct selgw_journal_io {
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t offset);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*ftruncate)(int fd, off_t len);
} selgw_journal_io;

/* The system calls by default. */
extern selgw_journal_io selgw_journal_io_hooks;
/* Restores the system calls. */
void selgw_journal_io_reset(void);

/* How long the writer waits before writing again after ENOSPC/EDQUOT (default 1000). */
extern int selgw_journal_retry_ms;

/* How long a stop with the disk full waits for space before it releases the space reserve
 * (default 10000). */
extern int selgw_journal_stop_wait_ms;

/* Threads blocked in selgw_journal_wait, _flush or a backpressured _append right now. */
struct selgw_journal;
unsigned selgw_journal_waiters(struct selgw_journal *j);

#endif
