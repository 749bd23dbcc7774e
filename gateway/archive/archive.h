/* selgw: `selgw archive`, the central side of the evidence uplink (docs/ARCHIVE.md). A
 * long-running MQTT 5 consumer with a persistent session (clean start false, a session
 * expiry, the config's fixed client id) on the shared subscription
 * $share/GROUP/PREFIX/+/evidence at QoS 1, that stores every record in PostgreSQL
 * (archive_store.h) and acknowledges a message only after its transaction committed: when
 * a commit fails, the process exits without acknowledging, and the broker sends the
 * message again to the session (to this process when it returns, or to another of the
 * group). */
#ifndef SELGW_ARCHIVE_H
#define SELGW_ARCHIVE_H

#include <signal.h>

#include "archive/archive_config.h"

/* Exit status when a record could not be committed (PostgreSQL failed): the message was
 * not acknowledged. */
#define SELGW_ARCHIVE_EXIT_STORE 3

/* Runs until *stop is set (a signal handler sets it). Returns the process's exit status:
 * 0 after a clean stop, 1 when it could not start (PostgreSQL, the broker's client). A
 * commit that fails ends the process at once with SELGW_ARCHIVE_EXIT_STORE. */
int selgw_archive_run(const selgw_archive_config *cfg, volatile sig_atomic_t *stop);

#endif
