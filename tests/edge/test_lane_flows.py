"""Card↔face joining by the lane's flow, on recorded timelines: each flow × each irregular passenger.

The febrile passenger's face leaves with their own card or with none (ambiguous); no face ever leaves with
another passenger's card; the passengers after the irregular one pair correctly again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.flows import LEARN_SAMPLES, FlowLearner, configured_flow, flow_offsets_error
from edge.passengers import Passenger, PassengerJoiner
from tests.edge.timelines import GAP_S, faces_of, irregular, owner_of_card, regular, replay, wrong_person

FLOWS = ("card_then_face", "face_then_card", "card_while_in_view")
CASES = ("no_card", "no_face", "double_read", "tailgating", "tailgating_two_faces", "turning_back")


def joiner(flow: str, learner: FlowLearner | None = None) -> PassengerJoiner:
    return PassengerJoiner(
        "lane-1", configured_flow(flow, None), GAP_S, repeat_suppress_s=3.0, learner=learner
    )


def assert_joined(out: list[Passenger], owner: int) -> None:
    (p,) = faces_of(out, owner)
    assert owner_of_card(p) == owner and not p.ambiguous, (owner, owner_of_card(p), p.ambiguous)


def assert_own_or_ambiguous(out: list[Passenger], owner: int) -> None:
    for p in faces_of(out, owner):
        assert owner_of_card(p) in (owner, None)
        if owner_of_card(p) is None:
            assert p.ambiguous or not any(c.scan and owner_of_card(c) == owner for c in out if c.measurement)


def test_issue_case_card_first_second_passenger_without_card() -> None:
    out = replay(irregular("card_then_face", "no_card"), joiner("card_then_face"))
    assert_joined(out, 3)  # it carried passenger 4's ID with the greedy joiner


def test_issue_case_face_first_second_passenger_walked_round_the_camera() -> None:
    out = replay(irregular("face_then_card", "no_face"), joiner("face_then_card"))
    assert_joined(out, 3)  # it carried passenger 2's ID with the greedy joiner
    (lone,) = [p for p in out if p.measurement is None]
    assert owner_of_card(lone) == 1 and not lone.ambiguous


@pytest.mark.parametrize("flow", FLOWS)
def test_regular_passengers_all_join(flow: str) -> None:
    j = joiner(flow)
    out = replay(regular(flow), j)
    for owner in range(6):
        assert_joined(out, owner)
    assert j.counts["joined"] == 6 and j.pending() == 0


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("flow", FLOWS)
def test_irregular_passenger_never_gives_a_face_another_persons_card(flow: str, case: str) -> None:
    j = joiner(flow)
    out = replay(irregular(flow, case, who=1), j)
    assert wrong_person(out) == []
    for owner in (0, 2, 3, 4, 5):  # the febrile one (3) and everyone after pair correctly
        assert_joined(out, owner)
    assert_own_or_ambiguous(out, 1)
    assert_own_or_ambiguous(out, 101)
    assert j.pending() == 0


@pytest.mark.parametrize("flow", FLOWS)
def test_febrile_irregular_passenger_is_ambiguous_rather_than_someone_else(flow: str) -> None:
    tl = irregular(flow, "tailgating", who=3)
    out = replay(tl, joiner(flow))
    (febrile,) = faces_of(out, 3)
    assert febrile.scan is None and febrile.ambiguous
    # Both cards of the pair still leave as passengers (a watch-listed one can raise its hold).
    assert sorted(owner_of_card(p) for p in out if p.measurement is None) == [3, 103]
    assert all(p.ambiguous for p in out if p.measurement is None)
    assert_joined(out, 4)


@pytest.mark.parametrize("flow", FLOWS)
def test_a_card_read_twice_is_one_read(flow: str) -> None:
    j = joiner(flow)
    out = replay(irregular(flow, "double_read", who=2), j)
    assert_joined(out, 2)
    assert j.counts["card_repeats"] == 1 and j.counts["cards_without_face"] == 0


@pytest.mark.parametrize("flow", FLOWS)
def test_counts_per_outcome(flow: str) -> None:
    j = joiner(flow)
    tl = irregular(flow, "no_card", who=1)
    tl.faces = [f for f in tl.faces if f[0] != 4]  # and passenger 4 walked round the camera
    replay(tl, j)
    assert {k: v for k, v in j.counts.items() if v} == {
        "joined": 4,
        "faces_without_card": 1,
        "cards_without_face": 1,
    }


def test_a_face_between_two_candidate_cards_is_ambiguous() -> None:
    tl = regular("card_while_in_view", count=1)
    tl.cards = [(0, 0.1), (7, 0.7)]  # two different cards while one face is in view
    out = replay(tl, joiner("card_while_in_view"))
    (face,) = faces_of(out, 0)
    assert face.scan is None and "could pair more than one way" in face.ambiguous


def test_nothing_is_decided_before_the_horizon() -> None:
    """face_then_card: a face waits until its card can no longer arrive, then takes the one that did."""
    j = joiner("face_then_card")
    tl = regular("face_then_card", count=1)
    (m_owner, first, last) = tl.faces[0]
    from tests.edge.timelines import card, measurement

    j.add_measurement(measurement(m_owner, first, last, False))
    assert j.advance(last + GAP_S) == []
    j.add_scan(card(0, last + 0.6))
    assert j.advance(last + 2.0) == []  # another card could still come within the flow's 2.5 s
    (p,) = j.advance(last + 2.6)
    assert owner_of_card(p) == 0


def test_a_face_still_in_view_holds_a_card_that_could_be_its_own() -> None:
    j = joiner("card_then_face")
    from tests.edge.timelines import card

    j.add_scan(card(0, 10.0))
    assert j.advance(12.0, in_view_since=11.0) == []  # that face may be the card's, once it has left
    (p,) = j.advance(14.0, in_view_since=None)  # nobody came within 2.5 s
    assert p.measurement is None and owner_of_card(p) == 0 and not p.ambiguous


@pytest.mark.parametrize("flow", FLOWS)
def test_auto_names_nobody_until_it_has_learnt_then_behaves_as_the_flow(flow: str, tmp_path: Path) -> None:
    learner = FlowLearner(tmp_path / "flow-lane-1.json")
    j = PassengerJoiner("lane-1", configured_flow("auto", None), GAP_S, learner=learner)
    # The commissioning walk: LEARN_SAMPLES passengers alone in the lane, 10 s apart.
    out = replay(regular(flow, count=LEARN_SAMPLES, spacing_s=10.0), j)
    assert all(p.scan is None for p in out if p.measurement is not None)
    assert all(p.ambiguous for p in out)
    assert j.flow.name == flow and j.flow.learnt
    saved = json.loads((tmp_path / "flow-lane-1.json").read_text())
    assert saved["flow"] == flow and len(saved["samples"]) == LEARN_SAMPLES
    # Then the issue's rush with an irregular passenger: as if the flow had been configured.
    for later_s, case in ((200.0, "no_card"), (300.0, "no_face")):
        out = replay(irregular(flow, case, who=1), j, later_s)
        assert wrong_person(out) == []
        for owner in (3, 4, 5):
            assert_joined(out, owner)
    # A restart keeps what was learnt.
    assert FlowLearner(tmp_path / "flow-lane-1.json").load() == j.flow


def test_auto_in_a_busy_lane_never_guesses(tmp_path: Path) -> None:
    """At 3 s spacing nobody walks alone: nothing is learnt and no face gets a card."""
    j = PassengerJoiner(
        "lane-1", configured_flow("auto", None), GAP_S, learner=FlowLearner(tmp_path / "f.json")
    )
    out = replay(regular("card_then_face", count=12), j)
    assert not j.flow.learnt and not (tmp_path / "f.json").exists()
    assert [p for p in out if p.measurement is not None and p.scan is not None] == []
    assert j.counts["ambiguous"] == 12


@pytest.mark.parametrize(
    "content",
    ["not json", '{"flow": "auto", "card_offset_s": [-1, 1]}', '{"flow": "card_then_face"}', "x" * 5000],
)
def test_a_damaged_learnt_flow_is_learnt_again(tmp_path: Path, content: str) -> None:
    path = tmp_path / "flow.json"
    path.write_text(content)
    learner = FlowLearner(path)
    assert learner.load() is None and learner.errors == 1


@pytest.mark.parametrize(
    ("flow", "offsets", "ok"),
    [
        ("card_then_face", (-2.0, -0.2), True),
        ("card_then_face", (0.1, 1.0), False),
        ("face_then_card", (-1.0, -0.1), False),
        ("card_while_in_view", (0.1, 0.5), False),
        ("card_while_in_view", (0.5, -0.5), False),
        ("auto", (-1.0, 1.0), False),
        ("auto", None, True),
    ],
)
def test_configured_offsets_must_fit_the_flow(
    flow: str, offsets: tuple[float, float] | None, ok: bool
) -> None:
    assert (flow_offsets_error(flow, offsets) is None) == ok


def test_an_ambiguous_watch_listed_card_still_raises_its_hold() -> None:
    import datetime as dt

    from drivers.items import IdDocument
    from edge.rules import RulesSettings, decide
    from edge.statistics import passenger_counts
    from tests.edge.timelines import card, measurement

    why = "2 card(s) and 1 face(s) could pair more than one way"
    doc = IdDocument("cn_resident_id", "P7")
    common = {"key_regions": [], "rules": RulesSettings(), "today": dt.date(2026, 1, 1)}
    held = decide(None, doc, "h7", watch_actions={"h7": "hold"}, identity_ambiguous=why, **common)  # type: ignore[arg-type]
    assert held.category == "hold" and [r.code for r in held.reasons] == ["watch_list", "identity_ambiguous"]
    # An ambiguous card with nothing against it is counted, not alerted: its face's alert sends them over.
    assert decide(None, doc, "h8", watch_actions={}, identity_ambiguous=why, **common).category == "clear"  # type: ignore[arg-type]
    face = decide(
        measurement(0, 1.0, 1.5, False), None, None, watch_actions={}, identity_ambiguous=why, **common
    )  # type: ignore[arg-type]
    assert face.category == "recheck" and [r.code for r in face.reasons] == ["identity_ambiguous"]
    counts = passenger_counts(Passenger("lane-1", measurement(0, 1.0, 1.5, False), None, why))
    assert counts["ambiguous"] == 1 and counts["faces_without_card"] == 0 and counts["joined"] == 0
    counts = passenger_counts(Passenger("lane-1", None, card(7, 1.0), why))
    assert counts["cards_without_face"] == 0 and counts["scans"] == 1


def test_pairing_prefers_the_answer_with_most_regular_passengers_only_when_it_is_the_only_one() -> None:
    from edge.pairing import resolve

    # A chain C0-F0, C1-F0, C1-F1: one largest answer (C0F0, C1F1).
    r = resolve([0, 1], [0, 1], {(0, 0), (1, 0), (1, 1)})
    assert sorted(r.pairs) == [(0, 0), (1, 1)] and not r.ambiguous_faces
    # Two cards, two faces, every pair possible: two largest answers, all ambiguous.
    r = resolve([0, 1], [0, 1], {(0, 0), (0, 1), (1, 0), (1, 1)})
    assert r.pairs == [] and sorted(r.ambiguous_faces) == [0, 1] and sorted(r.ambiguous_cards) == [0, 1]


@pytest.mark.parametrize(
    ("flow", "offsets"), [("card_then_face", (-1.5, -0.2)), ("face_then_card", (0.2, 1.0))]
)
def test_two_people_seen_as_one_face_are_never_named_by_one_card(
    flow: str, offsets: tuple[float, float]
) -> None:
    """A tailgater merges with the passenger ahead into one long face; in an ordered flow one of the two cards
    is read while that face is in view, where the flow lets it pair with nothing."""
    from edge.flows import LaneFlow

    tl = regular(flow, count=14)  # 10 ordinary passengers first: the lane knows how long a face usually lasts
    tl.faces = [f for f in tl.faces if f[0] not in (10, 11)] + [(10, 30.0, 31.6)]  # 10 and 11 as one face
    tl.cards = [c for c in tl.cards if c[0] not in (10, 11)]
    if flow == "card_then_face":
        tl.cards += [(10, 29.4), (11, 30.2)]  # 11's card while 10 is in view, 0.6 s before 11 shows
    else:
        tl.cards += [(10, 31.4), (11, 32.2)]  # 10's card 0.6 s after 10 left, while 11 is in view
    j = PassengerJoiner("lane-1", LaneFlow(flow, *offsets), GAP_S)
    out = replay(tl, j)
    assert wrong_person(out) == []
    (merged,) = faces_of(out, 10)
    assert merged.scan is None and merged.ambiguous
    for owner in (0, 9, 12, 13):
        assert_joined(out, owner)
    # A card read during an ordinary face, that fits no face (its owner walked round the camera), is alone.
    tl = regular(flow, count=14)
    tl.faces = [f for f in tl.faces if f[0] != 11]
    tl.cards = [c if c[0] != 11 else (11, 30.4) for c in tl.cards]  # read while 10 is in view
    out = replay(tl, PassengerJoiner("lane-1", LaneFlow(flow, *offsets), GAP_S))
    assert_joined(out, 10)
    (lone,) = [p for p in out if p.measurement is None]
    assert owner_of_card(lone) == 11 and not lone.ambiguous


@pytest.mark.parametrize(
    ("flow", "offsets", "late_s"),
    [("card_then_face", (-1.5, -0.2), -0.5), ("face_then_card", (0.2, 1.0), 0.6)],
)
def test_a_card_just_outside_the_range_is_a_near_miss_not_an_anonymous_face(
    flow: str, offsets: tuple[float, float], late_s: float
) -> None:
    """A passenger slower than the flow allows (their card 0.2 s beyond the range): the face goes to the
    operator as identity_ambiguous, not as someone anonymous; the others still join."""
    from edge.flows import LaneFlow

    tl = regular(flow)  # cards 1.2 s before / 0.6 s after the face
    tl.cards = [(who, t + (late_s if who == 3 else 0.0)) for who, t in tl.cards]
    out = replay(tl, PassengerJoiner("lane-1", LaneFlow(flow, *offsets), GAP_S))
    assert wrong_person(out) == []
    (febrile,) = faces_of(out, 3)
    assert febrile.scan is None and febrile.ambiguous
    (card,) = [p for p in out if p.measurement is None]
    assert owner_of_card(card) == 3 and card.ambiguous
    for owner in (0, 1, 2, 4, 5):
        assert_joined(out, owner)


def test_something_in_view_for_a_long_time_does_not_hold_cards_back() -> None:
    from tests.edge.timelines import card

    j = joiner("card_while_in_view")
    j.add_scan(card(0, 10.0))
    assert j.advance(12.0, in_view_since=5.0) == []  # the face in view since 5 s may be the card's
    (p,) = j.advance(30.0, in_view_since=5.0)  # in view for 25 s: not a passenger to wait for
    assert owner_of_card(p) == 0 and p.measurement is None
