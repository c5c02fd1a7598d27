"""The replaceable screening lists: key regions and the watch list, signed, versioned, swapped atomically.

They come from the configuration at start-up, then from a list file the site can replace at run time and
from the central system's retained list topic. Whoever can write that file or topic would decide who is held,
so an update is accepted only when it is signed by a key the appliance trusts (rules.lists_public_key_file),
carries a higher integer version than the lists in force (a replayed or retained older document never rolls
back a newer one), stays within the size caps, and validates whole. Anything else is rejected with its reason,
counted and reported in status, and the previous lists stay in force. The last applied document is kept in
the state directory, so a restart does not reopen the door to a replay.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field, StrictInt, ValidationError, field_validator

from drivers.strict import StrictModel
from edge.list_signing import SignatureRejected, verify
from edge.rules import CATEGORIES, KeyRegion

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 16 << 20  # docs/mosquitto.md sets message_size_limit to the same figure
MAX_WATCH_ENTRIES = 200_000
MAX_KEY_REGIONS = 5_000
PENDING_UPDATES = 4  # MQTT updates waiting for the supervisor's next tick; older ones are superseded anyway


class WatchEntry(StrictModel):
    id_hmac: str = Field(
        pattern=r"^[a-z0-9]{1,8}:[0-9a-f]{64}$",
        description="The document number pseudonymised with the site key (`k1:` + HMAC-SHA256 hex).",
    )
    action: str = Field("hold", description="Outcome category for a match.")

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in CATEGORIES or value == "clear":
            raise ValueError(f"must be one of {', '.join(c for c in CATEGORIES if c != 'clear')}")
        return value


class RuleLists(StrictModel):
    version: StrictInt = Field(
        ge=1, le=2**53, description="Set by the issuer; each new document must carry a higher one."
    )
    key_regions: list[KeyRegion] = Field(default_factory=list, max_length=MAX_KEY_REGIONS)
    watch_list: list[WatchEntry] = Field(default_factory=list, max_length=MAX_WATCH_ENTRIES)


@dataclass(frozen=True)
class ActiveLists:
    """An immutable snapshot: a lane reads one consistent pair of lists per decision."""

    version: int  # 0: the configuration's key regions, before any signed document
    source: str
    key_regions: tuple[KeyRegion, ...]
    watch_actions: dict[str, str]
    digest: str = ""


class Rejected(Exception):
    """An update refused, with the reason reported in status."""


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()[:5]
    )


def parse_signed(raw: bytes, trusted: dict[str, Ed25519PublicKey] | None) -> tuple[RuleLists, str, str]:
    """(the lists, the signing key id, a digest of the signed content) or Rejected naming the reason."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise Rejected(f"document is {len(raw)} bytes, larger than the {MAX_DOCUMENT_BYTES}-byte cap")
    if not trusted:
        raise Rejected("no trusted centre key (rules.lists_public_key_file): list updates cannot be verified")
    try:
        document = json.loads(raw)
    except RecursionError:
        raise Rejected("not JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(f"not JSON: {exc}") from None
    try:
        lists, signer = verify(document, trusted)
    except SignatureRejected as exc:
        raise Rejected(str(exc)) from None
    try:
        validated = RuleLists.model_validate(lists)
    except ValidationError as exc:
        raise Rejected(_errors(exc)) from None
    digest = hashlib.sha256(json.dumps(document["signature"], sort_keys=True).encode()).hexdigest()[:16]
    return validated, signer, digest


class RuleListStore:
    def __init__(
        self,
        key_regions: list[KeyRegion],
        lists_file: Path | None = None,
        *,
        trusted_keys: dict[str, Ed25519PublicKey] | None = None,
        held_key_ids: frozenset[str] = frozenset(),
        state_file: Path | None = None,
        trust_problem: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._active = ActiveLists(0, "config", tuple(key_regions), {})
        self.lists_file = lists_file
        self.trusted_keys = trusted_keys
        self.trust_problem = trust_problem  # why there are no trusted keys, when the key file was unusable
        self.held_key_ids = held_key_ids
        self.state_file = state_file
        self._file_mtime_ns: int | None = None
        self._wakeup = threading.Event()
        self._pending: collections.deque[tuple[bytes, str]] = collections.deque(maxlen=PENDING_UPDATES)
        self.last_rejection: str | None = None
        self.updates_applied = 0
        self.updates_rejected = 0
        self.entries_ignored = 0  # watch-list entries under a key id this appliance does not hold
        self.signed_by: str | None = None
        if state_file is not None and state_file.exists():
            self.apply(_read_quietly(state_file), "state")
        if lists_file is not None:
            self.poll_file()

    @property
    def active(self) -> ActiveLists:
        return self._active  # one reference read: atomic under the GIL

    def submit(self, raw: bytes, source: str) -> None:
        """From the uplink's network thread: queue only, so a 16 MiB document never stalls the uplink."""
        self._pending.append((raw, source))
        self._wakeup.set()

    def run(self, stop: threading.Event) -> None:
        """The thread that verifies queued updates (Service starts it beside the lanes)."""
        while not stop.is_set():
            self._wakeup.wait(0.5)
            self._wakeup.clear()
            self.process_pending()

    def process_pending(self) -> None:
        while True:
            try:
                raw, source = self._pending.popleft()
            except IndexError:
                return
            self.apply(raw, source)

    def apply(self, raw: bytes, source: str) -> bool:
        """Verify, validate and swap in a list document; False (with `last_rejection` set) when refused.

        Never raises: any fault in a document is that document's rejection, never the caller's problem.
        """
        try:
            if not self.trusted_keys and self.trust_problem:
                raise Rejected(f"no trusted centre key: {self.trust_problem}")
            lists, signer, digest = parse_signed(raw, self.trusted_keys)
            current = self._active
            if lists.version == current.version:
                if digest == current.digest:
                    return True  # the retained message again after a reconnect: nothing to do
                raise Rejected(f"version {lists.version} is already in force with different content")
            if lists.version < current.version:
                raise Rejected(
                    f"version {lists.version} is older than version {current.version} in force "
                    "(a replay or a rollback)"
                )
        except Rejected as exc:
            return self._reject(source, str(exc))
        except Exception as exc:  # a bug or a resource limit on one hostile document
            return self._reject(source, f"unreadable document ({type(exc).__name__}: {exc})"[:300])
        self._swap(lists, source, signer, digest)
        if source != "state":
            self._remember(raw)
        return True

    def _swap(self, lists: RuleLists, source: str, signer: str, digest: str) -> None:
        watch = {
            e.id_hmac: e.action for e in lists.watch_list if e.id_hmac.split(":", 1)[0] in self.held_key_ids
        }
        ignored = len(lists.watch_list) - len(watch)
        snapshot = ActiveLists(lists.version, source, tuple(lists.key_regions), watch, digest)
        with self._lock:
            self._active = snapshot
            self.updates_applied += 1
            self.entries_ignored = ignored
            self.signed_by = signer
        log.info(
            "rule lists version %d applied from %s (signed by %s): %d key regions, %d watch-list entries",
            lists.version,
            source,
            signer,
            len(snapshot.key_regions),
            len(watch),
        )
        if ignored:
            held = ", ".join(sorted(self.held_key_ids)) or "none: no site key"
            log.warning(
                "rule lists version %d: %d watch-list entries are under a key id this appliance does not "
                "hold (held: %s) and can never match; ignored",
                lists.version,
                ignored,
                held,
            )

    def _remember(self, raw: bytes) -> None:
        """Keep the applied document for the next start (atomic replace; a failure only costs that memory)."""
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        try:
            tmp.write_bytes(raw)
            os.replace(tmp, self.state_file)
        except OSError as exc:
            log.warning("cannot keep the applied rule lists in %s: %s", self.state_file, exc)

    def _reject(self, source: str, reason: str) -> bool:
        with self._lock:
            self.updates_rejected += 1
            self.last_rejection = f"{source}: {reason}"
        log.error(
            "rule list update from %s rejected, keeping version %d: %s", source, self._active.version, reason
        )
        return False

    def poll_file(self) -> None:
        """Pick up a replaced list file (checked by mtime, so cheap enough to call every second)."""
        if self.lists_file is None:
            return
        try:
            mtime_ns = self.lists_file.stat().st_mtime_ns
            if mtime_ns == self._file_mtime_ns:
                return
            self._file_mtime_ns = mtime_ns
            with self.lists_file.open("rb") as f:
                raw = f.read(MAX_DOCUMENT_BYTES + 1)  # never more than the cap into memory
        except OSError as exc:
            if self._file_mtime_ns != -1:
                self._file_mtime_ns = -1
                self._reject(str(self.lists_file), f"cannot read: {exc.strerror or exc}")
            return
        self.apply(raw, str(self.lists_file))

    def status(self) -> dict[str, Any]:
        active = self._active
        return {
            "version": str(active.version) if active.version else "config",
            "source": active.source,
            "signed_by": self.signed_by,
            "key_regions": len(active.key_regions),
            "watch_list": len(active.watch_actions),
            "watch_entries_ignored": self.entries_ignored,
            "applied": self.updates_applied,
            "rejected": self.updates_rejected,
            "last_rejection": self.last_rejection,
            "trust_problem": self.trust_problem,
        }


def _read_quietly(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(MAX_DOCUMENT_BYTES + 1)
    except OSError:
        return b""
