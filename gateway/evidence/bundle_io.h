/* selgw: evidence bundle files, gzip-compressed or plain text, and their hash.
 *
 * A bundle is text (docs/EVIDENCE.md, "Bundle format"); on disk it is gzip-compressed by
 * default (`zcat` reads it) or plain with `selgw export --plain`. Both forms are read the
 * same way, through zlib's gzread, which passes plain text through. The bundle's hash is
 * BLAKE2b-256 (libsodium crypto_generichash, 32 bytes, no key) of the uncompressed text,
 * so the .gz file and the plain file of the same text have the same hash: the one `selgw
 * export` and `selgw verify` print, and a QR label carries.
 *
 * The streams are stdio FILEs (fopencookie over a gzFile), so that the exporter writes with
 * fprintf and the verifier reads with fread as they did from a plain file. */
#ifndef SELGW_EVIDENCE_BUNDLE_IO_H
#define SELGW_EVIDENCE_BUNDLE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

#define SELGW_BUNDLE_HASH_BYTES 32
/* "blake2b-256:" and 64 hex digits, with its NUL */
#define SELGW_BUNDLE_HASH_TEXT_SIZE 80

/* A bundle for reading: gzip or plain text alike (zlib's gzread reads both); the BLAKE2b-256
 * of the uncompressed bytes is computed as they are read. NULL when the file cannot be
 * opened (`why` says why, errno too). Close it with fclose. A gzip stream that is corrupt
 * or cut off is a read error (ferror), never a short bundle: selgw_bundle_read_error says
 * which. */
FILE *selgw_bundle_open_read(const char *path, char *why, size_t why_cap);

/* After EOF: the hash of every uncompressed byte read; false if not at EOF or not a bundle
 * stream. */
bool selgw_bundle_read_hash(FILE *f, uint8_t hash[32]);

/* After a read error on a bundle stream: what went wrong, e.g. "the gzip stream is cut off
 * (truncated file)"; NULL when there was none or f is not a bundle stream. Valid until
 * fclose. */
const char *selgw_bundle_read_error(FILE *f);

/* A bundle for writing to a temporary file beside path, gzip-compressed when compress.
 * NULL when the temporary file cannot be made (`why` says why). Finish it with
 * selgw_bundle_close_write, never fclose. */
FILE *selgw_bundle_open_write(const char *path, bool compress, char *why, size_t why_cap);

/* Flushes, fsyncs, renames into place, fsyncs the directory; hash = BLAKE2b-256 of the
 * uncompressed bytes written (hash may be NULL). On failure or when abandon is true the
 * temp file is removed (SELGW_OK when abandoned as asked). Closes f in every case. */
selgw_err selgw_bundle_close_write(FILE *f, bool abandon, uint8_t hash[32], char *why,
                                   size_t why_cap);

/* "blake2b-256:<64 lower-case hex>" */
void selgw_bundle_hash_text(const uint8_t hash[32], char out[80]);

#endif
