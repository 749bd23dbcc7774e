/* Fills a gateway's journal with synthetic readings of its configured devices, as if they
 * had been polled during a long outage: `journal_fill CONFIG COUNT`. Readings are one
 * interval apart per device, ending now, with plausible values inside each field's range.
 * Prints the append rate. Used by bench_drain.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "journal.h"
#include "record.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: journal_fill CONFIG COUNT\n");
        return 2;
    }
    long long count = atoll(argv[2]);
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    if (selgw_config_load_file(argv[1], diag, &cfg) != SELGW_OK || cfg->device_count == 0) {
        selgw_diag_print(diag, stderr);
        fprintf(stderr, "journal_fill: need a valid config with devices\n");
        selgw_diag_free(diag);
        selgw_config_free(cfg);
        return 2;
    }
    selgw_diag_free(diag);
    const char *sinks[2];
    size_t nsinks = 0;
    if (cfg->mqtt.enabled)
        sinks[nsinks++] = "mqtt";
    if (cfg->influxdb.enabled)
        sinks[nsinks++] = "influxdb";
    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    if (selgw_journal_open(&cfg->journal, sinks, nsinks, true, &j, &rec) != SELGW_OK) {
        fprintf(stderr, "journal_fill: cannot open the journal: %s\n", rec.message);
        selgw_config_free(cfg);
        return 1;
    }
    selgw_field_value values[SELGW_RECORD_MAX_FIELDS];
    const selgw_contract *contracts[SELGW_RECORD_MAX_HOUSEHOLDS];
    static uint8_t payload[SELGW_RECORD_MAX_PAYLOAD];
    size_t ndev = cfg->device_count;
    long long rounds = (count + (long long)ndev - 1) / (long long)ndev;
    int64_t now = selgw_utc_ns();
    int64_t t0 = selgw_mono_ns();
    int status = 0;
    for (long long i = 0; i < count; i++) {
        const selgw_device *dev = &cfg->devices[i % (long long)ndev];
        long long round = i / (long long)ndev;
        int64_t t = now - (rounds - round) * (int64_t)dev->interval_ms * SELGW_NS_PER_MS;
        const selgw_profile *p = dev->profile;
        for (size_t f = 0; f < p->field_count; f++) {
            const selgw_field *fd = &p->fields[f];
            double lo = fd->has_min ? fd->min : 0, hi = fd->has_max ? fd->max : 100;
            values[f].value = lo + (hi - lo) * (0.5 + 0.4 * sin((double)round / 50.0 + f));
            values[f].quality = SELGW_QUALITY_OK;
        }
        const selgw_plot *plot = &cfg->plots[dev->plot];
        size_t nc = selgw_plot_contracts_on(plot, selgw_config_local_day(cfg, t), contracts,
                                            SELGW_RECORD_MAX_HOUSEHOLDS);
        selgw_reading r = {.time_ns = t,
                           .config = cfg,
                           .device = dev,
                           .status = SELGW_OK,
                           .attempts = 1,
                           .contract_count = nc,
                           .contracts = contracts,
                           .values = values};
        size_t len = selgw_record_encode_reading(&r, NULL, payload, sizeof payload);
        uint64_t seq;
        if (len == 0 || len > sizeof payload ||
            selgw_journal_append(j, payload, len, &seq) != SELGW_OK) {
            fprintf(stderr, "journal_fill: append %lld failed\n", i);
            status = 1;
            break;
        }
    }
    selgw_journal_flush(j);
    double secs = (double)(selgw_mono_ns() - t0) / 1e9;
    printf("journal_fill: %lld readings in %.2f s (%.0f records/s), last seq %llu\n", count, secs,
           (double)count / secs, (unsigned long long)selgw_journal_committed_seq(j));
    selgw_journal_close(j);
    selgw_config_free(cfg);
    return status;
}
