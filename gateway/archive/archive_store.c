/* selgw: the archive's PostgreSQL store. See archive_store.h and docs/ARCHIVE.md.
 *
 * Two archive processes share one subscription, so a chain's records can arrive in any
 * order and in two transactions at once. Each transaction therefore takes a transaction
 * advisory lock on (gateway, chain) first: a record and its neighbours are checked one
 * after the other, and each sees what the other committed (READ COMMITTED reads the latest
 * commit at each statement). A record whose predecessor has not arrived is `pending`; the
 * predecessor, when it comes, settles it. */
#include "archive/archive_store.h"

#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS evidence_records ("
    " gateway text NOT NULL,"
    " seq bigint NOT NULL CHECK (seq > 0),"
    " payload bytea NOT NULL,"
    " hash bytea NOT NULL,"
    " type smallint NOT NULL,"
    " chain text NOT NULL,"
    " chain_seq bigint NOT NULL,"
    " prev bytea NOT NULL,"
    " time_ns bigint NOT NULL,"
    " received timestamptz NOT NULL DEFAULT now(),"
    " received_by text NOT NULL,"
    " link text NOT NULL CHECK (link IN ('unchained', 'ok', 'pending', 'break')),"
    " link_problem text,"
    " PRIMARY KEY (gateway, seq));"
    "CREATE INDEX IF NOT EXISTS evidence_records_chain"
    " ON evidence_records (gateway, chain, chain_seq);"
    "CREATE TABLE IF NOT EXISTS evidence_rejected ("
    " id bigserial PRIMARY KEY,"
    " topic text NOT NULL,"
    " seq bigint,"
    " payload bytea NOT NULL,"
    " reason text NOT NULL,"
    " received timestamptz NOT NULL DEFAULT now(),"
    " received_by text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS evidence_witness ("
    " gateway text NOT NULL,"
    " seal_seq bigint NOT NULL,"
    " seal_hash bytea NOT NULL,"
    " witness_key bytea NOT NULL,"
    " witnessed_ns bigint NOT NULL,"
    " signature bytea NOT NULL,"
    " seq bigint NOT NULL,"
    " received_by text NOT NULL,"
    " PRIMARY KEY (gateway, seal_hash, witness_key));";

static const char SCHEMA_PRESENT[] = "SELECT to_regclass('evidence_records') IS NOT NULL"
                                     " AND to_regclass('evidence_records_chain') IS NOT NULL"
                                     " AND to_regclass('evidence_rejected') IS NOT NULL"
                                     " AND to_regclass('evidence_witness') IS NOT NULL";

/* Any constant: archives starting together create the tables one after the other
 * (concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog's unique index). */
static const char SCHEMA_LOCK[] = "SELECT pg_advisory_xact_lock(5633475)";

struct selgw_archive_store {
    PGconn *conn;
    const selgw_signer *witness; /* NULL: not a witness */
    char *archive_id;
    char *hex; /* hex of a payload: '\x' + 2 per byte + NUL */
    size_t hex_cap;
};

const char *selgw_archive_link_name(selgw_archive_link link)
{
    switch (link) {
    case SELGW_LINK_UNCHAINED:
        return "unchained";
    case SELGW_LINK_OK:
        return "ok";
    case SELGW_LINK_PENDING:
        return "pending";
    case SELGW_LINK_BREAK:
        return "break";
    }
    return "break";
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

selgw_archive_link selgw_archive_link_check(const selgw_record *rec, bool have_pred,
                                            const uint8_t pred_hash[SELGW_RECORD_HASH_BYTES],
                                            uint64_t pred_seq, uint64_t other_seq, char *problem,
                                            size_t cap)
{
    if (cap > 0)
        problem[0] = '\0';
    if (!rec->chained)
        return SELGW_LINK_UNCHAINED;
    if (other_seq != 0) {
        snprintf(problem, cap, "position %" PRIu64 " of chain %.*s is held by seq %" PRIu64 " too",
                 rec->chain_seq, (int)rec->chain.len, rec->chain.ptr, other_seq);
        return SELGW_LINK_BREAK;
    }
    if (rec->chain_seq == 1) {
        if (all_zero(rec->prev, SELGW_RECORD_HASH_BYTES))
            return SELGW_LINK_OK;
        snprintf(problem, cap, "the first record of its chain names a previous record");
        return SELGW_LINK_BREAK;
    }
    if (!have_pred)
        return SELGW_LINK_PENDING;
    if (memcmp(rec->prev, pred_hash, SELGW_RECORD_HASH_BYTES) == 0)
        return SELGW_LINK_OK;
    snprintf(problem, cap, "prev is not the hash of seq %" PRIu64 " (position %" PRIu64 ")",
             pred_seq, rec->chain_seq - 1);
    return SELGW_LINK_BREAK;
}

static void explain(char *why, size_t cap, const char *what, PGconn *conn)
{
    const char *msg = PQerrorMessage(conn);
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        len--;
    int n = snprintf(why, cap, "%s: ", what);
    size_t at = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    /* one log line: PostgreSQL's message may have several */
    for (size_t i = 0; i < len && at + 1 < cap; i++) {
        char c = msg[i] == '\n' || msg[i] == '\t' ? ' ' : msg[i];
        if (c == ' ' && at > 0 && why[at - 1] == ' ')
            continue;
        why[at++] = c;
    }
    if (cap > 0)
        why[at < cap ? at : cap - 1] = '\0';
}

/* Runs sql with text parameters; true when it gave `want`. The result is returned in *res
 * when res is not NULL (the caller clears it), else cleared. */
static bool run(selgw_archive_store *s, const char *sql, int n, const char *const *params,
                ExecStatusType want, PGresult **res, char *why, size_t cap)
{
    PGresult *r =
        n ? PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0) : PQexec(s->conn, sql);
    bool ok = r && PQresultStatus(r) == want;
    if (!ok)
        explain(why, cap, "PostgreSQL", s->conn);
    if (res && ok)
        *res = r;
    else
        PQclear(r);
    return ok;
}

static void rollback(selgw_archive_store *s)
{
    PQclear(PQexec(s->conn, "ROLLBACK"));
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    *out++ = '\\';
    *out++ = 'x';
    for (size_t i = 0; i < n; i++) {
        *out++ = digits[p[i] >> 4];
        *out++ = digits[p[i] & 15];
    }
    *out = '\0';
}

/* Exactly n bytes as 2n hex digits, as encode(x, 'hex') gives them (whatever the
 * session's bytea_output). */
static bool from_hex(const char *text, uint8_t *out, size_t n)
{
    if (!text || strlen(text) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = text[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] << 4) | v : v);
    }
    return true;
}

static bool hex_room(selgw_archive_store *s, size_t len)
{
    size_t need = 3 + 2 * len;
    if (need <= s->hex_cap)
        return true;
    char *grown = realloc(s->hex, need);
    if (!grown)
        return false;
    s->hex = grown;
    s->hex_cap = need;
    return true;
}

selgw_err selgw_archive_store_open(const char *conninfo, const char *archive_id,
                                   selgw_archive_store **out, char *why, size_t why_cap)
{
    *out = NULL;
    selgw_archive_store *s = calloc(1, sizeof *s);
    if (!s || !(s->archive_id = strdup(archive_id))) {
        free(s);
        snprintf(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    s->conn = PQconnectdb(conninfo);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        if (s->conn)
            explain(why, why_cap, "cannot connect to PostgreSQL", s->conn);
        else
            snprintf(why, why_cap, "cannot connect to PostgreSQL: out of memory");
        selgw_archive_store_free(s);
        return SELGW_ERR_CONNECT;
    }
    /* warnings such as "relation already exists, skipping" are not for the log */
    PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
    /* When the tables are there, no DDL at all: CREATE INDEX IF NOT EXISTS would still wait
     * for a lock on a table that other archives are writing. */
    PGresult *present = NULL;
    bool ok = run(s, SCHEMA_PRESENT, 0, NULL, PGRES_TUPLES_OK, &present, why, why_cap);
    bool have_all = ok && PQntuples(present) == 1 && !strcmp(PQgetvalue(present, 0, 0), "t");
    PQclear(present);
    if (ok && !have_all)
        ok = run(s, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, why, why_cap) &&
             run(s, SCHEMA_LOCK, 0, NULL, PGRES_TUPLES_OK, NULL, why, why_cap) &&
             run(s, SCHEMA, 0, NULL, PGRES_COMMAND_OK, NULL, why, why_cap) &&
             run(s, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, why, why_cap);
    if (!ok) {
        rollback(s);
        selgw_archive_store_free(s);
        return SELGW_ERR_IO;
    }
    *out = s;
    return SELGW_OK;
}

void selgw_archive_store_free(selgw_archive_store *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    free(s->archive_id);
    free(s->hex);
    free(s);
}

static const char SQL_PRED[] =
    "SELECT seq, encode(hash, 'hex') FROM evidence_records WHERE gateway = $1 AND chain = $2"
    " AND chain_seq = $3::bigint - 1 ORDER BY seq LIMIT 1";
static const char SQL_SAME_POSITION[] =
    "SELECT seq FROM evidence_records WHERE gateway = $1 AND chain = $2 AND chain_seq = $3"
    " AND seq <> $4 ORDER BY seq LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO evidence_records (gateway, seq, payload, hash, type, chain, chain_seq, prev,"
    " time_ns, received_by, link, link_problem)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULLIF($12, ''))"
    " ON CONFLICT (gateway, seq) DO NOTHING RETURNING seq";
static const char SQL_SAME_BYTES[] =
    "SELECT hash = $3 FROM evidence_records WHERE gateway = $1 AND seq = $2";
/* The successor waiting for this record: its link settled now. */
static const char SQL_SUCCESSOR[] =
    "UPDATE evidence_records SET"
    " link = CASE WHEN prev = $4 THEN 'ok' ELSE 'break' END,"
    " link_problem = CASE WHEN prev = $4 THEN NULL"
    "  ELSE 'prev is not the hash of seq ' || $5 || ' (position ' || $3 || ')' END"
    " WHERE gateway = $1 AND chain = $2 AND chain_seq = $3::bigint + 1 AND link = 'pending'";
static const char SQL_WITNESS_GET[] =
    "SELECT witnessed_ns, encode(signature, 'hex') FROM evidence_witness"
    " WHERE gateway = $1 AND seal_hash = $2 AND witness_key = $3";
static const char SQL_WITNESS_PUT[] =
    "INSERT INTO evidence_witness (gateway, seal_seq, seal_hash, witness_key, witnessed_ns,"
    " signature, seq, received_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
static const char SQL_REJECT[] =
    "INSERT INTO evidence_rejected (topic, seq, payload, reason, received_by)"
    " VALUES ($1, NULLIF($2, '0')::bigint, $3, $4, $5)";

void selgw_archive_store_set_witness(selgw_archive_store *s, const selgw_signer *signer)
{
    s->witness = signer;
}

/* The witness statement of a seal just stored (or stored before): the one already in
 * evidence_witness for this seal and key, else a new one stamped now, signed and inserted,
 * in the seal's transaction. */
static bool witness_seal(selgw_archive_store *s, const char *gateway, const char *seq_text,
                         const selgw_record *rec, const uint8_t hash[SELGW_RECORD_HASH_BYTES],
                         selgw_witness *w, char *why, size_t why_cap)
{
    memset(w, 0, sizeof *w);
    snprintf(w->gateway, sizeof w->gateway, "%s", gateway);
    w->seal_seq = rec->chain_seq;
    memcpy(w->seal_hash, hash, SELGW_HASH_BYTES);
    selgw_signer_public_key(s->witness, w->key);
    char hash_hex[3 + 2 * SELGW_HASH_BYTES], key_hex[3 + 2 * SELGW_PUBLIC_KEY_BYTES];
    to_hex(w->seal_hash, SELGW_HASH_BYTES, hash_hex);
    to_hex(w->key, SELGW_PUBLIC_KEY_BYTES, key_hex);
    const char *get[] = {gateway, hash_hex, key_hex};
    PGresult *r = NULL;
    if (!run(s, SQL_WITNESS_GET, 3, get, PGRES_TUPLES_OK, &r, why, why_cap))
        return false;
    bool have = PQntuples(r) == 1;
    if (have) { /* a redelivery: the same statement as the first time */
        char *end = NULL;
        const char *when = PQgetvalue(r, 0, 0);
        errno = 0;
        w->witnessed_ns = strtoll(when, &end, 10);
        bool ok = !errno && end != when && !*end &&
                  from_hex(PQgetvalue(r, 0, 1), w->signature, SELGW_SIGNATURE_BYTES);
        PQclear(r);
        if (!ok) /* not signed again: that would only hit the primary key, at every delivery */
            snprintf(why, why_cap,
                     "evidence_witness holds a statement of gateway %s's seal %" PRIu64
                     " that cannot be read (witnessed_ns or signature altered?): fix or delete "
                     "that row",
                     gateway, w->seal_seq);
        return ok;
    }
    PQclear(r);
    w->witnessed_ns = selgw_utc_ns();
    selgw_witness_sign(w, s->witness);
    char seal_seq[24], when[24], sig_hex[3 + 2 * SELGW_SIGNATURE_BYTES];
    snprintf(seal_seq, sizeof seal_seq, "%" PRIu64, w->seal_seq);
    snprintf(when, sizeof when, "%" PRId64, w->witnessed_ns);
    to_hex(w->signature, SELGW_SIGNATURE_BYTES, sig_hex);
    const char *put[] = {gateway, seal_seq, hash_hex, key_hex,
                         when,    sig_hex,  seq_text, s->archive_id};
    return run(s, SQL_WITNESS_PUT, 8, put, PGRES_COMMAND_OK, NULL, why, why_cap);
}

selgw_err selgw_archive_store_record(selgw_archive_store *s, const char *gateway, uint64_t seq,
                                     const uint8_t *payload, size_t len, const selgw_record *rec,
                                     const uint8_t hash[SELGW_RECORD_HASH_BYTES],
                                     selgw_archive_outcome *outcome, selgw_archive_link *link,
                                     selgw_witness *statement, bool *witnessed, char *why,
                                     size_t why_cap)
{
    if (witnessed)
        *witnessed = false;
    if (seq > (uint64_t)INT64_MAX || rec->chain_seq > (uint64_t)INT64_MAX - 1) {
        snprintf(why, why_cap, "seq or chain position beyond PostgreSQL's bigint");
        return SELGW_ERR_RANGE;
    }
    if (!hex_room(s, len)) {
        snprintf(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    char chain[65536 + 1];
    snprintf(chain, sizeof chain, "%.*s", (int)rec->chain.len,
             rec->chain.ptr ? rec->chain.ptr : "");
    char seq_text[24], chain_seq_text[24], type_text[8], time_text[24];
    snprintf(seq_text, sizeof seq_text, "%" PRIu64, seq);
    snprintf(chain_seq_text, sizeof chain_seq_text, "%" PRIu64, rec->chain_seq);
    snprintf(type_text, sizeof type_text, "%d", (int)rec->type);
    snprintf(time_text, sizeof time_text, "%" PRId64, rec->time_ns);
    char hash_hex[3 + 2 * SELGW_RECORD_HASH_BYTES], prev_hex[3 + 2 * SELGW_RECORD_HASH_BYTES];
    to_hex(hash, SELGW_RECORD_HASH_BYTES, hash_hex);
    to_hex(rec->prev, SELGW_RECORD_HASH_BYTES, prev_hex);
    to_hex(payload, len, s->hex);

    /* hashtext() of gateway and chain: the advisory lock of this chain */
    const char *lock_params[] = {gateway, chain};
    if (!run(s, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, why, why_cap))
        return SELGW_ERR_IO;
    bool ok = run(s, "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", 2, lock_params,
                  PGRES_TUPLES_OK, NULL, why, why_cap);

    bool have_pred = false;
    uint8_t pred_hash[SELGW_RECORD_HASH_BYTES] = {0};
    uint64_t pred_seq = 0, other_seq = 0;
    if (ok && rec->chained) {
        const char *params[] = {gateway, chain, chain_seq_text, seq_text};
        PGresult *r = NULL;
        ok = run(s, SQL_PRED, 3, params, PGRES_TUPLES_OK, &r, why, why_cap);
        if (ok && PQntuples(r) == 1) {
            pred_seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
            have_pred = from_hex(PQgetvalue(r, 0, 1), pred_hash, sizeof pred_hash);
        }
        PQclear(r);
        r = NULL;
        ok = ok && run(s, SQL_SAME_POSITION, 4, params, PGRES_TUPLES_OK, &r, why, why_cap);
        if (ok && PQntuples(r) == 1)
            other_seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    char problem[256];
    *link = selgw_archive_link_check(rec, have_pred, pred_hash, pred_seq, other_seq, problem,
                                     sizeof problem);
    bool inserted = false;
    if (ok) {
        const char *params[] = {gateway,
                                seq_text,
                                s->hex,
                                hash_hex,
                                type_text,
                                chain,
                                chain_seq_text,
                                prev_hex,
                                time_text,
                                s->archive_id,
                                selgw_archive_link_name(*link),
                                problem};
        PGresult *r = NULL;
        ok = run(s, SQL_INSERT, 12, params, PGRES_TUPLES_OK, &r, why, why_cap);
        inserted = ok && PQntuples(r) == 1;
        PQclear(r);
    }
    *outcome = SELGW_ARCHIVE_STORED;
    if (ok && !inserted) {
        const char *params[] = {gateway, seq_text, hash_hex};
        PGresult *r = NULL;
        ok = run(s, SQL_SAME_BYTES, 3, params, PGRES_TUPLES_OK, &r, why, why_cap);
        bool same = ok && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        *outcome = same ? SELGW_ARCHIVE_DUPLICATE : SELGW_ARCHIVE_CONFLICT;
        if (ok && !same) {
            char topic[256], reason[128];
            snprintf(topic, sizeof topic, "(gateway %s)", gateway);
            snprintf(reason, sizeof reason,
                     "seq %s of gateway %s is already archived with other bytes", seq_text,
                     gateway);
            const char *rp[] = {topic, seq_text, s->hex, reason, s->archive_id};
            ok = run(s, SQL_REJECT, 5, rp, PGRES_COMMAND_OK, NULL, why, why_cap);
        }
    }
    if (ok && inserted && rec->chained) {
        const char *params[] = {gateway, chain, chain_seq_text, hash_hex, seq_text};
        ok = run(s, SQL_SUCCESSOR, 5, params, PGRES_COMMAND_OK, NULL, why, why_cap);
    }
    /* A seal of a chain, new or redelivered with the same bytes: countersigned. */
    /* Only the gateway chain's seals: a SEAL elsewhere is no seal of the gateway's. */
    bool witness = ok && s->witness && statement && rec->type == SELGW_RECORD_SEAL &&
                   rec->chained && !strcmp(chain, "gateway") && *outcome != SELGW_ARCHIVE_CONFLICT;
    if (witness)
        ok = witness_seal(s, gateway, seq_text, rec, hash, statement, why, why_cap);
    if (ok)
        ok = run(s, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, why, why_cap);
    if (!ok) {
        rollback(s);
        return SELGW_ERR_IO;
    }
    if (witnessed)
        *witnessed = witness;
    return SELGW_OK;
}

selgw_err selgw_archive_store_rejected(selgw_archive_store *s, const char *topic, uint64_t seq,
                                       const uint8_t *payload, size_t len, const char *reason,
                                       char *why, size_t why_cap)
{
    if (!hex_room(s, len)) {
        snprintf(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    to_hex(payload, len, s->hex);
    char seq_text[24];
    snprintf(seq_text, sizeof seq_text, "%" PRIu64, seq > (uint64_t)INT64_MAX ? 0 : seq);
    const char *params[] = {topic, seq_text, s->hex, reason, s->archive_id};
    /* one statement: its own transaction, committed when it returns */
    if (!run(s, SQL_REJECT, 5, params, PGRES_COMMAND_OK, NULL, why, why_cap))
        return SELGW_ERR_IO;
    return SELGW_OK;
}
