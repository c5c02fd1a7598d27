"""The message contract with the central system: JSON Schemas (package data) and helpers to build and check.

One schema per topic kind (`alert`, `stats`, `status`, `heartbeat`), all at `schema_version` 1; every payload
names its schema and version, and MQTT 5 user properties repeat them so a consumer can route without parsing.
docs/contract.md describes the topics, QoS, retention and the consumer's duties (de-duplicate by
`message_id`, detect gaps with `seq` per topic).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

SCHEMA_VERSION = 1
KINDS = ("alert", "stats", "status", "heartbeat")
SCHEMA_NAMES = {kind: f"checkpoint.{kind}" for kind in KINDS}


class ContractError(ValueError):
    """A payload that does not match its schema; the message says where and why."""


@cache
def load_schema(kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}; expected one of {', '.join(KINDS)}")
    text = resources.files(__name__).joinpath(f"{kind}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = load_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def validation_errors(kind: str, payload: Any) -> list[str]:
    """Every violation as 'path: message' (empty when the payload is valid)."""
    errors = sorted(_validator(kind).iter_errors(payload), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def validate(kind: str, payload: Any) -> None:
    errors = validation_errors(kind, payload)
    if errors:
        where = f"{SCHEMA_NAMES[kind]} v{SCHEMA_VERSION}"
        raise ContractError(f"{kind} payload violates {where}: " + "; ".join(errors))


def validate_message(topic: str, body: bytes) -> tuple[str, dict[str, Any]]:
    """Check a received MQTT message by its topic's last level; returns (kind, payload)."""
    kind = topic.rsplit("/", 1)[-1]
    if kind not in KINDS:
        raise ContractError(f"topic {topic!r} is not one of the contract's topics")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ContractError(f"{topic}: payload is not JSON: {error}") from None
    validate(kind, payload)
    if not isinstance(payload, dict):  # pragma: no cover - the schemas require objects
        raise ContractError(f"{topic}: payload is not an object")
    return kind, payload


@dataclass
class LaneCounts:
    """One lane's counts over a statistics interval (what `build_stats` publishes per lane)."""

    lane_id: str
    screened: int = 0
    normal: int = 0
    elevated: int = 0
    indeterminate: int = 0
    rechecks: int = 0
    scans: int = 0
    unmatched: int = 0


def build_stats(
    site_id: str,
    device_id: str,
    interval: str,
    interval_start_utc: str,
    interval_end_utc: str,
    lanes: list[LaneCounts],
) -> dict[str, Any]:
    """A stats payload ready for `Outbox.append("stats", …)` (which adds message_id and seq)."""
    if interval not in ("minute", "hour"):
        raise ValueError(f"interval must be 'minute' or 'hour', got {interval!r}")
    return {
        "schema": SCHEMA_NAMES["stats"],
        "schema_version": SCHEMA_VERSION,
        "site_id": site_id,
        "device_id": device_id,
        "interval": interval,
        "interval_start_utc": interval_start_utc,
        "interval_end_utc": interval_end_utc,
        "lanes": [asdict(lane) for lane in lanes],
    }
