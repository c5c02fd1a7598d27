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
import logging
import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import Any

from pydantic import Field

from drivers.items import IdDocument
from drivers.strict import StrictModel

MIN_KEY_BYTES = 16


class PrivacySettings(StrictModel):
    hmac_key_file: Path | None = Field(
        default=None,
        description="File holding the site key for pseudonymising ID numbers: its bytes exactly (≥ 16), "
        "mode 0600 or stricter, kept outside the config, e.g. $CREDENTIALS_DIRECTORY/site-key. Without a "
        "usable key the service still screens but publishes alerts with the identity withheld.",
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
    """The site key file is missing, unreadable, refused or too short; the message names the file."""


MAX_KEY_FILE_BYTES = 4096
_CHECK_MESSAGE = b"checkpoint-edge site key check"


def read_key_file(path: Path) -> bytes:
    """The file's bytes, exactly: a key from `head -c 32 /dev/urandom` may begin or end with a whitespace byte.

    Refused like ssh refuses a private key when group or others may read it: the site key reverses pseudonyms.
    """
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            key = f.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"site key file {path} does not exist") from None
    except OSError as error:
        raise KeyFileError(f"site key file {path} cannot be read: {error.strerror or error}") from None
    if mode & 0o077:
        raise KeyFileError(
            f"site key file {path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"refused: chmod 600 {path}"
        )
    if not key:
        raise KeyFileError(f"site key file {path} is empty")
    if len(key) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"site key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes: not a key")
    return key


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
        """Read the key: every byte of the file, a trailing newline included (see `read_key_file`)."""
        file = Path(path)
        key = read_key_file(file)
        try:
            return cls(key, key_id)
        except KeyFileError as error:
            raise KeyFileError(f"site key file {file}: {error}") from None

    def pseudonymise(self, number: str) -> str:
        digest = hmac.new(self._key, normalise_id_number(number).encode("utf-8"), hashlib.sha256)
        return f"{self.key_id}:{digest.hexdigest()}"

    def key_check(self) -> str:
        """A short value that shows whether two appliances hold the same key without revealing it."""
        return hmac.new(self._key, _CHECK_MESSAGE, hashlib.sha256).hexdigest()[:12]

    def __repr__(self) -> str:  # never show the key
        return f"Pseudonymiser(key_id={self.key_id!r})"


def mask_id_number(number: str) -> str:
    """Display form keeping only the region: `320102************`.

    Nothing of the tail is shown: the check character and sequence digits, with the region, would narrow a
    brute-force search of the pseudonym (see docs/install.md, threat model). Short numbers (passports) keep at
    most a third.
    """
    canonical = normalise_id_number(number)
    keep_head = min(6, len(canonical) // 3)
    return canonical[:keep_head] + "*" * (len(canonical) - keep_head)


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


log = logging.getLogger(__name__)


class SiteKey:
    """The site key as the service holds it: a pseudonymiser, or the reason identities are withheld.

    A missing or refused key never stops screening (temperatures still protect the station); it only
    withholds the identity from alerts and says why, in status and in the log at every start. No key is ever
    invented: a per-appliance key would make the centre's watch list silently never match.
    """

    def __init__(self, settings: PrivacySettings) -> None:
        self.key_id = settings.key_id
        self.source = str(settings.hmac_key_file) if settings.hmac_key_file else "none"
        self.pseudonymiser: Pseudonymiser | None = None
        self.problem: str | None = None
        if settings.hmac_key_file is None:
            self.problem = "privacy.hmac_key_file is not set"
        else:
            try:
                self.pseudonymiser = Pseudonymiser.from_file(settings.hmac_key_file, settings.key_id)
            except KeyFileError as exc:
                self.problem = str(exc)

    @property
    def held_key_ids(self) -> frozenset[str]:
        return frozenset({self.key_id}) if self.pseudonymiser else frozenset()

    def pseudonymise(self, number: str) -> str | None:
        return self.pseudonymiser.pseudonymise(number) if self.pseudonymiser else None

    def log_state(self) -> None:
        if self.problem:
            log.error("site key unusable, alerts are published with the identity withheld: %s", self.problem)
        else:
            log.info("site key %s loaded from %s", self.key_id, self.source)

    def status(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "key_source": self.source,
            "key_check": self.pseudonymiser.key_check() if self.pseudonymiser else None,
            "identity": "withheld" if self.problem else "pseudonymised",
            "problem": self.problem,
        }


def site_key_problem(settings: PrivacySettings) -> str | None:
    """For `check-config` (a warning) and `selftest` (a failure): why identities would be withheld, or None."""
    return SiteKey(settings).problem
