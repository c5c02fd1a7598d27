"""Config `type` → (config model, device class). Adding a device type means adding one entry here."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from drivers.device import Device
from drivers.idscan.sam_reader import SamReaderConfig, SamReaderDevice
from drivers.thermal.gy_mcu90640 import GyMcu90640Config, GyMcu90640Device

THERMAL_DEVICES: dict[str, tuple[type[Any], Any]] = {
    "gy_mcu90640": (GyMcu90640Config, GyMcu90640Device),
}
IDSCAN_DEVICES: dict[str, tuple[type[Any], Any]] = {
    "sam_id_reader": (SamReaderConfig, SamReaderDevice),
}

ThermalDeviceConfig = Annotated[GyMcu90640Config, Field(discriminator="type")]
IdScanDeviceConfig = Annotated[SamReaderConfig, Field(discriminator="type")]


def build_device(device_id: str, config: Any) -> Device:
    for table in (THERMAL_DEVICES, IDSCAN_DEVICES):
        if config.type in table:
            return table[config.type][1](device_id, config)
    raise KeyError(f"unknown device type {config.type!r}")


def all_device_types() -> set[str]:
    return set(THERMAL_DEVICES) | set(IDSCAN_DEVICES)
