"""What each feed's rows become in the log: event type, business key, time and the stream's payload."""
from __future__ import annotations

import polars as pl

from pipelines.eventlog.streams import STREAM_OF_FEED
from pipelines.feeds import ACT_FEEDS, EVENT_TYPES
from pipelines.rows import LINE
from pipelines.pseudonyms import PSEUDONYM


def to_events(frame: pl.DataFrame, *, feed: str, centre_id: str) -> pl.DataFrame:
    """Valid, pseudonymised rows → rows of the log (before de-duplication): `log_store.EVENT_FRAME`,
    then the stream's payload columns (a column the feed does not have is NULL)."""
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
        occurred.cast(pl.Datetime("us")).alias("occurred_at"),
        pl.col(LINE).cast(pl.Int32).alias("source_line"),
        *[(pl.col(n) if n in frame.columns else pl.lit(None)).alias(n) for n, _ in STREAM_OF_FEED[feed].payload],
    )
