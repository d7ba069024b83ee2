"""Crash safety and concurrency: SIGKILL at random points, then a rerun equals an uninterrupted
run; readers of the observatory file never see half a release."""
import json
import random
import shutil
import subprocess
import sys
import time

import duckdb
import pytest

from tests.crash_harness import PROJECT, build_inbox, killed_at_random, log_state, timed
from tests.crash_harness import ingest

# its tests share a module fixture: one worker runs them all
pytestmark = [pytest.mark.xdist_group("reliability"), pytest.mark.slow]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted ingestion, run in a child as the trials are (its duration sets the kill times)."""
    root = tmp_path_factory.mktemp("reference")
    build_inbox(root / "inbox")
    seconds = timed("ingest", root)
    return root, seconds, log_state(root)


def test_ingestion_killed_at_random_points_then_rerun_loses_and_duplicates_nothing(reference, tmp_path):
    root, seconds, expected = reference
    assert len(expected["events"]) > 1000 and len(expected["receipts"]) == 24
    rnd = random.Random(20261123)
    landed, trial = 0, 0
    # at least 8 trials; more (up to 16) if kills fell after the end, as on a loaded machine
    while trial < 8 or (landed < 8 and trial < 16):
        home = tmp_path / f"trial{trial}"
        shutil.copytree(root / "inbox", home / "inbox")
        landed += killed_at_random("ingest", home, seconds, rnd)
        if trial % 2 == 0:  # killed twice in a row, every other trial
            landed += killed_at_random("ingest", home, seconds, rnd)
        ingest(home)
        assert log_state(home) == expected, f"trial {trial}"
        trial += 1
    assert landed >= 8  # the kills did land mid-run


def test_refresh_and_publication_killed_then_rerun_give_the_same_marts_and_a_whole_release(reference, tmp_path):
    from tests.crash_harness import publish, refresh

    root, _, _ = reference
    home = tmp_path / "home"
    shutil.copytree(root, home)
    started = time.perf_counter()
    refresh(home)
    refresh_seconds = time.perf_counter() - started

    def marts(h):
        conn = duckdb.connect(str(h / "warehouse.duckdb"), read_only=True)
        try:
            return {t: conn.execute(f"SELECT * FROM marts.{t} ORDER BY ALL").fetchall()
                    for t in ("activity_monthly", "gp_reattachment_monthly", "cost_per_consultation_monthly")}
        finally:
            conn.close()

    expected = marts(home)
    rnd = random.Random(7)
    for trial in range(2):
        other = tmp_path / f"refresh{trial}"
        shutil.copytree(root, other)
        killed_at_random("refresh", other, refresh_seconds, rnd)
        refresh(other)
        assert marts(other) == expected, f"refresh trial {trial}"
    publish(home)
    first = (home / "releases" / "CURRENT").read_text()
    killed_at_random("publish", home, 3.0, rnd)
    conn = duckdb.connect(str(home / "carnet_observatory.duckdb"), read_only=True)  # old or new, whole
    try:
        manifest = json.loads(conn.execute("SELECT manifest FROM observatory.release").fetchone()[0])
        for name, table in manifest["tables"].items():
            assert conn.execute(f"SELECT count(*) FROM observatory.{name}").fetchone()[0] == table["rows"]
    finally:
        conn.close()
    assert (home / "releases" / "CURRENT").read_text() in (first, manifest["release_id"] + "\n")
    publish(home)  # the next run cleans the half-staged release and publishes


def test_two_refreshes_launched_together_are_serialised_and_agree(reference, tmp_path):
    from tests.crash_harness import start

    root, _, _ = reference
    home = tmp_path / "home"
    shutil.copytree(root, home)
    children = [start("refresh", home) for _ in range(2)]
    for child in children:  # both go at once: one waits for the writer lock
        child.stdin.write("go\n")
        child.stdin.flush()
    assert [child.wait(timeout=300) for child in children] == [0, 0]
    conn = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        modes = [m for (m,) in conn.execute("SELECT mode FROM carnet.refreshes ORDER BY refreshed_at").fetchall()]
        acts = conn.execute("SELECT sum(acts_completed) FROM marts.activity_monthly").fetchone()[0]
    finally:
        conn.close()
    assert modes == ["full", "unchanged"] and acts > 0


_READER = """
import json, sys, time, duckdb
path, until = sys.argv[1], time.time() + float(sys.argv[2])
reads = errors = 0
while time.time() < until:
    try:
        conn = duckdb.connect(path, read_only=True)
        try:
            manifest = json.loads(conn.execute("SELECT manifest FROM observatory.release").fetchone()[0])
            for name, table in manifest["tables"].items():
                n = conn.execute(f"SELECT count(*) FROM observatory.{name}").fetchone()[0]
                if n != table["rows"]:
                    errors += 1
        finally:
            conn.close()
        reads += 1
    except Exception as exc:
        print("ERROR", exc, flush=True)
        errors += 1
print(reads, errors, flush=True)
"""


def test_readers_query_the_observatory_file_while_releases_are_published(demo_home, demo_warehouse):
    import datetime as dt

    from pipelines.eventlog.store import connect
    from pipelines.publication.release import publish
    from pipelines.settings import carnet_paths

    home, _, _ = demo_home
    home.conn.close()
    try:
        paths = carnet_paths(home.root)
        publish(paths, published_at=dt.datetime(2025, 1, 5, 3, 0))
        reader = subprocess.Popen([sys.executable, "-c", _READER, str(paths.observatory_db), "12"], cwd=PROJECT,
                                  stdout=subprocess.PIPE, text=True)
        for day in (6, 7):
            publish(paths, published_at=dt.datetime(2025, 1, day, 3, 0))
        out, _ = reader.communicate(timeout=120)
    finally:
        home.reopen()
    reads, errors = map(int, out.strip().splitlines()[-1].split())
    assert reads > 10 and errors == 0, out
