"""The two wrong-person cases of issue 14, replayed on the joiner as recorded timelines."""

from __future__ import annotations

from drivers.items import IdDocument, IdScan
from edge.passengers import Passenger, PassengerJoiner
from edge.screening.pipeline import PassengerMeasurement

GAP_S = 0.4


def replay(faces: list[tuple[int, float, float]], cards: list[tuple[int, float]]) -> list[Passenger]:
    joiner = PassengerJoiner("lane-1", window_s=5.0, measurement_delay_s=GAP_S)
    events: list[tuple[float, str, object]] = []
    for i, first, last in faces:
        m = PassengerMeasurement(
            first, last, 1e9 + last, 4, 35.5, 36.9 if i == 3 else 36.5, 24.0, "normal", (), 37.3, track_id=i
        )
        events.append((last + GAP_S, "m", m))
    for i, t in cards:
        events.append((t, "s", IdScan("lane-1.idscan0", t, 1e9 + t, IdDocument("cn_resident_id", f"P{i}"))))
    out: list[Passenger] = []
    for t, kind, item in sorted(events, key=lambda e: e[0]):
        if kind == "m":
            out += joiner.add_measurement(item)  # type: ignore[arg-type]
        else:
            in_view = any(first <= t <= last + GAP_S for _, first, last in faces)
            out += joiner.add_scan(item, passenger_in_view=in_view)  # type: ignore[arg-type]
        out += joiner.expire(t)
    return out + joiner.expire(1e6)


def febrile_identity(out: list[Passenger]) -> str | None:
    (p,) = [p for p in out if p.measurement is not None and p.measurement.track_id == 3]
    return p.scan.document.number if p.scan else None


def test_card_first_second_passenger_without_card() -> None:
    faces = [(i, 3.0 * i, 3.0 * i + 0.8) for i in range(6)]
    cards = [(i, 3.0 * i - 1.2) for i in range(6) if i != 1]
    assert febrile_identity(replay(faces, cards)) in ("P3", None)


def test_face_first_second_passenger_walked_round_the_camera() -> None:
    faces = [(i, 3.0 * i, 3.0 * i + 0.8) for i in range(6) if i != 1]
    cards = [(i, 3.0 * i + 0.8 + 0.6) for i in range(6)]
    assert febrile_identity(replay(faces, cards)) in ("P3", None)
