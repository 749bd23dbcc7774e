#include "evidence/plotlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/durable.h"
#include "base/log.h"
#include "journal/record.h"
#include "base/safe_text.h"

#define MAGIC "selgw-plot-chains 1"
#define B64 sodium_base64_VARIANT_ORIGINAL

struct selgw_plotlog {
    char *path;
    int fd;
    uint64_t last_jseq; /* of the last record in the file */
    uint64_t through;
    char *pending; /* lines not yet written */
    size_t pending_len, pending_cap;
    uint64_t pending_last;
};

static char *file_path(const char *journal_dir)
{
    size_t n = strlen(journal_dir) + sizeof(SELGW_PLOTLOG_FILE) + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s", journal_dir, SELGW_PLOTLOG_FILE);
    return path;
}

/* One line without its LF: a record (payload decoded into buf) or a through line. */
typedef enum line_kind { LINE_BAD, LINE_RECORD, LINE_THROUGH } line_kind;

static line_kind parse_line(const char *line, size_t n, uint64_t *jseq, uint8_t *buf, size_t *len)
{
    const char *end;
    if (strlen(line) != n)
        return LINE_BAD;
    if (!strncmp(line, "through ", 8))
        return selgw_parse_u64(line + 8, &end, jseq) && !*end ? LINE_THROUGH : LINE_BAD;
    if (strncmp(line, "record ", 7) || !selgw_parse_u64(line + 7, &end, jseq) || *end != ' ')
        return LINE_BAD;
    const char *b64 = end + 1;
    const char *b64_end = NULL;
    if (sodium_base642bin(buf, SELGW_RECORD_MAX_PAYLOAD, b64, strlen(b64), NULL, len, &b64_end,
                          B64) != 0 ||
        *b64_end || *len == 0)
        return LINE_BAD;
    return LINE_RECORD;
}

typedef struct walk {
    uint64_t good_bytes; /* length of the intact lines at the start of the file */
    uint64_t last_jseq, through;
    bool bad_middle; /* a bad line that is not the last one */
} walk;

/* Reads the file line by line; calls fn for records when fn is set. */
static selgw_err walk_file(FILE *f, walk *w, selgw_plotlog_fn fn, void *ctx, const char *chain,
                           char *why, size_t why_cap, const char *path)
{
    memset(w, 0, sizeof *w);
    uint8_t *buf = malloc(SELGW_RECORD_MAX_PAYLOAD);
    selgw_record *rec = fn ? malloc(sizeof *rec) : NULL;
    if (!buf || (fn && !rec)) {
        free(buf);
        free(rec);
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t line_no = 0, offset = 0;
    bool stop = false, pending_bad = false;
    while (!stop && (n = getline(&line, &cap, f)) > 0) {
        line_no++;
        if (pending_bad) {
            line_no--; /* the torn line is not the last one after all */
            w->bad_middle = true;
            break;
        }
        bool whole = line[n - 1] == '\n';
        if (whole)
            line[n - 1] = '\0';
        uint64_t jseq = 0;
        size_t len = 0;
        line_kind kind = !whole         ? LINE_BAD
                         : line_no == 1 ? (strcmp(line, MAGIC) ? LINE_BAD : LINE_THROUGH)
                                        : parse_line(line, (size_t)n - 1, &jseq, buf, &len);
        if (kind == LINE_RECORD && jseq <= w->last_jseq)
            kind = LINE_BAD;
        if (kind == LINE_BAD && whole) {
            /* a whole line that is wrong was damaged, not cut short by a crash: said, never
             * cut off */
            w->bad_middle = true;
            break;
        }
        if (kind == LINE_BAD) {
            pending_bad = true; /* torn: only the last line may be */
            continue;
        }
        offset += (uint64_t)n;
        w->good_bytes = offset;
        if (line_no == 1)
            continue;
        if (kind == LINE_THROUGH) {
            if (jseq > w->through)
                w->through = jseq;
            continue;
        }
        w->last_jseq = jseq;
        if (jseq > w->through)
            w->through = jseq;
        if (fn && selgw_record_decode(buf, len, rec) == SELGW_OK && rec->chained &&
            (!chain ||
             (rec->chain.len == strlen(chain) && !memcmp(rec->chain.ptr, chain, rec->chain.len))))
            stop = !fn(ctx, jseq, buf, len);
    }
    selgw_err err = SELGW_OK;
    if (ferror(f)) {
        err = selgw_explain_errno(why, why_cap, errno, "%s", path);
    } else if (w->bad_middle) {
        selgw_explain(why, why_cap, "%s: line %" PRIu64 " is damaged", path, line_no);
        err = SELGW_ERR_CORRUPT;
    }
    free(line);
    free(buf);
    free(rec);
    return err;
}

typedef struct file_copy {
    int fd;
} file_copy;

static selgw_err copy_file(FILE *to, void *ctx)
{
    const file_copy *c = ctx;
    char buf[65536];
    off_t at = 0;
    for (;;) {
        ssize_t n = pread(c->fd, buf, sizeof buf, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return selgw_err_from_errno(errno);
        if (n == 0)
            return SELGW_OK;
        if (fwrite(buf, 1, (size_t)n, to) != (size_t)n)
            return selgw_err_from_errno(errno);
        at += n;
    }
}

/* A damaged line (not a torn tail): the whole file is kept beside it for whoever looks into
 * it, and the log goes on from the intact lines before the damage. What came after them is
 * copied again from the journal where it still holds it (the start scans from the log's
 * "through"); what the journal no longer holds is then missing from the log, and an export
 * that needs it says so. */
static selgw_err set_aside_damaged(selgw_plotlog *p, uint64_t good_bytes, const char *damage,
                                   char *why, size_t why_cap)
{
    size_t cap = strlen(p->path) + 48;
    char *aside = malloc(cap);
    if (!aside) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    snprintf(aside, cap, "%s.damaged-%" PRId64, p->path, selgw_utc_ns());
    file_copy c = {p->fd};
    selgw_err err = selgw_durable_replace(aside, 0640, copy_file, &c);
    if (err == SELGW_OK && (ftruncate(p->fd, (off_t)good_bytes) != 0 || fdatasync(p->fd) != 0))
        err = selgw_err_from_errno(errno);
    if (err != SELGW_OK)
        selgw_explain(why, why_cap, "%s: setting aside a damaged copy: %s", p->path,
                      selgw_strerror(err));
    else
        selgw_log(SELGW_LOG_ERROR,
                  "%s; the file is kept as %s, and the log goes on from the %" PRIu64
                  " intact bytes before the damage (records after them are copied again from "
                  "the journal where it still holds them)",
                  damage, aside, good_bytes);
    free(aside);
    return err;
}

selgw_err selgw_plotlog_open(const char *journal_dir, selgw_plotlog **out, char *why,
                             size_t why_cap)
{
    *out = NULL;
    if (sodium_init() < 0) {
        selgw_explain(why, why_cap, "libsodium cannot be initialised");
        return SELGW_ERR_IO;
    }
    selgw_plotlog *p = calloc(1, sizeof *p);
    if (!p || !(p->path = file_path(journal_dir))) {
        free(p);
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    p->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (p->fd >= 0 && fchmod(p->fd, 0640) != 0) { /* whatever the umask */
        close(p->fd);
        p->fd = -1;
    }
    if (p->fd < 0) {
        selgw_err err = selgw_explain_errno(why, why_cap, errno, "%s", p->path);
        selgw_plotlog_free(p);
        return err;
    }
    int fd = dup(p->fd);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        selgw_err err = selgw_explain_errno(why, why_cap, errno, "%s", p->path);
        if (fd >= 0)
            close(fd);
        selgw_plotlog_free(p);
        return err;
    }
    walk w;
    char damage[512] = "";
    selgw_err err = walk_file(f, &w, NULL, NULL, NULL, damage, sizeof damage, p->path);
    fclose(f);
    if (err == SELGW_ERR_CORRUPT && w.bad_middle)
        err = set_aside_damaged(p, w.good_bytes, damage, why, why_cap);
    else if (err != SELGW_OK)
        selgw_explain(why, why_cap, "%s", damage);
    if (err == SELGW_OK && w.good_bytes == 0) {
        /* new (or only a torn first line): begin it */
        static const char head[] = MAGIC "\n";
        if (ftruncate(p->fd, 0) != 0 ||
            pwrite(p->fd, head, sizeof head - 1, 0) != sizeof head - 1 || fdatasync(p->fd) != 0 ||
            selgw_fsync_parent(p->path) != SELGW_OK)
            err = selgw_explain_errno(why, why_cap, errno, "%s", p->path);
        w.good_bytes = sizeof head - 1;
    } else if (err == SELGW_OK && ftruncate(p->fd, (off_t)w.good_bytes) != 0) {
        err = selgw_explain_errno(why, why_cap, errno, "%s: cutting off a torn line", p->path);
    }
    if (err == SELGW_OK && lseek(p->fd, 0, SEEK_END) < 0)
        err = selgw_err_from_errno(errno);
    if (err != SELGW_OK) {
        selgw_plotlog_free(p);
        return err;
    }
    p->last_jseq = w.last_jseq;
    p->through = w.through;
    *out = p;
    return SELGW_OK;
}

void selgw_plotlog_free(selgw_plotlog *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    free(p->pending);
    free(p->path);
    free(p);
}

uint64_t selgw_plotlog_through(const selgw_plotlog *p)
{
    return p->through;
}

static bool reserve(selgw_plotlog *p, size_t more)
{
    if (p->pending_len + more <= p->pending_cap)
        return true;
    size_t cap = p->pending_cap ? p->pending_cap : 4096;
    while (cap < p->pending_len + more)
        cap *= 2;
    char *grown = realloc(p->pending, cap);
    if (!grown)
        return false;
    p->pending = grown;
    p->pending_cap = cap;
    return true;
}

selgw_err selgw_plotlog_add(selgw_plotlog *p, uint64_t jseq, const uint8_t *payload, size_t len)
{
    uint64_t last = p->pending_last > p->last_jseq ? p->pending_last : p->last_jseq;
    if (jseq <= last || jseq <= p->through)
        return SELGW_OK; /* the file has it, or says it has every record up to there */
    size_t b64 = sodium_base64_ENCODED_LEN(len, B64);
    if (!reserve(p, b64 + 32))
        return SELGW_ERR_NOMEM;
    int n = snprintf(p->pending + p->pending_len, 32, "record %" PRIu64 " ", jseq);
    p->pending_len += (size_t)n;
    sodium_bin2base64(p->pending + p->pending_len, b64, payload, len, B64);
    p->pending_len += b64 - 1;
    p->pending[p->pending_len++] = '\n';
    p->pending_last = jseq;
    return SELGW_OK;
}

selgw_err selgw_plotlog_sync(selgw_plotlog *p, uint64_t through)
{
    bool records = p->pending_len > 0;
    if (!records && through <= p->through)
        return SELGW_OK;
    if (!reserve(p, 32))
        return SELGW_ERR_NOMEM;
    if (through > p->through)
        p->pending_len +=
            (size_t)snprintf(p->pending + p->pending_len, 32, "through %" PRIu64 "\n", through);
    off_t end = lseek(p->fd, 0, SEEK_END);
    size_t done = 0;
    while (end >= 0 && done < p->pending_len) {
        ssize_t w = write(p->fd, p->pending + done, p->pending_len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    /* A "through" line alone may be lost in a crash (the next start reads a little more of
     * the journal); records must be durable before the journal may drop them. */
    if (end < 0 || done < p->pending_len || (records && fdatasync(p->fd) != 0)) {
        int e = errno;
        if (end >= 0 && ftruncate(p->fd, end) != 0) {
            /* the next open cuts a torn line off */
        }
        errno = e;
        return selgw_err_from_errno(e ? e : EIO);
    }
    if (p->pending_last > p->last_jseq)
        p->last_jseq = p->pending_last;
    if (through > p->through)
        p->through = through;
    p->pending_len = 0;
    return SELGW_OK;
}

selgw_err selgw_plotlog_each(const char *journal_dir, const char *chain, selgw_plotlog_fn fn,
                             void *ctx, char *why, size_t why_cap)
{
    char *path = file_path(journal_dir);
    if (!path) {
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        /* no log yet: nothing to walk */
        selgw_err err =
            errno == ENOENT ? SELGW_OK : selgw_explain_errno(why, why_cap, errno, "%s", path);
        free(path);
        return err;
    }
    walk w;
    selgw_err err = walk_file(f, &w, fn, ctx, chain, why, why_cap, path);
    fclose(f);
    free(path);
    return err;
}
