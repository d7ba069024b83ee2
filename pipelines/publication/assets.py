"""Publication as Dagster assets: stage a release, gate it (blocking check), publish it."""
import dagster as dg

from pipelines.orchestration import EVENT_LOG_POOL, model_key, retry_if_transient
from pipelines.publication.report import headlines
from pipelines.publication.release import current_manifest, promote, read_tables, reject, stage, staged_release
from pipelines.publication.secrecy import secrecy_settings
from pipelines.publication.resources import QualityGateResource
from pipelines.resources import CarnetResource
from pipelines.settings import OBSERVATORY_FILE

_SOURCES = ["publication.residents_activity_yearly", "publication.residents_reattachment_yearly",
            "publication.residents_territory_yearly", "publication.cost_per_consultation_yearly",
            "marts.gp_reattachment_monthly"]


@dg.asset(key=["publication", "release_candidate"], group_name="publication", pool=EVENT_LOG_POOL,
          deps=[model_key(m) for m in _SOURCES], kinds={"duckdb", "parquet", "html"},
          owners=["team:data-engineering"], output_required=False)
def release_candidate(context: dg.AssetExecutionContext, carnet: CarnetResource):
    """The next observatory release, staged (file, extracts, report, manifest) with secrecy applied;
    nothing is published until the quality gate passes. Nothing is staged (and the gate and the
    publication are skipped) when the current release was computed from the same inputs."""
    paths = carnet.paths()
    with retry_if_transient(context), carnet.writer_lock():
        staged = stage(paths, run=context.run_id, settings=secrecy_settings(carnet.settings()), only_if_changed=True)
    if staged is None:
        current = current_manifest(paths)
        context.log.info(f"nothing new since release {current['release_id']} (log position "
                         f"{current['log']['high_water_event_id']}, same sources and settings): no release staged")
        return
    tables = read_tables(staged.directory / OBSERVATORY_FILE)
    metadata = {"release_id": staged.release_id, "directory": str(staged.directory),
                "log_high_water_event_id": staged.manifest["log"]["high_water_event_id"],
                "secrecy_threshold": staged.manifest["secrecy"]["threshold"],
                "headlines": dg.MetadataValue.md("\n\n".join(headlines(tables).values()))}
    for name, frame in tables.items():
        metadata[f"rows.{name}"] = frame.height
        if "suppressed" in frame.columns:
            metadata[f"suppressed.{name}"] = int(frame["suppressed"].sum())
    context.log.info(f"staged release {staged.release_id}")
    yield dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=release_candidate, blocking=True, name="quality_gate",
                description="Great Expectations on the staged tables: grain, ranges, secrecy, no collapse in rows.")
def quality_gate(context: dg.AssetCheckExecutionContext, carnet: CarnetResource,
                 gate: QualityGateResource) -> dg.AssetCheckResult:
    paths = carnet.paths()
    staged = staged_release(paths, context.run.run_id)
    result = gate.gate(carnet.settings(), staged)
    docs = str(staged.directory / "data_docs" / "index.html")
    if not result.success:
        blocked = reject(paths, staged, result.failures)
        context.log.error(str(blocked))
        docs = str(paths.releases / f"{staged.release_id}.rejected" / "data_docs" / "index.html")
    return dg.AssetCheckResult(
        passed=result.success, severity=dg.AssetCheckSeverity.ERROR,
        description=result.summary(),
        metadata={"expectations": result.expectations, "failures": dg.MetadataValue.json(result.failures),
                  "data_docs": dg.MetadataValue.path(docs), "release_id": staged.release_id})


@dg.asset(key=["publication", "observatory"], group_name="publication", pool=EVENT_LOG_POOL,
          deps=[release_candidate], kinds={"duckdb"}, owners=["team:data-engineering"])
def observatory(context: dg.AssetExecutionContext, carnet: CarnetResource) -> dg.MaterializeResult:
    """The published observatory file ($CARNET_HOME/carnet_observatory.duckdb), replaced atomically by the
    release that passed its gate."""
    paths = carnet.paths()
    with retry_if_transient(context), carnet.writer_lock():
        staged = staged_release(paths, context.run_id)
        final = promote(paths, staged)
    context.log.info(f"published release {staged.release_id} to {paths.observatory_db}")
    return dg.MaterializeResult(metadata={
        "release_id": staged.release_id, "file": dg.MetadataValue.path(str(paths.observatory_db)),
        "report": dg.MetadataValue.path(str(final / "report.html")),
        "extracts": dg.MetadataValue.path(str(final / "extracts"))})
