/* selgw: CRC32C (Castagnoli), the checksum of the journal's frames and segment headers.
 * Chained: crc of a||b == selgw_crc32c(selgw_crc32c(0, a), b). Thread-safe. */
#ifndef SELGW_CRC32C_H
#define SELGW_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* With the SSE 4.2 instruction where the CPU has it, else the portable version. */
uint32_t selgw_crc32c(uint32_t crc, const void *data, size_t len);

/* The portable table version (slicing by 8), whatever the CPU: for the tests to compare. */
uint32_t selgw_crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
