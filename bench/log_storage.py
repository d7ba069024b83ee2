"""Two ways to keep the typed streams readable as Parquet, measured on the same events.

    python bench/log_storage.py $CARNET_HOME [--batch-rows 500000]

Reads the act stream of an ingested home's `events.duckdb` (read-only) and replays its events in
the ingestion's batches, by log position, two ways, in the same run:

- **DuckDB record + export** (what carnet does): each batch INSERTed into a DuckDB table in its own
  transaction, then the new positions exported once to Hive-partitioned Parquet (one export per
  nightly run; a full rebuild exports once at the end);
- **Parquet segments as the record**: each batch written as its own Parquet segment file
  (written to a hidden name, then renamed: the commit), partitioned the same way.

Prints the seconds of each, the files written and the bytes on disk.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.eventlog.streams import ACTS  # noqa: E402


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home")
    ap.add_argument("--batch-rows", type=int, default=500_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="carnet-logstorage-"))
    src = Path(args.home) / "events.duckdb"
    conn = duckdb.connect(str(work / "record.duckdb"))
    conn.execute(f"ATTACH '{src}' AS src (READ_ONLY)")
    conn.execute("CREATE TEMP TABLE acts AS SELECT * FROM src.log.acts ORDER BY event_id")
    n = conn.execute("SELECT count(*) FROM acts").fetchone()[0]
    bounds = list(range(0, n, args.batch_rows)) + [n]
    conn.execute("CREATE TEMP TABLE numbered AS SELECT row_number() OVER (ORDER BY event_id) AS i, * FROM acts")
    conn.execute("DROP TABLE acts")
    conn.execute("CREATE SCHEMA log")
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in ACTS.columns)
    conn.execute(f"CREATE TABLE log.acts ({columns})")

    started = time.perf_counter()
    for lo, hi in zip(bounds, bounds[1:]):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO log.acts SELECT * EXCLUDE (i) FROM numbered WHERE i > ? AND i <= ? ORDER BY i",
                     [lo, hi])
        conn.execute("COMMIT")
    conn.execute("CHECKPOINT")
    insert_s = time.perf_counter() - started
    exported = work / "export"
    started = time.perf_counter()
    conn.execute(f"COPY (SELECT *, CAST(date_trunc('month', occurred_at) AS DATE) AS occurred_month FROM log.acts) "
                 f"TO '{exported}' (FORMAT parquet, PARTITION_BY (occurred_month), COMPRESSION zstd)")
    export_s = time.perf_counter() - started

    segments = work / "segments"
    segments.mkdir()
    started = time.perf_counter()
    for k, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        staging = segments / f".segment-{k}"
        conn.execute("SET VARIABLE lo = ?", [lo])
        conn.execute("SET VARIABLE hi = ?", [hi])
        conn.execute(f"COPY (SELECT * EXCLUDE (i), CAST(date_trunc('month', occurred_at) AS DATE) AS occurred_month "
                     f"FROM numbered WHERE i > getvariable('lo') AND i <= getvariable('hi')) TO '{staging}' "
                     f"(FORMAT parquet, PARTITION_BY (occurred_month), COMPRESSION zstd)")
        for f in staging.rglob("*.parquet"):
            target = segments / f.parent.name / f"segment-{k}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            f.rename(target)
        shutil.rmtree(staging)
    segments_s = time.perf_counter() - started
    segment_files = len(list(segments.rglob("*.parquet")))
    conn.close()

    print(f"\n`python bench/log_storage.py HOME`: {n:,} act events in {len(bounds) - 1} batches of "
          f"{args.batch_rows:,} rows.\n")
    print("| design | append (all batches) | export | total | files | on disk |\n|---|---:|---:|---:|---:|---:|")
    print(f"| DuckDB record + one export by position | {insert_s:.1f} s | {export_s:.1f} s | "
          f"{insert_s + export_s:.1f} s | {len(list(exported.rglob('*.parquet'))):,} | "
          f"{_size(work / 'record.duckdb') / 2**20:,.0f} MiB + {_size(exported) / 2**20:,.0f} MiB |")
    print(f"| Parquet segments as the record | {segments_s:.1f} s | — | {segments_s:.1f} s | {segment_files:,} | "
          f"{_size(segments) / 2**20:,.0f} MiB |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
