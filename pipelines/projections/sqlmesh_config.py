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
    """The project's configuration: DuckDB with the warehouse and the event log (read only) attached,
    DuckDB's memory ceiling and spill folder, and the variables that bound a build (`as_of`,
    `log_position`; unbounded, each key's latest version is its head in `log.heads`, which the
    ingestion keeps as the fold of the log, so `heads_are_latest`)."""
    from sqlmesh.core.config import Config, DuckDBConnectionConfig, GatewayConfig, ModelDefaultsConfig
    from sqlmesh.core.config.connection import DuckDBAttachOptions

    paths = settings.paths
    warehouse = warehouse or paths.warehouse_db
    bounded = as_of is not None or log_position is not None
    connection = DuckDBConnectionConfig(
        catalogs={"warehouse": str(warehouse),
                  "events": DuckDBAttachOptions(type="duckdb", path=str(paths.events_db), read_only=True)},
        connector_config={"memory_limit": settings.duckdb_memory_limit, "temp_directory": str(paths.spill)})
    return Config(
        gateways={"local": GatewayConfig(connection=connection)},
        default_gateway="local",
        cache_dir=str(cache_dir(warehouse)),
        disable_anonymized_analytics=True,  # no network here, and no telemetry on health data pipelines
        # no Python models: nothing to infer, and inferring scans every installed package at each plan
        infer_python_dependencies=False,
        model_defaults=ModelDefaultsConfig(dialect="duckdb", start="2017-01-01", cron="@daily"),
        variables={"as_of": as_of.isoformat(sep=" ") if as_of is not None else NO_AS_OF,
                   "log_position": str(int(log_position)) if log_position is not None else NO_LOG_POSITION,
                   "heads_are_latest": not bounded},
    )
