#!/usr/bin/env python3
"""A webhook receiver for the tests: verifies every delivery with the Standard Webhooks reference
library (`standardwebhooks`, from PyPI, installed by Tests/Webhooks/install-receiver), as an app
receiving Vision Queue's events would, and records each one as a JSON line.

Behaviours the tests ask for: --fail-first N answers 500 to the first N deliveries; --delay-ms M
waits M ms before answering the first --delay-count deliveries (a slow or hung receiver).
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--delay-count", type=int, default=1_000_000)
    args = parser.parse_args()
    verifier = Webhook(args.secret)
    lock = threading.Lock()
    seen = {"count": 0}

    def record(entry):
        with lock:
            with open(args.log, "a") as log:
                log.write(json.dumps(entry) + "\n")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                seen["count"] += 1
                number = seen["count"]
            entry = {"n": number, "id": self.headers.get("webhook-id"), "path": self.path,
                     "contentType": self.headers.get("Content-Type")}
            record(dict(entry, phase="received"))
            try:
                event = verifier.verify(body, dict(self.headers.items()))
                entry.update(verified=True, type=event.get("type"), data=event.get("data"), timestamp=event.get("timestamp"))
            except WebhookVerificationError as error:
                entry.update(verified=False, error=str(error))
            if number <= args.delay_count and args.delay_ms:
                time.sleep(args.delay_ms / 1000)
            status = 400 if not entry["verified"] else 500 if number <= args.fail_first else 204
            entry["status"] = status
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError as error:  # the sender gave up waiting
                entry["status"] = f"sender gone: {error}"
            record(dict(entry, phase="answered"))

        def do_GET(self):  # readiness
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
