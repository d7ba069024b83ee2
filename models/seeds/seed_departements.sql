MODEL (
  name seeds.departements,
  kind SEED (path '../../seeds/departements.csv'),
  grain department_code,
  description 'Départements, INSEE COG 2026: one row per département (and overseas collectivity), with its name and région. Source: @etalab/decoupage-administratif 6.0.0, Licence Ouverte 2.0.',
  columns (department_code TEXT, department_name TEXT, region_code TEXT),
  audits (unique_combination_of_columns(columns := (department_code)))
);
