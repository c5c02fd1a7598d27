"""`checkpoint-edge demo`: the whole job on a scripted scene, with nothing configured.

A local broker, a GY-MCU90640 simulator and a SAM ID-reader simulator on pseudo-terminals, the real service
reading them through its drivers, and a subscriber standing in for the central system. 20 passengers walk
through one lane; 3 are febrile and 1 carries an ID card from a configured key region. The demo passes only
if exactly those 4 alerts arrive, with the right categories.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from drivers.idscan.resident_id_number import check_character
from drivers.idscan.sam_reader import encode_text_block
from drivers.sim.gy_mcu90640_sim import GyMcu90640Simulator
from drivers.sim.sam_reader_sim import SamReaderSimulator
from edge.config import load_config
from edge.local_broker import LocalBroker
from edge.privacy import Pseudonymiser
from edge.service import Service

AMBIENT_C = 24.0
KEY_REGION = "990100"


@dataclass(frozen=True)
class ScriptedPassenger:
    index: int
    arrive_s: float
    leave_s: float
    skin_max_c: float
    id_number: str
    name: str

    @property
    def card_window(self) -> tuple[float, float]:
        return self.arrive_s + 0.1, self.leave_s - 0.1


def make_id_number(region: str, index: int) -> str:
    first17 = f"{region}{1970 + index:04d}0615{100 + index:03d}"
    return first17 + check_character(first17)


def script_scene(
    count: int = 20, febrile: tuple[int, ...] = (4, 11, 17), key_region: tuple[int, ...] = (8,)
) -> list[ScriptedPassenger]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(count):
        arrive = 1.5 + i * 1.25
        skin = 36.8 if i in febrile else float(rng.uniform(35.2, 35.7))
        region = KEY_REGION if i in key_region else "990000"
        out.append(
            ScriptedPassenger(i, arrive, arrive + 0.75, skin, make_id_number(region, i), f"旅客{i:02d}")
        )
    return out


class SceneRenderer:
    """32×24 frames of a lane: background at ambient, a passenger's face as a warm ellipse."""

    def __init__(self, passengers: list[ScriptedPassenger]) -> None:
        self.passengers = passengers
        self._rng = np.random.default_rng(11)
        yy, xx = np.mgrid[0:24, 0:32]
        r2 = ((yy - 11) / 4.5) ** 2 + ((xx - 16) / 3.5) ** 2
        self._face = r2 <= 1.0
        self._falloff = np.clip(1.0 - r2, 0.0, 1.0)

    def present(self, t: float) -> ScriptedPassenger | None:
        return next((p for p in self.passengers if p.arrive_s <= t < p.leave_s), None)

    def __call__(self, t: float) -> tuple[np.ndarray, float]:
        img = AMBIENT_C + self._rng.normal(0.0, 0.08, (24, 32))
        p = self.present(t)
        if p is not None:
            face = p.skin_max_c - 1.2 + 1.2 * self._falloff + self._rng.normal(0.0, 0.02, (24, 32))
            img = np.where(self._face, face, img)
            img[11, 16] = p.skin_max_c  # the inner-canthus hot spot
        return img.astype(np.float32), AMBIENT_C

    def card(self, t: float) -> bytes | None:
        for p in self.passengers:
            start, end = p.card_window
            if start <= t < end:
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
        return None


def expected_alerts(
    passengers: list[ScriptedPassenger], threshold_c: float, offset_c: float
) -> dict[str, str]:
    """id number → category, from the script's ground truth."""
    out = {}
    for p in passengers:
        if p.skin_max_c + offset_c >= threshold_c:
            out[p.id_number] = "medical_referral"
        elif p.id_number.startswith(KEY_REGION):
            out[p.id_number] = "guide_to_service_point"
    return out


LANE_CONFIG = """
[[lanes]]
id = "{lane_id}"
[lanes.thermal]
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

[rules]
key_regions = [{{ prefix = "{key_region}", action = "guide_to_service_point" }}]

[broker]
host = "127.0.0.1"
port = {broker_port}
protocol = "{protocol}"

[storage]
state_dir = "{state_dir}"

[privacy]
hmac_key_file = "{key_file}"
"""


class SimulatedLane:
    """One lane's devices as simulators on pseudo-terminals, playing a scripted scene on a shared clock."""

    def __init__(
        self, lane_id: str, passengers: list[ScriptedPassenger], workdir: Path, clock: Callable[[], float]
    ) -> None:
        self.lane_id = lane_id
        self.passengers = passengers
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
        return LANE_CONFIG.format(
            lane_id=self.lane_id, thermal_port=self.thermal.port, reader_port=self.reader.port
        )


def appliance_config(
    lanes: list[SimulatedLane], broker_port: int, protocol: str, state_dir: Path, key_file: Path
) -> str:
    return APPLIANCE_CONFIG.format(
        lanes="".join(lane.config() for lane in lanes),
        key_region=KEY_REGION,
        broker_port=broker_port,
        protocol=protocol,
        state_dir=state_dir,
        key_file=key_file,
    )


class CentralSubscriber:
    """Stands in for the station's coordination system: subscribes to every alert of the site."""

    def __init__(self, port: int, topic: str, protocol: mqtt.MQTTProtocolVersion) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="demo-central", protocol=protocol
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        alert = json.loads(msg.payload)
        with self.arrived:
            self.alerts.append(alert)
            self.arrived.notify_all()
        temp = alert.get("temperature") or {}
        ident = alert.get("identity") or {}
        print(
            f"  ALERT #{alert.get('seq')} {alert['lane_id']} {alert['category']:<22} "
            f"core {temp.get('core_c', '–')} °C  id {ident.get('id_masked', 'anonymous')}  "
            f"reasons: {', '.join(r['code'] for r in alert['reasons'])}",
            flush=True,
        )

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while len(self.alerts) < count and time.monotonic() < deadline:
                self.arrived.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_demo(passenger_count: int = 20) -> int:
    passengers = script_scene(passenger_count)
    t0 = time.monotonic() + 1.0
    clock = lambda: time.monotonic() - t0  # noqa: E731 - both simulators share the scene's clock

    with tempfile.TemporaryDirectory(prefix="checkpoint-demo-") as tmp:
        work = Path(tmp)
        key_file = work / "site.key"
        key_file.write_bytes(os.urandom(32))
        broker = LocalBroker().start()
        lane = SimulatedLane("lane-1", passengers, work, clock).start()
        protocol = "5" if broker.kind == "mosquitto" else "3.1.1"  # amqtt speaks MQTT 3.1.1 only
        config_path = work / "checkpoint-edge.toml"
        config_path.write_text(appliance_config([lane], broker.port, protocol, work / "state", key_file))
        config = load_config(config_path)
        expected = expected_alerts(
            passengers, config.screening.threshold_c, config.screening.skin_to_core_offset_c
        )
        pseudonymiser = Pseudonymiser.from_file(key_file, key_id=config.privacy.key_id)
        expected_by_hmac = {pseudonymiser.pseudonymise(n): c for n, c in expected.items()}

        print(f"broker: {broker.kind} on 127.0.0.1:{broker.port}")
        print(f"thermal sensor (GY-MCU90640 simulator): {lane.thermal.port}")
        print(f"ID card reader (SAM simulator): {lane.reader.port}")
        print(f"scene: {len(passengers)} passengers, {len(expected)} expected alerts\n")
        topic = f"{config.broker.topic_prefix}/{config.site_id}/{config.device_id}/alert"
        central = CentralSubscriber(broker.port, topic, mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311)
        service = Service(config)
        service.start()
        try:
            scene_end_s = passengers[-1].leave_s
            while clock() < scene_end_s + 1.0:
                time.sleep(0.1)
            central.wait_for(len(expected), timeout_s=config.passengers.join_window_s + 10.0)
            time.sleep(1.0)  # let any unexpected extra alert show itself
        finally:
            service.stop()
            central.close()
            lane.stop()
            broker.stop()

        received = {(a.get("identity") or {}).get("id_hmac"): a["category"] for a in central.alerts}
        missing = {h: c for h, c in expected_by_hmac.items() if received.get(h) != c}
        unexpected = [
            a for a in central.alerts if (a.get("identity") or {}).get("id_hmac") not in expected_by_hmac
        ]
        uplink = service.uplink.state()
        print("\nsummary")
        print(f"  passengers scripted:  {len(passengers)}")
        print(f"  screened:             {service.totals['screened']}")
        print(f"  flagged:              {service.totals['alerts']}")
        print(f"  alerts published:     {uplink.get('acked', uplink.get('published', '?'))}")
        print(f"  alerts received:      {len(central.alerts)} (expected {len(expected)})")
        print(f"  missing:              {len(missing)}")
        print(f"  unexpected:           {len(unexpected)}")
        ok = not missing and not unexpected and len(central.alerts) == len(expected)
        print("DEMO PASSED" if ok else "DEMO FAILED")
        return 0 if ok else 1
