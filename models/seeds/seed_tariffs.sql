MODEL (
  name seeds.tariffs,
  kind SEED (path '../../seeds/tariffs.csv'),
  grain (act_code, valid_from),
  description 'NGAP tariffs: one row per act code and validity period; valid_to empty while in force. amount_eur is a DOUBLE holding an amount to the cent, cast to DECIMAL(18, 2) where it is used (exact for cents): SQLMesh reads seeds with pandas, as floats, and Spark refuses floats in a DECIMAL seed column.',
  columns (act_code TEXT, valid_from DATE, valid_to DATE, amount_eur DOUBLE, note TEXT)
);
