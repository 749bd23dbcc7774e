#!/usr/bin/python3
"""Devices that lie: replies that are not the answer to the request sent.

Behind a TCP-to-RTU converter, a reply with another unit id or transaction id is another
probe's answer; a protocol id other than 0, an MBAP length that does not count the bytes
after it, a byte count that does not fit the request, or another function code is not a
Modbus answer to this request at all. selgw must report each as status "bad_frame" (never
"ok", and a wrong byte count never "timeout"), say why in its log once per device, and keep
reading the honest device next to them with the right values.

The devices are played by servers written here in plain Python, so that they can break the
protocol in exactly one way each (the mode is chosen by the unit id):
  - Modbus TCP: a socket server on a loopback port (one thread per connection);
  - Modbus RTU: a pty pair (socat); the test serves one end, selgw opens the other.
"""
import os
import re
import select
import socket
import struct
import sys
import threading
import tty
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROFILE = """\
name: itest-lying
model: integration test profile, two holding registers read in one request
source: "tests/integration/test_lying_devices.py"
link: {baud: 19200, parity: N, data_bits: 8, stop_bits: 1, unit_id: 1}
max_gap: 0
fields:
  - name: reg_a
    function: 3
    address: 0
    type: u16
    unit: x
  - name: reg_b
    function: 3
    address: 1
    type: u16
    unit: x
"""

OTHER_UNIT = 100  # a lying reply names unit id + this


def registers_of_unit(unit):
    """What every device serves at holding registers 0 and 1."""
    return [1000 + unit, 2000 + unit]


def register_pdu(function, registers, byte_count=None):
    data = b"".join(struct.pack(">H", r) for r in registers)
    return bytes([function, len(data) if byte_count is None else byte_count]) + data


# Each mode breaks the protocol in one way; the reason selgw must log for it (a regex, with
# {unit} the device's unit id and {other} the one the lie names instead).
REASONS = {
    "honest": None,
    "other-unit": r"reply is for unit {other}, the request was to unit {unit}",
    "protocol-1": r"protocol id 1, expected 0",
    "mbap-plus-1": r"MBAP length 8 does not match the 7 bytes that follow",
    "mbap-minus-1": r"MBAP length 6 does not match the 7 bytes that follow",
    "byte-count-long": r"byte count 6, expected 4 for 2 registers",
    "byte-count-short": r"byte count 2, expected 4 for 2 registers",
    "transaction": r"transaction id (\d+), expected (\d+)",
    "function": r"function 0x04 in reply to 0x03",
}
# The modes each bus has, one device each; the unit id is the position in the list + 1.
TCP_MODES = ["honest", "other-unit", "protocol-1", "mbap-plus-1", "mbap-minus-1",
             "byte-count-long", "byte-count-short", "transaction", "function"]
RTU_MODES = ["honest", "other-unit", "byte-count-long", "byte-count-short", "function"]


def reason(mode, unit):
    return REASONS[mode].format(unit=unit, other=unit + OTHER_UNIT)


def lying_pdu(mode, unit, function, count):
    """(the unit id the reply names, its PDU) for a read of `count` registers: what every
    transport carries, lies included."""
    registers = registers_of_unit(unit)[:count]
    if mode == "other-unit":
        return unit + OTHER_UNIT, register_pdu(function, registers)
    if mode == "byte-count-long":  # the data stays what the request asked for
        return unit, register_pdu(function, registers, byte_count=2 * count + 2)
    if mode == "byte-count-short":
        return unit, register_pdu(function, registers, byte_count=2 * count - 2)
    if mode == "function":
        return unit, register_pdu(4, registers)
    return unit, register_pdu(function, registers)


def tcp_reply(mode, transaction_id, unit, function, count):
    """The reply of a device in `mode`: the PDU's lies, and the MBAP header's."""
    reply_unit, pdu = lying_pdu(mode, unit, function, count)
    protocol_id = 1 if mode == "protocol-1" else 0
    length = 1 + len(pdu) + {"mbap-plus-1": 1, "mbap-minus-1": -1}.get(mode, 0)
    if mode == "transaction":
        transaction_id = (transaction_id + 1) & 0xFFFF
    return struct.pack(">HHHB", transaction_id, protocol_id, length, reply_unit) + pdu


class LyingTcpServer:
    """Modbus TCP on 127.0.0.1 (a port of its own choosing), answering each unit id in the
    mode TCP_MODES gives it."""

    def __init__(self):
        self.modes = {i + 1: mode for i, mode in enumerate(TCP_MODES)}
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    @staticmethod
    def receive_exactly(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def serve(self, conn):
        with conn:
            try:
                while True:
                    request = self.receive_exactly(conn, 12)
                    if request is None:
                        return
                    tid, protocol, length, unit, function, address, count = struct.unpack(
                        ">HHHBBHH", request)
                    if (protocol != 0 or length != 6 or function != 3 or address != 0
                            or unit not in self.modes):
                        return  # not what selgw sends for this config: hang up
                    conn.sendall(tcp_reply(self.modes[unit], tid, unit, function, count))
            except OSError:
                return  # selgw closed the connection (it reconnects after a bad frame)

    def stop(self):
        self.stopping = True
        self.listener.close()


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def rtu_frame(body):
    return body + struct.pack("<H", crc16(body))


def rtu_reply(mode, unit, function, count):
    """The reply of a device in `mode`, with a CRC that matches what it sends: the lie is in
    the content, not a transmission error."""
    address, pdu = lying_pdu(mode, unit, function, count)
    return rtu_frame(bytes([address]) + pdu)


class LyingRtuLine:
    """Serves one end of a pty pair: reads 8-byte read requests, answers each slave address
    in the mode RTU_MODES gives it."""

    def __init__(self, tty_path):
        self.modes = {i + 1: mode for i, mode in enumerate(RTU_MODES)}
        self.fd = os.open(tty_path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        pending = b""
        while not self.stopping:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                pending = b""  # a silence ends a frame
                continue
            try:
                pending += os.read(self.fd, 256)
            except OSError:
                return
            while len(pending) >= 8:
                frame, pending = pending[:8], pending[8:]
                if crc16(frame[:6]) != struct.unpack("<H", frame[6:])[0]:
                    pending = b""
                    break
                unit, function, address, count = struct.unpack(">BBHH", frame[:6])
                if function == 3 and address == 0 and unit in self.modes:
                    os.write(self.fd, rtu_reply(self.modes[unit], unit, function, count))

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        os.close(self.fd)


class LyingDevices:
    """Mixin: runs selgw against one device per mode and checks what it reports. Subclasses
    set MODES and BUS_ID, and start and stop the devices."""

    MODES = []
    BUS_ID = ""

    @staticmethod
    def device_id(mode):
        return "honest" if mode == "honest" else f"lie-{mode}"

    @classmethod
    def setUpClass(cls):
        h.check_binaries()

    def setUp(self):
        self.dir = h.tempdir(f"lying-{self.BUS_ID}")
        os.makedirs(os.path.join(self.dir, "profiles"))
        with open(os.path.join(self.dir, "profiles", "itest-lying.yaml"), "w") as f:
            f.write(PROFILE)
        self.gw = None
        self.start_devices()

    def tearDown(self):
        if self.gw:
            self.gw.stop()
        self.stop_devices()

    def config(self, bus):
        devices = [{"id": self.device_id(mode), "bus": self.BUS_ID, "unit_id": i + 1,
                    "profile": "itest-lying", "plot": "plot-tea", "interval": "300ms"}
                   for i, mode in enumerate(self.MODES)]
        cfg = h.make_config(f"itest-lying-{self.BUS_ID}", [bus], devices,
                            profiles_dir="profiles")
        return h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)

    def check_run(self, cfg_path):
        gw = self.gw = h.Gateway(cfg_path, "--print")
        ids = [self.device_id(mode) for mode in self.MODES]
        readings = gw.wait_readings(
            lambda rs: all(h.count_by_device(rs).get(i, 0) >= 3 for i in ids),
            h.scaled(20), "three readings of every device")
        self.assertEqual(gw.stop(), 0, gw.describe())
        readings = gw.readings()
        by_dev = {}
        for r in readings:
            by_dev.setdefault(r["device"], []).append(r)
        log = gw.stderr()

        honest = by_dev["honest"]
        for r in honest:
            self.assertEqual(r["status"], "ok", r)
            self.assertEqual(r["attempts"], 1, r)
            want = registers_of_unit(r["unit_id"])
            self.assertEqual([r["fields"]["reg_a"]["value"], r["fields"]["reg_b"]["value"]],
                             want, r)
            self.assertEqual({fv["quality"] for fv in r["fields"].values()}, {"ok"}, r)
        h.say(f"honest device: {len(honest)} readings, all ok with the served values")

        for unit, mode in enumerate(self.MODES, start=1):
            if mode == "honest":
                continue
            dev_id = self.device_id(mode)
            why = reason(mode, unit)
            rs = by_dev[dev_id]
            self.assertEqual({r["status"] for r in rs}, {"bad_frame"},
                             f"{dev_id}: every reading is a bad frame\n" + gw.describe())
            for r in rs:
                for name, fv in r["fields"].items():
                    self.assertEqual(fv["quality"], "read_failed", f"{dev_id}.{name}")
                    self.assertIsNone(fv["value"], f"{dev_id}.{name}")
            prefix = (f"device {dev_id} (unit {unit} on bus {self.BUS_ID}): "
                      "corrupt answer (CRC, length or header): ")
            said = [line for line in log
                    if prefix in line and re.search(why, line.split(prefix, 1)[1])]
            self.assertEqual(len(said), 1,
                             f"{dev_id}: the reason /{why}/ is logged once for the run of "
                             "failures\n" + gw.describe())
            h.say(f"{dev_id}: {len(rs)} readings, all bad_frame; logged once: "
                  f"{said[0].split(prefix, 1)[1]}")
        return log


class LyingTcp(LyingDevices, unittest.TestCase):
    MODES = TCP_MODES
    BUS_ID = "tcp0"

    def start_devices(self):
        self.server = LyingTcpServer()

    def stop_devices(self):
        self.server.stop()

    def test_lying_tcp_devices_are_bad_frames(self):
        """One honest and eight lying Modbus TCP devices behind one connection."""
        cfg_path = self.config({"id": "tcp0", "type": "tcp", "host": "127.0.0.1",
                                "port": self.server.port, "response_timeout": "2s",
                                "retries": 0})
        h.say(f"lying Modbus TCP server on 127.0.0.1:{self.server.port}")
        log = self.check_run(cfg_path)
        # The transaction ids are selgw's own: the one logged is what the device answered
        # to, plus one.
        line = next(x for x in log if "device lie-transaction " in x and "transaction id" in x)
        got, expected = map(int, re.search(REASONS["transaction"], line).groups())
        self.assertEqual(got, (expected + 1) & 0xFFFF, line)


class LyingRtu(LyingDevices, unittest.TestCase):
    MODES = RTU_MODES
    BUS_ID = "rtu0"

    def start_devices(self):
        self.gw_tty = os.path.join(self.dir, "gw-tty")
        self.dev_tty = os.path.join(self.dir, "dev-tty")
        self.socat = h.SocatPair(self.gw_tty, self.dev_tty)
        self.line = LyingRtuLine(self.dev_tty)

    def stop_devices(self):
        self.line.stop()
        self.socat.stop()

    def test_lying_rtu_devices_are_bad_frames(self):
        """One honest and four lying devices on a serial line; a byte count longer than the
        data is a bad frame, not a timeout."""
        cfg_path = self.config({"id": "rtu0", "type": "rtu", "device": self.gw_tty,
                                "baud": 19200, "response_timeout": "500ms", "retries": 0})
        h.say(f"lying RTU devices on {self.dev_tty}")
        self.check_run(cfg_path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
