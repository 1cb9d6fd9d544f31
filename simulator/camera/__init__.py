"""The inspection camera: rendered frames of stamped parts with surface defects, under the
simulator's faults (lighting drift, a new coil material, defect bursts)."""

from simulator.camera.render import CLASSES, IMAGE_SIZE, Conditions, Defect, render_part
from simulator.camera.station import Frame, GroundTruth, InspectionCamera

__all__ = [
    "CLASSES",
    "IMAGE_SIZE",
    "Conditions",
    "Defect",
    "Frame",
    "GroundTruth",
    "InspectionCamera",
    "render_part",
]
