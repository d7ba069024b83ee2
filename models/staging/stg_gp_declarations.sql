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
  p.patient_pseudonym AS patient_pseudonym, -- keyed pseudonym of the patient (never a NIR)
  CAST(p.declared_on AS DATE) AS declared_on, -- date of the declaration
  p.gp_rpps AS gp_rpps, -- RPPS of the GP declared
  p.previous_situation AS previous_situation, -- none | other_gp | unknown
  CAST(p.ended_on AS DATE) AS ended_on, -- end of the declaration, NULL while in force
  CAST(p.ald AS BOOLEAN) AS ald, -- long-term condition when declaring
  CAST(p.birth_year AS INT) AS birth_year, -- patient's year of birth
  p.sex AS sex, -- M | F
  p.residence_insee AS residence_insee, -- INSEE code of the commune of residence
  recorded_at, -- extraction time of the version kept
  event_id -- position of that version in the log
FROM (
  /* the payload parsed once per row (one ->> per field would parse it again for each) */
  SELECT
    business_key, centre_id, recorded_at, event_id,
    JSON_TRANSFORM(payload, '{"patient_pseudonym": "VARCHAR", "declared_on": "VARCHAR", "gp_rpps": "VARCHAR",
      "previous_situation": "VARCHAR", "ended_on": "VARCHAR", "ald": "VARCHAR", "birth_year": "VARCHAR",
      "sex": "VARCHAR", "residence_insee": "VARCHAR"}') AS p
  FROM events.log.events
  WHERE
    event_type = 'gp_declared'
    AND event_id IN @latest_versions('gp_declared', @VAR('heads_are_latest'), @VAR('as_of'), @VAR('log_position'))
) AS e
WHERE
  /* patients who objected to the use of their data (right to object) */
  COALESCE(p.patient_pseudonym, '') NOT IN (SELECT pseudonym FROM events.vault.excluded_pseudonyms)
