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
  p.act_id AS act_id, -- the centre software's id of the act
  CAST(occurred_at AS TIMESTAMP) AS occurred_at, -- when the act took place, local time Europe/Paris (the log's column, equal to the payload's field: a filter on it reaches the log)
  p.site_code AS site_code, -- the site (antenna) code
  p.practitioner_rpps AS practitioner_rpps, -- RPPS of the GP or nurse
  p.patient_pseudonym AS patient_pseudonym, -- keyed pseudonym of the patient (never a NIR)
  CAST(p.birth_year AS INT) AS birth_year, -- patient's year of birth
  p.sex AS sex, -- M | F
  p.residence_insee AS residence_insee, -- INSEE code of the commune of residence
  p.act_code AS act_code, -- NGAP code
  CAST(p.amount_eur AS DECIMAL(18, 2)) AS billed_eur, -- amount billed to the insurance, euros
  p.status AS status, -- completed | cancelled | no_show
  CAST(p.ald AS BOOLEAN) AS ald, -- long-term condition
  CAST(p.distance_km AS DECIMAL(9, 1)) AS distance_km, -- home visits: distance travelled, km (NULL otherwise)
  p.mode AS mode, -- teleconsultations: video | telephone (NULL otherwise)
  recorded_at, -- extraction time of the version kept
  event_id -- position of that version in the log
FROM (
  /* the payload parsed once per row (one ->> per field would parse it again for each) */
  SELECT
    business_key, centre_id, occurred_at, recorded_at, event_id,
    JSON_TRANSFORM(payload, '{"act_id": "VARCHAR", "site_code": "VARCHAR",
      "practitioner_rpps": "VARCHAR", "patient_pseudonym": "VARCHAR", "birth_year": "VARCHAR", "sex": "VARCHAR",
      "residence_insee": "VARCHAR", "act_code": "VARCHAR", "amount_eur": "VARCHAR", "status": "VARCHAR",
      "ald": "VARCHAR", "distance_km": "VARCHAR", "mode": "VARCHAR"}') AS p
  FROM events.log.events
  WHERE
    event_type = @event_type
    AND event_id IN @latest_versions(@event_type, @VAR('heads_are_latest'), @VAR('as_of'), @VAR('log_position'))
) AS e
WHERE
  /* patients who objected to the use of their data (right to object) */
  COALESCE(p.patient_pseudonym, '') NOT IN (SELECT pseudonym FROM events.vault.excluded_pseudonyms)
