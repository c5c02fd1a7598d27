"""What of a passenger's identity leaves the appliance, and in which form.

An 18-digit resident ID number has about 10¹¹ plausible values, so a plain hash of it is reversible by
brute force: ID numbers are pseudonymised with HMAC-SHA256 under a site key kept outside the config (a
file, e.g. a systemd credential), prefixed with a key id so the key can rotate. The centre receives the
pseudonym (to link repeated sightings) and a masked form for display; name, birth date and the thermal
snapshot are each off unless the site's policy turns them on (PIPL Art. 6/19/26, GDPR Art. 5/25).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from pathlib import Path
from typing import Any

from pydantic import Field

from drivers.items import IdDocument
from edge.strict import StrictModel

MIN_KEY_BYTES = 16


class PrivacySettings(StrictModel):
    hmac_key_file: Path | None = Field(
        default=None,
        description="File holding the site key for pseudonymising ID numbers (≥ 16 bytes, kept outside "
        "the config, e.g. $CREDENTIALS_DIRECTORY/site-key). Without it the service generates a per-appliance key "
        "in its state directory (pseudonyms then differ between appliances).",
    )
    key_id: str = Field(
        default="k1",
        pattern=r"^[a-z0-9]{1,8}$",
        description="Label prefixed to every pseudonym, so the centre can tell keys apart after a rotation.",
    )
    publish_name: bool = Field(default=False, description="Include the holder's name in alerts.")
    publish_birth_date: bool = Field(default=False, description="Include the holder's birth date in alerts.")
    publish_snapshot: bool = Field(default=False, description="Attach the thermal snapshot (PNG) to alerts.")
    snapshot_max_bytes: int = Field(
        default=65536,
        ge=1024,
        le=1_048_576,
        description="Largest PNG snapshot attached to an alert, bytes; larger snapshots are left out.",
    )


class KeyFileError(ValueError):
    """The site key file is missing, unreadable or too short; the message names the file."""


def normalise_id_number(number: str) -> str:
    """The canonical form that is hashed: full-width characters folded, spaces and dashes removed, upper case.

    So that typings of one document with spaces, dashes, full-width digits or a lower-case x agree.
    """
    folded = unicodedata.normalize("NFKC", number)
    return re.sub(r"[\s\-]", "", folded).upper()


class Pseudonymiser:
    """Keyed, versioned pseudonyms for ID numbers."""

    def __init__(self, key: bytes, key_id: str = "k1") -> None:
        if len(key) < MIN_KEY_BYTES:
            raise KeyFileError(f"site key is {len(key)} bytes; at least {MIN_KEY_BYTES} are needed")
        if not re.fullmatch(r"[a-z0-9]{1,8}", key_id):
            raise ValueError(f"key id must be 1–8 lower-case letters or digits, got {key_id!r}")
        self._key = key
        self.key_id = key_id

    @classmethod
    def from_file(cls, path: Path | str, key_id: str = "k1") -> Pseudonymiser:
        """Read the key (surrounding whitespace stripped, so `echo … > file` works)."""
        file = Path(path)
        try:
            key = file.read_bytes().strip()
        except FileNotFoundError:
            raise KeyFileError(f"site key file {file} does not exist") from None
        except OSError as error:
            raise KeyFileError(f"site key file {file} cannot be read: {error.strerror or error}") from None
        if not key:
            raise KeyFileError(f"site key file {file} is empty")
        try:
            return cls(key, key_id)
        except KeyFileError as error:
            raise KeyFileError(f"site key file {file}: {error}") from None

    def pseudonymise(self, number: str) -> str:
        digest = hmac.new(self._key, normalise_id_number(number).encode("utf-8"), hashlib.sha256)
        return f"{self.key_id}:{digest.hexdigest()}"

    def __repr__(self) -> str:  # never show the key
        return f"Pseudonymiser(key_id={self.key_id!r})"


def mask_id_number(number: str) -> str:
    """Display form keeping the first 6 (region) and last 2 characters: `320102**********1X`.

    Short numbers (passports, 8–9 characters) keep proportionally less so that at least half is hidden.
    """
    canonical = normalise_id_number(number)
    length = len(canonical)
    if length == 0:
        return ""
    keep_head, keep_tail = 6, 2
    while keep_head + keep_tail > length // 2 and keep_head > 0:
        keep_head -= 1
    if keep_head + keep_tail > length // 2:
        keep_tail = max(0, length // 2 - keep_head)
    return canonical[:keep_head] + "*" * (length - keep_head - keep_tail) + canonical[length - keep_tail :]


def identity_for_alert(
    document: IdDocument | None, pseudonymiser: Pseudonymiser | None, settings: PrivacySettings
) -> dict[str, Any] | None:
    """The alert's `identity` block as the policy allows; None (anonymous) without a document or a site key.

    The clear ID number never leaves this function.
    """
    if document is None or pseudonymiser is None or not document.number:
        return None
    identity: dict[str, Any] = {
        "doc_type": document.doc_type,
        "id_hmac": pseudonymiser.pseudonymise(document.number),
        "id_masked": mask_id_number(document.number),
        "region": document.region,
        "valid": document.valid,
    }
    if settings.publish_name and document.name:
        identity["name"] = document.name
    if settings.publish_birth_date and document.birth_date:
        identity["birth_date"] = document.birth_date
    return identity


def snapshot_for_alert(png: bytes | None, settings: PrivacySettings) -> str | None:
    """Base64 PNG for `snapshot_png_b64`, or None when the policy is off, there is none, or it is too big."""
    if not settings.publish_snapshot or not png:
        return None
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) > settings.snapshot_max_bytes:
        return None
    return base64.b64encode(png).decode("ascii")
