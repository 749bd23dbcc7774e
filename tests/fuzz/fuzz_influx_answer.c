/* Fuzz target: what the InfluxDB sink reads from a server's answer (gateway/sinks/influx_sink.h):
 * the Retry-After header, as seconds or an HTTP date (curl_getdate), and the error body, a
 * JSON object of InfluxDB 1.x or 2.x or whatever a proxy sends (jansson), turned into one
 * line for the log and the dead-letter file. The server, or anything between the gateway
 * and it over a 4G link, decides these bytes.
 *
 * Input: the Retry-After value up to the first newline (as the sink keeps it: at most 63
 * bytes, the leading space and the CR included), then the body (at most 4096 bytes, what
 * the sink keeps). The message is made into the sink's 512-byte buffer and into a small one
 * whose size the body's length chooses; either must be one line without control characters
 * whose length is returned.
 *
 * Seeds (tests/fuzz/corpus/influx_answer), written by hand in the servers' formats:
 * InfluxDB 1.x error bodies {"error":"..."} (a bad line, database not found, authorization
 * failed), 2.x bodies {"code":"...","message":"..."} (a partial write, unauthorized, too many
 * requests), an nginx 502 and an Apache 503 page, an empty body; Retry-After values "120",
 * "Wed, 21 Oct 2026 07:28:00 GMT", "Wednesday, 21-Oct-26 07:28:00 GMT", "0" and "soon". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/influx_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RETRY_AFTER_SIZE 64    /* the sink's retry_after[] */
#define RESPONSE_KEEP 4096     /* what the sink keeps of a body */
#define MESSAGE_SIZE 512       /* the sink's message[] */
#define NOW_UTC_S 1764633600LL /* 2025-12-02T00:00:00Z */

static void check_message(const char *body, size_t len, size_t cap)
{
    char *out = malloc(cap);
    if (!out)
        return;
    size_t n = selgw_influx_response_message(body, len, out, cap);
    if (n >= cap || strlen(out) != n)
        abort(); /* returns the length of what it wrote, NUL included within cap */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            abort(); /* one line of printable text: control characters become spaces */
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t header_len = nl ? (size_t)(nl - data) : 0;
    const uint8_t *body = nl ? nl + 1 : data;
    size_t body_len = size - (size_t)(body - data);

    char value[RETRY_AFTER_SIZE];
    size_t n = header_len < sizeof value - 1 ? header_len : sizeof value - 1;
    memcpy(value, data, n);
    value[n] = '\0';
    selgw_influx_retry_after_s(value, NOW_UTC_S);

    if (body_len > RESPONSE_KEEP)
        body_len = RESPONSE_KEEP;
    char *copy = malloc(body_len ? body_len : 1); /* exactly the body: no NUL after it */
    if (!copy)
        return 0;
    memcpy(copy, body, body_len);
    check_message(copy, body_len, MESSAGE_SIZE);
    check_message(copy, body_len, 1 + body_len % 24);
    free(copy);
    return 0;
}
