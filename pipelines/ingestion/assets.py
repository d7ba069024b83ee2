"""Ingestion assets: the inbox's files become events, one asset per event stream."""

import contextlib
import time
from collections import defaultdict
from typing import Iterator, Optional

import dagster as dg

from pipelines.feeds import EVENT_TYPES, FEEDS
from pipelines.ingestion.service import inbox_files, ingest_inbox
from pipelines.orchestration import EVENT_ASSETS, EVENT_LOG_POOL, retry_if_transient
from pipelines.progress import report
from pipelines.inbox.filenames import BadFileName, parse_export_name
from pipelines.resources import CarnetResource
from pipelines.settings import ConfigurationError

class IngestConfig(dg.Config):
    centres: list[str] = []  # only these centres' files (FINESS); empty: every centre
    files: list[str] = []    # only these files (names relative to the inbox), as the inbox sensor asks
    settle_seconds: Optional[float] = None  # a file changed within this time is left for later


def settled_files(inbox, seconds: float) -> set[str]:
    """Files untouched for `seconds` (size and modification time unchanged) when we decide.
    We wait only as long as the youngest file needs: an inbox dropped hours ago costs no wait,
    and a file still being written is left for the next run."""
    looked = {}
    for p in inbox_files(inbox):
        with contextlib.suppress(FileNotFoundError):
            looked[p] = p.lstat()  # a link is judged as a link, never followed
    youngest = max((st.st_mtime for st in looked.values()), default=0.0)
    wait = min(seconds, youngest + seconds - time.time())
    if wait > 0:
        time.sleep(wait)
    untouched_since = time.time() - seconds
    settled = set()
    for p, before in looked.items():
        try:
            now = p.lstat()
        except FileNotFoundError:
            continue
        if (now.st_size, now.st_mtime) == (before.st_size, before.st_mtime) and now.st_mtime <= untouched_since:
            settled.add(str(p.relative_to(inbox)))
    return settled


def _feed_of(path) -> str | None:
    try:
        return parse_export_name(path).feed
    except BadFileName:
        return None


def _feed_results(feed: str, rs: list) -> Iterator:
    """A feed's materialisation (what its new files brought) and its `contract` check."""
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
            "whole_file_reasons": dg.MetadataValue.json({r.file_name: r.reason for r in rs if r.status != "ingested"}),
            "receipts": dg.MetadataValue.md(
                "| file | status | read | appended | duplicates | quarantined |\n|---|---|---|---|---|---|\n" + table
                if rs else "no new file"),
        },
    )
    # every receipt reconciles (the log refuses one that does not: its file is quarantined whole)
    quarantined = {r.file_name: r.rows_quarantined for r in rs if r.rows_quarantined or r.status != "ingested"}
    yield dg.AssetCheckResult(
        asset_key=EVENT_ASSETS[feed], check_name="contract", passed=not quarantined,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(quarantined)} of {len(rs)} new file(s) with quarantined rows" if quarantined
        else f"{len(rs)} new file(s), every row valid",
        metadata={"files": len(rs), "rows_quarantined": sum(r.rows_quarantined for r in rs),
                  "files_quarantined_whole": sum(r.status != "ingested" for r in rs),
                  "quarantined_by_file": dg.MetadataValue.json(dict(sorted(quarantined.items())[:200]))})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, group_name="ingestion", kinds={"duckdb", "polars"}, owners=["team:data-engineering"],
                     description=f"Append-only `{EVENT_TYPES[feed]}` events from the centres' `{feed}` exports "
                                 "(validated by their Pandera contract, NIR pseudonymised).")
        for feed, key in EVENT_ASSETS.items()
    ],
    check_specs=[dg.AssetCheckSpec("contract", asset=key, description=(
        "The feed's Pandera contract on the new files: rows read = appended + duplicates + quarantined, "
        "and how many rows were quarantined per file (a warning, it does not block)")) for key in EVENT_ASSETS.values()],
    can_subset=True,
    pool=EVENT_LOG_POOL,
    name="ingest_inbox",
)
def ingest_inbox_asset(context: dg.AssetExecutionContext, config: IngestConfig, carnet: CarnetResource):
    """Ingest every new inbox file of the selected feeds (files of no feed are judged once, with all)."""
    paths = carnet.paths()
    selected = {feed for feed, key in EVENT_ASSETS.items() if key in context.selected_asset_keys}
    all_selected = selected == set(FEEDS)
    settle = config.settle_seconds if config.settle_seconds is not None else carnet.settings().inbox_settle_seconds
    ready = settled_files(paths.inbox, settle)
    unknown = [c for c in config.centres if carnet.registry().get(c) is None]
    if unknown:
        raise ConfigurationError(f"unknown centre(s) {', '.join(unknown)}: not in seeds/centres.csv; "
                                 "use FINESS numbers of the registry")

    def wanted(p) -> bool:
        name = str(p.relative_to(paths.inbox))
        if name not in ready or (config.files and name not in config.files):
            return False
        if config.centres and p.name.split("__")[0] not in config.centres:
            return False
        return (_feed_of(p) in selected) or (all_selected and _feed_of(p) is None)

    per_feed: dict[str, list] = defaultdict(list)
    with retry_if_transient(context), carnet.event_log() as event_log:
        known = event_log.ledger.known_files()
        todo = [p for p in inbox_files(paths.inbox) if wanted(p) and p.name not in known]
        done: list = []

        appended = [0]

        def progress(receipt) -> None:  # the run log gets a line every 5 %; a terminal, a bar
            done.append(receipt)
            appended[0] += receipt.rows_appended
            step = max(1, len(todo) // 20)
            if len(done) % step == 0 or len(done) == len(todo):
                report(context.log, f"ingested {len(done):,}/{len(todo):,} files, {appended[0]:,} rows appended",
                       done=len(done), total=len(todo), label="ingestion")

        receipts = ingest_inbox(paths.inbox, event_log, carnet.registry(), carnet.pseudonymiser(), only=wanted,
                                on_receipt=progress)
    for r in receipts:
        per_feed[_feed_of(r.file_name) or "unreadable"].append(r)
    for feed in sorted(selected):
        yield from _feed_results(feed, per_feed.get(feed, []))
    waiting = len(inbox_files(paths.inbox)) - len(ready)
    if waiting:
        report(context.log, f"{waiting} file(s) still being written (changed within the last {settle}s): "
                            "left for the next run")
    if not receipts:
        report(context.log, f"no new file in {paths.inbox}")
    for r in receipts:  # the run's log; the CLI lists them in its summary
        if r.status != "ingested":
            context.log.warning(f"{r.file_name}: {r.status} whole: {r.reason}")


LOG_PARQUET = dg.AssetKey(["event_log", "parquet"])


@dg.asset(
    key=LOG_PARQUET, deps=list(EVENT_ASSETS.values()), group_name="ingestion", kinds={"duckdb", "parquet"},
    owners=["team:data-engineering"], pool=EVENT_LOG_POOL,
    description="The event log's streams as Hive-partitioned Parquet ($CARNET_HOME/log-parquet), exported by log "
                "position after each ingestion: what another engine (Spark) reads. Derived: removable, re-exported.")
def log_parquet(context: dg.AssetExecutionContext, carnet: CarnetResource) -> dg.MaterializeResult:
    from pipelines.eventlog.parquet_export import export
    from pipelines.eventlog.store import connect

    paths = carnet.paths()
    with retry_if_transient(context), carnet.writer_lock():
        if not paths.events_db.exists():
            return dg.MaterializeResult(metadata={"exported_through": 0, "events": 0})
        # the writer's memory ceiling: a partitioned COPY of a whole log otherwise takes DuckDB's default
        conn = connect(paths.events_db, read_only=True, config=carnet.settings().duckdb_config(paths))
        try:
            result = export(conn, paths.log_parquet)
        finally:
            conn.close()
    report(context.log, f"log exported to Parquet through event {result.exported_through:,} "
                        f"({result.events:,} new events, {result.files} new files)")
    return dg.MaterializeResult(metadata={"exported_through": result.exported_through, "events": result.events,
                                          "files": result.files, "path": str(paths.log_parquet)})
