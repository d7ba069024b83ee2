"""What the demo must reproduce, and the volumes it is built from.

`PUBLISHED` are the centres' own published figures; the generator's truth meets them
exactly at scale 1 (and their rounded multiple at another scale). Every other volume is an
assumption chosen to look like the centres' size (GPs × a typical 4,500-6,000 acts a year).
"""
from __future__ import annotations

import datetime as dt

from pipelines.published_figures import PUBLISHED  # noqa: F401 - what the volumes below are chosen to meet

HORIZON = dt.date(2024, 12, 31)  # last day of activity in the demo


# Completed consultations a year, per network or centre (assumptions unless PUBLISHED).
CONSULTATIONS_PER_YEAR = {
    "cd71": {2017: 900, 2018: 45_000, 2019: 80_000, 2020: 95_000, 2021: 110_000, 2022: 120_000,
             2023: 125_000, 2024: 128_000},
    "cd19": {2019: 3_000, 2020: 18_000, 2021: 22_000, 2022: 24_000, 2023: 25_000, 2024: 26_000},
    "cd24": {2021: 6_000, 2022: 30_000, 2023: 33_000, 2024: 34_000},
    "590000018": {2024: 30_000},
    "620000014": {2022: 7_600, 2023: 8_000, 2024: 8_100},
    "110000010": {2021: 9_000, 2022: 12_000, 2023: 12_500, 2024: 13_000},
    "230000016": {2023: 4_300, 2024: 3_900},
    "180000011": {2024: 3_500},
}
# Advanced-practice nurse consultations (IPA), Nord only.
IPA_PER_YEAR = {"590000018": {2024: 4_000}}
# Home visits as a share of consultations, unless a year is published.
HOME_VISIT_SHARE = {"cd71": 0.04, "cd19": 0.03, "cd24": 0.03, "110000010": 0.04}
HOME_VISITS_FIXED = {"cd71": {2022: 5_000}}
TELECONSULTATION_SHARE = {"cd71": 0.02, "cd19": 0.05, "590000018": 0.04}

# First declarations with no previous GP, per network or centre (since opening).
REATTACHED_TOTAL = {
    "cd71": 30_000, "cd19": 7_200, "cd24": 2_500, "620000014": 900, "110000010": 1_500,
    "230000016": 1_800, "180000011": 600,
}
# Nord: 500 in January 2024 (published), then 1,300 over the rest of 2024 (assumed).
NORD_REATTACHED = {dt.date(2024, 1, 1): 500, "rest": 1_300}

# Patients known to each network (the pool acts and declarations draw from).
POPULATION = {"cd71": 95_000, "cd19": 24_000, "cd24": 16_000, "cd59": 12_000, "mazingarbe": 6_000,
              "port_la_nouvelle": 7_000, "medecins_solidaires": 5_500}

# Dirt, as rates of the rows of an extract (assumptions, documented in the README).
CANCELLED_RATE = 0.03     # acts whose final status is cancelled
NO_SHOW_RATE = 0.04       # acts whose final status is no-show
BAD_ROW_RATE = 0.002      # injected invalid rows, one defect each
AMOUNT_MISMATCH_RATE = 0.005  # billed amount of the previous tariff
OTHER_DECLARATION_SHARE = 0.45  # declarations with a previous GP or unknown, per re-attachment
MOVE_SHARE = 0.05         # re-attached patients who declare again at another centre of the network
ENDED_SHARE = 0.10        # declarations later ended
COST_CORRECTION_RATE = 0.05

SALARY_GP_YEAR = 100_000
SALARY_NURSE_YEAR = 55_000
SALARY_ADMIN_YEAR = 34_000
VOLUNTEER_WEEK_EUR = 1_000
MAZINGARBE_RENT_PER_GP = 400
