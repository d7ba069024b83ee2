"""The official geography: residence codes checked against it, residents placed in the commune of
today, territory figures per inhabitant protected like the rest of the release."""
import duckdb
import numpy as np
import polars as pl
import pytest

from pipelines import geography
from pipelines.publication.secrecy import Cell, Margin, SecrecySettings, protect_margins, revealed
from pipelines.settings import carnet_paths
from tests.conftest import DECL_HEADER_FR, make_nir, write_fr

CENTRE = "710000068"  # Louhans, fr_csv, sites LOUH (71263) and TOUR (71543), opened 2018-09-03
DECLARATIONS = f"{CENTRE}__gp_declarations__20240306T020000.csv"


def _declaration(nir13: str, commune: str) -> str:
    return f"{make_nir(nir13)};05/03/2024;10001234567;sans_medecin_traitant;;N;1970;F;{commune}"


def test_the_geography_seeds_hold_every_commune_once_with_corsica_and_overseas():
    communes, codes = geography.communes(), geography.commune_codes()
    assert communes["commune_insee"].is_unique().all() and codes["code"].is_unique().all()
    assert set(codes["commune_insee"]) <= set(communes["commune_insee"])
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= set(communes["department_code"])
    relation = dict(codes.select("code", "relation").iter_rows())
    assert (relation["71263"], relation["71114"], relation["75112"]) == ("current", "former", "municipal_district")
    assert codes.filter(pl.col("code") == "71114")["commune_insee"].item() == "71263"
    # every current commune maps to itself; populations add up to France's legal population
    assert codes.filter(pl.col("relation") == "current").height == communes.height
    assert 68_000_000 < communes["population"].sum() < 70_000_000


@pytest.mark.parametrize("commune,rule", [("71999", "cog_commune"), ("2C004", "insee_shape"), ("00000", "cog_commune")])
def test_a_residence_outside_the_geography_is_quarantined_with_its_rule(home, commune, rule):
    write_fr(home.inbox, DECLARATIONS, [_declaration("2700371263001", "71263"),
                                        _declaration("2700371263002", commune)], header=DECL_HEADER_FR)
    [r] = home.ingest()
    assert (r.rows_appended, r.rows_quarantined) == (1, 1)
    [(column, got, value)] = home.q("SELECT column_name, rule, value_masked FROM ingest.quarantine")
    assert (column, got, value) == ("commune", rule, commune)


def test_former_delegated_and_corsican_or_overseas_codes_are_communes(home):
    rows = [_declaration(f"27003712630{i:02d}", code)
            for i, code in enumerate(["71114", "71055", "75112", "2A004", "97411", "97608"])]
    write_fr(home.inbox, DECLARATIONS, rows, header=DECL_HEADER_FR)
    [r] = home.ingest()
    assert (r.rows_appended, r.rows_quarantined) == (6, 0)


def test_a_patient_declared_with_a_former_code_lands_in_the_commune_of_today(home):
    """Châteaurenaud (71114) merged into Louhans-Châteaurenaud (71263): the centre's software still
    sends the old code; the residents' tables place the patient in the commune of today."""
    from pipelines.projections.sqlmesh_project import refresh

    rows = [_declaration(f"27003712630{i:02d}", "71114" if i < 12 else "71263") for i in range(15)]
    write_fr(home.inbox, DECLARATIONS, rows, header=DECL_HEADER_FR)
    home.ingest()
    home.conn.close()
    warehouse = refresh(carnet_paths(home.root)).warehouse
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        by_commune = conn.execute("""
            SELECT department_code, commune_insee, SUM(newly_reattached)
            FROM publication.residents_reattachment_yearly GROUP BY ALL""").fetchall()
        territory = conn.execute("""
            SELECT level, territory_code, year, population, newly_reattached, attached_at_year_end
            FROM publication.residents_territory_yearly WHERE level <> 'departement_epci' ORDER BY ALL""").fetchall()
    finally:
        conn.close()
    assert by_commune == [("71", "71263", 15)]
    population = geography.communes().filter(pl.col("department_code") == "71")["population"].sum()
    epci = geography.communes().filter(pl.col("commune_insee") == "71263")["epci_code"].item()
    epci_population = geography.communes().filter(pl.col("epci_code") == epci)["population"].sum()
    assert territory == [("departement", "71", 2024, population, 15, 15), ("epci", epci, 2024, epci_population, 15, 15)]


def test_the_demo_patients_live_around_their_sites_some_sent_with_former_codes():
    from pipelines.demo.population import FORMER_CODE_SHARE, catchment, make_population

    codes, weights = catchment(["71263", "71543"])
    assert abs(weights.sum() - 1) < 1e-9 and len(codes) > 50
    communes = geography.communes().filter(pl.col("commune_insee").is_in(list(codes)))
    assert set(communes["department_code"]) == {"71"}
    population = make_population(np.random.default_rng(3), 20_000, "71", ["71263", "71543"])
    sent = pl.DataFrame({"code": population.commune}).join(geography.commune_codes(), on="code", how="left")
    assert sent["relation"].null_count() == 0  # every code sent is a commune of the geography
    merged = geography.commune_codes().filter(pl.col("relation") != "current")["commune_insee"].unique()
    living_in_merged = sent.filter(pl.col("commune_insee").is_in(merged.implode()))
    older = living_in_merged.filter(pl.col("relation") != "current").height / living_in_merged.height
    assert abs(older - FORMER_CODE_SHARE) < 0.03
    epci = geography.communes().filter(pl.col("commune_insee") == "71263")["epci_code"].item()
    in_epci = sent.join(geography.communes(), on="commune_insee").filter(pl.col("epci_code") == epci).height
    assert in_epci / len(population) > 0.25  # the EPCI ring of one of the two sites draws 60 % of its half


def test_at_large_scales_the_demo_patients_never_outnumber_a_communes_inhabitants():
    from pipelines.demo.population import MAX_RESIDENT_SHARE, catchment

    sites = ["71263", "71543"]
    population = dict(zip(geography.communes()["commune_insee"].to_list(), geography.communes()["population"].to_list()))
    small = catchment(sites, patients=10_000)
    assert (small[0] == catchment(sites)[0]).all() and (small[1] == catchment(sites)[1]).all()  # the cap binds not
    for patients in (500_000, 5_000_000):  # more than the département, then than the région, can hold
        codes, weights = catchment(sites, patients=patients)
        assert abs(weights.sum() - 1) < 1e-9
        assert max(w * patients / population[c] for c, w in zip(codes, weights)) <= MAX_RESIDENT_SHARE + 1e-9
    departements = geography.communes().filter(pl.col("commune_insee").is_in(list(codes)))["department_code"]
    assert departements.n_unique() > 10  # the patients the region could not hold live further out


def _cell(key, value, suppressed=False):
    return Cell(key=key, group=(), value=value, counts=(value,), suppressed=suppressed)


def test_a_territory_total_is_withheld_when_it_would_give_back_a_withheld_cell():
    """A département of two EPCIs: one commune cell withheld in the first, all published in the
    second. The EPCI's total would give the withheld cell back by subtraction, and so would the
    département's: both are withheld; the other EPCI, which tells nothing of it, stays."""
    settings = SecrecySettings(threshold=11)
    small, a, b = _cell(("71", "c1", 2024), 4, suppressed=True), _cell(("71", "c2", 2024), 30), _cell(("71", "c3", 2024), 40)
    e1 = Margin(key=("epci", "E1", 2024), value=34, counts=(34,), members=[small, a])
    e2 = Margin(key=("epci", "E2", 2024), value=40, counts=(40,), members=[b])
    department = Margin(key=("departement", "71", 2024), value=74, counts=(74,), members=[small, a, b])
    values = {("cell",) + c.key: c.value for c in (small, a, b)}
    protect_margins([e1, e2, department], [], values, {}, settings)
    assert e1.suppressed and department.suppressed and not e2.suppressed


def test_attached_patients_of_an_epci_are_not_given_back_by_its_departement():
    """An EPCI of 6 attached patients is withheld; its département's total less its other EPCI's
    would give it back: the other EPCI is withheld rather than the département."""
    settings = SecrecySettings(threshold=11)
    p1, p2 = _cell(("part", "71", "E1", 2024), 6, True), _cell(("part", "71", "E2", 2024), 50, True)
    e1 = Margin(key=("epci", "E1", 2024), value=6, counts=(6,), members=[p1])
    e2 = Margin(key=("epci", "E2", 2024), value=50, counts=(50,), members=[p2])
    department = Margin(key=("departement", "71", 2024), value=56, counts=(56,), members=[p1, p2])
    labels = {("cell",) + p.key: p for p in (p1, p2)}
    protect_margins([e1, e2, department], [], {k: p.value for k, p in labels.items()},
                    {k: settings.small(p.value) for k, p in labels.items()}, settings)
    assert e1.primary and e2.suppressed and not department.suppressed


def test_merged_unknowns_are_given_back_only_alone_or_by_their_bounds():
    rows = [{("cell", "a"): 1.0, ("cell", "b"): 1.0}, {("cell", "c"): 1.0}]
    assert revealed(rows, {("cell", "a"): 3, ("cell", "b"): 5, ("cell", "c"): 7}, {}) == {("cell", "c")}
    assert revealed(rows, {("cell", "a"): 1, ("cell", "b"): 1, ("cell", "c"): 7}, {}) == {
        ("cell", "a"), ("cell", "b"), ("cell", "c")}
