"""Releases of the observatory file: stage, gate, promote, and rebuild from a manifest.

A release is staged in `releases/.staging-<run>/` (observatory file, extracts, report, manifest; a
folder per run, so that two runs never write one staging file),
gated by Great Expectations, then promoted: its folder becomes `releases/<id>/` and its file
replaces `$CARNET_HOME/carnet_observatory.duckdb` with one atomic rename, so a reader sees the old
release or the new one, never half of one. A rejected release keeps its folder (with the Data
Docs saying why) as `releases/<id>.rejected/`; the previous release stays in place.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from pipelines.projections.sqlmesh_project import PROJECT_ROOT, model_graph, refresh
from pipelines.publication.catalogue import RELEASE_TABLE, TABLES
from pipelines.publication.report import render
from pipelines.publication.secrecy import SecrecySettings, secrecy_settings
from pipelines.publication.tables import build_tables
from pipelines.settings import OBSERVATORY_FILE, CarnetPaths, Settings
from pipelines.spreadsheet_cells import safe_frame

MANIFEST = "manifest.json"
GATE = "gate.json"
EXTRACT_FORMATS = ("parquet", "csv")
_SOURCE_DIRS = ("pipelines", "contracts", "models", "seeds")


class PublicationBlocked(RuntimeError):
    """The quality gate failed: nothing was published, the previous release is still in place."""


@dataclass(frozen=True)
class StagedRelease:
    directory: Path
    manifest: dict

    @property
    def release_id(self) -> str:
        return self.manifest["release_id"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version() -> dict:
    """The package version, a fingerprint of the sources, and the git commit when there is one."""
    h = hashlib.sha256()
    for folder in _SOURCE_DIRS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".sql", ".csv") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update((PROJECT_ROOT / "config.py").read_bytes())
    try:
        commit = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    from importlib.metadata import PackageNotFoundError, version
    try:
        package = version("carnet")
    except PackageNotFoundError:
        package = "unknown"
    return {"package": package, "source_sha256": h.hexdigest(), "git_commit": commit}


def _log_section(paths: CarnetPaths, warehouse: Path) -> dict:
    """The log position the warehouse reflects, and the input files behind it."""
    wh = duckdb.connect(str(warehouse), read_only=True)
    try:
        high_water, excluded = wh.execute("SELECT high_water_event_id, excluded_patients FROM carnet.refreshes "
                                          "ORDER BY refreshed_at DESC LIMIT 1").fetchone()
    finally:
        wh.close()
    log = duckdb.connect(str(paths.events_db), read_only=True)
    try:
        recorded_until = log.execute("SELECT max(recorded_at) FROM log.events WHERE event_id <= ?",
                                     [high_water]).fetchone()[0]
        files = log.execute("""
            SELECT source_file, source_sha256, count(*) FROM log.events WHERE event_id <= ?
            GROUP BY ALL ORDER BY ALL""", [high_water]).fetchall()
    finally:
        log.close()
    return {"high_water_event_id": int(high_water), "excluded_patients": int(excluded or 0),
            "recorded_until": recorded_until.isoformat(sep=" ") if recorded_until else None,
            "input_files": [{"file": f, "sha256": s, "events": n} for f, s, n in files]}


def attach(path: Path, *, read_only: bool) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A connection and the qualified name of the file's observatory schema.

    Names are qualified with the file's catalog, whatever the file is called (a file named
    observatory.duckdb would make `observatory.<table>` ambiguous: catalog or schema?).
    """
    conn = duckdb.connect(str(path), read_only=read_only)
    catalog = conn.execute("SELECT current_database()").fetchone()[0]
    return conn, '"{}".observatory'.format(catalog.replace('"', '""'))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _write_observatory(path: Path, frames: dict[str, pl.DataFrame]) -> None:
    conn, obs = attach(path, read_only=False)
    try:
        conn.execute(f"CREATE SCHEMA {obs}")
        for table in (*TABLES, RELEASE_TABLE):
            conn.execute(table.ddl().replace("CREATE TABLE observatory.", f"CREATE TABLE {obs}."))
            # COMMENT ON takes no parameters; the texts are the catalogue's own constants
            conn.execute(f"COMMENT ON TABLE {obs}.{table.name} IS {_literal(table.description)}")
            for column in table.columns:
                conn.execute(f"COMMENT ON COLUMN {obs}.{table.name}.{column.name} IS {_literal(column.description)}")
            if table.name in frames:
                conn.register("frame", frames[table.name].to_arrow())
                columns = ", ".join(c.name for c in table.columns)
                conn.execute(f"INSERT INTO {obs}.{table.name} SELECT {columns} FROM frame "
                             f"ORDER BY {', '.join(table.order_by)}")
                conn.unregister("frame")
        conn.execute("CHECKPOINT")
    finally:
        conn.close()


def read_tables(observatory: Path) -> dict[str, pl.DataFrame]:
    """The published tables of an observatory file, in their published order."""
    conn, obs = attach(observatory, read_only=True)
    try:
        return {t.name: conn.execute(f"SELECT * FROM {obs}.{t.name} "
                                     f"ORDER BY {', '.join(t.order_by)}").pl() for t in TABLES}
    finally:
        conn.close()


def _write_extracts(directory: Path, frames: dict[str, pl.DataFrame]) -> dict[str, dict]:
    """Parquet, and CSV for Excel in a French locale (`;`, decimal comma, UTF-8 with BOM)."""
    out = directory / "extracts"
    out.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name, frame in frames.items():
        frame.write_parquet(out / f"{name}.parquet", compression="zstd", statistics=True)
        with open(out / f"{name}.csv", "wb") as f:
            f.write(b"\xef\xbb\xbf")
            safe_frame(frame).write_csv(f, separator=";", decimal_comma=True, date_format="%Y-%m-%d", line_terminator="\r\n")
        hashes[name] = {"rows": frame.height, **{fmt: sha256_file(out / f"{name}.{fmt}") for fmt in EXTRACT_FORMATS}}
    return hashes


def _release_row(manifest: dict) -> pl.DataFrame:
    return pl.DataFrame([{
        "release_id": manifest["release_id"], "published_at": dt.datetime.fromisoformat(manifest["published_at"]),
        "log_high_water_event_id": manifest["log"]["high_water_event_id"],
        "log_recorded_until": dt.datetime.fromisoformat(manifest["log"]["recorded_until"])
        if manifest["log"]["recorded_until"] else None,
        "secrecy_threshold": manifest["secrecy"]["threshold"], "code_version": manifest["code"]["source_sha256"],
        "manifest": json.dumps(manifest, sort_keys=True)}])


def write_release(directory: Path, warehouse: Path, manifest: dict, settings: SecrecySettings) -> dict:
    """Everything a release holds, from a warehouse, into `directory`. Returns the completed manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    tables = build_tables(warehouse, settings)
    observatory = directory / OBSERVATORY_FILE
    _write_observatory(observatory, dict(tables.items()))
    frames = read_tables(observatory)  # extracts and report show exactly what the file holds
    manifest = dict(manifest, tables=_write_extracts(directory, frames))
    report = render(frames, manifest)
    (directory / "report.html").write_text(report, encoding="utf-8")
    manifest["report_sha256"] = hashlib.sha256(report.encode("utf-8")).hexdigest()
    conn, obs = attach(observatory, read_only=False)
    try:
        conn.register("release_row", _release_row(manifest).to_arrow())
        conn.execute(f"INSERT INTO {obs}.release SELECT * FROM release_row")
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return manifest


def current_manifest(paths: CarnetPaths) -> dict | None:
    pointer = paths.releases / "CURRENT"
    if not pointer.exists():
        return None
    return json.loads((paths.releases / pointer.read_text().strip() / MANIFEST).read_text())


STAGING_PREFIX = ".staging-"
# A staging folder left by a run killed before promoting or rejecting it; no run takes this long.
ABANDONED_STAGING_S = 24 * 3600


def staging_dir(paths: CarnetPaths, run: str) -> Path:
    """Where run `run` stages its release: its own folder, whatever else is staging."""
    if not run or not all(ch.isalnum() or ch in "-_" for ch in run):
        raise ValueError(f"a staging run id is letters, digits, '-' and '_': {run!r}")
    return paths.releases / f"{STAGING_PREFIX}{run}"


def _sweep_abandoned_staging(paths: CarnetPaths) -> None:
    if not paths.releases.exists():
        return
    deadline = time.time() - ABANDONED_STAGING_S
    for folder in paths.releases.glob(f"{STAGING_PREFIX}*"):
        with contextlib.suppress(OSError):
            if folder.stat().st_mtime < deadline:
                shutil.rmtree(folder, ignore_errors=True)


def same_inputs(a: dict, b: dict) -> bool:
    """Whether two manifests were computed from the same things: log position, objections honoured,
    sources (models, seeds, code), contracts and secrecy settings. Their tables are then the same."""
    return (a["log"]["high_water_event_id"] == b["log"]["high_water_event_id"]
            and a["log"].get("excluded_patients") == b["log"].get("excluded_patients")
            and a["code"]["source_sha256"] == b["code"]["source_sha256"]
            and all(a[k] == b[k] for k in ("contracts", "models", "secrecy")))


def stage(paths: CarnetPaths, *, run: str | None = None, settings: SecrecySettings | None = None,
          published_at: dt.datetime | None = None, only_if_changed: bool = False) -> StagedRelease | None:
    """Build the next release from the warehouse into `releases/.staging-<run>/` (nothing published
    yet); `run` names the staging folder (a Dagster run id; a fresh one by default).

    With `only_if_changed`, returns None when the current release was computed from the same
    inputs: a night with nothing new publishes no copy of yesterday's release.
    """
    settings = settings or secrecy_settings()
    published_at = (published_at or dt.datetime.now()).replace(microsecond=0)
    log = _log_section(paths, paths.warehouse_db)
    manifest = {
        "release_id": f"{published_at:%Y%m%dT%H%M%S}-e{log['high_water_event_id']}",
        "published_at": published_at.isoformat(sep=" "),
        "log": log,
        "code": code_version(),
        "contracts": _contract_versions(),
        "models": {n.name: n.fingerprint for n in model_graph()},
        "secrecy": {"threshold": settings.threshold, "rules_version": settings.rules_version},
    }
    current = current_manifest(paths) if only_if_changed else None
    if current is not None and same_inputs(current, manifest):
        return None
    _sweep_abandoned_staging(paths)
    directory = staging_dir(paths, run or uuid.uuid4().hex)
    shutil.rmtree(directory, ignore_errors=True)
    return StagedRelease(directory, write_release(directory, paths.warehouse_db, manifest, settings))


def _contract_versions() -> dict:
    from contracts.registry import CONTRACT_VERSIONS

    return dict(sorted(CONTRACT_VERSIONS.items()))


def gate_staged(paths: CarnetPaths, staged: StagedRelease, min_row_ratio: float | None = None):
    """Run the quality gate on the staged file; the verdict is written next to it. `min_row_ratio`:
    the run's $CARNET_RELEASE_MIN_ROW_RATIO (read from the environment when not given)."""
    from pipelines.publication.quality import gate

    if min_row_ratio is None:
        min_row_ratio = Settings.from_environment().release_min_row_ratio
    previous = current_manifest(paths)
    previous_rows = {name: t["rows"] for name, t in (previous or {}).get("tables", {}).items()}
    result = gate(read_tables(staged.directory / OBSERVATORY_FILE),
                  threshold=staged.manifest["secrecy"]["threshold"], previous_rows=previous_rows,
                  docs_dir=staged.directory / "data_docs", min_row_ratio=min_row_ratio)
    (staged.directory / GATE).write_text(json.dumps(
        {"success": result.success, "failures": result.failures, "expectations": result.expectations}, indent=2))
    return result


def staged_release(paths: CarnetPaths, run: str) -> StagedRelease:
    directory = staging_dir(paths, run)
    if not (directory / MANIFEST).exists():
        raise FileNotFoundError(f"no staged release in {directory}: materialise publication/release_candidate first")
    return StagedRelease(directory, json.loads((directory / MANIFEST).read_text()))


def reject(paths: CarnetPaths, staged: StagedRelease, failures: list[str]) -> PublicationBlocked:
    """Set a release that failed its gate aside (with its Data Docs); the previous one stays."""
    rejected = paths.releases / f"{staged.release_id}.rejected"
    shutil.rmtree(rejected, ignore_errors=True)
    staged.directory.rename(rejected)
    return PublicationBlocked(f"release {staged.release_id} not published: " + "; ".join(failures)
                              + f". The previous release stays in place; Data Docs: {rejected / 'data_docs' / 'index.html'}")


def promote(paths: CarnetPaths, staged: StagedRelease) -> Path:
    """Publish a staged release that passed its gate; refuse (and keep the old one) otherwise."""
    verdict_file = staged.directory / GATE
    verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else {"success": False,
                                                                                  "failures": ["gate not run"]}
    if not verdict["success"]:
        raise reject(paths, staged, verdict["failures"])
    final = paths.releases / staged.release_id
    shutil.rmtree(final, ignore_errors=True)
    staged.directory.rename(final)
    tmp = paths.home / f".observatory.{staged.release_id}.tmp"
    shutil.copyfile(final / OBSERVATORY_FILE, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, paths.observatory_db)  # atomic: readers see the old file or the new one
    # a file published under the former name would go stale beside the new one: carnet's own, removed
    paths.legacy_observatory_db.unlink(missing_ok=True)
    pointer = paths.releases / ".CURRENT.tmp"
    pointer.write_text(staged.release_id + "\n")
    os.replace(pointer, paths.releases / "CURRENT")
    return final


def publish(paths: CarnetPaths, *, settings: SecrecySettings | None = None,
            published_at: dt.datetime | None = None) -> tuple[Path, object]:
    """Stage, gate and promote a release from the current warehouse. Raises PublicationBlocked."""
    staged = stage(paths, settings=settings, published_at=published_at)
    result = gate_staged(paths, staged)
    return promote(paths, staged), result


@dataclass(frozen=True)
class RebuildCheck:
    release_id: str
    directory: Path
    differences: list[str]

    @property
    def identical(self) -> bool:
        return not self.differences


def rebuild(paths: CarnetPaths, manifest: dict, out: Path) -> RebuildCheck:
    """Rebuild a release from the event log as its manifest describes it, and compare.

    The marts are recomputed in their own warehouse from the log cut at the manifest's
    high-water mark; the extracts and the report must come out byte-for-byte identical.
    """
    differences = []
    if manifest["code"]["source_sha256"] != code_version()["source_sha256"]:
        differences.append("code: the sources differ from those that built the release (check out "
                           f"{manifest['code'].get('git_commit') or 'the version of the manifest'} first)")
    refresh(paths, log_position=manifest["log"]["high_water_event_id"], warehouse=out / "warehouse.duckdb")
    settings = SecrecySettings(threshold=manifest["secrecy"]["threshold"])
    keep = {k: manifest[k] for k in ("release_id", "published_at", "log", "code", "contracts", "models", "secrecy")}
    rebuilt = write_release(out / "release", out / "warehouse.duckdb", keep, settings)
    for name, table in manifest["tables"].items():
        for key in ("rows", *EXTRACT_FORMATS):
            if rebuilt["tables"].get(name, {}).get(key) != table[key]:
                differences.append(f"{name}.{key}: {table[key]} published, {rebuilt['tables'].get(name, {}).get(key)} rebuilt")
    if rebuilt["report_sha256"] != manifest["report_sha256"]:
        differences.append("report.html differs")
    changed = sorted(k for k, v in {n.name: n.fingerprint for n in model_graph()}.items()
                     if manifest["models"].get(k) != v)
    if changed:
        differences.append(f"models changed since the release: {', '.join(changed)}")
    return RebuildCheck(manifest["release_id"], out / "release", differences)
