"""Dagster resources: carnet's home and secrets, resolved when a run starts (never at import)."""

import contextlib
from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from pipelines.eventlog.lock import writer_lock
from pipelines.eventlog.store import EventLog, connect
from pipelines.progress import warn
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
        return writer_lock(self.paths().writer_lock, timeout_s=self.writer_timeout_s,
                           on_wait=lambda message: warn(None, message))

    @contextlib.contextmanager
    def event_log(self):
        """The only way to write the log: under the writer lock, one connection."""
        paths = self.paths()
        with self.writer_lock():
            conn = connect(paths.events_db, config=duckdb_config(paths))
            try:
                yield EventLog(conn)
            finally:
                conn.close()


class QualityGateResource(dg.ConfigurableResource):
    """Runs the publication gate (Great Expectations on a staged release).

    With `own_process` (the default) the gate runs in a worker spawned when a run that includes
    it starts, so the import of Great Expectations overlaps the ingestion and the models instead
    of waiting for them; `own_process=False` gates in the run's process.
    """

    own_process: bool = True
    _process = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.own_process:
            from pipelines.publication.gate_process import GateProcess

            self._process = GateProcess.start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def gate(self, paths: CarnetPaths, staged):
        """The gate's verdict on `staged`, written next to it (see `release.gate_staged`)."""
        if self._process is None:
            from pipelines.publication.release import gate_staged

            return gate_staged(paths, staged)
        return self._process.gate(paths, staged)
