#include "evidence/provenance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/durable.h"
#include "base/log.h"
#include "base/safe_text.h"
#include <jansson.h>
#include "base/text_writer.h"
#include "evidence/lot.h"
#include "journal/record.h"

#define SPOOL_DIR "annotations"

static void put_day(char *buf, size_t cap, size_t *len, int32_t day)
{
    char text[SELGW_DAY_TEXT_SIZE];
    selgw_text_format(buf, cap, len, "%s", selgw_format_day(day, text));
}

/* A configured text, or null when it is not configured (absent or empty alike, so that
 * the same tags always give the same text). */
static void put_json_text(char *buf, size_t cap, size_t *len, const char *s)
{
    if (s && *s)
        selgw_json_string_n(buf, cap, len, s, strlen(s));
    else
        selgw_text_bytes(buf, cap, len, "null", 4);
}

/* [[lat,lon],...] */
static void put_points(char *buf, size_t cap, size_t *len, const double (*points)[2], size_t n)
{
    selgw_text_char(buf, cap, len, '[');
    for (size_t i = 0; i < n; i++) {
        selgw_text_format(buf, cap, len, "%s[", i ? "," : "");
        selgw_json_number_exact(buf, cap, len, points[i][0]);
        selgw_text_char(buf, cap, len, ',');
        selgw_json_number_exact(buf, cap, len, points[i][1]);
        selgw_text_char(buf, cap, len, ']');
    }
    selgw_text_char(buf, cap, len, ']');
}

/* ["a","b"] */
static void put_names(char *buf, size_t cap, size_t *len, char *const *names, size_t n)
{
    selgw_text_char(buf, cap, len, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            selgw_text_char(buf, cap, len, ',');
        selgw_json_string_n(buf, cap, len, names[i], strlen(names[i]));
    }
    selgw_text_char(buf, cap, len, ']');
}

size_t selgw_plot_tags_text(const selgw_config *cfg, size_t plot_index, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    const selgw_plot *plot = &cfg->plots[plot_index];
    const selgw_base *base = &cfg->bases[plot->base];
    selgw_text_format(buf, cap, &len, "{\"format\":1,\"plot\":");
    put_json_text(buf, cap, &len, plot->id);
    selgw_text_format(buf, cap, &len, ",\"base\":{\"id\":");
    put_json_text(buf, cap, &len, base->id);
    selgw_text_format(buf, cap, &len, ",\"name\":");
    put_json_text(buf, cap, &len, base->name);
    selgw_text_format(buf, cap, &len, ",\"county\":");
    put_json_text(buf, cap, &len, base->county);
    selgw_text_format(buf, cap, &len, ",\"township\":");
    put_json_text(buf, cap, &len, base->township);
    selgw_text_format(buf, cap, &len, ",\"latitude\":");
    if (base->has_coordinates)
        selgw_json_number_exact(buf, cap, &len, base->latitude);
    else
        selgw_text_bytes(buf, cap, &len, "null", 4);
    selgw_text_format(buf, cap, &len, ",\"longitude\":");
    if (base->has_coordinates)
        selgw_json_number_exact(buf, cap, &len, base->longitude);
    else
        selgw_text_bytes(buf, cap, &len, "null", 4);
    selgw_text_format(buf, cap, &len, "},\"crop\":");
    put_json_text(buf, cap, &len, plot->crop);
    selgw_text_format(buf, cap, &len, ",\"area_mu\":");
    selgw_json_number_exact(buf, cap, &len, plot->area_mu);
    selgw_text_format(buf, cap, &len, ",\"households\":[");
    for (size_t i = 0; i < plot->contract_count; i++) {
        const selgw_contract *c = &plot->contracts[i];
        selgw_text_format(buf, cap, &len, "%s{\"household\":", i ? "," : "");
        put_json_text(buf, cap, &len, c->household);
        selgw_text_format(buf, cap, &len, ",\"contract\":");
        put_json_text(buf, cap, &len, c->contract);
        selgw_text_format(buf, cap, &len, ",\"from\":\"");
        put_day(buf, cap, &len, c->from_day);
        selgw_text_format(buf, cap, &len, "\",\"to\":");
        if (c->to_day != INT32_MAX) {
            selgw_text_char(buf, cap, &len, '"');
            put_day(buf, cap, &len, c->to_day);
            selgw_text_char(buf, cap, &len, '"');
        } else {
            selgw_text_bytes(buf, cap, &len, "null", 4);
        }
        selgw_text_char(buf, cap, &len, '}');
    }
    selgw_text_format(buf, cap, &len, "],\"devices\":[");
    bool first = true;
    for (size_t i = 0; i < cfg->device_count; i++) {
        const selgw_device *d = &cfg->devices[i];
        if (d->plot != plot_index)
            continue;
        selgw_text_format(buf, cap, &len, "%s{\"id\":", first ? "" : ",");
        put_json_text(buf, cap, &len, d->id);
        selgw_text_format(buf, cap, &len, ",\"bus\":");
        put_json_text(buf, cap, &len, cfg->buses[d->bus].id);
        selgw_text_format(buf, cap, &len, ",\"unit_id\":%d,\"profile\":", d->unit_id);
        put_json_text(buf, cap, &len, selgw_device_profile_name(d));
        selgw_text_format(buf, cap, &len, ",\"serial\":");
        const char *serial = d->serial ? d->serial : ""; /* a string: "" when not printed */
        selgw_json_string_n(buf, cap, &len, serial, strlen(serial));
        selgw_text_format(buf, cap, &len, ",\"calibration\":[");
        for (size_t k = 0; k < d->calibration_count; k++) {
            const selgw_field_calibration *fc = &d->calibrations[k];
            selgw_text_format(buf, cap, &len, "%s{\"field\":", k ? "," : "");
            put_json_text(buf, cap, &len, selgw_device_field_name(d, fc->field));
            selgw_text_format(buf, cap, &len, ",\"scale\":");
            selgw_json_number_exact(buf, cap, &len, fc->cal.scale);
            selgw_text_format(buf, cap, &len, ",\"offset\":");
            selgw_json_number_exact(buf, cap, &len, fc->cal.offset);
            selgw_text_char(buf, cap, &len, '}');
        }
        selgw_text_format(buf, cap, &len, "]}");
        first = false;
    }
    selgw_text_format(buf, cap, &len, "],\"location\":");
    if (plot->has_point) {
        selgw_text_format(buf, cap, &len, "{\"latitude\":");
        selgw_json_number_exact(buf, cap, &len, plot->latitude);
        selgw_text_format(buf, cap, &len, ",\"longitude\":");
        selgw_json_number_exact(buf, cap, &len, plot->longitude);
        selgw_text_char(buf, cap, &len, '}');
    } else if (plot->boundary_count) {
        selgw_text_format(buf, cap, &len, "{\"boundary\":");
        put_points(buf, cap, &len, plot->boundary, plot->boundary_count);
        selgw_text_char(buf, cap, &len, '}');
    } else {
        selgw_text_bytes(buf, cap, &len, "null", 4);
    }
    char offset[SELGW_OFFSET_TEXT_SIZE];
    selgw_text_format(buf, cap, &len, ",\"utc_offset\":\"%s\",\"products\":[",
                      selgw_format_utc_offset(cfg->utc_offset_minutes, offset));
    first = true;
    for (size_t i = 0; i < cfg->product_count; i++) {
        const selgw_product *p = &cfg->products[i];
        bool covers = false;
        for (size_t k = 0; k < p->crop_count && plot->crop; k++)
            covers = covers || !strcmp(p->crops[k], plot->crop);
        if (!covers)
            continue;
        selgw_text_format(buf, cap, &len, "%s{\"name\":", first ? "" : ",");
        put_json_text(buf, cap, &len, p->name);
        selgw_text_format(buf, cap, &len, ",\"crops\":");
        put_names(buf, cap, &len, p->crops, p->crop_count);
        selgw_text_format(buf, cap, &len, ",\"area\":{\"counties\":");
        put_names(buf, cap, &len, p->counties, p->county_count);
        selgw_text_format(buf, cap, &len, ",\"townships\":");
        put_names(buf, cap, &len, p->townships, p->township_count);
        selgw_text_format(buf, cap, &len, ",\"polygon\":");
        if (p->polygon_count)
            put_points(buf, cap, &len, p->polygon, p->polygon_count);
        else
            selgw_text_bytes(buf, cap, &len, "null", 4);
        selgw_text_format(buf, cap, &len, "},\"season_days\":%d}", p->season_days);
        first = false;
    }
    selgw_text_format(buf, cap, &len, "]}");
    return len;
}

#define TEXT_MAX 1024
#define REF_MAX 256

/* What a person may type as an annotation's text or reference: one line of UTF-8 with no
 * control characters (a newline or a terminal escape would let it pass for the verifier's
 * own output when printed). */
static const char *annotation_problem(const char *text, const char *ref)
{
    if (!text || !text[0])
        return "the text must not be empty";
    if (strlen(text) >= TEXT_MAX || (ref && strlen(ref) >= REF_MAX))
        return "the text must be under 1024 bytes and the reference under 256";
    if (!selgw_text_is_clean(text, strlen(text)) || (ref && !selgw_text_is_clean(ref, strlen(ref))))
        return "the text and the reference must be single lines of UTF-8 without control "
               "characters (newlines, tabs, terminal escapes, direction marks)";
    return NULL;
}

/* A path into buf, which holds PATH_MAX bytes; false with errno ENAMETOOLONG when it does
 * not fit, rather than a truncated path that names another file. */
static bool format_path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool format_path(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return false;
    }
    return true;
}

typedef struct annotation_file {
    int64_t time_ns;
    const char *plot, *ref, *text;
} annotation_file;

static selgw_err write_annotation(FILE *f, void *ctx)
{
    const annotation_file *a = ctx;
    if (fprintf(f, "selgw-annotation 1\ntime %" PRId64 "\nplot %s\nref %s\ntext %s\n", a->time_ns,
                a->plot, a->ref ? a->ref : "", a->text) < 0)
        return selgw_err_from_errno(errno);
    return SELGW_OK;
}

selgw_err selgw_annotation_spool(const selgw_config *cfg, const char *plot, const char *text,
                                 const char *ref, char *why, size_t why_cap)
{
    bool known = false;
    for (size_t i = 0; i < cfg->plot_count; i++)
        known = known || !strcmp(cfg->plots[i].id, plot);
    if (!known) {
        selgw_explain(why, why_cap, "no plot '%s' in %s", plot, cfg->path);
        return SELGW_ERR_INVALID;
    }
    const char *problem = annotation_problem(text, ref);
    if (problem) {
        selgw_explain(why, why_cap, "%s", problem);
        return SELGW_ERR_INVALID;
    }
    char dir[PATH_MAX], path[PATH_MAX];
    annotation_file a = {selgw_utc_ns(), plot, ref, text};
    if (!format_path(dir, "%s/%s", cfg->journal.dir, SPOOL_DIR) ||
        !format_path(path, "%s/%020" PRId64 "-%d.ann", dir, a.time_ns, (int)getpid()))
        return selgw_explain_errno(why, why_cap, errno, "%s/%s", cfg->journal.dir, SPOOL_DIR);
    mkdir(cfg->journal.dir, 0750);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return selgw_explain_errno(why, why_cap, errno, "%s", dir);
    /* 0640: the journal's (a note may name a household's plot); its group, if it has one */
    selgw_err err = selgw_durable_replace(path, 0640, write_annotation, &a);
    if (err != SELGW_OK)
        selgw_explain(why, why_cap, "%s: %s", path, strerror(errno));
    return err;
}

typedef struct lot_file {
    int64_t time_ns;
    const char *lot, *json;
} lot_file;

static selgw_err write_lot(FILE *f, void *ctx)
{
    const lot_file *l = ctx;
    if (fprintf(f, "selgw-lot 1\ntime %" PRId64 "\nlot %s\ntext %s\n", l->time_ns, l->lot,
                l->json) < 0)
        return selgw_err_from_errno(errno);
    return SELGW_OK;
}

selgw_err selgw_lot_spool(const selgw_config *cfg, const char *lot, const char *json, char *why,
                          size_t why_cap)
{
    selgw_lot *parsed = NULL;
    char lot_why[200] = "";
    if (strlen(json) >= SELGW_QUEUED_TEXT_MAX) {
        selgw_explain(why, why_cap, "the lot's text is %zu bytes; at most %d fit in the queue",
                      strlen(json), SELGW_QUEUED_TEXT_MAX - 1);
        return SELGW_ERR_INVALID;
    }
    if (selgw_lot_parse(json, strlen(json), &parsed, lot_why, sizeof lot_why) != SELGW_OK ||
        strcmp(parsed->lot, lot) || !selgw_text_is_clean(json, strlen(json))) {
        selgw_lot_free(parsed);
        selgw_explain(why, why_cap, "not a lot's text: %s", lot_why[0] ? lot_why : "another id");
        return SELGW_ERR_INVALID;
    }
    selgw_lot_free(parsed);
    char dir[PATH_MAX], path[PATH_MAX];
    lot_file l = {selgw_utc_ns(), lot, json};
    if (!format_path(dir, "%s/%s", cfg->journal.dir, SPOOL_DIR) ||
        !format_path(path, "%s/%020" PRId64 "-%d.lot", dir, l.time_ns, (int)getpid()))
        return selgw_explain_errno(why, why_cap, errno, "%s/%s", cfg->journal.dir, SPOOL_DIR);
    mkdir(cfg->journal.dir, 0750);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return selgw_explain_errno(why, why_cap, errno, "%s", dir);
    selgw_err err = selgw_durable_replace(path, 0640, write_lot, &l);
    if (err != SELGW_OK)
        selgw_explain(why, why_cap, "%s: %s", path, strerror(errno));
    return err;
}

/* A value that does not fit was not written by selgw_annotation_spool: refuse it. */
static bool copy_value(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* A queue file, exactly as selgw_annotation_spool writes it: its five lines in order, each
 * ended by LF, no NUL byte (which would hide the rest of a line), the time a decimal
 * number, and nothing `selgw annotate` would refuse. Anyone who can write the queue can
 * put a file there, so nothing looser is taken. */
static bool read_annotation(const char *path, selgw_annotation *a)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    static const char *const keys[] = {"selgw-annotation 1", "time ", "plot ", "ref ", "text "};
    /* a lot: its id where an annotation's reference is, no plot line */
    static const char *const lot_keys[] = {"selgw-lot 1", "time ", "", "lot ", "text "};
    size_t plen = strlen(path);
    bool is_lot = plen > 4 && !strcmp(path + plen - 4, ".lot");
    const char *const *want = is_lot ? lot_keys : keys;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0;
    bool ok = true;
    memset(a, 0, sizeof *a);
    a->type = is_lot ? SELGW_RECORD_LOT : SELGW_RECORD_ANNOTATION;
    while (ok && (n = getline(&line, &cap, f)) >= 0) {
        if (is_lot && count == 2)
            count++; /* no plot line */
        if (count >= 5 || n == 0 || line[n - 1] != '\n' || strlen(line) != (size_t)n) {
            ok = false;
            break;
        }
        line[n - 1] = '\0';
        const char *key = want[count++];
        size_t key_len = strlen(key);
        if (strncmp(line, key, key_len)) {
            ok = false;
        } else if (count == 2) {
            char *end = NULL;
            errno = 0;
            long long t = strtoll(line + key_len, &end, 10);
            ok = !errno && end != line + key_len && !*end && t >= 0;
            a->time_ns = t;
        } else if (count == 3) {
            ok = copy_value(a->plot, sizeof a->plot, line + key_len);
        } else if (count == 4) {
            ok = copy_value(a->ref, sizeof a->ref, line + key_len);
        } else if (count == 5) {
            ok = copy_value(a->text, sizeof a->text, line + key_len);
        }
    }
    free(line);
    fclose(f);
    if (is_lot) {
        selgw_lot *lot = NULL;
        bool fine = ok && count == 5 && selgw_text_is_clean(a->text, strlen(a->text)) &&
                    selgw_lot_parse(a->text, strlen(a->text), &lot, NULL, 0) == SELGW_OK &&
                    !strcmp(lot->lot, a->ref);
        selgw_lot_free(lot);
        return fine;
    }
    return ok && count == 5 && a->plot[0] && !annotation_problem(a->text, a->ref);
}

bool selgw_lot_is_queued(const char *journal_dir, const char *lot)
{
    char dir[PATH_MAX];
    if (!format_path(dir, "%s/%s", journal_dir, SPOOL_DIR))
        return false;
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    selgw_annotation *a = malloc(sizeof *a);
    struct dirent *e;
    while (a && !found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char path[PATH_MAX];
        if (n < 5 || strcmp(e->d_name + n - 4, ".lot") ||
            !format_path(path, "%s/%s", dir, e->d_name))
            continue;
        found = read_annotation(path, a) && !strcmp(a->ref, lot);
    }
    free(a);
    closedir(d);
    return found;
}

int selgw_lot_queue_lock(const char *journal_dir, char *why, size_t why_cap)
{
    char dir[PATH_MAX], path[PATH_MAX];
    if (!format_path(dir, "%s/%s", journal_dir, SPOOL_DIR) ||
        !format_path(path, "%s/lot.lock", dir)) {
        selgw_explain_errno(why, why_cap, errno, "%s/%s", journal_dir, SPOOL_DIR);
        return -1;
    }
    mkdir(journal_dir, 0750);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        selgw_explain_errno(why, why_cap, errno, "%s", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        selgw_explain_errno(why, why_cap, errno, "%s", path);
        return -1;
    }
    int rc;
    while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        selgw_explain_errno(why, why_cap, errno, "%s: lock", path);
        close(fd);
        return -1;
    }
    return fd;
}

void selgw_lot_queue_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* the flock goes with it */
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t selgw_annotations_read(const char *journal_dir, selgw_annotation **out)
{
    *out = NULL;
    char dir[PATH_MAX];
    if (!format_path(dir, "%s/%s", journal_dir, SPOOL_DIR)) {
        selgw_log(SELGW_LOG_ERROR, "annotation queue %s/%s: %s", journal_dir, SPOOL_DIR,
                  strerror(errno));
        return 0;
    }
    /* Opened first: the sealer looks every second, and the queue usually does not exist
     * (no annotation was ever queued); then this is one failed open, not two. */
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    /* queue files `selgw annotate` was writing when it died; an hour leaves one at work */
    selgw_durable_remove_temps(dir, NULL, 3600);
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || (strcmp(e->d_name + n - 4, ".ann") && strcmp(e->d_name + n - 4, ".lot")) ||
            n >= sizeof((selgw_annotation *)0)->file)
            continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **grown = realloc(names, ncap * sizeof *grown);
            if (!grown)
                break;
            names = grown;
            cap = ncap;
        }
        if (!(names[count] = strdup(e->d_name)))
            break;
        count++;
    }
    closedir(d);
    if (count)
        qsort(names, count, sizeof *names, compare_names); /* oldest first: time in the name */
    selgw_annotation *list = count ? calloc(count, sizeof *list) : NULL;
    size_t taken = 0;
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX], bad[PATH_MAX];
        selgw_annotation *a = list ? &list[taken] : NULL;
        /* a name of the queue is short (file[]): only a directory near PATH_MAX fails */
        if (!format_path(path, "%s/%s", dir, names[i]) || !format_path(bad, "%s.bad", path)) {
            selgw_log(SELGW_LOG_ERROR, "annotation %s in %s: %s", names[i], dir, strerror(errno));
        } else if (a && read_annotation(path, a)) {
            snprintf(a->file, sizeof a->file, "%s", names[i]);
            taken++;
        } else if (a) {
            rename(path, bad);
            selgw_log(SELGW_LOG_ERROR,
                      "annotation %s cannot be read or holds what `selgw annotate` refuses "
                      "(control characters, too long); set aside as %s",
                      path, bad);
        }
        free(names[i]);
    }
    free(names);
    if (!taken) {
        free(list);
        list = NULL;
    }
    *out = list;
    return taken;
}

selgw_err selgw_annotation_done(const char *journal_dir, const selgw_annotation *a)
{
    char path[PATH_MAX];
    if (!format_path(path, "%s/%s/%s", journal_dir, SPOOL_DIR, a->file))
        return selgw_err_from_errno(errno);
    if (unlink(path) != 0 && errno != ENOENT)
        return selgw_err_from_errno(errno);
    return SELGW_OK;
}

void selgw_annotation_set_aside(const char *journal_dir, const selgw_annotation *a, const char *why)
{
    char path[PATH_MAX], aside[PATH_MAX];
    if (!format_path(path, "%s/%s/%s", journal_dir, SPOOL_DIR, a->file) ||
        !format_path(aside, "%s.%s", path, why))
        selgw_log(SELGW_LOG_ERROR, "annotation %s in %s/%s: %s (cannot set it aside: %s)", a->file,
                  journal_dir, SPOOL_DIR, why, strerror(errno));
    else if (rename(path, aside) != 0)
        selgw_log(SELGW_LOG_ERROR, "annotation %s: %s (cannot set it aside: %s)", path, why,
                  strerror(errno));
    else
        selgw_log(SELGW_LOG_ERROR, "annotation for plot '%s' set aside as %s (%s)", a->plot, aside,
                  why);
}

/* ---- reading tags back ------------------------------------------------------------------ */

typedef struct tags_reader {
    const char *what; /* set at the first problem */
} tags_reader;

/* A string member: NULL (and fine) when absent or null and optional. */
static bool get_string(tags_reader *r, json_t *obj, const char *key, bool required, char **out)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required && !r->what)
            r->what = key;
        return !required;
    }
    if (!json_is_string(v) || !(*out = strndup(json_string_value(v), json_string_length(v)))) {
        if (!r->what)
            r->what = key;
        return false;
    }
    return true;
}

static bool get_number(tags_reader *r, json_t *obj, const char *key, bool required, double *out,
                       bool *present)
{
    json_t *v = json_object_get(obj, key);
    if (present)
        *present = v && !json_is_null(v);
    if (!v || json_is_null(v)) {
        if (required && !r->what)
            r->what = key;
        return !required;
    }
    if (!json_is_number(v)) {
        if (!r->what)
            r->what = key;
        return false;
    }
    *out = json_number_value(v);
    return true;
}

static json_t *get_array(tags_reader *r, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_array(v) && !r->what)
        r->what = key;
    return json_is_array(v) ? v : NULL;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* [[lat, lon], ...] of at least 3 points in WGS84 bounds: a new array (or NULL with
 * r->what set to what). */
static double (*get_points(tags_reader *r, json_t *v, const char *what, size_t *count))[2]
{
    *count = 0;
    size_t n = json_array_size(v);
    double(*out)[2] = NULL;
    if (!json_is_array(v) || n < 3 || !(out = calloc(n, sizeof *out))) {
        if (!r->what)
            r->what = what;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(v, i);
        json_t *a = json_array_get(p, 0), *b = json_array_get(p, 1);
        if (json_array_size(p) != 2 || !json_is_number(a) || !json_is_number(b) ||
            !(fabs(json_number_value(a)) <= 90) || !(fabs(json_number_value(b)) <= 180)) {
            free(out);
            if (!r->what)
                r->what = what;
            return NULL;
        }
        out[i][0] = json_number_value(a);
        out[i][1] = json_number_value(b);
    }
    *count = n;
    return out;
}

/* An array of strings (absent: none, when optional). */
static char **get_names(tags_reader *r, json_t *obj, const char *key, size_t *count)
{
    *count = 0;
    json_t *v = json_object_get(obj, key);
    size_t n = json_array_size(v);
    if (!json_is_array(v)) {
        if (!r->what)
            r->what = key;
        return NULL;
    }
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out) {
        if (!r->what)
            r->what = "(out of memory)";
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) ||
            !(out[*count] = strndup(json_string_value(s), json_string_length(s)))) {
            if (!r->what)
                r->what = key;
            break;
        }
        (*count)++;
    }
    return out;
}

/* The members recorded since issue 12: absent in older tags, checked when present. */
static void read_place(tags_reader *r, json_t *root, selgw_tags *t)
{
    json_t *loc = json_object_get(root, "location");
    if (loc && !json_is_null(loc)) {
        json_t *boundary = json_object_get(loc, "boundary");
        if (!json_is_object(loc)) {
            r->what = "location";
        } else if (boundary) {
            t->boundary = get_points(r, boundary, "location", &t->boundary_count);
        } else {
            bool lat = false, lon = false;
            get_number(r, loc, "latitude", true, &t->plot_latitude, &lat);
            get_number(r, loc, "longitude", true, &t->plot_longitude, &lon);
            t->has_location = lat && lon && !r->what && fabs(t->plot_latitude) <= 90 &&
                              fabs(t->plot_longitude) <= 180;
            if (!t->has_location && !r->what)
                r->what = "location";
        }
    }
    get_string(r, root, "utc_offset", false, &t->utc_offset);
    json_t *products = json_object_get(root, "products");
    if (!products || r->what)
        return;
    if (!json_is_array(products)) {
        r->what = "products";
        return;
    }
    size_t n = json_array_size(products);
    t->products = calloc(n ? n : 1, sizeof *t->products);
    if (!t->products) {
        r->what = "(out of memory)";
        return;
    }
    for (size_t i = 0; i < n && !r->what; i++) {
        json_t *p = json_array_get(products, i);
        selgw_tags_product *out = &t->products[t->product_count++];
        json_t *area = json_object_get(p, "area");
        if (!json_is_object(p) || !json_is_object(area)) {
            r->what = "products";
            break;
        }
        double days = 0;
        get_string(r, p, "name", true, &out->name);
        out->crops = get_names(r, p, "crops", &out->crop_count);
        get_number(r, p, "season_days", true, &days, NULL);
        if (!r->what && !(days >= 1 && days <= 3650 && days == floor(days)))
            r->what = "season_days";
        out->season_days = r->what ? 0 : (int)days;
        out->counties = get_names(r, area, "counties", &out->county_count);
        out->townships = get_names(r, area, "townships", &out->township_count);
        json_t *polygon = json_object_get(area, "polygon");
        if (!polygon && !r->what)
            r->what = "polygon";
        else if (!json_is_null(polygon))
            out->polygon = get_points(r, polygon, "polygon", &out->polygon_count);
    }
}

void selgw_tags_free(selgw_tags *t)
{
    if (!t)
        return;
    free(t->plot);
    free(t->crop);
    free(t->base_id);
    free(t->base_name);
    free(t->county);
    free(t->township);
    for (size_t i = 0; i < t->household_count; i++) {
        free(t->households[i].household);
        free(t->households[i].contract);
        free(t->households[i].from);
        free(t->households[i].to);
    }
    free(t->households);
    for (size_t i = 0; i < t->device_count; i++) {
        selgw_tags_device *d = &t->devices[i];
        free(d->id);
        free(d->bus);
        free(d->profile);
        free(d->serial);
        for (size_t k = 0; k < d->calibration_count; k++)
            free(d->calibration[k].field);
        free(d->calibration);
    }
    free(t->devices);
    free(t->boundary);
    free(t->utc_offset);
    for (size_t i = 0; i < t->product_count; i++) {
        selgw_tags_product *p = &t->products[i];
        free(p->name);
        free_names(p->crops, p->crop_count);
        free_names(p->counties, p->county_count);
        free_names(p->townships, p->township_count);
        free(p->polygon);
    }
    free(t->products);
    free(t);
}

static void read_tags(tags_reader *r, json_t *root, selgw_tags *t)
{
    double format = 0;
    if (!json_is_object(root)) {
        r->what = "the text";
        return;
    }
    get_number(r, root, "format", true, &format, NULL);
    if (!r->what && format != 1)
        r->what = "format";
    t->format = format == 1 ? 1 : 0; /* no cast of a number that may not fit an int */
    get_string(r, root, "plot", true, &t->plot);
    get_string(r, root, "crop", false, &t->crop);
    get_number(r, root, "area_mu", false, &t->area_mu, NULL);
    json_t *base = json_object_get(root, "base");
    if (!json_is_object(base)) {
        if (!r->what)
            r->what = "base";
    } else {
        bool lat = false, lon = false;
        get_string(r, base, "id", true, &t->base_id);
        get_string(r, base, "name", false, &t->base_name);
        get_string(r, base, "county", false, &t->county);
        get_string(r, base, "township", false, &t->township);
        get_number(r, base, "latitude", false, &t->latitude, &lat);
        get_number(r, base, "longitude", false, &t->longitude, &lon);
        t->has_coordinates = lat && lon;
    }
    json_t *households = get_array(r, root, "households");
    json_t *devices = get_array(r, root, "devices");
    if (r->what)
        return;
    size_t n = json_array_size(households);
    t->households = calloc(n ? n : 1, sizeof *t->households);
    for (size_t i = 0; t->households && i < n && !r->what; i++) {
        json_t *h = json_array_get(households, i);
        selgw_tags_household *out = &t->households[t->household_count++];
        if (!json_is_object(h)) {
            r->what = "households";
            break;
        }
        get_string(r, h, "household", true, &out->household);
        get_string(r, h, "contract", true, &out->contract);
        get_string(r, h, "from", true, &out->from);
        get_string(r, h, "to", false, &out->to);
    }
    n = json_array_size(devices);
    t->devices = calloc(n ? n : 1, sizeof *t->devices);
    for (size_t i = 0; t->devices && i < n && !r->what; i++) {
        json_t *d = json_array_get(devices, i);
        selgw_tags_device *out = &t->devices[t->device_count++];
        double unit = 0;
        if (!json_is_object(d)) {
            r->what = "devices";
            break;
        }
        get_string(r, d, "id", true, &out->id);
        get_string(r, d, "bus", true, &out->bus);
        get_string(r, d, "profile", true, &out->profile);
        get_string(r, d, "serial", false, &out->serial);
        get_number(r, d, "unit_id", true, &unit, NULL);
        if (!(unit >= 0 && unit <= 255 && unit == floor(unit))) {
            if (!r->what)
                r->what = "unit_id";
        } else {
            out->unit_id = (int)unit;
        }
        json_t *cal = get_array(r, d, "calibration");
        size_t m = json_array_size(cal);
        out->calibration = r->what ? NULL : calloc(m ? m : 1, sizeof *out->calibration);
        for (size_t k = 0; out->calibration && k < m && !r->what; k++) {
            json_t *c = json_array_get(cal, k);
            selgw_tags_calibration *oc = &out->calibration[out->calibration_count++];
            if (!json_is_object(c)) {
                r->what = "calibration";
                break;
            }
            get_string(r, c, "field", true, &oc->field);
            get_number(r, c, "scale", true, &oc->scale, NULL);
            get_number(r, c, "offset", true, &oc->offset, NULL);
        }
    }
    if (!r->what && (!t->households || !t->devices))
        r->what = "(out of memory)";
    if (!r->what)
        read_place(r, root, t);
}

selgw_err selgw_tags_parse(const char *text, size_t len, selgw_tags **out, char *why,
                           size_t why_cap)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        selgw_explain(why, why_cap, "not JSON: %s at character %d", jerr.text, jerr.position);
        return SELGW_ERR_CORRUPT;
    }
    selgw_tags *t = calloc(1, sizeof *t);
    if (!t) {
        json_decref(root);
        return SELGW_ERR_NOMEM;
    }
    tags_reader r = {NULL};
    read_tags(&r, root, t);
    json_decref(root);
    if (r.what) {
        selgw_explain(why, why_cap, "not tags of format 1: %s is missing or of the wrong type",
                      r.what);
        selgw_tags_free(t);
        return SELGW_ERR_CORRUPT;
    }
    *out = t;
    return SELGW_OK;
}
