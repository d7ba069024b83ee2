MODEL (
  name publication.residents_reattachment_yearly,
  kind FULL,
  grain (department_code, commune_insee, year, age_band),
  description 'Re-attachments by where patients live, before secrecy: one row per department and commune of residence, year and age band. Counts of patients re-attached to a GP (once per network, as in marts.gp_reattachment_monthly). Not published as such: carnet.publication applies statistical secrecy.',
  audits (
    unique_combination_of_columns(columns := (department_code, commune_insee, year, age_band)),
    not_null(columns := (department_code, commune_insee, year, age_band)),
    accepted_range(column := newly_reattached, min_v := 1)
  )
);

SELECT
  CASE WHEN LEFT(r.residence_insee, 2) IN ('97', '98') THEN LEFT(r.residence_insee, 3) ELSE LEFT(r.residence_insee, 2) END AS department_code, -- department of residence
  r.residence_insee AS commune_insee, -- commune of residence (INSEE code)
  YEAR(r.declared_on) AS year, -- year of the declaration that re-attached the patient
  b.age_band, -- age that year (declaration year - birth year)
  COUNT(*) AS newly_reattached, -- patients re-attached (a patient re-attached by two networks counts in each)
  COUNT(*) FILTER (WHERE r.ald) AS newly_reattached_ald -- of whom with a long-term condition (ALD)
FROM intermediate.int_reattachments AS r
JOIN intermediate.int_ages AS b
  ON b.age = YEAR(r.declared_on) - r.birth_year
GROUP BY ALL
