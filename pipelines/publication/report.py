"""The release report: one self-contained HTML page a councillor can read, in French.

It is drawn from the published tables only (never from the warehouse), so it can show nothing
that secrecy withheld. The charts are drawn in the browser as SVG by a small inline script
from the data embedded in the page: no network, no library, the page works from a USB stick.
The output is a pure function of the tables and the release identity (byte-for-byte rebuilds).
"""
from __future__ import annotations

import html
import json
from decimal import Decimal

import polars as pl

_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"]


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


def _chart_data(tables: dict[str, pl.DataFrame]) -> dict:
    centres = tables["reattachment_by_centre"].sort(["centre_id", "month"])
    costs = tables["cost_per_consultation"].sort(["centre_id", "year"])
    names = dict(zip(costs["centre_id"], costs["centre_name"])) | dict(zip(centres["centre_id"], centres["centre_name"]))

    def series(frame: pl.DataFrame, x: str, y: str) -> list[dict]:
        out = []
        for (centre_id,), rows in frame.group_by(["centre_id"], maintain_order=True):
            points = [[str(a), None if b is None else float(b)] for a, b in zip(rows[x], rows[y])]
            if any(p[1] is not None for p in points):
                out.append({"name": names[centre_id], "points": points})
        return out

    by_type = costs.group_by("year").agg(pl.col("consultations", "home_visits", "teleconsultations").sum()).sort("year")
    return {
        "reattached_monthly": series(centres, "month", "newly_reattached"),
        "reattached_cumulative": series(centres, "month", "cumulative_reattached"),
        "cost_gross": series(costs, "year", "cost_per_consultation_eur"),
        "cost_net": series(costs, "year", "net_cost_per_consultation_eur"),
        "activity_by_type": {"years": [str(y) for y in by_type["year"]],
                             "stacks": [{"name": label, "values": [int(v) for v in by_type[col]]}
                                        for col, label in (("consultations", "Consultations"),
                                                           ("home_visits", "Visites à domicile"),
                                                           ("teleconsultations", "Téléconsultations"))]},
    }


_SCRIPT = r"""
const DATA = JSON.parse(document.getElementById('carnet-data').textContent);
const NS = 'http://www.w3.org/2000/svg';
const COLOURS = ['#1b6ca8','#d1495b','#2e933c','#edae49','#6a4c93','#00798c','#8d6a9f','#c05746',
                 '#3d5a80','#98c1d9','#ee6c4d','#293241','#7f5539','#588157','#bc4749','#6d597a'];
const nice = v => { if (v <= 0) return 0; const p = 10 ** Math.floor(Math.log10(v)), m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p; };
const fmt = v => v.toLocaleString('fr-FR', {maximumFractionDigits: 2});
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
function frame(id, xs, ymin, ymax) {
  const W = 760, H = 300, L = 60, R = 30, T = 10, B = 30;
  const svg = el('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart'});
  document.getElementById(id).appendChild(svg);
  const x = i => L + (xs.length < 2 ? 0 : i * (W - L - R) / (xs.length - 1));
  const y = v => H - B - (ymax === ymin ? 0 : (v - ymin) * (H - T - B) / (ymax - ymin));
  for (let k = 0; k <= 4; k++) {
    const v = ymin + k * (ymax - ymin) / 4;
    el('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid'}, svg);
    el('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick'}, svg).textContent = fmt(v);
  }
  const step = Math.max(1, Math.ceil(xs.length / 12));
  xs.forEach((label, i) => { if (i % step === 0)
    el('text', {x: x(i), y: H - 10, 'text-anchor': 'middle', class: 'tick'}, svg).textContent = label; });
  return {svg, x, y};
}
function legend(id, names) {
  const ul = document.createElement('ul'); ul.className = 'legend';
  names.forEach((n, i) => { const li = document.createElement('li');
    li.innerHTML = `<span style="background:${COLOURS[i % COLOURS.length]}"></span>`;
    li.appendChild(document.createTextNode(n)); ul.appendChild(li); });
  document.getElementById(id).appendChild(ul);
}
function lineChart(id, series, labelX) {
  if (!series.length) { document.getElementById(id).textContent = 'Pas de donnée publiée.'; return; }
  const xs = [...new Set(series.flatMap(s => s.points.map(p => p[0])))].sort();
  const vals = series.flatMap(s => s.points.map(p => p[1]).filter(v => v !== null));
  const {svg, x, y} = frame(id, xs.map(labelX), -nice(-Math.min(0, ...vals)), nice(Math.max(1, ...vals)));
  series.forEach((s, i) => {
    let d = '', pen = 'M';
    s.points.forEach(([px, py]) => {
      if (py === null) { pen = 'M'; return; }  // withheld by secrecy: a gap, not a zero
      d += `${pen}${x(xs.indexOf(px)).toFixed(1)},${y(py).toFixed(1)} `; pen = 'L';
    });
    el('path', {d, fill: 'none', stroke: COLOURS[i % COLOURS.length], 'stroke-width': 2, class: 'series',
                'data-series': s.name}, svg);
  });
  legend(id, series.map(s => s.name));
}
function stackedBars(id, data) {
  const totals = data.years.map((_, j) => data.stacks.reduce((a, s) => a + s.values[j], 0));
  const {svg, x, y} = frame(id, data.years, 0, nice(Math.max(1, ...totals)));
  const w = Math.max(4, 600 / Math.max(1, data.years.length) * 0.6);
  data.years.forEach((_, j) => { let base = 0;
    data.stacks.forEach((s, i) => { const v = s.values[j];
      el('rect', {x: x(j) - w / 2, y: y(base + v), width: w, height: y(base) - y(base + v),
                  fill: COLOURS[i], class: 'bar', 'data-value': v}, svg);
      base += v; }); });
  legend(id, data.stacks.map(s => s.name));
}
const month = m => m.slice(0, 7);
lineChart('chart-reattached-monthly', DATA.reattached_monthly, month);
lineChart('chart-reattached-cumulative', DATA.reattached_cumulative, month);
lineChart('chart-cost-gross', DATA.cost_gross, v => v);
lineChart('chart-cost-net', DATA.cost_net, v => v);
stackedBars('chart-activity', DATA.activity_by_type);
document.body.setAttribute('data-charts-drawn', document.querySelectorAll('svg.chart').length);
"""

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:820px;margin:2em auto;color:#222;line-height:1.45}
h1{font-size:1.6em} h2{font-size:1.2em;margin-top:2em} .lead p{font-size:1.1em}
svg.chart{width:100%;height:auto} .grid{stroke:#e4e4e4} .tick{font-size:11px;fill:#666}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3em 1em;font-size:.85em}
.legend span{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
.note{font-size:.85em;color:#555}
"""


def render(tables: dict[str, pl.DataFrame], release: dict) -> str:
    words = headlines(tables)
    data = json.dumps(_chart_data(tables), ensure_ascii=False, sort_keys=True).replace("</", "<\\/")
    threshold = release["secrecy"]["threshold"]
    lead = "\n".join(f'<p class="headline" id="headline-{k}">{html.escape(v)}</p>' for k, v in words.items())
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Centres de santé — publication {html.escape(release['release_id'])}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Centres de santé : patients et coûts</h1>
<p class="note">Publication {html.escape(release['release_id'])} — données des centres enregistrées jusqu'au
{html.escape(str(release['log']['recorded_until']))}.</p>
<section class="lead">{lead}</section>
<h2>Patients ayant retrouvé un médecin traitant, par mois et par centre</h2>
<div id="chart-reattached-monthly"></div>
<h2>Patients ayant retrouvé un médecin traitant, cumul par centre</h2>
<div id="chart-reattached-cumulative"></div>
<h2>Coût d'une consultation par centre (brut, €)</h2>
<div id="chart-cost-gross"></div>
<h2>Coût net d'une consultation par centre (après recettes, €)</h2>
<div id="chart-cost-net"></div>
<h2>Activité par type d'acte et par année</h2>
<div id="chart-activity"></div>
<p class="note">Secret statistique : un effectif de moins de {threshold} patients n'est pas publié (trou dans la
courbe), ni une valeur qui permettrait de le retrouver par différence. Un patient compte une fois par réseau de
centres. Le coût net déduit les remboursements de l'Assurance maladie (tarifs NGAP en vigueur) et les autres
recettes (loyers perçus, subventions).</p>
<script type="application/json" id="carnet-data">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
