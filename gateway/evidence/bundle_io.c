/* Evidence bundle files: stdio streams over zlib's gzFile that hash the uncompressed bytes
 * as they pass (bundle_io.h). */
#include "evidence/bundle_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "base/durable.h"

/* zlib's own buffers (the default is 8 KiB): fewer, larger reads and writes. */
#define GZ_BUFFER_BYTES (128u << 10)
/* stdio's buffer in front of the cookie (glibc gives a cookie stream BUFSIZ). */
#define STDIO_BUFFER_BYTES (64u << 10)
/* gzread and gzwrite take an unsigned length; a call moves at most this much. */
#define GZ_MAX_CALL (1u << 30)

typedef struct bundle_reader {
    gzFile gz;
    crypto_generichash_state hash;
    bool eof, failed;
    char error[200];
} bundle_reader;

typedef struct bundle_writer {
    gzFile gz;  /* writes through a duplicate of fd */
    int fd;     /* the temporary file, kept open for the commit's fdatasync */
    char *tmp;  /* its name */
    char *path; /* where it goes */
    crypto_generichash_state hash;
    bool failed;
    int failed_errno;
    char error[200];
} bundle_writer;

/* The bundle streams open now, by FILE: a cookie stream does not give its cookie back, and
 * selgw_bundle_read_hash must tell a bundle stream from any other FILE. */
typedef struct open_stream {
    FILE *f;
    bundle_reader *reader; /* one of the two */
    bundle_writer *writer;
    struct open_stream *next;
} open_stream;

static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;
static open_stream *streams;

static bool streams_add(FILE *f, bundle_reader *r, bundle_writer *w)
{
    open_stream *s = malloc(sizeof *s);
    if (!s)
        return false;
    pthread_mutex_lock(&streams_lock);
    *s = (open_stream){f, r, w, streams};
    streams = s;
    pthread_mutex_unlock(&streams_lock);
    return true;
}

/* The stream's entry (NULL if f is no bundle stream); removed from the list when take. */
static open_stream *streams_find(FILE *f, bool take)
{
    pthread_mutex_lock(&streams_lock);
    open_stream **p = &streams;
    while (*p && (*p)->f != f)
        p = &(*p)->next;
    open_stream *s = *p;
    if (s && take)
        *p = s->next;
    pthread_mutex_unlock(&streams_lock);
    return s;
}

/* Removes the entry of a reader being closed (fclose calls its close function). */
static void streams_drop_reader(const bundle_reader *r)
{
    pthread_mutex_lock(&streams_lock);
    for (open_stream **p = &streams; *p; p = &(*p)->next) {
        if ((*p)->reader == r) {
            open_stream *s = *p;
            *p = s->next;
            free(s);
            break;
        }
    }
    pthread_mutex_unlock(&streams_lock);
}

/* ---- reading ------------------------------------------------------------------------------- */

static ssize_t reader_read(void *cookie, char *buf, size_t size)
{
    bundle_reader *r = cookie;
    if (r->failed) {
        errno = EIO;
        return -1;
    }
    if (r->eof || size == 0)
        return 0;
    int n = gzread(r->gz, buf, (unsigned)(size < GZ_MAX_CALL ? size : GZ_MAX_CALL));
    int zerr = Z_OK;
    const char *msg = gzerror(r->gz, &zerr);
    const char *named = msg && !strncmp(msg, "<fd:", 4) ? strstr(msg, ">: ") : NULL;
    if (named)
        msg = named + 3; /* zlib names the stream "<fd:N>": the caller names the file */
    if (n < 0 || zerr != Z_OK) {
        /* Z_BUF_ERROR at the end: the input ended inside the gzip stream. Refused, not
         * passed on as a bundle that merely ends early. */
        int e = errno;
        r->failed = true;
        if (zerr == Z_BUF_ERROR)
            snprintf(r->error, sizeof r->error, "the gzip stream is cut off (truncated file): %s",
                     msg);
        else if (zerr == Z_DATA_ERROR)
            snprintf(r->error, sizeof r->error, "the gzip stream is damaged: %s", msg);
        else if (zerr == Z_MEM_ERROR)
            snprintf(r->error, sizeof r->error, "out of memory");
        else if (zerr == Z_ERRNO)
            snprintf(r->error, sizeof r->error, "%s", strerror(e));
        else
            snprintf(r->error, sizeof r->error, "cannot be read: %s", msg);
        errno = zerr == Z_ERRNO ? e : EIO;
        return -1;
    }
    if (n == 0) {
        r->eof = true;
        return 0;
    }
    crypto_generichash_update(&r->hash, (const unsigned char *)buf, (unsigned long long)n);
    return n;
}

static int reader_close(void *cookie)
{
    bundle_reader *r = cookie;
    streams_drop_reader(r);
    int rc = gzclose_r(r->gz) == Z_OK ? 0 : -1;
    free(r);
    return rc;
}

FILE *selgw_bundle_open_read(const char *path, char *why, size_t why_cap)
{
    if (sodium_init() < 0) {
        selgw_explain(why, why_cap, "libsodium cannot be initialised");
        errno = EIO;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        selgw_explain_errno(why, why_cap, errno, "%s", path);
        return NULL;
    }
    bundle_reader *r = calloc(1, sizeof *r);
    if (r)
        r->gz = gzdopen(fd, "rb");
    if (!r || !r->gz) {
        free(r);
        close(fd);
        selgw_explain(why, why_cap, "%s: out of memory", path);
        errno = ENOMEM;
        return NULL;
    }
    gzbuffer(r->gz, GZ_BUFFER_BYTES);
    crypto_generichash_init(&r->hash, NULL, 0, SELGW_BUNDLE_HASH_BYTES);
    cookie_io_functions_t io = {.read = reader_read, .close = reader_close};
    FILE *f = fopencookie(r, "r", io);
    if (!f || !streams_add(f, r, NULL)) {
        if (f)
            fclose(f); /* closes r */
        else {
            gzclose_r(r->gz);
            free(r);
        }
        selgw_explain(why, why_cap, "%s: out of memory", path);
        errno = ENOMEM;
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, STDIO_BUFFER_BYTES);
    return f;
}

bool selgw_bundle_read_hash(FILE *f, uint8_t hash[32])
{
    open_stream *s = f ? streams_find(f, false) : NULL;
    if (!s || !s->reader || !s->reader->eof || s->reader->failed)
        return false;
    /* final consumes the state: on a copy, so that asking twice gives the same hash */
    crypto_generichash_state copy = s->reader->hash;
    crypto_generichash_final(&copy, hash, SELGW_BUNDLE_HASH_BYTES);
    return true;
}

const char *selgw_bundle_read_error(FILE *f)
{
    open_stream *s = f ? streams_find(f, false) : NULL;
    return s && s->reader && s->reader->failed ? s->reader->error : NULL;
}

/* ---- writing ------------------------------------------------------------------------------- */

static void writer_fail(bundle_writer *w, const char *what)
{
    if (w->failed)
        return;
    int zerr = Z_OK;
    const char *msg = gzerror(w->gz, &zerr);
    w->failed = true;
    w->failed_errno = zerr == Z_ERRNO ? errno : EIO;
    snprintf(w->error, sizeof w->error, "%s: %s", what,
             zerr == Z_ERRNO ? strerror(w->failed_errno) : msg);
}

static ssize_t writer_write(void *cookie, const char *buf, size_t size)
{
    bundle_writer *w = cookie;
    if (w->failed)
        return 0; /* an error, to stdio */
    for (size_t done = 0; done < size;) {
        size_t chunk = size - done < GZ_MAX_CALL ? size - done : GZ_MAX_CALL;
        int n = gzwrite(w->gz, buf + done, (unsigned)chunk);
        if (n <= 0) {
            writer_fail(w, "writing");
            return 0;
        }
        done += (size_t)n;
    }
    crypto_generichash_update(&w->hash, (const unsigned char *)buf, size);
    return (ssize_t)size;
}

/* fclose's part: the gzip stream's end (its trailer). The file itself is committed or
 * removed by selgw_bundle_close_write. */
static int writer_close(void *cookie)
{
    bundle_writer *w = cookie;
    int rc = gzclose_w(w->gz);
    w->gz = NULL;
    if (rc != Z_OK && !w->failed) {
        w->failed = true;
        w->failed_errno = rc == Z_ERRNO ? errno : EIO;
        snprintf(w->error, sizeof w->error, "finishing the file: %s",
                 rc == Z_ERRNO ? strerror(w->failed_errno) : "zlib error");
    }
    return rc == Z_OK ? 0 : -1;
}

static void writer_free(bundle_writer *w)
{
    if (!w)
        return;
    if (w->gz)
        gzclose_w(w->gz);
    if (w->tmp)
        selgw_durable_abandon(w->fd, w->tmp);
    free(w->path);
    free(w);
}

FILE *selgw_bundle_open_write(const char *path, bool compress, char *why, size_t why_cap)
{
    if (sodium_init() < 0) {
        selgw_explain(why, why_cap, "libsodium cannot be initialised");
        errno = EIO;
        return NULL;
    }
    bundle_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        selgw_explain(why, why_cap, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    w->fd = -1;
    /* Evidence is for others to read: nothing secret in it. */
    if (selgw_durable_temp(path, 0644, &w->fd, &w->tmp) != SELGW_OK) {
        selgw_explain_errno(why, why_cap, errno, "%s: cannot make a temporary file beside it",
                            path);
        int e = errno;
        writer_free(w);
        errno = e;
        return NULL;
    }
    /* "T": zlib writes the text as it is, no gzip wrapping; one path for both forms. A
     * gzip header (not raw deflate or zlib's own format), so that zcat and gunzip read it.
     * Level 1: a season's bundle (462 MB of text) is 4.6 times smaller at level 1 and 4.9
     * at level 6, which takes twice as long (8 s more on the bench's machine). */
    int dup_fd = dup(w->fd);
    if (dup_fd >= 0 && !(w->gz = gzdopen(dup_fd, compress ? "wb1" : "wbT")))
        close(dup_fd);
    if (!w->gz) {
        selgw_explain(why, why_cap, "%s: %s", path,
                      dup_fd < 0 ? strerror(errno) : "cannot start zlib (out of memory)");
        int e = dup_fd < 0 ? errno : ENOMEM;
        writer_free(w);
        errno = e;
        return NULL;
    }
    gzbuffer(w->gz, GZ_BUFFER_BYTES);
    crypto_generichash_init(&w->hash, NULL, 0, SELGW_BUNDLE_HASH_BYTES);
    cookie_io_functions_t io = {.write = writer_write, .close = writer_close};
    FILE *f = fopencookie(w, "w", io);
    if (!f || !streams_add(f, NULL, w)) {
        if (f)
            fclose(f); /* finishes the gzip stream; w is freed below */
        writer_free(w);
        selgw_explain(why, why_cap, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, STDIO_BUFFER_BYTES);
    return f;
}

selgw_err selgw_bundle_close_write(FILE *f, bool abandon, uint8_t hash[32], char *why,
                                   size_t why_cap)
{
    open_stream *s = f ? streams_find(f, true) : NULL;
    if (!s || !s->writer) {
        if (s) /* a reader: put it back, it is not ours to close */
            streams_add(s->f, s->reader, NULL);
        free(s);
        selgw_explain(why, why_cap, "not a bundle being written");
        return SELGW_ERR_INVALID;
    }
    bundle_writer *w = s->writer;
    free(s);
    /* stdio's buffer into zlib, zlib's into the file, the gzip trailer: all in fclose */
    if (fflush(f) != 0 && !w->failed) {
        w->failed = true;
        w->failed_errno = errno ? errno : EIO;
        snprintf(w->error, sizeof w->error, "writing: %s", strerror(w->failed_errno));
    }
    fclose(f);
    selgw_err err = SELGW_OK;
    if (abandon || w->failed) {
        if (!abandon) {
            selgw_explain(why, why_cap, "%s: %s", w->path, w->error);
            err = selgw_err_from_errno(w->failed_errno);
        }
        selgw_durable_abandon(w->fd, w->tmp);
    } else {
        err = selgw_durable_commit(w->fd, w->tmp, w->path);
        if (err != SELGW_OK)
            selgw_explain_errno(why, why_cap, errno, "%s: cannot put the bundle in place", w->path);
    }
    w->tmp = NULL; /* the commit or the abandon freed it */
    if (hash)
        crypto_generichash_final(&w->hash, hash, SELGW_BUNDLE_HASH_BYTES);
    free(w->path);
    free(w);
    return err;
}

void selgw_bundle_hash_text(const uint8_t hash[32], char out[80])
{
    static const char prefix[] = "blake2b-256:";
    memcpy(out, prefix, sizeof prefix - 1);
    sodium_bin2hex(out + sizeof prefix - 1, 80 - (sizeof prefix - 1), hash,
                   SELGW_BUNDLE_HASH_BYTES);
}
