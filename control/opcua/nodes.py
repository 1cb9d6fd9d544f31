"""Node ids of the plant, resolved once from the plant model (see simulator/ADDRESS_SPACE.md).

The driver never browses: every node it reads, writes, subscribes to or calls is known
here before it connects, which keeps the hot path to one request per operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from asyncua import ua

from control.opcua.errors import DriverError
from control.plant.models import Command, PlantModel, RunState

# AssetState field -> the asset's status variable in the address space.
STATUS_VARIABLES: dict[str, str] = {
    "run_state": "State",
    "lockouts": "Lockouts",
    "active_alarms": "ActiveAlarms",
    "unacknowledged_alarms": "UnacknowledgedAlarms",
    "manual_override": "ManualOverride",
}

# Plant commands that are methods on the asset object, and the String arguments each
# takes after the idempotency key.
METHODS: dict[Command, tuple[str, tuple[str, ...]]] = {
    Command.start: ("Start", ()),
    Command.stop: ("Stop", ()),
    Command.pause: ("Pause", ()),
    Command.resume: ("Resume", ()),
    Command.acknowledge_alarm: ("AckAlarm", ("alarm",)),
    Command.apply_lockout: ("ApplyLockout", ("holder",)),
    Command.remove_lockout: ("RemoveLockout", ("holder",)),
}

# A value as the driver hands it on: run state, string list, flag or tag value.
Value = RunState | tuple[str, ...] | bool | float


@dataclass(frozen=True)
class MethodNodes:
    object: ua.NodeId
    method: ua.NodeId


@dataclass(frozen=True)
class AssetNodes:
    object: ua.NodeId
    status: dict[str, ua.NodeId]  # AssetState field -> variable
    tags: dict[str, ua.NodeId]  # tag id -> variable
    methods: dict[Command, MethodNodes]  # only the commands the asset accepts
    set_manual_override: MethodNodes

    def values(self) -> dict[str, ua.NodeId]:
        """Every variable the driver reads for the asset, by name (status field or tag id)."""
        return self.status | self.tags


@dataclass(frozen=True)
class PlantNodes:
    assets: dict[str, AssetNodes]
    emergency_stops: dict[str, MethodNodes]  # line id -> EmergencyStop
    line_assets: dict[str, tuple[str, ...]]
    names: dict[ua.NodeId, tuple[str, str]]  # variable -> (asset id, name)
    namespace_indexes: frozenset[int]

    def asset(self, asset_id: str) -> AssetNodes:
        nodes = self.assets.get(asset_id)
        if nodes is None:
            raise DriverError(f"unknown asset {asset_id!r}", "BadNodeIdUnknown")
        return nodes

    def value_nodes(self, asset_ids: Iterable[str]) -> list[tuple[str, str, ua.NodeId]]:
        """(asset, name, node) for every status variable and tag of the given assets."""
        return [
            (asset_id, name, node)
            for asset_id in asset_ids
            for name, node in self.asset(asset_id).values().items()
        ]


def resolve_nodes(plant: PlantModel) -> PlantNodes:
    assets: dict[str, AssetNodes] = {}
    for asset in plant.assets:
        clash = {t.id for t in asset.tags} & STATUS_VARIABLES.keys()
        if clash:
            # Tag ids and status fields share one name space in change notifications.
            raise DriverError(f"asset {asset.id!r}: tag ids {sorted(clash)} clash with status")
        obj = _node(asset.node_id)
        assets[asset.id] = AssetNodes(
            object=obj,
            status={f: _node(asset.status_node(v)) for f, v in STATUS_VARIABLES.items()},
            tags={t.id: _node(t.node_id) for t in asset.tags},
            methods={
                c: MethodNodes(obj, _node(asset.status_node(name)))
                for c, (name, _) in METHODS.items()
                if c in asset.commands
            },
            set_manual_override=MethodNodes(obj, _node(asset.status_node("SetManualOverride"))),
        )
    names = {
        node: (asset_id, name)
        for asset_id, nodes in assets.items()
        for name, node in nodes.values().items()
    }
    emergency_stops = {
        line.id: MethodNodes(_node(line.node_id), _node(f"{line.node_id}.EmergencyStop"))
        for line in plant.lines
    }
    indexes = {n.NamespaceIndex for n in names}
    indexes |= {m.object.NamespaceIndex for m in emergency_stops.values()}
    return PlantNodes(
        assets=assets,
        emergency_stops=emergency_stops,
        line_assets={
            line.id: tuple(a.id for a in plant.line_assets(line.id)) for line in plant.lines
        },
        names=names,
        namespace_indexes=frozenset(indexes),
    )


def decode(name: str, raw: object) -> Value:
    """Turn a raw OPC-UA value into the type AssetState holds; ValueError if it does not fit."""
    match name:
        case "run_state":
            return RunState(raw)
        case "lockouts" | "active_alarms" | "unacknowledged_alarms":
            # An empty String[] may arrive as None (null array).
            if raw is None:
                return ()
            if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
                raise ValueError(f"{name}: expected a list of strings, got {raw!r}")
            return tuple(raw)
        case "manual_override":
            if not isinstance(raw, bool):
                raise ValueError(f"{name}: expected a Boolean, got {raw!r}")
            return raw
        case _:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError(f"tag {name}: expected a number, got {raw!r}")
            return float(raw)


def _node(node_id: str) -> ua.NodeId:
    return ua.NodeId.from_string(node_id)
