"""Contract for the operator's monthly cost ledger lines."""
from __future__ import annotations

import pandera.polars as pa
import polars as pl

from contracts.base import CTX_EXTRACTED, expr_check, unique_key
from pipelines.feeds import COST_LINES

VERSION = "costs/1.1.0"
# A month's line of a centre's accounts, with a wide margin; the log's DECIMAL(18,2) holds far more.
MAX_COST_LINE_EUR = 100_000_000


def schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema({
        "month": pa.Column(pl.Date, [
            expr_check(lambda c: pl.col(c) <= pl.col(CTX_EXTRACTED).dt.truncate("1mo").cast(pl.Date), name="month_not_future",
                       error="month is after the extraction"),
            unique_key(["month", "line"], "this (month, line)"),
        ]),
        "line": pa.Column(pl.Utf8, pa.Check.isin(list(COST_LINES), name="cost_line_domain", error=f"line must be one of {', '.join(COST_LINES)}")),
        "amount_eur": pa.Column(pl.Float64, [
            pa.Check.ge(0, name="amount_not_negative", error="amount must be zero or more (income lines are positive too)"),
            pa.Check.le(MAX_COST_LINE_EUR, name="amount_in_range",
                        error=f"amount above {MAX_COST_LINE_EUR:,} € for one month's line: a typing or export error?"),
        ]),
    }, name=VERSION, strict=False)
