"""The event log as the models' sources, under the same two-part names on every engine (`log.acts`,
`vault.excluded_pseudonyms`): the models are one set of files, and each engine registers the names
before a build.

- DuckDB: views in the warehouse over the log file, which the SQLMesh connection attaches read-only
  as `events` (a view reads the log as it stands when the build runs).
- Spark: external tables over the log's Parquet export (`eventlog/parquet_export.py`), one per
  stream, partitioned by the act month as the export writes them. The heads are not exported:
  Spark builds take each key's latest version by folding the stream (`heads_are_latest` false).
"""
from __future__ import annotations

from pipelines.eventlog.parquet_export import PARTITION
from pipelines.eventlog.streams import STREAMS

EXCLUSIONS = ("vault", "excluded_pseudonyms")
# (schema, table) of every source the models may read on DuckDB; Spark has no heads
DUCKDB_SOURCES = tuple(("log", s.name) for s in STREAMS) + (("log", "heads"), EXCLUSIONS)
# The log's DuckDB types as Spark spells them; DuckDB writes TIMESTAMP to Parquet without a time zone,
# which Spark reads as TIMESTAMP_NTZ (local time, Europe/Paris, as in the log).
_SPARK_TYPES = {"VARCHAR": "STRING", "BLOB": "BINARY", "TIMESTAMP": "TIMESTAMP_NTZ", "INTEGER": "INT"}


def register_duckdb(adapter) -> None:
    """Views `log.<stream>`, `log.heads` and `vault.excluded_pseudonyms` in the warehouse, over the
    attached log. Recreated at each build: cheap, and a log upgraded in place is followed."""
    for schema, table in DUCKDB_SOURCES:
        adapter.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        adapter.execute(f"CREATE OR REPLACE VIEW {schema}.{table} AS SELECT * FROM events.{schema}.{table}")


def _spark_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _spark_columns(columns) -> str:
    return ", ".join(f"`{name}` {_SPARK_TYPES.get(sql_type, sql_type)}" for name, sql_type in columns)


def register_spark(adapter, log_url: str) -> None:
    """External Parquet tables over the export under `log_url` (a local folder, or a URL the cluster
    reads: s3a://, abfss://, hdfs://), with the streams' own columns (a stream nothing was exported
    to yet has no file to infer them from). Dropping an external table leaves its files; recreating
    it and recovering its partitions makes the month folders an export added since visible."""
    root = log_url.rstrip("/")
    for stream in STREAMS:
        adapter.execute("CREATE DATABASE IF NOT EXISTS log")
        adapter.execute(f"DROP TABLE IF EXISTS log.{stream.name}")
        adapter.execute(f"CREATE TABLE log.{stream.name} ({_spark_columns(stream.columns)}, {PARTITION} DATE) "
                        f"USING PARQUET PARTITIONED BY ({PARTITION}) "
                        f"LOCATION {_spark_literal(f'{root}/{stream.name}')}")
        adapter.execute(f"MSCK REPAIR TABLE log.{stream.name}")  # the month folders
    schema, table = EXCLUSIONS
    adapter.execute(f"CREATE DATABASE IF NOT EXISTS {schema}")
    adapter.execute(f"DROP TABLE IF EXISTS {schema}.{table}")
    adapter.execute(f"CREATE TABLE {schema}.{table} (pseudonym STRING) USING PARQUET "
                    f"LOCATION {_spark_literal(f'{root}/{schema}')}")
