"""Full rebuild against bare DuckDB, the nightly increment and Dagster's fixed overhead.

    python bench/full_rebuild.py --scale 1.0 [--work DIR]

One generated inbox (the two centres that send workbooks are left out: DuckDB's Excel reader is
an extension this machine cannot download, and the baseline must read the same files):

- full rebuild: empty CARNET_HOME -> `carnet refresh` (ingest -> marts -> release), a child process;
- baseline: bench/baseline.py, one DuckDB script that read_csv's the same files and computes the
  marts' GROUP BYs, no validation;
- nightly increment: the last night's extracts over that history, `carnet refresh` again;
- fixed overhead: `carnet refresh` with nothing new;
- what bounds the ratio: bench/contracts_floor.py (every row read, parsed and judged by its
  contract, nothing stored) on the baseline's files, plus the full rebuild's SQLMesh step: a floor
  under any full rebuild that validates every row and builds the marts with SQLMesh.

Wall time and peak RSS of each child (getrusage of the waited child). Prints markdown tables.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.demo.generator import generate  # noqa: E402
from pipelines.inbox.filenames import BadFileName, parse_export_name  # noqa: E402
from pipelines.ingestion.service import inbox_files  # noqa: E402
from pipelines.registry import default_registry  # noqa: E402

LAST_NIGHT = dt.datetime(2025, 1, 1)
LANGUAGE = {"fr_csv": "fr", "platform_csv": "en"}


def step_times(home: Path) -> dict[str, float]:
    """Seconds per Dagster step of the latest run, from carnet's Dagster instance (the CLI records
    its runs there)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        [run] = instance.get_runs(limit=1)
        return {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(run.run_id)
                if s.end_time and s.start_time}


def child(args: list[str], env: dict, log: Path) -> tuple[float, float]:
    """Run a child to completion: (wall seconds, peak RSS MiB)."""
    started = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}); see {log}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--work", default=None)
    ap.add_argument("--generated", default=None, help="an inbox `carnet generate` already wrote (else generate one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="carnet-rebuild-"))
    shutil.rmtree(work, ignore_errors=True)
    src, home, base = Path(args.generated or work / "generated"), work / "home", work / "baseline_inbox"
    if not args.generated:
        started = time.perf_counter()
        generate(src, scale=args.scale)
        print(f"generated scale {args.scale} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    registry = default_registry()
    history, night = [], []
    for f in inbox_files(src):
        try:
            name = parse_export_name(f)
        except BadFileName:
            continue
        centre = registry.get(name.centre_id)
        if centre is None or centre.dialect not in LANGUAGE:
            continue
        (night if name.extracted_at >= LAST_NIGHT else history).append((f, LANGUAGE[centre.dialect]))
    rows = 0
    for f, lang in history:
        target = home / "inbox" / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
        link = base / f"{f.stem}.{lang}.csv"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        rows += sum(1 for _ in open(f, "rb")) - 1
    env = dict(os.environ, CARNET_HOME=str(home), CARNET_DEMO="1", CARNET_INBOX_SETTLE_SECONDS="0")
    carnet = [sys.executable, "-m", "pipelines.cli", "refresh"]
    log = work / "bench.log"
    steps = {}
    full_s, full_rss = child(carnet, env, log)
    steps["full rebuild"] = step_times(home)
    base_s, base_rss = child([sys.executable, str(ROOT / "bench" / "baseline.py"), str(base),
                              str(ROOT / "seeds" / "centres.csv")], env, log)
    floor_s, floor_rss = child([sys.executable, str(ROOT / "bench" / "contracts_floor.py"), str(home / "inbox")],
                               env, log)
    for f, _ in night:
        target = home / "inbox" / f.relative_to(src)
        shutil.copy(f, target)
    night_s, night_rss = child(carnet, env, log)
    steps["nightly increment"] = step_times(home)
    idle_s, idle_rss = child(carnet, env, log)
    steps["fixed overhead"] = step_times(home)
    import duckdb
    conn = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    acts = conn.execute("SELECT count(*) FROM intermediate.int_acts").fetchone()[0]
    conn.close()
    print(f"\n`python bench/full_rebuild.py --scale {args.scale}`: {len(history):,} history files, {rows:,} rows "
          f"({acts:,} distinct acts), then {len(night)} files of the last night.\n")
    print("| run | wall | rows/s | peak RSS | ratio |\n|---|---:|---:|---:|---:|")
    print(f"| full rebuild (ingest, marts, release) | {full_s:.1f} s | {rows / full_s:,.0f} | {full_rss:,.0f} MiB "
          f"| {full_s / base_s:.1f}× baseline |")
    print(f"| baseline (DuckDB read_csv + GROUP BYs) | {base_s:.1f} s | {rows / base_s:,.0f} | {base_rss:,.0f} MiB | 1 |")
    print(f"| nightly increment | {night_s:.1f} s | | {night_rss:,.0f} MiB | {100 * night_s / full_s:.1f} % of full |")
    print(f"| fixed overhead (refresh, nothing new) | {idle_s:.1f} s | | {idle_rss:,.0f} MiB | |")
    print("\nDagster steps (s); the rest of each wall time is the process start, imports and run set-up:\n")
    names = ["ingest_inbox", "event_log__parquet", "sqlmesh_models", "publication__release_candidate",
             "publication__release_candidate_quality_gate", "publication__observatory"]
    print("| run | " + " | ".join(n.replace("publication__", "") for n in names) + " | outside steps |")
    print("|---|" + "---:|" * (len(names) + 1))
    walls = {"full rebuild": full_s, "nightly increment": night_s, "fixed overhead": idle_s}
    for run, times in steps.items():
        cells = [f"{times[n]:.1f}" if n in times else "skipped" for n in names]
        print(f"| {run} | " + " | ".join(cells) + f" | {walls[run] - sum(times.values()):.1f} |")
    models_s = steps["full rebuild"].get("sqlmesh_models", 0.0)
    print("\nWhat bounds the ratio: the work carnet must do that the baseline skips, each measured alone:\n")
    print("| work | wall | ratio |\n|---|---:|---:|")
    print(f"| row contracts alone (`bench/contracts_floor.py`: read, parse, Pandera; nothing stored) | {floor_s:.1f} s "
          f"| {floor_s / base_s:.1f}× baseline |")
    print(f"| SQLMesh build of the marts from the log (the full rebuild's step) | {models_s:.1f} s "
          f"| {models_s / base_s:.1f}× baseline |")
    print(f"| floor: both, with no event log, pseudonyms, release or Dagster | {floor_s + models_s:.1f} s "
          f"| {(floor_s + models_s) / base_s:.1f}× baseline (target 1.5×) |")
    print(f"| event log, pseudonyms, release and Dagster: the rest of the full rebuild "
          f"| {full_s - floor_s - models_s:.1f} s | |")
    print(f"| nightly increment above the fixed overhead | {night_s - idle_s:.1f} s "
          f"| {100 * (night_s - idle_s) / full_s:.1f} % of full (target 5 %) |")
    print(f"\nContracts alone: peak RSS {floor_rss:,.0f} MiB.")
    ingest_s = steps["full rebuild"].get("ingest_inbox", 0.0)
    peak = max(full_rss, night_rss, idle_rss)
    held = 3.0 if rows < 5_000_000 else 4.0
    print("\nTargets (the columnar log's issue), each with the figure it is held to:\n")
    print("| target | figure | held to | met |\n|---|---:|---:|---|")
    for name, figure, bound, unit in [
            ("full rebuild / baseline", full_s / base_s, held, "×"),
            ("SQLMesh step / baseline", models_s / base_s, 1.0, "×"),
            ("nightly increment / full rebuild", 100 * night_s / full_s, 5.0, " %"),
            ("empty refresh", idle_s, 8.0, " s"),
            ("peak RSS", peak / 1024, 3.0, " GiB")]:
        print(f"| {name} | {figure:.2f}{unit} | ≤ {bound:g}{unit} | {'yes' if figure <= bound else 'NO'} |")
    print(f"| ingestion rows/s (the ingest step) | {rows / ingest_s:,.0f} | ≥ 0.8× the figure at 1M acts "
          "(compare two runs) | |" if ingest_s else "")


if __name__ == "__main__":
    main()
