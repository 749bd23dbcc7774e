/* Gateway configuration: structure, defaults, every error kind with its exact position,
 * contracts by date, local days, and the shipped example configs. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "yaml.h"

/* Inline configs are loaded as "t.yaml" with the working directory at tests/data/config,
 * so "profiles_dir: ../profiles" finds the fixture profiles test-soil and test-climate. */
#define PROFILES_LINE "profiles_dir: ../profiles\n"
/* Lines 1-4 of most inline configs; what a test adds starts on line 5. */
#define HEAD_NO_PLOTS PROFILES_LINE "gateway: {id: gw}\nbases: [{id: b1, name: Base}]\n"
#define HEAD HEAD_NO_PLOTS "plots: [{id: p1, base: b1, crop: tea}]\n"
/* The same lines, plots as a block list so that a test can add plots from line 6 on. */
#define HEAD_PLOTS HEAD_NO_PLOTS "plots:\n  - {id: p1, base: b1, crop: tea}\n"

static void print_diag(const selgw_diag *diag)
{
    for (size_t i = 0; i < selgw_diag_count(diag); i++)
        fprintf(stderr, "  diag[%zu] %s\n", i, selgw_diag_message(diag, i));
}

static bool has_diag(const selgw_diag *diag, const char *prefix)
{
    for (size_t i = 0; i < selgw_diag_count(diag); i++)
        if (!strncmp(selgw_diag_message(diag, i), prefix, strlen(prefix)))
            return true;
    return false;
}

static void assert_diag(const selgw_diag *diag, const char *prefix)
{
    if (has_diag(diag, prefix))
        return;
    print_diag(diag);
    fail_msg("no diagnostic starts with \"%s\"", prefix);
}

/* Loads text that must be rejected; returns the sorted diagnostics. */
static selgw_diag *load_bad(const char *text)
{
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = (selgw_config *)1;
    selgw_err err = selgw_config_load_string("t.yaml", text, strlen(text), diag, &cfg);
    selgw_diag_sort(diag);
    if (err != SELGW_ERR_CONFIG)
        print_diag(diag);
    assert_int_equal(err, SELGW_ERR_CONFIG);
    assert_null(cfg);
    assert_true(selgw_diag_count(diag) > 0);
    return diag;
}

/* Text that must be rejected with exactly one diagnostic, starting with prefix. */
static void expect_one_error(const char *text, const char *prefix)
{
    selgw_diag *diag = load_bad(text);
    if (selgw_diag_count(diag) != 1)
        print_diag(diag);
    assert_int_equal(selgw_diag_count(diag), 1);
    assert_diag(diag, prefix);
    selgw_diag_free(diag);
}

static selgw_config *load_good(const char *text)
{
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    selgw_err err = selgw_config_load_string("t.yaml", text, strlen(text), diag, &cfg);
    print_diag(diag);
    assert_int_equal(err, SELGW_OK);
    assert_int_equal(selgw_diag_count(diag), 0);
    assert_non_null(cfg);
    selgw_diag_free(diag);
    return cfg;
}

static int32_t day(const char *date)
{
    int32_t d;
    assert_true(selgw_parse_date(date, &d));
    return d;
}

static int setup_cwd(void **state)
{
    (void)state;
    return chdir(SELGW_TEST_DATA "/config");
}

/* ---- the valid fixture ---- */

static void test_valid_structure(void **state)
{
    (void)state;
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    assert_int_equal(selgw_config_load_file(SELGW_TEST_DATA "/config/valid.yaml", diag, &cfg),
                     SELGW_OK);
    print_diag(diag);
    assert_int_equal(selgw_diag_count(diag), 0);
    assert_string_equal(cfg->path, SELGW_TEST_DATA "/config/valid.yaml");
    assert_string_equal(cfg->gateway_id, "test-gw.01");
    assert_string_equal(cfg->gateway_location, "Hanwang, Ziyang");
    assert_int_equal(cfg->utc_offset_minutes, 480);
    /* the fixture profiles came from ../profiles, relative to the file */
    assert_non_null(selgw_profile_set_find(cfg->profiles, "test-soil"));
    assert_non_null(selgw_profile_set_find(cfg->profiles, "cwt-soil-thc-s"));

    assert_int_equal(cfg->base_count, 2);
    assert_string_equal(cfg->bases[0].id, "b1");
    assert_string_equal(cfg->bases[0].name, "紫阳县汉王镇富硒茶基地");
    assert_string_equal(cfg->bases[0].county, "紫阳县");
    assert_string_equal(cfg->bases[0].township, "汉王镇");
    assert_true(cfg->bases[0].has_coordinates);
    assert_true(cfg->bases[0].latitude == 32.52 && cfg->bases[0].longitude == 108.53);
    assert_false(cfg->bases[1].has_coordinates);
    assert_string_equal(cfg->bases[1].county, "");

    assert_int_equal(cfg->plot_count, 2);
    const selgw_plot *p1 = &cfg->plots[0];
    assert_string_equal(p1->id, "p1");
    assert_int_equal(p1->base, 0);
    assert_string_equal(p1->crop, "tea");
    assert_true(p1->area_mu == 35.5);
    assert_int_equal(p1->contract_count, 3);
    assert_string_equal(p1->contracts[0].household, "HH-001");
    assert_string_equal(p1->contracts[0].contract, "ZY-2024-001");
    assert_int_equal(p1->contracts[0].from_day, 19783); /* 2024-03-01 */
    assert_int_equal(p1->contracts[0].to_day, 20877);   /* 2027-02-28 */
    assert_int_equal(p1->contracts[1].to_day, INT32_MAX);
    assert_int_equal(cfg->plots[1].base, 1);
    assert_true(cfg->plots[1].area_mu == 0);
    assert_int_equal(cfg->plots[1].contract_count, 0);

    assert_int_equal(cfg->bus_count, 3);
    const selgw_bus *rtu = &cfg->buses[0];
    assert_int_equal(rtu->kind, SELGW_BUS_RTU);
    assert_string_equal(rtu->device, "/dev/ttyUSB0");
    assert_int_equal(rtu->baud, 4800);
    assert_int_equal(rtu->parity, 'E');
    assert_int_equal(rtu->data_bits, 8);
    assert_int_equal(rtu->stop_bits, 2);
    assert_int_equal(rtu->response_timeout_ms, 250);
    assert_int_equal(rtu->frame_delay_ms, 0);
    assert_int_equal(rtu->retries, 0);
    assert_null(rtu->host);
    const selgw_bus *tcp = &cfg->buses[1];
    assert_int_equal(tcp->kind, SELGW_BUS_TCP);
    assert_string_equal(tcp->host, "10.0.0.5");
    assert_int_equal(tcp->port, 502);
    assert_int_equal(tcp->response_timeout_ms, 1000);
    assert_int_equal(tcp->retries, 1);
    assert_null(tcp->device);
    const selgw_bus *rtu2 = &cfg->buses[2]; /* all defaults: 9600 8N1, 500 ms */
    assert_int_equal(rtu2->baud, 9600);
    assert_int_equal(rtu2->parity, 'N');
    assert_int_equal(rtu2->data_bits, 8);
    assert_int_equal(rtu2->stop_bits, 1);
    assert_int_equal(rtu2->response_timeout_ms, 500);
    assert_int_equal(rtu2->frame_delay_ms, 0);
    assert_int_equal(rtu2->retries, 1);

    assert_int_equal(cfg->device_count, 3);
    const selgw_device *a = &cfg->devices[0];
    assert_string_equal(a->id, "soil-a");
    assert_int_equal(a->bus, 0);
    assert_int_equal(a->plot, 0);
    assert_int_equal(a->unit_id, 2);
    assert_string_equal(a->profile->name, "test-soil");
    assert_int_equal(a->interval_ms, 90000);
    assert_string_equal(a->serial, "CWT2405-1182");
    assert_int_equal(a->max_read_registers, 16);
    assert_int_equal(a->max_gap, 0);
    assert_int_equal(a->calibration_count, 2);
    selgw_calibration cal = selgw_device_calibration(a, 0);
    assert_true(cal.scale == 1.02 && cal.offset == -1.5);
    cal = selgw_device_calibration(a, 2);
    assert_true(cal.scale == 1 && cal.offset == 10);
    cal = selgw_device_calibration(a, 1); /* none configured */
    assert_true(cal.scale == 1 && cal.offset == 0);
    const selgw_device *b = &cfg->devices[1];
    assert_int_equal(b->interval_ms, 60000);
    assert_string_equal(b->serial, "");
    assert_int_equal(b->max_read_registers, 0);
    assert_int_equal(b->max_gap, -1);
    assert_int_equal(b->calibration_count, 0);
    assert_int_equal(cfg->devices[2].bus, 1);
    assert_int_equal(cfg->devices[2].plot, 1);
    assert_int_equal(cfg->devices[2].interval_ms, 500);
    selgw_config_free(cfg);
    selgw_diag_free(diag);
}

static void test_summary(void **state)
{
    (void)state;
    selgw_config *cfg = NULL;
    selgw_diag *diag = selgw_diag_new();
    assert_int_equal(selgw_config_load_file(SELGW_TEST_DATA "/config/valid.yaml", diag, &cfg),
                     SELGW_OK);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    selgw_config_summary(cfg, out);
    fclose(out);
    assert_non_null(strstr(text, "gateway test-gw.01 (Hanwang, Ziyang)"));
    assert_non_null(strstr(text, "2 bases, 2 plots, 3 buses, 3 devices"));
    /* soil-a: max_gap 0 splits 0..1 and 0x10..0x11: 2 reads; soil-b: max_gap 2 of the
     * profile still leaves 0x02..0x0F unread: 2 reads */
    assert_non_null(strstr(text, "bus rs485-1: rtu /dev/ttyUSB0 4800 8E2, 2 devices, 4 Modbus "
                                 "requests per poll cycle"));
    /* test-climate: input registers 100..103 in one read, one coil read */
    assert_non_null(strstr(text, "bus gh: tcp 10.0.0.5:502, 1 device, 2 Modbus requests per "
                                 "poll cycle"));
    assert_non_null(strstr(text, "bus rs485-2: rtu /dev/ttyUSB1 9600 8N1, 0 devices, 0 Modbus "
                                 "requests per poll cycle"));
    assert_non_null(strstr(text, "total: 6 Modbus requests per poll cycle"));
    assert_null(strchr(text, '\033')); /* no colors */
    free(text);
    selgw_config_free(cfg);
    selgw_diag_free(diag);
}

/* ---- error kinds, each with its exact position ---- */

static void test_syntax_error(void **state)
{
    (void)state;
    /* libfyaml reports an unclosed bracket where the input ends */
    selgw_diag *diag = load_bad("gateway:\n  id: [gw\nbases: []\n");
    assert_int_equal(selgw_diag_count(diag), 1);
    assert_diag(diag, "t.yaml:4:1: flow sequence without a closing bracket");
    selgw_diag_free(diag);
    expect_one_error("gateway: {id: gw}\n\tbases: []\n", "t.yaml:2:");
    expect_one_error("gateway: {id: \"gw}\n", "t.yaml:1:");
    expect_one_error("", "t.yaml:1:1: empty document");
    expect_one_error("# nothing\n", "t.yaml:1:1: empty document");
    expect_one_error("gateway: {id: gw}\n---\ngateway: {id: gw2}\n",
                     "t.yaml:3:1: a second YAML document: one file holds one document");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    expect_one_error(HEAD "buses:\n  - id: x\n    type: rtu\n    device: /dev/a\n"
                          "    baud: 4800\n    baud: 9600\n",
                     "t.yaml:10:5: duplicate key 'baud' (first at 9:5)");
}

static void test_unknown_keys_everywhere(void **state)
{
    (void)state;
    selgw_diag *diag;
    expect_one_error(HEAD "buses:\n  - {id: x, type: rtu, device: /dev/a, bauds: 4800}\n",
                     "t.yaml:6:40: unknown key 'bauds' in bus (did you mean 'baud'?)");
    expect_one_error(HEAD "devise: []\n",
                     "t.yaml:5:1: unknown key 'devise' in config (did you mean 'devices'?)");
    expect_one_error(PROFILES_LINE "gateway: {id: gw, colour: red}\n",
                     "t.yaml:2:19: unknown key 'colour' in gateway");
    diag =
        load_bad(PROFILES_LINE "gateway: {id: gw}\n"
                               "bases: [{id: b1, name: B, coordinates: {lat: 1, longitude: 2}}]\n");
    assert_int_equal(selgw_diag_count(diag), 2);
    assert_diag(diag, "t.yaml:3:40: missing required key 'latitude' in coordinates");
    assert_diag(diag, "t.yaml:3:41: unknown key 'lat' in coordinates (did you mean 'latitude'?)");
    selgw_diag_free(diag);
    expect_one_error(HEAD_PLOTS "  - id: p2\n    base: b1\n    crop: tea\n    households:\n"
                                "      - {household: H1, contract: C1, from: 2024-01-01, until: "
                                "2025-01-01}\n",
                     "t.yaml:10:57: unknown key 'until' in household entry");
    expect_one_error(HEAD
                     "buses: [{id: x, type: tcp, host: h}]\n"
                     "devices:\n  - {id: d, bus: x, unit_id: 1, profile: test-soil, plot: p1,\n"
                     "     calibration: {soil_moisture: {scale: 1, ofset: 2}}}\n",
                     "t.yaml:8:46: unknown key 'ofset' in calibration of 'soil_moisture' (did you "
                     "mean 'offset'?)");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_one_error(HEAD "buses:\n  - {id: x, type: rtu, device: /dev/a, baud: fast}\n",
                     "t.yaml:6:46: baud: expected an integer, got 'fast'");
    expect_one_error(HEAD "buses:\n  - {id: x, type: rtu, device: /dev/a, baud: \"4800\"}\n",
                     "t.yaml:6:46: baud: expected an integer, got '4800'");
    expect_one_error(HEAD "buses:\n  - {id: x, type: rtu, device: [a, b]}\n",
                     "t.yaml:6:32: device: expected a string, got a sequence");
    expect_one_error(HEAD "buses:\n  - {id: x, type: serial, device: /dev/a}\n",
                     "t.yaml:6:19: type: expected rtu or tcp");
    expect_one_error(HEAD "buses:\n  - {id: x, type: rtu, device: /dev/a, parity: M}\n",
                     "t.yaml:6:48: parity: expected N, E or O (none, even, odd)");
    expect_one_error(HEAD "buses: {id: x}\n", "t.yaml:5:8: buses: expected a sequence, got a "
                                              "mapping");
    expect_one_error(HEAD "buses:\n  - {id: x, type: tcp, host: h, response_timeout: soon}\n",
                     "t.yaml:6:51: response_timeout: expected a duration such as 500ms, 30s, 5m, "
                     "1h or 1d, got 'soon'");
    expect_one_error(PROFILES_LINE "gateway: {id: gw}\nbases: [{id: b1, name: B}]\n"
                                   "plots: [{id: p1, base: b1, crop: tea, area_mu: lots}]\n",
                     "t.yaml:4:48: area_mu: expected a number, got 'lots'");
    expect_one_error(HEAD_PLOTS "  - id: p2\n    base: b1\n    crop: tea\n    households:\n"
                                "      - {household: H1, contract: C1, from: 2023-02-29}\n",
                     "t.yaml:10:45: from: expected a date YYYY-MM-DD, got '2023-02-29'");
    expect_one_error(PROFILES_LINE "gateway: {id: gw, utc_offset: 8}\n",
                     "t.yaml:2:31: utc_offset: expected an offset such as +08:00");
    expect_one_error(PROFILES_LINE "gateway: {id: \"gw 1\"}\n",
                     "t.yaml:2:15: id 'gw 1': use only letters, digits, '.', '_' and '-'");
    expect_one_error(PROFILES_LINE "gateway: [gw]\n",
                     "t.yaml:2:10: gateway: expected a mapping, got a sequence");
    expect_one_error(PROFILES_LINE "gateway: {id: gw}\nbases: [{id: b1, name: B}]\n"
                                   "plots: [{id: p1, base: b1, crop: tea, households: "
                                   "[{household: 张三, contract: C1, from: 2024-01-01}]}]\n",
                     "t.yaml:4:64: household '张三': use only letters, digits, '.', '_' and '-'");
}

static void test_out_of_range(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *message;
    } cases[] = {
        {"  - {id: x, type: rtu, device: /dev/a, baud: 4801}\n",
         "t.yaml:6:46: baud: 4801 is not one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
         "115200"},
        {"  - {id: x, type: rtu, device: /dev/a, data_bits: 9}\n",
         "t.yaml:6:51: data_bits: 9 is out of range 7..8"},
        {"  - {id: x, type: rtu, device: /dev/a, stop_bits: 0}\n",
         "t.yaml:6:51: stop_bits: 0 is out of range 1..2"},
        {"  - {id: x, type: rtu, device: /dev/a, response_timeout: 5ms}\n",
         "t.yaml:6:58: response_timeout: 5ms is out of range 10ms..30s"},
        {"  - {id: x, type: rtu, device: /dev/a, response_timeout: 31s}\n",
         "t.yaml:6:58: response_timeout: 31s is out of range 10ms..30s"},
        {"  - {id: x, type: rtu, device: /dev/a, frame_delay: 6s}\n",
         "t.yaml:6:53: frame_delay: 6s is out of range 0ms..5s"},
        {"  - {id: x, type: rtu, device: /dev/a, retries: 6}\n",
         "t.yaml:6:49: retries: 6 is out of range 0..5"},
        {"  - {id: x, type: tcp, host: h, port: 0}\n",
         "t.yaml:6:39: port: 0 is out of range 1..65535"},
        {"  - {id: x, type: tcp, host: h, port: 65536}\n",
         "t.yaml:6:39: port: 65536 is out of range 1..65535"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), HEAD "buses:\n%s", cases[i].line);
        expect_one_error(text, cases[i].message);
    }
    static const struct {
        const char *extra;
        const char *message;
    } device_cases[] = {
        {"unit_id: 248", "t.yaml:7:15: unit_id: 248 is out of range 1..247"},
        {"unit_id: 0", "t.yaml:7:15: unit_id: 0 is out of range 1..247"},
        {"unit_id: 1, interval: 50ms", "t.yaml:7:28: interval: 50ms is out of range 100ms..1d"},
        {"unit_id: 1, interval: 2d", "t.yaml:7:28: interval: 2d is out of range 100ms..1d"},
        {"unit_id: 1, max_read_registers: 126",
         "t.yaml:7:38: max_read_registers: 126 is out of range 0..125"},
        {"unit_id: 1, max_gap: -1", "t.yaml:7:27: max_gap: -1 is out of range 0..125"},
    };
    for (size_t i = 0; i < sizeof(device_cases) / sizeof(device_cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                      "  - {%s, id: d, bus: x, profile: test-soil, plot: p1}\n",
                 device_cases[i].extra);
        expect_one_error(text, device_cases[i].message);
    }
    expect_one_error(PROFILES_LINE "gateway: {id: gw}\n"
                                   "bases: [{id: b1, name: B, coordinates: {latitude: 95, "
                                   "longitude: 108}}]\n",
                     "t.yaml:3:51: latitude: 95 is out of range -90..90");
    expect_one_error(PROFILES_LINE "gateway: {id: gw}\n"
                                   "bases: [{id: b1, name: B, coordinates: {latitude: 32, "
                                   "longitude: -181}}]\n",
                     "t.yaml:3:66: longitude: -181 is out of range -180..180");
    expect_one_error(PROFILES_LINE "gateway: {id: gw}\nbases: [{id: b1, name: B}]\n"
                                   "plots: [{id: p1, base: b1, crop: tea, area_mu: -1}]\n",
                     "t.yaml:4:48: area_mu: -1 is out of range 0..1e+06");
    /* a device limit below a field's width */
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - {id: d, bus: x, unit_id: 1, profile: test-soil, plot: p1, "
                          "max_read_registers: 1}\n",
                     "t.yaml:7:83: max_read_registers: 1 is too small for field 'soil_ec' (u32, "
                     "2 registers) of profile 'test-soil'");
}

static void test_missing_required_keys(void **state)
{
    (void)state;
    expect_one_error(PROFILES_LINE "bases: []\n", "t.yaml:1:1: missing required key 'gateway' in "
                                                  "config");
    expect_one_error(PROFILES_LINE "gateway:\n  location: x\n",
                     "t.yaml:3:3: missing required key 'id' in gateway");
    expect_one_error(PROFILES_LINE "gateway:\n  id:\n", "t.yaml:3:3: id: a value is required");
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - id: d\n    bus: x\n    unit_id: 1\n    plot: p1\n",
                     "t.yaml:7:5: missing required key 'profile' in device 'd'");
    expect_one_error(HEAD "buses:\n  - id: x\n    type: rtu\n",
                     "t.yaml:6:5: missing required key 'device' in bus 'x'");
    expect_one_error(HEAD "buses:\n  - {id: x, type: tcp}\n",
                     "t.yaml:6:5: missing required key 'host' in bus 'x'");
    expect_one_error(HEAD "buses:\n  - {type: tcp, host: h}\n",
                     "t.yaml:6:5: missing required key 'id' in bus");
    expect_one_error(HEAD_PLOTS "  - id: p2\n    base: b1\n    crop: tea\n    households:\n"
                                "      - {household: H1, from: 2024-01-01}\n",
                     "t.yaml:10:9: missing required key 'contract' in household entry");
}

static void test_duplicate_ids(void **state)
{
    (void)state;
    expect_one_error(PROFILES_LINE "gateway: {id: gw}\nbases:\n  - {id: b1, name: A}\n"
                                   "  - {id: b1, name: B}\n",
                     "t.yaml:5:10: duplicate base id 'b1' (first defined at 4:10)");
    expect_one_error(HEAD_PLOTS "  - {id: p1, base: b1, crop: tea}\n",
                     "t.yaml:6:10: duplicate plot id 'p1' (first defined at 5:10)");
    expect_one_error(HEAD "buses:\n  - {id: x, type: tcp, host: a}\n"
                          "  - {id: x, type: tcp, host: b}\n",
                     "t.yaml:7:10: duplicate bus id 'x' (first defined at 6:10)");
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - {id: d, bus: x, unit_id: 1, profile: test-soil, plot: p1}\n"
                          "  - {id: d, bus: x, unit_id: 2, profile: test-soil, plot: p1}\n",
                     "t.yaml:8:10: duplicate device id 'd' (first defined at 7:10)");
}

static void test_unknown_references(void **state)
{
    (void)state;
    expect_one_error(PROFILES_LINE "gateway: {id: gw}\nbases: [{id: hanwang, name: B}]\n"
                                   "plots: [{id: p1, base: hangwang, crop: tea}]\n",
                     "t.yaml:4:24: unknown base 'hangwang' (did you mean 'hanwang'?)");
    expect_one_error(HEAD "buses: [{id: rs485-1, type: tcp, host: h}]\ndevices:\n"
                          "  - {id: d, bus: rs485-2, unit_id: 1, profile: test-soil, plot: p1}\n",
                     "t.yaml:7:18: unknown bus 'rs485-2' (did you mean 'rs485-1'?)");
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - {id: d, bus: x, unit_id: 1, profile: test-soil, plot: elsewhere}\n",
                     "t.yaml:7:59: unknown plot 'elsewhere'");
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - {id: d, bus: x, unit_id: 1, profile: test-soul, plot: p1}\n",
                     "t.yaml:7:42: unknown profile 'test-soul' (did you mean 'test-soil'?)");
}

static void test_unit_id_clash_on_one_bus(void **state)
{
    (void)state;
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - {id: d1, bus: x, unit_id: 5, profile: test-soil, plot: p1}\n"
                          "  - {id: d2, bus: x, unit_id: 5, profile: test-soil, plot: p1}\n",
                     "t.yaml:8:31: unit id 5 on bus 'x' is already used by device 'd1' (at 7:31)");
    /* the same unit id on two buses is fine */
    selgw_config *cfg = load_good(HEAD "buses:\n  - {id: x, type: tcp, host: h}\n"
                                       "  - {id: y, type: tcp, host: h, port: 503}\n"
                                       "devices:\n"
                                       "  - {id: d1, bus: x, unit_id: 5, profile: test-soil, plot: "
                                       "p1}\n"
                                       "  - {id: d2, bus: y, unit_id: 5, profile: test-soil, plot: "
                                       "p1}\n");
    assert_int_equal(cfg->devices[1].bus, 1);
    selgw_config_free(cfg);
}

static void test_contracts_checked(void **state)
{
    (void)state;
    expect_one_error(HEAD_PLOTS "  - id: p2\n    base: b1\n    crop: tea\n    households:\n"
                                "      - {household: H1, contract: C1, from: 2024-03-01, to: "
                                "2024-02-29}\n",
                     "t.yaml:10:61: contract 'C1' ends (2024-02-29) before it starts (2024-03-01)");
    expect_one_error(HEAD_PLOTS
                     "  - id: p2\n    base: b1\n    crop: tea\n    households:\n"
                     "      - {household: H1, contract: C1, from: 2024-03-01, to: 2026-02-28}\n"
                     "      - {household: H1, contract: C2, from: 2026-02-28}\n",
                     "t.yaml:11:9: household 'H1' is contracted twice on plot 'p2' for overlapping "
                     "periods: 'C2' (2026-02-28..open-ended) and 'C1' (2024-03-01..2026-02-28, at "
                     "10:9)");
    /* open-ended contract overlaps any later one of the same household */
    expect_one_error(HEAD_PLOTS
                     "  - id: p2\n    base: b1\n    crop: tea\n    households:\n"
                     "      - {household: H1, contract: C1, from: 2024-03-01}\n"
                     "      - {household: H1, contract: C2, from: 2030-01-01, to: 2031-01-01}\n",
                     "t.yaml:11:9: household 'H1' is contracted twice on plot 'p2'");
    /* different households may overlap; one household may follow itself */
    selgw_config *cfg = load_good(
        HEAD_PLOTS "  - id: p2\n    base: b1\n    crop: tea\n    households:\n"
                   "      - {household: H1, contract: C1, from: 2024-03-01, to: 2026-02-28}\n"
                   "      - {household: H2, contract: C2, from: 2024-03-01}\n"
                   "      - {household: H1, contract: C3, from: 2026-03-01}\n");
    assert_int_equal(cfg->plots[1].contract_count, 3);
    selgw_config_free(cfg);
}

static void test_bus_options_of_the_other_kind(void **state)
{
    (void)state;
    expect_one_error(HEAD "buses:\n  - {id: x, type: rtu, device: /dev/a, host: h}\n",
                     "t.yaml:6:40: 'host' is an option of tcp buses; bus 'x' has type rtu");
    selgw_diag *diag = load_bad(HEAD "buses:\n  - id: x\n    type: tcp\n    host: h\n"
                                     "    device: /dev/a\n    baud: 9600\n    parity: N\n"
                                     "    data_bits: 8\n    stop_bits: 1\n    port: 502\n");
    assert_int_equal(selgw_diag_count(diag), 5);
    assert_diag(diag, "t.yaml:9:5: 'device' is an option of rtu buses; bus 'x' has type tcp");
    assert_diag(diag, "t.yaml:10:5: 'baud' is an option of rtu buses; bus 'x' has type tcp");
    assert_diag(diag, "t.yaml:11:5: 'parity' is an option of rtu buses");
    assert_diag(diag, "t.yaml:12:5: 'data_bits' is an option of rtu buses");
    assert_diag(diag, "t.yaml:13:5: 'stop_bits' is an option of rtu buses");
    selgw_diag_free(diag);
}

static void test_calibration_of_unknown_field(void **state)
{
    (void)state;
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - id: d\n    bus: x\n    unit_id: 1\n    profile: test-soil\n"
                          "    plot: p1\n    calibration:\n      soil_moisture: {offset: 1}\n"
                          "      soil_moist: {offset: 1}\n",
                     "t.yaml:14:7: calibration for 'soil_moist': profile 'test-soil' has no such "
                     "field (did you mean 'soil_moisture'?)");
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - {id: d, bus: x, unit_id: 1, profile: test-soil, plot: p1,\n"
                          "     calibration: {soil_ph: {offset: 0.2}}}\n",
                     "t.yaml:8:20: calibration for 'soil_ph': profile 'test-soil' has no such "
                     "field (it has soil_moisture, soil_temperature, soil_ec)");
    expect_one_error(HEAD "buses: [{id: x, type: tcp, host: h}]\ndevices:\n"
                          "  - {id: d, bus: x, unit_id: 1, profile: test-soil, plot: p1,\n"
                          "     calibration: {soil_ec: {scale: 0}}}\n",
                     "t.yaml:8:37: scale must not be 0");
}

static void test_shared_line_or_endpoint(void **state)
{
    (void)state;
    expect_one_error(HEAD "buses:\n  - {id: a, type: rtu, device: /dev/ttyUSB0}\n"
                          "  - {id: b, type: rtu, device: /dev/ttyUSB0, baud: 4800}\n",
                     "t.yaml:7:32: bus 'b' uses serial device '/dev/ttyUSB0', already used by bus "
                     "'a' (at 6:32)");
    expect_one_error(HEAD "buses:\n  - {id: a, type: tcp, host: 10.0.0.5}\n"
                          "  - {id: b, type: tcp, host: 10.0.0.5, port: 502}\n",
                     "t.yaml:7:30: bus 'b' connects to 10.0.0.5:502, already used by bus 'a' (at "
                     "6:30)");
    selgw_config *cfg = load_good(HEAD "buses:\n  - {id: a, type: tcp, host: 10.0.0.5}\n"
                                       "  - {id: b, type: tcp, host: 10.0.0.5, port: 503}\n"
                                       "  - {id: c, type: rtu, device: /dev/ttyUSB0}\n"
                                       "  - {id: d, type: rtu, device: /dev/ttyUSB1}\n");
    assert_int_equal(cfg->bus_count, 4);
    selgw_config_free(cfg);
}

/* One file, many problems: all of them are reported, in file order. */
static void test_all_errors_of_a_file(void **state)
{
    (void)state;
    selgw_diag *diag = load_bad(PROFILES_LINE "gateway:\n"
                                              "  id: gw\n"
                                              "  utc_offest: \"+08:00\"\n"
                                              "bases:\n"
                                              "  - {id: b1, name: B}\n"
                                              "plots:\n"
                                              "  - {id: p1, base: b2, crop: tea}\n"
                                              "buses:\n"
                                              "  - id: rs485-1\n"
                                              "    type: rtu\n"
                                              "    device: /dev/ttyUSB0\n"
                                              "    bauds: 4800\n"
                                              "devices:\n"
                                              "  - id: d1\n"
                                              "    bus: rs485-1\n"
                                              "    unit_id: 300\n"
                                              "    profile: test-soil\n"
                                              "    plot: p1\n"
                                              "  - id: d1\n"
                                              "    bus: rs485-1\n"
                                              "    profile: nope\n"
                                              "    plot: p1\n");
    static const char *const expected[] = {
        "t.yaml:4:3: unknown key 'utc_offest' in gateway (did you mean 'utc_offset'?)",
        "t.yaml:8:20: unknown base 'b2' (did you mean 'b1'?)",
        "t.yaml:13:5: unknown key 'bauds' in bus (did you mean 'baud'?)",
        "t.yaml:17:14: unit_id: 300 is out of range 1..247",
        "t.yaml:20:5: missing required key 'unit_id' in device 'd1'",
        "t.yaml:20:9: duplicate device id 'd1' (first defined at 15:9)",
        "t.yaml:22:14: unknown profile 'nope'",
    };
    size_t n = sizeof(expected) / sizeof(expected[0]);
    if (selgw_diag_count(diag) != n)
        print_diag(diag);
    assert_int_equal(selgw_diag_count(diag), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(selgw_diag_message(diag, i), expected[i]);
    selgw_diag_free(diag);
}

/* Anchors, aliases and merge keys are resolved before the config is read. */
static void test_anchors_and_aliases(void **state)
{
    (void)state;
    selgw_config *cfg =
        load_good(HEAD "buses:\n"
                       "  - {id: a, type: rtu, device: /dev/ttyUSB0, baud: &baud 4800}\n"
                       "  - {id: b, type: rtu, device: /dev/ttyUSB1, baud: *baud}\n"
                       "devices:\n"
                       "  - {id: d1, bus: a, unit_id: 1, profile: test-soil, plot: p1,\n"
                       "     calibration: &cal {soil_ec: {scale: 2}}}\n"
                       "  - {id: d2, bus: b, unit_id: 1, profile: test-soil, plot: p1,\n"
                       "     calibration: *cal}\n");
    assert_int_equal(cfg->bus_count, 2);
    assert_int_equal(cfg->buses[1].baud, 4800);
    assert_string_equal(cfg->buses[1].device, "/dev/ttyUSB1");
    assert_true(selgw_device_calibration(&cfg->devices[1], 2).scale == 2);
    selgw_config_free(cfg);
    selgw_diag *diag = load_bad(HEAD "buses: [{id: a, type: tcp, host: *nowhere}]\n");
    assert_int_equal(selgw_diag_count(diag), 1);
    assert_diag(diag, "t.yaml:5:");
    selgw_diag_free(diag);
    expect_one_error(HEAD "buses:\n"
                          "  - &rtu {id: a, type: rtu, device: /dev/ttyUSB0, baud: 4800}\n"
                          "  - {<<: *rtu, id: b, device: /dev/ttyUSB1}\n",
                     "t.yaml:7:6: merge keys ('<<') are not supported: write the keys out");
    /* a key that is not a plain name */
    expect_one_error(HEAD "buses:\n  - {id: a, type: tcp, host: h, [x]: 1}\n",
                     "t.yaml:6:33: keys in bus must be plain names");
}

static void test_io_errors(void **state)
{
    (void)state;
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = (selgw_config *)1;
    assert_int_equal(selgw_config_load_file("no-such-config.yaml", diag, &cfg), SELGW_ERR_IO);
    assert_null(cfg);
    assert_diag(diag, "no-such-config.yaml: cannot open: No such file or directory");
    selgw_diag_free(diag);
    expect_one_error("profiles_dir: ../no-such-dir\ngateway: {id: gw}\n",
                     "t.yaml:1:15: profiles_dir: './../no-such-dir' is not a directory");
}

/* A rejected profile is reported in its own file, and the config is still read through. */
static void test_broken_profile_dir(void **state)
{
    (void)state;
    selgw_diag *diag = load_bad("profiles_dir: ../profiles/bad\n"
                                "gateway: {id: gw, colour: red}\n");
    assert_diag(diag, "./../profiles/bad/errors.yaml:5:1: unknown key 'colour' in profile");
    assert_diag(diag, "./../profiles/bad/errors.yaml:29:5: unknown key 'ordre' in field");
    assert_diag(diag, "t.yaml:2:19: unknown key 'colour' in gateway");
    selgw_diag_free(diag);
}

/* ---- contracts by date and local days ---- */

static void test_contracts_on(void **state)
{
    (void)state;
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    assert_int_equal(selgw_config_load_file(SELGW_TEST_DATA "/config/valid.yaml", diag, &cfg),
                     SELGW_OK);
    const selgw_plot *p1 = &cfg->plots[0];
    const selgw_contract *out[4];
    /* before every contract */
    assert_int_equal(selgw_plot_contracts_on(p1, day("2024-02-29"), out, 4), 0);
    /* first day: both start, boundaries inclusive */
    assert_int_equal(selgw_plot_contracts_on(p1, day("2024-03-01"), out, 4), 2);
    assert_string_equal(out[0]->contract, "ZY-2024-001");
    assert_string_equal(out[1]->contract, "ZY-2024-002");
    /* last day of the first contract of HH-001 */
    assert_int_equal(selgw_plot_contracts_on(p1, day("2027-02-28"), out, 4), 2);
    assert_string_equal(out[0]->contract, "ZY-2024-001");
    /* next day: HH-001's renewal, HH-002 open-ended */
    assert_int_equal(selgw_plot_contracts_on(p1, day("2027-03-01"), out, 4), 2);
    assert_string_equal(out[0]->contract, "ZY-2024-002");
    assert_string_equal(out[1]->contract, "ZY-2027-001");
    /* far future: open-ended contracts only */
    assert_int_equal(selgw_plot_contracts_on(p1, day("2099-12-31"), out, 4), 2);
    /* max smaller than the count: the count is still the total */
    out[1] = NULL;
    assert_int_equal(selgw_plot_contracts_on(p1, day("2025-01-01"), out, 1), 2);
    assert_null(out[1]);
    assert_int_equal(selgw_plot_contracts_on(&cfg->plots[1], day("2025-01-01"), out, 4), 0);
    selgw_config_free(cfg);
    selgw_diag_free(diag);
}

static void test_local_day(void **state)
{
    (void)state;
    selgw_config *cfg = load_good(PROFILES_LINE "gateway: {id: gw}\n");
    const int64_t ns = 1000000000;
    int64_t midnight_utc = (int64_t)day("2024-03-01") * 86400 * ns;
    /* 2024-03-01 15:59:59.999999999 UTC is 23:59:59 in UTC+8: still 03-01 */
    assert_int_equal(selgw_config_local_day(cfg, midnight_utc + 16 * 3600 * ns - 1),
                     day("2024-03-01"));
    /* 16:00:00 UTC is midnight in UTC+8: 03-02 */
    assert_int_equal(selgw_config_local_day(cfg, midnight_utc + 16 * 3600 * ns), day("2024-03-02"));
    /* 00:00 UTC is 08:00 local, same day; 23:59 UTC on 02-29 is 07:59 on 03-01 */
    assert_int_equal(selgw_config_local_day(cfg, midnight_utc), day("2024-03-01"));
    assert_int_equal(selgw_config_local_day(cfg, midnight_utc - 60 * ns), day("2024-03-01"));
    assert_int_equal(selgw_config_local_day(cfg, midnight_utc - 8 * 3600 * ns - 1),
                     day("2024-02-29"));
    /* before 1970 in UTC+8: 1969-12-31 15:59:59 UTC is 23:59:59 local */
    assert_int_equal(selgw_config_local_day(cfg, -8 * 3600 * ns - 1), -1);
    assert_int_equal(selgw_config_local_day(cfg, -8 * 3600 * ns), 0);
    selgw_config_free(cfg);

    cfg = load_good(PROFILES_LINE "gateway: {id: gw, utc_offset: \"+00:00\"}\n");
    assert_int_equal(cfg->utc_offset_minutes, 0);
    assert_int_equal(selgw_config_local_day(cfg, -1), -1); /* floor, not truncation */
    assert_int_equal(selgw_config_local_day(cfg, 0), 0);
    assert_int_equal(selgw_config_local_day(cfg, 86400 * ns - 1), 0);
    assert_int_equal(selgw_config_local_day(cfg, -86400 * ns), -1);
    assert_int_equal(selgw_config_local_day(cfg, -86400 * ns - 1), -2);
    selgw_config_free(cfg);

    cfg = load_good(PROFILES_LINE "gateway: {id: gw, utc_offset: -05:30}\n");
    assert_int_equal(cfg->utc_offset_minutes, -330);
    assert_int_equal(selgw_config_local_day(cfg, 5 * 3600 * ns), -1);
    assert_int_equal(selgw_config_local_day(cfg, 5 * 3600 * ns + 30 * 60 * ns), 0);
    selgw_config_free(cfg);
}

/* ---- text parsers ---- */

static void test_parse_int(void **state)
{
    (void)state;
    int64_t v;
    assert_true(selgw_parse_int("010", &v));
    assert_int_equal(v, 10);
    assert_true(selgw_parse_int("0x10", &v));
    assert_int_equal(v, 16);
    assert_true(selgw_parse_int("0XfF", &v));
    assert_int_equal(v, 255);
    assert_true(selgw_parse_int("0x0000", &v));
    assert_int_equal(v, 0);
    assert_true(selgw_parse_int("-42", &v));
    assert_int_equal(v, -42);
    assert_true(selgw_parse_int("+7", &v));
    assert_int_equal(v, 7);
    assert_true(selgw_parse_int("9223372036854775807", &v));
    assert_true(v == INT64_MAX);
    assert_true(selgw_parse_int("-9223372036854775808", &v));
    assert_true(v == INT64_MIN);
    assert_true(selgw_parse_int("0x7fffffffffffffff", &v));
    v = 99;
    assert_false(selgw_parse_int("9223372036854775808", &v));
    assert_false(selgw_parse_int("0x8000000000000000", &v));
    assert_false(selgw_parse_int("0x", &v));
    assert_false(selgw_parse_int("0xg", &v));
    assert_false(selgw_parse_int("", &v));
    assert_false(selgw_parse_int("-", &v));
    assert_false(selgw_parse_int("1.0", &v));
    assert_false(selgw_parse_int("1e3", &v));
    assert_false(selgw_parse_int(" 1", &v));
    assert_false(selgw_parse_int("1_000", &v));
    assert_false(selgw_parse_int("0b101", &v));
    assert_false(selgw_parse_int("-0x10", &v));
    assert_int_equal(v, 99); /* untouched on failure */
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"500ms", 500}, {"30s", 30000},  {"5m", 300000},  {"1h", 3600000}, {"1d", 86400000},
        {"60", 60000},  {"0", 0},        {"0ms", 0},      {"1.5s", 1500},  {"0.1s", 100},
        {"2.5", 2500},  {"0.5m", 30000}, {"010s", 10000}, {"1min", 60000},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ms = -1;
        assert_true(selgw_parse_duration_ms(good[i].text, &ms));
        assert_int_equal(ms, good[i].ms);
    }
    static const char *const bad[] = {"",    "ms",   "-1s",   "1 s", "1.5ms", "1s30", "1m30s",
                                      "5 m", "1e3s", "0x10s", "1S",  ".s",    "inf",  "1w"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 7;
        assert_false(selgw_parse_duration_ms(bad[i], &ms));
        assert_int_equal(ms, 7);
    }
}

static void test_parse_date(void **state)
{
    (void)state;
    int32_t d;
    assert_true(selgw_parse_date("1970-01-01", &d));
    assert_int_equal(d, 0);
    assert_true(selgw_parse_date("1969-12-31", &d));
    assert_int_equal(d, -1);
    assert_true(selgw_parse_date("2000-02-29", &d)); /* divisible by 400: leap */
    assert_int_equal(d, 11016);
    assert_true(selgw_parse_date("2024-02-29", &d));
    assert_true(selgw_parse_date("2024-03-01", &d));
    assert_int_equal(d, 19783);
    assert_false(selgw_parse_date("2023-02-29", &d));
    assert_false(selgw_parse_date("1900-02-29", &d)); /* divisible by 100: not leap */
    assert_false(selgw_parse_date("2024-04-31", &d));
    assert_false(selgw_parse_date("2024-13-01", &d));
    assert_false(selgw_parse_date("2024-00-10", &d));
    assert_false(selgw_parse_date("2024-01-00", &d));
    assert_false(selgw_parse_date("2024-1-01", &d));
    assert_false(selgw_parse_date("2024/01/01", &d));
    assert_false(selgw_parse_date("2024-01-01T00:00", &d));
    int year;
    unsigned month, mday;
    selgw_civil_from_days(19783, &year, &month, &mday);
    assert_int_equal(year, 2024);
    assert_int_equal(month, 3);
    assert_int_equal(mday, 1);
}

static void test_parse_double_and_suggestions(void **state)
{
    (void)state;
    double v;
    assert_true(selgw_parse_double("-1.5", &v) && v == -1.5);
    assert_true(selgw_parse_double("1e-2", &v) && v == 0.01);
    assert_true(selgw_parse_double(".5", &v) && v == 0.5);
    assert_true(selgw_parse_double("7", &v) && v == 7);
    assert_false(selgw_parse_double("nan", &v));
    assert_false(selgw_parse_double("inf", &v));
    assert_false(selgw_parse_double("0x1p3", &v));
    assert_false(selgw_parse_double("1e999", &v));
    assert_false(selgw_parse_double("1,5", &v));
    assert_false(selgw_parse_double(".", &v));
    assert_int_equal(selgw_edit_distance("bauds", "baud"), 1);
    assert_int_equal(selgw_edit_distance("kitten", "sitting"), 3);
    static const char *const keys[] = {"baud", "parity", "data_bits", "stop_bits", NULL};
    assert_string_equal(selgw_closest("bauds", keys), "baud");
    assert_string_equal(selgw_closest("stopbits", keys), "stop_bits");
    assert_null(selgw_closest("colour", keys));
    static const char *const fields[] = {"soil_moisture", "soil_temperature", "soil_ec", NULL};
    assert_null(selgw_closest("soil_ph", fields));
    assert_string_equal(selgw_closest("soil_moist", fields), "soil_moisture");
    assert_string_equal(selgw_closest("soil_tempreature", fields), "soil_temperature");
    static const char *const buses[] = {"rs485-1", "tcp-0", NULL};
    assert_string_equal(selgw_closest("rs485-2", buses), "rs485-1");
}

/* ---- shipped configs ---- */

static void test_builtin_demo(void **state)
{
    (void)state;
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    selgw_err err = selgw_config_load_builtin_demo(diag, &cfg);
    print_diag(diag);
    assert_int_equal(err, SELGW_OK);
    assert_string_equal(cfg->path, "<builtin>/demo.yaml");
    assert_string_equal(cfg->gateway_id, "demo-gw");
    assert_int_equal(cfg->base_count, 1);
    assert_true(cfg->plot_count >= 2 && cfg->plot_count <= 3);
    assert_int_equal(cfg->bus_count, 2);
    size_t tcp_devices = 0, rtu_devices = 0;
    for (size_t b = 0; b < cfg->bus_count; b++) {
        const selgw_bus *bus = &cfg->buses[b];
        size_t n = 0;
        for (size_t d = 0; d < cfg->device_count; d++)
            n += cfg->devices[d].bus == b;
        if (bus->kind == SELGW_BUS_TCP) {
            assert_string_equal(bus->host, "127.0.0.1");
            assert_int_equal(bus->port, 15502);
            tcp_devices = n;
        } else {
            assert_string_equal(bus->device, "/tmp/selgw-demo/rs485-0");
            assert_int_equal(bus->baud, 9600);
            assert_int_equal(bus->parity, 'N');
            assert_int_equal(bus->data_bits, 8);
            assert_int_equal(bus->stop_bits, 1);
            rtu_devices = n;
        }
    }
    assert_int_equal(tcp_devices, 3);
    assert_int_equal(rtu_devices, 4);
    for (size_t d = 0; d < cfg->device_count; d++) {
        assert_true(cfg->devices[d].interval_ms >= 2000);
        assert_true(cfg->devices[d].interval_ms <= 5000);
    }
    selgw_config_free(cfg);
    selgw_diag_free(diag);
}

static void test_example_tea_base(void **state)
{
    (void)state;
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    selgw_err err =
        selgw_config_load_file(SELGW_SOURCE_DIR "/config/example-tea-base.yaml", diag, &cfg);
    print_diag(diag);
    assert_int_equal(err, SELGW_OK);
    assert_true(cfg->plot_count >= 3);
    size_t rtu = 0, tcp = 0;
    for (size_t b = 0; b < cfg->bus_count; b++) {
        if (cfg->buses[b].kind == SELGW_BUS_RTU) {
            rtu++;
            assert_int_equal(cfg->buses[b].baud, 4800);
        } else {
            tcp++;
        }
    }
    assert_int_equal(rtu, 1);
    assert_int_equal(tcp, 1);
    size_t households = 0;
    for (size_t p = 0; p < cfg->plot_count; p++)
        households += cfg->plots[p].contract_count;
    assert_true(households >= 4);
    selgw_config_free(cfg);
    selgw_diag_free(diag);
}

static void test_every_file_in_config_dir(void **state)
{
    (void)state;
    DIR *dir = opendir(SELGW_SOURCE_DIR "/config");
    assert_non_null(dir);
    struct dirent *entry;
    size_t loaded = 0;
    while ((entry = readdir(dir))) {
        size_t len = strlen(entry->d_name);
        if (len < 6 || strcmp(entry->d_name + len - 5, ".yaml"))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/config/%s", SELGW_SOURCE_DIR, entry->d_name);
        selgw_diag *diag = selgw_diag_new();
        selgw_config *cfg = NULL;
        selgw_err err = selgw_config_load_file(path, diag, &cfg);
        if (err != SELGW_OK) {
            print_diag(diag);
            fail_msg("%s does not load", path);
        }
        selgw_config_free(cfg);
        selgw_diag_free(diag);
        loaded++;
    }
    closedir(dir);
    assert_true(loaded >= 2);
}

static void test_free_null(void **state)
{
    (void)state;
    selgw_config_free(NULL);
    selgw_calibration cal = selgw_device_calibration(NULL, 0);
    assert_true(cal.scale == 1 && cal.offset == 0);
    assert_int_equal(selgw_plot_contracts_on(NULL, 0, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_structure),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_unknown_keys_everywhere),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_missing_required_keys),
        cmocka_unit_test(test_duplicate_ids),
        cmocka_unit_test(test_unknown_references),
        cmocka_unit_test(test_unit_id_clash_on_one_bus),
        cmocka_unit_test(test_contracts_checked),
        cmocka_unit_test(test_bus_options_of_the_other_kind),
        cmocka_unit_test(test_calibration_of_unknown_field),
        cmocka_unit_test(test_shared_line_or_endpoint),
        cmocka_unit_test(test_all_errors_of_a_file),
        cmocka_unit_test(test_anchors_and_aliases),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_broken_profile_dir),
        cmocka_unit_test(test_contracts_on),
        cmocka_unit_test(test_local_day),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_parse_double_and_suggestions),
        cmocka_unit_test(test_builtin_demo),
        cmocka_unit_test(test_example_tea_base),
        cmocka_unit_test(test_every_file_in_config_dir),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, setup_cwd, NULL);
}
