#!/usr/bin/env python3
"""A webhook receiver for the tests: verifies every delivery with the `standardwebhooks`
package (PyPI; scripts/lib.sh ensure_standardwebhooks installs it) and records what it got.

    python3 tests/support/webhook_receiver.py [PORT]     # prints "listening PORT" when ready

Each endpoint is a path `/hook/<name>`. The test configures it with
`POST /_control/<name>` and a JSON body:
    {"secrets": ["whsec_...", ...],   # each delivery is verified with each one separately
     "script": ["500", "timeout", "410", "302", "429:3", "200"],  # answers, in order, then
     "default": "200",                # this one ("429:3" is a 429 with Retry-After: 3)
     "timeout_secs": 30}              # how long a "timeout" answer sleeps
and reads what it got with `GET /_received/<name>`: a JSON list of
    {"id", "timestamp", "signature", "type", "body", "verified", "verified_with": [i, ...],
     "error", "answered", "at"}
where `verified_with` lists the indexes of the secrets that verify the delivery on their own.
A delivery no secret verifies is answered 401 (and recorded as such).
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

LOCK = threading.Lock()
CONFIG = {}  # name -> {"secrets", "script", "default", "timeout_secs"}
RECEIVED = {}  # name -> [record]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path.startswith("/_received/"):
            name = self.path[len("/_received/"):]
            with LOCK:
                got = list(RECEIVED.get(name, []))
            return self._answer(200, json.dumps(got).encode(), {"Content-Type": "application/json"})
        self._answer(404)

    def do_POST(self):
        body = self._body()
        if self.path.startswith("/_control/"):
            name = self.path[len("/_control/"):]
            cfg = json.loads(body or b"{}")
            with LOCK:
                old = CONFIG.get(name, {})
                old.update(cfg)
                CONFIG[name] = old
            return self._answer(204)
        if not self.path.startswith("/hook/"):
            return self._answer(404)
        name = self.path[len("/hook/"):]
        with LOCK:
            cfg = CONFIG.setdefault(name, {})
            script = cfg.setdefault("script", [])
            answer = script.pop(0) if script else cfg.get("default", "200")
            secrets = list(cfg.get("secrets", []))
            sleep = cfg.get("timeout_secs", 30)
        headers = {k.lower(): v for k, v in self.headers.items()}
        text = body.decode("utf-8", "replace")
        verified_with, error = [], None
        for i, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(text, headers)
                verified_with.append(i)
            except Exception as e:  # noqa: BLE001 - any refusal is recorded as such
                error = f"{type(e).__name__}: {e}"
        try:
            kind = json.loads(text).get("type")
        except ValueError:
            kind = None
        record = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signature": headers.get("webhook-signature"),
            "type": kind,
            "body": text,
            "verified": bool(verified_with),
            "verified_with": verified_with,
            "error": None if verified_with else (error or "no secret configured"),
            "answered": None,
            "at": time.time(),
        }
        if not verified_with:
            answer = "401"
        record["answered"] = answer
        with LOCK:
            RECEIVED.setdefault(name, []).append(record)
        if answer == "timeout":
            time.sleep(sleep)
            return self._answer(200)
        status, _, retry_after = answer.partition(":")
        status = int(status)
        extra = {}
        if retry_after:
            extra["Retry-After"] = retry_after
        if 300 <= status < 400:
            extra["Location"] = "http://127.0.0.1:9/elsewhere"
        self._answer(status, f"answer {status} to {record['id']}".encode(), extra)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
