"""Reader for the clinical thermography CSVs (PhysioNet doi 10.13026/3bhc-9065).

Each subject's imaging rounds are expressed with the same `SiteReading` the appliance produces from a
thermal image, so training, cross-validation and `checkpoint-edge model evaluate` all go through the
appliance's own aggregation and estimator.

A lane sees each passenger once, walking by with the mouth closed. So the unit of evaluation is the
*capture*: one imaging round of one subject (`captures`). Round 4 of the clinical protocol is taken
right after the oral thermometer: its face maximum is usually the warm mouth (~0.6 °C above rounds
1-3), which no walking passenger shows, so it is excluded (`SINGLE_PASS_ROUNDS`).

Parsing is pure: text in, subjects out. Rows that cannot yield a usable passenger are counted, not fatal.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

from edge.screening.measure import SiteReading

ROUNDS = 4
POST_ORAL_ROUND = 4  # imaged right after the oral thermometer: mouth heat, not a walk-by face
SINGLE_PASS_ROUNDS = (1, 2, 3)
# The published file has a typo in round 4: `T_LC14` instead of `T_LC4`; we do not use that column,
# but the reader tolerates any header spelling because it only looks columns up by name.


@dataclass(frozen=True)
class Subject:
    subject_id: str
    oral_c: float  # aveOralM, the reference (monitor-mode oral thermometer)
    ambient_c: float | None
    humidity_pct: float | None
    distance_m: float | None
    frames: tuple[SiteReading, ...]  # every usable round, in order
    rounds: tuple[int, ...] = ()  # the imaging round (1-4) of each frame

    def single_pass_frames(self) -> tuple[SiteReading, ...]:
        """The rounds a walking passenger could show (the post-oral round left out)."""
        return tuple(f for f, r in zip(self.frames, self.rounds, strict=True) if r in SINGLE_PASS_ROUNDS)


@dataclass(frozen=True)
class Capture:
    """One imaging round of one subject: what a lane sees of one passenger walking by once."""

    subject_index: int  # position in ParsedDataset.subjects: the group for subject-level folds
    subject_id: str
    round: int
    oral_c: float
    reading: SiteReading


@dataclass(frozen=True)
class ParsedDataset:
    subjects: tuple[Subject, ...]
    skipped: int  # data rows that could not yield a subject (no truth, no usable round, bad numbers)
    skipped_reasons: dict[str, int]


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _plausible(value: float | None, low: float, high: float) -> float | None:
    return value if value is not None and low <= value <= high else None


def _rounds(
    cell: Callable[[str], str | None], ambient_c: float | None, distance_m: float | None
) -> tuple[list[SiteReading], list[int]]:
    """One subject's usable imaging rounds as frames, and their round numbers."""
    frames: list[SiteReading] = []
    rounds: list[int] = []
    for r in range(1, ROUNDS + 1):
        face_max_c = _plausible(_number(cell(f"T_Max{r}")), 20.0, 45.0)
        if face_max_c is None:
            continue  # a round without a face-maximum is a frame where no face was measured
        frames.append(
            SiteReading(
                face_max_c=face_max_c,
                canthus_max_c=_plausible(_number(cell(f"canthiMax{r}")), 20.0, 45.0),
                forehead_max_c=_plausible(_number(cell(f"T_FH_Max{r}")), 20.0, 45.0),
                forehead_centre_c=_plausible(_number(cell(f"T_FHCC{r}")), 20.0, 45.0),
                ambient_c=ambient_c,
                distance_m=distance_m,
            )
        )
        rounds.append(r)
    return frames, rounds


def parse_csv_text(text: str) -> ParsedDataset:
    """Parse the dataset's three-header-line CSV. The third header line holds the machine names."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as exc:  # e.g. a field over the csv module's 131,072-character limit
        raise ValueError(f"not a readable CSV: line {reader.line_num}: {exc}") from None
    if len(rows) < 3:
        raise ValueError("not a thermography CSV: fewer than three header lines")
    header = rows[2]
    index = {name.strip(): i for i, name in enumerate(header) if name.strip()}
    for required in ("SubjectID", "aveOralM", "T_Max1"):
        if required not in index:
            raise ValueError(
                f"not a thermography CSV: column {required!r} missing from the third header line"
            )

    def cell(row: list[str], name: str) -> str | None:
        i = index.get(name)
        return row[i] if i is not None and i < len(row) else None

    subjects: list[Subject] = []
    skipped_reasons: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped_reasons[reason] = skipped_reasons.get(reason, 0) + 1

    for row in rows[3:]:
        if not any(c.strip() for c in row):
            continue  # blank line, not a subject
        oral_c = _plausible(_number(cell(row, "aveOralM")), 30.0, 45.0)
        if oral_c is None:
            skip("no plausible aveOralM")
            continue
        # Sensor-range checks: the CSV has known typos (Humidity 3021.1, Distance 79.0); an appliance
        # would reject such sensor values the same way rather than feed them to the estimator.
        ambient_c = _plausible(_number(cell(row, "T_atm")), -10.0, 50.0)
        humidity_pct = _plausible(_number(cell(row, "Humidity")), 0.0, 100.0)
        distance_m = _plausible(_number(cell(row, "Distance")), 0.1, 10.0)
        frames, rounds = _rounds(functools.partial(cell, row), ambient_c, distance_m)
        if not frames:
            skip("no usable imaging round")
            continue
        subjects.append(
            Subject(
                subject_id=(cell(row, "SubjectID") or "").strip(),
                oral_c=oral_c,
                ambient_c=ambient_c,
                humidity_pct=humidity_pct,
                distance_m=distance_m,
                frames=tuple(frames),
                rounds=tuple(rounds),
            )
        )
    return ParsedDataset(
        subjects=tuple(subjects), skipped=sum(skipped_reasons.values()), skipped_reasons=skipped_reasons
    )


def load_csv(path: str) -> ParsedDataset:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return parse_csv_text(f.read())


def captures(dataset: ParsedDataset) -> list[Capture]:
    """Every single-pass capture (rounds 1-3), each its own passenger, in subject then round order."""
    return [
        Capture(i, s.subject_id, r, s.oral_c, frame)
        for i, s in enumerate(dataset.subjects)
        for frame, r in zip(s.frames, s.rounds, strict=True)
        if r in SINGLE_PASS_ROUNDS
    ]
