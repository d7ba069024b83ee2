"""Run-time configuration: read from the environment when asked, never at import time."""
from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def events_db(self) -> Path:
        return self.home / "events.duckdb"

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
        chosen = os.environ.get("DAGSTER_HOME")
        return Path(chosen).expanduser().resolve() if chosen else self.home / "dagster"

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
    chosen = home or os.environ.get("CARNET_HOME") or ".carnet"
    return CarnetPaths(Path(chosen).expanduser().resolve())


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
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_UNIT_BYTES = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def duckdb_memory_limit() -> str:
    """DuckDB's memory ceiling ($CARNET_DUCKDB_MEMORY_LIMIT): chosen, not DuckDB's 80 % of RAM, so
    that the event log and the warehouse spill to disk instead of growing with the data."""
    limit = os.environ.get("CARNET_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT).strip()
    if not _MEMORY.fullmatch(limit):
        raise ConfigurationError(f"CARNET_DUCKDB_MEMORY_LIMIT={limit!r} is not a size: write it like 2GB or 1500MiB.")
    return limit


def duckdb_config(paths: CarnetPaths) -> dict[str, str]:
    """Settings for carnet's DuckDB writers: the memory ceiling and where to spill beyond it.

    Half the ceiling is kept by DuckDB's block allocator instead of going back to the system
    after each statement: the writer allocates and frees a batch's blocks hundreds of times, and
    each page handed back was faulted in again (10M acts: 12M page faults, 37-48 s of system
    time; with it 7-9M and 25-34 s, the ingestion 7 % faster, the peak within 80 MiB)."""
    limit = duckdb_memory_limit()
    number, unit = _MEMORY.fullmatch(limit).groups()
    kept = int(float(number) * _UNIT_BYTES[unit.lower()]) // 2
    return {"memory_limit": limit, "temp_directory": str(paths.spill),
            "block_allocator_memory": f"{kept // 2**20}MiB"}


def pseudonymisation_key(value: str | None = None, *, allow_demo: bool = False) -> bytes:
    """The HMAC key for NIRs. Refuses to run on real data without one."""
    key = value or os.environ.get("CARNET_PSEUDONYMISATION_KEY")
    if key:
        if len(key) < 16:
            raise ConfigurationError("CARNET_PSEUDONYMISATION_KEY must be at least 16 characters long.")
        return key.encode()
    if allow_demo or os.environ.get("CARNET_DEMO") == "1":
        print(
            "WARNING: CARNET_PSEUDONYMISATION_KEY is not set; using the fixed DEMO key. "
            "Pseudonyms are NOT protected. Never ingest real patient data like this.",
            file=sys.stderr,
        )
        return DEMO_KEY.encode()
    raise ConfigurationError(
        "CARNET_PSEUDONYMISATION_KEY is not set. Set it to a secret of 16+ characters "
        "(e.g. `export CARNET_PSEUDONYMISATION_KEY=$(python -c 'import secrets;print(secrets.token_hex(32))')`), "
        "or set CARNET_DEMO=1 to run on demo data with a fixed key."
    )
