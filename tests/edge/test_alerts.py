"""The alert payload: the contract's schema, and the privacy policy applied."""

from __future__ import annotations

import base64
import json
import time

import cv2
import numpy as np

from drivers.items import IdDocument, IdScan
from edge.alerts import build_alert
from edge.contract import validate
from edge.passengers import Passenger
from edge.privacy import PrivacySettings, Pseudonymiser
from edge.rules import Decision, Reason
from edge.screening.pipeline import PassengerMeasurement

NUMBER = "990000200001020018"


def passenger(with_scan: bool = True) -> Passenger:
    now = time.monotonic()
    snapshot = np.full((24, 32), 24.0, np.float32)
    snapshot[8:14, 12:18] = 36.9
    m = PassengerMeasurement(
        now - 1,
        now,
        time.time(),
        7,
        36.9,
        38.2,
        24.0,
        "elevated",
        ("core 38.20 °C ≥ 37.30 °C",),
        37.3,
        snapshot,
        snapshot_box=(12.0, 8.0, 18.0, 14.0),
    )
    doc = IdDocument("cn_resident_id", NUMBER, name="测试", birth_date="2000-01-02", region="990000")
    scan = IdScan("lane-1.idscan0", now, time.time(), doc) if with_scan else None
    return Passenger("lane-1", m, scan)


DECISION = Decision("medical_referral", (Reason("fever", "core 38.20 °C ≥ 37.30 °C", "medical_referral"),))
KEY = Pseudonymiser(b"k" * 32)


def stamped(payload: dict) -> dict:
    return {**payload, "message_id": "8c5f8d7e-0a4b-4a8e-9d1e-3b7f2a6c5d4e", "seq": 1}


def test_default_policy_pseudonymises_and_leaves_out_personal_fields() -> None:
    payload = build_alert("bj-south", "gate-03", passenger(), DECISION, PrivacySettings(), KEY)
    validate("alert", stamped(payload))
    assert payload["identity"]["id_hmac"] == KEY.pseudonymise(NUMBER)
    assert payload["identity"]["id_masked"] == "990000************"
    assert NUMBER not in json.dumps(payload, ensure_ascii=False)
    assert "测试" not in json.dumps(payload, ensure_ascii=False)
    assert "name" not in payload["identity"] and "snapshot_png_b64" not in payload


def test_policy_can_allow_name_birth_date_and_a_snapshot() -> None:
    policy = PrivacySettings(publish_name=True, publish_birth_date=True, publish_snapshot=True)
    payload = build_alert("bj-south", "gate-03", passenger(), DECISION, policy, KEY)
    validate("alert", stamped(payload))
    assert payload["identity"]["name"] == "测试" and payload["identity"]["birth_date"] == "2000-01-02"
    png = base64.b64decode(payload["snapshot_png_b64"])
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    # The face's colour-mapped crop, not the whole grey frame: 6 px face + margins, scaled for a person.
    assert image.ndim == 3 and image.shape[1] >= 120 and image.shape[0] < 24 * 12
    assert not np.array_equal(image[..., 0], image[..., 2])  # colour, not grey
    h, w = image.shape[:2]
    centre, corner = image[h // 2 + 4, w // 2].astype(int), image[h - 2, 2].astype(int)
    assert centre.sum() > corner.sum() + 200  # the face is the hot (bright) spot
    # The box is drawn in white around the face.
    white = (image > 240).all(axis=2)
    assert white.sum() > 4 * (w // 4)


def test_snapshot_over_the_size_cap_is_left_out() -> None:
    policy = PrivacySettings(publish_snapshot=True, snapshot_max_bytes=1024)
    p = passenger()
    noisy = np.random.default_rng(1).uniform(20, 40, (240, 320)).astype(np.float32)
    p = Passenger(p.lane_id, PassengerMeasurement(**{**p.measurement.__dict__, "snapshot": noisy}), p.scan)
    payload = build_alert("bj-south", "gate-03", p, DECISION, policy, KEY)
    assert "snapshot_png_b64" not in payload


def test_anonymous_passenger_has_no_identity() -> None:
    payload = build_alert("bj-south", "gate-03", passenger(with_scan=False), DECISION, PrivacySettings(), KEY)
    validate("alert", stamped(payload))
    assert payload["identity"] is None and payload["temperature"]["status"] == "elevated"


def test_a_reason_longer_than_the_schema_allows_is_cut_not_made_invalid() -> None:
    long_reason = Reason("indeterminate", "blackbody offset " + "0.123 " * 100, "recheck")
    payload = build_alert(
        "bj-south", "gate-03", passenger(), Decision("recheck", (long_reason,)), PrivacySettings(), KEY
    )
    validate("alert", stamped(payload))
    assert payload["reasons"][0]["detail"].startswith("blackbody offset 0.123")
