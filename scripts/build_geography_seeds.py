"""Rebuild the geography seeds from INSEE's Code officiel géographique, as Etalab packages it.

    python scripts/build_geography_seeds.py            # the pinned vintage
    python scripts/build_geography_seeds.py --check    # fail if the committed seeds differ

Source: npm package `@etalab/decoupage-administratif` (data: Licence Ouverte 2.0), one
vintage of the COG per package version. The version and the tarball's integrity are pinned
in `pipelines/geography.py`; `npm pack` fetches it, nothing else of npm is used. The derived CSVs are committed, so
running carnet needs no npm; `seeds/README.md` states source, vintage and licence.

Seeds written (UTF-8, sorted, `\n` line ends):

- `communes.csv`: one row per current commune: code, name, département, région,
  arrondissement, EPCI (SIREN, empty outside any EPCI) and legal population;
- `commune_codes.csv`: one row per code a centre may send, with the current commune it
  stands for and that commune's département, EPCI and région: every current code, the
  municipal districts of Paris, Lyon and Marseille, the delegated and associated communes, and
  the former codes of merged communes;
- `epci.csv`, `departements.csv`, `regions.csv`: one row per EPCI, département, région.
"""
from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from pipelines.geography import PACKAGE, PACKAGE_INTEGRITY as INTEGRITY, PACKAGE_VERSION as VERSION
from pipelines.registry import SEEDS_DIR as SEEDS

# A code's meaning, strongest first: a code in force is itself; a district or a delegated or
# associated commune belongs to the commune INSEE lists it under today; a former code last.
# Two former codes of the 2026 vintage are also associated or delegated communes of another
# commune than the one whose `anciensCodes` list them: INSEE's current listing wins.
RELATIONS = ("current", "municipal_district", "delegated", "associated", "former")


def fetch(workdir: Path) -> dict[str, list]:
    out = subprocess.run(["npm", "pack", "--silent", f"{PACKAGE}@{VERSION}", "--pack-destination", str(workdir)],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    tarball = (workdir / out).read_bytes()
    algorithm, expected = INTEGRITY.split("-", 1)
    if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != expected:
        raise SystemExit(f"{out}: integrity differs from the pinned {INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        return {name: json.load(tar.extractfile(f"package/data/{name}.json"))
                for name in ("communes", "epci", "departements", "regions")}


def tables(data: dict[str, list]) -> dict[str, tuple[list[str], list[tuple]]]:
    epci_of = {m["code"]: e["code"] for e in data["epci"] for m in e["membres"]}
    current = {c["code"]: c for c in data["communes"] if c["type"] == "commune-actuelle"}
    communes = sorted((c["code"], c["nom"], c["departement"], c["region"], c.get("arrondissement", ""),
                       epci_of.get(c["code"], ""), c.get("population", ""))
                      for c in current.values())
    meaning: dict[str, tuple[int, str]] = {}

    def offer(code: str, relation: str, commune: str) -> None:
        rank = RELATIONS.index(relation)
        if code not in meaning or rank < meaning[code][0]:
            meaning[code] = (rank, commune)

    for c in data["communes"]:
        if c["type"] == "commune-actuelle":
            offer(c["code"], "current", c["code"])
            for former in c.get("anciensCodes", []):
                offer(former, "former", c["code"])
        elif c["type"] == "arrondissement-municipal":
            offer(c["code"], "municipal_district", c["commune"])
        elif c["type"] in ("commune-deleguee", "commune-associee"):
            offer(c["code"], "delegated" if c["type"] == "commune-deleguee" else "associated", c["chefLieu"])
    missing = sorted(code for code, (_, commune) in meaning.items() if commune not in current)
    if missing:
        raise SystemExit(f"codes pointing to no current commune: {missing[:10]}")
    return {
        "communes": (["commune_insee", "commune_name", "department_code", "region_code", "arrondissement_code",
                      "epci_code", "population"], communes),
        "commune_codes": (["code", "relation", "commune_insee", "department_code", "epci_code", "region_code"],
                          sorted((code, RELATIONS[rank], commune, current[commune]["departement"],
                                  epci_of.get(commune, ""), current[commune]["region"])
                                 for code, (rank, commune) in meaning.items())),
        "epci": (["epci_code", "epci_name", "epci_kind"],
                 sorted((e["code"], e["nom"], e["type"]) for e in data["epci"])),
        "departements": (["department_code", "department_name", "region_code"],
                         sorted((d["code"], d["nom"], d["region"]) for d in data["departements"])),
        "regions": (["region_code", "region_name"], sorted((r["code"], r["nom"]) for r in data["regions"])),
    }


def render(header: list[str], rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed seeds instead of writing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        built = {name: render(*table) for name, table in tables(fetch(Path(workdir))).items()}
    stale = []
    for name, text in built.items():
        path = SEEDS / f"{name}.csv"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"{path.relative_to(SEEDS.parent)}: {text.count(chr(10)) - 1} rows, {len(text.encode()):,} bytes")
    if stale:
        print(f"differ from {PACKAGE}@{VERSION}: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
