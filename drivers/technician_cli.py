"""Technician commands: `ports`, `probe PORT`, `read DEVICE PORT [--count N]` and `simulate DEVICE`.

They answer the questions asked at a checkpoint with a laptop: which adapter is which, what is on this port
and at which speed, what does this device send right now, and (without hardware) what should it send.
`read` and `probe` open ports exclusively: they refuse a port the running service holds.
This module is the command line; the work is in `port_probe.py` (ports, probe) and `device_reader.py` (read).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from drivers.device_reader import build_for_read, describe, read_device
from drivers.port_probe import PROBE_BAUDS, list_serial_ports, probe
from drivers.registry import ALARM_DEVICES, all_device_types
from drivers.sim.catalog import SIMULATED_TYPES, make_simulator
from drivers.transport import DeviceGone

__all__ = ["EX_USAGE", "describe", "main", "probe", "read_device", "register"]

EX_USAGE = 64  # sysexits.h

DEVICE_HELP = {
    "gy_mcu90640": "GY-MCU90640 32×24 thermal module (UART, 1544-byte frames)",
    "gy_mcu8833": "GY-MCU8833 8×8 thermal module (UART 9600, 71-byte frames)",
    "lepton_uvc": "FLIR Lepton 2.5/3.5 on PureThermal (PORT = /dev/videoN or auto)",
    "visible_camera": "visible-light camera (PORT = /dev/videoN, rtsp:// URL or video file)",
    "sam_id_reader": "resident ID card reader, SAM protocol (polled at 115200)",
    "mrz_reader": "ICAO 9303 MRZ reader sending TD1/TD2/TD3 lines",
    "barcode_scanner": "line-framed barcode/QR/PDF417 scanner",
    "lcus_relay": "CH340 LCUS USB relay board (lane alarm output; receives A0 commands, prints nothing)",
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


def settings_errors(exc: ValidationError) -> list[str]:
    """One `key: reason` line per error, as check-config prints them (not pydantic's raw report)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(settings)"
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        elif error["type"] == "missing":
            reason = "required key is missing"
        else:
            reason = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {reason}")
    return lines


def cmd_read(args: argparse.Namespace) -> int:
    try:
        device = build_for_read(args.device, args.port, args.baudrate, args.set)
    except ValidationError as exc:
        errors = settings_errors(exc)
        print(f"{args.device}: {len(errors)} settings error(s):", file=sys.stderr)
        for line in errors:
            print(f"  {line}", file=sys.stderr)
        return EX_USAGE
    except ValueError as exc:
        print(f"{args.device}: {exc}", file=sys.stderr)
        return EX_USAGE
    return read_device(
        device,
        JsonLines(sys.stdout),
        count=args.count,
        timeout_s=args.timeout_s,
        show_personal=args.show_personal,
    )


# ---- simulate -----------------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    link = Path(args.link) if args.link else None
    sim = make_simulator(args.device, link, seed=args.seed)
    sim.faults.corrupt_probability = args.corrupt
    sim.faults.drop_probability = args.drop
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Both only set the event: Ctrl-C at any moment stops cleanly, never a KeyboardInterrupt traceback.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
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

    types = sorted(all_device_types() - set(ALARM_DEVICES))  # alarm outputs send nothing to read
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
    read.add_argument(
        "--show-personal",
        action="store_true",
        help="print ID numbers, names and birth dates in full (masked by default: screens are seen)",
    )
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
