/* selgw: evidence bundles for one plot, and their offline verification.
 *
 * `selgw export --plot P --from T1 --to T2 -o FILE` writes a self-contained bundle: the
 * records of the chains that tell the plot's story over the period (its devices' chains,
 * the plot's own chain of annotations and tag changes, the gateway chain of start-ups,
 * gaps, clock states and seals), from the last seal before T1 to the first seal after T2,
 * and the public key. `selgw verify FILE [--pubkey KEY]` checks it with no server and no
 * gateway config: every signature, every link, nothing missing, added or reordered, seals
 * covering the period; it prints a summary an auditor can read and names the exact record
 * when something is wrong. Format: docs/EVIDENCE.md. */
#ifndef SELGW_EVIDENCE_H
#define SELGW_EVIDENCE_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "error.h"

/* Writes the bundle. `why` explains a failure (e.g. no seal after T2 yet). */
selgw_err selgw_evidence_export(const selgw_config *cfg, const char *plot_id, int64_t from_ns,
                                int64_t to_ns, const char *out_path, char *why, size_t why_cap);

/* Verifies a bundle; prints the summary (or the failures) to out. pubkey_text may be NULL
 * (then the bundle's own key is used, and the summary says so: the auditor must compare
 * it with the key the enterprise registered). Returns SELGW_OK only if everything holds. */
selgw_err selgw_evidence_verify(const char *path, const char *pubkey_text, FILE *out);

#endif
