"""Scene × sensor → outcome: every hard case of edge/screening/scene_cases.py through the lane's screener,
as each thermal sensor type sees it. Prints the Markdown table for docs/performance.md ("Hard scenes").

    python bench/scenes.py            # the table (about a minute on one core)
    python bench/scenes.py --mixing   # face-maximum deficit by face width (the envelope's evidence)

A cell is what the lane made of the passenger: normal, elevated, recheck, or guidance/indeterminate with the
advice shown. **WRONG** marks the outcomes that must never happen (a febrile passenger normal, a healthy one
elevated); the script exits 1 when there is one, except in a case that exists to show a known limit
(the cold-exposed febrile passenger under the standard profile: the reason for `cold_arrivals`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.screening.scene import Person, Scene, render
from edge.screening.scene_cases import CASES, SENSORS, outcome, run, wrong


def table() -> int:
    sensors = list(SENSORS)
    print("| scene | truth | " + " | ".join(sensors) + " |")
    print("|---|---|" + "---|" * len(sensors))
    failures = 0
    for case in CASES:
        cells = []
        for sensor in sensors:
            if sensor not in case.sensors:
                cells.append("n/a")
                continue
            measurements = run(case, sensor)
            bad = wrong(case, measurements)
            failures += bad and not case.known_limit
            mark = (
                f"**WRONG** ({case.known_limit}) "
                if bad and case.known_limit
                else "**WRONG** "
                if bad
                else ""
            )
            cells.append(mark + outcome(measurements))
        truth = "febrile" if case.febrile else "healthy"
        print(f"| {case.name} | {truth} | " + " | ".join(cells) + " |")
    print(f"\n{failures} wrong outcome(s)")
    return 1 if failures else 0


def mixing() -> int:
    """Face max below the true canthus, by face width, over five face profiles × three sub-pixel shifts."""
    profiles = [
        dict(canthus_c=36.5, forehead_c=35.6, face_c=34.5),
        dict(canthus_c=35.8),
        dict(canthus_c=37.0, forehead_c=35.5, face_c=34.0),
        dict(canthus_c=35.5, forehead_c=35.2, face_c=34.5),
        dict(canthus_c=36.2, forehead_c=34.2, face_c=33.0),
    ]
    print("| sensor | distance m | face width px | deficit min | mean | max °C |")
    print("|---|---|---|---|---|---|")
    for name, (w, h, fov, distances) in {
        "gy_mcu90640": (32, 24, 55.0, (0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 1.0)),
        "lepton_uvc": (160, 120, 57.0, (1.0, 1.5, 1.8, 2.0, 2.5)),
    }.items():
        for d in distances:
            deficits, width = [], 0.0
            for p in profiles:
                for x in (0.0, 0.01, 0.02):
                    person = Person(distance_m=d, x_m=x, **p)  # type: ignore[arg-type]
                    r = render(
                        Scene(width=w, height=h, horizontal_fov_deg=fov, noise_c=0.0, people=(person,))
                    )
                    deficits.append(person.canthus_c - float(r.temps_c.max()))
                    width = r.people[0].face_width_px
            lo, mean, hi = np.min(deficits), np.mean(deficits), np.max(deficits)
            print(f"| {name} | {d} | {width:.1f} | {lo:.2f} | {mean:.2f} | {hi:.2f} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mixing", action="store_true", help="face-maximum deficit by face width")
    args = parser.parse_args()
    return mixing() if args.mixing else table()


if __name__ == "__main__":
    sys.exit(main())
