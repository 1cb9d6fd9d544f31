"""Writes the demo plant's maintenance log and past work orders (deterministic, stdlib only).

The history runs from 2024-11-01 to 2026-10-31 over the six assets of control/plant/demo_site.yaml.
Routine inspections and PMs come from the calendar; measured values follow slow wear models; the
faults and repairs that other documents cite (manuals, restricted procedures, the safety bulletin)
are written out by hand below and keep their fixed work-order numbers.

    python corpora/tools/generate_logs.py          # rewrite corpora/logs/*.csv / *.jsonl
    python corpora/tools/generate_logs.py --check  # exit 1 if the files on disk differ
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import itertools
import json
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

START = dt.date(2024, 11, 1)
END = dt.date(2026, 10, 31)
SEED = 20241101
LOG_DIR = Path(__file__).resolve().parents[1] / "logs"
LOG_FILE = "maintenance-log.csv"
WO_FILE = "work-orders.jsonl"
LOG_COLUMNS = (
    "record_id",
    "date",
    "asset",
    "technician",
    "failure_mode",
    "symptom",
    "action",
    "parts",
    "downtime_min",
    "work_order",
)
# ISO 14224 failure modes, as control/workorders/models.py FailureMode.
FAILURE_MODES = frozenset(
    {"AIR", "BRD", "ELP", "ELU", "ERO", "FTS", "STP", "HIO", "LOO", "NOI", "OHE", "PDE"}
    | {"SER", "STD", "VIB", "OTH", "UNK"}
)
PRIORITIES = frozenset({"emergency", "high", "medium", "low"})
STATUSES = frozenset({"open", "planned", "in_progress", "on_hold", "completed", "cancelled"})

OKAFOR, LINDQVIST, PATEL, NOVAK = "J. Okafor", "M. Lindqvist", "R. Patel", "S. Novak"
BRANDT, MOREAU = "K. Brandt", "A. Moreau"
MECHANICAL = (OKAFOR, PATEL, OKAFOR, PATEL, NOVAK)
ELECTRICAL = (LINDQVIST, LINDQVIST, NOVAK, PATEL)
GENERAL = (NOVAK, OKAFOR, LINDQVIST, PATEL)

# Plant shutdowns: no production, so no running inspections; big jobs are planned into them.
SHUTDOWNS = (
    (dt.date(2024, 12, 23), dt.date(2025, 1, 3)),
    (dt.date(2025, 8, 4), dt.date(2025, 8, 15)),
    (dt.date(2025, 12, 22), dt.date(2026, 1, 2)),
    (dt.date(2026, 8, 3), dt.date(2026, 8, 14)),
)
BANK_HOLIDAYS = frozenset(
    dt.date.fromisoformat(day)
    for day in (
        *("2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25"),
        *("2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31"),
    )
)
# Brennan & Voss inspection visits (service agreement, spring and autumn): they replace that
# month's in-house press PM.
BV_VISITS = tuple(
    dt.date.fromisoformat(day)
    for day in ("2024-11-16", "2025-04-12", "2025-10-11", "2026-04-25", "2026-10-10")
)
# Work orders whose numbers other documents quote; the rest are numbered around them.
FIXED_NUMBERS = {
    "p3-tonnage-cal-2025": "WO-25-0112",
    "f2-feed-rolls": "WO-25-0388",
    "p3-clutch-discs": "WO-25-0502",
    "p3-main-bearing": "WO-26-0117",
    "p3-tonnage-cal-2026": "WO-26-0163",
    "v2-led-bar": "WO-26-0241",
    "f2-dump-valve": "WO-26-0305",
}
# Plant-wide work orders per year (all lines and buildings); these assets hold a share of them.
WO_PER_YEAR = 655


def day(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def in_shutdown(when: dt.date) -> bool:
    return any(first <= when <= last for first, last in SHUTDOWNS)


def is_workday(when: dt.date) -> bool:
    return when.weekday() < 5 and not in_shutdown(when) and when not in BANK_HOLIDAYS


def nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))


def months() -> Iterator[tuple[int, int]]:
    year, month = START.year, START.month
    while (year, month) <= (END.year, END.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def weekly(weekday: int, every: int = 1, phase: int = 0) -> Iterator[dt.date]:
    """Production days on ``weekday`` (moved to the next workday after a bank holiday)."""
    current = START + dt.timedelta(days=(weekday - START.weekday()) % 7)
    while current <= END:
        if current.isocalendar().week % every == phase:
            slot = current
            while slot.weekday() < 5 and slot in BANK_HOLIDAYS:
                slot += dt.timedelta(days=1)
            if is_workday(slot) and slot <= END:
                yield slot
        current += dt.timedelta(days=7)


def season(when: dt.date) -> float:
    """+1 in mid-July, -1 in mid-January: hall temperature drives oil and bearing temperatures."""
    return math.cos(2 * math.pi * (when.timetuple().tm_yday - 196) / 365.25)


@dataclass
class WorkOrder:
    key: str
    opened: dt.date
    closed: dt.date | None
    asset: str
    priority: str
    failure_mode: str
    symptom: str
    tasks: list[str]
    parts: list[str]
    lockout_required: bool
    status: str
    findings: str
    number: str = ""


@dataclass
class Entry:
    date: dt.date
    asset: str
    technician: str
    failure_mode: str
    symptom: str
    action: str
    parts: tuple[str, ...] = ()
    downtime_min: int = 0
    order_key: str | None = None
    routine: bool = False  # calendar inspection, dropped where a written event covers the day
    record_id: str = ""


@dataclass
class History:
    rng: random.Random
    entries: list[Entry] = field(default_factory=list)
    orders: dict[str, WorkOrder] = field(default_factory=dict)

    def log(
        self,
        when: dt.date | str,
        asset: str,
        technician: str,
        mode: str,
        symptom: str,
        action: str,
        parts: tuple[str, ...] = (),
        downtime: int = 0,
        order: str | None = None,
        routine: bool = False,
    ) -> None:
        when = day(when) if isinstance(when, str) else when
        self.entries.append(
            Entry(when, asset, technician, mode, symptom, action, parts, downtime, order, routine)
        )

    def order(
        self,
        key: str,
        opened: dt.date | str,
        closed: dt.date | str | None,
        asset: str,
        priority: str,
        mode: str,
        symptom: str,
        tasks: list[str],
        parts: list[str] | tuple[str, ...] = (),
        lockout: bool = True,
        findings: str = "",
        status: str = "completed",
    ) -> str:
        opened = day(opened) if isinstance(opened, str) else opened
        closed = day(closed) if isinstance(closed, str) else closed
        if key in self.orders:
            raise ValueError(f"work order key {key!r} used twice")
        self.orders[key] = WorkOrder(
            key,
            max(opened, START),
            closed,
            asset,
            priority,
            mode,
            symptom,
            tasks,
            list(parts),
            lockout,
            status,
            findings,
        )
        return key

    def pick(self, people: tuple[str, ...]) -> str:
        return self.rng.choice(people)


# --- press-3 (P-400) wear models -------------------------------------------------------------

# Crown bearing trend before the March 2026 replacement: (vibration mm/s, bearing temp degC).
P3_BEARING_TREND = {
    day("2025-12-01"): (2.6, 45),
    day("2025-12-08"): (2.7, 45),
    day("2025-12-15"): (2.8, 46),
    day("2026-01-05"): (3.1, 47),
    day("2026-01-12"): (3.4, 48),
    day("2026-01-19"): (3.8, 50),
    day("2026-01-26"): (4.2, 52),
    day("2026-02-02"): (4.6, 53),
    day("2026-02-05"): (4.8, 54),
    day("2026-02-09"): (5.0, 55),
    day("2026-02-12"): (5.2, 56),
    day("2026-02-16"): (5.4, 57),
    day("2026-02-19"): (5.6, 58),
    day("2026-02-23"): (5.9, 59),
    day("2026-02-26"): (6.1, 60),
    day("2026-03-02"): (6.3, 61),
    day("2026-03-05"): (6.5, 62),
    day("2026-03-09"): (6.8, 63),
}
P3_BEARING_REPLACED = day("2026-03-14")
P3_TREND_WATCH = (day("2026-02-02"), day("2026-03-09"))

# Brake stop time at 90 deg (ms, brake monitor limit 250 ms) at each monthly PM or visit.
P3_STOP_TIME = {
    (2024, 11): 184, (2024, 12): 186, (2025, 1): 188, (2025, 2): 191, (2025, 3): 193,
    (2025, 4): 197, (2025, 5): 200, (2025, 6): 205, (2025, 7): 211, (2025, 8): 216,
    (2025, 9): 226, (2025, 10): 238, (2025, 11): 176, (2025, 12): 177, (2026, 1): 178,
    (2026, 2): 178, (2026, 3): 179, (2026, 4): 180, (2026, 5): 180, (2026, 6): 181,
    (2026, 7): 182, (2026, 8): 182, (2026, 9): 183, (2026, 10): 184,
}  # fmt: skip
# Quarterly gib clearance checks in months without a Brennan & Voss visit (limit 0.25 mm).
P3_GIB_CHECKS = {
    (2025, 1): "0.12-0.13 mm",
    (2025, 7): "0.14 mm",
    (2026, 1): "0.19-0.20 mm, wear rate up",
    (2026, 7): "0.28 mm, above 0.25 lim - liners P400-GIB-08 booked for summer shutdown",
}
# Press-1 brake stop time (limit 200 ms); discs P200-CB-FD08 replaced 2026-02-21.
P1_STOP_TIME = {
    (2024, 11): 171, (2024, 12): 172, (2025, 1): 173, (2025, 2): 174, (2025, 3): 175,
    (2025, 4): 176, (2025, 5): 177, (2025, 6): 178, (2025, 7): 180, (2025, 8): 181,
    (2025, 9): 182, (2025, 10): 184, (2025, 11): 185, (2025, 12): 187, (2026, 1): 189,
    (2026, 2): 192, (2026, 3): 141, (2026, 4): 142, (2026, 5): 142, (2026, 6): 143,
    (2026, 7): 143, (2026, 8): 144, (2026, 9): 145, (2026, 10): 145,
}  # fmt: skip


def p3_reading(history: History, when: dt.date) -> tuple[float, int]:
    """Crown vibration (mm/s) and main bearing temperature (degC) at 20 spm, warm press."""
    if when in P3_BEARING_TREND:
        return P3_BEARING_TREND[when]
    noise = history.rng.gauss(0, 0.1)
    if when > P3_BEARING_REPLACED:
        months_run = (when - P3_BEARING_REPLACED).days / 30.4
        vibration = 1.9 + min(0.25, 0.03 * months_run) + noise
    else:
        # After the July 2025 low lube flow event the bearing ran a little rougher.
        vibration = 2.25 + (0.15 if when >= day("2025-07-16") else 0.0) + noise
    temperature = 42 + 4 * season(when) + history.rng.gauss(0, 0.8)
    return round(min(max(vibration, 1.6), 2.9), 1), round(temperature)


# --- feeder roll wear models (diameters measured at the strip centre) ---------------------------

F2_ROLLS_REPLACED = day("2025-08-21")
F1_ROLLS_REPLACED = day("2025-05-17")


def _wear(when: dt.date, fitted: dt.date, new: float, days_to_limit: int, loss: float) -> float:
    return new - loss * (when - fitted).days / days_to_limit


def f2_roll_diameter(when: dt.date) -> float:
    """FD600 feed rolls: new 100.0 mm, wear limit 99.2 mm (reached in August 2025)."""
    if when >= F2_ROLLS_REPLACED:
        return _wear(when, F2_ROLLS_REPLACED, 100.0, 730, 0.5)
    return _wear(when, day("2024-02-12"), 100.0, 556, 0.8)


def f1_roll_diameter(when: dt.date) -> float:
    """FD400 feed rolls: new 80.0 mm, wear limit 79.4 mm."""
    if when >= F1_ROLLS_REPLACED:
        return _wear(when, F1_ROLLS_REPLACED, 80.0, 528, 0.5)
    return _wear(when, day("2023-09-04"), 80.0, 621, 0.6)


# --- vision-2 LED bar model ------------------------------------------------------------------

V2_LED_REPLACED = day("2026-06-02")
V2_LED_HOURS_AT_REPLACEMENT = 20112


# Weekly checks of the worn LED bar before its replacement (V-30: illumination check failed).
V2_LED_END_OF_LIFE = {
    day("2026-05-06"): (121, "marginal after cleaning"),
    day("2026-05-13"): (120, "marginal after cleaning"),
    day("2026-05-20"): (118, "V-30 illum, run under QA dev. QD-26-014, LED bar on order"),
    day("2026-05-27"): (117, "V-30 illum, run under QA dev. QD-26-014, LED bar on order"),
}


def v2_running_days(first: dt.date, last: dt.date) -> int:
    count, current = 0, first
    while current < last:
        count += is_workday(current)
        current += dt.timedelta(days=1)
    return count


def v2_led_hours(when: dt.date) -> int:
    """LED bar burn hours (24 h per production day) as shown on the VI-2 status page."""
    if when >= V2_LED_REPLACED:
        return 24 * v2_running_days(V2_LED_REPLACED, when)
    return V2_LED_HOURS_AT_REPLACEMENT - 24 * v2_running_days(when, V2_LED_REPLACED)


def v2_grey(history: History, hours: int) -> int:
    """Grey patch counts on VI2-CAL-TGT (accept 128 +/- 8): LED output falls late in life."""
    wear = max(0.0, (hours - 11000) / 9000) ** 1.6
    return max(120, round(131 - 11 * wear + history.rng.gauss(0, 0.7)))


# --- routine inspections and PMs -------------------------------------------------------------


def press_3_routine(history: History) -> None:
    rng = history.rng
    for when in weekly(0):
        vibration, temperature = p3_reading(history, when)
        lube = round(rng.uniform(2.0, 2.3), 1)
        if day("2025-07-01") <= when < day("2025-07-16"):
            lube = 1.9
        air = round(rng.uniform(5.9, 6.2), 1)
        watch = P3_TREND_WATCH[0] <= when < P3_TREND_WATCH[1]
        noise = "no abn noise"
        if when >= day("2026-02-16") and watch:
            noise = "faint growl at DS brg cap w/ stethoscope"
        if vibration >= 4.5:
            noise += ", W-310 warning on HMI"
        symptom = "Wkly insp P-400"
        action = (
            f"Lube lvl OK, lube press {lube} bar, clutch air {air} bar, vib {vibration} mm/s, "
            f"brg {temperature} C @ 20 spm, {noise}."
        )
        mode = "OTH"
        order = None
        if watch:
            symptom = "Wkly insp P-400 + vib trend reading"
            action += " Trend sent to K. Brandt."
            mode, order = "VIB", "p3-vibration-trend"
        elif vibration >= 3.0 and when < P3_BEARING_REPLACED:
            action += " Vib rising vs 2.3 baseline, readings sent to K. Brandt."
            mode = "VIB"
        elif vibration >= 2.6 and when < P3_BEARING_REPLACED and when >= day("2025-12-01"):
            action += " Slight rise vs baseline, watch."
        if rng.random() < 0.12 and mode == "OTH":
            extra = rng.choice(
                (
                    ("Topped up lube tank 1.5 L VG 220.", "SER"),
                    ("Gib wiper LH front torn, repl from stock.", "SER"),
                    ("Drained condensate clutch air FRL, bowl half full.", "SER"),
                    ("Crown walkway guard bolt missing, fitted.", "SER"),
                )
            )
            action += " " + extra[0]
            mode = extra[1]
        technician = history.pick(MECHANICAL)
        history.log(when, "press-3", technician, mode, symptom, action, (), 0, order, True)
    # Twice-weekly readings while the bearing was being watched.
    for when in (day(x) for x in ("2026-02-05", "2026-02-12", "2026-02-19", "2026-02-26")):
        vibration, temperature = P3_BEARING_TREND[when]
        history.log(
            when,
            "press-3",
            PATEL,
            "VIB",
            "Extra vib reading DS main brg (twice-wkly watch)",
            f"Vib {vibration} mm/s, brg {temperature} C @ 20 spm. Env 1.9-2.4 gE, BPFO peaks "
            "growing.",
            order="p3-vibration-trend",
        )
    history.log(
        "2026-03-05",
        "press-3",
        PATEL,
        "VIB",
        "Extra vib reading DS main brg (twice-wkly watch)",
        "Vib 6.5 mm/s, brg 62 C @ 20 spm. Env 2.7 gE. Brg repl booked Sat 14-Mar, brg called off "
        "from B&V consignment stock.",
        order="p3-vibration-trend",
    )


def press_3_monthly(history: History) -> None:
    rng = history.rng
    skip = {(2025, 11), (2026, 3)}  # done inside WO-25-0502 and WO-26-0117
    skip |= {(visit.year, visit.month) for visit in BV_VISITS}
    for year, month in months():
        if (year, month) in skip:
            continue
        when = nth_weekday(year, month, 5, 2)
        stop = P3_STOP_TIME[(year, month)]
        dp = round(rng.uniform(0.3, 0.7), 1)
        findings = (
            f"C/b stop time {stop} ms @ 90 deg (lim 250). Clutch air 6.0 bar, no leaks. "
            f"Lube filter dP {dp} bar (red at 2.5). CB press per die chart. Light curtain + "
            f"two-hand test OK."
        )
        mode, parts = "OTH", []
        if stop >= 210 and (year, month) < (2025, 11):
            findings += " Stop time rising, pad wear - raise w/ B&V at autumn visit."
            mode = "STP"
        if (year, month) in P3_GIB_CHECKS:
            findings += f" Quarterly gib clr check: {P3_GIB_CHECKS[(year, month)]}."
        if month in (2, 6, 10):
            findings += " Lube filter elem changed (2,000 h)."
            parts = ["P400-LUB-FLT10"]
        key = history.order(
            f"p3-pm-{year}-{month:02d}",
            when - dt.timedelta(days=7),
            when,
            "press-3",
            "medium",
            mode,
            "Scheduled monthly PM press-3 P-400: clutch/brake, air, lube, safety devices",
            [
                "LOTO E-P3-01, E-P3-02",
                "Measure brake stop time at 90 deg with brake monitor",
                "Check clutch/brake air 5.5-6.5 bar, leaks at rotary union",
                "Check lube filter dP, oil level, crown lines",
                "Check counterbalance pressure against die chart",
                "Test light curtains (30 mm rod) and two-hand controls",
            ],
            parts,
            True,
            findings,
        )
        history.log(
            when,
            "press-3",
            history.pick(MECHANICAL),
            mode,
            "Monthly PM P-400",
            findings,
            tuple(parts),
            rng.choice((90, 105, 120, 120, 150)),
            key,
        )


def press_3_oil_samples(history: History) -> None:
    samples = (
        ("2025-01-14", 36, "17/15/12", "OK"),
        ("2025-04-15", 41, "17/15/12", "OK"),
        ("2025-07-22", 47, "18/16/13", "OK, slight rise after low flow event"),
        ("2025-10-14", 55, "18/16/13", "CAUTION Fe 50-100 ppm, resample in 250 h"),
        ("2025-12-09", 61, "18/16/13", "CAUTION Fe 61 ppm, trend up, next quarterly"),
        ("2026-01-14", 95, "19/17/14", "CAUTION Fe 95 ppm near action lim, resample 4 wk"),
        ("2026-02-10", 142, "20/18/15", "ACTION Fe 142 ppm > 100, brg wear particles (ferrogr.)"),
        ("2026-07-14", 26, "16/14/11", "OK"),
        ("2026-10-13", 31, "16/14/11", "OK"),
    )
    for when, iron, code, verdict in samples:
        order = "p3-vibration-trend" if when == "2026-02-10" else None
        mode = "VIB" if iron > 90 else "OTH"
        history.log(
            when,
            "press-3",
            history.pick(MECHANICAL),
            mode,
            "Quarterly oil sample P-400 lube (VG 220)",
            f"Sample from crown return line sent to lab. Result: Fe {iron} ppm, ISO 4406 {code}, "
            f"water < 200 ppm, visc in spec. {verdict}.",
            order=order,
        )


def press_1_routine(history: History) -> None:
    rng = history.rng
    for when in weekly(3, every=2, phase=1):
        vibration = round(1.8 + rng.gauss(0, 0.12), 1)
        temperature = round(39 + 4 * season(when) + rng.gauss(0, 0.8))
        action = (
            f"Lube lvl OK (VG 150), clutch air {round(rng.uniform(5.8, 6.2), 1)} bar, vib "
            f"{vibration} mm/s, brg {temperature} C @ 30 spm, light curtain OK."
        )
        technician = history.pick(MECHANICAL)
        history.log(when, "press-1", technician, "OTH", "2-wkly insp P-200", action, routine=True)


def press_1_monthly(history: History) -> None:
    rng = history.rng
    skip = {(visit.year, visit.month) for visit in BV_VISITS} | {(2026, 2)}
    for year, month in months():
        if (year, month) in skip:
            continue
        when = nth_weekday(year, month, 5, 2)
        stop = P1_STOP_TIME[(year, month)]
        findings = (
            f"C/b stop time {stop} ms @ 90 deg (lim 200). Clutch air 6.0 bar. Lube distributor "
            f"cycles OK. Light curtain + two-hand OK."
        )
        mode = "OTH"
        if stop >= 185:
            findings += " Stop time near limit - disc set P200-CB-FD08 to be planned."
            mode = "STP"
        key = history.order(
            f"p1-pm-{year}-{month:02d}",
            when - dt.timedelta(days=7),
            when,
            "press-1",
            "medium",
            mode,
            "Scheduled monthly PM press-1 P-200: clutch/brake, lube, safety devices",
            [
                "LOTO E-P1-01, E-P1-02",
                "Measure brake stop time at 90 deg",
                "Check lube distributor and bearing lines",
                "Test light curtains and two-hand controls",
            ],
            [],
            True,
            findings,
        )
        history.log(
            when,
            "press-1",
            history.pick(MECHANICAL),
            mode,
            "Monthly PM P-200",
            findings,
            (),
            rng.choice((60, 75, 90)),
            key,
        )


def bv_visits(history: History) -> None:
    """Brennan & Voss spring/autumn inspections of both presses (service agreement)."""
    press_3 = {
        day("2024-11-16"): (
            "C/b pad thk 9.6 mm (new 12.0, min 7.0), stop time 184 ms. Conn bushing clr "
            "0.18 mm (lim 0.35). Gib clr 0.12-0.14 mm. Vib spectrum clean, env 0.6 gE. No action."
        ),
        day("2025-04-12"): (
            "C/b pad thk 8.6 mm, stop time 197 ms. Conn bushing clr 0.19 mm. Gib clr 0.13 mm. "
            "Vib 2.3 mm/s, env 0.7 gE. Counterbalance LH rod slightly wet - monitor."
        ),
        day("2025-10-11"): (
            "C/b pad thk 7.4 mm (min 7.0), stop time 238 ms (lim 250). Recommend disc set "
            "P400-CB-FD12 repl within 4 wk. Conn bushing clr 0.21 mm. Gib clr 0.15 mm. Vib 2.5 "
            "mm/s, env 0.9 gE - brg OK for now, trend."
        ),
        day("2026-04-25"): (
            "New brg (Mar-26) OK: vib 2.0 mm/s, env 0.3 gE. C/b pad thk 11.6 mm, stop time "
            "180 ms. Conn bushing clr 0.22 mm. Gib clr 0.27 mm > 0.25 lim: repl gib liners "
            "P400-GIB-08 in summer shutdown."
        ),
        day("2026-10-10"): (
            "C/b pad thk 11.3 mm, stop time 184 ms. Conn bushing clr 0.24 mm (lim 0.35). Gib "
            "clr 0.11 mm (new liners). Vib 2.1 mm/s, env 0.3 gE. Oil Fe 31 ppm. No action."
        ),
    }
    press_1 = {
        day("2024-11-16"): "Pad thk 6.8 mm (min 5.0), stop time 171 ms. Vib 1.8 mm/s. OK.",
        day("2025-04-12"): "Pad thk 6.3 mm, stop time 176 ms. Vib 1.9 mm/s. Gibs set 0.10 mm.",
        day("2025-10-11"): "Pad thk 5.6 mm, stop time 184 ms. Plan disc P200-CB-FD08 Q1-26.",
        day("2026-04-25"): "New disc (Feb-26) OK, stop time 142 ms. Vib 1.8 mm/s. OK.",
        day("2026-10-10"): "Pad thk 9.6 mm, stop time 145 ms. Vib 1.9 mm/s. OK.",
    }
    for when in BV_VISITS:
        for asset, text in (("press-3", press_3[when]), ("press-1", press_1[when])):
            label = "P-400" if asset == "press-3" else "P-200"
            key = history.order(
                f"bv-{asset}-{when.isoformat()}",
                when - dt.timedelta(days=42),
                when,
                asset,
                "low",
                "OTH",
                f"Brennan & Voss {'spring' if when.month < 7 else 'autumn'} inspection {label} "
                "(service agreement)",
                [
                    "Host B&V service engineer, LOTO by plant tech + B&V personal lock",
                    "Clutch/brake disc thickness and stop time",
                    "Connection bushing and gib clearance",
                    "Vibration spectrum + envelope on main bearings",
                    "Lube system insp and oil sample",
                    "B&V written report within 10 working days",
                ],
                [],
                True,
                text,
            )
            history.log(
                when,
                asset,
                PATEL if asset == "press-3" else OKAFOR,
                "OTH",
                f"B&V {'spring' if when.month < 7 else 'autumn'} insp {label}, B&V svc eng on site",
                text,
                (),
                300 if asset == "press-3" else 240,
                key,
            )


def feeder_2_routine(history: History) -> None:
    rng = history.rng
    for when in weekly(1):
        if day("2025-06-10") <= when < day("2025-08-21"):
            rolls = "polished band at strip centre"
            scatter = rng.choice((0.25, 0.3, 0.3, 0.35, 0.4))
        else:
            rolls = "no pickup/flats"
            scatter = rng.choice((0.05, 0.05, 0.08, 0.1))
        action = (
            f"Feed rolls cleaned w/ IPA, {rolls}. Feed scatter +/-{scatter} mm. Straightener OK, "
            f"air {round(rng.uniform(5.9, 6.4), 1)} bar @ E-F2-02, jam sensor test OK."
        )
        mode = "PDE" if scatter >= 0.25 else "OTH"
        technician = history.pick(GENERAL)
        history.log(when, "feeder-2", technician, mode, "Wkly insp FD-600", action, routine=True)


def feeder_2_monthly(history: History) -> None:
    rng = history.rng
    for year, month in months():
        when = nth_weekday(year, month, 2, 1)
        if when < START:
            continue
        deflection = rng.choice((5.2, 5.4, 5.5, 5.6, 5.8))
        prc_ms = rng.choice((41, 43, 45, 47))
        if day("2025-11-20") <= when <= day("2025-12-18"):
            prc_ms = 58
        findings = (
            f"Timing belt FD600-BLT-8M {deflection} mm @ 60 N (spec 5.5). Pilot release "
            f"FD600-PRC-40 stroke {prc_ms} ms (lim 60). Feed + straightener roll brgs greased. "
            f"Drive cabinet filter mat cleaned. Jam sensor FD600-PRX-18 tested."
        )
        if month in (1, 4, 7, 10):
            findings += f" Quarterly: feed roll dia {f2_roll_diameter(when):.2f} mm (lim 99.2)."
        mode = "OTH"
        if (year, month) == (2025, 11):
            findings += " Belt teeth cracked at 4 places - repl belt planned."
            mode = "SER"
        if prc_ms >= 55:
            findings += " PRC slow - watch."
        key = history.order(
            f"f2-pm-{year}-{month:02d}",
            when - dt.timedelta(days=7),
            when,
            "feeder-2",
            "medium",
            mode,
            "Scheduled monthly PM feeder-2 FD-600",
            [
                "LOTO E-F2-01 and E-F2-02",
                "Check timing belt tension (5.5 mm at 60 N) and teeth",
                "Time pilot release cylinder stroke",
                "Grease feed and straightener roll bearings",
                "Clean drive cabinet filter mat",
                "Test jam sensor with test plate",
            ],
            [],
            True,
            findings,
        )
        history.log(
            when,
            "feeder-2",
            history.pick(GENERAL),
            mode,
            "Monthly PM FD-600",
            findings,
            (),
            rng.choice((45, 60, 60, 75)),
            key,
        )


def conveyor_2_routine(history: History) -> None:
    rng = history.rng
    for when in weekly(3, every=2, phase=0):
        action = (
            f"Belt tracking {rng.choice((17, 18, 19, 20, 21, 22))}/{rng.choice((18, 19, 20, 21))} "
            f"mm, belt surface OK, photo-eye TC2-PE-01 count check OK, gearmotor "
            f"{round(38 + 6 * season(when) + rng.gauss(0, 1.5))} C."
        )
        technician = history.pick(GENERAL)
        history.log(when, "conveyor-2", technician, "OTH", "2-wkly insp TC-2", action, routine=True)


def conveyor_2_monthly(history: History) -> None:
    rng = history.rng
    for year, month in months():
        when = nth_weekday(year, month, 3, 3)
        findings = (
            "LOTO E-C2-01. Belt tension (slip test) + tracking checked, idlers spun by hand - all "
            "free, TC2-PE-01 lens cleaned, joint OK."
        )
        if month in (1, 4, 7, 10):
            findings += " Quarterly: pulley brgs greased, gearbox TC2-GBX-25 oil lvl OK, no leaks."
        key = history.order(
            f"c2-pm-{year}-{month:02d}",
            when - dt.timedelta(days=7),
            when,
            "conveyor-2",
            "low",
            "OTH",
            "Scheduled monthly PM conveyor-2 TC-2",
            [
                "LOTO E-C2-01",
                "Check belt tension and tracking",
                "Spin-check idlers TC2-IDL-50",
                "Check gearbox oil level",
                "Clean photo-eye TC2-PE-01",
            ],
            [],
            True,
            findings,
        )
        history.log(
            when,
            "conveyor-2",
            history.pick(GENERAL),
            "OTH",
            "Monthly PM TC-2",
            findings,
            (),
            rng.choice((30, 40, 45)),
            key,
        )


def vision_2_routine(history: History) -> None:
    rng = history.rng
    for when in weekly(2):
        hours = v2_led_hours(when)
        grey = v2_grey(history, hours)
        size = round(50.0 + rng.choice((-0.02, -0.01, 0.0, 0.01, 0.02)), 2)
        if day("2026-03-01") <= when < V2_LED_REPLACED:
            false_rejects = round(rng.uniform(0.9, 1.5), 1)
        else:
            false_rejects = round(rng.uniform(0.2, 0.6), 1)
        action = (
            f"Cal check w/ VI2-CAL-TGT: {size:.2f} mm, grey {grey}, D1-D3 > 0.8. LED bar "
            f"{hours:,} h. False rej {false_rejects} % last wk. Cover glass cleaned."
        )
        mode = "OTH"
        if when in V2_LED_END_OF_LIFE:
            grey, note = V2_LED_END_OF_LIFE[when]
            action = (
                f"Cal check w/ VI2-CAL-TGT: {size:.2f} mm, grey {grey} ({note}), D1-D3 > 0.8. LED "
                f"bar {hours:,} h. False rej {false_rejects} % last wk. Cover glass cleaned."
            )
            mode = "LOO"
        elif grey <= 122 and when < V2_LED_REPLACED:
            action += " Grey lvl low end of window - LED ageing."
            mode = "LOO"
        technician = history.pick(ELECTRICAL)
        history.log(when, "vision-2", technician, mode, "Wkly check VI-2", action, routine=True)


def vision_2_quarterly(history: History) -> None:
    for year, month in months():
        if month not in (1, 4, 7, 10):
            continue
        when = nth_weekday(year, month, 1, 1)
        if in_shutdown(when):
            when += dt.timedelta(days=7)
        findings = (
            "Lens VI2-LNS-16 focus + aperture checked, camera mount bolts tight, reject valve "
            "VI2-REJ-VLV cycle test 50x OK, air 6 bar, vision PC image backup done."
        )
        key = history.order(
            f"v2-pm-{year}-{month:02d}",
            when - dt.timedelta(days=7),
            when,
            "vision-2",
            "low",
            "OTH",
            "Scheduled quarterly PM vision-2 VI-2",
            [
                "Check lens focus and aperture lock",
                "Check camera VI2-CAM-5MP mount",
                "Cycle test reject valve VI2-REJ-VLV",
                "Back up recipes and image library",
            ],
            [],
            False,
            findings,
        )
        history.log(when, "vision-2", LINDQVIST, "OTH", "Quarterly PM VI-2", findings, (), 30, key)


def feeder_1_routine(history: History) -> None:
    rng = history.rng
    for when in weekly(4, every=2, phase=0):
        action = (
            f"Rolls FD400-ROLL cleaned, feed scatter +/-{rng.choice((0.05, 0.08, 0.1))} mm, jam "
            f"sensor FD400-PRX-12 test OK @ 12 mm, air {round(rng.uniform(5.9, 6.3), 1)} bar."
        )
        technician = history.pick(GENERAL)
        history.log(when, "feeder-1", technician, "OTH", "2-wkly insp FD-400", action, routine=True)


def feeder_1_quarterly(history: History) -> None:
    for year, month in months():
        if month not in (2, 5, 8, 11):
            continue
        when = nth_weekday(year, month, 4, 3)
        findings = (
            f"Timing belt FD400-BLT-8M 4.5 mm @ 40 N OK, feed roll dia "
            f"{f1_roll_diameter(when):.2f} mm (lim 79.4), pilot release stroke OK, jam sensor "
            "FD400-PRX-12 at 15 mm, decoiler DC-1 brake pad OK."
        )
        if f1_roll_diameter(when) < 79.45:
            findings += " Rolls at wear limit, new pair on order."
        key = history.order(
            f"f1-pm-{year}-{month:02d}",
            when - dt.timedelta(days=7),
            when,
            "feeder-1",
            "low",
            "OTH",
            "Scheduled quarterly PM feeder-1 FD-400",
            [
                "LOTO E-F1-01, E-F1-02",
                "Check timing belt (4.5 mm at 40 N) and measure feed roll diameter",
                "Check pilot release",
                "Check jam sensor bracket",
            ],
            [],
            True,
            findings,
        )
        history.log(when, "feeder-1", NOVAK, "OTH", "Quarterly PM FD-400", findings, (), 45, key)


def shutdown_jobs(history: History) -> None:
    """Annual oil changes and other work planned into the Christmas and summer shutdowns."""
    for when in ("2024-12-27", "2025-12-29"):
        key = history.order(
            f"p3-oil-{when[:4]}",
            day(when) - dt.timedelta(days=14),
            when,
            "press-3",
            "low",
            "OTH",
            "Annual lube oil change press-3 (38 L ISO VG 220)",
            ["LOTO E-P3-01", "Drain 38 L", "Change filter element", "Fill Mobilgear 600 XP 220"],
            ["P400-LUB-FLT10"],
            True,
            "Oil drained, tank + strainer cleaned, new filter, 38 L VG 220 filled, lube press "
            "2.2 bar at restart.",
        )
        history.log(
            when,
            "press-3",
            OKAFOR,
            "OTH",
            "Annual oil chg P-400 (shutdown)",
            "Drained 38 L, cleaned tank + suction strainer, new filter elem, filled 38 L Mobilgear "
            "600 XP 220. Lube press 2.2 bar.",
            ("P400-LUB-FLT10",),
            240,
            key,
        )
    for when in ("2025-08-06", "2026-08-04"):
        key = history.order(
            f"p1-oil-{when[:4]}",
            day(when) - dt.timedelta(days=14),
            when,
            "press-1",
            "low",
            "OTH",
            "Annual lube oil change press-1 (ISO VG 150)",
            ["LOTO press-1", "Drain and flush", "Fill ISO VG 150", "Check distributor"],
            [],
            True,
            "Oil changed, distributor cycle checked, no leaks.",
        )
        history.log(
            when,
            "press-1",
            PATEL,
            "OTH",
            "Annual oil chg P-200 (shutdown)",
            "Drained + flushed, filled ISO VG 150, distributor cycles OK.",
            (),
            180,
            key,
        )
    for when in ("2025-08-07",):
        key = history.order(
            f"c2-gbx-oil-{when[:4]}",
            day(when) - dt.timedelta(days=14),
            when,
            "conveyor-2",
            "low",
            "OTH",
            "2-yearly gearbox oil change conveyor-2 TC2-GBX-25 (1.1 L ISO VG 220)",
            ["LOTO E-C2-01", "Drain gearbox", "Refill 1.1 L", "Check breather"],
            [],
            True,
            "Gearbox oil changed, breather clean.",
        )
        history.log(
            when,
            "conveyor-2",
            NOVAK,
            "OTH",
            "2-yearly gearbox oil chg TC-2 (shutdown)",
            "LOTO E-C2-01. Gearbox TC2-GBX-25 drained, refilled 1.1 L VG 220, breather cleaned.",
            (),
            60,
            key,
        )


# --- hand-written history: faults, repairs and the events other documents cite ----------------


def press_3_events(history: History) -> None:
    log, order = history.log, history.order
    # fmt: off
    order("p3-air-dryer", "2024-12-10", "2024-12-10", "press-3", "high", "LOO",
          "E-415 clutch air pressure low at shift start, press will not run",
          ["Check plant air and clutch air FRL", "Clear air dryer DR-2 drain", "Test E-415 reset"],
          [], False,
          "Plant air 4.8 bar after cold night (-6 C): auto drain on air dryer DR-2 frozen, "
          "condensate carried over. Drain cleared, trace heating fitted by facilities.")
    log("2024-12-10", "press-3", LINDQVIST, "LOO",
        "E-415 clutch air low @ 05:50, P-400 won't cycle",
        "Plant air 4.8 bar. DR-2 auto drain frozen. Cleared drain, air back 6.1 bar, E-415 "
        "reset, FRL bowl drained. Facilities to add trace heat.", (), 55, "p3-air-dryer")
    order("p3-filter-2025-01", "2025-01-22", "2025-01-22", "press-3", "high", "LOO",
          "E-204 lube pressure low at start-up", ["Check oil level and filter dP",
          "Replace filter element", "Verify lube pressure"], ["P400-LUB-FLT10"], True,
          "Filter dP indicator red, element loaded with fibres (rag in tank from Dec oil chg?). "
          "New element, lube press 2.2 bar.")
    log("2025-01-22", "press-3", OKAFOR, "LOO", "E-204 lube press 1.4 bar at start-up",
        "Filter dP indicator red. Repl filter elem P400-LUB-FLT10, found fibres in elem. Lube "
        "press 2.2 bar. Tank inspected, no rag found.", ("P400-LUB-FLT10",), 45,
        "p3-filter-2025-01")
    order("p3-die-sensor-2025-02", "2025-02-11", "2025-02-11", "press-3", "high", "AIR",
          "E-520 die-protection sensor fault on D2-131", ["LOTO E-P3-01, E-P3-02",
          "Trace sensor cable", "Replace cable and reroute"], [], True,
          "Misfeed sensor cable on D2-131 cut by a slug at the die edge. New M12 cable 5 m in "
          "spiral wrap routed above the die shoe.")
    log("2025-02-11", "press-3", LINDQVIST, "AIR", "E-520 die prot sensor fault, D2-131",
        "Misfeed sensor cable cut by slug. LOTO, repl M12 cable 5 m, rerouted in spiral wrap "
        "above die shoe. Sensor test OK.", (), 40, "p3-die-sensor-2025-02")
    order("p3-tonnage-cal-2025", "2025-03-03", "2025-03-08", "press-3", "medium", "PDE",
          "Annual tonnage monitor calibration and overload valve check press-3",
          ["Calibrate TMX-4 channels against load cells per engineering procedure",
          "Check hydraulic overload trip pressure", "File calibration record ECR-P3-TM"], [], True,
          "One channel (CH3) adjusted, others within tolerance; overload trip within tolerance. "
          "Record ECR-P3-TM in engineering binder.")
    log("2025-03-08", "press-3", BRANDT, "PDE", "Annual tonnage monitor cal + overload valve check",
        "Cal per ENG procedure w/ A. Moreau + R. Patel. CH3 adjusted, others in tol. Overload "
        "trip in tol. Record ECR-P3-TM filed.", (), 300, "p3-tonnage-cal-2025")
    order("p3-overload-2025-04", "2025-04-29", "2025-04-29", "press-3", "emergency", "HIO",
          "E-101 hydraulic overload tripped on D2-131 at 20 spm",
          ["LOTO E-P3-01, E-P3-02, die blocks DSB-400", "Remove double strip from die",
          "HOL reset", "Die shop to inspect D2-131"], [], True,
          "Strip buckled at die entry (feeder-2 F-01 on the same stroke), double thickness hit "
          "in stn 2. HOL reset, pump-up normal. Die D2-131 inspected by die shop: no damage. QA "
          "quality hold on 40 parts.")
    log("2025-04-29", "press-3", PATEL, "HIO", "E-101 overload tripped, D2-131 @ 20 spm",
        "Strip buckle at die entry (feeder F-01 same stroke) -> double hit stn 2. LOTO + "
        "DSB-400, strip cut out, HOL reset. Die shop checked die - no dmg. QA hold on 40 pcs.",
        (), 190, "p3-overload-2025-04")
    order("p3-vib-sensor", "2025-05-09", "2025-05-13", "press-3", "high", "AIR",
          "E-310 vibration high alarms, spikes to 9.8 mm/s without noise",
          ["Check with handheld analyser", "Inspect accelerometer mount",
          "Replace vibration sensor P400-VS-603 with bracket"], ["P400-VS-603"], True,
          "Handheld 2.4 mm/s at the same point: bracket of accelerometer cracked, sensor "
          "rattling. Ran at 16 spm (interlock) until the new sensor came. New sensor + bracket, "
          "readings 2.3 mm/s, alarm cleared.")
    log("2025-05-09", "press-3", LINDQVIST, "AIR",
        "E-310 vib high, HMI 9.8 mm/s spikes, no noise, brg 43 C",
        "Handheld 2.4 mm/s at crown. Sensor P400-VS-603 bracket cracked. Temp fix w/ cable tie + "
        "epoxy, speed held 16 spm by interlock. New sensor ordered.", (), 35, "p3-vib-sensor")
    log("2025-05-13", "press-3", LINDQVIST, "AIR", "Repl vib sensor after E-310 false alarms",
        "Fitted new accelerometer P400-VS-603 w/ new bracket, stud 8 N.m, cable clipped. Reading "
        "2.3 mm/s @ 20 spm, E-310 cleared, back to 20 spm.", ("P400-VS-603",), 50, "p3-vib-sensor")
    order("p3-counterbalance-2025", "2025-05-20", "2025-05-24", "press-3", "medium", "ELU",
          "Counterbalance LH cylinder leaking past rod seal, leak-down 0.5 bar in 10 min "
          "(limit 0.3)", ["Group LOTO E-P3-01, E-P3-02, E-P3-03; slide on DSB-400",
          "Replace LH counterbalance seals from kit P400-CBS-KIT", "Leak-down test"],
          ["P400-CBS-KIT"], True,
          "Rod seal LH worn, rod OK (no scoring). New seals, leak-down 0.1 bar in 10 min.")
    log("2025-05-20", "press-3", OKAFOR, "ELU",
        "CB cyl LH leaking past rod seal, leak-down 0.5 bar/10 min (lim 0.3), compressor cycling",
        "Confirmed w/ leak spray. Seal kit P400-CBS-KIT ordered, repl planned Sat.", (), 0,
        "p3-counterbalance-2025")
    log("2025-05-24", "press-3", OKAFOR, "ELU", "Repl CB cyl LH seals",
        "Grp LOTO E-P3-01/02/03, slide on DSB-400, CB air dumped. LH seals repl from kit "
        "P400-CBS-KIT, rod OK. Leak-down 0.1 bar/10 min OK.", ("P400-CBS-KIT",), 360,
        "p3-counterbalance-2025")
    log("2025-06-03", "press-3", LINDQVIST, "AIR", "E-520 die prot sensor fault, D2-114",
        "Part-out sensor bracket loose, sensor face 9 mm from flag (set 4 mm). Reset + torqued "
        "M8 22 N.m. OK.", (), 20)
    order("p3-lube-pump", "2025-07-14", "2025-07-16", "press-3", "emergency", "LOO",
          "E-204 lube pressure low intermittent, then E-312 bearing over-temperature",
          ["Check filter and oil level", "Measure pump flow", "Replace lube pump P400-LUB-PMP2",
          "Oil sample after repair"], ["P400-LUB-PMP2"], True,
          "Pump gears worn, bypass valve seat scored: flow 60 % of rated. Main bearing ran on "
          "low flow approx 26 h (temp up to 86 C on 15-Jul). New pump, lube press 2.3 bar, brg "
          "44 C. Vib 2.5 mm/s, no change. Watch brg trend (possible damage from oil starvation).")
    log("2025-07-14", "press-3", OKAFOR, "LOO",
        "E-204 twice on 2nd shift, gallery press dips to 1.4 bar, 1.7-1.9 between",
        "Filter dP 0.5 bar OK, oil lvl OK. Pump P400-LUB-PMP2 noisy, flow low. New pump ordered "
        "(urgent). Opr to watch brg temp.", (), 30, "p3-lube-pump")
    log("2025-07-15", "press-3", PATEL, "OHE", "E-312 brg over-temp 86 C @ 20 spm, hall 31 C",
        "Lube press 1.4 bar. Stopped, cooled below 60 C w/ pump running. Ran 12 spm on D2-087 w/ "
        "aux hand-filled feed to crown till new pump, brg 68 C max.", (), 240, "p3-lube-pump")
    log("2025-07-16", "press-3", OKAFOR, "LOO", "Repl lube pump after E-204/E-312",
        "LOTO E-P3-01. Repl pump P400-LUB-PMP2, old pump gears worn + bypass seat scored. Lube "
        "press 2.3 bar, brg 44 C @ 20 spm, vib 2.5. Oil sample sent.", ("P400-LUB-PMP2",), 180,
        "p3-lube-pump")
    order("p3-gib-check-2025", "2025-07-28", "2025-08-08", "press-3", "low", "OTH",
          "Summer shutdown: gib clearance, connection bushing and crown inspection press-3",
          ["LOTO E-P3-01..E-P3-04", "Measure gib clearance", "Inspect crown and lube lines"], [],
          True, "Gib clr 0.14-0.16 mm, bushing clr 0.20 mm, crown lines OK. No action.")
    log("2025-08-08", "press-3", PATEL, "OTH", "Shutdown insp P-400: gibs, conn bushing, crown",
        "Gib clr 0.14-0.16 mm (lim 0.25), conn bushing 0.20 mm, crown lines + fittings OK. Brg "
        "cap visual OK.", (), 420, "p3-gib-check-2025")
    order("p3-air-leak-2025-09", "2025-09-04", "2025-09-04", "press-3", "high", "ELU",
          "E-415 clutch air pressure low during production, audible leak at crown",
          ["LOTO E-P3-01, E-P3-02", "Locate leak", "Replace fitting and O-ring"], [], True,
          "12 mm push-in fitting at clutch rotary union cracked. Replaced fitting + O-ring "
          "(stock).")
    log("2025-09-04", "press-3", LINDQVIST, "ELU", "E-415 clutch air low mid-shift, hiss at crown",
        "12 mm push-in fitting at c/b rotary union cracked. LOTO, repl fitting + O-ring from "
        "stock, air 6.1 bar, no leak.", (), 65, "p3-air-leak-2025-09")
    order("p3-clutch-discs", "2025-10-13", "2025-11-07", "press-3", "high", "STP",
          "Brake stop time 238 ms (limit 250 ms), friction pads at 7.4 mm (limit 7 mm)",
          ["LOTO E-P3-01, E-P3-02, E-P3-03; slide on DSB-400",
          "Replace clutch/brake friction disc set P400-CB-FD12",
          "Set air gap, check brake spring pressure",
          "Measure stop time and re-check light curtain safety distance",
          "Monthly PM items for November in the same stop"], ["P400-CB-FD12"], True,
          "Old pads 7.3 mm, even wear, no glazing. New set fitted, air gap 1.5 mm. Stop time 176 "
          "ms @ 90 deg. Light curtain distance (600 mm) still valid. Monthly PM items done.")
    log("2025-10-13", "press-3", PATEL, "STP",
        "C/b disc set due after B&V visit (pads 7.4 mm, stop 238 ms)",
        "Ordered disc set P400-CB-FD12, planned Fri 07-Nov day shift, prod moved to Sat.", (), 0,
        "p3-clutch-discs")
    log("2025-11-07", "press-3", PATEL, "STP", "Repl c/b friction disc set P400-CB-FD12",
        "LOTO E-P3-01/02/03, slide on DSB-400. Old pads 7.3 mm (min 7.0), even wear. New disc "
        "set fitted, air gap 1.5 mm, springs OK. Stop time 176 ms @ 90 deg (was 238). LC test "
        "OK. Nov PM items done.", ("P400-CB-FD12",), 480, "p3-clutch-discs")
    order("p3-rtd", "2025-10-22", "2025-10-22", "press-3", "high", "AIR",
          "Bearing temperature reads 150 degC, E-312 with press cold", ["Check RTD loop",
          "Replace bearing RTD P400-RTD-100"], ["P400-RTD-100"], True,
          "RTD open circuit at the connector (corroded pins). New RTD, reads 39 C matching IR gun.")
    log("2025-10-22", "press-3", LINDQVIST, "AIR", "Brg temp reads 150 C, E-312 w/ press cold",
        "RTD P400-RTD-100 open circuit, connector pins corroded. Repl RTD + connector, reads 39 "
        "C = IR gun. E-312 reset.", ("P400-RTD-100",), 45, "p3-rtd")
    log("2025-12-02", "press-3", OKAFOR, "HIO", "E-101 overload tripped, D2-087 @ 26 spm",
        "Slug pulled up on punch stn 3, double slug. LOTO + DSB-400, slug removed, overload "
        "re-armed. Die shop: punch stripper spring broken, fixed. QA hold 25 pcs.", (), 150)
    order("p3-vibration-trend", "2026-02-02", "2026-03-09", "press-3", "high", "VIB",
          "Crown vibration rising 2.6 -> 4.6 mm/s in 9 weeks, above 4.5 mm/s warning",
          ["Envelope analysis on DS and OS main bearings", "Twice-weekly readings until decision",
          "Extra oil sample (ferrography)",
          "Plan main bearing replacement, call off bearing from consignment stock"], [], False,
          "Envelope shows BPFO peaks with sidebands on DS main brg, 1.8 gE rising to 2.7 gE. Oil "
          "Fe 142 ppm. Outer race defect confirmed (K. Brandt). Replacement raised as WO-26-0117 "
          "(vib 6.8 mm/s + squeal 09-Mar).")
    log("2026-01-20", "press-3", LINDQVIST, "AIR", "E-520 die prot sensor fault, D2-142",
        "Connector on misfeed sensor full of lube mist + slug fines. Cleaned, new connector, "
        "sealed w/ boot. OK.", (), 30)
    order("p3-main-bearing", "2026-03-09", "2026-03-16", "press-3", "high", "VIB",
          "Main bearing: vibration 6.8 mm/s and squeal on the down stroke",
          ["Group LOTO E-P3-01, E-P3-02, E-P3-03, E-P3-04; slide on DSB-400",
          "Replace DS main bearing P400-BRG-23160 per maintenance procedure",
          "New cap bolts, seal kit, oil change 38 L VG 220 and filter",
          "Overload trip check after repair (engineering)",
          "Run-in 8/12/16/20 spm with temperature and vibration readings",
          "New vibration baseline after 24 h; monthly PM items in the same stop"],
          ["P400-BRG-23160", "P400-BRG-SEALKIT", "P400-BLT-M36", "P400-LUB-FLT10"], True,
          "Old bearing: outer race spalling approx 40 mm in the load zone, cage wear. Journal "
          "measured, accepted by K. Brandt but close to repair limit: next replacement needs "
          "journal repair. Probable contributing factor: low lube flow Jul-2025 (lube pump). "
          "Bearing from B&V consignment stock. Baseline after run-in 1.9 mm/s, 0.3 gE, brg 47 C. "
          "Failed bearing sent to supplier for analysis. Previous replacement 2022.")
    log("2026-03-09", "press-3", PATEL, "VIB", "Wkly insp: vib 6.8 mm/s + squeal on down stroke",
        "Vib 6.8 mm/s, brg 63 C @ 20 spm, squeal on down stroke at DS brg cap. Speed cut to 16 "
        "spm w/ supervisor D. Walsh. Brg repl brought fwd, WO raised.", (), 0, "p3-main-bearing")
    log("2026-03-14", "press-3", PATEL, "VIB", "Repl main brg P400-BRG-23160 (DS)",
        "Grp LOTO E-P3-01..04, slide on DSB-400. Old brg out: outer race spalled, cage worn. "
        "Journal + housing measured, OK'd by K. Brandt. New brg fitted per maint procedure, new "
        "cap bolts + seal kit, 38 L VG 220 + new filter. Run-in 8/12/16 spm OK. w/ J. Okafor.",
        ("P400-BRG-23160", "P400-BRG-SEALKIT", "P400-BLT-M36", "P400-LUB-FLT10"), 1260,
        "p3-main-bearing")
    log("2026-03-14", "press-3", BRANDT, "PDE", "Overload trip check after brg repl",
        "Overload trip checked per ENG procedure, in tol. Sealed.", (), 0, "p3-main-bearing")
    log("2026-03-16", "press-3", PATEL, "VIB", "Post brg repl baseline",
        "24 h @ 20 spm: vib 1.9 mm/s, env 0.3 gE, brg 47 C. Baseline saved in CMMS. WO closed.", (),
        0, "p3-main-bearing")
    log("2026-03-27", "press-3", OKAFOR, "OTH", "100 h oil sample after brg repl",
        "Sample sent: Fe 28 ppm, ISO 4406 16/14/11. OK.")
    log("2026-03-28", "press-3", OKAFOR, "OTH", "100 h re-torque check brg cap bolts",
        "LOTO E-P3-01. Cap bolts checked to procedure value (click only), none moved. Paint "
        "marks renewed.", (), 60)
    order("p3-tonnage-cal-2026", "2026-04-07", "2026-04-11", "press-3", "medium", "OTH",
          "Annual tonnage monitor calibration and overload valve check press-3",
          ["Calibrate TMX-4 channels against load cells per engineering procedure",
          "Check hydraulic overload trip pressure", "File calibration record ECR-P3-TM"], [], True,
          "All channels within tolerance, no adjustment. Overload trip within tolerance.")
    log("2026-04-11", "press-3", MOREAU, "OTH", "Annual tonnage monitor cal + overload valve check",
        "Cal per ENG procedure w/ K. Brandt + J. Okafor. All channels in tol, no adj. Overload "
        "trip in tol. ECR-P3-TM filed.", (), 300, "p3-tonnage-cal-2026")
    order("p3-overload-2026-07", "2026-07-09", "2026-07-09", "press-3", "emergency", "HIO",
          "E-101 hydraulic overload tripped on first hit after changeover to D2-142",
          ["LOTO E-P3-01, E-P3-02, die blocks DSB-400", "Re-arm overload",
          "Die shop to inspect D2-142", "Re-set shut height from the setting table"], [], True,
          "Shut height set at 545.5 mm instead of 547.5 mm (one 2 mm step too many). Overload "
          "re-armed, die OK. Die setter re-briefed on CF-21 check. QA hold 3 pcs.")
    log("2026-07-09", "press-3", OKAFOR, "HIO",
        "E-101 overload tripped, 1st hit after chg to D2-142",
        "Shut height 545.5 mm vs table 547.5 (2 mm low). LOTO + DSB-400, overload re-armed, die "
        "shop checked D2-142 OK. Shut height corrected. QA hold 3 pcs.", (), 135,
        "p3-overload-2026-07")
    order("p3-gib-liners", "2026-04-27", "2026-08-05", "press-3", "medium", "STD",
          "Gib clearance 0.27 mm, above 0.25 mm limit (B&V spring inspection 2026)",
          ["Group LOTO E-P3-01..E-P3-04; slide on DSB-400",
          "Replace gib liners P400-GIB-08 (set of 8)", "Set gib clearance 0.10-0.12 mm"],
          ["P400-GIB-08"], True,
          "Liners worn 0.15 mm at bottom of stroke zone, no scoring on slide. New set fitted, "
          "clr 0.10-0.12 mm.")
    log("2026-08-05", "press-3", PATEL, "STD", "Repl gib liners P400-GIB-08 (shutdown)",
        "Grp LOTO, slide on DSB-400. Old liners worn 0.15 mm in BDC zone. New set of 8 fitted, "
        "gib clr set 0.10-0.12 mm. w/ J. Okafor.", ("P400-GIB-08",), 720, "p3-gib-liners")
    order("p3-oil-leak-2026-09", "2026-09-03", "2026-09-03", "press-3", "high", "ELP",
          "E-204 lube pressure low, oil on crown walkway", ["LOTO E-P3-01", "Find leak",
          "Replace fitting", "Top up oil"], [], True,
          "Compression fitting on crown supply line to OS gib split. Approx 4 L lost. New "
          "fitting, 4 L VG 220 topped up, walkway cleaned.")
    log("2026-09-03", "press-3", OKAFOR, "ELP", "E-204 lube press low, oil on crown walkway",
        "Compression fitting OS gib supply split. LOTO E-P3-01, repl fitting, topped up 4 L VG "
        "220. Lube press 2.2 bar. Walkway cleaned, near-miss card for slip hazard.", (), 70,
        "p3-oil-leak-2026-09")
    order("p3-counterbalance-2026", "2026-10-20", None, "press-3", "medium", "ELU",
          "Counterbalance RH cylinder rod seal weeping, leak-down 0.35 bar in 10 min (limit 0.3)",
          ["Group LOTO E-P3-01, E-P3-02, E-P3-03; slide on DSB-400",
          "Replace RH counterbalance seals from kit P400-CBS-KIT", "Leak-down test"],
          ["P400-CBS-KIT"], True, "Waiting for seal kit from Brennan & Voss.", status="on_hold")
    log("2026-10-20", "press-3", OKAFOR, "ELU",
        "CB cyl RH rod seal weeping, leak-down 0.35 bar/10 min (lim 0.3)",
        "Confirmed w/ leak spray. Compressor OK. Seal kit P400-CBS-KIT ordered, WO on hold for "
        "parts, repl on a Sat.", (), 0, "p3-counterbalance-2026")
    order("p3-pm-2026-11", "2026-10-31", None, "press-3", "medium", "OTH",
          "Scheduled monthly PM press-3 P-400: clutch/brake, air, lube, safety devices",
          ["LOTO E-P3-01, E-P3-02", "Measure brake stop time at 90 deg", "Test light curtains"], [],
          True, "", status="planned")
    # fmt: on


def press_1_events(history: History) -> None:
    log, order = history.log, history.order
    # fmt: off
    order("p1-lube-line", "2025-03-19", "2025-03-19", "press-1", "high", "OHE",
          "Main bearing temperature 79 degC (W-312) after 2 h at 35 spm",
          ["LOTO E-P1-01", "Check lube distributor", "Flush bearing line"], [], True,
          "DS bearing line partly blocked at the progressive distributor (sludge). Distributor "
          "cleaned, line flushed. 46 C after 2 h.")
    log("2025-03-19", "press-1", OKAFOR, "OHE",
        "P-200 W-312 brg temp 79 C after 2 h @ 35 spm (normal 45)",
        "DS lube line partly blocked at distributor. LOTO E-P1-01, cleaned distributor, flushed "
        "line. Brg 46 C after 2 h @ 35 spm.", (), 110, "p1-lube-line")
    order("p1-clutch-discs", "2026-01-12", "2026-02-21", "press-1", "medium", "STP",
          "Press-1 brake stop time 189-192 ms, limit 200 ms",
          ["LOTO E-P1-01, E-P1-02, E-P1-03; DSB-200 in",
          "Replace clutch/brake disc P200-CB-FD08", "Set air gap 1.2-2.5 mm, measure stop time",
          "February monthly PM items in the same stop"], ["P200-CB-FD08"], True,
          "Old pads 5.3 mm (limit 5 mm). New disc, stop time 141 ms @ 90 deg. LC distance valid.")
    log("2026-02-21", "press-1", PATEL, "STP", "Repl c/b disc P200-CB-FD08",
        "LOTO E-P1-01/02/03, DSB-200 in. Old pads 5.3 mm (min 5.0). New disc fitted, air gap "
        "1.5 mm. Stop time 141 ms @ 90 deg (was 192). Feb PM items done.", ("P200-CB-FD08",),
        360, "p1-clutch-discs")
    order("p1-vibration-2026-05", "2026-05-12", "2026-05-12", "press-1", "emergency", "VIB",
          "Press-1 vibration alarm 7.4 mm/s, speed limited to 20 spm",
          ["Check with handheld analyser", "Check drive motor and flywheel", "Re-torque"], [], True,
          "2 of 4 main drive motor base bolts loose, belt slapping. Re-torqued, belt tension "
          "set. Vib 2.0 mm/s at 30 spm.")
    log("2026-05-12", "press-1", PATEL, "VIB",
        "P-200 E-310 vib alarm 7.4 mm/s, speed limited 20 spm by interlock",
        "Handheld confirms 7.2 mm/s at 1x motor speed. 2 of 4 drive motor base bolts loose, belt "
        "slap. LOTO E-P1-01, re-torqued, belt tension set. Vib 2.0 mm/s @ 30 spm.", (), 95,
        "p1-vibration-2026-05")
    log("2025-11-18", "press-1", NOVAK, "SER", "P-200 light curtain RH nuisance trips",
        "Receiver lens oily + bracket knocked 3 deg. Cleaned, realigned, tested w/ 30 mm rod OK.",
        (), 25)
    # fmt: on


def feeder_2_events(history: History) -> None:
    log, order = history.log, history.order
    # fmt: off
    order("f2-belt-tension", "2025-02-25", "2025-02-25", "feeder-2", "high", "ERO",
          "F-02 servo overcurrent on acceleration, twice in one shift", ["LOTO E-F2-01, E-F2-02",
          "Check timing belt tension", "Read servo drive fault log"], [], True,
          "Belt FD600-BLT-8M over-tensioned after Feb PM (3.5 mm deflection at 60 N, spec "
          "5.5 mm). Re-tensioned to 5.5 mm, drive log shows normal current.")
    log("2025-02-25", "feeder-2", LINDQVIST, "ERO", "F-02 servo overcurrent on accel, 2x in shift",
        "Drive log: peak 2.6x rated on accel (trip 250 %). Belt FD600-BLT-8M 3.5 mm @ 60 N (spec "
        "5.5). LOTO E-F2-01/02, re-tensioned 5.5 mm. No repeat.", (), 50, "f2-belt-tension")
    order("f2-regulator", "2025-04-08", "2025-04-08", "feeder-2", "high", "LOO",
          "F-05 pilot release timeout 4 times in one shift", ["Check air at E-F2-02",
          "Replace regulator", "Time pilot release stroke"], [], True,
          "Air 4.8 bar after the feeder regulator (diaphragm torn). New regulator from stock, "
          "set 6.0 bar, PRC stroke 44 ms.")
    log("2025-04-08", "feeder-2", NOVAK, "LOO", "F-05 pilot release timeout x4",
        "Air 4.8 bar after feeder reg, diaphragm torn. LOTO E-F2-01/02, new reg from stock set "
        "6.0 bar. PRC stroke 44 ms. OK.", (), 40, "f2-regulator")
    log("2025-06-17", "feeder-2", NOVAK, "PDE",
        "W-09 + pilots marking holes on D2-114, feed scatter +/-0.4 mm (spec +/-0.05)",
        "Rolls show polished band at strip centre. Cleaned w/ IPA, roll press raised 3.0 -> 3.5 "
        "bar. Scatter +/-0.2 mm. Monitor.", (), 35)
    log("2025-07-08", "feeder-2", NOVAK, "PDE", "Feed scatter back to +/-0.3 mm, pilots marking",
        "Roll dia 99.3 mm at centre (new 100.0, lim 99.2), surface glazed. Recommend repl upper + "
        "lower feed rolls. Asked stores for price/lead time from Coilmaster.", (), 20)
    log("2025-07-29", "feeder-2", OKAFOR, "PDE", "F-01 jam x3 this wk, strip slipping on rolls",
        "Slip on rolls at accel. Temp roll press 4.0 bar (table max). Rolls FD600-ROLL-U/-L to "
        "be repl, WO raised, Coilmaster lead time 5 wk, expedite asked.", (), 45,
        "f2-feed-rolls")
    order("f2-feed-rolls", "2025-07-29", "2025-08-21", "feeder-2", "high", "PDE",
          "Feed length scatter +/-0.3-0.4 mm and strip slip, feed rolls at wear limit",
          ["LOTO E-F2-01, E-F2-02",
          "Replace upper and lower feed rolls FD600-ROLL-U and FD600-ROLL-L",
          "Enter measured roll diameter in drive P2-14",
          "Set roll pressure per strip thickness table", "Check feed scatter on D2-114"],
          ["FD600-ROLL-U", "FD600-ROLL-L"], True,
          "Old rolls at wear limit (dia 99.2 mm at strip centre), glazed with pick-up marks. New "
          "rolls fitted, measured dia 100.0 mm entered in P2-14, roll press 3.0 bar for 2.0 mm "
          "strip, feed scatter +/-0.05 mm. Lead time 5 wk, expedited to 3 wk by Coilmaster.")
    log("2025-08-21", "feeder-2", NOVAK, "PDE", "Repl feed rolls FD-600",
        "LOTO E-F2-01/02. Repl upper + lower feed rolls FD600-ROLL-U / FD600-ROLL-L. Old rolls "
        "dia 99.2 mm at centre, glazed + pick-up marks. New dia 100.0 mm entered in P2-14. Roll "
        "press 3.0 bar for 2.0 mm. Feed scatter +/-0.05 mm on D2-114, pilots clean. w/ R. Patel.",
        ("FD600-ROLL-U", "FD600-ROLL-L"), 210, "f2-feed-rolls")
    order("f2-jam-sensor", "2025-10-14", "2025-10-14", "feeder-2", "high", "AIR",
          "False F-01 jams with strip running normally, 5 in one shift", ["LOTO E-F2-01, E-F2-02",
          "Check jam sensor FD600-PRX-18", "Replace sensor"], ["FD600-PRX-18"], True,
          "Sensor face cracked (hit by strip edge), switching erratically. New sensor set at 18 "
          "mm with test plate.")
    log("2025-10-14", "feeder-2", LINDQVIST, "AIR", "False F-01 jams x5, strip running OK",
        "Jam sensor FD600-PRX-18 face cracked, erratic. LOTO, repl sensor, set 18 mm w/ test "
        "plate. No false trips after.", ("FD600-PRX-18",), 40, "f2-jam-sensor")
    order("f2-timing-belt", "2025-11-05", "2025-11-26", "feeder-2", "medium", "SER",
          "Timing belt teeth cracked at 4 places (monthly PM finding)", ["LOTO E-F2-01, E-F2-02",
          "Replace timing belt FD600-BLT-8M", "Tension 5.5 mm at 60 N"], ["FD600-BLT-8M"], True,
          "Belt HTD 8M-1200-50 replaced, tension 5.5 mm at 60 N, pulleys OK.")
    log("2025-11-26", "feeder-2", NOVAK, "SER", "Repl timing belt FD600-BLT-8M",
        "LOTO E-F2-01/02. Repl belt HTD 8M-1200-50 (teeth cracked), pulleys OK, 5.5 mm @ 60 N.",
        ("FD600-BLT-8M",), 75, "f2-timing-belt")
    order("f2-pilot-cylinder", "2025-12-16", "2025-12-18", "feeder-2", "high", "LOO",
          "F-05 pilot release timeout, cylinder stroke 95 ms (timeout 80 ms, normal below 60)",
          ["LOTO E-F2-01, E-F2-02", "Replace pilot release cylinder FD600-PRC-40"],
          ["FD600-PRC-40"], True, "Piston seal bypassing. New cylinder, stroke 42 ms.")
    log("2025-12-16", "feeder-2", NOVAK, "LOO", "F-05 pilot release timeout x3, PRC stroke 95 ms",
        "Air 6.1 bar OK. PRC-40 piston seal bypassing. Ran with release angle -10 deg as temp "
        "fix (A. Moreau OK). Cylinder ordered.", (), 60, "f2-pilot-cylinder")
    log("2025-12-18", "feeder-2", NOVAK, "LOO", "Repl pilot release cyl FD600-PRC-40",
        "LOTO E-F2-01/02. New cylinder FD600-PRC-40, stroke 42 ms. Release angle back to 140 deg.",
        ("FD600-PRC-40",), 55, "f2-pilot-cylinder")
    order("f2-servo-motor", "2026-01-13", "2026-01-17", "feeder-2", "high", "NOI",
          "F-02 servo overcurrent and bearing noise from servo motor", ["LOTO E-F2-01, E-F2-02",
          "Replace servo motor FD600-SRV-4K", "Re-tune drive"], ["FD600-SRV-4K"], True,
          "Motor NDE bearing rough, current ripple. New motor, encoder offset set, drive "
          "autotune. Old motor sent for repair as spare.")
    log("2026-01-13", "feeder-2", LINDQVIST, "NOI",
        "F-02 overcurrent + grinding noise from servo motor",
        "Motor NDE brg rough by stethoscope, current ripple in drive log. Motor ordered, ran "
        "reduced accel (A. Moreau OK).", (), 40, "f2-servo-motor")
    log("2026-01-17", "feeder-2", LINDQVIST, "NOI", "Repl servo motor FD600-SRV-4K",
        "LOTO E-F2-01/02. New 4 kW servo motor, encoder offset set, autotune, P1 params checked "
        "vs manual App. C. Accel back to 25 m/s2. Old motor to repair shop for spare.",
        ("FD600-SRV-4K",), 150, "f2-servo-motor")
    log("2026-04-07", "feeder-2", NOVAK, "AIR", "F-07 coil end w/ approx 300 m left on coil",
        "Coil end sensor lens covered in oil mist. Cleaned, tested w/ strip. OK.", (), 15)
    log("2026-06-24", "feeder-2", NOVAK, "SER",
        "F-01 strip buckled betw straightener + feed rolls; near miss NM-26-047",
        "Opr cleared jam w/ lock on E-F2-01 only; PRC-40 closed on trapped air, glove pinched, "
        "no injury. Checked E-F2-02 ball valve: no exhaust. WO raised for dump valve.", (), 50,
        "f2-dump-valve")
    order("f2-dump-valve", "2026-06-24", "2026-06-25", "feeder-2", "high", "OTH",
          "Near miss NM-26-047: trapped air at E-F2-02 closed the pilot release during jam "
          "clearing",
          ["Replace ball valve at E-F2-02 with lockable 3/2 dump valve, exhaust silencer and gauge",
          "Verify pilot release and straightener vent to 0 bar when locked",
          "Update jam-clearing card at feeder-2"], [], True,
          "Lockable dump valve with gauge fitted at E-F2-02, circuit vents to 0 bar in 3 s when "
          "locked. Cards reissued with H&S (safety bulletin 2026-07).")
    log("2026-06-25", "feeder-2", LINDQVIST, "OTH",
        "Fit lockable dump valve at E-F2-02 after NM-26-047",
        "Repl ball valve w/ lockable 3/2 dump valve + silencer + gauge. Locked = vents to 0 bar "
        "in 3 s. Tested w/ S. Novak. New jam card from H&S.", (), 90, "f2-dump-valve")
    order("f2-straightener", "2026-05-20", "2026-08-07", "feeder-2", "medium", "SER",
          "Straightener roll marks on coated strip (DX51D+Z) on D2-142", ["LOTO E-F2-01, E-F2-02",
          "Replace straightener roll set FD600-STR-07", "Re-set depths"], ["FD600-STR-07"], True,
          "Rolls 2 and 5 pitted. New 7-roll set, entry/exit depth reset per SOP table. No marks "
          "on trial coil.")
    log("2026-05-20", "feeder-2", NOVAK, "SER",
        "Roll marks on galv strip D2-142 after straightener",
        "Rolls 2 + 5 of straightener pitted. Polished temp. Roll set FD600-STR-07 ordered for "
        "summer shutdown.", (), 30, "f2-straightener")
    log("2026-08-07", "feeder-2", NOVAK, "SER",
        "Repl straightener roll set FD600-STR-07 (shutdown)",
        "LOTO E-F2-01/02. New 7-roll set, depths reset per coil change SOP table. Trial coil "
        "DX51D+Z no marks.", ("FD600-STR-07",), 480, "f2-straightener")
    order("f2-prc-sensor", "2026-09-22", "2026-09-22", "feeder-2", "high", "AIR",
          "F-05 pilot release timeout with cylinder moving normally", ["LOTO E-F2-01, E-F2-02",
          "Check cylinder position sensor", "Re-align sensor"], [], True,
          "Reed switch on PRC-40 slipped 6 mm on its clamp. Re-set and locked.")
    log("2026-09-22", "feeder-2", LINDQVIST, "AIR", "F-05 timeout but PRC moves OK",
        "Reed switch on PRC-40 slipped 6 mm. LOTO E-F2-01 + E-F2-02, gauge 0 bar, re-set switch "
        "+ clamp. OK.", (), 25, "f2-prc-sensor")
    # fmt: on


def conveyor_2_events(history: History) -> None:
    log, order = history.log, history.order
    # fmt: off
    order("c2-idlers-2025", "2025-03-04", "2025-03-04", "conveyor-2", "medium", "NOI",
          "Squeal from conveyor-2 under the return belt", ["LOTO E-C2-01",
          "Replace seized idlers TC2-IDL-50"], ["TC2-IDL-50"], True,
          "2 return idlers seized (bearing), belt running over them. Replaced both.")
    log("2025-03-04", "conveyor-2", NOVAK, "NOI", "Squeal under return belt TC-2",
        "2 return idlers seized. LOTO E-C2-01, repl 2x TC2-IDL-50. Belt underside OK.",
        ("TC2-IDL-50", "TC2-IDL-50"), 40, "c2-idlers-2025")
    log("2025-06-10", "conveyor-2", LINDQVIST, "ERO",
        "C-35 warnings, parts_transferred 3 % lower than press part count",
        "Photo-eye TC2-PE-01 knocked out of line + dirty. Realigned, sensing distance 250 mm, "
        "cleaned, count matches over 200 parts.", (), 20)
    order("c2-belt", "2025-09-23", "2025-09-27", "conveyor-2", "high", "STD",
          "Belt cut 180 mm near the joint, parts scratched", ["LOTO E-C2-01",
          "Replace belt TC2-BELT-PVC-600 from stock", "Track and tension"],
          ["TC2-BELT-PVC-600"], True,
          "Cut from a part edge stuck at the transfer chute. Temporary patch, spare belt fitted "
          "Sat with vulcanised joint, chute edge radiused.")
    log("2025-09-23", "conveyor-2", NOVAK, "STD",
        "Belt cut 180 mm near joint, scratches on parts (QA hold)",
        "Part stuck at chute edge cut belt. Temp patch w/ cold bond, chute edge ground. Spare "
        "belt from stores for Sat.", (), 70, "c2-belt")
    log("2025-09-27", "conveyor-2", NOVAK, "STD", "Repl belt TC2-BELT-PVC-600",
        "LOTO E-C2-01. New 600 mm PVC belt, vulcanised joint on site (4 h), tensioned 24 mm on "
        "6,000 mm marks, tracked 20/20 mm. Spare belt reordered.", ("TC2-BELT-PVC-600",), 360,
        "c2-belt")
    order("c2-idlers-2026", "2026-05-19", "2026-05-19", "conveyor-2", "medium", "NOI",
          "Rumble from conveyor-2 carry side", ["LOTO E-C2-01",
          "Replace noisy idlers TC2-IDL-50"], ["TC2-IDL-50"], True,
          "3 carry idlers rough. Replaced.")
    log("2026-05-19", "conveyor-2", OKAFOR, "NOI", "Rumble carry side TC-2",
        "3 carry idlers rough. LOTO E-C2-01, repl 3x TC2-IDL-50.",
        ("TC2-IDL-50", "TC2-IDL-50", "TC2-IDL-50"), 45, "c2-idlers-2026")
    order("c2-gearmotor", "2026-07-21", "2026-08-06", "conveyor-2", "medium", "OHE",
          "C-21 motor overload, gearmotor TC2-GBX-25 case 92 degC, oil low",
          ["Top up gearbox oil", "Replace gearmotor in summer shutdown", "Check belt tension"],
          ["TC2-GBX-25"], True,
          "Oil low through output seal; topped up. Bearing noise at output shaft. Spare "
          "gearmotor fitted 06-Aug, case 45 C at full load.")
    log("2026-07-21", "conveyor-2", NOVAK, "OHE",
        "C-21 motor overload, gearmotor TC2-GBX-25 92 C case (hall 30 C)",
        "Oil lvl low, output seal weeping. Topped up 0.3 L VG 220. Output brg noisy: repl "
        "gearmotor in shutdown.", (), 30, "c2-gearmotor")
    log("2026-08-06", "conveyor-2", NOVAK, "OHE", "Repl gearmotor TC2-GBX-25 (shutdown)",
        "LOTO E-C2-01. Spare 2.2 kW gearmotor fitted, aligned, belt tension + tracking checked. "
        "45 C case after 2 h.", ("TC2-GBX-25",), 240, "c2-gearmotor")
    log("2026-02-17", "conveyor-2", OKAFOR, "SER", "C-11 belt drift stop, belt running to LH side",
        "LOTO E-C2-01. Tail pulley take-up adjusted 2 flats RH, tracking 19/21 mm.", (), 30)
    # fmt: on


def vision_2_events(history: History) -> None:
    log, order = history.log, history.order
    # fmt: off
    order("v2-air-purge", "2025-01-28", "2025-02-12", "vision-2", "medium", "ERO",
          "False reject rate 4 % on line 2, parts clean", ["Clean lens cover glass",
          "Fit air purge to lens housing", "Re-run calibration check"], [], False,
          "Oil mist film from press-3 on the cover glass. Cleaned; air purge ring fitted to the "
          "lens housing on 12-Feb, filtered air 0.5 bar. False rejects 0.4 %.")
    log("2025-01-28", "vision-2", LINDQVIST, "ERO", "False rej 4 %, rejected parts clean",
        "Oil mist film on cover glass. Cleaned, cal check OK, false rej 0.5 %. Air purge for "
        "lens housing requested.", (), 25, "v2-air-purge")
    log("2025-02-12", "vision-2", LINDQVIST, "OTH", "Fit air purge ring to lens housing",
        "Purge ring + filter reg 0.5 bar fitted on lens housing. Image checked, no vibration blur.",
        (), 60, "v2-air-purge")
    order("v2-reject-valve", "2025-10-07", "2025-10-07", "vision-2", "high", "FTS",
          "V-41 reject not confirmed, reject air jet sticking", ["Check air supply",
          "Replace reject valve VI2-REJ-VLV", "TEST REJECT 50x"], ["VI2-REJ-VLV"], True,
          "Valve spool sticking (varnish). New valve, 50x test reject OK. Parts since last "
          "hourly check sorted by QA.")
    log("2025-10-07", "vision-2", LINDQVIST, "FTS", "V-41 reject not confirmed, air jet sticking",
        "VI2-REJ-VLV spool sticking. Repl valve, test reject 50x OK. QA sorted last hour.",
        ("VI2-REJ-VLV",), 35, "v2-reject-valve")
    log("2025-12-09", "vision-2", LINDQVIST, "OTH",
        "Cal target VI2-CAL-TGT scratched + cert due Dec-25",
        "New certified target VI2-CAL-TGT in use (cert 24 months). Cal check 50.00 mm, grey 125. "
        "Old target scrapped.", ("VI2-CAL-TGT",), 10)
    order("v2-camera-cable", "2026-02-24", "2026-02-24", "vision-2", "emergency", "BRD",
          "V-10 camera not connected, line 2 on 100 % manual inspection",
          ["Check GigE link and switch port", "Replace camera cable VI2-CBL-GIG",
          "Calibration check"], ["VI2-CBL-GIG"], False,
          "GigE cable to VI2-CAM-5MP crushed at the cell door hinge. New cable routed through "
          "the top cable tray. Cal check OK.")
    log("2026-02-24", "vision-2", LINDQVIST, "BRD", "V-10 camera offline, line on manual insp",
        "GigE cable crushed at cell door hinge. New cable VI2-CBL-GIG via top tray. Cal check "
        "50.01 mm OK. Manual insp 2.5 h.", ("VI2-CBL-GIG",), 150, "v2-camera-cable")
    log("2026-05-05", "vision-2", LINDQVIST, "LOO",
        "False rej 2.8 %, daily cal V-30 illumination: grey 119 (128 +/- 8)",
        "Lens + cover glass cleaned, grey 121 - pass. LED bar at 19,656 h, output down. LED bar "
        "to be ordered (plan repl above 19,000 h).", (), 30)
    order("v2-led-bar", "2026-05-18", "2026-06-02", "vision-2", "medium", "LOO",
          "LED bar at end of life: V-30 illumination (grey 118 after cleaning), false rejects up",
          ["Replace LED bar VI2-LED-BAR", "Reset LED hours counter",
          "Calibration check with VI2-CAL-TGT", "Close QA deviation QD-26-014"],
          ["VI2-LED-BAR"], False,
          "LED bar at 20,112 h (replace at 20,000 h). New bar fitted, counter reset, grey 131, "
          "D1-D3 0.91/0.88/0.93. QA deviation closed. False rejects 0.4 % in first week.")
    log("2026-05-18", "vision-2", LINDQVIST, "LOO",
        "Daily cal V-30 illumination, grey 118 after cleaning",
        "LED bar end of life (19,872 h). WO raised, VI2-LED-BAR ordered (3 wk, expedited). QA "
        "dev. QD-26-014 (A. Moreau): run w/ D1-D3 passing + hourly reject bin check till repl.",
        (), 0, "v2-led-bar")
    log("2026-06-02", "vision-2", LINDQVIST, "LOO", "Repl LED bar VI2-LED-BAR",
        "Repl LED bar @ 20,112 h, hours counter reset. Cal w/ VI2-CAL-TGT: 50.00 mm, grey 131, "
        "D1-D3 0.91/0.88/0.93. OK, QA dev. QD-26-014 closed.", ("VI2-LED-BAR",), 75,
        "v2-led-bar")
    order("v2-lens", "2026-09-15", "2026-09-15", "vision-2", "high", "ERO",
          "Repeated false rejects at the same image position", ["Inspect lens",
          "Replace lens VI2-LNS-16 and cover glass", "Focus and calibration check"],
          ["VI2-LNS-16", "VI2-CVR-GLS"], False,
          "Scratch on the front element (cover glass had been removed for cleaning and not "
          "refitted). New lens, focus set at f/5.6, new cover glass fitted, cal check OK.")
    log("2026-09-15", "vision-2", LINDQVIST, "ERO", "False rej same spot in image, 1.9 %",
        "Front element of lens scratched, cover glass found missing. Repl lens VI2-LNS-16, focus "
        "set, new cover glass VI2-CVR-GLS. Cal check OK.", ("VI2-LNS-16", "VI2-CVR-GLS"), 60,
        "v2-lens")
    order("v2-duplicate", "2026-09-15", "2026-09-15", "vision-2", "high", "ERO",
          "Vision-2 rejecting good parts", [], [], False,
          "Duplicate of the lens work order raised the same shift; cancelled.", status="cancelled")
    # fmt: on


def feeder_1_events(history: History) -> None:
    log, order = history.log, history.order
    # fmt: off
    log("2025-01-15", "feeder-1", NOVAK, "AIR", "F-01 false jam stops FD-400, strip OK",
        "Steel chip stuck on jam sensor FD400-PRX-12 face. Cleaned, tested 12 mm OK.", (), 15)
    order("f1-rolls-2025", "2025-05-06", "2025-05-17", "feeder-1", "medium", "PDE",
          "W-09, blank length scatter +/-0.3 mm on line 1", ["LOTO E-F1-01, E-F1-02",
          "Replace feed rolls FD400-ROLL", "Enter roll diameter in P2-14", "Check scatter"],
          ["FD400-ROLL"], True,
          "Roll dia 79.4 mm at centre (limit 79.4). New roll pair 80.0 mm, P2-14 updated, "
          "scatter +/-0.05 mm.")
    log("2025-05-06", "feeder-1", NOVAK, "PDE", "W-09, blank length scatter +/-0.3 mm",
        "Roll dia 79.4 mm at centre (lim 79.4). Raised roll press +0.5 bar, scatter 0.15. Rolls "
        "ordered.", (), 20, "f1-rolls-2025")
    log("2025-05-17", "feeder-1", NOVAK, "PDE", "Repl feed rolls FD400-ROLL",
        "LOTO E-F1-01/02. New roll pair FD400-ROLL, 80.0 mm entered in P2-14, press set per "
        "table. Scatter +/-0.05 mm.", ("FD400-ROLL",), 150, "f1-rolls-2025")
    order("f1-jam-sensor", "2026-03-03", "2026-03-03", "feeder-1", "high", "AIR",
          "Feeder-1 F-01 jam alarm flickering, sensor cable damaged", ["LOTO E-F1-01, E-F1-02",
          "Replace jam sensor FD400-PRX-12 and cable"], ["FD400-PRX-12"], True,
          "Sensor cable chafed on the guide bracket. New sensor + cable, clipped away from "
          "bracket, mounted 15 mm above strip.")
    log("2026-03-03", "feeder-1", LINDQVIST, "AIR", "FD-400 F-01 flickering, no jam",
        "Cable to FD400-PRX-12 chafed through at guide bracket. LOTO E-F1-01/02, new sensor + "
        "cable, clipped, 15 mm above strip. Test 12 mm OK.", ("FD400-PRX-12",), 35,
        "f1-jam-sensor")
    order("f1-dump-valve", "2026-06-26", "2026-06-30", "feeder-1", "high", "OTH",
          "Follow-up NM-26-047: fit lockable dump valve with gauge at E-F1-02",
          ["Replace ball valve at E-F1-02 with lockable 3/2 dump valve, silencer and gauge",
          "Verify pilot release and straightener vent to 0 bar when locked",
          "Update jam-clearing card at feeder-1"], [], True,
          "Dump valve with gauge fitted at E-F1-02, vents to 0 bar in 2 s when locked. Card "
          "reissued 01-Jul with the LOTO-F1 revision.")
    log("2026-06-30", "feeder-1", LINDQVIST, "OTH",
        "Fit lockable dump valve at E-F1-02 (follow-up NM-26-047)",
        "Repl ball valve w/ lockable 3/2 dump valve + silencer + gauge. Locked = 0 bar in 2 s. "
        "Tested w/ S. Novak.", (), 60, "f1-dump-valve")
    order("f1-rolls-2026", "2026-10-27", None, "feeder-1", "medium", "PDE",
          "W-09, blank length drifting +0.3 mm over a coil", ["LOTO E-F1-01, E-F1-02",
          "Measure roll diameter", "Replace feed rolls FD400-ROLL if at limit"], ["FD400-ROLL"],
          True, "Roll dia 79.5 mm at centre (limit 79.4); roll pair on order.",
          status="in_progress")
    log("2026-10-27", "feeder-1", NOVAK, "PDE", "W-09, blank length drifts +0.3 mm over coil",
        "Roll dia 79.5 mm at centre (lim 79.4). Roll press +0.5 bar as temp fix. FD400-ROLL on "
        "order.", (), 25, "f1-rolls-2026")
    # fmt: on


# Strip jams are common and cleared by operators; maintenance logs the ones it attends.
JAM_CAUSES = (
    ("lead end bent after coil chg", "lead end cut square"),
    ("strip camber 3 mm/m, ran against guide", "guides opened to width + 2 mm, QA told re coil"),
    ("slug at die entry lifted strip", "slug removed, die shop told"),
    ("loop after feed length chg", "feed length re-entered, strip re-threaded"),
    ("coil weld seam caught in straightener", "seam cut out"),
    ("strip guide loose", "guide reset + torqued"),
)


def strip_jams(history: History) -> None:
    rng = history.rng
    for asset, mean_gap, start_offset in (("feeder-2", 27, 4), ("feeder-1", 48, 11)):
        when = START + dt.timedelta(days=start_offset)
        while when <= END:
            if is_workday(when) and not (
                asset == "feeder-2" and day("2026-06-20") <= when <= day("2026-06-28")
            ):
                cause, fix = rng.choice(JAM_CAUSES)
                code = "F-01 strip jam" if asset == "feeder-2" else "F-01 strip jam FD-400"
                points = "E-F2-01" if asset == "feeder-2" else "E-F1-01"
                # Since safety bulletin 2026-07 both isolation points and the gauge are named.
                if when >= day("2026-07-01"):
                    lockout = f"LOTO {points} + {points[:-1]}2, gauge 0 bar"
                else:
                    lockout = f"LOTO {points[:-1]}1/02"
                history.log(
                    when,
                    asset,
                    history.pick(GENERAL),
                    "SER",
                    f"{code}, {cause}",
                    f"{lockout}, jam cleared, {fix}. First 3 pcs checked OK.",
                    (),
                    rng.choice((15, 20, 25, 30, 40)),
                )
            when += dt.timedelta(days=max(6, round(rng.expovariate(1 / mean_gap))))


# --- numbering, checks and output -------------------------------------------------------------


def number_entries(entries: list[Entry]) -> list[Entry]:
    ordered = sorted(entries, key=lambda entry: entry.date)  # stable: keeps insertion order
    counters: dict[int, int] = {}
    for entry in ordered:
        counters[entry.date.year] = counters.get(entry.date.year, 0) + 1
        entry.record_id = f"ML-{entry.date.year % 100:02d}-{counters[entry.date.year]:04d}"
    return ordered


def number_orders(orders: dict[str, WorkOrder]) -> list[WorkOrder]:
    """Plant-wide sequence per year; fixed numbers anchor the rest (ours are a subset)."""
    ordered = sorted(orders.values(), key=lambda order: order.opened)
    by_year: dict[int, list[WorkOrder]] = {}
    for order in ordered:
        by_year.setdefault(order.opened.year, []).append(order)
    for year, group in by_year.items():
        anchors = [(0.0, 0)]
        for order in group:
            if order.key in FIXED_NUMBERS:
                anchors.append(
                    (order.opened.timetuple().tm_yday, int(FIXED_NUMBERS[order.key][-4:]))
                )
        anchors.append((366.0, WO_PER_YEAR))
        previous = 0
        for index, order in enumerate(group):
            ceiling = _next_fixed(group, index)
            if order.key in FIXED_NUMBERS:
                number = int(FIXED_NUMBERS[order.key][-4:])
            else:
                estimate = round(_interpolate(anchors, order.opened.timetuple().tm_yday))
                number = max(previous + 1, estimate)
                if number >= ceiling:
                    number = previous + 1
            if not previous < number < ceiling:
                raise ValueError(f"cannot number work order {order.key} after {previous}")
            order.number = f"WO-{year % 100:02d}-{number:04d}"
            previous = number
    return ordered


def _next_fixed(group: list[WorkOrder], index: int) -> int:
    for order in group[index + 1 :]:
        if order.key in FIXED_NUMBERS:
            return int(FIXED_NUMBERS[order.key][-4:])
    return WO_PER_YEAR + 1


def _interpolate(points: list[tuple[float, int]], x: float) -> float:
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise ValueError(f"{x} outside the year")


def check(entries: list[Entry], orders: list[WorkOrder]) -> None:
    """Fails loudly on anything the corpus promises: ranges, codes, links, unique ids."""
    numbers = {order.key: order.number for order in orders}
    assert len(set(numbers.values())) == len(orders), "duplicate work order number"
    assert len({entry.record_id for entry in entries}) == len(entries), "duplicate record id"
    for key, number in FIXED_NUMBERS.items():
        assert numbers[key] == number, (key, numbers[key])
    linked = set()
    for entry in entries:
        assert START <= entry.date <= END, entry
        assert entry.failure_mode in FAILURE_MODES, entry
        if entry.order_key is not None:
            linked.add(entry.order_key)
            order = next(o for o in orders if o.key == entry.order_key)
            assert order.asset == entry.asset, entry
            assert entry.date >= order.opened, (entry, order.opened)
    for order in orders:
        assert START <= order.opened <= END, order
        assert order.priority in PRIORITIES and order.status in STATUSES, order
        assert order.failure_mode in FAILURE_MODES, order
        assert (order.closed is None) == (order.status not in {"completed", "cancelled"}), order
        if order.closed is not None:
            assert order.opened <= order.closed <= END, order
        if order.status == "completed":
            assert order.key in linked, f"completed work order {order.key} has no log entry"


def build() -> tuple[list[Entry], list[WorkOrder]]:
    history = History(random.Random(SEED))
    for step in (
        press_3_routine,
        press_3_monthly,
        press_3_oil_samples,
        press_1_routine,
        press_1_monthly,
        bv_visits,
        feeder_2_routine,
        feeder_2_monthly,
        conveyor_2_routine,
        conveyor_2_monthly,
        vision_2_routine,
        vision_2_quarterly,
        feeder_1_routine,
        feeder_1_quarterly,
        shutdown_jobs,
        press_3_events,
        press_1_events,
        feeder_2_events,
        conveyor_2_events,
        vision_2_events,
        feeder_1_events,
        strip_jams,
    ):
        step(history)
    written = {(entry.asset, entry.date) for entry in history.entries if not entry.routine}
    kept = [e for e in history.entries if not (e.routine and (e.asset, e.date) in written)]
    entries = number_entries(kept)
    orders = number_orders(history.orders)
    check(entries, orders)
    return entries, orders


def render(entries: list[Entry], orders: list[WorkOrder]) -> dict[str, str]:
    numbers = {order.key: order.number for order in orders}
    log = io.StringIO()
    writer = csv.writer(log, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    for entry in entries:
        writer.writerow(
            (
                entry.record_id,
                entry.date.isoformat(),
                entry.asset,
                entry.technician,
                entry.failure_mode,
                entry.symptom,
                entry.action,
                ";".join(entry.parts),
                entry.downtime_min,
                numbers[entry.order_key] if entry.order_key else "",
            )
        )
    lines = [
        json.dumps(
            {
                "record_id": order.number,
                "opened": order.opened.isoformat(),
                "closed": order.closed.isoformat() if order.closed else None,
                "asset": order.asset,
                "priority": order.priority,
                "failure_mode": order.failure_mode,
                "symptom": order.symptom,
                "tasks": order.tasks,
                "parts": order.parts,
                "lockout_required": order.lockout_required,
                "status": order.status,
                "findings": order.findings,
            },
            ensure_ascii=False,
        )
        for order in orders
    ]
    return {LOG_FILE: log.getvalue(), WO_FILE: "\n".join(lines) + "\n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=LOG_DIR)
    args = parser.parse_args(argv)
    files = render(*build())
    stale = [
        name
        for name, text in files.items()
        if not (args.out / name).is_file() or (args.out / name).read_text() != text
    ]
    if args.check:
        for name in stale:
            print(f"{args.out / name} is out of date; run {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
