#include "sensors/modbus_reply.h"

#include <stdbool.h>

/* Modbus application protocol 1.1b3, 6.1 to 6.4: the most a read may ask for. */
#define MAX_READ_BITS 2000u
#define MAX_READ_REGISTERS 125u
/* Exception codes the protocol defines (1 illegal function ... 11 gateway target failed
 * to respond); libmodbus knows the same ones. Any other code is not a Modbus answer. */
#define MAX_EXCEPTION_CODE 11u
#define EXCEPTION_FLAG 0x80u

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)(v & 0xFF);
}

static bool reads_bits(const selgw_modbus_request *rq)
{
    return rq->function == 1 || rq->function == 2;
}

unsigned selgw_modbus_reply_byte_count(const selgw_modbus_request *rq)
{
    return reads_bits(rq) ? (rq->count + 7u) / 8u : 2u * rq->count;
}

selgw_err selgw_modbus_encode_pdu(const selgw_modbus_request *rq,
                                  uint8_t pdu[SELGW_MODBUS_READ_PDU_SIZE])
{
    unsigned limit;
    switch (rq->function) {
    case 1:
    case 2:
        limit = MAX_READ_BITS;
        break;
    case 3:
    case 4:
        limit = MAX_READ_REGISTERS;
        break;
    default:
        return SELGW_ERR_INVALID;
    }
    if (rq->count == 0 || rq->count > limit || (uint32_t)rq->address + rq->count > 0x10000u)
        return SELGW_ERR_INVALID;
    pdu[0] = rq->function;
    put16(pdu + 1, rq->address);
    put16(pdu + 3, rq->count);
    return SELGW_OK;
}

selgw_err selgw_modbus_encode_tcp_request(const selgw_modbus_request *rq,
                                          uint8_t adu[SELGW_MODBUS_TCP_REQUEST_SIZE])
{
    put16(adu, rq->transaction_id);
    put16(adu + 2, 0); /* protocol id: Modbus */
    put16(adu + 4, 1 + SELGW_MODBUS_READ_PDU_SIZE);
    adu[6] = rq->unit_id;
    return selgw_modbus_encode_pdu(rq, adu + SELGW_MODBUS_MBAP_SIZE);
}

static selgw_err wrong_unit(unsigned unit_id, const selgw_modbus_request *rq, char *why,
                            size_t why_cap)
{
    selgw_explain(why, why_cap, "reply is for unit %u, the request was to unit %u", unit_id,
                  (unsigned)rq->unit_id);
    return SELGW_ERR_BAD_FRAME;
}

selgw_err selgw_modbus_check_pdu_start(const uint8_t *pdu, size_t len,
                                       const selgw_modbus_request *rq, char *why, size_t why_cap)
{
    if (len < 1)
        return SELGW_OK;
    unsigned function = pdu[0];
    if (function == (rq->function | EXCEPTION_FLAG))
        return SELGW_OK; /* an exception reply has no byte count; judged whole */
    if (function != rq->function) {
        selgw_explain(why, why_cap, "function 0x%02x in reply to 0x%02x", function,
                      (unsigned)rq->function);
        return SELGW_ERR_BAD_FRAME;
    }
    if (len < 2)
        return SELGW_OK;
    unsigned expected = selgw_modbus_reply_byte_count(rq);
    if (pdu[1] != expected) {
        const char *what = reads_bits(rq) ? "bit" : "register";
        selgw_explain(why, why_cap, "byte count %u, expected %u for %u %s%s", (unsigned)pdu[1],
                      expected, (unsigned)rq->count, what, rq->count == 1 ? "" : "s");
        return SELGW_ERR_BAD_FRAME;
    }
    return SELGW_OK;
}

static selgw_err decode_exception(const uint8_t *pdu, size_t len, int *exception_code, char *why,
                                  size_t why_cap)
{
    if (len < 2) {
        selgw_explain(why, why_cap, "exception reply 0x%02x without its exception code",
                      (unsigned)pdu[0]);
        return SELGW_ERR_BAD_FRAME;
    }
    if (len > 2) {
        selgw_explain(why, why_cap, "exception reply of %zu bytes, expected 2", len);
        return SELGW_ERR_BAD_FRAME;
    }
    unsigned code = pdu[1];
    if (code < 1 || code > MAX_EXCEPTION_CODE) {
        selgw_explain(why, why_cap, "unknown exception code %u", code);
        return SELGW_ERR_BAD_FRAME;
    }
    *exception_code = (int)code;
    return SELGW_ERR_EXCEPTION;
}

selgw_err selgw_modbus_decode_pdu(const uint8_t *pdu, size_t len, const selgw_modbus_request *rq,
                                  uint16_t *regs, uint8_t *bits, int *exception_code, char *why,
                                  size_t why_cap)
{
    if (len < 1) {
        selgw_explain(why, why_cap, "reply has no function code");
        return SELGW_ERR_BAD_FRAME;
    }
    selgw_err err = selgw_modbus_check_pdu_start(pdu, len, rq, why, why_cap);
    if (err != SELGW_OK)
        return err;
    if (pdu[0] & EXCEPTION_FLAG)
        return decode_exception(pdu, len, exception_code, why, why_cap);
    if (len < 2) {
        selgw_explain(why, why_cap, "reply ends after the function code, without a byte count");
        return SELGW_ERR_BAD_FRAME;
    }
    size_t data_len = len - 2;
    if (data_len != pdu[1]) {
        selgw_explain(why, why_cap, "byte count %u, but %zu data bytes follow", (unsigned)pdu[1],
                      data_len);
        return SELGW_ERR_BAD_FRAME;
    }
    const uint8_t *data = pdu + 2;
    if (reads_bits(rq))
        for (unsigned i = 0; i < rq->count; i++)
            bits[i] = (uint8_t)((data[i / 8] >> (i % 8)) & 1);
    else
        for (unsigned i = 0; i < rq->count; i++)
            regs[i] = get16(data + 2 * i);
    return SELGW_OK;
}

/* The MBAP header's fields, all but the length's agreement with what follows. */
static selgw_err check_mbap(const uint8_t *adu, const selgw_modbus_request *rq, char *why,
                            size_t why_cap)
{
    unsigned transaction_id = get16(adu);
    if (transaction_id != rq->transaction_id) {
        selgw_explain(why, why_cap, "transaction id %u, expected %u", transaction_id,
                      (unsigned)rq->transaction_id);
        return SELGW_ERR_BAD_FRAME;
    }
    unsigned protocol_id = get16(adu + 2);
    if (protocol_id != 0) {
        selgw_explain(why, why_cap, "protocol id %u, expected 0", protocol_id);
        return SELGW_ERR_BAD_FRAME;
    }
    if (adu[6] != rq->unit_id)
        return wrong_unit(adu[6], rq, why, why_cap);
    unsigned length = get16(adu + 4);
    if (length < 2) {
        selgw_explain(why, why_cap, "MBAP length %u leaves no room for a function code", length);
        return SELGW_ERR_BAD_FRAME;
    }
    if (length > SELGW_MODBUS_MBAP_MAX_LENGTH) {
        selgw_explain(why, why_cap, "MBAP length %u is longer than any Modbus reply (at most %u)",
                      length, (unsigned)SELGW_MODBUS_MBAP_MAX_LENGTH);
        return SELGW_ERR_BAD_FRAME;
    }
    return SELGW_OK;
}

/* The length of the whole TCP reply as its PDU tells it (MBAP header, function code, byte
 * count and data, or exception code); 0 while the function code or byte count is still to
 * come. */
static size_t pdu_says_total(const uint8_t *adu, size_t have)
{
    if (have < SELGW_MODBUS_MBAP_SIZE + 1)
        return 0;
    if (adu[SELGW_MODBUS_MBAP_SIZE] & EXCEPTION_FLAG)
        return SELGW_MODBUS_MBAP_SIZE + 2;
    if (have < SELGW_MODBUS_MBAP_SIZE + 2)
        return 0;
    return SELGW_MODBUS_MBAP_SIZE + 2 + adu[SELGW_MODBUS_MBAP_SIZE + 1];
}

/* The MBAP length counts the unit id and the PDU: the bytes after the length field. */
static size_t mbap_says_total(const uint8_t *adu)
{
    return 6 + (size_t)get16(adu + 4);
}

size_t selgw_modbus_tcp_reply_wanted(const uint8_t *adu, size_t have,
                                     const selgw_modbus_request *rq)
{
    if (have < SELGW_MODBUS_MBAP_SIZE)
        return SELGW_MODBUS_MBAP_SIZE;
    if (check_mbap(adu, rq, NULL, 0) != SELGW_OK)
        return have;
    const uint8_t *pdu = adu + SELGW_MODBUS_MBAP_SIZE;
    if (selgw_modbus_check_pdu_start(pdu, have - SELGW_MODBUS_MBAP_SIZE, rq, NULL, 0) != SELGW_OK)
        return have;
    size_t announced = mbap_says_total(adu);
    size_t said = pdu_says_total(adu, have);
    if (said == 0) {
        /* The function code and byte count come next, unless the MBAP length ends the
         * reply before them (then it is judged at that end, not after a timeout). */
        size_t next = SELGW_MODBUS_MBAP_SIZE + 2;
        if (announced >= next)
            return next;
        return announced > have ? announced : have;
    }
    if (said != announced)
        return have; /* MBAP length and PDU disagree: no need to wait for either */
    return said;
}

selgw_err selgw_modbus_decode_tcp_reply(const uint8_t *adu, size_t len,
                                        const selgw_modbus_request *rq, uint16_t *regs,
                                        uint8_t *bits, int *exception_code, char *why,
                                        size_t why_cap)
{
    if (len < SELGW_MODBUS_MBAP_SIZE) {
        selgw_explain(why, why_cap, "reply of %zu bytes is shorter than an MBAP header (%d)", len,
                      SELGW_MODBUS_MBAP_SIZE);
        return SELGW_ERR_BAD_FRAME;
    }
    selgw_err err = check_mbap(adu, rq, why, why_cap);
    if (err != SELGW_OK)
        return err;
    const uint8_t *pdu = adu + SELGW_MODBUS_MBAP_SIZE;
    size_t pdu_len = len - SELGW_MODBUS_MBAP_SIZE;
    /* A function code or byte count that is not the request's is the clearest reason; the
     * lengths are judged after them. */
    err = selgw_modbus_check_pdu_start(pdu, pdu_len, rq, why, why_cap);
    if (err != SELGW_OK)
        return err;
    size_t announced = mbap_says_total(adu);
    if (len != announced) {
        size_t said = pdu_says_total(adu, len);
        if (said != 0 && said != announced)
            selgw_explain(why, why_cap, "MBAP length %zu does not match the %zu bytes that follow",
                          announced - 6, said - 6);
        else if (len < announced)
            selgw_explain(why, why_cap,
                          "reply ends after %zu of the %zu bytes its MBAP length "
                          "announces",
                          len - 6, announced - 6);
        else
            selgw_explain(why, why_cap, "%zu bytes after the end of the reply", len - announced);
        return SELGW_ERR_BAD_FRAME;
    }
    return selgw_modbus_decode_pdu(pdu, pdu_len, rq, regs, bits, exception_code, why, why_cap);
}

uint16_t selgw_modbus_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

selgw_err selgw_modbus_check_rtu_start(const uint8_t *adu, size_t len,
                                       const selgw_modbus_request *rq, char *why, size_t why_cap)
{
    if (len < 1)
        return SELGW_OK;
    if (adu[0] != rq->unit_id)
        return wrong_unit(adu[0], rq, why, why_cap);
    return selgw_modbus_check_pdu_start(adu + 1, len - 1, rq, why, why_cap);
}

selgw_err selgw_modbus_decode_rtu_reply(const uint8_t *adu, size_t len,
                                        const selgw_modbus_request *rq, uint16_t *regs,
                                        uint8_t *bits, int *exception_code, char *why,
                                        size_t why_cap)
{
    /* Slave address, function code, CRC: nothing shorter is a frame. */
    if (len < 4) {
        selgw_explain(why, why_cap, "reply of %zu bytes is shorter than an RTU frame (4)", len);
        return SELGW_ERR_BAD_FRAME;
    }
    if (adu[0] != rq->unit_id)
        return wrong_unit(adu[0], rq, why, why_cap);
    unsigned received = (unsigned)(adu[len - 2] | (adu[len - 1] << 8));
    unsigned computed = selgw_modbus_crc16(adu, len - 2);
    if (received != computed) {
        selgw_explain(why, why_cap, "CRC 0x%04x, computed 0x%04x", received, computed);
        return SELGW_ERR_BAD_FRAME;
    }
    return selgw_modbus_decode_pdu(adu + 1, len - 3, rq, regs, bits, exception_code, why, why_cap);
}

const char *selgw_modbus_exception_text(int code)
{
    /* Modbus Application Protocol v1.1b3, 7 "MODBUS Exception Responses" */
    static const char *const texts[] = {
        [1] = "illegal function: the device does not support this kind of read (check the "
              "profile's function codes)",
        [2] = "illegal data address: the device has no such register (is the profile the "
              "right one for this model?)",
        [3] = "illegal data value: the device refused the read's length (a read too wide "
              "for it)",
        [4] = "server device failure: the device failed while answering (its sensor may be "
              "faulty or not yet ready)",
        [5] = "acknowledge: the device accepted a long request and is still working on it",
        [6] = "server device busy: the device is busy, try again later",
        [8] = "memory parity error: the device found its memory inconsistent",
        [10] = "gateway path unavailable: the Modbus gateway has no path to that unit (check "
               "its routing and the unit id)",
        [11] = "gateway target device failed to respond: the gateway got no answer from the "
               "unit (check the unit id, baud rate and the wiring behind the gateway)",
    };
    if (code > 0 && (size_t)code < sizeof texts / sizeof texts[0] && texts[code])
        return texts[code];
    return "unknown exception";
}
