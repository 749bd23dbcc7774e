/* The poller and the generic transport layer, driven through a transport test double:
 * request plans sent as planned, decoding and calibration, retries, giving up early on a
 * dead device, partial answers, backoff, reconnecting, and the scheduling thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "poll/poller.h"

/* cmocka 1.1 has no floating-point assertion. */
#define assert_double_equal(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

/* ---- the transport double ------------------------------------------------------------ */

enum fake_mode { FAKE_OK, FAKE_TIMEOUT, FAKE_EXCEPTION, FAKE_BAD_FRAME };

typedef struct fake_unit {
    enum fake_mode mode;
    int exception_code;
    int fail_count;   /* reads that fail with `mode` before the unit answers; -1 all */
    int fail_address; /* only reads at this address fail; -1 any address */
    uint16_t regs[256];
    unsigned reads;         /* read calls that reached this unit */
    int timeout_sleep_ms;   /* how long a timeout takes (threaded tests) */
    int refuse_longer_than; /* reads of more registers get exception 2; 0: never */
} fake_unit;

static struct fake_bus {
    pthread_mutex_t lock;
    fake_unit units[248];
    unsigned opens, closes;
    int open_failures_left; /* opens that fail before one succeeds */
    bool drop_link_once;    /* the next read reports a lost link */
    selgw_read_request log[64];
    int log_units[64];
    size_t log_count;
} fake;

static void fake_reset(void)
{
    memset(&fake, 0, sizeof fake);
    pthread_mutex_init(&fake.lock, NULL);
    for (int i = 0; i < 248; i++) {
        fake.units[i].fail_address = -1;
        fake.units[i].fail_count = -1;
    }
}

static selgw_err fake_create(const selgw_bus *bus, void **state)
{
    (void)bus;
    *state = &fake;
    return SELGW_OK;
}

static void fake_destroy(void *state)
{
    (void)state;
}

static selgw_err fake_open(void *state)
{
    (void)state;
    pthread_mutex_lock(&fake.lock);
    fake.opens++;
    selgw_err err = SELGW_OK;
    if (fake.open_failures_left > 0) {
        fake.open_failures_left--;
        err = SELGW_ERR_CONNECT;
    }
    pthread_mutex_unlock(&fake.lock);
    return err;
}

static void fake_close(void *state)
{
    (void)state;
    fake.closes++;
}

static selgw_err fake_read(void *state, int unit_id, const selgw_read_request *rq, uint16_t *regs,
                           uint8_t *bits, int *exception_code, char *why, size_t why_cap)
{
    (void)state;
    (void)bits;
    pthread_mutex_lock(&fake.lock);
    fake_unit *u = &fake.units[unit_id];
    u->reads++;
    if (fake.log_count < 64) {
        fake.log[fake.log_count] = *rq;
        fake.log_units[fake.log_count++] = unit_id;
    }
    if (fake.drop_link_once) {
        fake.drop_link_once = false;
        pthread_mutex_unlock(&fake.lock);
        return SELGW_ERR_DISCONNECTED;
    }
    enum fake_mode mode = u->mode;
    if (u->fail_address >= 0 && u->fail_address != rq->address)
        mode = FAKE_OK;
    if (mode != FAKE_OK && u->fail_count >= 0) {
        if (u->fail_count == 0)
            mode = FAKE_OK;
        else
            u->fail_count--;
    }
    if (u->refuse_longer_than > 0 && rq->count > u->refuse_longer_than) {
        mode = FAKE_EXCEPTION;
        u->exception_code = 2;
    }
    int sleep_ms = u->timeout_sleep_ms;
    selgw_err err = SELGW_OK;
    switch (mode) {
    case FAKE_OK:
        memcpy(regs, &u->regs[rq->address], rq->count * sizeof *regs);
        break;
    case FAKE_TIMEOUT:
        err = SELGW_ERR_TIMEOUT;
        break;
    case FAKE_EXCEPTION:
        *exception_code = u->exception_code;
        err = SELGW_ERR_EXCEPTION;
        break;
    case FAKE_BAD_FRAME:
        snprintf(why, why_cap, "reply is for unit %d, the request was to unit %d", unit_id + 1,
                 unit_id);
        err = SELGW_ERR_BAD_FRAME;
        break;
    }
    pthread_mutex_unlock(&fake.lock);
    if (err == SELGW_ERR_TIMEOUT && sleep_ms > 0) {
        struct timespec ts = {.tv_sec = sleep_ms / 1000, .tv_nsec = (sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return err;
}

static const selgw_transport_ops fake_ops = {
    .name = "fake",
    .create = fake_create,
    .destroy = fake_destroy,
    .open = fake_open,
    .close = fake_close,
    .read = fake_read,
};

/* ---- a hand-built config ------------------------------------------------------------ */

/* Profile: moisture u16/10 at 0, temperature s16/10 at 1, EC u16 at 2, and pH u16/100 at
 * 20 (a hole of 17 registers: a second request with max_gap 4). */
static selgw_field fields[4];
static selgw_profile profile;
static selgw_contract contracts[2];
static selgw_base base;
static selgw_plot plot;
static selgw_bus bus;
static selgw_field_calibration calibration;
static selgw_device devices[3];
static selgw_config cfg;

static void config_init(int retries)
{
    fields[0] = (selgw_field){.name = "soil_moisture",
                              .function = 3,
                              .address = 0,
                              .type = SELGW_TYPE_U16,
                              .scale = 0.1,
                              .unit = "%",
                              .has_min = true,
                              .min = 0,
                              .has_max = true,
                              .max = 100};
    fields[1] = (selgw_field){.name = "soil_temperature",
                              .function = 3,
                              .address = 1,
                              .type = SELGW_TYPE_S16,
                              .scale = 0.1,
                              .unit = "degC"};
    fields[2] = (selgw_field){.name = "soil_ec",
                              .function = 3,
                              .address = 2,
                              .type = SELGW_TYPE_U16,
                              .scale = 1,
                              .unit = "uS/cm"};
    fields[3] = (selgw_field){.name = "soil_ph",
                              .function = 3,
                              .address = 20,
                              .type = SELGW_TYPE_U16,
                              .scale = 0.01,
                              .unit = "pH"};
    profile = (selgw_profile){.name = "test-soil",
                              .max_read_registers = 125,
                              .max_gap = 4,
                              .field_count = 4,
                              .fields = fields};
    /* One contract valid all the time, one that ended in 1999. */
    contracts[0] = (selgw_contract){
        .household = "HH-001", .contract = "C-1", .from_day = 0, .to_day = INT32_MAX};
    contracts[1] =
        (selgw_contract){.household = "HH-002", .contract = "C-2", .from_day = 0, .to_day = 10956};
    base = (selgw_base){.id = "b"};
    plot = (selgw_plot){.id = "p", .crop = "tea", .contract_count = 2, .contracts = contracts};
    bus = (selgw_bus){.id = "line",
                      .kind = SELGW_BUS_RTU,
                      .retries = retries,
                      .response_timeout_ms = 100,
                      .baud = 9600,
                      .parity = 'N',
                      .data_bits = 8,
                      .stop_bits = 1};
    calibration = (selgw_field_calibration){.field = 0, .cal = {.scale = 1, .offset = -1.5}};
    for (int i = 0; i < 3; i++)
        devices[i] = (selgw_device){.id = i == 0   ? "d1"
                                          : i == 1 ? "d2"
                                                   : "d3",
                                    .unit_id = i + 1,
                                    .profile = &profile,
                                    .interval_ms = 100,
                                    .serial = "",
                                    .max_gap = -1};
    devices[0].calibration_count = 1;
    devices[0].calibrations = &calibration;
    cfg = (selgw_config){.gateway_id = "gw",
                         .utc_offset_minutes = 480,
                         .base_count = 1,
                         .bases = &base,
                         .plot_count = 1,
                         .plots = &plot,
                         .bus_count = 1,
                         .buses = &bus,
                         .device_count = 3,
                         .devices = devices};
}

/* ---- what the poller emitted --------------------------------------------------------- */

typedef struct captured {
    char device[8];
    selgw_err status;
    int exception_code;
    unsigned attempts;
    size_t contract_count;
    struct {
        double value;
        selgw_quality quality;
    } values[4];
    int64_t time_ns;
    int64_t oldest_ns; /* what the poller said of its oldest poll while emitting this one */
} captured;

static struct {
    pthread_mutex_t lock;
    captured items[4096];
    size_t count;
    selgw_poller *watched; /* asked for its oldest poll at every emit */
} out;

static void capture(void *ctx, const selgw_device *dev, const selgw_reading *r)
{
    (void)ctx;
    (void)dev;
    pthread_mutex_lock(&out.lock);
    if (out.count < 4096) {
        captured *c = &out.items[out.count++];
        strncpy(c->device, r->device, sizeof c->device - 1);
        c->status = r->status;
        c->exception_code = r->exception_code;
        c->attempts = r->attempts;
        c->contract_count = r->household_count;
        for (size_t i = 0; i < r->field_count && i < 4; i++) {
            c->values[i].value = r->fields[i].value;
            c->values[i].quality = r->fields[i].quality;
        }
        c->time_ns = r->time_ns;
        c->oldest_ns = out.watched ? selgw_poller_oldest_poll_ns(out.watched) : 0;
    }
    pthread_mutex_unlock(&out.lock);
}

static selgw_poller *make_poller(int retries)
{
    fake_reset();
    config_init(retries);
    memset(&out, 0, sizeof out);
    pthread_mutex_init(&out.lock, NULL);
    selgw_transport *t = NULL;
    assert_int_equal(selgw_transport_new_with_ops(&bus, &fake_ops, &t), SELGW_OK);
    selgw_poller *p = NULL;
    assert_int_equal(selgw_poller_new(&cfg, 0, t, capture, NULL, &p), SELGW_OK);
    return p;
}

static void set_image(int unit, uint16_t moisture, uint16_t temp, uint16_t ec, uint16_t ph)
{
    fake.units[unit].regs[0] = moisture;
    fake.units[unit].regs[1] = temp;
    fake.units[unit].regs[2] = ec;
    fake.units[unit].regs[20] = ph;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_poll_once_decodes_as_planned(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(1);
    set_image(1, 345, 0xFF9B, 1200, 550);
    set_image(2, 1234, 215, 80, 612);
    set_image(3, 1001, 100, 0, 700); /* 100.1 %: out of range, kept */
    assert_int_equal(selgw_poller_poll_once(p), 0);
    assert_int_equal(out.count, 3);
    /* two requests per device: 0..2 merged, 20 alone (hole of 17 > max_gap 4) */
    assert_int_equal(fake.log_count, 6);
    assert_int_equal(fake.log[0].function, 3);
    assert_int_equal(fake.log[0].address, 0);
    assert_int_equal(fake.log[0].count, 3);
    assert_int_equal(fake.log[1].address, 20);
    assert_int_equal(fake.log[1].count, 1);
    assert_int_equal(fake.log_units[0], 1);
    assert_int_equal(fake.log_units[2], 2);

    captured *c = &out.items[0];
    assert_string_equal(c->device, "d1");
    assert_int_equal(c->status, SELGW_OK);
    assert_int_equal(c->attempts, 1);
    assert_int_equal(c->contract_count, 1);                    /* the 1999 contract has ended */
    assert_double_equal(c->values[0].value, 34.5 - 1.5, 1e-9); /* calibrated */
    assert_double_equal(c->values[1].value, -10.1, 1e-9);
    assert_double_equal(c->values[2].value, 1200, 1e-9);
    assert_double_equal(c->values[3].value, 5.5, 1e-9);
    assert_double_equal(out.items[1].values[0].value, 123.4, 1e-9);
    assert_double_equal(out.items[1].values[1].value, 21.5, 1e-9);
    assert_double_equal(out.items[1].values[3].value, 6.12, 1e-9);
    selgw_poller_free(p);
}

static void test_out_of_range_is_kept_and_flagged(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(0);
    set_image(1, 500, 0, 0, 0);
    set_image(2, 1001, 0, 0, 0);
    set_image(3, 1000, 0, 0, 0);
    selgw_poller_poll_once(p);
    assert_int_equal(out.count, 3);
    assert_int_equal(out.items[1].status, SELGW_OK);
    assert_double_equal(out.items[1].values[0].value, 100.1, 1e-9);
    assert_int_equal(out.items[1].values[0].quality, SELGW_QUALITY_OUT_OF_RANGE);
    assert_int_equal(out.items[2].values[0].quality, SELGW_QUALITY_OK); /* bound inclusive */
    selgw_poller_free(p);
}

static void test_dead_device_costs_one_timeout_per_attempt(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(2);
    fake.units[2].mode = FAKE_TIMEOUT;
    assert_int_equal(selgw_poller_poll_once(p), 1);
    assert_int_equal(out.count, 3);
    captured *c = &out.items[1];
    assert_int_equal(c->status, SELGW_ERR_TIMEOUT);
    assert_int_equal(c->attempts, 3); /* first try and two retries */
    for (int i = 0; i < 4; i++)
        assert_int_equal(c->values[i].quality, SELGW_QUALITY_READ_FAILED);
    /* after a timeout the second request of the device is not sent: 3 reads, not 6 */
    assert_int_equal(fake.units[2].reads, 3);
    assert_int_equal(out.items[0].status, SELGW_OK);
    assert_int_equal(out.items[2].status, SELGW_OK);
    selgw_poller_free(p);
}

static void test_exception_is_partial_not_timeout(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(0);
    set_image(1, 200, 150, 900, 610);
    fake.units[1].mode = FAKE_EXCEPTION;
    fake.units[1].exception_code = 2;
    fake.units[1].fail_address = 20; /* only the pH register is refused */
    assert_int_equal(selgw_poller_poll_once(p), 1);
    captured *c = &out.items[0];
    assert_int_equal(c->status, SELGW_ERR_EXCEPTION);
    assert_int_equal(c->exception_code, 2);
    assert_int_equal(c->values[0].quality, SELGW_QUALITY_OK);
    assert_double_equal(c->values[2].value, 900, 1e-9);
    assert_int_equal(c->values[3].quality, SELGW_QUALITY_READ_FAILED);
    selgw_poller_free(p);
}

static void test_retry_rereads_only_what_failed(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(1);
    set_image(1, 200, 150, 900, 610);
    fake.units[1].mode = FAKE_EXCEPTION;
    fake.units[1].exception_code = 6; /* busy */
    fake.units[1].fail_address = 20;
    fake.units[1].fail_count = 1; /* refused once, then answered */
    assert_int_equal(selgw_poller_poll_once(p), 0);
    captured *c = &out.items[0];
    assert_int_equal(c->status, SELGW_OK);
    assert_int_equal(c->attempts, 2);
    assert_double_equal(c->values[0].value, 20.0 - 1.5, 1e-9);
    assert_double_equal(c->values[3].value, 6.1, 1e-9);
    /* the first attempt read 0..2 and was refused at 20; the retry read only 20 */
    assert_int_equal(fake.log_units[0], 1);
    assert_int_equal(fake.log[0].address, 0);
    assert_int_equal(fake.log[1].address, 20);
    assert_int_equal(fake.log_units[2], 1);
    assert_int_equal(fake.log[2].address, 20);
    assert_int_equal(fake.log_units[3], 2);
    selgw_poller_free(p);
}

/* A device that refuses merged reads is read field by field from the next poll on. */
static void test_refused_merged_read_tightens_the_plan(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(0);
    set_image(3, 250, 180, 700, 560);
    fake.units[3].refuse_longer_than = 1;
    assert_int_equal(selgw_poller_poll_once(p), 1);
    captured *c = &out.items[2];
    assert_int_equal(c->status, SELGW_ERR_EXCEPTION);
    assert_int_equal(c->exception_code, 2);
    assert_int_equal(c->values[0].quality, SELGW_QUALITY_READ_FAILED);
    assert_int_equal(c->values[3].quality, SELGW_QUALITY_OK); /* the lone pH read worked */

    fake.log_count = 0;
    assert_int_equal(selgw_poller_poll_once(p), 0);
    c = &out.items[5];
    assert_int_equal(c->status, SELGW_OK);
    assert_double_equal(c->values[0].value, 25.0, 1e-9);
    assert_double_equal(c->values[1].value, 18.0, 1e-9);
    assert_double_equal(c->values[2].value, 700, 1e-9);
    /* units 1 and 2 still read 0..2 in one request; unit 3 now reads one register a time */
    size_t unit3 = 0;
    for (size_t i = 0; i < fake.log_count; i++)
        if (fake.log_units[i] == 3) {
            assert_int_equal(fake.log[i].count, 1);
            unit3++;
        } else if (fake.log[i].address == 0) {
            assert_int_equal(fake.log[i].count, 3);
        }
    assert_int_equal(unit3, 4);
    selgw_poller_free(p);
}

/* Runs n polls with stderr (the log) going to a file; returns what was logged (free it). */
static char *log_of_polls(selgw_poller *p, int n)
{
    char path[] = "/tmp/selgw-test-poller-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    for (int i = 0; i < n; i++)
        selgw_poller_poll_once(p);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    FILE *f = fdopen(fd, "r");
    rewind(f);
    char *text = calloc(1, 65536);
    size_t len = fread(text, 1, 65535, f);
    text[len] = '\0';
    fclose(f);
    unlink(path);
    return text;
}

static size_t occurrences(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *at = strstr(text, what); at; at = strstr(at + 1, what))
        n++;
    return n;
}

/* What the transport says about a corrupt answer reaches the log, once per failure run. */
static void test_bad_frame_reason_is_logged_once_per_run(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(0);
    fake.units[2].mode = FAKE_BAD_FRAME;
    char *log = log_of_polls(p, 3);
    assert_int_equal(out.count, 9);
    assert_int_equal(out.items[1].status, SELGW_ERR_BAD_FRAME);
    assert_int_equal(occurrences(log, "device d2 (unit 2 on bus line): corrupt answer (CRC, "
                                      "length or header): reply is for unit 3, the request was "
                                      "to unit 2"),
                     1);
    free(log);
    fake.units[2].mode = FAKE_OK;
    log = log_of_polls(p, 1);
    assert_int_equal(out.items[10].status, SELGW_OK);
    assert_int_equal(occurrences(log, "device d2 (unit 2 on bus line): back to normal after 3 "
                                      "failures"),
                     1);
    assert_int_equal(occurrences(log, "reply is for unit"), 0);
    free(log);
    selgw_poller_free(p);
}

static void test_backoff_multiplier(void **state)
{
    (void)state;
    assert_int_equal(selgw_backoff_multiplier(0), 1);
    assert_int_equal(selgw_backoff_multiplier(1), 1);
    assert_int_equal(selgw_backoff_multiplier(2), 1);
    assert_int_equal(selgw_backoff_multiplier(3), 2);
    assert_int_equal(selgw_backoff_multiplier(4), 4);
    assert_int_equal(selgw_backoff_multiplier(7), 32);
    assert_int_equal(selgw_backoff_multiplier(1000), 32);
}

static void test_reconnect_waits_for_its_turn(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(3);
    fake.open_failures_left = 1;
    /* The first open fails: every device of the bus fails at once with connect_failed,
     * without retries and without a second open attempt before the backoff delay. */
    assert_int_equal(selgw_poller_poll_once(p), 3);
    assert_int_equal(fake.opens, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out.items[i].status, SELGW_ERR_CONNECT);
        assert_int_equal(out.items[i].attempts, 1);
    }
    assert_int_equal(fake.units[1].reads + fake.units[2].reads + fake.units[3].reads, 0);
    /* After the delay (500 ms) the link opens and the devices answer. */
    struct timespec ts = {0, 600 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(selgw_poller_poll_once(p), 0);
    assert_int_equal(fake.opens, 2);
    /* A lost link is closed and reopened at once by the next read. */
    fake.drop_link_once = true;
    selgw_poller_poll_once(p);
    assert_int_equal(fake.closes, 1);
    assert_int_equal(fake.opens, 3);
    assert_int_equal(out.items[6].status, SELGW_OK); /* the retry after the reopen */
    assert_int_equal(out.items[6].attempts, 2);
    selgw_poller_free(p);
}

static size_t count_polls(const char *device, selgw_err status)
{
    size_t n = 0;
    pthread_mutex_lock(&out.lock);
    for (size_t i = 0; i < out.count; i++)
        if (!strcmp(out.items[i].device, device) && out.items[i].status == status)
            n++;
    pthread_mutex_unlock(&out.lock);
    return n;
}

/* The scheduling thread: a dead device backs off and does not take the healthy devices'
 * turns; it comes back by itself when it answers again. Counts, with wide margins, not
 * timings. */
static void test_thread_dead_device_backs_off_and_recovers(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(1);
    fake.units[2].mode = FAKE_TIMEOUT;
    fake.units[2].timeout_sleep_ms = 100; /* each attempt costs one 100 ms timeout */
    assert_int_equal(selgw_poller_start(p), SELGW_OK);
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    size_t healthy = count_polls("d1", SELGW_OK);
    size_t dead = count_polls("d2", SELGW_ERR_TIMEOUT);
    /* 2 s at a 100 ms interval: about 20 polls of d1 */
    assert_in_range(healthy, 12, 25);
    /* backoff: polled after 100, 100, 200, 400, 800 ms ... a handful of times at most */
    assert_in_range(dead, 3, 8);
    pthread_mutex_lock(&fake.lock);
    fake.units[2].mode = FAKE_OK;
    pthread_mutex_unlock(&fake.lock);
    ts.tv_sec = 3;
    nanosleep(&ts, NULL);
    selgw_poller_stop(p);
    assert_true(count_polls("d2", SELGW_OK) >= 5);
    selgw_poller_stats st;
    selgw_poller_get_stats(p, &st);
    assert_int_equal(st.polls, out.count);
    assert_int_equal(st.failed_polls, count_polls("d2", SELGW_ERR_TIMEOUT));
    selgw_poller_free(p);
}

/* A seal says up to when it covers every poll, from what the pollers say of their oldest
 * poll not yet handed over: never later than that poll's time, and nothing once all are
 * handed over. */
static void test_oldest_poll_in_progress(void **state)
{
    (void)state;
    selgw_poller *p = make_poller(2);
    out.watched = p;
    assert_int_equal(selgw_poller_oldest_poll_ns(p), 0);
    fake.units[2].mode = FAKE_TIMEOUT;
    fake.units[2].fail_count = 1; /* d2 answers its retry */
    assert_int_equal(selgw_poller_poll_once(p), 0);
    assert_int_equal(out.count, 3);
    for (size_t i = 0; i < out.count; i++) {
        /* while being handed over, a poll is still in progress */
        assert_true(out.items[i].oldest_ns != 0);
        assert_true(out.items[i].oldest_ns <= out.items[i].time_ns);
    }
    assert_int_equal(out.items[1].attempts, 2);
    assert_int_equal(selgw_poller_oldest_poll_ns(p), 0);

    /* The thread: d2 never answers, and its retries wait behind d1 and d3. A reading of d1
     * handed over while a poll of d2 waits for its retry must not let a seal pass d2's
     * poll: the poller says a time no later than d2's. */
    pthread_mutex_lock(&fake.lock);
    fake.units[2].fail_count = -1;
    fake.units[2].timeout_sleep_ms = 50;
    pthread_mutex_unlock(&fake.lock);
    pthread_mutex_lock(&out.lock);
    out.count = 0;
    pthread_mutex_unlock(&out.lock);
    assert_int_equal(selgw_poller_start(p), SELGW_OK);
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL);
    selgw_poller_stop(p);
    assert_int_equal(selgw_poller_oldest_poll_ns(p), 0); /* stopped: nothing on its way */
    size_t held_back = 0;
    for (size_t i = 0; i < out.count; i++) {
        const captured *c = &out.items[i];
        assert_true(c->oldest_ns != 0 && c->oldest_ns <= c->time_ns);
        if (strcmp(c->device, "d2") == 0)
            continue;
        /* a poll of d2 that began before this reading and was handed over after it */
        for (size_t k = i + 1; k < out.count; k++)
            if (!strcmp(out.items[k].device, "d2") && out.items[k].time_ns < c->time_ns) {
                assert_true(c->oldest_ns <= out.items[k].time_ns);
                held_back++;
                break;
            }
    }
    assert_true(held_back > 0);
    selgw_poller_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_once_decodes_as_planned),
        cmocka_unit_test(test_out_of_range_is_kept_and_flagged),
        cmocka_unit_test(test_dead_device_costs_one_timeout_per_attempt),
        cmocka_unit_test(test_exception_is_partial_not_timeout),
        cmocka_unit_test(test_retry_rereads_only_what_failed),
        cmocka_unit_test(test_refused_merged_read_tightens_the_plan),
        cmocka_unit_test(test_bad_frame_reason_is_logged_once_per_run),
        cmocka_unit_test(test_backoff_multiplier),
        cmocka_unit_test(test_reconnect_waits_for_its_turn),
        cmocka_unit_test(test_thread_dead_device_backs_off_and_recovers),
        cmocka_unit_test(test_oldest_poll_in_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
