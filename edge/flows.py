"""A lane's flow: on which side of a passenger's face their card is read, and how far from it.

Every card↔face question is asked of one number, the card's offset from the face's time in view: negative
when the card was read before the face's first frame, positive after its last frame, 0 while the face was in
view. A flow is a range of allowed offsets. With `auto` the lane learns the range from passengers who walked
through alone (one card, one face, nobody else near), keeps it in the state directory, and until then names
nobody (every pairing is ambiguous).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FLOWS = ("card_then_face", "face_then_card", "card_while_in_view", "auto")
# Allowed card offsets (s) when the configuration names a flow but not the range.
DEFAULT_OFFSETS: dict[str, tuple[float, float]] = {
    "card_then_face": (-2.5, 0.0),
    "face_then_card": (0.0, 2.5),
    "card_while_in_view": (-0.5, 0.5),
}
# While `auto` has not learnt: a card and a face this close are a possible pair (never published as one).
LEARNING_OFFSETS = (-3.0, 3.0)
LEARN_SAMPLES = 8
# Both sides of the learnt range get at least this much room: frames are 1/8 s apart, reads are polled.
LEARN_PAD_S = 0.1
LEARN_FILE_MAX_BYTES = 4096


@dataclass(frozen=True)
class LaneFlow:
    name: str  # one of FLOWS except "auto": what the offsets mean to a technician
    lo_s: float
    hi_s: float
    learnt: bool = True  # False while `auto` is still learning: every pairing is ambiguous

    def allows(self, offset_s: float) -> bool:
        return self.lo_s <= offset_s <= self.hi_s

    def describe(self) -> dict[str, Any]:
        return {"flow": self.name, "card_offset_s": [round(self.lo_s, 3), round(self.hi_s, 3)]} | (
            {} if self.learnt else {"learning": True}
        )


def offset_s(card_t: float, face_first: float, face_last: float) -> float:
    """The card's offset from the face's time in view (see the module's doc)."""
    if card_t < face_first:
        return card_t - face_first
    if card_t > face_last:
        return card_t - face_last
    return 0.0


def configured_flow(name: str, offsets: tuple[float, float] | None) -> LaneFlow:
    if name == "auto":
        return LaneFlow("auto", *LEARNING_OFFSETS, learnt=False)
    lo, hi = offsets if offsets is not None else DEFAULT_OFFSETS[name]
    return LaneFlow(name, lo, hi)


def flow_offsets_error(name: str, offsets: tuple[float, float] | None) -> str | None:
    """Why a configured range does not fit its flow (None when it does); for the configuration's validator."""
    if offsets is None:
        return None
    lo, hi = offsets
    if name == "auto":
        return "is learnt when flow = auto: remove it, or name the flow"
    if not lo < hi:
        return "must be [earliest, latest] with earliest < latest"
    if name == "card_then_face" and not lo < 0.0:
        return "card_then_face reads the card before the face: the earliest offset must be negative"
    if name == "face_then_card" and not hi > 0.0:
        return "face_then_card reads the card after the face: the latest offset must be positive"
    if name == "card_while_in_view" and not lo <= 0.0 <= hi:
        return "card_while_in_view reads the card while the face is in view: the range must include 0"
    return None


def learn(samples: list[float]) -> LaneFlow:
    """The flow that explains the offsets of passengers who walked through alone."""
    before = sum(s < 0 for s in samples)
    after = sum(s > 0 for s in samples)
    lo, hi = min(samples), max(samples)
    pad = max(LEARN_PAD_S, 0.25 * (hi - lo))
    # An ordered flow never grows towards 0 by more than half its nearest sample: a range that reached 0
    # would take the next passenger's card, read while this face is in view, as a candidate.
    if after == 0 and before >= 0.75 * len(samples):
        name, lo, hi = "card_then_face", lo - pad, min(hi + pad, hi / 2)
    elif before == 0 and after >= 0.75 * len(samples):
        name, lo, hi = "face_then_card", max(lo - pad, lo / 2), hi + pad
    else:
        name, lo, hi = "card_while_in_view", min(lo, 0.0) - pad, max(hi, 0.0) + pad
    return LaneFlow(name, round(lo, 3), round(hi, 3))  # as it is kept on disk


class FlowLearner:
    """`auto`'s memory: offsets of lone passengers until there are enough, then the learnt flow, on disk."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.samples: list[float] = []
        self.errors = 0

    def load(self) -> LaneFlow | None:
        """What an earlier run learnt, if its file is present and sound (else learn again, and say why)."""
        if self.path is None or not self.path.exists():
            return None
        try:
            if self.path.stat().st_size > LEARN_FILE_MAX_BYTES:
                raise ValueError("file too large")
            data = json.loads(self.path.read_text(encoding="utf-8"))
            flow = LaneFlow(
                str(data["flow"]), float(data["card_offset_s"][0]), float(data["card_offset_s"][1])
            )
            if flow.name == "auto" or flow_offsets_error(flow.name, (flow.lo_s, flow.hi_s)) is not None:
                raise ValueError(f"flow {flow.name} {flow.lo_s}..{flow.hi_s} does not hold together")
            if not (flow.lo_s >= -10.0 and flow.hi_s <= 10.0):
                raise ValueError("offsets beyond 10 s")
            return flow
        except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
            self.errors += 1
            log.warning("learnt flow %s ignored (%s): learning the lane's flow again", self.path, error)
            return None

    def add(self, sample_s: float) -> LaneFlow | None:
        """Record one lone passenger's offset; the learnt flow once there are enough of them."""
        self.samples.append(sample_s)
        if len(self.samples) < LEARN_SAMPLES:
            return None
        flow = learn(self.samples)
        self._save(flow)
        return flow

    def _save(self, flow: LaneFlow) -> None:
        if self.path is None:
            return
        body = flow.describe() | {"samples": [round(s, 3) for s in self.samples]}
        body["median_offset_s"] = round(statistics.median(self.samples), 3)
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(body), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as error:  # the lane keeps the learnt flow in memory; it learns again after a restart
            self.errors += 1
            log.error("cannot keep the learnt flow in %s: %s", self.path, error)
