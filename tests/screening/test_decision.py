from __future__ import annotations

import pytest

from edge.screening.decision import DecisionMaker, DecisionSettings


def test_absolute_threshold_with_margin_and_reasons() -> None:
    d = DecisionMaker(DecisionSettings(), threshold_c=37.3)
    normal = d.decide(37.0, 0.2, 0.0)
    assert normal.status == "normal"
    elevated = d.decide(37.15, 0.2, 1.0)  # below 37.3 but above 37.3 − 0.2
    assert elevated.status == "elevated"
    assert elevated.alarm_at_c == pytest.approx(37.1)
    assert elevated.numbers["core_c"] == 37.15 and elevated.numbers["margin_c"] == 0.2
    assert "37.15" in elevated.reasons[0] and "margin 0.20" in elevated.reasons[0]


def test_a_negative_operating_point_margin_raises_the_alarm_and_says_so() -> None:
    d = DecisionMaker(DecisionSettings(), threshold_c=36.8)
    below = d.decide(36.9, -0.3, 0.0)  # above the threshold, below its operating point 37.1
    assert below.status == "normal" and below.alarm_at_c == pytest.approx(37.1)
    assert "plus operating-point margin 0.30" in below.reasons[0] and "less" not in below.reasons[0]
    assert d.decide(37.1, -0.3, 1.0).status == "elevated"


def test_adaptive_baseline_is_a_trimmed_mean_of_recent_normals_plus_deviation() -> None:
    s = DecisionSettings(policy="adaptive", adaptive_window=5, adaptive_trim=1, adaptive_deviation_c=0.5)
    d = DecisionMaker(s, threshold_c=38.0)
    for i, core in enumerate([36.0, 36.2, 36.4, 36.3, 36.1]):  # trimmed: 36.1, 36.2, 36.3 → 36.2
        assert d.decide(core, 0.0, float(i)).status == "normal"
    flagged = d.decide(36.8, 0.0, 10.0)
    assert flagged.status == "elevated"
    assert flagged.numbers["baseline_c"] == pytest.approx(36.2)
    assert flagged.alarm_at_c == pytest.approx(36.7)


def test_adaptive_baseline_never_alarms_later_than_the_absolute_threshold() -> None:
    s = DecisionSettings(policy="adaptive", adaptive_deviation_c=3.0, adaptive_min_readings=1)
    d = DecisionMaker(s, threshold_c=37.3)
    d.decide(36.9, 0.0, 0.0)
    assert d.decide(37.4, 0.0, 1.0).status == "elevated"


def test_adaptive_baseline_resets_after_idle() -> None:
    s = DecisionSettings(
        policy="adaptive", adaptive_min_readings=3, adaptive_deviation_c=0.3, adaptive_idle_reset_s=60.0
    )
    d = DecisionMaker(s, threshold_c=38.0)
    for i in range(3):
        d.decide(36.0, 0.0, float(i))
    assert d.decide(36.5, 0.0, 3.0).status == "elevated"  # 36.0 + 0.3
    # After an hour without passengers the old crowd no longer judges: back to the absolute threshold.
    assert d.decide(36.5, 0.0, 3600.0).status == "normal"


def test_recheck_asks_for_a_second_measurement_before_referral() -> None:
    d = DecisionMaker(DecisionSettings(recheck=True, recheck_window_s=30.0), threshold_c=37.3)
    first = d.decide(37.6, 0.0, 0.0)
    assert first.status == "recheck"
    confirmed = d.decide(37.5, 0.0, 10.0)
    assert confirmed.status == "elevated"
    assert "confirmed by re-measurement" in confirmed.reasons
    # A first elevated reading followed by a normal one clears the passenger.
    assert d.decide(37.6, 0.0, 100.0).status == "recheck"
    cleared = d.decide(36.8, 0.0, 110.0)
    assert cleared.status == "normal"
    assert any("re-measurement" in r for r in cleared.reasons)
    # A re-check that comes too late is a new first reading.
    assert d.decide(37.6, 0.0, 200.0).status == "recheck"
    assert d.decide(37.6, 0.0, 260.0).status == "recheck"
