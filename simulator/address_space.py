"""The OPC-UA nodes of the simulated plant, laid out as simulator/ADDRESS_SPACE.md says.

Everything is derived from the plant model; `published_values` maps the process model's
state onto the same node ids, so building and publishing cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from asyncua import Server, ua

from control.plant.models import Asset, Line, PlantModel, Tag, TagKind
from simulator.process import ProcessModel

SITE_NODE = "site"
SIMULATOR_NODE = "simulator"
# UNECE unit namespace, the one OPC-UA's EUInformation names; units are given by name only.
UNITS_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"

STATUS_VARIABLES = (
    "State",
    "Lockouts",
    "ActiveAlarms",
    "UnacknowledgedAlarms",
    "ManualOverride",
    "ActuationCount",
)

MethodCallback = Callable[..., Awaitable[list[ua.Variant] | ua.CallMethodResult]]


@dataclass(frozen=True)
class MethodArg:
    name: str
    type: ua.VariantType
    description: str


@dataclass(frozen=True)
class MethodSpec:
    name: str
    inputs: tuple[MethodArg, ...]
    callback: MethodCallback


class MethodProvider(Protocol):
    def for_asset(self, asset: Asset) -> list[MethodSpec]: ...
    def for_line(self, line: Line) -> list[MethodSpec]: ...
    def for_simulator(self) -> list[MethodSpec]: ...


@dataclass(frozen=True)
class PlantNodes:
    setpoints: dict[ua.NodeId, tuple[str, str]]  # node -> (asset id, tag id)
    read_only: frozenset[ua.NodeId]  # every other value the plant publishes
    simulator_methods: frozenset[ua.NodeId]


@cache
def node_id(text: str) -> ua.NodeId:
    return ua.NodeId.from_string(text)


def simulator_node(ns: int, name: str = "") -> ua.NodeId:
    return ua.NodeId(f"{SIMULATOR_NODE}.{name}" if name else SIMULATOR_NODE, ns)


def published_values(
    model: ProcessModel, ns: int, assets: Collection[str] | None = None
) -> dict[ua.NodeId, ua.Variant]:
    """Every plant value node and what it shows now; with `assets`, only their nodes."""
    values: dict[ua.NodeId, ua.Variant] = {}
    for asset in model.plant.assets:
        if assets is not None and asset.id not in assets:
            continue
        snap = model.snapshot(asset.id)
        for tag in asset.tags:
            values[node_id(tag.node_id)] = ua.Variant(snap.tags[tag.id], ua.VariantType.Double)
        status = {
            "State": ua.Variant(snap.run_state.value, ua.VariantType.String),
            "Lockouts": ua.Variant(list(snap.lockouts), ua.VariantType.String),
            "ActiveAlarms": ua.Variant(list(snap.active_alarms), ua.VariantType.String),
            "UnacknowledgedAlarms": ua.Variant(
                list(snap.unacknowledged_alarms), ua.VariantType.String
            ),
            "ManualOverride": ua.Variant(snap.manual_override, ua.VariantType.Boolean),
            "ActuationCount": ua.Variant(snap.actuation_count, ua.VariantType.UInt64),
        }
        for name, variant in status.items():
            values[node_id(asset.status_node(name))] = variant
    if assets is not None:
        return values
    values[simulator_node(ns, "ActiveFaults")] = ua.Variant(
        list(model.active_faults()), ua.VariantType.String
    )
    values[simulator_node(ns, "SimTime")] = ua.Variant(model.sim_time, ua.VariantType.Double)
    return values


async def build_address_space(
    server: Server, model: ProcessModel, ns: int, methods: MethodProvider
) -> PlantNodes:
    plant = model.plant
    _check_namespace(plant, ns)
    builder = _Builder(server, ns, published_values(model, ns))
    objects = ua.NodeId(ua.ObjectIds.ObjectsFolder)
    site = ua.NodeId(SITE_NODE, ns)
    await builder.object(objects, site, "Site", plant.site.name)
    setpoints: dict[ua.NodeId, tuple[str, str]] = {}
    for line in plant.lines:
        line_node = node_id(line.node_id)
        await builder.object(site, line_node, line.id, line.name)
        await builder.methods(line_node, methods.for_line(line))
        for asset in plant.line_assets(line.id):
            asset_node = node_id(asset.node_id)
            await builder.object(line_node, asset_node, asset.id, asset.name)
            for tag in asset.tags:
                if tag.kind is TagKind.setpoint:
                    setpoints[node_id(tag.node_id)] = (asset.id, tag.id)
                await builder.tag(asset_node, tag)
            for name in STATUS_VARIABLES:
                await builder.variable(asset_node, node_id(asset.status_node(name)), name)
            await builder.methods(asset_node, methods.for_asset(asset))
    sim = simulator_node(ns)
    await builder.object(objects, sim, "Simulator", "Simulator control: faults and restarts")
    for name in ("ActiveFaults", "SimTime"):
        await builder.variable(sim, simulator_node(ns, name), name)
    sim_methods = await builder.methods(sim, methods.for_simulator())
    return PlantNodes(
        setpoints=setpoints,
        read_only=frozenset(builder.values) - frozenset(setpoints),
        simulator_methods=frozenset(sim_methods),
    )


def _check_namespace(plant: PlantModel, ns: int) -> None:
    """The plant file hard-codes its namespace index; the server must have registered it so."""
    ids = [line.node_id for line in plant.lines] + [a.node_id for a in plant.assets]
    ids += [t.node_id for a in plant.assets for t in a.tags]
    wrong = sorted({i for i in ids if node_id(i).NamespaceIndex != ns})
    if wrong:
        raise ValueError(f"{plant.site.namespace_uri} is ns={ns} here, but the plant uses {wrong}")


class _Builder:
    def __init__(self, server: Server, ns: int, values: dict[ua.NodeId, ua.Variant]) -> None:
        self._server = server
        self._ns = ns
        self.values = values  # initial value of every variable the plant publishes

    async def object(self, parent: ua.NodeId, node: ua.NodeId, name: str, description: str) -> None:
        in_folder = parent == ua.NodeId(ua.ObjectIds.ObjectsFolder)
        await self._add(
            ua.AddNodesItem(
                RequestedNewNodeId=node,
                BrowseName=ua.QualifiedName(name, self._ns),
                NodeClass=ua.NodeClass.Object,
                ParentNodeId=parent,
                ReferenceTypeId=ua.NodeId(
                    ua.ObjectIds.Organizes if in_folder else ua.ObjectIds.HasComponent
                ),
                TypeDefinition=ua.NodeId(ua.ObjectIds.BaseObjectType),
                NodeAttributes=ua.ObjectAttributes(
                    DisplayName=ua.LocalizedText(name), Description=ua.LocalizedText(description)
                ),
            )
        )

    async def tag(self, parent: ua.NodeId, tag: Tag) -> None:
        """An AnalogItem with its engineering range and unit as properties."""
        node = node_id(tag.node_id)
        await self._variable(
            parent,
            node,
            ua.QualifiedName(tag.id, self._ns),
            self.values[node],
            ua.NodeId(ua.ObjectIds.Double),
            description=tag.description,
            writable=tag.kind is TagKind.setpoint,
            type_definition=ua.ObjectIds.AnalogItemType,
        )
        er = tag.engineering_range
        unit = ua.EUInformation(
            NamespaceUri=UNITS_NAMESPACE,
            UnitId=-1,
            DisplayName=ua.LocalizedText(tag.unit),
            Description=ua.LocalizedText(tag.unit),
        )
        for name, value in (
            ("EURange", ua.Range(Low=er.low, High=er.high)),
            ("EngineeringUnits", unit),
        ):
            await self._variable(
                node,
                ua.NodeId(f"{node.Identifier}.{name}", self._ns),
                ua.QualifiedName(name, 0),
                ua.Variant(value),
                value.data_type,
                description=name,
                type_definition=ua.ObjectIds.PropertyType,
            )

    async def variable(self, parent: ua.NodeId, node: ua.NodeId, name: str) -> None:
        value = self.values[node]
        await self._variable(
            parent,
            node,
            ua.QualifiedName(name, self._ns),
            value,
            ua.NodeId(value.VariantType.value),
            description=name,
        )

    async def methods(self, parent: ua.NodeId, specs: list[MethodSpec]) -> list[ua.NodeId]:
        parent_node = self._server.get_node(parent)
        added = []
        for spec in specs:
            method = ua.NodeId(f"{parent.Identifier}.{spec.name}", self._ns)
            inputs = [_argument(arg.name, arg.type, arg.description) for arg in spec.inputs]
            output = _argument("result", ua.VariantType.String, '"done" or "duplicate"')
            await parent_node.add_method(
                method, ua.QualifiedName(spec.name, self._ns), spec.callback, inputs, [output]
            )
            added.append(method)
        return added

    async def _variable(
        self,
        parent: ua.NodeId,
        node: ua.NodeId,
        browse_name: ua.QualifiedName,
        value: ua.Variant,
        data_type: ua.NodeId,
        *,
        description: str,
        writable: bool = False,
        type_definition: int = ua.ObjectIds.BaseDataVariableType,
    ) -> None:
        access = ua.AccessLevel.CurrentRead.mask
        if writable:
            access |= ua.AccessLevel.CurrentWrite.mask
        is_property = type_definition == ua.ObjectIds.PropertyType
        await self._add(
            ua.AddNodesItem(
                RequestedNewNodeId=node,
                BrowseName=browse_name,
                NodeClass=ua.NodeClass.Variable,
                ParentNodeId=parent,
                ReferenceTypeId=ua.NodeId(
                    ua.ObjectIds.HasProperty if is_property else ua.ObjectIds.HasComponent
                ),
                TypeDefinition=ua.NodeId(type_definition),
                NodeAttributes=ua.VariableAttributes(
                    DisplayName=ua.LocalizedText(browse_name.Name),
                    Description=ua.LocalizedText(description),
                    Value=value,
                    DataType=data_type,
                    ValueRank=ua.ValueRank.OneDimension if value.is_array else ua.ValueRank.Scalar,
                    ArrayDimensions=[0] if value.is_array else None,
                    AccessLevel=access,
                    UserAccessLevel=access,
                ),
            )
        )

    async def _add(self, item: ua.AddNodesItem) -> None:
        (result,) = await self._server.iserver.isession.add_nodes([item])
        result.StatusCode.check()


def _argument(name: str, vtype: ua.VariantType, description: str) -> ua.Argument:
    return ua.Argument(
        Name=name,
        DataType=ua.NodeId(vtype.value),
        ValueRank=ua.ValueRank.Scalar,
        Description=ua.LocalizedText(description),
    )
