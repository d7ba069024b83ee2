MODEL (
  name intermediate.int_ages,
  kind FULL,
  grain age,
  description 'One row per age in whole years, with its band. The yearly tables find a band by equality: a range join of every act against the bands cost twice as much.',
  audits (unique_combination_of_columns(columns := (age)), not_null(columns := (age, age_band)))
);

SELECT
  CAST(age AS INT) AS age, -- age in whole years (event year - birth year)
  age_band -- the band that contains it
FROM (SELECT unnest(generate_series(min_age, max_age)) AS age, age_band FROM seeds.age_bands)
