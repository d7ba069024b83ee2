"""The observatory release: secrecy, gate, manifest and rebuild, extracts, report, Dagster."""
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess

import duckdb
import polars as pl
import pytest

from pipelines.eventlog.store import connect
from pipelines.publication.catalogue import TABLES
from pipelines.publication.release import PublicationBlocked, current_manifest, publish, read_tables, rebuild
from pipelines.publication.secrecy import Cell, CentreSeries, SecrecySettings, protect_activity, protect_reattachment
from pipelines.settings import carnet_paths
from tests.secrecy_attacker import attack
from tests.conftest import Home, fr_act, make_nir, write_fr

# its tests share a module fixture: one worker runs them all
pytestmark = pytest.mark.xdist_group("publication")


def _truth(warehouse) -> dict[str, pl.DataFrame]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {"activity_by_territory": conn.sql("SELECT * FROM publication.residents_activity_yearly").pl(),
                "reattachment_by_territory": conn.sql("SELECT * FROM publication.residents_reattachment_yearly").pl(),
                "reattachment_by_centre": conn.sql(
                    "SELECT centre_id, month, newly_reattached FROM marts.gp_reattachment_monthly").pl(),
                "territory": conn.sql("SELECT * FROM publication.residents_territory_yearly").pl()}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def release(demo_home, demo_warehouse):
    """The session's demo home, published once (its event-log writer closed meanwhile)."""
    home, _, _ = demo_home
    home.conn.close()
    paths = carnet_paths(home.root)
    try:
        final, gate = publish(paths, published_at=dt.datetime(2025, 1, 2, 3, 0))
    finally:
        home.reopen()
    return paths, final, gate, current_manifest(paths)


def test_observatory_file_describes_every_table_and_holds_no_patient_level_data(release):
    paths, final, gate, manifest = release
    assert gate.success, gate.failures
    conn = duckdb.connect(str(paths.observatory_db), read_only=True)
    try:
        tables = conn.execute("SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'observatory'").fetchall()
        columns = conn.execute("SELECT table_name, column_name, comment FROM duckdb_columns() "
                               "WHERE schema_name = 'observatory'").fetchall()
        rows = conn.execute("SELECT release_id, log_high_water_event_id FROM observatory.release").fetchall()
        # the analyst's natural query: the file's catalog is not named like its schema
        natural = conn.execute("SELECT count(*) FROM observatory.activity_by_territory").fetchone()[0]
        lower_bounds = conn.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'activity_by_territory'"
                                    ).fetchone()[0]
    finally:
        conn.close()
    assert natural == manifest["tables"]["activity_by_territory"]["rows"]
    assert "lower bound" in lower_bounds
    assert {t for t, _ in tables} == {t.name for t in TABLES} | {"release"}
    assert all(c and "one row" in c for _, c in tables)
    # the population's vintage is stated where the rates are
    assert "in force on 1 January 2026" in dict(tables)["territory_indicators"]
    assert columns and all(c for _, _, c in columns)
    assert not [c for _, c, _ in columns if re.search(r"nir|pseudonym|patient_", c)]
    assert rows == [(manifest["release_id"], manifest["log"]["high_water_event_id"])]


def test_totals_are_sums_of_published_values_per_centre_network_and_department(release):
    paths, _, _, _ = release
    frames = read_tables(paths.observatory_db)
    totals, costs, series = frames["totals"], frames["cost_per_consultation"], frames["reattachment_by_centre"]
    assert set(totals["level"]) == {"centre", "network", "department"}
    year = int(costs["year"].max())
    for level, column in (("network", "network_id"), ("department", "department_code")):
        for code, rows in costs.filter(pl.col("year") == year).group_by(column):
            [row] = totals.filter((pl.col("level") == level) & (pl.col("territory_code") == code[0])
                                  & (pl.col("year") == year)).to_dicts()
            assert row["acts_completed"] == rows["acts_completed"].fill_null(0).sum()
            assert row["acts_complete"] == (rows["acts_completed"].null_count() == 0)
    latest = (series.filter(pl.col("cumulative_reattached").is_not_null()).sort("month")
              .group_by("centre_id").last())
    last_year = totals.filter((pl.col("level") == "department") & (pl.col("year") == series["month"].max().year))
    # the report's "at least" is the sum of each centre's latest published point: the totals say the same
    assert last_year["reattached_since_opening"].sum() == latest["cumulative_reattached"].sum()


def test_no_published_patient_count_is_between_one_and_the_threshold(release):
    paths, _, _, _ = release
    frames = read_tables(paths.observatory_db)
    checks = {"activity_by_territory": ["patients"], "reattachment_by_territory": ["newly_reattached",
                                                                                  "newly_reattached_ald"],
              "reattachment_by_centre": ["newly_reattached"]}
    for table, cols in checks.items():
        frame = frames[table]
        for col in cols:
            assert frame.filter(pl.col(col).is_between(1, 10)).height == 0, (table, col)
        assert frame.filter(pl.col("suppressed")).height > 0  # at 2% of the demo, many cells are small
        withheld = frame.filter(pl.col("suppressed"))
        assert withheld.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in cols)).height == 0 or \
            table == "reattachment_by_centre"
    territory = frames["territory_indicators"]
    for col in ("newly_reattached", "attached_at_year_end"):
        assert territory.filter(pl.col(col).is_between(1, 10)).height == 0, col
    assert territory.filter(pl.col("suppressed")).height > 0
    # a rate whose numerator is withheld is withheld; a row says when any of its counts is
    for count, rate in (("newly_reattached", "reattached_per_10000"), ("acts_completed", "acts_per_10000"),
                        ("attached_at_year_end", "attached_share_of_population")):
        assert territory.filter(pl.col(count).is_null() & pl.col(rate).is_not_null()).height == 0, rate
    assert territory.filter(pl.col("suppressed") != pl.any_horizontal(
        pl.col(c).is_null() for c in ("newly_reattached", "acts_completed", "attached_at_year_end"))).height == 0
    # the centres' series: a month is published with its neighbour, so no difference can show 1..10
    series = frames["reattachment_by_centre"].sort(["centre_id", "month"])
    for (_,), rows in series.group_by(["centre_id"]):
        points = [c for c in rows.sort("month")["cumulative_reattached"] if c is not None]
        assert all(b - a == 0 or b - a >= 11 for a, b in zip([0] + points, points))


def test_the_attacker_recovers_nothing_from_the_release(release, demo_warehouse):
    paths, _, _, _ = release
    assert attack(read_tables(paths.observatory_db), _truth(demo_warehouse)) == []


def test_without_complementary_suppression_the_attacker_recovers_cells(demo_warehouse):
    from pipelines.publication.tables import build_tables

    tables = build_tables(demo_warehouse, SecrecySettings(complementary=False))
    assert attack(dict(tables.items()), _truth(demo_warehouse))


@pytest.mark.slow  # many refreshes or replays
@pytest.mark.parametrize("scale", [0.005, 0.01])
def test_the_attacker_recovers_nothing_at_other_scales(tmp_path, scale):
    from pipelines.demo.generator import generate
    from pipelines.projections.sqlmesh_project import refresh
    from pipelines.publication.tables import build_tables

    home = Home(tmp_path / "home")
    generate(home.inbox, seed=5, scale=scale)
    home.ingest()
    home.conn.close()
    warehouse = refresh(carnet_paths(home.root)).warehouse
    tables = build_tables(warehouse, SecrecySettings())
    assert attack(dict(tables.items()), _truth(warehouse)) == []


def test_complementary_suppression_on_hand_made_cells():
    settings = SecrecySettings(threshold=11)
    group = (2024, "consultation", "K0")
    cells = [Cell(("71", "71001"), group, value=7, counts=(4,)), Cell(("71", "71002"), group, value=40, counts=(25,)),
             Cell(("71", "71003"), group, value=30, counts=(12,)), Cell(("71", "71004"), (2025,) + group[1:], 15, (15,))]
    assert protect_activity(cells, settings) == []
    assert [c.suppressed for c in cells] == [True, False, True, False]  # the smallest other cell of the total
    lone = [Cell(("71", "71001"), group, value=3, counts=(2,))]
    assert protect_activity(lone, settings) == [group]  # the caller withholds the centres' total


def test_centre_series_publishes_a_point_only_after_a_rise_of_zero_or_threshold():
    series = CentreSeries("710000015", {}, [dt.date(2024, m, 1) for m in range(1, 7)], newly=[12, 3, 0, 9, 20, 0])
    series.publish_points(SecrecySettings(threshold=11))
    assert series.published == [True, False, False, True, True, True]  # 12, (15), (15), 24, 44, 44
    assert [series.newly_published(i) for i in range(6)] == [True, False, False, False, True, True]
    cells = [Cell(("71", "71001", 2024, "18-39"), (2024, "K0"), 44, (44, 3, 41))]
    series.components = {2024: "K0"}
    protect_reattachment(cells, [series], SecrecySettings(threshold=11))
    assert cells[0].suppressed  # 3 patients with ALD


def test_extracts_are_parquet_and_csv_for_excel_in_french(release):
    paths, final, _, manifest = release
    frames = read_tables(paths.observatory_db)
    for table in TABLES:
        parquet = pl.read_parquet(final / "extracts" / f"{table.name}.parquet")
        assert parquet.equals(frames[table.name])
        raw = (final / "extracts" / f"{table.name}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") and raw.decode("utf-8-sig").splitlines()[0].split(";") == \
            [c.name for c in table.columns]
        assert len(raw.decode("utf-8-sig").splitlines()) == frames[table.name].height + 1
        assert manifest["tables"][table.name]["csv"] == hashlib.sha256(raw).hexdigest()
    costs = (final / "extracts" / "cost_per_consultation.csv").read_text(encoding="utf-8-sig")
    assert re.search(r";\d+,\d\d;", costs)  # decimal comma


def test_manifest_says_what_the_release_was_built_from(release):
    paths, final, _, manifest = release
    assert json.loads((final / "manifest.json").read_text()) == manifest
    assert manifest["log"]["high_water_event_id"] > 0 and manifest["log"]["input_files"]
    assert all(len(f["sha256"]) == 64 for f in manifest["log"]["input_files"])
    assert set(manifest["contracts"]) >= {"consultations", "gp_declarations", "costs"}
    assert "publication.residents_activity_yearly" in manifest["models"]
    assert manifest["secrecy"]["threshold"] == 11 and manifest["code"]["source_sha256"]
    assert (paths.releases / "CURRENT").read_text().strip() == manifest["release_id"]


def test_a_failing_gate_blocks_publication_and_keeps_the_previous_release(release, demo_home, monkeypatch):
    paths, _, _, manifest = release
    before = paths.observatory_db.read_bytes()
    monkeypatch.setenv("CARNET_RELEASE_MIN_ROW_RATIO", "2.0")  # every table "collapsed" to half of what is asked
    home, _, _ = demo_home
    home.conn.close()
    try:
        with pytest.raises(PublicationBlocked, match="expect_table_row_count_to_be_between") as blocked:
            publish(paths, published_at=dt.datetime(2025, 1, 3, 3, 0))
    finally:
        home.reopen()
    assert paths.observatory_db.read_bytes() == before
    assert current_manifest(paths)["release_id"] == manifest["release_id"]
    rejected = [p for p in paths.releases.iterdir() if p.name.endswith(".rejected")]
    assert len(rejected) == 1 and (rejected[0] / "data_docs" / "index.html").exists()
    # the Data Docs page shows every table's validation and reads offline: no script, nothing fetched
    page = (rejected[0] / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert all(f"<h2>observatory.{table}</h2>" in page for table in manifest["tables"])
    assert "FAILED" in page and "expect_table_row_count_to_be_between" in page
    assert "<script" not in page and "http" not in page.lower().replace("http-equiv", "")
    assert "previous release stays in place" in str(blocked.value)


def test_the_gate_accepts_only_the_age_bands_of_the_seed(release, tmp_path):
    from pipelines.publication.quality import gate

    paths, _, _, manifest = release
    tables = read_tables(paths.observatory_db)
    args = dict(threshold=manifest["secrecy"]["threshold"], previous_rows={})
    assert gate(tables, docs_dir=tmp_path / "ok", **args).success
    activity = tables["activity_by_territory"]
    tables["activity_by_territory"] = activity.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("90+")).otherwise(pl.col("age_band")).alias("age_band"))
    result = gate(tables, docs_dir=tmp_path / "bad", **args)
    assert not result.success
    assert result.failures == ["activity_by_territory: expect_column_values_to_be_in_set age_band (observed 1)"]


@pytest.mark.slow  # many refreshes or replays
def test_a_release_is_rebuilt_byte_for_byte_after_the_log_moved_on(tmp_path, demo_home):
    from pipelines.projections.sqlmesh_project import model_graph, refresh

    source, _, _ = demo_home
    source.conn.execute("CHECKPOINT")
    home = Home(tmp_path / "home")
    home.conn.close()
    shutil.copyfile(source.root / "events.duckdb", home.root / "events.duckdb")
    paths = carnet_paths(home.root)
    refresh(paths)
    _, gate = publish(paths, published_at=dt.datetime(2025, 1, 2, 3, 0))
    first = current_manifest(paths)
    # the next night: a centre sends a new extract
    home.reopen()
    write_fr(home.inbox, "710000019__consultations__20250103T020000.csv",
             [fr_act(f"LATE{i}", date="02/01/2025", nir=make_nir(f"18505710{i:05d}")) for i in range(30)])
    assert home.ingest()[0].rows_appended == 30
    home.conn.close()
    refresh(paths)
    publish(paths, published_at=dt.datetime(2025, 1, 3, 3, 0))
    assert current_manifest(paths)["log"]["high_water_event_id"] == first["log"]["high_water_event_id"] + 30
    model_graph.cache_clear()  # as in a fresh `carnet rebuild` process: the models are first read in the rebuild
    check = rebuild(paths, first, tmp_path / "rebuilt")
    assert check.identical, check.differences
    for table in TABLES:
        assert (check.directory / "extracts" / f"{table.name}.parquet").read_bytes() == \
            (paths.releases / first["release_id"] / "extracts" / f"{table.name}.parquet").read_bytes()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _dump_dom(browser, page, profile, *flags) -> str:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=5000", *flags, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120).stdout


@pytest.mark.slow  # a process of its own
def test_the_report_draws_its_charts_and_headlines_in_headless_chromium(release, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CARNET_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium not installed here")
    paths, final, _, _ = release
    page = final / "report.html"
    assert "<script" not in page.read_text(encoding="utf-8")  # charts are drawn when the release is built
    tables = read_tables(paths.observatory_db)
    costs, series = tables["cost_per_consultation"], tables["reattachment_by_centre"]
    drawn_centres = set(series.filter(pl.col("cumulative_reattached").is_not_null())["centre_id"])
    for flags in ((), ("--disable-javascript",)):  # the same page with scripts off
        dom = _dump_dom(browser, page, tmp_path / f"profile{len(flags)}", *flags)
        assert dom.count("<svg") == 3 and dom.count("<figcaption>") == 3
        assert set(re.findall(r'<g id="series-(\w+)"', dom)) == drawn_centres  # one line per centre
        for axis_title in ("patients (cumul)", "actes réalisés", "euros par acte réalisé", "année"):
            assert axis_title in dom
        assert re.search(r">janv\. 20\d\d<", dom)  # French month names on the time axes
        assert "Département de Saône-et-Loire" in dom  # a panel per network, under its name
        year = int(costs["year"].max())
        last = costs.filter(pl.col("year") == year)
        acts = f"{sum(int(last[c].sum()) for c in ('consultations', 'home_visits', 'teleconsultations')):,}"
        acts = acts.replace(",", "\u202f")
        assert f"En {year}" in dom and f"{acts} actes" in dom


def test_publication_runs_in_dagster_with_a_blocking_gate(release, demo_home, monkeypatch):
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.publication.assets import observatory, quality_gate, release_candidate
    from pipelines.publication.resources import QualityGateResource
    from pipelines.resources import CarnetResource

    paths, _, _, _ = release
    job_keys = defs.resolve_job_def("nightly_refresh").asset_layer.selected_asset_keys
    assert {dg.AssetKey(["publication", "release_candidate"]), dg.AssetKey(["publication", "observatory"])} <= job_keys
    assert all(spec.blocking for spec in quality_gate.check_specs)
    home, _, _ = demo_home
    home.conn.close()
    try:
        resources = {"carnet": CarnetResource(home=str(paths.home)), "gate": QualityGateResource()}
        before = current_manifest(paths)["release_id"]
        same = dg.materialize([release_candidate, observatory, quality_gate], resources=resources)
        assert same.success and not same.asset_materializations_for_node("publication__observatory")
        assert not same.get_asset_check_evaluations() and current_manifest(paths)["release_id"] == before
        monkeypatch.setenv("CARNET_SECRECY_THRESHOLD", "12")  # a new input: a new release, gated
        ok = dg.materialize([release_candidate, observatory, quality_gate], resources=resources)
        assert ok.success and current_manifest(paths)["release_id"] == \
            ok.asset_materializations_for_node("publication__observatory")[0].metadata["release_id"].value
        assert [e.passed for e in ok.get_asset_check_evaluations()] == [True]
        published = paths.observatory_db.read_bytes()
        monkeypatch.setenv("CARNET_SECRECY_THRESHOLD", "13")
        monkeypatch.setenv("CARNET_RELEASE_MIN_ROW_RATIO", "2.0")
        blocked = dg.materialize([release_candidate, observatory, quality_gate], resources=resources,
                                 raise_on_error=False)
        assert not blocked.success
        assert [e.passed for e in blocked.get_asset_check_evaluations()] == [False]
        assert not blocked.asset_materializations_for_node("publication__observatory")
        assert paths.observatory_db.read_bytes() == published
    finally:
        home.reopen()


def _staged(paths, demo_home, published_at):
    from pipelines.publication.release import stage

    home, _, _ = demo_home
    home.conn.close()
    try:
        return stage(paths, published_at=published_at)
    finally:
        home.reopen()


@pytest.mark.slow  # a process of its own
def test_the_gate_process_gives_the_verdict_of_the_run_process_with_the_runs_settings(release, demo_home):
    from pipelines.publication.gate_process import GateProcess
    from pipelines.publication.release import GATE, gate_staged

    paths, _, _, _ = release
    staged = _staged(paths, demo_home, dt.datetime(2025, 1, 4, 3, 0))
    here = gate_staged(paths, staged, 0.9)
    worker = GateProcess.start()
    try:
        there = worker.gate(paths, staged, 0.9)
        assert there == here and there.success and there.expectations == here.expectations > 30
        assert json.loads((staged.directory / GATE).read_text())["expectations"] == here.expectations
        # the run's settings travel with each request: the worker started before they were read
        collapsed = worker.gate(paths, staged, 2.0)
    finally:
        worker.stop()
    assert not collapsed.success and collapsed.failures == gate_staged(paths, staged, 2.0).failures
    assert any("expect_table_row_count_to_be_between" in f for f in collapsed.failures)
    assert worker.process.poll() is not None


@pytest.mark.slow  # a process of its own
def test_a_gate_process_that_died_fails_the_gate_clearly_and_publishes_nothing(release, demo_home):
    from pipelines.publication.gate_process import GateProcess, GateProcessFailed

    paths, _, _, _ = release
    before, current = paths.observatory_db.read_bytes(), current_manifest(paths)["release_id"]
    staged = _staged(paths, demo_home, dt.datetime(2025, 1, 5, 3, 0))
    worker = GateProcess.start()
    worker.process.kill()
    worker.process.wait(5)
    with pytest.raises(GateProcessFailed, match=r"exited \(code -9\) before answering: nothing was published"):
        worker.gate(paths, staged, 0.9)
    worker.stop()
    assert (staged.directory / "carnet_observatory.duckdb").exists()
    assert paths.observatory_db.read_bytes() == before
    assert current_manifest(paths)["release_id"] == current


@pytest.mark.slow  # a process of its own
def test_a_run_with_nothing_to_gate_ends_the_gate_process_without_waiting_for_its_import():
    import signal

    from pipelines.publication.gate_process import GateProcess

    worker = GateProcess.start()
    worker.stop()
    assert worker.process.returncode == -signal.SIGTERM  # terminated, not waited for
