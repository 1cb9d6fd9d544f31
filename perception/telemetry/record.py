"""Record normal operation for `andon train telemetry`: an asset's tags over OPC-UA, sampled
from the control plane's driver exactly as the live monitor samples them."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from control.opcua.driver import PlantDriver
from perception.telemetry.stream import TagSampler, fixed_rate


async def record(
    driver: PlantDriver,
    asset: str,
    tags: Sequence[str],
    out: Path,
    *,
    samples: int,
    period_s: float = 1.0,
    wait_s: float = 60.0,
    pace: AsyncIterator[None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write up to `samples` consecutive samples of the running asset to `out` (CSV:
    timestamp, then the tags); returns how many. Waits up to `wait_s` for the asset to run.
    A recording is one continuous stretch: it ends early if the asset stops or the
    connection drops (a gap would join two stretches into windows that never happened).

    `pace`: yields when the next sample is due (default: every `period_s` seconds; the demo
    builder steps a simulator instead)."""
    sampler = TagSampler(driver, asset, tags)
    written, waited = 0, 0.0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", *tags])
        async for _ in pace or fixed_rate(lambda: period_s):
            row = sampler.sample()
            if row is None:
                if written or waited >= wait_s:
                    break
                waited += period_s
                continue
            writer.writerow([datetime.now(UTC).isoformat(timespec="milliseconds"), *row])
            written += 1
            if progress is not None:
                progress(written)
            if written >= samples:
                break
    return written
