"""The quality gate's own process, started with the run so that Great Expectations is imported
while the ingestion and the models work.

Importing Great Expectations takes 2.5-4 s (it loads every expectation, SciPy included): on the
nightly's path that is a tenth of a night at 10M acts. A process, not a thread: two threads
importing at once can hand one of them a partly initialised module, a failure that would come
and go from night to night.
"""
from __future__ import annotations

import multiprocessing
import os
import traceback
from dataclasses import dataclass

CONFIG_PREFIXES = ("CARNET_", "GX_")  # the gate's settings are read at run time: sent with each request


class GateProcessFailed(RuntimeError):
    """The gate could not run in its process (it died, or Great Expectations failed there)."""


def _run_time_config() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(CONFIG_PREFIXES)}


def _apply(config: dict[str, str]) -> None:
    for k in [k for k in os.environ if k.startswith(CONFIG_PREFIXES) and k not in config]:
        del os.environ[k]
    os.environ.update(config)


def _serve(conn) -> None:
    """The worker: import Great Expectations, then gate each staged release it is sent.

    It runs niced: the import only fills a core the run leaves idle, and by the time a release is
    gated the run is waiting for the verdict, so the worker has the machine."""
    try:
        os.nice(10)
    except OSError:
        pass
    try:
        from pipelines.publication.quality import import_great_expectations

        import_great_expectations()
        warm_error = None
    except BaseException as exc:  # reported with the first request, where the run can show it
        warm_error = "".join(traceback.format_exception(exc))
    from pipelines.publication.release import gate_staged

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        if warm_error:
            conn.send(("error", warm_error))
            continue
        config, paths, staged = request
        _apply(config)
        try:
            conn.send(("ok", gate_staged(paths, staged)))
        except BaseException as exc:
            conn.send(("error", "".join(traceback.format_exception(exc))))


@dataclass
class GateProcess:
    process: multiprocessing.Process
    conn: object

    @classmethod
    def start(cls) -> "GateProcess":
        ctx = multiprocessing.get_context("spawn")  # never fork: DuckDB's and Polars' threads
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child,), name="carnet-quality-gate", daemon=True)
        process.start()
        child.close()
        return cls(process, parent)

    def gate(self, paths, staged):
        """`gate_staged(paths, staged)` in the worker, with this process's run-time settings."""
        try:
            self.conn.send((_run_time_config(), paths, staged))
            while not self.conn.poll(1.0):
                if not self.process.is_alive():
                    break
            status, value = self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self.process.join(5)
            raise GateProcessFailed(f"the quality gate's process exited (code {self.process.exitcode}) before "
                                    "answering: nothing was published; the staged release is still in place") from None
        if status == "error":
            raise GateProcessFailed(f"the quality gate failed in its process:\n{value}")
        return value

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.conn.close()
        self.process.join(2)
        if self.process.is_alive():  # still importing (a run that had nothing to gate)
            self.process.terminate()
            self.process.join(5)
