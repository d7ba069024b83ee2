"""A thin integration over SQLMesh's Python `Context`: the same config.yaml as the CLI.

Paths reach SQLMesh through environment variables rendered by config.yaml, set only for the
duration of a refresh. An as-of build writes its own warehouse file, so that the current
warehouse (and its SQLMesh state) is never disturbed by a look into the past.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from graphlib import TopologicalSorter
from pathlib import Path

from pipelines.settings import CarnetPaths

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = "prod"


@dataclass(frozen=True)
class ModelNode:
    name: str               # schema.table
    kind: str
    description: str
    depends_on: tuple[str, ...]  # schema.table of parents (events.log.events for the log)


@dataclass(frozen=True)
class RefreshResult:
    warehouse: Path
    as_of: dt.datetime | None
    seconds: float
    row_counts: dict[str, int]


def _short(fqn: str) -> str:
    parts = [p.strip('"') for p in fqn.split(".")]
    return ".".join(parts[-2:]) if parts[0] != "events" else ".".join(parts)


@contextlib.contextmanager
def sqlmesh_env(paths: CarnetPaths, as_of: dt.datetime | None = None):
    values = {"CARNET_HOME": str(paths.home)}
    if as_of is not None:
        values["CARNET_AS_OF"] = as_of.isoformat(sep=" ")
        values["CARNET_WAREHOUSE"] = str(as_of_warehouse(paths, as_of))
    saved = {k: os.environ.get(k) for k in ("CARNET_HOME", "CARNET_AS_OF", "CARNET_WAREHOUSE")}
    os.environ.update(values)
    for k in ("CARNET_AS_OF", "CARNET_WAREHOUSE"):
        if k not in values:
            os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def as_of_warehouse(paths: CarnetPaths, as_of: dt.datetime) -> Path:
    return paths.home / "as_of" / f"{as_of:%Y%m%dT%H%M%S}" / "warehouse.duckdb"


def _forget_duckdb_adapters() -> None:
    """SQLMesh caches one DuckDB adapter per data file for the whole process; the log file is
    shared by the current and the as-of warehouses, so a cached adapter would send a refresh
    to the wrong warehouse. Each refresh therefore starts and ends with an empty cache."""
    from sqlmesh.core.config.connection import BaseDuckDBConnectionConfig

    BaseDuckDBConnectionConfig._data_file_to_adapter.clear()


def load_context():
    from sqlmesh import Context

    _forget_duckdb_adapters()
    return Context(paths=str(PROJECT_ROOT))


@lru_cache(maxsize=1)
def model_graph() -> tuple[ModelNode, ...]:
    """The models, parents first, with their lineage (reads model files only; opens no database)."""
    ctx = load_context()
    try:
        nodes = [ModelNode(_short(fqn), model.kind.name, model.description or "",
                           tuple(sorted(_short(d) for d in model.depends_on)))
                 for fqn, model in ctx.models.items()]
    finally:
        ctx.close()
        _forget_duckdb_adapters()
    by_name = {n.name: n for n in nodes}
    order = TopologicalSorter({n.name: [d for d in n.depends_on if d in by_name] for n in nodes})
    return tuple(by_name[name] for name in order.static_order())


def refresh(paths: CarnetPaths, *, as_of: dt.datetime | None = None) -> RefreshResult:
    """Rebuild the warehouse from the event log (as it stood at `as_of`, when given).

    The caller holds the event-log writer lock: DuckDB cannot open the log read-only while
    another process writes it.
    """
    started = time.perf_counter()
    with sqlmesh_env(paths, as_of):
        warehouse = as_of_warehouse(paths, as_of) if as_of else paths.warehouse_db
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        models = [n.name for n in model_graph() if n.kind != "SEED"]
        ctx = load_context()
        try:
            first_build = ctx.state_reader.get_environment(ENVIRONMENT) is None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas deprecations inside SQLMesh's seed loader
                ctx.plan(ENVIRONMENT, auto_apply=True, no_prompts=True, skip_tests=True,
                         restate_models=None if first_build else models)
            counts = {name: ctx.engine_adapter.fetchone(f"SELECT count(*) FROM {name}")[0] for name in models}
        finally:
            ctx.close()
            _forget_duckdb_adapters()
    return RefreshResult(warehouse, as_of, time.perf_counter() - started, counts)
