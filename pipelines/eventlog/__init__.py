"""The append-only event log and its ingestion bookkeeping (DuckDB)."""
