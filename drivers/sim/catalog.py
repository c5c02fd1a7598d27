"""Ready-made simulators with plausible content, one per serial device type (`checkpoint-edge simulate`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from drivers.idscan import aamva
from drivers.idscan.barcode import BarcodeFraming
from drivers.idscan.sam_protocol import encode_text_block
from drivers.sim.barcode_scanner_sim import BarcodeScannerSimulator, framed
from drivers.sim.gy_mcu8833_sim import GyMcu8833Simulator
from drivers.sim.gy_mcu90640_sim import GyMcu90640Simulator
from drivers.sim.lcus_relay_sim import LcusRelaySimulator
from drivers.sim.mrz_reader_sim import SPECIMENS, MrzReaderSimulator, zone_bytes
from drivers.sim.sam_reader_sim import SamReaderSimulator
from drivers.sim.simulator import Simulator

# A fictional card: unassigned region 990000, checksum-valid number (the synthetic fixture's person).
DEMO_CARD = encode_text_block(
    "测试", "1", "01", "20000102", "测试地址", "990000200001020018", "测试机关", "20200101", "20400101"
)
DEMO_HEALTH_CODE = b"HC:990000200001020018:G"
DEMO_LICENCE = aamva.encode_aamva(
    [
        (
            "DL",
            [
                ("DAQ", "T64235789"),
                ("DCS", "SAMPLE"),
                ("DAC", "MICHAEL"),
                ("DBB", "06061986"),
                ("DBA", "12102030"),
                ("DBC", "1"),
                ("DAJ", "VA"),
                ("DCG", "USA"),
            ],
        ),
    ]
)


def walking_face(t: float) -> tuple[np.ndarray, float]:
    """24×32 °C: a 36.5-37.9 °C face crossing the field of view every 4 s over a 24 °C background."""
    image = np.full((24, 32), 24.0, dtype=np.float32)
    x = int((t % 4.0) / 4.0 * 28)
    image[6:14, x : x + 5] = 36.5 + 1.4 * ((t // 4.0) % 2)
    return image, 27.0


def small_face(t: float) -> np.ndarray:
    image = np.full((8, 8), 23.0, dtype=np.float32)
    x = int((t % 4.0) / 4.0 * 6)
    image[2:5, x : x + 2] = 35.0
    return image


class _CardEveryFewSeconds:
    """A card is on the reader 3 s out of every 6."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def __call__(self) -> bytes | None:
        return DEMO_CARD if (time.monotonic() - self._t0) % 6.0 < 3.0 else None


def make_simulator(device_type: str, link_path: Path | None = None, *, seed: int | None = None) -> Simulator:
    if device_type == "gy_mcu90640":
        return GyMcu90640Simulator(walking_face, rate_hz=4.0, link_path=link_path, seed=seed)
    if device_type == "gy_mcu8833":
        return GyMcu8833Simulator(small_face, rate_hz=10.0, link_path=link_path, seed=seed)
    if device_type == "sam_id_reader":
        return SamReaderSimulator(_CardEveryFewSeconds(), link_path=link_path, seed=seed)
    if device_type == "mrz_reader":
        mrz = MrzReaderSimulator(link_path=link_path, seed=seed)
        mrz.repeat = [zone_bytes(zone) for zone in SPECIMENS]
        return mrz
    if device_type == "barcode_scanner":
        framing = BarcodeFraming()
        scanner = BarcodeScannerSimulator(framing, link_path=link_path, seed=seed)
        scanner.repeat = [framed(DEMO_HEALTH_CODE, framing), framed(DEMO_LICENCE, framing)]
        return scanner
    if device_type == "lcus_relay":
        return LcusRelaySimulator(link_path=link_path, seed=seed)
    raise KeyError(f"no simulator for {device_type!r}")


SIMULATED_TYPES = (
    "gy_mcu90640",
    "gy_mcu8833",
    "sam_id_reader",
    "mrz_reader",
    "barcode_scanner",
    "lcus_relay",
)
