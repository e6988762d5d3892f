#!/usr/bin/env python3
"""A stand-in for an external chat-completions provider (a FAKE, named so): it answers
POST .../chat/completions the way OpenAI's API does, and misbehaves on request, so the tests can
show what Vision Queue does with every failure a hosted provider has. It is not the real model
server (scripts/model-server runs that); it exists for what a real local server cannot do on
demand: rate limits, outages, stalls, cut connections, refused keys.

A fault is chosen by a marker in the request's user message, i.e. in the user's notes for the
category being written (the default prompt's "For context" part, other categories' notes, is
not read): [[fault:NAME]] or [[fault:NAME:ARG]]
Faults marked "once" misbehave on the first call for a job's category (told apart by the
Idempotency-Key, "<job>-<category>-<attempt>") and answer normally afterwards.
  429:S / 429date:S   once: 429 with Retry-After S seconds (as a number / as an HTTP-date)
  503:S               once: 503 with Retry-After S seconds
  503                 once: 503 without Retry-After
  500                 once: 500
  timeout:S           once: keeps the stream open, sending only SSE comments, for S seconds
  stall:S             once: sends two chunks, then nothing for S seconds
  cut                 once: sends a few chunks, then closes the connection mid-stream
  malformed           once: sends an event whose data is not JSON
  empty               once: a stream with no content
  401                 always: 401, quoting the API key it was sent (as some providers do)
  length              a stream cut at the token limit (finish_reason "length")
  slow:S              every call streams over S seconds
  killme:S            once: streams over S seconds (the test kills the worker meanwhile)
  noframe             the job's assembly calls (VQ_ASSEMBLY=model) answer 500

An assembly call (Idempotency-Key "<job>-assembly-<n>") is answered with an opening, a line of
"---" and a closing, as the default assembly prompt asks.

With --proxy URL it forwards every call to a real server instead and records the usage that
server reported, so a test can compare the service's token counts with the server's own.

GET /stats answers {"inFlight", "maxInFlight", "calls"}; every call is appended to --log as one
JSON line: time, path, headers, body, fault, status, usage, and when it ended.
"""
import argparse
import email.utils
import json
import os
import re
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = ("I wake up rested and ready for the day. I run along the river every morning, "
          "and my body feels strong. My days have a calm, steady rhythm that I love.")

lock = threading.Lock()
state = {"inFlight": 0, "maxInFlight": 0, "calls": 0}
seen = {}  # job-category -> calls so far
noframe_jobs = set()  # jobs whose assembly must fail


def fault_of(body):
    for message in body.get("messages", []):
        # Only the category's own notes count: the default prompt quotes the other categories'
        # notes after "For context", and a fault meant for one category must not hit them all.
        own = str(message.get("content", "")).split("For context")[0]
        match = re.search(r"\[\[fault:([a-z0-9]+)(?::([0-9.]+))?\]\]", own)
        if match:
            return match.group(1), float(match.group(2)) if match.group(2) else None
    return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/stats":
            with lock:
                self.reply(200, dict(state))
        else:
            self.reply(404, {"error": {"message": "not found"}})

    def reply(self, status, payload, headers=()):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        record = {"time": time.time(), "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        try:
            body = json.loads(raw)
        except ValueError:
            record.update(body=None, status=400)
            self.finish_record(record)
            return self.reply(400, {"error": {"message": "body is not JSON"}})
        record["body"] = body
        key = self.headers.get("Idempotency-Key", "")
        job_category = key.rsplit("-", 1)[0]
        fault, arg = fault_of(body)
        with lock:
            calls = seen.get(job_category, 0)
            seen[job_category] = calls + 1
            state["calls"] += 1
            state["inFlight"] += 1
            state["maxInFlight"] = max(state["maxInFlight"], state["inFlight"])
        first = calls == 0
        job = key.split("-assembly-")[0] if "-assembly-" in key else None
        if fault == "noframe":
            with lock:
                noframe_jobs.add(job_category.rsplit("-", 1)[0])
            fault = None
        if job is not None:
            fault = "500" if job in noframe_jobs else "frame"
        # Faults marked "once" hit the first call of a job's category only; these hit every call.
        always = fault in ("401", "length", "slow", "frame") or (fault == "500" and job is not None)
        record["fault"] = fault if (first or always) else None
        try:
            if args.proxy:
                self.forward(raw, record)
            else:
                self.answer(body, fault if record["fault"] else None, arg, record)
        except (BrokenPipeError, ConnectionResetError):
            record["status"] = record.get("status", "client gone")
        finally:
            with lock:
                state["inFlight"] -= 1
            self.finish_record(record)

    def finish_record(self, record):
        record["ended"] = time.time()
        with lock, open(args.log, "a") as log:
            log.write(json.dumps(record) + "\n")

    def answer(self, body, fault, arg, record):
        if fault in ("429", "429date", "503") and arg is not None:
            status = 429 if fault.startswith("429") else 503
            after = (email.utils.formatdate(time.time() + arg, usegmt=True) if fault == "429date" else str(int(arg)))
            record["status"] = status
            return self.reply(status, {"error": {"message": "Rate limit reached, slow down", "type": "rate_limit"}},
                              [("Retry-After", after)])
        if fault in ("503", "500"):
            record["status"] = int(fault)
            return self.reply(int(fault), {"error": {"message": "The server had an error", "type": "server_error"}})
        if fault == "401":
            sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
            record["status"] = 401
            return self.reply(401, {"error": {"message": f"Incorrect API key provided: {sent}. You can find your API key "
                                                         "in your account settings.", "type": "invalid_request_error",
                                              "code": "invalid_api_key"}})
        record["status"] = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))

        def event(payload):
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        def chunk(delta, finish=None):
            event({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "model": body.get("model"),
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        words = ANSWER.split(" ")
        finish = "stop"
        if fault == "frame":
            words = "My life is full and my own.\n---\nEvery part of it fits together.".split(" ")
        if fault == "length":
            words = "First sentence is here. Second sentence is here too. Third sentence was cut off in".split(" ")
            finish = "length"
        if fault == "empty":
            words = []
        duration = arg if fault in ("slow", "killme") and arg else args.stream_seconds
        pause = duration / max(1, len(words))
        chunk({"role": "assistant", "content": ""})
        if fault == "malformed":
            event("{this is not json")
            return
        if fault == "timeout":
            end = time.time() + (arg or 10)
            while time.time() < end:
                self.wfile.write(b": waiting\n\n")
                self.wfile.flush()
                time.sleep(0.3)
            return
        sent = 0
        for index, word in enumerate(words):
            chunk({"content": ("" if index == 0 else " ") + word})
            sent += 1
            if fault == "stall" and sent == 2:
                time.sleep(arg or 10)
                return
            if fault == "cut" and sent == 4:
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            time.sleep(pause)
        chunk({}, finish)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": sent, "total_tokens": prompt_tokens + sent}
        record["usage"] = usage
        event({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "choices": [], "usage": usage})
        event("[DONE]")

    def forward(self, raw, record):
        request = urllib.request.Request(args.proxy.rstrip("/") + "/chat/completions", data=raw, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            upstream = urllib.request.urlopen(request, timeout=600)
        except urllib.error.HTTPError as error:
            record["status"] = error.code
            return self.reply(error.code, {"error": {"message": error.read().decode(errors="replace")}})
        record["status"] = 200
        self.send_response(200)
        self.send_header("Content-Type", upstream.headers.get("Content-Type", "text/event-stream"))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for line in upstream:
            self.wfile.write(line)
            self.wfile.flush()
            text = line.decode(errors="replace").strip()
            if text.startswith("data: {"):
                payload = json.loads(text[6:])
                if payload.get("usage"):
                    record["usage"] = {k: payload["usage"][k] for k in ("prompt_tokens", "completion_tokens")}


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--stream-seconds", type=float, default=0.2, help="how long a normal answer takes to stream")
parser.add_argument("--proxy", help="forward to this real server's /v1 instead of answering")
args = parser.parse_args()


def exit_with_parent(parent=os.getppid()):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()
class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: read when the socket starts listening, so set here


server = Server(("127.0.0.1", args.port), Handler)
print(f"stand-in listening on {args.port}", flush=True)
server.serve_forever()
