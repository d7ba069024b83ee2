MODEL (
  name marts.billing_mismatch_monthly,
  kind FULL,
  grain (centre_id, month, act_code),
  description 'Billing mismatches: one row per centre, month and NGAP code where completed acts were billed at another amount than the tariff in force. Revenue marts use the tariff; this table reports the difference. Euros.',
  audits (unique_combination_of_columns(columns := (centre_id, month, act_code)))
);

SELECT
  network_id, -- the operator
  department_code, -- department of the centre
  centre_id, -- FINESS of the centre
  month, -- first day of the month
  act_code, -- NGAP code
  CAST(COUNT(*) AS BIGINT) AS acts, -- completed acts billed at another amount than the tariff
  CAST(SUM(billed_eur) AS DECIMAL(18, 2)) AS billed_eur, -- what the export says was billed, euros
  CAST(SUM(insurance_revenue_eur) AS DECIMAL(18, 2)) AS tariff_eur, -- what the tariff in force gives, euros
  CAST(SUM(billed_eur) - SUM(insurance_revenue_eur) AS DECIMAL(18, 2)) AS difference_eur -- billed minus tariff, euros
FROM intermediate.int_acts
WHERE
  billed_differs
GROUP BY
  network_id,
  department_code,
  centre_id,
  month,
  act_code
