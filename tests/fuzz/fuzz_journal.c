/* Fuzz target: what the gateway reads back from its journal directory (gateway/journal/journal.h,
 * gateway/evidence/plotlog.h; formats in docs/JOURNAL.md and docs/EVIDENCE.md). After a power cut, a
 * failing SD card or a hand-edited file, recovery must cut a torn tail or stop with the
 * segment and offset, never crash or read outside what it read. The input is written into a
 * directory made once per process (mkdtemp under /tmp, emptied before each input):
 *   - as segment files: split at each further occurrence of the segment magic "SELGWJNL",
 *     the first part as 00000000000000000001.seg, each later one named after the first
 *     sequence number its own header gives (so that a concatenation of real segments is a
 *     real multi-segment journal);
 *   - whole, as plot-chains.log.
 * The journal is opened read-only as `selgw journal` opens it (nothing is written), every
 * record read with a reader, described to /dev/null and closed; then plot-chains.log is
 * walked for the chain "plot/a" and each record it yields decoded. Seeds:
 * tests/fuzz/corpus/journal: segments of a real gateway's journal (a signing gateway with
 * three devices, one answering with an exception, plus `selgw annotate`), re-journaled by
 * the journal itself with 2 KiB segments and with a budget that made it drop a segment and
 * write a GAP record; two segments concatenated; one whose last frame is torn in half; and
 * that gateway's plot-chains.log (plot "a"). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/journal.h"
#include "evidence/plotlog.h"
#include "journal/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAGIC "SELGWJNL"
#define MAX_SEGMENTS 8

static char dir[64];

static void remove_dir(void)
{
    if (!dir[0])
        return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[sizeof dir + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

static void cleanup_at_exit(void)
{
    remove_dir();
    rmdir(dir);
}

static void write_file(const char *name, const uint8_t *data, size_t size)
{
    char path[sizeof dir + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    if (size)
        fwrite(data, 1, size, f);
    fclose(f);
}

static uint64_t get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool decode_plot_record(void *ctx, uint64_t jseq, const uint8_t *payload, size_t len)
{
    (void)jseq;
    selgw_record *rec = ctx;
    selgw_record_decode(payload, len, rec);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    static selgw_record *rec;
    if (!dir[0]) {
        strcpy(dir, "/tmp/selgw-fuzz-journal-XXXXXX");
        if (!mkdtemp(dir)) {
            dir[0] = '\0';
            return 0;
        }
        atexit(cleanup_at_exit);
        sink = fopen("/dev/null", "w");
        rec = malloc(sizeof *rec);
    }
    if (!sink || !rec)
        return 0;
    remove_dir();

    /* Segments: cut before every later occurrence of the magic. */
    size_t cut[MAX_SEGMENTS + 1];
    size_t parts = 0;
    cut[parts++] = 0;
    for (size_t i = 1; i + sizeof MAGIC - 1 <= size && parts < MAX_SEGMENTS; i++)
        if (!memcmp(data + i, MAGIC, sizeof MAGIC - 1))
            cut[parts++] = i;
    cut[parts] = size;
    for (size_t k = 0; k < parts; k++) {
        const uint8_t *seg = data + cut[k];
        size_t len = cut[k + 1] - cut[k];
        uint64_t first = k == 0 || len < 24 ? (uint64_t)k + 1 : get64le(seg + 16);
        char name[32];
        snprintf(name, sizeof name, "%020llu.seg", (unsigned long long)first);
        write_file(name, seg, len);
    }
    write_file(SELGW_PLOTLOG_FILE, data, size);

    selgw_journal_config cfg = {.dir = dir,
                                .segment_bytes = 4096,
                                .fsync = SELGW_FSYNC_BATCH,
                                .commit_interval_ms = 10,
                                .retention_ms = 0};
    selgw_journal *j = NULL;
    selgw_journal_recovery recovery;
    memset(&recovery, 0, sizeof recovery);
    if (selgw_journal_open(&cfg, NULL, 0, false, &j, &recovery) == SELGW_OK) {
        selgw_journal_reader *r = NULL;
        if (selgw_journal_reader_new(j, 0, &r) == SELGW_OK) {
            uint64_t seq;
            const uint8_t *payload;
            size_t len;
            while (selgw_journal_read(r, &seq, &payload, &len) == SELGW_OK)
                selgw_record_decode(payload, len, rec);
            selgw_journal_reader_free(r);
        }
        selgw_journal_describe(j, sink);
        selgw_journal_close(j);
    }

    char why[256];
    selgw_plotlog_each(dir, "plot/a", decode_plot_record, rec, why, sizeof why);
    return 0;
}
