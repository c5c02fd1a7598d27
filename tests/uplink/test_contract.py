"""The schemas themselves, and the examples in docs/contract.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edge.contract import (
    KINDS,
    SCHEMA_VERSION,
    ContractError,
    load_schema,
    validate,
    validate_message,
    validation_errors,
)
from tests.uplink.conftest import alert_payload

DOC = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
STAMP = {"message_id": "3fec78e7-f4a1-4981-8147-a48baa893337", "seq": 1}


@pytest.mark.parametrize("kind", KINDS)
def test_schemas_are_valid_2020_12_and_versioned(kind: str) -> None:
    schema = load_schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert schema["additionalProperties"] is False


def test_the_examples_in_the_docs_validate() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    kinds = []
    for block in blocks:
        payload = json.loads(block)
        kind = payload["schema"].removeprefix("checkpoint.")
        validate(kind, payload)
        kinds.append(kind)
    assert sorted(kinds) == ["alert", "stats", "status"]


def test_the_lane_alert_shape_is_accepted_and_mistakes_are_not() -> None:
    good = dict(alert_payload(1), **STAMP)
    validate("alert", good)
    validate("alert", dict(good, temperature=None, identity=None))
    assert validation_errors("alert", dict(good, category="clear"))  # clear is never published
    assert validation_errors("alert", dict(good, identity={"doc_type": "cn_resident_id", "number": "1101"}))
    unreadable = {"doc_type": "barcode", "id_hmac": None, "id_masked": None, "region": None, "valid": False}
    validate("alert", dict(good, identity=unreadable))
    assert validation_errors("alert", dict(good, identity=dict(unreadable, id_hmac="110105194912310021")))
    assert validation_errors("alert", dict(good, reasons=[]))
    assert validation_errors("alert", dict(good, reasons=[{"code": "sneeze", "detail": ""}]))
    assert validation_errors("alert", dict(good, extra_field=1))
    with pytest.raises(ContractError, match="seq"):
        validate("alert", dict(good, seq=0))


def test_validate_message_uses_the_topic_kind() -> None:
    body = json.dumps(dict(alert_payload(1), **STAMP)).encode()
    assert validate_message("checkpoint/v2/devices/bj-south/gate-03/alert", body)[0] == "alert"
    with pytest.raises(ContractError, match=r"violates checkpoint\.stats"):
        validate_message("checkpoint/v2/devices/bj-south/gate-03/stats", body)
    with pytest.raises(ContractError, match="not JSON"):
        validate_message("checkpoint/v2/devices/bj-south/gate-03/alert", b"\xff")
