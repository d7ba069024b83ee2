"""Every contract rule, one failing row each, through the real ingestion path."""
import pytest

from contracts import CONTRACT_VERSIONS
from tests.conftest import FR_ACT_HEADER, fr_act, make_nir, write_fr

CENTRE = "710000019"  # Chalon-sur-Saône, fr_csv, opened 2017-12-01, sites CHAL and CHAG
NAME = f"{CENTRE}__consultations__20240306T020000.csv"

ACT_CASES = [
    ({"nir": make_nir()[:13] + "00"}, "nir", "nir_key"),
    ({"site": "XXXX"}, "site", "site_of_centre"),
    ({"code": "VG"}, "code_acte", "act_code_of_feed"),
    ({"montant": "-1,00"}, "montant", "amount_not_negative"),
    ({"statut": "peut-être"}, "statut", "status_domain"),
    ({"sexe": "X"}, "sexe", "sex_domain"),
    ({"rpps": "1234"}, "rpps", "rpps_shape"),
    ({"rpps": ""}, "rpps", "not_nullable"),
    ({"commune": "7107"}, "commune", "insee_shape"),
    ({"commune": "71999"}, "commune", "cog_commune"),  # the shape of a code, no commune of the COG
    ({"commune": "2C004"}, "commune", "insee_shape"),
    ({"year": "1850"}, "annee_naissance", "birth_year_range"),
    ({"year": "2030"}, "annee_naissance", "born_before_act"),
    ({"date": "01/06/2017"}, "date", "within_centre_life"),
    ({"date": "07/03/2024"}, "date", "within_centre_life"),
    ({"date": "31/02/2024"}, "date", "type"),
    ({"heure": "25h"}, "heure", "type"),
    ({"ald": "peut-être"}, "ald", "type"),
    ({"statut": "réalisé".encode("utf-8").decode("cp1252")}, "statut", "encoding"),
]


@pytest.mark.parametrize("change,column,rule", ACT_CASES, ids=[c[2] + ":" + c[1] for c in ACT_CASES])
def test_act_rule(home, change, column, rule):
    write_fr(home.inbox, NAME, [fr_act("OK1"), fr_act("BAD", **change)])
    [receipt] = home.ingest()
    assert (receipt.rows_read, receipt.rows_appended, receipt.rows_quarantined) == (2, 1, 1)
    [(line, col, got_rule, message)] = home.q("SELECT line, column_name, rule, message FROM ingest.quarantine")
    assert (line, col, got_rule) == (3, column, rule)
    assert message


def test_same_act_id_twice_with_different_values_quarantines_both(home):
    write_fr(home.inbox, NAME, [fr_act("A1"), fr_act("A1", montant="30,00"), fr_act("A2")])
    [r] = home.ingest()
    assert (r.rows_appended, r.rows_quarantined) == (1, 2)
    assert {x[0] for x in home.q("SELECT rule FROM ingest.quarantine")} == {"unique_in_file"}


def test_identical_rows_in_one_file_are_duplicates(home):
    write_fr(home.inbox, NAME, [fr_act("A1"), fr_act("A1")])
    [r] = home.ingest()
    assert (r.rows_appended, r.rows_duplicate, r.rows_quarantined) == (1, 1, 0)


from tests.conftest import DECL_HEADER_FR as DECL_HEADER  # noqa: E402


@pytest.mark.parametrize("row,rule", [
    (f"{make_nir()};05/03/2024;10001234567;peut-être;;N;1985;M;71076", "situation_domain"),
    (f"{make_nir()};05/03/2024;10001234567;inconnue;01/03/2024;N;1985;M;71076", "ends_after_start"),
    (f"{make_nir()};04/03/2024;10001234567;inconnue;08/03/2024;N;1985;M;71076", "ends_before_extraction"),
])
def test_declaration_rules(home, row, rule):
    ok = f"{make_nir('2700371076001')};05/03/2024;10001234567;sans_medecin_traitant;;O;1970;F;71076"
    write_fr(home.inbox, f"{CENTRE}__gp_declarations__20240306T020000.csv", [ok, row], header=DECL_HEADER)
    [r] = home.ingest()
    assert (r.rows_appended, r.rows_quarantined) == (1, 1)
    assert home.q("SELECT rule FROM ingest.quarantine") == [(rule,)]


@pytest.mark.parametrize("row,rule", [("2024-03;divers;10", "cost_line_domain"), ("2024-04;loyer;10", "month_not_future")])
def test_cost_rules(home, row, rule):
    write_fr(home.inbox, f"{CENTRE}__costs__20240306T020000.csv", ["2024-02;loyer;1200,00", row], header="mois;poste;montant")
    [r] = home.ingest()
    assert (r.rows_appended, r.rows_quarantined) == (1, 1)
    assert home.q("SELECT rule FROM ingest.quarantine") == [(rule,)]


def test_contract_versions_are_recorded_on_events_and_receipts(home):
    write_fr(home.inbox, NAME, [fr_act("A1")])
    home.ingest()
    assert home.q("SELECT DISTINCT contract_version FROM log.events") == [(CONTRACT_VERSIONS["consultations"],)]
    assert home.q("SELECT contract_version FROM ingest.receipts") == [(CONTRACT_VERSIONS["consultations"],)]
