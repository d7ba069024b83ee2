"""`carnet`: the command line for people who are not in the Dagster UI."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pipelines.eventlog.lock import WriterBusy
from pipelines.settings import ConfigurationError, Settings, carnet_paths


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


# Errors that a person fixes (configuration, a lock held): one line and exit 2, whether raised here
# or inside a Dagster run.
_PERSON_FIXES = ("ConfigurationError", "KeyMismatch", "WriterBusy")


class CommandFailed(Exception):
    """A run failed for another reason: one line, exit 1; the details are in the Dagster run."""


def _settings(args) -> Settings:
    """The command's settings: the environment's, a demo when the command says so."""
    return Settings.from_environment(demo=True if getattr(args, "demo", False) else None)


def _run_job(paths, name: str, run_config: dict | None = None, groups: tuple[str, ...] | None = None,
             demo: bool = False):
    """A Dagster job in this process, recorded in carnet's Dagster instance (`carnet dev` shows it).

    Dagster's own event stream is silenced: steps tell their progress through `pipelines.progress`,
    and a failure is one line here (an incident line too), its traceback in the run's log."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.incidents import CLI_TAG, append_incident, error_text, incident_line, root_error
    from pipelines.settings import prepare_dagster_home

    job = defs.resolve_job_def(name)
    selection = None
    if groups:
        graph = defs.resolve_asset_graph()
        selection = [k for k in job.asset_layer.selected_asset_keys if graph.get(k).group_name in groups]
    config = dict(run_config or {}, loggers={"console": {"config": {"log_level": "CRITICAL"}}},
                  resources={"carnet": {"config": {"home": str(paths.home), **({"demo": True} if demo else {})}}})
    with dg.DagsterInstance.from_config(str(prepare_dagster_home(paths.dagster_home))) as instance:
        result = job.execute_in_process(instance=instance, run_config=config, raise_on_error=False,
                                        asset_selection=selection, tags={CLI_TAG: "cli"})
    if result.success:
        return result
    failures = [(e.step_key, root_error(e.event_specific_data.error)) for e in result.all_events
                if e.is_step_failure and e.event_specific_data and e.event_specific_data.error]
    for _, error in failures:
        if error.cls_name in _PERSON_FIXES:
            raise ConfigurationError(error_text(error))
    checks = [f"{ev.check_name}: {ev.description}" for ev in result.get_asset_check_evaluations()
              if not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR]
    first = checks[0] if checks else (f"{failures[0][1].cls_name}: {error_text(failures[0][1])}" if failures
                                      else "the run failed")
    append_incident(paths, incident_line(name, result.run_id, [step for step, _ in failures if step], first))
    raise CommandFailed(f"{name} failed{' in ' + failures[0][0] if failures else ''}: {first[:500]} "
                        f"(run {result.run_id}; `carnet dev` shows its log)")


def _received_since(paths, since) -> list[tuple]:
    """Receipts stored since `since`: (file, status, read, appended, duplicates, quarantined, reason)."""
    from pipelines.eventlog.read_model import read_log

    with read_log(paths.events_db) as log:
        return log.receipts_since(since)


def _say_ingested(paths, since) -> None:
    receipts = _received_since(paths, since) if paths.events_db.exists() else []
    if not receipts:  # the ingestion said so
        return
    whole = [r for r in receipts if r[1] != "ingested"]
    totals = [sum(r[i] or 0 for r in receipts) for i in (2, 3, 4, 5)]
    if len(whole) < len(receipts):
        print(f"ingested {len(receipts) - len(whole):,} file(s): rows read {totals[0]:,}, appended {totals[1]:,}, "
              f"duplicates {totals[2]:,}, quarantined {totals[3]:,}"
              + (" (`carnet quarantine` lists them)" if totals[3] else ""))
    if whole:
        print(f"{len(whole):,} file(s) {'/'.join(sorted({r[1] for r in whole}))} whole:")
        for r in whole[:20]:
            print(f"  {r[0]!r}: {r[6]}")
        if len(whole) > 20:
            print(f"  ... and {len(whole) - 20} more (`carnet quarantine`)")


def _ingest_config(args) -> dict:
    config = {"settle_seconds": 0} if getattr(args, "settled", False) else {}
    if getattr(args, "centres", None):
        config["centres"] = [c.strip().upper() for c in args.centres.split(",") if c.strip()]
    if getattr(args, "files", None):
        config["files"] = list(args.files)
    return {"ops": {"ingest_inbox": {"config": config}}} if config else {}


def _now_to_the_second():
    import datetime as dt

    return dt.datetime.now().replace(microsecond=0)


def _cmd_ingest(args) -> int:
    settings = _settings(args)
    paths = settings.paths.ensure()
    started, since = time.perf_counter(), _now_to_the_second()
    _run_job(paths, "ingest_job", _ingest_config(args), demo=settings.demo)
    _say_ingested(paths, since)
    print(f"({time.perf_counter() - started:.1f}s)")
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
    """Run the nightly refresh now (ingest, then models, then the release), or build the marts as of a past time."""
    import datetime as dt

    from pipelines.projections.sqlmesh_project import as_of_warehouse
    from pipelines.publication.release import current_manifest

    settings = _settings(args)
    paths = settings.paths.ensure()
    started, since = time.perf_counter(), _now_to_the_second()
    if args.as_of:
        if args.centres or args.files or args.full:
            raise ConfigurationError("--as-of reads the log as it stood: it takes no --centres, --files or --full")
        try:
            as_of = dt.datetime.fromisoformat(args.as_of)
        except ValueError:
            raise ConfigurationError(f"--as-of {args.as_of!r} is not an ISO time such as 2024-06-01T02:00:00") from None
        # the log as it stood: nothing is ingested (an as-of build never writes the log) nor published
        _run_job(paths, "nightly_refresh", {"ops": {"sqlmesh_models": {"config": {"as_of": as_of.isoformat()}}}},
                 groups=("models",), demo=settings.demo)
        warehouse = as_of_warehouse(paths, as_of)
    else:
        config = _ingest_config(args)
        if args.full:
            config.setdefault("ops", {})["sqlmesh_models"] = {"config": {"full": True}}
        result = _run_job(paths, "nightly_refresh", config, demo=settings.demo)
        _say_ingested(paths, since)
        warehouse = paths.warehouse_db
        published = any(e.asset_key.path == ["publication", "observatory"]
                        for e in result.get_asset_materialization_events())
        current = current_manifest(paths)
        if published:
            _print_release(paths)
        elif current:
            print(f"release: nothing new since {current['release_id']} (same log position, sources and settings): "
                  "no new release")
    print(f"marts in {warehouse} ({time.perf_counter() - started:.1f}s)")
    _print_headlines(warehouse, getattr(args, "scale", 1.0))
    return 0


def _print_release(paths) -> None:
    from pipelines.publication.release import current_manifest

    manifest = current_manifest(paths)
    if manifest:
        folder = paths.releases / manifest["release_id"]
        print(f"release {manifest['release_id']} published: {paths.observatory_db}\n  report {folder / 'report.html'}\n"
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

    paths = carnet_paths().ensure()
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
    args.demo = True  # the fixed demo key, for this command only
    paths = carnet_paths().ensure(create=True)
    args.settled = False
    if not any(paths.inbox.iterdir()):
        args.out = str(paths.inbox)
        _cmd_generate(args)
        args.settled = True  # we wrote these files: they are complete, no need to watch them settle
    args.as_of, args.centres, args.files, args.full = None, None, None, False
    _cmd_refresh(args)
    _cmd_status(args)
    print(f"\nThis demo home uses the fixed demo key. To go on using it (refresh, status, `carnet dev`):\n"
          f"  export CARNET_HOME={paths.home} CARNET_DEMO=1")
    return 0


def _cmd_dev(args) -> int:
    """The Dagster UI and daemon (`dagster dev`) on carnet's own Dagster instance: the same run
    history as the CLI, and the schedule and sensors of `pipelines/definitions.py`."""
    from pipelines.projections.sqlmesh_project import PROJECT_ROOT
    from pipelines.settings import environment_with, prepare_dagster_home

    paths = carnet_paths().ensure()
    dagster_home = prepare_dagster_home(paths.dagster_home)
    executable = Path(sys.executable).with_name("dagster")
    command = [str(executable), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), *args.dagster_args]
    print(f"carnet: Dagster home {dagster_home}, carnet home {paths.home}", file=sys.stderr, flush=True)
    os.execve(command[0], command, environment_with(DAGSTER_HOME=str(dagster_home), CARNET_HOME=str(paths.home)))


def _cmd_status(args) -> int:
    """Inbox waiting, events, files, quarantine by reason, last refresh, last release, last incident."""
    import duckdb

    from pipelines.eventlog.read_model import read_log
    from pipelines.ingestion.service import hidden_files, inbox_files
    from pipelines.publication.release import current_manifest

    paths = carnet_paths().ensure()
    if not paths.events_db.exists():
        print(f"no event log yet in {paths.home}; run `carnet ingest` (or `carnet demo`)")
        return 0
    with read_log(paths.events_db) as log:
        got = {"events": log.events_by_type(), "files": log.files_by_status(),
               "reasons": log.open_quarantine_by_rule()}
        known = log.received_file_names()
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
    from pipelines.pseudonyms import Pseudonymiser

    settings = _settings(args)
    paths = settings.paths.ensure()
    if not paths.events_db.exists():
        raise ConfigurationError(f"no event log in {paths.home}: nothing to requeue")
    pseudonymiser = Pseudonymiser(settings.pseudonymisation_key())
    with writer_lock(paths.writer_lock, timeout_s=args.wait, on_wait=_say_waiting):
        conn = connect(paths.events_db, config=settings.duckdb_config(paths))
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


def _cmd_migrate(args) -> int:
    """Upgrade the event log to the layout this carnet writes, in one transaction."""
    import duckdb

    from pipelines.eventlog.lock import writer_lock
    from pipelines.eventlog.migration import migrate

    settings = _settings(args)
    paths = settings.paths.ensure()
    if not paths.events_db.exists():
        print(f"no event log in {paths.home}: nothing to upgrade")
        return 0
    with writer_lock(paths.writer_lock, timeout_s=args.wait, on_wait=_say_waiting):
        conn = duckdb.connect(str(paths.events_db), config=settings.duckdb_config(paths))
        try:
            print(migrate(conn).describe())
        finally:
            conn.close()
    return 0


def _cmd_object(args) -> int:
    """Honour patients' objections: NIRs read from standard input (never from the command line,
    which shells keep in their history), one per line."""
    from pipelines.eventlog.lock import writer_lock
    from pipelines.eventlog.store import EventLog, connect
    from pipelines.identifiers import mask_nir, nir_is_valid
    from pipelines.pseudonyms import Pseudonymiser

    settings = _settings(args)
    paths = settings.paths.ensure()
    nirs = [line.strip().replace(" ", "") for line in sys.stdin if line.strip()]
    bad = [mask_nir(n) for n in nirs if not nir_is_valid(n)]
    if bad:
        raise ConfigurationError(f"not a valid NIR (15 characters with a matching key): {', '.join(bad)}; "
                                 "nothing was recorded")
    if not nirs:
        raise ConfigurationError("no NIR on standard input: e.g. `carnet object < objections.txt`")
    pseudonymiser = Pseudonymiser(settings.pseudonymisation_key())
    with writer_lock(paths.writer_lock, timeout_s=args.wait, on_wait=_say_waiting):
        conn = connect(paths.events_db, config=settings.duckdb_config(paths))
        log = EventLog(conn)
        try:
            log.begin()
            log.vault.check_key(pseudonymiser.fingerprint())
            recorded = sum(log.vault.record_objection(pseudonymiser.subject_id(n), Pseudonymiser.pseudonym) for n in nirs)
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

    from pipelines.eventlog.read_model import read_log
    from pipelines.registry import load_registry
    from pipelines.spreadsheet_cells import safe_cell

    paths = carnet_paths().ensure()
    if not paths.events_db.exists():
        raise ConfigurationError(f"no event log in {paths.home}: nothing is quarantined yet")
    if args.centre and load_registry().get(args.centre) is None:
        raise ConfigurationError(f"unknown centre {args.centre!r}: use a FINESS number of seeds/centres.csv")
    with read_log(paths.events_db) as log:
        got = {"summary": log.quarantine_summary(args.centre), "rows": log.quarantine_rows(args.centre)}
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


ENVIRONMENT_HELP = """\
configuration (environment variables, read at run time):
  CARNET_HOME                    the home: inbox/, events.duckdb, warehouse, releases (default .carnet)
  CARNET_PSEUDONYMISATION_KEY    HMAC key for NIRs, 16+ characters; required for real data
  CARNET_DEMO=1                  allow the fixed demo key (set by `carnet demo`)
  CARNET_SECRECY_THRESHOLD       smallest count of patients published (default 11)
  CARNET_RELEASE_MIN_ROW_RATIO   the gate fails below this share of the last release's rows (default 0.9)
  CARNET_DUCKDB_MEMORY_LIMIT     DuckDB's memory ceiling, e.g. 2GB (default 2GB)
  CARNET_INBOX_SETTLE_SECONDS    how long a file must stay unchanged to be read (default 2)
  CARNET_ENGINE                  where the SQLMesh models run: duckdb or spark (default duckdb; docs/spark.md)
  CARNET_SPARK_MASTER            Spark's master URL with CARNET_ENGINE=spark (default local[2])
  CARNET_SPARK_DRIVER_MEMORY     the Spark driver's heap, e.g. 4g (default 4g)
  CARNET_SPARK_LOG_URL           where Spark reads the log's Parquet (default $CARNET_HOME/log-parquet)
  DAGSTER_HOME                   Dagster's instance (default $CARNET_HOME/dagster)

exit status: 0 done; 1 a run or the quality gate failed (one line; details in `carnet dev`);
2 something to fix first (configuration, a lock held, an unknown centre or release).
The inbox's file names and columns: docs/exports.md.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="carnet", description=__doc__, epilog=ENVIRONMENT_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, fn, help_text):
        c = sub.add_parser(name, help=help_text, description=help_text, epilog=ENVIRONMENT_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        c.set_defaults(fn=fn)
        return c

    def scoped(c):
        c.add_argument("--centres", help="only these centres' files: FINESS numbers, comma-separated")
        c.add_argument("--files", nargs="+", metavar="FILE",
                       help="only these inbox files, as paths relative to the inbox (CENTRE/NAME)")

    g = command("generate", _cmd_generate, "write a deterministic demo inbox")
    g.add_argument("--out", required=True, help="the inbox folder to write")
    g.add_argument("--seed", type=int, default=7, help="the random seed (the same seed and scale give the same bytes)")
    g.add_argument("--scale", type=float, default=1.0, help="1.0 reproduces the centres' published figures")
    scoped(command("ingest", _cmd_ingest, "ingest new inbox files into the event log ($CARNET_HOME)"))
    d = command("demo", _cmd_demo, "generate the demo inbox in $CARNET_HOME (once) and run the main job")
    d.add_argument("--seed", type=int, default=7, help="the random seed of the demo inbox")
    d.add_argument("--scale", type=float, default=1.0, help="1.0 reproduces the centres' published figures")
    r = command("refresh", _cmd_refresh, "ingest the inbox, rebuild the marts and publish (nightly_refresh)")
    r.add_argument("--as-of", help="build the marts as the log stood at this recorded time (ISO), in its own "
                                   "file; ingests and publishes nothing")
    r.add_argument("--full", action="store_true", help="recompute every month instead of those new events touch")
    scoped(r)
    pub = command("publish", _cmd_publish, "publish the observatory release from the current marts (gated)")
    pub.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a running refresh or publication")
    rb = command("rebuild", _cmd_rebuild, "rebuild a release from the event log and compare it byte for byte")
    rb.add_argument("release", help="the release id (a folder of $CARNET_HOME/releases)")
    rb.add_argument("--out", help="where to rebuild (default: a new temporary folder)")
    q = command("quarantine", _cmd_quarantine, "list quarantined rows; --export writes one CSV per centre to fix")
    q.add_argument("--centre", help="only this centre (FINESS number)")
    q.add_argument("--export", help="a folder to write <centre>__quarantine.csv files to")
    rq = command("requeue", _cmd_requeue, "re-validate quarantined rows after a contract or registry fix")
    rq.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a running ingestion or refresh")
    ob = command("object", _cmd_object, "a patient objects to the use of their data: NIRs on standard input")
    ob.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a running ingestion or refresh")
    mg = command("migrate", _cmd_migrate, "upgrade the event log to this carnet's layout (keeps every event)")
    mg.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a running ingestion or refresh")
    command("status", _cmd_status, "inbox waiting, events, quarantine, last refresh, release and incident")
    command("dev", _cmd_dev, "the Dagster UI and daemon on carnet's Dagster instance (dagster dev); "
                             "other arguments are passed on to `dagster dev` (e.g. -p 3001)")
    return p


def main(argv: list[str] | None = None) -> int:
    from pipelines.progress import show_progress_on

    import logging

    parser = build_parser()
    args, passed_on = parser.parse_known_args(argv)
    if passed_on and args.command != "dev":
        parser.error(f"unrecognized arguments: {' '.join(passed_on)}")
    args.dagster_args = passed_on
    handler = show_progress_on(sys.stderr)
    logging.getLogger("dagster").setLevel(logging.ERROR)  # its warnings are in the run's log (`carnet dev`)
    try:
        return args.fn(args)
    except (ConfigurationError, WriterBusy) as exc:
        print(f"carnet: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"carnet: {exc}", file=sys.stderr)
        return 1
    finally:
        logging.getLogger("carnet.progress").removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
