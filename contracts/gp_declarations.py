"""Contract for médecin traitant declarations."""
from __future__ import annotations

import pandera.polars as pa
import polars as pl

from contracts.base import (CTX_EXTRACTED, birth_year_column, expr_check, insee_column, nir_column,
                            rpps_column, sex_column, unique_key, within_centre_life)
from pipelines.feeds import SITUATIONS

VERSION = "gp_declarations/1.1.0"


def schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema({
        "patient_nir": nir_column(),
        "declared_on": pa.Column(pl.Date, [within_centre_life("declared_on"),
                                           unique_key(["patient_nir", "declared_on", "gp_rpps"], "this declaration (NIR, date, GP)")]),
        "gp_rpps": rpps_column(),
        "previous_situation": pa.Column(pl.Utf8, pa.Check.isin(list(SITUATIONS), name="situation_domain",
                                        error="previous situation must be sans_medecin_traitant/autre_medecin_traitant/inconnue (none/other_gp/unknown)")),
        "ended_on": pa.Column(pl.Date, [
            expr_check(lambda c: pl.col(c) >= pl.col("declared_on"), name="ends_after_start",
                       error="end date is before the declaration date"),
            expr_check(lambda c: pl.col(c).cast(pl.Datetime("us")) <= pl.col(CTX_EXTRACTED), name="ends_before_extraction",
                       error="end date is after the extraction"),
        ], nullable=True),
        "ald": pa.Column(pl.Boolean),
        "birth_year": birth_year_column("declared_on"),
        "sex": sex_column(),
        "residence_insee": insee_column(),
    }, name=VERSION, strict=False)
