"""`checkpoint-edge demo`: the whole job on a scripted scene, with nothing configured.

A local broker, a GY-MCU90640 simulator and a SAM ID-reader simulator on pseudo-terminals, the real service
reading them through its drivers, and a subscriber standing in for the central system. 20 passengers walk
through one lane; 3 are febrile and 1 carries an ID card from a configured key region. The demo passes only
if exactly those 4 alerts arrive, with the right categories.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge.central import CentralSubscriber
from edge.config import AppConfig, load_config
from edge.contract.topics import device_topic
from edge.local_broker import LocalBroker
from edge.privacy import Pseudonymiser
from edge.service import Service
from edge.simulation import SimulatedLane, appliance_config, expected_alerts, script_scene
from edge.web.auth import write_credential_file


class DemoCentral:
    """Stands in for the station's coordination system: prints every alert of the site as it arrives."""

    def __init__(self, port: int, topic: str, protocol: str) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        self.subscriber = CentralSubscriber(
            port, topic, self._on_message, client_id="demo-central", protocol=protocol
        )

    def _on_message(self, _topic: str, payload: bytes, _retained: bool) -> None:
        alert = json.loads(payload)
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
        self.subscriber.close()


def _web_urls(service: Service, password: str) -> list[str]:
    """The three lines a person (or a test) reads to open the pages: operator, console, metrics."""
    display, console = service.web.url("display"), service.web.url("console")
    return [
        f"operator: {display}/" if display else "operator: (not serving, see the log)",
        f"console: {console}/ (one-time password: {password})" if console else "console: (not serving)",
        f"metrics: {console}/metrics" if console else "metrics: (not serving)",
    ]


def _with_console_password(config: AppConfig, work: Path) -> tuple[AppConfig, str]:
    """A password made for this run only, its hash in the demo's scratch directory."""
    password = secrets.token_urlsafe(12)
    credentials = work / "console.pw"
    write_credential_file(credentials, password)
    web = config.web.model_copy(
        update={"console": config.web.console.model_copy(update={"credentials_file": credentials})}
    )
    return config.model_copy(update={"web": web}), password


def _hold(hold_s: float, urls: list[str]) -> None:
    if hold_s <= 0:
        return
    print(f"\nholding for {hold_s:g} s; the service keeps running:", flush=True)
    for line in urls:
        print(f"  {line}", flush=True)
    deadline = time.monotonic() + hold_s
    try:
        while time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        print("interrupted: stopping", flush=True)


def _walk_scene(passengers: list[Any], clock: Any, central: DemoCentral) -> None:
    """Wait for the scripted scene to end, saying every 5 s how far it is: never silent for long."""
    scene_end_s = passengers[-1].leave_s
    next_progress_s = 5.0
    while clock() < scene_end_s + 1.0:
        time.sleep(0.1)
        if clock() >= next_progress_s:
            next_progress_s += 5.0
            walked = sum(p.leave_s <= clock() for p in passengers)
            print(
                f"  … {clock():4.0f} s: {walked}/{len(passengers)} passengers through, "
                f"{len(central.alerts)} alert(s) received",
                flush=True,
            )


def run_demo(passenger_count: int = 20, hold_s: float = 0.0) -> int:
    passengers = script_scene(passenger_count)
    t0 = time.monotonic() + 1.0
    clock = lambda: time.monotonic() - t0  # noqa: E731 - both simulators share the scene's clock

    # Every part is registered for stopping as soon as it starts, so Ctrl-C at any moment leaves nothing behind.
    with tempfile.TemporaryDirectory(prefix="checkpoint-demo-") as tmp, contextlib.ExitStack() as running:
        work = Path(tmp)
        key_file = work / "site.key"
        key_file.write_bytes(os.urandom(32))
        key_file.chmod(0o600)
        print("starting a local broker, two device simulators and the service…", flush=True)
        broker = LocalBroker().start()
        running.callback(broker.stop)
        lane = SimulatedLane("lane-1", passengers, work, clock).start()
        running.callback(lane.stop)
        protocol = "5" if broker.kind == "mosquitto" else "3.1.1"  # amqtt speaks MQTT 3.1.1 only
        config_path = work / "checkpoint-edge.toml"
        config_path.write_text(appliance_config([lane], broker.port, protocol, work / "state", key_file))
        config, password = _with_console_password(load_config(config_path), work)
        expected = expected_alerts(
            passengers, config.screening.threshold_c, config.screening.skin_to_core_offset_c
        )
        pseudonymiser = Pseudonymiser.from_file(key_file, key_id=config.privacy.key_id)
        expected_by_hmac = {pseudonymiser.pseudonymise(n): c for n, c in expected.items()}

        print(f"broker: {broker.kind} on 127.0.0.1:{broker.port}")
        print(f"thermal sensor (GY-MCU90640 simulator): {lane.thermal.port}")
        print(f"ID card reader (SAM simulator): {lane.reader.port}")
        topic = device_topic(config.broker.topic_prefix, config.site_id, config.device_id, "alert")
        central = DemoCentral(broker.port, topic, protocol)
        running.callback(central.close)
        service = Service(config)
        service.start()
        running.callback(service.stop)
        urls = _web_urls(service, password)
        for line in urls:
            print(line)
        print(f"scene: {len(passengers)} passengers, {len(expected)} expected alerts\n", flush=True)
        _walk_scene(passengers, clock, central)
        central.wait_for(len(expected), timeout_s=15.0)
        time.sleep(1.0)  # let any unexpected extra alert show itself
        # Published = acknowledged by the broker = no longer waiting in the outbox.
        unacknowledged = service.outbox.depth().get("alert", 0)
        ok = _summary(passengers, service, central, expected_by_hmac, unacknowledged)
        _hold(hold_s, urls)
        return 0 if ok else 1


def _summary(
    passengers: list[Any],
    service: Service,
    central: DemoCentral,
    expected_by_hmac: dict[str, str],
    unacknowledged: int,
) -> bool:
    received = {(a.get("identity") or {}).get("id_hmac"): a["category"] for a in central.alerts}
    missing = {h: c for h, c in expected_by_hmac.items() if received.get(h) != c}
    unexpected = [
        a for a in central.alerts if (a.get("identity") or {}).get("id_hmac") not in expected_by_hmac
    ]
    print("\nsummary")
    print(f"  passengers scripted:  {len(passengers)}")
    print(f"  screened:             {service.totals['screened']}")
    print(f"  flagged:              {service.totals['alerts']}")
    print(f"  alerts published:     {service.totals['alerts'] - unacknowledged} (acknowledged by the broker)")
    print(f"  alerts received:      {len(central.alerts)} (expected {len(expected_by_hmac)})")
    print(f"  missing:              {len(missing)}")
    print(f"  unexpected:           {len(unexpected)}")
    ok = not missing and not unexpected and len(central.alerts) == len(expected_by_hmac)
    print("DEMO PASSED" if ok else "DEMO FAILED", flush=True)
    return ok
