"""The publication gate: Great Expectations suites on what a release is about to publish.

Great Expectations 1.x has no working DuckDB datasource, so the suites validate the tables as
read back from the staged observatory file (pandas frames). Its import is slow, so it is
imported here only: in a run, by the gate's own process while the run works (`gate_process`).
"""
from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.registry import SEEDS_DIR
from pipelines.settings import quiet_libraries

ACT_TYPES = ["consultation", "home_visit", "teleconsultation"]


@dataclass
class GateResult:
    success: bool
    failures: list[str] = field(default_factory=list)
    expectations: int = 0
    docs_index: Path | None = None

    def summary(self) -> str:
        if self.success:
            return f"quality gate passed ({self.expectations} expectations)"
        return "quality gate FAILED: " + "; ".join(self.failures)


def age_bands() -> list[str]:
    """The bands of `seeds/age_bands.csv`, the same the models join: the gate accepts no other."""
    with open(SEEDS_DIR / "age_bands.csv", newline="", encoding="utf-8") as f:
        return [row["age_band"] for row in csv.DictReader(f)]


def _suites(gx, threshold: int, previous_rows: dict[str, int], min_row_ratio: float) -> dict[str, list]:
    e = gx.expectations
    small = list(range(1, threshold))
    bands = age_bands()  # read once: both territorial suites use it

    def secrecy(column: str) -> list:
        """Published counts are 0 or threshold+; withheld rows publish nothing."""
        return [e.ExpectColumnValuesToNotBeInSet(column=column, value_set=small),
                e.ExpectColumnValuesToBeNull(column=column, row_condition="suppressed == True",
                                             condition_parser="pandas"),
                e.ExpectColumnValuesToNotBeNull(column=column, row_condition="suppressed == False",
                                                condition_parser="pandas")]

    def territory() -> list:
        return [e.ExpectColumnValuesToMatchRegex(column="department_code", regex=r"^(\d{2}|2A|2B|9[78]\d)$"),
                e.ExpectColumnValuesToMatchRegex(column="commune_insee", regex=r"^(\d{5}|2[AB]\d{3})$"),
                e.ExpectColumnValuesToBeInSet(column="age_band", value_set=bands),
                e.ExpectColumnValuesToBeBetween(column="year", min_value=2000, max_value=2100)]

    suites = {
        "activity_by_territory": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["department_code", "commune_insee", "year", "age_band",
                                                           "sex", "act_type"]),
            *territory(),
            e.ExpectColumnValuesToBeInSet(column="sex", value_set=["M", "F"]),
            e.ExpectColumnValuesToBeInSet(column="act_type", value_set=ACT_TYPES),
            e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="acts_completed", column_B="patients", or_equal=True,
                                                      ignore_row_if="either_value_is_missing"),
            *secrecy("patients"), *secrecy("acts_completed")[1:],
        ],
        "reattachment_by_territory": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["department_code", "commune_insee", "year", "age_band"]),
            *territory(),
            e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="newly_reattached", column_B="newly_reattached_ald",
                                                      or_equal=True, ignore_row_if="either_value_is_missing"),
            *secrecy("newly_reattached"), *secrecy("newly_reattached_ald")[:2],
        ],
        "reattachment_by_centre": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["centre_id", "month"]),
            e.ExpectColumnValuesToNotBeNull(column="centre_id"),
            e.ExpectColumnValuesToBeBetween(column="cumulative_reattached", min_value=0),
            e.ExpectColumnValuesToNotBeInSet(column="newly_reattached", value_set=small),
        ],
        "cost_per_consultation": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["centre_id", "year"]),
            e.ExpectColumnValuesToNotBeNull(column="centre_id"),
            e.ExpectColumnValuesToBeBetween(column="acts_completed", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="operating_cost_eur", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="cost_per_consultation_eur", min_value=0, max_value=10_000),
        ],
        "territory_indicators": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["level", "territory_code", "year"]),
            e.ExpectColumnValuesToBeInSet(column="level", value_set=["departement", "epci"]),
            e.ExpectColumnValuesToBeBetween(column="year", min_value=2000, max_value=2100),
            e.ExpectColumnValuesToBeBetween(column="population", min_value=0),
            e.ExpectColumnValuesToNotBeInSet(column="newly_reattached", value_set=small),
            e.ExpectColumnValuesToNotBeInSet(column="attached_at_year_end", value_set=small),
            e.ExpectColumnValuesToBeBetween(column="attached_share_of_population", min_value=0, max_value=1),
            e.ExpectColumnValuesToBeNull(column="reattached_per_10000", row_condition="newly_reattached.isnull()",
                                         condition_parser="pandas"),
            e.ExpectColumnValuesToBeNull(column="acts_per_10000", row_condition="acts_completed.isnull()",
                                         condition_parser="pandas"),
        ],
        "totals": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["level", "territory_code", "year"]),
            e.ExpectColumnValuesToBeInSet(column="level", value_set=["centre", "network", "department"]),
            e.ExpectColumnValuesToBeBetween(column="acts_completed", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="reattached_since_opening", min_value=0),
        ],
    }
    for table, rows in previous_rows.items():
        if table in suites:
            suites[table].append(e.ExpectTableRowCountToBeBetween(min_value=math.floor(rows * min_row_ratio)))
    return suites


def import_great_expectations():
    """The module, imported without analytics (no network here) and without its import warnings."""
    quiet_libraries()  # read by Great Expectations at import
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: F401
    return gx


def gate(tables: dict[str, pl.DataFrame], *, threshold: int, previous_rows: dict[str, int],
         docs_dir: Path, min_row_ratio: float = 0.9) -> GateResult:
    """Validate every table; write Data Docs to `docs_dir`; say what failed. A table may not shrink
    under `min_row_ratio` of its rows in the previous release ($CARNET_RELEASE_MIN_ROW_RATIO)."""
    gx = import_great_expectations()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _gate(gx, tables, threshold=threshold, previous_rows=previous_rows, docs_dir=docs_dir,
                     min_row_ratio=min_row_ratio)


def _gate(gx, tables, *, threshold, previous_rows, docs_dir, min_row_ratio) -> GateResult:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from pipelines.publication import data_docs

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("observatory")
    result = GateResult(success=True)
    checks: list[data_docs.CheckResult] = []
    for table, expectations in _suites(gx, threshold, previous_rows, min_row_ratio).items():
        batch = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("release")
        suite = context.suites.add(gx.ExpectationSuite(name=f"observatory.{table}"))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"release.{table}", data=batch, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"gate.{table}", validation_definitions=[definition], result_format="SUMMARY"))
        run = checkpoint.run(batch_parameters={"dataframe": tables[table].to_pandas()})
        for validation in run.run_results.values():
            for r in validation.results:
                result.expectations += 1
                cfg = r.expectation_config
                column = cfg.kwargs.get("column") or cfg.kwargs.get("column_list") or ""
                observed = (r.result or {}).get("observed_value", (r.result or {}).get("unexpected_count"))
                checks.append(data_docs.CheckResult(table, cfg.type, str(column), bool(r.success), str(observed)))
                if not r.success:
                    result.failures.append(f"{table}: {cfg.type} {column} (observed {observed})")
    result.success = not result.failures
    result.docs_index = data_docs.write(docs_dir, "Quality gate of the observatory release", checks)
    return result
