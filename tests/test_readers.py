"""Each dialect's quirks on tiny hand-written files, with exact expected frames."""
import datetime as dt
import io

import polars as pl
import pytest
import xlsxwriter
from polars.testing import assert_frame_equal

from pipelines.inbox.parsing import parse
from pipelines.inbox.readers import UnreadableFile, read_export
from tests.conftest import make_nir

NIR = make_nir()


def _canonical(data: bytes, feed: str, dialect: str):
    return parse(read_export(data, dialect), feed, dialect)


def test_fr_csv_cp1252_crlf_decimal_comma_any_column_order():
    header = "montant;statut;id_acte;date;heure;site;rpps;nir;annee_naissance;sexe;commune;code_acte;ald;note"
    rows = [f"26,50;réalisé;A1;05/03/2024;09:30;CHAL;10001234567;{NIR};1985;M;71076;G;N;é",
            f" 0 ;Annulé;A2;06/03/2024;14:15;chag;10001234567;{NIR};1985;2;71073;G;O;"]
    data = ("\r\n".join([header, *rows]) + "\r\n").encode("cp1252")
    parsed = _canonical(data, "consultations", "fr_csv")
    assert parsed.unknown_columns == ["note"]
    assert parsed.issues == []
    expected = pl.DataFrame({
        "_line": [2, 3],
        "act_id": ["A1", "A2"],
        "occurred_at": [dt.datetime(2024, 3, 5, 9, 30), dt.datetime(2024, 3, 6, 14, 15)],
        "site_code": ["CHAL", "CHAG"],
        "practitioner_rpps": ["10001234567"] * 2,
        "patient_nir": [NIR] * 2,
        "birth_year": pl.Series([1985, 1985], dtype=pl.Int32),
        "sex": ["M", "F"],
        "residence_insee": ["71076", "71073"],
        "act_code": ["G", "G"],
        "amount_eur": [26.5, 0.0],
        "status": ["completed", "cancelled"],
        "ald": [False, True],
    })
    assert_frame_equal(parsed.frame.select(expected.columns), expected, check_dtypes=False)
    # beside the typed columns, the values as the centre wrote them (quarantine reports those)
    assert parsed.frame["_sent_occurred_at"].to_list() == ["05/03/2024 09:30", "06/03/2024 14:15"]
    assert parsed.frame["_sent_amount_eur"].to_list() == ["26,50", "0"]
    assert parsed.frame.schema["occurred_at"] == pl.Datetime("us")


def test_platform_csv_bom_iso_offsets_to_paris_time():
    header = "act_id,occurred_at,site_code,practitioner_rpps,patient_nir,birth_year,sex,residence_insee,act_code,amount_eur,status,ald,mode"
    rows = [f"T1,2024-03-05T09:30:00+01:00,USSE,10001234567,{NIR},1985,F,19275,TCG,25.00,completed,true,video",
            f"T2,2024-07-01T06:00:00Z,EGLE,10001234567,{NIR},1985,F,19275,TCG,25.00,no_show,false,telephone"]
    data = b"\xef\xbb\xbf" + ("\n".join([header, *rows]) + "\n").encode("utf-8")
    parsed = _canonical(data, "teleconsultations", "platform_csv")
    assert parsed.issues == []
    assert parsed.frame["occurred_at"].to_list() == [dt.datetime(2024, 3, 5, 9, 30), dt.datetime(2024, 7, 1, 8, 0)]
    assert parsed.frame["status"].to_list() == ["completed", "no_show"]
    assert parsed.frame["ald"].to_list() == [True, False]
    assert parsed.frame["mode"].to_list() == ["video", "telephone"]


def _xlsx(rows):
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet()
    datef = wb.add_format({"num_format": "dd/mm/yyyy"})
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if isinstance(v, (dt.datetime, dt.time)):
                ws.write_datetime(r, c, v, datef)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(r, c, v)
            else:
                ws.write_string(r, c, v)
    wb.close()
    return buf.getvalue()


def test_xlsx_native_dates_and_numbers():
    header = ["mois", "poste", "montant"]
    data = _xlsx([header, ["2024-03", "loyer", 1200.5], ["2024-04", "subventions", 15000]])
    parsed = _canonical(data, "costs", "xlsx")
    assert parsed.issues == []
    assert parsed.frame["month"].to_list() == [dt.date(2024, 3, 1), dt.date(2024, 4, 1)]
    assert parsed.frame["amount_eur"].to_list() == [1200.5, 15000.0]
    header = ["nir", "date_declaration", "rpps_medecin", "situation_anterieure", "date_fin", "ald",
              "annee_naissance", "sexe", "commune"]
    data = _xlsx([header, [NIR, dt.datetime(2024, 2, 3), "10001234567", "sans_medecin_traitant", "", "O", 1950, "F", 1053]])
    parsed = _canonical(data, "gp_declarations", "xlsx")
    assert parsed.issues == []
    row = parsed.frame.row(0, named=True)
    assert row["declared_on"] == dt.date(2024, 2, 3) and row["ended_on"] is None
    assert row["birth_year"] == 1950 and row["previous_situation"] == "none" and row["ald"] is True
    assert row["residence_insee"] == "01053"  # Excel dropped the leading zero


def test_impossible_dates_and_bad_numbers_are_row_issues_with_source_column():
    header = "mois;poste;montant"
    data = ("\r\n".join([header, "2024-13;loyer;12,5", "2024-02;loyer;12,5,0", "2024-02;loyer;100"]) + "\r\n").encode("cp1252")
    parsed = _canonical(data, "costs", "fr_csv")
    assert [(i.line, i.column, i.rule) for i in parsed.issues] == [(2, "mois", "type"), (3, "montant", "type")]
    assert parsed.frame["_line"].to_list() == [4]
    assert parsed.rows_read == 3


def test_quoted_fields_keep_separators_and_a_record_is_one_physical_line():
    # No feed has free text: a quote left open at the end of its line is that line's issue, and the
    # next line is read on its own (an unbalanced quote once swallowed every line after it).
    data = ('mois;poste;montant\r\n"2024-01";"loyer";"1;2"\r\n"2024-02";"autres\r\ncharges";"3"\r\n'
            '2024-03;loyer;4\r\n"2024-04";"loyer";"5"\r\n').encode("cp1252")
    parsed = _canonical(data, "costs", "fr_csv")
    assert parsed.rows_read == 5  # the physical data lines
    assert sorted((i.line, i.rule) for i in parsed.issues) == [(2, "type"), (3, "quoting"), (4, "fields")]
    assert parsed.frame["_line"].to_list() == [5, 6]


def test_ragged_line_is_reported_not_fatal():
    data = "mois;poste;montant\r\n2024-01;loyer\r\n2024-02;loyer;3\r\n".encode("cp1252")
    raw = read_export(data, "fr_csv")
    assert [(i.line, i.rule) for i in raw.issues] == [(2, "fields")]
    assert raw.rows_read == 2


@pytest.mark.parametrize("data,dialect,reason", [
    ("mois;poste;montant\r\n2024-01;équipement;3\r\n".encode("utf-8"), "fr_csv", "UTF-8"),
    (b"mois;poste;montant\r\n2024-01;loyer;3\r\n2024-02;lo", "fr_csv", "truncated"),
    (b"\x00\x01\x02binary", "fr_csv", "binary"),
    (b"", "platform_csv", "empty"),
    ("mois;poste;montant\n2024-01;loyer;3\n".encode(), "platform_csv", "not the platform_csv dialect"),
    (b"PK\x03\x04broken", "xlsx", "xlsx"),
])
def test_unreadable_files_say_why(data, dialect, reason):
    with pytest.raises(UnreadableFile, match=reason):
        _canonical(data, "costs", dialect)


def test_header_only_file_has_no_rows():
    parsed = _canonical("mois;poste;montant\r\n".encode("cp1252"), "costs", "fr_csv")
    assert parsed.frame.height == 0 and parsed.rows_read == 0


def test_workbook_with_two_sheets_is_refused():
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet().write_row(0, 0, ["mois", "poste", "montant"])
    wb.add_worksheet()
    wb.close()
    with pytest.raises(UnreadableFile, match="one sheet"):
        _canonical(buf.getvalue(), "costs", "xlsx")
