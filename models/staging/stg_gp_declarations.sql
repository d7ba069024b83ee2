MODEL (
  name staging.stg_gp_declarations,
  kind FULL,
  grain declaration_key,
  description 'One row per médecin traitant declaration (centre, patient, date, GP): the latest version recorded on or before the as-of time.',
  audits (unique_values(columns := (declaration_key)), not_null(columns := (declaration_key, patient_pseudonym, declared_on)))
);

SELECT
  business_key AS declaration_key, -- centre|patient|date|GP
  centre_id, -- FINESS of the centre
  payload ->> 'patient_pseudonym' AS patient_pseudonym, -- keyed pseudonym of the patient (never a NIR)
  CAST(payload ->> 'declared_on' AS DATE) AS declared_on, -- date of the declaration
  payload ->> 'gp_rpps' AS gp_rpps, -- RPPS of the GP declared
  payload ->> 'previous_situation' AS previous_situation, -- none | other_gp | unknown
  CAST(payload ->> 'ended_on' AS DATE) AS ended_on, -- end of the declaration, NULL while in force
  CAST(payload ->> 'ald' AS BOOLEAN) AS ald, -- long-term condition when declaring
  CAST(payload ->> 'birth_year' AS INT) AS birth_year, -- patient's year of birth
  payload ->> 'sex' AS sex, -- M | F
  payload ->> 'residence_insee' AS residence_insee, -- INSEE code of the commune of residence
  recorded_at, -- extraction time of the version kept
  event_id -- position of that version in the log
FROM events.log.events
WHERE
  event_type = 'gp_declared' AND recorded_at <= CAST(@VAR('as_of') AS TIMESTAMP) AND event_id <= CAST(@VAR('log_position') AS BIGINT)
  /* patients who objected to the use of their data (right to object) */
  AND COALESCE(payload ->> 'patient_pseudonym', '') NOT IN (SELECT pseudonym FROM events.vault.excluded_pseudonyms)
QUALIFY
  ROW_NUMBER() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1
