MODEL (
  name staging.stg_@{feed},
  blueprints (
    (feed := consultations, event_type := 'consultation_recorded'),
    (feed := home_visits, event_type := 'home_visit_recorded'),
    (feed := teleconsultations, event_type := 'teleconsultation_recorded')
  ),
  kind VIEW,
  grain act_key,
  description 'One row per act of the @{feed} feed (centre, act id): the latest version (by recorded time) recorded on or before the as-of time. Renamed and typed, nothing else. A view: intermediate.int_acts is the one copy of the acts (its audits check this grain), and its act-time filter reaches the log through this view, so a refresh reads only the days it restates.'
);

SELECT
  business_key AS act_key, -- centre|feed|act id
  centre_id, -- FINESS of the centre
  act_id, -- the centre software's id of the act
  CAST(occurred_at AS TIMESTAMP) AS occurred_at, -- when the act took place, local time Europe/Paris
  site_code, -- the site (antenna) code
  practitioner_rpps, -- RPPS of the GP or nurse
  patient_pseudonym, -- keyed pseudonym of the patient (never a NIR)
  CAST(birth_year AS INT) AS birth_year, -- patient's year of birth
  sex, -- M | F
  residence_insee, -- INSEE code of the commune of residence
  act_code, -- NGAP code
  CAST(amount_eur AS DECIMAL(18, 2)) AS billed_eur, -- amount billed to the insurance, euros
  status, -- completed | cancelled | no_show
  CAST(ald AS BOOLEAN) AS ald, -- long-term condition
  CAST(distance_km AS DECIMAL(9, 1)) AS distance_km, -- home visits: distance travelled, km (NULL otherwise)
  mode, -- teleconsultations: video | telephone (NULL otherwise)
  CAST(recorded_at AS TIMESTAMP) AS recorded_at, -- extraction time of the version kept
  CAST(event_id AS BIGINT) AS event_id -- position of that version in the log
FROM log.acts
WHERE
  event_type = @event_type
  AND event_id IN @latest_versions(acts, @event_type, @VAR('heads_are_latest'), @VAR('as_of'), @VAR('log_position'))
  /* patients who objected to the use of their data (right to object) */
  AND COALESCE(patient_pseudonym, '') NOT IN (SELECT pseudonym FROM vault.excluded_pseudonyms)
