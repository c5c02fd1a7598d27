"""The threshold must have an operating point: configuration errors name the valid range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config import ConfigError, validate_config
from edge.screening.estimator import model_path
from edge.screening.operating_points import load_table, parse_table, table_path
from edge.screening.settings import ScreeningSettings

MINIMAL = {
    "site_id": "bj-south",
    "device_id": "gate-03",
    "lanes": [{"id": "lane-1", "thermal": {"type": "gy_mcu90640", "port": "/dev/null"}}],
}


@pytest.mark.parametrize("threshold", [36.5, 37.0, 37.3, 37.5, 38.0])
def test_every_threshold_in_the_table_is_accepted(threshold: float) -> None:
    assert ScreeningSettings(threshold_c=threshold).threshold_c == threshold


@pytest.mark.parametrize("threshold", [36.0, 37.25, 38.5, 39.0])
def test_a_threshold_outside_the_table_is_a_config_error_naming_the_range(threshold: float) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({**MINIMAL, "screening": {"threshold_c": threshold}}, "site.toml")
    (line,) = err.value.errors
    assert line.startswith("screening: threshold_c")
    assert "36.5-38.0 °C in 0.1 °C steps" in line and "FLIR" in line


def test_the_offset_estimator_keeps_the_full_iec_range() -> None:
    assert ScreeningSettings(threshold_c=39.0, estimator="offset").threshold_c == 39.0
    with pytest.raises(ValidationError):
        ScreeningSettings(threshold_c=39.0, estimator="model")


def test_a_missing_table_beside_a_custom_model_is_a_config_error(tmp_path: Path) -> None:
    custom = tmp_path / "my_estimator.onnx"
    custom.write_bytes(model_path("ICI").read_bytes())
    with pytest.raises(ValidationError, match=r"operating-point table .* cannot be read"):
        ScreeningSettings(estimator_path=str(custom), estimator_camera="ICI")
    table_path(custom).write_text(table_path(model_path("ICI")).read_text(encoding="utf-8"), "utf-8")
    assert ScreeningSettings(estimator_path=str(custom), estimator_camera="ICI").threshold_c == 37.3


def test_damaged_tables_are_refused_whole() -> None:
    good = json.loads(table_path(model_path("FLIR")).read_text(encoding="utf-8"))
    assert parse_table(good, "t").margin_c(37.3, "face-max") == good["margin_c"]["face-max"][8]
    gap = {**good, "thresholds_c": [t for t in good["thresholds_c"] if t != 37.0]}
    short = {**good, "margin_c": {**good["margin_c"], "sites": good["margin_c"]["sites"][:-1]}}
    nan = {**good, "margin_c": {**good["margin_c"], "sites": [float("nan")] * 16}}
    for bad in (gap, short, nan, {"camera": "FLIR"}, [1, 2]):
        with pytest.raises(ValueError):
            parse_table(bad, "t")


def test_tables_are_plain_json_beside_each_model() -> None:
    for camera in ("FLIR", "ICI"):
        path = table_path(model_path(camera))
        assert path.parent == model_path(camera).parent and path.suffix == ".json"
        table = load_table(path)
        assert table.camera == camera and "specificity" in table.rule
