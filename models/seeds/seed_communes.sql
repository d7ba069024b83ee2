MODEL (
  name seeds.communes,
  kind SEED (path '../../seeds/communes.csv', csv_settings (keep_default_na = false, na_values = (population = ('')))),
  grain commune_insee,
  description 'The official geography (INSEE COG 2026): one row per current commune, with its name, département, région, arrondissement, EPCI (SIREN; empty for the few communes in no EPCI) and legal population in force on 1 January 2026 (inhabitants; a DOUBLE holding a whole number, cast to BIGINT where it is used: pandas reads a column with empty cells as floats, which Spark refuses in an INT seed column). Source: @etalab/decoupage-administratif 6.0.0, Licence Ouverte 2.0; rebuilt by scripts/build_geography_seeds.py (the test suite checks one row per commune).',
  columns (
    commune_insee TEXT, commune_name TEXT, department_code TEXT, region_code TEXT, arrondissement_code TEXT,
    epci_code TEXT, population DOUBLE
  )
);
