/* selgw: a gateway's archived records read back in journal order, for `selgw export
 * --archive` (evidence/evidence.h's selgw_record_source: main.c joins the two, since the
 * archive does not include the evidence layer). docs/ARCHIVE.md, "Export from the
 * archive". */
#ifndef SELGW_ARCHIVE_SOURCE_H
#define SELGW_ARCHIVE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct selgw_archive_source selgw_archive_source;

/* Connects to the archive's PostgreSQL (read only) for gateway's records. */
selgw_err selgw_archive_source_new(const char *conninfo, const char *gateway,
                                   selgw_archive_source **out, char *why, size_t why_cap);
void selgw_archive_source_free(selgw_archive_source *s); /* NULL is fine */
/* How many records the archive holds of the gateway (-1 when it cannot say). */
long long selgw_archive_source_count(selgw_archive_source *s);

/* A reader of the records after after_seq, in seq order (source: a selgw_archive_source).
 * read gives SELGW_ERR_AGAIN after the last; its payload is valid until the next read. */
selgw_err selgw_archive_reader_open(void *source, uint64_t after_seq, void **reader);
selgw_err selgw_archive_reader_read(void *reader, uint64_t *seq, const uint8_t **payload,
                                    size_t *len);
void selgw_archive_reader_close(void *reader);

#endif
