MODEL (
  name seeds.regions,
  kind SEED (path '../../seeds/regions.csv'),
  grain region_code,
  description 'Régions, INSEE COG 2026: one row per région, with its name. Source: @etalab/decoupage-administratif 6.0.0, Licence Ouverte 2.0.',
  columns (region_code TEXT, region_name TEXT),
  audits (unique_combination_of_columns(columns := (region_code)))
);
