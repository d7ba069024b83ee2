"""The centres' own published figures: what carnet's headlines report, and what the demo's
generator is calibrated to reproduce exactly at scale 1."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedFigure:
    label: str
    scope: str          # a network_id or a centre_id
    metric: str         # consultations | home_visits | reattached
    year: int | None    # None: since opening
    until: dt.date | None
    value: int


PUBLISHED = (
    PublishedFigure("Saône-et-Loire, consultations in 2022", "cd71", "consultations", 2022, None, 120_000),
    PublishedFigure("Saône-et-Loire, home visits in 2022", "cd71", "home_visits", 2022, None, 5_000),
    PublishedFigure("Mazingarbe, consultations in 2022", "620000014", "consultations", 2022, None, 7_600),
    PublishedFigure("Ajain, consultations since opening", "230000016", "consultations", None, None, 8_200),
    PublishedFigure("Ajain, re-attached patients", "230000016", "reattached", None, None, 1_800),
    PublishedFigure("Corrèze, re-attached since 2019", "cd19", "reattached", None, None, 7_200),
    PublishedFigure("Nord, re-attached by end of January 2024", "590000018", "reattached", None,
                    dt.date(2024, 1, 31), 500),
    PublishedFigure("Saône-et-Loire, re-attached since 2017", "cd71", "reattached", None, None, 30_000),
)
