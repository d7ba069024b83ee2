MODEL (
  name seeds.age_bands,
  kind SEED (path '../../seeds/age_bands.csv'),
  grain age_band,
  description 'Age bands of the observatory tables: one row per band, ages in whole years (event year - birth year), bounds included.',
  columns (age_band TEXT, min_age INT, max_age INT)
);
