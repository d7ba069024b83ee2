"""Statistical secrecy of the observatory tables: primary and complementary suppression.

A published count of 1..threshold-1 patients could single people out, so such a cell is
withheld (NULL, `suppressed = true`); zero is published. Other published figures of the
same release are totals of the withheld cells — the centres' yearly acts (cost table) and
their re-attachment series — so a lone withheld cell could be given back by subtraction.
Complementary suppression withholds more cells until no withheld value is fixed by the
linear relations that hold between the published tables; that is checked by linear algebra
(`determined`), the same way the attacker of the test suite does it, not by a rule of thumb.

Relations that exist between the tables, with K a set of departments closed under the
flows of patients (residence department <-> department of the centre they go to):

- acts: for every year, act type and K, the acts of the residents of K equal the acts of
  the centres of K (cost table);
- re-attachments: for every year and K, the re-attachments of the residents of K equal the
  re-attachments of the centres of K over that year, which the centres' cumulative series
  gives when its year-end points are published.

The centres' cumulative series is published point by point only when it has grown by 0 or by
at least `threshold` since its last published point, so that no month's count of 1..10 can be
read as the difference of two published points.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from pipelines.settings import Settings

RULES_VERSION = "secrecy-2026.11"


class SecrecyError(RuntimeError):
    """The tables cannot be protected (a lone cell against a published total); nothing is published."""


@dataclass(frozen=True)
class SecrecySettings:
    threshold: int = 11           # smallest count of patients that may be published
    complementary: bool = True    # off only to show, in tests, what the attacker recovers without it
    rules_version: str = RULES_VERSION

    def small(self, n: int | None) -> bool:
        return n is not None and 0 < n < self.threshold


def secrecy_settings(settings: Settings | None = None) -> SecrecySettings:
    """The secrecy settings of a run: its threshold ($CARNET_SECRECY_THRESHOLD, default 11)."""
    return SecrecySettings(threshold=(settings or Settings.from_environment()).secrecy_threshold)


def determined(rows: list[dict[int, float]], n: int) -> set[int]:
    """The unknowns (0..n-1) whose value the linear relations `rows` (coefficients by unknown) fix."""
    rows = [r for r in rows if r]
    if n == 0 or not rows:
        return set()
    m = np.zeros((len(rows), n))
    for i, r in enumerate(rows):
        for j, coef in r.items():
            m[i, j] += coef
    _, s, vt = np.linalg.svd(m, full_matrices=True)
    rank = int((s > 1e-9 * max(1.0, float(s[0]) if len(s) else 1.0)).sum())
    null = vt[rank:]
    if null.shape[0] == 0:
        return set(range(n))
    return {j for j in range(n) if float(np.abs(null[:, j]).max()) < 1e-9}


def closed_department_sets(flows: list[tuple[str, str]]) -> dict[str, str]:
    """Component id of each residence department: departments linked by patients crossing them."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for residence, centre in flows:
        a, b = find(("r", residence)), find(("c", centre))
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = sorted({find(x) for x in list(parent)})
    ids = {r: f"K{i}" for i, r in enumerate(roots)}
    return {x[1]: ids[find(x)] for x in list(parent) if x[0] == "r"} | \
        {f"centre:{x[1]}": ids[find(x)] for x in list(parent) if x[0] == "c"}


@dataclass
class Cell:
    """One row of a territorial table under protection."""

    key: tuple
    group: tuple                 # the published total this cell adds up to
    value: int                   # the count tied into that total (acts, re-attachments)
    counts: tuple[int, ...]      # the patient counts the primary rule looks at
    suppressed: bool = False
    primary: bool = False


def _order(cell: Cell):
    return (cell.counts[0], cell.value, cell.key)


def _apply_primary(cells: list[Cell], settings: SecrecySettings) -> None:
    for c in cells:
        c.primary = c.suppressed = any(settings.small(n) for n in c.counts)


def _bounds_safe(unknown: list[Cell]) -> bool:
    """0 withheld, or 2+ whose total is not their minimum (each withheld cell is 1 or more)."""
    return not unknown or (len(unknown) >= 2 and sum(c.value for c in unknown) > len(unknown))


def _widen(group_cells: list[Cell]) -> bool:
    """Withhold the smallest published cell of a group; False when none is left."""
    published = sorted((c for c in group_cells if not c.suppressed), key=_order)
    if not published:
        return False
    published[0].suppressed = True
    return True


def protect_activity(cells: list[Cell], settings: SecrecySettings) -> list[tuple]:
    """Acts by residence: within each (year, act type, closed set) total, 0 or 2+ withheld cells.

    Returns the groups that cannot be protected inside the table (a lone small cell against the
    centres' published total): the caller withholds that total instead.
    """
    _apply_primary(cells, settings)
    if not settings.complementary:
        return []
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[c.group].append(c)
    exposed = []
    for group, members in sorted(groups.items()):
        while not _bounds_safe([c for c in members if c.suppressed]):
            if not _widen(members):
                exposed.append(group)
                break
    return exposed


@dataclass
class CentreSeries:
    """A centre's monthly re-attachments, and which cumulative points are published."""

    centre_id: str
    components: dict  # year -> the closed set of departments the centre belongs to that year
    months: list      # dt.date, consecutive, from the opening
    newly: list[int]
    published: list[bool] = field(default_factory=list)

    def cumulative(self) -> list[int]:
        out, total = [], 0
        for n in self.newly:
            total += n
            out.append(total)
        return out

    def publish_points(self, settings: SecrecySettings) -> None:
        """A point is published when the series grew by 0 or by threshold+ since the last one."""
        last, self.published = 0, []
        for c in self.cumulative():
            ok = c == last or c - last >= settings.threshold
            self.published.append(ok)
            if ok:
                last = c

    def newly_published(self, i: int) -> bool:
        return self.published[i] and (i == 0 or self.published[i - 1])

    def key(self, year: int) -> tuple:
        return (year, self.components.get(year, f"alone:{self.centre_id}"))

    def hide_year(self, year: int) -> None:
        for i, m in enumerate(self.months):
            if m.year == year or (m.year == year - 1 and m.month == 12):
                self.published[i] = False


def reattachment_unknowns(cells: list[Cell], series: list[CentreSeries], closed: bool = True):
    """The linear system an attacker holds on withheld re-attachment figures.

    Unknowns: withheld territorial cells and the monthly counts the centre series does not give.
    Relations: each stretch between two published points of a series sums to their difference;
    for each (year, closed set) the residents' cells sum to the centres' months of that year.
    Returns (unknown labels, relation rows, constant of each row).
    """
    labels: list[tuple] = []
    index: dict[tuple, int] = {}

    def var(label):
        if label not in index:
            index[label] = len(labels)
            labels.append(label)
        return index[label]

    rows: list[dict[int, float]] = []
    consts: list[float] = []
    year_terms: dict[tuple, dict[int, float]] = defaultdict(dict)
    year_const: dict[tuple, float] = defaultdict(float)
    for s in series:
        cumulative = s.cumulative()
        start, base = 0, 0
        for i in range(len(s.months)):
            label = ("month", s.centre_id, s.months[i])
            key = s.key(s.months[i].year)
            if s.newly_published(i):
                year_const[key] -= s.newly[i]
            else:
                year_terms[key][var(label)] = -1.0
            if s.published[i]:
                if i - start >= 1:  # a stretch of months none of which is published alone
                    rows.append({index[("month", s.centre_id, s.months[j])]: 1.0 for j in range(start, i + 1)})
                    consts.append(cumulative[i] - base)
                start, base = i + 1, cumulative[i]
    if closed:
        for c in cells:
            key = c.group
            if c.suppressed:
                year_terms[key][var(("cell",) + c.key)] = 1.0
            else:
                year_const[key] += c.value
        for key in sorted(set(year_terms) | set(year_const)):
            rows.append(dict(year_terms[key]))
            consts.append(-year_const[key])
    return labels, rows, consts


def protect_reattachment(cells: list[Cell], series: list[CentreSeries], settings: SecrecySettings) -> None:
    """Withhold re-attachment cells and series points until the attacker's system fixes nothing
    but zeros (a month with no re-attachment may be known: zero is published as zero)."""
    _apply_primary(cells, settings)
    for s in series:
        s.publish_points(settings)
    if not settings.complementary:
        return
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[c.group].append(c)
    by_key: dict[tuple, list[CentreSeries]] = defaultdict(list)
    for s in series:
        for year in {m.year for m in s.months}:
            by_key[s.key(year)].append(s)
    centre = {s.centre_id: s for s in series}
    month_value = {("month", s.centre_id, m): n for s in series for m, n in zip(s.months, s.newly)}
    while True:
        labels, rows, _ = reattachment_unknowns(cells, series)
        fixed = {labels[j] for j in determined(rows, len(labels))}
        weak = []
        for key, members in sorted(groups.items()):
            unknown = [c for c in members if c.suppressed]
            if any(("cell",) + c.key in fixed for c in unknown) or (
                    unknown and not _centre_months_hidden(by_key[key], key[0]) and not _bounds_safe(unknown)):
                weak.append(key)
        weak += sorted({centre[label[1]].key(label[2].year) for label in fixed
                        if label[0] == "month" and month_value[label] > 0} - set(weak), key=repr)
        if not weak:
            return
        changed = False
        for key in weak:
            if _widen(groups.get(key, [])):
                changed = True
            else:
                for s in by_key[key]:
                    before = list(s.published)
                    s.hide_year(key[0])
                    changed |= s.published != before
        if not changed:
            raise SecrecyError(f"re-attachments of {', '.join(map(str, weak))} cannot be protected: "
                               "every cell and series point involved is already withheld")


def _centre_months_hidden(series: list[CentreSeries], year: int) -> bool:
    return any(not s.newly_published(i) for s in series for i, m in enumerate(s.months) if m.year == year)
