"""Through the real server: dagster-webserver on loopback, nightly_refresh launched over GraphQL."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.demo.generator import generate

PROJECT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # a webserver process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webserver(tmp_path):
    home, dagster_home = tmp_path / "carnet", tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
        "telemetry:\n  enabled: false\n")
    generate(home / "inbox", seed=3, scale=0.005)
    port = _free_port()
    env = dict(os.environ, CARNET_HOME=str(home), CARNET_DEMO="1", DAGSTER_HOME=str(dagster_home),
               CARNET_INBOX_SETTLE_SECONDS="0")
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port), "-w",
         str(PROJECT / "workspace.yaml")], cwd=PROJECT, env=env,
        stdout=open(tmp_path / "webserver.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "webserver.log").read_text()[-3000:])
                time.sleep(0.5)
        yield port, home, tmp_path / "webserver.log"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_nightly_refresh_launched_through_graphql_builds_the_marts_and_a_release(webserver):
    from dagster_graphql import DagsterGraphQLClient

    port, home, log = webserver
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    deadline = time.monotonic() + 120
    while True:  # the code location loads in the background
        try:
            run_id = client.submit_job_execution("nightly_refresh")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    deadline = time.monotonic() + 600
    while (status := client.get_run_status(run_id).value) not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, "nightly_refresh did not finish in 10 minutes"
        time.sleep(2)
    assert status == "SUCCESS", log.read_text()[-3000:]
    conn = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        acts = conn.execute("SELECT sum(acts_completed) FROM marts.activity_monthly").fetchone()[0]
        events = conn.execute("SELECT high_water_event_id FROM carnet.refreshes").fetchall()
    finally:
        conn.close()
    assert acts > 0 and events and events[-1][0] > 0
    assert (home / "carnet_observatory.duckdb").exists() and (home / "releases" / "CURRENT").exists()
    # every step ran in the run's own process: the imports are paid once per run, not per step
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home.parent / "dagster"))
    try:
        starts = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    finally:
        instance.dispose()
    assert len(starts) == 6 and len({e.dagster_event.pid for e in starts}) == 1  # with the Parquet export
