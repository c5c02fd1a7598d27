"""Lepton UVC (Y16 decoding, refusal of non-radiometric streams) and the visible camera, without hardware;
plus a hardware test that runs only when a PureThermal board is attached."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from drivers.items import SensorTelemetry, ThermalFrame, VisibleFrame
from drivers.thermal.lepton_uvc import (
    LeptonUvcConfig,
    LeptonUvcDevice,
    NotRadiometric,
    decode_y16,
    encode_telemetry,
    find_purethermal,
)
from drivers.visible_camera import VisibleCameraConfig, VisibleCameraDevice, backend_for

pytestmark = pytest.mark.timeout(60)


def y16_scene(
    rows: int = 120, cols: int = 160, temp_c: float = 25.0, resolution_k: float = 0.01
) -> np.ndarray:
    centi = np.full((rows, cols), round((temp_c + 273.15) / resolution_k), dtype=np.uint16)
    centi[10:20, 30:40] = round((37.0 + 273.15) / resolution_k)
    return centi


def test_decode_y16_kelvin_times_100() -> None:
    image = decode_y16(y16_scene())
    assert image.temps_c.shape == (120, 160) and image.temps_c.dtype == np.float32
    assert float(image.temps_c[0, 0]) == pytest.approx(25.0, abs=0.006)
    assert float(image.temps_c.max()) == pytest.approx(37.0, abs=0.006)


def test_decode_y16_low_gain_resolution() -> None:
    image = decode_y16(y16_scene(resolution_k=0.1), resolution_k=0.1)
    assert float(image.temps_c.max()) == pytest.approx(37.0, abs=0.06)


def test_telemetry_rows_are_stripped() -> None:
    frame = np.vstack([y16_scene(), np.full((2, 160), 0xFFFF, dtype=np.uint16)])  # telemetry is not image
    image = decode_y16(frame)
    assert image.temps_c.shape == (120, 160)
    assert float(image.temps_c.max()) == pytest.approx(37.0, abs=0.006)


def test_lepton_25_frames() -> None:
    assert decode_y16(y16_scene(60, 80)).temps_c.shape == (60, 80)


def test_raw_byte_row_from_older_opencv_is_reinterpreted() -> None:
    raw = y16_scene().astype("<u2").tobytes()
    image = decode_y16(np.frombuffer(raw, dtype=np.uint8).reshape(1, -1))
    assert float(image.temps_c.max()) == pytest.approx(37.0, abs=0.006)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((120, 160, 3), dtype=np.uint8), "3-channel uint8 video, not Y16"),
        (np.zeros((120, 160), dtype=np.uint8), "uint8 pixels, not 16-bit"),
        (np.full((120, 160), 8000, dtype=np.uint16), "non-radiometric Lepton 3.0"),  # raw counts, TLinear off
        (np.full((100, 100), 30000, dtype=np.uint16), "unexpected Y16 frame size 100×100"),
    ],
)
def test_non_radiometric_streams_are_refused_with_a_clear_error(frame: np.ndarray, message: str) -> None:
    with pytest.raises(NotRadiometric, match=message):
        decode_y16(frame)


class FakeCapture:
    def __init__(self, frames: list[Any]) -> None:
        self.frames = frames
        self.released = False

    def read(self) -> tuple[bool, Any]:
        time.sleep(0.01)
        return (True, self.frames[0]) if self.frames else (False, None)

    def release(self) -> None:
        self.released = True


def run_for(device: Any, seconds: float) -> list[Any]:
    got: list[Any] = []
    stop = threading.Event()
    thread = threading.Thread(target=device.run, args=(stop, got.append))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    return got


def test_lepton_device_emits_frames_from_a_radiometric_stream() -> None:
    capture = FakeCapture([y16_scene()])
    device = LeptonUvcDevice(
        "lane.thermal",
        LeptonUvcConfig(type="lepton_uvc"),
        opener=lambda port: capture,
        locate=lambda: "/dev/x",
    )
    got = run_for(device, 0.3)
    assert got and all(isinstance(x, ThermalFrame) for x in got)
    assert [x.seq for x in got] == list(range(1, len(got) + 1))
    assert capture.released and device.state == "stopped"


def test_lepton_device_refuses_colour_video_and_reports_failed() -> None:
    device = LeptonUvcDevice(
        "lane.thermal",
        LeptonUvcConfig(type="lepton_uvc"),
        opener=lambda port: FakeCapture([np.zeros((120, 160, 3), np.uint8)]),
        locate=lambda: "/dev/x",
    )
    got: list[Any] = []
    stop = threading.Event()
    thread = threading.Thread(target=device.run, args=(stop, got.append))
    thread.start()
    time.sleep(0.3)
    status = device.status()
    stop.set()
    thread.join(timeout=5)
    assert got == []
    assert status["state"] == "failed" and "not Y16" in status["last_error"]


def test_lepton_auto_without_a_camera_reports_what_is_missing() -> None:
    device = LeptonUvcDevice("t", LeptonUvcConfig(type="lepton_uvc"), locate=lambda: None)
    run_for(device, 0.2)
    assert "no PureThermal camera (USB 1e4e:0100)" in (device.last_error or "")


def test_find_purethermal_matches_vid_pid_in_sysfs(tmp_path: Path) -> None:
    usb = tmp_path / "devices" / "usb1" / "1-1"
    (usb / "1-1:1.0" / "video4linux").mkdir(parents=True)
    (usb / "idVendor").write_text("1e4e\n")
    (usb / "idProduct").write_text("0100\n")
    other = tmp_path / "devices" / "usb1" / "1-2"
    (other / "1-2:1.0").mkdir(parents=True)
    (other / "idVendor").write_text("046d\n")
    (other / "idProduct").write_text("0825\n")
    sysfs = tmp_path / "class"
    for name, parent, index in (("video0", other / "1-2:1.0", "0"), ("video2", usb / "1-1:1.0", "0")):
        (sysfs / name).mkdir(parents=True)
        (sysfs / name / "device").symlink_to(parent)
        (sysfs / name / "index").write_text(index)
    (sysfs / "video3").mkdir()
    (sysfs / "video3" / "device").symlink_to(usb / "1-1:1.0")
    (sysfs / "video3" / "index").write_text("1")  # the metadata node of the same camera
    assert find_purethermal(sysfs) == "/dev/video2"
    assert find_purethermal(tmp_path / "missing") is None


@pytest.mark.hardware
def test_real_purethermal_delivers_radiometric_frames() -> None:
    port = find_purethermal()
    if port is None:
        pytest.skip("no PureThermal (1e4e:0100) attached")
    device = LeptonUvcDevice("hw", LeptonUvcConfig(type="lepton_uvc", port=port))
    got = run_for(device, 3.0)
    assert got, device.status()
    assert -20.0 < float(np.median(got[-1].temps_c)) < 60.0


# ---- visible camera -----------------------------------------------------------------------------------


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "lane.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    for i in range(5):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, :, 2] = 40 * i
        writer.write(frame)
    writer.release()
    return path


def test_backend_choice() -> None:
    assert backend_for("/dev/video0") == "v4l2"
    assert backend_for("rtsp://cam.local/stream") == "ffmpeg"
    assert backend_for("/srv/lane.mp4") == "ffmpeg"
    assert backend_for("2") == "index"


def test_visible_camera_reads_a_video_file_and_loops(video_file: Path) -> None:
    config = VisibleCameraConfig(type="visible_camera", port=str(video_file), loop_file=True)
    got = run_for(VisibleCameraDevice("lane.visible", config), 0.5)
    assert len(got) > 5  # more frames than the file holds: it looped
    assert all(isinstance(x, VisibleFrame) and x.bgr.shape == (48, 64, 3) for x in got)


def test_visible_camera_missing_source_is_reported(tmp_path: Path) -> None:
    config = VisibleCameraConfig(type="visible_camera", port=str(tmp_path / "nope.mp4"))
    device = VisibleCameraDevice("lane.visible", config)
    run_for(device, 0.2)
    assert "does not exist" in (device.last_error or "")


def test_lepton_telemetry_is_decoded_not_discarded() -> None:
    sent = SensorTelemetry(
        ffc_state="in_progress",
        ffc_desired=True,
        uptime_s=123.456,
        frame_counter=70001,
        fpa_temp_c=31.5,
        scene_emissivity=0.98,
        background_temp_c=22.0,
    )
    frame = np.vstack([y16_scene(), encode_telemetry(sent)])
    image = decode_y16(frame, resolution_k=0.1)  # the camera's own resolution word (0.01 K) wins
    assert image.temps_c.shape == (120, 160)
    assert float(image.temps_c.max()) == pytest.approx(37.0, abs=0.006)
    got = image.telemetry
    assert got is not None
    assert got.ffc_state == "in_progress" and got.ffc_desired and not got.shutter_lockout
    assert got.uptime_s == pytest.approx(123.456) and got.frame_counter == 70001
    assert got.fpa_temp_c == pytest.approx(31.5, abs=0.01)
    assert got.scene_emissivity == pytest.approx(0.98, abs=1e-3)
    assert got.background_temp_c == pytest.approx(22.0, abs=0.01)
    for state in ("never", "imminent", "complete"):
        rows = encode_telemetry(SensorTelemetry(ffc_state=state, shutter_lockout=True))
        telemetry = decode_y16(np.vstack([y16_scene(), rows])).telemetry
        assert telemetry is not None and telemetry.ffc_state == state and telemetry.shutter_lockout
