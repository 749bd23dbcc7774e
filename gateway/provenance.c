#include "provenance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "durable.h"
#include "log.h"
#include "text_writer.h"

#define SPOOL_DIR "annotations"

static void put_day(char *buf, size_t cap, size_t *len, int32_t day)
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    selgw_text_format(buf, cap, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday);
}

size_t selgw_plot_tags_text(const selgw_config *cfg, size_t plot_index, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    const selgw_plot *plot = &cfg->plots[plot_index];
    selgw_text_format(buf, cap, &len,
                      "base=%s crop=%s area_mu=%g households=", cfg->bases[plot->base].id,
                      plot->crop, plot->area_mu);
    for (size_t i = 0; i < plot->contract_count; i++) {
        const selgw_contract *c = &plot->contracts[i];
        selgw_text_format(buf, cap, &len, "%s%s:%s:", i ? "," : "", c->household, c->contract);
        put_day(buf, cap, &len, c->from_day);
        selgw_text_format(buf, cap, &len, "..");
        if (c->to_day != INT32_MAX)
            put_day(buf, cap, &len, c->to_day);
    }
    selgw_text_format(buf, cap, &len, " devices=");
    bool first = true;
    for (size_t i = 0; i < cfg->device_count; i++) {
        const selgw_device *d = &cfg->devices[i];
        if (d->plot != plot_index)
            continue;
        selgw_text_format(buf, cap, &len, "%s%s@%s/%d(%s", first ? "" : ",", d->id,
                          cfg->buses[d->bus].id, d->unit_id, d->profile->name);
        for (size_t k = 0; k < d->calibration_count; k++) {
            const selgw_field_calibration *fc = &d->calibrations[k];
            selgw_text_format(buf, cap, &len, ";%s*%.15g%+.15g", d->profile->fields[fc->field].name,
                              fc->cal.scale, fc->cal.offset);
        }
        selgw_text_format(buf, cap, &len, ")");
        first = false;
    }
    return len;
}

static bool one_line(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

selgw_err selgw_annotation_spool(const selgw_config *cfg, const char *plot, const char *text,
                                 const char *ref, char *why, size_t why_cap)
{
    bool known = false;
    for (size_t i = 0; i < cfg->plot_count; i++)
        known = known || !strcmp(cfg->plots[i].id, plot);
    if (!known) {
        snprintf(why, why_cap, "no plot '%s' in %s", plot, cfg->path);
        return SELGW_ERR_INVALID;
    }
    if (!one_line(text) || !text[0] || (ref && !one_line(ref)) || strlen(text) >= 1024 ||
        (ref && strlen(ref) >= 256)) {
        snprintf(why, why_cap,
                 "the text (under 1024 bytes) and the reference (under 256) "
                 "must be single lines");
        return SELGW_ERR_INVALID;
    }
    char dir[4096], path[4200], tmp[4300];
    snprintf(dir, sizeof dir, "%s/%s", cfg->journal.dir, SPOOL_DIR);
    mkdir(cfg->journal.dir, 0750);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(why, why_cap, "%s: %s", dir, strerror(errno));
        return SELGW_ERR_IO;
    }
    int64_t now = selgw_utc_ns();
    snprintf(path, sizeof path, "%s/%020" PRId64 "-%d.ann", dir, now, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(why, why_cap, "%s: %s", tmp, strerror(errno));
        return SELGW_ERR_IO;
    }
    fprintf(f, "selgw-annotation 1\ntime %" PRId64 "\nplot %s\nref %s\ntext %s\n", now, plot,
            ref ? ref : "", text);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(why, why_cap, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return SELGW_ERR_IO;
    }
    selgw_fsync_parent(path);
    return SELGW_OK;
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

static bool read_annotation(const char *path, selgw_annotation *a)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1400];
    int n = 0;
    bool ok = true;
    memset(a, 0, sizeof *a);
    while (ok && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        n++;
        if (n == 1)
            ok = !strcmp(line, "selgw-annotation 1");
        else if (!strncmp(line, "time ", 5))
            ok = sscanf(line + 5, "%" SCNd64, &a->time_ns) == 1;
        else if (!strncmp(line, "plot ", 5))
            ok = copy_value(a->plot, sizeof a->plot, line + 5);
        else if (!strncmp(line, "ref ", 4))
            ok = copy_value(a->ref, sizeof a->ref, line + 4);
        else if (!strncmp(line, "text ", 5))
            ok = copy_value(a->text, sizeof a->text, line + 5);
        else
            ok = false;
    }
    fclose(f);
    return ok && n == 5 && a->plot[0] && a->text[0];
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void selgw_annotations_collect(const char *journal_dir,
                               bool (*take)(void *ctx, const selgw_annotation *a), void *ctx)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", journal_dir, SPOOL_DIR);
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".ann"))
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
    for (size_t i = 0; i < count; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        selgw_annotation a;
        if (!read_annotation(path, &a)) {
            char bad[4500];
            snprintf(bad, sizeof bad, "%s.bad", path);
            rename(path, bad);
            selgw_log(SELGW_LOG_ERROR, "annotation %s cannot be read; set aside as %s", path, bad);
        } else if (take(ctx, &a)) {
            unlink(path);
        }
        free(names[i]);
    }
    free(names);
}

bool selgw_clock_synchronised(char *text, size_t cap)
{
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    int state = adjtimex(&tx);
    bool synced = state != TIME_ERROR && !(tx.status & STA_UNSYNC);
    if (synced)
        snprintf(text, cap, "synchronised, estimated error %ld us", tx.esterror);
    else
        snprintf(text, cap, "not synchronised (kernel reports STA_UNSYNC)");
    return synced;
}
