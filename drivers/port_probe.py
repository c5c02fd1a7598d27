"""What is on a serial port: the adapters present (`ports`) and which supported device answers (`probe`).

`probe` listens before it speaks, and then sends only read-only requests: it never changes a device's settings.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from drivers.idscan import sam_protocol as sam
from drivers.idscan.mrz import MrzParser
from drivers.items import Rejected, ThermalImage
from drivers.thermal import gy_mcu8833, gy_mcu90640
from drivers.transport import SerialLink


def _symlinks_to(device: str, folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    target = Path(device).resolve()
    return sorted(str(link) for link in folder.iterdir() if link.resolve() == target)


def list_serial_ports() -> list[dict[str, Any]]:
    from serial.tools import list_ports

    ports = []
    for info in sorted(list_ports.comports(), key=lambda p: p.device):
        ports.append(
            {
                "device": info.device,
                "by_id": _symlinks_to(info.device, Path("/dev/serial/by-id")),
                "by_path": _symlinks_to(info.device, Path("/dev/serial/by-path")),
                "vid_pid": f"{info.vid:04x}:{info.pid:04x}"
                if info.vid is not None and info.pid is not None
                else None,
                "description": info.description,
                "serial_number": info.serial_number,
                "location": info.location,
            }
        )
    return ports


PROBE_BAUDS = (460800, 115200, 9600)


def _listen(link: SerialLink, seconds: float) -> bytes:
    data = bytearray()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(data) < 16384:
        data += link.read()
    return bytes(data)


def _passive_findings(data: bytes, baud: int) -> list[dict[str, Any]]:
    findings = []
    frames = [x for x in gy_mcu90640.GyMcu90640Parser().feed(data) if isinstance(x, ThermalImage)]
    if frames:
        findings.append(
            {"device": "gy_mcu90640", "baudrate": baud, "evidence": f"{len(frames)} valid frame(s)"}
        )
    small = [x for x in gy_mcu8833.GyMcu8833Parser().feed(data) if isinstance(x, ThermalImage)]
    if small:
        findings.append(
            {"device": "gy_mcu8833", "baudrate": baud, "evidence": f"{len(small)} valid frame(s)"}
        )
    zones = [x for x in MrzParser(date.today()).feed(data) if not isinstance(x, Rejected)]
    if zones:
        findings.append({"device": "mrz_reader", "baudrate": baud, "evidence": f"{len(zones)} MRZ zone(s)"})
    lines = [x for x in data.replace(b"\n", b"\r").split(b"\r") if x]
    printable = [x for x in lines if all(32 <= b < 127 for b in x)]
    if not findings and printable and len(printable) >= len(lines) / 2:
        findings.append(
            {"device": "barcode_scanner", "baudrate": baud, "evidence": f"{len(printable)} text line(s)"}
        )
    return findings


def _active_findings(link: SerialLink, baud: int, seconds: float) -> list[dict[str, Any]]:
    """Only read-only requests: SAM status, and the GY-MCU90640 emissivity query."""
    findings = []
    link.reset_input()
    link.write(sam.encode_command(*sam.CMD_SAM_STATUS))
    replies = [x for x in sam.SamFrameParser().feed(_listen(link, seconds)) if isinstance(x, sam.SamFrame)]
    if replies:
        findings.append(
            {"device": "sam_id_reader", "baudrate": baud, "evidence": f"SAM status SW3={replies[0].sw3:#04x}"}
        )
    link.reset_input()
    link.write(gy_mcu90640.command(0x55, 0x01))
    data = _listen(link, seconds)
    at = data.find(b"\x5a\x5a")
    while at >= 0 and at + 4 <= len(data):
        if data[at + 2 : at + 4] != b"\x02\x06" and (0xB4 + data[at + 2]) & 0xFF == data[at + 3]:
            findings.append(
                {
                    "device": "gy_mcu90640",
                    "baudrate": baud,
                    "evidence": f"emissivity {data[at + 2] / 100:.2f}",
                }
            )
            break
        at = data.find(b"\x5a\x5a", at + 1)
    return findings


def probe(port: str, listen_s: float = 1.2) -> list[dict[str, Any]]:
    """Which supported device answers on `port`, and at which speed. Listens before it speaks."""
    findings: list[dict[str, Any]] = []
    for active in (False, True):
        for baud in PROBE_BAUDS:
            link = SerialLink(port, baud, read_timeout_s=0.05)
            link.open()
            try:
                link.reset_input()
                if active:
                    found = _active_findings(link, baud, min(listen_s, 0.6))
                else:
                    found = _passive_findings(_listen(link, listen_s), baud)
            finally:
                link.close()
            findings += [f for f in found if f["device"] not in {g["device"] for g in findings}]
            if findings:
                return findings
    return findings
