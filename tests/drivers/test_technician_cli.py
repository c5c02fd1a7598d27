"""`checkpoint-edge ports | probe | read | simulate`, driven through their handlers and, for `simulate`, as a
real subprocess whose printed port is then read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import serial

from drivers import technician_cli
from drivers.sim.gy_mcu8833_sim import GyMcu8833Simulator
from drivers.sim.gy_mcu90640_sim import GyMcu90640Simulator
from drivers.sim.mrz_reader_sim import SPECIMENS, MrzReaderSimulator
from drivers.sim.sam_reader_sim import SamReaderSimulator
from tests.drivers.test_pty_devices import CARD, simulated, small_scene, thermal_scene

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_read_help_lists_the_config_type_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        technician_cli.main(["read", "--help"])
    out = capsys.readouterr().out
    for name in ("gy_mcu90640", "gy_mcu8833", "lepton_uvc", "visible_camera", "sam_id_reader", "mrz_reader"):
        assert name in out
    assert "barcode_scanner" in out


def test_read_decodes_a_corrupted_gy_mcu90640_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=tmp_path / "port", seed=3)
    sim.faults.corrupt_probability = 0.4
    with simulated(sim):
        code = technician_cli.main(
            ["read", "gy_mcu90640", sim.port, "--count", "6", "--baudrate", "460800", "--set", "rate_hz=8"]
        )
    assert code == 0
    records = json_lines(capsys.readouterr().out)
    frames = [r for r in records if r["type"] == "frame"]
    assert len(frames) == 6
    assert [f["seq"] for f in frames] == [1, 2, 3, 4, 5, 6]
    for f in frames:
        assert f["shape"] == [24, 32] and f["ambient_c"] == 28.5
        assert (f["min_c"], f["max_c"]) == (24.0, 37.8)
    rejected = [r for r in records if r["type"] == "rejected"]
    assert rejected and {r["reason"] for r in rejected} <= {"checksum", "no_header"}
    assert all(r["bytes"] > 0 for r in rejected)
    assert records[-1]["type"] == "summary" and records[-1]["items"] == 6


def test_read_decodes_a_sam_reader_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with simulated(SamReaderSimulator(lambda: CARD, link_path=tmp_path / "port")) as sim:
        code = technician_cli.main(
            ["read", "sam_id_reader", sim.port, "--count", "1", "--set", "poll_interval_s=0.05"]
        )
    assert code == 0
    (scan,) = [r for r in json_lines(capsys.readouterr().out) if r["type"] == "scan"]
    # Masked by default: a technician's screen is seen by passers-by.
    assert scan["doc_type"] == "cn_resident_id" and scan["number"] == "990000************"
    assert (scan["name"], scan["birth_date"], scan["sex"], scan["region"]) == (
        "测*",
        "2000-**-**",
        "M",
        "990000",
    )
    assert (scan["valid"], scan["failed_check"], scan["expiry"]) == (True, None, "2030-01-01")

    with simulated(SamReaderSimulator(lambda: CARD, link_path=tmp_path / "port2")) as sim:
        code = technician_cli.main(
            [
                "read",
                "sam_id_reader",
                sim.port,
                "--count",
                "1",
                "--set",
                "poll_interval_s=0.05",
                "--show-personal",
            ]
        )
    (scan,) = [r for r in json_lines(capsys.readouterr().out) if r["type"] == "scan"]
    assert (scan["number"], scan["name"], scan["birth_date"]) == ("990000200001020018", "测试", "2000-01-02")


def test_read_decodes_mrz_lines_including_a_bad_check_digit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = (SPECIMENS[0][0], SPECIMENS[0][1].replace("7408122", "7408152"))
    with simulated(MrzReaderSimulator(link_path=tmp_path / "port")) as sim:
        assert isinstance(sim, MrzReaderSimulator)

        def swipe() -> None:  # once `read` has the port open: bytes sent before that are flushed by open()
            sim.present_raw(b"\x15garbage line\r\n")
            sim.present(tampered)
            sim.present(SPECIMENS[1])

        timer = threading.Timer(0.5, swipe)
        timer.start()
        code = technician_cli.main(
            ["read", "mrz_reader", sim.port, "--count", "2", "--timeout-s", "10", "--show-personal"]
        )
        timer.join()
    assert code == 0
    records = json_lines(capsys.readouterr().out)
    scans = [r for r in records if r["type"] == "scan"]
    assert [(s["doc_type"], s["valid"], s["failed_check"]) for s in scans] == [
        ("mrz_td3", False, "check_digit:birth_date"),
        ("mrz_td2", True, None),
    ]
    assert scans[1]["number"] == "D23145890" and scans[1]["region"] == "UTO"
    assert {"type": "rejected", "reason": "bad_charset", "bytes": 14} in records


def test_read_refuses_invalid_settings(capsys: pytest.CaptureFixture[str]) -> None:
    code = technician_cli.main(
        ["read", "gy_mcu90640", "/dev/ttyUSB0", "--baudrate", "9600", "--set", "rate_hz=8"]
    )
    assert code == technician_cli.EX_USAGE
    assert "does not fit 9600 baud" in capsys.readouterr().err


def test_read_settings_errors_name_the_key_like_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    code = technician_cli.main(
        ["read", "sam_id_reader", "/dev/ttyUSB0", "--set", "poll_interval_s=-1", "--set", "colour=3"]
    )
    assert code == technician_cli.EX_USAGE
    err = capsys.readouterr().err
    assert "sam_id_reader: 2 settings error(s):" in err
    assert "  poll_interval_s: Input should be greater than 0" in err
    assert "  colour: unknown key" in err
    assert "pydantic" not in err and "validation error" not in err


def test_read_on_a_port_in_use_exits_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with simulated(SamReaderSimulator(lambda: CARD, link_path=tmp_path / "port")) as sim:
        holder = serial.Serial(sim.port, exclusive=True)  # the running service holds the port
        try:
            started = time.monotonic()
            code = technician_cli.main(["read", "sam_id_reader", sim.port, "--count", "1"])
            elapsed = time.monotonic() - started
        finally:
            holder.close()
    assert code == 1
    assert "port in use" in capsys.readouterr().err
    assert elapsed < 10.0  # not the endless retry loop a service would run


def test_simulate_stops_within_a_second_of_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "simulate", "sam_id_reader"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip()  # the port path: the simulator is serving
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    assert time.monotonic() - started < 1.0
    assert proc.returncode == 0


def test_read_gives_up_after_the_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = technician_cli.main(
        ["read", "mrz_reader", str(tmp_path / "absent"), "--count", "1", "--timeout-s", "0.5"]
    )
    assert code == 1
    states = [r for r in json_lines(capsys.readouterr().out) if r["type"] == "state"]
    assert states and states[0]["state"] == "reconnecting" and "No such file" in states[0]["summary"]


@pytest.mark.parametrize(
    ("make_sim", "device", "baudrate"),
    [
        (lambda p: GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=p), "gy_mcu90640", 460800),
        (lambda p: GyMcu8833Simulator(small_scene, link_path=p), "gy_mcu8833", 460800),
        (lambda p: SamReaderSimulator(lambda: None, link_path=p), "sam_id_reader", 460800),
    ],
)
def test_probe_names_the_device_and_speed(
    make_sim: Any, device: str, baudrate: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with simulated(make_sim(tmp_path / "port")) as sim:
        assert technician_cli.main(["probe", sim.port, "--listen-s", "0.5"]) == 0
    (finding,) = json_lines(capsys.readouterr().out)
    # Simulators follow whatever speed the port is set to, so the first speed tried answers.
    assert (finding["device"], finding["baudrate"]) == (device, baudrate)


def test_probe_finds_a_module_switched_to_9600(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = GyMcu90640Simulator(thermal_scene, rate_hz=2.0, link_path=tmp_path / "port")
    with simulated(sim):
        sim.baudrate = 9600  # a module set to 9600 and saved to flash
        assert technician_cli.main(["probe", sim.port, "--listen-s", "2.0"]) == 0
    (finding,) = json_lines(capsys.readouterr().out)
    assert (finding["device"], finding["baudrate"]) == ("gy_mcu90640", 9600)


def test_probe_of_a_silent_port_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        assert technician_cli.main(["probe", os.ttyname(slave), "--listen-s", "0.2"]) == 1
    finally:
        os.close(master)
        os.close(slave)
    assert "nothing recognisable" in capsys.readouterr().err


def test_ports_lists_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert technician_cli.main(["ports", "--json"]) == 0
    for record in json_lines(capsys.readouterr().out):
        assert {"device", "by_id", "by_path", "vid_pid", "description"} <= set(record)


@pytest.mark.parametrize("device", ["mrz_reader", "barcode_scanner", "gy_mcu8833"])
def test_simulate_subprocess_prints_its_port_and_read_decodes_it(device: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.technician_cli", "simulate", device, "--duration-s", "20"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/pts/")
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "drivers.technician_cli",
                "read",
                device,
                port,
                "--count",
                "2",
                "--timeout-s",
                "15",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        items = [r for r in json_lines(out.stdout) if r["type"] in ("scan", "frame")]
        assert len(items) == 2
        if device != "gy_mcu8833":
            assert all(r["valid"] for r in items)
        else:
            assert all(r["shape"] == [8, 8] and r["max_c"] == 35.0 for r in items)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_describe_rounds_and_never_includes_pixels() -> None:
    from drivers.items import ThermalFrame

    record = technician_cli.describe(
        ThermalFrame("d", 1, 0.0, 0.0, np.full((2, 2), 36.666, np.float32), None)
    )
    assert record["max_c"] == 36.67 and "temps_c" not in record


def test_read_decodes_a_sam_session_with_corrupted_responses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()

    def card_comes_and_goes() -> bytes | None:  # on the reader 0.6 s out of every 0.9 s
        return CARD if (time.monotonic() - started) % 0.9 < 0.6 else None

    sim = SamReaderSimulator(card_comes_and_goes, link_path=tmp_path / "port", seed=11)
    sim.faults.corrupt_probability = 0.3
    with simulated(sim):
        code = technician_cli.main(
            [
                "read",
                "sam_id_reader",
                sim.port,
                "--count",
                "2",
                "--timeout-s",
                "20",
                "--set",
                "poll_interval_s=0.05",
                "--set",
                "repeat_suppress_s=0",
                "--show-personal",
            ]
        )
    assert code == 0
    records = json_lines(capsys.readouterr().out)
    scans = [r for r in records if r["type"] == "scan"]
    assert len(scans) == 2 and all(s["valid"] and s["number"] == "990000200001020018" for s in scans)
    assert sim.writes_corrupted >= 1
    assert any(
        r["type"] == "rejected" and r["reason"] in ("xor_check", "no_preamble", "bad_length") for r in records
    )


def test_probe_asks_a_silent_module_for_its_emissivity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = GyMcu90640Simulator(thermal_scene, rate_hz=2.0, link_path=tmp_path / "port")
    with simulated(sim):
        sim.continuous = False  # saved in query mode: sends nothing until asked
        assert technician_cli.main(["probe", sim.port, "--listen-s", "0.3"]) == 0
        assert sim.continuous is False and sim.rate_hz == 2.0  # probing changed nothing
    (finding,) = json_lines(capsys.readouterr().out)
    assert (finding["device"], finding["evidence"]) == ("gy_mcu90640", "emissivity 0.95")
