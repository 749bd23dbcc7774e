#!/usr/bin/python3
"""A scripted fake InfluxDB write endpoint, for testing the InfluxDB sink.

Standard library only (run it with Debian's /usr/bin/python3). Binds 127.0.0.1 on a free
port (or --port), prints the port on the first line of stdout, and serves until it is
killed (SIGTERM: stop it by its pid).

Every POST to /write or /api/v2/write is answered, in this order of precedence:
  1. A request that comes before the Retry-After of the previous answer has passed gets
     429 again and is logged as early (a client that honours Retry-After has none).
  2. The next entry of --script, if any is left:  STATUS[:RETRY_AFTER] or `drop` (close the
     connection without an answer).
  3. With --slow-over LINES:SECONDS, a body of more lines gets no answer for SECONDS,
     then the connection is closed (logged as STATUS 0): a client's timeout.
  4. --always STATUS, if given.
  5. What a real server does with the body (gunzipped when Content-Encoding: gzip):
     413 when it is longer than --max-body bytes; 400 or 422 when a line contains a
     --reject SUBSTRING=STATUS marker (InfluxDB-style {"error": "..."} naming the line);
     otherwise 204, and the body is appended to --accepted.

--log gets one tab-separated line per request:
  N  STATUS  PATH?QUERY  CONTENT-ENCODING  AUTHORIZATION  LINES  EARLY
(STATUS 0 for `drop`; `-` for an absent header; EARLY 1 or 0). Both files are flushed after
every request, so they are complete when the server is killed.
"""

import argparse
import gzip
import http.server
import json
import socketserver
import sys
import threading
import time


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.script = list(args.script)
        self.always = args.always
        self.max_body = args.max_body
        self.rejects = args.reject
        self.slow_over = args.slow_over
        self.not_before = 0.0  # monotonic time before which a request is early
        self.count = 0
        self.accepted = open(args.accepted, "ab") if args.accepted else None
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None

    def record(self, status, target, encoding, auth, lines, early):
        self.count += 1
        if self.log:
            self.log.write(
                "\t".join(
                    [str(self.count), str(status), target, encoding or "-", auth or "-",
                     str(lines), "1" if early else "0"]) + "\n")
            self.log.flush()


def parse_script_entry(text):
    if text == "drop":
        return ("drop", None)
    status, _, retry_after = text.partition(":")
    return (int(status), int(retry_after) if retry_after else None)


def parse_reject(text):
    marker, _, status = text.rpartition("=")
    if not marker or not status.isdigit():
        raise argparse.ArgumentTypeError("--reject wants SUBSTRING=STATUS")
    return (marker, int(status))


def parse_slow(text):
    lines, _, seconds = text.partition(":")
    return (int(lines), float(seconds))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as InfluxDB
    server_version = "fake-influxdb/1.6"

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self, status, error=None, retry_after=None):
        body = json.dumps({"error": error}).encode() if error is not None else b""
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        if self.path == "/ping":
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.answer(404, "not found")

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        encoding = self.headers.get("Content-Encoding")
        auth = self.headers.get("Authorization")
        body = raw
        if encoding == "gzip":
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError) as exc:
                with state.lock:
                    state.record(400, self.path, encoding, auth, -1, False)
                self.answer(400, "bad gzip body: %s" % exc)
                return
        lines = [l for l in body.split(b"\n") if l]
        with state.lock:
            if not (self.path.startswith("/write?") or self.path.startswith("/api/v2/write?")):
                state.record(404, self.path, encoding, auth, len(lines), False)
                self.answer(404, "not found")
                return
            now = time.monotonic()
            if now < state.not_before:
                left = max(1, int(state.not_before - now + 0.999))
                # Not re-armed: a client that does not wait still gets through, and the
                # test sees it in the early count instead of hanging.
                state.record(429, self.path, encoding, auth, len(lines), True)
                self.answer(429, "too early", retry_after=left)
                return
            if state.script:
                status, retry_after = state.script.pop(0)
                if status == "drop":
                    state.record(0, self.path, encoding, auth, len(lines), False)
                    self.close_connection = True
                    return
                state.record(status, self.path, encoding, auth, len(lines), False)
                if retry_after is not None:
                    state.not_before = time.monotonic() + retry_after
                self.answer(status, "scripted %d" % status if status >= 300 else None,
                            retry_after=retry_after)
                return
            if state.slow_over is not None and len(lines) > state.slow_over[0]:
                # Too slow for the client's timeout: it gives up before the answer.
                state.record(0, self.path, encoding, auth, len(lines), False)
                delay = state.slow_over[1]
            else:
                delay = None
        if delay is not None:
            time.sleep(delay)
            self.close_connection = True
            return
        with state.lock:
            if state.always is not None:
                state.record(state.always, self.path, encoding, auth, len(lines), False)
                self.answer(state.always, "scripted %d" % state.always)
                return
            if state.max_body is not None and len(body) > state.max_body:
                state.record(413, self.path, encoding, auth, len(lines), False)
                self.answer(413, "Request Entity Too Large")
                return
            for line in lines:
                for marker, status in state.rejects:
                    if marker.encode() in line:
                        state.record(status, self.path, encoding, auth, len(lines), False)
                        text = line.decode("utf-8", "replace")
                        if status == 422:
                            error = ('partial write: field type conflict: line "%s" '
                                     'dropped=1' % text[:80])
                        else:
                            error = 'unable to parse \'%s\': invalid field format' % text[:80]
                        self.answer(status, error)
                        return
            if state.accepted:
                state.accepted.write(body if body.endswith(b"\n") or not body else body + b"\n")
                state.accepted.flush()
            state.record(204, self.path, encoding, auth, len(lines), False)
            self.answer(204)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", default="",
                        help="comma-separated STATUS[:RETRY_AFTER] or drop, answered first")
    parser.add_argument("--always", type=int, default=None)
    parser.add_argument("--max-body", type=int, default=None)
    parser.add_argument("--slow-over", type=parse_slow, default=None,
                        help="LINES:SECONDS: bodies of more lines get no answer for so long")
    parser.add_argument("--reject", type=parse_reject, action="append", default=[])
    parser.add_argument("--accepted", help="file that gets every accepted body")
    parser.add_argument("--log", help="file that gets one line per request")
    args = parser.parse_args()
    args.script = [parse_script_entry(e) for e in args.script.split(",") if e]
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args)
    sys.stdout.write("%d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
