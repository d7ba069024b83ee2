"""Progress of long steps, told to whoever watches: Dagster's run log, and the CLI's terminal.

Steps report through `report`; the Dagster run log gets every line (`context.log`), and the
Python logger `carnet.progress` gets them too, so that the CLI, which silences Dagster's own
event stream, can show a bar on a terminal and plain lines in a log file (`TerminalProgress`).
"""
from __future__ import annotations

import logging
import sys
from typing import TextIO

PROGRESS = logging.getLogger("carnet.progress")


def report(log, message: str, *, done: int | None = None, total: int | None = None, label: str = "") -> None:
    """One step forward: `message` for the run log; `done`/`total` (and a short `label`) for a bar."""
    if log is not None:
        log.info(message)
    PROGRESS.info(message, extra={"carnet_done": done, "carnet_total": total, "carnet_label": label})


def warn(log, message: str) -> None:
    if log is not None:
        log.warning(message)
    PROGRESS.warning(message)


class TerminalProgress(logging.Handler):
    """Shows `carnet.progress` on a stream: a bar redrawn in place on a terminal, and plain lines,
    one per tenth of the way, when the stream is a file or a pipe."""

    WIDTH = 24

    def __init__(self, stream: TextIO | None = None):
        super().__init__(logging.INFO)
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._open_bar = False
        self._last_tenth: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        done, total = getattr(record, "carnet_done", None), getattr(record, "carnet_total", None)
        label = getattr(record, "carnet_label", "") or ""
        message = record.getMessage()
        if done is None or not total:
            self._line(message)
            return
        if self.tty:
            filled = self.WIDTH * done // total
            self.stream.write(f"\r{label:<14} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done:,}/{total:,}\x1b[K")
            self._open_bar = done < total
            if not self._open_bar:
                self.stream.write("\n")
            self.stream.flush()
            return
        tenth = 10 * done // total
        if tenth != self._last_tenth.get(label) or done == total:
            self._last_tenth[label] = tenth
            self._line(message)

    def _line(self, message: str) -> None:
        if self._open_bar:
            self.stream.write("\n")
            self._open_bar = False
        self.stream.write(message + "\n")
        self.stream.flush()


def show_progress_on(stream: TextIO | None = None) -> TerminalProgress:
    handler = TerminalProgress(stream)
    PROGRESS.addHandler(handler)
    PROGRESS.setLevel(logging.INFO)
    PROGRESS.propagate = False
    return handler
