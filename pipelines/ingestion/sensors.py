"""The inbox sensor: launch ingestion when new files have landed and stopped growing."""

import json

import dagster as dg

from pipelines.ingestion.service import inbox_files
from pipelines.settings import carnet_paths


def inbox_snapshot(inbox) -> dict[str, int]:
    return {str(p.relative_to(inbox)): p.stat().st_size for p in inbox_files(inbox)} if inbox.exists() else {}


def build_inbox_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=60, name="inbox_sensor",
               description="Ingests new inbox files once their size is stable between two ticks "
                           "(a file still being written is left for the next tick).")
    def inbox_sensor(context: dg.SensorEvaluationContext):
        inbox = carnet_paths().inbox
        now = inbox_snapshot(inbox)
        before = json.loads(context.cursor) if context.cursor else {}
        stable = sorted(k for k, size in now.items() if before.get(k) == size)
        context.update_cursor(json.dumps(now))
        if not stable:
            return dg.SkipReason("no file with a stable size yet")
        # The run key makes a set of files launch once; ingestion itself skips files already in the log.
        return dg.RunRequest(run_key=f"inbox:{len(stable)}:{hash(tuple(stable)) & 0xFFFFFFFF:x}")

    return inbox_sensor
