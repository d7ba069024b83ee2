"""The models on Spark (CARNET_ENGINE=spark): the Spark session's settings, and the built tables copied into
the DuckDB warehouse, which the publication, the headlines and `carnet status` read whichever engine
built them. Nothing here is imported on DuckDB runs: pyspark is an optional dependency (`.[spark]`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.settings import Settings


def spark_dir(warehouse: Path) -> Path:
    """What Spark keeps for one warehouse (local master): its tables, its metastore, the copies
    handed to DuckDB. Per warehouse, as SQLMesh's state is: an as-of build is a warehouse of its own."""
    return warehouse.with_suffix(".spark")


def state_db(warehouse: Path) -> Path:
    """SQLMesh's state for a Spark-built warehouse: state cannot live in Spark (no transactions)."""
    return warehouse.with_suffix(".sqlmesh-state.duckdb")


def log_url(settings: Settings) -> str:
    """Where Spark reads the log's Parquet export: $CARNET_SPARK_LOG_URL, else the home's folder."""
    return settings.spark_log_url or str(settings.paths.log_parquet)


def is_local(master: str) -> bool:
    return master.startswith("local")


def session_config(settings: Settings, warehouse: Path) -> dict[str, str]:
    """The Spark session's settings.

    - Time: the log's times are local Europe/Paris wall-clock times with no zone (DuckDB TIMESTAMP);
      TIMESTAMP_NTZ is Spark's same type, so a cast to TIMESTAMP keeps the wall-clock time, and the
      Spark session's zone (Europe/Paris) only governs what still converts (months and days of them).
    - ANSI mode: overflow and invalid casts fail the build instead of turning into NULL.
    - Tables are Parquet (not Hive text), and timestamps are written as Parquet's microseconds type,
      which DuckDB reads back without a zone.
    - On a local master, the metastore (Derby) and the tables live beside the warehouse file; on a
      cluster, they are the cluster's (spark-defaults.conf, docs/spark.md).
    """
    config = {
        "spark.master": settings.spark_master,
        "spark.app.name": "carnet",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.session.timeZone": "Europe/Paris",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.sources.default": "parquet",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",  # Hive metastore warnings (TIMESTAMP_NTZ is not a Hive type) are noise
        "spark.sql.execution.arrow.pyspark.enabled": "true",  # seeds go from pandas to Spark through Arrow
    }
    if is_local(settings.spark_master):
        home = spark_dir(warehouse)
        config.update({
            "spark.sql.warehouse.dir": str(home / "tables"),
            "spark.hadoop.javax.jdo.option.ConnectionURL":
                f"jdbc:derby:;databaseName={home / 'metastore'};create=true",
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={home}",  # derby.log, not in the cwd
            "spark.ui.enabled": "false",
            # small local data: a few shuffle partitions (adaptive execution merges them further)
            "spark.sql.shuffle.partitions": "8",
            "spark.local.dir": str(home / "scratch"),
        })
    return config


def stop_session() -> None:
    """Stop the process's Spark session, if any, so that the next build starts one with its own
    warehouse's settings (Spark fixes the warehouse and metastore when a Spark session starts)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def copy_to_duckdb(spark, tables: dict[str, list[str]], warehouse: Path) -> None:
    """Copy the models `tables` (schema.table, as the environment names them: their columns) from Spark
    into the DuckDB warehouse, replacing what was there: Spark writes each to Parquet, DuckDB loads it.
    The columns are put back in the model's order: Spark moves partition columns last."""
    import duckdb

    handoff = spark_dir(warehouse) / "handoff"
    shutil.rmtree(handoff, ignore_errors=True)
    for table, columns in tables.items():
        spark.table(table).select(*columns).write.mode("overwrite").parquet(str(handoff / table))
    conn = duckdb.connect(str(warehouse))
    try:
        conn.execute("BEGIN")
        for table in tables:
            schema, name = table.split(".")
            files = str(handoff / table / "*.parquet")
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            kind = conn.execute("SELECT table_type FROM information_schema.tables WHERE table_schema = ? "
                                "AND table_name = ?", [schema, name]).fetchone()
            if kind and kind[0] == "VIEW":  # a warehouse DuckDB built holds its models as views
                conn.execute(f"DROP VIEW {table}")
            conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet(?)", [files])
        conn.execute("COMMIT")
    finally:
        conn.close()
    shutil.rmtree(handoff, ignore_errors=True)
