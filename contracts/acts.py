"""Contract for the three act feeds (consultations, home visits, teleconsultations)."""
from __future__ import annotations

import pandera.polars as pa
import polars as pl

from contracts.base import (CTX_SITES, birth_year_column, expr_check, insee_column, nir_column, rpps_column,
                            sex_column, unique_key, within_centre_life)
from pipelines.feeds import ACT_CODES, STATUSES, TELE_MODES

VERSION = "acts/1.2.0"
# Far above any NGAP fee, far below what the log's DECIMAL(18,2) holds: a value beyond is a typing
# or export error, quarantined with its value rather than stopping the file.
MAX_ACT_AMOUNT_EUR = 10_000


def schema(feed: str) -> pa.DataFrameSchema:
    codes = list(ACT_CODES[feed])
    columns = {
        "act_id": pa.Column(pl.Utf8, [pa.Check.str_length(1, 64, name="act_id_length", error="an act id is 1 to 64 characters"),
                                      unique_key(["act_id"], "this act id")]),
        "occurred_at": pa.Column(pl.Datetime, within_centre_life("occurred_at")),
        "site_code": pa.Column(pl.Utf8, expr_check(lambda c: pl.col(CTX_SITES).list.contains(pl.col(c)),
                                                  name="site_of_centre",
                                                  error="site is not one of the centre's sites in the registry")),
        "practitioner_rpps": rpps_column(),
        "patient_nir": nir_column(),
        "birth_year": birth_year_column("occurred_at"),
        "sex": sex_column(),
        "residence_insee": insee_column(),
        "act_code": pa.Column(pl.Utf8, pa.Check.isin(codes, name="act_code_of_feed", error=f"act code must be {' or '.join(codes)} in {feed}")),
        "amount_eur": pa.Column(pl.Float64, [
            pa.Check.ge(0, name="amount_not_negative", error="amount must be zero or more"),
            pa.Check.le(MAX_ACT_AMOUNT_EUR, name="amount_in_range",
                        error=f"amount above {MAX_ACT_AMOUNT_EUR:,} €: not the fee of a GP act"),
        ]),
        "status": pa.Column(pl.Utf8, pa.Check.isin(list(STATUSES), name="status_domain", error="status must be réalisé/annulé/absent (completed/cancelled/no_show)")),
        "ald": pa.Column(pl.Boolean),
    }
    if feed == "home_visits":
        columns["distance_km"] = pa.Column(pl.Float64, pa.Check.in_range(0, 500, name="distance_range", error="distance must be between 0 and 500 km"),
                                           nullable=True)
    if feed == "teleconsultations":
        columns["mode"] = pa.Column(pl.Utf8, pa.Check.isin(list(TELE_MODES), name="mode_domain", error="mode must be video or telephone"))
    return pa.DataFrameSchema(columns, name=f"{VERSION}:{feed}", strict=False)
