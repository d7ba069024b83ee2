"""Jobs and schedules that span domains."""
import dagster as dg

nightly_refresh_job = dg.define_asset_job(
    "nightly_refresh",
    selection=dg.AssetSelection.groups("ingestion", "models", "publication"),
    description="Ingest the inbox, rebuild the marts from the event log, then publish the observatory release "
                "(if its quality gate passes).",
)

nightly_refresh_schedule = dg.ScheduleDefinition(
    name="nightly_refresh_schedule", job=nightly_refresh_job, cron_schedule="0 2 * * *",
    execution_timezone="Europe/Paris", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night at 02:00 Paris time, after the centres' nightly extracts.",
)
