"""The Dagster resource every domain shares: carnet's settings for a run, read when it starts
(never at import), and the event log's writer."""

import contextlib
from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from pipelines.eventlog.lock import writer_lock
from pipelines.eventlog.store import EventLog, connect
from pipelines.progress import warn
from pipelines.pseudonyms import Pseudonymiser
from pipelines.registry import Registry, load_registry
from pipelines.settings import CarnetPaths, Settings


class CarnetResource(dg.ConfigurableResource):
    """carnet's settings for a run (`Settings`), read from the environment once, when first used in
    the run; the fields override it (`home`: else $CARNET_HOME or `.carnet/`; `demo`: else
    CARNET_DEMO=1 allows the fixed demo key when no $CARNET_PSEUDONYMISATION_KEY is set)."""

    home: Optional[str] = None
    demo: Optional[bool] = None
    writer_timeout_s: float = 600.0
    _settings = PrivateAttr(default=None)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_environment(home=self.home, demo=self.demo)
        return self._settings

    def paths(self) -> CarnetPaths:
        return self.settings().paths.ensure()

    def registry(self) -> Registry:
        return load_registry()

    def pseudonymiser(self) -> Pseudonymiser:
        return Pseudonymiser(self.settings().pseudonymisation_key())

    def writer_lock(self):
        """Exclusive use of the event log without opening it (readers such as SQLMesh attach it)."""
        return writer_lock(self.paths().writer_lock, timeout_s=self.writer_timeout_s,
                           on_wait=lambda message: warn(None, message))

    @contextlib.contextmanager
    def event_log(self):
        """The only way to write the log: under the writer lock, one connection."""
        paths = self.paths()
        with self.writer_lock():
            conn = connect(paths.events_db, config=self.settings().duckdb_config(paths))
            try:
                yield EventLog(conn)
            finally:
                conn.close()
