"""An attacker of the observatory release, written apart from carnet's secrecy code.

It holds every published table and, better than any real attacker, knows which sums of
departments are closed (it checks candidate relations against the truth). From them it
builds every subtraction it can — each union of departments against the centres' yearly
acts, each union against the centres' re-attachment series, the series' own published
points — and reports each withheld value it can pin down, by linear algebra (a value is
recovered when its unit vector lies in the row space of the relations) or by bounds (n
withheld counts of 1 or more that add up to n).
"""
from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl


def _solve(relations: list[tuple[dict, float]], unknowns: list) -> set:
    """Unknown labels fixed by the relations (coefficients by label, constant)."""
    relations = [(r, c) for r, c in relations if r]
    if not relations:
        return set()
    index = {u: i for i, u in enumerate(unknowns)}
    m = np.zeros((len(relations), len(unknowns)))
    for i, (r, _) in enumerate(relations):
        for label, coef in r.items():
            m[i, index[label]] += coef
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    basis = vt[: int((s > 1e-9 * max(1.0, s[0])).sum())]  # orthonormal basis of the row space
    # e_j lies in the row space exactly when its projection onto it keeps its whole length
    recovered = {unknowns[j] for j in range(len(unknowns)) if abs(1.0 - float((basis[:, j] ** 2).sum())) < 1e-9}
    for r, c in relations:  # bounds: n withheld counts (each 1+) adding up to n are all 1
        if all(coef == 1.0 for coef in r.values()) and all(u[0] == "cell" for u in r) and round(c) == len(r):
            recovered |= set(r)
    return recovered


def _subsets(items):
    items = sorted(items)
    for k in range(1, len(items) + 1):
        yield from itertools.combinations(items, k)


def attack(published: dict[str, pl.DataFrame], truth: dict[str, pl.DataFrame]) -> list[tuple]:
    """The withheld cells the attacker recovers: [(table, key)]; empty when secrecy holds."""
    found = []
    a, c = published["activity_by_territory"], published["cost_per_consultation"]
    true_acts = {tuple(r[:6]): r[6] for r in truth["activity_by_territory"].iter_rows()}
    column = {"consultation": "consultations", "home_visit": "home_visits", "teleconsultation": "teleconsultations"}
    relations_by_year: dict[int, list] = defaultdict(list)
    for (year, act_type), cells in a.group_by(["year", "act_type"], maintain_order=True):
        costs = c.filter(pl.col("year") == year)
        departments = set(cells["department_code"]) | set(costs["department_code"])
        relations = relations_by_year[year]
        for subset in _subsets(departments):
            part = cells.filter(pl.col("department_code").is_in(subset))
            hidden = [("cell",) + tuple(r[:6]) for r in part.filter(pl.col("suppressed")).iter_rows()]
            totals = costs.filter(pl.col("department_code").is_in(subset))[column[act_type]]
            if totals.null_count():  # a withheld total gives no relation
                continue
            total = totals.sum()
            rest = total - part["acts_completed"].sum()
            if hidden and sum(true_acts[h[1:]] for h in hidden) == rest:  # the relation really holds
                relations.append(({h: 1.0 for h in hidden}, float(rest)))
    for relation in _territory_relations(published, truth, a, 6, "acts_completed", "acts_completed", true_acts):
        relations_by_year[relation[2]].append(relation[:2])
    for year, relations in sorted(relations_by_year.items()):
        unknowns = sorted({u for r, _ in relations for u in r}, key=repr)
        found += [_table_of(u, "activity_by_territory") for u in _solve(relations, unknowns)]
    found += _attack_reattachment(published, truth)
    found += _attack_attached(published, truth)
    return found


def _table_of(label: tuple, table: str) -> tuple:
    return ("territory_indicators", label[1:]) if label[0] == "territory" else (table, label[1:])


def _epci_of_commune() -> dict[str, str]:
    """The official geography is public: the attacker reads it from the seed like anyone."""
    communes = pl.read_csv(Path(__file__).resolve().parent.parent / "seeds" / "communes.csv", infer_schema=False)
    return {c: e for c, e in communes.select("commune_insee", "epci_code").iter_rows() if e}


def _territory_relations(published, truth, cells: pl.DataFrame, key_len: int, cell_column: str, column: str,
                         true_cells: dict) -> list[tuple]:
    """Each territory's total against the commune cells it adds up: (relation, constant, year)."""
    epci_of = _epci_of_commune()
    true_totals = {(r["level"], r["territory_code"], r["year"]): r[column]
                   for r in truth["territory"].iter_rows(named=True)}
    members: dict[tuple, list[tuple]] = defaultdict(list)
    for row in cells.iter_rows():
        department, commune, year = row[0], row[1], row[2]
        members[("departement", department, year)].append(row)
        if commune in epci_of:
            members[("epci", epci_of[commune], year)].append(row)
    out = []
    index = cells.columns.index(cell_column)
    suppressed = cells.columns.index("suppressed")
    for t in published["territory_indicators"].iter_rows(named=True):
        key = (t["level"], t["territory_code"], t["year"])
        rows = members.get(key, [])
        hidden = {("cell",) + tuple(r[:key_len]): 1.0 for r in rows if r[suppressed]}
        rest = -sum(r[index] for r in rows if not r[suppressed])
        truth_rest = sum(true_cells[h[1:]] for h in hidden)
        if t[column] is None:
            hidden[("territory",) + key + (column,)] = -1.0
            truth_rest -= true_totals[key]
        else:
            rest += t[column]
        if hidden and truth_rest == rest:
            out.append((hidden, float(rest), key[2]))
    return out


def _attack_attached(published, truth) -> list[tuple]:
    """Patients attached at year end: a département is the sum of its parts in each EPCI (or in
    none), an EPCI the sum of its parts in each département; the parts are never published."""
    true_parts = {(r["territory_code"], r["year"]): r["attached_at_year_end"]
                  for r in truth["territory"].filter(pl.col("level") == "departement_epci").iter_rows(named=True)}
    found = []
    by_year: dict[int, list] = defaultdict(list)
    for t in published["territory_indicators"].iter_rows(named=True):
        level, code, year, value = t["level"], t["territory_code"], t["year"], t["attached_at_year_end"]
        parts = [("part", p, year) for p, y in true_parts if y == year and
                 (p.split("|")[0] == code if level == "departement" else p.split("|")[1] == code)]
        terms = {part: 1.0 for part in parts}
        if value is None:
            terms[("territory", level, code, year, "attached_at_year_end")] = -1.0
            by_year[year].append((terms, 0.0))
        else:
            by_year[year].append((terms, float(value)))
    for year, relations in sorted(by_year.items()):
        unknowns = sorted({u for r, _ in relations for u in r}, key=repr)
        for u in _solve(relations, unknowns):
            if u[0] == "territory" or 0 < true_parts[(u[1], u[2])] < 11:
                found.append(("territory_indicators", u[1:]))
    return found


def _attack_reattachment(published, truth) -> list[tuple]:
    r, s = published["reattachment_by_territory"], published["reattachment_by_centre"]
    true_cells = {tuple(x[:4]): x[4] for x in truth["reattachment_by_territory"].iter_rows()}
    true_months = {(x["centre_id"], x["month"]): x["newly_reattached"]
                   for x in truth["reattachment_by_centre"].iter_rows(named=True)}
    relations: list[tuple[dict, float]] = []
    centre_department = {}
    known_month: dict[tuple, int] = {}
    for (centre_id,), rows in s.sort("month").group_by(["centre_id"], maintain_order=True):
        centre_department[centre_id] = rows["department_code"][0]
        stretch, base = [], 0
        for row in rows.iter_rows(named=True):
            key = (centre_id, row["month"])
            if row["newly_reattached"] is not None:
                known_month[key] = row["newly_reattached"]
            stretch.append(key)
            if row["cumulative_reattached"] is not None:
                terms = {("month",) + k: 1.0 for k in stretch if k not in known_month}
                relations.append((terms, float(row["cumulative_reattached"] - base
                                               - sum(known_month.get(k, 0) for k in stretch))))
                stretch, base = [], row["cumulative_reattached"]
    months_by_year = defaultdict(list)
    for key in true_months:
        months_by_year[key[1].year].append(key)
    for (year,), cells in r.group_by(["year"], maintain_order=True):
        departments = set(cells["department_code"]) | set(centre_department.values())
        for subset in _subsets(departments):
            part = cells.filter(pl.col("department_code").is_in(subset))
            hidden = [("cell",) + tuple(x[:4]) for x in part.filter(pl.col("suppressed")).iter_rows()]
            months = [k for k in months_by_year[year] if centre_department[k[0]] in subset]
            terms = {h: 1.0 for h in hidden} | {("month",) + k: -1.0 for k in months if k not in known_month}
            rest = sum(known_month[k] for k in months if k in known_month) - part["newly_reattached"].sum()
            truth_holds = (sum(true_cells[h[1:]] for h in hidden)
                           - sum(true_months[k] for k in months if k not in known_month)) == rest
            if terms and truth_holds:
                relations.append((terms, float(rest)))
    relations += [relation[:2] for relation in _territory_relations(
        published, truth, r, 4, "newly_reattached", "newly_reattached", true_cells)]
    unknowns = sorted({u for rel, _ in relations for u in rel}, key=repr)
    recovered = _solve(relations, unknowns)
    # a withheld month found to be zero discloses nobody (zero is published as zero)
    return [_table_of(u, "reattachment_by_territory") if u[0] != "month" else ("reattachment_by_centre", u[1:])
            for u in recovered if u[0] != "month" or true_months[u[1:]] != 0]
