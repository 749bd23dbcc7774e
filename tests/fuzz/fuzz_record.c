/* Fuzz target: a journal record payload (gateway/journal/record.h, format in docs/RECORD.md) and
 * everything that reads a decoded one. Payloads come back from the disk (a journal, a
 * plot-chains.log) and, through an evidence bundle, from whoever hands one over, so
 * selgw_record_decode must refuse anything malformed without reading outside the payload,
 * and what it accepts must be safe for its readers: the JSON form and the InfluxDB line
 * (grown as gateway/main.c's dump_journal grows its buffer), a fresh selgw_chains taking the
 * record into account, and for a TAGS record the tags parser. Seeds (tests/fuzz/corpus/record),
 * real payloads, one per record type: tags, annotation, seal and an ok reading decoded from
 * the base64 of tests/fuzz/corpus/bundle/honest.evidence; start, clock, stop and failed
 * readings (exception, connect_failed) from the journal of a short signing gateway run;
 * a GAP record the journal wrote itself when a tiny budget made it drop a segment; and the
 * two format 1 payloads of tests/unit/test_record.c (test_format1_still_decodes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/chains.h"
#include "sinks/lineproto.h"
#include "evidence/provenance.h"
#include "journal/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Renders rec as JSON (lp false) or line protocol into *buf, growing it to what the
 * renderer asks for, and checks that the second call fits. */
static void render(const selgw_record *rec, bool lp, char **buf, size_t *cap)
{
    size_t need =
        lp ? selgw_lp_record(rec, "reading", *buf, *cap) : selgw_record_json(rec, *buf, *cap);
    if (need < *cap)
        return;
    char *grown = realloc(*buf, need + 1);
    if (!grown)
        return;
    *buf = grown;
    *cap = need + 1;
    size_t again =
        lp ? selgw_lp_record(rec, "reading", *buf, *cap) : selgw_record_json(rec, *buf, *cap);
    if (again != need || strlen(*buf) != need)
        abort(); /* snprintf-style: the same length twice, and all of it written */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static selgw_record rec; /* large (fields and households inline): not on the stack */
    memset(&rec, 0, sizeof rec);
    if (selgw_record_decode(data, size, &rec) != SELGW_OK)
        return 0;
    rec.seq = 42;
    selgw_record_hash(data, size, rec.hash);
    rec.has_hash = true;

    size_t cap = 64; /* small, so that the growing path runs too */
    char *buf = malloc(cap);
    if (buf) {
        render(&rec, false, &buf, &cap);
        render(&rec, true, &buf, &cap);
        free(buf);
    }

    selgw_chains *chains = NULL;
    if (selgw_chains_new(&chains) == SELGW_OK) {
        selgw_chains_apply(chains, data, size, 42);
        selgw_chains_free(chains);
    }

    if (rec.type == SELGW_RECORD_TAGS) {
        char why[200];
        selgw_tags *tags = NULL;
        if (selgw_tags_parse(rec.text.ptr, rec.text.len, &tags, why, sizeof why) == SELGW_OK)
            selgw_tags_free(tags);
    }
    return 0;
}
