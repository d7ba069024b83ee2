"""The bookkeeping every row carries from the reader to the log, shared by the readers, the
parsers and the contracts: its physical line, the value as the centre wrote it, and what is wrong."""
from __future__ import annotations

from dataclasses import dataclass

LINE = "_line"      # the row's physical line in its file (the header is line 1)
SENT = "_sent_"     # prefix of a column holding the value as sent, beside a typed column whose text differs


@dataclass(frozen=True)
class RowIssue:
    line: int
    column: str | None
    value: str | None
    rule: str
    message: str
