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
  CAST(p.month AS DATE) AS month, -- first day of the month
  p.line AS line, -- ledger line (charge or income)
  CAST(p.amount_eur AS DECIMAL(18, 2)) AS amount_eur, -- euros, positive
  recorded_at, -- extraction time of the version kept
  event_id -- position of that version in the log
FROM (
  /* the payload parsed once per row, as in the other staging models */
  SELECT
    business_key, centre_id, recorded_at, event_id,
    JSON_TRANSFORM(payload, '{"month": "VARCHAR", "line": "VARCHAR", "amount_eur": "VARCHAR"}') AS p
  FROM events.log.events
  WHERE
    event_type = 'cost_booked'
    AND event_id IN @latest_versions('cost_booked', @VAR('heads_are_latest'), @VAR('as_of'), @VAR('log_position'))
) AS e
