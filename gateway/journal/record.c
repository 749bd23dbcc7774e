/* Journal record payloads: encoding, validating decoding, JSON. The byte layout is
 * specified in docs/RECORD.md; keep the two in step. */
#include "journal/record.h"

#include <math.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "base/clock.h"
#include "base/text_writer.h"

/* The bits written for a field that has no value (read_failed): one fixed quiet NaN, so
 * that the same reading always encodes to the same bytes. */
#define NO_VALUE_BITS UINT64_C(0x7ff8000000000000)

/* ---- encoding ---------------------------------------------------------------------- */

/* A writer that counts everything and stores what fits, so that one pass gives both
 * the payload and the length it needs. `bad` is set when something cannot be encoded. */
typedef struct writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int bad;
} writer;

static void put_bytes(writer *w, const void *p, size_t n)
{
    if (w->len < w->cap && n) {
        size_t room = w->cap - w->len;
        memcpy(w->buf + w->len, p, n < room ? n : room);
    }
    w->len += n;
}

static void put_uint(writer *w, uint64_t v, size_t width)
{
    uint8_t le[8];
    for (size_t i = 0; i < width; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    put_bytes(w, le, width);
}

static void put_u8(writer *w, unsigned v)
{
    if (v > UINT8_MAX)
        w->bad = 1;
    put_uint(w, v, 1);
}

static void put_f64(writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_uint(w, bits, 8);
}

/* A string of n bytes: refused when its length does not fit the prefix or it holds a
 * NUL (the decoder refuses those, so writing one would make an unreadable payload). */
static void put_str_n(writer *w, const char *s, size_t n)
{
    if (!s)
        n = 0;
    if (n > UINT16_MAX || (n && memchr(s, '\0', n))) {
        w->bad = 1;
        n = 0;
    }
    put_uint(w, n, 2);
    put_bytes(w, s, n);
}

static void put_str(writer *w, const char *s)
{
    put_str_n(w, s, s ? strlen(s) : 0);
}

static void put_sstr(writer *w, selgw_str s)
{
    put_str_n(w, s.ptr, s.len);
}

static size_t finish(const writer *w)
{
    if (w->bad || w->len > SELGW_RECORD_MAX_PAYLOAD)
        return 0;
    return w->len;
}

static const uint8_t zero_hash[SELGW_RECORD_HASH_BYTES];

/* Format, type, the chain link (NULL: chain "" at position 0, prev zeros), time, gateway. */
static void put_head(writer *w, selgw_record_type type, const selgw_chain_link *link,
                     int64_t time_ns, selgw_str gateway)
{
    put_u8(w, SELGW_RECORD_FORMAT);
    put_u8(w, (unsigned)type);
    put_str(w, link ? link->chain : NULL);
    put_uint(w, link ? link->chain_seq : 0, 8);
    put_bytes(w, link ? link->prev : zero_hash, SELGW_RECORD_HASH_BYTES);
    put_uint(w, (uint64_t)time_ns, 8);
    put_sstr(w, gateway);
}

static selgw_str str_of(const char *s)
{
    return (selgw_str){s, s ? strlen(s) : 0};
}

size_t selgw_record_encode_reading(const selgw_reading *r, const selgw_chain_link *link,
                                   uint8_t *buf, size_t cap)
{
    writer w = {.buf = buf, .cap = buf ? cap : 0};
    if (r->household_count > SELGW_READING_MAX_HOUSEHOLDS ||
        r->field_count > SELGW_READING_MAX_FIELDS || (unsigned)r->status >= SELGW_ERR_COUNT_ ||
        r->unit_id < 0 || r->exception_code < 0)
        return 0;

    put_head(&w, SELGW_RECORD_READING, link, r->time_ns, str_of(r->gateway));
    put_str(&w, r->base);
    put_str(&w, r->plot);
    put_str(&w, r->crop);
    put_str(&w, r->device);
    put_str(&w, r->profile);
    put_str(&w, r->serial);
    put_str(&w, r->bus);
    put_u8(&w, (unsigned)r->unit_id);
    put_u8(&w, (unsigned)r->status);
    put_u8(&w, (unsigned)r->exception_code);
    put_uint(&w, r->attempts, 4);

    put_uint(&w, r->household_count, 2);
    for (size_t i = 0; i < r->household_count; i++) {
        put_str(&w, r->households[i].household);
        put_str(&w, r->households[i].contract);
    }

    put_uint(&w, r->field_count, 2);
    for (size_t i = 0; i < r->field_count; i++) {
        const selgw_reading_field *f = &r->fields[i];
        if ((unsigned)f->quality > SELGW_QUALITY_READ_FAILED)
            return 0;
        put_str(&w, f->name);
        put_str(&w, f->unit);
        put_u8(&w, (unsigned)f->quality);
        if (f->quality == SELGW_QUALITY_READ_FAILED)
            put_uint(&w, NO_VALUE_BITS, 8);
        else
            put_f64(&w, f->value);
    }
    return finish(&w);
}

size_t selgw_record_encode_event(const selgw_record *rec, const selgw_chain_link *link,
                                 uint8_t *buf, size_t cap)
{
    writer w = {.buf = buf, .cap = buf ? cap : 0};
    selgw_record_type type = rec->type;
    switch (type) {
    case SELGW_RECORD_START:
    case SELGW_RECORD_STOP:
    case SELGW_RECORD_GAP:
    case SELGW_RECORD_ANNOTATION:
    case SELGW_RECORD_TAGS:
    case SELGW_RECORD_CLOCK:
    case SELGW_RECORD_LOT:
        break;
    default:
        return 0;
    }
    if (type == SELGW_RECORD_GAP && rec->gap_first_seq > rec->gap_last_seq)
        return 0;
    put_head(&w, type, link, rec->time_ns, rec->gateway);
    if (type == SELGW_RECORD_ANNOTATION || type == SELGW_RECORD_TAGS || type == SELGW_RECORD_LOT)
        put_sstr(&w, rec->plot);
    put_sstr(&w, rec->text);
    if (type == SELGW_RECORD_START)
        put_bytes(&w, rec->prev_seal, SELGW_RECORD_HASH_BYTES);
    if (type == SELGW_RECORD_GAP) {
        put_uint(&w, rec->gap_first_seq, 8);
        put_uint(&w, rec->gap_last_seq, 8);
    }
    if (type == SELGW_RECORD_ANNOTATION || type == SELGW_RECORD_LOT)
        put_sstr(&w, rec->ref);
    return finish(&w);
}

static bool alert_kind_ok(uint64_t state, uint64_t condition)
{
    return state >= SELGW_ALERT_RAISED && state <= SELGW_ALERT_CLEARED &&
           condition >= SELGW_ALERT_BELOW && condition <= SELGW_ALERT_STUCK;
}

size_t selgw_record_encode_alert(const selgw_record *rec, const selgw_chain_link *link,
                                 uint8_t *buf, size_t cap)
{
    writer w = {.buf = buf, .cap = buf ? cap : 0};
    if (rec->type != SELGW_RECORD_ALERT ||
        !alert_kind_ok((uint64_t)rec->alert_state, (uint64_t)rec->alert_condition))
        return 0;
    put_head(&w, SELGW_RECORD_ALERT, link, rec->time_ns, rec->gateway);
    put_sstr(&w, rec->base);
    put_sstr(&w, rec->plot);
    put_sstr(&w, rec->crop);
    put_sstr(&w, rec->rule);
    put_u8(&w, (unsigned)rec->alert_state);
    put_u8(&w, (unsigned)rec->alert_condition);
    put_sstr(&w, rec->device);
    put_sstr(&w, rec->field);
    put_sstr(&w, rec->unit);
    put_f64(&w, rec->alert_value);
    put_f64(&w, rec->alert_threshold);
    put_uint(&w, (uint64_t)rec->alert_since_ns, 8);
    return finish(&w);
}

size_t selgw_record_encode_witness(const selgw_record *rec, const selgw_chain_link *link,
                                   uint8_t *buf, size_t cap)
{
    writer w = {.buf = buf, .cap = buf ? cap : 0};
    if (rec->type != SELGW_RECORD_WITNESS || !rec->witness_signature)
        return 0;
    put_head(&w, SELGW_RECORD_WITNESS, link, rec->time_ns, rec->gateway);
    put_uint(&w, rec->witness_seal_seq, 8);
    put_bytes(&w, rec->witness_seal_hash, SELGW_RECORD_HASH_BYTES);
    put_bytes(&w, rec->witness_key, sizeof rec->witness_key);
    put_uint(&w, (uint64_t)rec->witness_time_ns, 8);
    put_bytes(&w, rec->witness_signature, SELGW_RECORD_SIGNATURE_BYTES);
    return finish(&w);
}

size_t selgw_record_encode_seal(int64_t time_ns, int64_t covers_until_ns, const char *gateway,
                                const selgw_seal_entry *entries, size_t count,
                                const selgw_chain_link *link, uint8_t *buf, size_t cap,
                                size_t *signed_len)
{
    writer w = {.buf = buf, .cap = buf ? cap : 0};
    if (signed_len)
        *signed_len = 0;
    if (count > UINT32_MAX || (count && !entries) || covers_until_ns > time_ns)
        return 0;
    put_head(&w, SELGW_RECORD_SEAL, link, time_ns, str_of(gateway));
    put_uint(&w, (uint64_t)covers_until_ns, 8);
    put_uint(&w, count, 4);
    for (size_t i = 0; i < count && !w.bad && w.len <= SELGW_RECORD_MAX_PAYLOAD; i++) {
        put_str(&w, entries[i].chain);
        put_uint(&w, entries[i].chain_seq, 8);
        put_bytes(&w, entries[i].head, SELGW_RECORD_HASH_BYTES);
    }
    size_t before_signature = w.len;
    /* Room for the signature, zeros until the caller writes it. */
    static const uint8_t no_signature[SELGW_RECORD_SIGNATURE_BYTES];
    put_bytes(&w, no_signature, sizeof no_signature);
    size_t n = finish(&w);
    if (n && signed_len)
        *signed_len = before_signature;
    return n;
}

void selgw_record_hash(const uint8_t *payload, size_t len, uint8_t out[SELGW_RECORD_HASH_BYTES])
{
    /* sodium_init picks the fastest BLAKE2b code; it is idempotent and thread-safe, the
     * flag only spares its lock on every call. */
    static atomic_bool initialised;
    if (!atomic_load_explicit(&initialised, memory_order_acquire) && sodium_init() >= 0)
        atomic_store_explicit(&initialised, true, memory_order_release);
    static const uint8_t nothing[1];
    crypto_generichash(out, SELGW_RECORD_HASH_BYTES, payload ? payload : nothing, payload ? len : 0,
                       NULL, 0);
}

/* ---- decoding ---------------------------------------------------------------------- */

/* A reader that fails (and stays failed) at the first read past the end. */
typedef struct reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    int bad;
} reader;

static const uint8_t *take(reader *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static uint64_t get_uint(reader *r, size_t width)
{
    const uint8_t *p = take(r, width);
    if (!p)
        return 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* the payload's byte order is the host's: one load (decoding is most of verifying) */
    switch (width) {
    case 1:
        return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case 8: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    default:
        break;
    }
#endif
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static double get_f64(reader *r)
{
    uint64_t bits = get_uint(r, 8);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* A string: no NUL inside, because consumers print strings with "%.*s" and build topics
 * and keys from them; our encoder never writes one. */
static selgw_str get_str(reader *r)
{
    size_t n = (size_t)get_uint(r, 2);
    const uint8_t *p = take(r, n);
    if (!p || (n && memchr(p, '\0', n))) {
        r->bad = 1;
        return (selgw_str){"", 0};
    }
    return (selgw_str){(const char *)p, n};
}

static void decode_reading(reader *r, selgw_record *out)
{
    out->base = get_str(r);
    out->plot = get_str(r);
    out->crop = get_str(r);
    out->device = get_str(r);
    out->profile = get_str(r);
    out->serial = get_str(r);
    out->bus = get_str(r);
    out->unit_id = (int)get_uint(r, 1);
    uint64_t status = get_uint(r, 1);
    if (status >= SELGW_ERR_COUNT_)
        r->bad = 1;
    out->status = (selgw_err)status;
    out->exception_code = (int)get_uint(r, 1);
    out->attempts = (unsigned)get_uint(r, 4);

    uint64_t households = get_uint(r, 2);
    if (households > SELGW_READING_MAX_HOUSEHOLDS)
        r->bad = 1;
    for (size_t i = 0; !r->bad && i < households; i++) {
        out->households[i].household = get_str(r);
        out->households[i].contract = get_str(r);
        out->household_count = i + 1;
    }

    uint64_t fields = get_uint(r, 2);
    if (fields > SELGW_READING_MAX_FIELDS)
        r->bad = 1;
    for (size_t i = 0; !r->bad && i < fields; i++) {
        selgw_record_field *f = &out->fields[i];
        f->name = get_str(r);
        f->unit = get_str(r);
        uint64_t quality = get_uint(r, 1);
        if (quality > SELGW_QUALITY_READ_FAILED)
            r->bad = 1;
        f->quality = (selgw_quality)quality;
        f->value = get_f64(r);
        if (f->quality == SELGW_QUALITY_READ_FAILED)
            f->value = NAN;
        out->field_count = i + 1;
    }
}

/* One seal entry: chain, chain_seq, head. */
static void get_seal_entry(reader *r, selgw_str *chain, uint64_t *chain_seq, const uint8_t **head)
{
    *chain = get_str(r);
    *chain_seq = get_uint(r, 8);
    *head = take(r, SELGW_RECORD_HASH_BYTES);
}

static void decode_seal(reader *r, uint64_t format, selgw_record *out)
{
    if (format >= 3) {
        out->seal_has_covers = true;
        out->seal_covers_until_ns = (int64_t)get_uint(r, 8);
        if (out->seal_covers_until_ns > out->time_ns)
            r->bad = 1; /* a seal cannot vouch for polls after its own time */
    }
    uint64_t count = get_uint(r, 4);
    size_t start = r->pos;
    /* Walked once here so that selgw_record_seal_entry can trust every length; a count
     * larger than the bytes can hold fails at the first entry past the end. */
    for (uint64_t i = 0; !r->bad && i < count; i++) {
        selgw_str chain;
        uint64_t chain_seq;
        const uint8_t *head;
        get_seal_entry(r, &chain, &chain_seq, &head);
    }
    if (r->bad)
        return;
    out->seal_count = (size_t)count;
    out->seal_entries = r->buf + start;
    out->seal_entries_len = r->pos - start;
    out->signed_len = r->pos;
    out->signature = take(r, SELGW_RECORD_SIGNATURE_BYTES);
}

static void decode_alert(reader *r, uint64_t format, selgw_record *out)
{
    if (format < 3)
        r->bad = 1; /* alerts came with format 3 */
    out->base = get_str(r);
    out->plot = get_str(r);
    out->crop = get_str(r);
    out->rule = get_str(r);
    uint64_t state = get_uint(r, 1);
    uint64_t condition = get_uint(r, 1);
    if (!alert_kind_ok(state, condition))
        r->bad = 1;
    out->alert_state = (selgw_alert_state)state;
    out->alert_condition = (selgw_alert_condition)condition;
    out->device = get_str(r);
    out->field = get_str(r);
    out->unit = get_str(r);
    out->alert_value = get_f64(r);
    out->alert_threshold = get_f64(r);
    out->alert_since_ns = (int64_t)get_uint(r, 8);
}

static void get_hash(reader *r, uint8_t out[SELGW_RECORD_HASH_BYTES])
{
    const uint8_t *p = take(r, SELGW_RECORD_HASH_BYTES);
    if (p)
        memcpy(out, p, SELGW_RECORD_HASH_BYTES);
}

/* Every member but the household and field arrays, which only their counts make valid:
 * zeroing those 10 KB for every record was a fifth of the time verifying a bundle took. */
static void clear_record(selgw_record *out)
{
    memset(out, 0, offsetof(selgw_record, households));
    out->field_count = 0;
    memset(&out->text, 0, sizeof *out - offsetof(selgw_record, text));
}

bool selgw_record_head(const uint8_t *buf, size_t len, selgw_record_type *type, int64_t *time_ns,
                       selgw_str *chain, selgw_str *plot)
{
    if (!buf || len > SELGW_RECORD_MAX_PAYLOAD)
        return false;
    reader r = {.buf = buf, .len = len};
    uint64_t format = get_uint(&r, 1);
    uint64_t t = get_uint(&r, 1);
    selgw_str c = {"", 0};
    if (format >= 2 && format <= 3) {
        c = get_str(&r);
        take(&r, 8 + SELGW_RECORD_HASH_BYTES); /* chain_seq, prev */
    } else if (format != 1) {
        return false;
    }
    int64_t when = (int64_t)get_uint(&r, 8);
    selgw_str p = {"", 0};
    if (plot) {
        get_str(&r); /* gateway */
        if (t == SELGW_RECORD_READING || t == SELGW_RECORD_ALERT) {
            get_str(&r); /* base */
            p = get_str(&r);
        } else if (t == SELGW_RECORD_ANNOTATION || t == SELGW_RECORD_TAGS ||
                   t == SELGW_RECORD_LOT) {
            p = get_str(&r);
        }
    }
    if (r.bad || t < SELGW_RECORD_READING || t > SELGW_RECORD_WITNESS ||
        ((t == SELGW_RECORD_LOT || t == SELGW_RECORD_WITNESS) && format < 3))
        return false;
    *type = (selgw_record_type)t;
    *time_ns = when;
    if (chain)
        *chain = c;
    if (plot)
        *plot = p;
    return true;
}

selgw_err selgw_record_decode(const uint8_t *buf, size_t len, selgw_record *out)
{
    clear_record(out);
    if (!buf || len > SELGW_RECORD_MAX_PAYLOAD)
        return SELGW_ERR_CORRUPT;
    reader r = {.buf = buf, .len = len};
    uint64_t format = get_uint(&r, 1);
    if (format < 1 || format > 3)
        r.bad = 1;
    uint64_t type = get_uint(&r, 1);
    out->type = (selgw_record_type)type;
    if (format >= 2) {
        out->chain = get_str(&r);
        out->chain_seq = get_uint(&r, 8);
        get_hash(&r, out->prev);
        /* chain "" at position 0 is a record outside any chain (encoded with no link) */
        out->chained = out->chain_seq != 0;
    } else if (type > SELGW_RECORD_GAP) {
        r.bad = 1; /* format 1 had readings, start, stop and gap only */
    }
    out->time_ns = (int64_t)get_uint(&r, 8);
    out->gateway = get_str(&r);
    switch (type) {
    case SELGW_RECORD_READING:
        decode_reading(&r, out);
        break;
    case SELGW_RECORD_START:
        out->text = get_str(&r);
        if (format >= 2)
            get_hash(&r, out->prev_seal);
        break;
    case SELGW_RECORD_STOP:
    case SELGW_RECORD_CLOCK:
        out->text = get_str(&r);
        break;
    case SELGW_RECORD_GAP:
        out->text = get_str(&r);
        out->gap_first_seq = get_uint(&r, 8);
        out->gap_last_seq = get_uint(&r, 8);
        if (out->gap_first_seq > out->gap_last_seq)
            r.bad = 1;
        break;
    case SELGW_RECORD_ANNOTATION:
        out->plot = get_str(&r);
        out->text = get_str(&r);
        out->ref = get_str(&r);
        break;
    case SELGW_RECORD_TAGS:
        out->plot = get_str(&r);
        out->text = get_str(&r);
        break;
    case SELGW_RECORD_LOT:
        if (format < 3)
            r.bad = 1; /* lots came with record format 3 */
        out->plot = get_str(&r);
        out->text = get_str(&r);
        out->ref = get_str(&r);
        break;
    case SELGW_RECORD_SEAL:
        decode_seal(&r, format, out);
        break;
    case SELGW_RECORD_WITNESS:
        if (format < 3)
            r.bad = 1; /* witness statements came with record format 3 */
        out->witness_seal_seq = get_uint(&r, 8);
        get_hash(&r, out->witness_seal_hash);
        get_hash(&r, out->witness_key);
        out->witness_time_ns = (int64_t)get_uint(&r, 8);
        out->witness_signature = take(&r, SELGW_RECORD_SIGNATURE_BYTES);
        break;
    case SELGW_RECORD_ALERT:
        decode_alert(&r, format, out);
        break;
    default:
        r.bad = 1;
    }
    /* Trailing bytes mean the payload is not what its format says it is. */
    if (r.bad || r.pos != len) {
        clear_record(out);
        return SELGW_ERR_CORRUPT;
    }
    return SELGW_OK;
}

void selgw_record_seal_entry(const selgw_record *rec, size_t i, selgw_str *chain,
                             uint64_t *chain_seq, const uint8_t **head)
{
    *chain = (selgw_str){"", 0};
    *chain_seq = 0;
    *head = zero_hash;
    if (rec->type != SELGW_RECORD_SEAL || i >= rec->seal_count || !rec->seal_entries)
        return;
    /* The decoder checked every entry, so this walk stays inside seal_entries. */
    reader r = {.buf = rec->seal_entries, .len = rec->seal_entries_len};
    for (size_t k = 0; k <= i; k++)
        get_seal_entry(&r, chain, chain_seq, head);
    if (r.bad) {
        *chain = (selgw_str){"", 0};
        *chain_seq = 0;
        *head = zero_hash;
    }
}

bool selgw_record_seal_next(const selgw_record *rec, size_t *offset, selgw_str *chain,
                            uint64_t *chain_seq, const uint8_t **head)
{
    if (rec->type != SELGW_RECORD_SEAL || !rec->seal_entries || *offset >= rec->seal_entries_len)
        return false;
    /* The decoder checked every entry, so this walk stays inside seal_entries. */
    reader r = {.buf = rec->seal_entries, .len = rec->seal_entries_len, .pos = *offset};
    get_seal_entry(&r, chain, chain_seq, head);
    if (r.bad)
        return false;
    *offset = r.pos;
    return true;
}

/* ---- JSON -------------------------------------------------------------------------- */

static void put_json_str(char *buf, size_t cap, size_t *len, selgw_str s)
{
    selgw_json_string_n(buf, cap, len, s.ptr, s.ptr ? s.len : 0);
}

static const char *type_name(selgw_record_type type)
{
    switch (type) {
    case SELGW_RECORD_READING:
        return "reading";
    case SELGW_RECORD_START:
        return "start";
    case SELGW_RECORD_STOP:
        return "stop";
    case SELGW_RECORD_GAP:
        return "gap";
    case SELGW_RECORD_SEAL:
        return "seal";
    case SELGW_RECORD_ANNOTATION:
        return "annotation";
    case SELGW_RECORD_TAGS:
        return "tags";
    case SELGW_RECORD_CLOCK:
        return "clock";
    case SELGW_RECORD_ALERT:
        return "alert";
    case SELGW_RECORD_LOT:
        return "lot";
    case SELGW_RECORD_WITNESS:
        return "witness";
    }
    return "unknown";
}

const char *selgw_alert_state_name(selgw_alert_state state)
{
    switch (state) {
    case SELGW_ALERT_RAISED:
        return "raised";
    case SELGW_ALERT_CLEARED:
        return "cleared";
    }
    return "unknown";
}

const char *selgw_alert_condition_name(selgw_alert_condition condition)
{
    switch (condition) {
    case SELGW_ALERT_BELOW:
        return "below";
    case SELGW_ALERT_ABOVE:
        return "above";
    case SELGW_ALERT_STALE:
        return "stale";
    case SELGW_ALERT_STUCK:
        return "stuck";
    }
    return "unknown";
}

/* The JSON below is written with literal pieces, hand-formatted integers and times
 * (text_writer.h, selgw_format_utc), never vsnprintf: formatting every member through
 * vsnprintf was half of all the gateway's instructions while publishing to MQTT
 * (docs/BENCHMARKS.md, issue 13). tests/unit/test_record_json.c checks that the output is
 * byte for byte what the vsnprintf version wrote. */
#define LIT(literal) SELGW_TEXT_LITERAL(buf, cap, len, literal)

/* ,"key": with key a literal */
#define KEY(key) LIT(",\"" key "\":")

/* ,"key":number, or null when it is not finite */
static void put_number_member(char *buf, size_t cap, size_t *len, const char *key, double v)
{
    LIT(",\"");
    selgw_text_str(buf, cap, len, key);
    LIT("\":");
    selgw_json_number(buf, cap, len, v);
}

/* ,"key":"<lowercase hex of n bytes>" */
static void put_hex_member(char *buf, size_t cap, size_t *len, const char *key,
                           const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    LIT(",\"");
    selgw_text_str(buf, cap, len, key);
    LIT("\":\"");
    char hex[2 * SELGW_RECORD_SIGNATURE_BYTES];
    size_t done = 0;
    while (done < n) { /* in pieces of at most sizeof hex characters */
        size_t k = 0;
        for (; done < n && k < sizeof hex; done++) {
            hex[k++] = digits[bytes[done] >> 4];
            hex[k++] = digits[bytes[done] & 0xf];
        }
        selgw_text_bytes(buf, cap, len, hex, k);
    }
    selgw_text_char(buf, cap, len, '"');
}

/* ,"key":"value" */
static void put_next_member(char *buf, size_t cap, size_t *len, const char *key, selgw_str value)
{
    LIT(",\"");
    selgw_text_str(buf, cap, len, key);
    LIT("\":");
    put_json_str(buf, cap, len, value);
}

/* "time" as selgw_format_utc writes it, in quotes */
static void put_utc(char *buf, size_t cap, size_t *len, int64_t utc_ns)
{
    char when[SELGW_UTC_TEXT_SIZE];
    selgw_text_char(buf, cap, len, '"');
    selgw_text_str(buf, cap, len, selgw_format_utc(utc_ns, when));
    selgw_text_char(buf, cap, len, '"');
}

/* The members of an event after "gateway", as its type has them. */
static void put_event_members(const selgw_record *rec, char *buf, size_t cap, size_t *len)
{
    switch (rec->type) {
    case SELGW_RECORD_ANNOTATION:
    case SELGW_RECORD_LOT:
        put_next_member(buf, cap, len, "plot", rec->plot);
        put_next_member(buf, cap, len, "text", rec->text);
        put_next_member(buf, cap, len, "ref", rec->ref);
        break;
    case SELGW_RECORD_TAGS:
        put_next_member(buf, cap, len, "plot", rec->plot);
        put_next_member(buf, cap, len, "text", rec->text);
        break;
    case SELGW_RECORD_ALERT:
        put_next_member(buf, cap, len, "base", rec->base);
        put_next_member(buf, cap, len, "plot", rec->plot);
        put_next_member(buf, cap, len, "crop", rec->crop);
        put_next_member(buf, cap, len, "rule", rec->rule);
        KEY("state");
        selgw_text_char(buf, cap, len, '"');
        selgw_text_str(buf, cap, len, selgw_alert_state_name(rec->alert_state));
        LIT("\",\"condition\":\"");
        selgw_text_str(buf, cap, len, selgw_alert_condition_name(rec->alert_condition));
        selgw_text_char(buf, cap, len, '"');
        put_next_member(buf, cap, len, "device", rec->device);
        put_next_member(buf, cap, len, "field", rec->field);
        put_next_member(buf, cap, len, "unit", rec->unit);
        put_number_member(buf, cap, len, "value", rec->alert_value);
        put_number_member(buf, cap, len, "threshold", rec->alert_threshold);
        KEY("since");
        put_utc(buf, cap, len, rec->alert_since_ns);
        break;
    case SELGW_RECORD_SEAL:
        if (rec->seal_has_covers) {
            KEY("covers_until");
            put_utc(buf, cap, len, rec->seal_covers_until_ns);
        }
        KEY("heads");
        selgw_text_char(buf, cap, len, '[');
        for (size_t i = 0; i < rec->seal_count; i++) {
            selgw_str chain;
            uint64_t chain_seq;
            const uint8_t *head;
            selgw_record_seal_entry(rec, i, &chain, &chain_seq, &head);
            if (i)
                selgw_text_char(buf, cap, len, ',');
            LIT("{\"chain\":");
            put_json_str(buf, cap, len, chain);
            KEY("chain_seq");
            selgw_text_uint(buf, cap, len, chain_seq);
            put_hex_member(buf, cap, len, "head", head, SELGW_RECORD_HASH_BYTES);
            selgw_text_char(buf, cap, len, '}');
        }
        selgw_text_char(buf, cap, len, ']');
        if (rec->signature)
            put_hex_member(buf, cap, len, "signature", rec->signature,
                           SELGW_RECORD_SIGNATURE_BYTES);
        break;
    case SELGW_RECORD_WITNESS:
        KEY("seal_seq");
        selgw_text_uint(buf, cap, len, rec->witness_seal_seq);
        put_hex_member(buf, cap, len, "seal_hash", rec->witness_seal_hash, SELGW_RECORD_HASH_BYTES);
        put_hex_member(buf, cap, len, "witness_key", rec->witness_key, sizeof rec->witness_key);
        KEY("witnessed");
        put_utc(buf, cap, len, rec->witness_time_ns);
        if (rec->witness_signature)
            put_hex_member(buf, cap, len, "signature", rec->witness_signature,
                           SELGW_RECORD_SIGNATURE_BYTES);
        break;
    default: /* start, stop, gap, clock */
        put_next_member(buf, cap, len, "text", rec->text);
        if (rec->type == SELGW_RECORD_GAP) {
            KEY("first");
            selgw_text_uint(buf, cap, len, rec->gap_first_seq);
            KEY("last");
            selgw_text_uint(buf, cap, len, rec->gap_last_seq);
        }
        if (rec->type == SELGW_RECORD_START &&
            (rec->chained || memcmp(rec->prev_seal, zero_hash, SELGW_RECORD_HASH_BYTES)))
            put_hex_member(buf, cap, len, "prev_seal", rec->prev_seal, SELGW_RECORD_HASH_BYTES);
        break;
    }
}

/* A reading's members after "time", in the order docs/RECORD.md lists them. */
static void put_reading_members(const selgw_record *rec, char *buf, size_t cap, size_t *len)
{
    /* "key": of each tag, with its quotes and colon, so that each is one copy */
    const struct {
        const char *key;
        size_t key_len;
        selgw_str value;
    } tags[] = {
#define TAG(key, member) {"\"" key "\":", sizeof(key) + 2, rec->member}
        TAG("gateway", gateway), TAG("base", base),       TAG("plot", plot),     TAG("crop", crop),
        TAG("device", device),   TAG("profile", profile), TAG("serial", serial), TAG("bus", bus),
#undef TAG
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        selgw_text_bytes(buf, cap, len, tags[i].key, tags[i].key_len);
        put_json_str(buf, cap, len, tags[i].value);
        selgw_text_char(buf, cap, len, ',');
    }
    LIT("\"unit_id\":");
    selgw_text_int(buf, cap, len, rec->unit_id);
    LIT(",\"households\":[");
    for (size_t i = 0; i < rec->household_count; i++) {
        if (i)
            selgw_text_char(buf, cap, len, ',');
        LIT("{\"household\":");
        put_json_str(buf, cap, len, rec->households[i].household);
        LIT(",\"contract\":");
        put_json_str(buf, cap, len, rec->households[i].contract);
        selgw_text_char(buf, cap, len, '}');
    }
    LIT("],\"status\":\"");
    selgw_text_str(buf, cap, len, selgw_err_token(rec->status));
    selgw_text_char(buf, cap, len, '"');
    if (rec->status != SELGW_OK) {
        KEY("error");
        selgw_json_string(buf, cap, len, selgw_strerror(rec->status));
    }
    if (rec->status == SELGW_ERR_EXCEPTION) {
        KEY("exception");
        selgw_text_int(buf, cap, len, rec->exception_code);
    }
    KEY("attempts");
    selgw_text_uint(buf, cap, len, rec->attempts);
    LIT(",\"fields\":{");
    for (size_t i = 0; i < rec->field_count; i++) {
        const selgw_record_field *f = &rec->fields[i];
        if (i)
            selgw_text_char(buf, cap, len, ',');
        put_json_str(buf, cap, len, f->name);
        LIT(":{\"value\":");
        if (f->quality == SELGW_QUALITY_READ_FAILED)
            LIT("null");
        else
            selgw_json_number(buf, cap, len, f->value);
        KEY("unit");
        put_json_str(buf, cap, len, f->unit);
        LIT(",\"quality\":\"");
        selgw_text_str(buf, cap, len, selgw_quality_name(f->quality));
        LIT("\"}");
    }
    selgw_text_char(buf, cap, len, '}');
}

static size_t record_json(const selgw_record *rec, char *buf, size_t cap, size_t *len)
{
    selgw_text_char(buf, cap, len, '{');
    if (rec->seq) {
        LIT("\"seq\":");
        selgw_text_uint(buf, cap, len, rec->seq);
        selgw_text_char(buf, cap, len, ',');
    }
    LIT("\"type\":\"");
    selgw_text_str(buf, cap, len, type_name(rec->type));
    LIT("\",\"time\":");
    put_utc(buf, cap, len, rec->time_ns);
    selgw_text_char(buf, cap, len, ',');
    if (rec->type == SELGW_RECORD_READING) {
        put_reading_members(rec, buf, cap, len);
    } else {
        LIT("\"gateway\":");
        put_json_str(buf, cap, len, rec->gateway);
        put_event_members(rec, buf, cap, len);
    }
    /* After the type's members, so that a reading's JSON begins with the reading itself
     * whether or not it is chained. */
    if (rec->chained) {
        put_next_member(buf, cap, len, "chain", rec->chain);
        KEY("chain_seq");
        selgw_text_uint(buf, cap, len, rec->chain_seq);
        put_hex_member(buf, cap, len, "prev", rec->prev, SELGW_RECORD_HASH_BYTES);
    }
    if (rec->has_hash)
        put_hex_member(buf, cap, len, "hash", rec->hash, SELGW_RECORD_HASH_BYTES);
    selgw_text_char(buf, cap, len, '}');
    return *len;
}

#undef KEY
#undef LIT

size_t selgw_record_json(const selgw_record *rec, char *buf, size_t cap)
{
    size_t len = 0;
    if (!buf)
        cap = 0;
    if (cap)
        buf[0] = '\0';
    return record_json(rec, buf, cap, &len);
}
