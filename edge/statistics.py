"""Per-lane statistics: every passenger is counted, published per minute and per hour as `stats` rows.

Counts are closed on wall-clock interval boundaries (UTC) so the centre can add up devices; at shutdown
the open intervals are flushed as partial ones rather than lost. The wall clock can step (NTP after a cold
boot without RTC, a technician's `date -s`): each interval's length is checked against the monotonic clock,
and on a step the open interval is closed as long as it really lasted, flagged `clock_stepped`, and the next
one starts at the new wall time, so no published interval ever ends before it starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import fields

from edge.contract import LaneCounts, build_stats, interval_utc
from edge.outbox import Outbox
from edge.passengers import Passenger

_COUNT_FIELDS = tuple(f.name for f in fields(LaneCounts) if f.name != "lane_id")
_INTERVALS = {"minute": 60, "hour": 3600}
CLOCK_STEP_S = 2.0  # wall and monotonic time disagreeing by more than this is a step, not drift

log = logging.getLogger(__name__)


def passenger_counts(p: Passenger) -> dict[str, int]:
    m = p.measurement
    counts = dict.fromkeys(_COUNT_FIELDS, 0)
    if m is not None:
        counts["screened"] = 1
        if m.status == "recheck":
            counts["rechecks"] = 1
        elif m.status in counts:
            counts[m.status] = 1
    if p.scan is not None:
        counts["scans"] = 1
        counts["unmatched"] = int(m is None)
    if m is not None:
        counts["joined"] = int(p.scan is not None)
        counts["ambiguous"] = int(bool(p.ambiguous))
        counts["faces_without_card"] = int(p.scan is None and not p.ambiguous)
    elif not p.ambiguous:
        counts["cards_without_face"] = 1
    return counts


class StatisticsPublisher:
    def __init__(
        self,
        site_id: str,
        device_id: str,
        lane_ids: list[str],
        outbox: Outbox,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.site_id, self.device_id, self.lane_ids = site_id, device_id, lane_ids
        self.outbox = outbox
        self.clock = clock
        self.monotonic = monotonic
        self._lock = threading.Lock()
        now, mono = clock(), monotonic()
        self._start = {name: now - now % seconds for name, seconds in _INTERVALS.items()}
        self._start_mono = {name: mono - now % seconds for name, seconds in _INTERVALS.items()}
        self._counts = {name: self._zero() for name in _INTERVALS}
        self.clock_steps = 0

    def _zero(self) -> dict[str, dict[str, int]]:
        return {lane: dict.fromkeys(_COUNT_FIELDS, 0) for lane in self.lane_ids}

    def record(self, p: Passenger) -> None:
        add = passenger_counts(p)
        with self._lock:
            for table in self._counts.values():
                lane = table.setdefault(p.lane_id, dict.fromkeys(_COUNT_FIELDS, 0))
                for key, value in add.items():
                    lane[key] += value

    def _stepped_end(self, name: str, now: float, mono: float) -> float | None:
        """Where the open interval really ends when the wall clock has stepped, else None."""
        measured_end = self._start[name] + (mono - self._start_mono[name])
        return measured_end if abs(now - measured_end) > CLOCK_STEP_S else None

    def tick(self) -> None:
        """Publish every interval that has ended; call about once a second."""
        now, mono = self.clock(), self.monotonic()
        for name, seconds in _INTERVALS.items():
            stepped_end = self._stepped_end(name, now, mono)
            if stepped_end is not None:
                self.clock_steps += 1
                log.warning(
                    "wall clock stepped by %+.1f s: closing the %s interval as measured, flagged clock_stepped",
                    now - stepped_end,
                    name,
                )
                self._publish(name, stepped_end, restart=(now, mono), stepped=True)
            elif now >= self._start[name] - self._start[name] % seconds + seconds:
                end = now - now % seconds
                self._publish(name, end, restart=(end, mono - (now - end)))

    def flush(self) -> None:
        """At shutdown: publish the open intervals as partial ones so no count is lost."""
        now, mono = self.clock(), self.monotonic()
        for name in _INTERVALS:
            stepped_end = self._stepped_end(name, now, mono)
            end = now if stepped_end is None else stepped_end
            self._publish(name, end, restart=(now, mono), stepped=stepped_end is not None)

    def _publish(self, name: str, end: float, restart: tuple[float, float], stepped: bool = False) -> None:
        with self._lock:
            start, counts = self._start[name], self._counts[name]
            self._start[name], self._start_mono[name] = restart
            self._counts[name] = self._zero()
        lanes = [LaneCounts(lane_id=lane, **c) for lane, c in counts.items()]
        self.outbox.append(
            "stats",
            build_stats(
                self.site_id,
                self.device_id,
                name,
                interval_utc(start),
                interval_utc(max(start, end)),
                lanes,
                clock_stepped=stepped,
            ),
        )
