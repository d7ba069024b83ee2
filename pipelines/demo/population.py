"""Demo patients: valid NIRs with consistent sex, birth year and a real commune of residence."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines import geography
from pipelines.identifiers import nir_key

# Where a site's patients live: its commune and the rest of its EPCI first, then the rest of its
# arrondissement, then the rest of the département; within each ring in proportion to population.
CATCHMENT = (("epci", 0.60), ("arrondissement", 0.25), ("department", 0.15))
# At most this share of a commune's inhabitants are patients of one network: at large scales the
# rings fill up, and the patients they cannot hold live further out (the rest of the région, then
# anywhere), so that no territory has more patients than inhabitants. Binds from scale ~1.25 on.
MAX_RESIDENT_SHARE = 0.8
# Of the patients living in a merged commune, the share whose centre still sends a former code
# (or that of the delegated commune): centres' software keeps old codes for years.
FORMER_CODE_SHARE = 0.3


@dataclass
class Population:
    nir: np.ndarray         # str, 15 characters, valid key
    birth_year: np.ndarray  # int
    sex: np.ndarray         # 'M' / 'F'
    commune: np.ndarray     # INSEE code of residence

    def __len__(self) -> int:
        return len(self.nir)


def make_population(rng: np.random.Generator, size: int, department: str, communes: list[str]) -> Population:
    # Ages shaped like a GP's list: many adults, a tail of elderly, some children; all born by 2016
    # so that every act (from 2017) comes after the birth year.
    birth_year = np.clip(rng.normal(1968, 22, size).round().astype(int), 1925, 2016)
    sex_digit = rng.choice([1, 2], size=size)
    month = rng.integers(1, 13, size)
    born_here = rng.random(size) < 0.7
    other_depts = np.array(["75", "69", "13", "2A", "2B", "99", "59", "33"])
    dept = np.where(born_here, department, rng.choice(other_depts, size))
    commune_code = rng.integers(1, 990, size)
    order = rng.integers(1, 999, size)
    nirs = []
    seen = set()
    for i in range(size):
        while True:
            first13 = f"{sex_digit[i]}{birth_year[i] % 100:02d}{month[i]:02d}{dept[i]}{commune_code[i]:03d}{order[i]:03d}"
            if first13 not in seen:
                break
            order[i] = (order[i] % 998) + 1
        seen.add(first13)
        nirs.append(first13 + f"{nir_key(first13):02d}")
    codes, weights = catchment(communes, patients=size)
    residence = codes[rng.choice(len(codes), size, p=weights)]
    return Population(np.array(nirs), birth_year, np.where(sex_digit == 1, "M", "F"),
                      _as_sent(rng, residence))


def catchment(sites: list[str], patients: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The current communes the patients of sites in `sites` (INSEE codes) live in, and the share
    of the patients living in each: every site draws the same share. With `patients`, no commune
    holds more than MAX_RESIDENT_SHARE of its inhabitants (`_spill`)."""
    communes = geography.communes().filter(pl.col("population") > 0)
    share: dict[str, float] = {}
    for site in sites:
        home = communes.filter(pl.col("commune_insee") == site).row(0, named=True)
        inner = pl.col("commune_insee") == site
        if home["epci_code"]:
            inner = inner | (pl.col("epci_code") == home["epci_code"])
        rings = {"epci": inner,
                 "arrondissement": (pl.col("arrondissement_code") == home["arrondissement_code"]) & ~inner,
                 "department": (pl.col("department_code") == home["department_code"])
                 & (pl.col("arrondissement_code") != home["arrondissement_code"]) & ~inner}
        for ring, ring_share in CATCHMENT:
            members = communes.filter(rings[ring])
            if not members.height:
                continue
            weights = members["population"].to_numpy() / members["population"].sum()
            for code, w in zip(members["commune_insee"].to_list(), weights):
                share[code] = share.get(code, 0.0) + ring_share * w / len(sites)
    if patients:
        population = dict(zip(communes["commune_insee"].to_list(), communes["population"].to_list()))
        region = communes.filter(pl.col("commune_insee").is_in(sites))["region_code"].unique().to_list()
        outer = [communes.filter(pl.col("region_code").is_in(region)), communes]
        if any(w * patients > MAX_RESIDENT_SHARE * population[c] for c, w in share.items()):
            share = _spill(share, population, patients, outer)
    codes = np.array(sorted(share))
    weights = np.array([share[c] for c in codes])
    return codes, weights / weights.sum()


def _spill(share: dict[str, float], population: dict[str, int], patients: int,
           outer: list[pl.DataFrame]) -> dict[str, float]:
    """Shares capped at MAX_RESIDENT_SHARE of each commune's inhabitants; what the capped communes
    cannot hold goes to the communes of the next area out (`outer`, nearest first) below their cap,
    in proportion to their population."""
    share = dict(share)
    cap = {c: MAX_RESIDENT_SHARE * p / patients for c, p in population.items()}
    excess = 0.0
    for area in outer:
        for _ in range(200):
            excess += sum(max(w - cap[c], 0.0) for c, w in share.items())
            share = {c: min(w, cap[c]) for c, w in share.items()}
            if excess <= 1e-12:
                return share
            room = {c: p for c, p in zip(area["commune_insee"].to_list(), area["population"].to_list())
                    if share.get(c, 0.0) < cap[c]}
            total = sum(room.values())
            if not total:
                break  # this area is full: the excess goes further out
            for c, p in room.items():
                share[c] = share.get(c, 0.0) + excess * p / total
            excess = 0.0
    return share


def _as_sent(rng: np.random.Generator, residence: np.ndarray) -> np.ndarray:
    """The residence codes as the centres send them: a share of the patients of merged communes
    with a former or delegated code, which the models map back to the commune of today."""
    older = (geography.commune_codes().filter(pl.col("relation").is_in(["former", "delegated", "associated"]))
             .group_by("commune_insee").agg(pl.col("code").sort()))
    alternatives = dict(zip(older["commune_insee"].to_list(), older["code"].to_list()))
    draw, pick = rng.random(len(residence)), rng.random(len(residence))
    sent = residence.copy()
    for i, commune in enumerate(residence):
        codes = alternatives.get(commune)
        if codes and draw[i] < FORMER_CODE_SHARE:
            sent[i] = codes[int(pick[i] * len(codes))]
    return sent
