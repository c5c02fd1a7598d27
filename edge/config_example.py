"""Renders config/example.toml from the configuration models, so the documented example cannot drift from
what the service accepts: every key appears with its description as a comment and its default value.

`python -m edge.config_example > config/example.toml` regenerates it; a test checks it is current.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from drivers.registry import ALARM_DEVICES, CAMERA_DEVICES, IDSCAN_DEVICES, THERMAL_DEVICES
from edge.config import AppConfig

# Values for the keys that have no default, and for lists whose default is empty.
EXAMPLE: dict[str, Any] = {
    "site_id": "bj-south",
    "device_id": "gate-03",
    "lanes": [
        {
            "id": "lane-1",
            "thermal": {
                "type": "gy_mcu90640",
                "port": "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.1:1.0-port0",
            },
            "id_scanners": [
                {
                    "type": "sam_id_reader",
                    "port": "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.2:1.0-port0",
                }
            ],
        }
    ],
    "rules": {"key_regions": [{"prefix": "420106", "valid_until": dt.date(2026, 12, 31)}]},
    "privacy": {"hmac_key_file": "/run/credentials/checkpoint-edge.service/site-key"},
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, BaseModel):
        return _toml_value(value.model_dump(exclude_none=True))
    raise TypeError(f"cannot render {value!r}")


def _is_model(value: Any) -> bool:
    return isinstance(value, BaseModel)


def _render(model: BaseModel, table: str, out: list[str], array: bool = False) -> None:
    fields = type(model).model_fields
    if table:
        out.append("")
        out.append(f"[[{table}]]" if array else f"[{table}]")
    later: list[tuple[str, Any]] = []
    for name, info in fields.items():
        value = getattr(model, name)
        if _is_model(value) or (isinstance(value, list) and value and all(_is_model(v) for v in value)):
            later.append((name, value))
            continue
        if info.description:
            out.append(f"# {info.description}")
        if value is None:
            out.append(f"# {name} =   (unset by default)")
        else:
            out.append(f"{name} = {_toml_value(value)}")
    for name, value in later:
        sub = f"{table}.{name}" if table else name
        description = fields[name].description
        if isinstance(value, list):
            for item in value:
                if description:
                    out.append("")
                    out.append(f"# {description}")
                _render(item, sub, out, array=True)
        else:
            _render(value, sub, out)


def render_example() -> str:
    config = AppConfig.model_validate(EXAMPLE)
    out = [
        "# checkpoint-edge: example appliance configuration, generated from the configuration models by",
        "# `python -m edge.config_example`. Every key is shown with its default; only site_id, device_id and",
        "# lanes are required. Check a file with `checkpoint-edge check-config FILE`.",
        "#",
        f"# Thermal device types: {', '.join(sorted(THERMAL_DEVICES))}.",
        f"# ID scanner types: {', '.join(sorted(IDSCAN_DEVICES))}.",
        f"# Lane alarm output types (optional): {', '.join(sorted(ALARM_DEVICES))}.",
        "# Each type's keys are in its model in drivers/ (one file per device type).",
    ]
    _render(config, "", out)
    out += _other_device_types()
    out += _blackbody_example()
    return "\n".join(out) + "\n"


def _blackbody_example() -> list[str]:
    """Lepton 3.5 (±5 °C alone) and cameras of 320×240 and more screen only against a blackbody in view."""
    from edge.screening.settings import ReferenceSettings  # the screening room's model, rendered as-is

    lines: list[str] = []
    reference = ReferenceSettings(enabled=True, roi=(146, 4, 156, 14), set_point_c=35.0)
    _render(reference, "screening.reference", lines)
    return [
        "",
        "# ---- lepton_uvc and cameras of 320×240 and more: enable the blackbody (ETRS) in view. Replace the",
        "# [screening.reference] table above with this one; roi is where the blackbody sits in the frame. ----",
        *(f"# {line}" if line else "" for line in lines[1:]),
    ]


# Where each kind of device sits in a lane, and a placeholder for its port.
_DEVICE_TABLES = {
    "thermal": ("lanes.thermal", False),
    "idscan": ("lanes.id_scanners", True),
    "camera": ("lanes.visible", False),
    "alarm": ("lanes.alarm", False),
}
_EXAMPLE_PORTS = {"visible_camera": "/dev/v4l/by-id/usb-Example_Camera-video-index0"}


def _other_device_types() -> list[str]:
    """Every other device type's keys, commented out, so the example documents every key there is."""
    used = {lane["thermal"]["type"] for lane in EXAMPLE["lanes"]} | {
        s["type"] for lane in EXAMPLE["lanes"] for s in lane["id_scanners"]
    }
    out = ["", "# ---- The other device types: copy a table into a lane and remove the leading '# '. ----"]
    tables = (
        ("thermal", THERMAL_DEVICES),
        ("idscan", IDSCAN_DEVICES),
        ("camera", CAMERA_DEVICES),
        ("alarm", ALARM_DEVICES),
    )
    for kind, table in tables:
        for name, (model, _device) in sorted(table.items()):
            if name in used:
                continue
            values: dict[str, Any] = {"type": name}
            if model.model_fields.get("port") is not None and model.model_fields["port"].is_required():
                values["port"] = _EXAMPLE_PORTS.get(
                    name, "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.3:1.0-port0"
                )
            if model.model_fields.get("lines") is not None:
                values["lines"] = [17, 27, 22]  # GPIO line offsets, one per channel
            lines: list[str] = []
            table_name, is_array = _DEVICE_TABLES[kind]
            _render(model.model_validate(values), table_name, lines, array=is_array)
            out += [f"# {line}" if line else "" for line in lines]
    return out


if __name__ == "__main__":
    sys.stdout.write(render_example())
