/* Fuzz target: a Modbus device's reply (sensors/modbus_reply.h), the bytes that come off the
 * RS-485 line or the TCP socket of a converter, and the decoding of its registers with a
 * profile's fields (sensors/decode.h). A device may answer anything (a cheap probe with a
 * firmware bug, another probe's answer behind a converter, line noise): the reply checks
 * must refuse every reply that is not the answer to the request, and what they accept must
 * decode into values without reading past the registers.
 *
 * Input: a 9-byte request header, then the reply.
 *   0     unit id
 *   1     function: 1 + (byte & 3)
 *   2..3  first address (big-endian)
 *   4..5  quantity minus one (big-endian), taken modulo the protocol's limit (125 registers,
 *         2000 bits); the address is lowered if the range would run past 65535 (the
 *         gateway never sends such a request: selgw_modbus_encode_pdu refuses it)
 *   6..7  transaction id (TCP)
 *   8     a built-in profile (byte % count), and for the high bits a synthetic field
 *         (type, byte order) at the request's address, as a profile from profiles_dir may have
 *   9..   the reply, given to both the TCP and the RTU decoder
 * The TCP reply is also read the way gateway/poll/transport_modbus.c's tcp_read reads it, asking
 * selgw_modbus_tcp_reply_wanted how much more to read into its 260-byte buffer, and
 * tcp_reply_wanted is called on every prefix: it must never ask for more than
 * SELGW_MODBUS_TCP_MAX_ADU, or tcp_read would write past its buffer.
 *
 * Seeds (tests/fuzz/corpus/modbus_reply), written by hand with a few lines of Python
 * (struct.pack for the header, the RTU CRC computed as selgw_modbus_crc16 does, low byte
 * first), each for a request to a shipped profile's registers:
 *   tcp-fc3-cwt.bin      unit 1, fc 3, 5 registers at 0 (cwt-soil-thc-s), TCP reply
 *   rtu-fc3-cwt.bin      the same request, RTU reply
 *   tcp-fc4-k30.bin      unit 104, fc 4, 4 registers at 0 (senseair-k30), TCP reply
 *   rtu-fc4-k30.bin      the same, RTU
 *   tcp-fc1-coils.bin    unit 7, fc 1, 10 coils at 19, TCP reply CD 01 (the spec's example)
 *   rtu-fc2-inputs.bin   unit 7, fc 2, 3 discrete inputs at 0, RTU reply (1 data byte)
 *   tcp-exception.bin    unit 1, fc 3: exception 0x83 code 2, TCP
 *   rtu-exception.bin    unit 2, fc 3: exception 0x83 code 2, RTU
 *   tcp-fc3-u32.bin      unit 1, fc 3, 8 registers at 0, byte 8 = 36: a u32 CDAB field, TCP
 *   bad-mbap-length.bin  a TCP reply whose MBAP length is one too long
 *   bad-byte-count.bin   an RTU reply announcing 12 bytes for 5 registers
 *   bad-crc.bin          an RTU reply with its CRC's bytes swapped
 *   other-unit.bin       a TCP reply from unit 7 to a request to unit 1 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/decode.h"
#include "sensors/modbus_reply.h"
#include "sensors/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER 9
#define MAX_BITS 2000u
#define MAX_REGISTERS 125u

static const selgw_profile_set *profiles(void)
{
    static selgw_profile_set *set;
    if (!set) {
        set = selgw_profile_set_new();
        selgw_diag *diag = selgw_diag_new();
        if (set && selgw_profile_set_load_builtin(set, diag) != SELGW_OK) {
            selgw_profile_set_free(set);
            set = NULL;
        }
        selgw_diag_free(diag);
        if (!set)
            abort(); /* the built-in profiles always load */
    }
    return set;
}

/* Decodes every field of `fields` that lies within the registers or bits of the reply. */
static void decode_fields(const selgw_field *fields, size_t count, const selgw_modbus_request *rq,
                          const uint16_t *regs, const uint8_t *bits)
{
    static const selgw_calibration cal = {1.02, -1.5};
    for (size_t i = 0; i < count; i++) {
        const selgw_field *f = &fields[i];
        if (f->function != rq->function || f->address < rq->address)
            continue;
        size_t at = f->address - rq->address;
        double value;
        if (f->type == SELGW_TYPE_BIT) {
            if (at < rq->count)
                selgw_decode_bit(f, bits[at], &cal, &value);
            continue;
        }
        size_t need = selgw_type_registers(f->type);
        if (at + need > rq->count)
            continue;
        selgw_decode_registers(f, regs + at, rq->count - at, NULL, &value);
        selgw_decode_registers(f, regs + at, rq->count - at, &cal, &value);
    }
}

/* Reads the reply as tcp_read does: into a buffer of SELGW_MODBUS_TCP_MAX_ADU bytes, as much
 * as tcp_reply_wanted asks for, the bytes arriving in pieces of at most `piece`. */
static void read_like_transport(const uint8_t *reply, size_t len, const selgw_modbus_request *rq,
                                size_t piece, uint16_t *regs, uint8_t *bits)
{
    uint8_t buf[SELGW_MODBUS_TCP_MAX_ADU];
    size_t have = 0, wanted, from = 0;
    while ((wanted = selgw_modbus_tcp_reply_wanted(buf, have, rq)) > have) {
        if (wanted > sizeof buf)
            abort(); /* tcp_read would receive past the end of its buffer */
        size_t n = wanted - have;
        if (n > piece)
            n = piece;
        if (n > len - from)
            n = len - from;
        if (n == 0)
            break; /* the device went quiet: a timeout */
        memcpy(buf + have, reply + from, n);
        from += n;
        have += n;
    }
    int exception_code = 0;
    char why[160];
    selgw_modbus_decode_tcp_reply(buf, have, rq, regs, bits, &exception_code, why, sizeof why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    selgw_modbus_request rq;
    rq.unit_id = data[0];
    rq.function = (uint8_t)(1 + (data[1] & 3));
    unsigned limit = rq.function <= 2 ? MAX_BITS : MAX_REGISTERS;
    rq.count = (uint16_t)(1 + ((data[4] << 8 | data[5]) % limit));
    unsigned address = (unsigned)(data[2] << 8 | data[3]);
    if (address + rq.count > 0x10000u)
        address = 0x10000u - rq.count;
    rq.address = (uint16_t)address;
    rq.transaction_id = (uint16_t)(data[6] << 8 | data[7]);
    uint8_t pdu[SELGW_MODBUS_READ_PDU_SIZE];
    if (selgw_modbus_encode_pdu(&rq, pdu) != SELGW_OK)
        abort(); /* a request within the protocol's limits encodes */
    unsigned choice = data[8];
    const uint8_t *reply = data + HEADER;
    size_t len = size - HEADER;

    static uint16_t regs[MAX_REGISTERS];
    static uint8_t bits[MAX_BITS];
    int exception_code = 0;
    char why[160];

    for (size_t have = 0; have <= len && have <= SELGW_MODBUS_TCP_MAX_ADU; have++)
        if (selgw_modbus_tcp_reply_wanted(reply, have, &rq) > SELGW_MODBUS_TCP_MAX_ADU)
            abort(); /* documented: never more than SELGW_MODBUS_TCP_MAX_ADU */
    read_like_transport(reply, len, &rq, 1 + (choice & 7), regs, bits);

    selgw_err tcp = selgw_modbus_decode_tcp_reply(reply, len, &rq, regs, bits, &exception_code, why,
                                                  sizeof why);
    selgw_err rtu = SELGW_ERR_BAD_FRAME;
    if (tcp != SELGW_OK)
        rtu = selgw_modbus_decode_rtu_reply(reply, len, &rq, regs, bits, &exception_code, why,
                                            sizeof why);
    if (tcp != SELGW_OK && rtu != SELGW_OK)
        return 0;

    const selgw_profile_set *set = profiles();
    const selgw_profile *p = selgw_profile_set_at(set, choice % selgw_profile_set_count(set));
    decode_fields(p->fields, p->field_count, &rq, regs, bits);

    /* One field of any type and byte order at the request's address. */
    selgw_field synthetic = {.name = "x",
                             .function = rq.function,
                             .address = rq.address,
                             .type = rq.function <= 2 ? SELGW_TYPE_BIT
                                                      : (selgw_value_type)(1 + (choice >> 4) % 8),
                             .order = (selgw_byte_order)((choice >> 2) & 3),
                             .scale = 0.1,
                             .offset = -40,
                             .unit = "",
                             .has_min = true,
                             .has_max = true,
                             .min = -40,
                             .max = 80};
    decode_fields(&synthetic, 1, &rq, regs, bits);
    return 0;
}
