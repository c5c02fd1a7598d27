"""The LCUS USB serial relay as a lane alarm output (frame format in drivers/alarm/lcus.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from drivers.alarm.lcus import encode_relay
from drivers.alarm.output import TICK_S, AlarmOutputDevice
from drivers.alarm.patterns import PatternMap, check_outcomes, patterns_field
from drivers.strict import StrictModel
from drivers.transport import SerialLink, SerialPortName


class LcusRelayConfig(StrictModel):
    type: Literal["lcus_relay"]
    port: SerialPortName = Field(description="pyserial URL or device path of the CH340 relay board.")
    baudrate: int = Field(9600, ge=1200, le=115200, description="UART speed; LCUS boards use 9600.")
    patterns: PatternMap = patterns_field()

    _outcomes = field_validator("patterns")(check_outcomes)


class LcusRelayDevice(AlarmOutputDevice):
    def __init__(self, device_id: str, config: LcusRelayConfig) -> None:
        super().__init__(device_id, config.patterns)
        self.config = config
        self.link = SerialLink(config.port, config.baudrate, read_timeout_s=TICK_S)

    def open_output(self) -> None:
        self.link.open()

    def close_output(self) -> None:
        self.link.close()

    def write_channel(self, channel: int, on: bool) -> None:
        self.link.write(encode_relay(channel, on))

    def poll_output(self) -> None:
        # The board never answers, but a read fails at once when the USB adapter is gone, so a pulled board
        # shows in health without waiting for the next switch. Whatever it might say is ignored.
        self.link.read()
