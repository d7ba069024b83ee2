"""Rules the models share, written once."""
from sqlglot import exp, parse_one

from sqlmesh import macro


@macro()
def department_of_code(evaluator, code: exp.Expression) -> exp.Expression:
    """The département an INSEE commune code starts with: three characters overseas (97x, 98x), two
    elsewhere (2A/2B in Corsica). Only for a code the official geography does not know, which a
    contract before acts/1.2.0 and gp_declarations/1.1.0 let in; a known code's département is the
    geography's (a commune may have changed département since its code was given)."""
    sql = code.sql(dialect=evaluator.dialect)
    return parse_one(f"CASE WHEN LEFT({sql}, 2) IN ('97', '98') THEN LEFT({sql}, 3) ELSE LEFT({sql}, 2) END",
                     dialect=evaluator.dialect)


@macro()
def latest_versions(evaluator, stream: exp.Expression, event_type: exp.Expression, heads_are_latest: exp.Expression,
                    as_of: exp.Expression, log_position: exp.Expression) -> exp.Expression:
    """The event ids of the latest version of each key of `event_type` in the log's `stream` table,
    for `event_id IN (...)`.

    Unbounded on DuckDB (no as-of time, no log position), it is the log's head, which the ingestion
    keeps as the fold of the log (`heads_are_latest`); otherwise the fold of the versions recorded by
    then, the latest recorded time winning and the log position breaking ties (Spark reads the log's
    Parquet export, which has no heads). The variables come in as arguments so that the models
    name them (`@VAR(...)`) and SQLMesh sees what they depend on."""
    d = evaluator.dialect
    if isinstance(heads_are_latest, exp.Boolean) and heads_are_latest.this:
        return parse_one("(SELECT event_id FROM log.heads)", dialect=d)
    table = exp.to_identifier(stream.name).sql(dialect=d)  # a stream of the log: acts, gp_declarations, costs
    return parse_one(f"""(
      SELECT event_id FROM log.{table}
      WHERE event_type = {event_type.sql(dialect=d)}
        AND recorded_at <= CAST({as_of.sql(dialect=d)} AS TIMESTAMP)
        AND event_id <= CAST({log_position.sql(dialect=d)} AS BIGINT)
      QUALIFY ROW_NUMBER() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1
    )""", dialect=d)


def _per_act(evaluator, amount: str, acts: exp.Expression) -> exp.Expression:
    """`amount` / `acts` to the cent, half away from zero, computed exactly in whole cents: DuckDB
    divides decimals as doubles (2105.91 / 18 = 116.99499... would round to 116.99), Spark exactly."""
    acts_sql = acts.sql(dialect=evaluator.dialect)
    cents = f"CAST(({amount}) * 100 AS BIGINT)"
    return parse_one(
        f"CAST(CASE WHEN {acts_sql} > 0 THEN "
        f"CASE WHEN {cents} < 0 THEN -1 ELSE 1 END * ((2 * ABS({cents}) + {acts_sql}) // (2 * {acts_sql})) * 0.01 "
        f"END AS DECIMAL(18, 2))", dialect=evaluator.dialect)


@macro()
def cost_per_act(evaluator, operating_cost: exp.Expression, acts: exp.Expression) -> exp.Expression:
    """Operating cost per completed act, euros to the cent; NULL without completed acts (marts.md)."""
    return _per_act(evaluator, operating_cost.sql(dialect=evaluator.dialect), acts)


@macro()
def net_cost_per_act(evaluator, operating_cost: exp.Expression, insurance_revenue: exp.Expression,
                     other_income: exp.Expression, acts: exp.Expression) -> exp.Expression:
    """(Operating cost - insurance revenue - other income) per completed act, euros to the cent;
    NULL without completed acts (marts.md)."""
    d = evaluator.dialect
    return _per_act(evaluator, f"{operating_cost.sql(dialect=d)} - {insurance_revenue.sql(dialect=d)} - "
                               f"{other_income.sql(dialect=d)}", acts)
