"""PostgreSQL for bench/run (issue 14): a server of the bench's own, a sqlite3-like connection to a
schema, the seeding of finished jobs, and a front nginx for several nodes sharing one database.

Imported by bench.py; needs psycopg, which bench/run installs into the bench's own venv
(.build-bench/bench-venv) and runs bench.py with.
"""
import decimal
import os
import shutil
import signal
import subprocess
import time

from processes import log, start, stop, wait_for_port

PG_BIN = os.environ.get("VQ_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin")
# Beyond its address, port and max_connections, PostgreSQL's defaults but one. Autovacuum looks for tables to analyze every second instead of
# every minute: the bench's tables grow from a handful of rows to thousands within one round,
# and plans made for the handful (prepared statements keep theirs until the next ANALYZE) halved
# create's throughput for the round in a trial. A real deployment crosses that size once and
# autovacuum fixes it within its minute; here the minute is the whole measurement.
SETTINGS = ("autovacuum_naptime=1",)


class PostgresServer:
    """initdb in the run's temp folder, `postgres` on a free loopback port (as the postgres user when
    root: PostgreSQL refuses to run as root), stopped with a fast shutdown at the end."""

    def __init__(self, work, port, settings=SETTINGS):
        self.dir = os.path.join(work, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = port
        self.settings = list(settings)
        self.process = None

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self, command):
        return (["runuser", "-u", "postgres", "--"] + command) if os.getuid() == 0 else command

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        if os.getuid() == 0:  # the server runs as postgres: it must reach its folder inside the run's
            os.chmod(os.path.dirname(self.dir), 0o711)
            shutil.chown(self.dir, "postgres")
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            subprocess.run(self._as_server_user([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust",
                                                 "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C"]),
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=120)
        command = [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port), "-k", self.dir,
                   "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400"]
        for setting in self.settings:
            command += ["-c", setting]
        self.process = start(self._as_server_user(command), os.path.join(self.dir, "server.log"))
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"PostgreSQL exited with {self.process.returncode}; see {self.dir}/server.log")
            try:
                connect(self.url, "public").close()
                break
            except Exception:  # noqa: not up yet
                time.sleep(0.1)
        else:
            raise SystemExit(f"PostgreSQL did not start within 60 s; see {self.dir}/server.log")
        db = connect(self.url, "public")
        self.version = db.execute("SHOW server_version").fetchone()[0]
        db.close()
        log(f"PostgreSQL {self.version} up on port {self.port} ({self.data})")
        return self

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """A fast shutdown (SIGINT to the postmaster: clients are disconnected, nothing waits for them)."""
        if not self.process or self.process.poll() is not None:
            return
        pid = self.postmaster_pid()
        try:
            os.kill(pid, signal.SIGINT) if pid else os.killpg(self.process.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Rows:
    """What sqlite3's cursor answers here: fetchone / fetchall / iteration, numbers as int or float."""

    def __init__(self, rows, rowcount):
        self.rows = [tuple(_plain(v) for v in row) for row in rows]
        self.rowcount = rowcount

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return self.rows

    def __iter__(self):
        return iter(self.rows)


def _plain(value):
    if isinstance(value, decimal.Decimal):  # sum() of bigint is numeric in PostgreSQL
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class PostgresDB:
    """A connection to one schema with sqlite3's face (`?` placeholders, execute(...).fetchone()), so
    the figures' SQL runs on either database. Autocommit, as the sqlite3 connections here are."""

    def __init__(self, url, schema):
        import psycopg
        self.connection = psycopg.connect(url, autocommit=True)
        self.schema = schema
        self.connection.execute(f'SET search_path TO "{schema}", public')

    def execute(self, sql, params=()):
        if params:
            sql = sql.replace("%", "%%").replace("?", "%s")
        cursor = self.connection.execute(sql, tuple(params) if params else None)
        rows = cursor.fetchall() if cursor.description else []
        return Rows(rows, cursor.rowcount)

    def close(self):
        self.connection.close()


def connect(url, schema):
    return PostgresDB(url, schema)


def schema_bytes(url, schema):
    db = connect(url, schema)
    size = db.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind = 'r'",
                      (schema,)).fetchone()[0]
    db.close()
    return int(size)


def seed(url, source_schema, template_job, target_schema, count, users=None):
    """Copies one real completed job (its job row, 12 category rows and vision row) of `source_schema`
    `count` times into `target_schema` (migrated by the service, empty), as bench.seed does for
    SQLite: new ids, ten jobs per user, timestamps shifted to a creation time in the past year.

    One transaction of INSERT ... SELECT over generate_series; foreign-key triggers off for it
    (session_replication_role = replica: every copy's parent is inserted first anyway), the
    secondary indexes dropped before and built again after (a sorted build instead of 12 million
    random inserts), the copies numbered in the order of their ids so the primary keys grow by
    appending. Then VACUUM ANALYZE, so neither autovacuum nor a planner without statistics runs
    into the measurement, and a CHECKPOINT. Not for a handful of jobs (figure 5's small database):
    autovacuum analyzes it as creates make it grow, as a new deployment's (see SETTINGS)."""
    began = time.time()
    db = connect(url, target_schema)
    db.execute("SET session_replication_role = replica")
    db.execute("SET synchronous_commit = off")
    db.execute("SET maintenance_work_mem = '512MB'")
    db.execute("SET work_mem = '256MB'")
    users = users or max(1, count // 10)
    template = db.execute(f'SELECT created_at_ms, status FROM "{source_schema}".vision_generation_jobs WHERE id = ?',
                          (template_job,)).fetchone()
    shape = db.execute(
        f'SELECT (SELECT count(*) FROM "{source_schema}".vision_job_categories WHERE job_id = ?), '
        f'(SELECT count(*) FROM "{source_schema}".visions WHERE job_id = ?)', (template_job, template_job)).fetchone()
    if not template or template[1] != "completed" or shape != (12, 1):
        raise SystemExit(f"the template job is not a completed job with 12 categories and a vision: {template} {shape}")
    created = template[0]
    now = int(time.time() * 1000)

    def columns(table):
        return db.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                          "AND table_name = ? AND is_generated = 'NEVER' ORDER BY ordinal_position",
                          (target_schema, table)).fetchall()

    def select(table, alias, overrides):
        names, parts = [], []
        for column, data_type in columns(table):
            names.append(f'"{column}"')
            if column in overrides:
                parts.append(overrides[column])
            elif column.endswith(("_at", "_at_ms")) and data_type == "bigint":  # times move with the copy
                parts.append(f'{alias}."{column}" + (s.t - {created})')
            else:
                parts.append(f'{alias}."{column}"')
        return ", ".join(names), ", ".join(parts)

    tables = ("vision_generation_jobs", "vision_job_categories", "visions")
    db.execute("BEGIN")
    indexes = db.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = ? AND i.tablename = ANY(?) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = i.schemaname AND c.conname = i.indexname)", (target_schema, list(tables))).fetchall()
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{target_schema}"."{name}"')
    # Emptied in this transaction: with wal_level=minimal the rows below then skip the write-ahead log
    # (the tables are written out and synced once at commit instead of logged row by row).
    db.execute("TRUNCATE vision_generation_jobs, vision_job_categories, visions, vision_versions, "
               "vision_model_calls, vision_job_reruns")
    db.execute(f"""CREATE TEMP TABLE s ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY job_id) AS i, job_id, vision_id, user_id, t FROM (
            SELECT gen_random_uuid() AS job_id, gen_random_uuid()::text AS vision_id,
                   'seed-user-' || floor(random() * {users})::int AS user_id,
                   {now} - 86400000 - floor(random() * {count})::bigint * 30000 AS t
            FROM generate_series(1, {count})) x""")
    names, values = select("vision_generation_jobs", "j", {"id": "s.job_id", "user_id": "s.user_id",
                                                           "vision_id": "s.vision_id", "last_kick_at": "NULL"})
    db.execute(f"INSERT INTO vision_generation_jobs ({names}) SELECT {values} FROM s CROSS JOIN "
               f'(SELECT * FROM "{source_schema}".vision_generation_jobs WHERE id = ?) j ORDER BY s.i', (template_job,))
    names, values = select("vision_job_categories", "c", {"job_id": "s.job_id"})
    db.execute(f"INSERT INTO vision_job_categories ({names}) SELECT {values} FROM s CROSS JOIN "
               f'(SELECT * FROM "{source_schema}".vision_job_categories WHERE job_id = ?) c ORDER BY s.i, c.position',
               (template_job,))
    names, values = select("visions", "v", {"id": "s.vision_id", "user_id": "s.user_id", "job_id": "s.job_id"})
    db.execute(f"INSERT INTO visions ({names}) SELECT {values} FROM s CROSS JOIN "
               f'(SELECT * FROM "{source_schema}".visions WHERE job_id = ?) v ORDER BY s.i', (template_job,))
    inserted = time.time()
    for _, definition in indexes:
        db.execute(definition)
    sample = db.execute("SELECT job_id::text, user_id FROM s WHERE i = ?", ((count + 1) // 2,)).fetchone()
    db.execute("COMMIT")
    indexed = time.time()
    if count >= 1000:
        for table in tables:
            db.execute(f"VACUUM ANALYZE {table}")
    db.execute("CHECKPOINT")
    db.close()
    return {"jobs": count, "seconds": round(time.time() - began, 1), "insert_seconds": round(inserted - began, 1),
            "index_seconds": round(indexed - inserted, 1), "vacuum_seconds": round(time.time() - indexed, 1),
            "sample_job": sample[0], "sample_user": sample[1], "cached": False}


FRONT_CONF = """# bench/run's front for several nodes sharing one PostgreSQL: round robin over their nginx ports.
{user}worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_temp;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    upstream vision_queue_nodes {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://vision_queue_nodes;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


class Front:
    """An nginx of the bench's own in front of several nodes: `upstream` of their ports, round robin,
    keep-alive to them. The nodes' self-triggers post here (VQ_TRIGGER_URL), so any node runs a step."""

    def __init__(self, work, port, node_ports):
        self.dir = os.path.join(work, "front")
        self.port = port
        os.makedirs(self.dir, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p};" for p in node_ports)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(FRONT_CONF.format(dir=self.dir, port=port, servers=servers,
                                     user="user root root;\n" if os.getuid() == 0 else ""))

    @property
    def trigger_url(self):
        return f"http://127.0.0.1:{self.port}/api/vision-jobs/process"

    def start(self):
        nginx = os.environ.get("VQ_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = start([nginx, "-p", self.dir, "-c", self.conf, "-g", "daemon off;",
                                    "-e", os.path.join(self.dir, "error.log")], os.path.join(self.dir, "nginx.out"))
        return self

    def wait(self):
        if not wait_for_port(self.port):
            raise SystemExit(f"the front nginx did not start; see {self.dir}/error.log")

    def stop(self):
        stop(self.process)
