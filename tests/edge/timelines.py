"""Recorded lane timelines for the joiner: scripted passengers in a flow, with irregular ones, replayed on a
frame clock exactly as the lane hands events to the joiner (cards as read, a measurement once its face has
been gone for the screener's gap, `advance` after every frame)."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.items import IdDocument, IdScan
from edge.passengers import Passenger, PassengerJoiner
from edge.records import PassengerMeasurement

GAP_S = 0.4  # the screener's passenger gap: a face absent this long has left
FRAME_S = 0.125
# Where the card is read relative to the face in view [arrive, arrive + dwell], per flow.
CARD_AT = {
    "card_then_face": lambda arrive, leave: arrive - 1.2,
    "face_then_card": lambda arrive, leave: leave + 0.6,
    "card_while_in_view": lambda arrive, leave: arrive + 0.3,
}


@dataclass
class Timeline:
    faces: list[tuple[int, float, float]] = field(default_factory=list)  # (owner, first, last)
    cards: list[tuple[int, float]] = field(default_factory=list)  # (owner, read at)
    febrile: int = 3

    def add_passenger(self, who: int, flow: str, arrive: float, dwell: float = 0.8) -> None:
        self.faces.append((who, arrive, arrive + dwell))
        self.cards.append((who, CARD_AT[flow](arrive, arrive + dwell)))


def regular(flow: str, count: int = 6, spacing_s: float = 3.0) -> Timeline:
    tl = Timeline()
    for i in range(count):
        tl.add_passenger(i, flow, spacing_s * i)
    return tl


def irregular(flow: str, case: str, who: int = 1, count: int = 6, spacing_s: float = 3.0) -> Timeline:
    """The issue's six passengers with passenger `who` irregular in the way `case` says."""
    tl = regular(flow, count, spacing_s)
    arrive = spacing_s * who
    card_t = CARD_AT[flow](arrive, arrive + 0.8)
    if case == "no_card":
        tl.cards = [c for c in tl.cards if c[0] != who]
    elif case == "no_face":  # walked round the camera
        tl.faces = [f for f in tl.faces if f[0] != who]
    elif case == "double_read":
        tl.cards.append((who, card_t + 0.5))
    elif case == "tailgating":  # a second passenger right behind, both cards read, seen as one face
        tl.faces = [f if f[0] != who else (who, arrive, arrive + 1.4) for f in tl.faces]
        tl.cards.append((100 + who, card_t + 0.6))
    elif case == "tailgating_two_faces":  # right behind, both cards read, two faces
        tl.faces.append((100 + who, arrive + 1.0, arrive + 1.6))
        tl.cards.append((100 + who, card_t + 1.0))
    elif case == "turning_back":  # reads the card, shows at the camera, turns back; comes back at the end
        tl.faces = [f if f[0] != who else (who, arrive, arrive + 0.3) for f in tl.faces]
        tl.add_passenger(who, flow, spacing_s * count)
    else:
        raise ValueError(case)
    return tl


def measurement(owner: int, first: float, last: float, febrile: bool) -> PassengerMeasurement:
    skin = 36.9 if febrile else 35.5
    return PassengerMeasurement(
        first, last, 1e9 + last, 5, skin, skin + 0.6, 24.0, "normal", (), 37.3, track_id=owner
    )


def card(owner: int, t: float) -> IdScan:
    return IdScan("lane-1.idscan0", t, 1e9 + t, IdDocument("cn_resident_id", f"P{owner}"))


def replay(tl: Timeline, joiner: PassengerJoiner, later_s: float = 0.0) -> list[Passenger]:
    """Feed the timeline to the joiner on a frame clock, `later_s` after its scripted times; everything it
    decided, and what it drained at the end."""
    cards = sorted(((who, t + later_s) for who, t in tl.cards), key=lambda c: c[1])
    faces = sorted(((who, a + later_s, b + later_s) for who, a, b in tl.faces), key=lambda f: f[2])
    end = max([t for _, t in cards] + [last for _, _, last in faces]) + 30.0
    start = min([t for _, t in cards] + [first for _, first, _ in faces]) - 1.0
    out: list[Passenger] = []
    t = start
    while t < end:
        while cards and cards[0][1] <= t:
            owner, at = cards.pop(0)
            joiner.add_scan(card(owner, at))
        while faces and faces[0][2] + GAP_S <= t:
            owner, first, last = faces.pop(0)
            joiner.add_measurement(measurement(owner, first, last, owner == tl.febrile))
        in_view = [first for _, first, last in faces if first <= t]
        out += joiner.advance(t, min(in_view) if in_view else None)
        t += FRAME_S
    return out + joiner.drain()


def owner_of_card(p: Passenger) -> int | None:
    return None if p.scan is None else int(p.scan.document.number[1:])


def wrong_person(out: list[Passenger]) -> list[tuple[int, int]]:
    """(face owner, card owner) of every face that left with somebody else's card."""
    return [
        (p.measurement.track_id, owner)
        for p in out
        if p.measurement is not None
        and (owner := owner_of_card(p)) is not None
        and owner != p.measurement.track_id
    ]


def faces_of(out: list[Passenger], owner: int) -> list[Passenger]:
    return [p for p in out if p.measurement is not None and p.measurement.track_id == owner]
