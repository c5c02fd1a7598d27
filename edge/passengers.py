"""Joining a lane's thermal measurements with its ID scans into passengers, by the lane's flow. Pure.

A card may only pair with a face on the side and at the distance the lane's flow allows (edge/flows.py).
Nothing is decided on arrival: the joiner holds cards and faces until no card or face still to come could
pair with any of them (the horizon), then decides each group of mutually possible pairs (edge/pairing.py).
Where more than one answer is possible the face leaves without an identity and is marked ambiguous, never
with a guess; a card read again within the repeat-suppression time is one read. Whatever finds no partner
still leaves as a passenger of its own, so every reading and every scan is counted.

Clock: `advance(now, in_view_since)` is told how far the lane has seen (every frame and scan stamped up to
`now` has been handed in) and since when the faces still in view have been there.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from drivers.items import IdScan
from edge.flows import FlowLearner, LaneFlow, offset_s
from edge.pairing import Resolution, groups, resolve
from edge.records import PassengerMeasurement

# A group still open this long after its latest possible partner is decided as it stands (its undecided
# members ambiguous): someone standing in view for minutes must not hold the lane's identities back.
MAX_HOLD_S = 10.0
HOLD, SETTLED, FORCED = "hold", "settled", "forced"
# A face this many times longer than the median of joined faces may be two people (after this many joined).
LONG_FACE = 1.5
TYPICAL_AFTER = 8
NEAR_MISS_S = 0.3


def unshare(r: Resolution, shared: set[tuple[int, int]]) -> Resolution:
    """A face that may be two people, and the card that may be the second one's, are given to nobody."""
    cards = {c for c, _ in shared}
    faces = {f for _, f in shared}
    for c, f in [(c, f) for c, f in r.pairs if f in faces]:
        r.pairs.remove((c, f))
        r.ambiguous_cards.append(c)
        r.ambiguous_faces.append(f)
    r.ambiguous_faces += [f for f in r.lone_faces if f in faces]
    r.lone_faces = [f for f in r.lone_faces if f not in faces]
    r.ambiguous_cards += [c for c in r.lone_cards if c in cards]
    r.lone_cards = [c for c in r.lone_cards if c not in cards]
    return r


@dataclass(frozen=True)
class Passenger:
    lane_id: str
    measurement: PassengerMeasurement | None
    scan: IdScan | None
    ambiguous: str = ""  # why no card could be given to this face / this card to any face ("" when joined)

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


class PassengerJoiner:
    def __init__(
        self,
        lane_id: str,
        flow: LaneFlow,
        measurement_delay_s: float,
        repeat_suppress_s: float = 3.0,
        learner: FlowLearner | None = None,
    ) -> None:
        self.lane_id = lane_id
        self.flow = flow
        # A measurement is only known once the passenger has left (the screener's gap).
        self.measurement_delay_s = measurement_delay_s
        self.repeat_suppress_s = repeat_suppress_s
        self.learner = learner
        self._faces: list[PassengerMeasurement] = []
        self._cards: list[IdScan] = []
        self._edged: set[int] = set()  # ids of the cards and faces held that have a possible partner
        self._durations: deque[float] = deque(maxlen=64)  # of joined faces in view, s: what is usual here
        self._ghost_faces: list[PassengerMeasurement] = []
        self._ghost_cards: list[IdScan] = []
        self._last_read: dict[tuple[str, str], float] = {}
        self.counts: Counter[str] = Counter()

    def add_scan(self, scan: IdScan) -> bool:
        """Hold a card read; False when it is the same document read again (one read, counted)."""
        doc = scan.document
        key = (doc.doc_type, doc.number)
        for k, t in list(self._last_read.items()):
            if scan.t_mono - t > self.repeat_suppress_s:
                del self._last_read[k]
        if doc.number and key in self._last_read:
            self._last_read[key] = scan.t_mono
            self.counts["card_repeats"] += 1
            return False
        if doc.number:
            self._last_read[key] = scan.t_mono
        self._cards.append(scan)
        return True

    def add_measurement(self, m: PassengerMeasurement) -> None:
        self._faces.append(m)

    def advance(self, now_mono: float, in_view_since: float | None = None) -> list[Passenger]:
        """Passengers whose pairing nothing still to come can change."""
        if (
            in_view_since is not None
            and now_mono - in_view_since > MAX_HOLD_S + self.flow.hi_s - self.flow.lo_s
        ):
            # Something in view that long (someone lingering, a warm object) must not hold every card back:
            # its measurement, when it comes, meets only what is still held.
            in_view_since = None
        face_from = now_mono if in_view_since is None else min(in_view_since, now_mono)

        def state(cards: list[IdScan], faces: list[PassengerMeasurement]) -> str:
            if self._settled(cards, faces, now_mono, face_from):
                return SETTLED
            return FORCED if self._overdue(cards, faces, now_mono) else HOLD

        return self._decide(state)

    def drain(self) -> list[Passenger]:
        """Everything still held, decided as it stands (at shutdown nothing more will come)."""
        return self._decide(lambda _cards, _faces: SETTLED)

    def pending(self) -> int:
        return len(self._faces) + len(self._cards)

    def _settled(
        self, cards: list[IdScan], faces: list[PassengerMeasurement], now: float, face_from: float
    ) -> bool:
        # A card still to come is stamped after now; a face still to come was first seen at face_from or later.
        # Whatever has no partner yet also waits for a near miss (NEAR_MISS_S outside the flow's range).
        for face in faces:
            hi = self.flow.hi_s + (0.0 if id(face) in self._edged else NEAR_MISS_S)
            if now - face.t_last_mono <= hi:
                return False
        for c in cards:
            lo, hi = self.flow.lo_s, self.flow.hi_s
            if id(c) not in self._edged:
                lo, hi = lo - NEAR_MISS_S, hi + NEAR_MISS_S
            if face_from <= (max(c.t_mono - lo, c.t_mono) if hi >= 0 else c.t_mono - lo):
                return False
        return True

    def _overdue(self, cards: list[IdScan], faces: list[PassengerMeasurement], now: float) -> bool:
        times = [c.t_mono for c in cards] + [f.t_last_mono for f in faces]
        return now - min(times) > (self.flow.hi_s - self.flow.lo_s) + self.measurement_delay_s + MAX_HOLD_S

    def _decide(self, state: Callable[[list[IdScan], list[PassengerMeasurement]], str]) -> list[Passenger]:
        # Members of groups decided before their horizon stay as ghosts until nothing could pair with them any
        # more: whatever could have been theirs is ambiguous, never handed on to a neighbour.
        cards, faces = self._cards + self._ghost_cards, self._faces + self._ghost_faces
        n_live_cards, n_live_faces = len(self._cards), len(self._faces)
        edges = {
            (c, f)
            for c, card in enumerate(cards)
            for f, face in enumerate(faces)
            if self.flow.allows(offset_s(card.t_mono, face.t_first_mono, face.t_last_mono))
        }
        self._edged = {id(cards[c]) for c, _ in edges} | {id(faces[f]) for _, f in edges}
        shared = self._maybe_shared(cards, faces, edges) | self._near_misses(cards, faces, edges)
        out: list[Passenger] = []
        done: set[int] = set()  # card indices, and faces as len(cards) + index
        ghosts: set[int] = set()
        for g_cards, g_faces in groups(len(cards), len(faces), sorted(edges | shared)):
            how = state([cards[c] for c in g_cards], [faces[f] for f in g_faces])
            if how == HOLD:
                continue
            haunted = any(c >= n_live_cards for c in g_cards) or any(f >= n_live_faces for f in g_faces)
            if how == FORCED:
                ghosts.update(g_cards + [len(cards) + f for f in g_faces])
            r = resolve(g_cards, g_faces, edges)
            if haunted or how == FORCED:  # a pair might still have been contested: nobody is paired
                r.ambiguous_cards += [c for c, _ in r.pairs]
                r.ambiguous_faces += [f for _, f in r.pairs]
                r.pairs = []
                self.counts["decided_before_horizon"] += 1
            out += self._resolve(cards, faces, (g_cards, g_faces), unshare(r, shared))
            done.update(g_cards + [len(cards) + f for f in g_faces])
        self._cards = [c for i, c in enumerate(cards) if i < n_live_cards and i not in done]
        self._faces = [f for i, f in enumerate(faces) if i < n_live_faces and len(cards) + i not in done]
        self._ghost_cards = [
            c for i, c in enumerate(cards) if i in ghosts or (i >= n_live_cards and i not in done)
        ]
        self._ghost_faces = [
            f
            for i, f in enumerate(faces)
            if len(cards) + i in ghosts or (i >= n_live_faces and len(cards) + i not in done)
        ]
        return sorted(out, key=lambda p: p.t_mono)

    def _maybe_shared(
        self, cards: list[IdScan], faces: list[PassengerMeasurement], edges: set[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        """(card, face) where the card fits no face but was read while this face, longer than usual, was in
        view: two people seen as one face (a tailgater), one of whose cards the flow cannot give to it."""
        paired = {c for c, _ in edges}
        typical = statistics.median(self._durations) if len(self._durations) >= TYPICAL_AFTER else None
        return {
            (c, f)
            for c, card in enumerate(cards)
            if c not in paired
            for f, face in enumerate(faces)
            if face.t_first_mono <= card.t_mono <= face.t_last_mono
            and (typical is None or face.t_last_mono - face.t_first_mono > LONG_FACE * typical)
        }

    def _near_misses(
        self, cards: list[IdScan], faces: list[PassengerMeasurement], edges: set[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        """(card, face), neither with a partner, the card just outside the flow's range of the face: probably
        one passenger, a little slower or faster than the flow allows; never paired, both ambiguous."""
        lo, hi = self.flow.lo_s - NEAR_MISS_S, self.flow.hi_s + NEAR_MISS_S
        lone_cards = set(range(len(cards))) - {c for c, _ in edges}
        lone_faces = set(range(len(faces))) - {f for _, f in edges}
        return {
            (c, f)
            for c in lone_cards
            for f in lone_faces
            if lo <= offset_s(cards[c].t_mono, faces[f].t_first_mono, faces[f].t_last_mono) <= hi
        }

    def _resolve(
        self,
        cards: list[IdScan],
        faces: list[PassengerMeasurement],
        group: tuple[list[int], list[int]],
        r: Resolution,
    ) -> list[Passenger]:
        """One group's passengers, as resolved (`r`)."""
        live_c, live_f = len(self._cards), len(self._faces)
        # Ghosts were published when their group was decided.
        r.pairs = [(c, f) for c, f in r.pairs if c < live_c and f < live_f]
        r.ambiguous_cards = [c for c in r.ambiguous_cards if c < live_c]
        r.ambiguous_faces = [f for f in r.ambiguous_faces if f < live_f]
        r.lone_cards = [c for c in r.lone_cards if c < live_c]
        r.lone_faces = [f for f in r.lone_faces if f < live_f]
        if not self.flow.learnt:
            return self._while_learning(cards, faces, group, r)
        self._durations.extend(faces[f].t_last_mono - faces[f].t_first_mono for _, f in r.pairs)
        out = [Passenger(self.lane_id, faces[f], cards[c]) for c, f in r.pairs]
        out += [Passenger(self.lane_id, None, cards[c]) for c in r.lone_cards]
        out += [Passenger(self.lane_id, faces[f], None) for f in r.lone_faces]
        n_cards, n_faces = len(r.ambiguous_cards), len(r.ambiguous_faces)
        why = f"{n_cards} card(s) and {n_faces} face(s) could pair more than one way"
        out += [Passenger(self.lane_id, faces[f], None, why) for f in r.ambiguous_faces]
        out += [Passenger(self.lane_id, None, cards[c], why) for c in r.ambiguous_cards]
        self.counts["joined"] += len(r.pairs)
        self.counts["cards_without_face"] += len(r.lone_cards)
        self.counts["faces_without_card"] += len(r.lone_faces)
        self.counts["ambiguous"] += n_faces
        self.counts["ambiguous_cards"] += n_cards
        return out

    def _while_learning(
        self,
        cards: list[IdScan],
        faces: list[PassengerMeasurement],
        group: tuple[list[int], list[int]],
        r: Resolution,
    ) -> list[Passenger]:
        """`auto` before it has learnt: a lone card and face teach the flow; no face is given a card."""
        g_cards, g_faces = group
        if len(g_cards) == 1 and len(g_faces) == 1 and r.pairs and self.learner is not None:  # walked alone
            face = faces[g_faces[0]]
            learnt = self.learner.add(offset_s(cards[g_cards[0]].t_mono, face.t_first_mono, face.t_last_mono))
            if learnt is not None:
                self.flow = learnt
        why = "the lane's flow is still being learnt"
        paired_cards = r.ambiguous_cards + [c for c, _ in r.pairs]
        paired_faces = r.ambiguous_faces + [f for _, f in r.pairs]
        out = [Passenger(self.lane_id, faces[f], None, why) for f in paired_faces]
        out += [Passenger(self.lane_id, None, cards[c], why) for c in paired_cards]
        out += [Passenger(self.lane_id, faces[f], None) for f in r.lone_faces]
        out += [Passenger(self.lane_id, None, cards[c]) for c in r.lone_cards]
        self.counts["faces_without_card"] += len(r.lone_faces)
        self.counts["cards_without_face"] += len(r.lone_cards)
        self.counts["ambiguous"] += len(paired_faces)
        self.counts["ambiguous_cards"] += len(paired_cards)
        return out
