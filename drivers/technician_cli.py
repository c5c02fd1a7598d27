"""Technician commands: `ports`, `probe PORT`, `read DEVICE PORT [--count N]` and `simulate DEVICE`.

They answer the questions asked at a checkpoint with a laptop: which adapter is which, what is on this port
and at which speed, what does this device send right now, and (without hardware) what should it send.
`read` and `probe` open ports exclusively: they refuse a port the running service holds.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from pydantic import ValidationError

from drivers.device import Device, DeviceItem
from drivers.idscan import sam_reader as sam
from drivers.idscan.mrz import MrzParser
from drivers.items import IdScan, Rejected, ThermalFrame, ThermalImage, VisibleFrame
from drivers.registry import all_device_types, build_device, config_model
from drivers.sim.catalog import SIMULATED_TYPES, make_simulator
from drivers.thermal import gy_mcu8833, gy_mcu90640
from drivers.transport import DeviceGone, SerialLink

EX_USAGE = 64  # sysexits.h

DEVICE_HELP = {
    "gy_mcu90640": "GY-MCU90640 32×24 thermal module (UART, 1544-byte frames)",
    "gy_mcu8833": "GY-MCU8833 8×8 thermal module (UART 9600, 71-byte frames)",
    "lepton_uvc": "FLIR Lepton 2.5/3.5 on PureThermal (PORT = /dev/videoN or auto)",
    "visible_camera": "visible-light camera (PORT = /dev/videoN, rtsp:// URL or video file)",
    "sam_id_reader": "resident ID card reader, SAM protocol (polled at 115200)",
    "mrz_reader": "ICAO 9303 MRZ reader sending TD1/TD2/TD3 lines",
    "barcode_scanner": "line-framed barcode/QR/PDF417 scanner",
}


class JsonLines:
    """One JSON object per line, flushed at once, safe from several threads."""

    def __init__(self, out: TextIO) -> None:
        self._out, self._lock = out, threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._out.flush()


# ---- ports --------------------------------------------------------------------------------------------


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


def cmd_ports(args: argparse.Namespace) -> int:
    ports = list_serial_ports()
    if args.json:
        emit = JsonLines(sys.stdout)
        for port in ports:
            emit(port)
        return 0
    if not ports:
        print("no serial ports found")
        return 0
    for port in ports:
        print(f"{port['device']}  {port['vid_pid'] or '-'}  {port['description']}")
        if port["serial_number"] is None and port["vid_pid"]:
            print("    no serial number: use the by-path name (it encodes the USB socket)")
        for name in port["by_id"] + port["by_path"]:
            print(f"    {name}")
    return 0


# ---- probe --------------------------------------------------------------------------------------------

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
    from datetime import date

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


def cmd_probe(args: argparse.Namespace) -> int:
    emit = JsonLines(sys.stdout)
    try:
        findings = probe(args.port, args.listen_s)
    except DeviceGone as exc:
        print(f"cannot probe {args.port}: {exc}", file=sys.stderr)
        return 1
    for finding in findings:
        emit({"port": args.port, **finding})
    if not findings:
        print(
            f"nothing recognisable on {args.port} at {', '.join(map(str, PROBE_BAUDS))} baud "
            "(an MRZ reader or scanner only talks when a document is presented)",
            file=sys.stderr,
        )
        return 1
    return 0


# ---- read ---------------------------------------------------------------------------------------------


def describe(item: DeviceItem) -> dict[str, Any]:
    if isinstance(item, ThermalFrame):
        temps = item.temps_c
        return {
            "type": "frame",
            "device": item.device_id,
            "seq": item.seq,
            "shape": list(temps.shape),
            "min_c": round(float(np.min(temps)), 2),
            "max_c": round(float(np.max(temps)), 2),
            "mean_c": round(float(np.mean(temps)), 2),
            "ambient_c": None if item.ambient_c is None else round(item.ambient_c, 2),
            "t_wall": round(item.t_wall, 3),
        }
    if isinstance(item, IdScan):
        doc = item.document
        return {
            "type": "scan",
            "device": item.device_id,
            "doc_type": doc.doc_type,
            "number": doc.number,
            "name": doc.name,
            "birth_date": doc.birth_date,
            "sex": doc.sex,
            "region": doc.region,
            "expiry": doc.expiry,
            "valid": doc.valid,
            "failed_check": doc.failed_check,
            "extra": doc.extra,
            "t_wall": round(item.t_wall, 3),
        }
    if isinstance(item, VisibleFrame):
        return {"type": "picture", "device": item.device_id, "seq": item.seq, "shape": list(item.bgr.shape)}
    raise TypeError(type(item))


def _parse_settings(pairs: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key] = raw
    return settings


def build_for_read(device_type: str, port: str, baudrate: int | None, pairs: list[str]) -> Device:
    fields: dict[str, Any] = {"type": device_type, "port": port, **_parse_settings(pairs)}
    if baudrate is not None:
        fields["baudrate"] = baudrate
    config = config_model(device_type).model_validate(fields)
    return build_device(f"read.{device_type}", config)


def read_device(
    device: Device,
    emit: Callable[[dict[str, Any]], None],
    *,
    count: int = 0,
    timeout_s: float | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run `device`, printing items, refusals and state changes, until `count` items, the timeout or stop."""
    stop = stop or threading.Event()
    seen = 0
    seen_lock = threading.Lock()

    def on_item(item: DeviceItem) -> None:
        nonlocal seen
        with seen_lock:
            if count and seen >= count:
                return
            seen += 1
            reached = bool(count) and seen >= count
        flush_rejected()
        emit(describe(item))
        if reached:
            stop.set()

    # Consecutive refusals with one reason are one rejected chunk (a corrupted frame arrives over several reads).
    pending: dict[str, Any] = {}
    pending_lock = threading.Lock()

    def flush_rejected() -> None:
        with pending_lock:
            record = dict(pending)
            pending.clear()
        if record:
            emit({"type": "rejected", **record})

    def on_rejected(rejected: Rejected) -> None:
        with pending_lock:
            same = pending.get("reason") == rejected.reason
            if same:
                pending["bytes"] += rejected.nbytes
        if not same:
            flush_rejected()
            with pending_lock:
                pending.update(reason=rejected.reason, bytes=rejected.nbytes)

    device.on_rejected = on_rejected
    thread = threading.Thread(
        target=device.run, args=(stop, on_item), name=f"read-{device.device_id}", daemon=True
    )
    thread.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last_summary = ""
    try:
        while not stop.is_set():
            summary = device.state_summary() if device.state != "connecting" else ""
            if summary and summary.split(" since ")[0] != last_summary.split(" since ")[0]:
                emit({"type": "state", "state": device.state, "summary": summary})
                last_summary = summary
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.25)
            flush_rejected()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=5)
        flush_rejected()
    status = device.status()
    emit(
        {
            "type": "summary",
            "items": status["items"],
            "items_per_s": status["items_per_s"],
            "rejected": status["rejected"],
            "invalid": status["invalid"],
            "errors": status["errors"],
            "last_error": status["last_error"],
        }
    )
    return 0 if not count or seen >= count else 1


def cmd_read(args: argparse.Namespace) -> int:
    try:
        device = build_for_read(args.device, args.port, args.baudrate, args.set)
    except (ValidationError, ValueError) as exc:
        print(f"invalid settings for {args.device}: {exc}", file=sys.stderr)
        return EX_USAGE
    return read_device(device, JsonLines(sys.stdout), count=args.count, timeout_s=args.timeout_s)


# ---- simulate -----------------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    link = Path(args.link) if args.link else None
    sim = make_simulator(args.device, link, seed=args.seed)
    sim.faults.corrupt_probability = args.corrupt
    sim.faults.drop_probability = args.drop
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    print(sim.port, flush=True)
    print(f"simulating {args.device} on {sim.port}; Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        stop.wait(args.duration_s)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


# ---- wiring -------------------------------------------------------------------------------------------


def _device_list(types: tuple[str, ...] | list[str]) -> str:
    return "\n".join(f"  {name:<16} {DEVICE_HELP.get(name, '')}" for name in types)


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    raw = argparse.RawDescriptionHelpFormatter

    ports = subparsers.add_parser(
        "ports",
        help="list serial ports with by-id/by-path names and VID:PID",
        description=__doc__,
        formatter_class=raw,
    )
    ports.add_argument("--json", action="store_true", help="one JSON object per port")
    ports.set_defaults(func=cmd_ports)

    probe_parser = subparsers.add_parser(
        "probe",
        help="find out which supported device answers on a port, and at which baud rate",
        description="Listen at 460800, 115200 and 9600 baud, then send read-only requests "
        "(SAM status, GY-MCU90640 emissivity query). Never changes a device's settings.",
    )
    probe_parser.add_argument("port", metavar="PORT", help="device path or pyserial URL")
    probe_parser.add_argument("--listen-s", type=float, default=1.2, help="listening time per speed, s")
    probe_parser.set_defaults(func=cmd_probe)

    types = sorted(all_device_types())
    read = subparsers.add_parser(
        "read",
        help="decode what a device sends: one JSON line per frame, scan or rejected chunk",
        formatter_class=raw,
        description="Run one device driver on PORT and print one JSON line per thermal frame (sequence, shape, "
        "min/max/mean °C, ambient), per ID scan (every field, validity, failing check) and per rejected "
        "chunk (reason), until --count items or Ctrl-C.",
        epilog="device types (the `type` names of the config file):\n" + _device_list(types),
    )
    read.add_argument("device", choices=types, metavar="DEVICE", help="device type: " + ", ".join(types))
    read.add_argument(
        "port", metavar="PORT", help="device path, pyserial URL (loop://, socket://…) or video source"
    )
    read.add_argument(
        "--count", type=int, default=0, help="stop after N frames/scans (default: until Ctrl-C)"
    )
    read.add_argument("--baudrate", type=int, help="override the device type's default speed")
    read.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config field, JSON value (repeatable)",
    )
    read.add_argument("--timeout-s", type=float, help="give up after this long, s")
    read.set_defaults(func=cmd_read)

    simulate = subparsers.add_parser(
        "simulate",
        help="run a device simulator on a pseudo-terminal and print its port path",
        formatter_class=raw,
        description="Serve one simulated device on a pseudo-terminal (the real bytes), printing the port path "
        "on the first line of stdout.",
        epilog="simulated devices:\n" + _device_list(list(SIMULATED_TYPES)),
    )
    simulate.add_argument(
        "device", choices=SIMULATED_TYPES, metavar="DEVICE", help=", ".join(SIMULATED_TYPES)
    )
    simulate.add_argument("--link", help="also expose the port as this symlink (a stable name)")
    simulate.add_argument(
        "--corrupt", type=_probability, default=0.0, help="probability of a flipped bit per write"
    )
    simulate.add_argument(
        "--drop", type=_probability, default=0.0, help="probability of lost bytes per write"
    )
    simulate.add_argument("--seed", type=int, help="random seed for the faults")
    simulate.add_argument("--duration-s", type=float, help="stop after this long, s (default: until Ctrl-C)")
    simulate.set_defaults(func=cmd_simulate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="checkpoint-edge", description=__doc__)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
