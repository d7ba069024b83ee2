"""`<centre_id>__<feed>__<extracted_at>.<ext>`: what a file's name tells before it is opened."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from pipelines.feeds import FEEDS

_NAME_RE = re.compile(r"^(?P<centre>[0-9A-Za-z]{9})__(?P<feed>[a-z_]+)__(?P<ts>\d{8}T\d{6})\.(?P<ext>[A-Za-z]+)$")


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
    m = _NAME_RE.match(name)
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
