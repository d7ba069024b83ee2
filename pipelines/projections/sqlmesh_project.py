"""A thin integration over SQLMesh's Python `Context`, configured as `sqlmesh plan` is
(`sqlmesh_config`), for the warehouse and the bounds of each build. An as-of build writes its own
warehouse file, so that the current warehouse (and its SQLMesh state) is never disturbed by a look
into the past.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import shutil
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Callable

from pipelines.projections.sqlmesh_config import cache_dir, sqlmesh_config
from pipelines.projections.sources import register_duckdb, register_spark
from pipelines.settings import CarnetPaths, Settings


PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = "prod"


@dataclass(frozen=True)
class ModelNode:
    name: str               # schema.table
    kind: str
    description: str
    depends_on: tuple[str, ...]  # schema.table of parents (log.acts, ... for the log: `sources.py`)
    fingerprint: str = ""        # SQLMesh's data hash: changes when what the model computes changes
    audits: tuple[str, ...] = ()  # the SQLMesh audits run with the model


@dataclass(frozen=True)
class RefreshResult:
    warehouse: Path
    as_of: dt.datetime | None
    seconds: float
    row_counts: dict[str, int]
    mode: str = "full"                      # full | incremental | unchanged | upgraded
    high_water_event_id: int = 0            # the log position the marts reflect
    restated_from: dt.date | None = None    # incremental: act months restated
    restated_to: dt.date | None = None
    excluded_patients: int = 0              # patients left out after their objection


def _short(fqn: str) -> str:
    """schema.table of a fully qualified name (the catalog is the engine's: warehouse, spark_catalog)."""
    return ".".join(p.strip('"`') for p in fqn.split(".")[-2:])


def as_of_warehouse(paths: CarnetPaths, as_of: dt.datetime | None, log_position: int | None = None) -> Path:
    name = "_".join(([f"{as_of:%Y%m%dT%H%M%S}"] if as_of else []) + ([f"log{log_position}"] if log_position else []))
    return paths.home / "as_of" / name / "warehouse.duckdb"


def _forget_duckdb_adapters() -> None:
    """SQLMesh caches one DuckDB adapter per data file for the whole process; the log file is
    shared by the current and the as-of warehouses, so a cached adapter would send a refresh
    to the wrong warehouse. Each refresh therefore starts and ends with an empty cache."""
    from sqlmesh.core.config.connection import BaseDuckDBConnectionConfig

    BaseDuckDBConnectionConfig._data_file_to_adapter.clear()


class ModelsFailed(RuntimeError):
    """A model or one of its audits failed: the message names each, with SQLMesh's reason; the
    environment keeps its last good state."""


def _failure_text(error) -> str:
    cause = error.__cause__ or error
    node = getattr(error, "node", None)
    name = _short(getattr(node, "snapshot_name", None) or getattr(node, "name", None) or "a model")
    return f"{name}: {' '.join(str(cause).split())}"


def _carnet_console(on_model: Callable[[str, int, int], None] | None):
    """A SQLMesh console that prints nothing: it tells `on_model` which model was just built (name,
    done, total) and keeps the models that failed, with their reasons (an audit's name and count),
    which SQLMesh would otherwise only print before raising "Plan application failed"."""
    from sqlmesh.core.console import NoopConsole

    class CarnetConsole(NoopConsole):
        failures: list[str] = []

        def start_evaluation_progress(self, batched_intervals, environment_naming_info, default_catalog,
                                      audit_only=False):
            self._total, self._done = len(batched_intervals), set()

        def update_snapshot_evaluation_progress(self, snapshot, interval, batch_idx, duration_ms, *args, **kwargs):
            if on_model is not None and snapshot.name not in self._done:
                self._done.add(snapshot.name)
                on_model(_short(snapshot.name), len(self._done), self._total)

        def log_failed_models(self, errors) -> None:
            self.failures = self.failures + [_failure_text(e) for e in errors]

    return CarnetConsole()


def load_context(on_model: Callable[[str, int, int], None] | None = None, config=None):
    """A Context for planning and auditing. It does not parse the YAML unit tests (`sqlmesh test`
    and the test suite run them; every plan here skips them), which would cost each context a parse.
    `on_model(name, done, total)` is told of each model as it is built. `config`: SQLMesh's
    configuration (`sqlmesh_config`), by default that of the environment's settings, unbounded."""
    from sqlmesh import Context
    from sqlmesh.core.loader import SqlMeshLoader

    class PlanLoader(SqlMeshLoader):
        def load_model_tests(self):
            return []

    _forget_duckdb_adapters()
    ctx = Context(paths=str(PROJECT_ROOT), loader=PlanLoader,
                  config=config if config is not None else sqlmesh_config(Settings.from_environment()))
    ctx.console = _carnet_console(on_model)  # read when a plan is evaluated, not at load
    return ctx


@lru_cache(maxsize=1)
def model_graph() -> tuple[ModelNode, ...]:
    """The models, parents first, with their lineage (reads model files only; opens no database).

    Fingerprints are those of an unbounded refresh, the one releases are built from: a bound sets
    variables (`heads_are_latest`), which SQLMesh folds into the fingerprint of the models using
    them, so a rebuild cut at a release's position would otherwise see every such model as changed.
    Read with the DuckDB configuration whatever the engine: SQLMesh connects when it loads a project,
    and a Spark session started here (at import, for the asset specs) would keep one warehouse's
    settings for the whole process."""
    settings = dataclasses.replace(Settings.from_environment(), engine="duckdb")
    ctx = load_context(config=sqlmesh_config(settings))
    try:
        nodes = [ModelNode(_short(fqn), str(model.kind.name.value), model.description or "",
                           tuple(sorted(_short(d) for d in model.depends_on)), model.data_hash,
                           tuple(name for name, _ in model.audits))
                 for fqn, model in ctx.models.items()]
    finally:
        ctx.close()
        _forget_duckdb_adapters()
    by_name = {n.name: n for n in nodes}
    order = TopologicalSorter({n.name: [d for d in n.depends_on if d in by_name] for n in nodes})
    return tuple(by_name[name] for name in order.static_order())


def _log_state(paths: CarnetPaths, since_event_id: int | None) -> tuple[int, dt.date | None, dt.date | None]:
    """The log's high-water mark, and the first and last month touched by acts appended after
    `since_event_id` (every version of a touched act counts: a corrected act date moves it)."""
    from pipelines.eventlog.store import connect

    conn = connect(paths.events_db, read_only=True)
    try:
        high = conn.execute("SELECT coalesce(max(event_id), 0) FROM log.events").fetchone()[0]
        if since_event_id is None:
            return high, None, None
        lo, hi = conn.execute("""
            SELECT min(occurred_at), max(occurred_at) FROM log.acts
            WHERE business_key IN (SELECT business_key FROM log.acts WHERE event_id > ?)""",
            [since_event_id]).fetchone()
    finally:
        conn.close()
    if lo is None:
        return high, None, None
    first = dt.date(lo.year, lo.month, 1)
    last = (dt.date(hi.year + hi.month // 12, hi.month % 12 + 1, 1) - dt.timedelta(days=1))
    return high, first, last


_STATE_DDL = """
CREATE SCHEMA IF NOT EXISTS carnet;
CREATE TABLE IF NOT EXISTS carnet.refreshes (
    refreshed_at TIMESTAMP NOT NULL,
    mode VARCHAR NOT NULL,             -- full | incremental | unchanged | upgraded (models changed, no new events)
    as_of TIMESTAMP,                   -- NULL: everything the log held
    high_water_event_id BIGINT NOT NULL,  -- the log position the marts reflect
    restated_from DATE,                -- incremental: first day restated for acts
    restated_to DATE,                  -- incremental: last day restated for acts
    seconds DOUBLE NOT NULL
);
ALTER TABLE carnet.refreshes ADD COLUMN IF NOT EXISTS excluded_patients BIGINT;  -- objections honoured
ALTER TABLE carnet.refreshes ADD COLUMN IF NOT EXISTS project_fingerprint VARCHAR;  -- the model files built
ALTER TABLE carnet.refreshes ADD COLUMN IF NOT EXISTS engine VARCHAR;  -- duckdb | spark (NULL: duckdb)
COMMENT ON TABLE carnet.refreshes IS 'One row per refresh of this warehouse: what the marts reflect.';
"""


def _excluded_patients(paths: CarnetPaths) -> int:
    """How many patients' events the projections leave out (right to object)."""
    import duckdb

    conn = duckdb.connect(str(paths.events_db), read_only=True)
    try:
        exists = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'vault' "
                              "AND table_name = 'excluded_pseudonyms'").fetchone()[0]
        return conn.execute("SELECT count(*) FROM vault.excluded_pseudonyms").fetchone()[0] if exists else 0
    finally:
        conn.close()


def _last_refresh(warehouse: Path, column: str) -> int | None:
    """A column of the warehouse's last refresh record (None before the first, or an older layout)."""
    import duckdb

    if not warehouse.exists():
        return None
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        has = conn.execute("SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'carnet' AND "
                           "table_name = 'refreshes' AND column_name = ?", [column]).fetchone()[0]
        row = conn.execute(f"SELECT {column} FROM carnet.refreshes ORDER BY refreshed_at DESC LIMIT 1"
                           ).fetchone() if has else None
        return row[0] if row else None
    finally:
        conn.close()


def _record(warehouse: Path, result: "RefreshResult", fingerprint: str, engine: str) -> None:
    import duckdb

    conn = duckdb.connect(str(warehouse))
    try:
        conn.execute(_STATE_DDL)
        conn.execute("INSERT INTO carnet.refreshes (refreshed_at, mode, as_of, high_water_event_id, restated_from, "
                     "restated_to, seconds, excluded_patients, project_fingerprint, engine) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [dt.datetime.now().replace(microsecond=0), result.mode, result.as_of, result.high_water_event_id,
                      result.restated_from, result.restated_to, result.seconds, result.excluded_patients,
                      fingerprint, engine])
    finally:
        conn.close()


PROJECT_PARTS = ("models", "macros", "seeds")


def project_fingerprint() -> str:
    """SHA-256 of what SQLMesh builds the warehouse from: the model, macro and seed files, the
    configuration carnet gives it and SQLMesh's version. Equal to the last refresh's, with no new
    event, the warehouse is up to date without loading SQLMesh."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256(f"sqlmesh {version('sqlmesh')}".encode())
    for module in ("sqlmesh_config.py", "sources.py", "spark.py"):  # the configuration refreshes use
        digest.update(Path(__file__).with_name(module).read_bytes())
    files = sorted(p for part in PROJECT_PARTS for p in (PROJECT_ROOT / part).rglob("*") if p.is_file()
                    and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _discard_other_engine(warehouse: Path, engine: str) -> None:
    """A warehouse another engine built is discarded, to be built again from the log: its SQLMesh state
    describes the other engine's tables. It is derived data: nothing is lost."""
    from pipelines.projections.spark import spark_dir, state_db

    last = _last_refresh(warehouse, "engine") if warehouse.exists() else None
    if not warehouse.exists() or (last or "duckdb") == engine:
        return
    for path in (warehouse, warehouse.with_name(warehouse.name + ".wal"), state_db(warehouse)):
        path.unlink(missing_ok=True)
    for folder in (cache_dir(warehouse), spark_dir(warehouse)):
        shutil.rmtree(folder, ignore_errors=True)


def _export_log(paths: CarnetPaths) -> None:
    """Bring the log's Parquet export up to the log, for an engine that reads it (Spark)."""
    from pipelines.eventlog.parquet_export import export
    from pipelines.eventlog.store import connect

    conn = connect(paths.events_db, read_only=True)
    try:
        export(conn, paths.log_parquet)
    finally:
        conn.close()


def _row_counts(warehouse: Path, nodes: list[ModelNode]) -> dict[str, int]:
    """Rows of each stored model, read from the warehouse (no SQLMesh)."""
    import duckdb

    conn = duckdb.connect(str(warehouse), read_only=True)
    try:  # our own model names
        return {n.name: conn.execute(f"SELECT count(*) FROM {n.name}").fetchone()[0] for n in nodes if n.kind != "VIEW"}
    finally:
        conn.close()


def _models_changed(ctx, environment) -> bool:
    """Whether the model files differ from what the environment was built with (a model added,
    removed or changed, or one of its parents changed)."""
    deployed = {s.name: s.fingerprint for s in environment.snapshots}
    return deployed != {s.name: s.fingerprint for s in ctx.snapshots.values()}


def _what_changed(paths: CarnetPaths, warehouse: Path, *, recompute_all: bool, log_position: int | None,
                  restate: tuple[dt.date, dt.date] | None):
    """(patients excluded, the log position of the last refresh or None to recompute everything,
    the log's high-water mark, the first and last day of the act months to restate)."""
    excluded = _excluded_patients(paths)
    # an objection changes the past: everything is recomputed without the patient
    since = None if (recompute_all or _last_refresh(warehouse, "excluded_patients") not in (None, excluded)) \
        else _last_refresh(warehouse, "high_water_event_id")
    high_water, touched_from, touched_to = _log_state(paths, since)
    if log_position is not None:
        high_water = min(high_water, int(log_position))
    if restate is not None:
        touched_from = min(touched_from or restate[0], restate[0])
        touched_to = max(touched_to or restate[1], restate[1])
    return excluded, since, high_water, (touched_from, touched_to)


def _plan(nodes: list[ModelNode], *, first_build: bool, upgraded: bool, since: int | None, high_water: int,
          restated: bool, touched: tuple[dt.date | None, dt.date | None]) -> tuple[str, dict]:
    """The refresh's mode and SQLMesh plan arguments. `since`: the log position of the last refresh
    (None: recompute everything); `touched`: the first and last day of the act months to restate."""
    kwargs: dict = dict(auto_apply=True, no_prompts=True, skip_tests=True)
    models = [n.name for n in nodes]
    if first_build:
        return "full", kwargs
    if since is None:
        return "full", dict(kwargs, restate_models=models)
    if high_water == since and not restated:
        return ("upgraded" if upgraded else "unchanged"), kwargs
    incremental = {n.name for n in nodes if n.kind.startswith("INCREMENTAL")}
    first, last = touched
    if first is None:  # only declarations or costs arrived: the FULL models are enough
        return "incremental", dict(kwargs, restate_models=[m for m in models if m not in incremental])
    return "incremental", dict(kwargs, restate_models=models, start=first, end=last)


def refresh(paths: CarnetPaths, *, as_of: dt.datetime | None = None, full: bool = False,
            log_position: int | None = None, warehouse: Path | None = None,
            restate: tuple[dt.date, dt.date] | None = None,
            on_model: Callable[[str, int, int], None] | None = None,
            settings: Settings | None = None) -> RefreshResult:
    """Bring the warehouse up to the event log (as it stood at `as_of`, or at `log_position`).

    A bounded build (`as_of` or `log_position`) goes to its own warehouse file (`warehouse`,
    by default under `as_of/`) and is always computed in full.

    A first build, an as-of build or `full=True` computes everything. Otherwise only what the
    events appended since the last refresh can change is recomputed: the FULL models (small:
    declarations, costs, the month spine, the cost mart) and, for the act models, the months
    those events touch. The caller holds the event-log writer lock: DuckDB cannot open the log
    read-only while another process writes it.

    Model files changed since the last build (a model added or edited) are deployed first: the
    new and changed models, and what depends on them, are built whole; mode `upgraded` when
    that is all there was to do.

    `restate` (first and last day) adds months to restate whatever the log says, e.g. after a
    tariff or registry correction that changes how old events are priced or placed. `on_model`
    hears of each model built (name, done, total).
    """
    started = time.perf_counter()
    bounded = as_of is not None or log_position is not None
    if warehouse is None:
        warehouse = as_of_warehouse(paths, as_of, log_position) if bounded else paths.warehouse_db
    settings = settings or Settings.from_environment(home=paths.home)
    engine = settings.engine
    config = sqlmesh_config(settings, warehouse=warehouse, as_of=as_of, log_position=log_position)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    _discard_other_engine(warehouse, engine)
    nodes = [n for n in model_graph() if n.kind != "SEED"]
    excluded, since, high_water, (touched_from, touched_to) = _what_changed(
        paths, warehouse, recompute_all=full or bounded, log_position=log_position, restate=restate)
    fingerprint = project_fingerprint()
    if (not bounded and not full and restate is None and since is not None and high_water == since
            and _last_refresh(warehouse, "project_fingerprint") == fingerprint):
        # nothing new and the same models: the warehouse is what a plan would leave, and SQLMesh's
        # context (seconds to load) is not needed to say so
        result = RefreshResult(warehouse, None, time.perf_counter() - started, _row_counts(warehouse, nodes),
                               "unchanged", high_water, None, None, excluded)
        _record(warehouse, result, fingerprint, engine)
        return result
    from sqlmesh.utils.errors import PlanError

    if engine == "spark":
        _export_log(paths)
    ctx = load_context(on_model, config)
    try:
        if engine == "spark":
            from pipelines.projections.spark import log_url

            register_spark(ctx.engine_adapter, log_url(settings))
        else:
            register_duckdb(ctx.engine_adapter)
        environment = ctx.state_reader.get_environment(ENVIRONMENT)
        first_build = environment is None
        upgraded = not first_build and _models_changed(ctx, environment)
        if upgraded:
            # SQLMesh ignores changed model files in a plan that restates: deploy them first
            # (new and changed models, and what depends on them, are built whole)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ctx.plan(ENVIRONMENT, auto_apply=True, no_prompts=True, skip_tests=True)
        mode, plan_kwargs = _plan(nodes, first_build=first_build, upgraded=upgraded, since=since,
                                  high_water=high_water, restated=restate is not None,
                                  touched=(touched_from, touched_to))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas deprecations inside SQLMesh's seed loader
            try:
                ctx.plan(ENVIRONMENT, **plan_kwargs)
            except PlanError as exc:
                raise ModelsFailed("; ".join(ctx.console.failures) or str(exc)) from exc
        if engine == "spark":  # what the publication reads, in the DuckDB warehouse
            from pipelines.projections.spark import copy_to_duckdb

            stored = [n.name for n in model_graph() if n.kind != "VIEW"]
            copy_to_duckdb(ctx.engine_adapter.spark, {name: list(ctx.get_model(name).columns_to_types)
                                                      for name in stored}, warehouse)
            counts = _row_counts(warehouse, nodes)
        else:
            # a view holds no rows of its own: counting one would compute it (the act staging
            # views fold the whole act stream)
            counts = {n.name: ctx.engine_adapter.fetchone(f"SELECT count(*) FROM {n.name}")[0]
                      for n in nodes if n.kind != "VIEW"}
    finally:
        ctx.close()
        _forget_duckdb_adapters()
        if engine == "spark":
            from pipelines.projections.spark import stop_session

            stop_session()
    result = RefreshResult(warehouse, as_of, time.perf_counter() - started, counts, mode, high_water,
                           touched_from if mode == "incremental" else None,
                           touched_to if mode == "incremental" else None, excluded)
    _record(warehouse, result, fingerprint, engine)
    return result
