"""The log's recorder: appends a batch's new versions to the typed streams and keeps the heads.

The only writes to the streams are INSERTs; nothing here updates or deletes an event. A batch is
classified as a whole, by set operations in DuckDB: a row is a new version when its payload hash
differs from the version of its key in force just before its recorded time, whether that version
is in the log or earlier in the batch.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from pipelines.eventlog.streams import STREAM_OF_FEED, STREAMS, Stream

if TYPE_CHECKING:
    from pipelines.eventlog.store import FileBatch

# Columns of a file's events frame besides the stream's payload (see `pipelines/ingestion/events.py`).
EVENT_FRAME = ("business_key", "event_type", "centre_id", "occurred_at", "source_line")


class LogStore:
    """The streams of one connection (the caller holds the transaction)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn

    def position(self) -> int:
        """The last event id given (0 for an empty log)."""
        return self.conn.execute("SELECT coalesce(max(event_id), 0) FROM log.events").fetchone()[0]

    def append(self, batches: list["FileBatch"], now: dt.datetime) -> dict[int, tuple[int, int]]:
        """Append the batch's new versions; (appended, duplicates) per file's position in `batches`."""
        with_events = [(seq, b) for seq, b in enumerate(batches) if b.events is not None and b.events.height]
        if not with_events:
            return {}
        self.conn.execute("""
            CREATE OR REPLACE TEMP TABLE staged (
                stream VARCHAR, stream_row BIGINT, business_key VARCHAR, centre_id VARCHAR, file_seq INTEGER,
                source_line INTEGER, payload_hash BLOB)""")
        by_stream: dict[Stream, list[tuple[int, FileBatch]]] = {}
        for seq, b in with_events:
            by_stream.setdefault(STREAM_OF_FEED[b.feed], []).append((seq, b))
        registered = []
        try:
            for stream, members in by_stream.items():
                registered.append(self._stage(stream, members))
            files = pl.DataFrame(
                {"file_seq": [seq for seq, _ in with_events],
                 "recorded_at": [b.extracted_at for _, b in with_events],
                 "file_name": [b.file_name for _, b in with_events],
                 "file_sha256": [b.sha256 for _, b in with_events],
                 "contract_version": [b.contract_version for _, b in with_events]},
                schema={"file_seq": pl.Int32, "recorded_at": pl.Datetime("us"), "file_name": pl.Utf8,
                        "file_sha256": pl.Utf8, "contract_version": pl.Utf8})
            self.conn.register("batch_files", files.to_arrow())
            registered.append("batch_files")
            self._classify()
            self._insert(list(by_stream), now)
        finally:
            for name in registered:
                self.conn.unregister(name)
        counts = {seq: (a, d) for seq, a, d in self.conn.execute(
            "SELECT file_seq, count(*) FILTER (is_new), count(*) FILTER (NOT is_new) FROM classified GROUP BY file_seq"
        ).fetchall()}
        self.conn.execute("DROP TABLE IF EXISTS staged; DROP TABLE IF EXISTS classified")
        return counts

    def _stage(self, stream: Stream, members: list[tuple[int, "FileBatch"]]) -> str:
        """The stream's rows registered as `incoming_<stream>` (Arrow, numbered by `stream_row`), and
        their narrow part (key, hash computed over the typed columns) in `staged`, which the
        classification reads: the wide rows are read again only to append the new ones, never
        copied into a table of their own."""
        frame = pl.concat([b.events.with_columns(pl.lit(seq, pl.Int32).alias("file_seq")) for seq, b in members],
                          how="diagonal_relaxed")
        frame = frame.with_row_index("stream_row")
        name = f"incoming_{stream.name}"
        self.conn.register(name, frame.to_arrow())
        # our own table and column names (`streams.py`), never input
        self.conn.execute(f"""
            INSERT INTO staged
            SELECT ?, stream_row, business_key, centre_id, file_seq, source_line, {stream.hash_sql()}
            FROM (SELECT stream_row, business_key, centre_id, file_seq, CAST(source_line AS INTEGER) AS source_line,
                         {self._typed(stream)} FROM {name})""", [stream.name])
        return name

    @staticmethod
    def _typed(stream: Stream, alias: str = "") -> str:
        """The stream's event time and payload cast to the types the log stores."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(f'CAST({prefix}"{name}" AS {sql_type}) AS "{name}"'
                         for name, sql_type in (("occurred_at", "TIMESTAMP"), *stream.payload))

    def _classify(self) -> None:
        # 1. each row's verdict inputs: the previous row of its key in the batch and the log's head.
        #    Only the heads of the batch's centres are read: keys never cross centres, and a batch's
        #    cost then follows its centres' history, not the whole log's.
        self.conn.execute("""
            CREATE OR REPLACE TEMP TABLE classified AS
            WITH w AS (
                SELECT st.stream, st.stream_row, st.business_key, st.centre_id, st.file_seq, st.source_line,
                       st.payload_hash, f.recorded_at,
                       lag(st.payload_hash) OVER k AS prev_hash, lag(f.recorded_at) OVER k AS prev_at
                FROM staged st JOIN batch_files f USING (file_seq)
                WINDOW k AS (PARTITION BY st.business_key ORDER BY f.recorded_at, st.file_seq)
            ), h AS (
                SELECT rowid AS head_row, business_key, recorded_at, payload_hash FROM log.heads
                WHERE centre_id IN (SELECT DISTINCT centre_id FROM staged)
            )
            SELECT w.*, h.recorded_at AS head_at, h.payload_hash AS head_hash, h.head_row,
                   NULL::TIMESTAMP AS late_at, NULL::BLOB AS late_hash, NULL::BOOLEAN AS is_new
            FROM w LEFT JOIN h USING (business_key)""")
        # 2. a late row (older than the head) is compared with its stream's version at its own time
        late = self.conn.execute("SELECT DISTINCT stream FROM classified WHERE head_at > recorded_at").fetchall()
        for (name,) in late:
            self.conn.execute(f"""
                UPDATE classified SET late_at = l.at, late_hash = l.h FROM (
                    SELECT c.business_key, c.recorded_at,
                           max(e.recorded_at) AS at,
                           arg_max(e.payload_hash, struct_pack(r := e.recorded_at, i := e.event_id)) AS h
                    FROM classified c JOIN log.{name} e
                      ON e.business_key = c.business_key AND e.recorded_at <= c.recorded_at
                    WHERE c.head_at > c.recorded_at AND c.stream = ?
                    GROUP BY ALL) l
                WHERE classified.business_key = l.business_key AND classified.recorded_at = l.recorded_at""",
                [name])
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

    def _insert(self, streams: list[Stream], now: dt.datetime) -> None:
        # 4. the new versions get their event ids on narrow columns, in recorded-time order across
        #    streams, so the sort that numbers them carries no payloads
        self.conn.execute("""
            CREATE OR REPLACE TEMP TABLE appended AS
            SELECT stream, stream_row, ? + row_number() OVER (ORDER BY recorded_at, file_seq, source_line) AS event_id,
                   business_key, centre_id, payload_hash, recorded_at, file_seq, source_line, head_at, head_row
            FROM classified WHERE is_new""", [self.position()])
        for stream in streams:
            # each staged row's event id (NULL: not new), in the staged rows' order, beside them
            # (a positional join: the wide payloads are neither joined by key nor sorted again)
            self.conn.execute("""
                CREATE OR REPLACE TEMP TABLE ids AS
                SELECT a.event_id, c.payload_hash FROM classified c LEFT JOIN appended a USING (stream, stream_row)
                WHERE c.stream = ? ORDER BY c.stream_row""", [stream.name])
            payload = ", ".join(f'st."{name}"' for name, _ in stream.payload)
            self.conn.execute(f"""
                INSERT INTO {stream.table}
                SELECT st.event_id, st.event_type, st.centre_id, st.business_key, st.payload_hash, st.occurred_at,
                       f.recorded_at, f.file_name, f.file_sha256, st.source_line, f.contract_version, ?, {payload}
                FROM (SELECT i.event_type, i.business_key, i.centre_id, i.file_seq,
                             CAST(i.source_line AS INTEGER) AS source_line, {self._typed(stream, "i")},
                             ids.event_id, ids.payload_hash
                      FROM incoming_{stream.name} i POSITIONAL JOIN ids) st
                JOIN batch_files f USING (file_seq)
                WHERE st.event_id IS NOT NULL""", [now])
            self.conn.execute("DROP TABLE ids")
        # 5. the heads: one row per key, replaced when a newer version arrived (a late version, older
        #    than the head, leaves it). The heads the batch met were found in step 1 (`head_row`):
        #    deleting by row id spares a scan of every head. Row ids hold within the caller's
        #    transaction (no checkpoint can move them before the commit).
        self.conn.execute("""
            CREATE OR REPLACE TEMP TABLE new_heads AS
            SELECT business_key, centre_id, event_id, recorded_at, payload_hash, head_row FROM appended
            WHERE head_at IS NULL OR head_at <= recorded_at
            QUALIFY row_number() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1""")
        self.conn.execute(
            "DELETE FROM log.heads WHERE rowid IN (SELECT head_row FROM new_heads WHERE head_row IS NOT NULL)")
        self.conn.execute("INSERT INTO log.heads SELECT business_key, centre_id, event_id, recorded_at, payload_hash "
                          "FROM new_heads; DROP TABLE new_heads; DROP TABLE appended")


def rebuild_heads(conn: duckdb.DuckDBPyConnection) -> None:
    """The heads recomputed from the streams (the fold of the log): after a migration or for a check."""
    union = " UNION ALL ".join(
        f"SELECT business_key, centre_id, event_id, recorded_at, payload_hash FROM {s.table}" for s in STREAMS)
    conn.execute(f"""
        DELETE FROM log.heads;
        INSERT INTO log.heads
        SELECT business_key, centre_id, event_id, recorded_at, payload_hash FROM ({union})
        QUALIFY row_number() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1""")
