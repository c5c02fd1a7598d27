"""Joining scans and measurements: nearest within the window, each once, and never a card to the wrong face."""

from __future__ import annotations

from drivers.items import IdDocument, IdScan
from edge.passengers import PassengerJoiner
from edge.screening.pipeline import PassengerMeasurement


def measurement(first: float, last: float) -> PassengerMeasurement:
    return PassengerMeasurement(first, last, 1e9 + last, 3, 35.5, 36.8, 24.0, "normal", (), 37.3)


def scan(t: float, number: str) -> IdScan:
    return IdScan("lane-1.idscan0", t, 1e9 + t, IdDocument("cn_resident_id", number))


def test_scan_during_a_reading_joins_it() -> None:
    joiner = PassengerJoiner("lane-1", window_s=5.0, measurement_delay_s=0.4)
    assert joiner.add_scan(scan(10.2, "A"), passenger_in_view=True) == []
    (p,) = joiner.add_measurement(measurement(10.0, 10.5))
    assert p.scan is not None and p.scan.document.number == "A"


def test_nearest_scan_wins_and_each_is_used_once() -> None:
    joiner = PassengerJoiner("lane-1", window_s=5.0, measurement_delay_s=0.4)
    joiner.add_scan(scan(6.0, "far"))
    joiner.add_scan(scan(10.1, "near"))
    (p,) = joiner.add_measurement(measurement(10.0, 10.5))
    assert p.scan is not None and p.scan.document.number == "near"
    (q,) = joiner.add_measurement(measurement(10.6, 10.9))
    assert q.scan is not None and q.scan.document.number == "far"  # 4.6 s away: still inside the window


def test_card_of_the_passenger_in_view_is_not_given_to_an_earlier_cardless_one() -> None:
    joiner = PassengerJoiner("lane-1", window_s=5.0, measurement_delay_s=0.4)
    assert joiner.add_measurement(measurement(10.0, 10.3)) == []  # an anonymous passenger, waiting
    # The next passenger is in front of the camera and scans their card.
    assert joiner.add_scan(scan(10.8, "B"), passenger_in_view=True) == []
    (b,) = joiner.add_measurement(measurement(10.6, 10.9))
    assert b.scan is not None and b.scan.document.number == "B" and b.measurement.t_first_mono == 10.6
    (anonymous,) = joiner.expire(now_mono=15.4)
    assert anonymous.scan is None and anonymous.measurement.t_first_mono == 10.0


def test_unmatched_items_leave_after_the_window() -> None:
    joiner = PassengerJoiner("lane-1", window_s=5.0, measurement_delay_s=0.4)
    joiner.add_scan(scan(1.0, "lonely"))
    joiner.add_measurement(measurement(20.0, 20.5))
    assert joiner.expire(now_mono=6.0) == []  # window + measurement delay not yet over for the scan
    (s,) = joiner.expire(now_mono=6.5)
    assert s.measurement is None and s.scan is not None
    (m,) = joiner.expire(now_mono=25.6)
    assert m.scan is None
    assert joiner.pending() == 0
