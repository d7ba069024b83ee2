"""Projections: exact marts on hand-computed data, replay, as-of, and the published figures."""
import datetime as dt
import json
import shutil

import duckdb
import pytest

from pipelines.projections.sqlmesh_project import PROJECT_ROOT, model_graph, refresh
from pipelines.settings import carnet_paths
from tests.conftest import DECL_HEADER_FR, Home, fr_act, make_nir, write_fr

MARTS = ("marts.activity_monthly", "marts.gp_reattachment_monthly", "marts.cost_per_consultation_monthly",
         "marts.billing_mismatch_monthly")
PUBLICATION = ("publication.residents_activity_yearly", "publication.residents_reattachment_yearly",
               "publication.cost_per_consultation_yearly")


def _refresh(home: Home, **kw):
    home.conn.close()  # the log is read by SQLMesh; writers are serialised by the caller
    try:
        return refresh(carnet_paths(home.root), **kw)
    finally:
        home.reopen()


def _rows(warehouse, table, order="ALL"):
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    finally:
        conn.close()


def _hand_computed_inbox(home: Home) -> tuple[str, str]:
    """Two patients of Chalon and Mâcon in March 2024; returns the two centres."""
    p1, p2 = make_nir("1850571076123"), make_nir("2700371076001")
    chalon, macon = "710000019", "710000027"
    write_fr(home.inbox, f"{chalon}__consultations__20240306T020000.csv", [
        fr_act("A1", nir=p1), fr_act("A2", nir=p1, montant="25,00"), fr_act("A3", nir=p2),
        fr_act("A4", nir=p2, statut="absent", montant="0"), fr_act("A5", nir=p2, site="CHAG")])
    write_fr(home.inbox, f"{chalon}__consultations__20240307T020000.csv", [fr_act("A3", nir=p2, statut="annulé", montant="0")])
    write_fr(home.inbox, f"{chalon}__gp_declarations__20240306T020000.csv", [
        f"{p1};01/03/2024;10001234567;sans_medecin_traitant;;O;1985;M;71076",
        f"{p2};02/03/2024;10001234567;autre_medecin_traitant;;N;1970;F;71076"], header=DECL_HEADER_FR)
    # p1 moves to Mâcon, same network: not re-attached again
    write_fr(home.inbox, f"{macon}__gp_declarations__20240306T020000.csv", [
        f"{p1};04/03/2024;10009999999;sans_medecin_traitant;;N;1985;M;71076"], header=DECL_HEADER_FR)
    write_fr(home.inbox, f"{chalon}__costs__20240306T020000.csv",
             ["2024-03;salaires_medicaux;3000,00", "2024-03;subventions;500,00"], header="mois;poste;montant")
    return chalon, macon


def test_marts_on_hand_computed_data(home):
    chalon, macon = _hand_computed_inbox(home)
    home.ingest()
    result = _refresh(home)
    act = _rows(result.warehouse, "marts.activity_monthly WHERE centre_id = '710000019'")
    # CHAL: A1, A2 completed (p1), A3 cancelled, A4 no-show; CHAG: A5 completed (p2). G = 26.50 in March 2024.
    assert act == [
        ("cd71", "71", chalon, "CHAG", dt.date(2024, 3, 1), "consultation", 1, 0, 0, 1, pytest.approx(26.5), pytest.approx(26.5)),
        ("cd71", "71", chalon, "CHAL", dt.date(2024, 3, 1), "consultation", 2, 1, 1, 1, pytest.approx(51.5), pytest.approx(53.0)),
    ]
    reat = {r[2]: r[4:] for r in _rows(result.warehouse, "marts.gp_reattachment_monthly WHERE month = '2024-03-01'")}
    assert reat[chalon] == (1, 1, 1, 2)   # p1 only; p1 and p2 attached at month end
    assert reat[macon] == (0, 0, 0, 1)    # p1 attached, not re-attached again
    cost = _rows(result.warehouse, "marts.cost_per_consultation_monthly WHERE centre_id = '710000019'")
    [(_, _, _, month, acts, consultations, hv, tc, op, revenue, income, gross, net)] = cost
    assert (month, acts, consultations, hv, tc) == (dt.date(2024, 3, 1), 3, 3, 0, 0)
    assert (float(op), float(revenue), float(income)) == (3000.0, 79.5, 500.0)
    assert (float(gross), float(net)) == (1000.0, round((3000 - 79.5 - 500) / 3, 2))


def _audited(paths, model: str) -> bool:
    """SQLMesh's audits of `model` over March 2024, on the warehouse as it stands."""
    from pipelines.projections.sqlmesh_config import sqlmesh_config
    from pipelines.projections.sqlmesh_project import load_context
    from pipelines.settings import Settings

    ctx = load_context(config=sqlmesh_config(Settings.from_environment(home=paths.home)))
    try:
        return ctx.audit("2024-03-01", "2024-03-31", models=iter([model]))
    finally:
        ctx.close()


def _tamper(warehouse, model: str, statement: str) -> None:
    """Run `statement` on the physical table behind `model` (`{table}` in it names that table)."""
    conn = duckdb.connect(str(warehouse))
    try:
        table = conn.execute("SELECT table_catalog || '.' || table_schema || '.' || table_name FROM "
                             "information_schema.tables WHERE table_name LIKE ?",
                             [model.replace(".", "__") + "__%"]).fetchone()[0]
        conn.execute(statement.format(table=table))
    finally:
        conn.close()


def test_the_activity_audit_catches_a_mart_that_disagrees_with_the_log(home):
    """The reconcile audit counts the log's completed latest versions without the models."""
    chalon, _ = _hand_computed_inbox(home)
    # the month's bounds: the last evening of March is March's, the first minute of April is not
    write_fr(home.inbox, f"{chalon}__consultations__20240402T020000.csv", [
        fr_act("A6", date="31/03/2024", heure="23:30"), fr_act("A7", date="01/04/2024", heure="00:00")])
    home.ingest()
    result = _refresh(home)
    march = _rows(result.warehouse, "marts.activity_monthly WHERE centre_id = '710000019' AND site_code = 'CHAL'")
    assert [(r[4], r[6]) for r in march] == [(dt.date(2024, 3, 1), 3), (dt.date(2024, 4, 1), 1)]
    home.conn.close()
    paths = carnet_paths(home.root)
    assert _audited(paths, "marts.activity_monthly")
    _tamper(result.warehouse, "marts.activity_monthly",
            "UPDATE {table} SET acts_completed = acts_completed + 1 WHERE site_code = 'CHAG'")
    assert not _audited(paths, "marts.activity_monthly")
    home.conn = duckdb.connect(str(home.root / "events.duckdb"))


def test_the_acts_audit_catches_an_act_stored_twice(home):
    """`int_acts` holds one row per act (its grain, audited by a GROUP BY on the key)."""
    _hand_computed_inbox(home)
    home.ingest()
    result = _refresh(home)
    home.conn.close()
    paths = carnet_paths(home.root)
    assert _audited(paths, "intermediate.int_acts")
    _tamper(result.warehouse, "intermediate.int_acts", "INSERT INTO {table} SELECT * FROM {table} LIMIT 1")
    assert not _audited(paths, "intermediate.int_acts")
    home.conn = duckdb.connect(str(home.root / "events.duckdb"))


def test_a_failing_audit_fails_the_refresh_naming_the_model_and_the_audit(home, tmp_path, monkeypatch):
    """SQLMesh prints why a plan failed and raises "Plan application failed": the refresh says which
    model and which audit instead, and the previous marts stay."""
    from pipelines.projections import sqlmesh_project

    old = tmp_path / "broken_project"
    for part in ("models", "seeds", "macros"):
        if (PROJECT_ROOT / part).exists():
            shutil.copytree(PROJECT_ROOT / part, old / part)
    acts = old / "models" / "intermediate" / "int_acts.sql"  # every act twice: its grain's audit must fail
    text = acts.read_text()
    assert "FROM priced AS p" in text
    acts.write_text(text.replace("FROM priced AS p", "FROM (SELECT * FROM priced UNION ALL SELECT * FROM priced) AS p"))
    _hand_computed_inbox(home)
    home.ingest()
    monkeypatch.setattr(sqlmesh_project, "PROJECT_ROOT", old)
    sqlmesh_project.model_graph.cache_clear()
    try:
        with pytest.raises(sqlmesh_project.ModelsFailed, match=r"intermediate\.int_acts: Audits failed: unique_combination_of_columns"):
            _refresh(home)
    finally:
        monkeypatch.undo()
        sqlmesh_project.model_graph.cache_clear()


def test_changed_and_added_models_are_deployed_by_the_next_refresh(home, tmp_path, monkeypatch):
    """A warehouse built by an older project: the next refresh (even a full one, which restates)
    builds the added model and recomputes the edited one."""
    from pipelines.projections import sqlmesh_project

    old = tmp_path / "old_project"
    for part in ("models", "seeds", "macros"):
        shutil.copytree(PROJECT_ROOT / part, old / part)
    shutil.copy(PROJECT_ROOT / "config.py", old / "config.py")
    (old / "models" / "publication" / "cost_per_consultation_yearly.sql").unlink()
    yearly = old / "models" / "publication" / "residents_activity_yearly.sql"
    yearly.write_text(yearly.read_text().replace("COUNT(*) AS acts_completed", "COUNT(*) + 1000 AS acts_completed"))
    _hand_computed_inbox(home)
    home.ingest()
    monkeypatch.setattr(sqlmesh_project, "PROJECT_ROOT", old)
    sqlmesh_project.model_graph.cache_clear()
    try:
        built = _refresh(home)
        assert "publication.cost_per_consultation_yearly" not in built.row_counts
        assert {r[-2] for r in _rows(built.warehouse, "publication.residents_activity_yearly")} == {1003}
    finally:
        monkeypatch.undo()
        sqlmesh_project.model_graph.cache_clear()
    upgraded = _refresh(home)
    assert upgraded.mode == "upgraded" and upgraded.row_counts["publication.cost_per_consultation_yearly"] > 0
    assert {r[-2] for r in _rows(upgraded.warehouse, "publication.residents_activity_yearly")} == {3}
    assert _refresh(home, full=True).mode == "full"

    def no_sqlmesh(*args, **kwargs):
        raise AssertionError("nothing new and the same model files: SQLMesh is not loaded")
    monkeypatch.setattr(sqlmesh_project, "load_context", no_sqlmesh)
    unchanged = _refresh(home)
    assert unchanged.mode == "unchanged" and unchanged.row_counts == upgraded.row_counts


@pytest.mark.slow  # many refreshes or replays
def test_each_warehouse_is_planned_with_its_own_sqlmesh_versions(home, tmp_path, monkeypatch):
    """One warehouse upgraded from an older project, another built fresh by the current one: the
    same snapshots carry other table versions in each. SQLMesh caches snapshots on disk, so with
    one cache the fresh warehouse's next restatement saw the upgraded one's versions and aborted."""
    from pipelines.projections import sqlmesh_project

    old = tmp_path / "old_project"
    for part in ("models", "seeds", "macros"):
        shutil.copytree(PROJECT_ROOT / part, old / part)
    shutil.copy(PROJECT_ROOT / "config.py", old / "config.py")
    costs = old / "models" / "staging" / "stg_costs.sql"  # without its last column: adding it is non-breaking
    text = costs.read_text()
    costs.write_text(text.replace("  CAST(recorded_at AS TIMESTAMP) AS recorded_at, -- extraction time of the version kept\n"
                                  "  CAST(event_id AS BIGINT) AS event_id -- position of that version in the log\n",
                                  "  CAST(recorded_at AS TIMESTAMP) AS recorded_at -- extraction time of the version kept\n"))
    assert costs.read_text() != text
    chalon, _ = _hand_computed_inbox(home)
    home.ingest()
    monkeypatch.setattr(sqlmesh_project, "PROJECT_ROOT", old)
    sqlmesh_project.model_graph.cache_clear()
    try:
        assert _refresh(home).mode == "full"
    finally:
        monkeypatch.undo()
        sqlmesh_project.model_graph.cache_clear()
    assert _refresh(home).mode == "upgraded"  # the cost models keep their tables: versions from the old project
    fresh = Home(tmp_path / "fresh")
    _hand_computed_inbox(fresh)
    fresh.ingest()
    assert _refresh(fresh).mode == "full"
    write_fr(fresh.inbox, f"{chalon}__consultations__20240310T020000.csv", [fr_act("A9", nir=make_nir("1850571076123"))])
    fresh.ingest()
    nightly = _refresh(fresh)
    assert nightly.mode == "incremental"
    assert _mart_snapshot(nightly.warehouse) == _mart_snapshot(_refresh(fresh, full=True).warehouse)

def _mart_snapshot(warehouse):
    """Every mart and publication table (they hold no pseudonyms, so two homes compare)."""
    return {t: _rows(warehouse, t) for t in MARTS + PUBLICATION}


def _split_inbox(src, dst_homes, parts):
    """Copy a generated inbox into `parts` successive deliveries, in recorded-time order."""
    from pipelines.ingestion.service import inbox_files

    files = inbox_files(src)
    chunks = [files[i * len(files) // parts:(i + 1) * len(files) // parts] for i in range(parts)]
    return chunks


@pytest.mark.slow  # many refreshes or replays
def test_replay_from_scratch_equals_incremental_refreshes(tmp_path):
    from pipelines.demo.generator import generate
    from pipelines.ingestion.service import inbox_files

    src = tmp_path / "generated"
    generate(src, seed=5, scale=0.005)
    files = inbox_files(src)
    incremental = Home(tmp_path / "incremental")
    for i in range(3):
        for f in files[i * len(files) // 3:(i + 1) * len(files) // 3]:
            target = incremental.inbox / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
        incremental.ingest()
        result_inc = _refresh(incremental)
    replay = Home(tmp_path / "replay")
    shutil.copytree(src, replay.inbox, dirs_exist_ok=True)
    replay.ingest()
    result_full = _refresh(replay)
    # pseudonyms differ between homes (own vault salts): compare marts, which hold none
    assert _mart_snapshot(result_inc.warehouse) == _mart_snapshot(result_full.warehouse)
    # and rebuilding the same home's warehouse from scratch changes nothing
    before = _mart_snapshot(result_inc.warehouse)
    result_inc.warehouse.unlink()
    assert _mart_snapshot(_refresh(incremental).warehouse) == before


def test_projections_from_the_heads_equal_those_from_the_fold_of_the_log(tmp_path):
    """An ordinary refresh takes each key's latest version from log.heads; a build bounded at the
    log's last position folds the versions itself. On a log where many keys have several versions
    and older extracts arrived after newer ones, both give the same rows, down to the acts."""
    from pipelines.demo.generator import generate
    from pipelines.ingestion.service import inbox_files

    src = tmp_path / "generated"
    generate(src, seed=11, scale=0.005)
    files = inbox_files(src)
    home = Home(tmp_path / "home")
    # and two acts whose late version (an older extract, received last) differs from their head
    newer = [fr_act("Z1", statut="annulé", montant="0"), fr_act("Z2", statut="réalisé")]
    older = [fr_act("Z1", statut="réalisé"), fr_act("Z2", statut="absent", montant="0")]
    for chunk, extra in ((files[len(files) // 2:], ("20250101T230000", newer)),
                         (files[:len(files) // 2], ("20240310T020000", older))):  # the newer half first
        for f in chunk:
            target = home.inbox / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
        write_fr(home.inbox, f"710000019__consultations__{extra[0]}.csv", extra[1])
        home.ingest()
    versioned, late, late_acts = home.conn.execute("""
        SELECT count(*) FILTER (n > 1), count(*) FILTER (h.event_id < last_id),
               count(*) FILTER (h.event_id < last_id AND h.payload_hash <> last_hash AND business_key LIKE '%|Z_')
        FROM (SELECT business_key, count(*) AS n, max(event_id) AS last_id, arg_max(payload_hash, event_id) AS last_hash
              FROM log.events GROUP BY ALL)
        JOIN log.heads h USING (business_key)""").fetchone()
    # the heads are not simply each key's last appended version
    assert versioned > 100 and late > 10 and late_acts == 2
    current = _refresh(home)
    folded = _refresh(home, log_position=current.high_water_event_id)
    assert folded.warehouse != current.warehouse
    tables = MARTS + PUBLICATION + ("intermediate.int_acts", "staging.stg_gp_declarations", "staging.stg_costs")
    rows = {table: _rows(current.warehouse, table) for table in tables}
    for table in tables:
        assert _rows(folded.warehouse, table) == rows[table], table
    assert len(rows["intermediate.int_acts"]) > 1000
    conn = duckdb.connect(str(current.warehouse), read_only=True)
    try:
        late_ones = dict(conn.execute("SELECT act_id, status FROM intermediate.int_acts a JOIN (VALUES ('Z1'), ('Z2')) "
                                      "z(act_id) ON a.act_key LIKE '%|' || z.act_id").fetchall())
    finally:
        conn.close()
    assert late_ones == {"Z1": "cancelled", "Z2": "completed"}  # the newer extract's, though received first


@pytest.mark.slow  # many refreshes or replays
def test_as_of_figures_do_not_change_when_later_extracts_arrive(tmp_path):
    from pipelines.demo.generator import generate
    from pipelines.ingestion.service import inbox_files
    from pipelines.inbox.filenames import parse_export_name

    src = tmp_path / "generated"
    generate(src, seed=3, scale=0.005)
    cut = dt.datetime(2024, 6, 1)
    home = Home(tmp_path / "home")
    for f in inbox_files(src):
        try:
            early = parse_export_name(f).extracted_at <= cut
        except ValueError:
            early = False
        if early:
            target = home.inbox / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
    home.ingest()
    first = _mart_snapshot(_refresh(home, as_of=cut).warehouse)
    shutil.copytree(src, home.inbox, dirs_exist_ok=True)
    home.ingest()
    current = _mart_snapshot(_refresh(home).warehouse)
    again = _refresh(home, as_of=cut)
    assert _mart_snapshot(again.warehouse) == first
    assert current != first
    # the as-of build went to its own file; the current warehouse still says what it said
    assert _mart_snapshot(carnet_paths(home.root).warehouse_db) == current


def test_every_mart_table_and_column_is_described_in_the_database(demo_warehouse):
    conn = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        tables = conn.execute("SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'marts'").fetchall()
        columns = conn.execute("SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = 'marts'").fetchall()
    finally:
        conn.close()
    assert {t for t, _ in tables} == {m.split(".")[1] for m in MARTS}
    assert all(c and "one row per" in c.lower() for _, c in tables)
    assert columns and all(c for _, _, c in columns), [x for x in columns if not x[2]]


def test_attached_patients_equal_a_plain_count_of_declarations_in_force(demo_warehouse):
    """The mart counts merged spells; the plain range join it replaced is the oracle."""
    conn = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        mart = conn.execute("SELECT centre_id, month, attached_at_month_end FROM marts.gp_reattachment_monthly "
                            "WHERE attached_at_month_end > 0 ORDER BY ALL").fetchall()
        plain = conn.execute("""
            SELECT m.centre_id, m.month, COUNT(DISTINCT d.patient_pseudonym)
            FROM intermediate.int_centre_months AS m JOIN staging.stg_gp_declarations AS d
              ON d.centre_id = m.centre_id AND d.declared_on <= m.month_end AND (d.ended_on IS NULL OR d.ended_on >= m.month_end)
            GROUP BY ALL ORDER BY ALL""").fetchall()
        ended = conn.execute("SELECT count(*) FROM staging.stg_gp_declarations WHERE ended_on IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    assert len(mart) > 100 and ended > 10
    assert mart == plain


def test_sqlmesh_unit_tests_cover_every_model_and_pass():
    from sqlmesh import Context

    ctx = Context(paths=str(PROJECT_ROOT))
    result = ctx.test()
    assert result.wasSuccessful()
    tested = {t.body["model"] for t in ctx.load_model_tests()} if hasattr(ctx, "load_model_tests") else None
    models = {n.name for n in model_graph() if n.kind != "SEED"}
    if tested is not None:
        assert models <= {m.strip('"') for m in tested}, models - tested
    else:
        names = {p.stem.removeprefix("test_") for p in (PROJECT_ROOT / "tests" / "sqlmesh").glob("test_*.yaml")}
        assert {m.split(".")[1] for m in models} <= names


def test_models_are_assets_downstream_of_the_event_streams():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert "event_log/consultation_recorded" in parents["staging/stg_consultations"]
    assert "event_log/gp_declared" in parents["staging/stg_gp_declarations"]
    assert "marts/activity_monthly" in parents["marts/cost_per_consultation_monthly"]
    job = defs.resolve_job_def("nightly_refresh")
    assert {"ingest_inbox", "sqlmesh_models"} <= {n.name for n in job.nodes}
    schedule = defs.resolve_schedule_def("nightly_refresh_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "Europe/Paris")


def test_published_figures_are_reproduced_exactly_at_two_percent_scale(demo_warehouse):
    """The demo at 2 % of the centres' volume: every published figure, scaled, exactly."""
    from pipelines.published_figures import PUBLISHED
    from pipelines.projections.headlines import headlines

    conn = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        got = {h.figure.label: h.computed for h in headlines(conn)}
    finally:
        conn.close()
    assert got == {f.label: round(f.value * 0.02) for f in PUBLISHED}


@pytest.mark.scale
@pytest.mark.slow
def test_published_figures_are_reproduced_exactly_at_scale_one(tmp_path_factory):
    """The README table: every published figure against what carnet computes from the demo exports."""
    from pipelines.published_figures import PUBLISHED
    from pipelines.demo.generator import generate
    from pipelines.projections.headlines import headlines

    home = Home(tmp_path_factory.mktemp("scale1"))
    generate(home.inbox, seed=7, scale=1.0)
    home.ingest()
    result = _refresh(home)
    conn = duckdb.connect(str(result.warehouse), read_only=True)
    try:
        got = {h.figure.label: h.computed for h in headlines(conn)}
    finally:
        conn.close()
    assert got == {f.label: f.value for f in PUBLISHED}


def _physical_table(warehouse, view: str) -> str:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        schema, name = view.split(".")
        sql = conn.execute("SELECT sql FROM duckdb_views() WHERE schema_name = ? AND view_name = ?", [schema, name]).fetchone()[0]
    finally:
        conn.close()
    import re
    return re.search(r"FROM\s+(\S+)", sql).group(1).rstrip(";")


def test_nightly_refresh_recomputes_only_the_months_its_events_touch(tmp_path):
    from pipelines.demo.generator import generate
    from pipelines.ingestion.service import inbox_files
    from pipelines.inbox.filenames import parse_export_name

    src = tmp_path / "generated"
    generate(src, seed=9, scale=0.005)
    cut = dt.datetime(2024, 12, 29)
    home = Home(tmp_path / "home")

    def deliver(after: bool):
        for f in inbox_files(src):
            try:
                late = parse_export_name(f).extracted_at > cut
            except ValueError:
                late = False
            if late == after:
                target = home.inbox / f.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, target)
    deliver(after=False)
    home.ingest()
    first = _refresh(home)
    assert first.mode == "full"
    # Mark a month no nightly extract can touch, straight in the physical table.
    table = _physical_table(first.warehouse, "marts.activity_monthly")
    yearly = _physical_table(first.warehouse, "publication.residents_activity_yearly")
    conn = duckdb.connect(str(first.warehouse))
    conn.execute(f"UPDATE {table} SET acts_no_show = 999 WHERE month = DATE '2020-06-01'")
    conn.execute(f"UPDATE {yearly} SET acts_completed = 999 WHERE year = 2020")
    conn.close()
    deliver(after=True)
    home.ingest()
    nightly = _refresh(home)
    assert nightly.mode == "incremental"
    assert nightly.restated_from >= dt.date(2024, 11, 1) and nightly.restated_to == dt.date(2024, 12, 31)
    assert {r[8] for r in _rows(nightly.warehouse, "marts.activity_monthly WHERE month = DATE '2020-06-01'")} == {999}
    december = _rows(nightly.warehouse, "marts.activity_monthly WHERE month = DATE '2024-12-01'")
    # the yearly table recomputes the whole of 2024, and leaves the other years alone
    assert {r[6] for r in _rows(nightly.warehouse, "publication.residents_activity_yearly WHERE year = 2020")} == {999}
    year_2024 = _rows(nightly.warehouse, "publication.residents_activity_yearly WHERE year = 2024")
    rebuilt = _refresh(home, full=True)
    assert _rows(rebuilt.warehouse, "publication.residents_activity_yearly WHERE year = 2024") == year_2024
    assert 999 not in {r[6] for r in _rows(rebuilt.warehouse, "publication.residents_activity_yearly WHERE year = 2020")}
    assert rebuilt.mode == "full"
    assert _rows(rebuilt.warehouse, "marts.activity_monthly WHERE month = DATE '2024-12-01'") == december
    assert 999 not in {r[8] for r in _rows(rebuilt.warehouse, "marts.activity_monthly WHERE month = DATE '2020-06-01'")}
