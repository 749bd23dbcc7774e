#!/usr/bin/python3
"""An independent Modbus TCP or RTU server (pymodbus) serving a register image from a JSON file.

The integration tests check selgw's decoding against this server, which shares no code with
selgw or selgw-sim: the registers are computed by the test in Python and served by pymodbus.

    pymodbus_server.py --image IMAGE.json [--host 127.0.0.1] [--port 0]
    pymodbus_server.py --image IMAGE.json --serial PATH [--baud 9600] [--parity N|E|O]

IMAGE.json:

    {"units": {"1": {"hr": {"0": 123, "1": 65413}, "ir": {"3": 415},
                     "co": {"0": 1}, "di": {"2": 0}}}}

Keys of "units" are unit ids (each served by its own ModbusSlaveContext, zero_mode=True, so
addresses are 0-based wire addresses); "hr" holding registers (function 3), "ir" input
registers (4), "co" coils (1), "di" discrete inputs (2); keys are decimal addresses. Each
table is one block from its lowest to its highest address (holes read as 0); a read that
leaves the block gets exception 2 (illegal data address), a table that is absent answers
every read with exception 2, and a request to a unit id that is not in the image gets no
answer at all (pymodbus 3.0 drops frames for unit ids it does not serve).

With --port 0 the system picks a free port. When listening, prints "ready HOST:PORT" on
stdout. With --serial it serves Modbus RTU (8 data bits, 1 stop bit) on that serial device,
e.g. one end of a socat pty pair, and prints "ready PATH" once the device is open.
With --report-writes every write a master makes is printed on stdout as
"write UNIT TABLE ADDRESS VALUE" (decimal), so a test can check what reached the device.
Stops on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import json
import logging
import signal
import sys


# pymodbus.server imports pyserial and pyserial-asyncio even for TCP; scripts/setup.sh
# installs them (python3-serial-asyncio), which Debian's python3-pymodbus only recommends.
from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer

TABLES = ("hr", "ir", "co", "di")


class EmptyBlock(ModbusSequentialDataBlock):
    """A table the device does not have: every read is an illegal data address."""

    def __init__(self):
        super().__init__(0, [0])  # pymodbus needs one value to know the value type

    def validate(self, address, count=1):
        return False


def make_block(table, cells):
    """One sequential block spanning the addresses given; holes are 0."""
    if not cells:
        return EmptyBlock()
    addresses = {int(a): int(v) for a, v in cells.items()}
    for a, v in addresses.items():
        limit = 1 if table in ("co", "di") else 0xFFFF
        if not 0 <= a <= 0xFFFF or not 0 <= v <= limit:
            raise ValueError(f"{table} {a}: value {v} does not fit")
    lo, hi = min(addresses), max(addresses)
    values = [addresses.get(a, 0) for a in range(lo, hi + 1)]
    if table in ("co", "di"):
        values = [bool(v) for v in values]
    return ModbusSequentialDataBlock(lo, values)


class ReportingSlaveContext(ModbusSlaveContext):
    """A unit that prints each write it stores (pymodbus 3.0 calls setValues with the
    function code and the 0-based address, zero_mode=True)."""

    TABLE_OF_FUNCTION = {5: "co", 15: "co", 6: "hr", 16: "hr", 22: "hr", 23: "hr"}

    def __init__(self, unit, **kwargs):
        super().__init__(**kwargs)
        self.unit = unit

    def setValues(self, fc_as_hex, address, values):  # noqa: N802 (pymodbus's name)
        super().setValues(fc_as_hex, address, values)
        table = self.TABLE_OF_FUNCTION.get(fc_as_hex, str(fc_as_hex))
        for i, v in enumerate(values):
            print(f"write {self.unit} {table} {address + i} {int(v)}", flush=True)


def make_context(image, report_writes=False):
    slaves = {}
    for unit, tables in image.get("units", {}).items():
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise ValueError(f"unit {unit}: unknown tables {sorted(unknown)}")
        blocks = {t: make_block(t, tables.get(t, {})) for t in TABLES}
        if report_writes:
            slaves[int(unit)] = ReportingSlaveContext(int(unit), zero_mode=True, **blocks)
        else:
            slaves[int(unit)] = ModbusSlaveContext(zero_mode=True, **blocks)
    return ModbusServerContext(slaves=slaves, single=False)


async def serve(host, port, context):
    server = await StartAsyncTcpServer(
        context=context, address=(host, port), defer_start=True, allow_reuse_address=True
    )
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    bound = server.server.sockets[0].getsockname()
    print(f"ready {bound[0]}:{bound[1]}", flush=True)
    await wait_for_stop()
    await server.shutdown()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def serve_serial(path, baud, parity, context):
    server = await StartAsyncSerialServer(
        context=context, framer=ModbusRtuFramer, port=path, baudrate=baud, parity=parity,
        bytesize=8, stopbits=1, defer_start=True
    )
    await server.start()  # opens the device; raises if it cannot
    print(f"ready {path}", flush=True)
    await wait_for_stop()
    await server.shutdown()


async def wait_for_stop():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", required=True, help="JSON register image")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--serial", metavar="PATH", help="serve Modbus RTU on this serial device")
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--parity", choices=("N", "E", "O"), default="N")
    ap.add_argument("--report-writes", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.CRITICAL,
        format="pymodbus_server %(levelname)s %(message)s",
    )
    with open(args.image, encoding="utf-8") as f:
        context = make_context(json.load(f), args.report_writes)
    if args.serial:
        asyncio.run(serve_serial(args.serial, args.baud, args.parity, context))
    else:
        asyncio.run(serve(args.host, args.port, context))
    return 0


if __name__ == "__main__":
    sys.exit(main())
