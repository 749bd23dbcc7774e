/* The archive's pure parts: its config (archive/archive_config.h: keys, defaults, bounds,
 * FILE:LINE:COLUMN) and the chain-link verdict of a record (archive/archive_store.h). The
 * store itself and the consumer run against real servers in
 * tests/integration/test_archive.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "archive/archive_config.h"
#include "archive/archive_store.h"
#include "base/diag.h"
#include "journal/record.h"

static const char GOOD[] = "mqtt:\n"
                           "  host: broker.example\n"
                           "  client_id: archive-a\n"
                           "postgresql:\n"
                           "  conninfo: host=db dbname=selgw\n";

static void test_config_defaults(void **state)
{
    (void)state;
    selgw_diag *diag = selgw_diag_new();
    selgw_archive_config *cfg = NULL;
    assert_int_equal(selgw_archive_config_load_string("a.yaml", GOOD, diag, &cfg), SELGW_OK);
    assert_string_equal(cfg->host, "broker.example");
    assert_int_equal(cfg->port, 1883);
    assert_string_equal(cfg->client_id, "archive-a");
    assert_string_equal(cfg->topic_prefix, "selgw");
    assert_string_equal(cfg->share_group, "selgw-archive");
    assert_int_equal(cfg->session_expiry_s, 86400);
    assert_int_equal(cfg->keepalive_s, 60);
    assert_int_equal(cfg->receive_maximum, 100);
    assert_null(cfg->username);
    assert_null(cfg->ca_file);
    assert_string_equal(cfg->conninfo, "host=db dbname=selgw");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    selgw_archive_config_summary(cfg, f);
    fclose(f);
    assert_non_null(strstr(text, "subscription $share/selgw-archive/selgw/+/evidence"));
    assert_null(strstr(text, "dbname")); /* the conninfo may hold a password */
    free(text);
    selgw_archive_config_free(cfg);
    selgw_diag_free(diag);

    diag = selgw_diag_new();
    assert_int_equal(selgw_archive_config_load_string(
                         "a.yaml",
                         "mqtt: {host: b, client_id: x, topic_prefix: farm/ev, share_group: g1,"
                         " session_expiry: 7d, keepalive: 30s, receive_maximum: 10}\n"
                         "postgresql: {conninfo: 'postgresql://db/selgw'}\n",
                         diag, &cfg),
                     SELGW_OK);
    assert_string_equal(cfg->topic_prefix, "farm/ev");
    assert_string_equal(cfg->share_group, "g1");
    assert_int_equal(cfg->session_expiry_s, 7 * 86400);
    assert_int_equal(cfg->keepalive_s, 30);
    assert_int_equal(cfg->receive_maximum, 10);
    assert_null(cfg->witness_key);
    selgw_archive_config_free(cfg);
    selgw_diag_free(diag);

    /* a witness: any readable file here (the key itself is checked at start) */
    diag = selgw_diag_new();
    char text_cfg[512];
    snprintf(text_cfg, sizeof text_cfg, "%switness:\n  key: %s/CMakeLists.txt\n", GOOD,
             SELGW_SOURCE_DIR);
    assert_int_equal(selgw_archive_config_load_string("a.yaml", text_cfg, diag, &cfg), SELGW_OK);
    assert_non_null(strstr(cfg->witness_key, "CMakeLists.txt"));
    f = open_memstream(&text, &len);
    selgw_archive_config_summary(cfg, f);
    fclose(f);
    assert_non_null(strstr(text, "archive: witness: countersigns every seal with "));
    assert_non_null(strstr(text, "published to selgw/GATEWAY/witness"));
    free(text);
    selgw_archive_config_free(cfg);
    selgw_diag_free(diag);
}

static void expect_error(const char *text, const char *message)
{
    selgw_diag *diag = selgw_diag_new();
    selgw_archive_config *cfg = (selgw_archive_config *)1;
    assert_int_equal(selgw_archive_config_load_string("a.yaml", text, diag, &cfg),
                     SELGW_ERR_CONFIG);
    assert_null(cfg);
    selgw_diag_sort(diag);
    bool found = false;
    for (size_t i = 0; i < selgw_diag_count(diag); i++)
        found = found || strncmp(selgw_diag_message(diag, i), message, strlen(message)) == 0;
    if (!found) {
        for (size_t i = 0; i < selgw_diag_count(diag); i++)
            fprintf(stderr, "got: %s\n", selgw_diag_message(diag, i));
        fail_msg("expected: %s", message);
    }
    selgw_diag_free(diag);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("mqtt:\n  host: b\n  client_id: a\n  qos: 1\npostgresql:\n  conninfo: x\n",
                 "a.yaml:4:3: unknown key 'qos' in mqtt");
    expect_error("mqtt:\n  host: b\npostgresql:\n  conninfo: x\n",
                 "a.yaml:2:3: missing required key 'client_id' in mqtt");
    expect_error("mqtt:\n  host: b\n  client_id: a b\npostgresql:\n  conninfo: x\n",
                 "a.yaml:3:14: client_id 'a b'");
    expect_error("mqtt:\n  host: b\n  client_id: a\n  port: 70000\npostgresql:\n  conninfo: x\n",
                 "a.yaml:4:9: port: 70000 is outside 1..65535");
    expect_error("mqtt:\n  host: b\n  client_id: a\n  topic_prefix: a/+\npostgresql:\n  conninfo: x\n",
                 "a.yaml:4:17: topic_prefix 'a/+'");
    expect_error("mqtt:\n  host: b\n  client_id: a\n  session_expiry: 1s\npostgresql:\n  conninfo: x\n",
                 "a.yaml:4:19: session_expiry: 1 s is outside 60..");
    expect_error("mqtt:\n  host: b\n  client_id: a\n", "a.yaml:1:1: missing required key 'postgresql'");
    expect_error("mqtt:\n  host: b\n  client_id: a\npostgresql:\n  dsn: x\n",
                 "a.yaml:5:3: unknown key 'dsn' in postgresql");
    expect_error("mqtt:\n  host: mqtt://b\n  client_id: a\npostgresql:\n  conninfo: x\n",
                 "a.yaml:2:9: host 'mqtt://b'");
    expect_error("mqtt:\n  host: b\n  client_id: a\npostgresql:\n  conninfo: x\nwitness: {}\n",
                 "a.yaml:6:10: missing required key 'key' in witness");
    expect_error("mqtt:\n  host: b\n  client_id: a\npostgresql:\n  conninfo: x\n"
                 "witness:\n  key: /nonexistent/w.key\n",
                 "a.yaml:7:8: key: cannot read '/nonexistent/w.key'");
    expect_error("mqtt:\n  host: b\n  client_id: a\npostgresql:\n  conninfo: x\n"
                 "witness:\n  key: k\n  tolerance: 5\n",
                 "a.yaml:8:3: unknown key 'tolerance' in witness");
}

static selgw_record rec;

static void chained(uint64_t chain_seq, uint8_t prev_byte)
{
    memset(&rec, 0, sizeof rec);
    rec.chained = true;
    rec.chain = (selgw_str){"device/soil-1", 13};
    rec.chain_seq = chain_seq;
    memset(rec.prev, prev_byte, sizeof rec.prev);
}

static void test_link_check(void **state)
{
    (void)state;
    uint8_t pred[SELGW_RECORD_HASH_BYTES];
    memset(pred, 7, sizeof pred);
    char problem[256];

    memset(&rec, 0, sizeof rec); /* format 1 or chain "" */
    assert_int_equal(selgw_archive_link_check(&rec, false, pred, 0, 0, problem, sizeof problem),
                     SELGW_LINK_UNCHAINED);
    assert_string_equal(problem, "");

    chained(1, 0); /* the first, with zero prev */
    assert_int_equal(selgw_archive_link_check(&rec, false, pred, 0, 0, problem, sizeof problem),
                     SELGW_LINK_OK);
    chained(1, 9); /* the first naming a predecessor */
    assert_int_equal(selgw_archive_link_check(&rec, false, pred, 0, 0, problem, sizeof problem),
                     SELGW_LINK_BREAK);
    assert_string_equal(problem, "the first record of its chain names a previous record");

    chained(5, 7); /* prev is the predecessor's hash */
    assert_int_equal(selgw_archive_link_check(&rec, true, pred, 40, 0, problem, sizeof problem),
                     SELGW_LINK_OK);
    chained(5, 8); /* it is not */
    assert_int_equal(selgw_archive_link_check(&rec, true, pred, 40, 0, problem, sizeof problem),
                     SELGW_LINK_BREAK);
    assert_string_equal(problem, "prev is not the hash of seq 40 (position 4)");
    chained(5, 7); /* the predecessor has not arrived */
    assert_int_equal(selgw_archive_link_check(&rec, false, pred, 0, 0, problem, sizeof problem),
                     SELGW_LINK_PENDING);
    assert_string_equal(problem, "");
    /* another record holds the position: a break even with a good prev */
    assert_int_equal(selgw_archive_link_check(&rec, true, pred, 40, 44, problem, sizeof problem),
                     SELGW_LINK_BREAK);
    assert_string_equal(problem, "position 5 of chain device/soil-1 is held by seq 44 too");

    assert_string_equal(selgw_archive_link_name(SELGW_LINK_OK), "ok");
    assert_string_equal(selgw_archive_link_name(SELGW_LINK_PENDING), "pending");
    assert_string_equal(selgw_archive_link_name(SELGW_LINK_BREAK), "break");
    assert_string_equal(selgw_archive_link_name(SELGW_LINK_UNCHAINED), "unchained");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_link_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
