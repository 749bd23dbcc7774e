/* selgw: evidence bundles for one plot, and their offline verification.
 *
 * `selgw export --plot P --from T1 --to T2 -o FILE` writes a self-contained bundle: the
 * records of the chains that tell the plot's story over the period (its devices' chains,
 * the plot's own chain of tags, lab results and notes from its first record, the gateway
 * chain of start-ups, gaps, clock states and seals), from the last seal before T1 to the
 * first seal after T2, and the public key. `selgw verify FILE --pubkey KEY` checks it with
 * no server and no gateway config: every signature, every link, nothing missing, added or
 * reordered, every device of the plot present, seals covering the period, times in
 * order; it prints a summary an auditor can read and names the exact record when
 * something is wrong. Format: docs/EVIDENCE.md. Code: evidence_export.c, evidence_verify.c. */
#ifndef SELGW_EVIDENCE_H
#define SELGW_EVIDENCE_H

#include <stdint.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "base/error.h"

/* Writes the bundle, gzip-compressed when compress (evidence/bundle_io.h), and gives its
 * hash (BLAKE2b-256 of the uncompressed text) in hash unless NULL. `why` explains a failure
 * (e.g. no seal after T2 yet: SELGW_ERR_AGAIN). */
selgw_err selgw_evidence_export(const selgw_config *cfg, const char *plot_id, int64_t from_ns,
                                int64_t to_ns, const char *out_path, bool compress,
                                uint8_t hash[32], char *why, size_t why_cap);

/* Where an export reads records, in journal order, when it is not the config's journal: the
 * central archive's rows (`selgw export --archive`). open gives a reader of the records
 * after after_seq; read gives the next (SELGW_ERR_AGAIN: no more), its payload valid until
 * the next read; close frees the reader. */
typedef struct selgw_record_source {
    void *ctx;
    selgw_err (*open)(void *ctx, uint64_t after_seq, void **reader);
    selgw_err (*read)(void *reader, uint64_t *seq, const uint8_t **payload, size_t *len);
    void (*close)(void *reader);
} selgw_record_source;

/* The plot bundle selgw_evidence_export writes, from src: the same lines, for gateway_id
 * and its public key pk (the archive does not hold the key). The plot chain must be whole
 * in src (the archive receives every record; there is no plot chain log). */
selgw_err selgw_evidence_export_source(const selgw_record_source *src, const char *gateway_id,
                                       const uint8_t pk[32], const char *plot_id,
                                       int64_t from_ns, int64_t to_ns, const char *out_path,
                                       bool compress, uint8_t hash[32], char *why,
                                       size_t why_cap);

/* `selgw export --lot ID`: the lot bundle (docs/EVIDENCE.md, "Lot bundle format"): the lot's
 * text, then for each of its plots a whole plot bundle of [season_from 00:00, harvest_to +
 * 1 day 00:00) local, closed by a seal after the plot's LOT record. SELGW_ERR_NOT_FOUND when
 * the lot is not journaled (`why` says if it is still queued). Written and hashed as
 * selgw_evidence_export writes and hashes a plot bundle. SELGW_ERR_AGAIN when no seal closes
 * a plot's period yet; *needs_seal_ns (unless NULL; set it to 0 before) is then the instant a
 * seal must cover (the latest of the lot's records). On SELGW_OK, *lot (unless NULL) is the
 * lot as read from its record (selgw_lot_free it), so that the caller (its QR label) need
 * not read the journal for it again. */
struct selgw_lot;
selgw_err selgw_evidence_export_lot(const selgw_config *cfg, const char *lot_id,
                                    const char *out_path, bool compress, uint8_t hash[32],
                                    int64_t *needs_seal_ns, struct selgw_lot **lot, char *why,
                                    size_t why_cap);

/* The LOT records of a lot: from the journal and the plot chain log (each once). */
typedef struct selgw_lot_record {
    char *plot;
    uint64_t jseq;
    int64_t time_ns; /* the record's time: a lot's period ends there at the latest */
    char *text;
} selgw_lot_record;
selgw_err selgw_lot_records(const selgw_config *cfg, const char *lot, selgw_lot_record **out,
                            size_t *count, char *why, size_t why_cap);
void selgw_lot_records_free(selgw_lot_record *records, size_t count);

struct selgw_report;
#define SELGW_VERIFY_MAX_WITNESS_KEYS 8
#define SELGW_VERIFY_WITNESS_TOLERANCE_NS (300 * INT64_C(1000000000))

typedef struct selgw_verify_options {
    const char *pubkey;    /* "ed25519:<hex>": the key the auditor was given, or NULL */
    const char *keys_file; /* a file of registered keys (docs/KEYS.md), or NULL */
    /* What the auditor asked for, when given: the bundle must be for this plot, and its
     * period must include [from_ns, to_ns) (a bundle of another plot, or of a shorter
     * period, proves nothing about what was asked). */
    const char *plot;
    bool has_from, has_to;
    int64_t from_ns, to_ns;
    /* The lot the bundle is for (each section of a lot bundle), or NULL. */
    const char *lot;
    /* The bundle's hash as verify prints it ("blake2b-256:<64 hex>"), or NULL. */
    const char *bundle_hash;
    /* Where the HTML report collects what verify finds (gateway/evidence/report.h), or NULL. */
    struct selgw_report *report;
    /* Witnessed seals (docs/EVIDENCE.md, "Witnessed seals"): the witnesses the auditor
     * trusts, each "ed25519:<hex>" or a file of keys as --keys reads (none: a statement's
     * key is reported, not judged), and how far the gateway's clock may be ahead of a
     * witness's before verify warns (witness_tolerance_set false: 300 s). */
    const char *witness_keys[SELGW_VERIFY_MAX_WITNESS_KEYS];
    size_t witness_key_count;
    bool witness_tolerance_set;
    int64_t witness_tolerance_ns;
} selgw_verify_options;

/* Verifies the bundle in `path` (gzip-compressed or plain, evidence/bundle_io.h) and prints the summary and the verdict to out. Returns
 *   SELGW_OK          VERIFIED: every check holds and the key is one the auditor trusts
 *                     (--pubkey, or in the keys file);
 *   SELGW_ERR_AUTH    every check holds, but no trusted key was given: the key is only the
 *                     bundle's own claim (anyone can sign a forgery with a key of their own);
 *   SELGW_ERR_CORRUPT NOT VERIFIED: the problems are listed;
 *   other             the bundle or a key could not be read (said on out).
 * With opt->report, each call adds one section to the report (evidence/report.h) with the
 * same facts it prints (verdict, problems, summary, events) and the daily statistics of
 * every field; what is printed and returned is the same with or without it. */
selgw_err selgw_evidence_verify(const char *path, const selgw_verify_options *opt, FILE *out);

/* The same from an open stream; `name` is how the bundle is called in messages. The
 * summary names the bundle's hash: opt->bundle_hash when given, else the hash of what was
 * read when `in` is a bundle stream (selgw_bundle_open_read), else none. A lot
 * bundle (first line "selgw-lot 1", docs/EVIDENCE.md) is told by its first line: each
 * section is verified as a plot bundle with opt->lot and opt->plot set to the lot's id and
 * the section's plot, then the lot as a whole; one verdict at the end, the same results. */
selgw_err selgw_evidence_verify_stream(FILE *in, const char *name,
                                       const selgw_verify_options *opt, FILE *out);

#endif
