"""The publication's own Dagster resource: the quality gate, in a worker process of its own."""
import dagster as dg
from pydantic import PrivateAttr

from pipelines.settings import Settings


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

    def gate(self, settings: Settings, staged):
        """The gate's verdict on `staged`, written next to it (see `release.gate_staged`)."""
        paths, ratio = settings.paths, settings.release_min_row_ratio
        if self._process is None:
            from pipelines.publication.release import gate_staged

            return gate_staged(paths, staged, ratio)
        return self._process.gate(paths, staged, ratio)
