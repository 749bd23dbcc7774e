/* Evidence bundles: a journal built here record by record (chained, hashed and sealed as
 * the gateway does), exported for one plot and verified; then every way of tampering with
 * a bundle that an attacker without the key has must be caught, with the right message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "config.h"
#include "evidence/bundle_io.h"
#include "evidence/evidence.h"
#include "journal/journal.h"
#include "evidence/keys.h"
#include "evidence/provenance.h"
#include "evidence/report.h"
#include "journal/record.h"
#include "sensors/profile.h"
#include "test_farm.h"

#define T0 INT64_C(1795960000000000000)
#define SEC INT64_C(1000000000)
#define T1 (T0 + 200 * SEC)
#define T2 (T0 + 540 * SEC)
#define MAX_CHAINS 8
#define MAX_LINES 256

typedef struct chain_state {
    char name[64];
    uint64_t seq;
    uint8_t head[SELGW_RECORD_HASH_BYTES];
} chain_state;

typedef struct fixture {
    char dir[64];
    char journal_dir[96];
    char key_path[96];
    char other_key_path[96];
    char bundle[96];
    char public_key[SELGW_PUBLIC_KEY_TEXT_SIZE];
    char other_public_key[SELGW_PUBLIC_KEY_TEXT_SIZE];

    test_farm farm;

    selgw_journal *journal;
    chain_state chains[MAX_CHAINS];
    size_t chain_count;
    selgw_signer *signer;

    /* the bundle's lines, for tampering */
    char *lines[MAX_LINES];
    size_t line_count;
} fixture;

/* ---- building the journal --------------------------------------------------------- */

static chain_state *chain(fixture *f, const char *name)
{
    for (size_t i = 0; i < f->chain_count; i++)
        if (!strcmp(f->chains[i].name, name))
            return &f->chains[i];
    assert_true(f->chain_count < MAX_CHAINS);
    chain_state *c = &f->chains[f->chain_count++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

static selgw_chain_link next_link(chain_state *c)
{
    selgw_chain_link link = {.chain = c->name, .chain_seq = c->seq + 1};
    memcpy(link.prev, c->head, sizeof link.prev);
    return link;
}

static uint64_t append(fixture *f, chain_state *c, const uint8_t *payload, size_t len)
{
    uint64_t seq = 0;
    assert_int_equal(selgw_journal_append(f->journal, payload, len, &seq), SELGW_OK);
    c->seq++;
    selgw_record_hash(payload, len, c->head);
    return seq;
}

static uint64_t add_reading(fixture *f, size_t device, int64_t t, selgw_err status)
{
    char name[64];
    snprintf(name, sizeof name, "device/%s", f->farm.devices[device].id);
    chain_state *c = chain(f, name);
    test_value values[2];
    if (status == SELGW_OK) {
        values[0] = (test_value){20.0 + (double)((t - T0) / SEC % 7), SELGW_QUALITY_OK};
        values[1] = (test_value){15.5, SELGW_QUALITY_OK};
    } else {
        values[0] = values[1] = (test_value){0, SELGW_QUALITY_READ_FAILED};
    }
    selgw_reading r;
    test_reading(&r, &f->farm.cfg, &f->farm.devices[device], t, status, 1, f->farm.contract_ptrs,
                 f->farm.devices[device].plot == 0 ? 2 : 0, values);
    selgw_chain_link link = next_link(c);
    uint8_t buf[2048];
    size_t len = selgw_record_encode_reading(&r, &link, buf, sizeof buf);
    assert_true(len > 0 && len <= sizeof buf);
    return append(f, c, buf, len);
}

static selgw_str s(const char *text)
{
    return (selgw_str){text, strlen(text)};
}

static uint64_t add_event(fixture *f, selgw_record_type type, int64_t t, const char *plot,
                          const char *text, const char *ref)
{
    char name[64];
    if (plot)
        snprintf(name, sizeof name, "plot/%s", plot);
    else
        snprintf(name, sizeof name, "gateway");
    chain_state *c = chain(f, name);
    selgw_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = type;
    rec.time_ns = t;
    rec.gateway = s("gw-1");
    rec.text = s(text);
    if (plot)
        rec.plot = s(plot);
    if (ref)
        rec.ref = s(ref);
    selgw_chain_link link = next_link(c);
    uint8_t buf[2048];
    size_t len = selgw_record_encode_event(&rec, &link, buf, sizeof buf);
    assert_true(len > 0 && len <= sizeof buf);
    return append(f, c, buf, len);
}

/* The plot's tags as the gateway records them, from the fixture's config. */
static uint64_t add_tags(fixture *f, size_t plot, int64_t t)
{
    char tags[2048];
    assert_true(selgw_plot_tags_text(&f->farm.cfg, plot, tags, sizeof tags) < sizeof tags);
    return add_event(f, SELGW_RECORD_TAGS, t, f->farm.plots[plot].id, tags, NULL);
}

/* A seal of every chain's head, signed with signer, as the gateway writes it. */
static size_t encode_seal_covering(fixture *f, int64_t t, int64_t covers,
                                   const selgw_signer *signer, uint8_t *buf, size_t cap)
{
    selgw_seal_entry entries[MAX_CHAINS];
    for (size_t i = 0; i < f->chain_count; i++) {
        entries[i].chain = f->chains[i].name;
        entries[i].chain_seq = f->chains[i].seq;
        memcpy(entries[i].head, f->chains[i].head, SELGW_RECORD_HASH_BYTES);
    }
    chain_state *g = chain(f, "gateway");
    selgw_chain_link link = next_link(g);
    size_t signed_len = 0;
    size_t len = selgw_record_encode_seal(t, covers, "gw-1", entries, f->chain_count, &link, buf,
                                          cap, &signed_len);
    assert_true(len > 0 && len <= cap);
    assert_int_equal(len, signed_len + SELGW_RECORD_SIGNATURE_BYTES);
    selgw_sign(signer, buf, signed_len, buf + signed_len);
    return len;
}

/* A seal that covers every poll begun before `covers` (a poll begun then is still on its
 * way). */
static uint64_t add_seal_covering(fixture *f, int64_t t, int64_t covers)
{
    uint8_t buf[4096];
    size_t len = encode_seal_covering(f, t, covers, f->signer, buf, sizeof buf);
    return append(f, chain(f, "gateway"), buf, len);
}

static uint64_t add_seal(fixture *f, int64_t t)
{
    return add_seal_covering(f, t, t);
}

/* Opens the journal and writes what every story here begins with: a start and the tags
 * of plot hw-a. */
static void begin_journal(fixture *f)
{
    f->journal = test_journal_open(&f->farm.cfg.journal, NULL);
    add_event(f, SELGW_RECORD_START, T0, NULL, "selgw 0.4 test.yaml", NULL);
    add_tags(f, 0, T0 + 1 * SEC);
}

static void end_journal(fixture *f)
{
    assert_int_equal(selgw_journal_flush(f->journal), SELGW_OK);
    selgw_journal_close(f->journal);
    f->journal = NULL;
}

/* One base with coordinates, plots hw-a (with both contracts) and hw-b, devices soil-1
 * and soil-2 on hw-a and soil-3 on hw-b, all on one bus. */
static void config_init(fixture *f)
{
    test_farm_init(&f->farm, 2, 2, 2, 3);
    f->farm.bases[0] = (selgw_base){.id = "hanwang",
                                    .name = "汉王",
                                    .county = "紫阳县",
                                    .township = "汉王镇",
                                    .has_coordinates = true,
                                    .latitude = 32.52,
                                    .longitude = 108.53};
    f->farm.plots[0].id = "hw-a";
    f->farm.plots[1].id = "hw-b";
    for (size_t i = 0; i < 3; i++)
        f->farm.devices[i].unit_id = (int)i + 1;
    f->farm.devices[2].plot = 1;
    f->farm.cfg.journal = test_journal_config(f->journal_dir);
    f->farm.cfg.signing = (selgw_signing_config){
        .enabled = true, .secret_key = f->key_path, .seal_interval_ms = 300000};
}

/* The story: a start, the plot's tags and a first round of readings, the opening seal,
 * readings of soil-1 and soil-2 (plot hw-a) and soil-3 (plot hw-b) every minute from T1,
 * a failed poll of soil-2, an annotation on hw-a, a clock record, a seal in the middle,
 * the closing seal after T2, and readings after it. */
static void build_journal(fixture *f, bool closing_seal)
{
    begin_journal(f);
    add_tags(f, 1, T0 + 1 * SEC);
    for (size_t d = 0; d < 3; d++)
        add_reading(f, d, T0 + 10 * SEC, SELGW_OK);
    add_seal(f, T0 + 100 * SEC);
    for (int64_t t = 210; t <= 510; t += 60) {
        for (size_t d = 0; d < 3; d++)
            add_reading(f, d, T0 + t * SEC, d == 1 && t == 330 ? SELGW_ERR_TIMEOUT : SELGW_OK);
        if (t == 270)
            add_event(f, SELGW_RECORD_ANNOTATION, T0 + 300 * SEC, "hw-a",
                      "lab: no pesticide residue found", "LAB-2026-118");
        if (t == 330)
            add_event(f, SELGW_RECORD_CLOCK, T0 + 340 * SEC, NULL, "synchronised (NTP)", NULL);
        if (t == 390)
            add_seal(f, T0 + 400 * SEC);
    }
    if (closing_seal) {
        add_seal(f, T0 + 600 * SEC);
        for (size_t d = 0; d < 3; d++)
            add_reading(f, d, T0 + 660 * SEC, SELGW_OK);
    }
    end_journal(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || sodium_init() < 0)
        return -1;
    if (!test_scratch_dir(f->dir, sizeof f->dir, "evidence"))
        return -1;
    snprintf(f->journal_dir, sizeof f->journal_dir, "%s/journal", f->dir);
    snprintf(f->key_path, sizeof f->key_path, "%s/gw.key", f->dir);
    snprintf(f->other_key_path, sizeof f->other_key_path, "%s/other.key", f->dir);
    snprintf(f->bundle, sizeof f->bundle, "%s/bundle.txt", f->dir);
    char why[256];
    if (selgw_keygen(f->key_path, f->public_key, why, sizeof why) != SELGW_OK ||
        selgw_keygen(f->other_key_path, f->other_public_key, why, sizeof why) != SELGW_OK ||
        selgw_signer_load(f->key_path, &f->signer, why, sizeof why) != SELGW_OK)
        return -1;
    config_init(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < f->line_count; i++)
        free(f->lines[i]);
    selgw_signer_free(f->signer);
    remove_tree(f->dir);
    free(f);
    return 0;
}

/* ---- bundles as lines ----------------------------------------------------------------- */

static void export_ok(fixture *f, const char *plot, int64_t from, int64_t to)
{
    char why[512] = "";
    selgw_err err = selgw_evidence_export(&f->farm.cfg, plot, from, to, f->bundle, false, NULL, why,
                                          sizeof why);
    if (err != SELGW_OK)
        fprintf(stderr, "export: %s: %s\n", selgw_strerror(err), why);
    assert_int_equal(err, SELGW_OK);
}

static void load_lines(fixture *f)
{
    FILE *in = fopen(f->bundle, "r");
    assert_non_null(in);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    for (size_t i = 0; i < f->line_count; i++) /* a bundle loaded before */
        free(f->lines[i]);
    f->line_count = 0;
    while ((n = getline(&line, &cap, in)) > 0) {
        assert_true(f->line_count < MAX_LINES);
        line[n - 1] = '\0';
        f->lines[f->line_count++] = strdup(line);
    }
    free(line);
    fclose(in);
}

static void save_lines(fixture *f)
{
    FILE *out = fopen(f->bundle, "w");
    assert_non_null(out);
    for (size_t i = 0; i < f->line_count; i++)
        fprintf(out, "%s\n", f->lines[i]);
    fclose(out);
}

static void remove_line(fixture *f, size_t i)
{
    free(f->lines[i]);
    memmove(&f->lines[i], &f->lines[i + 1], (f->line_count - i - 1) * sizeof f->lines[0]);
    f->line_count--;
}

static void insert_line(fixture *f, size_t at, char *line)
{
    assert_true(f->line_count < MAX_LINES);
    memmove(&f->lines[at + 1], &f->lines[at], (f->line_count - at) * sizeof f->lines[0]);
    f->lines[at] = line;
    f->line_count++;
}

/* Rewrites the "end" line to match the record lines, as an attacker would. */
static void fix_end(fixture *f)
{
    size_t records = 0;
    for (size_t i = 0; i < f->line_count; i++)
        records += !strncmp(f->lines[i], "record ", 7);
    char end[64];
    snprintf(end, sizeof end, "end %zu", records);
    free(f->lines[f->line_count - 1]);
    f->lines[f->line_count - 1] = strdup(end);
}

/* The payload of record line i; returns its length and journal seq. */
static size_t line_payload(const fixture *f, size_t i, uint8_t *buf, size_t cap, uint64_t *jseq)
{
    const char *line = f->lines[i];
    assert_int_equal(strncmp(line, "record ", 7), 0);
    char *end;
    *jseq = strtoull(line + 7, &end, 10);
    size_t len = 0;
    assert_int_equal(sodium_base642bin(buf, cap, end + 1, strlen(end + 1), NULL, &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    return len;
}

static char *record_line(uint64_t jseq, const uint8_t *payload, size_t len)
{
    size_t b64_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    assert_non_null(b64);
    sodium_bin2base64(b64, b64_len, payload, len, sodium_base64_VARIANT_ORIGINAL);
    char *line = NULL;
    assert_true(asprintf(&line, "record %" PRIu64 " %s", jseq, b64) > 0);
    free(b64);
    return line;
}

/* Index of the n-th (0-based) record line of a chain, and its decoded record. */
static size_t find_line(const fixture *f, const char *chain_name, size_t n, selgw_record *rec,
                        uint64_t *jseq)
{
    uint8_t buf[4096];
    for (size_t i = 0; i < f->line_count; i++) {
        if (strncmp(f->lines[i], "record ", 7))
            continue;
        size_t len = line_payload(f, i, buf, sizeof buf, jseq);
        selgw_record r;
        assert_int_equal(selgw_record_decode(buf, len, &r), SELGW_OK);
        if (r.chain.len == strlen(chain_name) && !memcmp(r.chain.ptr, chain_name, r.chain.len) &&
            n-- == 0) {
            if (rec)
                *rec = r; /* its strings point into buf: use only numbers and type */
            return i;
        }
    }
    fail_msg("no record %zu of chain %s in the bundle", n, chain_name);
    return 0;
}

/* Verifies the bundle; returns the output (to free) and the result through *err. */
static char *verify(const fixture *f, const char *pubkey, selgw_err *err)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    selgw_verify_options opt = {.pubkey = pubkey};
    *err = selgw_evidence_verify(f->bundle, &opt, out);
    fclose(out);
    return text;
}

static void expect_failure(const fixture *f, const char *pubkey, const char *message)
{
    selgw_err err;
    char *text = verify(f, pubkey, &err);
    if (!strstr(text, message) || !strstr(text, "NOT VERIFIED")) {
        fprintf(stderr, "expected \"%s\" in:\n%s", message, text);
        fail();
    }
    assert_int_not_equal(err, SELGW_OK);
    free(text);
}

static void expect_verified(const fixture *f, const char *pubkey, char **output)
{
    selgw_err err;
    char *text = verify(f, pubkey, &err);
    if (err != SELGW_OK || !strstr(text, "\nVERIFIED with key") || strstr(text, "NOT VERIFIED")) {
        fprintf(stderr, "expected verified, got:\n%s", text);
        fail();
    }
    if (output)
        *output = text;
    else
        free(text);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_export_and_verify(void **state)
{
    fixture *f = *state;
    build_journal(f, true);
    export_ok(f, "hw-a", T1, T2);
    load_lines(f);
    assert_string_equal(f->lines[0], "selgw-evidence 1");
    char key_line[128];
    snprintf(key_line, sizeof key_line, "public-key %s", f->public_key);
    assert_string_equal(f->lines[1], key_line);
    assert_string_equal(f->lines[2], "gateway gw-1");
    assert_string_equal(f->lines[3], "plot hw-a");
    assert_string_equal(f->lines[4], "from 2026-11-29T13:50:00Z");
    assert_string_equal(f->lines[5], "to 2026-11-29T13:55:40Z");
    /* the plot's tags from the start of its chain, the opening seal, 6 readings each of
     * soil-1 and soil-2, the annotation, the clock record, the middle seal and the closing
     * seal; nothing of soil-3, nothing after the closing seal */
    assert_string_equal(f->lines[f->line_count - 1], "end 18");
    assert_int_equal(f->line_count, 6 + 18 + 1);
    selgw_record rec;
    uint64_t jseq;
    assert_int_equal(find_line(f, "plot/hw-a", 0, &rec, &jseq), 6);
    assert_int_equal(rec.type, SELGW_RECORD_TAGS);
    assert_int_equal(find_line(f, "gateway", 0, &rec, &jseq), 7);
    assert_int_equal(rec.type, SELGW_RECORD_SEAL);
    assert_int_equal(rec.time_ns, T0 + 100 * SEC);
    find_line(f, "gateway", 3, &rec, &jseq);
    assert_int_equal(rec.type, SELGW_RECORD_SEAL);
    assert_int_equal(rec.time_ns, T0 + 600 * SEC);
    find_line(f, "device/soil-1", 0, &rec, &jseq);
    assert_int_equal(rec.chain_seq, 2); /* position 1 is before the opening seal */
    find_line(f, "device/soil-2", 5, &rec, &jseq);
    assert_int_equal(rec.chain_seq, 7);

    char *out = NULL;
    expect_verified(f, f->public_key, &out);
    assert_non_null(strstr(out, "plot hw-a"));
    assert_non_null(strstr(out, "base:       hanwang (汉王)"));
    assert_non_null(strstr(out, "place:      紫阳县, 汉王镇; 32.520000, 108.530000 (WGS84)"));
    assert_non_null(strstr(out, "crop:       tea"));
    assert_non_null(strstr(out, "HH-017 (contract ZY-2025-031)"));
    assert_non_null(
        strstr(out, "Device soil-1 (chain device/soil-1): 6 polls in the period, 6 ok"));
    assert_non_null(
        strstr(out, "Device soil-2 (chain device/soil-2): 6 polls in the period, 5 ok, 1 failed"));
    assert_null(strstr(out, "soil-3"));
    assert_non_null(strstr(out, "median interval 60 s"));
    assert_non_null(
        strstr(out, "2026-11-29T13:52:10.000000Z  device soil-2: failed poll: timeout"));
    assert_non_null(strstr(out, "ANNOTATION: lab: no pesticide residue found (ref LAB-2026-118)"));
    assert_non_null(strstr(out, "CLOCK: synchronised (NTP)"));
    assert_non_null(strstr(out, "TAGS: crop tea; households HH-001 (ZY-2025-001, 1970-01-01..)"));
    assert_non_null(strstr(out, "devices soil-1 (test-soil on rs485-1 unit 1), soil-2"));
    assert_non_null(strstr(out, "the key given with --pubkey"));
    if (getenv("SELGW_TEST_SHOW"))
        fputs(out, stderr);
    free(out);
}

/* The same bundle written gzip-compressed: verified alike, with the same hash (of the
 * text) in the summary as the plain file, the one export gave; cut off, it is refused. */
static void test_export_compressed(void **state)
{
    fixture *f = *state;
    build_journal(f, true);
    char why[512] = "";
    uint8_t plain_hash[32], gz_hash[32];
    assert_int_equal(selgw_evidence_export(&f->farm.cfg, "hw-a", T1, T2, f->bundle, false,
                                           plain_hash, why, sizeof why),
                     SELGW_OK);
    char hash_line[128], text[SELGW_BUNDLE_HASH_TEXT_SIZE];
    selgw_bundle_hash_text(plain_hash, text);
    snprintf(hash_line, sizeof hash_line, "\n  bundle:     %s\n", text);
    char *out = NULL;
    expect_verified(f, f->public_key, &out);
    assert_non_null(strstr(out, hash_line));
    free(out);

    fixture *gz = f; /* the same fixture, the bundle path now a .gz */
    char plain_path[sizeof f->bundle];
    snprintf(plain_path, sizeof plain_path, "%s", f->bundle);
    assert_true(strlen(f->bundle) + 3 < sizeof f->bundle);
    strcat(gz->bundle, ".gz");
    assert_int_equal(selgw_evidence_export(&f->farm.cfg, "hw-a", T1, T2, gz->bundle, true, gz_hash,
                                           why, sizeof why),
                     SELGW_OK);
    assert_memory_equal(gz_hash, plain_hash, 32);
    size_t len;
    const unsigned char *bytes = (const unsigned char *)test_read_file(gz->bundle, &len);
    assert_true(bytes[0] == 0x1f && bytes[1] == 0x8b);
    expect_verified(gz, f->public_key, &out);
    assert_non_null(strstr(out, hash_line));
    free(out);

    assert_int_equal(truncate(gz->bundle, (off_t)len - 20), 0);
    selgw_err err;
    out = verify(gz, f->public_key, &err);
    assert_int_equal(err, SELGW_ERR_CORRUPT);
    assert_non_null(strstr(out, "read error: the gzip stream is cut off"));
    assert_null(strstr(out, "  bundle:     ")); /* no hash of a bundle not read whole */
    free(out);
    snprintf(f->bundle, sizeof f->bundle, "%s", plain_path);
}

/* With a report, verify prints the same and adds one section per call with the facts it
 * printed: the figures per device and field, daily statistics, the events with their
 * parts, the clock, the place and the contracts; a bundle that cannot be read gives a
 * section saying why. */
static void test_verify_fills_report(void **state)
{
    fixture *f = *state;
    build_journal(f, true);
    export_ok(f, "hw-a", T1, T2);
    char *plain = NULL;
    expect_verified(f, f->public_key, &plain);
    selgw_report *r = selgw_report_new("zh");
    assert_non_null(r);
    selgw_verify_options opt = {.pubkey = f->public_key, .report = r};
    for (int pass = 0; pass < 2; pass++) { /* a lot's bundle: one section per plot */
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        assert_int_equal(selgw_evidence_verify(f->bundle, &opt, out), SELGW_OK);
        fclose(out);
        assert_string_equal(text, plain);
        free(text);
    }
    free(plain);
    assert_int_equal(selgw_report_section_count(r), 2);
    selgw_report_section *s = selgw_report_section_at(r, 0);
    assert_int_equal(s->verdict, SELGW_REPORT_VERIFIED);
    assert_int_equal(s->key_source, SELGW_REPORT_KEY_GIVEN);
    assert_string_equal(s->plot, "hw-a");
    assert_string_equal(s->gateway, "gw-1");
    assert_null(s->lot); /* a plain bundle: no lot */
    assert_int_equal(s->from_ns, T1);
    /* the offset the tags record: the config's */
    assert_int_equal(s->utc_offset_minutes, f->farm.cfg.utc_offset_minutes);
    assert_true(s->clock_synchronised);
    assert_string_equal(s->county, "紫阳县");
    assert_string_equal(s->base_name, "汉王");
    assert_true(s->contract_count >= 2);
    assert_string_equal(s->contracts[0].household, "HH-001");
    assert_null(s->contracts[0].to);
    assert_int_equal(s->device_count, 2);
    const selgw_report_device *d = &s->devices[1];
    assert_string_equal(d->id, "soil-2");
    assert_int_equal(d->polls, 6);
    assert_int_equal(d->ok, 5);
    assert_int_equal(d->failed, 1);
    assert_true(d->has_interval);
    assert_int_equal(d->median_interval_ns, 60 * SEC);
    assert_true(d->field_count > 0);
    for (size_t k = 0; k < d->field_count; k++) {
        const selgw_report_field *fs = &d->fields[k];
        /* the period is five minutes of one local day: that day holds every value */
        assert_int_equal(fs->day_count, 1);
        assert_int_equal(fs->days[0].day, selgw_local_day(T1, f->farm.cfg.utc_offset_minutes));
        assert_int_equal(fs->days[0].count, fs->count);
        assert_true(fs->days[0].min == fs->min && fs->days[0].max == fs->max);
        assert_true(fabs(fs->days[0].sum / (double)fs->days[0].count - fs->mean) < 1e-9);
    }
    bool annotation = false, failed = false;
    for (size_t i = 0; i < s->event_count; i++) {
        const selgw_report_event *e = &s->events[i];
        if (i)
            assert_true(e->time_ns >= s->events[i - 1].time_ns);
        if (e->kind == SELGW_REPORT_ANNOTATION) {
            annotation = true;
            assert_string_equal(e->text, "lab: no pesticide residue found");
            assert_string_equal(e->detail, "LAB-2026-118");
        }
        if (e->kind == SELGW_REPORT_FAILED_POLLS) {
            failed = true;
            assert_string_equal(e->device, "soil-2");
            assert_string_equal(e->status, "timeout");
            assert_int_equal(e->polls, 1);
        }
    }
    assert_true(annotation && failed);
    char *html = selgw_report_html(r, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "已验证"));
    assert_non_null(strstr(html, "id=\"section-2\""));
    free(html);

    /* a bundle that is not there */
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_int_equal(selgw_evidence_verify("/nonexistent/bundle", &opt, out), SELGW_ERR_IO);
    fclose(out);
    free(text);
    assert_int_equal(selgw_report_section_count(r), 3);
    s = selgw_report_section_at(r, 2);
    assert_int_equal(s->verdict, SELGW_REPORT_NOT_VERIFIED);
    assert_non_null(strstr(s->error, "No such file"));
    selgw_report_free(r);
}

static void test_export_other_plot(void **state)
{
    fixture *f = *state;
    build_journal(f, true);
    export_ok(f, "hw-b", T1, T2);
    load_lines(f);
    /* its tags, the opening seal, 6 readings of soil-3, the clock record, the two seals
     * after it */
    assert_string_equal(f->lines[f->line_count - 1], "end 11");
    char *out = NULL;
    expect_verified(f, f->public_key, &out);
    assert_non_null(strstr(out, "Device soil-3"));
    assert_null(strstr(out, "soil-1"));
    assert_null(strstr(out, "ANNOTATION"));
    free(out);
}

static void test_export_without_opening_seal(void **state)
{
    fixture *f = *state;
    build_journal(f, true);
    /* no seal at or before T0: every chain is exported from its first record */
    export_ok(f, "hw-a", T0, T2);
    load_lines(f);
    selgw_record rec;
    uint64_t jseq;
    find_line(f, "gateway", 0, &rec, &jseq);
    assert_int_equal(rec.type, SELGW_RECORD_START);
    assert_int_equal(rec.chain_seq, 1);
    char *out = NULL;
    expect_verified(f, f->public_key, &out);
    assert_non_null(strstr(out, "TAGS: crop tea"));
    assert_non_null(strstr(out, "START: selgw 0.4 test.yaml (no seal before it)"));
    free(out);
}

static void test_export_needs_closing_seal(void **state)
{
    fixture *f = *state;
    build_journal(f, false);
    char why[512] = "";
    assert_int_equal(selgw_evidence_export(&f->farm.cfg, "hw-a", T1, T2, f->bundle, false, NULL,
                                           why, sizeof why),
                     SELGW_ERR_AGAIN);
    assert_non_null(strstr(why, "no seal covers every poll begun before 2026-11-29T13:55:40Z yet: "
                                "wait for the next seal (signing.seal_interval) or stop the "
                                "gateway cleanly"));
    assert_int_equal(access(f->bundle, F_OK), -1); /* nothing half-written left behind */
}

static void test_export_refusals(void **state)
{
    fixture *f = *state;
    build_journal(f, true);
    char why[512] = "";
    assert_int_equal(selgw_evidence_export(&f->farm.cfg, "hw-zz", T1, T2, f->bundle, false, NULL,
                                           why, sizeof why),
                     SELGW_ERR_NOT_FOUND);
    assert_non_null(strstr(why, "no readings of plot hw-zz"));
    assert_int_equal(selgw_evidence_export(&f->farm.cfg, "hw-a", T2, T1, f->bundle, false, NULL,
                                           why, sizeof why),
                     SELGW_ERR_INVALID);
    f->farm.cfg.signing.enabled = false;
    assert_int_equal(selgw_evidence_export(&f->farm.cfg, "hw-a", T1, T2, f->bundle, false, NULL,
                                           why, sizeof why),
                     SELGW_ERR_INVALID);
    assert_non_null(strstr(why, "signing is off"));
}

static void prepare(fixture *f)
{
    build_journal(f, true);
    export_ok(f, "hw-a", T1, T2);
    load_lines(f);
}

static void test_edited_reading(void **state)
{
    fixture *f = *state;
    prepare(f);
    selgw_record rec;
    uint64_t jseq;
    size_t i = find_line(f, "device/soil-1", 2, &rec, &jseq);
    uint8_t buf[4096];
    size_t len = line_payload(f, i, buf, sizeof buf, &jseq);
    buf[len - 3] ^= 0x01; /* inside the last field's value */
    free(f->lines[i]);
    f->lines[i] = record_line(jseq, buf, len);
    save_lines(f);
    char msg[128];
    snprintf(msg, sizeof msg, "prev hash does not match record %" PRIu64 " (position 4)", jseq);
    expect_failure(f, NULL, msg);
}

/* The plot's tags come before the opening seal, which names their hash. */
static void test_edited_tags(void **state)
{
    fixture *f = *state;
    prepare(f);
    uint64_t jseq;
    size_t i = find_line(f, "plot/hw-a", 0, NULL, &jseq);
    uint8_t buf[4096];
    size_t len = line_payload(f, i, buf, sizeof buf, &jseq);
    char *households = memmem(buf, len, "HH-017", 6);
    assert_non_null(households);
    households[5] = '8';
    free(f->lines[i]);
    f->lines[i] = record_line(jseq, buf, len);
    save_lines(f);
    expect_failure(f, NULL, "it names position 1 of chain plot/hw-a with another hash");
    expect_failure(f, NULL, "(chain plot/hw-a, position 2): prev hash does not match record");
}

/* The last record of a chain before the closing seal: no later link, the seal names it. */
static void test_edited_last_reading(void **state)
{
    fixture *f = *state;
    prepare(f);
    uint64_t jseq;
    size_t i = find_line(f, "device/soil-2", 5, NULL, &jseq);
    uint8_t buf[4096];
    size_t len = line_payload(f, i, buf, sizeof buf, &jseq);
    buf[len - 3] ^= 0x40;
    free(f->lines[i]);
    f->lines[i] = record_line(jseq, buf, len);
    save_lines(f);
    char msg[160];
    snprintf(msg, sizeof msg,
             "chain device/soil-2 ends at position 7 (record %" PRIu64
             "), the closing seal (record",
             jseq);
    expect_failure(f, NULL, msg);
    expect_failure(f, NULL, "names position 7 with another hash: that record was altered");
}

static void test_deleted_reading(void **state)
{
    fixture *f = *state;
    prepare(f);
    remove_line(f, find_line(f, "device/soil-1", 2, NULL, &(uint64_t){0}));
    fix_end(f);
    save_lines(f);
    expect_failure(f, NULL, "(chain device/soil-1, position 5): follows position 3");
    expect_failure(f, NULL, "position 4 missing");
}

static void test_unfixed_end_line(void **state)
{
    fixture *f = *state;
    prepare(f);
    remove_line(f, find_line(f, "device/soil-1", 2, NULL, &(uint64_t){0}));
    save_lines(f);
    expect_failure(f, NULL, "the end line says 18 records, the bundle has 17");
}

static void test_inserted_copy(void **state)
{
    fixture *f = *state;
    prepare(f);
    uint64_t jseq;
    size_t i = find_line(f, "device/soil-1", 2, NULL, &jseq);
    insert_line(f, i + 1, strdup(f->lines[i]));
    fix_end(f);
    save_lines(f);
    expect_failure(f, NULL, "a record was added or the records were reordered");
}

static void test_swapped_records(void **state)
{
    fixture *f = *state;
    prepare(f);
    uint64_t a_seq, b_seq;
    size_t a = find_line(f, "device/soil-1", 1, NULL, &a_seq);
    size_t b = find_line(f, "device/soil-1", 2, NULL, &b_seq);
    char *tmp = f->lines[a];
    f->lines[a] = f->lines[b];
    f->lines[b] = tmp;
    save_lines(f);
    expect_failure(f, NULL, "(chain device/soil-1, position 4): follows position 2");
    expect_failure(f, NULL, "(chain device/soil-1, position 3): comes after position 4");
}

static void test_truncated_tail(void **state)
{
    fixture *f = *state;
    prepare(f);
    /* the last two lines before "end": soil-2's last reading... and the closing seal */
    remove_line(f, f->line_count - 2);
    remove_line(f, f->line_count - 2);
    fix_end(f);
    save_lines(f);
    expect_failure(f, NULL, "the bundle does not end with a seal");
}

static void test_dropped_last_reading(void **state)
{
    fixture *f = *state;
    prepare(f);
    /* soil-2's last reading comes last before the closing seal: no later link breaks */
    remove_line(f, find_line(f, "device/soil-2", 5, NULL, &(uint64_t){0}));
    fix_end(f);
    save_lines(f);
    expect_failure(f, NULL, "chain device/soil-2 ends at position 6 (record");
    expect_failure(f, NULL, "names position 7: records missing or added at the end");
    expect_failure(f, NULL, "the closing seal (record");
}

/* What a forger with a key of their own does: every seal signed anew, and the gateway
 * chain linked anew over the changed seals (their hashes change). */
static void resign_all(fixture *f, const selgw_signer *signer)
{
    uint8_t buf[4096], last[SELGW_RECORD_HASH_BYTES];
    bool have_last = false;
    for (size_t k = 0; k < f->line_count; k++) {
        if (strncmp(f->lines[k], "record ", 7))
            continue;
        uint64_t jseq;
        size_t len = line_payload(f, k, buf, sizeof buf, &jseq);
        selgw_record rec;
        assert_int_equal(selgw_record_decode(buf, len, &rec), SELGW_OK);
        if (rec.chain.len != 7 || memcmp(rec.chain.ptr, "gateway", 7))
            continue;
        if (have_last) {
            /* prev sits right after format, type, chain and position */
            memcpy(buf + 2 + 2 + rec.chain.len + 8, last, sizeof last);
        }
        if (rec.type == SELGW_RECORD_SEAL)
            selgw_sign(signer, buf, rec.signed_len, buf + rec.signed_len);
        selgw_record_hash(buf, len, last);
        have_last = true;
        free(f->lines[k]);
        f->lines[k] = record_line(jseq, buf, len);
    }
}

static void test_seal_signed_with_other_key(void **state)
{
    fixture *f = *state;
    prepare(f);
    uint64_t jseq;
    size_t i = find_line(f, "gateway", 3, NULL, &jseq);
    uint8_t buf[4096];
    size_t len = line_payload(f, i, buf, sizeof buf, &jseq);
    selgw_record rec;
    assert_int_equal(selgw_record_decode(buf, len, &rec), SELGW_OK);
    selgw_signer *other = NULL;
    char why[256];
    assert_int_equal(selgw_signer_load(f->other_key_path, &other, why, sizeof why), SELGW_OK);
    selgw_sign(other, buf, rec.signed_len, buf + rec.signed_len);
    free(f->lines[i]);
    f->lines[i] = record_line(jseq, buf, len);
    save_lines(f);
    expect_failure(f, NULL, "the closing seal's signature does not verify with the bundle's key");

    /* ... and every seal signed with the other key, the gateway chain linked anew over
     * them, and the other key put in the header: a whole forgery, caught by the key the
     * auditor holds */
    resign_all(f, other);
    selgw_signer_free(other);
    free(f->lines[1]);
    assert_true(asprintf(&f->lines[1], "public-key %s", f->other_public_key) > 0);
    save_lines(f);
    expect_failure(f, f->public_key, "bundle key differs from the given key");

    /* Without a key of the auditor's, the forgery is every bit as good as the original:
     * never VERIFIED, never success, and the fingerprint to compare is printed. */
    selgw_err err;
    char *text = verify(f, NULL, &err);
    if (err != SELGW_ERR_AUTH)
        fprintf(stderr, "%s", text);
    assert_int_equal(err, SELGW_ERR_AUTH);
    assert_null(strstr(text, "\nVERIFIED"));
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    char fp[SELGW_KEY_FINGERPRINT_SIZE];
    assert_true(selgw_public_key_parse(f->other_public_key, pk));
    selgw_key_fingerprint(pk, fp);
    char expected[160];
    snprintf(expected, sizeof expected,
             "NOT VERIFIED: the key is not trusted. Every check passed (");
    assert_non_null(strstr(text, expected));
    snprintf(expected, sizeof expected,
             "but the key (fingerprint %s) is only the bundle's own "
             "claim",
             fp);
    assert_non_null(strstr(text, expected));
    free(text);
}

/* A reading made up for the failed poll's minute, chained after the failed poll. */
static void test_backfilled_reading(void **state)
{
    fixture *f = *state;
    prepare(f);
    selgw_record failed;
    uint64_t jseq;
    size_t i = find_line(f, "device/soil-2", 2, &failed, &jseq);
    assert_int_equal(failed.status, SELGW_ERR_TIMEOUT);
    uint8_t buf[4096];
    size_t len = line_payload(f, i, buf, sizeof buf, &jseq);
    chain_state c = {.name = "device/soil-2", .seq = failed.chain_seq};
    selgw_record_hash(buf, len, c.head);
    test_value values[2] = {{21, SELGW_QUALITY_OK}, {15, SELGW_QUALITY_OK}};
    selgw_reading r;
    test_reading(&r, &f->farm.cfg, &f->farm.devices[1], T0 + 335 * SEC, SELGW_OK, 1,
                 f->farm.contract_ptrs, 2, values);
    selgw_chain_link link = next_link(&c);
    size_t n = selgw_record_encode_reading(&r, &link, buf, sizeof buf);
    assert_true(n > 0 && n <= sizeof buf);
    insert_line(f, i + 1, record_line(jseq + 1, buf, n));
    fix_end(f);
    save_lines(f);
    expect_failure(f, NULL, "(chain device/soil-2, position 5): comes after position 5");
}

/* The failed poll removed, and every later record of the chain re-chained around the hole:
 * every link holds, but the seals name the true heads. */
static void test_hidden_failed_poll(void **state)
{
    fixture *f = *state;
    prepare(f);
    uint64_t jseq;
    selgw_record failed;
    size_t i = find_line(f, "device/soil-2", 2, &failed, &jseq);
    assert_int_equal(failed.status, SELGW_ERR_TIMEOUT);
    remove_line(f, i);
    fix_end(f);
    save_lines(f);
    expect_failure(f, NULL, "(chain device/soil-2, position 5): follows position 3");

    /* re-chain positions 5.. as 4.. */
    uint8_t buf[4096];
    uint8_t prev[SELGW_RECORD_HASH_BYTES];
    size_t k = find_line(f, "device/soil-2", 1, NULL, &jseq);
    size_t len = line_payload(f, k, buf, sizeof buf, &jseq);
    selgw_record_hash(buf, len, prev);
    uint64_t pos = 4;
    for (k = k + 1; k < f->line_count; k++) {
        if (strncmp(f->lines[k], "record ", 7))
            continue;
        len = line_payload(f, k, buf, sizeof buf, &jseq);
        selgw_record rec;
        assert_int_equal(selgw_record_decode(buf, len, &rec), SELGW_OK);
        if (rec.type != SELGW_RECORD_READING || rec.device.len != 6 ||
            memcmp(rec.device.ptr, "soil-2", 6))
            continue;
        /* chain name, position and prev sit at the start of a format-2 payload */
        size_t at = 2 + 2 + rec.chain.len;
        for (int b = 0; b < 8; b++)
            buf[at + (size_t)b] = (uint8_t)(pos >> (8 * b));
        memcpy(buf + at + 8, prev, sizeof prev);
        selgw_record check;
        assert_int_equal(selgw_record_decode(buf, len, &check), SELGW_OK);
        assert_int_equal(check.chain_seq, pos);
        assert_memory_equal(check.prev, prev, sizeof prev);
        selgw_record_hash(buf, len, prev);
        pos++;
        free(f->lines[k]);
        f->lines[k] = record_line(jseq, buf, len);
    }
    save_lines(f);
    expect_failure(f, NULL, "it names position 5 of chain device/soil-2");
    expect_failure(f, NULL, "chain device/soil-2 ends at position 6 (record");
}

/* A restart after a crash (START naming the last seal), a GAP, and a clock stepped back
 * between two readings of one device: the chain holds, but time order does not. */
static void test_restart_gap_and_time_backwards(void **state)
{
    fixture *f = *state;
    begin_journal(f);
    add_reading(f, 0, T0 + 10 * SEC, SELGW_OK);
    add_seal(f, T0 + 100 * SEC);
    uint8_t seal_hash[SELGW_RECORD_HASH_BYTES];
    memcpy(seal_hash, chain(f, "gateway")->head, sizeof seal_hash);
    add_reading(f, 0, T0 + 250 * SEC, SELGW_OK);

    selgw_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = SELGW_RECORD_GAP;
    rec.time_ns = T0 + 260 * SEC;
    rec.gateway = s("gw-1");
    rec.text = s("journal full: oldest segment dropped");
    rec.gap_first_seq = 5;
    rec.gap_last_seq = 6;
    chain_state *g = chain(f, "gateway");
    selgw_chain_link link = next_link(g);
    uint8_t buf[2048];
    size_t len = selgw_record_encode_event(&rec, &link, buf, sizeof buf);
    assert_true(len > 0 && len <= sizeof buf);
    append(f, g, buf, len);
    rec.type = SELGW_RECORD_START;
    rec.time_ns = T0 + 270 * SEC;
    rec.text = s("selgw 0.4 test.yaml");
    memcpy(rec.prev_seal, seal_hash, sizeof seal_hash);
    link = next_link(g);
    len = selgw_record_encode_event(&rec, &link, buf, sizeof buf);
    assert_true(len > 0 && len <= sizeof buf);
    append(f, g, buf, len);

    add_reading(f, 0, T0 + 240 * SEC, SELGW_OK); /* the clock went back 10 s + */
    add_reading(f, 0, T0 + 300 * SEC, SELGW_OK);
    add_seal(f, T0 + 600 * SEC);
    end_journal(f);

    export_ok(f, "hw-a", T1, T2);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, seal_hash, 8);
    char start[128];
    snprintf(start, sizeof start, "START: selgw 0.4 test.yaml (continues from seal %s)", hex);
    expect_failure(f, NULL, start);
    expect_failure(f, NULL, "GAP: journal records 5..6: journal full: oldest segment dropped");
    expect_failure(f, NULL,
                   "(chain device/soil-1, position 3): time goes backwards: "
                   "2026-11-29T13:50:40.000000Z is before the previous reading's "
                   "2026-11-29T13:50:50.000000Z");
}

/* ---- omissions, keys, forged output, strict header, times ------------------------------- */

/* Removes every record line of a chain (before journal record `before`, 0: all). */
static size_t remove_chain(fixture *f, const char *chain_name, uint64_t before)
{
    size_t removed = 0;
    uint8_t buf[4096];
    for (size_t i = 0; i < f->line_count;) {
        uint64_t jseq;
        selgw_record r;
        if (!strncmp(f->lines[i], "record ", 7)) {
            size_t len = line_payload(f, i, buf, sizeof buf, &jseq);
            assert_int_equal(selgw_record_decode(buf, len, &r), SELGW_OK);
            if (r.chain.len == strlen(chain_name) &&
                !memcmp(r.chain.ptr, chain_name, r.chain.len) && (!before || jseq < before)) {
                remove_line(f, i);
                removed++;
                continue;
            }
        }
        i++;
    }
    fix_end(f);
    save_lines(f);
    return removed;
}

static void test_omitted_device_chain(void **state)
{
    fixture *f = *state;
    prepare(f);
    assert_int_equal(remove_chain(f, "device/soil-2", 0), 6);
    expect_failure(f, f->public_key,
                   "device soil-2, which the plot's tags name (record 2), is left out: the seals "
                   "show its records 2..7 between them, and the bundle holds none");
}

static void test_omitted_plot_history(void **state)
{
    fixture *f = *state;
    prepare(f);
    uint64_t opening;
    find_line(f, "gateway", 0, NULL, &opening);
    assert_int_equal(remove_chain(f, "plot/hw-a", opening), 1); /* the TAGS */
    expect_failure(f, f->public_key,
                   "the plot's chain must be in the bundle from its first record: positions "
                   "1..1 are missing");
    expect_failure(f, f->public_key, "chain plot/hw-a has no TAGS record");
}

static void test_omitted_plot_chain_and_device(void **state)
{
    fixture *f = *state;
    prepare(f);
    assert_int_equal(remove_chain(f, "plot/hw-a", 0), 2); /* the TAGS and the lab result */
    remove_chain(f, "device/soil-2", 0);
    /* without the plot's chain nothing says which devices the plot had: that alone fails */
    expect_failure(f, f->public_key, "the bundle holds no record of chain plot/hw-a");
}

static void test_no_reading_in_period(void **state)
{
    fixture *f = *state;
    prepare(f);
    /* the header moved to a stretch the seals cover without a reading of the plot */
    free(f->lines[4]);
    f->lines[4] = strdup("from 2026-11-29T13:48:20Z");
    free(f->lines[5]);
    f->lines[5] = strdup("to 2026-11-29T13:49:00Z");
    save_lines(f);
    expect_failure(f, f->public_key,
                   "the bundle holds no reading of plot hw-a from 2026-11-29T13:48:20Z to "
                   "2026-11-29T13:49:00Z");
}

static void write_text_file(const char *path, const char *text)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(text, out);
    fclose(out);
}

static void test_registered_keys(void **state)
{
    fixture *f = *state;
    prepare(f);
    char keys[160], text[512];
    snprintf(keys, sizeof keys, "%s/registered.keys", f->dir);
    snprintf(text, sizeof text,
             "# keys registered with the certifier\n\n%s   Other base\n%s  汉王 gateway 1\n",
             f->other_public_key, f->public_key);
    write_text_file(keys, text);
    selgw_verify_options opt = {.keys_file = keys};
    char *out = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&out, &size);
    assert_int_equal(selgw_evidence_verify(f->bundle, &opt, stream), SELGW_OK);
    fclose(stream);
    assert_non_null(strstr(out, "registered as \"汉王 gateway 1\""));
    assert_non_null(strstr(out, "\nVERIFIED with key "));
    free(out);

    snprintf(text, sizeof text, "%s other\n", f->other_public_key);
    write_text_file(keys, text);
    stream = open_memstream(&out, &size);
    assert_int_equal(selgw_evidence_verify(f->bundle, &opt, stream), SELGW_ERR_CORRUPT);
    fclose(stream);
    assert_non_null(strstr(out, "is not among the registered keys in"));
    free(out);

    write_text_file(keys, "ed25519:1234 short\n");
    stream = open_memstream(&out, &size);
    assert_int_equal(selgw_evidence_verify(f->bundle, &opt, stream), SELGW_ERR_INVALID);
    fclose(stream);
    assert_non_null(strstr(out, "registered.keys:1: not a public key"));
    free(out);

    /* no key at all: every check passes, still NOT VERIFIED */
    selgw_err err;
    out = verify(f, NULL, &err);
    assert_int_equal(err, SELGW_ERR_AUTH);
    assert_null(strstr(out, "\nVERIFIED"));
    assert_non_null(strstr(out, "only the bundle's own claim"));
    free(out);
}

/* A note whose text holds a newline and terminal escapes that would draw a fake verdict:
 * shown escaped, on its own line, whatever the verdict. */
static void test_forged_output(void **state)
{
    fixture *f = *state;
    begin_journal(f);
    add_seal(f, T0 + 100 * SEC);
    add_reading(f, 0, T0 + 210 * SEC, SELGW_OK);
    add_event(f, SELGW_RECORD_ANNOTATION, T0 + 220 * SEC, "hw-a",
              "ok\n\nVERIFIED: 1 records\x1b[2K\x1b[1A\r\xe2\x80\xae", "R\x1b]0;x\x07");
    add_reading(f, 1, T0 + 230 * SEC, SELGW_OK);
    add_seal(f, T0 + 600 * SEC);
    end_journal(f);
    export_ok(f, "hw-a", T1, T2);
    load_lines(f);
    /* the forger changes a reading and signs with a key of their own */
    uint64_t jseq;
    size_t i = find_line(f, "device/soil-1", 0, NULL, &jseq);
    uint8_t buf[4096];
    size_t len = line_payload(f, i, buf, sizeof buf, &jseq);
    buf[len - 2] ^= 0x40;
    free(f->lines[i]);
    f->lines[i] = record_line(jseq, buf, len);
    selgw_signer *other = NULL;
    char why[256];
    assert_int_equal(selgw_signer_load(f->other_key_path, &other, why, sizeof why), SELGW_OK);
    resign_all(f, other);
    selgw_signer_free(other);
    save_lines(f);
    for (int attempt = 0; attempt < 2; attempt++) {
        selgw_err err;
        char *out = verify(f, attempt ? f->public_key : NULL, &err);
        assert_int_not_equal(err, SELGW_OK);
        assert_null(strchr(out, '\x1b'));
        assert_null(strchr(out, '\r'));
        assert_null(strstr(out, "\xe2\x80\xae"));
        assert_null(strstr(out, "\nVERIFIED"));
        assert_non_null(strstr(out, "ANNOTATION: ok\\n\\nVERIFIED: 1 records\\x1b[2K\\x1b[1A\\r"
                                    "\\u202e (ref R\\x1b]0;x\\x07)"));
        const char *last = out + strlen(out) - 1;
        while (last > out && last[-1] != '\n')
            last--;
        assert_int_equal(strncmp(last, "NOT VERIFIED", 12), 0);
        free(out);
    }
}

static void test_strict_header(void **state)
{
    fixture *f = *state;
    prepare(f);
    /* a NUL hides the rest of a line from a C string compare */
    FILE *out = fopen(f->bundle, "w");
    assert_non_null(out);
    for (size_t i = 0; i < f->line_count; i++) {
        if (i == 3)
            fwrite("plot hw-a\0 and more\n", 1, 20, out);
        else
            fprintf(out, "%s\n", f->lines[i]);
    }
    fclose(out);
    expect_failure(f, f->public_key, "line 4: a NUL byte inside the line");

    /* times past what 64 bits of nanoseconds hold (they would wrap into the present) */
    const char *bad_times[] = {"to 2611-01-01T00:00:00Z", "to 2262-04-11T23:47:17Z",
                               "to 2026-02-30T00:00:00Z", "to 2026-11-29T13:55:40.1234567891Z",
                               "to 1969-12-31T23:59:59Z"};
    for (size_t k = 0; k < sizeof bad_times / sizeof *bad_times; k++) {
        free(f->lines[5]);
        f->lines[5] = strdup(bad_times[k]);
        save_lines(f);
        expect_failure(f, f->public_key, "line 6: expected \"to <YYYY-MM-DDTHH:MM:SS");
    }
    free(f->lines[5]);
    f->lines[5] = strdup("to 2026-11-29T13:55:40Z");
    free(f->lines[3]);
    f->lines[3] = strdup("plot hw-a\x1b[2K");
    save_lines(f);
    expect_failure(f, f->public_key, "line 4: expected \"plot <id of letters");
}

/* The gateway's times are checked against its seals; a CLOCK record saying the clock
 * stepped back excuses what follows from the step. */
static void build_times(fixture *f, int case_no, bool with_step)
{
    begin_journal(f);
    add_seal(f, T0 + 100 * SEC);
    add_reading(f, 0, T0 + 210 * SEC, SELGW_OK);
    add_reading(f, 1, T0 + 210 * SEC, SELGW_OK);
    add_seal(f, T0 + 300 * SEC);
    if (with_step)
        add_event(f, SELGW_RECORD_CLOCK, T0 + 240 * SEC, NULL,
                  "stepped back by 60.000 s (to 2026-11-29T13:50:40.000000Z)", NULL);
    switch (case_no) {
    case 0: /* a reading after the seal that covers it */
        add_reading(f, 0, T0 + 320 * SEC, SELGW_OK);
        add_seal(f, T0 + 310 * SEC);
        break;
    case 1: /* seal times going backwards */
        add_reading(f, 0, T0 + 250 * SEC, SELGW_OK);
        add_seal(f, T0 + 260 * SEC);
        break;
    case 2: /* an annotation dated before the seal before it */
        add_event(f, SELGW_RECORD_ANNOTATION, T0 + 250 * SEC, "hw-a", "lab", "L-1");
        add_reading(f, 0, T0 + 320 * SEC, SELGW_OK);
        add_seal(f, T0 + 330 * SEC);
        break;
    default: /* a device's readings going backwards */
        add_reading(f, 0, T0 + 200 * SEC, SELGW_OK);
        add_seal(f, T0 + 330 * SEC);
        break;
    }
    add_seal(f, T0 + 600 * SEC);
    end_journal(f);
    memset(f->chains, 0, sizeof f->chains);
    f->chain_count = 0;
    export_ok(f, "hw-a", T1, T2);
}

static void test_times_against_seals(void **state)
{
    fixture *f = *state;
    static const char *const expected[] = {
        "record 7: its time 2026-11-29T13:52:00.000000Z is after the seal that covers it "
        "(record 8, of 2026-11-29T13:51:50.000000Z)",
        "the seal's time 2026-11-29T13:51:00.000000Z is before the previous seal's "
        "2026-11-29T13:51:40.000000Z",
        "the annotation is dated 2026-11-29T13:50:50.000000Z, before the seal before it",
        "time goes backwards: 2026-11-29T13:50:00.000000Z is before the previous reading's "
        "2026-11-29T13:50:10.000000Z"};
    for (int case_no = 0; case_no < 4; case_no++) {
        build_times(f, case_no, false);
        expect_failure(f, f->public_key, expected[case_no]);
        remove_tree(f->journal_dir);
        build_times(f, case_no, true);
        char *out = NULL;
        expect_verified(f, f->public_key, &out);
        assert_non_null(strstr(out, "CLOCK: stepped back by 60.000 s"));
        free(out);
        remove_tree(f->journal_dir);
    }
}

/* A chain's only record moved past the seal that already named it (journal numbers
 * swapped too: they are not signed): the seal's heads tell. */
static void test_first_record_moved_past_a_seal(void **state)
{
    fixture *f = *state;
    begin_journal(f);
    add_seal(f, T0 + 100 * SEC);
    add_reading(f, 0, T0 + 210 * SEC, SELGW_OK);
    add_reading(f, 1, T0 + 210 * SEC, SELGW_OK);
    add_seal(f, T0 + 300 * SEC);
    add_reading(f, 0, T0 + 330 * SEC, SELGW_OK);
    add_seal(f, T0 + 600 * SEC);
    end_journal(f);
    export_ok(f, "hw-a", T1, T2);
    load_lines(f);
    expect_verified(f, f->public_key, NULL);

    uint64_t moved_seq, seal_seq;
    selgw_record rec;
    size_t moved = find_line(f, "device/soil-2", 0, NULL, &moved_seq);
    size_t seal_at = find_line(f, "gateway", 1, &rec, &seal_seq);
    assert_int_equal(rec.type, SELGW_RECORD_SEAL);
    assert_int_equal(seal_at, moved + 1);
    uint8_t a[4096], b[4096];
    uint64_t ja, jb;
    size_t la = line_payload(f, moved, a, sizeof a, &ja);
    size_t lb = line_payload(f, seal_at, b, sizeof b, &jb);
    free(f->lines[moved]);
    free(f->lines[seal_at]);
    f->lines[moved] = record_line(ja, b, lb);
    f->lines[seal_at] = record_line(jb, a, la);
    save_lines(f);
    char expected[256];
    snprintf(expected, sizeof expected,
             "the seal before it (record %" PRIu64 ") already names position 1 of this chain: "
             "the record was journaled before that seal, not after it (moved)",
             ja);
    expect_failure(f, f->public_key, expected);
}

/* The auditor says what was asked for: a bundle of another plot, or of a shorter period,
 * is NOT VERIFIED whatever else holds. */
static void test_what_was_asked(void **state)
{
    fixture *f = *state;
    prepare(f);
    save_lines(f);
    selgw_verify_options asked = {.pubkey = f->public_key,
                                  .plot = "hw-a",
                                  .has_from = true,
                                  .from_ns = T1,
                                  .has_to = true,
                                  .to_ns = T2};
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_int_equal(selgw_evidence_verify(f->bundle, &asked, out), SELGW_OK);
    fclose(out);
    free(text);
    static const struct {
        const char *plot;
        int64_t from, to;
        const char *message;
    } cases[] = {
        {"hw-b", T1, T2, "the bundle is evidence for plot hw-a, not for plot hw-b as asked"},
        {"hw-a", T1 - SEC, T2,
         "the bundle's period begins at 2026-11-29T13:50:00Z, after 2026-11-29T13:49:59Z, the "
         "start asked for"},
        {"hw-a", T1, T2 + SEC,
         "the bundle's period ends at 2026-11-29T13:55:40Z, before 2026-11-29T13:55:41Z, the "
         "end asked for"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        asked.plot = cases[i].plot;
        asked.from_ns = cases[i].from;
        asked.to_ns = cases[i].to;
        out = open_memstream(&text, &size);
        assert_int_equal(selgw_evidence_verify(f->bundle, &asked, out), SELGW_ERR_CORRUPT);
        fclose(out);
        if (!strstr(text, cases[i].message))
            fail_msg("expected \"%s\" in:\n%s", cases[i].message, text);
        free(text);
    }
}

/* A poll of soil-1 begun before T2 is still on its way at the first seal after T2, which
 * says so (it covers only the polls begun before that poll). The export closes with the
 * next seal, which covers it; a bundle cut at the first seal, which would leave the slow
 * reading out, does not verify. */
static void build_slow_poll(fixture *f, bool honest)
{
    begin_journal(f);
    add_seal(f, T0 + 100 * SEC);
    add_reading(f, 0, T0 + 210 * SEC, SELGW_OK);
    add_reading(f, 1, T0 + 210 * SEC, SELGW_OK);
    /* honest: the seal covers up to the slow poll; otherwise it claims to cover it */
    add_seal_covering(f, T2 + 20 * SEC, honest ? T2 - 30 * SEC : T2 + 20 * SEC);
    add_reading(f, 0, T2 - 30 * SEC, SELGW_OK); /* the slow poll, journaled after the seal */
    add_reading(f, 1, T2 + 30 * SEC, SELGW_OK);
    add_seal(f, T2 + 100 * SEC);
    end_journal(f);
    export_ok(f, "hw-a", T1, T2);
    load_lines(f);
}

static void test_slow_poll_and_closing_seal(void **state)
{
    fixture *f = *state;
    build_slow_poll(f, true);
    /* the slow reading is in, and counted in the period */
    selgw_record rec;
    uint64_t jseq;
    find_line(f, "device/soil-1", 1, &rec, &jseq);
    assert_int_equal(rec.time_ns, T2 - 30 * SEC);
    char *out = NULL;
    expect_verified(f, f->public_key, &out);
    assert_non_null(strstr(out, "Device soil-1 (chain device/soil-1): 2 polls in the period"));
    free(out);

    /* cut at the first seal after T2: every link and head still matches */
    size_t first_after = find_line(f, "gateway", 1, &rec, &jseq);
    assert_int_equal(rec.type, SELGW_RECORD_SEAL);
    while (f->line_count - 1 > first_after + 1)
        remove_line(f, first_after + 1);
    fix_end(f);
    save_lines(f);
    expect_failure(f, f->public_key,
                   "seals do not cover the period: the closing seal covers the polls begun "
                   "before 2026-11-29T13:55:10Z, not all those before its end "
                   "2026-11-29T13:55:40Z");

    /* a seal that claims to cover a poll journaled after it */
    remove_tree(f->journal_dir);
    memset(f->chains, 0, sizeof f->chains);
    f->chain_count = 0;
    build_slow_poll(f, false);
    expect_failure(f, f->public_key,
                   "the poll began at 2026-11-29T13:55:10.000000Z, but the seal before it "
                   "(record 6) says every poll begun before 2026-11-29T13:56:00.000000Z was "
                   "journaled before it");
}

/* A device moved to another plot in the period: its readings there are checked and told
 * apart from those outside the period. */
static void test_moved_device(void **state)
{
    fixture *f = *state;
    begin_journal(f);
    add_tags(f, 1, T0 + 1 * SEC);
    add_reading(f, 0, T0 + 10 * SEC, SELGW_OK); /* before the period */
    add_seal(f, T0 + 100 * SEC);
    add_reading(f, 0, T0 + 210 * SEC, SELGW_OK);
    add_reading(f, 1, T0 + 210 * SEC, SELGW_OK);
    f->farm.devices[0].plot = 1; /* soil-1 moves to hw-b */
    add_tags(f, 0, T0 + 250 * SEC);
    add_tags(f, 1, T0 + 250 * SEC);
    add_reading(f, 0, T0 + 270 * SEC, SELGW_OK);
    add_reading(f, 0, T0 + 330 * SEC, SELGW_OK);
    add_reading(f, 1, T0 + 330 * SEC, SELGW_OK);
    add_seal(f, T0 + 600 * SEC);
    end_journal(f);
    export_ok(f, "hw-a", T1, T2);
    char *out = NULL;
    expect_verified(f, f->public_key, &out);
    assert_non_null(
        strstr(out, "Device soil-1 (chain device/soil-1): 1 polls in the period, 1 ok"));
    assert_non_null(strstr(out, "2 more readings tagged with another plot (the device was moved"));
    assert_null(strstr(out, "outside the period"));
    free(out);
}

static void test_period_not_covered(void **state)
{
    fixture *f = *state;
    prepare(f);
    /* the header claims a longer period than the seals cover */
    free(f->lines[5]);
    f->lines[5] = strdup("to 2026-11-29T14:00:00Z");
    save_lines(f);
    expect_failure(f, NULL,
                   "seals do not cover the period: the closing seal covers the polls "
                   "begun before 2026-11-29T13:56:40Z, not all those before its end "
                   "2026-11-29T14:00:00Z");
}

static void test_not_a_bundle(void **state)
{
    fixture *f = *state;
    FILE *out = fopen(f->bundle, "w");
    assert_non_null(out);
    fputs("selgw-evidence 1\npublic-key ed25519:00\n", out);
    fclose(out);
    expect_failure(f, NULL, "line 2: expected \"public-key");
    out = fopen(f->bundle, "w");
    assert_non_null(out);
    fclose(out);
    expect_failure(f, NULL, "the header is incomplete");
    selgw_err err;
    char *text = verify(f, "ed25519:zz", &err);
    assert_int_equal(err, SELGW_ERR_INVALID);
    free(text);
    unlink(f->bundle);
    expect_failure(f, NULL, "No such file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_export_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_fills_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_other_plot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_without_opening_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_needs_closing_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_last_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unfixed_end_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inserted_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swapped_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_last_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_signed_with_other_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backfilled_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hidden_failed_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_gap_and_time_backwards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_period_not_covered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_poll_and_closing_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_what_was_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_record_moved_past_a_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_bundle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_omitted_device_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_omitted_plot_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_omitted_plot_chain_and_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_reading_in_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strict_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_times_against_seals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_device, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
