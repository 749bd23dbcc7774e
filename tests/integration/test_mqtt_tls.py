#!/usr/bin/env python3
"""The MQTT sink over TLS against a real mosquitto: CA, client certificate, user and password.

The test makes its own PKI with the openssl command (a self-signed CA, a server certificate
for 127.0.0.1/localhost, a client certificate signed by the CA) and starts mosquitto with a
TLS listener that requires a client certificate and a valid user name and password.

- tls_delivery: the gateway polls simulated devices and publishes over TLS with a client
  certificate and credentials; a subscriber over TLS receives every reading the gateway
  printed, the retained status is "online", and the password appears in no log line.
- wrong_password: the broker refuses the gateway's credentials; the gateway says so, goes
  on polling and journaling, and delivers nothing. With the right password written into the
  password file and a SIGHUP, every record of the journal reaches the subscriber: nothing
  polled during the refusal is lost.
- no_client_certificate: a client without a certificate never gets a CONNACK from the broker
  (require_certificate), so the broker really checks what the gateway presents.
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import servers  # noqa: E402

OPENSSL = "/usr/bin/openssl"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"

GATEWAY_ID = "itest-tls"
PREFIX = "itest/tls"
GW_USER, GW_PASSWORD = "gw-user", "gw-secret-Zq7xK2"
WRONG_PASSWORD = "not-the-password"
SUB_USER, SUB_PASSWORD = "reader", "reader-secret-9fW"
DEVICES = [("soil-1", "cwt-soil-thc-s", "plot-tea"),
           ("air-1", "xy-md02", "plot-gh"),
           ("co2-1", "senseair-k30", "plot-gh")]


def run(argv, **kw):
    """Runs a helper command (openssl, mosquitto_passwd); fails with its output if it fails."""
    p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=h.scaled(60), preexec_fn=h.die_with_parent, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))}: exit status {p.returncode}\n"
                             f"{p.stdout.decode(errors='replace')}"
                             f"{p.stderr.decode(errors='replace')}")
    return p


class Pki:
    """A CA, a server certificate (CN and subjectAltName 127.0.0.1, DNS localhost) and a
    client certificate, EC prime256v1 keys, in DIR/pki. Keys the gateway reads are 0600;
    the server's key is readable by the user mosquitto drops its privileges to."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pki")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.ca_cert = os.path.join(self.dir, "ca.crt")
        self.ca_key = os.path.join(self.dir, "ca.key")
        run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "2",
             "-subj", "/CN=selgw integration test CA"])
        self.server_cert, self.server_key = self.issue(
            "server", "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "extendedKeyUsage=serverAuth\n"
            "keyUsage=critical,digitalSignature,keyAgreement\n")
        self.client_cert, self.client_key = self.issue(
            "client", f"/CN={GATEWAY_ID}",
            "extendedKeyUsage=clientAuth\n"
            "keyUsage=critical,digitalSignature,keyAgreement\n")
        for path in (self.ca_cert, self.server_cert, self.server_key, self.client_cert):
            os.chmod(path, 0o644)
        os.chmod(self.client_key, 0o600)
        os.chmod(self.ca_key, 0o600)

    def issue(self, name, subject, extensions):
        key, csr, cert = (os.path.join(self.dir, f"{name}.{ext}") for ext in ("key", "csr", "crt"))
        ext_file = os.path.join(self.dir, f"{name}.ext")
        with open(ext_file, "w") as f:
            f.write(extensions)
        run([OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", csr, "-subj", subject])
        run([OPENSSL, "x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
             "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext_file])
        return cert, key


class TlsMosquitto:
    """mosquitto with one TLS listener on a free loopback port: client certificate required,
    user names and passwords from a password file, no anonymous access, no persistence."""

    def __init__(self, workdir, pki):
        self.dir = os.path.join(workdir, "mosquitto")
        os.makedirs(self.dir, exist_ok=True)
        # Started as root, mosquitto drops to the user "mosquitto", which must read its files.
        os.chmod(workdir, 0o755)
        os.chmod(self.dir, 0o755)
        self.passwd = os.path.join(self.dir, "passwd")
        run([MOSQUITTO_PASSWD, "-b", "-c", self.passwd, GW_USER, GW_PASSWORD])
        run([MOSQUITTO_PASSWD, "-b", self.passwd, SUB_USER, SUB_PASSWORD])
        os.chmod(self.passwd, 0o644)
        self.port = h.free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\n"
                    f"cafile {pki.ca_cert}\n"
                    f"certfile {pki.server_cert}\n"
                    f"keyfile {pki.server_key}\n"
                    "require_certificate true\n"
                    "use_identity_as_username false\n"
                    "allow_anonymous false\n"
                    f"password_file {self.passwd}\n"
                    "persistence false\n"
                    "max_queued_messages 1000000\n"
                    "log_dest stderr\n"
                    "log_type all\n")
        self.proc = h.Process("mosquitto", [servers.MOSQUITTO, "-c", self.conf])
        servers.wait_port(self.port, h.scaled(10))

    def log(self):
        return "\n".join(self.proc.stderr()) if self.proc else ""

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None


def tls_client_args(broker, pki, cert=True, user=SUB_USER, password=SUB_PASSWORD):
    args = ["-h", "127.0.0.1", "-p", str(broker.port), "--cafile", pki.ca_cert]
    if cert:
        args += ["--cert", pki.client_cert, "--key", pki.client_key]
    if user:
        args += ["-u", user, "-P", password]
    return args


class TlsSubscriber(h.Process):
    """mosquitto_sub over TLS (client certificate, user, password), QoS 1, printing the topic
    and payload of every message."""

    def __init__(self, broker, pki, topic, client_id="selgw-itest-tls-subscriber"):
        super().__init__("mosquitto_sub", [
            servers.MOSQUITTO_SUB, *tls_client_args(broker, pki), "-t", topic, "-q", "1",
            "-i", client_id, "-v"])
        # Subscribed once the broker has logged the client's SUBSCRIBE.
        broker.proc.wait_for(rf"Received SUBSCRIBE from {client_id}", h.scaled(15),
                             stream="err")
        if not self.alive():
            raise AssertionError("subscriber exited\n" + self.describe())

    def messages(self):
        """(topic, payload text) of every message."""
        out = []
        for line in self.stdout():
            topic, _, payload = line.partition(" ")
            out.append((topic, payload))
        return out

    def json_messages(self):
        """(topic, payload object) of every message whose payload is a JSON object."""
        out = []
        for topic, payload in self.messages():
            try:
                obj = json.loads(payload)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append((topic, obj))
        return out

    def seqs(self):
        return [obj["seq"] for _, obj in self.json_messages() if "seq" in obj]


def retained(broker, pki, topic):
    """The retained message of a topic, as a fresh TLS client sees it (None if none)."""
    p = subprocess.run([servers.MOSQUITTO_SUB, *tls_client_args(broker, pki), "-t", topic,
                        "-C", "1", "-W", str(int(h.scaled(5))), "-i", "selgw-itest-tls-retained"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=h.scaled(30),
                       preexec_fn=h.die_with_parent)
    text = p.stdout.decode(errors="replace").strip()
    return text if p.returncode == 0 and text else None


def device_config(sim_port):
    return h.make_config(
        GATEWAY_ID,
        [{"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
          "response_timeout": "500ms"}],
        [{"id": d, "bus": "tcp0", "unit_id": i + 1, "profile": p, "plot": plot,
          "interval": "200ms"} for i, (d, p, plot) in enumerate(DEVICES)])


def write_secret(path, text):
    """A private password file (0600), as the config loader requires."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)


class MqttTls(unittest.TestCase):
    def setUp(self):
        h.check_binaries()
        for tool in (OPENSSL, MOSQUITTO_PASSWD, servers.MOSQUITTO, servers.MOSQUITTO_SUB):
            if not os.access(tool, os.X_OK):
                self.fail(f"{tool} is missing (packages openssl, mosquitto, mosquitto-clients)")
        self.dir = h.tempdir(self.id().rsplit(".", 1)[-1])
        self.pki = Pki(self.dir)
        self.broker = TlsMosquitto(self.dir, self.pki)
        self.gw = self.sub = self.sim = None

    def tearDown(self):
        for p in (self.gw, self.sim, self.sub):
            if p:
                p.stop()
        self.broker.stop()

    def start_simulator(self):
        sim_port = h.free_port()
        path = h.write_config(os.path.join(self.dir, "sim.yaml"), device_config(sim_port))
        self.sim = h.Simulator(path)
        return sim_port

    def gateway_config(self, sim_port, password):
        self.password_file = os.path.join(self.dir, "mqtt.pass")
        write_secret(self.password_file, password)
        cfg = device_config(sim_port)
        cfg["journal"] = {"dir": os.path.join(self.dir, "journal")}
        cfg["mqtt"] = {"host": "127.0.0.1", "port": self.broker.port, "protocol": 5, "qos": 1,
                       "topic_prefix": PREFIX, "username": GW_USER,
                       "password_file": self.password_file,
                       "reconnect": {"min": "200ms", "max": "1s"},
                       "tls": {"ca_file": self.pki.ca_cert, "cert_file": self.pki.client_cert,
                               "key_file": self.pki.client_key}}
        return h.write_config(os.path.join(self.dir, "gw.yaml"), cfg)

    def wait_received(self, seqs, what):
        """Waits until the subscriber has every sequence number of seqs."""
        seqs = set(seqs)
        ok = h.wait_until(lambda: seqs <= set(self.sub.seqs()), h.scaled(20), interval=0.2)
        missing = sorted(seqs - set(self.sub.seqs()))
        self.assertTrue(ok, f"{what}: {len(missing)} of {len(seqs)} not received over MQTT, "
                            f"e.g. {missing[:10]}\n{self.gw.describe()}\n"
                            f"--- broker log\n{self.broker.log()[-4000:]}")

    def assert_no_secret_in_logs(self, *secrets):
        err = "\n".join(self.gw.stderr())
        out = "\n".join(self.gw.stdout())
        for secret in secrets:
            self.assertNotIn(secret, err, "a password appears in the gateway's stderr")
            self.assertNotIn(secret, out, "a password appears in the gateway's stdout")

    def test_tls_delivery(self):
        sim_port = self.start_simulator()
        cfg_path = self.gateway_config(sim_port, GW_PASSWORD)
        self.sub = TlsSubscriber(self.broker, self.pki, PREFIX + "/#")
        self.gw = h.Gateway(cfg_path, "--print")
        h.say("gateway publishes over TLS (CA, client certificate, user/password), MQTT 5, QoS 1")
        self.gw.wait_readings(lambda rs: len(rs) >= 10, h.scaled(15), "10 readings")
        time.sleep(h.scaled(3))
        printed = {r["seq"] for r in self.gw.readings()}
        self.wait_received(printed, "readings printed by the gateway")
        h.say(f"all {len(printed)} readings printed by the gateway were received over TLS")
        by_seq = {obj["seq"]: (topic, obj) for topic, obj in self.sub.json_messages()
                  if "seq" in obj}
        for r in self.gw.readings():
            if r["seq"] in by_seq:
                topic, obj = by_seq[r["seq"]]
                self.assertEqual(topic, f"{PREFIX}/{r['base']}/{r['plot']}/{r['device']}")
                self.assertEqual(obj["device"], r["device"])
                self.assertEqual(obj["time"], r["time"])
        devices = {obj["device"] for _, obj in by_seq.values() if obj.get("type") == "reading"}
        self.assertEqual(devices, {d for d, _, _ in DEVICES})
        h.say(f"readings of all {len(devices)} devices on PREFIX/BASE/PLOT/DEVICE")

        status_topic = f"{PREFIX}/{GATEWAY_ID}/status"
        self.assertIn((status_topic, "online"), self.sub.messages())
        self.assertEqual(retained(self.broker, self.pki, status_topic), "online")
        h.say(f"{status_topic} is 'online', retained")
        log = self.broker.log()
        self.assertRegex(log, rf"New client connected from 127\.0\.0\.1:\d+ as selgw-{GATEWAY_ID}"
                              rf" \(p5, c1, k\d+, u'{GW_USER}'\)")
        h.say("the broker logged the gateway's connection: MQTT 5, user " + GW_USER)

        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        self.assert_no_secret_in_logs(GW_PASSWORD)
        h.say("the password appears nowhere in the gateway's output")
        self.assertEqual(retained(self.broker, self.pki, status_topic), "offline")
        h.say(f"after a clean stop {status_topic} is 'offline', retained")

    def test_wrong_password(self):
        sim_port = self.start_simulator()
        cfg_path = self.gateway_config(sim_port, WRONG_PASSWORD)
        self.sub = TlsSubscriber(self.broker, self.pki, PREFIX + "/#")
        self.gw = h.Gateway(cfg_path, "--print")
        self.gw.wait_for(r"server refused the credentials", h.scaled(15), stream="err")
        h.say("wrong password: the gateway logs 'server refused the credentials'")
        self.gw.wait_readings(lambda rs: len(rs) >= 20, h.scaled(15), "20 readings")
        time.sleep(h.scaled(1.5))
        before = len(self.gw.readings())
        self.gw.wait_readings(lambda rs: len(rs) >= before + 10, h.scaled(10),
                              "10 more readings while refused")
        self.assertTrue(self.gw.alive(), self.gw.describe())
        self.assertEqual(self.sub.messages(), [], "delivered although the credentials are wrong")
        self.assertRegex(self.broker.log(), r"not authori[sz]ed|bad user name or password",
                         self.broker.log()[-4000:])
        during = {r["seq"] for r in self.gw.readings()}
        h.say(f"still polling and journaling: {len(during)} readings, none delivered")
        refusals = [line for line in self.gw.stderr() if "refused the credentials" in line]
        self.assertLessEqual(len(refusals), 3, "the refusal is logged once, not per attempt:\n"
                             + "\n".join(refusals))

        write_secret(self.password_file, GW_PASSWORD)
        err_mark = len(self.gw.stderr())
        self.gw.send_signal(signal.SIGHUP)
        self.gw.wait_for(r"reload: reading", h.scaled(10), stream="err", start=err_mark)
        h.say("right password written, SIGHUP: the gateway reloads")
        self.wait_received(during, "readings journaled while the credentials were refused")
        h.say(f"all {len(during)} readings journaled during the refusal were received")
        records = servers.journal_records(cfg_path)
        seqs = [r["seq"] for r in records]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))),
                         "journal sequence numbers are not contiguous")
        self.wait_received(seqs, "journal records")
        h.say(f"every record of the journal ({len(seqs)}, seq {seqs[0]}..{seqs[-1]}, "
              f"{sum(r['type'] != 'reading' for r in records)} events) was received")
        status_topic = f"{PREFIX}/{GATEWAY_ID}/status"
        self.assertEqual(retained(self.broker, self.pki, status_topic), "online")

        self.assertEqual(self.gw.stop(), 0, self.gw.describe())
        self.assertEqual([line for line in self.gw.stderr() if "rejected" in line], [])
        self.assert_no_secret_in_logs(GW_PASSWORD, WRONG_PASSWORD)
        h.say("neither password appears in the gateway's output")

    def test_no_client_certificate(self):
        p = subprocess.run([servers.MOSQUITTO_SUB, *tls_client_args(self.broker, self.pki,
                                                                     cert=False),
                            "-t", PREFIX + "/#", "-C", "1", "-W", str(int(h.scaled(5))), "-d",
                            "-i", "selgw-itest-tls-nocert"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=h.scaled(30),
                           preexec_fn=h.die_with_parent)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, out)
        self.assertNotIn("received CONNACK", out)
        self.assertFalse(h.wait_until(lambda: "selgw-itest-tls-nocert" in self.broker.log(), 1),
                         self.broker.log())
        h.say(f"a client without a certificate gets no CONNACK (exit status {p.returncode})")
        # The same client with its certificate is accepted: the refusal was the certificate.
        p = subprocess.run([servers.MOSQUITTO_SUB, *tls_client_args(self.broker, self.pki),
                            "-t", PREFIX + "/#", "-C", "1", "-W", "1", "-d",
                            "-i", "selgw-itest-tls-cert"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=h.scaled(30),
                           preexec_fn=h.die_with_parent)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        self.assertIn("received CONNACK (0)", out)
        h.say("with its certificate the same client is accepted")


if __name__ == "__main__":
    unittest.main(verbosity=2)
