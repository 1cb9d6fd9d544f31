"""The area-scan camera of a vision station: one frame per part the station inspects.

Which parts are defective is drawn from the camera's own seeded generator (never the
process model's, so adding a camera does not change the plant), per part index: frame `n`
is the same whenever it is taken. The simulator's faults on the station's line change what
the camera sees: `lighting_drift` (on the station), `coil_material` (a new coil on the
feeder) and `defect_burst` (the press marks parts; severity = the share of defective parts).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import numpy as np

from simulator.asset_process import Fault
from simulator.camera.render import IMAGE_SIZE, NORMAL, Box, Conditions, Defect, render_part
from simulator.process import ProcessModel

DEFAULT_STATION = "vision-2"
DEFAULT_DEFECT_RATE = 0.02


@dataclass(frozen=True)
class GroundTruth:
    """What is really on the part (the simulator knows; the model must find out)."""

    label: str  # "ok" or a Defect value
    box: Box | None  # where the defect is, in image pixels
    conditions: Conditions

    @property
    def defective(self) -> bool:
        return self.label != "ok"


@dataclass(frozen=True)
class Frame:
    part_id: str
    index: int
    image: np.ndarray  # uint8, (height, width), grayscale
    truth: GroundTruth


class InspectionCamera:
    def __init__(
        self,
        process: ProcessModel | None = None,
        station: str = DEFAULT_STATION,
        seed: int = 0,
        defect_rate: float = DEFAULT_DEFECT_RATE,
        conditions: Conditions = NORMAL,
        size: int = IMAGE_SIZE,
    ) -> None:
        """`process`: the simulated plant whose station this camera watches (its faults and
        inspected parts); None for a camera on its own (rendering training sets).
        `conditions` and `defect_rate` apply while no fault on the station overrides them."""
        if not (math.isfinite(defect_rate) and 0 <= defect_rate <= 1):
            raise ValueError(f"defect_rate must be within [0, 1], got {defect_rate}")
        self._line: tuple[str, ...] = ()  # the assets whose faults the camera sees
        if process is not None:
            spec = process.plant.asset(station)
            if spec is None or spec.type != "vision_station":
                raise ValueError(f"{station!r} is not a vision station of the plant")
            self._line = tuple(a.id for a in process.plant.line_assets(spec.line))
        self.process, self.station = process, station
        self.seed, self.size = seed, size
        self.defect_rate, self.conditions = defect_rate, conditions
        self._next_index = 0
        self._seen = self._inspected()

    def capture(self, index: int) -> Frame:
        """The frame of part `index` under the station's present conditions."""
        conditions, rate = self._present_conditions()
        draw = np.random.default_rng((self.seed, index, 1))  # a stream apart from the pixels
        defect = None
        if draw.random() < rate:
            defect = list(Defect)[int(draw.integers(len(Defect)))]
        image, box = render_part(self.seed, index, defect, conditions, self.size)
        label = defect.value if defect else "ok"
        return Frame(
            part_id=f"{self.station}-{index:08d}",
            index=index,
            image=image,
            truth=GroundTruth(label, box, conditions),
        )

    def __iter__(self) -> Iterator[Frame]:
        """Successive parts, as fast as they render (the plant's pace does not apply)."""
        while True:
            yield self._take()

    def new_frames(self) -> list[Frame]:
        """One frame per part the station inspected since the last call."""
        inspected = self._inspected()
        count, self._seen = max(inspected - self._seen, 0), inspected
        return [self._take() for _ in range(count)]

    async def frames(self, poll_s: float = 0.05) -> AsyncIterator[Frame]:
        """Frames at the plant's pace: each part as the station inspects it."""
        while True:
            for frame in self.new_frames():
                yield frame
            await asyncio.sleep(poll_s)

    def _take(self) -> Frame:
        frame = self.capture(self._next_index)
        self._next_index += 1
        return frame

    def _inspected(self) -> int:
        if self.process is None:
            return 0
        return int(self.process.reading(self.station, "inspected_count"))

    def _present_conditions(self) -> tuple[Conditions, float]:
        faults: dict[Fault, float] = {}
        if self.process is not None:
            for asset_id in self._line:
                faults.update(self.process.faults_of(asset_id))
        conditions = Conditions(
            lighting_drift=faults.get(Fault.lighting_drift, self.conditions.lighting_drift),
            coil_material=faults.get(Fault.coil_material, self.conditions.coil_material),
        )
        return conditions, faults.get(Fault.defect_burst, self.defect_rate)
