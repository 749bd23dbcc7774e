/* selgw: witness statements. See witness.h and docs/EVIDENCE.md, "Witnessed seals". */
#include "evidence/witness.h"

#include <string.h>

typedef struct out {
    uint8_t *buf;
    size_t cap, len;
} out;

static void put(out *o, const void *p, size_t n)
{
    if (o->len + n <= o->cap)
        memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void put_le(out *o, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(o, b, n);
}

static bool gateway_ok(const char *gateway, size_t len)
{
    return len > 0 && len <= SELGW_WITNESS_MAX_GATEWAY && !memchr(gateway, '\0', len);
}

/* The statement's fields, as the message and the wire form both carry them. */
static void put_fields(out *o, const selgw_witness *w, size_t gw_len)
{
    put_le(o, gw_len, 2);
    put(o, w->gateway, gw_len);
    put_le(o, w->seal_seq, 8);
    put(o, w->seal_hash, SELGW_HASH_BYTES);
    put(o, w->key, SELGW_PUBLIC_KEY_BYTES);
    put_le(o, (uint64_t)w->witnessed_ns, 8);
}

size_t selgw_witness_message(const selgw_witness *w, uint8_t *buf, size_t cap)
{
    size_t gw_len = strnlen(w->gateway, sizeof w->gateway);
    if (!gateway_ok(w->gateway, gw_len))
        return 0;
    out o = {buf, buf ? cap : 0, 0};
    put(&o, SELGW_WITNESS_DOMAIN, sizeof SELGW_WITNESS_DOMAIN); /* with its NUL */
    put_fields(&o, w, gw_len);
    return o.len;
}

size_t selgw_witness_encode(const selgw_witness *w, uint8_t *buf, size_t cap)
{
    size_t gw_len = strnlen(w->gateway, sizeof w->gateway);
    if (!gateway_ok(w->gateway, gw_len))
        return 0;
    out o = {buf, buf ? cap : 0, 0};
    uint8_t format = SELGW_WITNESS_FORMAT;
    put(&o, &format, 1);
    put_fields(&o, w, gw_len);
    put(&o, w->signature, SELGW_SIGNATURE_BYTES);
    return o.len;
}

typedef struct in {
    const uint8_t *buf;
    size_t len, pos;
    bool bad;
} in;

static const uint8_t *take(in *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static uint64_t get_le(in *r, size_t n)
{
    const uint8_t *p = take(r, n);
    uint64_t v = 0;
    for (size_t i = 0; p && i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void get(in *r, void *dst, size_t n)
{
    const uint8_t *p = take(r, n);
    if (p)
        memcpy(dst, p, n);
}

selgw_err selgw_witness_decode(const uint8_t *buf, size_t len, selgw_witness *o)
{
    memset(o, 0, sizeof *o);
    if (!buf)
        return SELGW_ERR_CORRUPT;
    in r = {buf, len, 0, false};
    if (get_le(&r, 1) != SELGW_WITNESS_FORMAT)
        r.bad = true;
    size_t gw_len = (size_t)get_le(&r, 2);
    const uint8_t *gw = take(&r, gw_len);
    if (gw && gateway_ok((const char *)gw, gw_len))
        memcpy(o->gateway, gw, gw_len);
    else
        r.bad = true;
    o->seal_seq = get_le(&r, 8);
    get(&r, o->seal_hash, SELGW_HASH_BYTES);
    get(&r, o->key, SELGW_PUBLIC_KEY_BYTES);
    o->witnessed_ns = (int64_t)get_le(&r, 8);
    get(&r, o->signature, SELGW_SIGNATURE_BYTES);
    if (r.bad || r.pos != len) {
        memset(o, 0, sizeof *o);
        return SELGW_ERR_CORRUPT;
    }
    return SELGW_OK;
}

void selgw_witness_sign(selgw_witness *w, const selgw_signer *signer)
{
    uint8_t msg[SELGW_WITNESS_MAX_BYTES + sizeof SELGW_WITNESS_DOMAIN];
    selgw_signer_public_key(signer, w->key);
    size_t n = selgw_witness_message(w, msg, sizeof msg);
    if (n == 0 || n > sizeof msg) {
        memset(w->signature, 0, sizeof w->signature);
        return;
    }
    selgw_sign(signer, msg, n, w->signature);
}

bool selgw_witness_signature_ok(const selgw_witness *w)
{
    uint8_t msg[SELGW_WITNESS_MAX_BYTES + sizeof SELGW_WITNESS_DOMAIN];
    size_t n = selgw_witness_message(w, msg, sizeof msg);
    return n > 0 && n <= sizeof msg && selgw_signature_ok(w->key, msg, n, w->signature);
}

bool selgw_witness_time_plausible(int64_t witnessed_ns)
{
    return witnessed_ns >= SELGW_WITNESS_EARLIEST_NS && witnessed_ns <= SELGW_WITNESS_LATEST_NS;
}
