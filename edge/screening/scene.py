"""Synthetic thermal scenes with known ground truth, for tests, benchmarks and the device simulators.

A pinhole camera looks at people standing in a plane; each pixel integrates the radiance of its footprint
(supersampled), so small sensors mix face and background exactly as real low-resolution sensors do.
The face is drawn with anthropometric proportions: skin from hairline to chin ~1.27 × face width, eyes at
0.38 of that height, inner canthi as the hottest skin, forehead a little cooler, nose and cheeks cooler
still, hair and clothing near ambient. Options: glasses (LWIR-opaque lenses hide the canthi), a mask
(cool, or breath-warmed), a beard, a hat or hood, a child's head, more people, warm and hot things (cups,
phones, hands, lamps, heaters, sunlit walls), a blackbody patch, a sensor offset (uncorrected drift), noise,
the MLX90640's chess-pattern read-out and fixed-pattern noise. The hard cases built from these are in
scene_cases.py.

Temperatures are °C as the sensor would report them *before* blackbody correction: the scene adds
`sensor_offset_c` to everything, including the blackbody, which is what a drifting camera does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FACE_WIDTH_M = 0.15
SKIN_HEIGHT_M = 0.19  # hairline to chin
EYE_FROM_TOP = 0.38  # of skin height
IPD_OF_WIDTH = 0.42  # interpupillary distance / face width (63 mm / 150 mm)


@dataclass(frozen=True)
class Person:
    x_m: float = 0.0  # horizontal offset of the face centre from the optical axis at the person's distance
    y_m: float = 0.0  # vertical offset (positive down)
    distance_m: float = 0.7
    canthus_c: float = 35.8  # the hottest facial skin: the truth the measurement must recover
    forehead_c: float = 35.0
    face_c: float = 34.0  # cheeks/chin
    nose_c: float = 32.5
    hair_above_ambient_c: float = 4.0
    clothing_above_ambient_c: float = 3.0
    canthus_radius_m: float = 0.006
    glasses: bool = False
    mask: bool = False
    yaw: float = 0.0  # −1…1: fraction of half a face the features shift sideways (head turned)
    scale: float = 1.0  # head size (a child's face is ~0.8 of an adult's)
    mask_c: float | None = None  # a breath-warmed mask's temperature (default: ambient + 2)
    hat: bool = False  # covers the forehead down to a third of the skin height
    hood: bool = False  # covers the hair and the sides of the face
    beard: bool = False  # insulates the lower face: it reads between skin and ambient


@dataclass(frozen=True)
class Thing:
    """A warm or hot object: a cup, a phone, a hand, a lamp, a heater, a sunlit wall (a far, wide thing)."""

    x_m: float
    y_m: float
    distance_m: float
    width_m: float
    height_m: float
    temp_c: float
    round: bool = False


@dataclass(frozen=True)
class Blackbody:
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
    temp_c: float = 35.0  # true radiating temperature


@dataclass(frozen=True)
class Scene:
    width: int = 160
    height: int = 120
    horizontal_fov_deg: float = 57.0
    ambient_c: float = 24.0
    people: tuple[Person, ...] = (Person(),)
    blackbody: Blackbody | None = None
    sensor_offset_c: float = 0.0
    noise_c: float = 0.05  # NETD-like per-pixel noise (1 σ)
    supersample: int = 4
    things: tuple[Thing, ...] = ()
    chess_c: float = 0.0  # MLX90640 chess-pattern read-out: ± this on alternate pixels, sign per frame
    fixed_pattern_c: float = 0.0  # per-pixel fixed offset (1 σ) from an uncalibrated array


@dataclass(frozen=True)
class PersonTruth:
    canthus_c: float
    face_max_c: float
    box: tuple[float, float, float, float]  # skin box (hairline to chin); pixel j spans [j, j+1)
    landmarks: np.ndarray  # 5×2 pixel-centre coordinates: eyes (image-left first), nose, mouth corners
    face_width_px: float
    distance_m: float


@dataclass(frozen=True)
class Rendered:
    temps_c: np.ndarray  # float32 H×W, as the sensor reports (offset + noise included)
    people: tuple[PersonTruth, ...]
    blackbody_c: float | None
    sensor_offset_c: float
    ambient_c: float
    extras: dict[str, float] = field(default_factory=dict)


def focal_px(width: int, horizontal_fov_deg: float) -> float:
    return (width / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)


def _ramp(d: np.ndarray, inner: float, outer: float) -> np.ndarray:
    """1 inside `inner`, 0 beyond `outer`, linear between (a hot spot's plateau and rim)."""
    return np.clip((outer - d) / max(outer - inner, 1e-9), 0.0, 1.0)


def _paint_person(t: np.ndarray, xs: np.ndarray, ys: np.ndarray, p: Person, ambient_c: float) -> None:
    """Paint one person into the sub-pixel grid `t`; xs/ys are sub-pixel centres in metres at p's distance."""
    w, h = FACE_WIDTH_M * p.scale, SKIN_HEIGHT_M * p.scale
    cx, top = p.x_m, p.y_m - h / 2.0
    # Hair and clothing sit between skin and room: in a warm room they never read warmer than that.
    lift = max(p.face_c - ambient_c, 0.0)
    hair_c = ambient_c + min(p.hair_above_ambient_c, 0.5 * lift)
    clothing_c = ambient_c + min(p.clothing_above_ambient_c, 0.4 * lift)
    u = (xs - cx) / (w / 2.0)  # −1…1 across the face
    v = (ys - top) / h  # 0 at hairline, 1 at chin
    # Shoulders and neck first, so the head is drawn over them.
    body = (np.abs(xs - cx) < 0.23 * p.scale) & (ys > top + 1.15 * h)
    t[body] = clothing_c
    neck = (np.abs(u) < 0.55) & (v > 0.9) & (v < 1.25)
    t[neck] = p.face_c - 0.5
    # Skin: an ellipse from hairline to chin; hair: a cap above the hairline and down the sides.
    skin = (u**2 + ((v - 0.5) / 0.5) ** 2) <= 1.0
    hair = ((u / 1.08) ** 2 + ((v - 0.35) / 0.55) ** 2 <= 1.0) & ~skin & (v < 0.6)
    t[hair] = hair_c
    shift = 0.5 * p.yaw  # features slide sideways when the head turns
    base = np.where(v < 0.3, p.forehead_c - (0.3 - v) * 1.5, p.face_c)  # forehead cools toward the hairline
    # Nose: a cool wedge down the middle.
    nose = np.exp(-(((u - 2.0 * shift) / 0.12) ** 2)) * _ramp(np.abs(v - 0.55), 0.05, 0.12)
    base = base + (p.nose_c - p.face_c) * nose
    t[skin] = base[skin]

    # Eyes: the eyeball is cooler than the canthi; the inner canthi are the hot spots.
    ipd = IPD_OF_WIDTH * w
    eye_y = top + EYE_FROM_TOP * h
    for side in (-1.0, 1.0):
        ex = cx + shift * w / 2.0 + side * ipd / 2.0
        d_eye = np.hypot((xs - ex) / (0.014 * p.scale), (ys - eye_y) / (0.008 * p.scale))
        eye = skin & (d_eye <= 1.0)
        t[eye] = p.forehead_c - 0.6
        canthus_x = ex - side * 0.25 * ipd
        d = np.hypot(xs - canthus_x, ys - eye_y)
        k = _ramp(d, p.canthus_radius_m, 2.5 * p.canthus_radius_m) * skin
        t[:] = np.maximum(t, np.where(k > 0, p.face_c + (p.canthus_c - p.face_c) * k, -np.inf))
        if p.glasses:
            lens = np.hypot((xs - ex) / 0.027, (ys - eye_y) / 0.021) <= 1.0
            t[lens] = ambient_c + 2.0
    if p.glasses:
        bridge = (np.abs(xs - cx - shift * w / 2.0) < 0.012) & (np.abs(ys - eye_y) < 0.004)
        t[bridge] = ambient_c + 2.0
    if p.mask:
        covered = skin & (v > 0.55)
        t[covered] = ambient_c + 2.0 if p.mask_c is None else p.mask_c
    if p.beard:
        bearded = skin & (v > 0.68) & (np.abs(u) < 0.9)
        t[bearded] = ambient_c + 0.45 * (p.face_c - ambient_c)
    if p.hat:
        t[((u / 1.15) ** 2 + ((v - 0.1) / 0.35) ** 2 <= 1.0) & (v < 0.3)] = ambient_c + 1.0
    if p.hood:
        t[
            ((np.abs(u) > 0.8) & (np.abs(u) < 1.35) & (v > -0.1) & (v < 1.0))
            | ((np.abs(u) < 1.35) & (v < 0.12) & (v > -0.35))
        ] = ambient_c + 1.5


def _paint_thing(t: np.ndarray, xs: np.ndarray, ys: np.ndarray, thing: Thing) -> None:
    du = (xs - thing.x_m) / (thing.width_m / 2.0)
    dv = (ys - thing.y_m) / (thing.height_m / 2.0)
    inside = (du**2 + dv**2 <= 1.0) if thing.round else ((np.abs(du) <= 1.0) & (np.abs(dv) <= 1.0))
    t[inside] = thing.temp_c


def render(scene: Scene, rng: np.random.Generator | None = None) -> Rendered:
    s = scene.supersample
    f = focal_px(scene.width, scene.horizontal_fov_deg)
    # Sub-pixel centres in pixel units; pixel (i, j) covers [j−0.5, j+0.5] × [i−0.5, i+0.5].
    sub = (np.arange(scene.width * s) + 0.5) / s - 0.5
    sub_y = (np.arange(scene.height * s) + 0.5) / s - 0.5
    px, py = np.meshgrid(sub, sub_y)
    t = np.full(px.shape, scene.ambient_c, dtype=np.float64)
    truths = []
    items: list[Person | Thing] = [*scene.people, *scene.things]
    for item in sorted(items, key=lambda q: -q.distance_m):  # far first: near things occlude
        metres_per_px = item.distance_m / f
        xs = (px - (scene.width - 1) / 2.0) * metres_per_px
        ys = (py - (scene.height - 1) / 2.0) * metres_per_px
        if isinstance(item, Person):
            _paint_person(t, xs, ys, item, scene.ambient_c)
        else:
            _paint_thing(t, xs, ys, item)
    for p in scene.people:
        truths.append(_truth(scene, p, f))
    if scene.blackbody is not None:
        x0, y0, x1, y1 = scene.blackbody.roi
        t[y0 * s : y1 * s, x0 * s : x1 * s] = scene.blackbody.temp_c
    temps = t.reshape(scene.height, s, scene.width, s).mean(axis=(1, 3))
    temps = temps + scene.sensor_offset_c
    rng = rng or np.random.default_rng(0)
    if scene.noise_c > 0:
        temps = temps + rng.normal(0.0, scene.noise_c, temps.shape)
    if scene.chess_c:
        yy, xx = np.mgrid[0 : scene.height, 0 : scene.width]
        temps = temps + np.where((yy + xx) % 2 == 0, 1.0, -1.0) * scene.chess_c * rng.choice((-1.0, 1.0))
    if scene.fixed_pattern_c:
        temps = temps + np.random.default_rng(1234).normal(0.0, scene.fixed_pattern_c, temps.shape)
    return Rendered(
        temps_c=temps.astype(np.float32),
        people=tuple(truths),
        blackbody_c=scene.blackbody.temp_c if scene.blackbody else None,
        sensor_offset_c=scene.sensor_offset_c,
        ambient_c=scene.ambient_c,
    )


def _truth(scene: Scene, p: Person, f: float) -> PersonTruth:
    px_per_m = f / p.distance_m
    cx = (scene.width - 1) / 2.0 + p.x_m * px_per_m
    cy = (scene.height - 1) / 2.0 + p.y_m * px_per_m
    w, h = FACE_WIDTH_M * p.scale * px_per_m, SKIN_HEIGHT_M * p.scale * px_per_m
    top = cy - h / 2.0
    shift = 0.5 * p.yaw * w / 2.0
    ipd = IPD_OF_WIDTH * w
    eye_y = top + EYE_FROM_TOP * h
    # Image-left eye first, as RetinaFace reports them.
    landmarks = np.array(
        [
            [cx + shift - ipd / 2.0, eye_y],
            [cx + shift + ipd / 2.0, eye_y],
            [cx + 2.0 * shift, top + 0.62 * h],  # the nose tip protrudes: it swings twice as far
            [cx + shift - 0.18 * w, top + 0.8 * h],
            [cx + shift + 0.18 * w, top + 0.8 * h],
        ]
    )
    hottest = p.forehead_c - 0.6 if p.glasses else p.canthus_c
    face_max = max(hottest, p.forehead_c, p.face_c)
    return PersonTruth(
        canthus_c=p.canthus_c,
        face_max_c=face_max,
        box=(cx - w / 2.0 + 0.5, top + 0.5, cx + w / 2.0 + 0.5, top + h + 0.5),  # edges: pixel j is [j, j+1)
        landmarks=landmarks,
        face_width_px=w,
        distance_m=p.distance_m,
    )


def walk(
    scene: Scene, *, frames: int, from_x_m: float, to_x_m: float, rng: np.random.Generator | None = None
) -> list[Rendered]:
    """The first person walks across the view; every frame is rendered with fresh noise."""
    rng = rng or np.random.default_rng(0)
    out = []
    for i in range(frames):
        x = from_x_m + (to_x_m - from_x_m) * (i / max(frames - 1, 1))
        first = scene.people[0]
        moved = Person(**{**first.__dict__, "x_m": x})
        out.append(render(Scene(**{**scene.__dict__, "people": (moved, *scene.people[1:])}), rng))
    return out


@dataclass(frozen=True)
class Passage:
    """One passenger's walk past the camera: in view from `arrive_s` to `leave_s`, crossing the frame."""

    arrive_s: float
    leave_s: float
    person: Person = Person()
    from_x_m: float = -0.1
    to_x_m: float = 0.1


class LaneScene:
    """A lane over time, for simulators: `scene(t_s) -> (°C frame, ambient °C)`.

    Passengers walk across the view during their passage; between passages the frame is background only.
    Sensor geometry, blackbody, drift and noise come from `base` (its `people` are ignored).
    """

    def __init__(self, base: Scene, passages: list[Passage], seed: int = 0) -> None:
        self.base = base
        self.passages = sorted(passages, key=lambda p: p.arrive_s)
        self._rng = np.random.default_rng(seed)

    def present(self, t_s: float) -> Passage | None:
        return next((p for p in self.passages if p.arrive_s <= t_s < p.leave_s), None)

    def __call__(self, t_s: float) -> tuple[np.ndarray, float]:
        passage = self.present(t_s)
        people: tuple[Person, ...] = ()
        if passage is not None:
            progress = (t_s - passage.arrive_s) / max(passage.leave_s - passage.arrive_s, 1e-9)
            x = passage.from_x_m + (passage.to_x_m - passage.from_x_m) * progress
            people = (Person(**{**passage.person.__dict__, "x_m": x}),)
        rendered = render(Scene(**{**self.base.__dict__, "people": people}), self._rng)
        return rendered.temps_c, self.base.ambient_c
