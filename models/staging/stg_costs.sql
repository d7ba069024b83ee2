MODEL (
  name staging.stg_costs,
  kind FULL,
  grain cost_key,
  description 'One row per centre, month and ledger line: the latest (corrected) amount recorded on or before the as-of time. Euros.',
  audits (unique_combination_of_columns(columns := (cost_key)), not_null(columns := (cost_key, centre_id, month, line, amount_eur)))
);

SELECT
  business_key AS cost_key, -- centre|month|line
  centre_id, -- FINESS of the centre
  CAST(month AS DATE) AS month, -- first day of the month
  line, -- ledger line (charge or income)
  CAST(amount_eur AS DECIMAL(18, 2)) AS amount_eur, -- euros, positive
  CAST(recorded_at AS TIMESTAMP) AS recorded_at, -- extraction time of the version kept
  CAST(event_id AS BIGINT) AS event_id -- position of that version in the log
FROM log.costs
WHERE
  event_type = 'cost_booked'
  AND event_id IN @latest_versions(costs, 'cost_booked', @VAR('heads_are_latest'), @VAR('as_of'), @VAR('log_position'))
