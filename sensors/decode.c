/* selgw: decoding register contents into engineering values, and the inverse.
 *
 * A value of N registers is handled as an unsigned integer of 16*N bits ("raw bits") whose
 * words w[0] (most significant) .. w[N-1] travel on the wire in the field's byte order:
 * the word-swapped orders (CDAB, DCBA) send the least significant word first, the
 * byte-swapped orders (BADC, DCBA) swap the two bytes of every register. Signed and float
 * interpretations are made from those bits with well-defined arithmetic and memcpy, never
 * by casting an out-of-range unsigned value to a signed type. */
#include "sensors/decode.h"

#include <float.h>
#include <math.h>
#include <string.h>

unsigned selgw_type_registers(selgw_value_type type)
{
    switch (type) {
    case SELGW_TYPE_BIT:
        return 0;
    case SELGW_TYPE_U16:
    case SELGW_TYPE_S16:
        return 1;
    case SELGW_TYPE_U32:
    case SELGW_TYPE_S32:
    case SELGW_TYPE_F32:
        return 2;
    case SELGW_TYPE_U64:
    case SELGW_TYPE_S64:
    case SELGW_TYPE_F64:
        return 4;
    }
    return 0;
}

static bool order_swaps_words(selgw_byte_order order)
{
    return order == SELGW_ORDER_CDAB || order == SELGW_ORDER_DCBA;
}

static bool order_swaps_bytes(selgw_byte_order order)
{
    return order == SELGW_ORDER_BADC || order == SELGW_ORDER_DCBA;
}

static uint16_t swap_bytes(uint16_t word)
{
    return (uint16_t)((word << 8) | (word >> 8));
}

/* The raw bits of an nwords-register value from the registers as received. */
static uint64_t raw_from_registers(const uint16_t *regs, unsigned nwords, selgw_byte_order order)
{
    uint64_t raw = 0;
    for (unsigned i = 0; i < nwords; i++) {
        /* w[i], the i-th word from the most significant end. */
        uint16_t word = order_swaps_words(order) ? regs[nwords - 1 - i] : regs[i];
        if (order_swaps_bytes(order))
            word = swap_bytes(word);
        raw = (raw << 16) | word;
    }
    return raw;
}

static void registers_from_raw(uint64_t raw, unsigned nwords, selgw_byte_order order,
                               uint16_t *regs)
{
    for (unsigned i = 0; i < nwords; i++) {
        uint16_t word = (uint16_t)(raw >> (16 * (nwords - 1 - i)));
        if (order_swaps_bytes(order))
            word = swap_bytes(word);
        if (order_swaps_words(order))
            regs[nwords - 1 - i] = word;
        else
            regs[i] = word;
    }
}

/* Two's complement interpretation of the low `bits` bits of raw, without implementation-
 * defined conversions: a negative value is built as -(magnitude - 1) - 1. */
static int64_t signed_from_raw(uint64_t raw, unsigned bits)
{
    uint64_t sign = UINT64_C(1) << (bits - 1);
    uint64_t mask = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    raw &= mask;
    if ((raw & sign) == 0)
        return (int64_t)raw;
    uint64_t magnitude_minus_one = (mask - raw); /* = |v| - 1, at most 2^(bits-1) - 1 */
    return -(int64_t)magnitude_minus_one - 1;
}

/* The raw number a register value stands for, before scale and offset. */
static double number_from_raw(selgw_value_type type, uint64_t raw)
{
    switch (type) {
    case SELGW_TYPE_U16:
    case SELGW_TYPE_U32:
    case SELGW_TYPE_U64:
        return (double)raw;
    case SELGW_TYPE_S16:
        return (double)signed_from_raw(raw, 16);
    case SELGW_TYPE_S32:
        return (double)signed_from_raw(raw, 32);
    case SELGW_TYPE_S64:
        return (double)signed_from_raw(raw, 64);
    case SELGW_TYPE_F32: {
        uint32_t bits = (uint32_t)raw;
        float f;
        memcpy(&f, &bits, sizeof f);
        return (double)f;
    }
    case SELGW_TYPE_F64: {
        double d;
        memcpy(&d, &raw, sizeof d);
        return d;
    }
    case SELGW_TYPE_BIT:
        break;
    }
    return (double)raw;
}

/* Scale, offset, calibration, then the range check. */
static selgw_quality finish_value(const selgw_field *field, double number,
                                  const selgw_calibration *cal, double *value)
{
    double v = number * field->scale + field->offset;
    if (cal)
        v = v * cal->scale + cal->offset;
    *value = v;
    if (!isfinite(v))
        return SELGW_QUALITY_OUT_OF_RANGE;
    if (field->has_min && v < field->min)
        return SELGW_QUALITY_OUT_OF_RANGE;
    if (field->has_max && v > field->max)
        return SELGW_QUALITY_OUT_OF_RANGE;
    return SELGW_QUALITY_OK;
}

selgw_quality selgw_decode_registers(const selgw_field *field, const uint16_t *regs, size_t nregs,
                                     const selgw_calibration *cal, double *value)
{
    unsigned nwords = selgw_type_registers(field->type);
    if (nwords == 0 || regs == NULL || nregs < nwords)
        return SELGW_QUALITY_READ_FAILED;
    uint64_t raw = raw_from_registers(regs, nwords, field->order);
    return finish_value(field, number_from_raw(field->type, raw), cal, value);
}

selgw_quality selgw_decode_bit(const selgw_field *field, uint8_t bit, const selgw_calibration *cal,
                               double *value)
{
    if (field->type != SELGW_TYPE_BIT)
        return SELGW_QUALITY_READ_FAILED;
    return finish_value(field, bit ? 1.0 : 0.0, cal, value);
}

/* 2^63 and 2^64 are exact doubles; every double below them converts to the integer type. */
#define TWO_POW_63 9223372036854775808.0
#define TWO_POW_64 18446744073709551616.0

/* The raw bits of a rounded integer number for an integer type, or false if it does not fit. */
static bool raw_from_integer(selgw_value_type type, double n, uint64_t *raw)
{
    double lo, hi_exclusive;
    switch (type) {
    case SELGW_TYPE_U16:
        lo = 0, hi_exclusive = 65536.0;
        break;
    case SELGW_TYPE_S16:
        lo = -32768.0, hi_exclusive = 32768.0;
        break;
    case SELGW_TYPE_U32:
        lo = 0, hi_exclusive = 4294967296.0;
        break;
    case SELGW_TYPE_S32:
        lo = -2147483648.0, hi_exclusive = 2147483648.0;
        break;
    case SELGW_TYPE_U64:
        lo = 0, hi_exclusive = TWO_POW_64;
        break;
    case SELGW_TYPE_S64:
        lo = -TWO_POW_63, hi_exclusive = TWO_POW_63;
        break;
    default:
        return false;
    }
    if (!(n >= lo && n < hi_exclusive)) /* also false for NaN */
        return false;
    if (type == SELGW_TYPE_U16 || type == SELGW_TYPE_U32 || type == SELGW_TYPE_U64) {
        *raw = (uint64_t)n;
    } else {
        /* Conversion of a negative int64 to uint64 is defined (modulo 2^64); the registers
         * take only the low bits of the two's complement pattern. */
        *raw = (uint64_t)(int64_t)n;
    }
    return true;
}

selgw_err selgw_encode_registers(const selgw_field *field, double value, uint16_t *regs,
                                 size_t nregs)
{
    unsigned nwords = selgw_type_registers(field->type);
    if (nwords == 0 || regs == NULL || nregs < nwords)
        return SELGW_ERR_INVALID;
    if (field->scale == 0.0 || !isfinite(field->scale))
        return SELGW_ERR_INVALID;
    double number = (value - field->offset) / field->scale;
    uint64_t raw;
    if (field->type == SELGW_TYPE_F32) {
        /* A finite double beyond the float range has no float value (conversion would be
         * undefined); NaN and infinities convert as they are. */
        if (isfinite(number) && fabs(number) > FLT_MAX)
            return SELGW_ERR_RANGE;
        float f = (float)number;
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        raw = bits;
    } else if (field->type == SELGW_TYPE_F64) {
        memcpy(&raw, &number, sizeof raw);
    } else {
        if (!raw_from_integer(field->type, round(number), &raw))
            return SELGW_ERR_RANGE;
    }
    registers_from_raw(raw, nwords, field->order, regs);
    return SELGW_OK;
}
