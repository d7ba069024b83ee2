"""DDL of `events.duckdb`. Schemas: `log` (the typed event streams, append-only, and their heads),
`vault` (per-patient salts), `ingest` (receipts and quarantine)."""
from pipelines.eventlog.streams import ENVELOPE, STREAMS

LAYOUT_VERSION = 2  # 1: one `log.events` table with JSON payloads; 2: typed streams


def _stream_ddl() -> str:
    tables = [f"CREATE TABLE IF NOT EXISTS {s.table} (\n    "
              + ",\n    ".join(f"{name} {sql_type}" + (" NOT NULL" if (name, sql_type) in ENVELOPE else "")
                                for name, sql_type in s.columns)
              + "\n);" for s in STREAMS]
    envelope = ", ".join(name for name, _ in ENVELOPE)
    union = "\n    UNION ALL ".join(f"SELECT {envelope} FROM {s.table}" for s in STREAMS)
    # Every stream's envelope in one relation, for what spans streams (positions, source files, counts).
    view = f"CREATE VIEW IF NOT EXISTS log.events AS\n    {union};"
    return "\n".join(tables) + "\n" + view


DDL = """
CREATE SCHEMA IF NOT EXISTS log;
CREATE SCHEMA IF NOT EXISTS vault;
CREATE SCHEMA IF NOT EXISTS ingest;

-- Which layout this file is in (see `pipelines/eventlog/migration.py`).
CREATE TABLE IF NOT EXISTS log.layout (
    version      INTEGER   NOT NULL,
    upgraded_at  TIMESTAMP NOT NULL
);
""" + _stream_ddl() + """

-- Latest version per business key: an index for de-duplication, rebuildable from the streams.
CREATE TABLE IF NOT EXISTS log.heads (
    business_key  VARCHAR   NOT NULL,  -- one row per key (kept so by the single writer; no index to hold in memory)
    centre_id     VARCHAR   NOT NULL,  -- a batch is judged against its own centres' heads only
    event_id      BIGINT    NOT NULL,
    recorded_at   TIMESTAMP NOT NULL,
    payload_hash  BLOB      NOT NULL
);

-- One salt per subject, kept so by the single writer (`EventLog.salts_for` inserts only subjects not
-- there yet). No PRIMARY KEY: DuckDB would hold its index in memory and rewrite it at every checkpoint,
-- which made the salts' inserts and the commits the slowest statements of a large ingestion. Logs
-- created with the key keep it; one statement serves both.
CREATE TABLE IF NOT EXISTS vault.patient_keys (
    subject_id  VARCHAR NOT NULL,     -- HMAC(K, NIR)
    salt        VARCHAR NOT NULL,     -- random; destroying it unlinks the patient's events
    created_at  TIMESTAMP NOT NULL
);

-- Which key pseudonymised this log: an HMAC of a fixed label under the key (never the key), written
-- when the log is first written to. Another key would give every patient a second pseudonym and
-- silently split their history, so a writer with another key is refused.
CREATE TABLE IF NOT EXISTS vault.key_fingerprint (
    fingerprint  VARCHAR   NOT NULL,
    recorded_at  TIMESTAMP NOT NULL
);

-- The right to object. `objections` is keyed by subject id so that later exports of the patient
-- are refused; `excluded_pseudonyms` lets the projections drop their past events. The two tables
-- share no column and no time, and the salt is destroyed: the log cannot be tied back to them. Both
-- are rewritten whole in sorted order at each objection, so that neither their order nor their row
-- ids pair a subject id with its pseudonym.
CREATE TABLE IF NOT EXISTS vault.objections (
    subject_id  VARCHAR PRIMARY KEY   -- HMAC(K, NIR)
);
CREATE TABLE IF NOT EXISTS vault.excluded_pseudonyms (
    pseudonym   VARCHAR PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS ingest.receipts (
    file_name         VARCHAR   NOT NULL,
    file_sha256       VARCHAR   NOT NULL,
    centre_id         VARCHAR,
    feed              VARCHAR,
    extracted_at      TIMESTAMP,
    dialect           VARCHAR,
    status            VARCHAR   NOT NULL,  -- ingested | quarantined (whole file) | refused (name reused)
    reason            VARCHAR,
    rows_read         BIGINT,
    rows_appended     BIGINT,
    rows_duplicate    BIGINT,
    rows_quarantined  BIGINT,
    unknown_columns   VARCHAR[],
    contract_version  VARCHAR,
    ingested_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (file_name, file_sha256)
);

CREATE TABLE IF NOT EXISTS ingest.quarantine (
    file_name       VARCHAR   NOT NULL,
    file_sha256     VARCHAR   NOT NULL,
    centre_id       VARCHAR,
    feed            VARCHAR,
    line            INTEGER,   -- NULL when the whole file is quarantined
    column_name     VARCHAR,
    value_masked    VARCHAR,   -- never a raw NIR
    rule            VARCHAR   NOT NULL,
    message         VARCHAR   NOT NULL,
    all_reasons     VARCHAR,   -- every failed rule of the row, '; '-separated
    quarantined_at  TIMESTAMP NOT NULL,
    resolved_at     TIMESTAMP  -- set when `carnet requeue` appended the row after a correction
);

-- One row per file re-validated by `carnet requeue` (contracts or registry corrected).
CREATE TABLE IF NOT EXISTS ingest.requeues (
    file_name               VARCHAR   NOT NULL,
    file_sha256             VARCHAR   NOT NULL,
    requeued_at             TIMESTAMP NOT NULL,
    rows_retried            BIGINT    NOT NULL,
    rows_appended           BIGINT    NOT NULL,
    rows_duplicate          BIGINT    NOT NULL,
    rows_still_quarantined  BIGINT    NOT NULL,
    contract_version        VARCHAR
);
"""
