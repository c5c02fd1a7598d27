"""`read`: run one device driver on a port and describe what it sends, one record per item or refusal."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from drivers.device import Device, DeviceItem
from drivers.items import IdDocument, IdScan, Rejected, ThermalFrame, VisibleFrame
from drivers.registry import build_device, config_model


def _masked(text: str | None, keep: int) -> str | None:
    if not text:
        return text
    return text[:keep] + "*" * (len(text) - keep)


def _personal_fields(doc: IdDocument, show_personal: bool) -> dict[str, Any]:
    """A laptop screen is seen by passers-by and ends up in tickets: masked unless asked for explicitly.

    The number keeps its region (6 characters of 18, a third of shorter ones), the name its first
    character, the birth date its year: enough to tell documents apart while testing a reader."""
    if show_personal:
        return {"number": doc.number, "name": doc.name, "birth_date": doc.birth_date}
    number = doc.number or ""
    return {
        "number": _masked(number, min(6, len(number) // 3)),
        "name": _masked(doc.name, 1),
        "birth_date": (doc.birth_date[:4] + "-**-**") if doc.birth_date else doc.birth_date,
    }


def describe(item: DeviceItem, show_personal: bool = False) -> dict[str, Any]:
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
            **_personal_fields(doc, show_personal),
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


class _RejectedRuns:
    """Consecutive refusals with one reason are one rejected chunk (a corrupted frame arrives over several reads)."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self._emit = emit
        self._pending: dict[str, Any] = {}
        self._lock = threading.Lock()

    def flush(self) -> None:
        with self._lock:
            record = dict(self._pending)
            self._pending.clear()
        if record:
            self._emit({"type": "rejected", **record})

    def add(self, rejected: Rejected) -> None:
        with self._lock:
            same = self._pending.get("reason") == rejected.reason
            if same:
                self._pending["bytes"] += rejected.nbytes
        if not same:
            self.flush()
            with self._lock:
                self._pending.update(reason=rejected.reason, bytes=rejected.nbytes)


def _emit_state_changes(
    device: Device,
    emit: Callable[[dict[str, Any]], None],
    stop: threading.Event,
    deadline: float | None,
    runs: _RejectedRuns,
) -> bool:
    """Until stop or the deadline; True when the device failed for good (then the caller gives up at once)."""
    last_summary = ""
    while not stop.is_set():
        summary = device.state_summary() if device.state != "connecting" else ""
        if summary and summary.split(" since ")[0] != last_summary.split(" since ")[0]:
            emit({"type": "state", "state": device.state, "summary": summary})
            last_summary = summary
        if device.state == "failed":
            return True  # permission denied, port in use, bad settings: retrying will not help a technician
        if deadline is not None and time.monotonic() >= deadline:
            break
        stop.wait(0.25)
        runs.flush()
    return False


def read_device(
    device: Device,
    emit: Callable[[dict[str, Any]], None],
    *,
    count: int = 0,
    timeout_s: float | None = None,
    stop: threading.Event | None = None,
    show_personal: bool = False,
) -> int:
    """Run `device`, printing items, refusals and state changes, until `count` items, the timeout or stop."""
    stop = stop or threading.Event()
    seen = 0
    seen_lock = threading.Lock()
    runs = _RejectedRuns(emit)

    def on_item(item: DeviceItem) -> None:
        nonlocal seen
        with seen_lock:
            if count and seen >= count:
                return
            seen += 1
            reached = bool(count) and seen >= count
        runs.flush()
        emit(describe(item, show_personal))
        if reached:
            stop.set()

    device.on_rejected = runs.add
    thread = threading.Thread(
        target=device.run, args=(stop, on_item), name=f"read-{device.device_id}", daemon=True
    )
    thread.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    failed = False
    try:
        failed = _emit_state_changes(device, emit, stop, deadline, runs)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=5)
        runs.flush()
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
    if failed:
        print(f"cannot read {device.device_id}: {failure_reason(device.last_error)}", file=sys.stderr)
        return 1
    return 0 if not count or seen >= count else 1


def failure_reason(error: str | None) -> str:
    """The technician's words for the open failures retrying cannot fix."""
    text = error or "unknown error"
    if "exclusively lock" in text or "Resource temporarily unavailable" in text or "busy" in text.lower():
        return f"port in use (another process holds it: the service? stop it first) ({text})"
    if "Permission denied" in text:
        return f"permission denied (is this user in the dialout group?) ({text})"
    return text
