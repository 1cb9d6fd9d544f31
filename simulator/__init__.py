"""The simulated stamping plant: a seeded process model served over OPC-UA."""

from simulator.process import InvalidArgument, InvalidState, OutOfRange, ProcessModel, Refused
from simulator.security import SecuritySettings
from simulator.server import SimulatedPlant, free_tcp_port

__all__ = [
    "InvalidArgument",
    "InvalidState",
    "OutOfRange",
    "ProcessModel",
    "Refused",
    "SecuritySettings",
    "SimulatedPlant",
    "free_tcp_port",
]
