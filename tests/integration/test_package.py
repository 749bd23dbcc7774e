#!/usr/bin/python3
"""The .deb that `cpack -G DEB` builds from this build tree, taken apart in a scratch dir.

Never installed on this machine: the package is read with dpkg-deb -I / -c / -e and
unpacked with dpkg -x into a scratch root, where
- every file is in place with its mode: selgw and selgw-sim in /usr/bin (0755), the unit in
  /usr/lib/systemd/system with ExecStart=/usr/bin/selgw, the example config as the conffile
  /etc/selgw/selgw.yaml, every shipped profile in /usr/share/selgw/profiles, the docs and
  examples in /usr/share/doc/selgw;
- the control file's Depends, computed by dpkg-shlibdeps, names libmodbus5, libsystemd0 and
  the other libraries, adduser and procps; conffiles lists /etc/selgw/selgw.yaml;
- the maintainer scripts are valid sh, and run against stand-ins for adduser, getent,
  install, systemctl and deb-systemd-helper (with DPKG_ROOT at the scratch root) they make
  the system user selgw in group dialout and its state directory, record the unit, and
  never touch systemd when it is not running; a purge keeps the journal;
- the unpacked selgw runs (`version`), and the unpacked unit passes systemd-analyze verify.
Skipped when dpkg-deb or cpack is missing.
"""
import glob
import os
import re
import shutil
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_service import verify_unit  # noqa: E402

BUILD_DIR = os.environ.get("SELGW_BUILD_DIR") or os.path.dirname(h.SELGW_BIN)
STUBS = {
    # name: (exit status, what it does besides writing its arguments to the log)
    "adduser": (0, ""),
    "getent": (2, ""),  # no user selgw yet (a first install)
    "install": (0, 'for last; do :; done; mkdir -p "$last"'),
    "deb-systemd-helper": (0, ""),
    "deb-systemd-invoke": (0, ""),
    "systemctl": (0, ""),
}


def run(*argv, **kw):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=h.scaled(120), **kw)


@unittest.skipUnless(shutil.which("dpkg-deb") and shutil.which("cpack"),
                     "dpkg-deb or cpack is not installed (Debian packages dpkg, cmake)")
class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        h.check_binaries()
        cls.dir = h.tempdir("package")
        res = run("cpack", "-G", "DEB", "-B", cls.dir, "--config",
                  os.path.join(BUILD_DIR, "CPackConfig.cmake"), cwd=BUILD_DIR)
        debs = glob.glob(os.path.join(cls.dir, "selgw_*.deb"))
        if res.returncode != 0 or len(debs) != 1:
            raise AssertionError("cpack -G DEB failed:\n" + res.stdout + res.stderr)
        cls.deb = debs[0]
        cls.root = os.path.join(cls.dir, "root")
        res = run("dpkg", "-x", cls.deb, cls.root)
        assert res.returncode == 0, res.stderr
        cls.control = os.path.join(cls.dir, "control")
        res = run("dpkg-deb", "-e", cls.deb, cls.control)
        assert res.returncode == 0, res.stderr
        h.say(f"cpack -G DEB: {os.path.basename(cls.deb)}, "
              f"{os.path.getsize(cls.deb) // 1024} KiB")

    def test_control_depends_and_conffiles(self):
        res = run("dpkg-deb", "-I", self.deb)
        self.assertEqual(res.returncode, 0, res.stderr)
        fields = dict(re.findall(r"(?m)^ (\w[\w-]*): (.*)$", res.stdout))
        self.assertEqual(fields["Package"], "selgw")
        depends = [d.strip().split(" ")[0] for d in fields["Depends"].split(",")]
        # procps: /bin/kill of the unit's ExecReload, absent from a minimal Debian
        for lib in ("adduser", "procps", "libc6", "libmodbus5", "libsystemd0", "libmosquitto1",
                    "libcurl4", "libfyaml0", "libsodium23", "libjansson4", "zlib1g"):
            self.assertIn(lib, depends, fields["Depends"])
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/selgw/selgw.yaml"])
        h.say("Depends: " + fields["Depends"])

    def test_files_in_place_with_their_modes(self):
        res = run("dpkg-deb", "-c", self.deb)
        self.assertEqual(res.returncode, 0, res.stderr)
        listed = {}
        for line in res.stdout.splitlines():
            parts = line.split()
            listed[parts[-1].lstrip(".")] = (parts[0], parts[1])
        profiles = sorted(os.listdir(os.path.join(h.SOURCE_DIR, "sensors", "profiles")))
        expect = {
            "/usr/bin/selgw": "-rwxr-xr-x",
            "/usr/bin/selgw-sim": "-rwxr-xr-x",
            "/usr/lib/systemd/system/selgw.service": "-rw-r--r--",
            "/etc/selgw/selgw.yaml": "-rw-r--r--",
            "/usr/share/doc/selgw/SERVICE.md": "-rw-r--r--",
            "/usr/share/doc/selgw/README.md": "-rw-r--r--",
            "/usr/share/doc/selgw/sensors/README.md": "-rw-r--r--",
            "/usr/share/doc/selgw/examples/example-tea-base.yaml": "-rw-r--r--",
            **{f"/usr/share/selgw/profiles/{p}": "-rw-r--r--" for p in profiles},
        }
        for path, mode in expect.items():
            self.assertIn(path, listed, res.stdout)
            self.assertEqual(listed[path], (mode, "root/root"), path)
        for path in listed:
            self.assertFalse(path.startswith("/usr/local"), path)
        with open(os.path.join(self.root, "etc/selgw/selgw.yaml"), encoding="utf-8") as f:
            example = os.path.join(h.SOURCE_DIR, "config", "example-tea-base.yaml")
            with open(example, encoding="utf-8") as g:
                self.assertEqual(f.read(), g.read())
        res = run(os.path.join(self.root, "usr/bin/selgw"), "version")
        self.assertEqual((res.returncode, res.stdout.split()[0]), (0, "selgw"), res.stderr)
        h.say(f"{len(listed)} entries; {len(expect)} checked with their modes; the unpacked "
              f"selgw says: {res.stdout.strip()}")

    def test_unit_as_packaged(self):
        unit = os.path.join(self.root, "usr/lib/systemd/system/selgw.service")
        with open(unit, encoding="utf-8") as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^ExecStart=/usr/bin/selgw run -c /etc/selgw/selgw.yaml")
        self.assertRegex(text, r"(?m)^Type=notify$")
        self.assertRegex(text, r"(?m)^User=selgw$")
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            h.say("systemd-analyze is not installed: the unit is not verified")
            return
        res = verify_unit(analyze, unit, self.dir,
                          binary=os.path.join(self.root, "usr/bin/selgw"))
        self.assertEqual((res.returncode, res.stdout + res.stderr), (0, ""))
        h.say("the packaged unit passes systemd-analyze verify")

    def maintainer_script(self, name, *args, user_exists=False):
        """Runs a maintainer script with DPKG_ROOT at a scratch root and stand-ins for the
        commands that would change this machine; returns (result, the commands called)."""
        stubs = os.path.join(self.dir, f"stubs-{name}-{'-'.join(args) or 'none'}")
        os.makedirs(stubs, exist_ok=True)
        log = os.path.join(stubs, "calls.log")
        for cmd, (status, body) in STUBS.items():
            if cmd == "getent" and user_exists:
                status = 0
            path = os.path.join(stubs, cmd)
            with open(path, "w") as f:
                f.write(f'#!/bin/sh\necho "{cmd} $*" >> "{log}"\n{body}\nexit {status}\n')
            os.chmod(path, 0o755)
        root = os.path.join(self.dir, "dpkg-root")
        env = dict(os.environ, PATH=stubs + ":" + os.environ["PATH"], DPKG_ROOT=root)
        script = os.path.join(self.control, name)
        res = run("sh", script, *args, env=env)
        calls = []
        if os.path.exists(log):
            with open(log) as f:
                calls = f.read().splitlines()
        return res, calls

    def test_maintainer_scripts(self):
        for name in ("postinst", "prerm", "postrm"):
            script = os.path.join(self.control, name)
            self.assertTrue(os.stat(script).st_mode & stat.S_IXUSR, name)
            res = run("sh", "-n", script)
            self.assertEqual(res.returncode, 0, f"{name}: {res.stderr}")

        res, calls = self.maintainer_script("postinst", "configure", "")
        self.assertEqual(res.returncode, 0, res.stderr)
        root = os.path.join(self.dir, "dpkg-root")
        self.assertIn("adduser --quiet --system --group --home /var/lib/selgw --no-create-home "
                      "--comment selgw farm-sensor gateway selgw", calls)
        self.assertIn("adduser --quiet selgw dialout", calls)
        self.assertIn(f"install -d -o selgw -g selgw -m 0751 {root}/var/lib/selgw", calls)
        self.assertIn("deb-systemd-helper update-state selgw.service", calls)
        self.assertFalse([c for c in calls if c.startswith(("systemctl", "deb-systemd-invoke"))],
                         calls)
        h.say("postinst configure (first install): " + "; ".join(calls))

        res, calls = self.maintainer_script("postinst", "configure", "0.0.9", user_exists=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertFalse([c for c in calls if "--system" in c], calls)
        self.assertIn("adduser --quiet selgw dialout", calls)

        res, calls = self.maintainer_script("prerm", "remove")
        self.assertEqual((res.returncode, calls), (0, []), res.stderr)
        res, calls = self.maintainer_script("postrm", "purge")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(calls, ["deb-systemd-helper purge selgw.service"])
        self.assertIn("the journal in /var/lib/selgw is kept", res.stderr)
        self.assertTrue(os.path.isdir(os.path.join(root, "var/lib/selgw")))
        h.say("prerm remove, postrm purge: no systemd when it does not run; the journal kept")


if __name__ == "__main__":
    unittest.main(verbosity=2)
