"""The key vault: per-patient salts, the key's fingerprint and the patients who objected.

Apart from the streams on purpose: destroying a salt here makes a patient's events unlinkable
to them without touching the log (see `pipelines/pseudonyms.py`).
"""
from __future__ import annotations

from typing import Callable

import duckdb
import polars as pl

from pipelines.settings import ConfigurationError


class KeyMismatch(ConfigurationError):
    """The pseudonymisation key is not the one the log was written with."""


class Vault:
    """The vault of one connection (the caller holds the transaction)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn

    def salts_for(self, candidates: dict[str, str]) -> dict[str, str]:
        """Salts of the given subjects, creating the missing ones with the candidates, in bulk."""
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
