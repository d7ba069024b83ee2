"""The ingestion ledger: one receipt per file, the quarantined rows, the requeues.

What the ingestion did with each file, apart from the events themselves: a receipt reconciles
the file's lines with what the log appended, found already there, or quarantined.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import duckdb
import polars as pl

if TYPE_CHECKING:
    from pipelines.eventlog.store import FileBatch, Receipt

_RECEIPT_COLUMNS = {
    "file_name": pl.Utf8, "file_sha256": pl.Utf8, "centre_id": pl.Utf8, "feed": pl.Utf8,
    "extracted_at": pl.Datetime("us"), "dialect": pl.Utf8, "status": pl.Utf8, "reason": pl.Utf8,
    "rows_read": pl.Int64, "rows_appended": pl.Int64, "rows_duplicate": pl.Int64, "rows_quarantined": pl.Int64,
    "unknown_columns": pl.List(pl.Utf8), "contract_version": pl.Utf8, "ingested_at": pl.Datetime("us")}
_QUARANTINE_COLUMNS = {
    "file_name": pl.Utf8, "file_sha256": pl.Utf8, "centre_id": pl.Utf8, "feed": pl.Utf8, "line": pl.Int32,
    "column_name": pl.Utf8, "value_masked": pl.Utf8, "rule": pl.Utf8, "message": pl.Utf8, "all_reasons": pl.Utf8,
    "quarantined_at": pl.Datetime("us")}


class Ledger:
    """The ledger of one connection (the caller holds the transaction)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn

    def known_files(self) -> dict[str, set[str]]:
        """File name → the SHA-256s already received under that name."""
        known: dict[str, set[str]] = {}
        for name, sha in self.conn.execute("SELECT file_name, file_sha256 FROM ingest.receipts").fetchall():
            known.setdefault(name, set()).add(sha)
        return known

    def record(self, batches: list["FileBatch"], receipts: list["Receipt"], now: dt.datetime) -> None:
        """Each file's receipt and quarantined rows."""
        self._insert_rows("ingest.receipts", _RECEIPT_COLUMNS, [
            [b.file_name, b.sha256, b.centre_id, b.feed, b.extracted_at, b.dialect, b.status, b.reason, b.rows_read,
             r.rows_appended, r.rows_duplicate, r.rows_quarantined, b.unknown_columns, b.contract_version, now]
            for b, r in zip(batches, receipts)])
        self.quarantine(batches, now)

    def quarantine(self, batches: list["FileBatch"], now: dt.datetime) -> None:
        self._insert_rows("ingest.quarantine", _QUARANTINE_COLUMNS, [
            [b.file_name, b.sha256, b.centre_id, b.feed, q.line, q.column, q.value, q.rule, q.message, q.all_reasons,
             now] for b in batches for q in b.quarantine])

    def _insert_rows(self, table: str, columns: dict[str, pl.DataType], rows: list[list]) -> None:
        """Rows in one statement, through Arrow (`executemany` runs one INSERT per row: ~1 ms each)."""
        if not rows:
            return
        frame = pl.DataFrame(rows, schema=columns, orient="row")
        names = ", ".join(columns)  # our own column names, never input
        self.conn.register("incoming_rows", frame.to_arrow())
        try:
            self.conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM incoming_rows")
        finally:
            self.conn.unregister("incoming_rows")

    def unresolved_quarantine(self) -> dict[tuple[str, str], set[int | None]]:
        """(file name, SHA-256) → the quarantined lines not appended since (None: the whole file)."""
        out: dict[tuple[str, str], set[int | None]] = {}
        for name, sha, line in self.conn.execute(
                "SELECT file_name, file_sha256, line FROM ingest.quarantine WHERE resolved_at IS NULL").fetchall():
            out.setdefault((name, sha), set()).add(line)
        return out

    def resolve_whole_file(self, batch: "FileBatch", appended: int, duplicates: int, still: int,
                           now: dt.datetime) -> None:
        """A file quarantined whole now read: its quarantine resolved, its rows' verdicts recorded, its
        receipt rewritten as an ingestion."""
        key = [batch.file_name, batch.sha256]
        self.conn.execute("UPDATE ingest.quarantine SET resolved_at = ? WHERE file_name = ? AND file_sha256 = ? "
                          "AND line IS NULL AND resolved_at IS NULL", [now, *key])
        self.quarantine([batch], now)
        self.conn.execute("""
            UPDATE ingest.receipts SET status = 'ingested', reason = NULL, centre_id = ?, feed = ?,
                extracted_at = ?, dialect = ?, rows_read = ?, rows_appended = ?, rows_duplicate = ?,
                rows_quarantined = ?, contract_version = ?
            WHERE file_name = ? AND file_sha256 = ?""",
            [batch.centre_id, batch.feed, batch.extracted_at, batch.dialect, batch.rows_read, appended,
             duplicates, still, batch.contract_version, *key])

    def resolve_lines(self, batch: "FileBatch", resolved: list[int], appended: int, duplicates: int,
                      now: dt.datetime) -> None:
        """Quarantined lines that now passed: resolved, and moved to appended or duplicate in the receipt."""
        key = [batch.file_name, batch.sha256]
        if resolved:
            self.conn.execute("UPDATE ingest.quarantine SET resolved_at = ? WHERE file_name = ? AND file_sha256 = ? "
                              "AND resolved_at IS NULL AND list_contains(?, line)", [now, *key, resolved])
        self.conn.execute("""
            UPDATE ingest.receipts SET rows_appended = rows_appended + ?, rows_duplicate = rows_duplicate + ?,
                rows_quarantined = rows_quarantined - ?
            WHERE file_name = ? AND file_sha256 = ?""", [appended, duplicates, appended + duplicates, *key])

    def receipt_counts(self, batch: "FileBatch") -> tuple[int, int, int, int]:
        """(read, appended, duplicates, quarantined) of a file's receipt."""
        return self.conn.execute(
            "SELECT rows_read, rows_appended, rows_duplicate, rows_quarantined FROM ingest.receipts "
            "WHERE file_name = ? AND file_sha256 = ?", [batch.file_name, batch.sha256]).fetchone()

    def record_requeue(self, batch: "FileBatch", now: dt.datetime, retried: int, appended: int, duplicates: int,
                       still: int) -> None:
        self.conn.execute("INSERT INTO ingest.requeues VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [batch.file_name, batch.sha256, now, retried, appended, duplicates, still,
                           batch.contract_version])
