/* selgw: the InfluxDB sink (v1 /write and v2 /api/v2/write, over libcurl).
 *
 * Reads the journal from its cursor, sends batches of up to batch_lines lines of line
 * protocol (gzip), one request at a time, and advances the cursor only on 2xx. Responses
 * are classified so (the points themselves are in docs/INFLUXDB.md, the retry and
 * dead_letter settings in docs/CONFIG.md):
 *   2xx                 delivered
 *   413                 split the batch and send the halves
 *   400, 422            bisect to find the bad lines; those go to the dead-letter file with
 *                       the server's message, the rest is delivered
 *   401, 403, 404       operator error: keep the data, alarm, retry slowly, never drop
 *   429, 5xx, no answer retry with backoff, honouring Retry-After
 * Every point carries the reading's own timestamp and the same fields on replay, so that
 * sending a batch again after a crash or an outage writes the same points (idempotent). */
#ifndef SELGW_INFLUX_SINK_H
#define SELGW_INFLUX_SINK_H

#include "config.h"
#include "base/error.h"
#include "journal/journal.h"
#include "sinks/sink.h"

#define SELGW_INFLUX_SINK_NAME "influxdb"

typedef struct selgw_influx_sink selgw_influx_sink;

selgw_err selgw_influx_sink_new(const selgw_influx_config *cfg, const char *journal_dir,
                                selgw_journal *journal, selgw_influx_sink **out);
selgw_err selgw_influx_sink_start(selgw_influx_sink *s);
void selgw_influx_sink_stop(selgw_influx_sink *s);
void selgw_influx_sink_free(selgw_influx_sink *s);
void selgw_influx_sink_stats(selgw_influx_sink *s, selgw_sink_stats *out);

/* How a response is handled. Pure, for tests. */
typedef enum selgw_influx_verdict {
    SELGW_INFLUX_DELIVERED,
    SELGW_INFLUX_SPLIT,    /* 413 */
    SELGW_INFLUX_BISECT,   /* 400, 422 */
    SELGW_INFLUX_OPERATOR, /* 401, 403, 404: keep, alarm, retry slowly */
    SELGW_INFLUX_RETRY,    /* 429, 5xx, no answer, anything else */
} selgw_influx_verdict;
selgw_influx_verdict selgw_influx_classify(long http_status);

/* Retry-After as seconds or an HTTP date, relative to now_utc_s; -1 if absent/invalid. */
long selgw_influx_retry_after_s(const char *header_value, long long now_utc_s);

/* What a server's error answer says, as one line of printable UTF-8 in out (cap bytes):
 * the "error" member (InfluxDB 1.x) or "message" member (2.x) of a JSON object, else the
 * body itself; control characters become spaces. Returns its length. Pure. */
size_t selgw_influx_response_message(const char *body, size_t len, char *out, size_t cap);

/* text[0..n) as one line of printable UTF-8 (control characters and malformed bytes as
 * spaces), cut to fit cap bytes with its NUL. Pure. */
void selgw_influx_plain_text(const char *text, size_t n, char *out, size_t cap);

#endif
