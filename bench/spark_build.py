"""The marts' full build on Spark (local master) against DuckDB, over the same ingested log, one after
the other in the same run.

    python bench/spark_build.py --scale 0.1 [--work DIR] [--generated INBOX]

Generates a demo inbox (or takes one), ingests it into a fresh home, then builds every model from
scratch: once on DuckDB, once on Spark (CARNET_ENGINE=spark, CARNET_SPARK_MASTER, default local[2]),
each into a warehouse of its own. For Spark it splits the wall time into what comes before the
first model (JVM start, the log's export and registration, SQLMesh's plan and table creation), the
models with their audits, and the copy of the built tables into the DuckDB warehouse. Prints a
markdown table; needs requirements-spark.lock and Java 17 (docs/spark.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.demo.generator import generate  # noqa: E402
from pipelines.eventlog.store import EventLog, connect  # noqa: E402
from pipelines.ingestion.service import ingest_inbox  # noqa: E402
from pipelines.projections.sqlmesh_project import refresh  # noqa: E402
from pipelines.pseudonyms import Pseudonymiser  # noqa: E402
from pipelines.registry import default_registry  # noqa: E402
from pipelines.settings import DEMO_KEY, Settings  # noqa: E402


def build(settings: Settings, warehouse: Path) -> dict[str, float]:
    """Seconds: in all, before the first model, until the last model, and the rest."""
    marks: list[float] = []
    started = time.perf_counter()
    result = refresh(settings.paths, warehouse=warehouse, settings=settings,
                     on_model=lambda name, done, total: marks.append(time.perf_counter()))
    total = time.perf_counter() - started
    acts = result.row_counts["intermediate.int_acts"]
    return {"total": total, "before": marks[0] - started, "models": marks[-1] - marks[0],
            "after": started + total - marks[-1], "acts": acts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--work", default=None)
    ap.add_argument("--generated", default=None, help="an inbox `carnet generate` already wrote (else generate one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="carnet-spark-"))
    shutil.rmtree(work / "home", ignore_errors=True)
    home = work / "home"
    (home / "inbox").mkdir(parents=True)
    source = Path(args.generated) if args.generated else work / "generated"
    if not args.generated:
        generate(source, scale=args.scale)
    shutil.copytree(source, home / "inbox", dirs_exist_ok=True)
    settings = Settings.from_environment(home=home)
    conn = connect(settings.paths.events_db, config=settings.duckdb_config())
    started = time.perf_counter()
    ingest_inbox(home / "inbox", EventLog(conn), default_registry(), Pseudonymiser(DEMO_KEY.encode()))
    conn.close()
    print(f"ingested scale {args.scale} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    spark = dataclasses.replace(settings, engine="spark",
                                spark_master=os.environ.get("CARNET_SPARK_MASTER", "local[2]"))
    cores = int(spark.spark_master[len("local["):-1]) if spark.spark_master.startswith("local[") else 0
    on_duckdb = build(settings, work / "duckdb" / "warehouse.duckdb")
    on_spark = build(spark, work / "spark" / "warehouse.duckdb")
    print(f"\n| scale {args.scale}: {on_duckdb['acts']:,} acts | DuckDB | Spark {spark.spark_master} |")
    print("|---|---:|---:|")
    for key, label in (("total", "full build, s"), ("before", "before the first model, s"),
                       ("models", "models and audits, s"), ("after", "after the last model (Spark: copy to DuckDB), s")):
        print(f"| {label} | {on_duckdb[key]:.1f} | {on_spark[key]:.1f} |")
    print(f"| acts per second per core, whole build | {on_duckdb['acts'] / on_duckdb['total'] / 2:,.0f} "
          f"| {on_spark['acts'] / on_spark['total'] / max(cores, 1):,.0f} |")


if __name__ == "__main__":
    main()
