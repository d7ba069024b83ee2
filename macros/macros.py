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
