"""Pseudonyms, masking and the policy switches for identity in alerts."""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.items import IdDocument
from edge.contract import validate
from edge.privacy import (
    KeyFileError,
    PrivacySettings,
    Pseudonymiser,
    SiteKey,
    identity_for_alert,
    mask_id_number,
    site_key_problem,
    snapshot_for_alert,
)
from tests.uplink.conftest import alert_payload

KEY = b"0123456789abcdef-site-key"
NUMBER = "11010519491231002X"


def test_pseudonym_is_keyed_versioned_and_stable() -> None:
    pseudonymiser = Pseudonymiser(KEY, "k1")
    pseudonym = pseudonymiser.pseudonymise(NUMBER)
    assert pseudonym.startswith("k1:") and len(pseudonym) == 3 + 64
    assert pseudonymiser.pseudonymise("110105 19491231 002x") == pseudonym  # normalised
    assert pseudonymiser.pseudonymise("１１０１０５１９４９１２３１００２Ｘ") == pseudonym  # full-width
    assert Pseudonymiser(b"another-site-key-0000", "k1").pseudonymise(NUMBER) != pseudonym
    assert Pseudonymiser(KEY, "k2").pseudonymise(NUMBER).startswith("k2:")
    assert NUMBER not in repr(pseudonymiser) and "0123456789" not in repr(pseudonymiser)


def test_mask_keeps_the_region_and_hides_the_check_character() -> None:
    assert mask_id_number("32010219900101001X") == "320102************"
    assert mask_id_number("E12345678") == "E12******"  # a passport number: at most a third shown


@given(st.text(alphabet="0123456789X", min_size=1, max_size=30))
def test_mask_hides_at_least_half_and_keeps_the_length(number: str) -> None:
    masked = mask_id_number(number)
    assert len(masked) == len(number)
    assert masked.count("*") >= len(number) - len(number) // 2


def private(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_key_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"site key file .*absent does not exist"):
        Pseudonymiser.from_file(tmp_path / "absent")
    with pytest.raises(KeyFileError, match=r"site key file .*empty is empty"):
        Pseudonymiser.from_file(private(tmp_path / "empty", b""))
    with pytest.raises(KeyFileError, match=r"short: site key is 5 bytes"):
        Pseudonymiser.from_file(private(tmp_path / "short", b"short"))


def test_the_key_is_the_files_bytes_exactly(tmp_path: Path) -> None:
    """About 5 % of `head -c 32 /dev/urandom` keys begin or end with a whitespace byte: none may be lost."""
    raw = b"\n" + bytes(range(1, 31)) + b" "
    from_file = Pseudonymiser.from_file(private(tmp_path / "key", raw))
    expected = "k1:" + hmac.new(raw, NUMBER.encode(), hashlib.sha256).hexdigest()
    assert from_file.pseudonymise(NUMBER) == expected
    assert Pseudonymiser(raw.strip()).pseudonymise(NUMBER) != expected


def test_a_key_readable_by_others_is_refused_like_ssh_does(tmp_path: Path) -> None:
    key = tmp_path / "site.key"
    key.write_bytes(KEY)
    key.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"readable by group or others \(mode 0644\).*chmod 600"):
        Pseudonymiser.from_file(key)
    site_key = SiteKey(PrivacySettings(hmac_key_file=key))
    assert site_key.pseudonymiser is None and site_key.pseudonymise(NUMBER) is None
    assert site_key.status()["identity"] == "withheld"
    assert "mode 0644" in (site_key_problem(PrivacySettings(hmac_key_file=key)) or "")
    assert site_key_problem(PrivacySettings()) == "privacy.hmac_key_file is not set"
    key.chmod(0o600)
    good = SiteKey(PrivacySettings(hmac_key_file=key))
    assert good.problem is None and good.status()["key_check"] == Pseudonymiser(KEY).key_check()
    assert good.status()["key_source"] == str(key) and good.status()["key_id"] == "k1"


def document() -> IdDocument:
    return IdDocument(
        doc_type="cn_resident_id", number=NUMBER, name="张三", birth_date="1949-12-31", region="110105"
    )


def test_identity_follows_the_policy_and_validates(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pseudonymiser = Pseudonymiser(KEY)
    minimal = identity_for_alert(document(), pseudonymiser, PrivacySettings())
    assert minimal == {
        "doc_type": "cn_resident_id",
        "id_hmac": pseudonymiser.pseudonymise(NUMBER),
        "id_masked": "110105************",
        "region": "110105",
        "valid": True,
    }
    full = identity_for_alert(
        document(), pseudonymiser, PrivacySettings(publish_name=True, publish_birth_date=True)
    )
    assert full is not None and full["name"] == "张三" and full["birth_date"] == "1949-12-31"
    for identity in (minimal, full):
        validate(
            "alert",
            dict(
                alert_payload(1), identity=identity, message_id="0" * 8 + "-0000-4000-8000-" + "0" * 12, seq=1
            ),
        )
        assert NUMBER not in str(identity)
    assert identity_for_alert(document(), None, PrivacySettings()) is None  # no key, no identity
    assert identity_for_alert(None, pseudonymiser, PrivacySettings()) is None
    assert NUMBER not in caplog.text


def test_snapshot_only_when_allowed_and_small_enough() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 2000
    assert snapshot_for_alert(png, PrivacySettings()) is None
    allowed = PrivacySettings(publish_snapshot=True, snapshot_max_bytes=4096)
    encoded = snapshot_for_alert(png, allowed)
    assert encoded is not None and encoded.startswith("iVBORw0KGgo")
    assert snapshot_for_alert(png + b"\0" * 4096, allowed) is None
    assert snapshot_for_alert(b"GIF89a", allowed) is None
