"""Skin segmentation: faces as regions of skin-warm pixels, at any resolution (down to 8×8).

A warm region is a face only with evidence for it, because hot things are not faces:

  * temperature band: skin lies between `skin_min_c` (raised to the room's level + `above_background_c`
    in a warm room, so at 31 °C ambient hair, clothes and walls are not skin) and `skin_max_c`; anything
    hotter (a drink, a lamp, a heater) is cut out together with the mixed pixels around it;
  * static background (`StaticBackground`): pixels that stay skin-warm and unchanged for `static_s`
    (a lamp, a heater, a sunlit wall) are background; a person moving in front of them is not;
  * size and shape: a face region is ellipse-like (it fills at least `min_fill` of its box), neither a
    sliver nor a slab (`aspect` bounds), no wider than a face at the closest distance the lane allows,
    and shows the temperature structure of a face (a uniform patch is an object);
  * the box follows the forehead: its width is measured just under the hairline, where a hand, a phone
    or a cup held beside or below the face does not widen it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.screening.face_types import SKIN_HEIGHT_OF_WIDTH, Face, proportional_landmarks


@dataclass(frozen=True)
class SkinRules:
    skin_min_c: float = 30.0
    skin_max_c: float = 41.5
    above_background_c: float = 2.0  # skin stands this far above the room (p20 of the frame)
    min_pixels: int = 4
    max_face_of_frame: float = 1.0  # a face at the lane's closest distance, as a fraction of the frame width
    min_fill: float = 0.45
    aspect: tuple[float, float] = (0.5, 3.0)  # region height / width
    min_spread_c: float = 0.15  # interquartile range inside a region (≥ 12 interior px): skin is not uniform
    core_above_c: float = 1.5  # a face has pixels at least this far above the skin threshold


class StaticBackground:
    """Per-pixel "how long has this pixel been what it is now": skin-warm pixels unchanged (within `tol_c`)
    for `static_s` are background. Learnt from every frame, so it needs no empty-lane calibration and
    forgets a lamp that is switched off as soon as the pixel changes."""

    def __init__(self, static_s: float, tol_c: float = 1.0) -> None:
        self.static_s = static_s
        self.tol_c = tol_c
        self._ref: np.ndarray | None = None
        self._since: np.ndarray | None = None
        self._last_s: float | None = None

    def update(self, view: np.ndarray, now_s: float) -> np.ndarray:
        """Feed a (strided) frame; returns the mask of static pixels."""
        gap = self._last_s is not None and now_s - self._last_s > self.static_s / 4
        self._last_s = now_s
        if self._ref is None or self._since is None or self._ref.shape != view.shape or gap:
            # No frames for a while: nothing is known to have stayed still meanwhile.
            self._ref = view.astype(np.float32, copy=True)
            self._since = np.full(view.shape, now_s, dtype=np.float64)
        changed = np.abs(view - self._ref) > self.tol_c
        self._ref[changed] = view[changed]
        self._since[changed] = now_s
        return (now_s - self._since) >= self.static_s


class SkinFinder:
    def __init__(
        self,
        *,
        skin_min_c: float,
        min_pixels: int,
        exclude: tuple[int, int, int, int] | None = None,
        landmarks_min_width_px: float = 12.0,
        rules: SkinRules | None = None,
        static_s: float | None = None,
    ) -> None:
        self.rules = rules or SkinRules(skin_min_c=skin_min_c, min_pixels=min_pixels)
        self.skin_min_c = skin_min_c
        self.exclude = exclude
        self.landmarks_min_width_px = landmarks_min_width_px
        self.background = StaticBackground(static_s) if static_s else None
        self._static: np.ndarray | None = None
        self._stride_of_view = 1

    def learn(self, temps_c: np.ndarray, now_s: float) -> None:
        """Feed every frame (the lane does, before `find`) so static warm things become background."""
        if self.background is not None:
            self._static = self.background.update(
                temps_c[:: self._stride(temps_c), :: self._stride(temps_c)], now_s
            )

    @staticmethod
    def _stride(temps_c: np.ndarray) -> int:
        # Large frames: label a strided view (a face spans far more than the stride), then refine each
        # box at full resolution. Labelling a 640×512 frame costs ~3 ms on one core; the view ~0.2 ms.
        return max(1, min(temps_c.shape) // 128)

    def _blocked(self, view: np.ndarray) -> np.ndarray:
        """Coarse pixels that can never be skin: hot objects and their mixed rims, static background, the
        blackbody."""
        blocked = view > self.rules.skin_max_c
        if blocked.any():
            # Mixed pixels around a hot object read anywhere between it and its surroundings.
            blocked = cv2.dilate(blocked.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if self._static is not None and self._static.shape == view.shape:
            blocked |= self._static
        if self.exclude is not None:
            stride = self._stride_of_view
            x0, y0, x1, y1 = self.exclude
            # The blackbody is as warm as skin and must never be a face.
            blocked[y0 // stride : -(-y1 // stride), x0 // stride : -(-x1 // stride)] = True
        return blocked

    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]:
        r = self.rules
        stride = self._stride_of_view = self._stride(temps_c)
        view = temps_c[::stride, ::stride]
        # The room's level: the 20th percentile (most of a frame is background), on a sparse grid.
        level = float(np.percentile(view[:: 1 + view.shape[0] // 48, :: 1 + view.shape[1] // 48], 20))
        low = max(r.skin_min_c, level + r.above_background_c)
        blocked = self._blocked(view)
        mask = (view >= low) & (view <= r.skin_max_c) & ~blocked
        full = _FullMask(temps_c, blocked, low, r.skin_max_c, stride)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        # Hysteresis: a face has a core well above the skin threshold; a region that only grazes it (noise
        # on clothes or hair in a warm room) is not one.
        core = labels[view >= low + r.core_above_c]
        cored = set(np.unique(core).tolist())
        faces = []
        for i in range(1, count):
            if i not in cored:
                continue
            face = self._face(temps_c, full, labels == i, stats[i], stride)
            if face is not None:
                faces.append(face)
        return _drop_parts_below(faces)

    def _face(
        self, temps_c: np.ndarray, full: _FullMask, component: np.ndarray, stat: np.ndarray, stride: int
    ) -> Face | None:
        r = self.rules
        x, y, w, h, area = (int(v) for v in stat)
        if area * stride * stride < r.min_pixels:
            return None
        if stride > 1:
            refined = _refine(full, x * stride, y * stride, w * stride, h * stride, stride)
            if refined is None:
                return None
            x, y, w, h = refined
            region = full.window(y, y + h, x, x + w)
        else:
            region = component[y : y + h, x : x + w]
        if w > r.max_face_of_frame * temps_c.shape[1]:
            return None  # wider than any face can be: a warm wall, a whole warm frame
        if not self._face_like(temps_c[y : y + h, x : x + w], region, w, h):
            return None
        # A skin region continues into the neck, and a hand or a cup may touch it: keep a face-shaped box
        # from the top, as wide as the forehead. Blobs a few pixels wide are left whole: their width is not
        # resolved well enough to crop by.
        if w >= 6:
            x, w = _forehead_span(region, x, w)
            h = min(h, round(SKIN_HEIGHT_OF_WIDTH * w + 0.5))
        box = (float(x), float(y), float(x + w), float(y + h))
        landmarks = proportional_landmarks(box) if w >= self.landmarks_min_width_px else None
        return Face(box, 1.0, landmarks, source="skin", landmarks_estimated=landmarks is not None)

    def _face_like(self, temps: np.ndarray, region: np.ndarray, w: int, h: int) -> bool:
        r = self.rules
        if w < 3 or h < 3:
            return True  # a few pixels: no shape to judge (the envelope decides whether it may be measured)
        if not r.aspect[0] <= h / w <= r.aspect[1] + 1.5:  # + the neck, not yet cropped
            return False
        if region.mean() < r.min_fill:
            return False
        # Interior pixels only: a hot object's rim mixes with the background and spans everything.
        inner = cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        skin = temps[inner]
        if skin.size >= 12:
            q25, q75 = np.percentile(skin[:: 1 + skin.size // 2000], (25, 75))
            spread = float(q75 - q25)
            if spread < r.min_spread_c:
                return False
        return True


def _forehead_span(region: np.ndarray, x: int, w: int) -> tuple[int, int]:
    """Column span of the face, from the rows just under its top edge (the forehead), where a hand, a
    phone or a cup beside or below the face does not reach. Each row's width is where an ellipse of face
    proportions (height SKIN_HEIGHT_OF_WIDTH × width) is that wide at that depth; the median row decides."""
    estimates, centres = [], []
    for depth in range(1, max(2, round(0.15 * w)) + 1):
        if depth >= region.shape[0]:
            break
        cols = np.flatnonzero(region[depth])
        if cols.size == 0:
            continue
        row_w = float(cols[-1] - cols[0] + 1)
        face_w = float(w)
        for _ in range(3):  # fixed point: the depth's share of the half-height depends on the width
            semi_h = SKIN_HEIGHT_OF_WIDTH * face_w / 2.0
            k = 1.0 - min((depth + 0.5) / semi_h, 1.0)
            face_w = min(float(w), row_w / max(np.sqrt(1.0 - k * k), 0.2))
        estimates.append(face_w)
        centres.append((cols[0] + cols[-1] + 1) / 2.0)
    if not estimates:
        return x, w
    face_w = max(1, min(w, round(float(np.median(estimates)))))
    left = int(np.clip(round(float(np.median(centres)) - face_w / 2.0), 0, w - face_w))
    return x + left, face_w


class _FullMask:
    """The skin mask at full resolution, computed only inside the windows asked for: the coarse view
    decides where faces are; their boxes are refined at full resolution."""

    def __init__(
        self, temps_c: np.ndarray, blocked: np.ndarray, low: float, high: float, stride: int
    ) -> None:
        self.temps_c, self.blocked, self.low, self.high, self.stride = temps_c, blocked, low, high, stride
        self.shape = temps_c.shape

    def window(self, ya: int, yb: int, xa: int, xb: int) -> np.ndarray:
        t = self.temps_c[ya:yb, xa:xb]
        s = self.stride
        coarse = self.blocked[ya // s : -(-yb // s), xa // s : -(-xb // s)]
        up = np.repeat(np.repeat(coarse, s, 0), s, 1)
        up = up[ya - (ya // s) * s :, xa - (xa // s) * s :][: t.shape[0], : t.shape[1]]
        return (t >= self.low) & (t <= self.high) & ~up


def _refine(full: _FullMask, x: int, y: int, w: int, h: int, stride: int) -> tuple[int, int, int, int] | None:
    """Exact extent of skin pixels in the stride-expanded window of a coarse component."""
    h_img, w_img = full.shape
    xa, ya = max(x - stride, 0), max(y - stride, 0)
    xb, yb = min(x + w + stride, w_img), min(y + h + stride, h_img)
    skin = full.window(ya, yb, xa, xb)
    cols = np.flatnonzero(skin.any(axis=0))
    rows = np.flatnonzero(skin.any(axis=1))
    if cols.size == 0:
        return None
    return xa + int(cols[0]), ya + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _drop_parts_below(faces: list[Face]) -> list[Face]:
    """A mask or scarf splits one person's skin into a face and a neck (or chin) below it: a region lying
    under a wider one, within its width and less than a face height below it, is that person, not a
    second face."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.width, reverse=True):
        cx, _ = face.centre
        beneath = any(
            other.box[0] <= cx <= other.box[2]
            and face.box[1] >= other.box[1]
            and face.box[1] - other.box[3] < SKIN_HEIGHT_OF_WIDTH * other.width
            for other in kept
        )
        if not beneath:
            kept.append(face)
    return kept
