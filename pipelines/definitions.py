"""carnet's Dagster definitions: composition only."""
from __future__ import annotations

import dagster as dg

from pipelines.ingestion.assets import ingest_inbox_asset
from pipelines.ingestion.sensors import build_inbox_sensor
from pipelines.resources import CarnetResource

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.groups("ingestion"),
    description="Ingest every new inbox file into the event log.",
)

defs = dg.Definitions(
    assets=[ingest_inbox_asset],
    jobs=[ingest_job],
    sensors=[build_inbox_sensor(ingest_job)],
    resources={"carnet": CarnetResource()},
)
