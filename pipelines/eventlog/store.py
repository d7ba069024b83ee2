"""The event log file: a file's events, its receipt and its quarantine stored in one transaction.

The recorders live apart: the typed streams in `log_store.py`, the key vault in `vault.py`, the
ingestion ledger in `ledger.py`; `EventLog` holds them over one writer connection.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from pipelines.eventlog.ledger import Ledger
from pipelines.eventlog.log_store import LogStore
from pipelines.eventlog.migration import require_current_layout
from pipelines.eventlog.schema import DDL, LAYOUT_VERSION
from pipelines.eventlog.vault import Vault


@dataclass
class QuarantinedRow:
    line: int | None
    column: str | None
    value: str | None
    rule: str
    message: str
    all_reasons: str


@dataclass
class FileBatch:
    """Everything one inbox file produced, to be stored in one transaction."""

    file_name: str
    sha256: str
    status: str  # ingested | quarantined | refused
    centre_id: str | None = None
    feed: str | None = None
    extracted_at: dt.datetime | None = None
    dialect: str | None = None
    reason: str | None = None
    rows_read: int | None = None
    duplicates_in_file: int = 0
    events: pl.DataFrame | None = None  # `log_store.EVENT_FRAME` columns + the stream's payload columns
    quarantine: list[QuarantinedRow] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    contract_version: str | None = None


@dataclass(frozen=True)
class Receipt:
    file_name: str
    status: str
    rows_read: int | None
    rows_appended: int
    rows_duplicate: int
    rows_quarantined: int
    reason: str | None = None

    @property
    def reconciles(self) -> bool:
        if self.rows_read is None:
            return True
        return self.rows_read == self.rows_appended + self.rows_duplicate + self.rows_quarantined


class ReconciliationError(AssertionError):
    pass


def connect(path: Path, *, read_only: bool = False, config: dict[str, str] | None = None) -> duckdb.DuckDBPyConnection:
    """The log file; `config` holds DuckDB settings (memory ceiling, spill folder).
    A log in an older layout is refused in one line, naming `carnet migrate`."""
    if read_only:
        conn = duckdb.connect(str(path), read_only=True, config=config or {})
        try:
            require_current_layout(conn, path)
        except BaseException:
            conn.close()
            raise
        return conn
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path), config=config or {})
    try:
        require_current_layout(conn, path)
        conn.execute(DDL)
        if not conn.execute("SELECT count(*) FROM log.layout").fetchone()[0]:
            conn.execute("INSERT INTO log.layout VALUES (?, now()::TIMESTAMP)", [LAYOUT_VERSION])
    except BaseException:
        conn.close()
        raise
    return conn


class EventLog:
    """The event log file over one writer connection: the streams (`log`), the key vault (`vault`)
    and the ingestion ledger (`ingest`), written together in the caller's transactions."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn
        self.streams = LogStore(conn)
        self.vault = Vault(conn)
        self.ledger = Ledger(conn)

    def begin(self) -> None:
        self.conn.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def store_batch(self, batches: list[FileBatch]) -> list[Receipt]:
        """Append the new versions of a batch of files, with receipts and quarantine.

        The caller holds the transaction. Files are in recorded-time order; a row is a new
        version when its payload differs from the version in force just before its
        recorded time, whether that version is in the log or earlier in the batch.
        """
        now = dt.datetime.now().replace(microsecond=0)
        counts = self.streams.append(batches, now)
        receipts = []
        for seq, batch in enumerate(batches):
            appended, duplicates = counts.get(seq, (0, 0))
            duplicates += batch.duplicates_in_file
            quarantined = len({q.line for q in batch.quarantine if q.line is not None})
            receipt = Receipt(batch.file_name, batch.status, batch.rows_read, appended, duplicates, quarantined,
                              batch.reason)
            if not receipt.reconciles:
                raise ReconciliationError(
                    f"{batch.file_name}: read {batch.rows_read} != appended {appended} + duplicates {duplicates} "
                    f"+ quarantined {quarantined}")
            receipts.append(receipt)
        self.ledger.record(batches, receipts, now)
        return receipts

    def apply_requeue(self, batch: FileBatch, retried: set[int | None]) -> tuple[int, int, int]:
        """Append what now passes among a file's quarantined rows; resolve them; fix the receipt.

        The caller holds the transaction. `retried` are the file's unresolved quarantined lines
        (None: the file was quarantined whole). Returns (appended, duplicates, still quarantined).
        """
        now = dt.datetime.now().replace(microsecond=0)
        appended, duplicates = self.streams.append([batch], now).get(0, (0, 0))
        still = {q.line for q in batch.quarantine if q.line is not None}
        if None in retried:
            duplicates += batch.duplicates_in_file
            self.ledger.resolve_whole_file(batch, appended, duplicates, len(still), now)
            retried_rows = batch.rows_read or 0
        else:
            self.ledger.resolve_lines(batch, [line for line in retried if line not in still], appended, duplicates,
                                      now)
            retried_rows = len(retried)
        read, a, d, q = self.ledger.receipt_counts(batch)
        if read != a + d + q:
            raise ReconciliationError(f"{batch.file_name} after requeue: read {read} != {a} + {d} + {q}")
        self.ledger.record_requeue(batch, now, retried_rows, appended, duplicates, len(still))
        return appended, duplicates, len(still)
