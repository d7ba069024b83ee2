"""The baseline only DuckDB can beat: read the inbox's files with read_csv and compute the marts'
GROUP BYs in one SQL script — no validation, no pseudonymisation, no event log, no Dagster.

    python bench/baseline.py INBOX_AS_CSV SEEDS_CENTRES_CSV

INBOX_AS_CSV holds the inbox with workbooks already converted to CSV (bench/full_rebuild.py
does it, untimed). Prints the row counts of its marts and the seconds it took.
"""
import sys
import time
from pathlib import Path

import duckdb

FILE_PARTS = """
    regexp_extract(filename, '([0-9A-Z]{9})__([a-z_]+)__([0-9T]+)', 1) AS centre_id,
    regexp_extract(filename, '([0-9A-Z]{9})__([a-z_]+)__([0-9T]+)', 2) AS feed,
    strptime(regexp_extract(filename, '([0-9A-Z]{9})__([a-z_]+)__([0-9T]+)', 3), '%Y%m%dT%H%M%S') AS extracted_at"""


def read(files: list[str], sep: str, encoding: str) -> str:
    """A read_csv over explicit files (the file list is bound as a parameter by the caller)."""
    return (f"read_csv($files, delim='{sep}', header=true, all_varchar=true, filename=true, union_by_name=true, "
            f"ignore_errors=true, "
            f"encoding='{encoding}')")


SCRIPT = """
CREATE TEMP TABLE acts AS
SELECT * FROM (
    SELECT {parts}, id_acte AS act_id, try_strptime(date || ' ' || heure, '%d/%m/%Y %H:%M') AS occurred_at,
           nir, CASE statut WHEN 'réalisé' THEN 'completed' WHEN 'annulé' THEN 'cancelled' ELSE 'no_show' END AS status,
           TRY_CAST(replace(montant, ',', '.') AS DECIMAL(18,2)) AS amount
    FROM {fr_acts}
    UNION ALL BY NAME
    SELECT {parts}, act_id, TRY_CAST(TRY_CAST(occurred_at AS TIMESTAMPTZ) AS TIMESTAMP) AS occurred_at,
           patient_nir AS nir, status, TRY_CAST(amount_eur AS DECIMAL(18,2)) AS amount
    FROM {en_acts}
) QUALIFY row_number() OVER (PARTITION BY centre_id, feed, act_id ORDER BY extracted_at DESC) = 1;

CREATE TEMP TABLE activity AS
SELECT centre_id, date_trunc('month', occurred_at) AS month, feed,
       count(*) FILTER (status = 'completed') AS acts_completed, count(*) FILTER (status = 'cancelled') AS cancelled,
       count(*) FILTER (status = 'no_show') AS no_show, count(DISTINCT nir) FILTER (status = 'completed') AS patients,
       sum(amount) FILTER (status = 'completed') AS billed
FROM acts GROUP BY ALL;

CREATE TEMP TABLE declarations AS
SELECT * FROM (
    SELECT {parts}, nir, try_strptime(date_declaration, '%d/%m/%Y')::DATE AS declared_on, rpps_medecin AS gp,
           CASE situation_anterieure WHEN 'sans_medecin_traitant' THEN 'none' ELSE 'other' END AS previous
    FROM {fr_decl}
    UNION ALL BY NAME
    SELECT {parts}, patient_nir AS nir, TRY_CAST(declared_on AS DATE) AS declared_on, gp_rpps AS gp,
           previous_situation AS previous
    FROM {en_decl}
) QUALIFY row_number() OVER (PARTITION BY centre_id, nir, declared_on, gp ORDER BY extracted_at DESC) = 1;

CREATE TEMP TABLE reattachment AS
SELECT centre_id, date_trunc('month', declared_on) AS month, count(*) AS newly_reattached FROM (
    SELECT d.*, c.network_id FROM declarations d JOIN read_csv($centres, all_varchar=true) c USING (centre_id)
    WHERE previous = 'none'
    QUALIFY row_number() OVER (PARTITION BY c.network_id, d.nir ORDER BY d.declared_on) = 1
) GROUP BY ALL;

CREATE TEMP TABLE costs AS
SELECT centre_id, month, sum(amount) AS amount FROM (
    SELECT * FROM (
        SELECT {parts}, mois AS month, poste AS line, TRY_CAST(replace(montant, ',', '.') AS DECIMAL(18,2)) AS amount
        FROM {fr_costs}
        UNION ALL BY NAME
        SELECT {parts}, month, line, TRY_CAST(amount_eur AS DECIMAL(18,2)) AS amount FROM {en_costs}
    ) QUALIFY row_number() OVER (PARTITION BY centre_id, month, line ORDER BY extracted_at DESC) = 1
) GROUP BY ALL;

CREATE TEMP TABLE cost_per_consultation AS
SELECT a.centre_id, a.month, sum(a.acts_completed) AS acts, any_value(c.amount) / sum(a.acts_completed) AS cost
FROM activity a LEFT JOIN costs c ON c.centre_id = a.centre_id AND c.month = strftime(a.month, '%Y-%m')
GROUP BY ALL;
"""


def run(inbox: Path, centres: Path) -> dict:
    files = {}
    for feed in ("consultations", "home_visits", "teleconsultations", "gp_declarations", "costs"):
        for lang in ("fr", "en"):
            files[(feed, lang)] = sorted(str(p) for p in inbox.rglob(f"*__{feed}__*.{lang}.csv"))
    conn = duckdb.connect()
    started = time.perf_counter()
    acts_fr = files[("consultations", "fr")] + files[("home_visits", "fr")] + files[("teleconsultations", "fr")]
    acts_en = files[("consultations", "en")] + files[("home_visits", "en")] + files[("teleconsultations", "en")]
    sql = SCRIPT.format(parts=FILE_PARTS, fr_acts=read(acts_fr, ";", "latin-1").replace("$files", "$fr_acts"),
                        en_acts=read(acts_en, ",", "utf-8").replace("$files", "$en_acts"),
                        fr_decl=read([], ";", "latin-1").replace("$files", "$fr_decl"),
                        en_decl=read([], ",", "utf-8").replace("$files", "$en_decl"),
                        fr_costs=read([], ";", "latin-1").replace("$files", "$fr_costs"),
                        en_costs=read([], ",", "utf-8").replace("$files", "$en_costs"))
    params = {"fr_acts": acts_fr, "en_acts": acts_en, "fr_decl": files[("gp_declarations", "fr")],
              "en_decl": files[("gp_declarations", "en")], "fr_costs": files[("costs", "fr")],
              "en_costs": files[("costs", "en")], "centres": str(centres)}
    for statement in [s for s in sql.split(";\n") if s.strip()]:
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        conn.execute(statement, used)
    seconds = time.perf_counter() - started
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("acts", "activity", "declarations", "reattachment", "costs", "cost_per_consultation")}
    return {"seconds": seconds, **counts}


if __name__ == "__main__":
    result = run(Path(sys.argv[1]), Path(sys.argv[2]))
    print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
