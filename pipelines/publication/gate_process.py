"""The quality gate's own process, started with the run so that Great Expectations is imported
while the ingestion and the models work.

Importing Great Expectations is slow (it loads every expectation, SciPy included), and on the
nightly's path it would add to every night. A process, not a thread: two threads
importing at once can hand one of them a partly initialised module, a failure that would come
and go from night to night. A plain `python -m` child, not multiprocessing's spawn, which runs
the parent's main script again in the child (a script or notebook cell without a main guard
would start a second run there).
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import traceback
from dataclasses import dataclass

from pipelines.settings import environment_with, library_environment

class GateProcessFailed(RuntimeError):
    """The gate could not run in its process (it died, or Great Expectations failed there)."""


def serve() -> None:
    """The worker: import Great Expectations, then gate each staged release it is sent.

    Requests and replies are pickles on stdin and on a private copy of stdout; whatever the gate
    prints goes to stderr. It runs niced: the import only fills a core the run leaves idle, and
    when a release is gated the run is waiting for the verdict, so the worker has the machine."""
    requests, replies = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
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
            request = pickle.load(requests)
        except EOFError:
            return
        if request is None:
            return
        if warm_error:
            reply = ("error", warm_error)
        else:
            min_row_ratio, paths, staged = request
            try:
                reply = ("ok", gate_staged(paths, staged, min_row_ratio))
            except BaseException as exc:
                reply = ("error", "".join(traceback.format_exception(exc)))
        pickle.dump(reply, replies)
        replies.flush()


@dataclass
class GateProcess:
    process: subprocess.Popen
    gated: bool = False  # asked for a verdict at least once

    @classmethod
    def start(cls) -> "GateProcess":
        env = environment_with(**library_environment(),
                               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # the run's own imports
        process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, env=env)
        return cls(process)

    def gate(self, paths, staged, min_row_ratio: float):
        """`gate_staged(paths, staged, min_row_ratio)` in the worker: the run's settings travel with the
        request (the worker started before they were read)."""
        self.gated = True
        try:
            pickle.dump((min_row_ratio, paths, staged), self.process.stdin)
            self.process.stdin.flush()
            status, value = pickle.load(self.process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            try:
                code = self.process.wait(5)
            except subprocess.TimeoutExpired:
                code = "still running, not answering"
            raise GateProcessFailed(f"the quality gate's process exited (code {code}) before answering: "
                                    "nothing was published; the staged release is still in place") from None
        if status == "error":
            raise GateProcessFailed(f"the quality gate failed in its process:\n{value}")
        return value

    def stop(self) -> None:
        """End the worker. One never asked to gate (a run with nothing new) is terminated at once,
        likely still importing: it holds nothing, and waiting would add its import to the run."""
        if self.gated:
            try:
                pickle.dump(None, self.process.stdin)
                self.process.stdin.flush()
                self.process.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


if __name__ == "__main__":
    serve()
