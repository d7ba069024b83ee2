"""Operations: scoped runs, the inbox sensor, incidents, the writer lock, requeue, the CLI."""
import csv
import json
import os
import subprocess
import sys
import time

import dagster as dg
import pytest

from pipelines.eventlog.lock import WriterBusy, writer_lock
from pipelines.ingestion.service import requeue
from pipelines.registry import SEEDS_DIR, load_registry
from tests.conftest import DECL_HEADER_FR, fr_act, make_nir, write_fr

CHALON = "710000019"   # fr_csv, sites CHAL and CHAG
MACON = "710000027"    # fr_csv, sites MACO and CLUN


def _registry_with_site(tmp_path, centre_id: str, site: str):
    """seeds/centres.csv with one more site for a centre: the registry fix a centre asks for."""
    rows = list(csv.DictReader(open(SEEDS_DIR / "centres.csv", encoding="utf-8")))
    for row in rows:
        if row["centre_id"] == centre_id:
            row["sites"] += f"|{site}:71076"
    path = tmp_path / "centres.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return load_registry(path)


def test_requeue_appends_rows_a_registry_fix_makes_valid_once(home, tmp_path):
    write_fr(home.inbox, f"{CHALON}__consultations__20240306T020000.csv",
             [fr_act("A1"), fr_act("A2", site="NEWS"), fr_act("A3", site="NEWS", date="31/02/2024")])
    [receipt] = home.ingest()
    assert (receipt.rows_appended, receipt.rows_quarantined) == (1, 2)
    assert requeue(home.inbox, home.log, load_registry(), home.pseudonymiser)[0].appended == 0  # nothing fixed yet

    fixed = _registry_with_site(tmp_path, CHALON, "NEWS")
    [result] = requeue(home.inbox, home.log, fixed, home.pseudonymiser)
    assert (result.retried, result.appended, result.still_quarantined) == (2, 1, 1)  # the 31st of February stays
    assert home.q("SELECT count(*) FROM log.events") == [(2,)]
    assert home.q("SELECT rows_read, rows_appended, rows_duplicate, rows_quarantined FROM ingest.receipts") == \
        [(3, 2, 0, 1)]
    assert home.q("SELECT line, rule FROM ingest.quarantine WHERE resolved_at IS NULL") == [(4, "type")]

    [again] = requeue(home.inbox, home.log, fixed, home.pseudonymiser)
    assert (again.retried, again.appended) == (1, 0)  # counted, never twice
    assert home.q("SELECT count(*) FROM log.events") == [(2,)]
    assert home.q("SELECT count(*) FROM ingest.requeues") == [(3,)]


def test_requeue_takes_a_whole_file_of_a_centre_added_to_the_registry_later(home, tmp_path):
    rows = list(csv.DictReader(open(SEEDS_DIR / "centres.csv", encoding="utf-8")))
    base = next(r for r in rows if r["centre_id"] == CHALON)
    write_fr(home.inbox, "710000999__consultations__20240306T020000.csv", [fr_act("A1"), fr_act("A2")])
    [receipt] = home.ingest()
    assert receipt.status == "quarantined"
    new = dict(base, centre_id="710000999", centre_name="Nouveau centre")
    path = tmp_path / "centres.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows + [new])
    [result] = requeue(home.inbox, home.log, load_registry(path), home.pseudonymiser)
    assert (result.appended, result.still_quarantined) == (2, 0)
    assert home.q("SELECT status, rows_read, rows_appended FROM ingest.receipts") == [("ingested", 2, 2)]
    assert home.q("SELECT count(*) FROM ingest.quarantine WHERE resolved_at IS NULL") == [(0,)]


@pytest.mark.slow  # a process of its own
def test_a_second_writer_waits_for_the_lock_or_is_refused_cleanly(tmp_path):
    lock = tmp_path / "event_log.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from pipelines.eventlog.lock import writer_lock\n"
        f"with writer_lock(Path({str(lock)!r})):\n    print('held', flush=True); time.sleep(3)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    with pytest.raises(WriterBusy, match="retry when it has finished"):
        with writer_lock(lock, timeout_s=0.5):
            pass
    with writer_lock(lock, timeout_s=30):  # waits for the holder, then has it
        waited = time.monotonic() - started
    holder.wait(timeout=10)
    assert waited >= 2


def _ingest(home_root, **config):
    from pipelines.ingestion.assets import ingest_inbox_asset
    from pipelines.resources import CarnetResource

    return dg.materialize([ingest_inbox_asset], resources={"carnet": CarnetResource(home=str(home_root))},
                          run_config={"ops": {"ingest_inbox": {"config": {"settle_seconds": 0, **config}}}},
                          raise_on_error=False)


def test_one_centre_can_be_ingested_alone_and_an_unknown_centre_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CARNET_DEMO", "1")
    root = tmp_path / "home"
    inbox = root / "inbox"
    write_fr(inbox, f"{CHALON}__consultations__20240306T020000.csv", [fr_act("A1")])
    write_fr(inbox, f"{MACON}__consultations__20240306T020000.csv", [fr_act("B1", site="MACO")])
    result = _ingest(root, centres=[CHALON])
    assert result.success
    md = result.asset_materializations_for_node("ingest_inbox")
    assert sum(m.metadata["rows_appended"].value for m in md) == 1
    checks = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert checks["consultation_recorded"].passed
    refused = _ingest(root, centres=["999999999"])
    assert not refused.success
    assert "unknown centre(s) 999999999" in str(refused.all_events)


def test_a_file_still_being_written_is_left_for_the_next_run(tmp_path, monkeypatch):
    from pipelines.ingestion import assets

    monkeypatch.setenv("CARNET_DEMO", "1")
    inbox = tmp_path / "inbox"
    old = write_fr(inbox, f"{CHALON}__consultations__20240306T020000.csv", [fr_act("A1")])
    os.utime(old, (time.time() - 60, time.time() - 60))
    waits, real_sleep = [], time.sleep
    monkeypatch.setattr(assets.time, "sleep", waits.append)
    assert assets.settled_files(inbox, 1.0) == {str(old.relative_to(inbox))}
    assert waits == []  # an inbox dropped earlier costs no wait

    growing = write_fr(inbox, f"{CHALON}__consultations__20240307T020000.csv", [fr_act("A2")])

    def writer_goes_on(seconds):  # the centre's upload still running while we watch, keeping an old mtime
        waits.append(seconds)
        with open(growing, "a", encoding="utf-8") as f:
            f.write("more\n")
        os.utime(growing, (time.time() - 60, time.time() - 60))

    monkeypatch.setattr(assets.time, "sleep", writer_goes_on)
    assert assets.settled_files(inbox, 1.0) == {str(old.relative_to(inbox))}
    assert 0 < waits[-1] <= 1.0

    finished = old.parent / f"{CHALON}__consultations__20240308T020000.csv"
    finished.write_bytes(old.read_bytes())  # written just now, then left alone
    monkeypatch.setattr(assets.time, "sleep", real_sleep)
    assert str(finished.relative_to(inbox)) in assets.settled_files(inbox, 0.3)


def test_inbox_sensor_asks_for_files_once_their_size_is_stable(tmp_path, monkeypatch):
    from pipelines.definitions import defs
    from pipelines.resources import CarnetResource

    sensor = defs.resolve_sensor_def("inbox_sensor")
    carnet = {"carnet": CarnetResource(home=str(tmp_path))}  # the sensor's home is the resource's
    inbox = tmp_path / "inbox"
    first = write_fr(inbox, f"{CHALON}__consultations__20240306T020000.csv", [fr_act("A1")])
    tick = sensor.evaluate_tick(dg.build_sensor_context(resources=carnet))
    assert not tick.run_requests  # first sight: size not known to be stable yet
    tick = sensor.evaluate_tick(dg.build_sensor_context(cursor=tick.cursor, resources=carnet))
    [request] = tick.run_requests
    assert request.run_config["ops"]["ingest_inbox"]["config"]["files"] == [str(first.relative_to(inbox))]
    growing = write_fr(inbox, f"{MACON}__consultations__20240306T020000.csv", [fr_act("B1", site="MACO")])
    cursor = tick.cursor
    tick = sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor, resources=carnet))
    assert not tick.run_requests  # the new file was just seen; the first one was already asked for
    with open(growing, "ab") as f:
        f.write(("\r\n" + fr_act("B2", site="MACO")).encode("cp1252"))
    tick = sensor.evaluate_tick(dg.build_sensor_context(cursor=tick.cursor, resources=carnet))
    assert not tick.run_requests  # still growing
    tick = sensor.evaluate_tick(dg.build_sensor_context(cursor=tick.cursor, resources=carnet))
    [request] = tick.run_requests
    assert request.run_config["ops"]["ingest_inbox"]["config"]["files"] == [str(growing.relative_to(inbox))]


def test_a_failed_run_writes_one_incident_line(tmp_path, monkeypatch):
    from pipelines.incidents import incident_sensor

    monkeypatch.setenv("CARNET_HOME", str(tmp_path))
    monkeypatch.setenv("CARNET_DEMO", "1")
    instance = dg.DagsterInstance.ephemeral()
    from pipelines.ingestion.assets import ingest_inbox_asset
    from pipelines.resources import CarnetResource

    result = dg.materialize([ingest_inbox_asset], instance=instance, raise_on_error=False,
                            resources={"carnet": CarnetResource(home=str(tmp_path))},
                            run_config={"ops": {"ingest_inbox": {"config": {"centres": ["123"]}}}})
    assert not result.success
    [entry] = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    failure = entry.dagster_event
    context = dg.build_run_status_sensor_context(
        sensor_name="incident_sensor", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=failure, resources={"carnet": CarnetResource(home=str(tmp_path))}).for_run_failure()
    incident_sensor(context)
    [line] = (tmp_path / "incidents.log").read_text().splitlines()
    assert "\tFAILED\t" in line and f"run={result.run_id}" in line and "unknown centre(s) 123" in line


def test_cli_status_and_quarantine_export_for_the_centre(home, tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    write_fr(home.inbox, f"{CHALON}__consultations__20240306T020000.csv", [fr_act("A1"), fr_act("A2", site="ZZZZ")])
    home.ingest()
    write_fr(home.inbox, f"{CHALON}__consultations__20240307T020000.csv", [fr_act("A3")])  # waiting
    home.conn.close()
    monkeypatch.setenv("CARNET_HOME", str(home.root))
    try:
        assert main(["status"]) == 0
        out = capsys.readouterr().out
        assert "1 file(s) waiting" in out and "site_of_centre 1" in out and "last release: none yet" in out
        assert main(["quarantine", "--export", str(tmp_path / "out")]) == 0
        exported = (tmp_path / "out" / f"{CHALON}__quarantine.csv").read_text(encoding="utf-8-sig").splitlines()
        assert len(exported) == 2 and exported[1].split(";")[1:3] == ["3", "site"]
        assert main(["quarantine", "--centre", "000000000"]) == 2
        assert "unknown centre '000000000'" in capsys.readouterr().err
    finally:
        from pipelines.eventlog.store import connect

        home.reopen()


def test_a_month_can_be_restated_without_new_events(home, tmp_path):
    """A backfill after a correction (a tariff, a site): the chosen months are recomputed, only them."""
    import datetime as dt

    from pipelines.projections.sqlmesh_project import refresh
    from pipelines.settings import carnet_paths

    write_fr(home.inbox, f"{CHALON}__consultations__20240406T020000.csv",
             [fr_act("A1", date="05/03/2024"), fr_act("A2", date="05/04/2024")])
    home.ingest()
    home.conn.close()
    paths = carnet_paths(home.root)
    assert refresh(paths).mode == "full"
    assert refresh(paths).mode == "unchanged"
    again = refresh(paths, restate=(dt.date(2024, 3, 1), dt.date(2024, 3, 31)))
    assert (again.mode, again.restated_from, again.restated_to) == ("incremental", dt.date(2024, 3, 1),
                                                                      dt.date(2024, 3, 31))
    assert again.row_counts["marts.activity_monthly"] == 2
    from pipelines.eventlog.store import connect

    home.reopen()
