"""What people read of the event log, over a read-only connection: the CLI asks here, not in SQL."""
from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Iterator

import duckdb

from pipelines.settings import ConfigurationError


class LogReadModel:
    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn

    def events_by_type(self) -> list[tuple[str, int]]:
        return self.conn.execute("SELECT event_type, count(*) FROM log.events GROUP BY 1 ORDER BY 1").fetchall()

    def files_by_status(self) -> list[tuple[str, int]]:
        return self.conn.execute("SELECT status, count(*) FROM ingest.receipts GROUP BY 1 ORDER BY 1").fetchall()

    def received_file_names(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT DISTINCT file_name FROM ingest.receipts").fetchall()}

    def open_quarantine_by_rule(self) -> list[tuple[str, int]]:
        return self.conn.execute("SELECT rule, count(*) FROM ingest.quarantine WHERE resolved_at IS NULL "
                                 "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()

    def receipts_since(self, since: dt.datetime) -> list[tuple]:
        """(file, status, read, appended, duplicates, quarantined, reason) of receipts stored since `since`."""
        return self.conn.execute(
            "SELECT file_name, status, rows_read, rows_appended, rows_duplicate, rows_quarantined, reason "
            "FROM ingest.receipts WHERE ingested_at >= ? ORDER BY ingested_at, file_name", [since]).fetchall()

    def _open_quarantine(self, centre: str | None) -> tuple[str, list]:
        return (("WHERE resolved_at IS NULL AND centre_id = ?", [centre]) if centre
                else ("WHERE resolved_at IS NULL", []))

    def quarantine_summary(self, centre: str | None = None) -> list[tuple[str, str, str, int]]:
        """(centre, file, rule, rows) of the rows still quarantined."""
        where, params = self._open_quarantine(centre)
        return self.conn.execute(f"SELECT coalesce(centre_id, '?'), file_name, rule, count(*) FROM ingest.quarantine "
                                 f"{where} GROUP BY ALL ORDER BY ALL", params).fetchall()

    def quarantine_rows(self, centre: str | None = None) -> list[tuple]:
        """(centre, file, line, column, masked value, rule, message, all reasons) still quarantined."""
        where, params = self._open_quarantine(centre)
        return self.conn.execute(
            f"SELECT coalesce(centre_id, 'unknown_centre'), file_name, line, column_name, value_masked, rule, "
            f"message, all_reasons FROM ingest.quarantine {where} ORDER BY ALL", params).fetchall()


@contextlib.contextmanager
def read_log(path: Path) -> Iterator[LogReadModel]:
    """The read model over the log file; a clear message while a writer holds it, or when the log
    is in an older layout."""
    from pipelines.eventlog.store import connect

    try:
        conn = connect(path, read_only=True)
    except duckdb.IOException as exc:
        raise ConfigurationError(f"the event log {path} is being written (an ingestion or refresh is "
                                 f"running); try again when it has finished ({exc})") from None
    try:
        yield LogReadModel(conn)
    finally:
        conn.close()
