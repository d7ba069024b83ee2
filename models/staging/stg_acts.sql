MODEL (
  name staging.stg_@{feed},
  blueprints (
    (feed := consultations, event_type := 'consultation_recorded'),
    (feed := home_visits, event_type := 'home_visit_recorded'),
    (feed := teleconsultations, event_type := 'teleconsultation_recorded')
  ),
  kind INCREMENTAL_BY_TIME_RANGE (time_column occurred_at),
  grain act_key,
  description 'One row per act of the @{feed} feed (centre, act id): the latest version (by recorded time) recorded on or before the as-of time. Renamed and typed, nothing else. Incremental by act time: a refresh restates only the days its new events touch.',
  audits (unique_values(columns := (act_key)), not_null(columns := (act_key, centre_id, occurred_at, status)))
);

SELECT
  business_key AS act_key, -- centre|feed|act id
  centre_id, -- FINESS of the centre
  payload ->> 'act_id' AS act_id, -- the centre software's id of the act
  CAST(payload ->> 'occurred_at' AS TIMESTAMP) AS occurred_at, -- when the act took place, local time Europe/Paris
  payload ->> 'site_code' AS site_code, -- the site (antenna) code
  payload ->> 'practitioner_rpps' AS practitioner_rpps, -- RPPS of the GP or nurse
  payload ->> 'patient_pseudonym' AS patient_pseudonym, -- keyed pseudonym of the patient (never a NIR)
  CAST(payload ->> 'birth_year' AS INT) AS birth_year, -- patient's year of birth
  payload ->> 'sex' AS sex, -- M | F
  payload ->> 'residence_insee' AS residence_insee, -- INSEE code of the commune of residence
  payload ->> 'act_code' AS act_code, -- NGAP code
  CAST(payload ->> 'amount_eur' AS DECIMAL(18, 2)) AS billed_eur, -- amount billed to the insurance, euros
  payload ->> 'status' AS status, -- completed | cancelled | no_show
  CAST(payload ->> 'ald' AS BOOLEAN) AS ald, -- long-term condition
  CAST(payload ->> 'distance_km' AS DECIMAL(9, 1)) AS distance_km, -- home visits: distance travelled, km (NULL otherwise)
  payload ->> 'mode' AS mode, -- teleconsultations: video | telephone (NULL otherwise)
  recorded_at, -- extraction time of the version kept
  event_id -- position of that version in the log
FROM events.log.events
WHERE
  event_id IN (
    /* the latest version of every act with a version in the interval (its act time may have moved) */
    SELECT event_id FROM events.log.events
    WHERE event_type = @event_type AND recorded_at <= CAST(@VAR('as_of') AS TIMESTAMP) AND event_id <= CAST(@VAR('log_position') AS BIGINT)
      AND business_key IN (
        SELECT business_key FROM events.log.events
        WHERE event_type = @event_type AND occurred_at BETWEEN @start_ts AND @end_ts
      )
    QUALIFY ROW_NUMBER() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1
  )
  AND occurred_at BETWEEN @start_ts AND @end_ts
  /* patients who objected to the use of their data (right to object) */
  AND COALESCE(payload ->> 'patient_pseudonym', '') NOT IN (SELECT pseudonym FROM events.vault.excluded_pseudonyms)
