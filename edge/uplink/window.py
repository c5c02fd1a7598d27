"""The delivery window: outbox rows published in order at QoS 1, at most `inflight_window` unacknowledged,
each row deleted only after its PUBACK. Acknowledgements are tracked per connection (mid → row id): a new
connection starts again from the oldest unacknowledged row."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from edge.outbox import Outbox, OutboxRow
from edge.uplink.paho_glue import Connection, PublishProperties
from edge.uplink.report import UplinkReport
from edge.uplink.settings import BrokerSettings


class DeliveryWindow:
    def __init__(
        self,
        settings: BrokerSettings,
        outbox: Outbox,
        report: UplinkReport,
        properties: PublishProperties,
        topic: Callable[[str], str],
    ) -> None:
        self.settings, self.outbox, self.report = settings, outbox, report
        self.properties, self.topic = properties, topic
        self.inflight: dict[int, int] = {}  # mid → row_id, for the current connection only
        self._acked: list[int] = []

    def reset(self) -> None:
        """A new connection: whatever was in flight is published again from the outbox."""
        self.inflight.clear()
        self.report.set(inflight=0)

    def publish_rows(self, conn: Connection) -> None:
        window = self.settings.inflight_window
        room = window - len(self.inflight)
        # Under load, refill the window in batches (one outbox read per quarter window, not per PUBACK);
        # with nothing in flight, publish at once so a lone alert never waits.
        if room <= 0 or (self.inflight and room < max(1, window // 4)):
            return
        expired: list[OutboxRow] = []
        published = 0
        now_unix = time.time()
        for row in self.outbox.pending(after_row_id=conn.sent_upto_row_id, limit=room):
            conn.sent_upto_row_id = row.row_id
            remaining_s = self._stats_remaining_s(row, now_unix)
            if remaining_s is not None and remaining_s <= 0:
                expired.append(row)
                continue
            expiry_s = None if remaining_s is None else int(remaining_s)
            props = self.properties.get(row.kind, expiry_s) if self.settings.protocol == "5" else None
            info = conn.client.publish(self.topic(row.kind), row.payload, qos=1, properties=props)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                # Not on the wire; the next connection starts again from the oldest unacknowledged row.
                self.report.error(f"publish failed: {mqtt.error_string(info.rc)}")
                break
            self.inflight[info.mid] = row.row_id
            published += 1
        self.report.bump("published", published)
        if expired:
            self.outbox.drop([r.row_id for r in expired], "stats", "older than stats_expiry_s")
        self.report.set(inflight=len(self.inflight))

    def _stats_remaining_s(self, row: OutboxRow, now_unix: float) -> float | None:
        """What is left of `stats_expiry_s` for a statistic (≤ 0: expired); None for other kinds."""
        if row.kind != "stats":
            return None
        return self.settings.stats_expiry_s - (now_unix - row.created_unix_s)

    def on_puback(self, mid: int, reason: Any) -> None:
        row_id = self.inflight.pop(mid, None)
        if row_id is None:
            return
        if getattr(reason, "is_failure", False):
            # The broker refused this message (e.g. ACL): keep the row, report, retry next connection.
            self.report.bump("refused")
            self.report.error(f"broker refused a message on {self.topic('…')}: {reason}")
            return
        self._acked.append(row_id)

    def flush_acks(self, wait: bool = True) -> None:
        """Delete acknowledged rows; on the hot path (`wait=False`) the outbox's writer does it later."""
        if self._acked:
            acked, self._acked = self._acked, []
            self.outbox.delete(acked, wait=wait)
            self.report.bump("acked", len(acked))
        elif wait and self.outbox.has_undeleted():
            self.outbox.delete([], wait=True)
