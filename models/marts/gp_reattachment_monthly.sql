MODEL (
  name marts.gp_reattachment_monthly,
  kind FULL,
  grain (centre_id, month),
  description 'Re-attachment to a médecin traitant: one row per centre and month from the centre''s opening. A patient counts once per network, at the centre and month of their first declaration with no previous GP. Counts of patients.',
  audits (
    unique_combination_of_columns(columns := (centre_id, month)),
    not_null(columns := (network_id, department_code, centre_id, month)),
    accepted_range(column := newly_reattached, min_v := 0),
    accepted_range(column := newly_reattached_ald, min_v := 0),
    accepted_range(column := attached_at_month_end, min_v := 0)
  )
);

WITH reattached_per_month AS (
  SELECT centre_id, month, COUNT(*) AS patients, COUNT(*) FILTER (WHERE ald) AS patients_ald
  FROM intermediate.int_reattachments
  GROUP BY centre_id, month
), ordered AS (
  SELECT
    centre_id, patient_pseudonym, declaration_key, declared_on, ended_on,
    MAX(COALESCE(ended_on, DATE '9999-12-31')) OVER (
      PARTITION BY centre_id, patient_pseudonym ORDER BY declared_on, declaration_key
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS earlier_end
  FROM staging.stg_gp_declarations
), spells AS (
  /* a patient's overlapping declarations at a centre merged into one spell: spells are disjoint,
     so counting spells that cover a day counts distinct patients, without a range join */
  SELECT centre_id, MIN(declared_on) AS starts, NULLIF(MAX(COALESCE(ended_on, DATE '9999-12-31')), DATE '9999-12-31') AS ends
  FROM (
    SELECT *, SUM(CASE WHEN earlier_end IS NULL OR declared_on > earlier_end THEN 1 ELSE 0 END) OVER (
      PARTITION BY centre_id, patient_pseudonym ORDER BY declared_on, declaration_key ROWS UNBOUNDED PRECEDING
    ) AS spell
    FROM ordered
  )
  GROUP BY centre_id, patient_pseudonym, spell
), changes AS (
  /* +1 from the month whose last day a spell first covers, -1 from the first month-end past its end */
  SELECT centre_id, month, SUM(delta) AS delta FROM (
    SELECT centre_id, CAST(date_trunc('month', starts) AS DATE) AS month, 1 AS delta FROM spells
    UNION ALL
    SELECT centre_id, CAST(date_trunc('month', ends) + CASE WHEN ends = last_day(ends) THEN INTERVAL 1 MONTH ELSE INTERVAL 0 MONTH END AS DATE), -1
    FROM spells WHERE ends IS NOT NULL
  )
  GROUP BY centre_id, month
), attached AS (
  SELECT m.centre_id, m.month, SUM(c.delta) AS patients
  FROM intermediate.int_centre_months AS m
  JOIN changes AS c
    ON c.centre_id = m.centre_id AND c.month <= m.month
  GROUP BY m.centre_id, m.month
)
SELECT
  m.network_id, -- the operator
  m.department_code, -- department of the centre
  m.centre_id, -- FINESS of the centre
  m.month, -- first day of the month
  CAST(COALESCE(r.patients, 0) AS BIGINT) AS newly_reattached, -- patients re-attached this month (first no-GP declaration in the network)
  CAST(COALESCE(r.patients_ald, 0) AS BIGINT) AS newly_reattached_ald, -- of which with a long-term condition (ALD)
  CAST(SUM(COALESCE(r.patients, 0)) OVER (PARTITION BY m.centre_id ORDER BY m.month) AS BIGINT) AS cumulative_reattached, -- re-attached since opening
  CAST(COALESCE(a.patients, 0) AS BIGINT) AS attached_at_month_end -- distinct patients with a declaration in force on the month's last day
FROM intermediate.int_centre_months AS m
LEFT JOIN reattached_per_month AS r
  ON r.centre_id = m.centre_id AND r.month = m.month
LEFT JOIN attached AS a
  ON a.centre_id = m.centre_id AND a.month = m.month
