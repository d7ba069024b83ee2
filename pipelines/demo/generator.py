"""`carnet generate`: a deterministic inbox for every centre, in its own dialect, with known dirt.

The generator first decides the *truth* (every act, declaration and cost line with its final
version, calibrated on `calibration.PUBLISHED`), then writes the extracts a centre would have
sent: yearly back-fills, monthly extracts overlapping the previous one by ten days, and
nightly extracts re-sending the last three days. Dirt is added on top of the truth, never in
place of it: re-sent rows, acts later cancelled, declarations later ended, corrected cost
lines, invalid rows with fresh keys (one defect each), and a few unreadable files. A hidden
manifest lists every injected defect so tests can check that quarantine holds exactly them.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.demo import calibration as cal
from pipelines.demo.population import Population, make_population
from pipelines.feeds import header_names
from pipelines.registry import Centre, Registry, default_registry

MANIFEST_NAME = ".demo-manifest.json"
OVERLAP_DAYS = 10
NIGHTLY_LOOKBACK = 3
NIGHTLY_FROM = dt.date(2024, 12, 26)

# Tariffs as the centres' software bills them (the seeds are the reference the marts use).
_G = [(dt.date(2017, 5, 1), 25.0), (dt.date(2023, 11, 1), 26.5), (dt.date(2024, 12, 22), 30.0)]
_TCG, _IPA, _MD = 25.0, 16.0, 10.0

_FR_STATUS = {"completed": "réalisé", "cancelled": "annulé", "no_show": "absent"}
_FR_SITUATION = {"none": "sans_medecin_traitant", "other_gp": "autre_medecin_traitant", "unknown": "inconnue"}
_EPOCH = np.datetime64("1970-01-01T00:00:00", "s")


def sc(value: float, scale: float) -> int:
    return int(round(value * scale))


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Split `total` into integers proportional to `weights`, summing exactly to `total`."""
    if total == 0 or not weights or sum(weights) == 0:
        return [0] * len(weights)
    raw = [total * w / sum(weights) for w in weights]
    floor = [math.floor(r) for r in raw]
    rest = total - sum(floor)
    order = sorted(range(len(raw)), key=lambda i: (raw[i] - floor[i], -i), reverse=True)
    for i in order[:rest]:
        floor[i] += 1
    return floor


def g_tariff(day: dt.date, *, previous: bool = False) -> float:
    idx = max(i for i, (start, _) in enumerate(_G) if start <= day)
    return _G[max(idx - 1, 0)][1] if previous else _G[idx][1]


def open_days(centre: Centre, start: dt.date, end: dt.date) -> np.ndarray:
    """Working days (Mon-Sat; Mazingarbe closes on Thursdays) between two dates, as datetime64[D]."""
    start = max(start, centre.opened_on)
    if start > end:
        return np.array([], dtype="datetime64[D]")
    days = np.arange(np.datetime64(start), np.datetime64(end) + 1, dtype="datetime64[D]")
    weekday = (days.astype(int) + 3) % 7  # 0 = Monday
    closed = {6} | ({3} if centre.model == "ephemeral" else set())
    return days[~np.isin(weekday, list(closed))]


@dataclass(frozen=True)
class Window:
    extracted_at: dt.datetime
    start: dt.date
    end: dt.date


def extract_windows(opened: dt.date, horizon: dt.date = cal.HORIZON) -> list[Window]:
    """Yearly back-fills, then monthly extracts, then nightly ones, each overlapping the last."""
    windows = []
    for year in range(opened.year, horizon.year):
        start = max(opened, dt.date(year, 1, 1) - dt.timedelta(days=OVERLAP_DAYS))
        windows.append(Window(dt.datetime(year + 1, 1, 2, 3, 0), start, dt.date(year, 12, 31)))
    year = horizon.year
    for month in range(1, 13):
        first = dt.date(year, month, 1)
        last = dt.date(year, month, calendar.monthrange(year, month)[1])
        if last < opened:
            continue
        if month == 12:
            last = NIGHTLY_FROM - dt.timedelta(days=2)
            extracted = dt.datetime.combine(NIGHTLY_FROM - dt.timedelta(days=1), dt.time(3, 0))
        else:
            extracted = dt.datetime(year, month + 1, 1, 3, 0)
        start = max(opened, first - dt.timedelta(days=OVERLAP_DAYS))
        windows.append(Window(extracted, start, last))
    day = NIGHTLY_FROM
    while day <= horizon + dt.timedelta(days=1):
        windows.append(Window(dt.datetime.combine(day, dt.time(3, 0)),
                              max(opened, day - dt.timedelta(days=NIGHTLY_LOOKBACK)), day - dt.timedelta(days=1)))
        day += dt.timedelta(days=1)
    return windows


# ---------------------------------------------------------------------------------------------
# Truth


@dataclass
class Acts:
    """Acts of one centre and feed, sorted by time."""

    feed: str
    time: np.ndarray          # datetime64[s], local time
    site: np.ndarray          # site code
    rpps: np.ndarray
    patient: np.ndarray       # index in the network population
    code: np.ndarray          # act code
    final: np.ndarray         # final status
    initial: np.ndarray       # status shown before `change`
    change: np.ndarray        # datetime64[s]: when the status became final
    mismatch: np.ndarray      # bool: billed at the previous tariff
    ald: np.ndarray
    extra: np.ndarray         # distance_km (home visits) or mode (teleconsultations)


@dataclass
class Declarations:
    patient: np.ndarray
    declared: np.ndarray      # datetime64[D]
    gp: np.ndarray
    situation: np.ndarray
    ended: np.ndarray         # datetime64[D], NaT while in force
    ald: np.ndarray


@dataclass
class CostLines:
    month: list[dt.date]
    line: list[str]
    amount: list[float]           # final (corrected) amount
    first_amount: list[float]     # amount before correction
    corrected_at: list[dt.datetime | None]


@dataclass
class Truth:
    completed: dict = field(default_factory=dict)   # (centre, feed, year) -> completed acts
    reattached: dict = field(default_factory=dict)  # (centre, 'YYYY-MM') -> first no-GP declarations


def _practitioners(centre: Centre, index: int) -> tuple[np.ndarray, np.ndarray]:
    gps = np.array([f"10{index:03d}{k:06d}" for k in range(1, centre.gps + 1)])
    nurses = np.array([f"10{index:03d}{900000 + k:06d}" for k in range(1, centre.nurses + 1)])
    return gps, nurses


class _CentreGen:
    def __init__(self, centre: Centre, index: int, rng: np.random.Generator, population: Population):
        self.centre = centre
        self.index = index
        self.rng = rng
        self.population = population
        self.gps, self.nurses = _practitioners(centre, index)
        self.windows = extract_windows(centre.opened_on)

    def _times(self, counts_by_year: dict[int, int]) -> np.ndarray:
        parts = []
        for year, n in counts_by_year.items():
            days = open_days(self.centre, dt.date(year, 1, 1), min(dt.date(year, 12, 31), cal.HORIZON))
            if n == 0 or len(days) == 0:
                continue
            day = self.rng.choice(days, n)
            minutes = 8 * 60 + 15 * self.rng.integers(0, 43, n)
            parts.append(day.astype("datetime64[s]") + (minutes * 60).astype("timedelta64[s]"))
        if not parts:
            return np.array([], dtype="datetime64[s]")
        return np.sort(np.concatenate(parts))

    def _last_extract(self, time: np.ndarray) -> np.ndarray:
        last = np.full(len(time), np.datetime64("NaT"), dtype="datetime64[s]")
        day = time.astype("datetime64[D]")
        for w in self.windows:
            lo, hi = np.searchsorted(day, np.datetime64(w.start)), np.searchsorted(day, np.datetime64(w.end), "right")
            last[lo:hi] = np.datetime64(w.extracted_at, "s")
        return last

    def acts(self, feed: str, completed_by_year: dict[int, int], code: str,
             ipa_by_year: dict[int, int] | None = None) -> Acts:
        rng = self.rng
        statuses, codes, times = [], [], []
        for counts, act_code in ((completed_by_year, code), (ipa_by_year or {}, "IPA")):
            # Completed acts are exact; cancelled and no-shows come on top.
            for status, rate in (("completed", None), ("cancelled", cal.CANCELLED_RATE), ("no_show", cal.NO_SHOW_RATE)):
                by_year = {y: (n if rate is None else int(rng.binomial(n, rate))) for y, n in counts.items()}
                t = self._times(by_year)
                times.append(t)
                statuses.append(np.full(len(t), status))
                codes.append(np.full(len(t), act_code))
        time = np.concatenate(times) if times else np.array([], dtype="datetime64[s]")
        order = np.argsort(time, kind="stable")
        time, final, act_code = time[order], np.concatenate(statuses)[order], np.concatenate(codes)[order]
        n = len(time)
        last = self._last_extract(time)
        span = np.maximum((last - time).astype(np.int64), 1)
        change = time + (rng.random(n) * span).astype("timedelta64[s]")
        initial = final.copy()
        later_cancelled = (final == "cancelled") & (rng.random(n) < 0.5)
        initial[later_cancelled] = "completed"
        sites = np.array(self.centre.site_codes)
        site_w = np.array([2.0] + [1.0] * (len(sites) - 1))
        rpps = np.where(act_code == "IPA",
                        rng.choice(self.nurses, n) if len(self.nurses) else "",
                        rng.choice(self.gps, n))
        if feed == "home_visits":
            extra = np.round(rng.gamma(2.0, 4.0, n), 1).astype(str)
        elif feed == "teleconsultations":
            extra = rng.choice(np.array(["video", "telephone"]), n, p=[0.7, 0.3])
        else:
            extra = np.full(n, "")
        return Acts(feed, time, rng.choice(sites, n, p=site_w / site_w.sum()), rpps,
                    rng.integers(0, len(self.population), n), act_code, final, initial, change,
                    rng.random(n) < cal.AMOUNT_MISMATCH_RATE, rng.random(n) < 0.18, extra)


def _network_split(centres: list[Centre], total_by_year: dict[int, int]) -> dict[str, dict[int, int]]:
    """Share a network's yearly volume between its centres, by GPs × days open that year."""
    out: dict[str, dict[int, int]] = {c.centre_id: {} for c in centres}
    for year, total in total_by_year.items():
        weights = []
        for c in centres:
            start, end = max(c.opened_on, dt.date(year, 1, 1)), min(dt.date(year, 12, 31), cal.HORIZON)
            weights.append(max((end - start).days + 1, 0) * c.gps if start <= end else 0)
        for c, n in zip(centres, largest_remainder(total, weights)):
            if n:
                out[c.centre_id][year] = n
    return out


def _volumes(registry: Registry, scale: float) -> dict[str, dict[str, dict[int, int]]]:
    """centre → feed → year → completed acts."""
    vols: dict[str, dict[str, dict[int, int]]] = {c.centre_id: {} for c in registry}
    networks = registry.networks()
    for scope, by_year in cal.CONSULTATIONS_PER_YEAR.items():
        centres = networks.get(scope) or [registry.get(scope)]
        scaled = {y: sc(n, scale) for y, n in by_year.items()}
        split = _network_split(centres, scaled)
        key = scope
        for cid, years in split.items():
            vols[cid]["consultations"] = years
            share = cal.HOME_VISIT_SHARE.get(key)
            if share:
                fixed = {y: sc(n, scale) for y, n in cal.HOME_VISITS_FIXED.get(key, {}).items()}
                hv = {y: sc(by_year[y] * share, scale) for y in by_year if y not in fixed}
                hv_split = _network_split(centres, {**hv, **fixed})
                vols[cid]["home_visits"] = hv_split[cid]
            tshare = cal.TELECONSULTATION_SHARE.get(key)
            if tshare:
                tc_split = _network_split(centres, {y: sc(n * tshare, scale) for y, n in by_year.items()})
                vols[cid]["teleconsultations"] = tc_split[cid]
    return vols


def _declarations(gen: "_CentreGen", rng, first_none: np.ndarray, first_dates: np.ndarray,
                  others: np.ndarray, other_dates: np.ndarray,
                  movers_here: list[tuple[int, np.datetime64]]) -> Declarations:
    n_none, n_other = len(first_none), len(others)
    patient = np.concatenate([first_none, others, np.array([m[0] for m in movers_here], dtype=int)])
    declared = np.concatenate([first_dates, other_dates,
                               np.array([m[1] for m in movers_here], dtype="datetime64[D]")])
    situation = np.concatenate([
        np.full(n_none, "none"),
        rng.choice(np.array(["other_gp", "unknown"]), n_other, p=[0.78, 0.22]),
        np.full(len(movers_here), "none"),
    ])
    n = len(patient)
    gp = rng.choice(gen.gps, n)
    ended = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    ends = rng.random(n) < cal.ENDED_SHARE
    length = rng.integers(20, 900, n).astype("timedelta64[D]")
    candidate = declared + length
    ok = ends & (candidate <= np.datetime64(cal.HORIZON))
    ended[ok] = candidate[ok]
    return Declarations(patient, declared, gp, situation, ended, rng.random(n) < 0.2)


def _days_in(centre: Centre, start: dt.date, end: dt.date, n: int, rng) -> np.ndarray:
    days = open_days(centre, start, end)
    if n == 0:
        return np.array([], dtype="datetime64[D]")
    return np.sort(rng.choice(days, n))


def _costs(centre: Centre, rng, scale: float) -> CostLines:
    out = CostLines([], [], [], [], [])
    month = dt.date(centre.opened_on.year, centre.opened_on.month, 1)
    fte = scale  # staff scale with the demo's volumes, so cost per consultation stays realistic
    while month <= cal.HORIZON:
        weeks = sum(1 for d in range(1, calendar.monthrange(month.year, month.month)[1] + 1)
                    if dt.date(month.year, month.month, d).weekday() == 0)
        lines: dict[str, float] = {}
        if centre.model == "volunteer":
            lines["indemnites_benevoles"] = cal.VOLUNTEER_WEEK_EUR * weeks * centre.gps * fte
            lines["salaires_administratifs"] = cal.SALARY_ADMIN_YEAR / 12 * fte
        else:
            lines["salaires_medicaux"] = centre.gps * cal.SALARY_GP_YEAR / 12 * rng.normal(1, 0.02) * fte
            lines["salaires_administratifs"] = max(1, centre.gps // 2) * cal.SALARY_ADMIN_YEAR / 12 * fte
            if centre.nurses:
                lines["salaires_paramedicaux"] = centre.nurses * cal.SALARY_NURSE_YEAR / 12 * fte
        if centre.model != "ephemeral":
            lines["loyer"] = 1_200 * len(centre.sites) * fte
        lines["equipement"] = abs(rng.normal(600, 200)) * len(centre.sites) * fte
        lines["informatique"] = 180 * max(centre.gps, 1) * fte
        lines["autres_charges"] = abs(rng.normal(900, 250)) * len(centre.sites) * fte
        if centre.model == "ephemeral":
            lines["loyers_percus"] = cal.MAZINGARBE_RENT_PER_GP * centre.gps * fte
        if centre.operator_kind == "department" and month.month in (3, 6, 9, 12):
            lines["subventions"] = 15_000 * len(centre.sites) * fte
        if centre.model == "volunteer":
            lines["subventions"] = 2_000 * fte
        for line, amount in lines.items():
            amount = round(amount, 2)
            out.month.append(month)
            out.line.append(line)
            out.first_amount.append(amount)
            corrected = rng.random() < cal.COST_CORRECTION_RATE
            out.amount.append(round(amount * rng.choice([0.97, 1.02, 1.05]), 2) if corrected else amount)
            out.corrected_at.append(None)  # set when windows are known
        month = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return out


# ---------------------------------------------------------------------------------------------
# Writing


class _Writer:
    """Formats rows in a dialect and writes one file; xlsx through xlsxwriter's streaming mode."""

    def __init__(self, centre: Centre, feed: str, rng):
        self.centre, self.feed = centre, feed
        self.dialect = centre.dialect
        self.language = "en" if self.dialect == "platform_csv" else "fr"
        names = header_names(feed, self.language)
        if self.dialect == "platform_csv":
            # Platforms order columns their own way and add columns of their own.
            names = list(reversed(names)) + ["booking_channel"]
        self.header = names

    def write(self, path: Path, rows: Iterable[dict], raw_lines: dict[int, bytes] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.dialect == "xlsx":
            self._write_xlsx(path, rows)
            return
        sep = ";" if self.dialect == "fr_csv" else ","
        eol = "\r\n" if self.dialect == "fr_csv" else "\n"
        enc = "cp1252" if self.dialect == "fr_csv" else "utf-8"
        with open(path, "wb") as fh:
            if self.dialect == "platform_csv":
                fh.write(b"\xef\xbb\xbf")
            fh.write((sep.join(self.header) + eol).encode(enc))
            buf = []
            for i, row in enumerate(rows):
                if raw_lines and i in raw_lines:
                    fh.write(eol.join(buf).encode(enc) + (eol.encode(enc) if buf else b""))
                    buf = []
                    fh.write(raw_lines[i] + eol.encode(enc))
                    continue
                buf.append(sep.join(row.get(h, "") for h in self.header))
                if len(buf) >= 20_000:
                    fh.write((eol.join(buf) + eol).encode(enc))
                    buf = []
            if buf:
                fh.write((eol.join(buf) + eol).encode(enc))

    def _write_xlsx(self, path: Path, rows: Iterable[dict]) -> None:
        import xlsxwriter

        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
        wb.set_properties({"created": dt.datetime(2024, 1, 1)})
        ws = wb.add_worksheet("export")
        datef = wb.add_format({"num_format": "dd/mm/yyyy"})
        timef = wb.add_format({"num_format": "hh:mm"})
        ws.write_row(0, 0, self.header)
        for r, row in enumerate(rows, start=1):
            for c, h in enumerate(self.header):
                v = row.get(h, "")
                if isinstance(v, dt.datetime):
                    ws.write_datetime(r, c, v, datef)
                elif isinstance(v, dt.time):
                    ws.write_datetime(r, c, v, timef)
                elif isinstance(v, float):
                    ws.write_number(r, c, v)
                elif v == "":
                    ws.write_blank(r, c, None)
                else:
                    ws.write_string(r, c, str(v))
        wb.close()


def _paris_offset(day: dt.date) -> str:
    def last_sunday(year, month):
        d = dt.date(year, month, calendar.monthrange(year, month)[1])
        return d - dt.timedelta(days=(d.weekday() + 1) % 7)
    summer = last_sunday(day.year, 3) <= day < last_sunday(day.year, 10)
    return "+02:00" if summer else "+01:00"


@dataclass
class FileRecord:
    rows: int
    bad: list[tuple[int, str, str]]  # (line, defect, expected rule)


@dataclass
class Manifest:
    seed: int
    scale: float
    files: dict[str, FileRecord] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)   # relative path -> expected rule
    truth: Truth = field(default_factory=Truth)
    expected: dict[str, int] = field(default_factory=dict)     # published label -> expected value

    def to_json(self) -> str:
        return json.dumps({
            "seed": self.seed, "scale": self.scale,
            "files": {k: {"rows": v.rows, "bad": v.bad} for k, v in self.files.items()},
            "unreadable": self.unreadable,
            "truth": {"completed": {"|".join(map(str, k)): v for k, v in self.truth.completed.items()},
                      "reattached": {"|".join(k): v for k, v in self.truth.reattached.items()}},
            "expected": self.expected,
        }, indent=1, sort_keys=True)

    @staticmethod
    def load(inbox: Path) -> dict:
        return json.loads((inbox / MANIFEST_NAME).read_text())


_ACT_DEFECTS = {
    "fr_csv": ["wrong_nir_key", "unknown_site", "act_code_of_other_feed", "impossible_date", "negative_amount",
               "broken_encoding"],
    "platform_csv": ["wrong_nir_key", "unknown_site", "act_code_of_other_feed", "impossible_date",
                     "negative_amount", "broken_encoding"],
    "xlsx": ["wrong_nir_key", "unknown_site", "act_code_of_other_feed", "impossible_date", "negative_amount"],
}
_RULE = {"wrong_nir_key": "nir_key", "unknown_site": "site_of_centre", "act_code_of_other_feed": "act_code_of_feed",
         "impossible_date": "type", "negative_amount": "amount_not_negative", "broken_encoding": "encoding",
         "unknown_cost_line": "cost_line_domain"}
_OTHER_CODE = {"consultations": "VG", "home_visits": "G", "teleconsultations": "G"}


class Generator:
    def __init__(self, out: Path, seed: int = 7, scale: float = 1.0, registry: Registry | None = None):
        self.out, self.seed, self.scale = Path(out), seed, scale
        self.registry = registry or default_registry()
        self.manifest = Manifest(seed, scale)
        self.rows_written = 0
        self._cost_first_sent: dict = {}

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, *key]))

    def run(self, progress=None) -> Manifest:
        self.out.mkdir(parents=True, exist_ok=True)
        vols = _volumes(self.registry, self.scale)
        networks = self.registry.networks()
        centres = list(self.registry)
        index = {c.centre_id: i for i, c in enumerate(centres)}
        for n_idx, (network_id, members) in enumerate(sorted(networks.items())):
            rng = self._rng(1000 + n_idx)
            communes = sorted({s.commune_insee for c in members for s in c.sites})
            pop = make_population(rng, max(sc(cal.POPULATION[network_id], self.scale), 50),
                                  members[0].department_code, communes)
            gens = {c.centre_id: _CentreGen(c, index[c.centre_id], self._rng(index[c.centre_id]), pop)
                    for c in members}
            self._declarations_for_network(network_id, members, gens, pop, rng)
            for c in members:
                gen = gens[c.centre_id]
                for feed, code in (("consultations", "G"), ("home_visits", "VG"), ("teleconsultations", "TCG")):
                    by_year = vols[c.centre_id].get(feed, {})
                    ipa = {y: sc(n, self.scale) for y, n in cal.IPA_PER_YEAR.get(c.centre_id, {}).items()} \
                        if feed == "consultations" else None
                    if not by_year and not ipa:
                        continue
                    acts = gen.acts(feed, by_year, code, ipa)
                    for year, n in by_year.items():
                        self.manifest.truth.completed[(c.centre_id, feed, year)] = n
                    for year, n in (ipa or {}).items():
                        key = (c.centre_id, feed, year)
                        self.manifest.truth.completed[key] = self.manifest.truth.completed.get(key, 0) + n
                    self._write_acts(gen, acts)
                self._write_costs(gen)
                if progress:
                    progress(c.centre_id, self.rows_written)
        self._write_unreadable()
        self._expected()
        (self.out / MANIFEST_NAME).write_text(self.manifest.to_json())
        return self.manifest

    # -- declarations ---------------------------------------------------------------------

    def _declarations_for_network(self, network_id, members, gens, pop: Population, rng) -> None:
        n_pop = len(pop)
        # Targets per centre: a network total split by size, or a centre's own figure.
        targets: dict[str, int] = {}
        for c in members:
            if c.centre_id in cal.REATTACHED_TOTAL:
                targets[c.centre_id] = sc(cal.REATTACHED_TOTAL[c.centre_id], self.scale)
        if network_id in cal.REATTACHED_TOTAL:
            weights = [c.gps * max((cal.HORIZON - c.opened_on).days, 1) for c in members]
            for c, n in zip(members, largest_remainder(sc(cal.REATTACHED_TOTAL[network_id], self.scale), weights)):
                targets[c.centre_id] = n
        if "590000018" in gens:
            targets["590000018"] = sc(cal.NORD_REATTACHED[dt.date(2024, 1, 1)], self.scale) + \
                sc(cal.NORD_REATTACHED["rest"], self.scale)
        total_none = sum(targets.values())
        n_other = sc(total_none * cal.OTHER_DECLARATION_SHARE, 1.0)
        if total_none + n_other > n_pop:
            raise ValueError(f"{network_id}: population too small for its declarations")
        chosen = rng.permutation(n_pop)
        offset = 0
        per_centre = {}
        for c in members:
            n = targets.get(c.centre_id, 0)
            pts = chosen[offset:offset + n]
            offset += n
            if c.centre_id == "590000018":
                jan = sc(cal.NORD_REATTACHED[dt.date(2024, 1, 1)], self.scale)
                dates = np.concatenate([_days_in(c, dt.date(2024, 1, 1), dt.date(2024, 1, 31), jan, rng),
                                        _days_in(c, dt.date(2024, 2, 1), cal.HORIZON, n - jan, rng)])
            else:
                dates = _days_in(c, c.opened_on, cal.HORIZON, n, rng)
            per_centre[c.centre_id] = (pts, dates)
        others = chosen[offset:offset + n_other]
        other_centre = rng.choice(len(members), n_other, p=np.array([c.gps for c in members]) / sum(c.gps for c in members))
        movers: dict[str, list] = {c.centre_id: [] for c in members}
        decl: dict[str, Declarations] = {}
        for i, c in enumerate(members):
            pts, dates = per_centre[c.centre_id]
            mine = others[other_centre == i]
            odates = _days_in(c, c.opened_on, cal.HORIZON, len(mine), rng)
            d = _declarations(gens[c.centre_id], rng, pts, dates, mine, odates, [])
            # Movers: re-attached patients whose declaration ended and who declare again, with
            # "no previous GP", at another centre of the network (or another GP of the same one).
            move = np.flatnonzero((d.situation == "none") & (rng.random(len(d.patient)) < cal.MOVE_SHARE))
            for j in move:
                end = d.declared[j] + np.timedelta64(int(rng.integers(30, 400)), "D")
                again = end + np.timedelta64(int(rng.integers(1, 30)), "D")
                if again > np.datetime64(cal.HORIZON):
                    continue
                d.ended[j] = end
                dest = members[int(rng.integers(0, len(members)))] if len(members) > 1 else c
                if np.datetime64(dest.opened_on) > again:
                    dest = c
                movers[dest.centre_id].append((int(d.patient[j]), again))
            decl[c.centre_id] = d
            for day in dates:
                key = (c.centre_id, str(day)[:7])
                self.manifest.truth.reattached[key] = self.manifest.truth.reattached.get(key, 0) + 1
        for c in members:
            d = decl[c.centre_id]
            if movers[c.centre_id]:
                extra = _declarations(gens[c.centre_id], rng, np.array([], dtype=int),
                                      np.array([], dtype="datetime64[D]"), np.array([], dtype=int),
                                      np.array([], dtype="datetime64[D]"), movers[c.centre_id])
                d = Declarations(*(np.concatenate([getattr(d, f), getattr(extra, f)])
                                   for f in ("patient", "declared", "gp", "situation", "ended", "ald")))
            order = np.argsort(d.declared, kind="stable")
            d = Declarations(*(getattr(d, f)[order] for f in ("patient", "declared", "gp", "situation", "ended", "ald")))
            self._write_declarations(gens[c.centre_id], d)

    # -- rows -----------------------------------------------------------------------------

    def _patient_fields(self, gen: _CentreGen, p: int, fr_sex_digits: bool) -> dict:
        pop = gen.population
        sex = pop.sex[p]
        if fr_sex_digits:
            sex = "1" if sex == "M" else "2"
        return {"nir": pop.nir[p], "birth_year": int(pop.birth_year[p]), "sex": sex, "commune": pop.commune[p]}

    def _act_row(self, w: "_Writer", gen: _CentreGen, acts: Acts, i: int, status: str, act_id: str) -> dict:
        t = acts.time[i].astype(dt.datetime)
        code = str(acts.code[i])
        day = t.date()
        if status != "completed":
            amount = 0.0
        elif code == "G":
            amount = g_tariff(day, previous=bool(acts.mismatch[i]))
        elif code == "VG":
            amount = g_tariff(day, previous=bool(acts.mismatch[i])) + _MD
        elif code == "TCG":
            amount = _TCG
        else:
            amount = _IPA
        pf = self._patient_fields(gen, int(acts.patient[i]), w.dialect == "fr_csv" and (i % 10 == 0))
        extra = str(acts.extra[i])
        if w.dialect == "platform_csv":
            row = {"act_id": act_id, "occurred_at": f"{t:%Y-%m-%dT%H:%M:%S}{_paris_offset(day)}",
                   "site_code": acts.site[i], "practitioner_rpps": acts.rpps[i], "patient_nir": pf["nir"],
                   "birth_year": str(pf["birth_year"]), "sex": pf["sex"], "residence_insee": pf["commune"],
                   "act_code": code, "amount_eur": f"{amount:.2f}", "status": status,
                   "ald": "true" if acts.ald[i] else "false", "booking_channel": "web"}
            if acts.feed == "home_visits":
                row["distance_km"] = extra
            if acts.feed == "teleconsultations":
                row["mode"] = extra
            return row
        xl = w.dialect == "xlsx"
        row = {"id_acte": act_id,
               "date": dt.datetime(t.year, t.month, t.day) if xl else f"{t:%d/%m/%Y}",
               "heure": t.time() if xl else f"{t:%H:%M}",
               "site": acts.site[i], "rpps": acts.rpps[i], "nir": pf["nir"],
               "annee_naissance": float(pf["birth_year"]) if xl else str(pf["birth_year"]),
               "sexe": pf["sex"], "commune": pf["commune"], "code_acte": code,
               "montant": amount if xl else f"{amount:.2f}".replace(".", ","),
               "statut": _FR_STATUS[status], "ald": "O" if acts.ald[i] else "N"}
        if acts.feed == "home_visits":
            row["distance_km"] = float(extra) if xl else extra.replace(".", ",")
        if acts.feed == "teleconsultations":
            row["mode"] = extra
        return row

    def _file_path(self, centre: Centre, feed: str, extracted_at: dt.datetime) -> Path:
        name = f"{centre.centre_id}__{feed}__{extracted_at:%Y%m%dT%H%M%S}.{centre.extension}"
        return self.out / centre.centre_id / name

    def _inject(self, w: _Writer, rows: Iterable[dict], n_rows: int, bad: list[tuple[dict | bytes, str]], rng,
                path: Path) -> None:
        """Insert bad rows at random places as the rows stream to the file; record their lines in the manifest.

        `rows` may be lazy: a year of one centre's acts is ~1.2M rows at 50M acts, too many to hold as dicts.
        """
        total = n_rows + len(bad)
        positions = sorted(rng.choice(total, len(bad), replace=False).tolist()) if bad else []
        placed = dict(zip(positions, bad))
        raw_lines = {k: content for k, (content, _) in placed.items() if isinstance(content, bytes)}
        records = [(k + 2, defect, _RULE[defect]) for k, (_, defect) in placed.items()]

        def merged() -> Iterator[dict]:
            it = iter(rows)
            for k in range(total):
                if k in placed:
                    content = placed[k][0]
                    yield {} if isinstance(content, bytes) else content
                else:
                    row = next(it, None)
                    if row is None:
                        raise ValueError(f"{path.name}: {n_rows} rows announced, fewer given")
                    yield row
            if next(it, None) is not None:
                raise ValueError(f"{path.name}: {n_rows} rows announced, more given")

        w.write(path, merged(), raw_lines)
        self.manifest.files[path.name] = FileRecord(total, records)
        self.rows_written += total

    def _bad_act(self, w: _Writer, gen: _CentreGen, acts: Acts, i: int, defect: str, act_id: str, rng):
        row = self._act_row(w, gen, acts, i, "completed", act_id)
        fr = w.language == "fr"
        nir_col, site_col, code_col = ("nir", "site", "code_acte") if fr else ("patient_nir", "site_code", "act_code")
        amount_col = "montant" if fr else "amount_eur"
        if defect == "wrong_nir_key":
            nir = row[nir_col]
            row[nir_col] = nir[:13] + f"{(int(nir[13:]) % 97) + 1:02d}"
        elif defect == "unknown_site":
            row[site_col] = "ZZZ9"
        elif defect == "act_code_of_other_feed":
            row[code_col] = _OTHER_CODE[acts.feed]
        elif defect == "impossible_date":
            year = acts.time[i].astype(dt.datetime).year
            if w.dialect == "platform_csv":
                row["occurred_at"] = f"{year}-02-30T10:00:00+01:00"
            else:
                row["date"] = f"31/02/{year}"
        elif defect == "negative_amount":
            row[amount_col] = -25.0 if w.dialect == "xlsx" else ("-25,00" if fr else "-25.00")
        elif defect == "broken_encoding":
            if w.dialect == "fr_csv":
                row["statut"] = "réalisé".encode("utf-8").decode("cp1252")
            else:
                line = ",".join(row.get(h, "") for h in w.header).encode("utf-8")
                return line.replace(b"web", b"t\xe9l\xe9phone"), defect
        return row, defect

    def _write_acts(self, gen: _CentreGen, acts: Acts) -> None:
        c = gen.centre
        w = _Writer(c, acts.feed, gen.rng)
        rng = gen.rng
        day = acts.time.astype("datetime64[D]")
        prefix = {"consultations": "C", "home_visits": "V", "teleconsultations": "T"}[acts.feed]
        id_format = f"{prefix}{{:08d}}" if c.dialect != "platform_csv" else f"{c.centre_id[-4:]}-{prefix}-{{:08d}}"
        bad_seq = 0
        for win in gen.windows:
            lo = int(np.searchsorted(day, np.datetime64(win.start)))
            hi = int(np.searchsorted(day, np.datetime64(win.end), "right"))
            if hi <= lo:
                continue
            when = np.datetime64(win.extracted_at, "s")
            status = np.where(acts.change[lo:hi] <= when, acts.final[lo:hi], acts.initial[lo:hi])
            # Formatted as they are written: _act_row draws nothing from rng, so the file is the same.
            rows = (self._act_row(w, gen, acts, i, str(status[i - lo]), id_format.format(i + 1))
                    for i in range(lo, hi))
            n_bad = int(rng.binomial(hi - lo, cal.BAD_ROW_RATE))
            defects = _ACT_DEFECTS[c.dialect]
            bad = []
            for _ in range(n_bad):
                bad_seq += 1
                defect = defects[int(rng.integers(0, len(defects)))]
                i = int(rng.integers(lo, hi))
                bad.append(self._bad_act(w, gen, acts, i, defect, f"X{prefix}{bad_seq:07d}", rng))
            self._inject(w, rows, hi - lo, bad, rng, self._file_path(c, acts.feed, win.extracted_at))

    def _write_declarations(self, gen: _CentreGen, d: Declarations) -> None:
        c = gen.centre
        w = _Writer(c, "gp_declarations", gen.rng)
        rng = gen.rng
        fr, xl = w.language == "fr", w.dialect == "xlsx"
        for win in gen.windows:
            start, end = np.datetime64(win.start), np.datetime64(win.end)
            # A declaration is sent when it is made, and again when it ends.
            made = (d.declared >= start) & (d.declared <= end)
            ended_here = ~np.isnat(d.ended) & (d.ended >= start) & (d.ended <= end)
            idx = np.flatnonzero(made | ended_here)
            if len(idx) == 0:
                continue
            rows = []
            for j in idx:
                p = int(d.patient[j])
                pf = self._patient_fields(gen, p, False)
                declared = d.declared[j].astype(dt.date)
                ended = None if np.isnat(d.ended[j]) or d.ended[j] > end else d.ended[j].astype(dt.date)
                situation = str(d.situation[j])
                if fr:
                    rows.append({"nir": pf["nir"],
                                 "date_declaration": dt.datetime.combine(declared, dt.time()) if xl else f"{declared:%d/%m/%Y}",
                                 "rpps_medecin": d.gp[j], "situation_anterieure": _FR_SITUATION[situation],
                                 "date_fin": (dt.datetime.combine(ended, dt.time()) if xl else f"{ended:%d/%m/%Y}") if ended else "",
                                 "ald": "O" if d.ald[j] else "N",
                                 "annee_naissance": float(pf["birth_year"]) if xl else str(pf["birth_year"]),
                                 "sexe": pf["sex"], "commune": pf["commune"]})
                else:
                    rows.append({"patient_nir": pf["nir"], "declared_on": f"{declared:%Y-%m-%d}", "gp_rpps": d.gp[j],
                                 "previous_situation": situation, "ended_on": f"{ended:%Y-%m-%d}" if ended else "",
                                 "ald": "true" if d.ald[j] else "false", "birth_year": str(pf["birth_year"]),
                                 "sex": pf["sex"], "residence_insee": pf["commune"], "booking_channel": "web"})
            bad = []
            for _ in range(int(rng.binomial(len(rows), cal.BAD_ROW_RATE * 2))):
                src = dict(rows[int(rng.integers(0, len(rows)))])
                if rng.random() < 0.5:
                    col = "nir" if fr else "patient_nir"
                    src[col] = src[col][:13] + f"{(int(src[col][13:]) % 97) + 1:02d}"
                    bad.append((src, "wrong_nir_key"))
                else:
                    if fr:
                        src["date_declaration"] = "30/02/2023"
                    else:
                        src["declared_on"] = "2023-02-30"
                    bad.append((src, "impossible_date"))
            self._inject(w, rows, len(rows), bad, rng, self._file_path(c, "gp_declarations", win.extracted_at))

    def _write_costs(self, gen: _CentreGen) -> None:
        c = gen.centre
        costs = _costs(c, gen.rng, self.scale)
        w = _Writer(c, "costs", gen.rng)
        rng = gen.rng
        fr, xl = w.language == "fr", w.dialect == "xlsx"
        months = np.array([np.datetime64(m, "D") for m in costs.month])
        for win in gen.windows:
            # Ledgers: every month whose first day falls in the window, plus the two before (re-sent,
            # possibly corrected); nightly windows re-send the current month.
            start = np.datetime64(dt.date(win.start.year, win.start.month, 1)) - np.timedelta64(62, "D")
            end = np.datetime64(win.end)
            idx = np.flatnonzero((months >= start) & (months <= end))
            if len(idx) == 0:
                continue
            rows = []
            for j in idx:
                first_time = self._cost_first_sent.setdefault((c.centre_id, j), win.extracted_at)
                amount = costs.first_amount[j] if first_time == win.extracted_at else costs.amount[j]
                month = costs.month[j]
                if fr:
                    rows.append({"mois": f"{month:%Y-%m}", "poste": costs.line[j],
                                 "montant": amount if xl else f"{amount:.2f}".replace(".", ",")})
                else:
                    rows.append({"month": f"{month:%Y-%m}", "line": costs.line[j], "amount_eur": f"{amount:.2f}",
                                 "booking_channel": "ledger"})
            bad = []
            if rng.random() < 0.05:
                src = dict(rows[0])
                src["poste" if fr else "line"] = "divers"
                bad.append((src, "unknown_cost_line"))
            self._inject(w, rows, len(rows), bad, rng, self._file_path(c, "costs", win.extracted_at))

    # -- unreadable files -------------------------------------------------------------------

    def _write_unreadable(self) -> None:
        reg = self.registry
        fr_centre = next(c for c in reg if c.dialect == "fr_csv")
        pf_centre = next(c for c in reg if c.dialect == "platform_csv")
        xl_centre = next(c for c in reg if c.dialect == "xlsx")
        junk = {}
        header = ";".join(header_names("consultations", "fr"))
        junk[f"{fr_centre.centre_id}/{fr_centre.centre_id}__consultations__20240615T041500.csv"] = (
            (header + "\r\nZ1;03/06/2024;09:00;CHAL;10000000001;;1980;M;71076;G;26,50;réalisé;N\r\n").encode("utf-8"),
            "unreadable_file")
        junk[f"{pf_centre.centre_id}/{pf_centre.centre_id}__consultations__20240615T041500.csv"] = (
            (";".join(header_names("consultations", "fr")) + "\n").encode("utf-8"), "unreadable_file")
        junk[f"{xl_centre.centre_id}/{xl_centre.centre_id}__consultations__20240615T041500.xlsx"] = (
            b"PK\x03\x04" + bytes(range(256)) * 4, "unreadable_file")
        junk["999999999/999999999__consultations__20240615T041500.csv"] = (
            (header + "\r\n").encode("cp1252"), "unknown_centre")
        junk[f"{fr_centre.centre_id}/export_final (2).csv"] = ((header + "\r\n").encode("cp1252"), "file_name")
        for rel, (data, rule) in junk.items():
            path = self.out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            self.manifest.unreadable[rel] = rule

    def _expected(self) -> None:
        for fig in cal.PUBLISHED:
            self.manifest.expected[fig.label] = sc(fig.value, self.scale)


def generate(out: Path, *, seed: int = 7, scale: float = 1.0, progress=None) -> Manifest:
    return Generator(out, seed, scale).run(progress)
