"""Timing helpers of the uplink: reconnect backoff, and the deadlines of one broker session."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field


def backoff_delay_s(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Capped exponential backoff with 'equal jitter': half fixed, half random, never below the floor."""
    ceiling = min(max_s, min_s * (2 ** min(attempt, 30)))
    return max(min_s, ceiling / 2 + rng.uniform(0.0, ceiling / 2))


@dataclass
class SessionClock:
    """The deadlines one connection's loop keeps (all time.monotonic())."""

    connack_deadline: float
    primary_retry_s: float
    next_misc: float = field(default_factory=lambda: time.monotonic() + 1.0)
    next_primary_probe: float = 0.0
    stopping_since: float | None = None
    stopped_mid: int | None = None

    def __post_init__(self) -> None:
        self.next_primary_probe = time.monotonic() + self.primary_retry_s
