"""Ingestion assets: the inbox's files become events, one asset per event stream."""

from collections import defaultdict

import dagster as dg

from pipelines.feeds import EVENT_TYPES, FEEDS
from pipelines.ingestion.service import ingest_inbox
from pipelines.inbox.filenames import BadFileName, parse_export_name
from pipelines.resources import CarnetResource

EVENT_LOG_POOL = "event_log_writer"  # one step at a time writes events.duckdb

EVENT_ASSETS = {feed: dg.AssetKey(["event_log", EVENT_TYPES[feed]]) for feed in FEEDS}


def _feed_of(path) -> str | None:
    try:
        return parse_export_name(path).feed
    except BadFileName:
        return None


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, group_name="ingestion", kinds={"duckdb", "polars"}, owners=["team:data-engineering"],
                     description=f"Append-only `{EVENT_TYPES[feed]}` events from the centres' `{feed}` exports "
                                 "(validated by their Pandera contract, NIR pseudonymised).")
        for feed, key in EVENT_ASSETS.items()
    ],
    can_subset=True,
    pool=EVENT_LOG_POOL,
    name="ingest_inbox",
)
def ingest_inbox_asset(context: dg.AssetExecutionContext, carnet: CarnetResource):
    """Ingest every new inbox file of the selected feeds (files of no feed are judged once, with all)."""
    paths = carnet.paths()
    selected = {feed for feed, key in EVENT_ASSETS.items() if key in context.selected_asset_keys}
    all_selected = selected == set(FEEDS)
    per_feed: dict[str, list] = defaultdict(list)
    with carnet.event_log() as event_log:
        receipts = ingest_inbox(
            paths.inbox, event_log, carnet.registry(), carnet.pseudonymiser(),
            only=lambda p: (_feed_of(p) in selected) or (all_selected and _feed_of(p) is None),
        )
    for r in receipts:
        per_feed[_feed_of(r.file_name) or "unreadable"].append(r)
    for feed in sorted(selected):
        rs = per_feed.get(feed, [])
        table = "\n".join(
            f"| {r.file_name} | {r.status} | {r.rows_read if r.rows_read is not None else '—'} | {r.rows_appended} | "
            f"{r.rows_duplicate} | {r.rows_quarantined} |" for r in rs[:200])
        yield dg.MaterializeResult(
            asset_key=EVENT_ASSETS[feed],
            metadata={
                "files": len(rs),
                "rows_read": sum(r.rows_read or 0 for r in rs),
                "rows_appended": sum(r.rows_appended for r in rs),
                "rows_duplicate": sum(r.rows_duplicate for r in rs),
                "rows_quarantined": sum(r.rows_quarantined for r in rs),
                "files_quarantined_whole": sum(r.status != "ingested" for r in rs),
                "receipts": dg.MetadataValue.md(
                    "| file | status | read | appended | duplicates | quarantined |\n|---|---|---|---|---|---|\n" + table
                    if rs else "no new file"),
            },
        )
    if per_feed.get("unreadable"):
        context.log.warning(f"{len(per_feed['unreadable'])} file(s) with a bad name were quarantined whole")
