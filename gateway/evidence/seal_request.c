/* Asking the running gateway for a seal (seal_request.h). */
#include "evidence/seal_request.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "journal/journal.h"
#include "journal/record.h"

/* How often the lock file is read while waiting: the gateway writes each committed seal's
 * number there (selgw_journal_announce_seal), a few bytes to read. */
#define POLL_MS 100
/* How often the journal itself is read while waiting, in case the announcement could not
 * be written: opening it read-only scans it, a second or more on a season's journal. */
#define JOURNAL_POLL_MS 5000

static selgw_err open_journal(const selgw_config *cfg, selgw_journal **j, char *why, size_t why_cap)
{
    selgw_journal_recovery recovery;
    memset(&recovery, 0, sizeof recovery);
    selgw_err err = selgw_journal_open(&cfg->journal, NULL, 0, false, j, &recovery);
    if (err != SELGW_OK)
        selgw_explain(why, why_cap, "journal %s: %s%s%s", cfg->journal.dir, selgw_strerror(err),
                      recovery.message[0] ? ": " : "", recovery.message);
    return err;
}

selgw_err selgw_seal_request_send(const selgw_config *cfg, selgw_seal_request *req, char *why,
                                  size_t why_cap)
{
    memset(req, 0, sizeof *req);
    selgw_err err = selgw_journal_owner(cfg->journal.dir, &req->pid);
    if (err == SELGW_ERR_NOT_FOUND) {
        selgw_explain(why, why_cap, "no gateway is running on journal %s", cfg->journal.dir);
        return err;
    }
    if (err == SELGW_ERR_PERMISSION) {
        selgw_explain(why, why_cap,
                      "journal %s: this user may not read its lock file: run as the gateway's "
                      "user or root",
                      cfg->journal.dir);
        return err;
    }
    if (err != SELGW_OK) {
        selgw_explain(why, why_cap,
                      "a process holds journal %s but has not said its pid (a gateway still "
                      "starting, or one that does not seal on request)",
                      cfg->journal.dir);
        return SELGW_ERR_AGAIN;
    }
    selgw_journal *j = NULL;
    if ((err = open_journal(cfg, &j, why, why_cap)) != SELGW_OK)
        return err;
    uint64_t first;
    selgw_journal_range(j, &first, &req->after_seq);
    selgw_journal_close(j);
    if (kill((pid_t)req->pid, SIGUSR1) != 0) {
        if (errno == EPERM) {
            selgw_explain(why, why_cap,
                          "the gateway (pid %ld) may not be signalled by this user: run as the "
                          "gateway's user or root",
                          req->pid);
            return SELGW_ERR_PERMISSION;
        }
        selgw_explain(why, why_cap, "no gateway is running on journal %s (pid %ld has gone)",
                      cfg->journal.dir, req->pid);
        return SELGW_ERR_NOT_FOUND;
    }
    return SELGW_OK;
}

/* Reads the journal after req->after_seq: whether a seal there covers until_ns; *sealed:
 * whether any seal came; after_seq moves to the journal's end when one did. */
static selgw_err look(const selgw_config *cfg, selgw_seal_request *req, int64_t until_ns,
                      bool *covered, bool *sealed, char *why, size_t why_cap)
{
    *covered = *sealed = false;
    selgw_journal *j = NULL;
    selgw_err err = open_journal(cfg, &j, why, why_cap);
    if (err != SELGW_OK)
        return err;
    selgw_journal_reader *reader = NULL;
    selgw_record *rec = malloc(sizeof *rec);
    if (!rec) {
        selgw_journal_close(j);
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    err = selgw_journal_reader_new(j, req->after_seq, &reader);
    uint64_t seq = req->after_seq, last_seal = 0;
    const uint8_t *payload;
    size_t len;
    while (err == SELGW_OK && !*covered &&
           (err = selgw_journal_read(reader, &seq, &payload, &len)) == SELGW_OK) {
        if (selgw_record_decode(payload, len, rec) != SELGW_OK || rec->type != SELGW_RECORD_SEAL)
            continue;
        *sealed = true;
        last_seal = seq;
        *covered = rec->seal_has_covers && rec->seal_covers_until_ns >= until_ns;
    }
    if (err == SELGW_ERR_AGAIN)
        err = SELGW_OK;
    if (err != SELGW_OK)
        selgw_explain(why, why_cap, "reading journal %s: %s", cfg->journal.dir,
                      selgw_strerror(err));
    if (*sealed && !*covered)
        req->after_seq = last_seal;
    selgw_journal_reader_free(reader);
    selgw_journal_close(j);
    free(rec);
    return err;
}

selgw_err selgw_seal_request_wait(const selgw_config *cfg, selgw_seal_request *req,
                                  int64_t until_ns, int64_t timeout_ms, char *why, size_t why_cap)
{
    int64_t deadline = selgw_mono_ns() + timeout_ms * SELGW_NS_PER_MS;
    int64_t next_look = 0; /* the journal is read at once, then when a seal is announced */
    for (;;) {
        bool covered = false, sealed = false;
        uint64_t seal_seq;
        int64_t seal_covers;
        bool announced = selgw_journal_owner_seal(cfg->journal.dir, &seal_seq, &seal_covers) ==
                             SELGW_OK &&
                         seal_seq > req->after_seq;
        if (announced || selgw_mono_ns() >= next_look) {
            selgw_err err = look(cfg, req, until_ns, &covered, &sealed, why, why_cap);
            if (err != SELGW_OK || covered)
                return err;
            next_look = selgw_mono_ns() + JOURNAL_POLL_MS * SELGW_NS_PER_MS;
        }
        long pid;
        if (selgw_journal_owner(cfg->journal.dir, &pid) == SELGW_ERR_NOT_FOUND) {
            /* it stopped: its last seal was read above, or is not there at all */
            if (look(cfg, req, until_ns, &covered, &sealed, why, why_cap) == SELGW_OK && covered)
                return SELGW_OK;
            selgw_explain(why, why_cap, "the gateway stopped without a seal that covers it");
            return SELGW_ERR_NOT_FOUND;
        }
        if (sealed && kill((pid_t)req->pid, SIGUSR1) != 0) {
            /* a seal came, but a poll begun before the end was still on its way: again */
            selgw_explain(why, why_cap, "the gateway (pid %ld) has gone", req->pid);
            return SELGW_ERR_NOT_FOUND;
        }
        if (selgw_mono_ns() >= deadline) {
            selgw_explain(why, why_cap,
                          "the gateway (pid %ld) was asked for one, but none that covers it "
                          "came within %lld s (a poll still on its way, or it cannot seal: "
                          "see its log)",
                          req->pid, (long long)(timeout_ms / 1000));
            return SELGW_ERR_TIMEOUT;
        }
        struct timespec pause = {0, POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}
