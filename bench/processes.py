"""Process helpers shared by bench.py, postgres.py and peers.py: free ports, processes started in
sessions of their own (so one signal reaches a process and its children) and stopped at exit.

A module of its own because bench.py runs as __main__: a module importing `bench` would load a
second copy, with a second list of started processes that nobody stops.
"""
import os
import signal
import socket
import subprocess
import sys
import time

started_processes = []  # every Popen we start, each in its own session; stopped at exit


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def start(command, log_path, env=None, cwd=None):
    out = open(log_path, "ab")
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                               start_new_session=True)
    started_processes.append(process)
    return process


def stop(process, seconds=30, sig=signal.SIGTERM):
    """`sig` to the process group we created for it, SIGKILL if it has not gone in time."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_all():
    for process in reversed(started_processes):
        stop(process, 15)


def group_pids(pgid):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[2]) == pgid:
                        pids.append(int(name))
            except OSError:
                pass
    return pids
