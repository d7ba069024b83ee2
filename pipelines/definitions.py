"""carnet's Dagster definitions: composition only."""
import dagster as dg

from pipelines.incidents import incident_sensor
from pipelines.ingestion.assets import ingest_inbox_asset, log_parquet
from pipelines.ingestion.sensors import build_inbox_sensor
from pipelines.projections.assets import sqlmesh_models
from pipelines.publication.assets import observatory, quality_gate, release_candidate
from pipelines.publication.resources import QualityGateResource
from pipelines.resources import CarnetResource
from pipelines.schedules import nightly_refresh_job, nightly_refresh_schedule

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.groups("ingestion"),
    description="Ingest every new inbox file into the event log.",
)

defs = dg.Definitions(
    assets=[ingest_inbox_asset, log_parquet, sqlmesh_models, release_candidate, observatory],
    asset_checks=[quality_gate],
    jobs=[ingest_job, nightly_refresh_job],
    schedules=[nightly_refresh_schedule],
    sensors=[build_inbox_sensor(ingest_job), incident_sensor],
    resources={"carnet": CarnetResource(), "gate": QualityGateResource()},
    # Steps run one after the other anyway (one writer at a time): one process per run imports
    # Dagster, SQLMesh and Pandera once, not once per step.
    executor=dg.in_process_executor,
)
