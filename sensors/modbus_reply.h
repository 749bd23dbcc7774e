/* selgw: a Modbus read request as bytes, and its reply checked against it and decoded.
 *
 * A reply is only taken for the answer to a request if everything in it says so: behind a
 * TCP-to-RTU converter, a reply with another unit id or transaction id is another probe's
 * answer, and its values must not land in this probe's record. libmodbus 3.1.6 does not
 * check a TCP reply's unit id or MBAP length, and lets some non-zero protocol ids through, so
 * the gateway checks every reply here. Every rejection is SELGW_ERR_BAD_FRAME with a short
 * reason for the log ("reply is for unit 7, the request was to unit 3").
 *
 * Reads only (functions 1 to 4). Pure functions: no I/O. */
#ifndef SELGW_MODBUS_REPLY_H
#define SELGW_MODBUS_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define SELGW_MODBUS_MBAP_SIZE 7     /* transaction id, protocol id, length, unit id */
#define SELGW_MODBUS_READ_PDU_SIZE 5 /* function, address, quantity */
#define SELGW_MODBUS_TCP_REQUEST_SIZE (SELGW_MODBUS_MBAP_SIZE + SELGW_MODBUS_READ_PDU_SIZE)
#define SELGW_MODBUS_TCP_MAX_ADU 260     /* MBAP header and the longest PDU (253 bytes) */
#define SELGW_MODBUS_MBAP_MAX_LENGTH 254 /* unit id and the longest PDU */

/* A read request as it was sent, which its reply must match. */
typedef struct selgw_modbus_request {
    uint16_t transaction_id; /* MBAP transaction id (TCP only) */
    uint8_t unit_id;         /* MBAP unit id (TCP) or slave address (RTU) */
    uint8_t function;        /* 1 coils, 2 discrete inputs, 3 holding, 4 input registers */
    uint16_t address;        /* first register or bit */
    uint16_t count;          /* registers (1..125) or bits (1..2000) */
} selgw_modbus_request;

/* The byte count a correct reply carries: 2 per register, one per 8 bits (rounded up). */
unsigned selgw_modbus_reply_byte_count(const selgw_modbus_request *rq);

/* The request's PDU: function, address, quantity (big-endian). SELGW_ERR_INVALID for a
 * function other than 1..4, a quantity outside the protocol's limits, or a range that
 * runs past address 65535. */
selgw_err selgw_modbus_encode_pdu(const selgw_modbus_request *rq,
                                  uint8_t pdu[SELGW_MODBUS_READ_PDU_SIZE]);
/* The whole Modbus TCP request: MBAP header (the request's transaction id, protocol id 0,
 * length 6, unit id), then the PDU. Errors as selgw_modbus_encode_pdu. */
selgw_err selgw_modbus_encode_tcp_request(const selgw_modbus_request *rq,
                                          uint8_t adu[SELGW_MODBUS_TCP_REQUEST_SIZE]);

/* Checks the first `len` bytes of a reply PDU, as far as they go: the function code (the
 * request's, or the request's + 0x80 for an exception) and, for data, the byte count.
 * SELGW_OK means "nothing wrong yet", not that the reply is complete. */
selgw_err selgw_modbus_check_pdu_start(const uint8_t *pdu, size_t len,
                                       const selgw_modbus_request *rq, char *why, size_t why_cap);

/* Checks and decodes a whole reply PDU (function code onwards). Registers go to regs
 * (big-endian u16, rq->count of them), bits to bits (one byte 0/1 per bit, least
 * significant bit of each byte first). SELGW_ERR_EXCEPTION with *exception_code for a
 * well-formed exception reply with a defined code (1..11); SELGW_ERR_BAD_FRAME with a
 * reason in why for anything else that is not the reply to rq. */
selgw_err selgw_modbus_decode_pdu(const uint8_t *pdu, size_t len, const selgw_modbus_request *rq,
                                  uint16_t *regs, uint8_t *bits, int *exception_code, char *why,
                                  size_t why_cap);

/* How many bytes of a Modbus TCP reply to read, given the `have` bytes read so far (each
 * call after more bytes came in). Returns `have` when the reply can be judged: it is
 * complete, or what has come is already wrong (another unit, transaction or function, a
 * byte count that does not fit the request, an MBAP length that contradicts the PDU), so
 * that a lying device costs no response timeout. The reply is framed by its PDU (function
 * code and byte count); the MBAP length is checked against it, never trusted alone. Never
 * more than SELGW_MODBUS_TCP_MAX_ADU. */
size_t selgw_modbus_tcp_reply_wanted(const uint8_t *adu, size_t have,
                                     const selgw_modbus_request *rq);

/* Checks and decodes a Modbus TCP reply (MBAP header included): transaction id and unit id
 * equal to the request's, protocol id 0, an MBAP length that counts exactly the bytes
 * after it, then the PDU as selgw_modbus_decode_pdu. */
selgw_err selgw_modbus_decode_tcp_reply(const uint8_t *adu, size_t len,
                                        const selgw_modbus_request *rq, uint16_t *regs,
                                        uint8_t *bits, int *exception_code, char *why,
                                        size_t why_cap);

/* Modbus RTU CRC16 (polynomial 0xA001 reflected, initial 0xFFFF); sent low byte first. */
uint16_t selgw_modbus_crc16(const uint8_t *data, size_t len);

/* Checks the first `len` bytes of a Modbus RTU reply, as far as they go: slave address,
 * then as selgw_modbus_check_pdu_start. */
selgw_err selgw_modbus_check_rtu_start(const uint8_t *adu, size_t len,
                                       const selgw_modbus_request *rq, char *why, size_t why_cap);

/* Checks and decodes a Modbus RTU reply: slave address equal to the request's, CRC, then
 * the PDU as selgw_modbus_decode_pdu. */
selgw_err selgw_modbus_decode_rtu_reply(const uint8_t *adu, size_t len,
                                        const selgw_modbus_request *rq, uint16_t *regs,
                                        uint8_t *bits, int *exception_code, char *why,
                                        size_t why_cap);

/* What a Modbus exception code means, in the words of the Modbus application protocol
 * (1 "illegal function", 2 "illegal data address" ...) with what it usually means for a
 * sensor ("the device has no such register: is the profile the right one for this
 * model?"); "unknown exception" for a code the protocol does not define. */
const char *selgw_modbus_exception_text(int code);

#endif
