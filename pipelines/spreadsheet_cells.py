"""CSV files that people open in a spreadsheet: no cell may run as a formula.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with `=`, `+`, `-` or `@` (and
strip a leading tab or carriage return before looking): a value sent by a centre such as
`=HYPERLINK(...)` would run on the reader's machine. Such a text cell is prefixed with `'`, which
spreadsheets show as text; plain numbers (`-25,00`) are left as they are.
"""
from __future__ import annotations

import re

import polars as pl

_FORMULA_START = r"^[=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?\d+([.,]\d+)?$"
_FORMULA_RE = re.compile(_FORMULA_START)
_PLAIN_NUMBER_RE = re.compile(_PLAIN_NUMBER)


def safe_cell(value: object) -> object:
    """A value for a CSV cell: text that a spreadsheet would evaluate is made inert."""
    if isinstance(value, str) and _FORMULA_RE.match(value) and not _PLAIN_NUMBER_RE.match(value):
        return "'" + value
    return value


def safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text column made inert as `safe_cell` does (numbers are untouched)."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.Utf8]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START) & ~pl.col(c).str.contains(_PLAIN_NUMBER))
        .then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text)
