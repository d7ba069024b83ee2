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
    # an unknown is fixed when its unit vector lies in the relations' row space: its projection on
    # an orthonormal basis of that space (the first `rank` right singular vectors) has length 1.
    # The reduced SVD keeps that basis only, not the null space (n × n for n unknowns).
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    rank = int((s > 1e-9 * max(1.0, float(s[0]) if len(s) else 1.0)).sum())
    if rank == n:
        return set(range(n))
    length = (vt[:rank] ** 2).sum(axis=0)
    return {j for j in range(n) if float(length[j]) > 1 - 1e-9}


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
        fixed = {g[0] for g in fixed_groups([{labels[j]: coef for j, coef in row.items()} for row in rows])
                 if len(g) == 1}
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


# -- territorial margins ------------------------------------------------------------------------

@dataclass
class Margin:
    """A territory's total of one measure in one year (a row of territory_indicators): the sum of
    `members`, the cells of a finer table it adds up (a commune's cells, or the unpublished parts of
    a territory shared with territories of the other level)."""

    key: tuple                   # (level, territory code, year)
    value: int
    counts: tuple[int, ...]      # the patient counts the primary rule looks at
    members: list[Cell]
    suppressed: bool = False
    primary: bool = False

    @property
    def label(self) -> tuple:
        return ("margin",) + self.key


def _alike(rows: list[dict[tuple, float]]) -> dict[tuple, list[tuple]]:
    """The unknowns grouped by signature: the relations they enter, with their coefficients."""
    signature: dict[tuple, list] = defaultdict(list)
    for i, row in enumerate(rows):
        for label, coef in row.items():
            signature[label].append((i, coef))
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for label, sig in signature.items():
        groups[tuple(sig)].append(label)
    return groups


def _connected(rows: list[dict[tuple, float]], ignore: frozenset | set = frozenset()) -> list[list[int]]:
    """The relations (their positions) in blocks linked by shared unknowns; a label in `ignore`
    links nothing."""
    parent = list(range(len(rows)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_row: dict[tuple, int] = {}
    for i, row in enumerate(rows):
        for label in row:
            if label not in ignore:
                parent[find(i)] = find(first_row.setdefault(label, i))
    blocks: dict[int, list[int]] = defaultdict(list)
    for i in range(len(rows)):
        blocks[find(i)].append(i)
    return list(blocks.values())


def fixed_groups(rows: list[dict[tuple, float]]) -> list[list[tuple]]:
    """The groups of unknowns (labels) whose total the relations `rows` fix.

    Unknowns that enter every relation with the same coefficient cannot be told apart, so they are
    merged first (one commune's cells in the same totals, a series' months in one stretch) and
    each connected block of relations is solved apart: the system stays the size of the territories,
    not of the cells. A group of one is an unknown the relations give back."""
    groups = _alike(rows)
    sigs, merged = list(groups), list(groups.values())
    block_of = {i: b for b, ids in enumerate(_connected(rows)) for i in ids}
    blocks: dict[int, list[int]] = defaultdict(list)
    for g, sig in enumerate(sigs):
        blocks[block_of[sig[0][0]]].append(g)
    out = []
    for block in blocks.values():
        local = {r: k for k, r in enumerate(sorted({i for g in block for i, _ in sigs[g]}))}
        matrix: list[dict[int, float]] = [{} for _ in local]
        for j, g in enumerate(block):
            for i, coef in sigs[g]:
                matrix[local[i]][j] = coef
        out += [merged[block[j]] for j in sorted(determined(matrix, len(block)))]
    return out


def revealed(rows: list[dict[tuple, float]], values: dict[tuple, int], hidden: dict[tuple, bool],
             sizes: dict[tuple, int] | None = None) -> set[tuple]:
    """The withheld values (labels) the relations `rows` give back: alone in a fixed group, or counts
    of 1 or more (labels "cell") fixed, or related, by a total equal to their number (all are 1).
    `hidden[label]` says whether knowing a value matters (a month with no re-attachment may be
    known: zero is published). A label may stand for `sizes[label]` cells merged beforehand
    (label "unit", value their sum): it is given back only through their bounds."""
    sizes = sizes or {}

    def size(label):
        return sizes.get(label, 1)

    def counts(label):  # a count of 1 or more, or a unit of them
        return label[0] in ("cell", "unit")

    out: set[tuple] = set()
    for members in fixed_groups(rows):
        n = sum(size(m) for m in members)
        if n == 1 or (all(counts(m) for m in members) and sum(values[m] for m in members) == n):
            out |= {m for m in members if hidden.get(m, True)}
    for row in rows:
        if row and all(coef == 1.0 and counts(label) for label, coef in row.items()) \
                and sum(values[label] for label in row) == sum(size(label) for label in row):
            out |= set(row)
    return out


@dataclass
class _System:
    """The attacker's relations with the unknowns that always enter them alike merged into units:
    the finer tables' withheld values do not change while margins are widened, so they are merged
    once, and each check solves a system the size of the territories."""

    base: list[dict[tuple, float]]
    members: list[dict[tuple, float]]            # each margin's withheld members, as units
    values: dict[tuple, int]
    hidden: dict[tuple, bool]
    sizes: dict[tuple, int]
    unit_of: dict[tuple, tuple]

    @classmethod
    def build(cls, base_rows, margins: list[Margin], values, hidden) -> "_System":
        rows = base_rows + [{("cell",) + c.key: 1.0 for c in m.members if c.suppressed} for m in margins]
        groups = _alike(rows)
        unit_of, sizes, unit_values, unit_hidden = {}, {}, {}, {}
        for k, labels in enumerate(groups.values()):
            if len(labels) == 1:
                unit = labels[0]
            else:
                unit = ("unit", k) if all(label[0] == "cell" for label in labels) else ("merged", k)
            for label in labels:
                unit_of[label] = unit
            sizes[unit] = len(labels)
            unit_values[unit] = sum(values.get(label, 0) for label in labels)
            unit_hidden[unit] = any(hidden.get(label, True) for label in labels)

        def compress(row):
            out: dict[tuple, float] = {}
            for label, coef in row.items():
                out[unit_of[label]] = coef
            return out

        return cls([compress(r) for r in rows[:len(base_rows)]], [compress(r) for r in rows[len(base_rows):]],
                   unit_values, unit_hidden, sizes, unit_of)

    def rows(self, margins: list[Margin]) -> list[dict[tuple, float]]:
        return self.base + [{**row, m.label: -1.0} if m.suppressed else row
                            for row, m in zip(self.members, margins)]

    def revealed(self, rows) -> set[tuple]:
        return revealed(rows, self.values, self.hidden, self.sizes)


def protect_margins(margins: list[Margin], base_rows: list[dict[tuple, float]], values: dict[tuple, int],
                    hidden: dict[tuple, bool], settings: SecrecySettings) -> None:
    """Withhold territory totals until, with the relations the finer tables already give
    (`base_rows`, their withheld cells fixed by their own protection), no withheld value is given
    back. Only margins are widened: withholding every margin leaves the finer tables as protected
    as before, so this ends. EPCIs go before départements, and of the totals that would hide a
    value the smallest goes first (a sibling EPCI rather than the département)."""
    for m in margins:
        m.primary = m.suppressed = any(settings.small(n) for n in m.counts)
    if settings.complementary:
        _Widening(margins, _System.build(base_rows, margins, values, hidden)).run()


_LEVEL_ORDER = {"epci": 0, "departement": 1}


def _finest_first(m: Margin):
    return (_LEVEL_ORDER.get(m.key[0], 9), m.value, m.key)


class _Widening:
    """The complementary withholding of margins, one at a time, each chosen to hide what is given back."""

    TRIALS = 8  # totals tried, smallest first, before falling back on the one sure to help

    def __init__(self, margins: list[Margin], system: _System):
        self.margins, self.system = margins, system
        system.values.update({m.label: m.value for m in margins})
        self.members = {id(m): frozenset(system.members[k]) for k, m in enumerate(margins)}
        self.by_member: dict[tuple, list[Margin]] = defaultdict(list)
        for m in margins:
            for unit in self.members[id(m)]:
                self.by_member[unit].append(m)
        self.by_label = {m.label: m for m in margins}
        self.already = system.revealed(system.base)  # the finer tables' own protection answers for these
        self.blocks = self._blocks()
        self.solved: dict[tuple, set[tuple]] = {}

    def _blocks(self) -> list[tuple[list[int], list[int]]]:
        """The relations in blocks that share no unknown, each with its margins' positions. A margin's
        own label enters its own relation only, so withholding a margin changes no block: a trial
        re-solves the block of the margin it withholds, not the whole system."""
        first = len(self.system.base)
        return [(ids, [i - first for i in ids if i >= first])
                for ids in _connected(self.system.rows(self.margins), ignore=set(self.by_label))]

    def found(self) -> set[tuple]:
        """The withheld values given back, block by block; a block is solved again only when one of
        its margins changed since it was last solved in that state."""
        first, out = len(self.system.base), set()
        for b, (ids, margin_ids) in enumerate(self.blocks):
            state = (b, tuple(self.margins[k].suppressed for k in margin_ids))
            if state not in self.solved:
                rows = [self.system.base[i] if i < first else self._margin_row(i - first) for i in ids]
                self.solved[state] = self.system.revealed(rows)
            out |= self.solved[state]
        return out - self.already

    def _margin_row(self, k: int) -> dict[tuple, float]:
        m = self.margins[k]
        return {**self.system.members[k], m.label: -1.0} if m.suppressed else self.system.members[k]

    def run(self) -> None:
        found = self.found()
        while found:
            label = min(found, key=repr)
            trials, fallback = self.for_margin(label) if label[0] == "margin" else self.for_value(label)
            if not any(self.hides(trial, label) for trial in trials[:self.TRIALS]):
                if not fallback:
                    raise SecrecyError(f"{label} cannot be protected: every territory total involved is "
                                       "already withheld")
                min(fallback, key=_finest_first).suppressed = True
            found = self.found()

    def hides(self, trial: Margin, label: tuple) -> bool:
        trial.suppressed = True
        if label not in self.found():
            return True
        trial.suppressed = False
        return False

    def siblings(self, target: Margin) -> list[Margin]:
        """Published margins of target's level and year under a published margin containing it."""
        parents = [p for p in self.margins if p is not target and not p.suppressed and p.key[2] == target.key[2]
                   and self.members[id(target)] <= self.members[id(p)]]
        return [m for m in self.margins if m is not target and not m.suppressed and m.key[0] == target.key[0]
                and m.key[2] == target.key[2] and any(self.members[id(m)] & self.members[id(p)] for p in parents)]

    def linked(self, label: tuple) -> list[Margin]:
        return _linked_margins(label, self.system.rows(self.margins), self.margins)

    def for_margin(self, label: tuple) -> tuple[list[Margin], list[Margin]]:
        """A withheld territory given back by its level's other territories in the same relations (a
        parent's siblings, a closed set of départements): the smallest of them that hides it."""
        target = self.by_label[label]
        linked = self.linked(label)
        peers = {id(m): m for m in self.siblings(target) + [m for m in linked if m.key[0] == target.key[0]
                                                            and m.key[2] == target.key[2]]}
        trials = sorted(peers.values(), key=lambda m: (m.value, m.key))
        return trials, trials or linked

    def for_value(self, label: tuple) -> tuple[list[Margin], list[Margin]]:
        """A withheld value of a finer table. Withheld where it lies, it may be given back through a
        sibling of that territory (the département less its other EPCIs): withholding the sibling
        keeps the département's figure when that is enough; else the finest total that holds it,
        else the coarsest linked one."""
        near = [s for m in self.by_member.get(label, []) if m.suppressed for s in self.siblings(m)]
        containing = [m for m in self.by_member.get(label, []) if not m.suppressed]
        others = [] if containing else self.linked(label)
        trials = sorted(near, key=lambda m: (m.value, m.key)) + sorted(
            (m for m in others if m not in near), key=_finest_first)
        coarsest = sorted(others, key=lambda m: (-_LEVEL_ORDER.get(m.key[0], 9), m.value, m.key))[:1]
        return trials, containing or coarsest


def _linked_margins(label: tuple, rows: list[dict[tuple, float]], margins: list[Margin]) -> list[Margin]:
    """The published margins whose relation is linked, through shared unknowns, to `label`'s
    (`rows`: the other relations, then one per margin in the order of `margins`)."""
    by_label: dict[tuple, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        for unknown in row:
            by_label[unknown].append(i)
    seen_rows, seen_labels, todo = set(), {label}, [label]
    while todo:
        for i in by_label.get(todo.pop(), []):
            if i not in seen_rows:
                seen_rows.add(i)
                fresh = set(rows[i]) - seen_labels
                seen_labels |= fresh
                todo += fresh
    first = len(rows) - len(margins)
    return [m for k, m in enumerate(margins) if first + k in seen_rows and not m.suppressed]
