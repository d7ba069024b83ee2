"""Dialect readers: the bytes of one export to a frame of text cells, one row per data line.

Readers only split; they never judge values (that is the parsers' and contracts' job).
What they cannot split is reported per line; what they cannot read at all raises
`UnreadableFile`, and the file is quarantined whole.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from pipelines.rows import LINE, RowIssue

UTF8_BOM = b"\xef\xbb\xbf"
_NON_ASCII = re.compile(rb"[\x80-\xff]")


class UnreadableFile(Exception):
    """The whole file cannot be read; the message is the reason a person will see, on one line
    (libraries' multi-line diagnostics are folded, and cut at 300 characters)."""

    def __init__(self, message: str):
        text = " ".join(str(message).split())
        super().__init__(text if len(text) <= 300 else text[:297] + "...")


@dataclass
class RawTable:
    """Text cells under the file's own (normalised) header names, plus `_line`.

    `data_lines` is counted from the file itself (non-blank physical lines after the header, or
    non-blank sheet rows), not from what was split: the receipt's `rows_read`, which the log
    reconciles against appended + duplicates + quarantined.
    """

    frame: pl.DataFrame
    issues: list[RowIssue] = field(default_factory=list)
    data_lines: int | None = None

    @property
    def rows_read(self) -> int:
        if self.data_lines is not None:
            return self.data_lines
        return self.frame.height + len({i.line for i in self.issues})


# Bounds on the work one file can cause. A row of any feed is about 150 characters and 14 fields:
# a longer line or a wider header is a file whose line breaks were lost, not an export.
MAX_LINE_CHARS = 10_000
MAX_HEADER_FIELDS = 200
# A NUL byte this early means a binary file (a workbook, an archive), refused whole; later, only
# its line is quarantined.
BINARY_PROBE_BYTES = 65_536
ZIP_MAGIC = b"PK\x03\x04"


def normalise_header(name: str | None) -> str:
    return (name or "").replace("\ufeff", "").strip().lower()


def _check_width(columns: int) -> None:
    if columns > MAX_HEADER_FIELDS:
        raise UnreadableFile(f"the header has {columns:,} columns (an export has at most {MAX_HEADER_FIELDS}): "
                             "were the line breaks lost? Export the file again")


def _check_header(header: list[str | None]) -> list[str]:
    _check_width(len(header))
    names = [normalise_header(h) for h in header]
    if not any(names):
        raise UnreadableFile("the first line is empty: no header")
    counts = Counter(n for n in names if n)
    dupes = sorted(n for n, k in counts.items() if k > 1)
    if dupes:
        raise UnreadableFile(f"the header repeats column(s) {', '.join(dupes)}: keep one of each")
    # a blank header cell over a column of values: kept under a name of its own, reported as unknown
    return [n or f"(column {i + 1} without a name)" for i, n in enumerate(names)]


def _refuse_binary(data: bytes, what: str) -> None:
    if data.startswith(ZIP_MAGIC):
        raise UnreadableFile(f"the file is a ZIP archive (a workbook or a compressed export renamed .{what}): "
                             f"send the {what.upper()} export itself")
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        raise UnreadableFile("the file holds binary data (NUL bytes), not a text export: export it again as CSV")


def read_delimited(data: bytes, *, encoding: str, separator: str, expect_bom: bool = False) -> RawTable:
    """A delimited text export (`encoding` is `cp1252` or `utf-8`): one row per physical line.

    None of the feeds has free text, so a record never spans lines: a line is split on its own
    (quoted fields allowed within it), and a line that cannot be split is that line's issue only.
    The work is linear in the file's size.
    """
    if not data.strip():
        raise UnreadableFile("the file is empty")
    _refuse_binary(data, "csv")
    if b"\n" not in data and b"\r" in data.rstrip(b"\r"):
        raise UnreadableFile("its lines end with a lone carriage return (old Mac OS format): export it again with "
                             "Windows (CRLF) or Unix line endings")
    if encoding == "cp1252":
        if data.startswith(UTF8_BOM):
            raise UnreadableFile("the file starts with a UTF-8 byte-order mark: expected Windows-1252; export it again "
                                 "in Windows-1252 (ANSI)")
        if _NON_ASCII.search(data):
            try:
                data.decode("utf-8")
                raise UnreadableFile("the file is UTF-8 encoded: expected Windows-1252 (ANSI); export it again in "
                                     "Windows-1252")
            except UnicodeDecodeError:
                pass
    elif data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    first_break, last_break = data.find(b"\n"), data.rfind(b"\n")
    header_bytes = (data if first_break < 0 else data[:first_break]).rstrip(b"\r")
    last = data[last_break + 1:]
    if last.strip() and (b'"' in last or last.count(separator.encode()) != header_bytes.count(separator.encode())):
        raise UnreadableFile("the file is truncated: its last line stops in the middle of a row; send it again")
    _check_width(header_bytes.count(separator.encode()) + 1)
    if len(header_bytes) > MAX_LINE_CHARS:
        raise UnreadableFile(f"the header line is {len(header_bytes):,} bytes long (at most {MAX_LINE_CHARS:,}): "
                             "were the line breaks lost? Export the file again")
    try:
        header_text = header_bytes.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"the header is not valid {encoding}: {exc.reason}") from None
    try:
        header = _check_header(next(csv.reader([header_text], delimiter=separator, strict=True)))
    except (csv.Error, StopIteration) as exc:
        raise UnreadableFile(f"the header line cannot be split into columns ({exc}): check its quotes") from None
    return _split_lines(b"" if first_break < 0 else data[first_break + 1:], encoding, separator, header)


def _decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def _split_lines(body: bytes, encoding: str, separator: str, header: list[str]) -> RawTable:
    """Physical data lines (line 2 on) → cells; every non-blank line is a row or an issue. The body
    is decoded and split into lines in one pass (Polars); line by line only when some line is not
    valid in `encoding`, to say which."""
    issues: list[RowIssue] = []
    try:
        texts = pl.Series("raw", [body.decode(encoding)]).str.split("\n").explode()
        raw_lines: list[bytes] = []
    except UnicodeDecodeError:
        raw_lines = body.split(b"\n")
        texts = pl.Series("raw", [_decode(raw, encoding) for raw in raw_lines], dtype=pl.Utf8)
    df = pl.DataFrame({LINE: pl.int_range(2, len(texts) + 2, eager=True, dtype=pl.Int64), "raw": texts})
    df = df.with_columns(pl.col("raw").str.strip_suffix("\r"))
    undecodable = df.filter(pl.col("raw").is_null())
    for line in undecodable[LINE].to_list():
        raw = raw_lines[line - 2]
        try:
            raw.decode(encoding)
        except UnicodeDecodeError as exc:
            issues.append(RowIssue(line, None, None, "encoding",
                                   f"line is not valid {encoding} (byte 0x{raw[exc.start]:02X} at position {exc.start})"))
    df = df.filter(pl.col("raw").is_not_null() & (pl.col("raw").str.strip_chars() != ""))
    data_lines = df.height + undecodable.height
    too_long = pl.col("raw").str.len_chars() > MAX_LINE_CHARS
    has_nul = pl.col("raw").str.contains("\x00", literal=True)
    quoted = pl.col("raw").str.contains('"', literal=True)
    for line, long_line in df.filter(too_long | has_nul).select(LINE, too_long).iter_rows():
        issues.append(RowIssue(line, None, None, "line_too_long", f"line longer than {MAX_LINE_CHARS:,} characters: "
                               "not a row of an export (were line breaks lost?)") if long_line else
                      RowIssue(line, None, None, "binary", "line holds a NUL byte (binary data): not text"))
    df = df.filter(~too_long & ~has_nul)
    plain, frames = df.filter(~quoted), []
    if plain.height:
        cells = plain.with_columns(pl.col("raw").str.split(separator).alias("cells"))
        cells = cells.with_columns(pl.col("cells").list.len().alias("n"))
        for line, n in cells.filter(pl.col("n") != len(header)).select(LINE, "n").iter_rows():
            issues.append(_field_count_issue(line, n, len(header), separator))
        good = cells.filter(pl.col("n") == len(header))
        if good.height:
            frames.append(good.select(pl.col(LINE), *[pl.col("cells").list.get(i).alias(h)
                                                      for i, h in enumerate(header)]))
    quoted_rows = df.filter(quoted)
    if quoted_rows.height:
        lines, rows = [], []
        for line, text in quoted_rows.iter_rows():
            try:
                row = next(csv.reader([text], delimiter=separator, strict=True))
            except csv.Error as exc:
                issues.append(RowIssue(line, None, None, "quoting",
                                       f"a quote is not closed on its line ({exc}): fields cannot be split"))
                continue
            if len(row) != len(header):
                issues.append(_field_count_issue(line, len(row), len(header), separator))
                continue
            lines.append(line)
            rows.append(row)
        if rows:
            frames.append(pl.DataFrame({LINE: pl.Series(lines, dtype=pl.Int64),
                                        **{h: pl.Series(c, dtype=pl.Utf8) for h, c in zip(header, zip(*rows))}}))
    frame = pl.concat(frames).sort(LINE) if len(frames) > 1 else (frames[0] if frames else _empty_frame(header))
    return RawTable(frame, sorted(issues, key=lambda i: i.line), data_lines)


def _field_count_issue(line: int, found: int, expected: int, separator: str) -> RowIssue:
    return RowIssue(line, None, None, "fields", f"expected {expected} fields separated by '{separator}', found {found}")


def _empty_frame(header: list[str]) -> pl.DataFrame:
    return pl.DataFrame({LINE: pl.Series([], dtype=pl.Int64), **{h: pl.Series([], dtype=pl.Utf8) for h in header}})


def read_xlsx(data: bytes) -> RawTable:
    """A one-sheet workbook; native dates and numbers come back as text to be parsed."""
    import fastexcel

    if not data.startswith(ZIP_MAGIC):
        raise UnreadableFile("not an .xlsx workbook (an .xlsx file is a ZIP archive; this one is not): "
                             "save the sheet again as an Excel workbook (.xlsx)")
    try:
        book = fastexcel.read_excel(data)
    except Exception:  # calamine reports zip/xml damage with its own types, in its own words
        raise UnreadableFile("not a readable .xlsx workbook (truncated or damaged): save the sheet again as an "
                             "Excel workbook (.xlsx) and send it again") from None
    names = book.sheet_names
    if len(names) != 1:
        raise UnreadableFile(f"expected a workbook with one sheet, found {len(names)}: {', '.join(names)}; "
                             "keep only the export's sheet")
    try:
        # the header is read as a row of cells: as a header, duplicates would be renamed (`montant_1`)
        frame = book.load_sheet(0, dtypes="string", header_row=None).to_polars()
    except Exception as exc:
        raise UnreadableFile(f"the sheet {names[0]!r} cannot be read ({exc}): save it again as .xlsx") from None
    if frame.height == 0:
        raise UnreadableFile("the sheet is empty: no header")
    header = _check_header([None if v is None else str(v) for v in frame.row(0)])
    frame = frame.slice(1)
    frame.columns = header
    frame = frame.with_columns(pl.all().cast(pl.Utf8))
    frame = frame.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))
    not_blank = pl.any_horizontal([pl.col(h).is_not_null() & (pl.col(h).str.strip_chars() != "") for h in header])
    rows = frame.filter(not_blank)
    return RawTable(rows, [], rows.height)


def read_export(data: bytes, dialect: str) -> RawTable:
    if dialect == "fr_csv":
        return read_delimited(data, encoding="cp1252", separator=";")
    if dialect == "platform_csv":
        return read_delimited(data, encoding="utf-8", separator=",", expect_bom=True)
    if dialect == "xlsx":
        return read_xlsx(data)
    raise ValueError(f"unknown dialect {dialect!r}")
