#!/usr/bin/env python3
"""A group robot for the webhook tests: answers POSTs the way WeCom's and DingTalk's robots
do ({"errcode": N, "errmsg": "..."}), logs each request, and takes its next answers from a
control file the test rewrites while it runs.

  fake_webhook.py --log FILE --control FILE [--port N] [--dingtalk-secret S]

Prints the port it listens on, then serves until SIGTERM. Each request is one log line of
JSON: {"path": ..., "content_type": ..., "answer": ..., "body": <the body as parsed JSON, or
the text when it is not JSON>}. The control file holds one word: "ok" (errcode 0, the
default), "errcode N" (that errcode), "http N" (that status, empty body) or "html" (200 with
an HTML page). With --dingtalk-secret the timestamp and sign query parameters are checked
as DingTalk's sign mode defines them; a wrong signature is answered with errcode 310000.
Standard library only."""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import sys
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dingtalk-secret")
    args = parser.parse_args()

    def answer_for(path):
        if args.dingtalk_secret:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            timestamp = query.get("timestamp", [""])[0]
            to_sign = f"{timestamp}\n{args.dingtalk_secret}".encode()
            digest = hmac.new(args.dingtalk_secret.encode(), to_sign, hashlib.sha256).digest()
            # parse_qs has already URL-decoded the parameter
            if query.get("sign", [""])[0] != base64.b64encode(digest).decode():
                return "errcode 310000"
        try:
            with open(args.control, encoding="utf-8") as f:
                return f.read().strip() or "ok"
        except FileNotFoundError:
            return "ok"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            answer = answer_for(self.path)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": self.path,
                                    "content_type": self.headers.get("Content-Type", ""),
                                    "answer": answer, "body": body},
                                   ensure_ascii=False) + "\n")
            word, _, number = answer.partition(" ")
            status, page, kind = 200, b"", "application/json"
            if word == "ok":
                page = b'{"errcode":0,"errmsg":"ok"}'
            elif word == "errcode":
                page = json.dumps({"errcode": int(number),
                                   "errmsg": f"refused by the fake ({number})"}).encode()
            elif word == "http":
                status = int(number)
            else:
                page, kind = b"<html><body>a proxy</body></html>", "text/html"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_):
            pass

    http.server.HTTPServer.allow_reuse_address = True
    server = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
