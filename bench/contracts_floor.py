"""The row contracts alone: what carnet must do per row that the baseline skips, with nothing stored.

    python bench/contracts_floor.py INBOX

Reads every file of INBOX with carnet's own readers and parsers, two threads ahead, and judges
it by its feed's Pandera contract in the ingestion's batches, exactly as `carnet ingest` does,
then drops the result: no file hash, no pseudonyms, no event log. `bench/full_rebuild.py`
runs it on the baseline's files, so that its wall time, added to the SQLMesh build, is a floor
under any full rebuild that validates every row and builds the marts with SQLMesh: the part of
the ratio to the baseline that no work on the event log can remove. Prints its counts and
seconds, like `bench/baseline.py`.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.ingestion.service import BATCH_ROWS, ParsedFile, _read_ahead, inbox_files, judge, prepare  # noqa: E402
from pipelines.registry import Registry, load_registry  # noqa: E402


def judge_inbox(inbox: Path, registry: Registry, batch_rows: int = BATCH_ROWS) -> dict[str, float]:
    """Read, parse and judge every file of `inbox`: counts of what the contracts saw and kept, and the
    seconds the loop waited on the judge (the parsing threads share the cores meanwhile, so this is
    more than the judge costs alone)."""
    counts = {"files": 0, "rows_read": 0, "rows_valid": 0, "judge_seconds": 0.0}
    pending: list[ParsedFile] = []

    def load(path: Path) -> ParsedFile:
        return prepare(path, path.read_bytes(), "", registry, inbox)

    def flush() -> None:
        started = time.perf_counter()
        for frame in judge(pending).values():
            counts["rows_valid"] += frame.height
        counts["judge_seconds"] += time.perf_counter() - started
        pending.clear()

    pending_rows = 0
    for prepared in _read_ahead(inbox_files(inbox), load):
        counts["files"] += 1
        counts["rows_read"] += prepared.batch.rows_read or 0
        pending.append(prepared)
        pending_rows += prepared.batch.rows_read or 0
        if pending_rows >= batch_rows:
            flush()
            pending_rows = 0
    flush()
    return counts


if __name__ == "__main__":
    started = time.perf_counter()
    result = judge_inbox(Path(sys.argv[1]), load_registry())
    print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())
          + f" seconds={time.perf_counter() - started:.2f}")
