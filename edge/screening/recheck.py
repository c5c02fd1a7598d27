"""Re-check bound to the passenger, never to the lane.

With `decision.recheck = true` a first elevated reading is "recheck" (measure again) and only a second
elevated reading *of the same passenger* within `recheck_window_s` is "elevated". Who is "the same
passenger" is decided by a subject key, never by the order of readings on the lane:

  * `track:<lane-local id>`: the screener's face track, i.e. one continuous presence in front of the camera;
  * `doc:<pseudonym>`: once the lane has joined the reading with an ID document, its keyed pseudonym. A
    passenger who walks away and comes back with the same card is the same subject.

An anonymous passenger who leaves and returns starts a new track, so their second reading cannot be bound
to the first: it stays "recheck" (the operator's clinical thermometer decides). Passenger B's elevated
reading therefore never confirms passenger A's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from edge.records import TemperatureStatus

if TYPE_CHECKING:
    from edge.records import PassengerMeasurement


@dataclass
class RecheckBook:
    window_s: float
    max_open: int = 4096  # bounded: a lane cannot grow this without limit, whatever arrives
    _pending: dict[str, float] = field(default_factory=dict)

    def _expire(self, now_mono: float) -> None:
        stale = [k for k, t in self._pending.items() if now_mono - t > self.window_s]
        for key in stale:
            del self._pending[key]
        while len(self._pending) > self.max_open:
            del self._pending[next(iter(self._pending))]  # oldest first (insertion order)

    def elevated(self, subject: str, now_mono: float) -> bool:
        """An elevated reading of `subject`: True when it confirms an open re-check of the same subject
        (the passenger is then referred), False when it opens one (measure again)."""
        self._expire(now_mono)
        if self._pending.pop(subject, None) is not None:
            return True
        self._pending[subject] = now_mono
        return False

    def normal(self, subject: str) -> bool:
        """A normal reading closes the subject's open re-check; True when one was open."""
        return self._pending.pop(subject, None) is not None

    def pending(self, subject: str, now_mono: float) -> bool:
        self._expire(now_mono)
        return subject in self._pending


def bind_to_document(
    book: RecheckBook, measurement: PassengerMeasurement, document_key: str, now_mono: float
) -> PassengerMeasurement:
    """Once the lane has joined a reading with a document, the document is the subject: a second elevated
    reading with the same document within the window confirms the first ("elevated"); another passenger's
    reading never does, whatever the order of readings on the lane."""
    subject = f"doc:{document_key}"
    if measurement.status == "normal":
        if book.normal(subject):
            return replace(
                measurement,
                reasons=(*measurement.reasons, "re-measurement after an elevated first reading is normal"),
            )
        return measurement
    if measurement.status != "recheck":
        return measurement
    if not book.elevated(subject, now_mono):
        return measurement
    reasons = tuple(r for r in measurement.reasons if not r.startswith("first elevated reading"))
    return replace(
        measurement,
        status=TemperatureStatus.ELEVATED,
        reasons=(
            reasons[0],
            "confirmed by re-measurement of the same passenger (same document)",
            *reasons[1:],
        ),
        advice="refer to a clinical thermometer",
    )
