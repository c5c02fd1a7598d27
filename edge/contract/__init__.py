"""The message contract with the central system: one schema and one builder per kind, and the checks.

    kinds.py      KINDS, SCHEMA_VERSION, SCHEMA_NAMES, the common header, `utc_iso` (the one time format)
    schemas.py    the JSON Schemas (package data `<kind>.schema.json`) and `validate` / `validate_message`
    alert.py      build_alert_payload        (edge/alerts.py applies the privacy policy first)
    stats.py      LaneCounts, build_stats
    status.py     Presence, build_status
    heartbeat.py  build_heartbeat

One schema per topic kind, all at `schema_version` 1; every payload names its schema and version, and MQTT 5
user properties repeat them so a consumer can route without parsing. Every contract change (a field, an
outcome, a topic layout) lands here: the schema and its builder change together, and the tests validate every
message they receive. docs/contract.md describes the topics, QoS, retention and the consumer's duties
(de-duplicate by `message_id`, detect gaps with `seq` per topic).
"""

from __future__ import annotations

from edge.contract.alert import AlertTemperature, build_alert_payload
from edge.contract.heartbeat import build_heartbeat
from edge.contract.kinds import KINDS, SCHEMA_NAMES, SCHEMA_VERSION, Kind, header, utc_iso, utc_now_iso
from edge.contract.schemas import ContractError, load_schema, validate, validate_message, validation_errors
from edge.contract.stats import LaneCounts, build_stats, interval_utc
from edge.contract.status import Presence, build_status

__all__ = [
    "KINDS",
    "SCHEMA_NAMES",
    "SCHEMA_VERSION",
    "AlertTemperature",
    "ContractError",
    "Kind",
    "LaneCounts",
    "Presence",
    "build_alert_payload",
    "build_heartbeat",
    "build_stats",
    "build_status",
    "header",
    "interval_utc",
    "load_schema",
    "utc_iso",
    "utc_now_iso",
    "validate",
    "validate_message",
    "validation_errors",
]
