"""The inbox sensor: launch ingestion when new files have landed and stopped growing."""

import hashlib
import json

import dagster as dg

from pipelines.ingestion.service import entry_size, inbox_files
from pipelines.resources import CarnetResource


def inbox_snapshot(inbox) -> dict[str, int]:
    return {str(p.relative_to(inbox)): entry_size(p) for p in inbox_files(inbox)} if inbox.exists() else {}


def build_inbox_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=60, name="inbox_sensor",
               description="Ingests new inbox files once their size is stable between two ticks "
                           "(a file still being written is left for the next tick).")
    def inbox_sensor(context: dg.SensorEvaluationContext, carnet: CarnetResource):
        inbox = carnet.paths().inbox
        now = inbox_snapshot(inbox)
        cursor = json.loads(context.cursor) if context.cursor else {}
        before, requested = cursor.get("sizes", {}), set(cursor.get("requested", []))
        stable = sorted(k for k, size in now.items() if before.get(k) == size and k not in requested)
        context.update_cursor(json.dumps({"sizes": now, "requested": sorted((requested & set(now)) | set(stable))}))
        if not stable:
            return dg.SkipReason("no new file with a stable size yet")
        # only the stable files are ingested; ingestion itself skips files already in the log
        return dg.RunRequest(
            run_key="inbox:" + hashlib.sha256("\n".join(stable).encode()).hexdigest()[:16],
            run_config={"ops": {"ingest_inbox": {"config": {"files": stable, "settle_seconds": 0}}}},
            tags={"carnet/files": str(len(stable))})

    return inbox_sensor
