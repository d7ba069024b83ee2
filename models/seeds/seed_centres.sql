MODEL (
  name seeds.centres,
  kind SEED (path '../../seeds/centres.csv'),
  grain centre_id,
  description 'The registry of centres: one row per centre, with its network (operator), opening date, model, dialect and sites.',
  columns (
    centre_id TEXT, centre_name TEXT, network_id TEXT, network_name TEXT, operator_kind TEXT,
    department_code TEXT, commune_insee TEXT, opened_on DATE, "model" TEXT, "dialect" TEXT,
    gps INT, nurses INT, sites TEXT, note TEXT
  )
);
