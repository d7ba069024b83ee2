"""The official French geography: INSEE's Code officiel géographique (COG) as carnet's seeds hold it.

The seeds (`seeds/communes.csv`, `seeds/commune_codes.csv`, `epci.csv`, `departements.csv`,
`regions.csv`) are built from one vintage of Etalab's package by
`scripts/build_geography_seeds.py`. The models join the first two (SQLMesh seeds); the
contracts, the demo and the publication's names read them here, so all agree on what a commune is.
"""
from __future__ import annotations

from functools import lru_cache

import polars as pl

from pipelines.registry import SEEDS_DIR

PACKAGE = "@etalab/decoupage-administratif"
PACKAGE_VERSION = "6.0.0"
PACKAGE_INTEGRITY = "sha512-XavYsFlbcM/prKr8hNHPKER94IHw/dsxNM4nxjWMYk6PLFACpEedvn/7wK8Baozm0dCYhWWcf+7bcWpA5pmCaQ=="
VINTAGE_YEAR = 2026
VINTAGE = f"COG {VINTAGE_YEAR}"
POPULATION = f"legal populations in force on 1 January {VINTAGE_YEAR} (INSEE, reference year {VINTAGE_YEAR - 3})"
SOURCE = f"INSEE {VINTAGE}, from {PACKAGE} {PACKAGE_VERSION} (Licence Ouverte 2.0)"


@lru_cache(maxsize=1)
def commune_codes() -> pl.DataFrame:
    """One row per code a centre may send (current, district, delegated, associated, former), the
    current commune it stands for and that commune's département, EPCI (None outside any) and région."""
    return pl.read_csv(SEEDS_DIR / "commune_codes.csv", infer_schema=False).with_columns(
        pl.col("epci_code").replace("", None))


@lru_cache(maxsize=1)
def known_codes() -> pl.Series:
    return commune_codes()["code"]


@lru_cache(maxsize=1)
def communes() -> pl.DataFrame:
    """One row per current commune: names, département, région, arrondissement, EPCI, population."""
    return pl.read_csv(SEEDS_DIR / "communes.csv", schema={
        "commune_insee": pl.Utf8, "commune_name": pl.Utf8, "department_code": pl.Utf8, "region_code": pl.Utf8,
        "arrondissement_code": pl.Utf8, "epci_code": pl.Utf8, "population": pl.Int64})


@lru_cache(maxsize=1)
def territory_names() -> dict[tuple[str, str], str]:
    """(level, code) -> name, for the levels of the observatory: départements and EPCIs."""
    departements = pl.read_csv(SEEDS_DIR / "departements.csv", infer_schema=False)
    epci = pl.read_csv(SEEDS_DIR / "epci.csv", infer_schema=False)
    return {**{("departement", c): n for c, n in departements.select("department_code", "department_name").iter_rows()},
            **{("epci", c): n for c, n in epci.select("epci_code", "epci_name").iter_rows()}}
