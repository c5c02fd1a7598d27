#!/usr/bin/env python3
"""What the technician console's live view costs, against what the lane spends on the same frame.

    python bench/web.py [--seconds 2]

For each sensor resolution: the lane's screening of a frame (LaneScreener.process, the reference, measured in
the same run on the same frames) and the web thread's rendering of that frame for the live view
(edge.thermal_view.render_live: colour map, zone, blackbody, faces, JPEG). The live view is rendered on the
web server's threads, at most once per frame however many browsers watch (the console caches per frame), so
the ratio says how much CPU one open console takes from a lane's budget. One core, as bench/pipeline.py.
The last line is one JSON object.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.items import ThermalFrame  # noqa: E402
from edge.records import LiveView  # noqa: E402
from edge.screening.pipeline import LaneScreener  # noqa: E402
from edge.screening.settings import ScreeningSettings  # noqa: E402
from edge.thermal_view import render_live  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import SENSORS, scene_frames  # noqa: E402

CONSOLE_HZ = 2.0  # the console page fetches each lane's live view every 500 ms (edge/web/pages.py)


def per_call_ms(call: Callable[[int], object], count: int, seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call(calls % count)
        calls += 1
    return (time.perf_counter() - start) * 1000.0 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per measurement")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    results = {}
    for name, (width, height, fov, hz) in SENSORS.items():
        frames = scene_frames(width, height, fov)
        screener = LaneScreener(ScreeningSettings(horizontal_fov_deg=fov))
        views: list[LiveView] = []
        for i, temps in enumerate(frames):
            screener.process(ThermalFrame("bench", i, i / 8.0, 0.0, temps))
            assert screener.last_view is not None
            views.append(screener.last_view)

        def lane(i: int, frames=frames, screener=screener, clock=[0.0]) -> object:  # type: ignore[no-untyped-def]  # noqa: B006
            clock[0] += 0.125  # frames keep arriving in time, so tracks end and passengers are decided
            return screener.process(ThermalFrame("bench", 0, clock[0], 0.0, frames[i]))

        lane_ms = per_call_ms(lane, len(frames), args.seconds)
        render_ms = per_call_ms(lambda i, views=views: render_live(views[i]), len(views), args.seconds)
        jpeg_kb = sum(len(render_live(v)) for v in views) / len(views) / 1024
        faces = sum(len(v.faces) for v in views)
        # CPU per second: the lane screens every frame at the sensor's rate; an open console fetches the
        # live view CONSOLE_HZ times a second (rendered once per frame, shared by every open console).
        lane_share = hz * lane_ms / 1000.0
        console_share = min(CONSOLE_HZ, hz) * render_ms / 1000.0
        results[name] = {
            "lane_ms_per_frame": round(lane_ms, 3),
            "live_view_render_ms": round(render_ms, 3),
            "render_to_lane_ratio": round(render_ms / lane_ms, 3),
            "lane_cpu_share": round(lane_share, 4),
            "console_cpu_share": round(console_share, 4),
            "console_to_lane_cpu_ratio": round(console_share / lane_share, 3),
            "jpeg_kib": round(jpeg_kb, 1),
            "faces_drawn": faces,
        }
        print(
            f"{name:>8}: lane {lane_ms:7.3f} ms/frame, live-view render {render_ms:6.3f} ms "
            f"(ratio {render_ms / lane_ms:.3f}), JPEG {jpeg_kb:.1f} KiB, {faces} faces drawn over {len(views)} frames; "
            f"CPU: lane at {hz:g} Hz {lane_share:.2%}, one open console at {CONSOLE_HZ:g} Hz {console_share:.2%} "
            f"(ratio {console_share / lane_share:.2f})"
        )
    print(json.dumps({"bench": "web", "seconds": args.seconds, "sensors": results}))


if __name__ == "__main__":
    main()
