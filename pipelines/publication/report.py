"""The release report: one self-contained HTML page a councillor can read, in French.

It is drawn from the published tables only (never from the warehouse), so it can show nothing
that secrecy withheld. The charts are SVG written into the page when the release is built
(matplotlib, text kept as text): the page has no script, needs no network and reads the same
with scripts off, from a USB stick, or printed. Matplotlib rather than a browser-side library
for that reason, and rather than Altair/vl-convert because it needs no JavaScript engine at
build time. The output is a pure function of the tables and the release identity (byte-for-byte
rebuilds: fixed SVG ids, no date in the SVG metadata).
"""
from __future__ import annotations

import html
import io
import math
import unicodedata
from decimal import Decimal

import polars as pl

from pipelines import geography

_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"]
_SHORT_MONTHS = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."]
# Distinct colours for up to eight lines in a panel (Okabe-Ito, readable by most colour-blind readers).
_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
_ACT_KINDS = (("consultations", "Consultations", "#0072B2"), ("home_visits", "Visites à domicile", "#E69F00"),
              ("teleconsultations", "Téléconsultations", "#009E73"))


def fr_int(n: int | None) -> str:
    return "—" if n is None else f"{int(n):,}".replace(",", "\u202f")


def fr_eur(x: Decimal | float | None) -> str:
    if x is None:
        return "—"
    whole, cents = f"{Decimal(x).quantize(Decimal('0.01')):,.2f}".split(".")
    return f"{whole.replace(',', chr(0x202f))},{cents}\u00a0€"


def headlines(tables: dict[str, pl.DataFrame]) -> dict[str, str]:
    """The headline figures, in words, from the published tables."""
    costs, centres = tables["cost_per_consultation"], tables["reattachment_by_centre"]
    out: dict[str, str] = {}
    published = centres.filter(pl.col("cumulative_reattached").is_not_null())
    if published.height:
        latest = published.sort("month").group_by("centre_id", maintain_order=True).last()
        total = int(latest["cumulative_reattached"].sum())
        until = centres["month"].max()
        out["reattached"] = (f"Depuis leur ouverture et jusqu'à fin {_MONTHS[until.month - 1]} {until.year}, au moins "
                             f"{fr_int(total)} patients ont retrouvé un médecin traitant dans les "
                             f"{latest.height} centres.")
    if costs.height:
        year = int(costs["year"].max())
        last = costs.filter(pl.col("year") == year)
        kinds = [int(last[c].sum()) for c in ("consultations", "home_visits", "teleconsultations")]
        until = centres["month"].max() if centres.height else None
        partial = f" (de janvier à {_MONTHS[until.month - 1]})" if until is not None and until.year == year \
            and until.month < 12 else ""
        out["activity"] = (f"En {year}{partial}, les centres ont réalisé {fr_int(sum(kinds))} actes : "
                           f"{fr_int(kinds[0])} consultations, {fr_int(kinds[1])} visites à domicile et "
                           f"{fr_int(kinds[2])} téléconsultations.")
        priced = last.filter(pl.col("acts_completed") > 0)  # rows whose act count is published
        acts = int(priced["acts_completed"].sum())
        if acts:
            cost = Decimal(priced["operating_cost_eur"].sum())
            net = cost - Decimal(priced["insurance_revenue_eur"].sum()) - Decimal(priced["other_income_eur"].sum())
            out["cost"] = (f"Une consultation leur a coûté en moyenne {fr_eur(cost / acts)}, soit {fr_eur(net / acts)} "
                           f"une fois déduits les remboursements de l'Assurance maladie et les autres recettes.")
    return out




def _fr_datetime(value: str | None) -> str:
    """'2025-01-01 03:00:00' as a French reader writes it: 1er janvier 2025 à 03 h 00."""
    if not value:
        return "—"
    import datetime as dt

    t = dt.datetime.fromisoformat(str(value))
    day = "1er" if t.day == 1 else str(t.day)
    return f"{day} {_MONTHS[t.month - 1]} {t.year} à {t:%H} h {t:%M}"


def _short_name(name: str) -> str:
    """A centre's name without its operator's prefix: what sets it apart in a legend."""
    for sep in (" - ", " – "):
        if sep in name:
            return name.split(sep)[-1]
    return name


def _axis_int(ax, axis="y") -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=3))
    target.set_major_formatter(FuncFormatter(lambda v, _: fr_int(v) if float(v).is_integer() else f"{v:g}"))


def _month_axis(ax) -> None:
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_locator(mdates.YearLocator(base=2))  # a label every other January: they fit a panel
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda v, _: f"{_SHORT_MONTHS[mdates.num2date(v).month - 1]} {mdates.num2date(v).year}"))


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    text = out.getvalue()
    return text[text.index("<svg"):]  # inline in the page: no XML prologue


def _style():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({
        "svg.hashsalt": "carnet-report", "svg.fonttype": "none", "font.family": "sans-serif",
        "font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 10,
        "axes.titleweight": "bold", "axes.grid": True, "grid.color": "#e4e4e4", "axes.axisbelow": True,
        "legend.frameon": False, "legend.fontsize": 8})


def _cumulative_panels(centres: pl.DataFrame) -> str | None:
    """One panel per network, one line per centre: patients re-attached since opening."""
    import matplotlib.pyplot as plt

    from pipelines.registry import load_registry

    published = centres.filter(pl.col("cumulative_reattached").is_not_null())
    if not published.height:
        return None
    network_names = {c.network_id: c.network_name for c in load_registry() if c.network_name}
    largest = published.group_by("network_id").agg(pl.col("cumulative_reattached").max().alias("top"))
    networks = largest.sort(["top", "network_id"], descending=[True, False])["network_id"].to_list()
    cols = 2
    rows = math.ceil(len(networks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(8.2, 2.5 * rows), squeeze=False)
    first, last = centres["month"].min(), centres["month"].max()
    for ax, network in zip(axes.flat, networks):
        frame = centres.filter(pl.col("network_id") == network).sort("centre_id", "month")
        for i, ((centre_id,), rows_) in enumerate(frame.group_by(["centre_id"], maintain_order=True)):
            values = [math.nan if v is None else v for v in rows_["cumulative_reattached"]]  # withheld: a gap
            ax.plot(rows_["month"].to_list(), values, color=_COLOURS[i % len(_COLOURS)], linewidth=1.6,
                    label=_short_name(rows_["centre_name"][0]), gid=f"series-{centre_id}")
        ax.set_title(network_names.get(network, network), loc="left")
        ax.set_ylim(bottom=0)
        ax.set_xlim(first, last)
        ax.set_ylabel("patients (cumul)")
        _axis_int(ax)
        _month_axis(ax)
        ax.legend(loc="upper left", ncol=1 if frame["centre_id"].n_unique() <= 4 else 2)
    for ax in list(axes.flat)[len(networks):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _svg(fig)


def _activity_bars(costs: pl.DataFrame) -> str | None:
    """Completed acts per year, stacked by kind of act."""
    import matplotlib.pyplot as plt

    by_year = costs.group_by("year").agg(pl.col(c).fill_null(0).sum() for c, _, _ in _ACT_KINDS).sort("year")
    if not by_year.height:
        return None
    fig, ax = plt.subplots(figsize=(8.2, 3.2))
    years = [str(y) for y in by_year["year"]]
    base = [0] * len(years)
    for column, label, colour in _ACT_KINDS:
        values = [int(v) for v in by_year[column]]
        ax.bar(years, values, bottom=base, color=colour, label=label, width=0.6, gid=f"bars-{column}")
        base = [b + v for b, v in zip(base, values)]
    ax.set_ylabel("actes réalisés")
    ax.set_xlabel("année")
    ax.set_ylim(0, max(base) * 1.08 if max(base) else 1)
    ax.axhline(0, color="#333", linewidth=0.8)
    _axis_int(ax)
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper left")
    return _svg(fig)


def _cost_bars(costs: pl.DataFrame, year: int) -> str | None:
    """Gross and net cost of a consultation per centre in one year, a zero line between them."""
    import matplotlib.pyplot as plt

    last = costs.filter((pl.col("year") == year) & pl.col("cost_per_consultation_eur").is_not_null())
    if not last.height:
        return None
    last = last.sort(["cost_per_consultation_eur", "centre_id"])
    names = [_short_name(n) for n in last["centre_name"]]
    gross = [float(v) for v in last["cost_per_consultation_eur"]]
    net = [float(v) if v is not None else math.nan for v in last["net_cost_per_consultation_eur"]]
    fig, ax = plt.subplots(figsize=(8.2, 0.42 * len(names) + 1.2))
    positions = range(len(names))
    ax.barh([p + 0.2 for p in positions], gross, height=0.38, color="#0072B2", label="coût brut", gid="bars-gross")
    ax.barh([p - 0.2 for p in positions], net, height=0.38, color="#D55E00",
            label="coût net (après remboursements et recettes)", gid="bars-net")
    ax.set_yticks(list(positions), names)
    ax.axvline(0, color="#333", linewidth=0.9)
    ax.set_xlabel(f"euros par acte réalisé, {year}")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    return _svg(fig)


def _fr_decimal(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def _sort_key(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", name.casefold()) if not unicodedata.combining(c))


def _last_full_year(territory: pl.DataFrame, until) -> int | None:
    """The latest year the data covers to December (the year in progress would read as a fall)."""
    years = sorted(set(territory["year"].to_list()))
    if until is not None and until.month < 12:
        years = [y for y in years if y < until.year]
    return years[-1] if years else None


def _territory_table(territory: pl.DataFrame, level: str, year: int, table_id: str) -> str | None:
    """Per-inhabitant figures of one level in one year, a row per territory with residents counted."""
    rows = territory.filter((pl.col("level") == level) & (pl.col("year") == year))
    if level == "departement":  # in the order of their codes, as French readers list them
        rows = rows.sort("territory_code")
    else:  # by name, accents aside (Côte before Creuse)
        rows = rows.with_columns(_key=pl.col("territory_name").fill_null(pl.col("territory_code")).map_elements(
            _sort_key, return_dtype=pl.Utf8)).sort(["_key", "territory_code"]).drop("_key")
    if not rows.height:
        return None
    head = ("<tr><th scope=\"col\">Territoire</th><th scope=\"col\">Habitants</th>"
            "<th scope=\"col\">Patients ayant retrouvé un médecin traitant, pour 10\u202f000 habitants</th>"
            "<th scope=\"col\">Actes réalisés, pour 10\u202f000 habitants</th>"
            "<th scope=\"col\">Habitants suivis par un médecin d'un centre au 31 décembre, en %</th></tr>")
    body = []
    for r in rows.iter_rows(named=True):
        share = None if r["attached_share_of_population"] is None else 100 * r["attached_share_of_population"]
        name = r["territory_name"] or r["territory_code"]
        if level == "departement":
            name = f"{name} ({r['territory_code']})"
        body.append(f"<tr><th scope=\"row\">{html.escape(name)}</th><td>{fr_int(r['population'])}</td>"
                    f"<td>{_fr_decimal(r['reattached_per_10000'])}</td><td>{_fr_decimal(r['acts_per_10000'], 0)}</td>"
                    f"<td>{_fr_decimal(share, 2)}</td></tr>")
    return (f'<table id="{table_id}" class="territory"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>')


def _territory_section(territory: pl.DataFrame, until) -> str:
    year = _last_full_year(territory, until)
    if year is None:
        return "<p>Pas de donnée publiée.</p>"
    departments = _territory_table(territory, "departement", year, "territory-departements")
    epci = _territory_table(territory, "epci", year, "territory-epci")
    return (f"<p>Où vivent les patients des centres, rapporté au nombre d'habitants, en {year} : par département "
            "puis par intercommunalité (EPCI) de résidence. Population légale en vigueur au 1er janvier "
            f"{geography.VINTAGE_YEAR} (Insee, Code officiel géographique {geography.VINTAGE_YEAR}). Un tiret "
            "signale un chiffre retenu par le secret "
            "statistique.</p>\n<h3>Par département de résidence</h3>\n"
            + (departments or "<p>Pas de donnée publiée.</p>")
            + "\n<h3>Par intercommunalité de résidence</h3>\n" + (epci or "<p>Pas de donnée publiée.</p>"))


def _figure(svg: str | None, caption: str, figure_id: str) -> str:
    body = svg if svg is not None else "<p>Pas de donnée publiée.</p>"
    return f'<figure id="{figure_id}" class="chart">{body}<figcaption>{html.escape(caption)}</figcaption></figure>'


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em} h2{font-size:1.2em;margin-top:2em} .lead p{font-size:1.1em}
figure{margin:0} figure svg{width:100%;height:auto} figcaption{font-size:.9em;color:#444;margin-top:.3em}
.note{font-size:.85em;color:#555}
table.territory{border-collapse:collapse;font-size:.9em;width:100%} table.territory th,table.territory td{padding:.25em .5em;border-bottom:1px solid #ddd}
table.territory td{text-align:right;font-variant-numeric:tabular-nums} table.territory thead th{text-align:right;vertical-align:bottom}
table.territory th[scope=row],table.territory thead th:first-child{text-align:left;font-weight:normal}
"""


def render(tables: dict[str, pl.DataFrame], release: dict) -> str:
    _style()
    words = headlines(tables)
    costs, centres = tables["cost_per_consultation"], tables["reattachment_by_centre"]
    threshold = release["secrecy"]["threshold"]
    lead = "\n".join(f'<p class="headline" id="headline-{k}">{html.escape(v)}</p>' for k, v in words.items())
    cost_year = int(costs.filter(pl.col("cost_per_consultation_eur").is_not_null())["year"].max()) \
        if costs.filter(pl.col("cost_per_consultation_eur").is_not_null()).height else None
    until = centres["month"].max() if centres.height else None
    figures = [
        ("Patients ayant retrouvé un médecin traitant", _figure(
            _cumulative_panels(centres),
            "Nombre cumulé de patients qui ont déclaré un médecin traitant d'un centre alors qu'ils n'en avaient "
            "pas, depuis l'ouverture de chaque centre"
            + (f", jusqu'à fin {_MONTHS[until.month - 1]} {until.year}" if until else "")
            + ". Un graphique par réseau (l'opérateur : département, commune, association), une courbe par centre ; "
              "une interruption de courbe signale un effectif retenu par le secret statistique.",
            "chart-reattached")),
        ("Activité par type d'acte", _figure(
            _activity_bars(costs),
            "Actes réalisés chaque année par l'ensemble des centres (consultations, visites à domicile, "
            "téléconsultations) ; les actes annulés et les patients absents ne sont pas comptés.",
            "chart-activity")),
        ("Coût d'une consultation", _figure(
            _cost_bars(costs, cost_year) if cost_year else None,
            f"Coût d'un acte réalisé par centre en {cost_year} : en bleu, les charges du centre divisées par le "
            "nombre d'actes ; en orange, ce qu'il reste après les remboursements de l'Assurance maladie et les "
            "autres recettes (loyers perçus, subventions). Un coût net sous zéro signifie que les recettes "
            "dépassent les charges." if cost_year else "Aucun coût publié.",
            "chart-cost")),
    ]
    figures.append(("Pour 10\u202f000 habitants, par territoire de résidence",
                    _territory_section(tables["territory_indicators"], until)))
    sections = "\n".join(f"<h2>{html.escape(title)}</h2>\n{figure}" for title, figure in figures)
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Centres de santé — publication {html.escape(release['release_id'])}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Centres de santé : patients et coûts</h1>
<p class="note">Publication {html.escape(release['release_id'])} — données des centres enregistrées jusqu'au
{html.escape(_fr_datetime(release['log']['recorded_until']))}.</p>
<section class="lead">{lead}</section>
{sections}
<p class="note">Secret statistique : un effectif de moins de {threshold} patients n'est pas publié, ni une valeur qui
permettrait de le retrouver par différence. Un patient compte une fois par réseau de centres. Le coût net déduit
les remboursements de l'Assurance maladie (tarifs NGAP en vigueur) et les autres recettes (loyers perçus,
subventions).</p>
</body></html>
"""
