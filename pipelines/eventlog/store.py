"""DuckDB storage of the event log: append a file's events, receipts and quarantine atomically.

The only writes to `log.events` are INSERTs; nothing here updates or deletes an event.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import polars as pl

from pipelines.eventlog.schema import DDL
from pipelines.settings import ConfigurationError


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
    events: pl.DataFrame | None = None  # business_key, event_type, centre_id, event_time, source_line + payload columns
    payload_columns: list[tuple[str, str]] = field(default_factory=list)  # (column, SQL type) in payload order
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


class KeyMismatch(ConfigurationError):
    """The pseudonymisation key is not the one the log was written with."""


def connect(path: Path, *, read_only: bool = False, config: dict[str, str] | None = None) -> duckdb.DuckDBPyConnection:
    """The log file; `config` holds DuckDB settings (memory ceiling, spill folder) for a writer."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path), config=config or {})
    conn.execute(DDL)
    return conn


_RECEIPT_COLUMNS = {
    "file_name": pl.Utf8, "file_sha256": pl.Utf8, "centre_id": pl.Utf8, "feed": pl.Utf8,
    "extracted_at": pl.Datetime("us"), "dialect": pl.Utf8, "status": pl.Utf8, "reason": pl.Utf8,
    "rows_read": pl.Int64, "rows_appended": pl.Int64, "rows_duplicate": pl.Int64, "rows_quarantined": pl.Int64,
    "unknown_columns": pl.List(pl.Utf8), "contract_version": pl.Utf8, "ingested_at": pl.Datetime("us")}
_QUARANTINE_COLUMNS = {
    "file_name": pl.Utf8, "file_sha256": pl.Utf8, "centre_id": pl.Utf8, "feed": pl.Utf8, "line": pl.Int32,
    "column_name": pl.Utf8, "value_masked": pl.Utf8, "rule": pl.Utf8, "message": pl.Utf8, "all_reasons": pl.Utf8,
    "quarantined_at": pl.Datetime("us")}


class EventLog:
    """The event log file; one instance per writer connection."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn

    def known_files(self) -> dict[str, set[str]]:
        """File name → the SHA-256s already received under that name."""
        known: dict[str, set[str]] = {}
        for name, sha in self.conn.execute("SELECT file_name, file_sha256 FROM ingest.receipts").fetchall():
            known.setdefault(name, set()).add(sha)
        return known

    def salts_for(self, candidates: dict[str, str]) -> dict[str, str]:
        """Salts of the given subjects, creating the missing ones (inside the caller's transaction)."""
        cand = pl.DataFrame({"subject_id": list(candidates), "salt": list(candidates.values())},
                            schema={"subject_id": pl.Utf8, "salt": pl.Utf8})
        self.conn.register("cand_salts", cand.to_arrow())
        try:
            self.conn.execute(
                "INSERT INTO vault.patient_keys SELECT subject_id, salt, now()::TIMESTAMP FROM cand_salts c "
                "WHERE NOT EXISTS (SELECT 1 FROM vault.patient_keys k WHERE k.subject_id = c.subject_id)")
            rows = self.conn.execute(
                "SELECT k.subject_id, k.salt FROM vault.patient_keys k JOIN cand_salts c USING (subject_id)"
            ).fetchall()
        finally:
            self.conn.unregister("cand_salts")
        return dict(rows)

    def check_key(self, fingerprint: str) -> None:
        """Refuse a pseudonymisation key other than the one this log was written with; the first
        writer records its key's fingerprint (a log written before fingerprints adopts the key in use)."""
        stored = self.conn.execute("SELECT fingerprint FROM vault.key_fingerprint").fetchall()
        if not stored:
            self.conn.execute("INSERT INTO vault.key_fingerprint VALUES (?, now()::TIMESTAMP)", [fingerprint])
            return
        if stored[0][0] != fingerprint:
            raise KeyMismatch(
                "this event log was pseudonymised with another CARNET_PSEUDONYMISATION_KEY (fingerprint "
                f"{stored[0][0][:12]}…, the key given has {fingerprint[:12]}…): set the key the log was written "
                "with (for a log made by `carnet demo`: CARNET_DEMO=1 and no key); a second key would split "
                "every patient in two")

    def objections(self) -> set[str]:
        """Subject ids of every patient who objected (a short list, read once per batch)."""
        return {r[0] for r in self.conn.execute("SELECT subject_id FROM vault.objections").fetchall()}

    def record_objection(self, subject_id: str, pseudonym_of: Callable[[str, str], str]) -> bool:
        """Honour a patient's objection (caller holds the transaction): refuse their future rows,
        exclude their past events from the projections, destroy their salt. False if already done."""
        if subject_id in self.objections():
            return False
        row = self.conn.execute("SELECT salt FROM vault.patient_keys WHERE subject_id = ?", [subject_id]).fetchone()
        self._rewrite_sorted("vault.objections", "subject_id", subject_id)
        if row:
            self._rewrite_sorted("vault.excluded_pseudonyms", "pseudonym", pseudonym_of(row[0], subject_id))
            self.conn.execute("DELETE FROM vault.patient_keys WHERE subject_id = ?", [subject_id])
        return True

    def _rewrite_sorted(self, table: str, column: str, value: str) -> None:
        """Add `value` to a one-column table rewritten whole in sorted order: where a row sits then
        tells nothing of when it came (our own table and column names; the value is bound)."""
        kept = [r[0] for r in self.conn.execute(f"SELECT {column} FROM {table}").fetchall()]
        rows = sorted(set(kept) | {value})
        self.conn.execute(f"DELETE FROM {table}")
        self.conn.execute(f"INSERT INTO {table} SELECT unnest(?::VARCHAR[]) AS v ORDER BY v", [rows])

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
        counts = self._append_events(batches, now)
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
        self._insert_rows("ingest.receipts", _RECEIPT_COLUMNS, [
            [b.file_name, b.sha256, b.centre_id, b.feed, b.extracted_at, b.dialect, b.status, b.reason, b.rows_read,
             r.rows_appended, r.rows_duplicate, r.rows_quarantined, b.unknown_columns, b.contract_version, now]
            for b, r in zip(batches, receipts)])
        self._insert_quarantine([[b.file_name, b.sha256, b.centre_id, b.feed, q.line, q.column, q.value, q.rule,
                                  q.message, q.all_reasons, now] for b in batches for q in b.quarantine])
        return receipts

    def _insert_quarantine(self, rows: list[list]) -> None:
        self._insert_rows("ingest.quarantine", _QUARANTINE_COLUMNS, rows)

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

    def apply_requeue(self, batch: FileBatch, retried: set[int | None]) -> tuple[int, int, int]:
        """Append what now passes among a file's quarantined rows; resolve them; fix the receipt.

        The caller holds the transaction. `retried` are the file's unresolved quarantined lines
        (None: the file was quarantined whole). Returns (appended, duplicates, still quarantined).
        """
        now = dt.datetime.now().replace(microsecond=0)
        appended, duplicates = self._append_events([batch], now).get(0, (0, 0))
        still = {q.line for q in batch.quarantine if q.line is not None}
        whole = None in retried
        key = [batch.file_name, batch.sha256]
        if whole:
            duplicates += batch.duplicates_in_file
            self.conn.execute("UPDATE ingest.quarantine SET resolved_at = ? WHERE file_name = ? AND file_sha256 = ? "
                              "AND line IS NULL AND resolved_at IS NULL", [now, *key])
            self._insert_quarantine([[batch.file_name, batch.sha256, batch.centre_id, batch.feed, q.line, q.column,
                                      q.value, q.rule, q.message, q.all_reasons, now] for q in batch.quarantine])
            self.conn.execute("""
                UPDATE ingest.receipts SET status = 'ingested', reason = NULL, centre_id = ?, feed = ?,
                    extracted_at = ?, dialect = ?, rows_read = ?, rows_appended = ?, rows_duplicate = ?,
                    rows_quarantined = ?, contract_version = ?
                WHERE file_name = ? AND file_sha256 = ?""",
                [batch.centre_id, batch.feed, batch.extracted_at, batch.dialect, batch.rows_read, appended,
                 duplicates, len(still), batch.contract_version, *key])
            retried_rows = batch.rows_read or 0
        else:
            resolved = [line for line in retried if line not in still]
            if resolved:
                self.conn.execute("UPDATE ingest.quarantine SET resolved_at = ? WHERE file_name = ? AND file_sha256 = ? "
                                  "AND resolved_at IS NULL AND list_contains(?, line)", [now, *key, resolved])
            self.conn.execute("""
                UPDATE ingest.receipts SET rows_appended = rows_appended + ?, rows_duplicate = rows_duplicate + ?,
                    rows_quarantined = rows_quarantined - ?
                WHERE file_name = ? AND file_sha256 = ?""", [appended, duplicates, appended + duplicates, *key])
            retried_rows = len(retried)
        read, a, d, q = self.conn.execute(
            "SELECT rows_read, rows_appended, rows_duplicate, rows_quarantined FROM ingest.receipts "
            "WHERE file_name = ? AND file_sha256 = ?", key).fetchone()
        if read != a + d + q:
            raise ReconciliationError(f"{batch.file_name} after requeue: read {read} != {a} + {d} + {q}")
        self.conn.execute("INSERT INTO ingest.requeues VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [*key, now, retried_rows, appended, duplicates, len(still), batch.contract_version])
        return appended, duplicates, len(still)

    def _append_events(self, batches: list[FileBatch], now: dt.datetime) -> dict[int, tuple[int, int]]:
        with_events = [(seq, b) for seq, b in enumerate(batches) if b.events is not None and b.events.height]
        if not with_events:
            return {}
        self.conn.execute("""
            CREATE OR REPLACE TEMP TABLE staged (
                business_key VARCHAR, event_type VARCHAR, centre_id VARCHAR, event_time TIMESTAMP,
                source_line INTEGER, payload JSON, payload_hash VARCHAR, file_seq INTEGER)""")
        by_shape: dict[tuple, list[tuple[int, FileBatch]]] = {}
        for seq, b in with_events:
            by_shape.setdefault(tuple(b.payload_columns), []).append((seq, b))
        for shape, members in by_shape.items():
            frame = pl.concat([b.events.with_columns(pl.lit(seq, pl.Int32).alias("file_seq")) for seq, b in members])
            payload = ", ".join(f"'{name}', CAST(\"{name}\" AS {sql_type})" for name, sql_type in shape)
            self.conn.register("incoming", frame.to_arrow())
            try:
                self.conn.execute(f"""
                    INSERT INTO staged
                    SELECT business_key, event_type, centre_id, event_time, source_line, p, sha256(p::VARCHAR), file_seq
                    FROM (SELECT *, json_object({payload}) AS p FROM incoming)""")
            finally:
                self.conn.unregister("incoming")
        files = pl.DataFrame(
            {"file_seq": [seq for seq, _ in with_events],
             "recorded_at": [b.extracted_at for _, b in with_events],
             "file_name": [b.file_name for _, b in with_events],
             "file_sha256": [b.sha256 for _, b in with_events],
             "contract_version": [b.contract_version for _, b in with_events]},
            schema={"file_seq": pl.Int32, "recorded_at": pl.Datetime("us"), "file_name": pl.Utf8,
                    "file_sha256": pl.Utf8, "contract_version": pl.Utf8})
        self.conn.register("batch_files", files.to_arrow())
        try:
            self._classify_and_insert(now)
        finally:
            self.conn.unregister("batch_files")
        counts = {seq: (a, d) for seq, a, d in self.conn.execute(
            "SELECT file_seq, count(*) FILTER (is_new), count(*) FILTER (NOT is_new) FROM classified GROUP BY file_seq"
        ).fetchall()}
        self.conn.execute("DROP TABLE IF EXISTS staged; DROP TABLE IF EXISTS classified")
        return counts

    def _classify_and_insert(self, now: dt.datetime) -> None:
        # 1. each row's verdict inputs: the previous row of its key in the batch and the log's head
        #    (payloads stay in `staged`: only keys, times and hashes are carried through the judgement)
        self.conn.execute("""
            CREATE OR REPLACE TEMP TABLE classified AS
            WITH w AS (
                SELECT st.rowid AS staged_row, st.business_key, st.file_seq, st.source_line, st.payload_hash,
                       f.recorded_at,
                       lag(st.payload_hash) OVER k AS prev_hash, lag(f.recorded_at) OVER k AS prev_at
                FROM staged st JOIN batch_files f USING (file_seq)
                WINDOW k AS (PARTITION BY st.business_key ORDER BY f.recorded_at, st.file_seq)
            )
            SELECT w.*, h.recorded_at AS head_at, h.payload_hash AS head_hash, h.rowid AS head_row,
                   NULL::TIMESTAMP AS late_at, NULL::VARCHAR AS late_hash, NULL::BOOLEAN AS is_new
            FROM w LEFT JOIN log.heads h USING (business_key)""")
        # 2. a late row (older than the head) is compared with the log's version at its own time
        late = self.conn.execute("SELECT count(*) FROM classified WHERE head_at > recorded_at").fetchone()[0]
        if late:
            self.conn.execute("""
                UPDATE classified SET late_at = l.at, late_hash = l.h FROM (
                    SELECT c.business_key, c.recorded_at,
                           max(e.recorded_at) AS at,
                           arg_max(e.payload_hash, struct_pack(r := e.recorded_at, i := e.event_id)) AS h
                    FROM classified c JOIN log.events e
                      ON e.business_key = c.business_key AND e.recorded_at <= c.recorded_at
                    WHERE c.head_at > c.recorded_at
                    GROUP BY ALL) l
                WHERE classified.business_key = l.business_key AND classified.recorded_at = l.recorded_at""")
        # 3. the version in force just before the row: the later of the batch's previous row and the log's
        self.conn.execute("""
            UPDATE classified SET is_new = coalesce(
                CASE
                    WHEN head_at IS NULL OR head_at <= recorded_at THEN
                        CASE WHEN prev_at IS NOT NULL AND (head_at IS NULL OR prev_at >= head_at)
                             THEN prev_hash ELSE head_hash END
                    ELSE
                        CASE WHEN prev_at IS NOT NULL AND (late_at IS NULL OR prev_at >= late_at)
                             THEN prev_hash ELSE late_hash END
                END <> payload_hash, TRUE)""")
        # 4. the new versions get their event ids on narrow columns, so the sort that numbers them
        #    carries no payloads; they are then appended in that order
        base = self.conn.execute("SELECT coalesce(max(event_id), 0) FROM log.events").fetchone()[0]
        self.conn.execute("""
            CREATE OR REPLACE TEMP TABLE appended AS
            SELECT staged_row, ? + row_number() OVER (ORDER BY recorded_at, file_seq, source_line) AS event_id,
                   business_key, payload_hash, recorded_at, file_seq, source_line, head_at, head_row
            FROM classified WHERE is_new""", [base])
        self.conn.execute("""
            INSERT INTO log.events
            SELECT a.event_id, st.event_type, st.centre_id, a.business_key, st.payload, a.payload_hash, st.event_time,
                   a.recorded_at, f.file_name, f.file_sha256, a.source_line, f.contract_version, ?
            FROM appended a JOIN staged st ON st.rowid = a.staged_row JOIN batch_files f ON f.file_seq = a.file_seq
            ORDER BY a.event_id""", [now])
        # 5. the heads: one row per key, replaced when a newer version arrived (a late version, older
        #    than the head, leaves it). The heads the batch met were found in step 1 (`head_row`):
        #    deleting by row id spares a scan of every head. Row ids hold within the caller's
        #    transaction (no checkpoint can move them before the commit).
        self.conn.execute("""
            CREATE OR REPLACE TEMP TABLE new_heads AS
            SELECT business_key, event_id, recorded_at, payload_hash, head_row FROM appended
            WHERE head_at IS NULL OR head_at <= recorded_at
            QUALIFY row_number() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1""")
        self.conn.execute(
            "DELETE FROM log.heads WHERE rowid IN (SELECT head_row FROM new_heads WHERE head_row IS NOT NULL)")
        self.conn.execute("INSERT INTO log.heads SELECT business_key, event_id, recorded_at, payload_hash "
                          "FROM new_heads; DROP TABLE new_heads; DROP TABLE appended")
