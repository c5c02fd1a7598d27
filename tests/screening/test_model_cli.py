"""Must-show 2: `checkpoint-edge model evaluate --camera {FLIR,ICI} CSV` prints one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.screening.dataset import load_csv, parse_csv_text
from edge.screening.model_cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "thermography"
KEYS = {"n", "bias", "mae", "rmse", "se37_5", "sp37_5", "se38_0", "sp38_0", "skipped"}


@pytest.mark.parametrize("camera", ["FLIR", "ICI"])
def test_evaluate_prints_one_json_line_with_the_specified_keys(
    camera: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "evaluate", "--camera", camera, str(SAMPLES / f"{camera}_sample.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) == KEYS
    assert result["n"] == 60 and result["skipped"] == 0
    assert abs(result["bias"]) < 0.15
    assert 0.05 < result["mae"] < 0.35
    assert result["rmse"] >= result["mae"]
    for key in ("se37_5", "sp37_5", "sp38_0"):
        assert 0.0 <= result[key] <= 1.0


def test_malformed_rows_are_skipped_and_counted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "evaluate", "--camera", "FLIR", str(SAMPLES / "FLIR_malformed.csv")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["skipped"] == 4
    assert result["n"] == 2


def test_a_file_that_is_not_the_dataset_format_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["model", "evaluate", "--camera", "FLIR", str(bad)]) == 2


def test_reader_turns_rounds_into_frames_and_rejects_implausible_sensor_values() -> None:
    parsed = load_csv(str(SAMPLES / "FLIR_sample.csv"))
    first = parsed.subjects[0]
    assert first.subject_id == "161117-1"
    assert first.oral_c == pytest.approx(36.59)
    assert len(first.frames) == 4
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
