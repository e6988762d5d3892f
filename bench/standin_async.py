#!/usr/bin/env python3
"""A stand-in for a hosted chat-completions provider, for the benchmark only (a FAKE, named so).

bench/generation.py's figure G2 holds 1,000 model calls open at once, each streaming for 30 s.
The tests' stand-in (Tests/Fakes/standin_chat_completions.py) is a ThreadingHTTPServer: one
thread per connection, and its listen backlog is the socketserver default of 5 (its
`request_queue_size = 1024` is set after the socket already listens). Tried with 1,000 streams of
10 s from one client, it held at most about 360 at once and reset the rest. This one is asyncio,
one process, one thread, a listen backlog of 4,096 and its file limit raised to the hard limit.

It answers POST .../chat/completions exactly as the tests' stand-in answers a normal call: a
stream of `chat.completion.chunk` events (the role, then one word per event spread over
--stream-seconds, then finish_reason "stop"), a usage event, then `data: [DONE]`, and closes the
connection. No faults. A call whose `user` field (the service's hash of the user id) is listed in
--instant-user is answered at once, so the benchmark can finish a probe job quickly.

GET /stats answers {"inFlight", "maxInFlight", "calls", "completed", "clientGone"};
POST /stats/reset zeroes maxInFlight (to the current inFlight); GET /health answers 200.
With --log, every call is appended as one JSON line when it ends (time, key, status, usage, ended).
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time

ANSWER = ("I wake up rested and ready for the day. I run along the river every morning, "
          "and my body feels strong. My days have a calm, steady rhythm that I love.")
WORDS = ANSWER.split(" ")

state = {"inFlight": 0, "maxInFlight": 0, "calls": 0, "completed": 0, "clientGone": 0}
log_lines = []


def reply(writer, status, payload):
    data = json.dumps(payload).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)


def event(payload):
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def chunk(model, delta, finish=None):
    return event({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "model": model,
                  "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


async def stream(writer, body, seconds, record):
    model = body.get("model")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                 b"Connection: close\r\n\r\n")
    writer.write(chunk(model, {"role": "assistant", "content": ""}))
    await writer.drain()
    pause = seconds / len(WORDS)
    began = time.monotonic()
    for index, word in enumerate(WORDS):
        writer.write(chunk(model, {"content": ("" if index == 0 else " ") + word}))
        await writer.drain()
        if pause:
            # Paced against the start, so 1,000 streams on one loop do not drift later and later.
            delay = began + pause * (index + 1) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    usage = {"prompt_tokens": prompt, "completion_tokens": len(WORDS), "total_tokens": prompt + len(WORDS)}
    record["usage"] = usage
    writer.write(chunk(model, {}, "stop"))
    writer.write(event({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "choices": [], "usage": usage}))
    writer.write(event("[DONE]"))
    await writer.drain()


async def handle(reader, writer):
    record = None
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length") or 0))
        if method == "GET" and path == "/stats":
            return reply(writer, 200, state)
        if method == "POST" and path == "/stats/reset":
            state["maxInFlight"] = state["inFlight"]
            return reply(writer, 200, state)
        if method == "GET" and path == "/health":
            return reply(writer, 200, {"status": "ok"})
        if method != "POST" or not path.endswith("/chat/completions"):
            return reply(writer, 404, {"error": {"message": "not found"}})
        try:
            body = json.loads(raw)
        except ValueError:
            return reply(writer, 400, {"error": {"message": "body is not JSON"}})
        record = {"time": time.time(), "key": headers.get("idempotency-key"), "status": 200}
        state["calls"] += 1
        state["inFlight"] += 1
        state["maxInFlight"] = max(state["maxInFlight"], state["inFlight"])
        try:
            seconds = 0 if body.get("user") in args.instant_user else args.stream_seconds
            await stream(writer, body, seconds, record)
            state["completed"] += 1
        finally:
            state["inFlight"] -= 1
    except (ConnectionError, asyncio.IncompleteReadError):
        state["clientGone"] += 1
        if record:
            record["status"] = "client gone"
    finally:
        if record is not None and args.log:
            record["ended"] = time.time()
            log_lines.append(json.dumps(record))
            if len(log_lines) >= 200:
                flush_log()
        try:
            writer.close()
        except Exception:
            pass


def flush_log():
    if args.log and log_lines:
        with open(args.log, "a") as f:
            f.write("\n".join(log_lines) + "\n")
        log_lines.clear()


async def watch_parent(parent):
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
        flush_log()
    flush_log()
    os._exit(0)


async def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(handle, "127.0.0.1", args.port, backlog=4096, limit=1 << 20)
    asyncio.get_running_loop().create_task(watch_parent(os.getppid()))
    print(f"stand-in (asyncio) listening on {args.port}, open files limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}",
          flush=True)
    async with server:
        await server.serve_forever()


parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--stream-seconds", type=float, default=0.2, help="how long an answer takes to stream")
parser.add_argument("--instant-user", action="append", default=[],
                    help="a request `user` value answered at once (repeatable)")
parser.add_argument("--log", help="append one JSON line per call to this file")
args = parser.parse_args()

if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        flush_log()
        sys.exit(0)
