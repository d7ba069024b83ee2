"""French identifiers (NIR, RPPS, FINESS, INSEE): shapes, the NIR key, and masking.

Each rule exists twice, once for a Python value and once as a Polars expression, so that
contracts can check millions of rows without a Python loop; tests pin the two together.
"""
from __future__ import annotations

import re

import polars as pl

# sex, year, month (01-12, 20-42 or 50+ when unknown), department (2 digits or 2A/2B),
# commune, order, key.
NIR_PATTERN = r"^[1234789]\d{2}(0[1-9]|1[0-2]|[2-3]\d|4[0-2]|[5-9]\d)(\d{2}|2[AB])\d{3}\d{3}\d{2}$"
RPPS_PATTERN = r"^\d{11}$"
FINESS_PATTERN = r"^(\d{2}|2[AB])\d{7}$"
INSEE_PATTERN = r"^(\d{5}|2[AB]\d{3})$"

_NIR_RE = re.compile(NIR_PATTERN)
# Anything that could be a NIR, valid or not: 13 to 15 identifier characters in a row.
_NIR_LIKE_RE = re.compile(r"[0-9]{5}(?:[0-9]{2}|2[AaBb])[0-9]{6,8}")


def nir_number(first13: str) -> int:
    """The 13 characters as the integer the key is computed on (2A reads 19, 2B reads 18)."""
    return int(first13.upper().replace("2A", "19").replace("2B", "18"))


def nir_key(first13: str) -> int:
    return 97 - nir_number(first13) % 97


def nir_is_valid(value: str | None) -> bool:
    if value is None or not _NIR_RE.match(value):
        return False
    return nir_key(value[:13]) == int(value[13:])


def nir_valid_expr(col: str | pl.Expr) -> pl.Expr:
    """Vectorised twin of `nir_is_valid`: null-safe, false for anything malformed."""
    e = pl.col(col) if isinstance(col, str) else col
    shaped = e.str.contains(NIR_PATTERN)
    number = (
        e.str.slice(0, 13).str.replace("2A", "19", literal=True).str.replace("2B", "18", literal=True)
        .cast(pl.Int64, strict=False)
    )
    key = e.str.slice(13, 2).cast(pl.Int64, strict=False)
    return (shaped & ((pl.lit(97, pl.Int64) - number % 97) == key)).fill_null(False)


def mask(value: object) -> str | None:
    """A value safe to keep in quarantine or logs: anything NIR-like is starred out.

    The first character (sex) and the length are kept so that a person can still see
    what kind of value was sent.
    """
    if value is None:
        return None
    text = str(value)
    return _NIR_LIKE_RE.sub(lambda m: m.group(0)[0] + "*" * (len(m.group(0)) - 1), text)


def mask_nir(value: object) -> str | None:
    """A value read from a NIR column never survives, whatever its shape."""
    if value is None:
        return None
    text = str(value)
    return (text[:1] + "*" * (len(text) - 1)) if text else text
