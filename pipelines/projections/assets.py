"""The SQLMesh models as Dagster assets, downstream of the event streams they read."""
import datetime as dt
from typing import Optional

import dagster as dg
import duckdb

from pipelines.feeds import EVENT_TYPES
from pipelines.orchestration import EVENT_ASSETS, EVENT_LOG_POOL, model_key, retry_if_transient
from pipelines.progress import report
from pipelines.projections.headlines import headlines, render
from pipelines.projections.sqlmesh_project import ModelsFailed, model_graph, refresh
from pipelines.resources import CarnetResource

_STAGING_FEED = {f"staging.stg_{feed}": feed for feed in EVENT_TYPES}


def _specs() -> list[dg.AssetSpec]:
    specs = []
    models = {node.name for node in model_graph()}
    for node in model_graph():
        deps = [model_key(d) for d in node.depends_on if d in models]  # the log's streams: below
        if node.name in _STAGING_FEED:
            deps.append(EVENT_ASSETS[_STAGING_FEED[node.name]])
        specs.append(dg.AssetSpec(
            model_key(node.name), deps=deps, group_name="models", kinds={"sqlmesh", "duckdb"},
            owners=["team:data-engineering"], description=node.description,
            metadata={"sqlmesh_kind": node.kind}))
    return specs


class RefreshConfig(dg.Config):
    as_of: Optional[str] = None  # ISO timestamp: build the marts as the log stood then (own warehouse file)
    full: bool = False           # recompute everything instead of the months new events touch
    restate_from: Optional[str] = None  # YYYY-MM: restate these months too (a backfill after a correction)
    restate_to: Optional[str] = None    # YYYY-MM, default restate_from

    def restate(self) -> tuple[dt.date, dt.date] | None:
        if not self.restate_from:
            return None
        first = dt.date.fromisoformat(self.restate_from + "-01")
        last = dt.date.fromisoformat((self.restate_to or self.restate_from) + "-01")
        end = dt.date(last.year + last.month // 12, last.month % 12 + 1, 1) - dt.timedelta(days=1)
        return first, end


@dg.multi_asset(specs=_specs(), pool=EVENT_LOG_POOL, name="sqlmesh_models")
def sqlmesh_models(context: dg.AssetExecutionContext, config: RefreshConfig, carnet: CarnetResource):
    """Plan and apply the SQLMesh project on the warehouse. SQLMesh runs each model's audits as it
    builds it: a failed audit fails the step, naming the model and the audit, and nothing downstream
    (the release) runs."""
    as_of = dt.datetime.fromisoformat(config.as_of) if config.as_of else None
    paths = carnet.paths()
    with retry_if_transient(context), carnet.writer_lock():  # the log is read while no one writes it
        try:
            result = refresh(paths, as_of=as_of, full=config.full, restate=config.restate(),
                             settings=carnet.settings(),
                             on_model=lambda name, done, total: report(
                                 context.log, f"model {done}/{total} built: {name}", done=done, total=total,
                                 label="models"))
        except ModelsFailed as exc:  # the marts keep their last good state; nothing downstream runs
            raise dg.Failure(f"SQLMesh: {exc}", allow_retries=False) from exc
    conn = duckdb.connect(str(result.warehouse), read_only=True)
    try:
        table = render(headlines(conn))
    finally:
        conn.close()
    report(context.log, f"marts: {result.mode} refresh of {result.warehouse} in {result.seconds:.1f}s"
           + (f", act months {result.restated_from}..{result.restated_to}" if result.restated_from else "")
           + (" (nothing new in the log)" if result.mode == "unchanged" else ""))
    for node in model_graph():
        metadata = {"warehouse": str(result.warehouse), "seconds": round(result.seconds, 2), "mode": result.mode,
                    "log_high_water_event_id": result.high_water_event_id}
        if result.restated_from and node.kind.startswith("INCREMENTAL"):
            metadata["restated"] = f"{result.restated_from}..{result.restated_to}"
        if node.name in result.row_counts:
            metadata["row_count"] = result.row_counts[node.name]
        if node.name.startswith("marts."):
            metadata["headlines"] = dg.MetadataValue.md(table)
        if as_of:
            metadata["as_of"] = as_of.isoformat()
        if node.audits:
            metadata["audits_passed"] = dg.MetadataValue.json(list(node.audits))
        yield dg.MaterializeResult(asset_key=model_key(node.name), metadata=metadata)
