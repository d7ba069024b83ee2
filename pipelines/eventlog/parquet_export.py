"""The log as open columnar files: each stream exported by log position to Hive-partitioned Parquet.

The DuckDB file stays the record (a file's events land in one transaction; the heads, the vault
and the ledger live beside them). The export is derived from it and can always be redone: each run
writes the events appended since the last one, by log position, as new files

    <root>/<stream>/occurred_month=YYYY-MM-01/part-<first id>-<last id>-<n>.parquet

(`occurred_month`, a DATE partition, is the month of the event's time: an engine reading a range of
act months reads only their folders), plus `<root>/vault/excluded_pseudonyms.parquet` (rewritten
whole). `<root>/_manifest.json`, replaced atomically last, says up to which position the files
hold; readers of the tree take it as the truth.

A crash can leave a half-written staging folder, files past the manifest's position, or (during a
compaction) a compacted file beside the files it replaces. `sweep` removes all three, and every
export and compaction sweeps first, so the tree never holds an event twice.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.eventlog.streams import STREAMS

MANIFEST = "_manifest.json"
PARTITION = "occurred_month"
_PART = re.compile(r"^part-(\d+)-(\d+)-(\d+)\.parquet$")
_STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class ExportResult:
    exported_through: int
    events: int
    files: int


def read_manifest(root: Path) -> dict:
    try:
        return json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        return {"exported_through": 0}


def _write_manifest(root: Path, manifest: dict) -> None:
    tmp = root / f".{MANIFEST}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, root / MANIFEST)


def _parts(root: Path) -> list[tuple[Path, int, int]]:
    """(file, first id, last id) of every part file of the tree."""
    out = []
    for stream in STREAMS:
        for path in (root / stream.name).glob(f"{PARTITION}=*/part-*.parquet"):
            m = _PART.match(path.name)
            if m:
                out.append((path, int(m.group(1)), int(m.group(2))))
    return out


def sweep(root: Path) -> list[Path]:
    """Remove what a crash left: staging folders, files past the manifest's position, and files whose
    id range a bigger file of the same folder covers (a compaction stopped before removing them)."""
    removed: list[Path] = []
    if not root.exists():
        return removed
    for staging in root.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging)
    for leftover in root.rglob(".compact-*"):
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    through = read_manifest(root)["exported_through"]
    parts = _parts(root)
    for path, first, last in parts:
        covered = any(other != path and other.parent == path.parent and f <= first and last <= l and (f, l) != (first, last)
                      for other, f, l in parts)
        if first > through or covered:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def export(conn: duckdb.DuckDBPyConnection, root: Path) -> ExportResult:
    """Export the events appended since the last export (`conn` reads the log, read-only is enough)."""
    root.mkdir(parents=True, exist_ok=True)
    sweep(root)
    manifest = read_manifest(root)
    since = int(manifest["exported_through"])
    position = conn.execute("SELECT coalesce(max(event_id), 0) FROM log.events").fetchone()[0]
    events = files = 0
    if position > since:
        staging = root / f"{_STAGING_PREFIX}{since + 1}-{position}"
        for stream in STREAMS:
            n, written = _export_stream(conn, stream, since, position, staging)
            events += n
            for path in written:
                target = root / stream.name / path.parent.name / f"part-{since + 1:012d}-{position:012d}-{files}.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                files += 1
        shutil.rmtree(staging, ignore_errors=True)
    _export_exclusions(conn, root)
    _write_manifest(root, {"exported_through": position, "layout": 2, "partitioned_by": PARTITION,
                           "streams": [s.name for s in STREAMS]})
    return ExportResult(position, events, files)


def _export_stream(conn, stream, since: int, position: int, staging: Path) -> tuple[int, list[Path]]:
    """One stream's events in (since, position], into `staging/<stream>/occurred_month=…/`."""
    conn.execute(f"""
        CREATE OR REPLACE TEMP VIEW export_rows AS
        SELECT *, CAST(date_trunc('month', occurred_at) AS DATE) AS {PARTITION} FROM {stream.table}
        WHERE event_id > getvariable('export_since') AND event_id <= getvariable('export_position')""")
    conn.execute("SET VARIABLE export_since = ?", [since])
    conn.execute("SET VARIABLE export_position = ?", [position])
    out = staging / stream.name
    out.mkdir(parents=True, exist_ok=True)
    # the folder is ours (a path under the carnet home), quoted as a SQL string; the rows are bound above.
    # COPY answers how many rows it wrote: the stream is read once, and writes no file when nothing is new.
    target = str(out).replace("'", "''")
    n = conn.execute(f"COPY (SELECT * FROM export_rows ORDER BY event_id) TO '{target}' "
                     f"(FORMAT parquet, PARTITION_BY ({PARTITION}), COMPRESSION zstd, OVERWRITE_OR_IGNORE)"
                     ).fetchone()[0]
    return n, sorted(out.glob(f"{PARTITION}=*/*.parquet"))


def _export_exclusions(conn, root: Path) -> None:
    """The pseudonyms whose events the projections leave out (rewritten whole: a short list)."""
    out = root / "vault"
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".excluded_pseudonyms.{uuid.uuid4().hex}.tmp"
    target = str(tmp).replace("'", "''")
    conn.execute(f"COPY (SELECT pseudonym FROM vault.excluded_pseudonyms ORDER BY 1) TO '{target}' (FORMAT parquet)")
    os.replace(tmp, out / "excluded_pseudonyms.parquet")


def compact(root: Path, conn: duckdb.DuckDBPyConnection | None = None) -> int:
    """Rewrite each partition folder holding several files as one file; returns the folders compacted.

    The new file is written under a hidden name, renamed in, then the files it covers are removed: a
    crash in between leaves covered files, which `sweep` removes."""
    sweep(root)
    conn = conn or duckdb.connect()
    by_folder: dict[Path, list[tuple[Path, int, int]]] = {}
    for path, first, last in _parts(root):
        by_folder.setdefault(path.parent, []).append((path, first, last))
    compacted = 0
    for folder, parts in sorted(by_folder.items()):
        if len(parts) < 2:
            continue
        first, last = min(p[1] for p in parts), max(p[2] for p in parts)
        tmp = folder / f".compact-{uuid.uuid4().hex}"
        sources = [str(p[0]) for p in parts]
        conn.execute("SET VARIABLE compact_sources = ?", [sources])
        target = str(tmp).replace("'", "''")
        conn.execute(f"COPY (SELECT * FROM read_parquet(getvariable('compact_sources')) ORDER BY event_id) "
                     f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, folder / f"part-{first:012d}-{last:012d}-0.parquet")
        for path, _, _ in parts:
            if path.name != f"part-{first:012d}-{last:012d}-0.parquet":
                path.unlink()
        compacted += 1
    return compacted
