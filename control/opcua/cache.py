"""The driver's cached view of the plant, fed by the subscription, with change listeners."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import structlog

from control.opcua.nodes import STATUS_VARIABLES, AssetNodes, Value
from control.state.models import AssetState, PlantState

log = structlog.get_logger()

# callback(asset_id, name, value): name is an AssetState field (run_state, lockouts, ...)
# or a tag id; value is already decoded (RunState, tuple of str, bool, float).
ChangeListener = Callable[[str, str, Value], None]


class StateCache:
    def __init__(self, assets: Mapping[str, AssetNodes]) -> None:
        self._assets = assets
        self._values: dict[str, dict[str, Value]] = {}
        self._listeners: list[ChangeListener] = []

    def add_listener(self, listener: ChangeListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def get(self, asset_id: str, name: str) -> Value | None:
        return self._values.get(asset_id, {}).get(name)

    def update(self, asset_id: str, name: str, value: Value) -> None:
        """Store a value; tell the listeners if it changed a value seen before."""
        values = self._values.setdefault(asset_id, {})
        previous = values.get(name)
        values[name] = value
        # The first value of a name is the snapshot, not a change.
        if previous is None or previous == value:
            return
        for listener in list(self._listeners):
            try:
                listener(asset_id, name, value)
            except Exception:
                log.exception("opcua.change_listener_failed", asset=asset_id, name=name)

    def snapshot(self, connected: bool) -> PlantState:
        return plant_state(
            ((a, values) for a, values in self._values.items()), self._assets, connected
        )


def plant_state(
    readings: Iterable[tuple[str, Mapping[str, Value]]],
    assets: Mapping[str, AssetNodes],
    connected: bool,
) -> PlantState:
    """Build a PlantState from decoded values keyed by status field or tag id."""
    return PlantState(
        assets={
            asset_id: AssetState.model_validate(
                {field: values[field] for field in STATUS_VARIABLES}
                | {"tags": {tag: values[tag] for tag in assets[asset_id].tags}}
            )
            for asset_id, values in readings
        },
        connected=connected,
    )
