"""Settings of the write path's transactions (ingest, announcement delivery), each ``SET LOCAL``:
they end with the transaction and touch nothing else on the connection."""

from __future__ import annotations

from django.db import connection


def relax_commit() -> None:
    """Do not wait for this transaction's WAL flush at commit (``synchronous_commit = off``).

    Safe because the write path is idempotent and atomic: a database crash can lose only the last few
    hundred milliseconds of *processing*, never an accepted batch (the inbox row was committed
    synchronously by the intake view). A lost ingest transaction loses its ``done`` mark with it, so
    the sweeper processes the batch again; a lost delivery loses the tickets and the announcement's
    deletion together, so it is delivered again. Atomicity and the order of commits are kept."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


def keyed_plans() -> None:
    """Plan this transaction's statements as the key lookups they are, whatever the statistics say.

    Every read of the write path fetches rows by key (run ids, trace ids, escalation ids) through an
    index. A day partition has no statistics until autovacuum first analyzes it (up to a minute after
    it starts filling, then stale while it grows fast), and without them the planner takes
    ``run_id = ANY(<300 ids>)`` for a few percent of the table and scans all of it, in parallel:
    measured at 50-70 ms a statement, four such statements a transaction, growing with the partition.
    Here a sequential scan is the last resort, no parallel workers start (their start-up alone costs
    more than these lookups), and no statement is JIT-compiled (a plan that must scan an unindexed
    staging table carries the sequential-scan penalty in its cost, which would otherwise trigger a
    compilation of 30-40 ms for a statement that runs in 4)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"
        )
