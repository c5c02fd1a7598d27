"""A lane's outward signals at the lane itself: its operator display and its alarm output.

The lane calls `verdict` when it has decided a passenger's temperature (while they are still in view),
`decision` when the passenger's joined decision is made (card rules may raise the outcome: a key region, a
hold), and `faults` about twice a second. Each call only hands over: the board takes a short lock, the alarm a
bounded queue; neither ever blocks the lane.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from drivers.alarm.output import AlarmOutputDevice
from edge.operator.board import OperatorBoard
from edge.records import PassengerMeasurement
from edge.screening.envelope import ADVICE_PRESENCE_ONLY

if TYPE_CHECKING:
    from edge.passengers import Passenger
    from edge.rules import Decision

# The screener's temperature status → the outcome shown and signalled before any card is read.
TEMPERATURE_OUTCOME = {
    "elevated": "medical_referral",
    "recheck": "recheck",
    "indeterminate": "recheck",
    "normal": "clear",
}
# Most urgent first, as edge.rules.CATEGORIES.
URGENCY = ("hold", "medical_referral", "guide_to_service_point", "recheck", "clear")
FAULT_ALARM_AFTER_S = 3.0


class LaneSignals:
    def __init__(self, lane_id: str, alarm: AlarmOutputDevice | None, board: OperatorBoard | None) -> None:
        self.lane_id = lane_id
        self.alarm = alarm
        self.board = board
        self.verdicts = 0
        self._outcome_of_track: dict[int, str] = {}
        self._faults: tuple[str, ...] = ()
        self._fault_since: float | None = None
        self._fault_signalled = False

    def verdict(self, m: PassengerMeasurement, decided_mono: float) -> None:
        outcome = TEMPERATURE_OUTCOME.get(m.status, "recheck")
        shown = outcome
        if (
            m.advice == ADVICE_PRESENCE_ONLY
        ):  # a presence-only sensor: nothing to re-measure, nothing to signal
            outcome, shown = "clear", "not_screened"
        self.verdicts += 1
        self._remember(m.track_id, outcome)
        if self.alarm is not None:
            self.alarm.signal(outcome)
        if self.board is not None:
            self.board.show(
                self.lane_id,
                shown,
                temperature_c=m.core_c if m.core_c is not None else None,
                guidance=m.advice,
                track_id=m.track_id,
                verdict_mono=decided_mono,
            )

    def decision(self, passenger: Passenger, decision: Decision) -> None:
        """Raise the shown outcome when the card's rules ask for more than the temperature did."""
        m = passenger.measurement
        category = decision.category
        if m is None:
            if category != "clear":  # a card read with no face measured: still tell the lane
                if self.alarm is not None:
                    self.alarm.signal(category)
                if self.board is not None:
                    self.board.show(
                        self.lane_id,
                        _shown(decision),
                        temperature_c=None,
                        guidance="",
                        track_id=None,
                        verdict_mono=time.monotonic(),
                    )
            return
        shown = self._outcome_of_track.pop(m.track_id, None)
        if shown is None or URGENCY.index(category) >= URGENCY.index(shown):
            return
        # Only while that passenger is still the one on screen: a later passenger's screen is theirs.
        still_shown = self.board is None or self.board.update_outcome(
            self.lane_id, m.track_id, _shown(decision)
        )
        if still_shown and self.alarm is not None:
            self.alarm.signal(category)

    def faults(self, lane_faults: tuple[str, ...], now_mono: float) -> None:
        """The display lists faults as they change; the alarm's fault pattern waits until a fault has lasted
        FAULT_ALARM_AFTER_S, so a device still opening at start-up or replugged within seconds clicks no relay.
        The alarm's own failure is listed but never signalled on the alarm."""
        if lane_faults != self._faults:
            self._faults = lane_faults
            if self.board is not None:
                self.board.set_faults(self.lane_id, lane_faults)
            if not any(f != "alarm" for f in lane_faults):
                self._fault_since = None
                if self._fault_signalled and self.alarm is not None:
                    self.alarm.set_fault(False)
                self._fault_signalled = False
            elif self._fault_since is None:
                self._fault_since = now_mono
        since = self._fault_since
        if since is not None and not self._fault_signalled and now_mono - since >= FAULT_ALARM_AFTER_S:
            self._fault_signalled = True
            if self.alarm is not None:
                self.alarm.set_fault(True)

    def acknowledge(self) -> None:
        if self.alarm is not None:
            self.alarm.acknowledge()

    def _remember(self, track_id: int, outcome: str) -> None:
        self._outcome_of_track[track_id] = outcome
        while len(self._outcome_of_track) > 64:  # tracks whose decision never came (shutdown): bounded
            self._outcome_of_track.pop(next(iter(self._outcome_of_track)))

    def status(self) -> dict[str, Any]:
        return {"verdicts": self.verdicts, "faults": list(self._faults)}


def _shown(decision: Decision) -> str:
    """What the screen says for a joined decision: a "recheck" asked for by the document alone (it failed its
    checks) means scanning the document again, not measuring the temperature again."""
    recheck_codes = {r.code for r in decision.reasons if r.category == "recheck"}
    if decision.category == "recheck" and recheck_codes == {"invalid_document"}:
        return "recheck_document"
    return decision.category
