"""The ingestion alone, each DuckDB statement of the event log's writer timed.

    python bench/ingest_statements.py --generated DIR [--work DIR]
    python bench/ingest_statements.py --scale 0.1 [--work DIR]

Where `full_rebuild.py` says how long the ingest step takes, this says which statements of
the event log spend it, and how the per-batch ones grow with the history (first and last
batches): what an A/B of a change to `pipelines/eventlog/store.py` reads, run once in a
worktree of each commit on the same inbox. In process, an empty home, the writer's DuckDB
settings, the demo key. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import collections
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.demo.generator import generate  # noqa: E402
from pipelines.eventlog.store import EventLog, connect  # noqa: E402
from pipelines.ingestion.service import ingest_inbox  # noqa: E402
from pipelines.pseudonyms import Pseudonymiser  # noqa: E402
from pipelines.registry import load_registry  # noqa: E402
from pipelines.settings import carnet_paths, duckdb_config, pseudonymisation_key  # noqa: E402

SHOWN = 15


class TimedConnection:
    """The writer's connection, summing the time of each statement (keyed by its first words)."""

    def __init__(self, conn):
        self._conn = conn
        self.calls: dict[str, list[float]] = collections.defaultdict(list)

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def execute(self, sql, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._conn.execute(sql, *args, **kwargs)
        finally:
            self.calls[re.sub(r"\s+", " ", sql).strip()[:72]].append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--generated", help="an inbox `carnet generate` already wrote (else generate one)")
    parser.add_argument("--work")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="carnet-ingest-"))
    inbox = Path(args.generated or work / "generated")
    if not args.generated:
        shutil.rmtree(inbox, ignore_errors=True)
        generate(inbox, scale=args.scale)
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    paths = carnet_paths(home).ensure(create=True)
    conn = TimedConnection(connect(paths.events_db, config=duckdb_config(paths)))
    started = time.perf_counter()
    try:
        receipts = ingest_inbox(inbox, EventLog(conn), load_registry(),
                                Pseudonymiser(pseudonymisation_key(allow_demo=True)))
    finally:
        conn.close()
    wall = time.perf_counter() - started
    appended = sum(r.rows_appended or 0 for r in receipts)
    timed = sum(sum(v) for v in conn.calls.values())

    print(f"\n`python bench/ingest_statements.py {' '.join(sys.argv[1:])}`: {len(receipts):,} files, "
          f"{appended:,} events appended in {wall:.1f} s, {timed:.1f} s of it in the writer's DuckDB statements "
          f"(the rest: reading, validating, pseudonymising, waiting for the parsing threads)\n")
    print("| statement | calls | total s | first 3 calls s | last 3 calls s |")
    print("|---|---:|---:|---|---|")
    ranked = sorted(conn.calls.items(), key=lambda kv: -sum(kv[1]))
    for sql, times in ranked[:SHOWN]:
        first = ", ".join(f"{t:.2f}" for t in times[:3])
        last = ", ".join(f"{t:.2f}" for t in times[-3:]) if len(times) > 3 else ""
        print(f"| `{sql.replace('|', '/')}` | {len(times)} | {sum(times):.1f} | {first} | {last} |")


if __name__ == "__main__":
    main()
