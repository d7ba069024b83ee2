MODEL (
  name publication.residents_territory_yearly,
  kind FULL,
  grain (level, territory_code, year),
  description 'Residents per territory, before secrecy: one row per territorial level (departement, epci; and departement_epci, the part of a département in one EPCI or in none, for secrecy only), territory of residence (INSEE COG 2026, a former commune code placed in the commune it merged into) and year with residents counted. Patients re-attached (once per network, as in residents_reattachment_yearly), completed acts and the distinct patients behind them, patients with a médecin traitant declaration in force on 31 December (for the year in progress, the declarations in force as the log stands), and the legal population in force on 1 January 2026. Not published as such: carnet.publication applies statistical secrecy and computes the rates.',
  audits (
    unique_combination_of_columns(columns := (level, territory_code, year)),
    not_null(columns := (level, territory_code, year, newly_reattached, acts_completed, act_patients, attached_at_year_end)),
    accepted_values(column := level, is_in := ('departement', 'epci', 'departement_epci'))
  )
);

WITH acts AS (
  SELECT
    YEAR(a.occurred_at) AS year,
    a.residence_department_code AS department_code,
    a.residence_epci_code AS epci_code,
    a.patient_pseudonym
  FROM intermediate.int_acts AS a
  WHERE
    a.status = 'completed'
), reattachments AS (
  SELECT
    YEAR(r.declared_on) AS year,
    r.residence_department_code AS department_code,
    r.residence_epci_code AS epci_code
  FROM intermediate.int_reattachments AS r
), years AS (
  SELECT DISTINCT year FROM acts
  UNION
  SELECT DISTINCT year FROM reattachments
), in_force AS (
  /* declarations in force on 31 December: declared on or before, not ended before */
  SELECT
    y.year,
    COALESCE(g.department_code, @department_of_code(d.residence_insee)) AS department_code,
    NULLIF(g.epci_code, '') AS epci_code,
    d.patient_pseudonym
  FROM staging.stg_gp_declarations AS d
  JOIN years AS y
    ON d.declared_on <= MAKE_DATE(y.year, 12, 31)
    AND (d.ended_on IS NULL OR d.ended_on >= MAKE_DATE(y.year, 12, 31))
  LEFT JOIN seeds.commune_codes AS g
    ON g.code = d.residence_insee
), counted AS (
  /* grouped by name: Spark reads a constant integer column of an implicit grouping as a position */
  SELECT 'departement' AS level, department_code AS territory_code, year, 0 AS newly_reattached, COUNT(*) AS acts_completed,
         COUNT(DISTINCT patient_pseudonym) AS act_patients, 0 AS attached_at_year_end
  FROM acts GROUP BY department_code, year
  UNION ALL
  SELECT 'epci', epci_code, year, 0, COUNT(*), COUNT(DISTINCT patient_pseudonym), 0
  FROM acts WHERE epci_code IS NOT NULL GROUP BY epci_code, year
  UNION ALL
  SELECT 'departement', department_code, year, COUNT(*), 0, 0, 0 FROM reattachments GROUP BY department_code, year
  UNION ALL
  SELECT 'epci', epci_code, year, COUNT(*), 0, 0, 0 FROM reattachments WHERE epci_code IS NOT NULL GROUP BY epci_code, year
  UNION ALL
  SELECT 'departement', department_code, year, 0, 0, 0, COUNT(DISTINCT patient_pseudonym) FROM in_force GROUP BY department_code, year
  UNION ALL
  SELECT 'epci', epci_code, year, 0, 0, 0, COUNT(DISTINCT patient_pseudonym) FROM in_force WHERE epci_code IS NOT NULL GROUP BY epci_code, year
  UNION ALL
  /* the part of a département in one EPCI (or in none): never published; secrecy relates a
     département's and its EPCIs' patients through these parts */
  SELECT 'departement_epci', department_code || '|' || COALESCE(epci_code, ''), year, 0, 0, 0,
         COUNT(DISTINCT patient_pseudonym)
  FROM in_force GROUP BY department_code, epci_code, year
), population AS (
  SELECT 'departement' AS level, department_code AS territory_code, SUM(CAST(population AS BIGINT)) AS population
  FROM seeds.communes GROUP BY department_code
  UNION ALL
  SELECT 'epci', epci_code, SUM(CAST(population AS BIGINT)) FROM seeds.communes WHERE NULLIF(epci_code, '') IS NOT NULL GROUP BY epci_code
)
SELECT
  c.level, -- departement | epci
  c.territory_code, -- INSEE code of the département, SIREN of the EPCI
  CAST(c.year AS INT) AS year, -- calendar year
  CAST(p.population AS BIGINT) AS population, -- legal population in force on 1 January 2026, inhabitants
  CAST(SUM(c.newly_reattached) AS BIGINT) AS newly_reattached, -- patients re-attached that year
  CAST(SUM(c.acts_completed) AS BIGINT) AS acts_completed, -- completed acts that year
  CAST(SUM(c.act_patients) AS BIGINT) AS act_patients, -- distinct patients behind them (for secrecy)
  CAST(SUM(c.attached_at_year_end) AS BIGINT) AS attached_at_year_end -- distinct patients with a declaration in force on 31 December
FROM counted AS c
LEFT JOIN population AS p
  ON p.level = c.level AND p.territory_code = c.territory_code
GROUP BY c.level, c.territory_code, c.year, p.population
