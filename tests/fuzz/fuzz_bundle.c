/* Fuzz target: `selgw verify` reading an evidence bundle (the whole reader: lines, header,
 * base64, record decoding, chains, seals, tags, the summary). An input is trusted with the
 * key its own header names, so that inputs mutated from genuine bundles reach the checks
 * behind a valid signature too. An input that begins as gzip does (1f 8b) is verified from
 * a file, as `selgw verify` does, through the bundle reader's gzip stream (truncated and
 * damaged streams). The report is filled and rendered as well. Seeds: tests/fuzz/corpus/bundle (tests/fuzz/make_seeds.py). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "evidence/evidence.h"
#include "evidence/report.h"

/* A gzip input: written to an anonymous file, verified by its /proc/self/fd path. */
static void verify_gzip_file(const uint8_t *data, size_t size, FILE *sink)
{
    int fd = memfd_create("fuzz-bundle", MFD_CLOEXEC);
    if (fd < 0)
        return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (write(fd, data, size) == (ssize_t)size) {
        selgw_verify_options opt = {0};
        selgw_evidence_verify(path, &opt, sink);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (!sink || size == 0)
        return 0;
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        verify_gzip_file(data, size, sink);
        return 0;
    }
    char key[96] = "";
    static const char head[] = "selgw-evidence 1\npublic-key ";
    if (size > sizeof head - 1 && !memcmp(data, head, sizeof head - 1)) {
        const char *k = (const char *)data + sizeof head - 1;
        size_t n = 0;
        while (n < sizeof key - 1 && k + n < (const char *)data + size && k[n] != '\n')
            n++;
        memcpy(key, k, n);
        key[n] = '\0';
    }
    FILE *in = fmemopen((void *)data, size, "r");
    if (!in)
        return 0;
    /* the report too: filled from the same facts and rendered; no bundle text may ever
     * become markup of its own */
    selgw_report *report = selgw_report_new("en");
    selgw_verify_options opt = {.pubkey = key[0] ? key : NULL, .report = report};
    selgw_evidence_verify_stream(in, "fuzz input", &opt, sink);
    fclose(in);
    char *html = report ? selgw_report_html(report, NULL) : NULL;
    if (html && (strstr(html, "<script") || strstr(html, "<b>") || strstr(html, "<img")))
        abort();
    free(html);
    selgw_report_free(report);
    return 0;
}
