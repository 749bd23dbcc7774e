"""Real delivery servers for the integration tests: mosquitto and influxd (Debian's
influxdb 1.6, v1 API), each started on free loopback ports in a temporary directory and
stopped by pid; and a mosquitto_sub subscriber that collects what the gateway published.

A server can be stopped and started again on the same ports and data (an outage)."""
import json
import os
import time
import urllib.parse
import urllib.request

import harness as h

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
INFLUXD = "/usr/bin/influxd"


def wait_port(port, timeout):
    import socket

    def accepts():
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", port)) == 0
    if not h.wait_until(accepts, timeout, interval=0.05):
        raise AssertionError(f"nothing accepts connections on 127.0.0.1:{port}")


class Mosquitto:
    """A broker with persistence on, so that a subscriber's persistent session (and the
    messages queued for it) outlives a restart of the broker: the test's subscriber then
    misses nothing that the broker acknowledged to the gateway."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "mosquitto")
        os.makedirs(self.dir, exist_ok=True)
        # Started as root, mosquitto drops to the user "mosquitto": it must be able to
        # write its persistence file here.
        os.chmod(workdir, 0o755)
        os.chmod(self.dir, 0o777)
        self.port = h.free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\n"
                    "allow_anonymous true\n"
                    "persistence true\n"
                    f"persistence_location {self.dir}/\n"
                    "autosave_interval 1\n"
                    "max_queued_messages 1000000\n"
                    "log_dest stderr\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = h.Process("mosquitto", [MOSQUITTO, "-c", self.conf])
        wait_port(self.port, h.scaled(10))

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None


class Influxd:
    def __init__(self, workdir, database="selgw"):
        self.dir = os.path.join(workdir, "influxdb")
        os.makedirs(self.dir, exist_ok=True)
        self.port = h.free_port()
        self.rpc_port = h.free_port()
        self.database = database
        self.conf = os.path.join(self.dir, "influxdb.conf")
        with open(self.conf, "w") as f:
            f.write(f'reporting-disabled = true\n'
                    f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
                    f'[meta]\n  dir = "{self.dir}/meta"\n'
                    f'[data]\n  dir = "{self.dir}/data"\n  wal-dir = "{self.dir}/wal"\n'
                    f'  query-log-enabled = false\n'
                    f'[monitor]\n  store-enabled = false\n'
                    f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n'
                    f'  log-enabled = false\n'
                    f'[subscriber]\n  enabled = false\n')
        self.proc = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()
        self.query(f"CREATE DATABASE {database}", method="POST")

    def start(self):
        self.proc = h.Process("influxd", [INFLUXD, "-config", self.conf])
        deadline = time.monotonic() + h.scaled(30)
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:
                    if r.status == 204:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("influxd did not start\n" + self.proc.describe())

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def query(self, q, method="GET"):
        params = urllib.parse.urlencode({"db": self.database, "q": q, "epoch": "ns"})
        if method == "POST":
            req = urllib.request.Request(self.url + "/query", data=params.encode(),
                                         method="POST")
        else:
            req = urllib.request.Request(self.url + "/query?" + params)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def column(self, q, name):
        """All values of one column of a query's result."""
        out = []
        for result in self.query(q).get("results", []):
            if "error" in result:
                raise AssertionError(f"influx query {q!r}: {result['error']}")
            for series in result.get("series", []):
                idx = series["columns"].index(name)
                out += [row[idx] for row in series["values"]]
        return out


class Subscriber(h.Process):
    """mosquitto_sub with a persistent session (-c, fixed id, QoS 1), printing topic and
    payload of every message."""

    def __init__(self, broker, topic):
        super().__init__("mosquitto_sub", [
            MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-q", "1",
            "-c", "-i", "selgw-itest-subscriber", "-v"])

    def messages(self):
        """(topic, payload object) of every message whose payload is a JSON object."""
        out = []
        for line in self.stdout():
            topic, _, payload = line.partition(" ")
            try:
                obj = json.loads(payload)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append((topic, obj))
        return out

    def seqs(self):
        return [obj["seq"] for _, obj in self.messages() if "seq" in obj]


def uplink_gateway_config(gateway, sim_port, broker, prefix, key, journal, devices):
    """A gateway polling `devices` ((id, profile, plot) on one TCP bus of the simulator at
    sim_port, every 200 ms) with the evidence uplink to broker under `prefix`, quick to
    reconnect; signing with 1 s seals when key is given; its journal at `journal` if
    given."""
    cfg = h.make_config(
        gateway,
        [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
          "response_timeout": "500ms"}],
        [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": p, "plot": plot,
          "interval": "200ms"} for i, (d, p, plot) in enumerate(devices)])
    cfg["uplink"] = {"host": "127.0.0.1", "port": broker.port, "topic_prefix": prefix,
                     "reconnect": {"min": "200ms", "max": "1s"}}
    if key:
        cfg["signing"] = {"secret_key": key, "seal_interval": "1s"}
    if journal:
        cfg["journal"] = {"dir": journal}
    return cfg


def journal_records(config_path):
    """Every record of the journal, from `selgw journal --dump` (read-only)."""
    res = h.selgw("journal", "-c", config_path, "--dump")
    if res.returncode != 0:
        raise AssertionError("selgw journal --dump failed\n" + res.describe())
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


class EvidenceSubscriber(h.Process):
    """mosquitto_sub over MQTT 5 with a persistent session (-c, fixed id, session without
    expiry, QoS 1) on PREFIX/+/evidence, printing each message's topic, content type, user
    properties and payload in hex: what the evidence uplink published (docs/ARCHIVE.md)."""

    def __init__(self, broker, prefix, client_id="selgw-itest-evidence"):
        super().__init__("mosquitto_sub", [
            MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(broker.port), "-V", "5",
            "-t", f"{prefix}/+/evidence", "-q", "1", "-c", "-i", client_id,
            "-F", "%t|%C|%P|%x"])

    def messages(self):
        """(topic, content type, {user property: value}, payload bytes) of every message."""
        out = []
        for line in self.stdout():
            parts = line.split("|")
            if len(parts) != 4:
                continue
            topic, ctype, props, payload = parts
            user = dict(p.split(":", 1) for p in props.split() if ":" in p)
            out.append((topic, ctype, user, bytes.fromhex(payload)))
        return out

    def seqs(self):
        return [int(m[2]["selgw-seq"]) for m in self.messages() if "selgw-seq" in m[2]]


PG_BIN = "/usr/lib/postgresql/15/bin"
PSQL = "/usr/bin/psql"


class Postgres:
    """A PostgreSQL 15 server of its own: initdb into a temporary directory, listening on a
    free loopback port and a socket in that directory, stopped by pid. PostgreSQL refuses
    to run as root, so as root the server and its tools run as the user `postgres`
    (setpriv, which execs: the pid stopped is the server's), which owns the directory. A database `selgw` is created; `conninfo` reaches
    it over TCP as the superuser `postgres` (trust authentication: tests only)."""

    def __init__(self, workdir, user="postgres"):
        import pwd
        self.dir = os.path.join(workdir, "postgres")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir, exist_ok=True)
        self.prefix = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam(user)
            os.chmod(workdir, 0o755)
            for d, _, files in os.walk(self.dir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            self.prefix = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                           "--init-groups", "--"]
        self.port = h.free_port()
        res = self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "postgres",
                         "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        if res.returncode != 0:
            raise AssertionError("initdb failed:\n" + res.stdout + res.stderr)
        self.conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=selgw"
        self.proc = None
        self.start()
        self.psql("CREATE DATABASE selgw", dbname="postgres")

    def _run(self, argv, timeout=60):
        import subprocess
        return subprocess.run(self.prefix + argv, capture_output=True, text=True,
                              timeout=timeout, cwd="/")

    def start(self):
        # fsync off: a test's server, never a crash's
        self.proc = h.Process("postgres", self.prefix + [
            os.path.join(PG_BIN, "postgres"), "-D", self.data, "-k", self.dir,
            "-p", str(self.port), "-h", "127.0.0.1", "-c", "fsync=off",
            "-c", "max_connections=50"])
        deadline = time.monotonic() + h.scaled(30)
        while time.monotonic() < deadline:
            res = self._run([os.path.join(PG_BIN, "pg_isready"), "-h", "127.0.0.1",
                             "-p", str(self.port)], timeout=10)
            if res.returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("postgres did not start\n" + self.proc.describe())

    def stop(self):
        """Fast shutdown (SIGINT): SIGTERM would wait for every client to disconnect."""
        import signal
        if self.proc:
            self.proc.stop(sig=signal.SIGINT)
            self.proc = None

    def psql(self, sql, dbname="selgw"):
        """Runs sql; returns the rows as lists of strings (unaligned, tab-separated)."""
        import subprocess
        res = subprocess.run([PSQL, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", dbname, "-c", sql], capture_output=True, text=True,
                             timeout=120)
        if res.returncode != 0:
            raise AssertionError(f"psql {sql!r}: {res.stderr}")
        return [line.split("\t") for line in res.stdout.splitlines() if line]


class Archive(h.Process):
    """selgw archive -c CONFIG in the background."""

    def __init__(self, config_path, name="selgw-archive"):
        super().__init__(name, [h.SELGW_BIN, "archive", "-c", config_path])


def write_archive_config(path, broker, pg, client_id, prefix, application_name,
                         witness_key=None):
    """An archive's config (docs/ARCHIVE.md) towards the broker and PostgreSQL; its
    connections named application_name in pg_stat_activity; a witness of seals with the
    secret key file witness_key, when given."""
    with open(path, "w") as f:
        f.write(f"mqtt:\n  host: 127.0.0.1\n  port: {broker.port}\n"
                f"  client_id: {client_id}\n  topic_prefix: {prefix}\n"
                f"  session_expiry: 1h\n"
                f"postgresql:\n  conninfo: \"{pg.conninfo} "
                f"application_name={application_name}\"\n")
        if witness_key:
            f.write(f"witness:\n  key: {witness_key}\n")
    return path


def export_journal_and_archive(test, workdir, cfg_path, key, pg, gateway, plot, t1, t2):
    """A plot's bundle exported from the gateway's journal and from the archive
    (`selgw export --archive`): asserts the same bytes and that it verifies with the
    gateway's key; returns the bundle."""
    res = h.selgw("pubkey", key)
    test.assertEqual(res.returncode, 0, res.describe())
    pub = res.stdout.strip()
    from_journal = os.path.join(workdir, f"{gateway}-journal.evidence")
    from_archive = os.path.join(workdir, f"{gateway}-archive.evidence")
    res = h.selgw("export", "-c", cfg_path, "--plot", plot, "--from", t1, "--to", t2,
                  "-o", from_journal, "--plain", "--wait", "0")
    test.assertEqual(res.returncode, 0, res.describe())
    res = h.selgw("export", "--archive", pg.conninfo, "--gateway", gateway, "--pubkey", pub,
                  "--plot", plot, "--from", t1, "--to", t2, "-o", from_archive, "--plain")
    test.assertEqual(res.returncode, 0, res.describe())
    with open(from_journal, "rb") as f:
        a = f.read()
    with open(from_archive, "rb") as f:
        b = f.read()
    test.assertEqual(a, b, f"{gateway}: the archive's bundle differs from the journal's")
    res = h.selgw("verify", from_archive, "--pubkey", pub)
    test.assertEqual(res.returncode, 0, res.describe())
    test.assertIn("VERIFIED", res.stdout)
    return a
