"""Hostile input never gives a traceback: a clean error naming where and why, and the service carries on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.contract import validate
from edge.statistics import StatisticsPublisher
from tests.edge.test_config import MINIMAL, run_cli, write


@pytest.mark.parametrize(
    "toml",
    [
        "deep = " + "[" * 5000 + "]" * 5000,
        "deep = " + "{a = " * 5000 + "1" + "}" * 5000,
    ],
)
def test_toml_nested_5000_deep_is_a_clean_config_error(tmp_path: Path, toml: str) -> None:
    result = run_cli("check-config", str(write(tmp_path, MINIMAL + toml + "\n")))
    assert result.returncode == 78
    assert "nested too deeply" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("extra", "key_path"),
    [
        ("[screening]\nmeasurement_zone = [0.0, nan, 1.0, 1.0]\n", "screening.measurement_zone[1]"),
        (
            "[screening.registration]\nhomography = [[1.0, 0.0, 0.0], [0.0, inf, 0.0], [0.0, 0.0, 1.0]]\n",
            "screening.registration.homography[1][1]",
        ),
        ("[screening]\nthreshold_c = nan\n", "screening.threshold_c"),
    ],
)
def test_non_finite_numbers_are_refused_with_their_key_path(
    tmp_path: Path, extra: str, key_path: str
) -> None:
    result = run_cli("check-config", str(write(tmp_path, MINIMAL + extra)))
    assert result.returncode == 78, result.stdout
    assert f"{key_path}: must be a finite number" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_200000_character_csv_field_is_a_clean_error(tmp_path: Path) -> None:
    csv = tmp_path / "huge.csv"
    csv.write_text("a,b\nc,d\nSubjectID,aveOralM,T_Max1\n1," + "9" * 200_000 + ",36\n")
    result = run_cli("model", "evaluate", "--camera", "FLIR", str(csv))
    assert result.returncode != 0
    assert "field larger than field limit" in result.stderr and "line 4" in result.stderr
    assert "Traceback" not in result.stderr


class ListOutbox:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def append(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        stamped = {**payload, "message_id": f"00000000-0000-4000-8000-{len(self.rows):012d}", "seq": 1}
        self.rows.append(stamped)
        return stamped


def test_a_backward_clock_step_never_publishes_an_interval_ending_before_it_starts() -> None:
    wall, mono = [1_800_000_030.0], [1000.0]
    outbox = ListOutbox()
    stats = StatisticsPublisher(
        "bj-south", "gate-03", ["lane-1"], outbox, clock=lambda: wall[0], monotonic=lambda: mono[0]
    )  # type: ignore[arg-type]
    wall[0] += 10.0
    mono[0] += 10.0
    stats.tick()
    assert outbox.rows == []  # 10 s into the minute: nothing ends yet
    wall[0] -= 3600.0  # NTP steps the clock back an hour
    mono[0] += 1.0
    stats.tick()
    stepped = [r for r in outbox.rows if r["interval"] == "minute"]
    assert len(stepped) == 1 and stepped[0]["clock_stepped"] is True
    assert stepped[0]["interval_start_utc"] < stepped[0]["interval_end_utc"]  # as measured: 11 s
    assert stats.clock_steps == 2  # the minute and the hour intervals
    for _ in range(70):  # time goes on at the new wall time
        wall[0] += 1.0
        mono[0] += 1.0
        stats.tick()
    stats.flush()
    for row in outbox.rows:
        assert row["interval_start_utc"] <= row["interval_end_utc"], row
        validate("stats", row)
    normal = [r for r in outbox.rows if r["interval"] == "minute" and "clock_stepped" not in r]
    assert normal and normal[0]["interval_end_utc"].endswith(":00Z")  # back on minute boundaries
