"""`<centre_id>__<feed>__<extracted_at>.<ext>`: what a file's name tells before it is opened."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from pipelines.feeds import FEEDS

# Matched against the whole name (`fullmatch`): a `$` would also match before a trailing newline.
_NAME_RE = re.compile(r"(?P<centre>[0-9A-Za-z]{9})__(?P<feed>[a-z_]+)__(?P<ts>\d{8}T\d{6})\.(?P<ext>[A-Za-z]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadFileName(ValueError):
    pass


@dataclass(frozen=True)
class ExportName:
    centre_id: str
    feed: str
    extracted_at: dt.datetime  # local time, Europe/Paris
    ext: str

    def file_name(self) -> str:
        return f"{self.centre_id}__{self.feed}__{self.extracted_at:%Y%m%dT%H%M%S}.{self.ext}"


def parse_export_name(path: Path | str) -> ExportName:
    name = Path(path).name
    if _CONTROL.search(name):
        raise BadFileName(f"file name {name!r} holds control characters (a line break, a tab...): rename the file")
    m = _NAME_RE.fullmatch(name)
    if not m:
        raise BadFileName(
            f"file name {name!r} is not <centre_id>__<feed>__<YYYYMMDDTHHMMSS>.<csv|xlsx>"
        )
    if m["feed"] not in FEEDS:
        raise BadFileName(f"file name {name!r}: unknown feed {m['feed']!r} (expected one of {', '.join(FEEDS)})")
    try:
        ts = dt.datetime.strptime(m["ts"], "%Y%m%dT%H%M%S")
    except ValueError:
        raise BadFileName(f"file name {name!r}: {m['ts']!r} is not a valid extraction time") from None
    ext = m["ext"].lower()
    if ext not in ("csv", "xlsx"):
        raise BadFileName(f"file name {name!r}: extension .{ext} is neither .csv nor .xlsx")
    return ExportName(m["centre"].upper(), m["feed"], ts, ext)


def export_identity(name: str) -> str:
    """What a name designates: the canonical name of the export when it parses (so that `X.CSV` and
    `x.csv` are one export), else the name itself. Name reuse is judged on this."""
    try:
        return parse_export_name(name).file_name()
    except BadFileName:
        return name
