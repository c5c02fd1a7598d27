"""The service: lanes → decisions → outbox → uplink, with one stop event for every thread."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge import __version__
from edge.alerts import build_alert
from edge.config import AppConfig, config_hash
from edge.config_check import plaintext_warning
from edge.contract.topics import lists_topic
from edge.lane import Lane
from edge.list_signing import ListKeyError, load_public_keys
from edge.operator.board import OperatorBoard
from edge.outbox import Outbox
from edge.passengers import Passenger
from edge.privacy import SiteKey, mask_id_number
from edge.rule_lists import RuleListStore
from edge.rules import Decision
from edge.statistics import StatisticsPublisher
from edge.uplink import Uplink
from edge.web.server import WebServer

log = logging.getLogger(__name__)

RECENT_DECISIONS = 50


def load_trusted_list_keys(config: AppConfig) -> tuple[dict[str, Ed25519PublicKey], str | None]:
    """The centre's list-signing keys, or none and the reason (then every list update is refused, counted)."""
    path = config.rules.lists_public_key_file
    if path is None:
        return {}, None
    try:
        return load_public_keys(path), None
    except ListKeyError as exc:
        return {}, str(exc)


class Service:
    def __init__(self, config: AppConfig, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path  # the console writes calibration drop-ins beside it, then reloads
        self.stop_event = threading.Event()
        try:
            config.storage.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the outbox then runs in RAM and retries the disk: screening goes on
            log.error("state directory %s unusable: %s", config.storage.state_dir, exc)
        self.site_key = SiteKey(config.privacy)
        self.pseudonymiser = self.site_key.pseudonymiser
        self.outbox = Outbox(
            Path(config.storage.state_dir) / "outbox.sqlite3", config.storage.outbox_max_mb << 20
        )
        self.supervisor_errors = 0  # housekeeping faults the supervisor survived (see Supervisor.run)
        # (lane id, category) → alerts committed to the outbox: /metrics' checkpoint_edge_alerts_total.
        self.alerts_committed: Counter[tuple[str, str]] = Counter()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_DECISIONS)
        self._totals_lock = threading.Lock()
        trusted, trust_problem = load_trusted_list_keys(config)
        if trust_problem:
            log.error("rule-list updates cannot be verified and will be refused: %s", trust_problem)
        self.rule_lists = RuleListStore(
            config.rules.key_regions,
            config.rules.lists_file,
            trusted_keys=trusted,
            held_key_ids=self.site_key.held_key_ids,
            state_file=config.storage.state_dir / "lists.applied.json",
            trust_problem=trust_problem,
        )
        self.lists_topic = lists_topic(config.broker.topic_prefix, config.site_id)
        self.statistics = StatisticsPublisher(
            config.site_id, config.device_id, [lane.id for lane in config.lanes], self.outbox
        )
        # What each lane's operator display shows; the web server's display pages read it.
        self.board = OperatorBoard([lane.id for lane in config.lanes])
        self.lanes = [
            Lane.from_config(
                lane, config, self.rule_lists, self.site_key.pseudonymise, self._on_passenger, self.board
            )
            for lane in config.lanes
        ]
        lanes_by_id = {lane.lane_id: lane for lane in self.lanes}
        self.board.on_acknowledge = lambda lane_id: lanes_by_id[lane_id].signals.acknowledge()
        self._lists_thread = threading.Thread(
            target=self.rule_lists.run, args=(self.stop_event,), name="rule-lists", daemon=True
        )
        self.uplink = Uplink(
            config.broker,
            self.outbox,
            config.site_id,
            config.device_id,
            status_provider=self.status,
            # Retained, versioned key-region and watch lists for the whole site, from the central system.
            subscriptions={self.lists_topic: lambda raw: self.rule_lists.submit(raw, "mqtt")},
        )
        # Operator display, technician console, /metrics: own threads, reading this service's snapshots only.
        self.web = WebServer(config.web, lambda: self)

    def _on_passenger(self, passenger: Passenger, decision: Decision) -> None:
        """Runs on a lane's worker thread: hands a non-clear outcome to the outbox and returns at once (the
        outbox's writer commits it; the lane never waits for the disk)."""
        self.statistics.record(passenger)
        recent = self._recent_entry(passenger, decision)
        with self._totals_lock:
            self._recent.append(recent)
        if decision.category == "clear":
            return
        payload = build_alert(
            self.config.site_id,
            self.config.device_id,
            passenger,
            decision,
            self.config.privacy,
            self.pseudonymiser,  # type: ignore[arg-type]  # None withholds the identity
        )
        self.outbox.submit("alert", payload)
        with self._totals_lock:
            self.alerts_committed[(passenger.lane_id, decision.category)] += 1
        log.info(
            "lane %s: %s (%s)",
            passenger.lane_id,
            decision.category,
            ", ".join(r.code for r in decision.reasons),
        )

    def _recent_entry(self, passenger: Passenger, decision: Decision) -> dict[str, Any]:
        """For the technician console: pseudonymised and masked only, like the alert itself."""
        m, doc = passenger.measurement, passenger.scan.document if passenger.scan else None
        number = doc.number if doc is not None else None
        return {
            "time": dt.datetime.fromtimestamp(passenger.t_wall, dt.UTC).isoformat(timespec="seconds"),
            "lane_id": passenger.lane_id,
            "category": decision.category,
            "reasons": [r.code for r in decision.reasons],
            "status": m.status if m is not None else None,
            "core_c": round(m.core_c, 2) if m is not None and m.core_c is not None else None,
            "id_masked": mask_id_number(number) if number else None,
            "id_hmac": self.site_key.pseudonymise(number) if number else None,
            # No card could be given to this face (or this card to a face): the operator checks the ID.
            "identity_ambiguous": bool(passenger.ambiguous),
        }

    @property
    def totals(self) -> Counter[str]:
        """The one tally of passengers: each lane counts what it decided (`Lane.counters`: screened, unmatched
        scans, categories); the service adds only the alerts it handed to the outbox."""
        out: Counter[str] = Counter()
        for lane in self.lanes:
            counts = dict(lane.counters)
            out["screened"] += counts.get("screened", 0)
            out["passengers"] += counts.get("screened", 0) + counts.get("scans_unmatched", 0)
            for name, value in counts.items():
                if name.startswith("category_"):
                    out[name.removeprefix("category_")] += value
        with self._totals_lock:
            out["alerts"] = sum(self.alerts_committed.values())
        return out

    def committed_alerts(self) -> dict[tuple[str, str], int]:
        """(lane id, category) → alerts committed to the outbox since this service started."""
        with self._totals_lock:
            return dict(self.alerts_committed)

    def recent_decisions(self) -> list[dict[str, Any]]:
        """Newest first."""
        with self._totals_lock:
            return list(reversed(self._recent))

    def status(self) -> dict[str, Any]:
        return {
            "software_version": __version__,
            "config_hash": config_hash(self.config),
            "devices": {d.device_id: d.status() for lane in self.lanes for d in lane.devices},
            "lanes": {lane.lane_id: lane.status() for lane in self.lanes},
            "rule_lists": self.rule_lists.status(),
            "privacy": self.site_key.status(),
            "counters": {
                "supervisor_errors": self.supervisor_errors,
                "outbox_damaged_files": len(self.outbox.damaged_files),
                "lanes": {lane.lane_id: lane.error_counters() for lane in self.lanes},
            },
        }

    def summary_line(self) -> str:
        """One line for systemd's STATUS= and the logs."""
        degraded = [
            f"{lane.lane_id} ({lane.health()['reason']})"
            for lane in self.lanes
            if lane.health()["state"] != "ok"
        ]
        uplink = self.uplink.state()
        depth = sum(self.outbox.depth().values())
        return (
            f"{len(self.lanes) - len(degraded)}/{len(self.lanes)} lanes ok"
            + (f"; degraded: {', '.join(degraded)}" if degraded else "")
            + f"; screened {self.totals['screened']}, alerts {self.totals['alerts']}"
            + f"; outbox {depth} pending; broker {'connected' if uplink.get('connected') else 'disconnected'}"
            + (f"; identity withheld: {self.site_key.problem}" if self.site_key.problem else "")
        )

    def tick(self) -> None:
        """Housekeeping, about once a second, from the supervisor's loop."""
        self.statistics.tick()
        self.rule_lists.poll_file()

    def stale_workers(self, stall_s: float) -> list[str]:
        """Threads that have not turned their loop within stall_s: evidence of a hang, not of a slow device."""
        now = time.monotonic()
        stale = [f"lane-{lane.lane_id}" for lane in self.lanes if now - lane.last_loop_mono > stall_s]
        stale += [
            f"device-{d.device_id}"
            for lane in self.lanes
            for d in lane.devices
            if now - d.last_loop_mono > stall_s
        ]
        if not self.uplink.alive():
            stale.append("uplink")
        if not self.outbox.alive():
            stale.append("outbox-writer")
        return stale

    def start(self) -> None:
        self.site_key.log_state()
        plaintext = plaintext_warning(self.config)
        if plaintext:
            log.warning("%s", plaintext)
        self._lists_thread.start()
        self.uplink.start()
        self.web.start()
        for lane in self.lanes:
            lane.start(self.stop_event)
        log.info(
            "checkpoint-edge %s started: %d lane(s), site %s, device %s",
            __version__,
            len(self.lanes),
            self.config.site_id,
            self.config.device_id,
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop devices and lanes (each lane turns what it holds into decisions), then the uplink."""
        deadline = time.monotonic() + timeout_s
        self.web.stop()
        self.stop_event.set()
        stuck = [
            name for lane in self.lanes for name in lane.join(max(0.1, deadline - time.monotonic() - 1.0))
        ]
        if self._lists_thread.is_alive():
            self._lists_thread.join(max(0.1, deadline - time.monotonic() - 1.0))
        if stuck:
            log.error("threads did not stop in time: %s", ", ".join(stuck))
        self.statistics.flush()
        self.outbox.flush()  # every alert handed over is committed before the uplink says "stopped"
        self.uplink.stop(timeout_s=max(0.5, deadline - time.monotonic()))
        self.outbox.close()
