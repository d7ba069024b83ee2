MODEL (
  name publication.residents_activity_yearly,
  kind INCREMENTAL_BY_TIME_RANGE (time_column (year, '%Y')),
  partitioned_by year, -- each restatement recomputes whole years: an overwritten partition is a whole year
  grain (department_code, commune_insee, year, age_band, sex, act_type),
  description 'Completed acts by where patients live, before secrecy: one row per département and current commune of residence (INSEE COG 2026), year, age band, sex and act type. Counts of acts and of distinct patients. Incremental by year: a refresh recomputes the whole years its restated days fall in (distinct patients are counted over a whole year). Not published as such: carnet.publication applies statistical secrecy.',
  audits (
    unique_combination_of_columns(columns := (department_code, commune_insee, year, age_band, sex, act_type)),
    not_null(columns := (department_code, commune_insee, year, age_band, sex, act_type)),
    accepted_range(column := patients, min_v := 1)
  )
);

SELECT
  a.residence_department_code AS department_code, -- département of residence (official geography)
  a.residence_commune_insee AS commune_insee, -- current commune of residence: a former or delegated code counts in the commune it belongs to now
  CAST(YEAR(a.occurred_at) AS INT) AS year, -- year of the act
  b.age_band, -- age at the act (act year - birth year)
  a.sex, -- M | F
  a.act_type, -- consultation | home_visit | teleconsultation
  COUNT(*) AS acts_completed, -- completed acts
  COUNT(DISTINCT a.patient_pseudonym) AS patients -- distinct patients with a completed act
FROM intermediate.int_acts AS a
JOIN intermediate.int_ages AS b
  ON b.age = a.age
WHERE
  a.status = 'completed'
  /* whole years, as dates: SQLGlot 30.8 folds DATE_TRUNC('year', <timestamp literal>) keeping its time of day */
  AND a.occurred_at >= DATE_TRUNC('year', CAST(@start_ds AS DATE))
  AND a.occurred_at < DATE_TRUNC('year', CAST(@end_ds AS DATE)) + INTERVAL 1 YEAR
GROUP BY ALL
