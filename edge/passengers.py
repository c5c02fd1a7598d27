"""Joining a lane's thermal measurements with its ID scans into passengers.

A scan and a measurement belong together when they fall within the join window of each other (the gap
between the scan and the measurement's span of frames), nearest first, each used once. Whatever finds no
partner in time still leaves as a passenger of its own, so every reading and every scan is counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.items import IdScan
from edge.records import PassengerMeasurement


@dataclass(frozen=True)
class Passenger:
    lane_id: str
    measurement: PassengerMeasurement | None
    scan: IdScan | None

    @property
    def t_mono(self) -> float:
        if self.measurement is not None:
            return self.measurement.t_last_mono
        assert self.scan is not None
        return self.scan.t_mono

    @property
    def t_wall(self) -> float:
        if self.measurement is not None:
            return self.measurement.t_wall
        assert self.scan is not None
        return self.scan.t_wall


def _gap_s(m: PassengerMeasurement, scan: IdScan) -> float:
    if scan.t_mono < m.t_first_mono:
        return m.t_first_mono - scan.t_mono
    return max(0.0, scan.t_mono - m.t_last_mono)


class PassengerJoiner:
    def __init__(self, lane_id: str, window_s: float, measurement_delay_s: float) -> None:
        self.lane_id = lane_id
        self.window_s = window_s
        # A measurement is only known once the passenger has left (the screener's gap): a scan must wait
        # that much longer than the window before it is declared unmatched.
        self.measurement_delay_s = measurement_delay_s
        self._measurements: list[PassengerMeasurement] = []
        self._scans: list[IdScan] = []

    def add_measurement(self, m: PassengerMeasurement) -> list[Passenger]:
        candidates = [s for s in self._scans if _gap_s(m, s) <= self.window_s]
        if not candidates:
            self._measurements.append(m)
            return []
        scan = min(candidates, key=lambda s: _gap_s(m, s))
        self._scans.remove(scan)
        return [Passenger(self.lane_id, m, scan)]

    def add_scan(self, scan: IdScan, passenger_in_view: bool = False) -> list[Passenger]:
        """Join the scan to a waiting measurement, unless someone is in front of the camera right now.

        A card read while a face is in view belongs, most likely, to that face, whose measurement only
        arrives when they leave: joining it to an older measurement still waiting for a card (a passenger who
        had none) would hand every later card of the lane to the passenger before its owner.
        """
        if passenger_in_view:
            self._scans.append(scan)
            return []
        candidates = [m for m in self._measurements if _gap_s(m, scan) <= self.window_s]
        if not candidates:
            self._scans.append(scan)
            return []
        m = min(candidates, key=lambda c: _gap_s(c, scan))
        self._measurements.remove(m)
        return [Passenger(self.lane_id, m, scan)]

    def expire(self, now_mono: float) -> list[Passenger]:
        """Passengers whose partner can no longer arrive in time."""
        out: list[Passenger] = []
        for m in [m for m in self._measurements if now_mono - m.t_last_mono > self.window_s]:
            self._measurements.remove(m)
            out.append(Passenger(self.lane_id, m, None))
        limit = self.window_s + self.measurement_delay_s
        for s in [s for s in self._scans if now_mono - s.t_mono > limit]:
            self._scans.remove(s)
            out.append(Passenger(self.lane_id, None, s))
        return out

    def drain(self) -> list[Passenger]:
        """Everything still waiting, unjoined (used at shutdown so nothing is lost)."""
        out = [Passenger(self.lane_id, m, None) for m in self._measurements]
        out += [Passenger(self.lane_id, None, s) for s in self._scans]
        self._measurements, self._scans = [], []
        return out

    def pending(self) -> int:
        return len(self._measurements) + len(self._scans)
