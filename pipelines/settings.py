"""Run-time configuration: read from the environment when asked, never at import time."""
from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DEMO_KEY = "carnet-demo-key-not-for-real-data"


class ConfigurationError(RuntimeError):
    """Configuration that a person must fix; the message says how."""


# The published file is not named after its schema: DuckDB names a file's catalog after the file, and
# a catalog `observatory` holding a schema `observatory` makes `observatory.<table>` ambiguous, so
# the analyst's natural `SELECT * FROM observatory.activity_by_territory` would fail.
OBSERVATORY_FILE = "carnet_observatory.duckdb"


@dataclass(frozen=True)
class CarnetPaths:
    """Where carnet keeps its state: everything lives under one home folder."""

    home: Path
    dagster_root: Path | None = None  # Dagster's instance; None: `dagster/` in the home

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def events_db(self) -> Path:
        return self.home / "events.duckdb"

    @property
    def log_parquet(self) -> Path:
        """The log's streams as Parquet, derived from `events_db` (see `eventlog/parquet_export.py`)."""
        return self.home / "log-parquet"

    @property
    def warehouse_db(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def observatory_db(self) -> Path:
        return self.home / OBSERVATORY_FILE

    @property
    def legacy_observatory_db(self) -> Path:
        """Where releases were published before the file took a name of its own (see OBSERVATORY_FILE)."""
        return self.home / "observatory.duckdb"

    @property
    def releases(self) -> Path:
        return self.home / "releases"

    @property
    def spill(self) -> Path:
        return self.home / "spill"

    @property
    def writer_lock(self) -> Path:
        return self.home / "event_log.lock"

    @property
    def dagster_home(self) -> Path:
        """Dagster's instance (runs, their logs, schedules' state), shared by the CLI, `carnet dev` and
        the schedule: $DAGSTER_HOME when set, else `dagster/` in the home."""
        return self.dagster_root or self.home / "dagster"

    def ensure(self, *, create: bool = False) -> "CarnetPaths":
        """The home, ready to write. Only `create` makes a missing home (a demo): a missing one is
        otherwise a mistyped CARNET_HOME, which must not silently start an empty history."""
        if not create and not self.home.is_dir():
            raise ConfigurationError(
                f"CARNET_HOME {self.home} does not exist: check its spelling (or create it, with an inbox/ "
                "folder the centres' exports land in); `carnet demo` creates a demo home")
        try:
            self.inbox.mkdir(parents=True, exist_ok=True)
            probe = self.home / f".write-probe-{os.getpid()}-{threading.get_ident()}"  # concurrent runs probe apart
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigurationError(
                f"CARNET_HOME {self.home} is not writable ({exc.strerror}). "
                "Point CARNET_HOME to a folder you can write to."
            ) from exc
        return self


def carnet_paths(home: str | os.PathLike | None = None) -> CarnetPaths:
    """`home`, else $CARNET_HOME, else `.carnet/` in the working directory."""
    return Settings.from_environment(home=home).paths


_DAGSTER_YAML = """\
# carnet's Dagster instance: runs of the CLI, `carnet dev` and the schedule share it.
telemetry:
  enabled: false
"""


def prepare_dagster_home(path: Path) -> Path:
    """The Dagster home, created with its dagster.yaml (no telemetry: health data, no network)."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(_DAGSTER_YAML, encoding="utf-8")
    return path


DEFAULT_DUCKDB_MEMORY_LIMIT = "2GB"
# The engines the SQLMesh models run on, by the names CARNET_ENGINE takes (the gateway's name too)
ENGINES = {"duckdb": "duckdb", "local": "duckdb", "spark": "spark"}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_UNIT_BYTES = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_NO_KEY = ("CARNET_PSEUDONYMISATION_KEY is not set. Set it to a secret of 16+ characters "
           "(e.g. `export CARNET_PSEUDONYMISATION_KEY=$(python -c 'import secrets;print(secrets.token_hex(32))')`), "
           "or set CARNET_DEMO=1 to run on demo data with a fixed key.")


def _number(environ: Mapping[str, str], name: str, default: str, kind, check, rule: str):
    raw = environ.get(name, default).strip()
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number: {rule} "
                                 f"(default {default})") from None
    if not check(value):
        raise ConfigurationError(f"{name}={raw!r}: {rule} (default {default})")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything carnet reads from its environment, read once (`from_environment`, checked there:
    a bad value is a `ConfigurationError` saying what to write) and passed to what needs it.
    Dagster's resources read it when a run starts; the CLI and the SQLMesh config read it too."""

    home: Path
    dagster_home: Path | None
    key: str | None
    demo: bool
    secrecy_threshold: int
    release_min_row_ratio: float
    duckdb_memory_limit: str
    inbox_settle_seconds: float
    engine: str = "duckdb"              # duckdb | spark: where the SQLMesh models run
    spark_master: str = "local[2]"      # Spark's master URL (CARNET_ENGINE=spark)
    spark_driver_memory: str = "4g"     # the Spark driver's heap (in local mode, the whole engine's)
    spark_log_url: str | None = None    # where Spark reads the log's Parquet; None: the home's log-parquet/

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *, home: str | os.PathLike | None = None,
                         demo: bool | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        limit = env.get("CARNET_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT).strip()
        if not _MEMORY.fullmatch(limit):
            raise ConfigurationError(f"CARNET_DUCKDB_MEMORY_LIMIT={limit!r} is not a size: write it like 2GB or 1500MiB.")
        key = env.get("CARNET_PSEUDONYMISATION_KEY") or None
        if key is not None and len(key) < 16:
            raise ConfigurationError("CARNET_PSEUDONYMISATION_KEY must be at least 16 characters long.")
        dagster = env.get("DAGSTER_HOME")
        engine = env.get("CARNET_ENGINE", "duckdb").strip().lower()
        if engine not in ENGINES:
            raise ConfigurationError(f"CARNET_ENGINE={engine!r} is not an engine carnet runs its models on: "
                                     "write duckdb (the default, one machine) or spark")
        driver_memory = env.get("CARNET_SPARK_DRIVER_MEMORY", "4g").strip()
        if not re.fullmatch(r"\d+[kmgt]?", driver_memory, re.IGNORECASE):
            raise ConfigurationError(f"CARNET_SPARK_DRIVER_MEMORY={driver_memory!r} is not a JVM size: "
                                     "write it like 4g or 2048m (default 4g)")
        return cls(
            home=Path(home or env.get("CARNET_HOME") or ".carnet").expanduser().resolve(),
            dagster_home=Path(dagster).expanduser().resolve() if dagster else None,
            key=key,
            demo=demo if demo is not None else env.get("CARNET_DEMO") == "1",
            secrecy_threshold=_number(env, "CARNET_SECRECY_THRESHOLD", "11", int, lambda v: v >= 2,
                                      "the smallest count of patients published; 2 or more, or single patients "
                                      "would be published"),
            release_min_row_ratio=_number(env, "CARNET_RELEASE_MIN_ROW_RATIO", "0.9", float, lambda v: v >= 0,
                                          "the share of the last release's rows a table may not fall under; "
                                          "a number such as 0.9"),
            duckdb_memory_limit=limit,
            inbox_settle_seconds=_number(env, "CARNET_INBOX_SETTLE_SECONDS", "2", float, lambda v: v >= 0,
                                         "seconds a file must stay unchanged to be read; 0 or more"),
            engine=ENGINES[engine],
            spark_master=env.get("CARNET_SPARK_MASTER", "local[2]").strip() or "local[2]",
            spark_driver_memory=driver_memory,
            spark_log_url=env.get("CARNET_SPARK_LOG_URL", "").strip() or None,
        )

    @property
    def paths(self) -> CarnetPaths:
        return CarnetPaths(self.home, self.dagster_home)

    def pseudonymisation_key(self) -> bytes:
        """The HMAC key for NIRs. Refuses to run on real data without one."""
        if self.key:
            return self.key.encode()
        if self.demo:
            print("WARNING: CARNET_PSEUDONYMISATION_KEY is not set; using the fixed DEMO key. "
                  "Pseudonyms are NOT protected. Never ingest real patient data like this.", file=sys.stderr)
            return DEMO_KEY.encode()
        raise ConfigurationError(_NO_KEY)

    def duckdb_config(self, paths: CarnetPaths | None = None) -> dict[str, str]:
        """Settings for carnet's DuckDB writers: the memory ceiling (chosen, not DuckDB's 80 % of RAM, so
        that the log and the warehouse spill to disk instead of growing with the data) and where to spill.

        Half the ceiling is kept by DuckDB's block allocator instead of going back to the system after
        each statement: the writer allocates and frees a batch's blocks hundreds of times, and each page
        handed back would be faulted in again (docs/benchmarks.md)."""
        number, unit = _MEMORY.fullmatch(self.duckdb_memory_limit).groups()
        kept = int(float(number) * _UNIT_BYTES[unit.lower()]) // 2
        return {"memory_limit": self.duckdb_memory_limit, "temp_directory": str((paths or self.paths).spill),
                "block_allocator_memory": f"{kept // 2**20}MiB"}


def duckdb_config(paths: CarnetPaths) -> dict[str, str]:
    """`Settings.duckdb_config` with the settings of the environment."""
    return Settings.from_environment().duckdb_config(paths)


def pseudonymisation_key(*, allow_demo: bool = False) -> bytes:
    """`Settings.pseudonymisation_key` with the settings of the environment (`allow_demo`: a demo)."""
    return Settings.from_environment(demo=True if allow_demo else None).pseudonymisation_key()


def library_environment() -> dict[str, str]:
    """Variables that keep the libraries carnet runs quiet and offline (no analytics: no network here,
    and no telemetry on health data pipelines)."""
    return {"GX_ANALYTICS_ENABLED": "False"}


def quiet_libraries() -> None:
    """Set `library_environment` in this process (before the libraries are imported)."""
    for name, value in library_environment().items():
        os.environ.setdefault(name, value)


def environment_with(**values: str) -> dict[str, str]:
    """This process's environment with `values` on top: for a child process carnet starts."""
    return {**os.environ, **values}
