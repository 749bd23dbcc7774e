/* The service's watchdog period, and that outside systemd (no NOTIFY_SOCKET, no
 * WATCHDOG_USEC) it sends nothing and asks for no pings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "service.h"

static void period_is_a_third_of_watchdog_sec(void **state)
{
    (void)state;
    assert_int_equal(selgw_service_period_ms_for(120000000), 40000); /* WatchdogSec=2min */
    assert_int_equal(selgw_service_period_ms_for(600000), 200);
    assert_int_equal(selgw_service_period_ms_for(1000), 1); /* never 0: no busy loop */
    assert_int_equal(selgw_service_period_ms_for(1), 1);
}

static void outside_systemd_nothing(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    selgw_service *s = NULL;
    assert_int_equal(selgw_service_new(&s), SELGW_OK);
    assert_int_equal(selgw_service_watchdog_period_ms(s), -1);
    selgw_service_ready(s, "polling");
    selgw_service_reloading(s);
    selgw_service_watchdog(s, false, "stuck");
    selgw_service_stopping(s, "stopped");
    selgw_service_free(s);
    selgw_service_free(NULL);
}

static void watchdog_of_another_process_is_not_ours(void **state)
{
    (void)state;
    setenv("WATCHDOG_USEC", "600000", 1);
    setenv("WATCHDOG_PID", "1", 1); /* systemd names the process it watches */
    selgw_service *s = NULL;
    assert_int_equal(selgw_service_new(&s), SELGW_OK);
    assert_int_equal(selgw_service_watchdog_period_ms(s), -1);
    selgw_service_free(s);
    unsetenv("WATCHDOG_PID");
    assert_int_equal(selgw_service_new(&s), SELGW_OK);
    assert_int_equal(selgw_service_watchdog_period_ms(s), 200);
    selgw_service_free(s);
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(period_is_a_third_of_watchdog_sec),
        cmocka_unit_test(outside_systemd_nothing),
        cmocka_unit_test(watchdog_of_another_process_is_not_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
