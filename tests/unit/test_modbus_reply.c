/* Modbus requests as bytes, and replies checked against them (sensors/modbus_reply.c): every
 * way a reply can be malformed is a bad frame with its reason, on TCP (MBAP header) and RTU
 * (address, CRC), and the TCP framing judges a lying reply from the bytes that came, without
 * waiting for bytes that a lie announces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "sensors/modbus_reply.h"

/* Read 2 holding registers at 0x10 from unit 3, transaction 4. */
static const selgw_modbus_request regs_rq = {
    .transaction_id = 4, .unit_id = 3, .function = 3, .address = 0x10, .count = 2};
/* Read 10 coils at 0 from unit 3, transaction 9. */
static const selgw_modbus_request bits_rq = {
    .transaction_id = 9, .unit_id = 3, .function = 1, .address = 0, .count = 10};

/* A correct reply PDU to regs_rq: 0x1234, 0xABCD. */
static const uint8_t regs_pdu[] = {0x03, 0x04, 0x12, 0x34, 0xAB, 0xCD};

typedef struct frame {
    uint8_t bytes[300];
    size_t len;
} frame;

/* A TCP reply: MBAP header (length counted from the PDU when mbap_length < 0), then pdu. */
static frame tcp(unsigned transaction_id, unsigned protocol_id, int mbap_length, unsigned unit_id,
                 const uint8_t *pdu, size_t pdu_len)
{
    frame f = {.len = SELGW_MODBUS_MBAP_SIZE + pdu_len};
    unsigned length = mbap_length < 0 ? (unsigned)(1 + pdu_len) : (unsigned)mbap_length;
    f.bytes[0] = (uint8_t)(transaction_id >> 8);
    f.bytes[1] = (uint8_t)transaction_id;
    f.bytes[2] = (uint8_t)(protocol_id >> 8);
    f.bytes[3] = (uint8_t)protocol_id;
    f.bytes[4] = (uint8_t)(length >> 8);
    f.bytes[5] = (uint8_t)length;
    f.bytes[6] = (uint8_t)unit_id;
    memcpy(f.bytes + SELGW_MODBUS_MBAP_SIZE, pdu, pdu_len);
    return f;
}

/* The correct TCP header for regs_rq around pdu. */
static frame tcp_ok(const uint8_t *pdu, size_t pdu_len)
{
    return tcp(regs_rq.transaction_id, 0, -1, regs_rq.unit_id, pdu, pdu_len);
}

/* An RTU reply: address, pdu, CRC (low byte first). */
static frame rtu(unsigned address, const uint8_t *pdu, size_t pdu_len)
{
    frame f = {.len = 1 + pdu_len + 2};
    f.bytes[0] = (uint8_t)address;
    memcpy(f.bytes + 1, pdu, pdu_len);
    uint16_t crc = selgw_modbus_crc16(f.bytes, 1 + pdu_len);
    f.bytes[1 + pdu_len] = (uint8_t)(crc & 0xFF);
    f.bytes[2 + pdu_len] = (uint8_t)(crc >> 8);
    return f;
}

static char why[160];
static uint16_t regs[125];
static uint8_t bits[2000];
static int exception_code;

static selgw_err decode_tcp(const frame *f, const selgw_modbus_request *rq)
{
    why[0] = '\0';
    exception_code = 0;
    return selgw_modbus_decode_tcp_reply(f->bytes, f->len, rq, regs, bits, &exception_code, why,
                                         sizeof why);
}

static selgw_err decode_rtu(const frame *f, const selgw_modbus_request *rq)
{
    why[0] = '\0';
    exception_code = 0;
    return selgw_modbus_decode_rtu_reply(f->bytes, f->len, rq, regs, bits, &exception_code, why,
                                         sizeof why);
}

static selgw_err decode_pdu(const uint8_t *pdu, size_t len, const selgw_modbus_request *rq)
{
    why[0] = '\0';
    exception_code = 0;
    return selgw_modbus_decode_pdu(pdu, len, rq, regs, bits, &exception_code, why, sizeof why);
}

/* What the TCP transport concludes from a byte stream: it reads what
 * selgw_modbus_tcp_reply_wanted asks for, then decodes. SELGW_ERR_TIMEOUT if it would wait
 * for bytes the stream does not have (which a lying device never sends). *used: the bytes
 * it took. */
static selgw_err judge_stream(const frame *stream, const selgw_modbus_request *rq, size_t *used)
{
    size_t have = 0, wanted;
    while ((wanted = selgw_modbus_tcp_reply_wanted(stream->bytes, have, rq)) > have) {
        assert_true(wanted <= SELGW_MODBUS_TCP_MAX_ADU);
        if (wanted > stream->len)
            return SELGW_ERR_TIMEOUT;
        have = wanted;
    }
    *used = have;
    frame taken = *stream;
    taken.len = have;
    return decode_tcp(&taken, rq);
}

/* A malformed TCP reply: a bad frame with this reason, decoded whole and as the transport
 * reads it (which never waits for more than the device sent). */
static void assert_tcp_rejected(const frame *f, const selgw_modbus_request *rq, const char *reason)
{
    assert_int_equal(decode_tcp(f, rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, reason);
    size_t used = 0;
    assert_int_equal(judge_stream(f, rq, &used), SELGW_ERR_BAD_FRAME);
    assert_true(used <= f->len);
}

/* ---- requests ------------------------------------------------------------------------- */

static void test_encode_tcp_request(void **state)
{
    (void)state;
    uint8_t adu[SELGW_MODBUS_TCP_REQUEST_SIZE];
    assert_int_equal(selgw_modbus_encode_tcp_request(&regs_rq, adu), SELGW_OK);
    const uint8_t expected[] = {0x00, 0x04, 0x00, 0x00, 0x00, 0x06,
                                0x03, 0x03, 0x00, 0x10, 0x00, 0x02};
    assert_memory_equal(adu, expected, sizeof expected);
    selgw_modbus_request big = {
        .transaction_id = 0xBEEF, .unit_id = 247, .function = 2, .address = 0x1234, .count = 2000};
    assert_int_equal(selgw_modbus_encode_tcp_request(&big, adu), SELGW_OK);
    const uint8_t expected_big[] = {0xBE, 0xEF, 0x00, 0x00, 0x00, 0x06,
                                    0xF7, 0x02, 0x12, 0x34, 0x07, 0xD0};
    assert_memory_equal(adu, expected_big, sizeof expected_big);
}

static void test_encode_rejects_what_the_protocol_cannot_ask(void **state)
{
    (void)state;
    uint8_t pdu[SELGW_MODBUS_READ_PDU_SIZE];
    const struct {
        uint8_t function;
        uint16_t address, count;
        selgw_err expected;
    } cases[] = {
        {0, 0, 1, SELGW_ERR_INVALID}, {5, 0, 1, SELGW_ERR_INVALID},
        {3, 0, 0, SELGW_ERR_INVALID}, {3, 0, 126, SELGW_ERR_INVALID},
        {4, 0, 125, SELGW_OK},        {1, 0, 2001, SELGW_ERR_INVALID},
        {1, 0, 2000, SELGW_OK},       {3, 65535, 2, SELGW_ERR_INVALID},
        {3, 65534, 2, SELGW_OK},      {2, 65535, 1, SELGW_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        selgw_modbus_request rq = {.unit_id = 1,
                                   .function = cases[i].function,
                                   .address = cases[i].address,
                                   .count = cases[i].count};
        assert_int_equal(selgw_modbus_encode_pdu(&rq, pdu), cases[i].expected);
    }
}

static void test_byte_count_of_registers_and_bits(void **state)
{
    (void)state;
    selgw_modbus_request rq = {.function = 4, .count = 125};
    assert_int_equal(selgw_modbus_reply_byte_count(&rq), 250);
    rq.function = 1;
    const unsigned counts[][2] = {{1, 1}, {7, 1}, {8, 1}, {9, 2}, {16, 2}, {17, 3}, {2000, 250}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        rq.count = (uint16_t)counts[i][0];
        assert_int_equal(selgw_modbus_reply_byte_count(&rq), counts[i][1]);
    }
}

/* ---- correct replies ------------------------------------------------------------------ */

static void test_register_reply_decodes_big_endian(void **state)
{
    (void)state;
    frame f = tcp_ok(regs_pdu, sizeof regs_pdu);
    assert_int_equal(decode_tcp(&f, &regs_rq), SELGW_OK);
    assert_int_equal(regs[0], 0x1234);
    assert_int_equal(regs[1], 0xABCD);

    memset(regs, 0, sizeof regs);
    frame r = rtu(3, regs_pdu, sizeof regs_pdu);
    assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_OK);
    assert_int_equal(regs[0], 0x1234);
    assert_int_equal(regs[1], 0xABCD);

    /* input registers, the most a read may ask for */
    selgw_modbus_request rq = {.transaction_id = 1, .unit_id = 1, .function = 4, .count = 125};
    uint8_t pdu[2 + 250] = {0x04, 250};
    for (int i = 0; i < 125; i++) {
        pdu[2 + 2 * i] = (uint8_t)(i + 1);
        pdu[3 + 2 * i] = (uint8_t)(0xFF - i);
    }
    frame big = tcp(1, 0, -1, 1, pdu, sizeof pdu);
    assert_int_equal(big.len, SELGW_MODBUS_TCP_MAX_ADU - 1);
    assert_int_equal(decode_tcp(&big, &rq), SELGW_OK);
    for (int i = 0; i < 125; i++)
        assert_int_equal(regs[i], ((i + 1) << 8) | (0xFF - i));
}

static void test_bit_reply_decodes_least_significant_bit_first(void **state)
{
    (void)state;
    /* 10 coils: 1,0,1,0,1,1,0,1 | 0,1 (the other 6 bits of the last byte are padding) */
    const uint8_t pdu[] = {0x01, 0x02, 0xB5, 0x02};
    frame f = tcp(bits_rq.transaction_id, 0, -1, 3, pdu, sizeof pdu);
    memset(bits, 0xEE, sizeof bits);
    assert_int_equal(decode_tcp(&f, &bits_rq), SELGW_OK);
    const uint8_t expected[] = {1, 0, 1, 0, 1, 1, 0, 1, 0, 1};
    assert_memory_equal(bits, expected, sizeof expected);
    assert_int_equal(bits[10], 0xEE); /* nothing written past count */

    /* discrete inputs over RTU */
    selgw_modbus_request rq = {.unit_id = 9, .function = 2, .address = 100, .count = 3};
    const uint8_t di[] = {0x02, 0x01, 0x06};
    frame r = rtu(9, di, sizeof di);
    assert_int_equal(decode_rtu(&r, &rq), SELGW_OK);
    assert_int_equal(bits[0], 0);
    assert_int_equal(bits[1], 1);
    assert_int_equal(bits[2], 1);
}

static void test_bit_reply_byte_count_is_count_over_8_rounded_up(void **state)
{
    (void)state;
    selgw_modbus_request rq = bits_rq;
    rq.count = 8;
    const uint8_t one_byte[] = {0x01, 0x01, 0xFF};
    frame f = tcp(rq.transaction_id, 0, -1, 3, one_byte, sizeof one_byte);
    assert_int_equal(decode_tcp(&f, &rq), SELGW_OK);
    rq.count = 9; /* needs a second byte */
    assert_tcp_rejected(&f, &rq, "byte count 1, expected 2 for 9 bits");
    const uint8_t two_bytes[] = {0x01, 0x02, 0xFF, 0x01};
    f = tcp(rq.transaction_id, 0, -1, 3, two_bytes, sizeof two_bytes);
    assert_int_equal(decode_tcp(&f, &rq), SELGW_OK);
    assert_int_equal(bits[8], 1);
    rq.count = 1;
    assert_tcp_rejected(&f, &rq, "byte count 2, expected 1 for 1 bit");
}

/* ---- the MBAP header -------------------------------------------------------------------- */

static void test_wrong_transaction_id(void **state)
{
    (void)state;
    frame f = tcp(5, 0, -1, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "transaction id 5, expected 4");
    f = tcp(0x0104, 0, -1, 3, regs_pdu, sizeof regs_pdu); /* the high byte counts too */
    assert_tcp_rejected(&f, &regs_rq, "transaction id 260, expected 4");
}

static void test_protocol_id_not_zero(void **state)
{
    (void)state;
    /* libmodbus 3.1.6 lets both through: it complains only when both bytes are non-zero */
    frame f = tcp(4, 1, -1, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "protocol id 1, expected 0");
    f = tcp(4, 0x0100, -1, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "protocol id 256, expected 0");
}

static void test_wrong_unit_id(void **state)
{
    (void)state;
    frame f = tcp(4, 0, -1, 7, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "reply is for unit 7, the request was to unit 3");
    f = tcp(4, 0, -1, 0, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "reply is for unit 0, the request was to unit 3");
}

static void test_mbap_length_too_short(void **state)
{
    (void)state;
    frame f = tcp(4, 0, 6, 3, regs_pdu, sizeof regs_pdu); /* 7 bytes follow */
    assert_tcp_rejected(&f, &regs_rq, "MBAP length 6 does not match the 7 bytes that follow");
    f = tcp(4, 0, 1, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "MBAP length 1 leaves no room for a function code");
    f = tcp(4, 0, 0, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "MBAP length 0 leaves no room for a function code");
}

static void test_mbap_length_too_long(void **state)
{
    (void)state;
    frame f = tcp(4, 0, 8, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "MBAP length 8 does not match the 7 bytes that follow");
    f = tcp(4, 0, 255, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq,
                        "MBAP length 255 is longer than any Modbus reply (at most 254)");
    f = tcp(4, 0, 0xFFFF, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq,
                        "MBAP length 65535 is longer than any Modbus reply (at most 254)");
}

static void test_mbap_length_mismatching(void **state)
{
    (void)state;
    frame f = tcp(4, 0, 9, 3, regs_pdu, sizeof regs_pdu);
    assert_tcp_rejected(&f, &regs_rq, "MBAP length 9 does not match the 7 bytes that follow");
    /* an exception reply is 2 bytes of PDU */
    const uint8_t exception[] = {0x83, 0x02};
    f = tcp(4, 0, 4, 3, exception, sizeof exception);
    assert_tcp_rejected(&f, &regs_rq, "MBAP length 4 does not match the 3 bytes that follow");
    /* a length that fits the PDU, but the bytes stop short of it, or go on after it */
    f = tcp_ok(regs_pdu, sizeof regs_pdu);
    f.len -= 2;
    assert_int_equal(decode_tcp(&f, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "reply ends after 5 of the 7 bytes its MBAP length announces");
    f = tcp_ok(regs_pdu, sizeof regs_pdu);
    f.len += 2;
    assert_int_equal(decode_tcp(&f, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "2 bytes after the end of the reply");
}

static void test_reply_shorter_than_header(void **state)
{
    (void)state;
    frame f = tcp_ok(regs_pdu, sizeof regs_pdu);
    for (size_t len = 0; len < SELGW_MODBUS_MBAP_SIZE; len++) {
        frame cut = f;
        cut.len = len;
        assert_int_equal(decode_tcp(&cut, &regs_rq), SELGW_ERR_BAD_FRAME);
        char expected[80];
        snprintf(expected, sizeof expected, "reply of %zu bytes is shorter than an MBAP header (7)",
                 len);
        assert_string_equal(why, expected);
        /* the transport reads the header before anything else */
        assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, len, &regs_rq), 7);
    }
    /* a header and no function code; a function code and no byte count */
    f = tcp(4, 0, 1, 3, regs_pdu, 0);
    assert_tcp_rejected(&f, &regs_rq, "MBAP length 1 leaves no room for a function code");
    f = tcp_ok(regs_pdu, 1);
    assert_tcp_rejected(&f, &regs_rq, "reply ends after the function code, without a byte count");
    assert_int_equal(decode_pdu(regs_pdu, 0, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "reply has no function code");
    /* RTU: address, function, CRC at the least */
    frame r = rtu(3, regs_pdu, 0);
    assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "reply of 3 bytes is shorter than an RTU frame (4)");
}

/* ---- the PDU ------------------------------------------------------------------------------ */

static void test_wrong_function_code(void **state)
{
    (void)state;
    const uint8_t input_registers[] = {0x04, 0x04, 0x12, 0x34, 0xAB, 0xCD};
    frame f = tcp_ok(input_registers, sizeof input_registers);
    assert_tcp_rejected(&f, &regs_rq, "function 0x04 in reply to 0x03");
    /* an exception, but to another function */
    const uint8_t other_exception[] = {0x84, 0x02};
    f = tcp_ok(other_exception, sizeof other_exception);
    assert_tcp_rejected(&f, &regs_rq, "function 0x84 in reply to 0x03");
    const uint8_t write[] = {0x10, 0x00, 0x10, 0x00, 0x02};
    f = tcp_ok(write, sizeof write);
    assert_tcp_rejected(&f, &regs_rq, "function 0x10 in reply to 0x03");
    frame r = rtu(3, input_registers, sizeof input_registers);
    assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "function 0x04 in reply to 0x03");
}

static void test_exception_reply_with_each_defined_code(void **state)
{
    (void)state;
    for (uint8_t code = 1; code <= 11; code++) {
        const uint8_t pdu[] = {0x83, code};
        frame f = tcp_ok(pdu, sizeof pdu);
        assert_int_equal(decode_tcp(&f, &regs_rq), SELGW_ERR_EXCEPTION);
        assert_int_equal(exception_code, code);
        size_t used = 0;
        assert_int_equal(judge_stream(&f, &regs_rq, &used), SELGW_ERR_EXCEPTION);
        assert_int_equal(used, 9);
        frame r = rtu(3, pdu, sizeof pdu);
        assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_ERR_EXCEPTION);
        assert_int_equal(exception_code, code);
    }
    const uint8_t coils[] = {0x81, 0x02};
    frame f = tcp(bits_rq.transaction_id, 0, -1, 3, coils, sizeof coils);
    assert_int_equal(decode_tcp(&f, &bits_rq), SELGW_ERR_EXCEPTION);
    assert_int_equal(exception_code, 2);
}

static void test_exception_reply_with_unknown_code(void **state)
{
    (void)state;
    const uint8_t unknown[] = {0, 12, 0x80, 0xFF};
    for (size_t i = 0; i < sizeof unknown; i++) {
        const uint8_t pdu[] = {0x83, unknown[i]};
        frame f = tcp_ok(pdu, sizeof pdu);
        char expected[64];
        snprintf(expected, sizeof expected, "unknown exception code %u", unknown[i]);
        assert_tcp_rejected(&f, &regs_rq, expected);
        assert_int_equal(exception_code, 0);
    }
}

static void test_exception_reply_truncated_or_long(void **state)
{
    (void)state;
    const uint8_t truncated[] = {0x83};
    frame f = tcp_ok(truncated, sizeof truncated); /* MBAP length 2 says so too */
    assert_tcp_rejected(&f, &regs_rq, "exception reply 0x83 without its exception code");
    /* the transport stops where the MBAP length ends it, without waiting for a code */
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 7, &regs_rq), 8);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 8, &regs_rq), 8);
    frame r = rtu(3, truncated, sizeof truncated);
    assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "exception reply 0x83 without its exception code");
    const uint8_t longer[] = {0x83, 0x02, 0x00};
    assert_int_equal(decode_pdu(longer, sizeof longer, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "exception reply of 3 bytes, expected 2");
}

static void test_wrong_byte_count(void **state)
{
    (void)state;
    const struct {
        uint8_t byte_count;
        size_t data_bytes;
        const char *reason;
    } cases[] = {
        {3, 3, "byte count 3, expected 4 for 2 registers"}, /* odd */
        {5, 4, "byte count 5, expected 4 for 2 registers"}, /* odd, data of the request */
        {6, 4, "byte count 6, expected 4 for 2 registers"}, /* too big for what follows */
        {6, 6, "byte count 6, expected 4 for 2 registers"}, /* too big for the request */
        {2, 4, "byte count 2, expected 4 for 2 registers"}, /* too small */
        {0, 0, "byte count 0, expected 4 for 2 registers"}, /* zero */
        {0, 4, "byte count 0, expected 4 for 2 registers"},
        {255, 4, "byte count 255, expected 4 for 2 registers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t pdu[2 + 8] = {0x03, cases[i].byte_count, 0x12, 0x34, 0xAB, 0xCD, 1, 2, 3, 4};
        frame f = tcp_ok(pdu, 2 + cases[i].data_bytes);
        assert_tcp_rejected(&f, &regs_rq, cases[i].reason);
        /* judged as soon as the byte count is in, whatever the MBAP length says */
        assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 9, &regs_rq), 9);
        frame r = rtu(3, pdu, 2 + cases[i].data_bytes);
        assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_ERR_BAD_FRAME);
        assert_string_equal(why, cases[i].reason);
    }
}

static void test_data_shorter_or_longer_than_the_byte_count(void **state)
{
    (void)state;
    const uint8_t longer[] = {0x03, 0x04, 0x12, 0x34, 0xAB, 0xCD, 0xEF};
    assert_int_equal(decode_pdu(longer, sizeof longer, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "byte count 4, but 5 data bytes follow");
    frame f = tcp_ok(longer, sizeof longer); /* the MBAP length counts the extra byte */
    assert_tcp_rejected(&f, &regs_rq, "byte count 4, but 5 data bytes follow");
    /* the transport does not read past the byte count: it meets the disagreement there */
    size_t used = 0;
    assert_int_equal(judge_stream(&f, &regs_rq, &used), SELGW_ERR_BAD_FRAME);
    assert_int_equal(used, 9);
    assert_string_equal(why, "MBAP length 8 does not match the 7 bytes that follow");

    assert_int_equal(decode_pdu(regs_pdu, sizeof regs_pdu - 1, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "byte count 4, but 3 data bytes follow");
    f = tcp_ok(regs_pdu, sizeof regs_pdu - 1);
    assert_tcp_rejected(&f, &regs_rq, "byte count 4, but 3 data bytes follow");
    frame r = rtu(3, longer, sizeof longer);
    assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "byte count 4, but 5 data bytes follow");
}

/* ---- reading a TCP reply ---------------------------------------------------------------- */

static void test_tcp_reply_is_read_as_its_pdu_frames_it(void **state)
{
    (void)state;
    frame f = tcp_ok(regs_pdu, sizeof regs_pdu);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 0, &regs_rq), 7);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 7, &regs_rq), 9);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 8, &regs_rq), 9);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 9, &regs_rq), 13);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 11, &regs_rq), 13);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 13, &regs_rq), 13);
    size_t used = 0;
    assert_int_equal(judge_stream(&f, &regs_rq, &used), SELGW_OK);
    assert_int_equal(used, 13);
    /* what comes after the reply (the next one, or junk) is not read */
    f.len += 10;
    assert_int_equal(judge_stream(&f, &regs_rq, &used), SELGW_OK);
    assert_int_equal(used, 13);
    /* a reply that starts right and stops short is waited for: the device may be slow */
    frame cut = tcp_ok(regs_pdu, sizeof regs_pdu);
    cut.len = 11;
    assert_int_equal(judge_stream(&cut, &regs_rq, &used), SELGW_ERR_TIMEOUT);
}

static void test_tcp_reply_already_wrong_is_not_waited_for(void **state)
{
    (void)state;
    /* the header gives away another unit, transaction or protocol */
    frame f = tcp(4, 0, -1, 7, regs_pdu, sizeof regs_pdu);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 7, &regs_rq), 7);
    f = tcp(5, 0, -1, 3, regs_pdu, sizeof regs_pdu);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 7, &regs_rq), 7);
    /* the function code gives away another request */
    const uint8_t other[] = {0x04, 0x04, 0, 0, 0, 0};
    f = tcp_ok(other, sizeof other);
    assert_int_equal(selgw_modbus_tcp_reply_wanted(f.bytes, 8, &regs_rq), 8);
    /* a byte count announcing more than the device sends: judged, not a timeout */
    const uint8_t lying[] = {0x03, 0x06, 0x12, 0x34, 0xAB, 0xCD};
    f = tcp_ok(lying, sizeof lying);
    size_t used = 0;
    assert_int_equal(judge_stream(&f, &regs_rq, &used), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "byte count 6, expected 4 for 2 registers");
    /* an MBAP length announcing more than the PDU has: judged, not a timeout */
    f = tcp(4, 0, 20, 3, regs_pdu, sizeof regs_pdu);
    assert_int_equal(judge_stream(&f, &regs_rq, &used), SELGW_ERR_BAD_FRAME);
    assert_int_equal(used, 9);
    assert_string_equal(why, "MBAP length 20 does not match the 7 bytes that follow");
}

/* ---- RTU ---------------------------------------------------------------------------------- */

static void test_crc16(void **state)
{
    (void)state;
    /* read 1 holding register at 0 from slave 1: the well-known frame 01 03 00 00 00 01 84 0A */
    const uint8_t request[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x01};
    assert_int_equal(selgw_modbus_crc16(request, sizeof request), 0x0A84);
    assert_int_equal(selgw_modbus_crc16(request, 0), 0xFFFF);
}

static void test_rtu_reply_from_another_slave_or_with_bad_crc(void **state)
{
    (void)state;
    frame r = rtu(7, regs_pdu, sizeof regs_pdu);
    assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_ERR_BAD_FRAME);
    assert_string_equal(why, "reply is for unit 7, the request was to unit 3");
    r = rtu(3, regs_pdu, sizeof regs_pdu);
    r.bytes[r.len - 1] ^= 0xFF;
    assert_int_equal(decode_rtu(&r, &regs_rq), SELGW_ERR_BAD_FRAME);
    uint16_t crc = selgw_modbus_crc16(r.bytes, r.len - 2);
    char expected[64];
    snprintf(expected, sizeof expected, "CRC 0x%04x, computed 0x%04x", (unsigned)(crc ^ 0xFF00),
             (unsigned)crc);
    assert_string_equal(why, expected);
}

/* The RTU transport fills its buffer with the start of the expected reply before libmodbus
 * receives into it: what was not received passes, what differs was received, wrongly. */
static void test_rtu_start_judges_only_what_differs_from_the_expected(void **state)
{
    (void)state;
    char text[80] = "";
    const uint8_t expected[] = {3, 0x03, 4};
    assert_int_equal(selgw_modbus_check_rtu_start(expected, 3, &regs_rq, text, sizeof text),
                     SELGW_OK);
    const uint8_t exception[] = {3, 0x83, 4}; /* the exception code is judged whole */
    assert_int_equal(selgw_modbus_check_rtu_start(exception, 3, &regs_rq, text, sizeof text),
                     SELGW_OK);
    const uint8_t lying[] = {3, 0x03, 6};
    assert_int_equal(selgw_modbus_check_rtu_start(lying, 3, &regs_rq, text, sizeof text),
                     SELGW_ERR_BAD_FRAME);
    assert_string_equal(text, "byte count 6, expected 4 for 2 registers");
    const uint8_t other[] = {5, 0x03, 4};
    assert_int_equal(selgw_modbus_check_rtu_start(other, 1, &regs_rq, text, sizeof text),
                     SELGW_ERR_BAD_FRAME);
    assert_string_equal(text, "reply is for unit 5, the request was to unit 3");
    assert_int_equal(selgw_modbus_check_rtu_start(other, 0, &regs_rq, NULL, 0), SELGW_OK);
}

/* The names an operator reads in the log for each exception code. */
static void test_exception_texts(void **state)
{
    (void)state;
    assert_string_equal(selgw_modbus_exception_text(2),
                        "illegal data address: the device has no such register (is the profile "
                        "the right one for this model?)");
    assert_string_equal(selgw_modbus_exception_text(11),
                        "gateway target device failed to respond: the gateway got no answer "
                        "from the unit (check the unit id, baud rate and the wiring behind the "
                        "gateway)");
    static const int defined[] = {1, 2, 3, 4, 5, 6, 8, 10, 11};
    for (size_t i = 0; i < sizeof defined / sizeof defined[0]; i++)
        assert_string_not_equal(selgw_modbus_exception_text(defined[i]), "unknown exception");
    static const int undefined[] = {-1, 0, 7, 9, 12, 255};
    for (size_t i = 0; i < sizeof undefined / sizeof undefined[0]; i++)
        assert_string_equal(selgw_modbus_exception_text(undefined[i]), "unknown exception");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exception_texts),
        cmocka_unit_test(test_encode_tcp_request),
        cmocka_unit_test(test_encode_rejects_what_the_protocol_cannot_ask),
        cmocka_unit_test(test_byte_count_of_registers_and_bits),
        cmocka_unit_test(test_register_reply_decodes_big_endian),
        cmocka_unit_test(test_bit_reply_decodes_least_significant_bit_first),
        cmocka_unit_test(test_bit_reply_byte_count_is_count_over_8_rounded_up),
        cmocka_unit_test(test_wrong_transaction_id),
        cmocka_unit_test(test_protocol_id_not_zero),
        cmocka_unit_test(test_wrong_unit_id),
        cmocka_unit_test(test_mbap_length_too_short),
        cmocka_unit_test(test_mbap_length_too_long),
        cmocka_unit_test(test_mbap_length_mismatching),
        cmocka_unit_test(test_reply_shorter_than_header),
        cmocka_unit_test(test_wrong_function_code),
        cmocka_unit_test(test_exception_reply_with_each_defined_code),
        cmocka_unit_test(test_exception_reply_with_unknown_code),
        cmocka_unit_test(test_exception_reply_truncated_or_long),
        cmocka_unit_test(test_wrong_byte_count),
        cmocka_unit_test(test_data_shorter_or_longer_than_the_byte_count),
        cmocka_unit_test(test_tcp_reply_is_read_as_its_pdu_frames_it),
        cmocka_unit_test(test_tcp_reply_already_wrong_is_not_waited_for),
        cmocka_unit_test(test_crc16),
        cmocka_unit_test(test_rtu_reply_from_another_slave_or_with_bad_crc),
        cmocka_unit_test(test_rtu_start_judges_only_what_differs_from_the_expected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
