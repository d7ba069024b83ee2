"""Dialect readers: the bytes of one export to a frame of text cells, one row per data line.

Readers only split; they never judge values (that is the parsers' and contracts' job).
What they cannot split is reported per line; what they cannot read at all raises
`UnreadableFile`, and the file is quarantined whole.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import polars as pl

LINE = "_line"
UTF8_BOM = b"\xef\xbb\xbf"
_NON_ASCII = re.compile(rb"[\x80-\xff]")


class UnreadableFile(Exception):
    """The whole file cannot be read; the message is the reason a person will see, on one line
    (libraries' multi-line diagnostics are folded, and cut at 300 characters)."""

    def __init__(self, message: str):
        text = " ".join(str(message).split())
        super().__init__(text if len(text) <= 300 else text[:297] + "...")


@dataclass(frozen=True)
class RowIssue:
    line: int
    column: str | None
    value: str | None
    rule: str
    message: str


@dataclass
class RawTable:
    """Text cells under the file's own (normalised) header names, plus `_line`."""

    frame: pl.DataFrame
    issues: list[RowIssue] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.frame.height + len({i.line for i in self.issues})


def normalise_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def _check_header(header: list[str]) -> list[str]:
    names = [normalise_header(h) for h in header]
    if not any(names):
        raise UnreadableFile("the first line is empty: no header")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UnreadableFile(f"the header repeats column(s) {', '.join(dupes)}")
    return names


def _decode_lines(data: bytes, encoding: str) -> tuple[str, list[RowIssue]]:
    """Decode, replacing any line that is not valid in `encoding` by an empty line."""
    try:
        return data.decode(encoding), []
    except UnicodeDecodeError:
        pass
    issues, good = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            good.append(raw.decode(encoding))
        except UnicodeDecodeError as exc:
            if number == 1:
                raise UnreadableFile(f"the header is not valid {encoding}: {exc.reason}") from None
            issues.append(RowIssue(number, None, None, "encoding",
                                   f"line is not valid {encoding} (byte 0x{raw[exc.start]:02X} at position {exc.start})"))
            good.append("")
    return "\n".join(good), issues


def read_delimited(data: bytes, *, encoding: str, separator: str, expect_bom: bool = False) -> RawTable:
    """A delimited text export. `encoding` is `cp1252` or `utf-8`."""
    if not data.strip():
        raise UnreadableFile("the file is empty")
    if b"\x00" in data[:65536]:
        raise UnreadableFile("the file holds binary data (NUL bytes): not a text export")
    if encoding == "cp1252":
        if data.startswith(UTF8_BOM):
            raise UnreadableFile("the file starts with a UTF-8 byte-order mark: expected Windows-1252")
        if _NON_ASCII.search(data):
            try:
                data.decode("utf-8")
                raise UnreadableFile("the file is UTF-8 encoded: expected Windows-1252 (cp1252)")
            except UnicodeDecodeError:
                pass
    elif data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    text, issues = _decode_lines(data, encoding)
    if not text.endswith("\n") and ('"' in text.rsplit("\n", 1)[-1] or _ragged_tail(text, separator)):
        raise UnreadableFile("the file is truncated: its last line stops in the middle of a row")
    header_line, _, body = text.partition("\n")
    try:
        header = _check_header(next(csv.reader([header_line.rstrip("\r")], delimiter=separator)))
    except csv.Error as exc:  # e.g. a lone carriage return: lines ended the old Mac way
        raise UnreadableFile(f"the header line cannot be split into columns: {exc}") from None
    if '"' in body:
        frame, split_issues = _split_quoted(body, separator, header)
    else:
        frame, split_issues = _split_plain(body, separator, header)
    issues = sorted(issues + split_issues, key=lambda i: i.line)
    return RawTable(frame, issues)


def _ragged_tail(text: str, separator: str) -> bool:
    header, _, _ = text.partition("\n")
    last = text.rsplit("\n", 1)[-1]
    return bool(last.strip()) and last.count(separator) != header.count(separator)


def _empty_frame(header: list[str]) -> pl.DataFrame:
    return pl.DataFrame({LINE: pl.Series([], dtype=pl.Int64), **{h: pl.Series([], dtype=pl.Utf8) for h in header}})


def _split_plain(body: str, separator: str, header: list[str]) -> tuple[pl.DataFrame, list[RowIssue]]:
    """Fast path, no quoting: every physical line is one row."""
    lines = pl.Series("raw", body.split("\n"), dtype=pl.Utf8)
    df = pl.DataFrame({LINE: pl.int_range(2, len(lines) + 2, eager=True, dtype=pl.Int64), "raw": lines})
    df = df.with_columns(pl.col("raw").str.strip_suffix("\r")).filter(pl.col("raw").str.strip_chars() != "")
    df = df.with_columns(pl.col("raw").str.split(separator).alias("cells"))
    df = df.with_columns(pl.col("cells").list.len().alias("n"))
    bad = df.filter(pl.col("n") != len(header))
    issues = [
        RowIssue(line, None, None, "fields",
                 f"expected {len(header)} fields separated by '{separator}', found {n}")
        for line, n in zip(bad[LINE].to_list(), bad["n"].to_list())
    ]
    good = df.filter(pl.col("n") == len(header))
    if good.height == 0:
        return _empty_frame(header), issues
    cells = [pl.col("cells").list.get(i).alias(h) for i, h in enumerate(header)]
    return good.select(pl.col(LINE), *cells), issues


def _split_quoted(body: str, separator: str, header: list[str]) -> tuple[pl.DataFrame, list[RowIssue]]:
    """Quoted fields may hold separators and newlines: the csv module tracks lines."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=separator, strict=True)
    lines, rows, issues = [], [], []
    start = 2
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            issues.append(RowIssue(start, None, None, "fields", f"unreadable quoting: {exc}"))
            start = reader.line_num + 2
            continue
        line = start
        start = reader.line_num + 2
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            issues.append(RowIssue(line, None, None, "fields",
                                   f"expected {len(header)} fields separated by '{separator}', found {len(row)}"))
            continue
        lines.append(line)
        rows.append(row)
    if not rows:
        return _empty_frame(header), issues
    cols = list(zip(*rows))
    frame = pl.DataFrame({LINE: pl.Series(lines, dtype=pl.Int64),
                          **{h: pl.Series(c, dtype=pl.Utf8) for h, c in zip(header, cols)}})
    return frame, issues


def read_xlsx(data: bytes) -> RawTable:
    """A one-sheet workbook; native dates and numbers come back as text to be parsed."""
    import fastexcel

    try:
        book = fastexcel.read_excel(data)
    except Exception as exc:  # calamine reports zip/xml damage with its own types
        raise UnreadableFile(f"not a readable .xlsx workbook (truncated or damaged): {exc}") from None
    names = book.sheet_names
    if len(names) != 1:
        raise UnreadableFile(f"expected a workbook with one sheet, found {len(names)}: {', '.join(names)}")
    try:
        sheet = book.load_sheet(0, dtypes="string", header_row=0)
        frame = sheet.to_polars()
    except Exception as exc:
        raise UnreadableFile(f"the sheet {names[0]!r} cannot be read: {exc}") from None
    header = _check_header(list(frame.columns))
    frame.columns = header
    frame = frame.with_columns(pl.all().cast(pl.Utf8))
    frame = frame.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))
    not_blank = pl.any_horizontal([pl.col(h).is_not_null() & (pl.col(h).str.strip_chars() != "") for h in header])
    return RawTable(frame.filter(not_blank), [])


def read_export(data: bytes, dialect: str) -> RawTable:
    if dialect == "fr_csv":
        return read_delimited(data, encoding="cp1252", separator=";")
    if dialect == "platform_csv":
        return read_delimited(data, encoding="utf-8", separator=",", expect_bom=True)
    if dialect == "xlsx":
        return read_xlsx(data)
    raise ValueError(f"unknown dialect {dialect!r}")
