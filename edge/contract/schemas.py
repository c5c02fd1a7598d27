"""The contract's schemas (package data): loading them and checking payloads against them."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from edge.contract.kinds import KINDS, SCHEMA_NAMES, SCHEMA_VERSION


class ContractError(ValueError):
    """A payload that does not match its schema; the message says where and why."""


@cache
def load_schema(kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}; expected one of {', '.join(KINDS)}")
    text = resources.files("edge.contract").joinpath(f"{kind}.schema.json").read_text(encoding="utf-8")
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
