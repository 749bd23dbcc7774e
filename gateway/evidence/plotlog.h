/* selgw: every plot chain record, kept for as long as the gateway lives.
 *
 * A plot's chain (plot/<id>: its tags, lab results, notes) is the context of every reading
 * of the plot, and an evidence bundle carries it whole, from its first record: an exporter
 * must not be able to leave out an unfavourable lab result of last year. The journal
 * removes delivered segments after its retention, so the gateway copies each plot chain
 * record, once it is committed in the journal, into one append-only file beside the
 * journal (plot-chains.log). Plot chains are short (a few records a week), so the file
 * stays small. Exports take a plot chain's records from it where the journal no longer
 * holds them.
 *
 * File: lines ended by LF.
 *   selgw-plot-chains 1
 *   record <journal seq> <payload in standard base64>     (journal seq increasing)
 *   through <journal seq>   every plot chain record up to there is above
 * A torn last line (a crash while appending) is cut off when the file is opened for
 * writing, and ignored when it is read. A damaged line (a whole line that is wrong, or one
 * with lines after it) is an error to a reader; opening for writing keeps a copy of the
 * whole file as plot-chains.log.damaged-<time>, goes on from the intact lines before the
 * damage, and logs it. Not thread-safe. */
#ifndef SELGW_PLOTLOG_H
#define SELGW_PLOTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define SELGW_PLOTLOG_FILE "plot-chains.log"

typedef struct selgw_plotlog selgw_plotlog;

/* Opens (creating it, mode 0640) <journal_dir>/plot-chains.log for appending. */
selgw_err selgw_plotlog_open(const char *journal_dir, selgw_plotlog **out, char *why,
                             size_t why_cap);
void selgw_plotlog_free(selgw_plotlog *p); /* NULL is fine */

/* The journal sequence through which the file holds every plot chain record. */
uint64_t selgw_plotlog_through(const selgw_plotlog *p);

/* Queues a committed plot chain record (ignored if the file already has it). */
selgw_err selgw_plotlog_add(selgw_plotlog *p, uint64_t jseq, const uint8_t *payload, size_t len);

/* Appends what was queued and "through <through>", and makes the records durable. */
selgw_err selgw_plotlog_sync(selgw_plotlog *p, uint64_t through);

/* Calls fn for every record of the file whose chain is `chain` (e.g. "plot/hw-p01"; NULL:
 * every record), in journal order, until fn returns false. A missing file has no records. Reads the file
 * read-only: a running gateway may be appending to it. */
typedef bool (*selgw_plotlog_fn)(void *ctx, uint64_t jseq, const uint8_t *payload, size_t len);
selgw_err selgw_plotlog_each(const char *journal_dir, const char *chain, selgw_plotlog_fn fn,
                             void *ctx, char *why, size_t why_cap);

#endif
