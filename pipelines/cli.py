"""`carnet`: the command line for people who are not in the Dagster UI."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pipelines.eventlog.lock import WriterBusy
from pipelines.settings import ConfigurationError, carnet_paths, duckdb_config


def _say_waiting(message: str) -> None:
    print(f"carnet: {message}", file=sys.stderr, flush=True)


def _cmd_generate(args) -> int:
    from pipelines.demo.generator import generate

    out = Path(args.out)
    started = time.perf_counter()

    def progress(centre, rows):
        print(f"\r  generated {rows:>10,} rows (centre {centre})", end="", file=sys.stderr, flush=True)
    manifest = generate(out, seed=args.seed, scale=args.scale, progress=progress)
    print(file=sys.stderr)
    rows = sum(f.rows for f in manifest.files.values())
    bad = sum(len(f.bad) for f in manifest.files.values())
    print(f"wrote {len(manifest.files) + len(manifest.unreadable)} files ({rows:,} rows, {bad:,} invalid rows, "
          f"{len(manifest.unreadable)} unreadable files) to {out} in {time.perf_counter() - started:.1f}s")
    return 0


def _run_job(name: str, run_config: dict | None = None, groups: tuple[str, ...] | None = None):
    import dagster as dg

    from pipelines.definitions import defs

    job = defs.resolve_job_def(name)
    selection = None
    if groups:
        graph = defs.resolve_asset_graph()
        selection = [k for k in job.asset_layer.selected_asset_keys if graph.get(k).group_name in groups]
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=run_config or {},
                                    raise_on_error=False, asset_selection=selection)
    if not result.success:
        checks = [f"{ev.check_name}: {ev.description}" for ev in result.get_asset_check_evaluations()
                  if not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR]
        steps = [e.message for e in result.all_events if e.is_step_failure]
        raise SystemExit(f"{name} failed: " + " | ".join(m for m in checks + steps if m)[-3000:])
    return result


def _ingest_totals(result) -> dict:
    totals: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        if event.asset_key.path[0] != "event_log":
            continue
        md = event.materialization.metadata
        for k in ("files", "rows_read", "rows_appended", "rows_duplicate", "rows_quarantined"):
            totals[k] = totals.get(k, 0) + int(md[k].value)
    return totals


def _cmd_ingest(args) -> int:
    paths = carnet_paths().ensure()
    started = time.perf_counter()
    totals = _ingest_totals(_run_job("ingest_job"))
    print(f"ingested {paths.inbox} in {time.perf_counter() - started:.1f}s: " +
          ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in totals.items()))
    return 0


def _print_headlines(warehouse: Path, scale: float = 1.0) -> None:
    import duckdb

    from pipelines.projections.headlines import headlines, render

    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        print(render(headlines(conn), scale))
    finally:
        conn.close()


def _cmd_refresh(args) -> int:
    """Run the nightly refresh now (ingest, then models), or build the marts as of a past time."""
    import datetime as dt

    from pipelines.projections.sqlmesh_project import as_of_warehouse

    paths = carnet_paths().ensure()
    started = time.perf_counter()
    if args.as_of:
        try:
            as_of = dt.datetime.fromisoformat(args.as_of)
        except ValueError:
            raise ConfigurationError(f"--as-of {args.as_of!r} is not an ISO time such as 2024-06-01T02:00:00") from None
        # the log as it stood: nothing is ingested (an as-of build never writes the log) nor published
        _run_job("nightly_refresh", {"ops": {"sqlmesh_models": {"config": {"as_of": as_of.isoformat()}}}},
                 groups=("models",))
        warehouse = as_of_warehouse(paths, as_of)
    else:
        config = {"ops": {"sqlmesh_models": {"config": {"full": True}}}} if getattr(args, "full", False) else None
        result = _run_job("nightly_refresh", config)
        totals = _ingest_totals(result)
        print("ingested: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in totals.items()))
        warehouse = paths.warehouse_db
        _print_release(paths)
    print(f"marts in {warehouse} ({time.perf_counter() - started:.1f}s)")
    _print_headlines(warehouse, getattr(args, "scale", 1.0))
    return 0


def _print_release(paths) -> None:
    from pipelines.publication.release import current_manifest

    manifest = current_manifest(paths)
    if manifest:
        folder = paths.releases / manifest["release_id"]
        print(f"release {manifest['release_id']}: {paths.observatory_db}\n  report {folder / 'report.html'}\n"
              f"  extracts {folder / 'extracts'}\n  data docs {folder / 'data_docs' / 'index.html'}")


def _cmd_publish(args) -> int:
    """Stage, gate and publish a release from the current warehouse (no ingestion, no refresh)."""
    from pipelines.eventlog.lock import writer_lock
    from pipelines.publication.release import PublicationBlocked, publish

    paths = carnet_paths().ensure()
    if not paths.warehouse_db.exists():
        raise ConfigurationError(f"no warehouse in {paths.home}: run `carnet refresh` first")
    try:
        with writer_lock(paths.writer_lock, timeout_s=args.wait, on_wait=_say_waiting):
            _, gate = publish(paths)
    except PublicationBlocked as exc:
        print(f"carnet: {exc}", file=sys.stderr)
        return 1
    print(gate.summary())
    _print_release(paths)
    return 0


def _cmd_rebuild(args) -> int:
    """Rebuild a published release from the event log and compare it byte for byte."""
    import json
    import tempfile

    from pipelines.publication.release import MANIFEST, rebuild

    paths = carnet_paths()
    manifest_file = paths.releases / args.release / MANIFEST
    if not manifest_file.exists():
        known = sorted(p.name for p in paths.releases.iterdir() if (p / MANIFEST).exists()) if paths.releases.exists() else []
        raise ConfigurationError(f"no release {args.release!r} in {paths.releases}; known: {', '.join(known) or 'none'}")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix=f"carnet-rebuild-{args.release}-"))
    check = rebuild(paths, json.loads(manifest_file.read_text()), out)
    if check.identical:
        print(f"release {check.release_id} rebuilt from the event log into {check.directory}: identical")
        return 0
    print(f"release {check.release_id} rebuilt into {check.directory} DIFFERS:\n  " + "\n  ".join(check.differences))
    return 1


def _cmd_demo(args) -> int:
    """Generate the demo inbox (once) and run the main job on it."""
    os.environ.setdefault("CARNET_DEMO", "1")
    paths = carnet_paths().ensure()
    if not any(paths.inbox.iterdir()):
        args.out = str(paths.inbox)
        _cmd_generate(args)
        os.environ.setdefault("CARNET_INBOX_SETTLE_SECONDS", "0")  # we wrote these files: they are complete
    args.as_of = None
    _cmd_refresh(args)
    _cmd_status(args)
    return 0


def _read_log(paths, sql_by_name: dict[str, tuple[str, list]]) -> dict:
    """Read-only queries on the event log; a clear message while a writer holds it."""
    import duckdb

    try:
        conn = duckdb.connect(str(paths.events_db), read_only=True)
    except duckdb.IOException as exc:
        raise ConfigurationError(f"the event log {paths.events_db} is being written (an ingestion or refresh is "
                                 f"running); try again when it has finished ({exc})") from None
    try:
        return {name: conn.execute(sql, params).fetchall() for name, (sql, params) in sql_by_name.items()}
    finally:
        conn.close()


def _cmd_status(args) -> int:
    """Inbox waiting, events, files, quarantine by reason, last refresh, last release, last incident."""
    import duckdb

    from pipelines.ingestion.service import hidden_files, inbox_files
    from pipelines.publication.release import current_manifest

    paths = carnet_paths()
    if not paths.events_db.exists():
        print(f"no event log yet in {paths.home}; run `carnet ingest` (or `carnet demo`)")
        return 0
    got = _read_log(paths, {
        "events": ("SELECT event_type, count(*) FROM log.events GROUP BY 1 ORDER BY 1", []),
        "files": ("SELECT status, count(*) FROM ingest.receipts GROUP BY 1 ORDER BY 1", []),
        "known": ("SELECT DISTINCT file_name FROM ingest.receipts", []),
        "reasons": ("SELECT rule, count(*) FROM ingest.quarantine WHERE resolved_at IS NULL GROUP BY 1 ORDER BY 2 DESC, 1", []),
    })
    known = {r[0] for r in got["known"]}
    waiting = [p for p in inbox_files(paths.inbox)] if paths.inbox.exists() else []
    waiting = [p for p in waiting if p.name not in known]
    print(f"carnet home: {paths.home}")
    hidden = hidden_files(paths.inbox) if paths.inbox.exists() else []
    print(f"inbox:       {len(waiting):,} file(s) waiting" + (f" (oldest: {waiting[0].name})" if waiting else "")
          + (f"; {len(hidden):,} hidden file(s) ignored (names starting with '.', e.g. {hidden[0].name})"
             if hidden else ""))
    print("events:      " + ", ".join(f"{t} {n:,}" for t, n in got["events"]))
    print("files:       " + ", ".join(f"{s} {n:,}" for s, n in got["files"]))
    print("quarantine:  " + (", ".join(f"{r} {n:,}" for r, n in got["reasons"]) or "empty"))
    if paths.warehouse_db.exists():
        try:
            conn = duckdb.connect(str(paths.warehouse_db), read_only=True)
            try:
                last = conn.execute("SELECT refreshed_at, mode, high_water_event_id, seconds FROM carnet.refreshes "
                                    "ORDER BY refreshed_at DESC LIMIT 1").fetchone()
            finally:
                conn.close()
            print(f"last refresh: {last[0]} ({last[1]}, up to event {last[2]:,}, {last[3]:.1f}s)" if last
                  else "last refresh: none")
        except duckdb.Error:
            print("last refresh: the warehouse is being written")
    manifest = current_manifest(paths)
    print(f"last release: {manifest['release_id']} (published {manifest['published_at']})" if manifest
          else "last release: none yet")
    incidents = paths.home / "incidents.log"
    if incidents.exists() and incidents.read_text().strip():
        print("last incident: " + incidents.read_text().strip().splitlines()[-1])
    return 0


def _cmd_requeue(args) -> int:
    """Re-validate quarantined rows from their source files after a contract or registry fix."""
    from pipelines.eventlog.lock import writer_lock
    from pipelines.eventlog.store import EventLog, connect
    from pipelines.ingestion.service import requeue
    from pipelines.registry import load_registry
    from pipelines.settings import pseudonymisation_key
    from pipelines.pseudonyms import Pseudonymiser

    paths = carnet_paths().ensure()
    if not paths.events_db.exists():
        raise ConfigurationError(f"no event log in {paths.home}: nothing to requeue")
    pseudonymiser = Pseudonymiser(pseudonymisation_key())
    with writer_lock(paths.writer_lock, timeout_s=args.wait, on_wait=_say_waiting):
        conn = connect(paths.events_db, config=duckdb_config(paths))
        try:
            results = requeue(paths.inbox, EventLog(conn), load_registry(), pseudonymiser)
        finally:
            conn.close()
    if not results:
        print("quarantine is empty: nothing to requeue")
        return 0
    print("| file | retried | appended | duplicates | still quarantined | note |\n|---|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r.file_name} | {r.retried:,} | {r.appended:,} | {r.duplicates:,} | {r.still_quarantined:,} | {r.note} |")
    print(f"appended {sum(r.appended for r in results):,} row(s); "
          f"{sum(r.still_quarantined for r in results):,} still quarantined. Run `carnet refresh` to update the marts.")
    return 0


def _cmd_object(args) -> int:
    """Honour patients' objections: NIRs read from standard input (never from the command line,
    which shells keep in their history), one per line."""
    from pipelines.eventlog.lock import writer_lock
    from pipelines.eventlog.store import EventLog, connect
    from pipelines.identifiers import mask_nir, nir_is_valid
    from pipelines.pseudonyms import Pseudonymiser
    from pipelines.settings import pseudonymisation_key

    paths = carnet_paths().ensure()
    nirs = [line.strip().replace(" ", "") for line in sys.stdin if line.strip()]
    bad = [mask_nir(n) for n in nirs if not nir_is_valid(n)]
    if bad:
        raise ConfigurationError(f"not a valid NIR (15 characters with a matching key): {', '.join(bad)}; "
                                 "nothing was recorded")
    if not nirs:
        raise ConfigurationError("no NIR on standard input: e.g. `carnet object < objections.txt`")
    pseudonymiser = Pseudonymiser(pseudonymisation_key())
    with writer_lock(paths.writer_lock, timeout_s=args.wait, on_wait=_say_waiting):
        conn = connect(paths.events_db, config=duckdb_config(paths))
        log = EventLog(conn)
        try:
            log.begin()
            log.check_key(pseudonymiser.fingerprint())
            recorded = sum(log.record_objection(pseudonymiser.subject_id(n), Pseudonymiser.pseudonym) for n in nirs)
            log.commit()
        except BaseException:
            log.rollback()
            raise
        finally:
            conn.close()
    print(f"{recorded} objection(s) recorded ({len(nirs) - recorded} already known). Their events can no longer "
          "be tied to them, later exports of theirs are refused, and the next `carnet refresh` removes them from "
          "every mart and release.")
    return 0


def _cmd_quarantine(args) -> int:
    """List quarantined rows by centre, file and rule; export them for the centres to fix."""
    import csv

    from pipelines.registry import load_registry
    from pipelines.spreadsheet_cells import safe_cell

    paths = carnet_paths()
    if not paths.events_db.exists():
        raise ConfigurationError(f"no event log in {paths.home}: nothing is quarantined yet")
    if args.centre and load_registry().get(args.centre) is None:
        raise ConfigurationError(f"unknown centre {args.centre!r}: use a FINESS number of seeds/centres.csv")
    where, params = ("WHERE resolved_at IS NULL AND centre_id = ?", [args.centre]) if args.centre \
        else ("WHERE resolved_at IS NULL", [])
    got = _read_log(paths, {
        "summary": (f"SELECT coalesce(centre_id, '?'), file_name, rule, count(*) FROM ingest.quarantine {where} "
                    "GROUP BY ALL ORDER BY ALL", params),
        "rows": (f"SELECT coalesce(centre_id, 'unknown_centre'), file_name, line, column_name, value_masked, rule, "
                 f"message, all_reasons FROM ingest.quarantine {where} ORDER BY ALL", params),
    })
    if not got["summary"]:
        print("quarantine is empty" + (f" for centre {args.centre}" if args.centre else ""))
        return 0
    print("| centre | file | rule | rows |\n|---|---|---|---:|")
    for centre, file, rule, n in got["summary"]:
        print(f"| {centre} | {file} | {rule} | {n:,} |")
    if args.export:
        out = Path(args.export)
        out.mkdir(parents=True, exist_ok=True)
        by_centre: dict[str, list] = {}
        for row in got["rows"]:
            by_centre.setdefault(row[0], []).append(row[1:])
        for centre, rows in by_centre.items():
            with open(out / f"{centre}__quarantine.csv", "w", newline="", encoding="utf-8-sig") as f:
                w = csv.writer(f, delimiter=";")
                w.writerow(["fichier", "ligne", "colonne", "valeur (masquée)", "règle", "message", "toutes les raisons"])
                w.writerows([safe_cell(v) for v in row] for row in rows)
        print(f"exported {len(got['rows']):,} row(s) for {len(by_centre)} centre(s) to {out} (one CSV per centre, "
              "`;`, UTF-8 with BOM; NIRs masked; a value that a spreadsheet would run as a formula starts with ')")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="carnet", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write a deterministic demo inbox")
    g.add_argument("--out", required=True, help="the inbox folder to write")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--scale", type=float, default=1.0, help="1.0 reproduces the centres' published figures")
    g.set_defaults(fn=_cmd_generate)
    i = sub.add_parser("ingest", help="ingest new inbox files into the event log ($CARNET_HOME)")
    i.set_defaults(fn=_cmd_ingest)
    d = sub.add_parser("demo", help="generate the demo inbox in $CARNET_HOME (once) and run the main job")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--scale", type=float, default=1.0)
    d.set_defaults(fn=_cmd_demo)
    r = sub.add_parser("refresh", help="ingest the inbox and rebuild the marts (nightly_refresh)")
    r.add_argument("--as-of", help="build the marts as the log stood at this recorded time (ISO), in its own file")
    r.add_argument("--full", action="store_true", help="recompute every month instead of those new events touch")
    r.set_defaults(fn=_cmd_refresh)
    pub = sub.add_parser("publish", help="publish the observatory release from the current marts (gated)")
    pub.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a running refresh or publication")
    pub.set_defaults(fn=_cmd_publish)
    rb = sub.add_parser("rebuild", help="rebuild a release from the event log and compare it byte for byte")
    rb.add_argument("release", help="the release id (a folder of $CARNET_HOME/releases)")
    rb.add_argument("--out", help="where to rebuild (default: a new temporary folder)")
    rb.set_defaults(fn=_cmd_rebuild)
    q = sub.add_parser("quarantine", help="list quarantined rows; --export writes one CSV per centre to fix")
    q.add_argument("--centre", help="only this centre (FINESS number)")
    q.add_argument("--export", help="a folder to write <centre>__quarantine.csv files to")
    q.set_defaults(fn=_cmd_quarantine)
    rq = sub.add_parser("requeue", help="re-validate quarantined rows after a contract or registry fix")
    rq.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a running ingestion or refresh")
    rq.set_defaults(fn=_cmd_requeue)
    ob = sub.add_parser("object", help="a patient objects to the use of their data: NIRs on standard input")
    ob.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a running ingestion or refresh")
    ob.set_defaults(fn=_cmd_object)
    s = sub.add_parser("status", help="inbox waiting, events, quarantine, last refresh, release and incident")
    s.set_defaults(fn=_cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigurationError as exc:
        print(f"carnet: {exc}", file=sys.stderr)
        return 2
    except WriterBusy as exc:
        print(f"carnet: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
