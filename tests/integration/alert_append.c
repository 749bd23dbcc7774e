/* Appends ALERT records to a gateway's journal, as the alert engine will, for the webhook
 * tests until that engine journals them itself: `alert_append JOURNAL_DIR BASE PLOT FIRST
 * COUNT` appends COUNT frost alerts on plot PLOTNNN... (NNN from FIRST) of base BASE,
 * outside any evidence chain (the gateway's chain state passes over such records). The
 * gateway must not be running: the journal is locked while it does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "journal/journal.h"
#include "journal/record.h"

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: alert_append JOURNAL_DIR BASE PLOT FIRST COUNT\n");
        return 2;
    }
    selgw_journal_config cfg = {.dir = argv[1],
                                .segment_bytes = 1 << 20,
                                .fsync = SELGW_FSYNC_BATCH,
                                .commit_interval_ms = 5,
                                .retention_ms = 7 * 86400 * 1000LL,
                                .when_full = SELGW_WHEN_FULL_STOP};
    selgw_journal *j = NULL;
    selgw_journal_recovery recovery;
    if (selgw_journal_open(&cfg, NULL, 0, true, &j, &recovery) != SELGW_OK) {
        fprintf(stderr, "alert_append: cannot open the journal in %s\n", argv[1]);
        return 1;
    }
    int first = atoi(argv[4]), count = atoi(argv[5]);
    int64_t now = selgw_utc_ns();
    int rc = 0;
    for (int i = first; i < first + count && rc == 0; i++) {
        char plot[128];
        snprintf(plot, sizeof plot, "%s%03d", argv[3], i);
        selgw_record a = {.type = SELGW_RECORD_ALERT,
                          .time_ns = now,
                          .gateway = {"itest", 5},
                          .base = {argv[2], strlen(argv[2])},
                          .plot = {plot, strlen(plot)},
                          .crop = {"tea", 3},
                          .rule = {"tea-frost", 9},
                          .alert_state = SELGW_ALERT_RAISED,
                          .alert_condition = SELGW_ALERT_BELOW,
                          .device = {"air-1", 5},
                          .field = {"air_temperature", 15},
                          .unit = {"degC", 4},
                          .alert_value = 1.5,
                          .alert_threshold = 2,
                          .alert_since_ns = now - 10 * 60 * SELGW_NS_PER_S};
        uint8_t buf[1024];
        size_t len = selgw_record_encode_alert(&a, NULL, buf, sizeof buf);
        uint64_t seq;
        if (len == 0 || len > sizeof buf || selgw_journal_append(j, buf, len, &seq) != SELGW_OK)
            rc = 1;
    }
    if (rc == 0 && selgw_journal_flush(j) != SELGW_OK)
        rc = 1;
    selgw_journal_close(j);
    if (rc)
        fprintf(stderr, "alert_append: cannot append\n");
    return rc;
}
