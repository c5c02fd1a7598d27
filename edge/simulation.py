"""A scripted checkpoint on simulated devices: passengers with known ground truth, rendered as real
GY-MCU90640 frames and SAM card reads on pseudo-terminals, and the appliance configuration that points the
real service at them. Used by the demo, the end-to-end tests and the soak benchmark; never by the service."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from drivers.idscan.resident_id_number import check_character
from drivers.idscan.sam_protocol import encode_text_block
from drivers.sim.gy_mcu90640_sim import GyMcu90640Simulator
from drivers.sim.sam_reader_sim import SamReaderSimulator
from edge.screening.scene import Person, Scene, render

AMBIENT_C = 24.0
KEY_REGION = "990100"


FLOWS = ("card_while_in_view", "card_then_face", "face_then_card")
CARD_ON_READER_S = 0.13  # long enough for one poll of the reader (0.1 s) to find it
IRREGULAR = ("no_card", "no_face", "tailgating", "double_read", "turning_back")


@dataclass(frozen=True)
class ScriptedPassenger:
    index: int
    arrive_s: float
    leave_s: float
    skin_max_c: float
    id_number: str
    name: str
    has_face: bool = True  # False: the card is scanned but no reading is made (e.g. walked round the camera)
    has_card: bool = True  # False: an anonymous passenger
    card_from_s: float | None = (
        None  # when the card is laid on the reader (default: while the face is in view)
    )
    card_again_s: float | None = None  # laid on the reader a second time (a double read)
    irregular: str = ""  # one of IRREGULAR, or "" for a regular passenger

    @property
    def card_window(self) -> tuple[float, float]:
        if self.card_from_s is None:
            return self.arrive_s + 0.1, self.leave_s - 0.1
        return self.card_from_s, self.card_from_s + CARD_ON_READER_S

    def card_windows(self) -> list[tuple[float, float]]:
        windows = [self.card_window] if self.has_card else []
        if self.has_card and self.card_again_s is not None:
            windows.append((self.card_again_s, self.card_again_s + CARD_ON_READER_S))
        return windows


def card_from_s(flow: str, arrive_s: float, leave_s: float, delay_s: float) -> float | None:
    """When the card goes on the reader in this flow, `delay_s` from the face (None: the default, in view)."""
    if flow == "card_then_face":
        return arrive_s - delay_s - CARD_ON_READER_S
    if flow == "face_then_card":
        return leave_s + delay_s
    return None


def make_irregular(
    p: ScriptedPassenger, kind: str, flow: str, delay_s: float, gap_s: float
) -> ScriptedPassenger:
    """Passenger p made irregular in the way `kind` says (the scene's gap_s is the face-free time before the
    next passenger)."""
    if kind == "no_card":
        return dataclasses.replace(p, has_card=False, irregular=kind)
    if kind == "no_face":  # walked round the camera
        return dataclasses.replace(p, has_face=False, irregular=kind)
    if kind == "double_read":  # lifted the card and laid it down again
        return dataclasses.replace(p, card_again_s=p.card_window[1] + 0.05, irregular=kind)
    if kind == "tailgating":  # walks right behind the previous passenger: no gap between the faces
        shift = -gap_s
        card = card_from_s(flow, p.arrive_s + shift, p.leave_s, delay_s)
        return dataclasses.replace(p, arrive_s=p.arrive_s + shift, card_from_s=card, irregular=kind)
    if kind == "turning_back":  # card read, a glimpse at the camera, then back the way they came
        return dataclasses.replace(p, leave_s=p.arrive_s + 0.15, irregular=kind)
    raise ValueError(f"unknown irregular passenger {kind!r}")


def make_id_number(region: str, index: int, lane: int = 0) -> str:
    """A checksum-valid number, unique per (lane, index), whose sex digit is odd for even indices."""
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=index)
    first17 = f"{region}{birth:%Y%m%d}{lane % 100:02d}{(index % 5) * 2 + 1}"
    return first17 + check_character(first17)


def script_scene(
    count: int = 20,
    febrile: tuple[int, ...] = (4, 11, 17),
    key_region: tuple[int, ...] = (8,),
    no_card: tuple[int, ...] = (),
    no_face: tuple[int, ...] = (),
    start_s: float = 1.5,
    spacing_s: float = 1.25,
    dwell_s: float = 0.75,
    lane: int = 0,
    seed: int = 7,
    flow: str = "card_while_in_view",
    card_delay_s: float = 0.3,
    irregular: dict[int, str] | None = None,
) -> list[ScriptedPassenger]:
    """`flow`: where the card is read (card_then_face: `card_delay_s` before the face arrives; face_then_card:
    that long after it leaves); `irregular`: passenger index → one of IRREGULAR."""
    rng = np.random.default_rng(seed + lane)
    out = []
    for i in range(count):
        arrive = start_s + i * spacing_s
        skin = 36.8 if i in febrile else float(rng.uniform(35.2, 35.7))
        region = KEY_REGION if i in key_region else "990000"
        p = ScriptedPassenger(
            i,
            arrive,
            arrive + dwell_s,
            skin,
            make_id_number(region, i, lane),
            f"旅客{lane:02d}{i:03d}",
            has_face=i not in no_face,
            has_card=i not in no_card,
            card_from_s=card_from_s(flow, arrive, arrive + dwell_s, card_delay_s),
        )
        if irregular and i in irregular:
            p = make_irregular(p, irregular[i], flow, card_delay_s, spacing_s - dwell_s)
        out.append(p)
    return out


class SceneRenderer:
    """32×24 frames of a lane as a GY-MCU90640 (55°) sees it, from the scene generator (edge/screening/
    scene.py): background at ambient, and a passenger's head with anthropometric proportions, inner canthi as
    the hottest skin, forehead, cheeks, nose, hair and clothing, integrated over each pixel's footprint.

    Passengers lean in to the kiosk at `distance_m` (0.30 m: the face is ~15 px wide, inside the sensor's
    envelope, edge/screening/envelope.py) and sway a little sideways while in view.
    """

    def __init__(self, passengers: list[ScriptedPassenger], distance_m: float = 0.30) -> None:
        self.passengers = passengers
        self.distance_m = distance_m
        self._rng = np.random.default_rng(11)
        self._base = Scene(width=32, height=24, horizontal_fov_deg=55.0, ambient_c=AMBIENT_C, people=(),
                           noise_c=0.08, supersample=3)  # fmt: skip

    def present(self, t: float) -> ScriptedPassenger | None:
        return next((p for p in self.passengers if p.has_face and p.arrive_s <= t < p.leave_s), None)

    def person(self, p: ScriptedPassenger, t: float) -> Person:
        progress = (t - p.arrive_s) / max(p.leave_s - p.arrive_s, 1e-9)
        return Person(
            x_m=-0.01 + 0.02 * progress,
            y_m=0.01,
            distance_m=self.distance_m,
            canthus_c=p.skin_max_c,
            forehead_c=p.skin_max_c - 0.8,
            face_c=p.skin_max_c - 1.8,
            nose_c=p.skin_max_c - 3.0,
        )

    def __call__(self, t: float) -> tuple[np.ndarray, float]:
        p = self.present(t)
        people = (self.person(p, t),) if p is not None else ()
        rendered = render(replace(self._base, people=people), self._rng)
        return rendered.temps_c, AMBIENT_C

    def card(self, t: float) -> bytes | None:
        for p in self.passengers:
            if any(start <= t < end for start, end in p.card_windows()):
                return card_bytes(p)
        return None


def card_bytes(p: ScriptedPassenger) -> bytes:
    """What the SAM reader returns for p's card."""
    return encode_text_block(
        p.name,
        "1" if int(p.id_number[16]) % 2 else "2",  # sex agrees with the number's parity
        "01",
        p.id_number[6:14],
        "示例路1号",
        p.id_number,
        "示例公安局",
        "20200101",
        "20400101",
    )


def expected_alerts(
    passengers: list[ScriptedPassenger], threshold_c: float, offset_c: float
) -> dict[str, str]:
    """id number → category, from the script's ground truth."""
    out = {}
    for p in passengers:
        if not p.has_card:
            continue
        if p.has_face and p.skin_max_c + offset_c >= threshold_c:
            out[p.id_number] = "medical_referral"
        elif p.id_number.startswith(KEY_REGION):
            out[p.id_number] = "guide_to_service_point"
    return out


LANE_CONFIG = """
[[lanes]]
id = "{lane_id}"
flow = "{flow}"
{card_offset}[lanes.thermal]
type = "gy_mcu90640"
port = "{thermal_port}"
baudrate = 460800
rate_hz = 8.0
[[lanes.id_scanners]]
type = "sam_id_reader"
port = "{reader_port}"
poll_interval_s = 0.1
"""

APPLIANCE_CONFIG = """\
# Written by checkpoint-edge's simulated checkpoint: every lane on simulated devices.
site_id = "demo-station"
device_id = "gate-01"
log_level = "WARNING"
{lanes}
[screening]
threshold_c = 37.3
warm_up_s = 0.0  # simulated sensors are warm from the first frame
{screening_extra}
[rules]
key_regions = [{{ prefix = "{key_region}", action = "guide_to_service_point" }}]
{rules_extra}

[broker]
host = "127.0.0.1"
port = {broker_port}
protocol = "{protocol}"

[storage]
state_dir = "{state_dir}"

[privacy]
hmac_key_file = "{key_file}"

# Any free port: tests and benches run many simulated checkpoints side by side.
[web.display]
port = 0

[web.console]
port = 0
"""


class SimulatedLane:
    """One lane's devices as simulators on pseudo-terminals, playing a scripted scene on a shared clock."""

    def __init__(
        self,
        lane_id: str,
        passengers: list[ScriptedPassenger],
        workdir: Path,
        clock: Callable[[], float],
        flow: str = "card_while_in_view",
        card_offset_s: tuple[float, float] | None = (-0.3, 0.3),
    ) -> None:
        """flow, card_offset_s: what the lane's configuration says (the scene's own default: the card is read
        while the face is in view, and the next passenger comes 0.5 s after one leaves)."""
        self.lane_id = lane_id
        self.passengers = passengers
        self.flow, self.card_offset_s = flow, card_offset_s
        self.scene = SceneRenderer(passengers)
        self.thermal = GyMcu90640Simulator(
            lambda _t: self.scene(clock()), link_path=workdir / f"{lane_id}-thermal"
        )
        self.reader = SamReaderSimulator(
            lambda: self.scene.card(clock()), link_path=workdir / f"{lane_id}-idreader"
        )

    def start(self) -> SimulatedLane:
        self.thermal.start()
        self.reader.start()
        return self

    def stop(self) -> None:
        self.thermal.stop()
        self.reader.stop()

    def config(self) -> str:
        offset = "" if self.card_offset_s is None else f"card_offset_s = {list(self.card_offset_s)}\n"
        return LANE_CONFIG.format(
            lane_id=self.lane_id,
            flow=self.flow,
            card_offset=offset,
            thermal_port=self.thermal.port,
            reader_port=self.reader.port,
        )


def appliance_config(
    lanes: list[SimulatedLane],
    broker_port: int,
    protocol: str,
    state_dir: Path,
    key_file: Path,
    screening_extra: str = "",
    rules_extra: str = "",
) -> str:
    """The TOML the service reads; the *_extra strings are lines added to the [screening] / [rules] tables."""
    return APPLIANCE_CONFIG.format(
        lanes="".join(lane.config() for lane in lanes),
        key_region=KEY_REGION,
        broker_port=broker_port,
        protocol=protocol,
        state_dir=state_dir,
        key_file=key_file,
        screening_extra=screening_extra,
        rules_extra=rules_extra,
    )
