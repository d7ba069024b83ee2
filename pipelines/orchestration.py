"""What every domain's Dagster assets share: the event log's writer pool, the retry policy for
transient failures, and the asset keys one domain's assets depend on in another's."""
from __future__ import annotations

import contextlib

import dagster as dg
import duckdb

from pipelines.eventlog.lock import WriterBusy
from pipelines.feeds import EVENT_TYPES, FEEDS

EVENT_LOG_POOL = "event_log_writer"  # one step at a time writes events.duckdb or the warehouse

EVENT_ASSETS = {feed: dg.AssetKey(["event_log", EVENT_TYPES[feed]]) for feed in FEEDS}


def model_key(name: str) -> dg.AssetKey:
    """The asset key of a SQLMesh model (`schema.table`)."""
    return dg.AssetKey(name.split("."))


@contextlib.contextmanager
def retry_if_transient(context, max_retries: int = 3, first_wait_s: float = 30.0):
    """Transient failures (the writer lock held by another run, a file locked or still being
    written, a file-system hiccup) are retried with exponential backoff; a bug fails at once."""
    try:
        yield
    except (WriterBusy, duckdb.IOException, BlockingIOError, TimeoutError, InterruptedError) as exc:
        wait = first_wait_s * 2 ** context.retry_number
        context.log.warning(f"transient failure, retry {context.retry_number + 1}/{max_retries} in {wait:.0f}s: {exc}")
        raise dg.RetryRequested(max_retries=max_retries, seconds_to_wait=wait) from exc
