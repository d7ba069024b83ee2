MODEL (
  name staging.stg_gp_declarations,
  kind FULL,
  grain declaration_key,
  description 'One row per médecin traitant declaration (centre, patient, date, GP): the latest version recorded on or before the as-of time.',
  audits (unique_combination_of_columns(columns := (declaration_key)), not_null(columns := (declaration_key, patient_pseudonym, declared_on)))
);

SELECT
  business_key AS declaration_key, -- centre|patient|date|GP
  centre_id, -- FINESS of the centre
  patient_pseudonym, -- keyed pseudonym of the patient (never a NIR)
  CAST(declared_on AS DATE) AS declared_on, -- date of the declaration
  gp_rpps, -- RPPS of the GP declared
  previous_situation, -- none | other_gp | unknown
  CAST(ended_on AS DATE) AS ended_on, -- end of the declaration, NULL while in force
  CAST(ald AS BOOLEAN) AS ald, -- long-term condition when declaring
  CAST(birth_year AS INT) AS birth_year, -- patient's year of birth
  sex, -- M | F
  residence_insee, -- INSEE code of the commune of residence
  CAST(recorded_at AS TIMESTAMP) AS recorded_at, -- extraction time of the version kept
  CAST(event_id AS BIGINT) AS event_id -- position of that version in the log
FROM log.gp_declarations
WHERE
  event_type = 'gp_declared'
  AND event_id IN @latest_versions(gp_declarations, 'gp_declared', @VAR('heads_are_latest'), @VAR('as_of'), @VAR('log_position'))
  /* patients who objected to the use of their data (right to object) */
  AND COALESCE(patient_pseudonym, '') NOT IN (SELECT pseudonym FROM vault.excluded_pseudonyms)
