"""Demo patients: valid NIRs with consistent sex, birth year and commune."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.identifiers import nir_key


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
    residence = rng.choice(np.array(communes), size)
    return Population(np.array(nirs), birth_year, np.where(sex_digit == 1, "M", "F"), residence)
