MODEL (
  name intermediate.int_acts,
  kind INCREMENTAL_BY_TIME_RANGE (time_column occurred_at, partition_by_time_column false),
  /* restated by whole months, the grain it is partitioned by: an engine that overwrites whole
     partitions (Spark) then never replaces a month with part of it */
  interval_unit month,
  allow_partials true,
  partitioned_by month,
  grain act_key,
  description 'One row per act (latest version; incremental by act time; the one stored copy of the acts, since their staging models are views), with its type, month, network and the insurance revenue of the NGAP tariff in force on its date (VG + MD for home visits). Euros.',
  audits (unique_combination_of_columns(columns := (act_key)), not_null(columns := (act_key, network_id, centre_id, occurred_at, month, act_type, status)))
);

WITH acts AS (
  SELECT act_key, centre_id, occurred_at, site_code, patient_pseudonym, birth_year, sex, residence_insee, act_code,
         billed_eur, status, ald, 'consultation' AS act_type
  FROM staging.stg_consultations
  WHERE occurred_at BETWEEN @start_ts AND @end_ts
  UNION ALL
  SELECT act_key, centre_id, occurred_at, site_code, patient_pseudonym, birth_year, sex, residence_insee, act_code,
         billed_eur, status, ald, 'home_visit' AS act_type
  FROM staging.stg_home_visits
  WHERE occurred_at BETWEEN @start_ts AND @end_ts
  UNION ALL
  SELECT act_key, centre_id, occurred_at, site_code, patient_pseudonym, birth_year, sex, residence_insee, act_code,
         billed_eur, status, ald, 'teleconsultation' AS act_type
  FROM staging.stg_teleconsultations
  WHERE occurred_at BETWEEN @start_ts AND @end_ts
), priced AS (
  SELECT
    a.*,
    CAST(t.amount_eur AS DECIMAL(18, 2)) + CASE WHEN a.act_code = 'VG' THEN CAST(md.amount_eur AS DECIMAL(18, 2)) ELSE 0 END AS tariff_eur
  FROM acts AS a
  LEFT JOIN seeds.tariffs AS t
    ON t.act_code = a.act_code
    AND CAST(a.occurred_at AS DATE) BETWEEN t.valid_from AND COALESCE(t.valid_to, DATE '9999-12-31')
  LEFT JOIN seeds.tariffs AS md
    ON md.act_code = 'MD'
    AND CAST(a.occurred_at AS DATE) BETWEEN md.valid_from AND COALESCE(md.valid_to, DATE '9999-12-31')
)
SELECT
  p.act_key, -- centre|feed|act id
  c.network_id, -- the operator (department council, commune, association)
  c.department_code, -- department of the centre
  p.centre_id, -- FINESS of the centre
  p.site_code, -- site (antenna) code
  p.act_type, -- consultation | home_visit | teleconsultation (from the feed)
  p.act_code, -- NGAP code
  p.occurred_at, -- local time Europe/Paris
  CAST(date_trunc('month', p.occurred_at) AS DATE) AS month, -- first day of the act's month
  p.status, -- completed | cancelled | no_show
  p.patient_pseudonym, -- keyed pseudonym
  p.birth_year, -- patient's year of birth
  CAST(year(p.occurred_at) - p.birth_year AS INT) AS age, -- age at the act, years (act year - birth year)
  p.sex, -- M | F
  p.residence_insee, -- commune of residence as sent
  COALESCE(g.commune_insee, p.residence_insee) AS residence_commune_insee, -- current commune of residence (INSEE COG): a former or delegated code counts in the commune it belongs to now
  COALESCE(g.department_code, @department_of_code(p.residence_insee)) AS residence_department_code, -- its département
  NULLIF(g.epci_code, '') AS residence_epci_code, -- its EPCI (SIREN), NULL outside any EPCI
  p.ald, -- long-term condition
  p.billed_eur, -- amount billed in the export, euros
  CAST(CASE WHEN p.status = 'completed' THEN p.tariff_eur ELSE 0 END AS DECIMAL(18, 2)) AS insurance_revenue_eur, -- tariff in force for a completed act, euros
  p.status = 'completed' AND p.billed_eur IS DISTINCT FROM p.tariff_eur AS billed_differs -- completed act billed at another amount than the tariff
FROM priced AS p
JOIN seeds.centres AS c
  ON c.centre_id = p.centre_id
LEFT JOIN seeds.commune_codes AS g
  ON g.code = p.residence_insee
