MODEL (
  name seeds.epci,
  kind SEED (path '../../seeds/epci.csv'),
  grain epci_code,
  description 'Intercommunalities with their own taxation (EPCI à fiscalité propre), INSEE COG 2026 / DGCL: one row per EPCI, with its SIREN, name and kind (CC, CA, CU, METRO, MET69). Source: @etalab/decoupage-administratif 6.0.0, Licence Ouverte 2.0.',
  columns (epci_code TEXT, epci_name TEXT, epci_kind TEXT),
  audits (unique_combination_of_columns(columns := (epci_code)))
);
