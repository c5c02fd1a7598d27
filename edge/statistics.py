"""Per-lane statistics: every passenger is counted, published per minute and per hour as `stats` rows.

Counts are closed on wall-clock interval boundaries (UTC) so the centre can add up devices; at shutdown
the open intervals are flushed as partial ones rather than lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import fields

from edge.contract import LaneCounts, build_stats, interval_utc
from edge.outbox import Outbox
from edge.passengers import Passenger

_COUNT_FIELDS = tuple(f.name for f in fields(LaneCounts) if f.name != "lane_id")
_INTERVALS = {"minute": 60, "hour": 3600}


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
    return counts


class StatisticsPublisher:
    def __init__(
        self,
        site_id: str,
        device_id: str,
        lane_ids: list[str],
        outbox: Outbox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.site_id, self.device_id, self.lane_ids = site_id, device_id, lane_ids
        self.outbox = outbox
        self.clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._start = {name: now - now % seconds for name, seconds in _INTERVALS.items()}
        self._counts = {name: self._zero() for name in _INTERVALS}
        self.totals = self._zero()

    def _zero(self) -> dict[str, dict[str, int]]:
        return {lane: dict.fromkeys(_COUNT_FIELDS, 0) for lane in self.lane_ids}

    def record(self, p: Passenger) -> None:
        add = passenger_counts(p)
        with self._lock:
            for table in (*self._counts.values(), self.totals):
                lane = table.setdefault(p.lane_id, dict.fromkeys(_COUNT_FIELDS, 0))
                for key, value in add.items():
                    lane[key] += value

    def tick(self) -> None:
        """Publish every interval that has ended; call about once a second."""
        now = self.clock()
        for name, seconds in _INTERVALS.items():
            if now >= self._start[name] + seconds:
                self._publish(name, end=now - now % seconds)

    def flush(self) -> None:
        """At shutdown: publish the open intervals as partial ones so no count is lost."""
        now = self.clock()
        for name in _INTERVALS:
            self._publish(name, end=now)

    def _publish(self, name: str, end: float) -> None:
        with self._lock:
            start, counts = self._start[name], self._counts[name]
            self._start[name], self._counts[name] = end, self._zero()
        lanes = [LaneCounts(lane_id=lane, **c) for lane, c in counts.items()]
        self.outbox.append(
            "stats",
            build_stats(self.site_id, self.device_id, name, interval_utc(start), interval_utc(end), lanes),
        )
