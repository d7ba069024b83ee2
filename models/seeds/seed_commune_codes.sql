MODEL (
  name seeds.commune_codes,
  kind SEED (path '../../seeds/commune_codes.csv'),
  grain code,
  description 'Every INSEE code a centre may send for a commune of residence, INSEE COG 2026: one row per code, with the current commune it stands for and how (current, municipal_district of Paris, Lyon or Marseille, delegated, associated, former code of a merged commune). Source: @etalab/decoupage-administratif 6.0.0, Licence Ouverte 2.0.',
  columns (code TEXT, commune_insee TEXT, relation TEXT),
  audits (unique_combination_of_columns(columns := (code)), not_null(columns := (code, commune_insee, relation)))
);
