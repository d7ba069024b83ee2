"""The log's typed streams: which feeds each holds, its payload columns and how a payload is hashed.

Each stream is one append-only table of `log`: the envelope every event carries, then the
stream's own payload as typed columns. The three act feeds share the `acts` stream (its `feed`
column tells them apart); GP declarations and cost lines have a stream each.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.feeds import ACT_FEEDS, EVENT_TYPES

# The envelope, in the order of every stream table.
ENVELOPE: tuple[tuple[str, str], ...] = (
    ("event_id", "BIGINT"),            # position in the log, strictly increasing across streams
    ("event_type", "VARCHAR"),         # consultation_recorded, gp_declared, cost_booked, ...
    ("centre_id", "VARCHAR"),
    ("business_key", "VARCHAR"),       # versions of one key supersede each other by recorded_at
    ("payload_hash", "BLOB"),          # SHA-256 of the payload's canonical text: equal hash = same version
    ("occurred_at", "TIMESTAMP"),      # when it happened, local time Europe/Paris
    ("recorded_at", "TIMESTAMP"),      # the extract's extracted_at, local time Europe/Paris
    ("source_file", "VARCHAR"),
    ("source_sha256", "VARCHAR"),
    ("source_line", "INTEGER"),
    ("contract_version", "VARCHAR"),
    ("ingested_at", "TIMESTAMP"),      # wall-clock time of the append (transaction time)
)


@dataclass(frozen=True)
class Stream:
    name: str                                # the table in schema `log`
    feeds: tuple[str, ...]
    payload: tuple[tuple[str, str], ...]     # (column, SQL type) in the order the hash reads them

    @property
    def table(self) -> str:
        return f"log.{self.name}"

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(EVENT_TYPES[f] for f in self.feeds)

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return ENVELOPE + self.payload

    def hash_sql(self, alias: str = "") -> str:
        """SQL of the payload hash over the typed columns and the event's time (`alias.` prefixes
        them; an act moved to another date is a new version): SHA-256 of the values' text joined by
        a unit separator, NULL written as a record separator, and each text value prefixed by its
        length (typed values have a fixed syntax and never hold a separator), so that no two payloads
        share a text. Computed by DuckDB over a whole batch at once. Versioned with the log's layout:
        a change here is a migration that recomputes every stored hash."""
        prefix = f"{alias}." if alias else ""
        types = dict((("occurred_at", "TIMESTAMP"), *self.payload))
        parts = []
        for name, sql_type in types.items():
            value = f'CAST({prefix}"{name}" AS VARCHAR)'
            if sql_type == "VARCHAR":
                value = f'length({prefix}"{name}") || \':\' || {prefix}"{name}"'
            parts.append(f"coalesce({value}, chr(30))")
        return f"unhex(sha256(concat_ws(chr(31), {', '.join(parts)})))"


ACTS = Stream("acts", ACT_FEEDS, (
    ("feed", "VARCHAR"), ("act_id", "VARCHAR"), ("site_code", "VARCHAR"), ("practitioner_rpps", "VARCHAR"),
    ("patient_pseudonym", "VARCHAR"), ("birth_year", "INTEGER"), ("sex", "VARCHAR"),
    ("residence_insee", "VARCHAR"), ("act_code", "VARCHAR"), ("amount_eur", "DECIMAL(18,2)"),
    ("status", "VARCHAR"), ("ald", "BOOLEAN"),
    ("distance_km", "DECIMAL(9,1)"),   # home visits only
    ("mode", "VARCHAR"),               # teleconsultations only
))
GP_DECLARATIONS = Stream("gp_declarations", ("gp_declarations",), (
    ("patient_pseudonym", "VARCHAR"), ("declared_on", "DATE"), ("gp_rpps", "VARCHAR"),
    ("previous_situation", "VARCHAR"), ("ended_on", "DATE"), ("ald", "BOOLEAN"), ("birth_year", "INTEGER"),
    ("sex", "VARCHAR"), ("residence_insee", "VARCHAR"),
))
COSTS = Stream("costs", ("costs",), (
    ("month", "DATE"), ("line", "VARCHAR"), ("amount_eur", "DECIMAL(18,2)"),
))

STREAMS: tuple[Stream, ...] = (ACTS, GP_DECLARATIONS, COSTS)
STREAM_OF_FEED = {feed: s for s in STREAMS for feed in s.feeds}
