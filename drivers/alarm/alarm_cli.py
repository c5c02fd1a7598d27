"""`checkpoint-edge alarm-test TYPE PORT`: switch a lane alarm through its outcomes, for checking the wiring on
site (which lamp is red, does the buzzer sound) before the service owns the port.

Each step prints one JSON line with the outputs the device set; the run ends with every output off.
Exit 0 when the device took every step, 1 when it could not be opened or failed on the way.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from pydantic import ValidationError

from drivers.alarm.output import AlarmOutputDevice
from drivers.alarm.patterns import ALARM_OUTCOMES, LANE_FAULT
from drivers.registry import ALARM_DEVICES, build_device, config_model

CONNECT_TIMEOUT_S = 5.0


def _device(args: argparse.Namespace) -> AlarmOutputDevice:
    fields: dict[str, Any] = {"type": args.type}
    if args.type == "gpio":
        fields.update({"chip": args.port, "lines": [int(x) for x in (args.lines or "").split(",") if x]})
    else:
        fields["port"] = args.port
    device = build_device(f"alarm-test.{args.type}", config_model(args.type).model_validate(fields))
    assert isinstance(device, AlarmOutputDevice)
    return device


def _step(device: AlarmOutputDevice, outcome: str, seconds: float) -> dict[str, Any]:
    if outcome == LANE_FAULT:
        device.set_fault(True)
    else:
        device.signal(outcome)
    time.sleep(seconds / 2)
    seen = dict(device.status()["outputs"])
    time.sleep(seconds / 2)
    if outcome == LANE_FAULT:
        device.set_fault(False)
    device.acknowledge()
    device.signal("clear")
    status = device.status()
    return {"outcome": outcome, "outputs": seen, "state": status["state"], "last_error": status["last_error"]}


def cmd_alarm_test(args: argparse.Namespace) -> int:
    try:
        device = _device(args)
    except (ValidationError, ValueError) as exc:
        print(f"alarm-test: {exc}")
        return 64
    stop = threading.Event()
    thread = threading.Thread(target=device.run, args=(stop, lambda _item: None), name="alarm-test")
    thread.start()
    ok = True
    try:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while device.status()["state"] != "connected" and time.monotonic() < deadline:
            time.sleep(0.05)
        if device.status()["state"] != "connected":
            print(
                json.dumps({"state": device.status()["state"], "last_error": device.status()["last_error"]})
            )
            return 1
        for outcome in [args.outcome] if args.outcome else list(ALARM_OUTCOMES):
            line = _step(device, outcome, args.seconds)
            print(json.dumps(line), flush=True)
            ok = ok and line["state"] == "connected"
    finally:
        stop.set()
        thread.join(5.0)
    return 0 if ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "alarm-test",
        help="switch a lane alarm (relay board or GPIO) through each outcome's pattern, for wiring checks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("type", choices=sorted(ALARM_DEVICES), help="lcus_relay or gpio")
    parser.add_argument("port", help="relay: serial device path or URL; gpio: the chip, e.g. /dev/gpiochip0")
    parser.add_argument("--lines", help="gpio: line offsets, one per channel, e.g. 17,27,22")
    parser.add_argument("--outcome", choices=ALARM_OUTCOMES, help="only this outcome (default: each in turn)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="how long each outcome is shown (default 3)"
    )
    parser.set_defaults(func=cmd_alarm_test)
