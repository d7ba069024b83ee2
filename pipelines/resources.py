"""Dagster resources: carnet's home and secrets, resolved when a run starts (never at import)."""

import contextlib
from typing import Optional

import dagster as dg

from pipelines.eventlog.lock import writer_lock
from pipelines.eventlog.store import EventLog, connect
from pipelines.pseudonyms import Pseudonymiser
from pipelines.registry import Registry, load_registry
from pipelines.settings import CarnetPaths, carnet_paths, duckdb_config, pseudonymisation_key


class CarnetResource(dg.ConfigurableResource):
    """Where carnet lives and how it pseudonymises.

    Left empty, `home` falls back to $CARNET_HOME then `.carnet/`, and the key to
    $CARNET_PSEUDONYMISATION_KEY (or the demo key when CARNET_DEMO=1), read at run time.
    """

    home: Optional[str] = None
    writer_timeout_s: float = 600.0

    def paths(self) -> CarnetPaths:
        return carnet_paths(self.home).ensure()

    def registry(self) -> Registry:
        return load_registry()

    def pseudonymiser(self) -> Pseudonymiser:
        return Pseudonymiser(pseudonymisation_key())

    def writer_lock(self):
        """Exclusive use of the event log without opening it (readers such as SQLMesh attach it)."""
        return writer_lock(self.paths().writer_lock, timeout_s=self.writer_timeout_s)

    @contextlib.contextmanager
    def event_log(self):
        """The only way to write the log: under the writer lock, one connection."""
        paths = self.paths()
        with writer_lock(paths.writer_lock, timeout_s=self.writer_timeout_s):
            conn = connect(paths.events_db, config=duckdb_config(paths))
            try:
                yield EventLog(conn)
            finally:
                conn.close()
