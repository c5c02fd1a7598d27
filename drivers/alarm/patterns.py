"""Which relay or line is on, and when: outcome → outputs (channel, pattern, how long), as a pure schedule.

The lane signals one outcome per passenger and a lane fault while it lasts; the schedule answers "which
channels are on at time t". No clock of its own (times are passed in) and no I/O, so tests step through it.

- A passenger's outputs replace the previous passenger's, except those waiting for an acknowledgement (a
  referral's red lamp and buzzer stay until the operator acknowledges, or `seconds` pass).
- A lane fault's outputs last while the fault does (`seconds = 0`) or for `seconds`.
- `steady` is the default pattern: a mechanical relay is rated for ~10^5 switching cycles, and a 1 Hz blink
  spends 7 200 of them an hour. Blinking is for short, bounded signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from drivers.strict import StrictModel

Pattern = Literal["steady", "blink", "slow_blink"]
# (period, on-time) in seconds
PATTERN_TIMING: dict[str, tuple[float, float]] = {"blink": (1.0, 0.5), "slow_blink": (2.0, 1.0)}
# Outcome categories of edge/rules.py plus the lane's own fault (sensor missing, warm-up, blackbody lockout).
ALARM_OUTCOMES = ("medical_referral", "guide_to_service_point", "recheck", "hold", "lane_fault")
LANE_FAULT = "lane_fault"


class AlarmOutput(StrictModel):
    channel: int = Field(ge=1, le=8, description="Relay channel (LCUS: 1..8) or index into `lines` + 1.")
    pattern: Pattern = Field("steady", description="steady, blink (1 Hz) or slow_blink (0.5 Hz).")
    seconds: float = Field(
        10.0,
        ge=0.0,
        le=3600.0,
        description="How long the output lasts, s; 0: while the lane fault lasts, or until the next passenger.",
    )
    until_ack: bool = Field(
        False, description="Stays on (up to `seconds`) until the operator acknowledges on the page."
    )


def _default_patterns() -> dict[str, list[AlarmOutput]]:
    # A stack light on a 4-channel board: 1 red, 2 amber, 3 buzzer.
    return {
        "medical_referral": [
            AlarmOutput(channel=1, seconds=30.0, until_ack=True),
            AlarmOutput(channel=3, seconds=30.0, until_ack=True),
        ],
        "guide_to_service_point": [AlarmOutput(channel=2, seconds=10.0)],
        # The public must not tell a hold from a service-point guidance.
        "hold": [AlarmOutput(channel=2, seconds=10.0)],
        "recheck": [AlarmOutput(channel=2, pattern="blink", seconds=4.0)],
        "lane_fault": [AlarmOutput(channel=1, pattern="slow_blink", seconds=0.0)],
    }


PatternMap = dict[str, list[AlarmOutput]]


def patterns_field() -> Any:
    """The `patterns` key every alarm device type has, last in its table."""
    return Field(
        default_factory=_default_patterns,
        description="Outcome (medical_referral, guide_to_service_point, recheck, hold, lane_fault) → outputs;"
        " the default assumes a stack light on channels 1 red, 2 amber, 3 buzzer. An outcome left out"
        " switches nothing.",
    )


def check_outcomes(value: PatternMap) -> PatternMap:
    unknown = sorted(set(value) - set(ALARM_OUTCOMES))
    if unknown:
        raise ValueError(f"unknown outcome(s) {', '.join(unknown)}; expected {', '.join(ALARM_OUTCOMES)}")
    return value


@dataclass(frozen=True)
class _Active:
    output: AlarmOutput
    outcome: str
    start: float

    def expired(self, now: float) -> bool:
        return self.output.seconds > 0 and now - self.start >= self.output.seconds

    def on_at(self, now: float) -> bool:
        timing = PATTERN_TIMING.get(self.output.pattern)
        if timing is None:
            return True
        period, on_s = timing
        return (now - self.start) % period < on_s


class AlarmSchedule:
    def __init__(self, patterns: dict[str, list[AlarmOutput]]) -> None:
        self._patterns = patterns
        self._active: list[_Active] = []
        self.fault = False
        self.last_outcome = ""

    @property
    def channels(self) -> list[int]:
        return sorted({o.channel for outputs in self._patterns.values() for o in outputs})

    def signal(self, outcome: str, now: float) -> None:
        """A passenger's outcome ("clear" switches off the previous passenger's outputs)."""
        self.last_outcome = outcome
        self._active = [a for a in self._active if a.outcome == LANE_FAULT or a.output.until_ack]
        for output in self._patterns.get(outcome, []) if outcome != LANE_FAULT else []:
            self._active.append(_Active(output, outcome, now))

    def set_fault(self, fault: bool, now: float) -> None:
        if fault == self.fault:
            return
        self.fault = fault
        self._active = [a for a in self._active if a.outcome != LANE_FAULT]
        if fault:
            self._active += [_Active(o, LANE_FAULT, now) for o in self._patterns.get(LANE_FAULT, [])]

    def acknowledge(self) -> int:
        """The operator acknowledged: what waits for it stops. Returns how many outputs stopped."""
        before = len(self._active)
        self._active = [a for a in self._active if not a.output.until_ack]
        return before - len(self._active)

    @property
    def awaiting_ack(self) -> bool:
        return any(a.output.until_ack for a in self._active)

    def states(self, now: float) -> dict[int, bool]:
        self._active = [a for a in self._active if not a.expired(now)]
        states = dict.fromkeys(self.channels, False)
        for a in self._active:
            states[a.output.channel] = states.get(a.output.channel, False) or a.on_at(now)
        return states
