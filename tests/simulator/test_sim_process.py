"""The process model on its own: plant refusals, idempotency, alarms, faults, physics."""

from __future__ import annotations

import math

import pytest

from control.plant.models import PlantModel, RunState
from simulator.idempotency import KeyMemory
from simulator.process import InvalidArgument, InvalidState, OutOfRange, ProcessModel

LINE_2 = ("press-3", "feeder-2", "conveyor-2", "vision-2")


@pytest.fixture
def model(plant_model: PlantModel) -> ProcessModel:
    return ProcessModel(plant_model, seed=1)


def run_line_2(model: ProcessModel) -> None:
    for asset in LINE_2:  # press before feeder, as the interlocks want
        model.start(asset)


def state(model: ProcessModel, asset: str) -> RunState:
    return model.snapshot(asset).run_state


def test_same_seed_and_calls_give_the_same_plant(plant_model: PlantModel) -> None:
    def history(seed: int) -> list[dict[str, float]]:
        m = ProcessModel(plant_model, seed=seed)
        run_line_2(m)
        m.inject_fault("bearing_wear", "press-3", 2.0)
        out = []
        for _ in range(50):
            m.step(0.5)
            out.append(m.snapshot("press-3").tags | m.snapshot("vision-2").tags)
        return out

    assert history(3) == history(3)
    assert history(3) != history(4)


def test_run_commands_follow_the_state_machine(model: ProcessModel) -> None:
    with pytest.raises(InvalidState, match="only a running asset pauses"):
        model.pause("press-3")
    model.start("press-3")
    with pytest.raises(InvalidState, match="only a paused asset resumes"):
        model.resume("press-3")
    model.pause("press-3")
    assert state(model, "press-3") is RunState.paused
    with pytest.raises(InvalidState, match="resume it"):
        model.start("press-3")
    model.resume("press-3")
    assert state(model, "press-3") is RunState.running
    model.stop("press-3")
    assert state(model, "press-3") is RunState.stopped
    assert model.snapshot("press-3").actuation_count == 4


def test_commands_an_asset_does_not_accept_are_refused(model: ProcessModel) -> None:
    with pytest.raises(InvalidArgument, match="does not accept pause"):
        model.pause("vision-2")
    with pytest.raises(InvalidArgument, match="unknown asset"):
        model.start("press-9")


def test_lockout_blocks_start_and_belongs_to_its_holders(model: ProcessModel) -> None:
    model.start("press-3")
    with pytest.raises(InvalidState, match="lock out only stopped"):
        model.apply_lockout("press-3", "maria")
    model.stop("press-3")
    model.apply_lockout("press-3", "maria")
    model.apply_lockout("press-3", "tom")
    with pytest.raises(InvalidState, match="already holds"):
        model.apply_lockout("press-3", "maria")
    with pytest.raises(InvalidState, match="locked out by maria, tom"):
        model.start("press-3")
    with pytest.raises(InvalidArgument, match="holds no lock"):
        model.remove_lockout("press-3", "eve")
    model.remove_lockout("press-3", "maria")
    with pytest.raises(InvalidState, match="locked out by tom"):
        model.start("press-3")
    model.remove_lockout("press-3", "tom")
    model.start("press-3")
    assert state(model, "press-3") is RunState.running


def test_a_repeated_key_never_acts_twice(model: ProcessModel) -> None:
    assert model.start("press-3", key="k-1") == "done"
    model.stop("press-3", key="k-2")
    # A retry of the start (same key) after the stop must not restart the press.
    assert model.start("press-3", key="k-1") == "duplicate"
    assert state(model, "press-3") is RunState.stopped
    assert model.snapshot("press-3").actuation_count == 2


def test_a_refused_call_does_not_use_up_its_key(model: ProcessModel) -> None:
    with pytest.raises(InvalidState):
        model.resume("press-3", key="k-1")
    model.start("press-3")
    model.pause("press-3")
    assert model.resume("press-3", key="k-1") == "done"


def test_key_memory_forgets_the_oldest_keys() -> None:
    memory = KeyMemory(size=3)
    for key in "abcd":
        memory.run_once(key, lambda: None)
    assert "a" not in memory
    assert all(k in memory for k in "bcd")
    assert memory.run_once("", lambda: None) == "done"  # empty key: no dedup
    assert memory.run_once("", lambda: None) == "done"


def test_setpoint_writes_stay_inside_the_engineering_range(model: ProcessModel) -> None:
    for bad in (40.5, -1.0, math.nan, math.inf):
        with pytest.raises(OutOfRange):
            model.write_setpoint("press-3", "speed_spm", bad)
    assert model.reading("press-3", "speed_spm") == 20.0
    assert model.write_setpoint("press-3", "speed_spm", 40.0)  # engineering, not safe range
    assert not model.write_setpoint("press-3", "speed_spm", 40.0)
    assert model.snapshot("press-3").actuation_count == 1
    with pytest.raises(InvalidArgument, match="not a setpoint"):
        model.write_setpoint("press-3", "tonnage_t", 100.0)


def test_running_line_makes_inspects_and_consumes_coil(model: ProcessModel) -> None:
    run_line_2(model)
    for _ in range(600):
        model.step(1.0)
    press = model.snapshot("press-3").tags
    made = press["part_count"] + press["scrap_count"]
    assert made == pytest.approx(200, abs=2)  # 20 strokes/min for 10 min
    assert press["cycle_time_s"] == pytest.approx(3.0, abs=0.1)
    assert 260 < press["tonnage_t"] < 320
    coil_used = 1850 - model.reading("feeder-2", "coil_remaining_m")
    assert coil_used == pytest.approx(made * 0.42)
    transferred = model.reading("conveyor-2", "parts_transferred")
    assert press["part_count"] - 2 <= transferred <= press["part_count"]
    assert model.reading("vision-2", "inspected_count") == transferred
    assert model.snapshot("press-3").active_alarms == ()


def test_press_without_strip_makes_nothing(model: ProcessModel) -> None:
    model.start("press-3")  # feeder stays stopped
    for _ in range(60):
        model.step(1.0)
    assert model.reading("press-3", "part_count") == 0
    assert model.reading("press-3", "tonnage_t") == 0


def test_bearing_wear_drives_vibration_over_its_alarm(model: ProcessModel) -> None:
    run_line_2(model)
    model.inject_fault("bearing_wear", "press-3", 1.0)
    assert model.active_faults() == ("bearing_wear:press-3:1",)
    seconds = 0
    while "vibration_high" not in model.snapshot("press-3").active_alarms:
        model.step(1.0)
        seconds += 1
        assert seconds < 600, "vibration never reached its alarm"
    assert model.reading("press-3", "vibration_rms_mm_s") > 7.1
    assert model.reading("press-3", "bearing_temp_c") > 40
    assert model.snapshot("press-3").unacknowledged_alarms == ("vibration_high",)


def test_healthy_press_stays_below_its_alarms(model: ProcessModel) -> None:
    run_line_2(model)
    for _ in range(600):
        model.step(1.0)
    assert 1.5 < model.reading("press-3", "vibration_rms_mm_s") < 3.0
    assert model.snapshot("press-3").active_alarms == ()


def test_bearing_wear_raises_scrap_and_rejects(plant_model: PlantModel) -> None:
    def losses(severity: float | None) -> float:
        m = ProcessModel(plant_model, seed=5)
        run_line_2(m)
        if severity:
            m.inject_fault("bearing_wear", "press-3", severity)
        for _ in range(1800):
            m.step(1.0)
        return m.reading("press-3", "scrap_count") + m.reading("vision-2", "reject_count")

    assert losses(3.0) > 3 * max(losses(None), 1)


def test_alarm_acknowledgement(model: ProcessModel) -> None:
    # Miscalibrate press-1's vibration sensor (its first measurement) over the alarm.
    model.inject_fault("sensor_miscalibration", "press-1", 6.0)
    snap = model.snapshot("press-1")
    assert snap.active_alarms == ("vibration_high",)
    assert snap.unacknowledged_alarms == ("vibration_high",)
    assert model.acknowledge_alarm("press-1", "vibration_high") == "done"
    snap = model.snapshot("press-1")
    assert snap.active_alarms == ("vibration_high",)
    assert snap.unacknowledged_alarms == ()
    with pytest.raises(InvalidArgument, match="no alarm"):
        model.acknowledge_alarm("press-1", "smoke")
    with pytest.raises(InvalidState, match="neither active nor unacked"):
        model.acknowledge_alarm("press-1", "bearing_temp_high")
    # Cleared and active again: it needs a new acknowledgement.
    model.clear_faults()
    assert model.snapshot("press-1").active_alarms == ()
    model.inject_fault("sensor_miscalibration", "press-1", 6.0)
    assert model.snapshot("press-1").unacknowledged_alarms == ("vibration_high",)


def test_unacknowledged_alarm_outlives_its_cause(model: ProcessModel) -> None:
    model.inject_fault("sensor_miscalibration", "press-1", 6.0)
    model.clear_faults()
    snap = model.snapshot("press-1")
    assert snap.active_alarms == ()
    assert snap.unacknowledged_alarms == ("vibration_high",)
    model.acknowledge_alarm("press-1", "vibration_high")
    assert model.snapshot("press-1").unacknowledged_alarms == ()


def test_miscalibration_offsets_the_reading_not_the_process(model: ProcessModel) -> None:
    model.inject_fault("sensor_miscalibration", "feeder-2", -100.0)
    assert model.reading("feeder-2", "coil_remaining_m") == 1750.0
    model.inject_fault("sensor_miscalibration", "feeder-2", 500.0)
    assert model.reading("feeder-2", "coil_remaining_m") == 2000.0  # clamped to the range
    model.clear_faults()
    assert model.reading("feeder-2", "coil_remaining_m") == 1850.0


def test_feeder_jam_stops_the_press_until_the_feeder_is_reset(model: ProcessModel) -> None:
    run_line_2(model)
    model.inject_fault("feeder_jam", "feeder-2", 1.0)
    assert state(model, "feeder-2") is RunState.faulted
    assert state(model, "press-3") is RunState.stopped
    assert model.reading("feeder-2", "jam_detected") == 1.0
    assert "feeder_jam" in model.snapshot("feeder-2").active_alarms
    assert state(model, "conveyor-2") is RunState.running  # the jam is upstream
    with pytest.raises(InvalidState, match="faulted"):
        model.start("feeder-2")
    model.clear_faults()
    assert model.active_faults() == ()
    assert state(model, "feeder-2") is RunState.faulted
    model.apply_lockout("feeder-2", "maria")  # clear the jam under lockout
    model.stop("feeder-2")
    assert state(model, "feeder-2") is RunState.stopped
    assert model.reading("feeder-2", "jam_detected") == 0.0
    model.remove_lockout("feeder-2", "maria")
    model.start("press-3")
    model.start("feeder-2")
    assert state(model, "feeder-2") is RunState.running


def test_faults_are_checked_against_the_asset(model: ProcessModel) -> None:
    with pytest.raises(InvalidArgument, match="unknown fault"):
        model.inject_fault("gremlins", "press-3", 1.0)
    with pytest.raises(InvalidArgument, match="not a coil feeder"):
        model.inject_fault("feeder_jam", "press-3", 1.0)
    with pytest.raises(InvalidArgument, match="bearing_wear needs"):
        model.inject_fault("bearing_wear", "conveyor-2", 1.0)
    with pytest.raises(InvalidArgument, match="no measurement"):
        model.inject_fault("sensor_miscalibration", "vision-2", 1.0)


def test_emergency_stop_stops_the_whole_line_only(model: ProcessModel) -> None:
    run_line_2(model)
    model.pause("conveyor-2")
    model.start("press-1")
    assert model.emergency_stop("line-2", key="estop-1") == "done"
    assert all(state(model, a) is RunState.stopped for a in LINE_2)
    assert state(model, "press-1") is RunState.running
    assert model.emergency_stop("line-2", key="estop-1") == "duplicate"
    with pytest.raises(InvalidArgument):
        model.emergency_stop("line-9")


def test_manual_override_counts_only_changes(model: ProcessModel) -> None:
    model.set_manual_override("press-3", True)
    model.set_manual_override("press-3", True)
    assert model.snapshot("press-3").manual_override
    assert model.snapshot("press-3").actuation_count == 1


def test_measured_values_stay_inside_their_range(plant_model: PlantModel) -> None:
    m = ProcessModel(plant_model, seed=2)
    run_line_2(m)
    m.start("press-1")
    m.inject_fault("bearing_wear", "press-3", 50.0)
    m.inject_fault("bearing_wear", "press-1", 50.0)
    for _ in range(200):
        m.step(5.0)
    for asset in plant_model.assets:
        for tag in asset.tags:
            assert tag.engineering_range.contains(m.reading(asset.id, tag.id)), tag.node_id
    assert m.reading("press-3", "vibration_rms_mm_s") == 25.0
