"""The pgqueuer app bench/peers.py measures: one no-op entrypoint. Each worker process runs this
file (`python peer_pgqueuer.py BATCH_SIZE`); the server comes from PGDSN, which peers.py sets.

Started through pgqueuer.run() rather than the `pgq run` command, whose --log-level handling
fails in pgqueuer 1.6.0 (AttributeError: 'str' object has no attribute 'name') at any setting.
"""
import asyncio
import contextlib
import os
import sys

import asyncpg
import pgqueuer


@contextlib.asynccontextmanager
async def create():
    """pgqueuer's worker factory (an async context manager, as this release requires): one
    connection, one entrypoint that does nothing."""
    connection = await asyncpg.connect(os.environ["PGDSN"])
    pgq = pgqueuer.PgQueuer(pgqueuer.AsyncpgDriver(connection))

    @pgq.entrypoint("noop")
    async def noop(job):
        """Does nothing: what is measured is the queue's own cost per job."""

    try:
        yield pgq
    finally:
        await connection.close()


if __name__ == "__main__":
    asyncio.run(pgqueuer.run(create, batch_size=int(sys.argv[1])))  # until SIGINT / SIGTERM
