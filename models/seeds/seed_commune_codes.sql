MODEL (
  name seeds.commune_codes,
  kind SEED (path '../../seeds/commune_codes.csv', csv_settings (keep_default_na = false)),
  grain code,
  description 'Every INSEE code a centre may send for a commune of residence, INSEE COG 2026: one row per code, with how it stands for a commune of today (current, municipal_district of Paris, Lyon or Marseille, delegated, associated, former code of a merged commune), that commune, and its département, EPCI (SIREN; empty for the few communes in no EPCI) and région. Residents are placed through it, so a former code counts in the commune it merged into. Source: @etalab/decoupage-administratif 6.0.0, Licence Ouverte 2.0; rebuilt by scripts/build_geography_seeds.py, which checks every code stands for a current commune.',
  columns (code TEXT, relation TEXT, commune_insee TEXT, department_code TEXT, epci_code TEXT, region_code TEXT)
);
