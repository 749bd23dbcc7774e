/* What the service watchdog asks the gateway: healthy while it runs with nothing stuck
 * (its poller meets only a refused connection), not healthy while the journal's writer
 * hangs in an fdatasync (a dead disk), saying so, and healthy again once it returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/diag.h"
#include "config.h"
#include "gateway.h"
#include "journal/journal_testing.h"
#include "test_util.h"

#define STALL_NS (2 * SELGW_NS_PER_S) /* an idle journal writer goes round once a second */

static atomic_int hold_fdatasync;

static int held_fdatasync(int fd)
{
    while (atomic_load(&hold_fdatasync)) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return fdatasync(fd);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void healthy_until_the_journal_writer_hangs(void **state)
{
    (void)state;
    char dir[] = "/tmp/selgw-test-health-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/gw.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* Port 1 on loopback: nobody listens, every poll fails at once. */
    fputs("gateway: {id: health-gw, utc_offset: \"+08:00\"}\n"
          "bases: [{id: b1, name: base}]\n"
          "plots: [{id: p1, base: b1, crop: tea}]\n"
          "buses: [{id: tcp-1, type: tcp, host: 127.0.0.1, port: 1, response_timeout: 100ms}]\n"
          "devices: [{id: d1, bus: tcp-1, unit_id: 1, profile: generic-climate, plot: p1,\n"
          "           interval: 200ms}]\n"
          "journal: {dir: journal, commit_interval: 5ms}\n",
          f);
    fclose(f);
    selgw_diag *diag = selgw_diag_new();
    selgw_config *cfg = NULL;
    assert_int_equal(selgw_config_load_file(path, diag, &cfg), SELGW_OK);
    selgw_diag_free(diag);

    selgw_journal_io_reset();
    selgw_journal_io_hooks.fdatasync = held_fdatasync;
    selgw_gateway_options opt = {.start_sinks = true};
    selgw_gateway *g = NULL;
    assert_int_equal(selgw_gateway_new(cfg, &opt, &g), SELGW_OK);
    assert_int_equal(selgw_gateway_start(g), SELGW_OK);
    char why[256];
    for (int i = 0; i < 5; i++) { /* 2.5 s: longer than STALL_NS, so nothing idle looks stuck */
        sleep_ms(500);
        assert_true(selgw_gateway_healthy(g, STALL_NS, why, sizeof why));
        assert_string_equal(why, "");
    }

    atomic_store(&hold_fdatasync, 1); /* the next group commit hangs */
    int64_t until = selgw_mono_ns() + 10 * SELGW_NS_PER_S;
    bool healthy = true;
    while (healthy && selgw_mono_ns() < until) {
        sleep_ms(100);
        healthy = selgw_gateway_healthy(g, STALL_NS, why, sizeof why);
    }
    assert_false(healthy);
    assert_non_null(strstr(why, "the journal's writer has been in one write or fdatasync for "));

    atomic_store(&hold_fdatasync, 0);
    sleep_ms(300);
    assert_true(selgw_gateway_healthy(g, STALL_NS, why, sizeof why));
    selgw_gateway_stop(g, "test over");
    selgw_gateway_free(g);
    selgw_journal_io_reset();
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthy_until_the_journal_writer_hangs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
