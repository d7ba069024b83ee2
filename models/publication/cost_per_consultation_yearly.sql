MODEL (
  name publication.cost_per_consultation_yearly,
  kind FULL,
  grain (centre_id, year),
  description 'Cost per consultation: one row per centre and year with costs or acts, the yearly version of marts.cost_per_consultation_monthly. Counts of acts; euros. Holds no patient count, so it is published as it is.',
  audits (
    unique_combination_of_columns(columns := (centre_id, year)),
    not_null(columns := (network_id, department_code, centre_id, year)),
    accepted_range(column := acts_completed, min_v := 0)
  )
);

WITH yearly AS (
  SELECT
    network_id,
    department_code,
    centre_id,
    CAST(YEAR(month) AS INT) AS year,
    SUM(acts_completed) AS acts_completed,
    SUM(consultations) AS consultations,
    SUM(home_visits) AS home_visits,
    SUM(teleconsultations) AS teleconsultations,
    SUM(operating_cost_eur) AS operating_cost_eur,
    SUM(insurance_revenue_eur) AS insurance_revenue_eur,
    SUM(other_income_eur) AS other_income_eur
  FROM marts.cost_per_consultation_monthly
  GROUP BY ALL
)
SELECT
  network_id, -- the operator
  department_code, -- department of the centre
  centre_id, -- FINESS of the centre
  year, -- calendar year
  CAST(acts_completed AS BIGINT) AS acts_completed, -- completed acts of all types
  CAST(consultations AS BIGINT) AS consultations, -- completed consultations (including advanced-practice nurse consultations)
  CAST(home_visits AS BIGINT) AS home_visits, -- completed home visits
  CAST(teleconsultations AS BIGINT) AS teleconsultations, -- completed teleconsultations
  CAST(operating_cost_eur AS DECIMAL(18, 2)) AS operating_cost_eur, -- sum of the year's charge lines, euros
  CAST(insurance_revenue_eur AS DECIMAL(18, 2)) AS insurance_revenue_eur, -- tariff in force for completed acts, euros
  CAST(other_income_eur AS DECIMAL(18, 2)) AS other_income_eur, -- rent received and grants, euros
  @cost_per_act(operating_cost_eur, acts_completed) AS cost_per_consultation_eur, -- operating cost / completed acts, euros
  @net_cost_per_act(operating_cost_eur, insurance_revenue_eur, other_income_eur, acts_completed) AS net_cost_per_consultation_eur -- (operating cost - insurance revenue - other income) / completed acts, euros
FROM yearly
