MODEL (
  name seeds.tariffs,
  kind SEED (path '../../seeds/tariffs.csv'),
  grain (act_code, valid_from),
  description 'NGAP tariffs: one row per act code and validity period; valid_to empty while in force. Euros.',
  columns (act_code TEXT, valid_from DATE, valid_to DATE, amount_eur DECIMAL(18, 2), note TEXT)
);
