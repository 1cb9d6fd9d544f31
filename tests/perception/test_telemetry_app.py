"""From telemetry to action on the whole system (`andon up` as wired: embedded simulator in
real time, the shipped demo model, the monitor, control's rules): a wearing bearing on
press 3 opens the plant model's bearing work order, with the model's evidence, while the
vibration is still below its alarm limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.settings import Settings
from simulator.server import endpoint_url, free_tcp_port

from ..api.api_helpers import LiveSystem, eventually

pytestmark = pytest.mark.slow  # the whole system, and a minute of real-time plant
RULE = "press-3-bearing-anomaly"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    tmp: Path = tmp_path_factory.mktemp("andon-telemetry")
    settings = Settings(
        data_dir=tmp / "var",
        opcua_url=endpoint_url("127.0.0.1", free_tcp_port()),
        api_port=free_tcp_port(),
        log_level="WARNING",
        inference_device="cpu",
        inference_threads=1,
    )
    system = LiveSystem.start(settings)
    yield system
    system.stop()


def bearing_orders(live: LiveSystem) -> list[dict[str, Any]]:
    response = live.get("/work-orders", "bob", params={"asset": "press-3"})
    assert response.status_code == 200, response.text
    return [o for o in response.json() if RULE in o["symptom"]]


def test_bearing_wear_opens_a_work_order_before_the_vibration_alarm(live: LiveSystem) -> None:
    plant = live.app.state.services.plant
    [limit] = [a.high for a in plant.asset("press-3").tag("vibration_rms_mm_s").alarms]
    live.sim_do(
        lambda p: (
            p.start("feeder-2"),
            p.start("press-3"),
            p.inject_fault("bearing_wear", "press-3", 1.0),
        )
    )
    # One sample a second: 40 s to fill the model's window, then 3 anomalous windows.
    eventually(lambda: bool(bearing_orders(live)), timeout=240, interval=1.0)
    at_order = live.snapshot("press-3")
    assert at_order.tags["vibration_rms_mm_s"] < limit
    assert "vibration_high" not in at_order.active_alarms

    [order] = bearing_orders(live)
    assert order["failure_mode"] == "VIB" and order["lockout_required"]
    evidence = order["evidence"]
    assert len(evidence) >= 3
    for item in evidence:
        assert item["kind"] == "telemetry" and item["label"] == "anomaly"
        assert item["model"].startswith("press-3-telemetry@")
        assert item["score"] > item["threshold"]
