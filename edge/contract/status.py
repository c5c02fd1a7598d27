"""Builder of `status` payloads (schema checkpoint.status): presence and health, retained."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from edge.contract.kinds import header, utc_now_iso


class Presence(StrEnum):
    """`status.state`: birth after each connection, the broker's last will, or a clean exit."""

    ONLINE = "online"
    OFFLINE = "offline"
    STOPPED = "stopped"


# Optional sections a status provider may add, published as they are.
OPTIONAL_SECTIONS = ("lanes", "rule_lists", "privacy", "counters")


def normalise_devices(devices: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The contract wants {device: {"state": …, …}}; bare state strings are accepted from providers."""
    return {
        str(name): dict(info) if isinstance(info, dict) else {"state": str(info)}
        for name, info in devices.items()
    }


def build_status(
    site_id: str,
    device_id: str,
    state: Presence,
    *,
    boot_id: str,
    software_version: str,
    outbox: dict[str, Any],
    provided: Mapping[str, Any],
) -> dict[str, Any]:
    """A status payload ready to be stamped. `provided` is the service's status report: its `devices`,
    `config_hash` and optional sections are taken from it, the rest ignored."""
    optional = {key: provided[key] for key in OPTIONAL_SECTIONS if key in provided}
    return {
        **header("status", site_id, device_id),
        "time_utc": utc_now_iso(),
        "state": str(state),
        "boot_id": boot_id,
        "software_version": software_version,
        "config_hash": provided.get("config_hash"),
        "devices": normalise_devices(dict(provided.get("devices", {}) or {})),
        "outbox": outbox,
        **optional,
    }
