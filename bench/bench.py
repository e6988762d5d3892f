#!/usr/bin/env python3
"""Vision Queue's benchmark driver (issue 6). Run it through `bench/run`, which builds the release
binaries and the two C references first and passes their folders here.

It starts its own copies of the stack on free loopback ports (built-in generator at 0 ms), a
reference nginx rendered from the stack's own nginx.conf, the C floor responder and the C chain,
measures every figure against references taken in the same run, prints one table and writes the
numbers as JSON under bench/results/.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import http.client
import json
import os
import platform
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

import postgres
import peers
from processes import free_port, group_pids, log, start, started_processes, stop, stop_all, wait_for_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
# What a person might type: one or two short notes per category, all twelve filled in.
ANSWERS = {
    "fun": "Painting on Sundays; learning to sail", "health": "I want to run a marathon. Sleep eight hours",
    "travel": "See Japan in spring", "love": "I want to cook together every Friday",
    "family": "Call my parents every week", "social": "Host a dinner once a month",
    "home": "A small house with a garden", "work": "I want to lead a team that builds useful software",
    "money": "Save a year of expenses", "possessions": "Fewer, better things",
    "giving": "Volunteer at the food bank", "spirituality": "Ten minutes of quiet every morning",
}
STEPS = 13  # 12 categories + assembly, each its own self-triggered hop
FINAL = ("completed", "failed", "cancelled")

def mint(secret, user, ttl=7 * 86400):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    now = int(time.time())
    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    payload = b64(json.dumps({"sub": user, "aud": "authenticated", "role": "authenticated", "iat": now,
                              "exp": now + ttl}, separators=(",", ":")).encode())
    signing = header + b"." + payload
    return (signing + b"." + b64(hmac.new(secret.encode(), signing, hashlib.sha256).digest())).decode()


def request(port, method, path, body=None, token=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body).encode()
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def memory_kb(pid):
    """(resident, private) kB of a process: RSS counts the shared libraries' pages too."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":"):
                    values[parts[0][:-1]] = int(parts[1]) if parts[1].isdigit() else 0
    except OSError:
        return None
    return values.get("Rss", 0), values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)


def cpu_seconds(pids):
    """User + system CPU seconds used so far by these processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def connect_db(path):
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA busy_timeout=30000")
    return db


# MARK: the stack

class Stack:
    """One copy of `vision-queue serve` with its own data folder and port."""

    def __init__(self, name, args, work, extra_env=None, secret="bench-jwt-secret", db_path=None):
        self.name = name
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.secret = secret
        self.db = db_path or os.path.join(self.dir, "vision-queue.sqlite3")
        self.args = args
        env = {k: v for k, v in os.environ.items()}
        env.update({
            # Per-user limits the lead may add: far out of the way, every job here has its own user anyway.
            "VQ_MAX_ACTIVE_JOBS": env.get("VQ_MAX_ACTIVE_JOBS", "1000000"),
            "VQ_MAX_CREATES_PER_HOUR": env.get("VQ_MAX_CREATES_PER_HOUR", "1000000"),
        })
        env.update({
            "VQ_DATA_DIR": self.dir, "VQ_PORT": str(self.port), "VQ_HOST": "127.0.0.1",
            "VQ_GENERATOR_DELAY_MS": "0", "VQ_JWT_SECRET": self.secret, "VQ_TRIGGER_SECRET": "bench-trigger-" + name,
            "VQ_THREADS": str(args.threads), "VQ_PROCESS_THREADS": str(args.process_threads),
            "VQ_PROCESSES": str(args.processes), "VQ_PROCESS_PROCESSES": str(args.process_processes),
            "VQ_SYNCHRONOUS": args.synchronous,
        })
        for key in ("VQ_DB_PATH", "VQ_SOCKET_DIR", "VQ_JWT_SECRET_FILE", "VQ_TRIGGER_SECRET_FILE", "VQ_TRIGGER_URL",
                    "VQ_DATABASE_URL", "VQ_DATABASE_URL_FILE", "VQ_DATABASE_SCHEMA"):
            env.pop(key, None)
        env["VQ_DB_PATH"] = self.db
        env.update(extra_env or {})
        self.env = env
        # PostgreSQL when the caller set VQ_DATABASE_URL, as the service decides.
        self.pg_url = env.get("VQ_DATABASE_URL")
        self.schema = env.get("VQ_DATABASE_SCHEMA", "vision_queue")

    @property
    def store(self):
        return "postgres" if self.pg_url else "sqlite"

    def connect(self):
        """A connection to this stack's database, sqlite3 or PostgreSQL with sqlite3's face."""
        return postgres.connect(self.pg_url, self.schema) if self.pg_url else connect_db(self.db)

    def migrate_only(self):
        """Creates the database with the service's own schema (the sweep command migrates, then finds nothing)."""
        subprocess.run([os.path.join(self.args.bin, "vision-queue"), "sweep"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self):
        command = [os.path.join(self.args.bin, "vision-queue"), "serve", "--root", ROOT, "--exit-with-parent"]
        self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        started_processes.append(self.process)
        out = open(os.path.join(self.dir, "serve.out"), "ab")
        ready = threading.Event()

        def drain():
            for line in self.process.stdout:
                out.write(line)
                out.flush()
                if b"is running at" in line:
                    ready.set()
            ready.set()
        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(120) or self.process.poll() is not None:
            raise SystemExit(f"stack {self.name} did not start; see {self.dir}/serve.out and {self.dir}/logs/")
        self.started_at = time.time()
        log(f"stack {self.name} up on port {self.port} ({self.dir})")
        return self

    def stop(self):
        # SIGTERM to serve only: it stops nginx and the binaries itself.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def worker_rss(self):
        """Resident and private memory (MB) of each binary's worker processes, from serve's pid files."""
        run = os.path.join(self.dir, "run")
        result = {}
        for binary in ("vision-create", "vision-process", "vision-status"):
            rss, private = [], []
            for name in sorted(os.listdir(run)):
                if name.startswith(binary + "-") and name.endswith(".pid"):
                    with open(os.path.join(run, name)) as f:
                        values = memory_kb(int(f.read().strip() or 0))
                    if values:
                        rss.append(round(values[0] / 1024, 1))
                        private.append(round(values[1] / 1024, 1))
            result[binary] = {"rss_mb": rss, "private_mb": private}
        return result

    def pids(self, binary):
        run = os.path.join(self.dir, "run")
        result = []
        for name in sorted(os.listdir(run)):
            if name.startswith(binary + "-") and name.endswith(".pid"):
                with open(os.path.join(run, name)) as f:
                    result.append(int(f.read().strip() or 0))
        return result

    def token(self, user):
        return mint(self.secret, user)

    def create(self, token, answers=ANSWERS):
        status, data = request(self.port, "POST", "/api/vision-jobs/create", {"answers": answers}, token)
        if status != 201:
            raise SystemExit(f"create answered {status}: {data[:300]!r}")
        return json.loads(data)["jobId"]

    def wait_final(self, db, job_id, seconds=60, interval=0.0005):
        deadline = time.time() + seconds
        while time.time() < deadline:
            row = db.execute("SELECT status, created_at_ms, completed_at_ms FROM vision_generation_jobs WHERE id = ?",
                             (job_id,)).fetchone()
            if row and row[0] in FINAL:
                return row
            time.sleep(interval)
        return None


# MARK: the references

class References:
    """A reference nginx with the stack's own settings (its rendered nginx.conf, only the port,
    paths and the server's locations swapped), the C floor and the C chain behind it."""

    def __init__(self, args, work, stack, status_body):
        self.args = args
        self.dir = os.path.join(work, "references")
        self.port = free_port()
        prefix = os.path.join(self.dir, "nginx")
        run = os.path.join(self.dir, "run")
        www = os.path.join(self.dir, "www")
        for folder in (prefix, run, www, os.path.join(self.dir, "logs")):
            os.makedirs(folder, exist_ok=True)
        with open(os.path.join(www, "status.json"), "wb") as f:
            f.write(status_body)
        self.body_file = os.path.join(www, "status.json")
        self.body_size = len(status_body)

        # The stack's nginx.conf as serve rendered it: same worker_processes, events, keep-alive,
        # fastcgi snippet and headers. Swap its folder for ours, its port for ours, and its locations
        # for the references' (which copy the status and process locations' directives).
        source = os.path.join(stack.dir, "nginx")
        text = open(os.path.join(source, "nginx.conf")).read()
        text = text.replace(os.path.join(stack.dir, "run"), run).replace(os.path.join(stack.dir, "logs"),
                                                                        os.path.join(self.dir, "logs"))
        text = text.replace(stack.dir, self.dir)
        text, listens = re.subn(r"listen\s+127\.0\.0\.1:%d\s*;" % stack.port, f"listen 127.0.0.1:{self.port};", text)
        text, includes = re.subn(r"include\s+snippets/vision-queue/vision-queue-locations\.conf\s*;",
                                 "include snippets/vision-queue/bench-locations.conf;", text)
        if listens != 1 or includes != 1:
            raise SystemExit("cannot derive the reference nginx.conf from the stack's (listen/include lines changed?)")
        shutil.copytree(os.path.join(source, "snippets"), os.path.join(prefix, "snippets"), dirs_exist_ok=True)
        shutil.copy(os.path.join(source, "mime.types"), os.path.join(prefix, "mime.types"))
        for path in re.findall(r"_temp_path\s+(\S+);", text):
            os.makedirs(path, exist_ok=True)
        with open(os.path.join(prefix, "snippets/vision-queue/bench-locations.conf"), "w") as f:
            f.write(BENCH_LOCATIONS.replace("{{WWW}}", www))
        self.conf = os.path.join(prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        self.prefix = prefix
        self.floor_socket = os.path.join(run, "vision-status.sock")   # the `vision_status` upstream
        self.chain_socket = os.path.join(run, "vision-process.sock")  # the `vision_process` upstream
        self.chain_db = os.path.join(self.dir, "chain.sqlite3")

    def start(self):
        args = self.args
        nginx = os.environ.get("VQ_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
        logs = os.path.join(self.dir, "logs")
        db = connect_db(self.chain_db)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS chain (id INTEGER PRIMARY KEY, step INTEGER NOT NULL, updated_at INTEGER)")
        db.close()
        self.nginx = start([nginx, "-p", self.prefix, "-c", self.conf, "-e", os.path.join(logs, "nginx-error.log")],
                           os.path.join(logs, "nginx.out"))
        self.floor = start([os.path.join(args.tools, "floor"), self.floor_socket, self.body_file,
                            str(args.processes), str(args.threads)], os.path.join(logs, "floor.out"))
        self.start_chain(args.synchronous)
        if not wait_for_port(self.port):
            raise SystemExit(f"reference nginx did not start; see {logs}/nginx-error.log")
        for _ in range(100):
            if os.path.exists(self.floor_socket) and os.path.exists(self.chain_socket):
                break
            time.sleep(0.05)
        status, data = request(self.port, "GET", "/floor")
        if status != 200 or len(data) != self.body_size:
            raise SystemExit(f"the C floor answered {status} with {len(data)} bytes")
        log(f"references up on port {self.port} ({self.dir})")
        return self

    def start_chain(self, synchronous, processes=None):
        """R3 by default: 2 processes sharing the categories' limit (2 x 8 with the defaults), the
        reference the project first measured against; processes=1: R3s, one process with the
        threads of vision-process (1 x 16), so SQLite's write lock never crosses processes."""
        args = self.args
        threads = args.process_threads if processes == 1 else args.chain_threads
        if os.path.exists(self.chain_socket):
            os.unlink(self.chain_socket)
        self.chain = start([os.path.join(args.tools, "chain"), self.chain_socket, self.chain_db,
                            f"http://127.0.0.1:{self.port}/chain", str(processes or 2), str(threads),
                            synchronous, str(STEPS)], os.path.join(self.dir, "logs", "chain.out"))
        for _ in range(100):
            if os.path.exists(self.chain_socket):
                break
            time.sleep(0.05)

    def restart_chain(self, synchronous, processes=None):
        stop(self.chain)
        self.start_chain(synchronous, processes)
        time.sleep(0.2)

    def stop(self):
        for process in (self.chain, self.floor, self.nginx):
            stop(process)


BENCH_LOCATIONS = """# bench/run's reference locations (same server settings as the stack's, see bench.py).
include snippets/vision-queue/vision-queue-headers.conf;

# nginx's ceiling: a static JSON file the size of a status answer.
location = /status.json {
    root {{WWW}};
    default_type application/json;
    include snippets/vision-queue/vision-queue-headers.conf;
    add_header Cache-Control "no-store" always;
}

# The FastCGI floor, with the status location's directives.
location = /floor {
    client_max_body_size 4k;
    fastcgi_pass vision_status;
    include snippets/vision-queue/vision-queue-fastcgi.conf;
}

# The C chain, with the process location's directives.
location = /chain {
    allow 127.0.0.1;
    allow ::1;
    deny all;
    client_max_body_size 4k;
    fastcgi_ignore_client_abort on;
    fastcgi_pass vision_process;
    include snippets/vision-queue/vision-queue-fastcgi.conf;
}

# A trigger target that accepts and does nothing (figures 2 and 5 measure create on its own).
location = /sink {
    allow 127.0.0.1;
    deny all;
    default_type application/json;
    return 202 '{"accepted":true}';
}
"""


# MARK: load generators

def wrk(url, seconds, headers=(), tokens_file=None, body=None, offset=0, connections=64, threads=2, cpu_of=None):
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", os.path.join(BENCH, "wrk.lua")]
    for header in headers:
        command += ["-H", header]
    command.append(url)
    env = dict(os.environ, BENCH_WRK_THREADS=str(threads), BENCH_OFFSET=str(offset))
    env.pop("BENCH_TOKENS", None)
    if tokens_file:
        env["BENCH_TOKENS"] = tokens_file
        env["BENCH_BODY"] = body
    cpu_before = cpu_seconds(cpu_of) if cpu_of else None
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 120)
    match = re.search(r"BENCHJSON (\{.*\})", result.stdout)
    if not match:
        raise SystemExit(f"wrk failed: {result.stdout}\n{result.stderr}")
    data = json.loads(match.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = sum(v for k, v in data.items() if k.startswith("errors_"))
    if cpu_of:  # what one request costs the responder (its processes only, not nginx)
        data["responder_cpu_us"] = (cpu_seconds(cpu_of) - cpu_before) * 1e6 / max(1, data["requests"])
    return data


def summarize_wrk(runs):
    """Median over rounds of each number (so one disturbed round does not decide)."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
        "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000,
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "rounds_rps": [round(r["rps"]) for r in runs],
        "responder_cpu_us": (statistics.median(r["responder_cpu_us"] for r in runs)
                             if all("responder_cpu_us" in r for r in runs) else None),
        "runs": runs,
    }


async def fire_all(port, payloads):
    """Sends every request at once, each on its own connection; answers (seconds, status, body)."""
    async def one(payload):
        began = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            await writer.drain()
            data = await reader.read()
            writer.close()
            head, _, body = data.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
            return time.perf_counter() - began, status, body
        except OSError as error:
            return time.perf_counter() - began, 0, repr(error).encode()
    return await asyncio.gather(*(one(p) for p in payloads))


def http_post(path, body, token=None):
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: close"]
    if token:
        lines.insert(2, f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# MARK: figures

def single_jobs_project(stack, runs):
    db = stack.connect()
    client, server, failures = [], [], 0
    for index in range(runs):
        token = stack.token(f"bench-single-{index}")
        began = time.perf_counter()
        job = stack.create(token)
        row = stack.wait_final(db, job)
        elapsed = time.perf_counter() - began
        if not row or row[0] != "completed":
            failures += 1
            continue
        client.append(elapsed * 1000 / STEPS)
        server.append((row[2] - row[1]) / STEPS)
        time.sleep(0.02)
    db.close()
    return {"ms_per_step_p50": percentile(client, 50), "ms_per_step_p90": percentile(client, 90),
            "server_ms_per_step_p50": percentile(server, 50), "runs": len(client), "failures": failures,
            "ms_per_step": [round(v, 3) for v in client]}


def single_jobs_chain(refs, runs):
    db = connect_db(refs.chain_db)
    db.execute("DELETE FROM chain")
    values = []
    for index in range(1, runs + 1):
        db.execute("INSERT INTO chain (id, step) VALUES (?, 0)", (index,))
        began = time.perf_counter()
        status, _ = request(refs.port, "POST", "/chain", {"jobId": str(index)})
        deadline = time.time() + 30
        while time.time() < deadline:
            if db.execute("SELECT step FROM chain WHERE id = ?", (index,)).fetchone()[0] >= STEPS:
                break
            time.sleep(0.0005)
        values.append((time.perf_counter() - began) * 1000 / STEPS)
        time.sleep(0.02)
    db.close()
    return {"ms_per_step_p50": percentile(values, 50), "ms_per_step_p90": percentile(values, 90),
            "runs": len(values), "ms_per_step": [round(v, 3) for v in values]}


def chain_many(refs, jobs, timeout):
    db = connect_db(refs.chain_db)
    db.execute("DELETE FROM chain")
    db.execute("BEGIN")
    db.executemany("INSERT INTO chain (id, step) VALUES (?, 0)", ((i,) for i in range(1, jobs + 1)))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    payloads = [http_post("/chain", json.dumps({"jobId": str(i)}).encode()) for i in range(1, jobs + 1)]
    began = time.time()
    answers = asyncio.run(fire_all(refs.port, payloads))
    refused = sum(1 for _, status, _ in answers if status != 202)
    done, last = 0, None
    deadline = began + timeout
    while time.time() < deadline:
        done, last = db.execute("SELECT count(*), max(updated_at) FROM chain WHERE step >= ?", (STEPS,)).fetchone()
        if done == jobs:
            break
        time.sleep(0.02)
    elapsed = ((last / 1000) if done == jobs else time.time()) - began
    db.close()
    return {"jobs": jobs, "finished": done, "seconds": elapsed, "steps_per_s": done * STEPS / elapsed,
            "jobs_per_s": done / elapsed, "kicks_refused": refused}


def end_to_end(stack, jobs, timeout):
    # The same users every run, as returning users: the create workers' cache of verified tokens
    # (10,000 at most) then fills in the first run, and the growth between runs shows a leak
    # rather than that bounded cache filling (about 5 MB a process when full).
    tokens = [stack.token(f"bench-e2e-{i}") for i in range(jobs)]
    body = json.dumps({"answers": ANSWERS}).encode()
    payloads = [http_post("/api/vision-jobs/create", body, token) for token in tokens]
    db = stack.connect()
    began = time.time()
    answers = asyncio.run(fire_all(stack.port, payloads))
    created = [json.loads(b)["jobId"] for _, status, b in answers if status == 201]
    refused = [status for _, status, _ in answers if status != 201]
    latencies = [seconds * 1000 for seconds, status, _ in answers if status == 201]
    done, last = 0, None
    deadline = began + timeout
    since = int(began * 1000) - 1
    while time.time() < deadline:
        done, last = db.execute(
            "SELECT count(*), max(completed_at_ms) FROM vision_generation_jobs "
            "WHERE created_at_ms >= ? AND user_id LIKE 'bench-e2e-%' AND status IN ('completed', 'failed', 'cancelled')",
            (since,)).fetchone()
        if done >= len(created):
            break
        time.sleep(0.05)
    finished = done >= len(created) and created
    elapsed = ((last / 1000) if finished else time.time()) - began
    check = db.execute(
        "SELECT count(*), sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), sum(categories_completed), "
        "sum(categories_failed), sum(CASE WHEN vision_id IS NOT NULL THEN 1 ELSE 0 END) "
        "FROM vision_generation_jobs WHERE created_at_ms >= ? AND user_id LIKE 'bench-e2e-%'",
        (since,)).fetchone()
    db.close()
    completed = check[1] or 0
    categories = check[2] or 0
    return {"jobs": jobs, "since_ms": since, "created": len(created), "create_refused": len(refused),
            "create_refused_statuses": sorted(set(refused)), "finished": done, "seconds": elapsed,
            "completed": completed, "categories_done": categories, "categories_failed": check[3] or 0,
            "visions": check[4] or 0,
            "categories_per_s": categories / elapsed, "jobs_per_s": completed / elapsed,
            "steps_per_s": completed * STEPS / elapsed,
            "create_p50_ms": percentile(latencies, 50), "create_p99_ms": percentile(latencies, 99)}


def seed(path, template_db, template_job, count):
    """Copies one real completed job (its job row, 12 category rows and vision row) `count` times into
    the database at `path`, each copy with new ids, a user of its own (ten jobs per user) and its
    timestamps shifted to a creation time in the past year, in one transaction."""
    began = time.time()
    db = connect_db(path)
    db.execute("PRAGMA journal_mode=DELETE")  # one big transaction: no WAL copy of every page
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("ATTACH DATABASE ? AS tpl", (f"file:{template_db}?mode=ro",))
    created = db.execute("SELECT created_at_ms FROM tpl.vision_generation_jobs WHERE id = ?", (template_job,)).fetchone()[0]
    now = int(time.time() * 1000)
    users = max(1, count // 10)

    def select(table, alias, overrides):
        names, parts = [], []
        for column in [row[1] for row in db.execute(f"PRAGMA main.table_info({table})")]:
            names.append(column)
            if column in overrides:
                parts.append(overrides[column])
            elif column.endswith(("_at", "_at_ms")):  # every timestamp moves with the copy's creation time
                parts.append(f"{alias}.{column} + (s.t - {created})")
            else:
                parts.append(f"{alias}.{column}")
        return ", ".join(names), ", ".join(parts)

    db.execute("BEGIN")
    # The template's rows, one table each (the categories keyed by position, so they come out in order).
    db.execute("CREATE TEMP TABLE tj AS SELECT * FROM tpl.vision_generation_jobs WHERE id = ?", (template_job,))
    db.execute("CREATE TEMP TABLE tv AS SELECT * FROM tpl.visions WHERE job_id = ?", (template_job,))
    category_columns = [row[1] for row in db.execute("PRAGMA tpl.table_info(vision_job_categories)")]
    db.execute(f"CREATE TEMP TABLE tc (position INTEGER PRIMARY KEY, "
               f"{', '.join(c for c in category_columns if c != 'position')})")
    db.execute(f"INSERT INTO tc ({', '.join(category_columns)}) SELECT {', '.join(category_columns)} "
               f"FROM tpl.vision_job_categories WHERE job_id = ? ORDER BY position", (template_job,))
    shape = db.execute("SELECT (SELECT count(*) FROM tj), (SELECT count(*) FROM tv), (SELECT count(*) FROM tc), "
                       "(SELECT status FROM tj)").fetchone()
    if shape != (1, 1, 12, "completed"):
        raise SystemExit(f"the template job is not a completed job with 12 categories and a vision: {shape}")
    # The copies, numbered in the order of their random (version 4) ids, so every table and index
    # keyed by the job id grows by appending: several times faster than random order, and the pages
    # end up fuller (a database grown in random order was about 5% larger per job in a 200,000-job test).
    db.execute(f"""CREATE TEMP TABLE s0 AS
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
        SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' ||
               substr('89ab', 1 + (unicode(substr(h, 17, 1)) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12)
               AS job_id,
               substr(h, 33, 8) || '-' || substr(h, 41, 4) || '-4' || substr(h, 46, 3) || '-' ||
               substr('89ab', 1 + (unicode(substr(h, 49, 1)) % 4), 1) || substr(h, 50, 3) || '-' || substr(h, 53, 12)
               AS vision_id
        FROM (SELECT lower(hex(randomblob(32))) AS h FROM n)""")
    db.execute("CREATE TEMP TABLE s (i INTEGER PRIMARY KEY, job_id TEXT, vision_id TEXT, user_id TEXT, t INTEGER)")
    db.execute(f"INSERT INTO s (job_id, vision_id, user_id, t) SELECT job_id, vision_id, "
               f"'seed-user-' || (abs(random()) % {users}), {now} - 86400000 - (abs(random()) % {count}) * 30000 "
               f"FROM s0 ORDER BY job_id")
    names, values = select("vision_generation_jobs", "j", {"id": "s.job_id", "user_id": "s.user_id",
                                                           "vision_id": "s.vision_id", "last_kick_at": "NULL"})
    db.execute(f"INSERT INTO main.vision_generation_jobs ({names}) SELECT {values} FROM s CROSS JOIN tj j")
    names, values = select("vision_job_categories", "c", {"job_id": "s.job_id"})
    db.execute(f"INSERT INTO main.vision_job_categories ({names}) SELECT {values} FROM s CROSS JOIN tc c")
    names, values = select("visions", "v", {"id": "s.vision_id", "user_id": "s.user_id", "job_id": "s.job_id"})
    db.execute(f"INSERT INTO main.visions ({names}) SELECT {values} FROM s CROSS JOIN tv v")
    sample = db.execute("SELECT job_id, user_id FROM s WHERE i = ?", ((count + 1) // 2,)).fetchone()
    db.execute("COMMIT")
    db.execute("DETACH DATABASE tpl")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return {"jobs": count, "seconds": round(time.time() - began, 1), "sample_job": sample[0],
            "sample_user": sample[1]}


def template_key(template_db, template_job, count, schema_db):
    """What a seeded database depends on: the schema, the template's content (ids and times aside), the count."""
    digest = hashlib.sha256(str(count).encode())
    db = sqlite3.connect(f"file:{schema_db}?mode=ro", uri=True)
    for (sql,) in db.execute("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name"):
        digest.update(sql.encode())
    db.close()
    db = sqlite3.connect(f"file:{template_db}?mode=ro", uri=True)
    for table, key in (("vision_generation_jobs", "id"), ("vision_job_categories", "job_id"), ("visions", "job_id")):
        cursor = db.execute(f"SELECT * FROM {table} WHERE {key} = ?", (template_job,))
        names = [d[0] for d in cursor.description]
        for row in cursor:
            digest.update(repr([v for n, v in zip(names, row)  # ids, times and the worker's pid differ per run
                                if not n.endswith(("_at", "id", "_owner"))]).encode())
    db.close()
    return digest.hexdigest()[:16]


def seeded_database(args, stack, template_db, template_job):
    """The `seed_jobs` database for figure 5. Seeding a million real-sized jobs writes gigabytes, so
    the result is kept in .build-bench/seed-cache/ (one file, keyed by schema, template and count)
    and reused by later runs; the rows a run adds are deleted again before the next one."""
    stack.migrate_only()
    key = template_key(template_db, template_job, args.seed_jobs, stack.db)
    cache = os.path.join(args.seed_cache, f"seed-{key}.sqlite3")
    meta_path = cache + ".json"
    if args.seed_cache and os.path.exists(cache) and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        began = time.time()
        db = connect_db(cache)
        db.execute("PRAGMA foreign_keys=ON")
        removed = db.execute("DELETE FROM vision_generation_jobs WHERE user_id NOT LIKE 'seed-user-%'").rowcount
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        meta.update(cached=True, cleanup_seconds=round(time.time() - began, 1), removed_jobs=removed)
        log(f"  reusing {os.path.relpath(cache, ROOT)} (seeded in {meta['seconds']} s when made; "
            f"removed {removed} jobs of earlier runs)")
        return cache, meta
    if args.seed_cache:
        os.makedirs(args.seed_cache, exist_ok=True)
        for name in os.listdir(args.seed_cache):  # one cached database at a time: they are big
            os.remove(os.path.join(args.seed_cache, name))
        shutil.copy(stack.db, cache)
    else:
        cache = stack.db
    meta = seed(cache, template_db, template_job, args.seed_jobs)
    meta["db_bytes"] = os.path.getsize(cache)
    meta["bytes_per_job"] = meta["db_bytes"] / args.seed_jobs
    meta["cached"] = False
    if args.seed_cache:
        with open(meta_path, "w") as f:
            json.dump(meta, f)
    return cache, meta


# MARK: the run

def machine():
    info = {"cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "sqlite_python": sqlite3.sqlite_version}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            info["memory_gb"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    for name, command in (("nginx", ["nginx", "-v"]), ("wrk", ["wrk", "--version"])):
        try:
            out = subprocess.run(command, capture_output=True, text=True)
            info[name] = (out.stderr + out.stdout).splitlines()[0].strip()
        except (OSError, IndexError):
            info[name] = "?"
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libsqlite3-0"], capture_output=True, text=True)
        info["libsqlite3"] = out.stdout.strip()
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libfcgi0ldbl"], capture_output=True, text=True)
        info["libfcgi"] = out.stdout.strip()
    except OSError:
        pass
    return info


def main():
    parser = argparse.ArgumentParser(description="Vision Queue benchmark (use bench/run)")
    parser.add_argument("--bin", required=True, help="folder of the release binaries")
    parser.add_argument("--tools", required=True, help="folder of the compiled C floor and chain")
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per figure (median taken)")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs at once in figure 3 and the C chain")
    parser.add_argument("--e2e-runs", type=int, default=3,
                        help="runs of figure 3 (memory growth is read across them; the first fills bounded caches)")
    parser.add_argument("--single-runs", type=int, default=20, help="single-job runs in figure 4")
    parser.add_argument("--seed-jobs", type=int, default=1_000_000, help="finished jobs seeded for figure 5")
    parser.add_argument("--users", type=int, default=50_000, help="distinct users for the create figures")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("VQ_THREADS", "4")))
    parser.add_argument("--processes", type=int, default=int(os.environ.get("VQ_PROCESSES", "2")),
                        help="processes of vision-create and vision-status (and of the C floor)")
    parser.add_argument("--process-processes", type=int, default=int(os.environ.get("VQ_PROCESS_PROCESSES", "1")),
                        help="processes of vision-process")
    parser.add_argument("--process-threads", type=int, default=None,
                        help="threads per vision-process process, and so per C chain process (default: the "
                             "service's, the larger of --threads and VQ_MAX_CONCURRENT_CATEGORIES (16) shared "
                             "among the processes)")
    parser.add_argument("--synchronous", default=os.environ.get("VQ_SYNCHRONOUS", "FULL").upper())
    parser.add_argument("--no-normal", action="store_true", help="skip figure 3 with synchronous=NORMAL")
    parser.add_argument("--seed-cache", default=os.path.join(ROOT, ".build-bench", "seed-cache"),
                        help="where the seeded database is kept between runs ('' to seed afresh every time)")
    parser.add_argument("--no-postgres", action="store_true",
                        help="skip the PostgreSQL column (figures 1-5 and 6 idle on PostgreSQL 15, figure 3 on "
                             "several nodes) and the pgqueuer peer")
    parser.add_argument("--nodes", type=int, default=3, help="nodes behind the front in figure 3 on PostgreSQL")
    parser.add_argument("--no-peers", action="store_true", help="skip the peer queues (huey, pgqueuer)")
    parser.add_argument("--peer-jobs", type=int, default=20_000, help="no-op jobs each peer queue processes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folders")
    parser.add_argument("--results", default=os.path.join(BENCH, "results"))
    args = parser.parse_args()
    limit = int(os.environ.get("VQ_MAX_CONCURRENT_CATEGORIES") or 16)
    if args.process_threads is None:
        default = max(args.threads, -(-limit // args.process_processes))
        args.process_threads = int(os.environ.get("VQ_PROCESS_THREADS") or min(256, default))
    args.chain_threads = max(args.threads, -(-limit // 2))

    work = tempfile.mkdtemp(prefix="vq-bench-")
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
               "git": subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                                     text=True).stdout.strip(),
               "settings": {"threads": args.threads, "process_threads": args.process_threads,
                            "processes": args.processes, "process_processes": args.process_processes,
                            "chain_threads": args.chain_threads, "synchronous": args.synchronous,
                            "wrk": f"-t2 -c64 -d{args.seconds}s x {args.rounds} rounds (median)",
                            "jobs": args.jobs, "seed_jobs": args.seed_jobs, "nodes": args.nodes,
                            "peer_jobs": args.peer_jobs},
               "work": work}
    began = time.time()
    try:
        run(args, work, results)
    finally:
        stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.time() - began, 1)
    os.makedirs(args.results, exist_ok=True)
    name = os.path.join(args.results, time.strftime("bench-%Y%m%d-%H%M%S.json"))
    for path in (name, os.path.join(args.results, "latest.json")):
        with open(path, "w") as f:
            json.dump(results, f, indent=2, default=str)
    print(table(results))
    print(f"\nJSON: {os.path.relpath(name, ROOT)} (and bench/results/latest.json); {results['seconds']:.0f} s in all")


def run(args, work, results):
    timeout = max(300, args.jobs * 0.5)
    loads = results["load_average"] = {"start": loadavg()}

    # Stack 1: the service as it runs, on a small database.
    s1 = Stack("s1", args, work).start()
    time.sleep(1.0)
    results["memory_idle_start"] = s1.worker_rss()
    status_token = s1.token("bench-status")
    template_job, status_path, status_body = first_job(s1, status_token)
    results["status_answer_bytes"] = len(status_body)

    refs = References(args, work, s1, status_body).start()

    log("figure 4: one job alone, x%d (then the C chain the same way)" % args.single_runs)
    results["fig4_single_job"] = single_jobs_project(s1, args.single_runs)
    results["ref_chain_single"] = single_jobs_chain(refs, args.single_runs)
    results["memory_idle_warm"] = s1.worker_rss()
    loads["fig4"] = loadavg()

    log(f"figure 1: status vs the C floor and static nginx, {args.rounds} rounds of {args.seconds} s each")
    auth = f"Authorization: Bearer {status_token}"
    static, floor, status = [], [], []
    for round_index in range(args.rounds):
        if round_index == 0:  # warm every path once
            for url, headers in ((f"http://127.0.0.1:{refs.port}/floor", ()),
                                 (f"http://127.0.0.1:{s1.port}{status_path}", (auth,))):
                wrk(url, 2, headers)
        static.append(wrk(f"http://127.0.0.1:{refs.port}/status.json", args.seconds))
        floor.append(wrk(f"http://127.0.0.1:{refs.port}/floor", args.seconds, cpu_of=group_pids(refs.floor.pid)))
        status.append(wrk(f"http://127.0.0.1:{s1.port}{status_path}", args.seconds, (auth,),
                          cpu_of=s1.pids("vision-status")))
    results["ref_static"] = summarize_wrk(static)
    results["ref_floor"] = summarize_wrk(floor)
    results["fig1_status"] = summarize_wrk(status)
    loads["fig1"] = loadavg()

    log(f"figure 3: {args.jobs} jobs at once, x{args.e2e_runs}, each after a C chain run of the same size")
    chain_runs, chain_one_runs, e2e_runs, memory = [], [], [], []
    for index in range(args.e2e_runs):
        chain_runs.append(chain_many(refs, args.jobs, timeout))
        log(f"  C chain: {chain_runs[-1]['steps_per_s']:.0f} steps/s")
        # The stronger reference: one process, so SQLite's write lock never crosses processes.
        refs.restart_chain(args.synchronous, processes=1)
        chain_one_runs.append(chain_many(refs, args.jobs, timeout))
        log(f"  C chain, 1 process: {chain_one_runs[-1]['steps_per_s']:.0f} steps/s")
        refs.restart_chain(args.synchronous)
        e2e_runs.append(end_to_end(s1, args.jobs, timeout))
        memory.append(s1.worker_rss())
        log(f"  stack:   {e2e_runs[-1]['steps_per_s']:.0f} steps/s ({e2e_runs[-1]['completed']} completed)")
    results["ref_chain"] = {"runs": chain_runs, "best": max(chain_runs, key=lambda r: r["steps_per_s"])}
    results["ref_chain_one_process"] = {"runs": chain_one_runs, "best": max(chain_one_runs, key=lambda r: r["steps_per_s"])}
    results["fig3_end_to_end"] = {"runs": e2e_runs, "best": max(e2e_runs, key=lambda r: r["steps_per_s"])}
    results["memory_after_fig3"] = memory
    loads["fig3"] = loadavg()
    s1.stop()
    if not args.no_peers:  # right after figure 3, so the ratio compares the same minutes
        log(f"peer on SQLite: huey, {args.peer_jobs:,} no-op jobs enqueued first, then 2 worker processes")
        results.setdefault("peers", {})["huey"] = peers.huey(work, args.peer_jobs)
        loads["huey"] = loadavg()
    template_db = os.path.join(work, "template.sqlite3")
    source = sqlite3.connect(s1.db)
    source.execute("VACUUM INTO ?", (template_db,))
    source.close()

    if args.synchronous == "FULL" and not args.no_normal:
        # The same figure with synchronous=NORMAL on both sides: how much of it is fsync.
        log(f"figure 3 with synchronous=NORMAL (stack and C chain)")
        refs.restart_chain("NORMAL")
        s1n = Stack("s1n", args, work, {"VQ_SYNCHRONOUS": "NORMAL"}).start()
        single_normal = single_jobs_project(s1n, args.single_runs)
        chain_single_normal = single_jobs_chain(refs, args.single_runs)
        chain_normal = chain_many(refs, args.jobs, timeout)
        log(f"  C chain: {chain_normal['steps_per_s']:.0f} steps/s")
        e2e_normal = end_to_end(s1n, args.jobs, timeout)
        log(f"  stack:   {e2e_normal['steps_per_s']:.0f} steps/s ({e2e_normal['completed']} completed)")
        results["fig3_normal"] = {"chain": chain_normal, "stack": e2e_normal, "single": single_normal,
                                  "chain_single": chain_single_normal}
        s1n.stop()
        refs.restart_chain(args.synchronous)
        loads["fig3_normal"] = loadavg()

    # Figures 2 and 5: create on its own (its trigger goes to a stub that answers 202, so the chain
    # does not run), and status again, on a small database and on one with `seed_jobs` finished jobs.
    # Both stacks run side by side and are measured in alternation, round by round.
    sink = {"VQ_TRIGGER_URL": f"http://127.0.0.1:{refs.port}/sink", "VQ_SWEEP_INTERVAL_SECONDS": "0"}
    log(f"figure 5: seeding {args.seed_jobs:,} finished jobs (copies of the first job of this run)")
    schema = Stack("seed", args, work, sink)
    seeded_db, seed_info = seeded_database(args, schema, template_db, template_job)
    seed_info["db_bytes"] = seed_info.get("db_bytes") or os.path.getsize(seeded_db)
    results["fig5_seed"] = seed_info
    if not seed_info["cached"]:
        log(f"  seeded in {seed_info['seconds']:.1f} s, {seed_info['db_bytes'] / 1e9:.2f} GB")
    s2 = Stack("s2", args, work, sink)
    s2.migrate_only()
    small = seed(s2.db, template_db, template_job, 10)
    s3 = Stack("s3", args, work, sink, db_path=seeded_db)
    s2.start()
    s3.start()
    loads["fig5_start"] = loadavg()
    tokens_file = os.path.join(work, "tokens.txt")
    with open(tokens_file, "w") as f:
        for index in range(args.users):
            f.write(mint(s1.secret, f"bench-create-{index}") + "\n")
    measured = status_and_create(args, refs, (s2, small), (s3, seed_info), len(status_body), tokens_file)
    results.update(measured)
    loads["fig5_end"] = loadavg()
    s2.stop()
    s3.stop()

    server = None if args.no_postgres else postgres.PostgresServer(work, free_port()).start()
    try:
        if server:
            run_postgres(args, work, results, refs, server, tokens_file, timeout)
            loads["postgres"] = loadavg()
        refs.stop()
    finally:
        if server:
            server.stop()


def first_job(stack, token):
    """Creates the run's first job and waits for it: the template that status reads and that
    figure 5 copies. Answers its id, its status path and its status answer."""
    db = stack.connect()
    job = stack.create(token)
    row = stack.wait_final(db, job)
    db.close()
    if not row or row[0] != "completed":
        raise SystemExit(f"the first job on {stack.name} did not complete: {row}")
    status_path = f"/api/vision-jobs/status?jobId={job}"
    code, body = request(stack.port, "GET", status_path, token=token)
    if code != 200:
        raise SystemExit(f"status on {stack.name} answered {code}")
    return job, status_path, body


def status_and_create(args, refs, small_side, big_side, status_bytes, tokens_file):
    """Figures 2 and 5: status and create on a stack with a small database and on one with
    `seed_jobs` finished jobs, and the C floor, measured in alternation round by round so a
    disturbance of the shared machine hits all of them alike. Each side is (stack, seed info)."""
    (small_stack, small), (big_stack, big) = small_side, big_side
    for stack, info in (small_side, big_side):
        code, body = request(stack.port, "GET", f"/api/vision-jobs/status?jobId={info['sample_job']}",
                             token=stack.token(info["sample_user"]))
        if code != 200 or len(body) != status_bytes:
            raise SystemExit(f"status of a seeded job on {stack.name} answered {code} with {len(body)} bytes "
                             f"(the template's: {status_bytes}): {body[:300]!r}")
    create_body = json.dumps({"answers": ANSWERS})

    def status_target(stack, info):
        return (f"http://127.0.0.1:{stack.port}/api/vision-jobs/status?jobId={info['sample_job']}",
                {"headers": (f"Authorization: Bearer {stack.token(info['sample_user'])}",)})

    def create_target(stack):
        return f"http://127.0.0.1:{stack.port}/api/vision-jobs/create", {"tokens_file": tokens_file, "body": create_body}

    targets = {"floor": (f"http://127.0.0.1:{refs.port}/floor", {}),
               "small_status": status_target(small_stack, small), "big_status": status_target(big_stack, big),
               "small_create": create_target(small_stack), "big_create": create_target(big_stack)}
    log(f"figures 2 and 5 on {small_stack.store}: status and create on {small['jobs']} and on "
        f"{big['jobs']:,} finished jobs, {args.rounds} rounds of {args.seconds} s each")
    measured = {name: [] for name in targets}
    for name, (url, options) in targets.items():  # warm every path once
        if name != "floor":
            wrk(url, 2, offset=args.users // 2, **options)
    for round_index in range(args.rounds):
        for name, (url, options) in targets.items():
            offset = (round_index * 2 + (name == "big_create")) * args.users // (2 * args.rounds)
            measured[name].append(wrk(url, args.seconds, offset=offset, **options))
    return {"ref_floor_fig5": summarize_wrk(measured["floor"]), "fig2_create": summarize_wrk(measured["small_create"]),
            "fig5_status_small": summarize_wrk(measured["small_status"]),
            "fig5_status": summarize_wrk(measured["big_status"]), "fig5_create": summarize_wrk(measured["big_create"])}


# MARK: PostgreSQL

def pg_env(server, schema):
    """What points a stack at the bench's PostgreSQL, in a schema of its own."""
    return {"VQ_DATABASE_URL": server.url, "VQ_DATABASE_SCHEMA": schema}


def run_postgres(args, work, results, refs, server, tokens_file, timeout):
    """Figures 1-5 and 6 (idle) again with the stack on PostgreSQL 15 (the bench's own server,
    one schema per stack), then figure 3 on several nodes sharing one schema. The references are
    those of the SQLite column, still running; the C floor is measured again beside figures 1, 2
    and 5, so their ratios come from the same minutes."""
    pg = results["postgres"] = {"server_version": server.version}
    p1 = Stack("p1", args, work, pg_env(server, "p1")).start()
    time.sleep(1.0)
    pg["memory_idle_start"] = p1.worker_rss()
    token = p1.token("bench-status")
    template_job, status_path, status_body = first_job(p1, token)

    # Each worker thread opens its PostgreSQL connection on first use (a backend forked, its caches
    # filled, its statements prepared): measured here cold, as the SQLite column is, and again
    # after figure 3, when every thread has its connection.
    log(f"PostgreSQL figure 4: one job alone, x{args.single_runs} (cold: first use of each connection)")
    pg["fig4_single_job_cold"] = single_jobs_project(p1, args.single_runs)

    log(f"PostgreSQL figure 1: status vs the C floor, {args.rounds} rounds of {args.seconds} s each")
    auth = f"Authorization: Bearer {token}"
    status_url = f"http://127.0.0.1:{p1.port}{status_path}"
    wrk(status_url, 2, (auth,))
    floor, status = [], []
    for _ in range(args.rounds):
        floor.append(wrk(f"http://127.0.0.1:{refs.port}/floor", args.seconds, cpu_of=group_pids(refs.floor.pid)))
        status.append(wrk(status_url, args.seconds, (auth,), cpu_of=p1.pids("vision-status")))
    pg["ref_floor"] = summarize_wrk(floor)
    pg["fig1_status"] = summarize_wrk(status)

    log(f"PostgreSQL figure 3: {args.jobs} jobs at once, x{args.e2e_runs}")
    runs = []
    for index in range(args.e2e_runs):
        runs.append(end_to_end(p1, args.jobs, timeout))
        log(f"  stack:   {runs[-1]['steps_per_s']:.0f} steps/s ({runs[-1]['completed']} completed)")
    pg["fig3_end_to_end"] = {"runs": runs, "best": max(runs, key=lambda r: r["steps_per_s"])}
    pg["memory_after_fig3"] = p1.worker_rss()
    log(f"PostgreSQL figure 4 again, warm: one job alone, x{args.single_runs}")
    pg["fig4_single_job"] = single_jobs_project(p1, args.single_runs)
    p1.stop()
    if not args.no_peers:  # right after figure 3, so the ratio compares the same minutes
        log(f"peer on PostgreSQL: pgqueuer, {args.peer_jobs:,} no-op jobs enqueued first, then 2 worker processes")
        results.setdefault("peers", {})["pgqueuer"] = peers.pgqueuer(work, server, args.peer_jobs)

    pg["fig3_nodes"] = nodes_end_to_end(args, work, server, timeout)

    sink = {"VQ_TRIGGER_URL": f"http://127.0.0.1:{refs.port}/sink", "VQ_SWEEP_INTERVAL_SECONDS": "0"}
    p2 = Stack("p2", args, work, {**sink, **pg_env(server, "p2")})
    p3 = Stack("p3", args, work, {**sink, **pg_env(server, "p3")})
    p2.migrate_only()
    p3.migrate_only()
    log(f"PostgreSQL figure 5: seeding {args.seed_jobs:,} finished jobs (copies of the first job on PostgreSQL)")
    small = postgres.seed(server.url, "p1", template_job, "p2", 10)
    big = postgres.seed(server.url, "p1", template_job, "p3", args.seed_jobs)
    big["db_bytes"] = postgres.schema_bytes(server.url, "p3")
    log(f"  seeded in {big['seconds']:.1f} s, {big['db_bytes'] / 1e9:.2f} GB")
    pg["fig5_seed"] = big
    p2.start()
    p3.start()
    pg.update(status_and_create(args, refs, (p2, small), (p3, big), len(status_body), tokens_file))
    p2.stop()
    p3.stop()


def nodes_end_to_end(args, work, server, timeout):
    """Figure 3 on `args.nodes` nodes sharing one PostgreSQL schema: each a whole stack (nginx and
    the binaries, its own port and data folder) behind a round-robin nginx front. Creates go
    through the front, and so do the self-triggers (VQ_TRIGGER_URL), so any node runs any step."""
    front_port = free_port()
    env = {**pg_env(server, "nodes"), "VQ_TRIGGER_URL": f"http://127.0.0.1:{front_port}/api/vision-jobs/process",
           "VQ_TRIGGER_SECRET": "bench-trigger-nodes"}  # one secret: a node checks its peers' triggers
    nodes = [Stack(f"node{i + 1}", args, work, env) for i in range(args.nodes)]
    front = postgres.Front(work, front_port, [node.port for node in nodes]).start()
    for node in nodes:
        node.start()
    front.wait()
    cluster = Cluster(front_port, nodes)
    log(f"PostgreSQL figure 3 on {args.nodes} nodes behind a front: {args.jobs} jobs at once, x{args.e2e_runs}")
    runs = []
    for index in range(args.e2e_runs):
        runs.append(end_to_end(cluster, args.jobs, timeout))
        runs[-1]["steps_by_node"] = cluster.steps_by_node(runs[-1]["since_ms"])
        log(f"  {args.nodes} nodes: {runs[-1]['steps_per_s']:.0f} steps/s ({runs[-1]['completed']} completed; "
            f"steps by node {runs[-1]['steps_by_node']})")
    for node in nodes:
        node.stop()
    front.stop()
    return {"nodes": args.nodes, "runs": runs, "best": max(runs, key=lambda r: r["steps_per_s"])}


class Cluster:
    """Several nodes behind the front, with a stack's face for end_to_end: the front's port, a
    token any node accepts (one JWT secret), a connection to the shared schema."""

    def __init__(self, port, nodes):
        self.port = port
        self.nodes = nodes

    def token(self, user):
        return self.nodes[0].token(user)

    def connect(self):
        return self.nodes[0].connect()

    def steps_by_node(self, since_ms):
        """Categories of this run each node's vision-process wrote, from the worker that held the
        last lease (its owner names the process id): evidence that the steps spread."""
        owner = {pid: node.name for node in self.nodes for pid in node.pids("vision-process")}
        db = self.connect()
        rows = db.execute("SELECT c.lease_owner, count(*) FROM vision_job_categories c JOIN vision_generation_jobs j "
                          "ON j.id = c.job_id WHERE j.created_at_ms >= ? AND j.user_id LIKE 'bench-e2e-%' GROUP BY c.lease_owner",
                          (since_ms,)).fetchall()
        db.close()
        counts = {}
        for lease_owner, count in rows:
            pid = next((int(p) for p in re.findall(r"\d+", lease_owner or "")[::-1] if int(p) in owner), None)
            name = owner.get(pid, "unknown")
            counts[name] = counts.get(name, 0) + count
        return counts


# MARK: the table

def table(r):
    def fmt(n, digits=0):
        return f"{n:,.{digits}f}" if n is not None else "-"

    def ratio(a, b):
        return a / b if a is not None and b else None

    def verdict(ok):
        return "met" if ok else "MISSED"

    def load(w):
        return f"{fmt(w['rps'])} req/s, p50 {fmt(w['p50_ms'], 2)} ms, p99 {fmt(w['p99_ms'], 2)} ms"

    rows = []
    floor, static, chain = r["ref_floor"], r["ref_static"], r["ref_chain"]["best"]
    chain1 = r["ref_chain_single"]
    rows.append(("R1 nginx, static JSON file", load(static), f"{r['status_answer_bytes']:,} B, like a status answer", "", ""))
    rows.append(("R2 C libfcgi floor", load(floor), f"{ratio(floor['rps'], static['rps']):.2f}x R1", "", ""))
    rows.append((f"R3 C chain, 2 processes, {chain['jobs']:,} jobs x {STEPS} steps",
                 f"{fmt(chain['steps_per_s'])} steps/s, {fmt(chain['jobs_per_s'], 1)} jobs/s ({chain['seconds']:.1f} s)",
                 f"{ratio(chain['steps_per_s'], floor['rps']):.2f}x R2", "", ""))
    chain_one = r.get("ref_chain_one_process", {}).get("best")
    if chain_one:
        rows.append((f"R3s C chain, 1 process x {r['settings']['process_threads']} threads",
                     f"{fmt(chain_one['steps_per_s'])} steps/s ({chain_one['seconds']:.1f} s)",
                     f"{ratio(chain_one['steps_per_s'], chain['steps_per_s']):.2f}x R3", "", ""))
    rows.append(("R4 C chain, one job alone", f"{fmt(chain1['ms_per_step_p50'], 2)} ms/step (p50 of {chain1['runs']})",
                 "", "", ""))

    f1 = r["fig1_status"]
    q1 = ratio(f1["rps"], floor["rps"])
    rows.append(("1 status, bearer token", load(f1), f"{q1:.2f}x R2", ">= 0.85x R2", verdict(q1 >= 0.85)))
    if f1.get("responder_cpu_us") and floor.get("responder_cpu_us"):
        rows.append(("  CPU per request, responder", f"status {fmt(f1['responder_cpu_us'])} us, "
                     f"C floor {fmt(floor['responder_cpu_us'])} us (nginx not counted)",
                     f"{ratio(f1['responder_cpu_us'], floor['responder_cpu_us']):.1f}x R2", "", ""))
    f2 = r["fig2_create"]
    q2 = ratio(f2["rps"], r["ref_floor_fig5"]["rps"])
    rows.append(("2 create, distinct users", load(f2).replace("req/s", "jobs/s"), f"{q2:.2f}x R2", "", ""))
    e2e = r["fig3_end_to_end"]["best"]
    q3 = ratio(e2e["steps_per_s"], chain["steps_per_s"])
    rows.append((f"3 end to end, {e2e['jobs']:,} jobs at once",
                 f"{fmt(e2e['categories_per_s'])} categories/s, {fmt(e2e['jobs_per_s'], 1)} jobs/s "
                 f"({fmt(e2e['steps_per_s'])} steps/s, {e2e['seconds']:.1f} s)",
                 f"{q3:.2f}x R3", ">= 0.8x R3", verdict(q3 >= 0.8 and e2e["completed"] == e2e["jobs"])))
    if chain_one:
        q3s = ratio(e2e["steps_per_s"], chain_one["steps_per_s"])
        rows.append(("  against the stronger reference", f"{q3s:.2f}x R3s", "", ">= 1.0x R3s", verdict(q3s >= 1.0)))
    rows.append(("  its creates, under the chain",
                 f"p50 {fmt(e2e['create_p50_ms'], 0)} ms, p99 {fmt(e2e['create_p99_ms'], 0)} ms; "
                 f"{e2e['completed']}/{e2e['jobs']} completed, {e2e['categories_failed']} categories failed", "", "", ""))
    normal = r.get("fig3_normal")
    if normal:
        n_chain, n_stack = normal["chain"], normal["stack"]
        rows.append(("  the same, synchronous=NORMAL",
                     f"{fmt(n_stack['categories_per_s'])} categories/s ({fmt(n_stack['steps_per_s'])} steps/s); "
                     f"C chain {fmt(n_chain['steps_per_s'])} steps/s",
                     f"{ratio(n_stack['steps_per_s'], n_chain['steps_per_s']):.2f}x", "", ""))
    f4 = r["fig4_single_job"]
    q4 = ratio(f4["ms_per_step_p50"], chain1["ms_per_step_p50"])
    rows.append(("4 chain overhead, one job alone", f"{fmt(f4['ms_per_step_p50'], 2)} ms/step (p50 of {f4['runs']}; "
                 f"server clock {fmt(f4['server_ms_per_step_p50'], 2)})", f"{q4:.2f}x R4", "< 2 ms",
                 verdict(f4["ms_per_step_p50"] < 2)))
    if normal and normal.get("single"):
        n4, c4 = normal["single"], normal["chain_single"]
        rows.append(("  the same, synchronous=NORMAL", f"{fmt(n4['ms_per_step_p50'], 2)} ms/step; "
                     f"C chain {fmt(c4['ms_per_step_p50'], 2)} ms/step",
                     f"{ratio(n4['ms_per_step_p50'], c4['ms_per_step_p50']):.2f}x", "", ""))
    f5s, f5c, small, seed = r["fig5_status"], r["fig5_create"], r["fig5_status_small"], r["fig5_seed"]
    q5s, q5c = ratio(f5s["rps"], small["rps"]), ratio(f5c["rps"], f2["rps"])
    rows.append(("5 status, small database", load(small), f"{ratio(small['rps'], r['ref_floor_fig5']['rps']):.2f}x R2", "", ""))
    rows.append((f"5 status, {seed['jobs']:,} finished jobs", load(f5s), f"{q5s:.2f}x small",
                 ">= 0.85x", verdict(q5s >= 0.85)))
    rows.append((f"5 create, {seed['jobs']:,} finished jobs", load(f5c).replace("req/s", "jobs/s"),
                 f"{q5c:.2f}x fig 2", ">= 0.85x", verdict(q5c >= 0.85)))
    made = "reused from an earlier run, made in" if seed.get("cached") else "seeded in"
    rows.append(("5 database per finished job", f"{fmt(seed['db_bytes'] / seed['jobs'])} B "
                 f"({seed['db_bytes'] / 1e9:.2f} GB; {made} {seed['seconds']:.0f} s)", "", "", ""))

    def mem(snapshot, key="rss_mb"):
        return ", ".join(f"{b.replace('vision-', '')} {'/'.join(fmt(v, 1) for v in vals[key])}"
                         for b, vals in snapshot.items())
    idle = r["memory_idle_start"]
    idle_max = max((v for vals in idle.values() for v in vals["rss_mb"]), default=0)
    rows.append(("6 RSS MB per worker, idle", mem(idle), f"private: {mem(idle, 'private_mb')}", "< 20 MB",
                 verdict(idle_max < 20)))
    rows.append(("6 RSS MB, idle after figure 4", mem(r["memory_idle_warm"]), "", "", ""))
    after = r["memory_after_fig3"]
    for index, snapshot in enumerate(after):
        rows.append((f"6 RSS MB, after figure 3 run {index + 1}", mem(snapshot),
                     f"private: {mem(snapshot, 'private_mb')}", "", ""))
    if len(after) >= 2:
        def growth(a, b):  # the largest change of one worker process's RSS between two snapshots
            return max(y - x for name in a for x, y in zip(a[name]["rss_mb"], b[name]["rss_mb"]))
        first, last = growth(after[0], after[-1]), growth(after[-2], after[-1])
        rows.append(("6 growth across figure 3 runs", f"last vs previous run {last:+.1f} MB, last vs first {first:+.1f} MB "
                     f"(largest per process)", "", "none (< 1 MB)", verdict(last < 1.0)))

    m, st = r["machine"], r["settings"]
    lines = [f"Vision Queue benchmark, {r['started']}, git {r['git']}",
             f"Machine: {m.get('cpu', '?')}, {m['cores']} cores, {m.get('memory_gb', '?')} GB, Linux {m['kernel']}, "
             f"{m['nginx']}, libsqlite3 {m.get('libsqlite3', '?')}, libfcgi {m.get('libfcgi', '?')}",
             f"Settings: vision-create, vision-status and the C floor {st['processes']} processes x {st['threads']} threads; "
             f"vision-process {st.get('process_processes', st['processes'])} x {st.get('process_threads', st['threads'])} threads; "
             f"C chain R3 2 x {st.get('chain_threads', '?')}, R3s 1 x {st.get('process_threads', '?')}; "
             f"synchronous={st['synchronous']}, generator 0 ms, wrk {st['wrk']}",
             "Load average (1 min) at each phase: " + ", ".join(f"{k} {v:.1f}" for k, v in r["load_average"].items()),
             ""]
    header = ("Figure", "Measured", "Ratio (same run)", "Target", "")
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(5)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths[:4]))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    errors = {k: v["errors"] for k, v in r.items() if isinstance(v, dict) and v.get("errors")}
    errors.update({f"postgres.{k}": v["errors"] for k, v in r.get("postgres", {}).items()
                   if isinstance(v, dict) and v.get("errors")})
    if errors:
        lines += ["", f"wrk saw errors or non-2xx answers (excluded from nothing; check the JSON): {errors}"]
    if r.get("postgres") or r.get("peers"):
        lines += [""] + store_table(r)
    return "\n".join(lines)


def store_table(r):
    """The second table: each figure on SQLite and on PostgreSQL side by side, each with its ratio
    to its own same-run reference, then figure 3 against the peer queues. Lines of text."""
    pg, found = r.get("postgres") or {}, r.get("peers") or {}

    def fmt(n, digits=0):
        return f"{n:,.{digits}f}" if n is not None else "-"

    def ratio(a, b):
        return f"{a / b:.2f}x" if a is not None and b else "-"

    def load(w, floor, unit="req/s"):
        return f"{fmt(w['rps'])} {unit}, p50 {fmt(w['p50_ms'], 1)} ms ({ratio(w['rps'], floor['rps'])} R2)"

    def e2e(run):
        return (f"{fmt(run['steps_per_s'])} steps/s, {fmt(run['jobs_per_s'], 1)} jobs/s "
                f"({ratio(run['steps_per_s'], r['ref_chain']['best']['steps_per_s'])} R3; "
                f"{run['completed']}/{run['jobs']} completed)")

    def idle_rss(snapshot):
        return ", ".join(f"{b.replace('vision-', '')} {fmt(max(v['rss_mb'], default=None), 1)}" for b, v in snapshot.items())

    rows = []

    def add(name, sqlite_key, text, value):
        """One figure: SQLite's from r, PostgreSQL's from pg (absent when skipped); PG / SQLite of `value`."""
        a, b = r.get(sqlite_key), pg.get(sqlite_key)
        rows.append((name, text(a, "sqlite") if a else "-", text(b, "postgres") if b else "-",
                     ratio(value(b), value(a)) if a and b else ""))

    add("1 status, bearer token", "fig1_status",
        lambda w, side: load(w, (r if side == "sqlite" else pg)["ref_floor"]), lambda w: w["rps"])
    add("2 create, distinct users", "fig2_create",
        lambda w, side: load(w, (r if side == "sqlite" else pg)["ref_floor_fig5"], "jobs/s"), lambda w: w["rps"])
    add(f"3 end to end, {r['settings']['jobs']:,} jobs at once (best of runs)", "fig3_end_to_end",
        lambda f, side: e2e(f["best"]), lambda f: f["best"]["steps_per_s"])
    nodes = pg.get("fig3_nodes")
    if nodes:
        best, single = nodes["best"], pg["fig3_end_to_end"]["best"]
        rows.append((f"3 the same, {nodes['nodes']} nodes behind a front", "-", e2e(best),
                     f"{ratio(best['steps_per_s'], single['steps_per_s'])} 1 node"))
        rows.append(("  steps run by each node (last run)", "-",
                     ", ".join(f"{k} {v:,}" for k, v in sorted(nodes["runs"][-1]["steps_by_node"].items())), ""))
    add("4 chain overhead, one job alone", "fig4_single_job",
        lambda f, side: f"{fmt(f['ms_per_step_p50'], 2)} ms/step (server clock {fmt(f['server_ms_per_step_p50'], 2)})"
        + (f"; cold {fmt(pg['fig4_single_job_cold']['ms_per_step_p50'], 2)}" if side == "postgres" else ""),
        lambda f: f["ms_per_step_p50"])
    seed_jobs = (r.get("fig5_seed") or pg.get("fig5_seed") or {}).get("jobs", 0)
    for key, small_key, name, unit in (("fig5_status", "fig5_status_small", "status", "req/s"),
                                       ("fig5_create", "fig2_create", "create", "jobs/s")):
        add(f"5 {name}, {seed_jobs:,} finished jobs", key,
            lambda w, side, small_key=small_key, unit=unit: f"{fmt(w['rps'])} {unit} "
            f"({ratio(w['rps'], (r if side == 'sqlite' else pg)[small_key]['rps'])} small)", lambda w: w["rps"])
    add("5 database per finished job", "fig5_seed",
        lambda f, side: f"{fmt(f['db_bytes'] / f['jobs'])} B", lambda f: f["db_bytes"] / f["jobs"])
    add("6 RSS MB per worker, idle (largest)", "memory_idle_start", lambda m, side: idle_rss(m),
        lambda m: max(v for vals in m.values() for v in vals["rss_mb"]))

    huey, pgq = found.get("huey"), found.get("pgqueuer")
    if huey or pgq:
        def peer(p):
            return (f"{p['peer']}: {fmt(p['jobs_per_s'])} jobs/s ({p['workers']} workers"
                    + (f", batches of {p['batch_size']}" if p.get("batch_size") else "") + ")") if p else "-"
        rows.append((f"P peer queue, {r['settings'].get('peer_jobs', 0):,} no-op jobs", peer(huey), peer(pgq), ""))

        def versus(figure, p):
            return f"{ratio(figure['best']['steps_per_s'], p['jobs_per_s'])} {p['peer']}" if figure and p else "-"
        rows.append(("3 end to end: our steps/s per peer job/s", versus(r.get("fig3_end_to_end"), huey),
                     versus(pg.get("fig3_end_to_end"), pgq), ""))
        if nodes and pgq:
            rows.append((f"  the same, {nodes['nodes']} nodes", "-", versus(nodes, pgq), ""))

    version = (pg.get("server_version") or "").split(" ")[0]
    header = ("SQLite and PostgreSQL, same run", "SQLite", f"PostgreSQL {version}".strip(), "PostgreSQL / SQLite")
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return lines


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
