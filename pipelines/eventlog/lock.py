"""One writer at a time on the event log, whatever launched it (Dagster step, CLI, test).

DuckDB allows a single writing process per file; the Dagster pool serialises steps of
one instance, this lock also covers a CLI run next to a Dagster run.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Callable


class WriterBusy(RuntimeError):
    pass


_HELD: set[int] = set()  # lock descriptors this process holds


def _drop_locks_in_child() -> None:
    """A forked child (SQLMesh forks workers) must not keep the parent's lock: were the parent
    killed, the orphan would hold the event log for everyone."""
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_drop_locks_in_child)


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another carnet process"


@contextlib.contextmanager
def writer_lock(path: Path, *, timeout_s: float = 600.0, poll_s: float = 0.2,
                on_wait: Callable[[str], None] | None = None):
    """Exclusive use of the event log and what is built from it. `on_wait(message)` is called once
    if the lock is held when asked for, before waiting up to `timeout_s`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout_s
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if on_wait is not None and not told:
                    told = True
                    on_wait(f"waiting up to {timeout_s:.0f}s for {_holder(path)} (an ingestion, refresh or "
                            f"publication) to release {path}")
                if time.monotonic() >= deadline:
                    raise WriterBusy(
                        f"another carnet process has held {path} for over {timeout_s:.0f}s "
                        "(an ingestion or refresh is running); retry when it has finished"
                    ) from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD.add(fd)
        yield
    finally:
        _HELD.discard(fd)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
