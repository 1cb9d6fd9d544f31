"""From a cracked part to a halted feeder on the whole system, as `andon up` wires it: the
embedded simulator's camera at vision-2, the shipped signed vision model in the perception
runtime, the inspection pipeline, control's detection rules, the plant over OPC-UA.

A defect burst is injected over OPC-UA (the simulator's own fault method), and the test
looks at the plant through its own OPC-UA client: feeder 2 paused. Then through the REST API:
the suspect parts on quality hold and a work order for the die, both carrying the frames
(their sha256 matches the file served at /evidence and the camera's own render of the part),
the scores and the model version. (Bearing wear -> work order before the vibration alarm,
the same path for telemetry, is tests/perception/test_telemetry_app.py.)
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asyncua import Client
from PIL import Image

from andon.settings import Settings
from perception.inspection.evidence import EvidenceStore
from simulator.camera import InspectionCamera
from simulator.server import endpoint_url, free_tcp_port

from ..api.api_helpers import LINE_2, LiveSystem, eventually, metric_value

pytestmark = pytest.mark.slow  # the whole system, and parts made in real time
RULE = "vision-2-defect-burst"
STATION = "vision-2"
DEFECTS = {"crack", "scratch", "dent"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    tmp: Path = tmp_path_factory.mktemp("andon-e2e")
    settings = Settings(
        data_dir=tmp / "var",
        opcua_url=endpoint_url("127.0.0.1", free_tcp_port()),
        api_port=free_tcp_port(),
        log_level="WARNING",
        inference_device="cpu",
        inference_threads=1,
        telemetry_live=False,  # only the vision path here
    )
    system = LiveSystem.start(settings)
    yield system
    system.stop()


def plant_state(live: LiveSystem, asset: str) -> str:
    """The asset's run state as the plant publishes it, read by a client of our own."""

    async def read() -> str:
        async with Client(live.settings.opcua_url) as client:
            value: str = await client.get_node(f"ns=2;s={asset}.State").read_value()
            return value

    return asyncio.run(read())


def inject_fault(live: LiveSystem, fault: str, asset: str, severity: float) -> None:
    async def call() -> None:
        async with Client(live.settings.opcua_url) as client:
            simulator = client.get_node("ns=2;s=simulator")
            await simulator.call_method("2:InjectFault", fault, asset, severity)

    asyncio.run(call())


class Parts:
    """The pipeline's count of parts inspected at the station, from /metrics, since made
    (metrics live as long as the process: other tests' parts are not ours)."""

    RESULTS = ("ok", "defect", "degraded")

    def __init__(self, live: LiveSystem) -> None:
        self.live = live
        self.start = {r: self._total(r) for r in self.RESULTS}

    def _total(self, result: str) -> float:
        text = self.live.client.get("/metrics").text
        return metric_value(text, "andon_inspection_parts_total", station=STATION, result=result)

    def __call__(self, result: str | None = None) -> float:
        results = self.RESULTS if result is None else (result,)
        return sum(self._total(r) - self.start[r] for r in results)


def run_line(live: LiveSystem, seconds: float) -> None:
    """Move the plant on by `seconds` of its time at once (parts come every 3 s at 20 spm)."""
    live.sim_do(lambda p: p.step(seconds))


def test_defect_burst_pauses_the_feeder_holds_the_parts_and_opens_a_work_order(
    live: LiveSystem,
) -> None:
    session = live.app.state.perception.session(live.settings.inspection_model)
    assert session is not None, "the shipped vision model did not load"
    model = f"{session.name}@{session.version}"
    parts = Parts(live)
    live.sim_do(lambda p: [p.start(a) for a in LINE_2])

    # Normal production: parts are inspected and the line keeps running.
    run_line(live, 30)
    eventually(lambda: parts() >= 8, timeout=60, interval=0.2)
    assert plant_state(live, "feeder-2") == "running"
    before = parts()

    inject_fault(live, "defect_burst", "press-3", 1.0)  # every part from now on is marked
    for _ in range(20):  # a part at a time until the rule acts (3 of the last 20)
        run_line(live, 3)
        try:
            eventually(lambda: plant_state(live, "feeder-2") == "paused", timeout=3)
            break
        except AssertionError:
            continue
    assert plant_state(live, "feeder-2") == "paused"
    assert plant_state(live, "press-3") == "running"  # the rule pauses the feeder only
    # The third flagged part's inspection ends when control has carried out the whole plan.
    eventually(lambda: parts("defect") >= 3, timeout=30, interval=0.2)

    holds = live.get("/quality-holds", "bob", params={"asset": STATION, "status": "held"})
    assert holds.status_code == 200, holds.text
    [hold] = [h for h in holds.json() if h["placed_by"] == f"rule:{RULE}"]
    request_id = hold["source_request"].rsplit(":", 1)[0]
    evidence: list[dict[str, Any]] = hold["evidence"]
    assert len(evidence) == 3
    assert hold["parts_from"] <= hold["parts_to"] <= parts()
    assert hold["parts_to"] > before  # the lot reaches into the burst

    store = EvidenceStore(live.settings.evidence_dir)
    # What the station's camera renders of a part, before the burst and during it.
    cameras = (InspectionCamera(station=STATION), InspectionCamera(live.sim.process, STATION))
    truths = []
    for item in evidence:
        assert item["kind"] == "vision" and item["model"] == model
        assert item["label"] in DEFECTS
        assert (
            item["score"]
            >= item["threshold"]
            == session.metadata.thresholds.get("min_confidence", 0.5)
        )
        # The frame served is the stored file, and exactly what the camera saw of that part.
        frame = live.get(f"/evidence/{item['uri']}", "alice")
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
        assert hashlib.sha256(frame.content).hexdigest() == item["sha256"]
        assert store.path(item["uri"]) is not None
        with Image.open(io.BytesIO(frame.content)) as png:
            pixels = np.asarray(png)
        index = int(item["subject"].rsplit("-", 1)[1])
        seen = [
            f.truth for f in (c.capture(index) for c in cameras) if np.array_equal(f.image, pixels)
        ]
        assert seen, f"{item['subject']}: not the camera's frame of that part"
        truths.append(seen[0])
    assert truths[-1].defective  # the part that made the rule act was really marked

    orders = live.get("/work-orders", "bob", params={"asset": "press-3"}).json()
    [order] = [o for o in orders if (o["source_request"] or "").startswith(request_id)]
    assert f"[{RULE}]" in order["symptom"]
    assert order["priority"] == "high" and order["lockout_required"] is True
    assert [e["sha256"] for e in order["evidence"]] == [e["sha256"] for e in evidence]

    # Decided and audited as any request: the rule proposed it, the automation role asked.
    records = live.audit(request_id=request_id)
    assert [r["kind"] for r in records][:2] == ["request", "decision"]
    assert records[-1]["kind"] == "result"
    assert {r["role"] for r in records} == {"automation"}
    live.audit_head()

    # Evidence is for people with a key, and only stored frames are served.
    assert live.client.get(f"/evidence/{evidence[0]['uri']}").status_code == 401
    assert live.get(f"/evidence/{'0' * 64}.png", "alice").status_code == 404
    assert live.get("/evidence/..%2Fandon.sqlite", "alice").status_code in (404, 422)
