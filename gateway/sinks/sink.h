/* selgw: what every sink (MQTT, InfluxDB) reports about its delivery. */
#ifndef SELGW_SINK_H
#define SELGW_SINK_H

#include <stdint.h>

#include "base/error.h"

typedef struct selgw_sink_stats {
    uint64_t delivered;  /* records acknowledged by the server */
    uint64_t last_seq;   /* the sink's cursor */
    uint64_t refused;    /* records the server refused (MQTT 5 reason >= 0x80; dead letters) */
    uint64_t reconnects; /* connections (re)established, or requests retried */
    selgw_err last_error; /* SELGW_OK while delivering normally */
} selgw_sink_stats;

#endif
