"""The observatory file's tables as readers see them: columns, types and descriptions.

The descriptions are written into the file (COMMENT ON), so an analyst who opens it with any
DuckDB client learns the grain and unit of every table and column there.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.geography import POPULATION, SOURCE


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    order_by: tuple[str, ...]

    def ddl(self) -> str:
        body = ",\n  ".join(f"{c.name} {c.sql_type}" for c in self.columns)
        return f"CREATE TABLE observatory.{self.name} (\n  {body}\n)"


_SUPPRESSED = Column("suppressed", "BOOLEAN NOT NULL",
                     "true when the counts of this row are withheld (NULL) by statistical secrecy: "
                     "fewer than the threshold of patients, or withheld so that no withheld value can be "
                     "recomputed from published totals. A sum over rows with withheld cells is a lower "
                     "bound: the table totals gives the totals that may be published")
_LOWER_BOUNDS = (" Summing a column with withheld (NULL) cells gives a lower bound, not the total: the table "
                 "totals publishes the totals secrecy allows.")
_DEPARTMENT = Column("department_code", "VARCHAR NOT NULL", "department of residence of the patients (INSEE code)")
_COMMUNE = Column("commune_insee", "VARCHAR NOT NULL", "commune of residence of the patients (INSEE code)")
_AGE = Column("age_band", "VARCHAR NOT NULL", "age band: 0-6, 7-17, 18-39, 40-59, 60-79, 80+ (event year - birth year)")
_CENTRE = (Column("network_id", "VARCHAR NOT NULL", "the operator of the centre (department council, commune, association)"),
           Column("department_code", "VARCHAR NOT NULL", "department of the centre (INSEE code)"),
           Column("centre_id", "VARCHAR NOT NULL", "FINESS number of the centre"),
           Column("centre_name", "VARCHAR NOT NULL", "name of the centre"))


def _euros(name: str, what: str) -> Column:
    return Column(name, "DECIMAL(18,2)", f"{what}, euros")


TABLES: tuple[Table, ...] = (
    Table("activity_by_territory",
          "Completed acts of the health centres by where patients live: one row per department and commune of "
          "residence, year, age band, sex and act type. Counts of acts and of patients; statistical secrecy applied." + _LOWER_BOUNDS,
          (_DEPARTMENT, _COMMUNE, Column("year", "INTEGER NOT NULL", "calendar year of the acts"), _AGE,
           Column("sex", "VARCHAR NOT NULL", "M | F"),
           Column("act_type", "VARCHAR NOT NULL", "consultation | home_visit | teleconsultation"),
           Column("acts_completed", "BIGINT", "completed acts, count (NULL when suppressed)"),
           Column("patients", "BIGINT", "distinct patients with a completed act, count (NULL when suppressed)"),
           _SUPPRESSED),
          ("department_code", "commune_insee", "year", "age_band", "sex", "act_type")),
    Table("reattachment_by_territory",
          "Patients who found a médecin traitant again at a health centre, by where they live: one row per "
          "department and commune of residence, year and age band. Counts of patients (once per network); "
          "statistical secrecy applied." + _LOWER_BOUNDS,
          (_DEPARTMENT, _COMMUNE, Column("year", "INTEGER NOT NULL", "calendar year of the declaration"), _AGE,
           Column("newly_reattached", "BIGINT", "patients re-attached to a GP, count (NULL when suppressed)"),
           Column("newly_reattached_ald", "BIGINT",
                  "of whom with a long-term condition (ALD), count (NULL when suppressed)"),
           _SUPPRESSED),
          ("department_code", "commune_insee", "year", "age_band")),
    Table("reattachment_by_centre",
          "Re-attached patients per centre over time: one row per centre and month from its opening. Counts of "
          "patients; a month's count or cumulative point is withheld (NULL) when it would reveal fewer than the "
          "threshold of patients. Months are the first day of the month." + _LOWER_BOUNDS,
          (*_CENTRE, Column("month", "DATE NOT NULL", "first day of the month"),
           Column("newly_reattached", "BIGINT", "patients re-attached this month, count (NULL when withheld)"),
           Column("cumulative_reattached", "BIGINT",
                  "patients re-attached since the opening, count (NULL when withheld)"),
           _SUPPRESSED),
          ("centre_id", "month")),
    Table("cost_per_consultation",
          "Cost per consultation: one row per centre and year with costs or acts. Counts of acts; euros. "
          "Holds no patient count; act counts are withheld only where they would give back a withheld cell.",
          (*_CENTRE, Column("year", "INTEGER NOT NULL", "calendar year"),
           Column("acts_completed", "BIGINT", "completed acts of all types, count (NULL when withheld)"),
           Column("consultations", "BIGINT",
                  "completed consultations (incl. advanced-practice nurses), count (NULL when withheld)"),
           Column("home_visits", "BIGINT", "completed home visits, count (NULL when withheld)"),
           Column("teleconsultations", "BIGINT", "completed teleconsultations, count (NULL when withheld)"),
           _euros("operating_cost_eur", "operating cost (sum of the charge lines)"),
           _euros("insurance_revenue_eur", "insurance revenue (NGAP tariff in force for completed acts)"),
           _euros("other_income_eur", "other income (rent received, grants)"),
           _euros("cost_per_consultation_eur", "operating cost / completed acts (NULL without acts)"),
           _euros("net_cost_per_consultation_eur",
                  "(operating cost - insurance revenue - other income) / completed acts (NULL without acts)"),
           Column("suppressed", "BOOLEAN NOT NULL",
                  "true when act counts and ratios are withheld: with so few acts, they would give back a withheld "
                  "cell of activity_by_territory (a lone small group of residents)")),
          ("centre_id", "year")),
    Table("territory_indicators",
          "Residents of each territory and the health centres, per inhabitant: one row per territorial level "
          "(departement, epci), territory of residence and year with residents counted. Residents are placed "
          "in their commune as the official geography has it now (INSEE COG 2026; a former commune code counts "
          "in the commune it merged into). Population: " + POPULATION + ", summed over the territory's "
          "communes (" + SOURCE + "). Counts of patients and acts, rates per 10,000 inhabitants, share of the "
          "population; statistical secrecy applied: a count of 1 to threshold-1 patients is withheld, a "
          "rate whose numerator is withheld is withheld, and totals that would give back a withheld cell of "
          "the finer tables (or of the other level) are withheld too.",
          (Column("level", "VARCHAR NOT NULL", "departement | epci"),
           Column("territory_code", "VARCHAR NOT NULL", "INSEE code of the département, or SIREN of the EPCI"),
           Column("territory_name", "VARCHAR", "name of the territory (INSEE COG 2026)"),
           Column("year", "INTEGER NOT NULL", "calendar year"),
           Column("population", "BIGINT", f"inhabitants: {POPULATION}, summed over the territory's communes"),
           Column("newly_reattached", "BIGINT",
                  "residents re-attached to a GP at a centre that year (once per network), count (NULL when "
                  "withheld)"),
           Column("reattached_per_10000", "DOUBLE",
                  "newly_reattached per 10,000 inhabitants, 1 decimal (NULL when withheld)"),
           Column("acts_completed", "BIGINT", "completed acts of residents at the centres that year, count (NULL "
                                             "when withheld)"),
           Column("acts_per_10000", "DOUBLE", "acts_completed per 10,000 inhabitants, 1 decimal (NULL when withheld)"),
           Column("attached_at_year_end", "BIGINT",
                  "residents with a declaration to a centre's GP in force on 31 December (for the year in "
                  "progress, as the log stands), distinct patients (NULL when withheld)"),
           Column("attached_share_of_population", "DOUBLE",
                  "attached_at_year_end / population, a share between 0 and 1, 4 decimals (NULL when withheld)"),
           Column("suppressed", "BOOLEAN NOT NULL", "true when any count of this row is withheld by statistical "
                                                   "secrecy (with its rate)")),
          ("level", "territory_code", "year")),
    Table("totals",
          "Totals per centre, per network and per department of the centres: one row per level, territory and "
          "year. Sums of values published in the other tables only, so they reveal nothing those do not; where "
          "a summed value is withheld, the total counts what is published and is a lower bound (see the "
          "*_complete columns). A patient counts once per network, so a department's re-attached patients "
          "count a patient re-attached in two networks twice.",
          (Column("level", "VARCHAR NOT NULL", "centre | network | department (the department of the centres)"),
           Column("territory_code", "VARCHAR NOT NULL", "FINESS number of the centre, network id, or department "
                                                        "code (INSEE)"),
           Column("year", "INTEGER NOT NULL", "calendar year"),
           Column("centres", "INTEGER NOT NULL", "centres summed, count"),
           Column("acts_completed", "BIGINT NOT NULL",
                  "completed acts of the year, count: the sum of the published act counts of cost_per_consultation"),
           Column("acts_complete", "BOOLEAN NOT NULL",
                  "true when no summed act count is withheld: acts_completed is exact; else a lower bound"),
           Column("reattached_since_opening", "BIGINT NOT NULL",
                  "patients re-attached since each centre opened, up to the end of the year (or of the data), "
                  "count: each centre's last published cumulative point by then (reattachment_by_centre)"),
           Column("reattached_complete", "BOOLEAN NOT NULL",
                  "true when every centre's point at the end of the year is published: reattached_since_opening "
                  "is exact; else a lower bound")),
          ("level", "territory_code", "year")),
)

RELEASE_TABLE = Table(
    "release",
    "The release this file holds: one row. Its manifest says how to rebuild it from the event log.",
    (Column("release_id", "VARCHAR NOT NULL", "identifier of the release"),
     Column("published_at", "TIMESTAMP NOT NULL", "when the release was published, Europe/Paris"),
     Column("log_high_water_event_id", "BIGINT NOT NULL", "last event of the log the release reflects"),
     Column("log_recorded_until", "TIMESTAMP", "latest recorded time of those events (extract time), Europe/Paris"),
     Column("secrecy_threshold", "INTEGER NOT NULL", "smallest count of patients published"),
     Column("code_version", "VARCHAR NOT NULL", "version of carnet that built the release"),
     Column("manifest", "JSON NOT NULL", "the release manifest (inputs, versions, fingerprints, extract hashes)")),
    ("release_id",))


def by_name(name: str) -> Table:
    return next(t for t in (*TABLES, RELEASE_TABLE) if t.name == name)
