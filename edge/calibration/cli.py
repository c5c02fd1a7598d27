"""`checkpoint-edge calibrate blackbody|registration|offset`: measure, show, confirm, write a drop-in,
check the merged configuration, and reload the running service (SIGHUP).

Nothing is written without confirmation: an interactive "apply? [y/N]", or `--yes` in a script.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.calibration.apply import apply_dropin, dropin_directory
from edge.calibration.blackbody import BlackbodyNotFound, find_blackbody
from edge.calibration.dropins import dropin_name, render_dropin, signal_reload
from edge.calibration.offset import OffsetRefused, calibrate_offset, read_readings
from edge.calibration.registration import (
    DEFAULT_MAX_RESIDUAL_PX,
    RegistrationRefused,
    calibrate_registration,
    read_pairs,
)
from edge.config import EX_CONFIG, AppConfig, ConfigError, load_config

MAX_FRAMES = 1000


def _config_or_exit(path: Path, lane_id: str) -> AppConfig | None:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return None
    if lane_id not in {lane.id for lane in config.lanes}:
        print(
            f"{path}: no lane {lane_id!r} (lanes: {', '.join(lane.id for lane in config.lanes)})",
            file=sys.stderr,
        )
        return None
    return config


def _confirmed(assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print("not applied: confirm interactively, or pass --yes", file=sys.stderr)
        return False
    return input("apply? [y/N] ").strip().lower() in ("y", "yes")


def apply_and_reload(
    config_path: Path, config: AppConfig, name: str, text: str, *, reload: bool = True
) -> int:
    """Write the drop-in, keep it only if the merged configuration is valid, then SIGHUP the service."""
    try:
        merged, dropins = apply_dropin(config_path, config, name, text)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        print(f"not applied: {name} would make the configuration invalid", file=sys.stderr)
        return EX_CONFIG
    print(f"wrote {dropin_directory(config) / name}")
    print(f"check-config: OK with drop-ins {', '.join(p.name for p in dropins)}")
    if reload:
        pid = signal_reload(merged.storage.state_dir)
        if pid is None:
            print("the service is not running here: the drop-in applies at its next start")
        else:
            print(f"reload requested (SIGHUP to pid {pid})")
    return 0


def _propose(
    args: argparse.Namespace,
    config: AppConfig,
    kind: str,
    table: str,
    values: dict[str, Any],
    lines: list[str],
) -> int:
    text = render_dropin(args.lane, table, values, lines)
    for line in lines:
        print(line)
    print(f"\ndrop-in {dropin_name(kind, args.lane)}:\n{text}")
    if not _confirmed(args.yes):
        return 1
    return apply_and_reload(
        args.config, config, dropin_name(kind, args.lane), text, reload=not args.no_reload
    )


def collect_frames(config: AppConfig, lane_id: str, count: int, timeout_s: float) -> list[np.ndarray]:
    """Frames straight from the lane's thermal sensor (the service must not hold the port meanwhile)."""
    from drivers.items import ThermalFrame
    from drivers.registry import build_device

    lane = next(lane for lane in config.lanes if lane.id == lane_id)
    device = build_device(f"{lane_id}.thermal", lane.thermal)
    frames: queue.Queue[np.ndarray] = queue.Queue()
    stop = threading.Event()

    def emit(item: object) -> None:
        if isinstance(item, ThermalFrame):
            frames.put(item.temps_c)

    thread = threading.Thread(target=device.run, args=(stop, emit), name="calibrate-thermal", daemon=True)
    thread.start()
    out: list[np.ndarray] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < count and time.monotonic() < deadline:
            try:
                out.append(frames.get(timeout=0.2))
            except queue.Empty:
                continue
    finally:
        stop.set()
        thread.join(5.0)
    if len(out) < count:
        status = device.status()
        raise BlackbodyNotFound(
            f"only {len(out)} of {count} frames in {timeout_s:.0f} s from {lane_id}.thermal "
            f"({status.get('state')}: {status.get('last_error') or 'no error'}); is the service holding the port? "
            "Calibrate from the console while it runs, or stop it first."
        )
    return out


def _cmd_blackbody(args: argparse.Namespace) -> int:
    config = _config_or_exit(args.config, args.lane)
    if config is None:
        return EX_CONFIG
    try:
        if args.frames_file is not None:
            frames = list(np.load(args.frames_file)[:MAX_FRAMES])
        else:
            frames = collect_frames(config, args.lane, args.frames, args.timeout)
        proposal = find_blackbody(frames)
    except (BlackbodyNotFound, OSError, ValueError) as exc:
        print(f"blackbody: {exc}", file=sys.stderr)
        return 1
    set_point = args.set_point if args.set_point is not None else proposal.set_point_c
    values = {"enabled": True, "roi": list(proposal.roi), "set_point_c": set_point}
    lines = [proposal.describe()]
    if args.set_point is None:
        lines.append("set point: check it against the blackbody's display (--set-point to give it)")
    return _propose(args, config, "blackbody", "reference", values, lines)


def _cmd_registration(args: argparse.Namespace) -> int:
    config = _config_or_exit(args.config, args.lane)
    if config is None:
        return EX_CONFIG
    try:
        pairs = read_pairs(args.pairs) if args.pairs is not None else _target_pairs(args)
        result = calibrate_registration(pairs, args.max_residual_px)
    except (RegistrationRefused, OSError, ValueError) as exc:
        print(f"registration refused: {exc}", file=sys.stderr)
        return 1
    values = {"homography": [list(row) for row in result.homography]}
    return _propose(args, config, "registration", "registration", values, [result.describe()])


def _target_pairs(args: argparse.Namespace) -> np.ndarray:
    import cv2

    from edge.calibration.target import target_pairs

    if args.target_thermal is None:
        raise ValueError(
            "--target-visible needs --target-thermal (the same target seen by the thermal camera)"
        )
    columns, _, rows = args.grid.partition("x")
    visible = cv2.imread(str(args.target_visible), cv2.IMREAD_COLOR)
    if visible is None:
        raise ValueError(f"{args.target_visible}: not a readable image")
    return target_pairs(visible, np.load(args.target_thermal), (int(columns), int(rows)))


def _cmd_offset(args: argparse.Namespace) -> int:
    config = _config_or_exit(args.config, args.lane)
    if config is None:
        return EX_CONFIG
    try:
        result = calibrate_offset(read_readings(args.readings))
    except (OffsetRefused, OSError, ValueError) as exc:
        print(f"offset refused: {exc}", file=sys.stderr)
        return 1
    return _propose(args, config, "offset", "", {"core_offset_c": result.offset_c}, [result.describe()])


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", type=Path, required=True, help="the appliance's TOML configuration")
    cmd.add_argument("--lane", required=True, help="lane id to calibrate")
    cmd.add_argument("--yes", action="store_true", help="apply without asking (scripts)")
    cmd.add_argument(
        "--no-reload", action="store_true", help="write the drop-in but do not SIGHUP the service"
    )


def register(sub: argparse._SubParsersAction) -> None:
    calibrate = sub.add_parser("calibrate", help="blackbody, registration or offset calibration → a drop-in")
    kinds = calibrate.add_subparsers(dest="kind", required=True, metavar="KIND")

    bb = kinds.add_parser("blackbody", help="find the steady hot patch: propose the ROI and set point")
    _common(bb)
    bb.add_argument("--frames", type=int, default=32, help="frames to read from the lane's sensor")
    bb.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for them")
    bb.add_argument("--frames-file", type=Path, help="N×H×W °C frames (.npy) instead of the sensor")
    bb.add_argument("--set-point", type=float, help="the blackbody's set temperature, °C (from its display)")
    bb.set_defaults(func=_cmd_blackbody)

    reg = kinds.add_parser("registration", help="point pairs → visible→thermal homography and its residual")
    _common(reg)
    source = reg.add_mutually_exclusive_group(required=True)
    source.add_argument("--pairs", type=Path, help="CSV: visible_x,visible_y,thermal_x,thermal_y")
    source.add_argument("--target-visible", type=Path, help="visible picture of the heated dot-grid target")
    reg.add_argument("--target-thermal", type=Path, help="thermal frame (.npy, °C) of the same target")
    reg.add_argument("--grid", default="5x4", help="dots per row × rows of the target (default 5x4)")
    reg.add_argument(
        "--max-residual-px",
        type=float,
        default=DEFAULT_MAX_RESIDUAL_PX,
        help=f"refuse a fit whose RMS residual exceeds this, thermal px (default {DEFAULT_MAX_RESIDUAL_PX})",
    )
    reg.set_defaults(func=_cmd_registration)

    off = kinds.add_parser("offset", help="paired readings against a clinical thermometer → core offset")
    _common(off)
    off.add_argument("--readings", type=Path, required=True, help="CSV: appliance_c,clinical_c (N ≥ 10)")
    off.set_defaults(func=_cmd_offset)
