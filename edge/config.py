"""The appliance's configuration: one TOML file, validated strictly at start-up.

Every error names its key path (`lanes[0].thermal.port`) and the reason, and all errors are reported at
once, so a technician fixes a file in one pass.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from drivers.registry import (
    AlarmDeviceConfig,
    IdScanDeviceConfig,
    ThermalDeviceConfig,
    VisibleCameraDeviceConfig,
    all_device_types,
)
from drivers.strict import StrictModel
from edge.calibration.dropins import DropInError, dropin_dir, merge_dropins, merge_tables
from edge.contract.topics import reserved_id_problem
from edge.flows import flow_offsets_error
from edge.privacy import PrivacySettings
from edge.rules import RulesSettings
from edge.screening.settings import ScreeningSettings
from edge.uplink import BrokerSettings
from edge.web.settings import WebSettings

LANE_SCREENING_KEYS = {"reference", "registration", "core_offset_c", "measurement_zone"}

EX_CONFIG = 78  # sysexits.h: configuration error; systemd's RestartPreventExitStatus keeps it from looping

_TOPIC_SAFE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # ids become MQTT topic levels: no / + # or spaces


class LaneConfig(StrictModel):
    id: str = Field(pattern=_TOPIC_SAFE, description="Lane name, unique on this appliance (e.g. lane-1).")
    thermal: ThermalDeviceConfig = Field(description="The lane's thermal sensor.")
    visible: VisibleCameraDeviceConfig | None = Field(
        None, description="Optional visible-light camera beside the thermal sensor (better face finding)."
    )
    id_scanners: list[IdScanDeviceConfig] = Field(
        default_factory=list, max_length=4, description="ID-document scanners at this lane."
    )
    alarm: AlarmDeviceConfig | None = Field(
        None, description="Optional lamp/buzzer output: a USB serial relay (lcus_relay) or GPIO lines (gpio)."
    )
    screening: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "This lane's calibration, merged key by key over [screening]: reference (blackbody), "
            "registration, core_offset_c, measurement_zone. Usually written by `checkpoint-edge calibrate` "
            "as a drop-in (see storage.dropin_dir)."
        ),
    )

    @field_validator("screening")
    @classmethod
    def _calibration_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        extra = sorted(set(value) - LANE_SCREENING_KEYS)
        if extra:
            raise ValueError(f"per-lane screening may set only {sorted(LANE_SCREENING_KEYS)}, not {extra}")
        return value

    flow: Literal["card_then_face", "face_then_card", "card_while_in_view", "auto"] = Field(
        "auto",
        description="Where the card is read relative to the camera: card_then_face (reader before the "
        "camera), face_then_card, card_while_in_view, or auto (learnt from passengers walking alone; until "
        "then no face is given a card). See docs/install.md.",
    )
    card_offset_s: tuple[float, float] | None = Field(
        None,
        description="[earliest, latest] time of the card read relative to the face in view, s (negative: "
        "before the face's first frame, positive: after its last, 0: while in view). Default per flow: "
        "card_then_face [-2.5, 0.0], face_then_card [0.0, 2.5], card_while_in_view [-0.5, 0.5].",
    )

    @model_validator(mode="after")
    def _offsets_fit_flow(self) -> LaneConfig:
        error = flow_offsets_error(self.flow, self.card_offset_s)
        if error is not None:
            raise ValueError(f"card_offset_s {error}")
        if self.card_offset_s is not None and not all(-10.0 <= t <= 10.0 for t in self.card_offset_s):
            raise ValueError("card_offset_s must lie within -10..10 s")
        return self


class PassengerSettings(StrictModel):
    repeat_suppress_s: float = Field(
        3.0,
        ge=0.0,
        le=60.0,
        description="The same document read again within this time, by any scanner of the lane, is one read, s.",
    )


class StorageSettings(StrictModel):
    state_dir: Path = Field(
        Path("/var/lib/checkpoint-edge"),
        description="Writable directory for the outbox (systemd StateDirectory).",
    )
    outbox_max_mb: int = Field(256, ge=1, le=65536, description="Disk budget of the outbox, MiB.")
    dropin_dir: Path | None = Field(
        None,
        description=(
            "Calibration drop-ins (*.toml, merged over this file by lane id; written by "
            "`checkpoint-edge calibrate`). Default: <state_dir>/config.d, writable under ProtectSystem=strict."
        ),
    )


class AppConfig(StrictModel):
    site_id: str = Field(
        pattern=_TOPIC_SAFE, description="Station/site id; a topic level (not `lists`, `devices` or a role)."
    )
    device_id: str = Field(
        pattern=_TOPIC_SAFE,
        description="This appliance's id; a topic level. Its broker identity is `{site_id}/{device_id}`.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    lanes: list[LaneConfig] = Field(min_length=1, max_length=8, description="1–8 lanes.")
    screening: ScreeningSettings = Field(default_factory=ScreeningSettings)
    passengers: PassengerSettings = Field(default_factory=PassengerSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @field_validator("site_id", "device_id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        problem = reserved_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @model_validator(mode="after")
    def _unique_names(self) -> AppConfig:
        lane_ids = [lane.id for lane in self.lanes]
        if len(set(lane_ids)) != len(lane_ids):
            raise ValueError(f"lane ids must be unique, got {lane_ids}")
        ports = [str(getattr(lane.thermal, "port", "")) for lane in self.lanes] + [
            s.port for lane in self.lanes for s in lane.id_scanners
        ]
        ports += [str(getattr(lane.alarm, "port", "")) for lane in self.lanes if lane.alarm is not None]
        ports = [p for p in ports if p]
        dupes = sorted({p for p in ports if ports.count(p) > 1 and not p.startswith("loop://")})
        if dupes:
            raise ValueError(f"a serial port can serve one device only: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _lane_screening(self) -> AppConfig:
        """Each lane's calibration must make valid screening settings together with [screening]."""
        errors = []
        for i, lane in enumerate(self.lanes):
            try:
                self.screening_for(lane.id)
            except ValidationError as exc:
                errors += [
                    f"lanes[{i}].screening.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                ]
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def screening_for(self, lane_id: str) -> ScreeningSettings:
        """[screening] with the lane's calibration merged over it, key by key."""
        lane = next(lane for lane in self.lanes if lane.id == lane_id)
        if not lane.screening:
            return self.screening
        return ScreeningSettings.model_validate(merge_tables(self.screening.model_dump(), lane.screening))


class ConfigError(Exception):
    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(errors))
        self.source = source
        self.errors = errors

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.errors)} configuration error(s):"]
        lines += [f"  {e}" for e in self.errors]
        return "\n".join(lines)


def _key_path(loc: tuple[int | str, ...]) -> str:
    device_types = all_device_types()
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        # Discriminated unions put the tag in the location (thermal.gy_mcu90640.port): a user never wrote it.
        elif (item in device_types and i > 0 and loc[i - 1] in ("thermal", "alarm")) or (
            item in device_types and i > 0 and isinstance(loc[i - 1], int) and "id_scanners" in loc[: i - 1]
        ):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _reason(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        return f"unknown device type; expected one of {', '.join(sorted(all_device_types()))}"
    return str(msg).removeprefix("Value error, ")


MAX_NESTING = 16  # the deepest real table is lanes[].id_scanners[].<device settings>; far below this


def _hostile_values(value: Any, loc: tuple[int | str, ...] = ()) -> list[str]:
    """Errors pydantic would not report well: NaN/inf pass float checks, extreme nesting recurses."""
    if len(loc) > MAX_NESTING:
        return [f"{_key_path(loc[:MAX_NESTING])}: nested more than {MAX_NESTING} levels deep"]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{_key_path(loc)}: must be a finite number, got {value}"]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [error for key, item in items for error in _hostile_values(item, (*loc, key))]


def validate_config(data: dict[str, Any], source: str) -> AppConfig:
    hostile = _hostile_values(data)
    if hostile:
        raise ConfigError(source, hostile)
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [f"{_key_path(e['loc'])}: {_reason(e)}" for e in exc.errors()]) from None


def load_config(path: Path) -> AppConfig:
    return load_config_with_dropins(path)[0]


def load_config_with_dropins(path: Path) -> tuple[AppConfig, list[Path]]:
    """The main file with the calibration drop-ins merged over it, and the drop-ins merged."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"TOML syntax: {exc}"]) from None
    except RecursionError:  # tomllib recurses per nesting level: thousands of [[[ or {a={ end here
        raise ConfigError(
            str(path), [f"TOML nested too deeply (more than {MAX_NESTING} levels are refused)"]
        ) from None
    try:
        data, dropins = merge_dropins(data, dropin_dir(data))
    except DropInError as exc:
        raise ConfigError(str(path), [f"drop-in {exc}"]) from None
    source = str(path) + "".join(f" + {p.name}" for p in dropins)
    return validate_config(data, source), dropins


def config_hash(config: AppConfig) -> str:
    """Reported in the status message so the centre can tell which configuration a device runs."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def summary(config: AppConfig) -> str:
    scanners = sum(len(lane.id_scanners) for lane in config.lanes)
    return (
        f"site {config.site_id}, device {config.device_id}: {len(config.lanes)} lane(s), "
        f"{scanners} ID scanner(s), threshold {config.screening.threshold_c:.1f} °C, "
        f"broker {config.broker.host}:{config.broker.port}"
    )
