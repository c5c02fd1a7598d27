"""Which face-finding path works at which resolution: evidence on synthetic scenes with known truth.

    python -m edge.screening.finder_report

For each sensor resolution, people at 0.6–1.3 m and three lateral positions are rendered
(edge.screening.scene) and each thermal-only path is scored: found (a face box with IoU ≥ 0.5 against
the true face), and for found faces the error of the face maximum and of the inner-canthus maximum.
The RetinaFace rows use the visible-light model on normalised thermal images; our synthetic heads are
cartoons of real thermal faces, so treat its rates as indicative only. The skin rows need no such caveat:
segmentation depends on temperatures, which the scenes model directly.
"""

from __future__ import annotations

import numpy as np

from edge.screening.faces import Face, FaceFinder, RetinaFace, SkinFinder, ThermalDetectorFinder
from edge.screening.measure import measure_face
from edge.screening.scene import Person, PersonTruth, Scene, render

RESOLUTIONS = (
    ("8x8 AMG8833", 8, 8, 60.0),
    ("32x24 MLX90640", 32, 24, 55.0),
    ("80x60 Lepton 2", 80, 60, 51.0),
    ("160x120 Lepton 3.5", 160, 120, 57.0),
    ("320x240", 320, 240, 50.0),
    ("640x512", 640, 512, 50.0),
)
DISTANCES_M = (0.6, 0.8, 1.0, 1.3)
OFFSETS_M = (-0.1, 0.0, 0.1)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _match(faces: list[Face], truth: PersonTruth) -> Face | None:
    best = max(faces, key=lambda f: _iou(f.box, truth.box), default=None)
    return best if best is not None and _iou(best.box, truth.box) >= 0.5 else None


def main() -> int:
    detector = RetinaFace(threads=1)
    paths: list[tuple[str, FaceFinder]] = [
        ("skin segmentation", SkinFinder(skin_min_c=30.0, min_pixels=4)),
        ("RetinaFace black-hot @320", ThermalDetectorFinder(detector, max_side=320, min_score=0.8)),
        ("RetinaFace black-hot @640", ThermalDetectorFinder(detector, max_side=640, min_score=0.8)),
        ("RetinaFace white-hot @640", ThermalDetectorFinder(detector, max_side=640, black_hot=False)),
    ]
    print(
        f"{'sensor':20} {'path':28} {'found':>7} {'face px':>8} {'|face max err|':>15} {'|canthus err|':>14}"
    )
    rng = np.random.default_rng(0)
    for label, w, h, fov in RESOLUTIONS:
        scenes = []
        for d in DISTANCES_M:
            for x in OFFSETS_M:
                person = Person(distance_m=d, x_m=x, canthus_c=35.8)
                ss = 4 if w <= 160 else 2
                scenes.append(render(Scene(width=w, height=h, horizontal_fov_deg=fov, people=(person,),
                                           supersample=ss), rng))  # fmt: skip
        for name, finder in paths:
            found, face_err, canthus_err, widths = 0, [], [], []
            for r in scenes:
                truth = r.people[0]
                widths.append(truth.face_width_px)
                face = _match(finder.find(r.temps_c), truth)
                if face is None:
                    continue
                found += 1
                m = measure_face(r.temps_c, face, ambient_c=24.0, horizontal_fov_deg=fov,
                                 face_width_m=0.15, skin_min_c=30.0)  # fmt: skip
                face_err.append(abs(m.reading.face_max_c - truth.face_max_c))
                if m.reading.canthus_max_c is not None:
                    canthus_err.append(abs(m.reading.canthus_max_c - truth.canthus_c))
            fe = f"{np.median(face_err):.2f}" if face_err else "–"
            ce = f"{np.median(canthus_err):.2f} ({len(canthus_err)})" if canthus_err else "–"
            px = f"{min(widths):.0f}–{max(widths):.0f}"
            print(f"{label:20} {name:28} {found:>3}/{len(scenes):<3} {px:>8} {fe:>15} {ce:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
