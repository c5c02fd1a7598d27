"""Must-show 2: `checkpoint-edge model evaluate --camera {FLIR,ICI} CSV` prints one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.screening.dataset import load_csv, parse_csv_text
from edge.screening.model_cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "thermography"
KEYS = {"n", "bias", "mae", "rmse", "se37_5", "sp37_5", "se38_0", "sp38_0", "skipped", "unit", "subjects"}
THRESHOLD_KEYS = {"threshold", "se_at_threshold", "sp_at_threshold", "flagged_fraction"}


@pytest.mark.parametrize("camera", ["FLIR", "ICI"])
def test_evaluate_prints_one_json_line_with_the_specified_keys(
    camera: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "evaluate", "--camera", camera, str(SAMPLES / f"{camera}_sample.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) == KEYS
    # Single-pass by default: each round 1-3 of the 60 subjects is one passenger; round 4 never scored.
    parsed = load_csv(str(SAMPLES / f"{camera}_sample.csv"))
    assert result["unit"] == "capture" and result["subjects"] == 60 and result["skipped"] == 0
    assert result["n"] == sum(len(s.single_pass_frames()) for s in parsed.subjects)
    assert result["n"] == sum(1 for s in parsed.subjects for r in s.rounds if r != 4) > 120
    assert abs(result["bias"]) < 0.15
    assert 0.05 < result["mae"] < 0.35
    assert result["rmse"] >= result["mae"]
    for key in ("se37_5", "sp37_5", "sp38_0"):
        assert 0.0 <= result[key] <= 1.0


def test_threshold_adds_the_operating_point_figures(capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(SAMPLES / "FLIR_sample.csv")
    assert main(["model", "evaluate", "--camera", "FLIR", sample, "--threshold", "37.3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == KEYS | THRESHOLD_KEYS and result["threshold"] == 37.3
    assert 0.0 < result["flagged_fraction"] < 0.3  # not a third of the passengers
    # Truth is oral >= 37.3: recompute specificity and the flagged fraction from the capture count.
    parsed = load_csv(sample)
    truth = [s.oral_c for s in parsed.subjects for _ in s.single_pass_frames()]
    negatives = sum(t < 37.3 for t in truth)
    flagged = round(result["flagged_fraction"] * len(truth))
    false_alarms = round((1.0 - result["sp_at_threshold"]) * negatives)
    hits = round(result["se_at_threshold"] * (len(truth) - negatives))
    assert flagged == false_alarms + hits
    # The figures at 37.5 are those of a run at 37.5.
    assert main(["model", "evaluate", "--camera", "FLIR", sample, "--threshold", "37.5"]) == 0
    at_375 = json.loads(capsys.readouterr().out)
    assert (at_375["se_at_threshold"], at_375["sp_at_threshold"]) == (at_375["se37_5"], at_375["sp37_5"])


def test_a_threshold_outside_the_table_is_refused_naming_the_range(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = str(SAMPLES / "FLIR_sample.csv")
    for bad in ("37.25", "38.5", "36.0"):
        assert main(["model", "evaluate", "--camera", "FLIR", sample, "--threshold", bad]) == 2
        assert "36.5-38.0 °C in 0.1 °C steps" in capsys.readouterr().err


def test_subject_unit_scores_rounds_one_to_three_together(capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(SAMPLES / "ICI_sample.csv")
    assert main(["model", "evaluate", "--camera", "ICI", "--unit", "subject", sample]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["unit"] == "subject" and result["n"] == result["subjects"] == 60


def test_malformed_rows_are_skipped_and_counted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "evaluate", "--camera", "FLIR", str(SAMPLES / "FLIR_malformed.csv")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["skipped"] == 4
    assert result["subjects"] == 2


def test_a_file_that_is_not_the_dataset_format_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["model", "evaluate", "--camera", "FLIR", str(bad)]) == 2


def test_reader_turns_rounds_into_frames_and_rejects_implausible_sensor_values() -> None:
    parsed = load_csv(str(SAMPLES / "FLIR_sample.csv"))
    first = parsed.subjects[0]
    assert first.subject_id == "161117-1"
    assert first.oral_c == pytest.approx(36.59)
    assert len(first.frames) == 4 and first.rounds == (1, 2, 3, 4)
    assert first.single_pass_frames() == first.frames[:3]
    assert first.frames[0].face_max_c == pytest.approx(35.36)
    assert first.frames[0].canthus_max_c == pytest.approx(35.36)
    assert first.frames[3].forehead_max_c == pytest.approx(34.53)
    assert first.ambient_c == pytest.approx(24.0)
    text = (SAMPLES / "FLIR_sample.csv").read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    # The dataset's typos (Humidity 3021.1, Distance 79.0) must not reach the estimator as values.
    header = lines[2].split(",")
    row = lines[3].split(",")
    row[header.index("Humidity")] = "3021.1"
    row[header.index("Distance")] = "79.0"
    (subject,) = parse_csv_text("\n".join([*lines[:3], ",".join(row)])).subjects
    assert subject.humidity_pct is None and subject.distance_m is None
