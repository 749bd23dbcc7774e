/* selgw: decoding register contents into engineering values, and the inverse.
 * Pure functions: no I/O, no allocation, no global state. */
#ifndef SELGW_DECODE_H
#define SELGW_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "base/reading.h" /* selgw_quality */
#include "sensors/calibration.h"
#include "sensors/profile.h"

/* Registers (16-bit words) a field occupies; 0 for SELGW_TYPE_BIT, which occupies one bit. */
unsigned selgw_type_registers(selgw_value_type type);

/* Decodes a register field from regs[0..nregs), which start at the field's address.
 * cal may be NULL. Writes the engineering value and returns its quality: out of range
 * (value kept) if outside [min, max] or not finite. Returns SELGW_QUALITY_READ_FAILED
 * without touching *value if nregs is too small or the field is a bit. */
selgw_quality selgw_decode_registers(const selgw_field *field, const uint16_t *regs, size_t nregs,
                                     const selgw_calibration *cal, double *value);

/* Decodes a bit field (function 1 or 2) from a coil/input state (0 or 1). */
selgw_quality selgw_decode_bit(const selgw_field *field, uint8_t bit, const selgw_calibration *cal,
                               double *value);

/* The inverse, for the simulator and tests: the registers that make a device report
 * `value` (before calibration) for this field. Rounds to the nearest raw step. Returns
 * SELGW_ERR_RANGE if the raw value does not fit the type, SELGW_ERR_INVALID if nregs is too
 * small or the field is a bit. */
selgw_err selgw_encode_registers(const selgw_field *field, double value, uint16_t *regs,
                                 size_t nregs);

#endif
