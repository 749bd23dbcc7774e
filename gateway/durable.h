/* selgw: making a new or renamed file survive a power cut.
 *
 * A file's data is durable after fsync; its name (a new file, a rename over an old one)
 * only after the directory holding it is synced too. Every writer of a file that must
 * survive (journal cursors, chain state, keys, bundles, dead letters, queued annotations)
 * calls selgw_fsync_parent after creating or renaming it. */
#ifndef SELGW_DURABLE_H
#define SELGW_DURABLE_H

#include "error.h"

/* The directory part of path: "." when there is none, "/" for a file in the root.
 * Allocated; NULL when out of memory. */
char *selgw_parent_dir(const char *path);

/* fsyncs the directory that holds path. SELGW_ERR_IO (errno says why) or SELGW_ERR_NOMEM. */
selgw_err selgw_fsync_parent(const char *path);

#endif
