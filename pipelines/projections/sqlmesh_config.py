"""SQLMesh's configuration, built from carnet's settings: one definition for `sqlmesh plan` and
`sqlmesh test` (through `config.py`) and for carnet's refreshes, which build it for the warehouse
and the bounds of each build, instead of passing them through the environment."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from pipelines.settings import Settings

# Unbounded builds read every event: the bounds then are the largest recorded time and position.
NO_AS_OF = "9999-12-31 23:59:59"
NO_LOG_POSITION = str(2**63 - 1)


def cache_dir(warehouse: Path) -> Path:
    """SQLMesh's cache for one warehouse. It keeps snapshots as that warehouse's state recorded
    them (versions, change categories): shared between warehouses, one warehouse would be planned
    with another's table versions (after a model change, SQLMesh aborts the next restatement)."""
    return warehouse.with_suffix(".sqlmesh-cache")


def sqlmesh_config(settings: Settings, *, warehouse: Path | None = None, as_of: dt.datetime | None = None,
                   log_position: int | None = None):
    """The project's configuration for the engine of `settings` (CARNET_ENGINE).

    - `local`, always: DuckDB with the warehouse and the event log (read only) attached, DuckDB's
      memory ceiling and spill folder; SQLMesh's state in the warehouse.
    - `spark`, declared only for CARNET_ENGINE=spark (a DuckDB run never imports pyspark nor starts a
      JVM), then the default: Spark's session settings (`spark.session_config`), SQLMesh's state in a
      DuckDB file beside the warehouse, tables stored as Parquet.

    Variables bound a build (`as_of`, `log_position`). Unbounded on DuckDB, each key's latest
    version is its head in `log.heads`, which the ingestion keeps as the fold of the log
    (`heads_are_latest`); Spark reads the log's Parquet export, which has no heads, and folds."""
    from sqlmesh.core.config import Config, DuckDBConnectionConfig, GatewayConfig, ModelDefaultsConfig
    from sqlmesh.core.config.connection import DuckDBAttachOptions

    paths = settings.paths
    warehouse = warehouse or paths.warehouse_db
    bounded = as_of is not None or log_position is not None
    connection = DuckDBConnectionConfig(
        catalogs={"warehouse": str(warehouse),
                  "events": DuckDBAttachOptions(type="duckdb", path=str(paths.events_db), read_only=True)},
        connector_config={"memory_limit": settings.duckdb_memory_limit, "temp_directory": str(paths.spill)})
    gateways = {"local": GatewayConfig(connection=connection)}
    defaults = dict(dialect="duckdb", start="2017-01-01", cron="@daily")
    if settings.engine == "spark":
        from sqlmesh.core.config.connection import SparkConnectionConfig

        from pipelines.projections.spark import session_config, state_db

        gateways["spark"] = GatewayConfig(
            # no column comments: Spark refuses them on partition columns, and analysts read the DuckDB copy
            connection=SparkConnectionConfig(config=session_config(settings, warehouse), register_comments=False),
            state_connection=DuckDBConnectionConfig(database=str(state_db(warehouse)), concurrent_tasks=4))
        defaults["storage_format"] = "parquet"
    return Config(
        gateways=gateways,
        default_gateway="spark" if settings.engine == "spark" else "local",
        cache_dir=str(cache_dir(warehouse)),
        disable_anonymized_analytics=True,  # no network here, and no telemetry on health data pipelines
        # no Python models: nothing to infer, and inferring scans every installed package at each plan
        infer_python_dependencies=False,
        model_defaults=ModelDefaultsConfig(**defaults),
        variables={"as_of": as_of.isoformat(sep=" ") if as_of is not None else NO_AS_OF,
                   "log_position": str(int(log_position)) if log_position is not None else NO_LOG_POSITION,
                   "heads_are_latest": settings.engine == "duckdb" and not bounded},
    )
