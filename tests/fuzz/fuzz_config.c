/* Fuzz target: the config reader, selgw_config_load_string (gateway/config.h): YAML from an
 * operator, parsed by libfyaml and checked value by value with FILE:LINE:COLUMN diagnostics.
 * A config comes from a person and is often edited by hand on the gateway, so every input
 * must give either a config or diagnostics, never a crash or a leak. The diagnostics are
 * printed (sorting and formatting included) to /dev/null. Paths a config names (profiles_dir,
 * key files, the journal dir) resolve against the current directory; loading only reads.
 * Seeds (tests/fuzz/corpus/config): config/demo.yaml, config/example-tea-base.yaml,
 * tests/data/config/valid.yaml, test_cli.py's config with seven errors (broken-cli.yaml), and
 * the sink and signing sections of tests/unit/test_config.c on a small farm (sinks.yaml,
 * influx-v2.yaml). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "base/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (!sink)
        return 0;
    selgw_diag *diag = selgw_diag_new();
    if (!diag)
        return 0;
    selgw_config *cfg = NULL;
    selgw_config_load_string("fuzz.yaml", size ? (const char *)data : "", size, diag, &cfg);
    selgw_diag_print(diag, sink);
    selgw_config_free(cfg);
    selgw_diag_free(diag);
    return 0;
}
