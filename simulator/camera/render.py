"""Renders what the inspection camera sees: one stamped steel bracket on the conveyor belt,
top view, grayscale, with at most one surface defect.

Pure numpy and deterministic: the same (seed, index, defect, conditions) always gives the
same pixels, whatever was rendered before, so a part can be re-rendered on demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

IMAGE_SIZE = 128  # pixels, square; the camera's field of view is about 160 mm


class Defect(StrEnum):
    crack = "crack"  # hairline, jagged, dark: the part must not ship
    scratch = "scratch"  # long, smooth, usually bright (specular)
    dent = "dent"  # a shallow depression: shading, not colour


CLASSES: tuple[str, ...] = ("ok", *(d.value for d in Defect))  # "ok": no defect


@dataclass(frozen=True)
class Conditions:
    """The station's state beyond the part itself, as the simulator's faults set it."""

    lighting_drift: float = 0.0  # 0: lamp as commissioned; 1: at 60 % and lopsided
    coil_material: float = 0.0  # 0: the usual cold-rolled coil; 1: a galvanised coil


NORMAL = Conditions()

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, inclusive-exclusive


@dataclass(frozen=True)
class _Pose:
    cx: float
    cy: float
    angle: float
    half_w: float
    half_h: float

    def to_image(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        return self.cx + c * u - s * v, self.cy + s * u + c * v

    def to_part(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx, dy = x - self.cx, y - self.cy
        return c * dx + s * dy, -s * dx + c * dy


def render_part(
    seed: int,
    index: int,
    defect: Defect | None,
    conditions: Conditions = NORMAL,
    size: int = IMAGE_SIZE,
) -> tuple[np.ndarray, Box | None]:
    """The camera frame of part `index` (uint8, size x size) and the defect's bounding box."""
    # One stream per aspect, so a fault or a defect changes only what it touches.
    shape_rng, surface_rng, light_rng, defect_rng, sensor_rng = np.random.default_rng(
        (seed, index)
    ).spawn(5)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    scale = size / IMAGE_SIZE
    pose = _Pose(
        cx=size / 2 + shape_rng.uniform(-4, 4) * scale,
        cy=size / 2 + shape_rng.uniform(-4, 4) * scale,
        angle=math.radians(shape_rng.uniform(-5, 5)),
        half_w=shape_rng.uniform(46, 50) * scale,
        half_h=shape_rng.uniform(34, 39) * scale,
    )
    u, v = pose.to_part(xx, yy)
    holes = [
        (sign * pose.half_w * 0.62, 0.0, shape_rng.uniform(6, 7.5) * scale) for sign in (-1, 1)
    ]
    part = _part_mask(u, v, pose, holes, 9 * scale)

    reflectance = _surface(surface_rng, u, v, size, conditions.coil_material) * part
    reflectance += _belt(surface_rng, size) * (1 - part)
    light_angle = light_rng.uniform(0, 2 * math.pi)
    relief = _bead(u, v, pose, light_angle) * part
    illumination = _illumination(light_rng, xx, yy, size, conditions.lighting_drift)
    box = None
    if defect is not None:
        u0, v0 = _defect_site(defect_rng, pose, holes, scale)
        mark, relief_change = _draw_defect(
            defect_rng, defect, pose, u0, v0, light_angle, scale, xx, yy
        )
        mark, relief_change = mark * part, relief_change * part
        reflectance = np.where(mark < 0, reflectance * (1 + mark), reflectance + mark)
        relief += relief_change
        box = _footprint(np.abs(mark) + np.abs(relief_change))
    image = reflectance * illumination * (1 + relief)
    image = image * sensor_rng.uniform(0.97, 1.03) + sensor_rng.normal(0, 0.01, image.shape)
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8), box


def _part_mask(
    u: np.ndarray, v: np.ndarray, pose: _Pose, holes: list[tuple[float, float, float]], r: float
) -> np.ndarray:
    """1 on the metal, 0 elsewhere, anti-aliased: a rounded rectangle with two punched holes."""
    qu = np.abs(u) - (pose.half_w - r)
    qv = np.abs(v) - (pose.half_h - r)
    outside = np.hypot(np.maximum(qu, 0), np.maximum(qv, 0)) + np.minimum(np.maximum(qu, qv), 0)
    sdf = outside - r
    for hu, hv, hr in holes:
        sdf = np.maximum(sdf, hr - np.hypot(u - hu, v - hv))
    return np.clip(0.5 - sdf, 0, 1)


def _smooth_rows(noise: np.ndarray, width: int) -> np.ndarray:
    """Moving average along x (the rolling direction): streaks, as rolled steel shows."""
    padded = np.pad(noise, ((0, 0), (width, width)), mode="wrap")
    csum = np.cumsum(padded, axis=1)
    out = (csum[:, 2 * width :] - csum[:, : -2 * width]) / (2 * width)
    return out[:, : noise.shape[1]]


def _surface(
    rng: np.random.Generator, u: np.ndarray, v: np.ndarray, size: int, new_coil: float
) -> np.ndarray:
    """Reflectance of the steel: brushed cold-rolled, blended toward galvanised spangle."""
    streaks = _smooth_rows(rng.normal(0, 1, (size, size)), 12)
    cold = 0.60 + rng.uniform(-0.03, 0.03) + 0.12 * streaks + rng.normal(0, 0.012, (size, size))
    cells = rng.uniform(-60, 60, (40, 2))
    shades = rng.uniform(-0.1, 0.1, 40)
    grain = rng.normal(0, 0.02, (size, size))
    if new_coil <= 0:
        return cold
    # Spangle: zinc crystals as Voronoi cells of slightly different brightness.
    distance = (u[..., None] - cells[:, 0]) ** 2 + (v[..., None] - cells[:, 1]) ** 2
    galvanised = 0.74 + shades[np.argmin(distance, axis=-1)] + grain
    return (1 - new_coil) * cold + new_coil * galvanised


def _belt(rng: np.random.Generator, size: int) -> np.ndarray:
    weave = 0.02 * np.sin(np.arange(size) * 1.7)[None, :] * np.sin(np.arange(size) * 1.3)[:, None]
    return 0.13 + weave + rng.normal(0, 0.015, (size, size))


def _bead(u: np.ndarray, v: np.ndarray, pose: _Pose, light_angle: float) -> np.ndarray:
    """The stamped stiffening bead along the part: a raised rib, lit from one side."""
    offset = v - 0.55 * pose.half_h
    along = np.clip((pose.half_w * 0.45 - np.abs(u)) / 3, 0, 1)
    slope = -offset * np.exp(-(offset**2) / 8) / 2  # derivative of the rib's height profile
    return 0.25 * slope * math.sin(light_angle) * along


def _defect_site(
    rng: np.random.Generator, pose: _Pose, holes: list[tuple[float, float, float]], scale: float
) -> tuple[float, float]:
    """A point on the flat metal, away from the edges and the holes."""
    while True:
        u0 = rng.uniform(-pose.half_w + 14 * scale, pose.half_w - 14 * scale)
        v0 = rng.uniform(-pose.half_h + 12 * scale, pose.half_h - 12 * scale)
        if all(math.hypot(u0 - hu, v0 - hv) > hr + 8 * scale for hu, hv, hr in holes):
            return u0, v0


def _draw_defect(
    rng: np.random.Generator,
    defect: Defect,
    pose: _Pose,
    u0: float,
    v0: float,
    light_angle: float,
    scale: float,
    xx: np.ndarray,
    yy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(reflectance change, relief change); a negative mark darkens by that fraction."""
    x0, y0 = pose.to_image(np.array(u0), np.array(v0))
    if defect is Defect.dent:
        radius = rng.uniform(5, 11) * scale
        sigma = radius / 2
        dx, dy = xx - x0, yy - y0
        bump = np.exp(-(dx**2 + dy**2) / (2 * sigma**2))
        slope = (dx * math.cos(light_angle) + dy * math.sin(light_angle)) / sigma * bump
        relief = rng.uniform(0.25, 0.4) * slope
        return -0.08 * bump, relief
    if defect is Defect.crack:
        points = _random_walk(rng, x0, y0, rng.integers(18, 40) * scale, 0.5, persistence=0.6)
        mark = -rng.uniform(0.4, 0.7) * _stroke(points, rng.uniform(0.45, 0.65), xx, yy)
        if rng.random() < 0.5:  # a branch off the middle
            start = points[len(points) // 2]
            length = rng.integers(6, 14) * scale
            branch = _random_walk(rng, start[0], start[1], length, 0.5, persistence=0.6)
            mark = np.minimum(mark, -0.45 * _stroke(branch, 0.5, xx, yy))
    else:
        length = rng.uniform(35, 75) * scale
        curvature = rng.uniform(-0.01, 0.01)
        points = _random_walk(rng, x0, y0, length, 0.02, curvature=curvature)
        line = _stroke(points, rng.uniform(0.5, 0.9), xx, yy)
        mark = (rng.uniform(0.18, 0.35) if rng.random() < 0.75 else -0.25) * line
    return mark, np.zeros_like(xx)


def _random_walk(
    rng: np.random.Generator,
    x0: float,
    y0: float,
    length: float,
    jitter: float,
    curvature: float = 0.0,
    persistence: float = 1.0,
) -> np.ndarray:
    """Points 1 px apart. The heading deviates by an AR(1) process: `persistence` < 1 pulls
    it back to the course (a crack zig-zags along a line), 1 lets it wander (a scratch)."""
    steps = max(int(length), 2)
    noise = rng.normal(0, jitter, steps)
    deviation = np.empty(steps)
    level = 0.0
    for i, step in enumerate(noise):
        level = persistence * level + step
        deviation[i] = level
    angles = rng.uniform(0, 2 * math.pi) + deviation + curvature * np.arange(steps)
    xs = x0 + np.concatenate([[0], np.cumsum(np.cos(angles))])
    ys = y0 + np.concatenate([[0], np.cumsum(np.sin(angles))])
    return np.stack([xs, ys], axis=1)


def _stroke(points: np.ndarray, sigma: float, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Anti-aliased polyline: exp(-d^2 / 2 sigma^2), d the distance to the nearest segment."""
    out = np.zeros_like(xx)
    size = xx.shape[0]
    lo = np.maximum(np.floor(points.min(axis=0) - 4), 0).astype(int)
    hi = np.minimum(np.ceil(points.max(axis=0) + 5), size).astype(int)
    if np.any(hi <= lo):
        return out
    px = xx[lo[1] : hi[1], lo[0] : hi[0]][..., None]
    py = yy[lo[1] : hi[1], lo[0] : hi[0]][..., None]
    ax, ay = points[:-1, 0], points[:-1, 1]
    bx, by = points[1:, 0], points[1:, 1]
    dx, dy = bx - ax, by - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.maximum(dx**2 + dy**2, 1e-9), 0, 1)
    d2 = ((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2).min(axis=-1)
    out[lo[1] : hi[1], lo[0] : hi[0]] = np.exp(-d2 / (2 * sigma**2))
    return out


def _footprint(change: np.ndarray) -> Box:
    """The box around the pixels a defect visibly changes (on the metal only)."""
    ys, xs = np.nonzero(change > 0.02)
    if xs.size == 0:  # cannot happen for a site on the metal; keep the type honest
        return (0, 0, 0, 0)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def _illumination(
    rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray, size: int, drift: float
) -> np.ndarray:
    """Ring light with vignetting; a drifting lamp dims and lights one side more."""
    cx = cy = (size - 1) / 2
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (size / 2) ** 2
    angle = rng.uniform(0, 2 * math.pi)
    ramp = ((xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)) / size
    gain = rng.uniform(0.95, 1.05) * (1 - 0.4 * drift)
    # A failing segment of the ring light: the left side darkens as the drift grows.
    lopsided = 1 + 0.8 * drift * (xx - cx) / size
    return gain * (1 - 0.12 * r2) * (1 + rng.uniform(0, 0.12) * ramp) * lopsided
