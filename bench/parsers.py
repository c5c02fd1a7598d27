"""Parser throughput against wire time, for every serial device type.

For each device: the CPU time to parse one frame/scan (best of several runs, fed in 512-byte reads by default,
as the transport hands them over), as a fraction of the time that frame occupies the line at the device's fastest
baud rate (8N1: 10 bits per byte). Target: under 1 %. The last line of output is one JSON object with a key
per device and `worst_wire_fraction`.

    python bench/parsers.py [--frames N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.idscan import aamva
from drivers.idscan import sam_protocol as sam
from drivers.idscan.barcode import BarcodeFraming, BarcodeParser, PayloadDecoder, PayloadPattern
from drivers.idscan.mrz import MrzParser
from drivers.items import Rejected
from drivers.thermal import gy_mcu8833, gy_mcu90640

BITS_PER_BYTE = 10


@dataclass(frozen=True)
class Case:
    device: str
    what: str
    frame: Callable[[int], bytes]  # i -> the bytes of the i-th frame/scan on the wire
    new_parser: Callable[[], Any]
    fastest_baud: int


def _thermal_frame(i: int) -> bytes:
    rng = np.random.default_rng(i)
    return gy_mcu90640.encode_frame(rng.uniform(20.0, 38.0, (24, 32)).astype(np.float32), 25.0)


def _small_frame(i: int) -> bytes:
    rng = np.random.default_rng(i)
    return gy_mcu8833.encode_frame(rng.uniform(20.0, 38.0, (8, 8)), i.to_bytes(4, "little"))


_CARD = sam.encode_text_block(
    "测试", "1", "01", "20000102", "测试地址", "990000200001020018", "测试机关", "20200101", "20400101"
)
_READ_BASE = sam.encode_response(sam.SW_OK, struct.pack(">HH", 256, 1024) + _CARD + bytes(1024))
_TD3 = b"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\r\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\r\n"
_HEALTH = PayloadPattern(
    name="health_code",
    regex=r"HC:(?P<number>\d{17}[\dX]):(?P<health_code>[GYR])",
    health_code_colours={"G": "green", "Y": "yellow", "R": "red"},
)
_LICENCE = aamva.encode_aamva(
    [
        (
            "DL",
            [
                ("DAQ", "T64235789"),
                ("DCS", "SAMPLE"),
                ("DAC", "MICHAEL"),
                ("DAD", "JOHN"),
                ("DBB", "06061986"),
                ("DBA", "12102030"),
                ("DBC", "1"),
                ("DAG", "2300 WEST BROAD STREET"),
                ("DAI", "RICHMOND"),
                ("DAJ", "VA"),
                ("DAK", "232690000"),
                ("DCG", "USA"),
            ],
        ),
        ("ZV", [("ZVA", "01")]),
    ]
)


def _barcode_parser() -> BarcodeParser:
    return BarcodeParser(BarcodeFraming(terminator="\r"), PayloadDecoder([_HEALTH]))


CASES = [
    Case("gy_mcu90640", "1544-byte frame", _thermal_frame, gy_mcu90640.GyMcu90640Parser, 460800),
    Case("gy_mcu8833", "71-byte frame", _small_frame, gy_mcu8833.GyMcu8833Parser, 9600),
    Case("sam_id_reader", "1295-byte read-base response", lambda i: _READ_BASE, sam.SamSessionParser, 115200),
    Case("mrz_reader", "TD3 zone (92 bytes)", lambda i: _TD3, lambda: MrzParser(date(2026, 1, 1)), 115200),
    Case(
        "barcode_scanner",
        "health-code QR line",
        lambda i: b"HC:990000200001020018:G\r",
        _barcode_parser,
        115200,
    ),
    Case(
        "barcode_scanner_aamva", "AAMVA PDF417 licence", lambda i: _LICENCE + b"\r", _barcode_parser, 115200
    ),
]


def measure(case: Case, frames: int, repeats: int, read_size: int) -> dict[str, Any]:
    stream = b"".join(case.frame(i) for i in range(frames))
    chunks = [stream[i : i + read_size] for i in range(0, len(stream), read_size)]
    best = float("inf")
    for _ in range(repeats):
        parser = case.new_parser()
        started = time.process_time()
        decoded = 0
        for chunk in chunks:
            decoded += sum(1 for item in parser.feed(chunk) if not isinstance(item, Rejected))
        best = min(best, time.process_time() - started)
        if decoded != frames:
            raise AssertionError(f"{case.device}: decoded {decoded} of {frames}")
    frame_bytes = len(stream) / frames
    wire_s = frame_bytes * BITS_PER_BYTE / case.fastest_baud
    cpu_s = best / frames
    return {
        "what": case.what,
        "bytes": round(frame_bytes),
        "baud": case.fastest_baud,
        "wire_ms": round(wire_s * 1000, 3),
        "cpu_us": round(cpu_s * 1e6, 2),
        "wire_fraction": round(cpu_s / wire_s, 6),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=300, help="frames/scans per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per device; the fastest counts")
    parser.add_argument(
        "--read-size", type=int, default=512, help="bytes per feed() call, as a read returns them"
    )
    args = parser.parse_args(argv)

    results = {case.device: measure(case, args.frames, args.repeats, args.read_size) for case in CASES}
    print(f"{args.frames} frames per device, fed in {args.read_size}-byte reads; best of {args.repeats} runs")
    print(f"{'device':<23}{'unit':<30}{'bytes':>6}{'baud':>8}{'wire ms':>9}{'CPU µs':>9}{'of wire':>9}")
    for device, r in results.items():
        print(
            f"{device:<23}{r['what']:<30}{r['bytes']:>6}{r['baud']:>8}{r['wire_ms']:>9.3f}"
            f"{r['cpu_us']:>9.1f}{r['wire_fraction'] * 100:>8.3f}%"
        )
    worst = max(r["wire_fraction"] for r in results.values())
    print(json.dumps({**results, "worst_wire_fraction": worst}))
    return 0 if worst < 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
