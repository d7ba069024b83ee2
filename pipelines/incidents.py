"""Incidents: one clear line per failed run, for whoever is on call in the morning."""
import datetime as dt
import re

import dagster as dg

from pipelines.resources import CarnetResource
from pipelines.settings import CarnetPaths

# Runs launched by the `carnet` CLI write their incident line themselves (the sensor needs the
# daemon, which a CLI run may not have): the sensor leaves them alone.
CLI_TAG = "carnet/launched_by"


def root_error(error):
    """The innermost cause of a Dagster step's error (Dagster wraps the exception the step raised)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error


def error_text(error) -> str:
    """The exception's own words on one line, without its (module-qualified) class name."""
    text = re.sub(rf"^[\w.]*\b{re.escape(error.cls_name)}: ", "", (error.message or "").strip())
    return " ".join(text.split())


def incident_line(job: str, run_id: str, steps: list[str], message: str) -> str:
    first = (message or "no message").strip().splitlines()[0][:500]
    return (f"{dt.datetime.now().isoformat(timespec='seconds')}\tFAILED\tjob={job}\trun={run_id}\t"
            f"steps={','.join(steps) or '-'}\t{first}")


def append_incident(paths: CarnetPaths, line: str) -> None:
    path = paths.home / "incidents.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


@dg.run_failure_sensor(name="incident_sensor", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Appends one line per failed run to $CARNET_HOME/incidents.log "
                                   "(runs of the `carnet` CLI write theirs themselves).")
def incident_sensor(context: dg.RunFailureSensorContext, carnet: CarnetResource):
    if context.dagster_run.tags.get(CLI_TAG):
        return
    steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
    errors = [f"{root_error(e.event_specific_data.error).cls_name}: {error_text(root_error(e.event_specific_data.error))}"
              for e in context.get_step_failure_events()
              if e.event_specific_data and getattr(e.event_specific_data, "error", None)]
    line = incident_line(context.dagster_run.job_name, context.dagster_run.run_id, steps,
                         errors[0] if errors else context.failure_event.message)
    append_incident(carnet.paths(), line)
    context.log.info(line)
