"""The headline figures users ask for, read from the marts (one query per published figure)."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipelines.published_figures import PUBLISHED, PublishedFigure


@dataclass(frozen=True)
class Headline:
    figure: PublishedFigure
    computed: int | None


def _scope(fig: PublishedFigure) -> tuple[str, str]:
    return ("network_id", fig.scope) if not fig.scope.isdigit() else ("centre_id", fig.scope)


def compute(conn: duckdb.DuckDBPyConnection, fig: PublishedFigure) -> int | None:
    column, value = _scope(fig)  # column names are ours, values are bound
    if fig.metric in ("consultations", "home_visits"):
        sql = (f"SELECT sum({fig.metric}) FROM marts.cost_per_consultation_monthly WHERE {column} = ?"
               + (" AND year(month) = ?" if fig.year else ""))
        params = [value] + ([fig.year] if fig.year else [])
    else:
        sql = f"SELECT sum(newly_reattached) FROM marts.gp_reattachment_monthly WHERE {column} = ?"
        params = [value]
        if fig.until:
            sql += " AND month <= ?"
            params.append(fig.until)
    result = conn.execute(sql, params).fetchone()[0]
    return int(result) if result is not None else None


def headlines(conn: duckdb.DuckDBPyConnection) -> list[Headline]:
    return [Headline(fig, compute(conn, fig)) for fig in PUBLISHED]


def render(rows: list[Headline], scale: float = 1.0) -> str:
    lines = ["| published figure | published | carnet computes |", "|---|---:|---:|"]
    for h in rows:
        expected = int(round(h.figure.value * scale))
        computed = f"{h.computed:,}" if h.computed is not None else "—"
        lines.append(f"| {h.figure.label} | {expected:,} | {computed} |")
    return "\n".join(lines)
