MODEL (
  name intermediate.int_reattachments,
  kind FULL,
  grain (network_id, patient_pseudonym),
  description 'One row per patient and network: the first declaration to a GP of the network made with no previous médecin traitant. Later such declarations in the same network (another antenna or centre) do not count again.',
  audits (unique_combination_of_columns(columns := (network_id, patient_pseudonym)))
);

SELECT
  c.network_id, -- the operator
  d.patient_pseudonym, -- keyed pseudonym
  d.centre_id, -- centre of the first declaration with no previous GP
  d.declared_on, -- its date
  CAST(date_trunc('month', d.declared_on) AS DATE) AS month, -- its month
  d.ald, -- the patient had a long-term condition when declaring
  d.birth_year, -- year of birth
  d.sex, -- M | F
  d.residence_insee, -- commune of residence as sent
  COALESCE(g.commune_insee, d.residence_insee) AS residence_commune_insee, -- current commune of residence (INSEE COG): a former or delegated code counts in the commune it belongs to now
  COALESCE(g.department_code, @department_of_code(d.residence_insee)) AS residence_department_code, -- its département
  NULLIF(g.epci_code, '') AS residence_epci_code -- its EPCI (SIREN), NULL outside any EPCI
FROM staging.stg_gp_declarations AS d
JOIN seeds.centres AS c
  ON c.centre_id = d.centre_id
LEFT JOIN seeds.commune_codes AS g
  ON g.code = d.residence_insee
WHERE
  d.previous_situation = 'none'
QUALIFY
  ROW_NUMBER() OVER (PARTITION BY c.network_id, d.patient_pseudonym ORDER BY d.declared_on, d.event_id) = 1
