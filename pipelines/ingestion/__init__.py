"""Ingestion domain: inbox files → validated, pseudonymised events in the log."""
