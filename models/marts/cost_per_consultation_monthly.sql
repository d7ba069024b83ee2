MODEL (
  name marts.cost_per_consultation_monthly,
  kind FULL,
  grain (centre_id, month),
  description 'Cost per consultation: one row per centre and month with costs or acts. Operating cost / completed acts, gross and net of insurance revenue and other income; NULL without completed acts. Euros.',
  audits (
    unique_combination_of_columns(columns := (centre_id, month)),
    not_null(columns := (network_id, department_code, centre_id, month)),
    accepted_range(column := acts_completed, min_v := 0),
    accepted_range(column := operating_cost_eur, min_v := 0),
    accepted_range(column := insurance_revenue_eur, min_v := 0),
    accepted_range(column := other_income_eur, min_v := 0)
  )
);

WITH acts AS (
  SELECT
    centre_id,
    month,
    SUM(acts_completed) AS acts_completed,
    SUM(acts_completed) FILTER (WHERE act_type = 'consultation') AS consultations,
    SUM(acts_completed) FILTER (WHERE act_type = 'home_visit') AS home_visits,
    SUM(acts_completed) FILTER (WHERE act_type = 'teleconsultation') AS teleconsultations,
    SUM(insurance_revenue_eur) AS insurance_revenue_eur
  FROM marts.activity_monthly
  GROUP BY centre_id, month
), keys AS (
  SELECT centre_id, month FROM acts
  UNION
  SELECT centre_id, month FROM intermediate.int_costs_monthly
), joined AS (
  SELECT
    c.network_id,
    c.department_code,
    k.centre_id,
    k.month,
    CAST(COALESCE(a.acts_completed, 0) AS BIGINT) AS acts_completed,
    CAST(COALESCE(a.consultations, 0) AS BIGINT) AS consultations,
    CAST(COALESCE(a.home_visits, 0) AS BIGINT) AS home_visits,
    CAST(COALESCE(a.teleconsultations, 0) AS BIGINT) AS teleconsultations,
    CAST(COALESCE(costs.operating_cost_eur, 0) AS DECIMAL(18, 2)) AS operating_cost_eur,
    CAST(COALESCE(a.insurance_revenue_eur, 0) AS DECIMAL(18, 2)) AS insurance_revenue_eur,
    CAST(COALESCE(costs.other_income_eur, 0) AS DECIMAL(18, 2)) AS other_income_eur
  FROM keys AS k
  JOIN seeds.centres AS c ON c.centre_id = k.centre_id
  LEFT JOIN acts AS a ON a.centre_id = k.centre_id AND a.month = k.month
  LEFT JOIN intermediate.int_costs_monthly AS costs ON costs.centre_id = k.centre_id AND costs.month = k.month
)
SELECT
  network_id, -- the operator
  department_code, -- department of the centre
  centre_id, -- FINESS of the centre
  month, -- first day of the month
  acts_completed, -- completed acts of all types
  consultations, -- completed consultations (including advanced-practice nurse consultations)
  home_visits, -- completed home visits
  teleconsultations, -- completed teleconsultations
  operating_cost_eur, -- sum of the month's charge lines, euros
  insurance_revenue_eur, -- tariff in force for completed acts, euros
  other_income_eur, -- rent received and grants, euros
  @cost_per_act(operating_cost_eur, acts_completed) AS cost_per_consultation_eur, -- operating cost / completed acts, euros
  @net_cost_per_act(operating_cost_eur, insurance_revenue_eur, other_income_eur, acts_completed) AS net_cost_per_consultation_eur -- (operating cost - insurance revenue - other income) / completed acts, euros
FROM joined
