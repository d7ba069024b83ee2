MODEL (
  name publication.residents_reattachment_yearly,
  kind FULL,
  grain (department_code, commune_insee, year, age_band),
  description 'Re-attachments by where patients live, before secrecy: one row per département and current commune of residence (INSEE COG 2026), year and age band. Counts of patients re-attached to a GP (once per network, as in marts.gp_reattachment_monthly). Not published as such: carnet.publication applies statistical secrecy.',
  audits (
    unique_combination_of_columns(columns := (department_code, commune_insee, year, age_band)),
    not_null(columns := (department_code, commune_insee, year, age_band)),
    accepted_range(column := newly_reattached, min_v := 1)
  )
);

SELECT
  r.residence_department_code AS department_code, -- département of residence (official geography)
  r.residence_commune_insee AS commune_insee, -- current commune of residence: a former or delegated code counts in the commune it belongs to now
  CAST(YEAR(r.declared_on) AS INT) AS year, -- year of the declaration that re-attached the patient
  b.age_band, -- age that year (declaration year - birth year)
  COUNT(*) AS newly_reattached, -- patients re-attached (a patient re-attached by two networks counts in each)
  COUNT(*) FILTER (WHERE r.ald) AS newly_reattached_ald -- of whom with a long-term condition (ALD)
FROM intermediate.int_reattachments AS r
JOIN intermediate.int_ages AS b
  ON b.age = YEAR(r.declared_on) - r.birth_year
GROUP BY ALL
