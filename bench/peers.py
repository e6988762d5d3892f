"""Peer job queues measured in the same run, as references for figure 3: huey on SQLite and
pgqueuer on PostgreSQL (batches of 10), no-op jobs, 2 worker processes each, from the bench's
own venv (bench/run installs them from PyPI into .build-bench/bench-venv).

Every job is enqueued first, then the workers start. Jobs/s processed is counted from the first
job seen taken to the last one done, so the workers' start-up (Python imports, connections) is
left out, as the stack's start is left out of figure 3. A peer's job is one dequeue and one
acknowledgement; a step of ours is a claim, a write, a record and a trigger through nginx. The
table sets our steps/s against their jobs/s.
"""
import asyncio
import importlib
import os
import signal
import sys
import time

from processes import log, start, stop

BENCH = os.path.dirname(os.path.abspath(__file__))


def drain_rate(remaining, total, workers, folder, timeout, poll=0.01):
    """Polls `remaining()` (jobs not yet done) until it reaches 0. Answers jobs/s over the jobs
    done between the first poll that saw one gone and the last (the ones done before it, while
    the clock was not yet running, are left out of both sides), and that many jobs. Gives up
    when every worker process has exited (their log says why) or after `timeout` seconds."""
    first = None
    deadline = time.time() + timeout
    while True:
        if all(worker.poll() is not None for worker in workers):
            raise SystemExit(f"the peer's workers exited; see their logs in {folder}")
        left = remaining()
        now = time.perf_counter()
        if first is None and left < total:
            first = (now, left)
        if left == 0:
            break
        if time.time() > deadline:
            raise SystemExit(f"peer queue still had {left} of {total} jobs after {timeout} s")
        time.sleep(poll)
    began, counted = first
    seconds = now - began
    return {"jobs_per_s": counted / seconds if seconds > 0 else None, "jobs_counted": counted,
            "seconds": seconds}


def worker_env(**extra):
    """The peers' workers import their app from bench/ (peer_huey.py, peer_pgqueuer.py)."""
    env = dict(os.environ, PYTHONPATH=BENCH + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def venv_tool(name):
    """A console script of the venv this driver runs in (bench/run runs bench.py with its python)."""
    return os.path.join(os.path.dirname(sys.executable), name)


def huey(work, jobs, workers=2, timeout=600):
    """huey with its SQLite storage at its defaults: `jobs` no-op tasks enqueued one by one (huey
    has no batch enqueue), then `huey_consumer -k process -w 2` drains them."""
    folder = os.path.join(work, "huey")
    os.makedirs(folder, exist_ok=True)
    os.environ["BENCH_HUEY_DB"] = os.path.join(folder, "huey.sqlite3")  # read by peer_huey at import
    app = importlib.import_module("peer_huey")
    began = time.perf_counter()
    for _ in range(jobs):
        app.noop()
    enqueue_seconds = time.perf_counter() - began
    consumer = start([venv_tool("huey_consumer"), "peer_huey.huey", "-k", "process", "-w", str(workers), "-n", "-q"],
                     os.path.join(folder, "consumer.log"), env=worker_env(), cwd=folder)
    try:
        result = drain_rate(app.huey.pending_count, jobs, [consumer], folder, timeout)
    finally:
        stop(consumer, 15, signal.SIGINT)  # huey's graceful stop
    result.update(peer="huey", store="SQLite", jobs=jobs, workers=workers,
                  enqueue_per_s=jobs / enqueue_seconds, enqueue="one by one")
    log(f"  huey: {result['jobs_per_s']:,.0f} jobs/s processed (enqueued {result['enqueue_per_s']:,.0f}/s)")
    return result


async def _pgqueuer_fill(url, jobs, chunk):
    """Installs pgqueuer's tables and enqueues the jobs in lists of `chunk`; answers the seconds
    the enqueueing took."""
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries
    connection = await asyncpg.connect(url)
    queries = Queries(AsyncpgDriver(connection))
    await queries.install()
    began = time.perf_counter()
    for offset in range(0, jobs, chunk):
        n = min(chunk, jobs - offset)
        await queries.enqueue(["noop"] * n, [None] * n, [0] * n)
    seconds = time.perf_counter() - began
    await connection.close()
    return seconds


def pgqueuer(work, server, jobs, workers=2, batch_size=10, chunk=1000, timeout=600):
    """pgqueuer in a database of its own on the bench's PostgreSQL: `jobs` no-op jobs enqueued in
    lists of `chunk`, then `workers` processes of pgqueuer's worker (batches of 10) drain them. A finished
    job leaves pgqueuer's queue table (for its log), so the table's row count is what is left."""
    import postgres
    folder = os.path.join(work, "pgqueuer")
    os.makedirs(folder, exist_ok=True)
    admin = postgres.connect(server.url, "public")
    admin.execute("DROP DATABASE IF EXISTS bench_peers")
    admin.execute("CREATE DATABASE bench_peers")
    admin.close()
    url = server.url.rsplit("/", 1)[0] + "/bench_peers"
    enqueue_seconds = asyncio.run(_pgqueuer_fill(url, jobs, chunk))
    command = [sys.executable, os.path.join(BENCH, "peer_pgqueuer.py"), str(batch_size)]
    processes = [start(command, os.path.join(folder, f"worker-{i}.log"), env=worker_env(PGDSN=url), cwd=folder)
                 for i in range(workers)]
    db = postgres.connect(url, "public")
    try:
        result = drain_rate(lambda: db.execute("SELECT count(*) FROM pgqueuer").fetchone()[0], jobs, processes, folder, timeout)
        result["logged_successful"] = db.execute(  # each job ran: its row went to the log as done
            "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'").fetchone()[0]
    finally:
        db.close()
        for process in processes:
            stop(process, 15, signal.SIGINT)
    result.update(peer="pgqueuer", store="PostgreSQL", jobs=jobs, workers=workers, batch_size=batch_size,
                  enqueue_per_s=jobs / enqueue_seconds, enqueue=f"lists of {chunk}")
    log(f"  pgqueuer: {result['jobs_per_s']:,.0f} jobs/s processed (enqueued {result['enqueue_per_s']:,.0f}/s)")
    return result
