"""The registry of centres (`seeds/centres.csv`): who sends what, in which dialect."""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"

DIALECTS = ("fr_csv", "platform_csv", "xlsx")


@dataclass(frozen=True)
class Site:
    code: str
    commune_insee: str


@dataclass(frozen=True)
class Centre:
    centre_id: str
    name: str
    network_id: str
    operator_kind: str
    department_code: str
    commune_insee: str
    opened_on: dt.date
    model: str
    dialect: str
    gps: int
    nurses: int
    sites: tuple[Site, ...]
    network_name: str = ""

    @property
    def site_codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.sites)

    @property
    def extension(self) -> str:
        return "xlsx" if self.dialect == "xlsx" else "csv"


@dataclass(frozen=True)
class Registry:
    centres: dict[str, Centre]

    def get(self, centre_id: str) -> Centre | None:
        return self.centres.get(centre_id)

    def __iter__(self):
        return iter(self.centres.values())

    def networks(self) -> dict[str, list[Centre]]:
        out: dict[str, list[Centre]] = {}
        for c in self:
            out.setdefault(c.network_id, []).append(c)
        return out


def _parse_sites(text: str) -> tuple[Site, ...]:
    sites = []
    for part in text.split("|"):
        code, insee = part.split(":")
        sites.append(Site(code.strip(), insee.strip()))
    return tuple(sites)


def load_registry(path: Path | None = None) -> Registry:
    path = path or SEEDS_DIR / "centres.csv"
    centres = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["dialect"] not in DIALECTS:
                raise ValueError(f"{path}: centre {row['centre_id']} has unknown dialect {row['dialect']!r}")
            centres[row["centre_id"]] = Centre(
                centre_id=row["centre_id"],
                name=row["centre_name"],
                network_id=row["network_id"],
                operator_kind=row["operator_kind"],
                department_code=row["department_code"],
                commune_insee=row["commune_insee"],
                opened_on=dt.date.fromisoformat(row["opened_on"]),
                model=row["model"],
                dialect=row["dialect"],
                gps=int(row["gps"]),
                nurses=int(row["nurses"]),
                sites=_parse_sites(row["sites"]),
                network_name=row.get("network_name", ""),
            )
    return Registry(centres)


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    return load_registry()
