"""What each feed's rows become in the log: event type, business key and payload fields."""
from __future__ import annotations

import polars as pl

from pipelines.feeds import ACT_FEEDS, EVENT_TYPES
from pipelines.rows import LINE
from pipelines.pseudonyms import PSEUDONYM

_SQL_TYPES = {
    "act_id": "VARCHAR", "feed": "VARCHAR", "occurred_at": "TIMESTAMP", "site_code": "VARCHAR",
    "practitioner_rpps": "VARCHAR", PSEUDONYM: "VARCHAR", "birth_year": "INTEGER", "sex": "VARCHAR",
    "residence_insee": "VARCHAR", "act_code": "VARCHAR", "amount_eur": "DECIMAL(18,2)", "status": "VARCHAR",
    "ald": "BOOLEAN", "distance_km": "DECIMAL(9,1)", "mode": "VARCHAR",
    "declared_on": "DATE", "gp_rpps": "VARCHAR", "previous_situation": "VARCHAR", "ended_on": "DATE",
    "month": "DATE", "line": "VARCHAR",
}

_PAYLOAD = {
    "acts": ["act_id", "feed", "occurred_at", "site_code", "practitioner_rpps", PSEUDONYM, "birth_year", "sex",
             "residence_insee", "act_code", "amount_eur", "status", "ald"],
    "gp_declarations": [PSEUDONYM, "declared_on", "gp_rpps", "previous_situation", "ended_on", "ald",
                        "birth_year", "sex", "residence_insee"],
    "costs": ["month", "line", "amount_eur"],
}


def payload_columns(feed: str) -> list[tuple[str, str]]:
    if feed in ACT_FEEDS:
        names = _PAYLOAD["acts"] + (["distance_km"] if feed == "home_visits" else []) + (
            ["mode"] if feed == "teleconsultations" else [])
    else:
        names = _PAYLOAD[feed]
    return [(n, _SQL_TYPES[n]) for n in names]


def to_events(frame: pl.DataFrame, *, feed: str, centre_id: str) -> pl.DataFrame:
    """Valid, pseudonymised rows → rows of the log (before de-duplication)."""
    if feed in ACT_FEEDS:
        key = pl.concat_str([pl.lit(centre_id), pl.lit(feed), pl.col("act_id")], separator="|")
        occurred = pl.col("occurred_at")
        frame = frame.with_columns(pl.lit(feed).alias("feed"))
    elif feed == "gp_declarations":
        key = pl.concat_str([pl.lit(centre_id), pl.col(PSEUDONYM), pl.col("declared_on").cast(pl.Utf8),
                             pl.col("gp_rpps")], separator="|")
        occurred = pl.col("declared_on").cast(pl.Datetime("us"))
    else:
        key = pl.concat_str([pl.lit(centre_id), pl.col("month").dt.strftime("%Y-%m"), pl.col("line")], separator="|")
        occurred = pl.col("month").cast(pl.Datetime("us"))
    return frame.select(
        key.alias("business_key"),
        pl.lit(EVENT_TYPES[feed]).alias("event_type"),
        pl.lit(centre_id).alias("centre_id"),
        occurred.cast(pl.Datetime("us")).alias("event_time"),
        pl.col(LINE).cast(pl.Int32).alias("source_line"),
        *[pl.col(n) for n, _ in payload_columns(feed)],
    )
