/* selgw: archived records read back in seq order. See archive_source.h. Batches of rows in
 * PostgreSQL's binary format (the payload's bytes as they are), one query per batch, keyed
 * on the primary key: no transaction held open across a whole export. */
#include "archive/archive_source.h"

#include <endian.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH_ROWS = 2000 };

struct selgw_archive_source {
    PGconn *conn;
    char *gateway;
};

typedef struct reader {
    selgw_archive_source *src;
    uint64_t after; /* the last seq given */
    PGresult *batch;
    int row, rows;
    bool done;
} reader;

selgw_err selgw_archive_source_new(const char *conninfo, const char *gateway,
                                   selgw_archive_source **out, char *why, size_t why_cap)
{
    *out = NULL;
    selgw_archive_source *s = calloc(1, sizeof *s);
    if (!s || !(s->gateway = strdup(gateway))) {
        free(s);
        snprintf(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    s->conn = PQconnectdb(conninfo);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        snprintf(why, why_cap, "cannot connect to the archive's PostgreSQL: %s",
                 s->conn ? PQerrorMessage(s->conn) : "out of memory");
        why[strcspn(why, "\n")] = '\0';
        selgw_archive_source_free(s);
        return SELGW_ERR_CONNECT;
    }
    PQclear(PQexec(s->conn, "SET default_transaction_read_only = on"));
    *out = s;
    return SELGW_OK;
}

void selgw_archive_source_free(selgw_archive_source *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    free(s->gateway);
    free(s);
}

long long selgw_archive_source_count(selgw_archive_source *s)
{
    const char *params[] = {s->gateway};
    PGresult *r = PQexecParams(s->conn, "SELECT count(*) FROM evidence_records WHERE gateway = $1",
                               1, NULL, params, NULL, NULL, 0);
    long long n = -1;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

selgw_err selgw_archive_reader_open(void *source, uint64_t after_seq, void **out)
{
    reader *r = calloc(1, sizeof *r);
    if (!r)
        return SELGW_ERR_NOMEM;
    r->src = source;
    r->after = after_seq;
    *out = r;
    return SELGW_OK;
}

static selgw_err next_batch(reader *r)
{
    PQclear(r->batch);
    r->batch = NULL;
    r->row = r->rows = 0;
    char after[24], limit[16];
    snprintf(after, sizeof after, "%" PRIu64, r->after);
    snprintf(limit, sizeof limit, "%d", BATCH_ROWS);
    const char *params[] = {r->src->gateway, after, limit};
    r->batch = PQexecParams(r->src->conn,
                            "SELECT seq, payload FROM evidence_records WHERE gateway = $1 AND "
                            "seq > $2 ORDER BY seq LIMIT $3",
                            3, NULL, params, NULL, NULL, 1 /* binary */);
    if (!r->batch || PQresultStatus(r->batch) != PGRES_TUPLES_OK)
        return SELGW_ERR_IO;
    r->rows = PQntuples(r->batch);
    if (r->rows < BATCH_ROWS)
        r->done = true; /* the last batch: no query after it */
    return SELGW_OK;
}

selgw_err selgw_archive_reader_read(void *reader_, uint64_t *seq, const uint8_t **payload,
                                    size_t *len)
{
    reader *r = reader_;
    if (r->row >= r->rows) {
        if (r->batch && r->done)
            return SELGW_ERR_AGAIN;
        selgw_err err = next_batch(r);
        if (err != SELGW_OK)
            return err;
        if (r->rows == 0)
            return SELGW_ERR_AGAIN;
    }
    uint64_t be;
    if (PQgetlength(r->batch, r->row, 0) != 8)
        return SELGW_ERR_CORRUPT;
    memcpy(&be, PQgetvalue(r->batch, r->row, 0), 8);
    *seq = be64toh(be);
    *payload = (const uint8_t *)PQgetvalue(r->batch, r->row, 1);
    *len = (size_t)PQgetlength(r->batch, r->row, 1);
    r->after = *seq;
    r->row++;
    return SELGW_OK;
}

void selgw_archive_reader_close(void *reader_)
{
    reader *r = reader_;
    if (!r)
        return;
    PQclear(r->batch);
    free(r);
}
