#!/usr/bin/env python3
"""Per-frame screening pipeline throughput on one core: detect, track, measure, estimate.

    python bench/pipeline.py [--seconds 3]

Frames are synthetic scenes (edge.screening.scene) rendered before timing: passengers walk through the
view one after another with empty frames between them, so tracks start and end and the estimator and
decision run for every passenger, as in a lane. Each resolution is timed with the configuration a lane
of that sensor uses by default (skin segmentation, trained estimator where faces are wide enough), and
the 160×120 and 640×512 sensors also with the RetinaFace thermal detector scheduled every Nth frame.
One core: onnxruntime and OpenCV single-threaded, BLAS threads 1, the process pinned to one CPU.
The last line is one JSON object.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.items import ThermalFrame  # noqa: E402
from edge.screening.faces import RetinaFace  # noqa: E402
from edge.screening.pipeline import LaneScreener  # noqa: E402
from edge.screening.scene import Person, Scene, render, walk  # noqa: E402
from edge.screening.settings import ScreeningSettings  # noqa: E402

SENSORS = {
    # name: (width, height, horizontal FOV °, native frame rate Hz)
    "32x24": (32, 24, 55.0, 8.0),  # MLX90640
    "160x120": (160, 120, 57.0, 9.0),  # Lepton 3.5
    "640x512": (640, 512, 50.0, 30.0),  # 640×512 radiometric cameras
}


def scene_frames(width: int, height: int, fov: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    supersample = 4 if width <= 160 else 2
    out: list[np.ndarray] = []
    for i, canthus in enumerate((35.6, 36.9, 35.9)):
        scene = Scene(
            width=width,
            height=height,
            horizontal_fov_deg=fov,
            people=(Person(canthus_c=canthus, distance_m=0.7 + 0.1 * i),),
            supersample=supersample,
        )
        out += [r.temps_c for r in walk(scene, frames=16, from_x_m=-0.12, to_x_m=0.12, rng=rng)]
        empty = Scene(width=width, height=height, horizontal_fov_deg=fov, people=(), supersample=1)
        out += [render(empty, rng).temps_c for _ in range(6)]
    return out


def time_pipeline(settings: ScreeningSettings, frames: list[np.ndarray], rate_hz: float, seconds: float,
                  detector: RetinaFace | None = None, visible: np.ndarray | None = None) -> tuple[float, int]:  # fmt: skip
    screener = LaneScreener(settings, detector=detector)
    passengers = 0
    # Warm-up: first ONNX runs and allocations do not belong to the steady state.
    for i, temps in enumerate(frames):
        passengers += len(screener.process(ThermalFrame("bench", i, i / rate_hz, 0.0, temps), visible))
    n = len(frames)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for temps in frames:
            t = (n + count) / rate_hz  # simulated sensor time, so passenger gaps behave as in a lane
            passengers += len(screener.process(ThermalFrame("bench", n + count, t, 0.0, temps), visible))
            count += 1
    elapsed = time.perf_counter() - start
    return count / elapsed, passengers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration")
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}, one core")

    detector = RetinaFace(threads=1)
    fps: dict[str, float] = {}
    multiples: dict[str, float] = {}
    detector_fps: dict[str, float] = {}
    for name, (w, h, fov, native_hz) in SENSORS.items():
        frames = scene_frames(w, h, fov)
        settings = ScreeningSettings(horizontal_fov_deg=fov)
        rate, passengers = time_pipeline(settings, frames, native_hz, args.seconds)
        fps[name] = round(rate, 1)
        multiples[name] = round(rate / native_hz, 1)
        print(f"{name:8} default (skin segmentation): {rate:9.1f} fps = {rate / native_hz:7.1f}× native "
              f"{native_hz:g} Hz ({passengers} passengers measured)")  # fmt: skip
        if w >= 160:
            every_n = 4
            det_settings = ScreeningSettings(
                horizontal_fov_deg=fov, face_finder="thermal-detector", detector_every_n=every_n
            )
            rate_d, _ = time_pipeline(det_settings, frames, native_hz, args.seconds, detector)
            detector_fps[name] = round(rate_d, 1)
            print(f"{name:8} thermal RetinaFace every {every_n}th frame at ≤320 px: {rate_d:9.1f} fps = "
                  f"{rate_d / native_hz:7.1f}× native")  # fmt: skip
    # Visible + thermal: RetinaFace on a 640×480 visible frame (resized to 320 px) every 4th frame.
    # The synthetic visible frame holds no face the detector finds, so this row is the detector's
    # amortised cost on top of the thermal pipeline; measuring a found face costs what the rows above show.
    w, h, fov, native_hz = SENSORS["640x512"]
    visible = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    vis_settings = ScreeningSettings(horizontal_fov_deg=fov, face_finder="visible", detector_every_n=4)
    rate_v, _ = time_pipeline(
        vis_settings, scene_frames(w, h, fov)[:22], native_hz, args.seconds, detector, visible
    )
    print(f"640x512  + visible 640x480, RetinaFace every 4th frame at 320 px: {rate_v:9.1f} fps = "
          f"{rate_v / native_hz:7.1f}× native")  # fmt: skip
    result = {
        "fps": fps,
        "multiple_of_native": multiples,
        "min_multiple_of_native": min(multiples.values()),
        "fps_thermal_detector_every_4th": detector_fps,
        "fps_visible_detector_every_4th_640x512": round(rate_v, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
