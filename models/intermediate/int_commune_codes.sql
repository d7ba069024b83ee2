MODEL (
  name intermediate.int_commune_codes,
  kind FULL,
  grain code,
  description 'One row per INSEE code a centre may send for a commune of residence (current, district, delegated, associated or former code): the current commune it stands for in the official geography (INSEE COG 2026), with that commune''s département, EPCI and région. Residents are placed through it, so a former code counts in the commune it merged into.',
  audits (
    unique_combination_of_columns(columns := (code)),
    not_null(columns := (code, relation, commune_insee, department_code, region_code))
  )
);

SELECT
  k.code, -- the code as a centre sends it
  k.relation, -- current | municipal_district | delegated | associated | former
  c.commune_insee, -- the current commune it stands for
  c.department_code, -- that commune's département
  NULLIF(c.epci_code, '') AS epci_code, -- its EPCI (SIREN), NULL for a commune in no EPCI
  c.region_code -- its région
FROM seeds.commune_codes AS k
JOIN seeds.communes AS c
  ON c.commune_insee = k.commune_insee
