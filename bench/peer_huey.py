"""The huey app bench/peers.py measures: one no-op task on a SQLite file (huey's defaults: WAL).

Imported by huey_consumer's worker processes and by the driver that enqueues, so it stays this
small; the file comes from BENCH_HUEY_DB, which peers.py sets for both.
"""
import os

from huey import SqliteHuey

huey = SqliteHuey("bench", filename=os.environ["BENCH_HUEY_DB"])


@huey.task()
def noop():
    """Does nothing: what is measured is the queue's own cost per job."""
