"""A Linux GPIO line (or several) as a lane alarm output, through libgpiod's Python binding (`gpiod`, LGPL,
the optional `gpio` extra). Channel n drives `lines[n-1]` of `chip`.

The systemd unit denies device access by default; a site using GPIO adds the chip in a drop-in
(`DeviceAllow=/dev/gpiochip0 rw`, see docs/install.md). Tests use a fake line: CI machines have no gpiochip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from drivers.alarm.output import AlarmOutputDevice
from drivers.alarm.patterns import PatternMap, check_outcomes, patterns_field
from drivers.strict import StrictModel
from drivers.transport import DeviceGone


class GpioLines(Protocol):
    """What the device needs of a line request: switch one offset, release all."""

    def set(self, offset: int, active: bool) -> None: ...

    def release(self) -> None: ...


class GpioAlarmConfig(StrictModel):
    type: Literal["gpio"]
    chip: str = Field("/dev/gpiochip0", pattern=r"^/dev/gpiochip\d+$", description="The GPIO chip device.")
    lines: list[int] = Field(
        min_length=1, max_length=8, description="Line offsets on the chip; channel n drives lines[n-1]."
    )
    active_low: bool = Field(False, description="The output is on when the line is low (sinking drivers).")
    patterns: PatternMap = patterns_field()

    _outcomes = field_validator("patterns")(check_outcomes)

    @model_validator(mode="after")
    def _channels_have_lines(self) -> GpioAlarmConfig:
        used = sorted({o.channel for outputs in self.patterns.values() for o in outputs})
        missing = [c for c in used if c > len(self.lines)]
        if missing:
            raise ValueError(
                f"patterns use channel(s) {missing} but only {len(self.lines)} line(s) are listed"
            )
        return self


class _GpiodLines:
    def __init__(self, chip: str, offsets: list[int], active_low: bool) -> None:
        try:
            import gpiod
            from gpiod.line import Direction, Value
        except ImportError as exc:
            raise DeviceGone(
                "the gpiod package is not installed (pip install 'checkpoint-edge[gpio]')", permanent=True
            ) from exc
        self._value = Value
        settings = gpiod.LineSettings(
            direction=Direction.OUTPUT, output_value=Value.INACTIVE, active_low=active_low
        )
        try:
            self._request = gpiod.request_lines(
                chip, consumer="checkpoint-edge", config={tuple(offsets): settings}
            )
        except (OSError, ValueError) as exc:
            raise DeviceGone(
                f"cannot open {chip}: {exc}", permanent=isinstance(exc, PermissionError)
            ) from exc

    def set(self, offset: int, active: bool) -> None:
        self._request.set_value(offset, self._value.ACTIVE if active else self._value.INACTIVE)

    def release(self) -> None:
        self._request.release()


LineFactory = Callable[[str, list[int], bool], GpioLines]


class GpioAlarmDevice(AlarmOutputDevice):
    def __init__(
        self, device_id: str, config: GpioAlarmConfig, line_factory: LineFactory | None = None
    ) -> None:
        super().__init__(device_id, config.patterns)
        self.config = config
        self._factory: LineFactory = line_factory or _GpiodLines
        self._lines: GpioLines | None = None

    def open_output(self) -> None:
        self._lines = self._factory(self.config.chip, list(self.config.lines), self.config.active_low)

    def close_output(self) -> None:
        lines, self._lines = self._lines, None
        if lines is not None:
            with contextlib.suppress(OSError):
                lines.release()

    def write_channel(self, channel: int, on: bool) -> None:
        if self._lines is None:
            raise DeviceGone(f"{self.config.chip} is not open")
        try:
            self._lines.set(self.config.lines[channel - 1], on)
        except OSError as exc:
            raise DeviceGone(f"write failed on {self.config.chip}: {exc}") from exc

    def extra_status(self) -> dict[str, Any]:
        return {**super().extra_status(), "chip": self.config.chip}
