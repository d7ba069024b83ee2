"""Upgrades of the event log file to the layout this carnet writes (`schema.LAYOUT_VERSION`).

Layout 1 kept every event in one `log.events` table with a JSON payload hashed as text. Layout 2
keeps each stream's payload as typed columns (`streams.py`) and hashes them. The upgrade runs in
one transaction: it keeps every event with its id, recorded and ingested times and source; the
vault, receipts, quarantine, requeues and objections are left as they are; the heads are
rebuilt as the fold of the streams and every payload hash recomputed from the typed columns, so
that a row sent again after the upgrade is still recognised as a duplicate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.eventlog.schema import DDL, LAYOUT_VERSION as CURRENT
from pipelines.eventlog.streams import ENVELOPE, STREAMS
from pipelines.settings import ConfigurationError


class OldLayout(ConfigurationError):
    """The log file is in a layout this carnet no longer writes: `carnet migrate` upgrades it."""


def layout_of(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The layout of an event log (None: an empty file, which takes the current layout)."""
    tables = {(s, t): kind for s, t, kind in conn.execute(
        "SELECT schema_name, table_name, 'table' FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name, view_name, 'view' FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal").fetchall()}
    if ("log", "layout") in tables:
        return conn.execute("SELECT max(version) FROM log.layout").fetchone()[0] or CURRENT
    if tables.get(("log", "events")) == "table":
        return 1
    return None


def require_current_layout(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    version = layout_of(conn)
    if version is not None and version < CURRENT:
        raise OldLayout(f"the event log {path} is in layout {version} (JSON payloads); this carnet reads layout "
                        f"{CURRENT} (typed streams): run `carnet migrate` once, it keeps every event, id, receipt "
                        "and the vault")
    if version is not None and version > CURRENT:
        raise ConfigurationError(f"the event log {path} is in layout {version}, newer than this carnet "
                                 f"({CURRENT}): upgrade carnet")


@dataclass(frozen=True)
class Upgrade:
    from_layout: int | None
    events: int
    heads: int

    def describe(self) -> str:
        if self.from_layout is None or self.from_layout == CURRENT:
            return f"event log already in layout {CURRENT}: nothing to do"
        return (f"event log upgraded from layout {self.from_layout} to {CURRENT}: {self.events:,} events kept with "
                f"their ids, {self.heads:,} heads rebuilt; vault, receipts and quarantine unchanged")


def _typed_from_json(stream) -> str:
    """The stream's payload columns read from a layout-1 JSON payload, typed as layout 2 stores them."""
    shape = ", ".join(f'"{name}": "VARCHAR"' for name, _ in stream.payload)
    fields = ", ".join(f'CAST(p."{name}" AS {sql_type}) AS "{name}"' for name, sql_type in stream.payload)
    return shape, fields


def migrate(conn: duckdb.DuckDBPyConnection) -> Upgrade:
    """Upgrade the log of a writer connection (the caller holds the writer lock)."""
    from pipelines.eventlog.log_store import rebuild_heads

    version = layout_of(conn)
    if version is None or version == CURRENT:
        return Upgrade(version, 0, 0)
    if version != 1:
        raise ConfigurationError(f"no upgrade from layout {version}")
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("ALTER TABLE log.events RENAME TO events_layout1")
        conn.execute("DROP TABLE log.heads")
        conn.execute(DDL)
        envelope = ", ".join(n for n, _ in ENVELOPE if n != "payload_hash")
        for stream in STREAMS:
            shape, fields = _typed_from_json(stream)
            types = ", ".join("?" * len(stream.event_types))
            # our own table and column names; the event types are bound
            conn.execute(f"""
                INSERT INTO {stream.table} BY NAME
                SELECT *, {stream.hash_sql()} AS payload_hash FROM (
                    SELECT {envelope}, {fields}
                    FROM (SELECT *, json_transform(payload, '{{{shape}}}') AS p FROM log.events_layout1
                          WHERE event_type IN ({types})))
                ORDER BY event_id""", list(stream.event_types))
        moved = conn.execute("SELECT count(*) FROM log.events").fetchone()[0]
        before = conn.execute("SELECT count(*) FROM log.events_layout1").fetchone()[0]
        if moved != before:
            raise AssertionError(f"upgrade would keep {moved} of {before} events: an event type no stream holds")
        conn.execute("DROP TABLE log.events_layout1")
        rebuild_heads(conn)
        conn.execute("INSERT INTO log.layout VALUES (?, now()::TIMESTAMP)", [CURRENT])
        heads = conn.execute("SELECT count(*) FROM log.heads").fetchone()[0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("CHECKPOINT")
    return Upgrade(version, moved, heads)
