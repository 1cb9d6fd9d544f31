"""How one line moves material in simulated time: feeder -> press -> conveyor -> vision.

Pure functions over AssetProcess; every random draw comes from the caller's seeded
generator, in a fixed order, so the same seed and the same calls give the same plant.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from control.plant.models import RunState
from simulator.asset_process import AssetProcess, Fault

AMBIENT_C = 22.0
VIBRATION_TAU_S = 5.0  # housing vibration follows the drive within seconds
TEMPERATURE_TAU_S = 300.0  # a crankshaft bearing takes minutes to warm up
VIBRATION_IDLE_MM_S = 0.3  # background vibration of a stopped press
VIBRATION_PER_SPM = 0.04  # faster strokes shake the crown a little more
WEAR_RATE = 0.02  # mm/s of extra vibration per running second, per unit of severity
WEAR_HEAT_C = 5.0  # degC of extra bearing temperature per mm/s of wear
NOMINAL_TONNAGE_T = 290.0
TONNAGE_PER_MM = 8.0  # closing the shut height by 1 mm raises peak tonnage this much
BASE_SCRAP = 0.005
SCRAP_PER_WEAR = 0.01
PART_PITCH_M = 0.5  # belt length one part occupies
DEFECT_MEAN = 0.2
DEFECT_PER_WEAR = 0.04
DEFECT_SPREAD = 0.1


def advance_line(assets: Sequence[AssetProcess], dt: float, rng: random.Random) -> None:
    """Advance the assets of one line by `dt` simulated seconds."""
    by_type = {a.spec.type: a for a in reversed(assets)}  # first asset of each type
    feeder = by_type.get("coil_feeder")
    press = by_type.get("mechanical_press")
    conveyor = by_type.get("transfer_conveyor")
    vision = by_type.get("vision_station")
    parts = _advance_press(press, feeder, dt, rng) if press else 0
    if conveyor:
        parts = _advance_conveyor(conveyor, parts, dt)
    if vision:
        _advance_vision(vision, parts, press.wear if press else 0.0, rng)


def _relax(current: float, target: float, tau_s: float, dt: float) -> float:
    """First-order lag, exact for any step size."""
    return target + (current - target) * math.exp(-dt / tau_s)


def _advance_press(
    press: AssetProcess, feeder: AssetProcess | None, dt: float, rng: random.Random
) -> int:
    """Strokes, heat and vibration; returns the good parts made in this step."""
    running = press.state is RunState.running
    spm = press.values.get("speed_spm", 0.0)
    if running:
        press.wear += WEAR_RATE * press.faults.get(Fault.bearing_wear, 0.0) * dt
    design_spm = _design(press, "speed_spm")
    load = spm / design_spm if running and design_spm > 0 else 0.0
    _advance_bearing(press, running, load, spm - design_spm, dt, rng)
    if not running or spm <= 0:
        press.set("cycle_time_s", 0.0)
        return 0
    press.set("cycle_time_s", 60.0 / spm + rng.gauss(0.0, 0.01))
    press.stroke_phase += spm * dt / 60.0
    strokes = int(press.stroke_phase)
    press.stroke_phase -= strokes
    good = scrap = 0
    for _ in range(strokes):
        if not _feed_strip(feeder):
            press.set("tonnage_t", 0.0)  # an empty stroke presses nothing
            continue
        closed_by = _design(press, "shut_height_mm") - press.values.get("shut_height_mm", 0.0)
        tonnage = NOMINAL_TONNAGE_T + TONNAGE_PER_MM * closed_by + rng.gauss(0.0, 4.0)
        press.set("tonnage_t", tonnage)
        if rng.random() < BASE_SCRAP + SCRAP_PER_WEAR * press.wear:
            scrap += 1
        else:
            good += 1
    press.add("part_count", good)
    press.add("scrap_count", scrap)
    return good


def _design(asset: AssetProcess, tag_id: str) -> float:
    """The tag's initial value, which the plant file gives for normal operation (0 if absent)."""
    tag = asset.spec.tag(tag_id)
    return tag.initial if tag else 0.0


def _advance_bearing(
    press: AssetProcess,
    running: bool,
    load: float,
    extra_spm: float,
    dt: float,
    rng: random.Random,
) -> None:
    """Vibration and temperature relax toward what the speed and the wear make them."""
    if press.has("vibration_rms_mm_s"):
        base = _design(press, "vibration_rms_mm_s")
        target = (
            base + VIBRATION_PER_SPM * extra_spm + press.wear if running else VIBRATION_IDLE_MM_S
        )
        level = _relax(press.levels["vibration_rms_mm_s"], target, VIBRATION_TAU_S, dt)
        press.levels["vibration_rms_mm_s"] = level
        press.set("vibration_rms_mm_s", level + rng.gauss(0.0, 0.05))
    if press.has("bearing_temp_c"):
        heating = _design(press, "bearing_temp_c") - AMBIENT_C
        target = AMBIENT_C + (heating * load + WEAR_HEAT_C * press.wear if running else 0.0)
        level = _relax(press.levels["bearing_temp_c"], target, TEMPERATURE_TAU_S, dt)
        press.levels["bearing_temp_c"] = level
        press.set("bearing_temp_c", level + rng.gauss(0.0, 0.05))


def _feed_strip(feeder: AssetProcess | None) -> bool:
    """Advance the strip for one stroke; False when no strip reaches the die."""
    if feeder is None:
        return True  # a press without a feeder is loaded by hand
    feed_m = feeder.values.get("feed_length_mm", 0.0) / 1000.0
    if feeder.state is not RunState.running or feed_m <= 0:
        return False
    if feeder.has("coil_remaining_m"):
        if feeder.values["coil_remaining_m"] < feed_m:
            return False
        feeder.add("coil_remaining_m", -feed_m)
    return True


def _advance_conveyor(conveyor: AssetProcess, arriving: int, dt: float) -> int:
    """Parts land on the belt; a running belt carries them on. Returns parts delivered."""
    conveyor.backlog += arriving
    if conveyor.state is not RunState.running:
        return 0
    capacity = conveyor.belt_carry + conveyor.values.get("speed_mps", 0.0) * dt / PART_PITCH_M
    moved = min(conveyor.backlog, int(capacity))
    conveyor.belt_carry = min(capacity - moved, 1.0)  # an empty belt banks no capacity
    conveyor.backlog -= moved
    conveyor.add("parts_transferred", moved)
    return moved


def _advance_vision(vision: AssetProcess, arriving: int, wear: float, rng: random.Random) -> None:
    """Inspect waiting parts; a worn press bearing makes more surface defects."""
    vision.backlog += arriving
    if vision.state is not RunState.running or not vision.backlog:
        return
    threshold = vision.values.get("reject_threshold", 1.0)
    mean = DEFECT_MEAN + DEFECT_PER_WEAR * wear
    rejects = sum(rng.gauss(mean, DEFECT_SPREAD) > threshold for _ in range(vision.backlog))
    vision.add("inspected_count", vision.backlog)
    vision.add("reject_count", rejects)
    vision.backlog = 0
