/* Fuzz target: the sensor profile reader, selgw_profile_set_load_string (sensors/profile.h):
 * a register map in YAML, from the shipped profiles or from a config's profiles_dir, which an
 * installer writes for a sensor model selgw does not ship. Every input must load or give
 * diagnostics, into a fresh set each time, without a crash or a leak. Seeds:
 * tests/fuzz/corpus/profile (copies of every sensors/profiles/NAME.yaml). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/diag.h"
#include "sensors/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (!sink)
        return 0;
    selgw_profile_set *set = selgw_profile_set_new();
    selgw_diag *diag = selgw_diag_new();
    if (set && diag)
        selgw_profile_set_load_string(set, "fuzz.yaml", size ? (const char *)data : "", size, diag);
    if (diag)
        selgw_diag_print(diag, sink);
    selgw_diag_free(diag);
    selgw_profile_set_free(set);
    return 0;
}
