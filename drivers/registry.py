"""Config `type` → (config model, device class). Adding a device type means adding one entry here."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from drivers.alarm.gpio import GpioAlarmConfig, GpioAlarmDevice
from drivers.alarm.relay import LcusRelayConfig, LcusRelayDevice
from drivers.device import Device
from drivers.idscan.barcode import BarcodeScannerConfig, BarcodeScannerDevice
from drivers.idscan.mrz import MrzReaderConfig, MrzReaderDevice
from drivers.idscan.sam_reader import SamReaderConfig, SamReaderDevice
from drivers.thermal.gy_mcu8833 import GyMcu8833Config, GyMcu8833Device
from drivers.thermal.gy_mcu90640 import GyMcu90640Config, GyMcu90640Device
from drivers.thermal.lepton_uvc import LeptonUvcConfig, LeptonUvcDevice
from drivers.visible_camera import VisibleCameraConfig, VisibleCameraDevice

THERMAL_DEVICES: dict[str, tuple[type[Any], Any]] = {
    "gy_mcu90640": (GyMcu90640Config, GyMcu90640Device),
    "gy_mcu8833": (GyMcu8833Config, GyMcu8833Device),
    "lepton_uvc": (LeptonUvcConfig, LeptonUvcDevice),
}
IDSCAN_DEVICES: dict[str, tuple[type[Any], Any]] = {
    "sam_id_reader": (SamReaderConfig, SamReaderDevice),
    "mrz_reader": (MrzReaderConfig, MrzReaderDevice),
    "barcode_scanner": (BarcodeScannerConfig, BarcodeScannerDevice),
}
CAMERA_DEVICES: dict[str, tuple[type[Any], Any]] = {
    "visible_camera": (VisibleCameraConfig, VisibleCameraDevice),
}
ALARM_DEVICES: dict[str, tuple[type[Any], Any]] = {
    "lcus_relay": (LcusRelayConfig, LcusRelayDevice),
    "gpio": (GpioAlarmConfig, GpioAlarmDevice),
}
# Devices on a serial link: what `checkpoint-edge read/probe/simulate` can talk to.
SERIAL_DEVICE_TYPES = ("gy_mcu90640", "gy_mcu8833", "sam_id_reader", "mrz_reader", "barcode_scanner")

ThermalDeviceConfig = Annotated[
    GyMcu90640Config | GyMcu8833Config | LeptonUvcConfig, Field(discriminator="type")
]
IdScanDeviceConfig = Annotated[
    SamReaderConfig | MrzReaderConfig | BarcodeScannerConfig, Field(discriminator="type")
]
VisibleCameraDeviceConfig = VisibleCameraConfig
AlarmDeviceConfig = Annotated[LcusRelayConfig | GpioAlarmConfig, Field(discriminator="type")]


def _tables() -> tuple[dict[str, tuple[type[Any], Any]], ...]:
    return (THERMAL_DEVICES, IDSCAN_DEVICES, CAMERA_DEVICES, ALARM_DEVICES)


def build_device(device_id: str, config: Any) -> Device:
    for table in _tables():
        if config.type in table:
            device: Device = table[config.type][1](device_id, config)
            return device
    raise KeyError(f"unknown device type {config.type!r}")


def config_model(device_type: str) -> type[Any]:
    for table in _tables():
        if device_type in table:
            return table[device_type][0]
    raise KeyError(f"unknown device type {device_type!r}")


def all_device_types() -> set[str]:
    return set(THERMAL_DEVICES) | set(IDSCAN_DEVICES) | set(CAMERA_DEVICES) | set(ALARM_DEVICES)
