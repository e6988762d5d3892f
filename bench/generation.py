#!/usr/bin/env python3
"""Vision Queue's generation figures, run by `bench/run` after bench.py's (unless --no-generation),
or alone: `bench/run --only-generation [options]`, or `python3 bench/generation.py --bin DIR`.

G1  Queue overhead on real generation. The local model server (scripts/model-server: llama-server
    with Gemma 3 270M) writes one job one call at a time (VQ_LLM_MAX_CONCURRENT=1), timed from
    create to `completed`; then the same 12 category prompts, captured through a recording proxy
    (the tests' stand-in with --proxy), are sent straight to the same server one after the other
    and their times summed. The two are measured in alternation, round by round: ratio job / sum.
    Skipped, with a message, while the model server is not built (it is never built from here).

G2  Long steps in flight. A stand-in provider (bench/standin_async.py, a fake) streams every
    answer over --stream-seconds; --in-flight jobs are created at once, so that many categories
    write at the same time (each job writes one category at a time). Measured: the most calls in
    flight (the stand-in's count and the `running` categories), the vision-process processes'
    resident memory, and status throughput (wrk -t2 -c64, bearer token, as figure 1) while they
    are in flight against the same stack idle before they start. Stops once every job's first
    category has finished (or could not), so it stays bounded.

Prints a table and writes the numbers as JSON under bench/results/ (generation-*.json).
"""
import argparse
import asyncio
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench.py's helpers: stacks, wrk, fire_all, memory, the machine)
from bench import ANSWERS, BENCH, ROOT, Stack, connect_db, log, percentile  # noqa: E402

MODEL_ALIAS = "gemma-3-270m"
# G1's job: notes in a few categories, the others left empty (the prompt then asks for a vision
# that fits the rest), as a person in a hurry fills the form in.
G1_ANSWERS = {key: ANSWERS[key] for key in ("health", "travel", "work", "family")}
G1_USER = "bench-gen-g1"
G2_PROBE_USER = "bench-gen-g2-probe"
SERVICE_THREAD_CAP = 256  # VQ_PROCESS_THREADS' upper bound in VisionQueueConfiguration (read from its error when it says)


def user_hash(user):
    """The `user` field the service sends with each model call (ChatCompletionRequest.userHash)."""
    return hashlib.sha256(user.encode()).hexdigest()[:32]


def http_json(port, method, path, body=None, timeout=10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data[:1] in (b"{", b"[") else data)
    finally:
        connection.close()


def stack_args(args, processes, process_threads):
    # `processes` is how many of vision-process run (the ones holding the calls); the other
    # binaries get as many.
    return types.SimpleNamespace(bin=args.bin, threads=args.threads, processes=processes, process_processes=processes,
                                 process_threads=process_threads, synchronous=args.synchronous)


def generation_stack(name, args, work, processes, process_threads, env):
    """A bench.Stack writing with a model (VQ_GENERATOR=openai), no API key, mechanical assembly."""
    stack = Stack(name, stack_args(args, processes, process_threads), work, env)
    for key in ("VQ_LLM_API_KEY", "VQ_LLM_API_KEY_FILE", "VQ_PROMPTS_DIR", "VQ_LLM_PRICE_INPUT_PER_MTOK",
                "VQ_LLM_PRICE_OUTPUT_PER_MTOK", "VQ_FAULT_DROP_TRIGGERS", "VQ_FAULT_FAIL", "VQ_FAULT_CRASH"):
        if key not in env:
            stack.env.pop(key, None)
    stack.env.update({"VQ_GENERATOR": "openai", "VQ_ASSEMBLY": "mechanical"})
    return stack


def start_stack(stack):
    """bench.Stack.start, made sure of: it also returns when serve's output ends before serve's exit
    is visible (a refused setting), so check that serve is still there and nginx answers."""
    stack.start()
    try:
        stack.process.wait(0.5)
    except subprocess.TimeoutExpired:
        if bench.wait_for_port(stack.port, 10):
            return stack
    raise SystemExit(f"stack {stack.name} did not start; see {stack.dir}/serve.out and {stack.dir}/logs/")


def wait_job(stack, db, job_id, seconds):
    """The job's final row (status, created_at, completed_at), polled every 100 ms (the end time is the
    server's completed_at, so the polling interval does not enter the figure)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        row = db.execute("SELECT status, created_at_ms, completed_at_ms FROM vision_generation_jobs WHERE id = ?",
                         (job_id,)).fetchone()
        if row and row[0] in bench.FINAL:
            return row
        time.sleep(0.1)
    return None


def proc_threads(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def proc_fd_limit(pid):
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError):
        pass
    return None


# MARK: G1

def model_server():
    """(binary, model) of the local model server, or (None, reason) when it is not built yet. Never
    starts a build: `scripts/model-server binary` builds when missing, so it is only asked once the
    binary and a model are there."""
    script = os.path.join(ROOT, "scripts", "model-server")
    prefix = subprocess.run([script, "path"], capture_output=True, text=True, timeout=30).stdout.strip()
    binary = os.path.join(prefix, "bin", "llama-server")
    if not os.access(binary, os.X_OK) or not glob.glob(os.path.join(prefix, "models", "*.gguf")):
        return None, (f"the local model server is not built ({binary} does not exist; a build may be under way "
                      f"on this machine: `scripts/model-server install` makes it once, 7-15 minutes)")
    paths = []
    for what in ("binary", "model"):
        out = subprocess.run([script, what], capture_output=True, text=True, timeout=60)
        paths.append(out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "")
    if not all(os.path.exists(p) for p in paths):
        return None, f"scripts/model-server printed no usable paths: {paths}"
    return tuple(paths), None


def start_model_server(binary, model, work):
    port = bench.free_port()
    command = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(port), "--alias", MODEL_ALIAS,
               "--no-jinja", "--chat-template", "gemma", "-c", "4096", "-np", "2", "-t", "2", "--poll", "0",
               "-n", "256", "--no-webui"]
    log_path = os.path.join(work, "llama-server.log")
    process = bench.start(command, log_path)
    deadline = time.time() + 180
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode}; see {log_path}")
        try:
            if http_json(port, "GET", "/health", timeout=2)[0] == 200:
                return process, port
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama-server did not answer /health within 180 s; see {log_path}")


def direct_calls(base_url, bodies):
    """Sends each body to the model server, one after the other, each on a new connection (as the
    service's libcurl does); answers the time of each, send to last byte, and the usage."""
    url = urllib.parse.urlsplit(base_url.rstrip("/") + "/chat/completions")
    seconds, texts, completion, prompt = [], [], 0, 0
    for body in bodies:
        connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=600)
        began = time.perf_counter()
        connection.request("POST", url.path, body=body,
                           headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"the model server answered {response.status}: {response.read()[:300]!r}")
        # Read as it streams, each event parsed as it comes, as a client showing the text would.
        text, usage = [], None
        for line in response:
            if line.startswith(b"data: {"):
                payload = json.loads(line[6:])
                usage = payload.get("usage") or usage
                for choice in payload.get("choices") or []:
                    text.append((choice.get("delta") or {}).get("content") or "")
        seconds.append(time.perf_counter() - began)
        connection.close()
        texts.append("".join(text))
        completion += (usage or {}).get("completion_tokens", 0)
        prompt += (usage or {}).get("prompt_tokens", 0)
    return {"seconds": sum(seconds), "calls": [round(s, 3) for s in seconds], "completion_tokens": completion,
            "prompt_tokens": prompt, "texts": texts}


def job_once(stack, token, answers, timeout):
    db = connect_db(stack.db)
    began = time.time()
    job = stack.create(token, answers)
    row = wait_job(stack, db, job, timeout)
    if not row:
        db.close()
        raise RuntimeError(f"G1's job {job} did not finish within {timeout} s")
    categories = db.execute(
        "SELECT position, status, completion_tokens, prompt_tokens, model_millis FROM vision_job_categories "
        "WHERE job_id = ? ORDER BY position", (job,)).fetchall()
    texts = [t or "" for (t,) in db.execute(
        "SELECT output FROM vision_job_categories WHERE job_id = ? ORDER BY started_at, position", (job,))]
    calls = [ms / 1000 for (ms,) in db.execute(
        "SELECT latency_ms FROM vision_model_calls WHERE job_id = ? ORDER BY ended_at", (job,))]
    db.close()
    if row[0] != "completed":
        raise RuntimeError(f"G1's job {job} ended {row[0]}; see {stack.dir}/logs/")
    return {"job": job, "seconds": row[2] / 1000 - began, "server_seconds": (row[2] - row[1]) / 1000,
            "categories": len(categories), "categories_done": sum(1 for c in categories if c[1] == "done"),
            "completion_tokens": sum(c[2] for c in categories), "prompt_tokens": sum(c[3] for c in categories),
            "model_seconds": sum(c[4] for c in categories) / 1000, "calls": calls, "texts": texts}


def figure_g1(args, work):
    server = None
    if args.model_url:
        base_url, model = args.model_url.rstrip("/"), args.model_alias
        log(f"G1: using the model server at {base_url}")
    else:
        paths, reason = model_server()
        if not paths:
            log(f"G1 skipped: {reason}")
            return {"skipped": reason}
        binary, model = paths
        log(f"G1: starting llama-server ({os.path.basename(model)})")
        server, server_port = start_model_server(binary, model, work)
        base_url = f"http://127.0.0.1:{server_port}/v1"
    settings = {"VQ_LLM_MODEL": args.model_alias, "VQ_LLM_MAX_TOKENS": str(args.max_tokens),
                "VQ_LLM_TEMPERATURE": str(args.temperature), "VQ_LLM_MAX_CONCURRENT": "1",
                "VQ_MAX_ACTIVE_JOBS": "1000000", "VQ_MAX_CREATES_PER_HOUR": "100000000"}
    timeout = 900

    # 1. Capture: one job through the recording proxy, which logs every request body it forwards.
    proxy_port = bench.free_port()
    capture_log = os.path.join(work, "g1-capture.jsonl")
    proxy = bench.start([sys.executable, os.path.join(ROOT, "Tests", "Fakes", "standin_chat_completions.py"),
                         "--port", str(proxy_port), "--log", capture_log,
                         "--proxy", base_url], os.path.join(work, "g1-proxy.out"))
    if not bench.wait_for_port(proxy_port):
        raise RuntimeError("the recording proxy did not start")
    capture = start_stack(generation_stack("g1-capture", args, work, args.processes, args.process_threads,
                                           dict(settings, VQ_LLM_BASE_URL=f"http://127.0.0.1:{proxy_port}/v1")))
    token = capture.token(G1_USER)
    log("G1: capturing the 12 prompts (one job through the recording proxy)")
    captured_job = job_once(capture, token, G1_ANSWERS, timeout)
    capture.stop()
    bench.stop(proxy)
    with open(capture_log) as f:
        records = sorted((json.loads(line) for line in f if line.strip()), key=lambda r: r["time"])
    calls = [r for r in records if r.get("path", "").endswith("/chat/completions") and r.get("status") == 200]
    if len(calls) != 12:
        raise RuntimeError(f"the proxy recorded {len(calls)} successful calls, not 12; see {capture_log}")
    bodies = [json.dumps(r["body"], separators=(",", ":")).encode() for r in calls]
    sample = calls[0]["body"]
    request_settings = {k: sample.get(k) for k in ("model", "max_tokens", "temperature", "stream")}
    captured_tokens = sum((r.get("usage") or {}).get("completion_tokens", 0) for r in calls)

    # 2. Measure: the service pointed straight at the server, and the captured bodies sent directly,
    # in alternation (the order swapped every round, so a drifting machine favours neither).
    stack = start_stack(generation_stack("g1", args, work, args.processes, args.process_threads,
                                         dict(settings, VQ_LLM_BASE_URL=base_url)))
    rounds = []
    for index in range(args.rounds):
        order = ("job", "direct") if index % 2 == 0 else ("direct", "job")
        measured = {}
        for what in order:
            if what == "job":
                measured["job"] = job_once(stack, token, G1_ANSWERS, timeout)
            else:
                measured["direct"] = direct_calls(base_url, bodies)
            time.sleep(0.5)
        job, direct = measured["job"], measured["direct"]
        ratio = job["seconds"] / direct["seconds"]
        # Temperature 0: the same prompts give the same answers. The service keeps an answer cut at the
        # token limit up to its last full sentence, so the job's text is the direct one's beginning.
        job_texts, direct_texts = job.pop("texts"), direct.pop("texts")
        job["same_answers"] = sum(bool(a.strip()) and b.strip().startswith(a.strip())
                                  for a, b in zip(job_texts, direct_texts))
        if index == 0:
            first_texts = {"job": job_texts, "direct": direct_texts}
        rounds.append({"order": list(order), "job": job, "direct": direct, "ratio": ratio})
        log(f"  round {index + 1}: job {job['seconds']:.2f} s ({job['completion_tokens']} tokens), direct "
            f"{direct['seconds']:.2f} s ({direct['completion_tokens']} tokens): {ratio:.3f}x; "
            f"{job['same_answers']}/12 answers alike")
    stack.stop()
    if server:
        bench.stop(server)
    ratios = [r["ratio"] for r in rounds]
    # Best: the best job against the best direct sum (a round disturbed by the shared machine, where
    # the model server itself slowed down, cannot win on either side); and the median of the rounds.
    best_job = min((r["job"] for r in rounds), key=lambda j: j["seconds"])
    best_direct = min((r["direct"] for r in rounds), key=lambda d: d["seconds"])
    # A round is marked disturbed when either side ran more than 1.5x slower than its best.
    for r in rounds:
        r["disturbed"] = (r["job"]["seconds"] > 1.5 * best_job["seconds"]
                          or r["direct"]["seconds"] > 1.5 * best_direct["seconds"])
    return {"rounds": rounds, "best_ratio": best_job["seconds"] / best_direct["seconds"],
            "median_ratio": statistics.median(ratios), "best": {"job": best_job, "direct": best_direct},
            "disturbed_rounds": sum(r["disturbed"] for r in rounds),
            # The queue's own time by the service's clock: the job's wall time less the time its model
            # calls took as the service measured them (create, 13 hops, claims, stores, assembly).
            "median_outside_model_seconds": statistics.median(r["job"]["seconds"] - r["job"]["model_seconds"]
                                                              for r in rounds),
            "median_job_seconds": statistics.median(r["job"]["seconds"] for r in rounds),
            "median_direct_seconds": statistics.median(r["direct"]["seconds"] for r in rounds),
            "captured_job": captured_job, "captured_completion_tokens": captured_tokens,
            "request_settings": request_settings, "notes_in": sorted(G1_ANSWERS),
            "same_tokens": all(r["job"]["completion_tokens"] == r["direct"]["completion_tokens"] for r in rounds),
            "same_answers": min(r["job"]["same_answers"] for r in rounds), "first_round_answers": first_texts,
            "model": os.path.basename(model), "server_args": "-c 4096 -np 2 -t 2 --poll 0 -n 256"}


# MARK: G2

class Monitor:
    """Samples, every half second: calls in flight at the stand-in, `running` categories in the
    database, and the vision-process processes' memory, threads and open files."""

    def __init__(self, stack, standin_port, began):
        self.stack, self.port, self.began = stack, standin_port, began
        self.samples = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self, db):
        pids = self.stack.pids("vision-process")
        memory = [bench.memory_kb(pid) or (0, 0) for pid in pids]
        try:
            _, stats = http_json(self.port, "GET", "/stats", timeout=5)
        except (OSError, http.client.HTTPException):
            stats = {}
        running = db.execute("SELECT count(*) FROM vision_job_categories WHERE status = 'running'").fetchone()[0]
        return {"t": round(time.time() - self.began, 2), "standin_in_flight": stats.get("inFlight"),
                "standin_max": stats.get("maxInFlight"), "standin_calls": stats.get("calls"), "running": running,
                "rss_kb": sum(m[0] for m in memory), "private_kb": sum(m[1] for m in memory),
                "threads": sum(proc_threads(p) for p in pids), "fds": [proc_fds(p) for p in pids]}

    def run(self):
        db = connect_db(self.stack.db)
        while not self.stopped.is_set():
            try:
                self.samples.append(self.sample(db))
            except sqlite3.Error:
                pass
            self.stopped.wait(0.5)
        db.close()

    def latest(self):
        return self.samples[-1] if self.samples else {}

    def between(self, t0, t1):
        return [s for s in self.samples if t0 <= s["t"] <= t1]


def start_g2_stack(args, work, n, standin_port, limits):
    """Starts the stack with --in-flight vision-process threads in all. The layout asked for first
    (2 processes unless told) may be refused by the service's own bounds; that is recorded as a
    limit and the fewest processes that fit are used instead."""
    processes = args.g2_processes or 2
    threads = args.g2_process_threads or -(-n // processes)
    env = {"VQ_LLM_BASE_URL": f"http://127.0.0.1:{standin_port}/v1", "VQ_LLM_MODEL": "standin",
           "VQ_LLM_MAX_TOKENS": "600", "VQ_LLM_MAX_CONCURRENT": str(n), "VQ_MAX_CONCURRENT_CATEGORIES": str(n),
           "VQ_LEASE_SECONDS": str(args.lease_seconds), "VQ_LLM_TIMEOUT_SECONDS": "600",
           "VQ_LLM_STALL_SECONDS": "120", "VQ_MAX_ACTIVE_JOBS": "1000000", "VQ_MAX_CREATES_PER_HOUR": "100000000",
           "VQ_SHUTDOWN_GRACE_SECONDS": "2"}
    for attempt in range(2):
        stack = generation_stack(f"g2-{processes}x{threads}", args, work, processes, threads, env)
        try:
            return start_stack(stack), processes, threads
        except SystemExit as error:
            text = ""
            for path in [os.path.join(stack.dir, "serve.out")] + glob.glob(os.path.join(stack.dir, "logs", "*")):
                try:
                    with open(path, errors="replace") as f:
                        text += f.read()[-4000:]
                except OSError:
                    pass
            match = re.search(r"VQ_PROCESS_THREADS=\d+ must be[^\n]*", text)
            if attempt == 0 and match and not args.g2_process_threads:
                wanted = f"VQ_PROCESSES={processes} x VQ_PROCESS_THREADS={threads}"
                bound = re.search(r"\.\.\.(\d+)", match.group(0))
                cap = int(bound.group(1)) if bound else SERVICE_THREAD_CAP
                processes = max(processes, -(-n // cap))
                threads = -(-n // processes)
                limits.append(f"{wanted} refused by the service ('{match.group(0).strip()}'): with at most "
                              f"{cap} threads per process, {n:,} in flight needs VQ_PROCESSES >= "
                              f"{-(-n // cap)}; ran {processes} x {threads} instead")
                log(f"G2: {wanted} refused ({match.group(0).strip()}); "
                    f"retrying with {processes} x {threads}")
                continue
            raise RuntimeError(f"the G2 stack did not start: {error}; {match.group(0) if match else text[-600:]}")
    raise RuntimeError("the G2 stack did not start")


def figure_g2(args, work):
    n = args.in_flight
    limits = []
    standin_port = bench.free_port()
    standin = bench.start([sys.executable, os.path.join(BENCH, "standin_async.py"), "--port", str(standin_port),
                           "--stream-seconds", str(args.stream_seconds), "--instant-user", user_hash(G2_PROBE_USER),
                           "--log", os.path.join(work, "g2-standin.jsonl")], os.path.join(work, "g2-standin.out"))
    if not bench.wait_for_port(standin_port):
        raise RuntimeError("the G2 stand-in did not start")
    stack, processes, threads = start_g2_stack(args, work, n, standin_port, limits)
    result = {"in_flight_target": n, "stream_seconds": args.stream_seconds, "processes": processes,
              "process_threads": threads, "lease_seconds": args.lease_seconds, "limits": limits}
    time.sleep(1.0)
    pids = stack.pids("vision-process")
    result["fd_limit"] = [proc_fd_limit(p) for p in pids]
    result["serve_group_fd_limits"] = sorted({proc_fd_limit(p) for p in bench.group_pids(stack.process.pid)} - {None})

    # The status figure polls a finished job: the stand-in answers the probe user's calls at once.
    token = stack.token(G2_PROBE_USER)
    db = connect_db(stack.db)
    probe = stack.create(token, ANSWERS)
    row = wait_job(stack, db, probe, 120)
    if not row or row[0] != "completed":
        raise RuntimeError(f"G2's probe job did not complete: {row}")
    status_url = f"http://127.0.0.1:{stack.port}/api/vision-jobs/status?jobId={probe}"
    auth = (f"Authorization: Bearer {token}",)
    status_pids = stack.pids("vision-status")
    bench.wrk(status_url, 2, auth)  # warm
    idle = [bench.wrk(status_url, args.seconds, auth, cpu_of=status_pids) for _ in range(args.rounds)]
    result["status_idle"] = bench.summarize_wrk(idle)
    result["idle_seconds"] = args.seconds
    memory_idle = [bench.memory_kb(p) or (0, 0) for p in pids]
    result["rss_idle_kb"] = sum(m[0] for m in memory_idle)
    result["private_idle_kb"] = sum(m[1] for m in memory_idle)
    result["threads_idle"] = sum(proc_threads(p) for p in pids)
    result["fds_idle"] = [proc_fds(p) for p in pids]
    log(f"G2: status idle {result['status_idle']['rps']:,.0f} req/s; vision-process RSS "
        f"{result['rss_idle_kb'] / 1024:.1f} MB over {len(pids)} processes")

    # The creates: every job at once, each its own user.
    http_json(standin_port, "POST", "/stats/reset")
    users = [f"bench-gen-g2-{i}" for i in range(n)]
    body = json.dumps({"answers": ANSWERS}).encode()
    payloads = [bench.http_post("/api/vision-jobs/create", body, stack.token(u)) for u in users]
    began = time.time()
    monitor = Monitor(stack, standin_port, began)
    monitor.thread.start()
    log(f"G2: creating {n:,} jobs at once")
    answers = asyncio.run(bench.fire_all(stack.port, payloads))
    creates_seconds = time.time() - began
    created = [json.loads(b)["jobId"] for _, status, b in answers if status == 201]
    refused = sorted({status for _, status, _ in answers if status != 201})
    latencies = [s * 1000 for s, status, _ in answers if status == 201]
    result["creates"] = {"jobs": n, "created": len(created), "seconds": creates_seconds,
                         "refused_statuses": refused, "p50_ms": percentile(latencies, 50),
                         "p99_ms": percentile(latencies, 99)}
    log(f"  {len(created):,} created in {creates_seconds:.1f} s")

    # Wait for the ramp: every job's first category writing, or no more coming (no rise for 3 s).
    window_end = began + args.stream_seconds  # the first streams end about then
    best, best_at = -1, time.time()
    while time.time() < window_end - args.seconds - 1:
        current = monitor.latest().get("standin_in_flight") or 0
        if current >= len(created):
            break
        if current > best:
            best, best_at = current, time.time()
        elif time.time() - best_at > 3 and time.time() - began > creates_seconds + 3:
            break
        time.sleep(0.25)
    ramp = time.time() - began
    at_start = monitor.latest()
    # As many wrk runs as fit before the first streams end (up to --rounds; median taken).
    seconds = max(2, min(args.seconds, int(window_end - time.time() - 1)))
    runs = max(1, min(args.rounds, int((window_end - time.time() - 1) // (seconds + 0.5))))
    log(f"  {at_start.get('standin_in_flight')} calls in flight after {ramp:.1f} s; status under load, "
        f"{runs} x {seconds} s")
    versions = "SELECT sum(version) FROM vision_generation_jobs"  # every change a status answer shows
    v0 = db.execute(versions).fetchone()[0]
    t0 = time.time() - began
    cpu_before = {name: bench.cpu_seconds(p) for name, p in (("process", pids), ("standin", [standin.pid]))}
    loaded = [bench.wrk(status_url, seconds, auth, cpu_of=status_pids) for _ in range(runs)]
    t1 = time.time() - began
    result["job_changes_per_s_during_wrk"] = (db.execute(versions).fetchone()[0] - v0) / (t1 - t0)
    result["cpu_share_during_wrk"] = {name: round((bench.cpu_seconds(p) - cpu_before[name]) / (t1 - t0), 3)
                                      for name, p in (("process", pids), ("standin", [standin.pid]))}
    result["status_loaded"] = bench.summarize_wrk(loaded)
    during = monitor.between(t0, t1)
    result["during_wrk"] = {"t": [round(t0, 1), round(t1, 1)], "seconds": seconds, "runs": runs,
                            "standin_in_flight": [min((s["standin_in_flight"] or 0) for s in during),
                                                  max((s["standin_in_flight"] or 0) for s in during)] if during else None,
                            "running": [min(s["running"] for s in during), max(s["running"] for s in during)]
                            if during else None}
    result["ramp_seconds"] = ramp

    # Until every job's first category has finished (or a bound passes), then stop.
    deadline = began + args.stream_seconds + args.settle_seconds
    first_done = 0
    while time.time() < deadline:
        first_done = db.execute("SELECT count(*) FROM vision_generation_jobs WHERE user_id LIKE 'bench-gen-g2-%' "
                                "AND user_id != ? AND categories_completed + categories_failed >= 1",
                                (G2_PROBE_USER,)).fetchone()[0]
        if first_done >= len(created):
            break
        time.sleep(0.5)
    monitor.stopped.set()
    monitor.thread.join()
    since = int(began * 1000)
    first = db.execute(
        """SELECT count(*), sum(c.status = 'done'), sum(c.status IN ('failed', 'retrying')),
                  min(c.started_at), max(c.started_at), min(c.completed_at), max(c.completed_at)
           FROM vision_job_categories c JOIN vision_generation_jobs j ON j.id = c.job_id
           WHERE j.created_at_ms >= ? AND j.user_id != ?
             AND c.position = (SELECT min(position) FROM vision_job_categories WHERE job_id = c.job_id
                               AND started_at IS NOT NULL)""", (since, G2_PROBE_USER)).fetchone()
    never = db.execute("SELECT count(*) FROM vision_generation_jobs WHERE created_at_ms >= ? AND user_id != ? "
                       "AND started_at_ms IS NULL", (since, G2_PROBE_USER)).fetchone()[0]
    errors = db.execute(
        "SELECT c.error, count(*) FROM vision_job_categories c JOIN vision_generation_jobs j ON j.id = c.job_id "
        "WHERE j.created_at_ms >= ? AND c.error IS NOT NULL GROUP BY c.error ORDER BY 2 DESC LIMIT 5",
        (since,)).fetchall()
    db.close()

    def rel(ms):
        return round(ms / 1000 - began, 2) if ms else None
    result["first_categories"] = {
        "jobs": len(created), "finished": first_done, "done": first[1] or 0, "failed_or_retrying": first[2] or 0,
        "never_started": never, "started": [rel(first[3]), rel(first[4])], "completed": [rel(first[5]), rel(first[6])],
        "errors": [list(e) for e in errors]}
    samples = monitor.samples
    # Memory while the most calls were in flight: of the samples at the highest count before the
    # first stream ended, the one with the most memory (the texts grow as they stream).
    first_end = (result["first_categories"]["completed"][0] or 1e9) - 0.5
    plateau = [s for s in samples if s["t"] < first_end] or samples
    top = max(((s["standin_in_flight"] or 0) for s in plateau), default=0)
    peak = max((s for s in plateau if (s["standin_in_flight"] or 0) == top), key=lambda s: s["rss_kb"],
               default={})
    result["max_in_flight_standin"] = http_json(standin_port, "GET", "/stats")[1].get("maxInFlight")
    result["max_running"] = max((s["running"] for s in samples), default=0)
    result["peak_sample"] = peak
    result["rss_peak_kb"] = max((s["rss_kb"] for s in samples), default=0)
    in_flight = peak.get("standin_in_flight") or 0
    if in_flight:
        result["rss_per_call_kb"] = peak["rss_kb"] / in_flight
        result["rss_added_per_call_kb"] = (peak["rss_kb"] - result["rss_idle_kb"]) / in_flight
        result["private_added_per_call_kb"] = (peak["private_kb"] - result["private_idle_kb"]) / in_flight
    result["threads_peak"] = max((s["threads"] for s in samples), default=0)
    result["fds_peak"] = [max(s["fds"][i] for s in samples) for i in range(len(pids))] if samples else []
    if in_flight:  # open files per call in flight, per vision-process process
        result["fds_per_call"] = (sum(peak["fds"]) - sum(result["fds_idle"])) / in_flight
    result["samples"] = samples
    result["ratio"] = result["status_loaded"]["rps"] / result["status_idle"]["rps"]

    stack.stop()
    bench.stop(standin)
    result["log_findings"] = log_findings(stack)
    explain_limits(result, n, processes, threads, limits)
    return result


def log_findings(stack):
    """Counts of the lines in the stack's logs that name a limit."""
    patterns = {"nginx worker_connections": r"worker_connections are not enough",
                "too many open files": r"Too many open files|EMFILE",
                "upstream busy (EAGAIN)": r"Resource temporarily unavailable",
                "upstream connect failed": r"connect\(\) to unix:.* failed",
                "no model call slot": r"No model call slot",
                "throttled": r"throttled",
                "lost lease": r"lost the lease",
                "pthread_create failed": r"pthread_create failed"}
    counts = {name: 0 for name in patterns}
    for path in glob.glob(os.path.join(stack.dir, "logs", "*")) + [os.path.join(stack.dir, "serve.out")]:
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    for name, pattern in patterns.items():
                        if re.search(pattern, line):
                            counts[name] += 1
        except OSError:
            pass
    return {k: v for k, v in counts.items() if v}


def explain_limits(result, n, processes, threads, limits):
    reached = min(result["max_in_flight_standin"] or 0, result["max_running"])
    result["reached"] = reached
    if processes * threads < n:
        limits.append(f"vision-process threads: {processes} x {threads} = {processes * threads} < {n:,} (each call holds "
                      f"one thread); VQ_PROCESS_THREADS is capped at {SERVICE_THREAD_CAP}, raise VQ_PROCESSES")
    for index, (peak, limit) in enumerate(zip(result["fds_peak"], result["fd_limit"])):
        if limit and peak > 0.9 * limit:
            limits.append(f"open files: vision-process #{index} reached {peak} of its limit {limit} (ulimit -n)")
    per_call, idle = result.get("fds_per_call"), result["fds_idle"]
    if per_call and idle:
        # Not a limit here when the limit is high, but the one a default `ulimit -n` of 1024 would hit.
        fit = int((1024 - max(idle)) / per_call) if max(idle) < 1024 else 0
        result["fds_note"] = (f"vision-process holds {max(idle)} files idle with {threads} threads and about "
                              f"{per_call:.1f} more per call in flight (peak {max(result['fds_peak'])} per process, "
                              f"limit {max(l for l in result['fd_limit'] if l) if any(result['fd_limit']) else '?'}); "
                              f"under a soft limit of 1024 one process would hold about {fit} calls")
    for name, count in result["log_findings"].items():
        limits.append(f"logs: {count} lines of '{name}'")
    if reached < n:
        first = result["first_categories"]
        if first["started"][1] is not None and first["completed"][0] is not None \
                and first["started"][1] > first["completed"][0]:
            limits.append(f"ramp: the last first category started {first['started'][1]:.1f} s after the creates began, "
                          f"after the first ones had finished ({first['completed'][0]:.1f} s): the creates and claims "
                          f"took longer than one stream ({result['stream_seconds']:.0f} s)")
        if (result["max_in_flight_standin"] or 0) < result["max_running"]:
            limits.append("the stand-in held fewer calls than categories were running")
        if not limits:
            limits.append(f"reached {reached:,} of {n:,}; no limit named itself (see the samples in the JSON)")


# MARK: the run

def table(r):
    def fmt(v, digits=0):
        return f"{v:,.{digits}f}" if v is not None else "-"

    def verdict(ok):
        return "met" if ok else "MISSED"
    rows = []
    g1 = r.get("g1")
    if g1 is None:
        pass
    elif g1.get("skipped") or g1.get("error"):
        rows.append(("G1 queue overhead, real model", "skipped: " + (g1.get("skipped") or "error: " + g1["error"]),
                     "", "<= 1.05x", "-"))
    else:
        best, rs = g1["best"], g1["request_settings"]
        rows.append(("G1 one job, create to completed",
                     f"{best['job']['seconds']:.2f} s best ({best['job']['completion_tokens']} tokens; median "
                     f"{g1['median_job_seconds']:.2f} s; {best['job']['model_seconds']:.2f} s in model calls by the "
                     f"service's clock)", "", "", ""))
        rows.append(("G1 the same 12 prompts, direct",
                     f"{best['direct']['seconds']:.2f} s best sum ({best['direct']['completion_tokens']} tokens; "
                     f"median {g1['median_direct_seconds']:.2f} s)", "", "", ""))
        rows.append((f"G1 queue overhead ({rs['model']}, max_tokens {rs['max_tokens']}, temperature {rs['temperature']})",
                     f"{len(g1['rounds'])} rounds: " + ", ".join(f"{x['ratio']:.3f}" + ("*" if x["disturbed"] else "")
                                                              for x in g1["rounds"])
                     + (f" (* disturbed: a side over 1.5x its best)" if g1["disturbed_rounds"] else "")
                     + ("" if g1["same_tokens"] else "; TOKEN COUNTS DIFFER")
                     + f"; {g1['same_answers']}/12 answers alike",
                     f"{g1['best_ratio']:.3f}x best vs best, {g1['median_ratio']:.3f}x median", "<= 1.05x (median)",
                     verdict(g1["median_ratio"] <= 1.05)))
        outside = g1["median_outside_model_seconds"]
        rows.append(("G1 the job outside its model calls", f"{outside * 1000:,.0f} ms per job, median (wall time less the "
                     f"model calls' time by the service's clock: create, 13 hops, claims, stores, assembly)",
                     f"{outside / g1['median_direct_seconds'] * 100:.1f}% of the direct sum", "", ""))
    g2 = r.get("g2")
    if g2 and g2.get("error"):
        rows.append(("G2 long steps in flight", "error: " + g2["error"], "", "", "MISSED"))
    elif g2:
        n = g2["in_flight_target"]
        rows.append((f"G2 calls in flight ({g2['stream_seconds']:.0f} s streams)",
                     f"{fmt(g2['max_in_flight_standin'])} at the stand-in, {fmt(g2['max_running'])} running categories "
                     f"({g2['processes']} x {g2['process_threads']} process threads)", "", f"{n:,}",
                     verdict(g2["reached"] >= n)))
        c = g2["creates"]
        rows.append((f"G2 creates, {n:,} at once", f"{c['created']:,} created in {c['seconds']:.1f} s "
                     f"(p50 {fmt(c['p50_ms'])} ms, p99 {fmt(c['p99_ms'])} ms); "
                     + ("all in flight" if g2["reached"] >= n else "calls in flight stopped rising")
                     + f" {g2['ramp_seconds']:.1f} s after the first create", "", "", ""))
        rows.append(("G2 vision-process RSS, summed",
                     f"idle {g2['rss_idle_kb'] / 1024:.1f} MB, in flight {g2['peak_sample'].get('rss_kb', 0) / 1024:.1f} MB "
                     f"(peak {g2['rss_peak_kb'] / 1024:.1f}); {g2['processes']} processes, {g2['threads_peak']} threads",
                     f"{fmt(g2.get('rss_added_per_call_kb'))} kB more per call in flight "
                     f"({fmt(g2.get('rss_per_call_kb'))} kB all told)", "", ""))
        si, sl = g2["status_idle"], g2["status_loaded"]
        d = g2["during_wrk"]
        rows.append(("G2 status, idle", f"{fmt(si['rps'])} req/s, p50 {si['p50_ms']:.2f} ms, p99 {si['p99_ms']:.2f} ms "
                     f"({len(si['rounds_rps'])} x {g2.get('idle_seconds', '?')} s: "
                     f"{', '.join(f'{v:,}' for v in si['rounds_rps'])})",
                     "", "", ""))
        rows.append((f"G2 status, {d['standin_in_flight'][0] if d['standin_in_flight'] else '?'}-"
                     f"{d['standin_in_flight'][1] if d['standin_in_flight'] else '?'} calls in flight",
                     f"{fmt(sl['rps'])} req/s, p50 {sl['p50_ms']:.2f} ms, p99 {sl['p99_ms']:.2f} ms "
                     f"({d.get('runs', 1)} x {d['seconds']} s: {', '.join(f'{v:,}' for v in sl['rounds_rps'])})",
                     f"{g2['ratio']:.2f}x idle", ">= 0.8x", verdict(g2["ratio"] >= 0.8)))
        f = g2["first_categories"]
        rows.append(("G2 first category of every job", f"{f['done']:,}/{f['jobs']:,} done, {f['failed_or_retrying']} failed; "
                     f"started {f['started'][0]}-{f['started'][1]} s, done {f['completed'][0]}-{f['completed'][1]} s "
                     f"after the creates began", "", "all", verdict(f["done"] == f["jobs"] == n)))
    lines = [f"Vision Queue generation figures, {r['started']}, git {r['git']}",
             f"Machine: {r['machine'].get('cpu', '?')}, {r['machine']['cores']} cores; load average (1 min) "
             + ", ".join(f"{k} {v:.1f}" for k, v in r["load_average"].items()), ""]
    header = ("Figure", "Measured", "Ratio (same run)", "Target", "")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(5)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths[:4]))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    if g2 and not g2.get("error"):
        notes = list(g2.get("limits") or [])
        if g2.get("fds_note"):
            notes.append(g2["fds_note"])
        cpu = g2.get("cpu_share_during_wrk") or {}
        notes.append(f"while status was measured under load: vision-process used {cpu.get('process', 0):.2f} "
                     f"and the stand-in {cpu.get('standin', 0):.2f} of a core, the jobs changed "
                     f"{fmt(g2.get('job_changes_per_s_during_wrk'))} times a second (text so far saved every 2 s per "
                     f"call); status {fmt(g2['status_idle'].get('responder_cpu_us'))} us CPU per request idle, "
                     f"{fmt(g2['status_loaded'].get('responder_cpu_us'))} under load")
        lines += ["", "G2 notes:"] + [f"  - {text}" for text in notes]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(
        description="Vision Queue's generation figures G1 (queue overhead on a real local model) and G2 "
                    "(1,000 long model calls in flight). Usually run by bench/run.")
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build-bench", "release"),
                        help="folder of the release binaries (default .build-bench/release, as bench/run builds)")
    parser.add_argument("--only", choices=("g1", "g2"), help="run one figure only")
    parser.add_argument("--rounds", type=int, default=3,
                        help="G1: alternating rounds (best and median reported); G2: wrk rounds on the idle stack")
    parser.add_argument("--seconds", type=int, default=10, help="G2: length of each wrk run on status")
    parser.add_argument("--max-tokens", type=int, default=64, help="G1: VQ_LLM_MAX_TOKENS")
    parser.add_argument("--temperature", type=float, default=0.0, help="G1: VQ_LLM_TEMPERATURE")
    parser.add_argument("--model-url", help="G1: an OpenAI-compatible server already running (its /v1 root) "
                                            "instead of starting the local llama-server")
    parser.add_argument("--model-alias", default=MODEL_ALIAS, help="G1: VQ_LLM_MODEL")
    parser.add_argument("--in-flight", type=int, default=1000, help="G2: jobs created at once (one call each in flight)")
    parser.add_argument("--stream-seconds", type=float, default=30, help="G2: how long the stand-in streams each answer")
    parser.add_argument("--settle-seconds", type=float, default=45,
                        help="G2: how long after one stream's length to wait for the first categories to finish")
    parser.add_argument("--g2-processes", type=int, default=None,
                        help="G2: VQ_PROCESSES (default 2; raised when the thread cap asks for more)")
    parser.add_argument("--g2-process-threads", type=int, default=None,
                        help="G2: VQ_PROCESS_THREADS (default: --in-flight shared among the processes)")
    parser.add_argument("--lease-seconds", type=int, default=300, help="G2: VQ_LEASE_SECONDS")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("VQ_THREADS", "4")),
                        help="VQ_THREADS for vision-create and vision-status")
    parser.add_argument("--processes", type=int, default=int(os.environ.get("VQ_PROCESSES", "2")),
                        help="G1: VQ_PROCESSES")
    parser.add_argument("--process-threads", type=int, default=int(os.environ.get("VQ_PROCESS_THREADS") or 8),
                        help="G1: VQ_PROCESS_THREADS")
    parser.add_argument("--synchronous", default=os.environ.get("VQ_SYNCHRONOUS", "FULL").upper())
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folders")
    parser.add_argument("--results", default=os.path.join(BENCH, "results"))
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.bin, "vision-queue")):
        raise SystemExit(f"no vision-queue in {args.bin}: build with `swift build -c release --scratch-path "
                         f".build-bench` (bench/run does) or pass --bin")

    work = tempfile.mkdtemp(prefix="vq-bench-gen-")
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": bench.machine(),
               "git": subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                                     text=True).stdout.strip(),
               "settings": {k: v for k, v in vars(args).items() if k not in ("results",)}, "work": work,
               "load_average": {"start": bench.loadavg()}}
    began = time.time()
    failed = False
    try:
        for name, figure in (("g1", figure_g1), ("g2", figure_g2)):
            if args.only and args.only != name:
                continue
            try:
                folder = os.path.join(work, name)
                os.makedirs(folder, exist_ok=True)
                results[name] = figure(args, folder)
            except (RuntimeError, OSError, sqlite3.Error, subprocess.SubprocessError, KeyError, ValueError) as error:
                log(f"{name.upper()} failed: {error}")
                results[name] = {"error": str(error)}
                failed = True
            finally:
                bench.stop_all()
                bench.started_processes.clear()
            results["load_average"][name] = bench.loadavg()
    finally:
        bench.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.time() - began, 1)
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, time.strftime("generation-%Y%m%d-%H%M%S.json"))
    for target in (path, os.path.join(args.results, "generation-latest.json")):
        with open(target, "w") as f:
            json.dump(results, f, indent=2, default=str)
    print(table(results))
    print(f"\nJSON: {os.path.relpath(path, ROOT)} (and bench/results/generation-latest.json); "
          f"{results['seconds']:.0f} s in all")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
