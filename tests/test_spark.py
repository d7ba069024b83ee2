"""The same SQLMesh models on Spark (local[2]) and on DuckDB: every stored model, mart and publication
table equal cell by cell (each engine casting its own values to text), the audits passing on both, the
publication's tables equal whichever engine built the marts, and a partial restatement on Spark
losing no row. pyspark is the `spark` extra (requirements-spark.lock), which `.ci/run` installs with
Java: there, CARNET_REQUIRE_SPARK=1 turns a missing Spark into a failure instead of a skip."""
from __future__ import annotations

import datetime as dt
import os
import shutil

import duckdb
import pytest

# One test: its Spark build (minutes of one JVM) is made once whichever worker runs it.
pytestmark = [pytest.mark.xdist_group("spark"), pytest.mark.slow]


def _require_spark() -> None:
    try:
        import pyspark  # noqa: F401
        missing = None if shutil.which("java") or os.environ.get("JAVA_HOME") else "java"
    except ImportError:
        missing = "pyspark"
    if missing:
        if os.environ.get("CARNET_REQUIRE_SPARK") == "1":
            pytest.fail(f"{missing} is not installed (.ci/run installs requirements-spark.lock and Java 17)")
        pytest.skip(f"{missing} is not installed here (pip install -r requirements-spark.lock)")


def _duckdb_text(warehouse, table: str) -> tuple[list[str], list[tuple]]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = [r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()]
        rows = conn.execute(f"SELECT {', '.join(f'CAST({c} AS VARCHAR)' for c in columns)} FROM {table}").fetchall()
    finally:
        conn.close()
    return columns, sorted(rows, key=repr)


def _spark_text(spark, table: str, columns: list[str]) -> tuple[list[str], list[tuple]]:
    """The table's rows as text, its columns in the order given (Spark puts partition columns last)."""
    assert sorted(spark.table(table).columns) == sorted(columns), table
    rows = spark.sql(f"SELECT {', '.join(f'CAST(`{c}` AS STRING)' for c in columns)} FROM {table}").collect()
    return columns, sorted((tuple(r) for r in rows), key=repr)


def _types(warehouse, table: str) -> list[tuple[str, str]]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [(r[0], r[1]) for r in conn.execute(f"DESCRIBE {table}").fetchall()]
    finally:
        conn.close()


def _build_on_spark(demo_home, root):
    """A copy of the session's demo log built on Spark by the Dagster models asset, run with
    CARNET_ENGINE=spark as a deployment sets it: (Spark settings, its warehouse, the asset's metadata)."""
    import dagster as dg

    from pipelines.projections.assets import sqlmesh_models
    from pipelines.resources import CarnetResource
    from pipelines.settings import Settings

    home, _, _ = demo_home
    home.conn.execute("CHECKPOINT")
    shutil.copy2(home.root / "events.duckdb", root / "events.duckdb")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CARNET_ENGINE", "spark")
        env.setenv("CARNET_DEMO", "1")
        result = dg.materialize([sqlmesh_models], resources={"carnet": CarnetResource(home=str(root))})
        settings = Settings.from_environment(home=root)
    assert result.success and settings.engine == "spark"
    metadata = {m.asset_key.to_user_string(): m.metadata
                for m in result.asset_materializations_for_node("sqlmesh_models")}
    return settings, settings.paths.warehouse_db, metadata


def _compare_on_spark(settings, warehouse, duckdb_warehouse, tables) -> dict[str, int]:
    from pyspark.sql import SparkSession

    from pipelines.projections.spark import session_config, stop_session

    builder = SparkSession.builder
    for key, value in session_config(settings, warehouse).items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    rows = {}
    try:
        for table in tables:
            on_duckdb = _duckdb_text(duckdb_warehouse, table)
            on_spark = _spark_text(spark, table, on_duckdb[0])
            assert on_spark[1] == on_duckdb[1], f"{table}: Spark and DuckDB differ"
            rows[table] = len(on_spark[1])
    finally:
        stop_session()
    return rows


def _counts(warehouse) -> dict[str, int]:
    from pipelines.projections.sqlmesh_project import model_graph

    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {n.name: conn.execute(f"SELECT count(*) FROM {n.name}").fetchone()[0]
                for n in model_graph() if n.kind not in ("VIEW", "SEED")}
    finally:
        conn.close()


def test_the_models_on_spark_equal_duckdb_and_a_partial_restatement_loses_no_row(demo_home, demo_warehouse,
                                                                                   tmp_path):
    _require_spark()
    from pipelines.projections.sqlmesh_project import model_graph, refresh
    from pipelines.publication.secrecy import SecrecySettings
    from pipelines.publication.tables import build_tables

    settings, warehouse, metadata = _build_on_spark(demo_home, tmp_path)
    stored = [n.name for n in model_graph() if n.kind != "VIEW"]
    assert {m["mode"].value for m in metadata.values()} == {"full"}  # the audits passed: the asset succeeded

    # every stored model, as Spark holds it, equals the DuckDB build cell by cell
    rows = _compare_on_spark(settings, warehouse, demo_warehouse, stored)
    assert {t for t in rows if t.startswith(("marts.", "publication."))} == {
        "marts.activity_monthly", "marts.billing_mismatch_monthly", "marts.cost_per_consultation_monthly",
        "marts.gp_reattachment_monthly", "publication.cost_per_consultation_yearly",
        "publication.residents_activity_yearly", "publication.residents_reattachment_yearly",
        "publication.residents_territory_yearly"}
    assert all(rows[t] > 0 for t in rows), rows
    # the copy the publication reads has the DuckDB build's columns, types and rows
    for table in stored:
        assert _types(warehouse, table) == _types(demo_warehouse, table), table
        assert _duckdb_text(warehouse, table) == _duckdb_text(demo_warehouse, table), table
    counts = {key.replace("/", "."): m["row_count"].value for key, m in metadata.items() if "row_count" in m}
    assert counts and counts == {k: v for k, v in _counts(demo_warehouse).items() if k in counts}

    # the observatory's tables (secrecy applied) are the same whichever engine built the marts
    on_spark = dict(build_tables(warehouse, SecrecySettings()).items())
    on_duckdb = dict(build_tables(demo_warehouse, SecrecySettings()).items())
    assert on_spark.keys() == on_duckdb.keys()
    for name, frame in on_duckdb.items():
        assert on_spark[name].equals(frame), name

    # ten days of March 2024 restated: Spark overwrites whole partitions, so each incremental model
    # restates whole partitions (months; years), and nothing is lost
    result = refresh(settings.paths, settings=settings, restate=(dt.date(2024, 3, 10), dt.date(2024, 3, 20)))
    assert result.mode == "incremental"
    assert result.row_counts["intermediate.int_acts"] == _counts(demo_warehouse)["intermediate.int_acts"]
    for table in ("intermediate.int_acts", "marts.activity_monthly", "publication.residents_activity_yearly"):
        # the copy is Spark's tables as the restatement left them
        assert _duckdb_text(warehouse, table) == _duckdb_text(demo_warehouse, table), table




def test_the_model_graph_is_read_without_starting_spark(monkeypatch):
    """The asset specs read the model graph at import: with CARNET_ENGINE=spark it must not start a
    Spark session, which would keep the default warehouse's settings for the whole process (an
    engine switch then deleted its scratch folder under it)."""
    from pipelines.projections import sqlmesh_project

    configs = []
    real = sqlmesh_project.load_context
    monkeypatch.setenv("CARNET_ENGINE", "spark")
    monkeypatch.setattr(sqlmesh_project, "load_context",
                        lambda on_model=None, config=None: configs.append(config) or real(on_model, config))
    nodes = sqlmesh_project.model_graph.__wrapped__()
    assert [c.default_gateway for c in configs] == ["local"] and set(configs[0].gateways) == {"local"}
    assert "marts.activity_monthly" in {n.name for n in nodes}
