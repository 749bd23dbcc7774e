/* The sink configs the C tests run the sinks with, as the config loader would fill them
 * (a config without the loader's defaults is refused): the MQTT sink's, and the InfluxDB
 * sink's for the 1.x and the 2.x API, all towards 127.0.0.1:port with short retry delays.
 * A test changes what it is about. Header-only. */
#ifndef SELGW_TEST_SINK_CONFIGS_H
#define SELGW_TEST_SINK_CONFIGS_H

#include <stdio.h>

#include "config.h"

#define TEST_MQTT_PREFIX "selgw-test"
#define TEST_MQTT_MAX_INFLIGHT 8

static inline selgw_mqtt_config test_mqtt_config(int port, int protocol)
{
    return (selgw_mqtt_config){.enabled = true,
                               .host = "127.0.0.1",
                               .port = port,
                               .protocol = protocol,
                               .qos = 1,
                               .topic_prefix = TEST_MQTT_PREFIX,
                               .client_id = "selgw-test-gw",
                               .keepalive_s = 10,
                               .max_inflight = TEST_MQTT_MAX_INFLIGHT,
                               .reconnect_min_ms = 100,
                               .reconnect_max_ms = 800};
}

/* 1.x: database and retention policy with spaces (escaped in the URL), basic auth, gzip,
 * small batches. The URL lives in a static buffer until the next call. */
static inline selgw_influx_config test_influx_v1_config(int port)
{
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    return (selgw_influx_config){.enabled = true,
                                 .url = url,
                                 .api = 1,
                                 .database = "farm data",
                                 .retention_policy = "two weeks",
                                 .username = "writer",
                                 .password = "s3cret",
                                 .measurement = "reading",
                                 .batch_lines = 16,
                                 .gzip = true,
                                 .timeout_ms = 20000,
                                 .retry_min_ms = 10,
                                 .retry_max_ms = 40,
                                 .dead_letter_path = "rejected.lp"};
}

/* 2.x: an org that needs escaping, a token, no gzip, large batches. */
static inline selgw_influx_config test_influx_v2_config(int port)
{
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    return (selgw_influx_config){.enabled = true,
                                 .url = url,
                                 .api = 2,
                                 .org = "tea&co",
                                 .bucket = "readings",
                                 .token = "tok-123",
                                 .measurement = "reading",
                                 .batch_lines = 5000,
                                 .gzip = false,
                                 .timeout_ms = 20000,
                                 .retry_min_ms = 10,
                                 .retry_max_ms = 20,
                                 .dead_letter_path = "dead-letter.lp"};
}

#endif
