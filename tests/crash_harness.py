"""Kill carnet with SIGKILL at random points, run it again, compare with an uninterrupted run.

Used by tests/test_reliability.py (a few dozen trials) and bench/crash_trials.py (hundreds).
Each child imports carnet first and is killed only once it has started the work, so the
random instant falls within the work itself.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipelines.eventlog.store import EventLog, connect
from pipelines.eventlog.streams import COSTS, STREAMS
from pipelines.ingestion.events import PSEUDONYM
from pipelines.ingestion.service import ingest_inbox
from pipelines.pseudonyms import Pseudonymiser
from pipelines.registry import default_registry
from tests.conftest import KEY, fr_act, make_nir, write_fr

CENTRES = {"710000019": "CHAL", "710000027": "MACO"}
PROJECT = Path(__file__).resolve().parents[1]


def build_inbox(inbox: Path, files: int = 12, rows: int = 120, seed: int = 1) -> None:
    """Overlapping extracts with re-sent and corrected rows, two centres."""
    rnd = random.Random(seed)
    for f in range(files):
        for centre, site in CENTRES.items():
            lines = []
            for r in range(rows):
                act = f * rows // 2 + r  # half of each file re-sends the previous one
                amount = "26,50" if rnd.random() > 0.05 else "30,00"  # a few corrections
                lines.append(fr_act(f"{centre[-3:]}-{act}", site=site, date=f"{1 + act % 28:02d}/03/2024",
                                    nir=make_nir(f"1850571076{act % 900:03d}"), montant=amount))
            write_fr(inbox, f"{centre}__consultations__202404{f + 1:02d}T020000.csv", lines)


def refresh(home: Path) -> None:
    """A refresh as Dagster and the CLI run it: under the writer lock."""
    from pipelines.eventlog.lock import writer_lock
    from pipelines.projections.sqlmesh_project import refresh as run
    from pipelines.settings import carnet_paths

    paths = carnet_paths(home)
    with writer_lock(paths.writer_lock, timeout_s=300):
        run(paths)


def publish(home: Path) -> None:
    import datetime as dt

    from pipelines.publication.release import publish as run
    from pipelines.settings import carnet_paths

    run(carnet_paths(home), published_at=dt.datetime(2025, 1, 2, 3, 0))


def ingest(home: Path, batch_rows: int = 150) -> None:
    conn = connect(home / "events.duckdb")
    try:
        ingest_inbox(home / "inbox", EventLog(conn), default_registry(), Pseudonymiser(KEY), batch_rows=batch_rows)
    finally:
        conn.close()


def log_state(home: Path) -> dict:
    """What two runs must agree on. Pseudonyms depend on random per-patient salts, so payloads
    are compared without them, and patients by how many salts the vault holds."""
    conn = connect(home / "events.duckdb")
    try:
        return {
            "events": [row for s in STREAMS for row in conn.execute(
                f"SELECT * EXCLUDE (payload_hash, ingested_at{', ' + PSEUDONYM if s is not COSTS else ''}) "
                f"FROM {s.table} ORDER BY event_id").fetchall()],
            "heads": conn.execute("SELECT business_key, event_id, recorded_at FROM log.heads "
                                  "ORDER BY business_key").fetchall(),
            "patients": conn.execute("SELECT count(*) FROM vault.patient_keys").fetchall(),
            "receipts": conn.execute("SELECT file_name, file_sha256, status, rows_read, rows_appended, rows_duplicate, "
                                     "rows_quarantined FROM ingest.receipts ORDER BY file_name").fetchall(),
            "quarantine": conn.execute("SELECT count(*) FROM ingest.quarantine").fetchall(),
        }
    finally:
        conn.close()


def start(action: str, home: Path) -> subprocess.Popen:
    """A child process that imports carnet, says `ready`, then runs `action` on `home` when told."""
    code = (f"import sys; from tests.crash_harness import {action} as work; print('ready', flush=True); "
            f"sys.stdin.readline(); work(__import__('pathlib').Path({str(home)!r}))")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert child.stdout.readline().strip() == "ready"
    return child


def timed(action: str, home: Path) -> float:
    """How long `action` takes in a child once its imports are done (uninterrupted)."""
    child = start(action, home)
    started = time.perf_counter()
    child.stdin.write("go\n")
    child.stdin.flush()
    child.wait()
    return time.perf_counter() - started


def killed_at_random(action: str, home: Path, seconds: float, rnd: random.Random) -> bool:
    """Run `action` on `home` in a child process and SIGKILL it after a random share of
    `seconds` (the time an uninterrupted run takes; the clock starts once imports are done).
    Returns True when the kill landed before the child finished."""
    child = start(action, home)
    child.stdin.write("go\n")
    child.stdin.flush()
    time.sleep(rnd.uniform(0.05, 0.95) * seconds)
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)  # the process and whatever it forked, as a crash would
        child.wait()
        return True
    child.wait()
    return False
