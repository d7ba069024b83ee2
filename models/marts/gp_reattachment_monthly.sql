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

WITH new AS (
  SELECT centre_id, month, COUNT(*) AS n, COUNT(*) FILTER (WHERE ald) AS n_ald
  FROM intermediate.int_reattachments
  GROUP BY centre_id, month
), attached AS (
  SELECT m.centre_id, m.month, COUNT(DISTINCT d.patient_pseudonym) AS n
  FROM intermediate.int_centre_months AS m
  JOIN staging.stg_gp_declarations AS d
    ON d.centre_id = m.centre_id
    AND d.declared_on <= m.month_end
    AND (d.ended_on IS NULL OR d.ended_on >= m.month_end)
  GROUP BY m.centre_id, m.month
)
SELECT
  m.network_id, -- the operator
  m.department_code, -- department of the centre
  m.centre_id, -- FINESS of the centre
  m.month, -- first day of the month
  CAST(COALESCE(n.n, 0) AS BIGINT) AS newly_reattached, -- patients re-attached this month (first no-GP declaration in the network)
  CAST(COALESCE(n.n_ald, 0) AS BIGINT) AS newly_reattached_ald, -- of which with a long-term condition (ALD)
  CAST(SUM(COALESCE(n.n, 0)) OVER (PARTITION BY m.centre_id ORDER BY m.month) AS BIGINT) AS cumulative_reattached, -- re-attached since opening
  CAST(COALESCE(a.n, 0) AS BIGINT) AS attached_at_month_end -- distinct patients with a declaration in force on the month's last day
FROM intermediate.int_centre_months AS m
LEFT JOIN new AS n
  ON n.centre_id = m.centre_id AND n.month = m.month
LEFT JOIN attached AS a
  ON a.centre_id = m.centre_id AND a.month = m.month
