"""The observatory tables: the warehouse's publication models with statistical secrecy applied.

Only aggregates leave the warehouse; patient-level rows never reach this module's output.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from pipelines import geography
from pipelines.publication.secrecy import (Cell, CentreSeries, Margin, SecrecySettings, closed_department_sets,
                                           protect_activity, protect_margins, protect_reattachment,
                                           reattachment_unknowns)


ACTIVITY_KEY = ("department_code", "commune_insee", "year", "age_band", "sex", "act_type")
REATTACHMENT_KEY = ("department_code", "commune_insee", "year", "age_band")


@dataclass
class ObservatoryTables:
    """What a release publishes, one polars frame per table, rows in a stable order."""

    activity_by_territory: pl.DataFrame
    reattachment_by_territory: pl.DataFrame
    reattachment_by_centre: pl.DataFrame
    cost_per_consultation: pl.DataFrame
    territory_indicators: pl.DataFrame
    totals: pl.DataFrame

    def items(self) -> list[tuple[str, pl.DataFrame]]:
        return [(name, getattr(self, name)) for name in TABLE_NAMES]


TABLE_NAMES = ("activity_by_territory", "reattachment_by_territory", "reattachment_by_centre", "cost_per_consultation",
               "territory_indicators", "totals")


def _components(conn: duckdb.DuckDBPyConnection, sql: str) -> dict[int, dict[str, str]]:
    by_year: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for year, residence, centre in conn.execute(sql).fetchall():
        by_year[year].append((residence, centre))
    return {year: closed_department_sets(flows) for year, flows in by_year.items()}


def _activity(conn, settings: SecrecySettings) -> tuple[list[Cell], list[dict], list[tuple]]:
    components = _components(conn, f"""
        SELECT DISTINCT year(occurred_at), residence_department_code, department_code
        FROM intermediate.int_acts WHERE status = 'completed'""")
    rows = conn.execute(f"SELECT {', '.join(ACTIVITY_KEY)}, acts_completed, patients "
                        f"FROM publication.residents_activity_yearly ORDER BY ALL").fetchall()
    cells = [Cell(key=r[:6], group=(r[2], r[5], components[r[2]][r[0]]), value=r[6], counts=(r[7],)) for r in rows]
    exposed_groups = protect_activity(cells, settings)
    exposed = [(year, act_type, {d for d, k in components[year].items() if k == component and d.startswith("centre:")})
               for year, act_type, component in exposed_groups]
    # what the cost table tells of the withheld cells: per group whose total it publishes, their sum
    totals: dict[tuple, dict[tuple, float]] = defaultdict(dict)
    withheld_totals = set(exposed_groups)
    for c in cells:
        if c.suppressed and c.group not in withheld_totals:
            totals[c.group][("cell",) + c.key] = 1.0
    return cells, list(totals.values()), exposed


def _activity_frame(cells: list[Cell]) -> pl.DataFrame:
    return pl.DataFrame(
        [(*c.key, None if c.suppressed else c.value, None if c.suppressed else c.counts[0], c.suppressed)
         for c in cells],
        schema={**{k: (pl.Int32 if k == "year" else pl.Utf8) for k in ACTIVITY_KEY}, "acts_completed": pl.Int64,
                "patients": pl.Int64, "suppressed": pl.Boolean}, orient="row")


def _reattachment(conn, settings: SecrecySettings) -> tuple[list[Cell], list[CentreSeries], dict]:
    components = _components(conn, f"""
        SELECT DISTINCT year(r.declared_on), r.residence_department_code, c.department_code
        FROM intermediate.int_reattachments AS r JOIN seeds.centres AS c ON c.centre_id = r.centre_id""")
    rows = conn.execute(f"SELECT {', '.join(REATTACHMENT_KEY)}, newly_reattached, newly_reattached_ald "
                        f"FROM publication.residents_reattachment_yearly ORDER BY ALL").fetchall()
    cells = [Cell(key=r[:4], group=(r[2], components[r[2]][r[0]]), value=r[4], counts=(r[4], r[5], r[4] - r[5]))
             for r in rows]
    monthly = conn.execute("""
        SELECT m.centre_id, m.network_id, m.department_code, c.centre_name, m.month, m.newly_reattached
        FROM marts.gp_reattachment_monthly AS m JOIN seeds.centres AS c ON c.centre_id = m.centre_id
        ORDER BY m.centre_id, m.month""").fetchall()
    by_centre: dict[str, list[tuple]] = defaultdict(list)
    for r in monthly:
        by_centre[r[0]].append(r)
    series = []
    for centre_id, months in by_centre.items():
        department = months[0][2]
        series.append(CentreSeries(
            centre_id=centre_id, months=[r[4] for r in months], newly=[r[5] for r in months],
            components={y: comp[f"centre:{department}"] for y, comp in components.items()
                        if f"centre:{department}" in comp}))
    protect_reattachment(cells, series, settings)
    return cells, series, by_centre


def _reattachment_frames(cells: list[Cell], series: list[CentreSeries],
                         by_centre: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    territory = pl.DataFrame(
        [(*c.key, None if c.suppressed else c.value, None if c.suppressed else c.counts[1], c.suppressed)
         for c in cells],
        schema={**{k: (pl.Int32 if k == "year" else pl.Utf8) for k in REATTACHMENT_KEY},
                "newly_reattached": pl.Int64, "newly_reattached_ald": pl.Int64, "suppressed": pl.Boolean},
        orient="row")
    centre_rows = []
    for s in series:
        info = by_centre[s.centre_id][0]
        cumulative = s.cumulative()
        for i, month in enumerate(s.months):
            newly = s.newly[i] if s.newly_published(i) else None
            total = cumulative[i] if s.published[i] else None
            centre_rows.append((info[1], info[2], s.centre_id, info[3], month, newly, total,
                                newly is None or total is None))
    by_centre_frame = pl.DataFrame(
        centre_rows, orient="row",
        schema={"network_id": pl.Utf8, "department_code": pl.Utf8, "centre_id": pl.Utf8, "centre_name": pl.Utf8,
                "month": pl.Date, "newly_reattached": pl.Int64, "cumulative_reattached": pl.Int64,
                "suppressed": pl.Boolean})
    return territory, by_centre_frame


INDICATOR_LEVELS = ("departement", "epci")


@dataclass(frozen=True)
class _Residents:
    """A row of publication.residents_territory_yearly."""

    level: str
    code: str
    year: int
    population: int | None
    newly_reattached: int
    acts_completed: int
    act_patients: int
    attached_at_year_end: int

    @property
    def key(self) -> tuple:
        return (self.level, self.code, self.year)


def _territory_indicators(conn, settings: SecrecySettings, activity_cells: list[Cell], activity_rows: list[dict],
                          reattachment_cells: list[Cell], series: list[CentreSeries]) -> pl.DataFrame:
    """Per département and EPCI of residence and year: the residents' totals, each protected against
    the finer tables it adds up (acts against activity_by_territory and the cost table, re-attachments
    against reattachment_by_territory and the centres' series, attached patients against the other
    level), then the rates per inhabitant of what is published."""
    rows = [_Residents(*r) for r in conn.execute("""
        SELECT level, territory_code, year, population, newly_reattached, acts_completed, act_patients,
               attached_at_year_end
        FROM publication.residents_territory_yearly
        ORDER BY level, territory_code, year""").fetchall()]
    published = [r for r in rows if r.level in INDICATOR_LEVELS]
    acts = _margins(published, activity_cells, "acts_completed", "act_patients")
    protect_margins(list(acts.values()), activity_rows, {("cell",) + c.key: c.value for c in activity_cells}, {},
                    settings)
    reattached = _margins(published, reattachment_cells, "newly_reattached", "newly_reattached")
    protect_margins(list(reattached.values()), *_reattachment_system(reattachment_cells, series), settings)
    attached = _protect_attached(rows, published, settings)
    return _indicator_frame(published, acts, reattached, attached)


def _margins(rows: list[_Residents], cells: list[Cell], value: str, count: str) -> dict[tuple, Margin]:
    """One margin per territory and year with some `value`: the commune cells it adds up."""
    epci_of = dict(geography.communes().select("commune_insee", "epci_code").iter_rows())
    members: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:  # key: department, commune, year, ...
        members[("departement", c.key[0], c.key[2])].append(c)
        if epci_of.get(c.key[1]):
            members[("epci", epci_of[c.key[1]], c.key[2])].append(c)
    return {r.key: Margin(key=r.key, value=getattr(r, value), counts=(getattr(r, count),),
                          members=members.get(r.key, []))
            for r in rows if getattr(r, value) > 0}


def _reattachment_system(cells: list[Cell], series: list[CentreSeries]) -> tuple[list[dict], dict, dict]:
    """The relations reattachment_by_territory and the centres' series already give, by label, with
    the values behind them; a month with no re-attachment may be known (zero is published)."""
    labels, base, _ = reattachment_unknowns(cells, series)
    values = {("cell",) + c.key: c.value for c in cells}
    hidden = {}
    for s in series:
        for month, n in zip(s.months, s.newly):
            values[("month", s.centre_id, month)] = n
            hidden[("month", s.centre_id, month)] = n > 0
    return [{labels[j]: coef for j, coef in row.items()} for row in base], values, hidden


def _protect_attached(rows: list[_Residents], published: list[_Residents], settings) -> dict[tuple, Margin]:
    """Attached patients: a département and its EPCIs relate through the parts they share (the
    rows of level departement_epci, never published), which may not be given back when small."""
    parts: dict[tuple, list[Cell]] = defaultdict(list)
    for r in rows:
        if r.level == "departement_epci" and r.attached_at_year_end > 0:
            department, epci = r.code.split("|")
            part = Cell(key=("part", department, epci, r.year), group=(), value=r.attached_at_year_end,
                        counts=(r.attached_at_year_end,), suppressed=True)
            parts[("departement", department, r.year)].append(part)
            if epci:
                parts[("epci", epci, r.year)].append(part)
    attached = {r.key: Margin(key=r.key, value=r.attached_at_year_end, counts=(r.attached_at_year_end,),
                              members=parts.get(r.key, []))
                for r in published if r.attached_at_year_end > 0}
    part_cells = {("cell",) + p.key: p for members in parts.values() for p in members}
    protect_margins(list(attached.values()), [], {label: p.value for label, p in part_cells.items()},
                    {label: settings.small(p.value) for label, p in part_cells.items()}, settings)
    return attached


def _indicator_frame(rows: list[_Residents], acts: dict, reattached: dict, attached: dict) -> pl.DataFrame:
    """The published rows: a withheld count is NULL, and so is its rate."""
    names = geography.territory_names()

    def shown(margins: dict, r: _Residents, value: int) -> int | None:
        margin = margins.get(r.key)
        return value if margin is None or not margin.suppressed else None

    def rate(numerator: int | None, population: int | None, per: float, digits: int) -> float | None:
        return None if numerator is None or not population else round(numerator * per / population, digits)

    out = []
    for r in rows:
        newly, acts_n, held = (shown(reattached, r, r.newly_reattached), shown(acts, r, r.acts_completed),
                               shown(attached, r, r.attached_at_year_end))
        out.append((r.level, r.code, names.get((r.level, r.code)), r.year, r.population,
                    newly, rate(newly, r.population, 10_000, 1), acts_n, rate(acts_n, r.population, 10_000, 1),
                    held, rate(held, r.population, 1, 4), None in (newly, acts_n, held)))
    return pl.DataFrame(out, orient="row", schema={
        "level": pl.Utf8, "territory_code": pl.Utf8, "territory_name": pl.Utf8, "year": pl.Int32,
        "population": pl.Int64, "newly_reattached": pl.Int64, "reattached_per_10000": pl.Float64,
        "acts_completed": pl.Int64, "acts_per_10000": pl.Float64, "attached_at_year_end": pl.Int64,
        "attached_share_of_population": pl.Float64, "suppressed": pl.Boolean})


_ACT_COLUMN = {"consultation": "consultations", "home_visit": "home_visits", "teleconsultation": "teleconsultations"}
_RATIOS = ("cost_per_consultation_eur", "net_cost_per_consultation_eur")


def _costs(conn, exposed: list[tuple]) -> pl.DataFrame:
    """The yearly cost table. Where the residents' table could not hide a lone small cell, the
    centres' count of that act type (and what gives it back: all acts, the ratios) is withheld."""
    costs = conn.execute("""
        SELECT y.network_id, y.department_code, y.centre_id, c.centre_name, CAST(y.year AS INTEGER) AS year,
               y.acts_completed, y.consultations, y.home_visits, y.teleconsultations, y.operating_cost_eur,
               y.insurance_revenue_eur, y.other_income_eur, y.cost_per_consultation_eur,
               y.net_cost_per_consultation_eur
        FROM publication.cost_per_consultation_yearly AS y JOIN seeds.centres AS c ON c.centre_id = y.centre_id
        ORDER BY y.centre_id, y.year""").pl().with_columns(suppressed=pl.lit(False))
    for year, act_type, centres in exposed:
        hit = (pl.col("year") == year) & pl.format("centre:{}", pl.col("department_code")).is_in(list(centres))
        costs = costs.with_columns(
            *[pl.when(hit).then(None).otherwise(pl.col(c)).alias(c)
              for c in (_ACT_COLUMN[act_type], "acts_completed", *_RATIOS)],
            suppressed=pl.when(hit).then(True).otherwise(pl.col("suppressed")))
    return costs


def build_tables(warehouse: Path, settings: SecrecySettings) -> ObservatoryTables:
    """Read the publication models of `warehouse` (read-only) and protect them."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        reattachment_cells, series, months = _reattachment(conn, settings)
        activity_cells, activity_rows, exposed = _activity(conn, settings)
        indicators = _territory_indicators(conn, settings, activity_cells, activity_rows, reattachment_cells, series)
        territory, by_centre = _reattachment_frames(reattachment_cells, series, months)
        costs = _costs(conn, exposed)
        return ObservatoryTables(
            activity_by_territory=_activity_frame(activity_cells),
            reattachment_by_territory=territory,
            reattachment_by_centre=by_centre,
            cost_per_consultation=costs,
            territory_indicators=indicators,
            totals=published_totals(costs, by_centre),
        )
    finally:
        conn.close()


_LEVELS = (("centre", "centre_id"), ("network", "network_id"), ("department", "department_code"))


def published_totals(costs: pl.DataFrame, by_centre: pl.DataFrame) -> pl.DataFrame:
    """Per centre, network and department of the centres, and year: sums of *published* values only
    (the cost table's act counts, the centres' last published cumulative points), so the totals
    reveal nothing the other tables do not. A withheld value makes its total a lower bound."""
    acts = costs.select("centre_id", "network_id", "department_code", "year",
                        pl.col("acts_completed").fill_null(0).alias("acts_completed"),
                        pl.col("acts_completed").is_not_null().alias("acts_complete"))
    series = by_centre.with_columns(year=pl.col("month").dt.year().cast(pl.Int32)).sort("centre_id", "month")
    years = sorted(set(acts["year"].to_list()) | set(series["year"].to_list()))
    reattached = []
    for (centre_id, network_id, department), rows in series.group_by(
            ["centre_id", "network_id", "department_code"], maintain_order=True):
        for year in years:
            upto = rows.filter(pl.col("year") <= year)
            if not upto.height:
                continue
            shown = upto.filter(pl.col("cumulative_reattached").is_not_null())
            reattached.append((centre_id, network_id, department, year,
                               int(shown["cumulative_reattached"][-1]) if shown.height else 0,
                               upto["cumulative_reattached"][-1] is not None))
    points = pl.DataFrame(reattached, orient="row", schema={
        "centre_id": pl.Utf8, "network_id": pl.Utf8, "department_code": pl.Utf8, "year": pl.Int32,
        "reattached_since_opening": pl.Int64, "reattached_complete": pl.Boolean})
    per_centre = acts.join(points, on=["centre_id", "network_id", "department_code", "year"], how="full",
                           coalesce=True).with_columns(
        pl.col("acts_completed").fill_null(0), pl.col("acts_complete").fill_null(True),
        pl.col("reattached_since_opening").fill_null(0), pl.col("reattached_complete").fill_null(True))
    frames = [per_centre.group_by(column, "year").agg(
                  pl.lit(level).alias("level"), pl.col("centre_id").n_unique().cast(pl.Int32).alias("centres"),
                  pl.col("acts_completed").sum().cast(pl.Int64), pl.col("acts_complete").all(),
                  pl.col("reattached_since_opening").sum().cast(pl.Int64), pl.col("reattached_complete").all())
              .rename({column: "territory_code"})
              for level, column in _LEVELS]
    return (pl.concat(frames, how="diagonal")
            .select("level", "territory_code", pl.col("year").cast(pl.Int32), "centres", "acts_completed",
                    "acts_complete", "reattached_since_opening", "reattached_complete")
            .sort("level", "territory_code", "year"))
