"""The five feeds of the landing contract: their columns in both languages and their events.

One table drives the readers, the parsers, the contracts and the demo generator, so a
column is named in exactly one place.
"""
from __future__ import annotations

from dataclasses import dataclass

ACT_FEEDS = ("consultations", "home_visits", "teleconsultations")
FEEDS = ACT_FEEDS + ("gp_declarations", "costs")


@dataclass(frozen=True)
class Field:
    """One canonical column. `fr` is a tuple when French splits it (date + heure)."""

    name: str
    fr: tuple[str, ...]
    en: str
    kind: str  # text | code | int | decimal | date | month | timestamp | bool | status | situation | sex
    nir: bool = False  # holds a NIR: masked everywhere, replaced by a pseudonym
    scale: int = 0     # decimals: the digits the log keeps after the point (more is refused, never rounded)


def _column(name, fr, en=None, kind="text", nir=False, scale=0):
    fr = (fr,) if isinstance(fr, str) else tuple(fr)
    return Field(name, fr, en or name, kind, nir, scale)


_ACT_COMMON = (
    _column("act_id", "id_acte"),
    _column("occurred_at", ("date", "heure"), kind="timestamp"),
    _column("site_code", "site", kind="code"),
    _column("practitioner_rpps", "rpps"),
    _column("patient_nir", "nir", kind="code", nir=True),
    _column("birth_year", "annee_naissance", kind="int"),
    _column("sex", "sexe", kind="sex"),
    _column("residence_insee", "commune", kind="code"),
    _column("act_code", "code_acte", kind="code"),
    _column("amount_eur", "montant", kind="decimal", scale=2),
    _column("status", "statut", kind="status"),
    _column("ald", "ald", kind="bool"),
)

FIELDS: dict[str, tuple[Field, ...]] = {
    "consultations": _ACT_COMMON,
    "home_visits": _ACT_COMMON + (_column("distance_km", "distance_km", kind="decimal", scale=1),),
    "teleconsultations": _ACT_COMMON + (_column("mode", "mode", kind="code_lower"),),
    "gp_declarations": (
        _column("patient_nir", "nir", kind="code", nir=True),
        _column("declared_on", "date_declaration", kind="date"),
        _column("gp_rpps", "rpps_medecin"),
        _column("previous_situation", "situation_anterieure", kind="situation"),
        _column("ended_on", "date_fin", kind="date"),
        _column("ald", "ald", kind="bool"),
        _column("birth_year", "annee_naissance", kind="int"),
        _column("sex", "sexe", kind="sex"),
        _column("residence_insee", "commune", kind="code"),
    ),
    "costs": (
        _column("month", "mois", kind="month"),
        _column("line", "poste", kind="code_lower"),
        _column("amount_eur", "montant", kind="decimal", scale=2),
    ),
}

# Events are facts that happened: named in the past tense.
EVENT_TYPES = {
    "consultations": "consultation_recorded",
    "home_visits": "home_visit_recorded",
    "teleconsultations": "teleconsultation_recorded",
    "gp_declarations": "gp_declared",
    "costs": "cost_booked",
}

ACT_CODES = {
    "consultations": ("G", "IPA"),
    "home_visits": ("VG",),
    "teleconsultations": ("TCG",),
}
STATUSES = ("completed", "cancelled", "no_show")
SITUATIONS = ("none", "other_gp", "unknown")
TELE_MODES = ("video", "telephone")
CHARGE_LINES = (
    "salaires_medicaux", "salaires_paramedicaux", "salaires_administratifs",
    "indemnites_benevoles", "loyer", "equipement", "informatique", "autres_charges",
)
INCOME_LINES = ("loyers_percus", "subventions")
COST_LINES = CHARGE_LINES + INCOME_LINES


def header_names(feed: str, language: str) -> list[str]:
    """Source column names in file order for a language (`fr` or `en`)."""
    names: list[str] = []
    for f in FIELDS[feed]:
        names.extend(f.fr if language == "fr" else (f.en,))
    return names
