/* Fills a gateway's journal with synthetic readings of its configured devices, as if they
 * had been polled during a long outage: `journal_fill CONFIG COUNT`. Readings are one
 * interval apart per device, ending now, with plausible values inside each field's range.
 * When the config has a `signing:` section the records are chained as the gateway chains
 * them (a chain per device, the plots' tags first) and sealed with its key every
 * seal_interval of the readings' time and at the end. Prints the append rate. Used by
 * bench_drain.py and bench_evidence.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/chains.h"
#include "base/clock.h"
#include "config.h"
#include "journal/journal.h"
#include "evidence/keys.h"
#include "evidence/provenance.h"
#include "journal/record.h"
#include "poll/reading.h"
#include "sensors/profile.h"
#include "sinks/sink.h"

/* Appends a payload; with chains, takes its place into account. */
static int append(selgw_journal *j, selgw_chains *chains, const uint8_t *payload, size_t len)
{
    uint64_t seq;
    if (len == 0 || len > SELGW_RECORD_MAX_PAYLOAD ||
        selgw_journal_append(j, payload, len, &seq) != SELGW_OK)
        return 1;
    if (chains)
        selgw_chains_apply(chains, payload, len, seq);
    return 0;
}

static int seal(selgw_journal *j, selgw_chains *chains, const selgw_signer *signer,
                const char *gateway, int64_t time_ns, uint8_t *payload)
{
    size_t len;
    if (selgw_chains_encode_seal(chains, signer, time_ns, time_ns, gateway, payload,
                                 SELGW_RECORD_MAX_PAYLOAD, &len) != SELGW_OK)
        return 1;
    return append(j, chains, payload, len);
}

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
    const char *sinks[SELGW_SINK_KINDS_MAX];
    size_t nsinks = selgw_sink_names(cfg, sinks);
    selgw_journal *j = NULL;
    selgw_journal_recovery rec;
    if (selgw_journal_open(&cfg->journal, sinks, nsinks, true, &j, &rec) != SELGW_OK) {
        fprintf(stderr, "journal_fill: cannot open the journal: %s\n", rec.message);
        selgw_config_free(cfg);
        return 1;
    }
    static selgw_reading r;
    static uint8_t payload[SELGW_RECORD_MAX_PAYLOAD];
    size_t ndev = cfg->device_count;
    long long rounds = (count + (long long)ndev - 1) / (long long)ndev;
    int64_t now = selgw_utc_ns();
    int64_t t0 = selgw_mono_ns();
    int status = 0;

    selgw_chains *chains = NULL;
    selgw_signer *signer = NULL;
    int64_t seal_every = (int64_t)cfg->signing.seal_interval_ms * SELGW_NS_PER_MS;
    int64_t next_seal = INT64_MIN, last_t = now;
    if (cfg->signing.enabled) {
        char why[512] = "";
        if (selgw_chains_new(&chains) != SELGW_OK ||
            selgw_signer_load(cfg->signing.secret_key, &signer, why, sizeof why) != SELGW_OK) {
            fprintf(stderr, "journal_fill: %s\n", why);
            status = 1;
            count = 0;
        }
        /* The plots' tags open their chains, as a starting gateway records them. */
        int64_t first = now - rounds * (int64_t)cfg->devices[0].interval_ms * SELGW_NS_PER_MS;
        char text[8192];
        for (size_t p = 0; !status && p < cfg->plot_count; p++) {
            size_t n = selgw_plot_tags_text(cfg, p, text, sizeof text);
            selgw_chain_link link;
            selgw_chains_next(chains, cfg->plots[p].chain, &link);
            selgw_record tags = {.type = SELGW_RECORD_TAGS,
                                 .time_ns = first - SELGW_NS_PER_S,
                                 .gateway = {cfg->gateway_id, strlen(cfg->gateway_id)},
                                 .plot = {cfg->plots[p].id, strlen(cfg->plots[p].id)},
                                 .text = {text, n < sizeof text ? n : 0}};
            status = append(j, chains, payload,
                            selgw_record_encode_event(&tags, &link, payload, sizeof payload));
        }
        if (!status)
            status = seal(j, chains, signer, cfg->gateway_id, first - SELGW_NS_PER_S / 2, payload);
        next_seal = first + seal_every;
    }
    for (long long i = 0; !status && i < count; i++) {
        const selgw_device *dev = &cfg->devices[i % (long long)ndev];
        long long round = i / (long long)ndev;
        int64_t t = now - (rounds - round) * (int64_t)dev->interval_ms * SELGW_NS_PER_MS;
        selgw_reading_for_device(&r, cfg, dev);
        r.time_ns = t;
        r.attempts = 1;
        selgw_reading_set_households(&r, cfg, dev);
        const selgw_profile *p = dev->profile;
        for (size_t f = 0; f < r.field_count; f++) {
            const selgw_field *fd = &p->fields[f];
            double lo = fd->has_min ? fd->min : 0, hi = fd->has_max ? fd->max : 100;
            r.fields[f].value = lo + (hi - lo) * (0.5 + 0.4 * sin((double)round / 50.0 + f));
            r.fields[f].quality = SELGW_QUALITY_OK;
        }
        if (chains && t >= next_seal) {
            if (seal(j, chains, signer, cfg->gateway_id, t - 1, payload)) {
                fprintf(stderr, "journal_fill: seal before reading %lld failed\n", i);
                status = 1;
                break;
            }
            next_seal += seal_every * ((t - next_seal) / seal_every + 1);
        }
        selgw_chain_link link;
        if (chains)
            selgw_chains_next(chains, dev->chain, &link);
        size_t len =
            selgw_record_encode_reading(&r, chains ? &link : NULL, payload, sizeof payload);
        if (append(j, chains, payload, len)) {
            fprintf(stderr, "journal_fill: append %lld failed\n", i);
            status = 1;
            break;
        }
        last_t = t;
    }
    if (chains && !status && seal(j, chains, signer, cfg->gateway_id, last_t + 1, payload))
        status = 1;
    selgw_chains_free(chains);
    selgw_signer_free(signer);
    selgw_journal_flush(j);
    double secs = (double)(selgw_mono_ns() - t0) / 1e9;
    printf("journal_fill: %lld readings in %.2f s (%.0f records/s), last seq %llu\n", count, secs,
           (double)count / secs, (unsigned long long)selgw_journal_committed_seq(j));
    selgw_journal_close(j);
    selgw_config_free(cfg);
    return status;
}
