#include "chains.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"
#include "keys.h"

#define HASH SELGW_RECORD_HASH_BYTES

typedef struct chain_head {
    char *name;
    uint64_t seq;
    uint8_t head[HASH];
    bool is_tags; /* a plot's latest tags (name = plot id), not a chain */
} chain_head;

struct selgw_chains {
    chain_head *items;
    size_t count, cap;
    uint64_t seal_journal_seq; /* journal sequence of the last seal */
    uint8_t last_seal[HASH];
};

selgw_err selgw_chains_new(selgw_chains **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? SELGW_OK : SELGW_ERR_NOMEM;
}

void selgw_chains_free(selgw_chains *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        free(c->items[i].name);
    free(c->items);
    free(c);
}

/* A few hundred chains at most (devices and plots): a linear search is enough. */
static chain_head *find(const selgw_chains *c, const char *name, size_t len, bool is_tags)
{
    for (size_t i = 0; i < c->count; i++)
        if (c->items[i].is_tags == is_tags && strlen(c->items[i].name) == len &&
            !memcmp(c->items[i].name, name, len))
            return &c->items[i];
    return NULL;
}

static chain_head *find_or_add(selgw_chains *c, const char *name, size_t len, bool is_tags)
{
    chain_head *h = find(c, name, len, is_tags);
    if (h)
        return h;
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        chain_head *grown = realloc(c->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->items = grown;
        c->cap = cap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return NULL;
    h = &c->items[c->count++];
    memset(h, 0, sizeof *h);
    h->name = copy;
    h->is_tags = is_tags;
    return h;
}

selgw_err selgw_chains_next(selgw_chains *c, const char *chain, selgw_chain_link *link)
{
    chain_head *h = find_or_add(c, chain, strlen(chain), false);
    if (!h)
        return SELGW_ERR_NOMEM;
    link->chain = h->name;
    link->chain_seq = h->seq + 1;
    memcpy(link->prev, h->head, HASH);
    return SELGW_OK;
}

selgw_err selgw_chains_apply(selgw_chains *c, const uint8_t *payload, size_t len,
                             uint64_t journal_seq)
{
    selgw_record *rec = malloc(sizeof *rec);
    if (!rec)
        return SELGW_ERR_NOMEM;
    selgw_err err = selgw_record_decode(payload, len, rec);
    if (err == SELGW_OK && rec->chained && rec->chain.len > 0) {
        uint8_t hash[HASH];
        selgw_record_hash(payload, len, hash);
        chain_head *h = find_or_add(c, rec->chain.ptr, rec->chain.len, false);
        if (!h) {
            err = SELGW_ERR_NOMEM;
        } else if (rec->chain_seq > h->seq) {
            h->seq = rec->chain_seq;
            memcpy(h->head, hash, HASH);
        }
        if (err == SELGW_OK && rec->type == SELGW_RECORD_SEAL) {
            memcpy(c->last_seal, hash, HASH);
            c->seal_journal_seq = journal_seq;
        }
        if (err == SELGW_OK && rec->type == SELGW_RECORD_TAGS) {
            chain_head *t = find_or_add(c, rec->plot.ptr, rec->plot.len, true);
            if (!t)
                err = SELGW_ERR_NOMEM;
            else
                selgw_hash((const uint8_t *)rec->text.ptr, rec->text.len, t->head);
        }
    }
    free(rec);
    return err;
}

size_t selgw_chains_heads(const selgw_chains *c, selgw_seal_entry *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (c->items[i].is_tags)
            continue;
        if (n < max) {
            out[n].chain = c->items[i].name;
            out[n].chain_seq = c->items[i].seq;
            memcpy(out[n].head, c->items[i].head, HASH);
        }
        n++;
    }
    return n;
}

selgw_err selgw_chains_encode_seal(selgw_chains *c, const selgw_signer *signer, int64_t time_ns,
                                   const char *gateway, uint8_t *buf, size_t cap, size_t *len)
{
    /* The seal's own place first, so that the gateway chain is among the heads even before
     * its first record. */
    selgw_chain_link link;
    selgw_err err = selgw_chains_next(c, "gateway", &link);
    if (err != SELGW_OK)
        return err;
    size_t n = selgw_chains_heads(c, NULL, 0);
    selgw_seal_entry *heads = calloc(n ? n : 1, sizeof *heads);
    if (!heads)
        return SELGW_ERR_NOMEM;
    selgw_chains_heads(c, heads, n);
    size_t signed_len = 0;
    *len = selgw_record_encode_seal(time_ns, gateway, heads, n, &link, buf, cap, &signed_len);
    free(heads);
    if (*len == 0 || *len > cap)
        return SELGW_ERR_RANGE;
    selgw_sign(signer, buf, signed_len, buf + signed_len);
    return SELGW_OK;
}

void selgw_chains_last_seal(const selgw_chains *c, uint8_t out[SELGW_RECORD_HASH_BYTES])
{
    memcpy(out, c->last_seal, HASH);
}

bool selgw_chains_tags_hash(const selgw_chains *c, const char *plot,
                            uint8_t out[SELGW_RECORD_HASH_BYTES])
{
    const chain_head *t = find(c, plot, strlen(plot), true);
    if (t)
        memcpy(out, t->head, HASH);
    return t != NULL;
}

static bool parse_hex(const char *hex, uint8_t out[HASH])
{
    if (strlen(hex) != 2 * HASH)
        return false;
    for (size_t i = 0; i < HASH; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

/* State file, one item a line:
 *   selgw-chains 1
 *   seal <journal seq of the last seal> <hex hash of it>
 *   chain <name> <position> <hex head>
 *   tags <plot> <hex hash of its latest tags text> */
static selgw_err read_state(selgw_chains *c, const char *path, char *why, size_t why_cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return SELGW_OK;
        snprintf(why, why_cap, "%s: %s", path, strerror(errno));
        return SELGW_ERR_IO;
    }
    char line[512], name[300], hex[80];
    uint64_t seq;
    int lineno = 0;
    selgw_err err = SELGW_OK;
    while (err == SELGW_OK && fgets(line, sizeof line, f)) {
        lineno++;
        uint8_t hash[HASH];
        chain_head *h;
        if (lineno == 1) {
            if (strcmp(line, "selgw-chains 1\n") != 0)
                err = SELGW_ERR_CORRUPT;
        } else if (sscanf(line, "seal %" SCNu64 " %79s", &seq, hex) == 2 && parse_hex(hex, hash)) {
            c->seal_journal_seq = seq;
            memcpy(c->last_seal, hash, HASH);
        } else if (sscanf(line, "chain %299s %" SCNu64 " %79s", name, &seq, hex) == 3 &&
                   parse_hex(hex, hash)) {
            if (!(h = find_or_add(c, name, strlen(name), false)))
                err = SELGW_ERR_NOMEM;
            else {
                h->seq = seq;
                memcpy(h->head, hash, HASH);
            }
        } else if (sscanf(line, "tags %299s %79s", name, hex) == 2 && parse_hex(hex, hash)) {
            if (!(h = find_or_add(c, name, strlen(name), true)))
                err = SELGW_ERR_NOMEM;
            else
                memcpy(h->head, hash, HASH);
        } else {
            err = SELGW_ERR_CORRUPT;
        }
        if (err == SELGW_ERR_CORRUPT)
            snprintf(why, why_cap, "%s:%d: not a chain state line", path, lineno);
    }
    fclose(f);
    return err;
}

selgw_err selgw_chains_load(selgw_chains *c, selgw_journal *journal, const char *state_path,
                            char *why, size_t why_cap)
{
    selgw_err err = read_state(c, state_path, why, why_cap);
    if (err != SELGW_OK)
        return err;
    /* Records after the seal the state was saved at (all of them without a state file). */
    selgw_journal_reader *r = NULL;
    err = selgw_journal_reader_new(journal, c->seal_journal_seq, &r);
    if (err != SELGW_OK) {
        snprintf(why, why_cap, "cannot read the journal: %s", selgw_strerror(err));
        return err;
    }
    uint64_t seq;
    const uint8_t *payload;
    size_t len;
    while ((err = selgw_journal_read(r, &seq, &payload, &len)) == SELGW_OK) {
        err = selgw_chains_apply(c, payload, len, seq);
        if (err == SELGW_ERR_CORRUPT) {
            /* Not a record we can read (should not happen: the journal checked its CRC):
             * it has no place in a chain. Say so and go on. */
            snprintf(why, why_cap, "journal record %" PRIu64 " cannot be decoded", seq);
            err = SELGW_OK;
        }
        if (err != SELGW_OK)
            break;
    }
    selgw_journal_reader_free(r);
    if (err == SELGW_ERR_AGAIN)
        err = SELGW_OK;
    if (err != SELGW_OK && !why[0])
        snprintf(why, why_cap, "reading the journal: %s", selgw_strerror(err));
    return err;
}

selgw_err selgw_chains_save(const selgw_chains *c, const char *state_path)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", state_path) >= (int)sizeof tmp)
        return SELGW_ERR_INVALID;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return errno == ENOSPC ? SELGW_ERR_NO_SPACE : SELGW_ERR_IO;
    char hex[2 * HASH + 1];
    fprintf(f, "selgw-chains 1\n");
    selgw_hash_hex(c->last_seal, hex);
    fprintf(f, "seal %" PRIu64 " %s\n", c->seal_journal_seq, hex);
    for (size_t i = 0; i < c->count; i++) {
        selgw_hash_hex(c->items[i].head, hex);
        if (c->items[i].is_tags)
            fprintf(f, "tags %s %s\n", c->items[i].name, hex);
        else
            fprintf(f, "chain %s %" PRIu64 " %s\n", c->items[i].name, c->items[i].seq, hex);
    }
    bool ok = fflush(f) == 0 && fdatasync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, state_path) != 0) {
        unlink(tmp);
        return SELGW_ERR_IO;
    }
    return selgw_fsync_parent(state_path) == SELGW_OK ? SELGW_OK : SELGW_ERR_IO;
}
