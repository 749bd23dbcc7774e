/* selgw: a plot's history and notes read from the journal, for the dashboard's API.
 *
 * The answers of the history source (http/history.h): the readings of one plot (by the
 * plot each record names, so a device moved to another plot keeps its past where it was)
 * between two times, as series per (device, field), and the plot's annotations and tag
 * changes. Only the segments whose time index (selgw_journal_segments) overlaps the period
 * are read. Here because it joins two layers that never include each other, the journal
 * and the HTTP API's plain types; the gateway checks the plot against its config and calls
 * these. */
#ifndef SELGW_PLOT_HISTORY_H
#define SELGW_PLOT_HISTORY_H

#include "base/error.h"
#include "http/history.h"
#include "journal/journal.h"

/* Reads q->plot's readings in [q->from_ns, q->to_ns] and calls visit with the series.
 * When every series has at most q->max_points readings they are given as they are (step
 * 0): a failed poll or a value out of range is a point without value, and a pause of more
 * than 2.5 poll intervals gets one such point. Otherwise each series is averaged into
 * buckets of q->step_ns aligned on multiples of it since the epoch: a bucket's value is the
 * mean of its good (ok) readings, none when its polls all failed; a run of empty buckets in
 * such a pause gets one point without value, so a chart shows a gap and never draws a line
 * across it. The poll interval is the device's in q->intervals, or the median of the
 * intervals between its readings just before or after the pause when that is longer (a
 * device no longer in the config, an interval changed in the period). Series are sorted by
 * device, then in the order of the device's fields. */
selgw_err selgw_plot_history(selgw_journal *j, const selgw_history_query *q,
                             selgw_history_visit_fn visit, void *visit_ctx);

/* The plot's ANNOTATION records (annotations) and TAGS records (events, type "tags") in
 * [q->from_ns, q->to_ns], in time order. */
selgw_err selgw_plot_notes(selgw_journal *j, const selgw_history_query *q,
                           selgw_notes_visit_fn visit, void *visit_ctx);

#endif
