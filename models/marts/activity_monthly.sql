MODEL (
  name marts.activity_monthly,
  kind INCREMENTAL_BY_TIME_RANGE (time_column month),
  cron '@monthly',
  allow_partials true,
  partitioned_by month, -- the restatement grain (cron): an overwritten partition is a whole restated month
  grain (centre_id, site_code, month, act_type),
  description 'Activity: one row per centre, site, month and act type. Completed acts are activity; cancelled acts and no-shows are counted apart. Money in euros. Incremental by month: a refresh restates only the months its new events touch.',
  audits (
    unique_combination_of_columns(columns := (centre_id, site_code, month, act_type)),
    not_null(columns := (network_id, department_code, centre_id, site_code, month, act_type)),
    accepted_range(column := acts_completed, min_v := 0),
    accepted_range(column := acts_cancelled, min_v := 0),
    accepted_range(column := acts_no_show, min_v := 0),
    accepted_range(column := billed_eur, min_v := 0),
    accepted_range(column := insurance_revenue_eur, min_v := 0),
    completed_acts_reconcile_with_log
  )
);

SELECT
  network_id, -- the operator (department council, commune, association)
  department_code, -- department of the centre
  centre_id, -- FINESS of the centre
  site_code, -- site (antenna) code
  month, -- first day of the month, local time Europe/Paris
  act_type, -- consultation | home_visit | teleconsultation
  CAST(COUNT(*) FILTER (WHERE status = 'completed') AS BIGINT) AS acts_completed, -- acts whose latest status is completed
  CAST(COUNT(*) FILTER (WHERE status = 'cancelled') AS BIGINT) AS acts_cancelled, -- acts whose latest status is cancelled
  CAST(COUNT(*) FILTER (WHERE status = 'no_show') AS BIGINT) AS acts_no_show, -- acts whose latest status is no-show
  CAST(COUNT(DISTINCT patient_pseudonym) FILTER (WHERE status = 'completed') AS BIGINT) AS patients, -- distinct patients with a completed act
  CAST(COALESCE(SUM(billed_eur) FILTER (WHERE status = 'completed'), 0) AS DECIMAL(18, 2)) AS billed_eur, -- amounts billed for completed acts, euros
  CAST(COALESCE(SUM(insurance_revenue_eur), 0) AS DECIMAL(18, 2)) AS insurance_revenue_eur -- tariff in force for completed acts, euros
FROM intermediate.int_acts
WHERE
  occurred_at BETWEEN @start_ts AND @end_ts
GROUP BY
  network_id,
  department_code,
  centre_id,
  site_code,
  month,
  act_type;

AUDIT (name completed_acts_reconcile_with_log);
-- Completed acts in the mart equal the completed latest versions in the log's act stream, counted
-- without the models, over the months just computed. Only acts with a version in those months can
-- have their latest version there, so the count reads those acts' versions, not the whole stream.
-- The months are bounds on the stream's own act time, so DuckDB skips the row groups of other months.
WITH mart AS (
  SELECT COALESCE(SUM(acts_completed), 0) AS n FROM @this_model WHERE month BETWEEN @start_ds AND @end_ds
), log AS (
  SELECT COUNT(*) AS n
  FROM log.acts
  WHERE
    event_id IN (
      SELECT event_id FROM log.acts
      WHERE recorded_at <= CAST(@VAR('as_of') AS TIMESTAMP) AND event_id <= CAST(@VAR('log_position') AS BIGINT)
        AND business_key IN (SELECT business_key FROM log.acts WHERE occurred_at BETWEEN @start_ts AND @end_ts)
      QUALIFY ROW_NUMBER() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1
    )
    AND status = 'completed'
    AND occurred_at BETWEEN @start_ts AND @end_ts
    /* as in staging: an objection removes the act's latest version */
    AND COALESCE(patient_pseudonym, '') NOT IN (SELECT pseudonym FROM vault.excluded_pseudonyms)
)
SELECT mart.n AS mart_completed, log.n AS log_completed FROM mart, log WHERE mart.n <> log.n
