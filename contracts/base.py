"""Shared pieces of the contracts: context, reusable checks and the validation driver."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from pipelines import geography
from pipelines.identifiers import INSEE_PATTERN, RPPS_PATTERN, mask, mask_nir, nir_valid_expr
from pipelines.rows import LINE, SENT, RowIssue


# What a row is judged against besides itself travels with it as context columns, so that one
# static schema validates the rows of many files (of many centres) in a single pass.
CTX_SITES = "_centre_sites"        # List[Utf8]: the sites of the file's centre
CTX_OPENED = "_centre_opened"      # Datetime: the centre's opening
CTX_EXTRACTED = "_extracted_at"    # Datetime: the file's extraction time


@dataclass(frozen=True)
class ContractContext:
    """The context of one file, turned into columns by `with_context`."""

    site_codes: tuple[str, ...]
    opened_on: dt.date
    extracted_at: dt.datetime

    def columns(self) -> list[pl.Expr]:
        return [
            pl.lit(list(self.site_codes), dtype=pl.List(pl.Utf8)).alias(CTX_SITES),
            pl.lit(dt.datetime.combine(self.opened_on, dt.time()), dtype=pl.Datetime("us")).alias(CTX_OPENED),
            pl.lit(self.extracted_at, dtype=pl.Datetime("us")).alias(CTX_EXTRACTED),
        ]


def expr_check(build, *, error: str, name: str) -> pa.Check:
    """A vectorised check from `build(column_name) -> boolean expr`; nulls pass (nullability is separate)."""
    def _check(data):
        return data.lazyframe.select(build(data.key).fill_null(True))
    return pa.Check(_check, error=error, name=name)


def nir_column() -> pa.Column:
    return pa.Column(pl.Utf8, expr_check(lambda c: nir_valid_expr(c), name="nir_key",
                                         error="not a valid NIR (15 characters whose last 2 are the key 97 - n mod 97)"))


def rpps_column() -> pa.Column:
    return pa.Column(pl.Utf8, pa.Check.str_matches(RPPS_PATTERN, name="rpps_shape", error="an RPPS number is 11 digits"))


def insee_column() -> pa.Column:
    """A commune of the official geography: its code now, or that of a former, delegated or associated
    commune (centres' software keeps old codes for years after a merger). A code of the wrong shape
    fails the shape rule only."""
    return pa.Column(pl.Utf8, [
        pa.Check.str_matches(INSEE_PATTERN, name="insee_shape",
                             error="an INSEE commune code is 5 characters (digits, or 2A/2B and 3 digits)"),
        expr_check(lambda c: ~pl.col(c).str.contains(INSEE_PATTERN) | pl.col(c).is_in(geography.known_codes().implode()),
                   name="cog_commune",
                   error=f"not a commune of the official geography ({geography.VINTAGE}): neither a current "
                         "commune nor a former, delegated or associated one"),
    ])


def sex_column() -> pa.Column:
    return pa.Column(pl.Utf8, pa.Check.isin(["M", "F"], name="sex_domain", error="sex must be M or F (1 or 2)"))


def birth_year_column(reference: str) -> pa.Column:
    """Between 1900 and the year of `reference` (the act or declaration date)."""
    return pa.Column(pl.Int32, [
        pa.Check.ge(1900, name="birth_year_range", error="birth year must be 1900 or later"),
        expr_check(lambda c: pl.col(c) <= pl.col(reference).dt.year(), name="born_before_act",
                   error=f"birth year is after the {reference.replace('_', ' ')}"),
    ])


def within_centre_life(column: str) -> pa.Check:
    """Between the centre's opening and the extraction: nothing is recorded before or after."""
    return expr_check(
        lambda c: pl.col(c).cast(pl.Datetime("us")).is_between(pl.col(CTX_OPENED), pl.col(CTX_EXTRACTED)),
        name="within_centre_life",
        error=f"{column.replace('_', ' ')} must fall between the centre's opening and the extraction time",
    )


FILE = "_file"  # which file of the batch a row comes from


def unique_key(columns: list[str], what: str) -> pa.Check:
    """Two different rows for one business key in a single extract: neither can win."""
    return expr_check(lambda c: ~pl.struct([FILE, *columns]).is_duplicated(), name="unique_in_file",
                      error=f"{what} appears more than once in this file with different values")


_BUILTIN_MESSAGES = {"not_nullable": "a value is required"}


def validate(frame: pl.DataFrame, schema: pa.DataFrameSchema, *,
             nir_columns: set[str]) -> tuple[pl.DataFrame, dict[int, list[RowIssue]]]:
    """Rows that pass, and the issues of the rows that do not, by `_file`.

    Issues name canonical columns; the caller maps them back to the file's own header.
    """
    try:
        schema.validate(frame, lazy=True)
        return frame, {}
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    whole = failures.filter(pl.col("index").is_null())
    if whole.height:
        raise AssertionError(f"contract {schema.name} failed on the whole frame (a parser bug): {whole.to_dicts()}")
    files = frame.get_column(FILE)
    lines = frame.get_column(LINE)
    issues: dict[int, list[RowIssue]] = {}
    bad_rows = set()
    for row in failures.iter_rows(named=True):
        col = row["column"]
        value = row["failure_case"]
        if row["index"] is not None and f"{SENT}{col}" in frame.columns:  # shown as the centre wrote it
            value = frame.get_column(f"{SENT}{col}")[row["index"]]
        shown = mask_nir(value) if col in nir_columns else mask(value)
        check = row["check"]
        message = _BUILTIN_MESSAGES.get(check, check)
        rule = check if check in _BUILTIN_MESSAGES else _rule_name(schema, col, row["check_number"])
        idx = row["index"]
        bad_rows.add(idx)
        issues.setdefault(int(files[idx]), []).append(
            RowIssue(int(lines[idx]), col, shown, rule, f"{shown!r}: {message}" if value is not None else message))
    keep = pl.Series(range(frame.height)).is_in(list(bad_rows)).not_()
    return frame.filter(keep), issues


def _rule_name(schema: pa.DataFrameSchema, column: str, number) -> str:
    checks = schema.columns[column].checks
    if number is None or number >= len(checks):
        return "check"
    return checks[number].name or "check"
