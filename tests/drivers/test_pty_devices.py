"""Simulator → driver round trips through real pseudo-terminals, for every serial device type, with unplug,
replug and the other faults field devices show."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.device import Device, DeviceItem
from drivers.idscan import sam_protocol as sam
from drivers.idscan.barcode import BarcodeFraming
from drivers.items import IdScan, ThermalFrame
from drivers.registry import build_device, config_model
from drivers.sim.barcode_scanner_sim import BarcodeScannerSimulator
from drivers.sim.gy_mcu8833_sim import GyMcu8833Simulator
from drivers.sim.gy_mcu90640_sim import GyMcu90640Simulator
from drivers.sim.mrz_reader_sim import SPECIMENS, MrzReaderSimulator
from drivers.sim.sam_reader_sim import SamReaderSimulator
from drivers.sim.simulator import Simulator

pytestmark = pytest.mark.timeout(60)

CARD = sam.encode_text_block(
    "测试", "1", "01", "20000102", "某地", "990000200001020018", "某局", "20200101", "20300101"
)
HEALTH_PATTERN = {
    "name": "health_code",
    "regex": r"HC:(?P<number>\d{17}[\dX]):(?P<health_code>[GYR])",
    "health_code_colours": {"G": "green", "Y": "yellow", "R": "red"},
}


def thermal_scene(_t: float) -> tuple[np.ndarray, float]:
    image = np.full((24, 32), 24.0, dtype=np.float32)
    image[4:10, 20:26] = 37.8
    return image, 28.5


def small_scene(_t: float) -> np.ndarray:
    image = np.full((8, 8), 22.0, dtype=np.float32)
    image[2:4, 5:7] = 36.0
    return image


class Collector:
    def __init__(self) -> None:
        self.items: list[DeviceItem] = []
        self._lock = threading.Lock()

    def __call__(self, item: DeviceItem) -> None:
        with self._lock:
            self.items.append(item)

    def count(self) -> int:
        with self._lock:
            return len(self.items)

    def wait_for(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count() >= n:
                return True
            time.sleep(0.005)
        return False


@contextmanager
def running(device: Device) -> Iterator[Collector]:
    collector = Collector()
    stop = threading.Event()
    thread = threading.Thread(target=device.run, args=(stop, collector), name=f"test-{device.device_id}")
    thread.start()
    try:
        yield collector
    finally:
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive(), "the device loop did not stop within 5 s of the stop event"
        assert device.state == "stopped"


def wait_connected(device: Device, timeout_s: float = 5.0) -> None:
    """Trigger the simulator only once the driver holds the port: on a loaded machine the device thread may
    open it late, and what a simulator sends before that is not the driver's to read."""
    deadline = time.monotonic() + timeout_s
    while device.state != "connected" and time.monotonic() < deadline:
        time.sleep(0.005)


@contextmanager
def simulated(sim: Simulator) -> Iterator[Simulator]:
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def make_device(device_type: str, port: str, **fields: Any) -> Device:
    config = config_model(device_type).model_validate({"type": device_type, "port": port, **fields})
    return build_device(f"test.{device_type}", config)


# ---- one case per serial device type: how to make the device produce one item ------------------------


class Case:
    def __init__(
        self,
        device_type: str,
        make_sim: Callable[[Path], Simulator],
        fields: dict[str, Any],
        trigger: Callable[[Simulator], None],
        check: Callable[[DeviceItem], None],
    ) -> None:
        self.device_type, self.make_sim, self.fields, self.trigger, self.check = (
            device_type,
            make_sim,
            fields,
            trigger,
            check,
        )

    def __repr__(self) -> str:
        return self.device_type


def _check_90640(item: DeviceItem) -> None:
    assert isinstance(item, ThermalFrame) and item.temps_c.shape == (24, 32)
    assert item.ambient_c == pytest.approx(28.5)
    assert float(item.temps_c.max()) == pytest.approx(37.8, abs=0.006)
    assert int((item.temps_c > 37.0).sum()) == 36


def _check_8833(item: DeviceItem) -> None:
    assert isinstance(item, ThermalFrame) and item.temps_c.shape == (8, 8)
    assert float(item.temps_c.max()) == 36.0 and int((item.temps_c == 36.0).sum()) == 4


def _check_card(item: DeviceItem) -> None:
    assert isinstance(item, IdScan)
    doc = item.document
    assert (doc.doc_type, doc.number, doc.valid, doc.region) == (
        "cn_resident_id",
        "990000200001020018",
        True,
        "990000",
    )


def _check_mrz(item: DeviceItem) -> None:
    assert isinstance(item, IdScan)
    assert (item.document.doc_type, item.document.number, item.document.valid) == (
        "mrz_td3",
        "L898902C3",
        True,
    )


def _check_health(item: DeviceItem) -> None:
    assert isinstance(item, IdScan)
    doc = item.document
    assert (doc.number, doc.extra["health_code"], doc.valid) == ("990000200001020018", "red", True)


class CardOnReader:
    """The card lies on the reader only while the test says so."""

    def __init__(self) -> None:
        self.present = False

    def __call__(self) -> bytes | None:
        return CARD if self.present else None


def _present_card(sim: Simulator) -> None:
    assert isinstance(sim, SamReaderSimulator)
    source = sim.card_source
    assert isinstance(source, CardOnReader)
    source.present = False
    time.sleep(0.15)  # one empty poll, so the reader sees a new card arrive
    source.present = True


CASES = [
    Case(
        "gy_mcu90640",
        lambda p: GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=p),
        {"baudrate": 460800, "rate_hz": 8.0},
        lambda sim: None,
        _check_90640,
    ),
    Case(
        "gy_mcu8833",
        lambda p: GyMcu8833Simulator(small_scene, rate_hz=10.0, link_path=p),
        {},
        lambda sim: None,
        _check_8833,
    ),
    Case(
        "sam_id_reader",
        lambda p: SamReaderSimulator(CardOnReader(), link_path=p),
        {"poll_interval_s": 0.05, "repeat_suppress_s": 0.0},
        _present_card,
        _check_card,
    ),
    Case(
        "mrz_reader",
        lambda p: MrzReaderSimulator(link_path=p),
        {"repeat_suppress_s": 0.0},  # the test presents one specimen again and again
        lambda sim: sim.present(SPECIMENS[0]),  # type: ignore[attr-defined]
        _check_mrz,
    ),
    Case(
        "barcode_scanner",
        lambda p: BarcodeScannerSimulator(BarcodeFraming(terminator="\r\n"), link_path=p),
        {"framing": {"terminator": "\r\n"}, "patterns": [HEALTH_PATTERN], "repeat_suppress_s": 0.0},
        lambda sim: sim.scan(b"HC:990000200001020018:R"),  # type: ignore[attr-defined]
        _check_health,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_simulator_to_driver_round_trip(case: Case, tmp_path: Path) -> None:
    with simulated(case.make_sim(tmp_path / "port")) as sim:
        device = make_device(case.device_type, sim.port, **case.fields)
        with running(device) as got:
            wait_connected(device)
            case.trigger(sim)
            assert got.wait_for(1, 5.0), device.status()
            case.check(got.items[0])
            status = device.status()
            assert status["state"] == "connected" and status["items"] >= 1
            assert status["summary"].startswith("connected since ")


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_unplug_and_replug_resumes_within_2_s_with_one_log_line(
    case: Case, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="drivers")
    with simulated(case.make_sim(tmp_path / "port")) as sim:
        device = make_device(case.device_type, sim.port, **case.fields)
        with running(device) as got:
            wait_connected(device)
            case.trigger(sim)
            assert got.wait_for(1, 5.0)
            caplog.clear()
            sim.unplug()
            time.sleep(2.5)  # long enough for several reconnect attempts at the backoff ceiling
            status = device.status()
            assert status["state"] == "reconnecting", status
            assert status["summary"].startswith("reconnecting since ")
            before = got.count()
            sim.replug()
            back = time.monotonic()
            # A reader that sends while nobody has the port open loses the read (pyserial flushes input on
            # open, like a real port): documents are presented once the driver is back on the line.
            while device.state != "connected" and time.monotonic() - back < 2.0:
                time.sleep(0.005)
            case.trigger(sim)
            assert got.wait_for(before + 1, 2.0 - (time.monotonic() - back)), device.status()
            assert time.monotonic() - back < 2.0
            case.check(got.items[-1])
            assert device.status()["state"] == "connected"
            assert device.outages == 1
    outage_lines = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("drivers")]
    assert len(outage_lines) == 1, [r.getMessage() for r in outage_lines]
    assert "unavailable" in outage_lines[0].getMessage()


def test_corrupted_frames_are_counted_and_never_handed_up(tmp_path: Path) -> None:
    sim = GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=tmp_path / "port", seed=7)
    sim.faults.corrupt_probability = 0.5
    sim.faults.drop_probability = 0.2
    with simulated(sim):
        device = make_device("gy_mcu90640", sim.port, baudrate=460800, rate_hz=8.0)
        with running(device) as got:
            assert got.wait_for(6, 10.0)
            time.sleep(0.5)
    assert sim.writes_corrupted + sim.writes_dropped >= 2
    for item in got.items:
        _check_90640(item)  # every frame handed up is exactly the scene
    assert sum(device.rejected.values()) >= 1
    assert set(device.rejected) <= {"checksum", "no_header"}


def test_module_rebooted_into_another_baud_rate_and_query_mode_is_recovered(tmp_path: Path) -> None:
    with simulated(GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=tmp_path / "port")) as sim:
        assert isinstance(sim, GyMcu90640Simulator)
        device = make_device("gy_mcu90640", sim.port, baudrate=460800, rate_hz=8.0)
        with running(device) as got:
            assert got.wait_for(2, 5.0)
            sim.reboot(baudrate=9600, continuous=False)
            n = got.count()
            assert got.wait_for(n + 3, 15.0), device.status()
            _check_90640(got.items[-1])
            assert sim.baudrate == 460800 and sim.continuous
            status = device.status()
            assert status["baud_corrections"] == 1 and status["state"] == "connected"
            assert "no valid frame" in (status["last_error"] or "")


def test_measured_frame_interval_not_the_rate_table(tmp_path: Path) -> None:
    # The module runs at 4 Hz whatever it is told (firmware with another rate table): measure, don't trust.
    sim = GyMcu90640Simulator(thermal_scene, rate_hz=4.0, link_path=tmp_path / "port")
    sim.power_on_rate_hz = 4.0
    with simulated(sim):
        device = make_device("gy_mcu90640", sim.port, baudrate=460800, rate_hz=8.0)
        sim_rate_fixed = threading.Event()

        def pin_rate() -> None:
            while not sim_rate_fixed.is_set():
                sim.rate_hz = 4.0  # type: ignore[attr-defined]
                time.sleep(0.01)

        pinner = threading.Thread(target=pin_rate)
        pinner.start()
        try:
            with running(device) as got:
                assert got.wait_for(10, 8.0)
        finally:
            sim_rate_fixed.set()
            pinner.join()
    status = device.status()
    assert status["requested_rate_hz"] == 8.0
    assert status["measured_rate_hz"] == pytest.approx(4.0, rel=0.15)


def test_stalled_module_is_reinitialised(tmp_path: Path) -> None:
    with simulated(GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=tmp_path / "port")) as sim:
        device = make_device("gy_mcu90640", sim.port, baudrate=460800, rate_hz=8.0)
        with running(device) as got:
            assert got.wait_for(2, 5.0)
            sim.stall(3.0)
            time.sleep(3.0)
            n = got.count()
            assert got.wait_for(n + 2, 5.0)
    assert device.errors["no_response"] >= 1


def test_sam_reader_not_ready_after_reboot_then_recovers(tmp_path: Path) -> None:
    card = CardOnReader()
    with simulated(SamReaderSimulator(card, link_path=tmp_path / "port")) as sim:
        assert isinstance(sim, SamReaderSimulator)
        sim.reboot(sam_not_ready_s=1.5, status_word=0x60)
        device = make_device("sam_id_reader", sim.port, poll_interval_s=0.05)
        with running(device) as got:
            time.sleep(0.5)
            status = device.status()
            assert status["state"] == "reconnecting" and "SAM status 0x60" in status["last_error"]
            _present_card(sim)
            assert got.wait_for(1, 5.0)
            _check_card(got.items[0])
            time.sleep(0.5)  # the card stays on the reader: reported once, not once per poll
            assert got.count() == 1
            assert device.status()["poll_state"] == "card_present"
            assert (0x61, 0xFF) in sim.commands  # max RF size set after the good status


def test_sam_status_words_are_all_handled(tmp_path: Path) -> None:
    class FlakyReader(SamReaderSimulator):
        """Select fails once, then the read fails once (card pulled), then everything works."""

        def __init__(self, link_path: Path) -> None:
            super().__init__(lambda: CARD, link_path)
            self.script = [("select", sam.SW_SELECT_FAILED), ("read", sam.SW_READ_FAILED), ("find", 0x33)]

        def _answer(self, cmd: int, para: int) -> bytes:
            step = {sam.CMD_FIND_CARD: "find", sam.CMD_SELECT_CARD: "select", sam.CMD_READ_BASE: "read"}
            name = step.get((cmd, para))
            if self.script and name == self.script[0][0]:
                return sam.encode_response(self.script.pop(0)[1])
            return super()._answer(cmd, para)

    with simulated(FlakyReader(tmp_path / "port")):
        device = make_device("sam_id_reader", str(tmp_path / "port"), poll_interval_s=0.05)
        with running(device) as got:
            assert got.wait_for(1, 5.0)
            _check_card(got.items[0])
    assert device.rejected["select_failed"] == 1
    assert device.rejected["read_failed"] == 1
    assert device.rejected["sw_find_33"] == 1


def test_second_process_on_the_port_is_refused_and_reported_failed(tmp_path: Path) -> None:
    import serial

    with simulated(GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=tmp_path / "port")) as sim:
        holder = serial.Serial(sim.port, 460800, exclusive=True)
        try:
            device = make_device("gy_mcu90640", sim.port, baudrate=460800, rate_hz=8.0)
            with running(device):
                time.sleep(0.5)
                status = device.status()
                assert status["state"] == "failed"
                assert "exclusively lock" in status["last_error"]
                assert status["summary"].startswith("failed since ")
        finally:
            holder.close()


def test_mrz_reader_reports_a_tampered_zone_as_invalid(tmp_path: Path) -> None:
    tampered = (SPECIMENS[0][0], SPECIMENS[0][1].replace("7408122", "7408152"))
    with simulated(MrzReaderSimulator(link_path=tmp_path / "port")) as sim:
        assert isinstance(sim, MrzReaderSimulator)
        device = make_device("mrz_reader", sim.port)
        with running(device) as got:
            wait_connected(device)
            sim.present(tampered)
            sim.present(SPECIMENS[2])
            assert got.wait_for(2, 5.0), device.status()
    first, second = got.items[0], got.items[1]
    assert isinstance(first, IdScan) and isinstance(second, IdScan)
    assert (first.document.valid, first.document.failed_check) == (False, "check_digit:birth_date")
    assert (second.document.doc_type, second.document.valid) == ("mrz_td1", True)
    assert device.status()["invalid"] == {"check_digit:birth_date": 1}


def test_barcode_scanner_in_idle_gap_mode(tmp_path: Path) -> None:
    framing = BarcodeFraming(mode="idle_gap", idle_gap_s=0.1)
    with simulated(BarcodeScannerSimulator(framing, link_path=tmp_path / "port")) as sim:
        assert isinstance(sim, BarcodeScannerSimulator)
        device = make_device(
            "barcode_scanner",
            sim.port,
            framing={"mode": "idle_gap", "idle_gap_s": 0.1},
            patterns=[HEALTH_PATTERN],
        )
        with running(device) as got:
            wait_connected(device)
            sim.scan(b"HC:990000200001020018:R")
            sim.scan(b"HC:990000200001020018:G")
            assert got.wait_for(2, 5.0)
    colours = [x.document.extra["health_code"] for x in got.items if isinstance(x, IdScan)]
    assert colours == ["red", "green"]


def test_gy_mcu90640_query_mode_asks_for_each_frame(tmp_path: Path) -> None:
    with simulated(GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=tmp_path / "port")) as sim:
        assert isinstance(sim, GyMcu90640Simulator)
        device = make_device("gy_mcu90640", sim.port, baudrate=460800, rate_hz=4.0, mode="query")
        with running(device) as got:
            assert got.wait_for(8, 6.0), device.status()
            _check_90640(got.items[-1])
            assert not sim.continuous
            queries = sum(1 for c in sim.commands if c == bytes.fromhex("A53501DB"))
            # The module streams from power-up until the mode command lands: the first frames were not asked for.
            assert queries >= 6
    assert device.status()["measured_rate_hz"] == pytest.approx(4.0, rel=0.25)


def test_gy_mcu8833_mirror_option(tmp_path: Path) -> None:
    with simulated(GyMcu8833Simulator(small_scene, link_path=tmp_path / "port")) as sim:
        device = make_device("gy_mcu8833", sim.port, mirror=True)
        with running(device) as got:
            assert got.wait_for(1, 5.0)
    frame = got.items[0]
    assert isinstance(frame, ThermalFrame)
    np.testing.assert_array_equal(frame.temps_c, np.fliplr(small_scene(0.0)))


def test_gy_mcu90640_settings_are_resent_after_every_reconnect(tmp_path: Path) -> None:
    from drivers.thermal import gy_mcu90640 as proto

    with simulated(GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=tmp_path / "port")) as sim:
        assert isinstance(sim, GyMcu90640Simulator)
        device = make_device("gy_mcu90640", sim.port, baudrate=460800, rate_hz=4.0, emissivity=0.98)
        with running(device) as got:
            assert got.wait_for(1, 5.0)
            sim.unplug(replug_after_s=0.3)
            time.sleep(0.5)
            n = got.count()
            assert got.wait_for(n + 1, 3.0)
            assert sim.rate_hz == 4.0 and sim.emissivity_pct == 98  # the fresh module was set up again
    for command in (proto.cmd_rate(4.0), proto.cmd_emissivity(0.98), proto.CMD_CONTINUOUS):
        assert sim.commands.count(command) >= 2, command.hex()
