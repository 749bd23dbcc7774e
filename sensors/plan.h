/* selgw: planning the Modbus reads that fetch every field of a device.
 *
 * Planned once per device: fields of the same function whose registers are contiguous or
 * separated by at most max_gap unused registers are merged into one read, up to the
 * protocol limit (125 registers for functions 3/4, 2000 bits for 1/2) or the device's own
 * smaller limit. Pure: no I/O. */
#ifndef SELGW_PLAN_H
#define SELGW_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sensors/profile.h"

#define SELGW_MODBUS_MAX_READ_REGISTERS 125
#define SELGW_MODBUS_MAX_READ_BITS 2000

typedef struct selgw_read_request {
    uint8_t function; /* 1, 2, 3 or 4 */
    uint16_t address; /* first register or bit */
    uint16_t count;   /* registers or bits */
} selgw_read_request;

/* Where a field's data is found after the reads: in request `request`, starting at
 * register (or bit) `offset` of that request's answer. */
typedef struct selgw_field_slot {
    size_t request;
    uint16_t offset;
} selgw_field_slot;

typedef struct selgw_plan {
    size_t request_count;
    selgw_read_request *requests; /* ordered by function, then address */
    size_t field_count;           /* == profile->field_count */
    selgw_field_slot *slots;      /* one per profile field, same index */
} selgw_plan;

/* max_registers: the device's limit per read of registers (0 = protocol limit; values
 * above the protocol limit are clamped). max_gap: unused registers (or bits) that may be
 * read through to merge two reads. Returns SELGW_ERR_INVALID if a field cannot fit in one
 * read under max_registers (e.g. a u64 with max_registers 2). */
selgw_err selgw_plan_build(const selgw_profile *profile, unsigned max_registers, unsigned max_gap,
                           selgw_plan **out);
void selgw_plan_free(selgw_plan *plan); /* NULL is fine */

#endif
