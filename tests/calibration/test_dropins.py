"""Calibration drop-ins: merged by lane id, limited to calibration keys, checked by check-config, and applied
to the running service by SIGHUP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge.calibration.dropins import DropInError, merge_dropins
from edge.config import ConfigError, config_hash, load_config, load_config_with_dropins
from edge.screening.scene import Blackbody, Scene, render
from edge.simulation import script_scene
from tests.fakes.checkpoint import SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto
from tests.fakes.service_process import RunningService
from tests.web.test_metrics import scrape, total

REPO = Path(__file__).resolve().parents[2]
BASE = {"site_id": "s", "device_id": "d", "lanes": [{"id": "lane-1"}, {"id": "lane-2"}]}


def test_dropins_merge_by_lane_id_and_touch_only_calibration(tmp_path: Path) -> None:
    (tmp_path / "50-a.toml").write_text('[[lanes]]\nid = "lane-2"\n[lanes.screening]\ncore_offset_c = 0.3\n')
    merged, files = merge_dropins(BASE, tmp_path)
    assert [p.name for p in files] == ["50-a.toml"]
    assert merged["lanes"][1]["screening"] == {"core_offset_c": 0.3} and "screening" not in merged["lanes"][0]
    assert "screening" not in BASE["lanes"][1]  # the main file's data is not changed in place

    (tmp_path / "60-b.toml").write_text('[broker]\nhost = "evil.example"\n')
    with pytest.raises(DropInError, match="only \\[\\[lanes\\]\\] screening"):
        merge_dropins(BASE, tmp_path)
    (tmp_path / "60-b.toml").write_text('[[lanes]]\nid = "lane-9"\n[lanes.screening]\ncore_offset_c = 0.3\n')
    with pytest.raises(DropInError, match="no lane with id 'lane-9'"):
        merge_dropins(BASE, tmp_path)
    (tmp_path / "60-b.toml").write_text('[[lanes]]\nid = "lane-1"\n[lanes.thermal]\nport = "/dev/x"\n')
    with pytest.raises(DropInError, match="may set only screening"):
        merge_dropins(BASE, tmp_path)


def _start_rig(tmp_path: Path, mosquitto: Mosquitto) -> SimulatedCheckpoint:
    return SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=40, febrile=(), key_region=())])


def test_an_invalid_dropin_is_an_error_with_its_key_path(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rig = _start_rig(tmp_path, mosquitto)
    try:
        dropins = tmp_path / "state" / "config.d"
        dropins.mkdir(parents=True)
        (dropins / "50-offset-lane-1.toml").write_text(
            '[[lanes]]\nid = "lane-1"\n[lanes.screening]\ncore_offset_c = 9.0\n'
        )
        with pytest.raises(ConfigError) as caught:
            load_config(rig.config_path)
        assert "50-offset-lane-1.toml" in caught.value.source
        assert any("lanes[0].screening.core_offset_c" in e for e in caught.value.errors), caught.value.errors
    finally:
        rig.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _wait_metric(url: str, predicate, timeout_s: float = 30.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    samples: dict = {}
    while time.monotonic() < deadline:
        samples = scrape(url)
        if predicate(samples):
            return samples
        time.sleep(0.3)
    raise AssertionError(f"metrics never matched: {samples}")


def _running_hash(samples: dict) -> str:
    return next(labels["config_hash"] for labels, _ in samples["checkpoint_edge_info"])


@pytest.mark.slow
def test_each_dropin_passes_check_config_and_sighup_applies_it(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rig = _start_rig(tmp_path, mosquitto)
    # INFO: the listeners' addresses (free ports) are read from the service's log.
    text = rig.config_path.read_text()
    rig.config_path.write_text(text.replace('log_level = "WARNING"', 'log_level = "INFO"'))
    service = RunningService(rig.config_path)
    try:
        url = service.wait_console(1)
        samples = _wait_metric(url, lambda s: "checkpoint_edge_info" in s)
        assert _running_hash(samples) == config_hash(load_config(rig.config_path))
        assert total(samples, "checkpoint_edge_screening_locked_out", lane="lane-1") == 0

        # 1. offset from 12 paired readings.
        readings = tmp_path / "readings.csv"
        rng = np.random.default_rng(1)
        clinical = rng.uniform(36.3, 38.0, 12)
        readings.write_text(
            "appliance_c,clinical_c\n" + "".join(f"{c - 0.3:.2f},{c:.2f}\n" for c in clinical)
        )
        # 2. registration from point pairs of a known homography.
        pairs = tmp_path / "pairs.csv"
        pairs.write_text(
            "".join(
                f"{x},{y},{x * 0.05:.4f},{y * 0.05:.4f}\n" for x in (40, 300, 600) for y in (30, 250, 460)
            )
        )
        # 3. blackbody from frames of a scene with one (the service holds the sensor's port meanwhile).
        frames = tmp_path / "frames.npy"
        scene = Scene(
            width=32, height=24, people=(), blackbody=Blackbody((26, 1, 31, 6), 35.0), supersample=1
        )
        rng = np.random.default_rng(2)
        np.save(frames, np.stack([render(scene, rng).temps_c for _ in range(12)]))

        steps = [
            ("offset", "--readings", str(readings), "offset +0.30 °C"),
            ("registration", "--pairs", str(pairs), "RMS residual"),
            ("blackbody", "--frames-file", str(frames), "blackbody ROI"),
        ]
        for n, (kind, option, path, shown) in enumerate(steps, start=2):
            result = _cli(
                "calibrate", kind, "--config", str(rig.config_path), "--lane", "lane-1", option, path, "--yes"
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert shown in result.stdout and "check-config: OK" in result.stdout
            assert f"reload requested (SIGHUP to pid {service.process.pid})" in result.stdout
            check = _cli("check-config", str(rig.config_path))
            assert check.returncode == 0 and f"50-{kind}-lane-1.toml" in check.stdout, (
                check.stdout + check.stderr
            )

            merged, dropins = load_config_with_dropins(rig.config_path)
            assert len(dropins) == n - 1
            url = service.wait_console(n)  # a reload restarts the listeners (free ports in tests)
            expected_hash = config_hash(merged)
            samples = _wait_metric(url, lambda s, h=expected_hash: _running_hash(s) == h)

        lane = merged.screening_for("lane-1")
        assert lane.core_offset_c == pytest.approx(0.3, abs=0.01)
        assert lane.registration.homography[0][0] == pytest.approx(0.05, abs=1e-6)
        assert lane.reference.enabled and lane.reference.roi == (27, 2, 30, 5)
        # The simulated lane has no blackbody in view: with the reference applied, screening locks out.
        _wait_metric(url, lambda s: total(s, "checkpoint_edge_screening_locked_out", lane="lane-1") == 1)
    finally:
        service.stop()
        rig.close()
    assert service.process.returncode == 0, "".join(service.lines[-20:])


def test_a_dropin_path_that_cannot_be_listed_is_an_error_not_silence(tmp_path: Path) -> None:
    assert merge_dropins(BASE, tmp_path / "absent") == (BASE, [])  # none yet: the usual first start
    (tmp_path / "config.d").write_text("not a directory")
    with pytest.raises(DropInError, match="cannot read the drop-in directory"):
        merge_dropins(BASE, tmp_path / "config.d")


def test_dropins_written_as_root_belong_to_the_state_directory_owner(tmp_path: Path) -> None:
    from edge.calibration.dropins import write_dropin

    if os.geteuid() != 0:
        pytest.skip("needs root to hand files to another owner")
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)  # nobody: stands in for the service user
    path = write_dropin(state / "config.d", "50-offset-lane-1.toml", "# x\n")
    assert path.stat().st_uid == 65534 and (state / "config.d").stat().st_uid == 65534
    assert ((state / "config.d").stat().st_mode & 0o777) == 0o700
