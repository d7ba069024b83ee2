MODEL (
  name intermediate.int_sites,
  kind FULL,
  grain (centre_id, site_code),
  description 'One row per site (antenna) of a centre, from the registry.'
);

SELECT
  centre_id, -- FINESS of the centre
  split_part(site, ':', 1) AS site_code, -- the site code used in exports
  split_part(site, ':', 2) AS commune_insee -- INSEE code of the site's commune
FROM (SELECT centre_id, unnest(string_split(sites, '|')) AS site FROM seeds.centres)
