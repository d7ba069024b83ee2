"""Ingest inbox files: read in the centre's dialect, parse, validate, pseudonymise, append.

Every row ends in exactly one place (appended, duplicate, quarantined); a file that cannot
be read is quarantined whole. Files are judged one by one but validated and stored in
batches: a batch is one transaction, so a file's events land entirely or not at all.
"""
from __future__ import annotations

import hashlib
import logging
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import polars as pl

from contracts import CONTRACT_VERSIONS, ContractContext, contract_for, validate
from contracts.base import FILE
from pipelines.eventlog.store import EventLog, FileBatch, QuarantinedRow, Receipt
from pipelines.feeds import FIELDS
from pipelines.inbox.filenames import BadFileName, ExportName, parse_export_name
from pipelines.inbox.parsing import LANGUAGE, parse
from pipelines.inbox.readers import LINE, RowIssue, UnreadableFile, read_export
from pipelines.ingestion.events import PSEUDONYM, payload_columns, to_events
from pipelines.pseudonyms import Pseudonymiser
from pipelines.registry import Registry

log = logging.getLogger(__name__)

BATCH_ROWS = 500_000  # rows judged and stored per transaction: bounds memory, amortises overhead


@dataclass
class Prepared:
    """A file read and parsed (not yet judged by its contract, nor pseudonymised)."""

    batch: FileBatch
    rows: pl.DataFrame | None = None      # canonical rows, first occurrence of each distinct row
    context: ContractContext | None = None
    issues: list[RowIssue] = field(default_factory=list)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inbox_files(inbox: Path) -> list[Path]:
    """Files waiting in the inbox, in recorded-time order (then by name)."""
    files = [p for p in inbox.rglob("*") if p.is_file() and not p.name.startswith(".")]

    def order(p: Path):
        try:
            return (0, parse_export_name(p).extracted_at.isoformat(), p.name)
        except BadFileName:
            return (1, "", p.name)
    return sorted(files, key=order)


def _whole_file(name: str, sha: str, rule: str, reason: str, *, status: str = "quarantined",
                export: ExportName | None = None, dialect: str | None = None) -> Prepared:
    return Prepared(FileBatch(
        file_name=name, sha256=sha, status=status, reason=reason,
        centre_id=export.centre_id if export else None, feed=export.feed if export else None,
        extracted_at=export.extracted_at if export else None, dialect=dialect,
        quarantine=[QuarantinedRow(None, None, None, rule, reason, f"{rule}: {reason}")]))


def _shown(text: str | None, limit: int) -> str | None:
    """A value or message as a person reads it in the quarantine: one line, a bounded length."""
    if text is None:
        return None
    flat = " ".join(str(text).split()) if ("\n" in str(text) or "\r" in str(text)) else str(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _group_issues(issues: Iterable[RowIssue]) -> list[QuarantinedRow]:
    by_line: dict[int, list[RowIssue]] = defaultdict(list)
    for i in issues:
        by_line[i.line].append(i)
    rows = []
    for line in sorted(by_line):
        first = by_line[line][0]
        reasons = "; ".join(f"{i.column or 'row'} [{i.rule}]: {_shown(i.message, 300)}" for i in by_line[line])
        rows.append(QuarantinedRow(line, first.column, _shown(first.value, 100), first.rule,
                                   _shown(first.message, 300), _shown(reasons, 1000)))
    return rows


def prepare(path: Path, data: bytes, sha: str, registry: Registry, inbox: Path | None = None) -> Prepared:
    """Read and parse one file; touches nothing but `data`."""
    name = path.name
    try:
        export = parse_export_name(path)
    except BadFileName as exc:
        return _whole_file(name, sha, "file_name", str(exc))
    centre = registry.get(export.centre_id)
    if centre is None:
        return _whole_file(name, sha, "unknown_centre",
                           f"centre {export.centre_id} is not in the registry (seeds/centres.csv)", export=export)
    if inbox is not None and path.parent != inbox and path.parent.name.upper() != centre.centre_id:
        return _whole_file(name, sha, "wrong_folder",
                           f"file for centre {centre.centre_id} found in folder {path.parent.name!r}", export=export)
    if export.ext != centre.extension:
        return _whole_file(name, sha, "dialect",
                           f"centre {centre.centre_id} sends {centre.dialect} (.{centre.extension}), got .{export.ext}",
                           export=export, dialect=centre.dialect)
    try:
        raw = read_export(data, centre.dialect)
        parsed = parse(raw, export.feed, centre.dialect)
    except UnreadableFile as exc:
        return _whole_file(name, sha, "unreadable_file", str(exc), export=export, dialect=centre.dialect)

    business = [c for c in parsed.frame.columns if c != LINE]
    first = parsed.frame.unique(subset=business, keep="first", maintain_order=True)
    batch = FileBatch(
        file_name=name, sha256=sha, status="ingested", centre_id=centre.centre_id, feed=export.feed,
        extracted_at=export.extracted_at, dialect=centre.dialect, rows_read=parsed.rows_read,
        duplicates_in_file=parsed.frame.height - first.height, payload_columns=payload_columns(export.feed),
        unknown_columns=parsed.unknown_columns, contract_version=CONTRACT_VERSIONS[export.feed])
    ctx = ContractContext(centre.site_codes, centre.opened_on, export.extracted_at)
    return Prepared(batch, first, ctx, list(parsed.issues))


def judge(prepared: list[Prepared]) -> dict[str, pl.DataFrame]:
    """Run each feed's contract once over all its files; returns each feed's valid rows, with `FILE`
    (the file's position in `prepared`).

    Quarantine rows are attached to each file's batch, with the file's own column names.
    """
    by_feed: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(prepared):
        if p.rows is not None:
            by_feed[p.batch.feed].append(i)
    valid_by_feed: dict[str, pl.DataFrame] = {}
    contract_issues: dict[int, list[RowIssue]] = defaultdict(list)
    for feed, members in by_feed.items():
        frame = pl.concat([prepared[i].rows.with_columns(pl.lit(i, pl.Int32).alias(FILE),
                                                         *prepared[i].context.columns())
                           for i in members], how="vertical")
        nir_columns = {f.name for f in FIELDS[feed] if f.nir}
        valid, issues = validate(frame, contract_for(feed), nir_columns=nir_columns)
        for i, file_issues in issues.items():
            contract_issues[i].extend(file_issues)
        valid_by_feed[feed] = valid.drop([c for c in valid.columns if c.startswith("_") and c not in (LINE, FILE)])
    for i, p in enumerate(prepared):
        if p.rows is None:
            continue
        language = LANGUAGE[p.batch.dialect]
        source = {f.name: (f.fr[0] if language == "fr" else f.en) for f in FIELDS[p.batch.feed]}
        renamed = [RowIssue(x.line, source.get(x.column, x.column), x.value, x.rule, x.message)
                   for x in contract_issues.get(i, [])]
        p.batch.quarantine = _group_issues(p.issues + renamed)
    return valid_by_feed


def pseudonyms_of(frames: Iterable[pl.DataFrame], pseudonymiser: Pseudonymiser,
                  event_log: EventLog) -> tuple[pl.DataFrame, set[str]]:
    """One trip to the vault for a batch: (NIR → pseudonym lookup, NIRs of patients who objected)."""
    columns = [f.get_column("patient_nir") for f in frames if "patient_nir" in f.columns and f.height]
    nirs = pl.concat(columns) if columns else pl.Series("patient_nir", [], dtype=pl.Utf8)
    return pseudonymiser.assign(nirs, event_log.salts_for, event_log.objections() if nirs.len() else set())


def pseudonymise(valid: pl.DataFrame, lookup: pl.DataFrame) -> pl.DataFrame:
    """Replace `patient_nir` by the patient's pseudonym; the NIR column is dropped."""
    if "patient_nir" not in valid.columns:
        return valid
    out = valid.join(lookup, on="patient_nir", how="left", maintain_order="left").drop("patient_nir")
    if out.get_column(PSEUDONYM).null_count():
        raise AssertionError("a row reached the log without a pseudonym")
    return out


OBJECTION = "objection"


def drop_objections(valid: pl.DataFrame, prepared: list[Prepared], refused: set[str]) -> pl.DataFrame:
    """Rows of patients who objected are not kept: quarantined with a reason, never appended."""
    if not refused or "patient_nir" not in valid.columns or not valid.height:
        return valid
    mask = pl.col("patient_nir").is_in(list(refused))
    for i, line in valid.filter(mask).select(FILE, LINE).iter_rows():
        prepared[i].batch.quarantine.append(QuarantinedRow(
            line, None, None, OBJECTION, "the patient objected to the use of their data: row not kept",
            f"row [{OBJECTION}]: the patient objected to the use of their data"))
    return valid.filter(~mask)


def _attach_events(prepared: list[Prepared], valid: dict[str, pl.DataFrame], pseudonymiser: Pseudonymiser,
                   event_log: EventLog) -> None:
    """Valid rows → each file's events: objections dropped, NIRs replaced (caller holds the transaction)."""
    lookup, refused = pseudonyms_of(valid.values(), pseudonymiser, event_log)
    for frame in valid.values():
        frame = pseudonymise(drop_objections(frame, prepared, refused), lookup)
        for (i,), part in frame.partition_by(FILE, as_dict=True, maintain_order=True).items():
            batch = prepared[i].batch
            batch.events = to_events(part, feed=batch.feed, centre_id=batch.centre_id)


def store(prepared: list[Prepared], valid: dict[str, pl.DataFrame], event_log: EventLog,
          pseudonymiser: Pseudonymiser) -> list[Receipt]:
    """Pseudonymise and append a judged batch of files (`valid`: what `judge` kept) in one transaction."""
    if not prepared:
        return []
    event_log.begin()
    try:
        _attach_events(prepared, valid, pseudonymiser, event_log)
        receipts = event_log.store_batch([p.batch for p in prepared])
        event_log.commit()
    except BaseException:
        event_log.rollback()
        pseudonymiser.forget_cache()  # salts created in the rolled-back transaction are gone
        raise
    return receipts


# Bytes of files read and parsed ahead of the writer. About one batch's worth (~100 bytes a row):
# while one batch is judged and stored, the two threads parse the next, instead of stopping after
# a few files. A budget in bytes, not files, also bounds memory when files are large.
READ_AHEAD_BYTES = 64 * 2**20


def _read_ahead(paths: Iterable[Path], load: Callable[[Path], tuple],
                budget: int = READ_AHEAD_BYTES) -> Iterator[tuple]:
    """`load(path)` for each path, in order, computed by two threads up to `budget` bytes ahead.

    Reading and parsing (Polars releases the GIL) then overlap with the batch being stored
    (DuckDB releases it too); only the window's files (at least one) are held in memory.
    """
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="carnet-read") as pool:
        window: deque = deque()
        held = 0
        for path in paths:
            size = path.stat().st_size
            window.append((pool.submit(load, path), size))
            held += size
            while len(window) > 1 and held > budget:
                future, size = window.popleft()
                held -= size
                yield future.result()
        while window:
            yield window.popleft()[0].result()


def ingest_inbox(inbox: Path, event_log: EventLog, registry: Registry, pseudonymiser: Pseudonymiser,
                 *, on_receipt: Callable[[Receipt], None] | None = None,
                 only: Callable[[Path], bool] | None = None, batch_rows: int = BATCH_ROWS) -> list[Receipt]:
    """Ingest every file of the inbox not ingested yet; returns the new receipts."""
    known = event_log.known_files()
    receipts: list[Receipt] = []
    pending: list[Prepared] = []
    pending_rows = 0
    unstored: set[str] = set()  # names of the files read but not stored yet (pending or judged)
    judged: deque[tuple[list[Prepared], Future]] = deque()

    def store_next():
        batch, verdict = judged.popleft()
        for r in store(batch, verdict.result(), event_log, pseudonymiser):
            receipts.append(r)
            if on_receipt:
                on_receipt(r)
        for p in batch:
            known.setdefault(p.batch.file_name, set()).add(p.batch.sha256)
            unstored.discard(p.batch.file_name)

    def flush(*, drain: bool = False):
        """Hand the pending files to the judge; store the batch judged before (all, if `drain`)."""
        nonlocal pending, pending_rows
        if pending:
            judged.append((pending, judging.submit(judge, pending)))
        pending, pending_rows = [], 0
        while len(judged) > (0 if drain else 1):
            store_next()

    def load(path: Path) -> tuple[Path, str, Prepared | None]:
        data = path.read_bytes()
        sha = sha256_of(data)
        if known.get(path.name):  # decided below, in order: a no-op or a reused name
            return path, sha, None
        return path, sha, prepare(path, data, sha, registry, inbox)

    def admit(path: Path, sha: str, prepared: Prepared | None) -> None:
        nonlocal pending_rows
        shas = known.get(path.name, set())
        if sha in shas:
            return  # the same bytes again: already ingested, a no-op
        if path.name in unstored:  # the same name twice before it was stored: store first, then judge
            flush(drain=True)
            shas = known.get(path.name, set())
            if sha in shas:
                return
        if shas:
            prepared = _whole_file(path.name, sha, "name_reused",
                                   "a file with this name was already ingested with different bytes: refused whole "
                                   "(a correction must come as a new extract with a later extracted_at)",
                                   status="refused")
        assert prepared is not None  # a name unknown now was unknown when read ahead (`known` only grows)
        pending.append(prepared)
        unstored.add(path.name)
        pending_rows += prepared.batch.rows_read or 0
        if pending_rows >= batch_rows:
            flush()

    paths = [p for p in inbox_files(inbox) if only is None or only(p)]
    # one batch is judged (Pandera, in Polars: the GIL mostly released) while the one before is
    # pseudonymised and stored (DuckDB releases it too)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="carnet-judge") as judging:
        for path, sha, prepared in _read_ahead(paths, load):
            admit(path, sha, prepared)
        flush(drain=True)
    return receipts


@dataclass(frozen=True)
class RequeueResult:
    file_name: str
    retried: int
    appended: int
    duplicates: int
    still_quarantined: int
    note: str = ""


def requeue(inbox: Path, event_log: EventLog, registry: Registry, pseudonymiser: Pseudonymiser) -> list[RequeueResult]:
    """Re-validate quarantined rows from their source files with today's contracts and registry.

    Rows that now pass are appended (once: a quarantine row is resolved when its row is
    appended, and the log de-duplicates versions anyway); the others stay quarantined.
    """
    on_disk = {p.name: p for p in inbox_files(inbox)} if inbox.exists() else {}
    results = []
    for (name, sha), lines in sorted(event_log.unresolved_quarantine().items()):
        path = on_disk.get(name)
        data = path.read_bytes() if path else None
        if data is None or sha256_of(data) != sha:
            results.append(RequeueResult(name, len(lines), 0, 0, len(lines),
                                         "source file no longer in the inbox (or changed): put it back to requeue"))
            continue
        prepared = prepare(path, data, sha, registry, inbox)
        if prepared.rows is None:
            results.append(RequeueResult(name, len(lines), 0, 0, len(lines), f"still refused: {prepared.batch.reason}"))
            continue
        if None not in lines:  # only the rows quarantined before are retried; the others are in the log
            wanted = [line for line in lines if line is not None]
            prepared.rows = prepared.rows.filter(pl.col(LINE).is_in(wanted))
            prepared.issues = [i for i in prepared.issues if i.line in lines]
        valid = judge([prepared])
        event_log.begin()
        try:
            _attach_events([prepared], valid, pseudonymiser, event_log)
            appended, duplicates, still = event_log.apply_requeue(prepared.batch, lines)
            event_log.commit()
        except BaseException:
            event_log.rollback()
            pseudonymiser.forget_cache()
            raise
        results.append(RequeueResult(name, prepared.batch.rows_read if None in lines else len(lines),
                                     appended, duplicates, still))
    return results
