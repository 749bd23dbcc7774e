/* selgw: making a new or renamed file survive a power cut.
 *
 * A file's data is durable after fsync; its name (a new file, a rename over an old one)
 * only after the directory holding it is synced too. Every writer of a file that must
 * survive (journal cursors, chain state, keys, bundles, dead letters, queued annotations)
 * calls selgw_fsync_parent after creating or renaming it. */
#ifndef SELGW_DURABLE_H
#define SELGW_DURABLE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/error.h"

/* The directory part of path: "." when there is none, "/" for a file in the root.
 * Allocated; NULL when out of memory. */
char *selgw_parent_dir(const char *path);

/* fsyncs the directory that holds path. SELGW_ERR_IO (errno says why) or SELGW_ERR_NOMEM. */
selgw_err selgw_fsync_parent(const char *path);

/* Replaces (or creates) the file at path so that a crash leaves either the old file or the
 * whole new one, never a mix: writes a temporary file beside it with `write`, fdatasyncs
 * it, gives it `mode`, renames it over path and fsyncs the directory. `write` returns
 * SELGW_OK or the error to give up with (the temporary file is removed then). On failure
 * errno says why where a system call failed. */
typedef selgw_err (*selgw_file_writer)(FILE *f, void *ctx);
selgw_err selgw_durable_replace(const char *path, mode_t mode, selgw_file_writer write, void *ctx);

/* The same in steps, for a writer that is not one callback (an evidence bundle written
 * through a compressing stream): selgw_durable_temp makes the temporary file beside path
 * ("<path>.tmp-XXXXXX", mode `mode`) and returns its descriptor and malloc'd name;
 * selgw_durable_commit fdatasyncs and closes fd, renames tmp over path and fsyncs the
 * directory; selgw_durable_abandon closes fd and removes tmp. Commit and abandon free tmp;
 * on a failed commit the temporary file is removed too. On failure errno says why. */
selgw_err selgw_durable_temp(const char *path, mode_t mode, int *fd, char **tmp);
selgw_err selgw_durable_commit(int fd, char *tmp, const char *path);
void selgw_durable_abandon(int fd, char *tmp);

/* Whether a file name (without its directory) is one of selgw_durable_replace's temporary
 * files, "<name>.tmp-XXXXXX": one left by a crash may be removed. */
bool selgw_durable_is_temp(const char *name);

/* Removes the temporary files a crash left in dir: those of the file named `name` (all of
 * them when name is NULL) last changed at least min_age_s seconds ago (0: any), so that a
 * writer at work in a shared directory is left alone. Returns how many it removed. */
size_t selgw_durable_remove_temps(const char *dir, const char *name, int min_age_s);

#endif
