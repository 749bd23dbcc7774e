#!/usr/bin/python3
"""selgw decodes every shipped profile correctly, checked against an INDEPENDENT Modbus server.

The registers are computed here in Python (struct, from the byte-order rules of
sensors/profile.h) and served by pymodbus (pymodbus_server.py), so neither selgw's decoder nor
the simulator's encoder is involved on the device side. For every field of every profile
in sensors/profiles/ one known value is served; per profile at least one value is negative
where the type is signed and one lies outside the valid range. A test profile of our own
(profiles_dir) covers every register type in every byte order, and coils/discrete inputs.
Also: calibration from the config, and Modbus exceptions (exit status 1).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

# A profile of every type in every byte order, with distinct bytes everywhere so that a
# swapped word or byte shows. (raw values; the engineering value is raw*scale+offset)
ALL_TYPES_RAW = {
    "u16": 0x0102, "s16": -0x0203, "u32": 0x01020304, "s32": -0x05060708,
    "u64": 0x0001020304050607, "s64": -0x0000112233445566,
    "f32": -1234.5625, "f64": 98765.4321,
}
SCALES = {  # (scale, offset) per type: exercises both on integer and float types
    "u16": (0.1, 0.0), "s16": (1.0, 0.5), "u32": (0.01, -100.0), "s32": (1.0, 0.0),
    "u64": (1.0, 0.0), "s64": (1.0, 0.0), "f32": (1.0, 0.0), "f64": (0.5, 3.0),
}
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
BITS = [("valve_open", 1, 0, 1), ("pump_on", 1, 1, 0), ("alarm", 1, 2, 1),
        ("door_closed", 2, 5, 1)]


def all_types_profile():
    """(YAML text, field list in harness.read_profile form, raw value per field)."""
    fields, raws, lines = [], {}, [
        "name: itest-all-types",
        "model: integration test profile, every type and byte order",
        'source: "tests/integration/test_pymodbus_profiles.py"',
        "link: {baud: 9600, parity: N, data_bits: 8, stop_bits: 1, unit_id: 1}",
        "max_gap: 0",
        "fields:",
    ]
    next_addr = {3: 0, 4: 0}
    for order in ORDERS:
        function = 3 if order in ("ABCD", "CDAB") else 4
        for type_name, raw in ALL_TYPES_RAW.items():
            scale, offset = SCALES[type_name]
            name = f"{type_name}_{order.lower()}"
            addr = next_addr[function]
            next_addr[function] += h.registers_of(type_name)
            f = {"name": name, "function": function, "address": addr, "type": type_name,
                 "order": order, "scale": scale, "offset": offset, "unit": "x",
                 "min": None, "max": None}
            if type_name == "s32" and order == "DCBA":
                f["min"], f["max"] = -1000.0, 1000.0  # the value is far below: out_of_range
            fields.append(f)
            raws[name] = raw
            lines += [f"  - name: {name}", f"    function: {function}",
                      f"    address: {addr}", f"    type: {type_name}",
                      f"    order: {order}", f"    scale: {scale}", f"    offset: {offset}",
                      "    unit: x"]
            if f["min"] is not None:
                lines.append(f"    range: [{f['min']}, {f['max']}]")
    for name, function, addr, bit in BITS:
        fields.append({"name": name, "function": function, "address": addr, "type": "bit",
                       "order": "ABCD", "scale": 1.0, "offset": 0.0, "unit": "",
                       "min": 0.0, "max": 1.0})
        raws[name] = bit
        lines += [f"  - name: {name}", f"    function: {function}", f"    address: {addr}",
                  "    type: bit", "    range: [0, 1]"]
    return "\n".join(lines) + "\n", fields, raws


def choose_values(profile, salt):
    """Known engineering values for every field of a shipped profile: inside the range,
    negative for the first signed field with room below 0, and one field outside its range.
    Returns {field name: raw}, and the names of the negative and out-of-range fields."""
    raws, negative, outside = {}, None, None
    for j, f in enumerate(profile["fields"]):
        if f["min"] is not None and f["max"] is not None:
            frac = 0.15 + 0.7 * (((salt * 7 + j * 3) % 10) / 10.0)
            value = f["min"] + frac * (f["max"] - f["min"])
        else:
            value = (1000 + 37 * j + 11 * salt) * f["scale"] + f["offset"]
        if negative is None and f["type"] in ("s16", "s32", "s64") and \
                (f["min"] is None or f["min"] < 0):
            value = (f["min"] if f["min"] is not None else -100.0) * 0.3 - 0.7
            negative = f["name"]
        raws[f["name"]] = h.raw_for_value(f, value)
    for f in profile["fields"]:
        if f["name"] == negative or f["max"] is None:
            continue
        for value in (f["max"] + max(1.0, 0.05 * (f["max"] - (f["min"] or 0))),
                      (f["min"] or 0) - max(1.0, 0.05 * f["max"])):
            raw = h.raw_for_value(f, value)
            if raw is not None and h.expected_quality(f, h.value_of_raw(f, raw)) != "ok":
                raws[f["name"]] = raw
                outside = f["name"]
                break
        if outside:
            break
    return raws, negative, outside


def put_field(image, unit, field, raw):
    tables = image["units"].setdefault(str(unit), {})
    if field["type"] == "bit":
        table = tables.setdefault("co" if field["function"] == 1 else "di", {})
        table[str(field["address"])] = int(raw)
        return
    table = tables.setdefault("hr" if field["function"] == 3 else "ir", {})
    for k, reg in enumerate(h.raw_to_registers(field["type"], field["order"], raw)):
        table[str(field["address"] + k)] = reg


class PymodbusProfiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("pymodbus")
        cls.image = {"units": {}}
        cls.devices = []  # (device id, unit, profile, raws, calibration)
        cls.profiles = h.shipped_profiles()
        if len(cls.profiles) < 1:
            raise AssertionError(f"no profiles in {h.PROFILES_DIR}")

        # One device per shipped profile, units 1..N.
        for i, prof in enumerate(cls.profiles):
            raws, negative, outside = choose_values(prof, i)
            unit = i + 1
            for f in prof["fields"]:
                put_field(cls.image, unit, f, raws[f["name"]])
            cls.devices.append({"id": f"dev-{prof['name']}", "unit": unit, "profile": prof,
                                "raws": raws, "negative": negative, "outside": outside,
                                "cal": {}})

        # Our own profile of every type and order (profiles_dir), unit 50.
        text, fields, raws = all_types_profile()
        os.makedirs(os.path.join(cls.dir, "profiles"))
        with open(os.path.join(cls.dir, "profiles", "itest-all-types.yaml"), "w") as f:
            f.write(text)
        prof = {"name": "itest-all-types", "fields": fields}
        for f in fields:
            put_field(cls.image, 50, f, raws[f["name"]])
        cls.devices.append({"id": "dev-all-types", "unit": 50, "profile": prof, "raws": raws,
                            "negative": "s64_abcd", "outside": "s32_dcba", "cal": {}})

        # Calibration: a second CWT probe (unit 60) with a per-device correction.
        cwt = next(p for p in cls.profiles if p["name"] == "cwt-soil-thc-s")
        cal = {"soil_moisture": (1.1, -1.5), "soil_temperature": (1.0, 0.5),
               "soil_ec": (0.5, 10.0)}
        cal_values = {"soil_moisture": 30.2, "soil_temperature": -3.3, "soil_ec": 510.0,
                      "soil_salinity": 300.0, "soil_tds": 270.0}
        cal_raws = {}
        for f in cwt["fields"]:
            s, o = cal.get(f["name"], (1.0, 0.0))
            cal_raws[f["name"]] = h.raw_for_value(f, cal_values[f["name"]], s, o)
            put_field(cls.image, 60, f, cal_raws[f["name"]])
        cls.devices.append({"id": "dev-calibrated", "unit": 60, "profile": cwt,
                            "raws": cal_raws, "negative": "soil_temperature", "outside": None,
                            "cal": cal})

        # Exceptions: unit 70 has holding registers only far away from what the CWT profile
        # reads (exception 2 for the whole device); unit 71 (JXCT) lacks its N/P/K block,
        # so one of its four reads fails and the other three keep their values.
        cls.image["units"]["70"] = {"hr": {"1000": 1}}
        jxct = next(p for p in cls.profiles if p["name"] == "jxct-jxbs-3001-npk")
        cls.jxct_raws, _, _ = choose_values(jxct, 3)
        for f in jxct["fields"]:
            if f["address"] < 0x1E:
                put_field(cls.image, 71, f, cls.jxct_raws[f["name"]])
        cls.jxct = jxct

        cls.server = h.PymodbusServer(cls.image, cls.dir)
        h.say(f"pymodbus server on {cls.server.host}:{cls.server.port}, "
              f"{len(cls.image['units'])} unit ids")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def config(self, devices, retries=1, timeout="1s"):
        today = h.local_today()
        return {
            "gateway": {"id": "itest-gw", "location": "integration test",
                        "utc_offset": "+08:00"},
            "profiles_dir": "profiles",
            "bases": [{"id": "itest-base", "name": "测试基地", "county": "紫阳县"}],
            "plots": [{"id": "plot-a", "base": "itest-base", "crop": "tea",
                       "households": [
                           {"household": "HH-001", "contract": "C-001",
                            "from": str(today.replace(year=today.year - 1))},
                           {"household": "HH-009", "contract": "C-OLD",
                            "from": "2020-01-01", "to": "2020-12-31"}]}],
            "buses": [{"id": "pm-tcp", "type": "tcp", "host": "127.0.0.1",
                       "port": self.server.port, "response_timeout": timeout,
                       "retries": retries}],
            "devices": devices,
        }

    def device_entry(self, d):
        e = {"id": d["id"], "bus": "pm-tcp", "unit_id": d["unit"],
             "profile": d["profile"]["name"], "plot": "plot-a", "interval": "10s",
             "serial": f"SN-{d['unit']}"}
        if d["cal"]:
            e["calibration"] = {k: {"scale": s, "offset": o} for k, (s, o) in d["cal"].items()}
        return e

    def check_common(self, r, d):
        self.assertEqual(r["gateway"], "itest-gw")
        self.assertEqual(r["base"], "itest-base")
        self.assertEqual(r["plot"], "plot-a")
        self.assertEqual(r["crop"], "tea")
        self.assertEqual(r["bus"], "pm-tcp")
        self.assertEqual(r["unit_id"], d["unit"])
        self.assertEqual(r["profile"], d["profile"]["name"])
        self.assertEqual(r["serial"], f"SN-{d['unit']}")
        self.assertEqual(r["households"], [{"household": "HH-001", "contract": "C-001"}],
                         "only the contract valid today")
        self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertEqual(set(r["fields"]), {f["name"] for f in d["profile"]["fields"]},
                         "every field of the profile is reported")

    def check_field(self, d, name, got):
        f = next(x for x in d["profile"]["fields"] if x["name"] == name)
        s, o = d["cal"].get(name, (1.0, 0.0))
        want = h.value_of_raw(f, d["raws"][name], s, o)
        where = f"{d['id']}.{name} ({f['type']} {f['order']} raw {d['raws'][name]!r})"
        self.assertIsNotNone(got["value"], where)
        self.assertAlmostEqual(got["value"], want, delta=h.tolerance(f, want, s),
                               msg=where)
        self.assertEqual(got["unit"], f["unit"], where)
        self.assertEqual(got["quality"], h.expected_quality(f, want), where)
        return want

    def test_every_profile_decodes(self):
        """One --once run, every shipped profile, the all-types profile and calibration."""
        devices = self.devices
        cfg = h.write_config(os.path.join(self.dir, "profiles.yaml"),
                             self.config([self.device_entry(d) for d in devices]))
        res = h.selgw("run", "--once", "-c", cfg)
        h.say(f"selgw run --once with {len(devices)} devices: exit status {res.returncode}")
        self.assertEqual(res.returncode, 0, res.describe())
        got = res.by_device()
        self.assertEqual(set(got), {d["id"] for d in devices}, res.describe())
        checked = 0
        for d in devices:
            self.assertEqual(len(got[d["id"]]), 1, f"{d['id']}: one reading per --once")
            r = got[d["id"]][0]
            self.assertEqual(r["status"], "ok", r)
            self.assertEqual(r["attempts"], 1, r)
            self.check_common(r, d)
            values = {}
            for name, fv in r["fields"].items():
                values[name] = self.check_field(d, name, fv)
                checked += 1
            if d["negative"]:
                self.assertLess(values[d["negative"]], 0, f"{d['id']}: negative value")
                self.assertLess(r["fields"][d["negative"]]["value"], 0)
            if d["outside"]:
                self.assertEqual(r["fields"][d["outside"]]["quality"], "out_of_range",
                                 f"{d['id']}.{d['outside']} is outside its range")
            h.say(f"{d['id']}: {len(r['fields'])} fields decoded"
                  + (f", negative {d['negative']}={values[d['negative']]:g}"
                     if d["negative"] else "")
                  + (f", out_of_range {d['outside']}={values[d['outside']]:g}"
                     if d["outside"] else ""))
        shipped = {d["profile"]["name"] for d in devices}
        for p in self.profiles:
            self.assertIn(p["name"], shipped)
        h.say(f"{checked} field values checked (value within half a raw step, unit, quality)")
        cal = got["dev-calibrated"][0]["fields"]
        self.assertAlmostEqual(cal["soil_moisture"]["value"], 30.2, delta=0.056)
        self.assertAlmostEqual(cal["soil_temperature"]["value"], -3.3, delta=0.051)
        self.assertAlmostEqual(cal["soil_ec"]["value"], 510.0, delta=0.26)
        h.say("calibration applied: soil_moisture*1.1-1.5, soil_temperature+0.5, soil_ec*0.5+10")

    def test_exceptions(self):
        """Exception 2 for a whole device and for one read of four; exit status 1."""
        healthy = self.devices[0]
        dev_none = {"id": "dev-no-registers", "unit": 70, "cal": {},
                    "profile": next(p for p in self.profiles if p["name"] == "cwt-soil-thc-s")}
        dev_part = {"id": "dev-partial", "unit": 71, "cal": {}, "profile": self.jxct,
                    "raws": self.jxct_raws}
        cfg = h.write_config(os.path.join(self.dir, "exceptions.yaml"), self.config(
            [self.device_entry(d) for d in (healthy, dev_none, dev_part)], retries=0))
        res = h.selgw("run", "--once", "-c", cfg)
        h.say(f"selgw run --once with two devices answering exceptions: exit status "
              f"{res.returncode}")
        self.assertEqual(res.returncode, 1, res.describe())
        got = res.by_device()
        self.assertEqual(got[healthy["id"]][0]["status"], "ok", res.describe())

        r = got["dev-no-registers"][0]
        self.check_common(r, dev_none)
        self.assertEqual(r["status"], "exception", r)
        self.assertEqual(r["exception"], 2, r)
        for name, fv in r["fields"].items():
            self.assertEqual(fv["quality"], "read_failed", name)
            self.assertIsNone(fv["value"], name)
        h.say("dev-no-registers: status exception, exception 2, every field read_failed/null")

        r = got["dev-partial"][0]
        self.check_common(r, dev_part)
        self.assertEqual(r["status"], "exception", r)
        self.assertEqual(r["exception"], 2, r)
        for f in self.jxct["fields"]:
            fv = r["fields"][f["name"]]
            if f["address"] >= 0x1E:
                self.assertEqual(fv["quality"], "read_failed", f["name"])
                self.assertIsNone(fv["value"], f["name"])
            else:
                self.check_field(dev_part, f["name"], fv)
        h.say("dev-partial: the failed N/P/K read is read_failed, the other three reads "
              "keep their values")
        self.assertRegex(res.stderr, r"dev-no-registers.*exception", res.describe())

    def test_unserved_unit_times_out(self):
        """A unit id the server does not serve gets no answer: status timeout, exit 1."""
        d = {"id": "dev-nobody", "unit": 99, "cal": {},
             "profile": next(p for p in self.profiles if p["name"] == "xy-md02")}
        cfg = h.write_config(os.path.join(self.dir, "nobody.yaml"),
                             self.config([self.device_entry(d)], retries=1, timeout="200ms"))
        res = h.selgw("run", "--once", "-c", cfg)
        self.assertEqual(res.returncode, 1, res.describe())
        r = res.by_device()["dev-nobody"][0]
        self.assertEqual(r["status"], "timeout", r)
        self.assertEqual(r["attempts"], 2, "one retry configured")
        self.assertTrue(all(fv["quality"] == "read_failed" for fv in r["fields"].values()))
        h.say("unit 99 (not served): status timeout after 2 attempts, exit status 1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
