"""From text cells in a dialect to canonical typed columns.

A cell that cannot be read as its type (31/02/2024, "12,5,0", "maybe") becomes a row
issue naming the file's own column and value; enumerations are only normalised here
(réalisé → completed) and judged by the contracts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import polars as pl

from pipelines.feeds import FIELDS, Field
from pipelines.identifiers import mask, mask_nir
from pipelines.inbox.readers import RawTable, UnreadableFile
from pipelines.rows import LINE, SENT, RowIssue

LANGUAGE = {"fr_csv": "fr", "xlsx": "fr", "platform_csv": "en"}
TIMEZONE = "Europe/Paris"

_STATUS = {
    "fr": {"réalisé": "completed", "realise": "completed", "annulé": "cancelled", "annule": "cancelled",
           "absent": "no_show"},
    "en": {"completed": "completed", "cancelled": "cancelled", "no_show": "no_show"},
}
_SITUATION = {
    "fr": {"sans_medecin_traitant": "none", "autre_medecin_traitant": "other_gp", "inconnue": "unknown"},
    "en": {"none": "none", "other_gp": "other_gp", "unknown": "unknown"},
}
_BOOL = {
    "fr": {"o": True, "oui": True, "n": False, "non": False},
    "en": {"true": True, "false": False},
}
_SEX = {"m": "M", "f": "F", "1": "M", "2": "F"}
# What a UTF-8 continuation byte becomes when read as Windows-1252: "Ã©" for "é".
_MOJIBAKE = "Ã[" + "".join(sorted(set(bytes(range(0x80, 0xC0)).decode("cp1252", errors="ignore")))) + "]"


@dataclass
class ParsedTable:
    frame: pl.DataFrame  # canonical names and types, `_line`, and `_sent_*`; only rows without issues
    issues: list[RowIssue]
    unknown_columns: list[str]
    rows_read: int


def _source_names(field: Field, language: str) -> tuple[str, ...]:
    return field.fr if language == "fr" else (field.en,)


def _names(names: list[str], most: int = 10) -> str:
    """Column names as a person reads them: invisible characters spelt out, a long list cut."""
    shown = [n if n.isprintable() else ascii(n) for n in names[:most]]
    return ", ".join(shown) + (f" and {len(names) - most} more" if len(names) > most else "")


def resolve_columns(raw: RawTable, feed: str, dialect: str) -> list[str]:
    """Check the header against the feed; returns the unknown (ignored) columns."""
    language = LANGUAGE[dialect]
    present = [c for c in raw.frame.columns if c != LINE]
    expected = [n for f in FIELDS[feed] for n in _source_names(f, language)]
    missing = [n for n in expected if n not in present]
    unknown = [c for c in present if c not in expected]
    if missing and len(present) == 1:
        separator = ";" if dialect != "platform_csv" else ","
        found = next((c for c in ";,\t" if c != separator and c in present[0]), None)
        if found:
            raise UnreadableFile(
                f"the header is one column separated by {found!r}, not {separator!r}: not the {dialect} dialect "
                "this centre sends; check the centre's software or its dialect in seeds/centres.csv")
    if missing:
        other = "en" if language == "fr" else "fr"
        other_names = [n for f in FIELDS[feed] for n in _source_names(f, other)]
        if all(n in present for n in other_names):
            raise UnreadableFile(
                f"the header is in {'English' if other == 'en' else 'French'}, as another dialect writes it: "
                f"this centre sends {dialect}; check the centre's software or its dialect in seeds/centres.csv")
        raise UnreadableFile(f"missing column(s) for {feed}: {', '.join(missing)}"
                             + (f"; unknown column(s): {_names(unknown)}" if unknown else "")
                             + " (a misspelt header?)")
    return unknown


def _clean(name: str) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _map(expr: pl.Expr, mapping: dict, *, keep_unknown: bool, dtype=pl.Utf8) -> pl.Expr:
    lowered = expr.str.to_lowercase()
    mapped = lowered.replace_strict(list(mapping), list(mapping.values()), default=None, return_dtype=dtype)
    return pl.coalesce(mapped, expr) if keep_unknown else mapped


def _date(expr: pl.Expr, dialect: str) -> pl.Expr:
    iso = expr.str.extract(r"^(\d{4}-\d{2}-\d{2})(?: 00:00:00)?$", 1).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    if dialect == "platform_csv":
        return iso
    fr = expr.str.extract(r"^(\d{2}/\d{2}/\d{4})$", 1).str.strptime(pl.Date, "%d/%m/%Y", strict=False)
    return fr if dialect == "fr_csv" else pl.coalesce(fr, iso)


def _time(expr: pl.Expr, dialect: str) -> pl.Expr:
    # xlsx native times arrive as "1899-12-31 09:30:00".
    pattern = r"^(?:1899-12-3[01] )?(\d{2}:\d{2}(?::\d{2})?)$" if dialect == "xlsx" else r"^(\d{2}:\d{2})$"
    hhmm = expr.str.extract(pattern, 1)
    hhmmss = pl.when(hhmm.str.len_chars() == 5).then(hhmm + ":00").otherwise(hhmm)
    return hhmmss.str.strptime(pl.Time, "%H:%M:%S", strict=False)


_GROUP = "[ \u00a0\u202f]"  # thousands separators written by French software: space, no-break spaces


def _decimal(expr: pl.Expr, dialect: str) -> pl.Expr:
    """The number, read exactly as written or not at all (null). In a decimal-comma dialect the
    thousands may be grouped by spaces, or by points when a decimal comma follows (`1.234,50`);
    a point alone (`1.234`: thousands or decimals?) is ambiguous and refused."""
    if dialect == "platform_csv":
        return pl.when(expr.str.contains(r"^-?\d+(\.\d+)?$")).then(expr).cast(pl.Float64, strict=False)
    comma = (pl.when(expr.str.contains(rf"^-?\d{{1,3}}({_GROUP}\d{{3}})+(,\d+)?$|^-?\d{{1,3}}(\.\d{{3}})+,\d+$"))
             .then(expr.str.replace_all(rf"{_GROUP}|\.", ""))
             .when(expr.str.contains(r"^-?\d+(,\d+)?$")).then(expr))
    value = comma.str.replace(",", ".", literal=True)
    if dialect == "xlsx":  # a native number arrives with a decimal point
        value = pl.coalesce(value, pl.when(expr.str.contains(r"^-?\d+(\.\d+)?$")).then(expr))
    return value.cast(pl.Float64, strict=False)


def _decimals_beyond(expr: pl.Expr, scale: int) -> pl.Expr:
    """More digits after the decimal separator than the log keeps (read before any rounding)."""
    return expr.str.extract(r"[.,](\d+)$", 1).str.len_chars().fill_null(0) > scale


def _int(expr: pl.Expr) -> pl.Expr:
    return expr.str.extract(r"^(\d{1,9})(?:\.0+)?$", 1).cast(pl.Int32, strict=False)


def _timestamp_platform(expr: pl.Expr) -> pl.Expr:
    normalised = expr.str.replace(r"Z$", "+00:00")
    parsed = normalised.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%:z", strict=False)
    return parsed.dt.convert_time_zone(TIMEZONE).dt.replace_time_zone(None)


_EXPECTATION = {
    "int": "a whole number",
    "decimal": {"fr_csv": "a number with a decimal comma (1234,50 or 1 234,50; a point alone is ambiguous)",
                "xlsx": "a number", "platform_csv": "a number with a decimal point"},
    "date": {"fr_csv": "a date JJ/MM/AAAA", "xlsx": "a date", "platform_csv": "a date YYYY-MM-DD"},
    "month": "a month AAAA-MM",
    "time": "a time HH:MM",
    "timestamp": {"platform_csv": "a timestamp like 2024-03-05T09:30:00+01:00"},
    "bool": {"fr_csv": "O or N", "xlsx": "O or N", "platform_csv": "true or false"},
}


def _expectation(kind: str, dialect: str) -> str:
    e = _EXPECTATION[kind]
    return e[dialect] if isinstance(e, dict) else e


def _code(col: pl.Expr, field: Field, dialect: str, language: str) -> pl.Expr:
    value = col.str.to_uppercase()
    if dialect == "xlsx" and field.name == "residence_insee":
        # Excel drops the leading zero of a numeric commune code (01053 → 1053).
        value = pl.when(value.str.contains(r"^\d{4}$")).then("0" + value).otherwise(value)
    return value


def _month(col: pl.Expr) -> pl.Expr:
    return (col.str.extract(r"^(\d{4}-\d{2})(?:-01 00:00:00)?$", 1) + "-01").str.strptime(pl.Date, "%Y-%m-%d",
                                                                                          strict=False)


# How a cell of each kind is read: (column, field, dialect, language) -> typed value (null: unreadable).
_READ: dict[str, Callable[[pl.Expr, Field, str, str], pl.Expr]] = {
    "text": lambda col, f, dialect, language: col,
    "code": _code,
    "code_lower": lambda col, f, dialect, language: col.str.to_lowercase(),
    "sex": lambda col, f, dialect, language: _map(col, _SEX, keep_unknown=True),
    "status": lambda col, f, dialect, language: _map(col, _STATUS[language], keep_unknown=True),
    "situation": lambda col, f, dialect, language: _map(col, _SITUATION[language], keep_unknown=True),
    "bool": lambda col, f, dialect, language: _map(col, _BOOL[language], keep_unknown=False, dtype=pl.Boolean),
    "int": lambda col, f, dialect, language: _int(col),
    "decimal": lambda col, f, dialect, language: _decimal(col, dialect),
    "date": lambda col, f, dialect, language: _date(col, dialect),
    "month": lambda col, f, dialect, language: _month(col),
}
# Kinds whose typed value does not read as the centre wrote it: the text sent is kept beside it.
_KEEP_SENT = ("int", "decimal", "date", "month", "timestamp")

Check = tuple[str, pl.Expr, str, str]  # (source column, failed?, rule, expectation)


def _timestamp(field: Field, names: tuple[str, ...], dialect: str) -> tuple[pl.Expr, pl.Expr, list[Check]]:
    """A timestamp: one ISO cell with its offset (platform), or a date and a time cell (French)."""
    if len(names) == 2:
        d, t = _date(pl.col(names[0]), dialect), _time(pl.col(names[1]), dialect)
        sent = pl.concat_str([pl.col(names[0]), pl.col(names[1])], separator=" ")
        return d.dt.combine(t), sent, [
            (names[0], pl.col(names[0]).is_not_null() & d.is_null(), "type", _expectation("date", dialect)),
            (names[1], pl.col(names[1]).is_not_null() & t.is_null(), "type", _expectation("time", dialect))]
    col = pl.col(names[0])
    value = _timestamp_platform(col)
    return value, col, [(names[0], col.is_not_null() & value.is_null(), "type", _expectation("timestamp", dialect))]


def _field(field: Field, dialect: str, language: str) -> tuple[pl.Expr, pl.Expr | None, list[Check]]:
    """One canonical column: its typed value, the text sent (when they differ), and its checks."""
    names = _source_names(field, language)
    if field.kind == "timestamp":
        return _timestamp(field, names, dialect)
    col = pl.col(names[0])
    value = _READ[field.kind](col, field, dialect, language)
    checks: list[Check] = []
    if field.kind in _EXPECTATION:
        checks.append((names[0], col.is_not_null() & value.is_null(), "type", _expectation(field.kind, dialect)))
    if field.kind == "decimal":
        checks.append((names[0], col.is_not_null() & value.is_not_null() & _decimals_beyond(col, field.scale),
                       "precision", f"more than {field.scale} decimal(s): the log keeps {field.scale}, "
                                    "and carnet never rounds"))
    return value, (col if field.kind in _KEEP_SENT else None), checks


def _row_issues(src: pl.DataFrame, checks: list[Check], nir_columns: set[str]) -> tuple[list[RowIssue], set[int]]:
    """The issues of the rows some check fails, with the value as sent (masked), and their lines."""
    if not checks:
        return [], set()
    flags = src.select(pl.col(LINE), *[expr.alias(f"__chk{i}") for i, (_, expr, _, _) in enumerate(checks)])
    any_bad = flags.filter(pl.any_horizontal([pl.col(f"__chk{i}") for i in range(len(checks))]))
    if not any_bad.height:
        return [], set()
    values = src.filter(pl.col(LINE).is_in(any_bad[LINE].implode()))
    by_line = {row[LINE]: row for row in values.iter_rows(named=True)}
    issues, bad_lines = [], set()
    for row in any_bad.iter_rows(named=True):
        line = row[LINE]
        bad_lines.add(line)
        for i, (column, _, rule, expectation) in enumerate(checks):
            if row[f"__chk{i}"]:
                raw_value = by_line[line][column]
                shown = mask_nir(raw_value) if column in nir_columns else mask(raw_value)
                message = f"cannot read {shown!r} as {expectation}" if rule == "type" else f"{shown!r}: {expectation}"
                issues.append(RowIssue(line, column, shown, rule, message))
    return issues, bad_lines


def parse(raw: RawTable, feed: str, dialect: str) -> ParsedTable:
    """Canonical typed frame for the rows that can be read; issues for those that cannot."""
    language = LANGUAGE[dialect]
    unknown = resolve_columns(raw, feed, dialect)
    src = raw.frame.select(pl.col(LINE), *[_clean(c).alias(c) for c in raw.frame.columns if c != LINE and c not in unknown])
    typed, sent, checks = [], [], []
    for field in FIELDS[feed]:
        value, as_sent, field_checks = _field(field, dialect, language)
        typed.append(value.alias(field.name))
        if as_sent is not None:
            sent.append(as_sent.alias(SENT + field.name))
        checks += field_checks
    if dialect == "fr_csv":
        checks += [(c, pl.col(c).str.contains(_MOJIBAKE).fill_null(False), "encoding",
                    "text that is UTF-8 read as Windows-1252 (e.g. 'Ã©' for 'é')") for c in src.columns if c != LINE]
    nir_columns = {n for f in FIELDS[feed] if f.nir for n in _source_names(f, language)}
    issues, bad_lines = _row_issues(src, checks, nir_columns)
    frame = src.filter(~pl.col(LINE).is_in(list(bad_lines))) if bad_lines else src
    frame = frame.select(pl.col(LINE), *typed, *sent)
    return ParsedTable(frame, list(raw.issues) + issues, unknown, raw.rows_read)
