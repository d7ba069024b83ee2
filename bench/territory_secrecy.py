"""What secrecy withholds per territorial level, and how the residents' codes map to today's communes
(prints figures, asserts nothing).

    python bench/territory_secrecy.py HOME     # a home with a published release (e.g. after `carnet demo`)

Reads the published observatory file and the warehouse of HOME: the share of rows withheld in
each residents' table (commune × year × age band [× sex × act type]) and in
territory_indicators per level (EPCI, département), and, from the warehouse, how many residence
codes sent were former, delegated or associated codes, and the communes of today they map to.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    args = parser.parse_args(argv)
    observatory = duckdb.connect(str(args.home / "carnet_observatory.duckdb"), read_only=True)
    print("| table, level | rows | withheld rows | share withheld |")
    print("|---|---:|---:|---:|")
    for label, sql in (
            ("activity_by_territory (commune × year × age × sex × act type)",
             "SELECT COUNT(*), COUNT(*) FILTER (WHERE suppressed) FROM observatory.activity_by_territory"),
            ("reattachment_by_territory (commune × year × age band)",
             "SELECT COUNT(*), COUNT(*) FILTER (WHERE suppressed) FROM observatory.reattachment_by_territory"),
            ("territory_indicators, EPCI × year",
             "SELECT COUNT(*), COUNT(*) FILTER (WHERE suppressed) FROM observatory.territory_indicators "
             "WHERE level = 'epci'"),
            ("territory_indicators, département × year",
             "SELECT COUNT(*), COUNT(*) FILTER (WHERE suppressed) FROM observatory.territory_indicators "
             "WHERE level = 'departement'")):
        rows, withheld = observatory.execute(sql).fetchone()
        print(f"| {label} | {rows:,} | {withheld:,} | {withheld / rows:.1%} |" if rows else f"| {label} | 0 | 0 | – |")
    print()
    print("| territory_indicators measure, level | values withheld / rows |")
    print("|---|---:|")
    for level in ("epci", "departement"):
        for column in ("newly_reattached", "acts_completed", "attached_at_year_end"):
            rows, withheld = observatory.execute(
                f"SELECT COUNT(*), COUNT(*) FILTER (WHERE {column} IS NULL) FROM observatory.territory_indicators "
                "WHERE level = ?", [level]).fetchone()
            print(f"| {column}, {level} | {withheld:,} / {rows:,} |")
    observatory.close()
    warehouse = duckdb.connect(str(args.home / "warehouse.duckdb"), read_only=True)
    sent = warehouse.execute("""
        WITH codes AS (
          SELECT residence_insee FROM intermediate.int_acts
          UNION ALL SELECT residence_insee FROM intermediate.int_reattachments)
        SELECT g.relation, COUNT(DISTINCT c.residence_insee), COUNT(DISTINCT g.commune_insee), COUNT(*)
        FROM codes AS c LEFT JOIN seeds.commune_codes AS g ON g.code = c.residence_insee
        GROUP BY ALL ORDER BY ALL""").fetchall()
    warehouse.close()
    print()
    print("| residence code sent (acts, re-attachments) | distinct codes | communes of today | rows |")
    print("|---|---:|---:|---:|")
    for relation, codes, communes, rows in sent:
        print(f"| {relation or 'not in the geography'} | {codes:,} | {communes:,} | {rows:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
