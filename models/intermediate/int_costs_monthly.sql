MODEL (
  name intermediate.int_costs_monthly,
  kind FULL,
  grain (centre_id, month),
  description 'One row per centre and month with cost lines: operating cost (charge lines) and other income (rent received, grants). Euros.'
);

SELECT
  centre_id, -- FINESS of the centre
  month, -- first day of the month
  CAST(SUM(amount_eur) FILTER (WHERE line NOT IN ('loyers_percus', 'subventions')) AS DECIMAL(18, 2)) AS operating_cost_eur, -- sum of charge lines, euros
  CAST(COALESCE(SUM(amount_eur) FILTER (WHERE line IN ('loyers_percus', 'subventions')), 0) AS DECIMAL(18, 2)) AS other_income_eur -- rent received and grants, euros
FROM staging.stg_costs
GROUP BY
  centre_id,
  month
