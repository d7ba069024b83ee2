MODEL (
  name intermediate.int_centre_months,
  kind FULL,
  grain (centre_id, month),
  description 'One row per centre and month, from the month of its opening to the last month the log knows of (as of the as-of time).'
);

WITH horizon AS (
  SELECT max(m) AS last_month FROM (
    /* the acts' stored copy (their staging models are views over the whole act stream) */
    SELECT max(month) AS m FROM intermediate.int_acts
    UNION ALL SELECT max(CAST(date_trunc('month', declared_on) AS DATE)) FROM staging.stg_gp_declarations
    UNION ALL SELECT max(month) FROM staging.stg_costs
  )
)
SELECT
  c.network_id, -- the operator
  c.department_code, -- department of the centre
  c.centre_id, -- FINESS of the centre
  CAST(m.month AS DATE) AS month, -- first day of the month
  CAST(m.month + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS month_end -- last day of the month
FROM seeds.centres AS c
CROSS JOIN horizon AS h
CROSS JOIN LATERAL (
  SELECT unnest(generate_series(CAST(date_trunc('month', c.opened_on) AS DATE), h.last_month, INTERVAL 1 MONTH)) AS month
) AS m
WHERE h.last_month IS NOT NULL
