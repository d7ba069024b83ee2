"""`carnet`: the command line for people who are not in the Dagster UI."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pipelines.settings import ConfigurationError, carnet_paths


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
        checks = [f"{ev.check_name}: {ev.description}" for ev in result.get_asset_check_evaluations() if not ev.passed]
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
        _run_job("nightly_refresh", {"ops": {"sqlmesh_models": {"config": {"as_of": as_of.isoformat()}}}},
                 groups=("ingestion", "models"))  # an as-of build is for reproducing figures, never published
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
    from pipelines.publication.release import PublicationBlocked, publish

    paths = carnet_paths().ensure()
    if not paths.warehouse_db.exists():
        raise ConfigurationError(f"no warehouse in {paths.home}: run `carnet refresh` first")
    try:
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
    args.as_of = None
    _cmd_refresh(args)
    _cmd_status(args)
    return 0


def _cmd_status(args) -> int:
    import duckdb

    paths = carnet_paths()
    if not paths.events_db.exists():
        print(f"no event log yet in {paths.home}; run `carnet ingest`")
        return 0
    conn = duckdb.connect(str(paths.events_db), read_only=True)
    try:
        events = conn.execute("SELECT event_type, count(*) FROM log.events GROUP BY 1 ORDER BY 1").fetchall()
        files = conn.execute("SELECT status, count(*) FROM ingest.receipts GROUP BY 1 ORDER BY 1").fetchall()
        reasons = conn.execute("SELECT rule, count(*) FROM ingest.quarantine GROUP BY 1 ORDER BY 2 DESC").fetchall()
    finally:
        conn.close()
    print(f"carnet home: {paths.home}")
    print("events:      " + ", ".join(f"{t} {n:,}" for t, n in events))
    print("files:       " + ", ".join(f"{s} {n:,}" for s, n in files))
    print("quarantine:  " + (", ".join(f"{r} {n:,}" for r, n in reasons) or "empty"))
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
    pub.set_defaults(fn=_cmd_publish)
    rb = sub.add_parser("rebuild", help="rebuild a release from the event log and compare it byte for byte")
    rb.add_argument("release", help="the release id (a folder of $CARNET_HOME/releases)")
    rb.add_argument("--out", help="where to rebuild (default: a new temporary folder)")
    rb.set_defaults(fn=_cmd_rebuild)
    s = sub.add_parser("status", help="what the event log and quarantine hold")
    s.set_defaults(fn=_cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigurationError as exc:
        print(f"carnet: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
