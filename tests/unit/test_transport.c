/* What the transport tells an operator when a bus cannot be opened: the system's words and
 * the fix, exact texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "config.h"
#include "poll/transport.h"

static void test_serial_permission_not_member(void **state)
{
    (void)state;
    char buf[384];
    selgw_serial_permission_advice("/dev/ttyUSB0", "pi", "dialout", false, buf, sizeof buf);
    assert_string_equal(buf, "/dev/ttyUSB0: permission denied: user 'pi' is not in group "
                             "'dialout', which owns it (sudo usermod -aG dialout pi, then log "
                             "in again; the selgw service user is in it)");
}

static void test_serial_permission_member(void **state)
{
    (void)state;
    char buf[384];
    selgw_serial_permission_advice("/dev/ttyS1", "selgw", "dialout", true, buf, sizeof buf);
    assert_string_equal(buf,
                        "/dev/ttyS1: permission denied although user 'selgw' is in group "
                        "'dialout', which owns it: check the device's mode (ls -l /dev/ttyS1)");
}

static void test_serial_permission_root_group(void **state)
{
    (void)state;
    char buf[384];
    selgw_serial_permission_advice("/dev/ttyUSB0", "pi", "root", false, buf, sizeof buf);
    assert_string_equal(buf, "/dev/ttyUSB0: permission denied: it belongs to group root, not "
                             "dialout; give serial adapters to dialout with a udev rule "
                             "(SUBSYSTEM==\"tty\", GROUP=\"dialout\", MODE=\"0660\") and put "
                             "user 'pi' in dialout");
}

static void test_missing_adapter(void **state)
{
    (void)state;
    selgw_bus bus = {.id = "rs485-1", .kind = SELGW_BUS_RTU, .device = "/dev/ttyUSB9"};
    char buf[384];
    selgw_bus_open_advice(&bus, ENOENT, buf, sizeof buf);
    assert_string_equal(buf, "/dev/ttyUSB9: No such file or directory (is the USB-RS485 adapter "
                             "plugged in? ls /dev/ttyUSB* /dev/serial/by-id/)");
    selgw_bus_open_advice(&bus, EBUSY, buf, sizeof buf);
    assert_string_equal(buf, "/dev/ttyUSB9: Device or resource busy (another program holds the "
                             "line: a running gateway, or another selgw command; one master per "
                             "line: fuser -v /dev/ttyUSB9)");
}

static void test_tcp(void **state)
{
    (void)state;
    selgw_bus bus = {.id = "gh", .kind = SELGW_BUS_TCP, .host = "192.168.1.20", .port = 502};
    char buf[384];
    selgw_bus_open_advice(&bus, ECONNREFUSED, buf, sizeof buf);
    assert_string_equal(buf, "192.168.1.20:502 refused the connection: nothing listens on that "
                             "port (check the converter's address and Modbus TCP port)");
    selgw_bus_open_advice(&bus, EHOSTUNREACH, buf, sizeof buf);
    assert_string_equal(buf, "192.168.1.20:502: No route to host (check the address, the cable "
                             "and the network)");
    selgw_bus_open_advice(&bus, 0, buf, sizeof buf);
    assert_string_equal(buf, "the link could not be opened");
}

static void test_truncates_safely(void **state)
{
    (void)state;
    char buf[8];
    selgw_serial_permission_advice("/dev/ttyUSB0", "pi", "dialout", false, buf, sizeof buf);
    assert_string_equal(buf, "/dev/tt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_permission_not_member),
        cmocka_unit_test(test_serial_permission_member),
        cmocka_unit_test(test_serial_permission_root_group),
        cmocka_unit_test(test_missing_adapter),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
