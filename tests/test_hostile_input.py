"""Hostile input: arbitrary bytes and mutated real exports never crash a run, every row is
accounted for, every reason is readable (property-based, with hypothesis)."""
import io

import pytest
import xlsxwriter
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.inbox.parsing import parse
from pipelines.inbox.readers import UnreadableFile, read_export
from tests.conftest import FR_ACT_HEADER, Home, fr_act, make_nir

DIALECTS = ("fr_csv", "platform_csv", "xlsx")
CHALON = "710000019"
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])


def _readable(text: str) -> bool:
    return bool(text) and text.isprintable() and len(text) < 2000


def _check_parse(data: bytes, dialect: str, feed: str = "consultations") -> None:
    try:
        parsed = parse(read_export(data, dialect), feed, dialect)
    except UnreadableFile as exc:  # the file is quarantined whole, with this reason
        assert _readable(str(exc))
        return
    lines = set(parsed.frame["_line"].to_list()) if parsed.frame.height else set()
    issue_lines = {i.line for i in parsed.issues}
    assert not lines & issue_lines  # a row is either read or reported, never both
    assert parsed.rows_read == len(lines) + len(issue_lines)  # every row accounted for
    assert all(_readable(i.message) and i.rule for i in parsed.issues)


@PROFILE
@given(data=st.binary(max_size=4000), dialect=st.sampled_from(DIALECTS))
@example(data=b"\r\x01", dialect="fr_csv")  # a lone carriage return in the header: once an uncaught csv.Error
def test_arbitrary_bytes_are_read_or_refused_with_a_reason(data, dialect):
    _check_parse(data, dialect)


_GOOD = [fr_act(f"A{i}", nir=make_nir(f"1850571076{i:03d}")) for i in range(6)]
_MUTATIONS = st.sampled_from([
    lambda t: t[: len(t) // 2],                                  # truncated mid-line
    lambda t: t.replace(";", ",", 3),                            # wrong separator on some lines
    lambda t: t.replace("05/03/2024", "31/02/2024", 1),          # a date that does not exist
    lambda t: t.replace("1850571076", "1852A71076", 1),          # a Corsican NIR with a wrong key
    lambda t: t.replace("A1;", '"A1;x";', 1),                    # quotes with an embedded separator
    lambda t: t.replace("A2;", '"A2\r\nsplit";', 1),             # an embedded newline
    lambda t: t.replace("A3;", "A" * 100_000 + ";", 1),          # a huge field
    lambda t: t.split("\r\n")[0] + "\r\n",                       # header only
    lambda t: "",                                                # empty
    lambda t: t.replace("réalisé", "r\u00e9alis\u00e9\u2603", 1),  # not Windows-1252
])


@PROFILE
@given(mutations=st.lists(_MUTATIONS, min_size=1, max_size=3), encoding=st.sampled_from(["cp1252", "utf-8"]))
def test_mutated_exports_never_crash_and_every_row_is_accounted_for(tmp_path_factory, mutations, encoding):
    text = "\r\n".join([FR_ACT_HEADER, *_GOOD]) + "\r\n"
    for mutate in mutations:
        text = mutate(text)
    home = Home(tmp_path_factory.mktemp("hostile"))
    try:
        path = home.inbox / CHALON / f"{CHALON}__consultations__20240306T020000.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding, errors="replace"))
        [receipt] = home.ingest()
        if receipt.status == "ingested":
            assert receipt.rows_read == receipt.rows_appended + receipt.rows_duplicate + receipt.rows_quarantined
        else:
            assert _readable(receipt.reason)
        reasons = home.q("SELECT message, all_reasons FROM ingest.quarantine")
        assert all(_readable(m) for m, _ in reasons)
        assert home.q("SELECT count(*) FROM log.events")[0][0] == receipt.rows_appended
    finally:
        home.conn.close()


def _workbook(sheets: dict[str, list[list]], formula: bool = False) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
        if formula:
            sheet.write_formula(len(rows), 0, "=1/0")
    book.close()
    return buffer.getvalue()


@pytest.mark.parametrize("sheets,formula", [
    ({"a": [["act_id"], ["1"]], "b": [["x"]]}, False),
    ({"a": [["act_id", "date"], ["1", "2024-01-01"]]}, True),
    ({"a": []}, False),
])
def test_spreadsheets_with_several_sheets_formulas_or_nothing(sheets, formula):
    _check_parse(_workbook(sheets, formula), "xlsx")
