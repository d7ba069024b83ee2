"""Full and nightly refresh times on the demo inbox (a benchmark: prints figures, asserts nothing).

    python bench/refresh_times.py [--scale 1.0] [--work DIR]

Generates the demo inbox, ingests every extract up to the last night, builds the marts from
scratch (full), then delivers the last night's extracts and refreshes again (nightly).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.demo.generator import generate  # noqa: E402
from pipelines.eventlog.store import EventLog, connect  # noqa: E402
from pipelines.inbox.filenames import BadFileName, parse_export_name  # noqa: E402
from pipelines.ingestion.service import inbox_files, ingest_inbox  # noqa: E402
from pipelines.projections.sqlmesh_project import refresh  # noqa: E402
from pipelines.pseudonyms import Pseudonymiser  # noqa: E402
from pipelines.registry import default_registry  # noqa: E402
from pipelines.settings import carnet_paths  # noqa: E402

LAST_NIGHT = dt.datetime(2025, 1, 1)


def _ingest(home: Path) -> tuple[int, float]:
    conn = connect(home / "events.duckdb")
    started = time.perf_counter()
    receipts = ingest_inbox(home / "inbox", EventLog(conn), default_registry(), Pseudonymiser(b"bench-key-0123456789"))
    conn.close()
    return sum(r.rows_read or 0 for r in receipts), time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="carnet-bench-"))
    src, home = work / "generated", work / "home"
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    generate(src, scale=args.scale)
    print(f"generate          scale {args.scale}: {time.perf_counter() - started:7.1f} s")
    nightly = []
    for f in inbox_files(src):
        try:
            last = parse_export_name(f).extracted_at >= LAST_NIGHT
        except BadFileName:
            last = False
        (nightly.append(f) if last else None)
        if not last:
            target = home / "inbox" / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
    rows, secs = _ingest(home)
    print(f"ingest history    {rows:>10,} rows: {secs:7.1f} s  ({rows / secs:,.0f} rows/s)")
    paths = carnet_paths(home)
    full = refresh(paths)
    print(f"refresh full      {full.mode:>11}: {full.seconds:7.1f} s")
    for f in nightly:
        target = home / "inbox" / f.relative_to(src)
        shutil.copy(f, target)
    rows, secs = _ingest(home)
    print(f"ingest last night {rows:>10,} rows: {secs:7.1f} s")
    night = refresh(paths)
    print(f"refresh nightly   {night.mode:>11}: {night.seconds:7.1f} s  (act months {night.restated_from}..{night.restated_to})")
    unchanged = refresh(paths)
    print(f"refresh unchanged {unchanged.mode:>11}: {unchanged.seconds:7.1f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    os.environ.setdefault("CARNET_DEMO", "1")
    main()
