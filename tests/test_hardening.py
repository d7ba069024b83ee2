"""A hostile inbox, defect by defect: no file can stop a run, no row vanishes, no value is
silently changed, nothing outside the inbox is read, and nothing stored ties a patient back."""
import datetime as dt
import io
import json
import os
import subprocess
import sys

import duckdb
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.eventlog.lock import writer_lock
from pipelines.eventlog.store import connect
from pipelines.eventlog.vault import KeyMismatch
from pipelines.inbox.parsing import parse
from pipelines.inbox.readers import MAX_LINE_CHARS, UnreadableFile, read_export
from pipelines.pseudonyms import Pseudonymiser
from pipelines.spreadsheet_cells import safe_cell, safe_frame
from tests.conftest import FR_ACT_HEADER, KEY, Home, fr_act, make_nir, write_fr

CHALON = "710000019"       # fr_csv, sites CHAL and CHAG
MAZINGARBE = "620000014"   # xlsx, site MAZI, opened 2022-01-03
XLSX_ACT_HEADER = FR_ACT_HEADER.split(";")


def _name(ts="20240306T020000", centre=CHALON, feed="consultations", ext="csv"):
    return f"{centre}__{feed}__{ts}.{ext}"


def _quarantine(home, file_name=None):
    sql = "SELECT file_name, line, column_name, value_masked, rule, message FROM ingest.quarantine"
    rows = home.q(sql + (" WHERE file_name = ?" if file_name else "") + " ORDER BY 1, 2",
                  [file_name] if file_name else [])
    return [dict(zip(["file", "line", "column", "value", "rule", "message"], r)) for r in rows]


def _amounts(home):
    return home.q("SELECT act_id, amount_eur::VARCHAR FROM log.acts ORDER BY 1")


def _xlsx(rows) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet()
    datef, timef = wb.add_format({"num_format": "dd/mm/yyyy"}), wb.add_format({"num_format": "hh:mm"})
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if isinstance(v, dt.datetime):
                ws.write_datetime(r, c, v, datef)
            elif isinstance(v, dt.time):
                ws.write_datetime(r, c, v, timef)
            elif isinstance(v, (int, float)):
                ws.write_number(r, c, v)
            else:
                ws.write_string(r, c, v)
    wb.close()
    return buf.getvalue()


def _xlsx_act(act_id, montant=26.5):
    return [act_id, dt.datetime(2024, 3, 5), dt.time(9, 30), "MAZI", "10001234567", make_nir(), 1985, "M",
            "62563", "G", montant, "réalisé", "N"]


def _write(home, name, data: bytes, centre=CHALON):
    path = home.inbox / centre / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# 1. One poison value stops nothing ------------------------------------------------------------

def test_an_out_of_range_amount_is_quarantined_with_its_value_and_the_run_goes_on(home):
    write_fr(home.inbox, _name("20240306T020000"), [fr_act("A1", montant="100000000000000000000,00"), fr_act("A2")])
    write_fr(home.inbox, _name("20240307T020000"), [fr_act("B1"), fr_act("B2", montant="999999999999,99")])
    _write(home, _name("20240306T020000", MAZINGARBE, ext="xlsx"),
           _xlsx([XLSX_ACT_HEADER, _xlsx_act("X1", 1e20), _xlsx_act("X2")]), MAZINGARBE)
    receipts = home.ingest()
    assert [(r.status, r.rows_read, r.rows_appended, r.rows_quarantined) for r in receipts] == \
        [("ingested", 2, 1, 1), ("ingested", 2, 1, 1), ("ingested", 2, 1, 1)]
    bad = [(q["column"], q["value"], q["rule"]) for q in _quarantine(home)]
    # long runs of digits are masked as possible NIRs; shorter values are shown as sent
    assert bad == [("montant", "1**************000000", "amount_in_range"),      # the workbook's 1e20
                   ("montant", "1**************000000,00", "amount_in_range"),
                   ("montant", "999999999999,99", "amount_in_range")]
    assert [a for a, _ in _amounts(home)] == ["A2", "B1", "X2"]


def test_a_file_carnet_fails_on_is_quarantined_whole_and_the_others_are_stored(home, monkeypatch):
    from pipelines.ingestion import service

    write_fr(home.inbox, _name("20240306T020000"), [fr_act("A1")])
    write_fr(home.inbox, _name("20240307T020000"), [fr_act("B1"), fr_act("B2")])
    write_fr(home.inbox, _name("20240308T020000"), [fr_act("C1")])
    to_events = service.to_events

    def fails_on_b(frame, *, feed, centre_id):  # an unexpected error while storing one file
        if frame.height == 2:
            raise duckdb.ConversionException("Could not cast value\nto DECIMAL(18,2)")
        return to_events(frame, feed=feed, centre_id=centre_id)
    monkeypatch.setattr(service, "to_events", fails_on_b)
    receipts = home.ingest()
    assert [(r.file_name[-19:], r.status, r.rows_appended) for r in receipts] == [
        ("20240306T020000.csv", "ingested", 1), ("20240307T020000.csv", "quarantined", 0),
        ("20240308T020000.csv", "ingested", 1)]
    [whole] = _quarantine(home, _name("20240307T020000"))
    assert whole["rule"] == "internal_error" and whole["line"] is None
    assert "ConversionException: Could not cast value to DECIMAL(18,2)" in whole["message"]
    assert "\n" not in whole["message"]


def test_a_file_the_reader_fails_on_is_quarantined_whole(home, monkeypatch):
    from pipelines.ingestion import service

    write_fr(home.inbox, _name("20240306T020000"), [fr_act("A1")])
    write_fr(home.inbox, _name("20240307T020000"), [fr_act("B1")])
    parse_ = service.parse
    monkeypatch.setattr(service, "parse", lambda raw, feed, dialect: parse_(raw, feed, dialect)
                        if raw.frame["id_acte"][0] != "B1" else 1 / 0)
    receipts = home.ingest()
    assert [(r.status, r.rows_appended) for r in receipts] == [("ingested", 1), ("quarantined", 0)]
    assert "ZeroDivisionError" in receipts[1].reason


def test_a_batch_the_contracts_fail_on_is_judged_file_by_file(home, monkeypatch):
    from pipelines.ingestion import service

    write_fr(home.inbox, _name("20240306T020000"), [fr_act("A1")])
    write_fr(home.inbox, _name("20240307T020000"), [fr_act("POISON")])
    judge = service.judge

    def fragile(files):
        if any(p.rows is not None and "POISON" in p.rows["act_id"].to_list() for p in files):
            raise ValueError("pandera choked")
        return judge(files)
    monkeypatch.setattr(service, "judge", fragile)
    receipts = home.ingest()
    assert [(r.status, r.rows_appended) for r in receipts] == [("ingested", 1), ("quarantined", 0)]
    assert "ValueError: pandera choked" in receipts[1].reason


# 2. An unbalanced quote loses no row ------------------------------------------------------------

def test_an_unbalanced_quote_quarantines_its_line_only(home):
    rows = [fr_act(f"A{i}") for i in range(8)]
    rows[3] = '"' + rows[3]                       # a quote opened, never closed
    rows[5] = rows[5].replace("A5;", '"A5";', 1)  # a quoted field, closed on its line
    write_fr(home.inbox, _name(), rows)
    [receipt] = home.ingest()
    assert (receipt.rows_read, receipt.rows_appended, receipt.rows_quarantined) == (8, 7, 1)
    [bad] = _quarantine(home)
    assert bad["line"] == 5  # the header is line 1
    assert [a for a, _ in _amounts(home)] == [f"A{i}" for i in (0, 1, 2, 4, 5, 6, 7)]


# 3. Amounts are read exactly, or quarantined ----------------------------------------------------

@pytest.mark.parametrize("sent,stored", [
    ("26,50", "26.50"),
    ("1 234,50", "1234.50"),
    ("1\u00a0234,50", "1234.50"),        # no-break space
    ("1.234,50", "1234.50"),
    ("1 234", "1234.00"),
    ("1.234", None),    # thousands or decimals? ambiguous in French notation
    ("26.50", None),    # a decimal point in a decimal-comma file
    ("26,505", None),   # more decimals than the log keeps: never rounded
    ("1 23,50", None),  # a broken group
])
def test_fr_csv_amounts_are_parsed_exactly_or_quarantined(home, sent, stored):
    write_fr(home.inbox, _name(), [fr_act("A1", montant=sent)])
    [receipt] = home.ingest()
    if stored is None:
        [bad] = _quarantine(home)
        assert (bad["column"], bad["value"], bad["rule"]) == ("montant", sent, "precision" if sent == "26,505" else "type")
        assert receipt.rows_appended == 0
    else:
        assert _amounts(home) == [("A1", stored)]


def test_a_distance_is_kept_to_its_stored_decimal_or_quarantined(home):
    header = FR_ACT_HEADER + ";distance_km"
    rows = [fr_act("V1", code="VG", montant="36,50") + ";12,5", fr_act("V2", code="VG", montant="36,50") + ";12,35"]
    write_fr(home.inbox, _name(feed="home_visits"), rows, header=header)
    [receipt] = home.ingest()
    assert (receipt.rows_appended, receipt.rows_quarantined) == (1, 1)
    [bad] = _quarantine(home)
    assert (bad["value"], bad["rule"]) == ("12,35", "precision")


# 4. A file whose line breaks were lost cannot hang a run ----------------------------------------

def test_a_header_with_absurdly_many_fields_is_refused_at_once():
    for fields in (20_000, 2_000_000):  # quadratic work in the header check once: 30 s, then never ending
        data = (";".join(f"c{i}" for i in range(fields)) + "\r\n").encode()
        with pytest.raises(UnreadableFile, match=f"{fields:,} columns"):
            read_export(data, "fr_csv")


def test_an_over_long_line_is_quarantined_and_the_rest_is_read(home):
    rows = [fr_act("A1"), fr_act("A2", rpps="1" * (MAX_LINE_CHARS + 5)), fr_act("A3")]
    write_fr(home.inbox, _name(), rows)
    [receipt] = home.ingest()
    assert (receipt.rows_read, receipt.rows_appended, receipt.rows_quarantined) == (3, 2, 1)
    assert [(q["line"], q["rule"]) for q in _quarantine(home)] == [(3, "line_too_long")]


# 5. Nothing outside the inbox is read -----------------------------------------------------------

def test_links_and_pipes_in_the_inbox_are_quarantined_without_being_read(home, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes(("\r\n".join([FR_ACT_HEADER, fr_act("SECRET")]) + "\r\n").encode("cp1252"))
    folder = home.inbox / CHALON
    folder.mkdir(parents=True)
    (folder / _name("20240306T020000")).symlink_to(outside)
    (folder / _name("20240307T020000")).symlink_to(tmp_path / "missing.csv")  # dangling
    os.mkfifo(folder / _name("20240308T020000"))
    (tmp_path / "dir").mkdir()
    (home.inbox / "linked_folder").symlink_to(tmp_path / "dir", target_is_directory=True)
    write_fr(home.inbox, _name("20240309T020000"), [fr_act("A1")])
    receipts = home.ingest()
    assert sorted((r.status, r.rows_appended) for r in receipts) == [("ingested", 1)] + [("quarantined", 0)] * 4
    assert {q["rule"] for q in _quarantine(home)} == {"not_a_regular_file"}
    assert [a for a, _ in _amounts(home)] == ["A1"]
    assert home.ingest() == []  # known entries: nothing new on the next run
    (folder / _name("20240306T020000")).unlink()  # the centre copies the real export under the link's name
    write_fr(home.inbox, _name("20240306T020000"), [fr_act("A0")])
    assert [(r.status, r.rows_appended) for r in home.ingest()] == [("ingested", 1)]


def test_the_ingestion_asset_and_the_sensor_take_a_dangling_link_in_their_stride(tmp_path, monkeypatch):
    import dagster as dg

    from pipelines.ingestion.assets import ingest_inbox_asset
    from pipelines.ingestion.sensors import inbox_snapshot
    from pipelines.resources import CarnetResource

    monkeypatch.setenv("CARNET_DEMO", "1")
    root = tmp_path / "home"
    write_fr(root / "inbox", _name(), [fr_act("A1")])
    (root / "inbox" / CHALON / _name("20240307T020000")).symlink_to(tmp_path / "missing.csv")
    assert set(inbox_snapshot(root / "inbox").values()) == {0, (root / "inbox" / CHALON / _name()).stat().st_size}
    result = dg.materialize([ingest_inbox_asset], resources={"carnet": CarnetResource(home=str(root))},
                            run_config={"ops": {"ingest_inbox": {"config": {"settle_seconds": 0}}}})
    md = {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("ingest_inbox")}
    assert md["consultation_recorded"]["rows_appended"].value == 1
    assert md["consultation_recorded"]["files_quarantined_whole"].value == 1


# 6. A name is matched whole ---------------------------------------------------------------------

def test_a_name_with_a_trailing_newline_or_another_case_cannot_reuse_an_ingested_name(home):
    write_fr(home.inbox, _name(), [fr_act("A1")])
    home.ingest()
    write_fr(home.inbox, _name() + "\n", [fr_act("A1", montant="99,00")])
    write_fr(home.inbox, _name().replace(".csv", ".CSV"), [fr_act("A1", montant="98,00")])
    receipts = {r.file_name: r for r in home.ingest()}
    assert receipts[_name() + "\n"].status == "quarantined"
    assert "control characters" in receipts[_name() + "\n"].reason
    assert receipts[_name().replace(".csv", ".CSV")].status == "refused"
    assert _amounts(home) == [("A1", "26.50")]


# 7. Duplicate columns in a workbook --------------------------------------------------------------

def test_a_workbook_repeating_a_column_is_refused_like_a_csv():
    header = XLSX_ACT_HEADER + ["montant"]
    with pytest.raises(UnreadableFile, match="repeats column.* montant"):
        read_export(_xlsx([header, _xlsx_act("X1") + [30.0]]), "xlsx")


# 8. The reason names what is missing ------------------------------------------------------------

def test_a_french_header_missing_a_column_says_which_and_what_is_unknown():
    header = FR_ACT_HEADER.replace("montant", "montnat")
    data = ("\r\n".join([header, fr_act("A1")]) + "\r\n").encode("cp1252")
    with pytest.raises(UnreadableFile) as refused:
        parse(read_export(data, "fr_csv"), "consultations", "fr_csv")
    assert "missing column(s) for consultations: montant; unknown column(s): montnat" in str(refused.value)
    assert "English" not in str(refused.value)


def test_an_english_header_in_a_french_dialect_is_named_as_such():
    header = "act_id,occurred_at,site_code,practitioner_rpps,patient_nir,birth_year,sex,residence_insee,act_code," \
             "amount_eur,status,ald".replace(",", ";")
    with pytest.raises(UnreadableFile, match="header is in English"):
        parse(read_export((header + "\r\n").encode(), "fr_csv"), "consultations", "fr_csv")


def test_a_header_split_by_another_dialects_separator_is_named_as_such():
    data = (FR_ACT_HEADER + "\n").encode("utf-8")  # a French export where the platform's CSV is expected
    with pytest.raises(UnreadableFile, match="separated by ';', not ',': not the platform_csv dialect"):
        parse(read_export(data, "platform_csv"), "consultations", "platform_csv")


# 9. No stored order ties an objection to a pseudonym ---------------------------------------------

def test_objections_and_excluded_pseudonyms_cannot_be_paired_by_order(home):
    nirs = [make_nir(f"1850571076{i:03d}") for i in range(12)]
    write_fr(home.inbox, _name(), [fr_act(f"A{i}", nir=n) for i, n in enumerate(nirs)])
    home.ingest()
    salts = dict(home.q("SELECT subject_id, salt FROM vault.patient_keys"))
    truth = {}
    for nir in nirs:  # one objection at a time, as `carnet object` would record them
        subject = home.pseudonymiser.subject_id(nir)
        truth[subject] = Pseudonymiser.pseudonym(salts[subject], subject)
        home.log.begin()
        home.log.vault.record_objection(subject, Pseudonymiser.pseudonym)
        home.log.commit()
    objections = [s for (s,) in home.q("SELECT subject_id FROM vault.objections ORDER BY rowid")]
    excluded = [p for (p,) in home.q("SELECT pseudonym FROM vault.excluded_pseudonyms ORDER BY rowid")]
    assert objections == sorted(truth) and excluded == sorted(truth.values())  # order is the values' own
    paired = dict(zip(objections, excluded))  # an attacker pairing by row order
    assert sum(paired[s] == p for s, p in truth.items()) < len(truth) // 2
    for table in ("vault.objections", "vault.excluded_pseudonyms"):
        assert [c for (c,) in home.q(f"SELECT column_name FROM (DESCRIBE {table})")] in (["subject_id"], ["pseudonym"])


# 10. Concurrent publication: separate staging, one line for the loser ----------------------------

def test_two_runs_stage_in_their_own_folders(tmp_path):
    from pipelines.publication.release import staging_dir
    from pipelines.settings import carnet_paths

    paths = carnet_paths(tmp_path)
    assert staging_dir(paths, "run-a") != staging_dir(paths, "run-b")
    with pytest.raises(ValueError):
        staging_dir(paths, "../escape")


@pytest.mark.slow  # a process of its own
def test_a_publish_that_finds_the_lock_held_says_so_in_one_line(tmp_path):
    home = tmp_path / "home"
    (home / "inbox").mkdir(parents=True)
    (home / "warehouse.duckdb").write_bytes(b"")  # only its existence is checked before the lock
    env = dict(os.environ, CARNET_HOME=str(home))
    with writer_lock(home / "event_log.lock"):
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "publish", "--wait", "0.5"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("carnet: waiting up to 0s for process")
    assert lines[1].startswith("carnet: another carnet process has held")
    assert "Traceback" not in done.stderr


# 11. CSV meant for Excel never carries a formula ------------------------------------------------

@pytest.mark.parametrize("value,shown", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("-25,00", "-25,00"), ("+3.5", "+3.5"), ("A1", "A1"), (12, 12), (None, None)])
def test_cells_a_spreadsheet_would_run_are_neutralised(value, shown):
    import polars as pl

    assert safe_cell(value) == shown
    if isinstance(value, str):
        frame = pl.DataFrame({"text": [value], "n": [-1]})
        assert safe_frame(frame).rows() == [(shown, -1)]


def test_the_quarantine_export_neutralises_formulas(home, tmp_path, monkeypatch):
    from pipelines.cli import main

    write_fr(home.inbox, _name(), [fr_act('=HYPERLINK("http://evil";"clic")', site="ZZZZ")])
    home.ingest()
    home.conn.close()
    monkeypatch.setenv("CARNET_HOME", str(home.root))
    try:
        assert main(["quarantine", "--export", str(tmp_path / "out")]) == 0
    finally:
        home.reopen()
    text = (tmp_path / "out" / f"{CHALON}__quarantine.csv").read_text(encoding="utf-8-sig")
    cells = [c for line in text.splitlines()[1:] for c in line.split(";")]
    assert cells and not any(c.lstrip('"').startswith(("=", "+", "@")) for c in cells)


# 12. Another key on an existing log is refused ---------------------------------------------------

def test_a_second_pseudonymisation_key_is_refused_before_anything_is_written(home):
    write_fr(home.inbox, _name("20240306T020000"), [fr_act("A1")])
    home.ingest()
    fingerprint = home.q("SELECT fingerprint FROM vault.key_fingerprint")
    assert fingerprint == [(home.pseudonymiser.fingerprint(),)] and KEY.hex() not in fingerprint[0][0]
    write_fr(home.inbox, _name("20240307T020000"), [fr_act("A2")])
    home.pseudonymiser = Pseudonymiser(b"another-key-0123456789")
    with pytest.raises(KeyMismatch, match="another CARNET_PSEUDONYMISATION_KEY"):
        home.ingest()
    assert home.q("SELECT count(*) FROM ingest.receipts") == [(1,)]
    home.pseudonymiser = Pseudonymiser(KEY)
    assert [r.rows_appended for r in home.ingest()] == [1]


def test_the_cli_refuses_another_key_in_one_line(home, monkeypatch, capsys):
    from pipelines.cli import main

    write_fr(home.inbox, _name(), [fr_act("A1")])
    home.ingest()
    home.conn.close()
    monkeypatch.setenv("CARNET_HOME", str(home.root))
    monkeypatch.setenv("CARNET_PSEUDONYMISATION_KEY", "another-key-0123456789")
    monkeypatch.setattr("sys.stdin", io.StringIO(make_nir() + "\n"))
    try:
        assert main(["object"]) == 2
    finally:
        home.reopen()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another CARNET_PSEUDONYMISATION_KEY" in err
    assert home.q("SELECT count(*) FROM vault.objections") == [(0,)]


# 14. An as-of build reads the log as it stood and writes nothing to it -----------------------------

def test_refresh_as_of_ingests_nothing(home, monkeypatch, capsys):
    from pipelines.cli import main

    write_fr(home.inbox, _name("20240306T020000"), [fr_act("A1"), fr_act("A2")])
    home.ingest()
    _write(home, _name("20240307T020000"), b"garbage waiting in the inbox")
    home.conn.close()
    monkeypatch.setenv("CARNET_HOME", str(home.root))
    monkeypatch.setenv("CARNET_INBOX_SETTLE_SECONDS", "0")
    monkeypatch.delenv("CARNET_PSEUDONYMISATION_KEY", raising=False)
    monkeypatch.delenv("CARNET_DEMO", raising=False)  # nothing is pseudonymised: no key is needed
    try:
        assert main(["refresh", "--as-of", "2024-03-06T03:00"]) == 0
    finally:
        home.reopen()
    assert home.q("SELECT file_name FROM ingest.receipts") == [(_name("20240306T020000"),)]
    assert "as_of" in capsys.readouterr().out


# 15. Smaller defects ----------------------------------------------------------------------------

def test_a_nul_byte_anywhere_is_refused_and_never_lands_in_a_value(home):
    filler = [fr_act(f"F{i:05d}", nir=make_nir(f"18505710{i % 99999:05d}")) for i in range(800)]  # > 64 KiB
    bad = fr_act("N\x00UL")
    write_fr(home.inbox, _name(), filler + [bad])
    [receipt] = home.ingest()
    assert (receipt.rows_read, receipt.rows_appended, receipt.rows_quarantined) == (801, 800, 1)
    assert _quarantine(home)[0]["rule"] == "binary"
    assert home.q("SELECT count(*) FROM log.acts a WHERE contains(CAST(a AS VARCHAR), chr(0))") == [(0,)]


@pytest.mark.parametrize("data,dialect,says", [
    ((FR_ACT_HEADER + "\r" + fr_act("A1") + "\r").encode("cp1252"), "fr_csv", "lone carriage return (old Mac OS"),
    (b"PK\x03\x04" + b"\x00" * 40, "fr_csv", "ZIP archive"),
    (b"id_acte;date\r\nA1;05/03/2024\r\n", "xlsx", "not an .xlsx workbook"),
])
def test_whole_file_reasons_say_what_to_do(data, dialect, says):
    with pytest.raises(UnreadableFile, match=says.replace("(", r"\(")) as refused:
        read_export(data, dialect)
    assert "again" in str(refused.value) or "send" in str(refused.value)


def test_a_date_outside_the_centres_life_is_shown_as_sent(home):
    write_fr(home.inbox, _name(), [fr_act("A1", date="05/03/2015", heure="09:30")])  # Chalon opened in 2017
    home.ingest()
    [bad] = _quarantine(home)
    assert (bad["column"], bad["value"], bad["rule"]) == ("date", "05/03/2015 09:30", "within_centre_life")
    assert bad["message"].startswith("'05/03/2015 09:30': ")


def test_hidden_files_are_ignored_and_status_says_so(home, monkeypatch, capsys):
    from pipelines.cli import main

    write_fr(home.inbox, "." + _name(), [fr_act("A1")])
    (home.inbox / ".DS_Store").write_bytes(b"\x00")
    assert home.ingest() == []
    home.conn.close()
    monkeypatch.setenv("CARNET_HOME", str(home.root))
    try:
        assert main(["status"]) == 0
    finally:
        home.reopen()
    assert "0 file(s) waiting; 2 hidden file(s) ignored (names starting with '.'" in capsys.readouterr().out


# What must hold afterwards: every physical data line in exactly one place ------------------------

_LINE_DAMAGE = st.sampled_from([
    lambda row: row,                                   # intact
    lambda row: row.replace(";", '";', 1),             # a stray quote
    lambda row: '"' + row.replace(";", '";"') + '"',   # every field quoted
    lambda row: row.replace("26,50", "1.234", 1),      # an ambiguous amount
    lambda row: row.replace("26,50", "9" * 25 + ",00", 1),  # an amount out of range
    lambda row: row + ";extra",                        # one field too many
    lambda row: row.split(";", 1)[1],                  # one field too few
    lambda row: "x" * (MAX_LINE_CHARS + 1),            # a line too long
    lambda row: "",                                    # a blank line: not a data line
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(_LINE_DAMAGE, min_size=1, max_size=12), repeat=st.booleans())
def test_every_physical_data_line_is_appended_duplicate_or_quarantined(tmp_path_factory, damage, repeat):
    rows = [fn(fr_act(f"A{i}")) for i, fn in enumerate(damage)]
    rows += rows[:1] if repeat else []  # the same line again: a duplicate within the file
    data_lines = sum(1 for r in rows if r.strip())
    home = Home(tmp_path_factory.mktemp("lines"))
    try:
        write_fr(home.inbox, _name(), rows)
        [receipt] = home.ingest()
        if receipt.status != "ingested":
            assert data_lines == 0
            return
        assert receipt.rows_read == data_lines
        assert receipt.rows_appended + receipt.rows_duplicate + receipt.rows_quarantined == data_lines
        lines = {q["line"] for q in _quarantine(home)}
        appended = {line for (line,) in home.q("SELECT source_line FROM log.events")}
        assert not lines & appended and len(lines) == receipt.rows_quarantined
    finally:
        home.conn.close()
