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
    AND event_id IN (
      /* the latest version of each key: its head, or the fold when bounded (as in the act staging) */
      SELECT event_id FROM events.log.heads WHERE @VAR('heads_are_latest')
      UNION ALL
      SELECT event_id FROM events.log.events
      WHERE event_type = 'cost_booked' AND recorded_at <= CAST(@VAR('as_of') AS TIMESTAMP) AND event_id <= CAST(@VAR('log_position') AS BIGINT)
        AND NOT @VAR('heads_are_latest')
      QUALIFY ROW_NUMBER() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1
    )
) AS e
