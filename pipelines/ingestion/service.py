"""Ingest inbox files: read in the centre's dialect, parse, validate, pseudonymise, append.

Every row ends in exactly one place (appended, duplicate, quarantined); a file that cannot
be read is quarantined whole. Files are judged one by one but validated and stored in
batches: a batch is one transaction, so a file's events land entirely or not at all.
"""
from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import duckdb
import polars as pl

from contracts import CONTRACT_VERSIONS, ContractContext, contract_for, validate
from contracts.base import FILE
from pipelines.eventlog.store import EventLog, FileBatch, QuarantinedRow, Receipt
from pipelines.feeds import FIELDS
from pipelines.inbox.filenames import BadFileName, ExportName, export_identity, parse_export_name
from pipelines.inbox.parsing import LANGUAGE, parse
from pipelines.inbox.readers import UnreadableFile, read_export
from pipelines.rows import LINE, SENT, RowIssue
from pipelines.ingestion.events import PSEUDONYM, to_events
from pipelines.pseudonyms import Pseudonymiser
from pipelines.registry import Registry

log = logging.getLogger(__name__)

BATCH_ROWS = 500_000  # rows judged and stored per transaction: bounds memory, amortises overhead


@dataclass
class ParsedFile:
    """A file read and parsed (not yet judged by its contract, nor pseudonymised)."""

    batch: FileBatch
    rows: pl.DataFrame | None = None      # canonical rows, first occurrence of each distinct row
    context: ContractContext | None = None
    issues: list[RowIssue] = field(default_factory=list)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _walk(inbox: Path) -> Iterator[tuple[Path, bool]]:
    """(entry, hidden) for every file-like entry below `inbox`; links are listed, never followed."""
    for folder, dirs, files in os.walk(inbox, followlinks=False):
        base = Path(folder)
        hidden_folder = base != inbox and any(_hidden(part) for part in base.relative_to(inbox).parts)
        links = [d for d in dirs if (base / d).is_symlink()]  # a link to a folder: an entry, not a place to look
        for name in (*files, *links):
            yield base / name, hidden_folder or _hidden(name)


def inbox_files(inbox: Path) -> list[Path]:
    """Entries waiting in the inbox, in recorded-time order (then by name): regular files, and anything
    else (links, FIFOs, sockets) to be quarantined whole without being opened. Hidden names (a leading
    `.`: editors' and copy tools' temporary files) are left alone; `hidden_files` counts them."""
    files = [p for p, hidden in _walk(inbox) if not hidden]

    def order(p: Path):
        try:
            return (0, parse_export_name(p).extracted_at.isoformat(), p.name)
        except BadFileName:
            return (1, "", p.name)
    return sorted(files, key=order)


def hidden_files(inbox: Path) -> list[Path]:
    """Entries ignored because their name (or a folder's) starts with `.`."""
    return sorted(p for p, hidden in _walk(inbox) if hidden)


NOT_REGULAR = "not_a_regular_file"


def read_entry(path: Path) -> tuple[bytes | None, str]:
    """(bytes, SHA-256) of a regular file; (None, a stable digest of what the entry is) for anything else.

    Opened without following links (`O_NOFOLLOW`), and checked on the open descriptor: a link swapped
    in after listing is refused too, so nothing outside the inbox is ever read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # a link (ELOOP), or gone
        fd = None
    if fd is not None:
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                with os.fdopen(fd, "rb", closefd=False) as f:
                    data = f.read()
                return data, sha256_of(data)
        finally:
            os.close(fd)
    try:
        described = f"{stat.filemode(os.lstat(path).st_mode)} -> {os.readlink(path) if path.is_symlink() else ''}"
    except OSError:
        described = "gone"
    # marked, so that the entry never holds its name against a real file sent later under it
    return None, f"{NOT_REGULAR}:{sha256_of(described.encode())}"


def entry_size(path: Path) -> int:
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _whole_file(name: str, sha: str, rule: str, reason: str, *, status: str = "quarantined",
                export: ExportName | None = None, dialect: str | None = None) -> ParsedFile:
    return ParsedFile(FileBatch(
        file_name=name, sha256=sha, status=status, reason=reason,
        centre_id=export.centre_id if export else None, feed=export.feed if export else None,
        extracted_at=export.extracted_at if export else None, dialect=dialect,
        quarantine=[QuarantinedRow(None, None, None, rule, reason, f"{rule}: {reason}")]))


INTERNAL_ERROR = "internal_error"


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failed(name: str, sha: str, exc: BaseException, dialect: str | None = None) -> ParsedFile:
    """A file that carnet failed on unexpectedly: quarantined whole with the error, so that the run
    goes on with the other files (and the file can be requeued once carnet is fixed)."""
    try:
        export = parse_export_name(name)
    except BadFileName:
        export = None
    reason = (f"carnet failed on this file ({_one_line(exc)}): kept whole in quarantine; report it to the "
              "carnet team, then `carnet requeue` once fixed")
    return _whole_file(name, sha, INTERNAL_ERROR, reason, export=export, dialect=dialect)


def environmental(exc: BaseException) -> bool:
    """Errors of the machine, not of a file (disk, memory, locks, interruption): they fail the run,
    to be retried, instead of quarantining a file that did nothing wrong."""
    return isinstance(exc, (OSError, MemoryError, duckdb.IOException, duckdb.OutOfMemoryException,
                            duckdb.InterruptException, duckdb.FatalException, duckdb.TransactionException,
                            duckdb.ConnectionException)) or not isinstance(exc, Exception)


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


def prepare(path: Path, data: bytes | None, sha: str, registry: Registry, inbox: Path | None = None) -> ParsedFile:
    """Read and parse one inbox entry (`data` None: not a regular file); touches nothing but `data`.
    Whatever the file holds, this returns: an unexpected error quarantines the file whole."""
    if data is None:
        return _whole_file(path.name, sha, NOT_REGULAR,
                           "not a regular file (a link, a pipe or a device): carnet reads only files dropped in "
                           "the inbox itself; copy the export there")
    try:
        return _prepare(path, data, sha, registry, inbox)
    except Exception as exc:  # noqa: BLE001 - one file must never stop the others
        if environmental(exc):
            raise
        log.exception("preparing %s failed", path.name)
        return failed(path.name, sha, exc)


def _prepare(path: Path, data: bytes, sha: str, registry: Registry, inbox: Path | None) -> ParsedFile:
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

    business = [c for c in parsed.frame.columns if c != LINE and not c.startswith(SENT)]
    first = parsed.frame.unique(subset=business, keep="first", maintain_order=True)
    batch = FileBatch(
        file_name=name, sha256=sha, status="ingested", centre_id=centre.centre_id, feed=export.feed,
        extracted_at=export.extracted_at, dialect=centre.dialect, rows_read=parsed.rows_read,
        duplicates_in_file=parsed.frame.height - first.height,
        unknown_columns=parsed.unknown_columns, contract_version=CONTRACT_VERSIONS[export.feed])
    ctx = ContractContext(centre.site_codes, centre.opened_on, export.extracted_at)
    return ParsedFile(batch, first, ctx, list(parsed.issues))


def judge(files: list[ParsedFile]) -> dict[str, pl.DataFrame]:
    """Run each feed's contract once over all its files; returns each feed's valid rows, with `FILE`
    (the file's position in `files`).

    Quarantine rows are attached to each file's batch, with the file's own column names.
    """
    by_feed: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(files):
        if p.rows is not None:
            by_feed[p.batch.feed].append(i)
    valid_by_feed: dict[str, pl.DataFrame] = {}
    contract_issues: dict[int, list[RowIssue]] = defaultdict(list)
    for feed, members in by_feed.items():
        frame = pl.concat([files[i].rows.with_columns(pl.lit(i, pl.Int32).alias(FILE),
                                                         *files[i].context.columns())
                           for i in members], how="vertical")
        nir_columns = {f.name for f in FIELDS[feed] if f.nir}
        valid, issues = validate(frame, contract_for(feed), nir_columns=nir_columns)
        for i, file_issues in issues.items():
            contract_issues[i].extend(file_issues)
        valid_by_feed[feed] = valid.drop([c for c in valid.columns if c.startswith("_") and c not in (LINE, FILE)])
    for i, p in enumerate(files):
        if p.rows is None:
            continue
        language = LANGUAGE[p.batch.dialect]
        source = {f.name: (f.fr[0] if language == "fr" else f.en) for f in FIELDS[p.batch.feed]}
        renamed = [RowIssue(x.line, source.get(x.column, x.column), x.value, x.rule, x.message)
                   for x in contract_issues.get(i, [])]
        p.batch.quarantine = _group_issues(p.issues + renamed)
    return valid_by_feed


def judge_each(batch: list[ParsedFile]) -> dict[str, pl.DataFrame]:
    """`judge`, and should it fail, each file judged alone: a file the contracts fail on unexpectedly is
    replaced in `batch` by its whole-file quarantine, and the others keep their verdicts."""
    try:
        return judge(batch)
    except Exception as exc:  # noqa: BLE001
        if environmental(exc):
            raise
        log.exception("judging a batch failed: judging its %d file(s) one by one", len(batch))
    parts: dict[str, list[pl.DataFrame]] = defaultdict(list)
    for i, parsed in enumerate(batch):
        try:
            verdict = judge([parsed])
        except Exception as exc:  # noqa: BLE001
            if environmental(exc):
                raise
            batch[i] = failed(parsed.batch.file_name, parsed.batch.sha256, exc, parsed.batch.dialect)
            continue
        for feed, frame in verdict.items():
            parts[feed].append(frame.with_columns(pl.lit(i, pl.Int32).alias(FILE)))
    return {feed: pl.concat(frames) for feed, frames in parts.items()}


def pseudonyms_of(frames: Iterable[pl.DataFrame], pseudonymiser: Pseudonymiser,
                  event_log: EventLog) -> tuple[pl.DataFrame, set[str]]:
    """One trip to the vault for a batch: (NIR → pseudonym lookup, NIRs of patients who objected)."""
    columns = [f.get_column("patient_nir") for f in frames if "patient_nir" in f.columns and f.height]
    nirs = pl.concat(columns) if columns else pl.Series("patient_nir", [], dtype=pl.Utf8)
    return pseudonymiser.assign(nirs, event_log.vault.salts_for, event_log.vault.objections() if nirs.len() else set())


def pseudonymise(valid: pl.DataFrame, lookup: pl.DataFrame) -> pl.DataFrame:
    """Replace `patient_nir` by the patient's pseudonym; the NIR column is dropped."""
    if "patient_nir" not in valid.columns:
        return valid
    out = valid.join(lookup, on="patient_nir", how="left", maintain_order="left").drop("patient_nir")
    if out.get_column(PSEUDONYM).null_count():
        raise AssertionError("a row reached the log without a pseudonym")
    return out


OBJECTION = "objection"


def drop_objections(valid: pl.DataFrame, files: list[ParsedFile], refused: set[str]) -> pl.DataFrame:
    """Rows of patients who objected are not kept: quarantined with a reason, never appended."""
    if not refused or "patient_nir" not in valid.columns or not valid.height:
        return valid
    mask = pl.col("patient_nir").is_in(list(refused))
    for i, line in valid.filter(mask).select(FILE, LINE).iter_rows():
        files[i].batch.quarantine.append(QuarantinedRow(
            line, None, None, OBJECTION, "the patient objected to the use of their data: row not kept",
            f"row [{OBJECTION}]: the patient objected to the use of their data"))
    return valid.filter(~mask)


def _attach_events(files: list[ParsedFile], valid: dict[str, pl.DataFrame], pseudonymiser: Pseudonymiser,
                   event_log: EventLog) -> None:
    """Valid rows → each file's events: objections dropped, NIRs replaced (caller holds the transaction)."""
    lookup, refused = pseudonyms_of(valid.values(), pseudonymiser, event_log)
    for frame in valid.values():
        frame = pseudonymise(drop_objections(frame, files, refused), lookup)
        for (i,), part in frame.partition_by(FILE, as_dict=True, maintain_order=True).items():
            batch = files[i].batch
            batch.events = to_events(part, feed=batch.feed, centre_id=batch.centre_id)


def store(batch: list[ParsedFile], valid: dict[str, pl.DataFrame], event_log: EventLog,
          pseudonymiser: Pseudonymiser) -> list[Receipt]:
    """Pseudonymise and append a judged batch of files (`valid`: what `judge` kept) in one transaction."""
    if not batch:
        return []
    quarantine_before = [list(p.batch.quarantine) for p in batch]
    event_log.begin()
    try:
        _attach_events(batch, valid, pseudonymiser, event_log)
        receipts = event_log.store_batch([p.batch for p in batch])
        event_log.commit()
    except BaseException:
        event_log.rollback()
        pseudonymiser.forget_cache()  # salts created in the rolled-back transaction are gone
        for p, rows in zip(batch, quarantine_before):  # as judged, for a retry
            p.batch.quarantine = rows
        raise
    return receipts


def store_each(batch: list[ParsedFile], valid: dict[str, pl.DataFrame], event_log: EventLog,
               pseudonymiser: Pseudonymiser) -> list[Receipt]:
    """`store`, and should it fail on what a file holds, each file stored alone: the one that fails is
    quarantined whole with the error (one line), the others are stored. Errors of the machine
    (disk, memory, locks) still fail the run: nothing was committed, and the run can be retried."""
    try:
        return store(batch, valid, event_log, pseudonymiser)
    except Exception as exc:  # noqa: BLE001
        if environmental(exc) or len(batch) == 1 and batch[0].rows is None:
            raise
        log.exception("storing a batch failed: storing its %d file(s) one by one", len(batch))
    receipts: list[Receipt] = []
    for i, parsed in enumerate(batch):
        own = {feed: frame.filter(pl.col(FILE) == i).with_columns(pl.lit(0, pl.Int32).alias(FILE))
               for feed, frame in valid.items()}
        try:
            receipts += store([parsed], own, event_log, pseudonymiser)
        except Exception as exc:  # noqa: BLE001
            if environmental(exc):
                raise
            receipts += store([failed(parsed.batch.file_name, parsed.batch.sha256, exc, parsed.batch.dialect)], {},
                              event_log, pseudonymiser)
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
            size = entry_size(path)
            window.append((pool.submit(load, path), size))
            held += size
            while len(window) > 1 and held > budget:
                future, size = window.popleft()
                held -= size
                yield future.result()
        while window:
            yield window.popleft()[0].result()


def _decided_by_name(known_shas: set[str], sha: str) -> bool:
    """Whether what was received under a name decides an entry without reading it: the same bytes
    (a no-op), or a file read under that name before (a reuse). An entry that was not a regular
    file was never read: its name stays free for the real file."""
    return sha in known_shas or any(not s.startswith(NOT_REGULAR) for s in known_shas)


class _InboxRun:
    """One pass over the inbox. Files are read ahead, admitted in recorded-time order, and handed
    to the judge a batch at a time; a batch is stored while the next one is judged (Pandera, in
    Polars, and DuckDB both release the GIL)."""

    def __init__(self, inbox: Path, event_log: EventLog, registry: Registry, pseudonymiser: Pseudonymiser,
                 judging: ThreadPoolExecutor, on_receipt: Callable[[Receipt], None] | None, batch_rows: int):
        self.inbox, self.event_log, self.registry, self.pseudonymiser = inbox, event_log, registry, pseudonymiser
        self.judging, self.on_receipt, self.batch_rows = judging, on_receipt, batch_rows
        # export identity → the SHA-256s received under it (a name's case or spelling cannot hide a reuse)
        self.known: dict[str, set[str]] = {}
        for name, shas in event_log.ledger.known_files().items():
            self.known.setdefault(export_identity(name), set()).update(shas)
        self.receipts: list[Receipt] = []
        self.pending: list[ParsedFile] = []
        self.pending_rows = 0
        self.unstored: set[str] = set()  # identities read but not stored yet (pending or judged)
        self.judged: deque[tuple[list[ParsedFile], Future]] = deque()

    def load(self, path: Path) -> tuple[Path, str, str, ParsedFile | None]:
        """Runs in a reading thread: the entry's bytes and, unless its name is known, its parse."""
        data, sha = read_entry(path)
        identity = export_identity(path.name)
        if _decided_by_name(self.known.get(identity, set()), sha):
            return path, identity, sha, None  # decided in `admit`, in order: a no-op or a reused name
        return path, identity, sha, prepare(path, data, sha, self.registry, self.inbox)

    def admit(self, path: Path, identity: str, sha: str, parsed: ParsedFile | None) -> None:
        shas = self.known.get(identity, set())
        if sha in shas:
            return  # the same bytes again: already ingested, a no-op
        if identity in self.unstored:  # the same export twice before it was stored: store first, then judge
            self.flush(drain=True)
            shas = self.known.get(identity, set())
            if sha in shas:
                return
        if _decided_by_name(shas, sha):  # not the same bytes: a reused name
            parsed = _whole_file(path.name, sha, "name_reused",
                                 "a file with this name was already ingested with different bytes: refused whole "
                                 "(a correction must come as a new extract with a later extracted_at)",
                                 status="refused")
        assert parsed is not None  # a name unknown now was unknown when read ahead (`known` only grows)
        self.pending.append(parsed)
        self.unstored.add(identity)
        self.pending_rows += parsed.batch.rows_read or 0
        if self.pending_rows >= self.batch_rows:
            self.flush()

    def flush(self, *, drain: bool = False) -> None:
        """Hand the pending files to the judge; store the batch judged before (all, if `drain`)."""
        if self.pending:
            self.judged.append((self.pending, self.judging.submit(self._judge, self.pending)))
        self.pending, self.pending_rows = [], 0
        while len(self.judged) > (0 if drain else 1):
            self._store_next()

    def _judge(self, batch: list[ParsedFile]) -> dict[str, pl.DataFrame]:
        """In the judging thread: the contracts' verdict, then the new patients' HMACs, so that the
        writer, storing the batch before, does not compute them."""
        valid = judge_each(batch)
        nirs = [f.get_column("patient_nir") for f in valid.values() if "patient_nir" in f.columns and f.height]
        if nirs:
            self.pseudonymiser.prepare(pl.concat(nirs))
        return valid

    def _store_next(self) -> None:
        batch, verdict = self.judged.popleft()
        for receipt in store_each(batch, verdict.result(), self.event_log, self.pseudonymiser):
            self.receipts.append(receipt)
            if self.on_receipt:
                self.on_receipt(receipt)
        for parsed in batch:
            identity = export_identity(parsed.batch.file_name)
            self.known.setdefault(identity, set()).add(parsed.batch.sha256)
            self.unstored.discard(identity)


def ingest_inbox(inbox: Path, event_log: EventLog, registry: Registry, pseudonymiser: Pseudonymiser,
                 *, on_receipt: Callable[[Receipt], None] | None = None,
                 only: Callable[[Path], bool] | None = None, batch_rows: int = BATCH_ROWS) -> list[Receipt]:
    """Ingest every file of the inbox not ingested yet; returns the new receipts.

    No file can stop the others: what a file holds quarantines at most that file."""
    event_log.vault.check_key(pseudonymiser.fingerprint())
    paths = [p for p in inbox_files(inbox) if only is None or only(p)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="carnet-judge") as judging:
        run = _InboxRun(inbox, event_log, registry, pseudonymiser, judging, on_receipt, batch_rows)
        for loaded in _read_ahead(paths, run.load):
            run.admit(*loaded)
        run.flush(drain=True)
    return run.receipts


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
    event_log.vault.check_key(pseudonymiser.fingerprint())
    on_disk = {p.name: p for p in inbox_files(inbox)} if inbox.exists() else {}
    results = []
    for (name, sha), lines in sorted(event_log.ledger.unresolved_quarantine().items()):
        path = on_disk.get(name)
        data, found_sha = read_entry(path) if path else (None, None)
        if data is None or found_sha != sha:
            results.append(RequeueResult(name, len(lines), 0, 0, len(lines),
                                         "source file no longer in the inbox (or changed): put it back to requeue"))
            continue
        parsed = prepare(path, data, sha, registry, inbox)
        if parsed.rows is None:
            results.append(RequeueResult(name, len(lines), 0, 0, len(lines), f"still refused: {parsed.batch.reason}"))
            continue
        if None not in lines:  # only the rows quarantined before are retried; the others are in the log
            wanted = [line for line in lines if line is not None]
            parsed.rows = parsed.rows.filter(pl.col(LINE).is_in(wanted))
            parsed.issues = [i for i in parsed.issues if i.line in lines]
        event_log.begin()
        try:
            valid = judge([parsed])
            _attach_events([parsed], valid, pseudonymiser, event_log)
            appended, duplicates, still = event_log.apply_requeue(parsed.batch, lines)
            event_log.commit()
        except BaseException as exc:
            event_log.rollback()
            pseudonymiser.forget_cache()
            if environmental(exc):
                raise
            log.exception("requeueing %s failed", name)
            results.append(RequeueResult(name, len(lines), 0, 0, len(lines), f"still failing: {_one_line(exc)}"))
            continue
        results.append(RequeueResult(name, parsed.batch.rows_read if None in lines else len(lines),
                                     appended, duplicates, still))
    return results
