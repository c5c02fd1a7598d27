"""The replaceable screening lists: key regions and the watch list, versioned, swapped atomically.

They come from the configuration at start-up, then from a list file the site can replace at run time and
from the central system's retained list topic. An update is validated whole before it replaces the
current lists; a malformed one is rejected with its reason and the previous lists stay in force.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError, field_validator

from edge.rules import CATEGORIES, KeyRegion
from edge.strict import StrictModel

log = logging.getLogger(__name__)


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
    version: str = Field(min_length=1, max_length=64, description="Set by the issuer; reported in status.")
    key_regions: list[KeyRegion] = Field(default_factory=list)
    watch_list: list[WatchEntry] = Field(default_factory=list, max_length=1_000_000)


@dataclass(frozen=True)
class ActiveLists:
    """An immutable snapshot: a lane reads one consistent pair of lists per decision."""

    version: str
    source: str
    key_regions: tuple[KeyRegion, ...]
    watch_actions: dict[str, str]


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()[:5]
    )


class RuleListStore:
    def __init__(self, key_regions: list[KeyRegion], lists_file: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._active = ActiveLists("config", "config", tuple(key_regions), {})
        self.lists_file = lists_file
        self._file_mtime_ns: int | None = None
        self.last_rejection: str | None = None
        self.updates_applied = 0
        self.updates_rejected = 0
        if lists_file is not None:
            self.poll_file()

    @property
    def active(self) -> ActiveLists:
        return self._active  # one reference read: atomic under the GIL

    def apply(self, raw: bytes, source: str) -> bool:
        """Validate and swap in a JSON list update; False (with `last_rejection` set) when it is refused."""
        try:
            lists = RuleLists.model_validate(json.loads(raw))
        except (ValueError, UnicodeDecodeError) as exc:
            reason = _errors(exc) if isinstance(exc, ValidationError) else f"not JSON: {exc}"
            return self._reject(source, reason)
        current = self._active
        if lists.version == current.version and current.source != "config":
            return True  # the retained message again after a reconnect: nothing to do
        snapshot = ActiveLists(
            lists.version,
            source,
            tuple(lists.key_regions),
            {entry.id_hmac: entry.action for entry in lists.watch_list},
        )
        with self._lock:
            self._active = snapshot
            self.updates_applied += 1
        log.info(
            "rule lists version %s applied from %s: %d key regions, %d watch-list entries",
            lists.version,
            source,
            len(snapshot.key_regions),
            len(snapshot.watch_actions),
        )
        return True

    def _reject(self, source: str, reason: str) -> bool:
        with self._lock:
            self.updates_rejected += 1
            self.last_rejection = f"{source}: {reason}"
        log.error(
            "rule list update from %s rejected, keeping version %s: %s", source, self._active.version, reason
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
            raw = self.lists_file.read_bytes()
        except OSError as exc:
            if self._file_mtime_ns != -1:
                self._file_mtime_ns = -1
                self._reject(str(self.lists_file), f"cannot read: {exc.strerror or exc}")
            return
        self.apply(raw, str(self.lists_file))

    def status(self) -> dict[str, object]:
        active = self._active
        return {
            "version": active.version,
            "source": active.source,
            "key_regions": len(active.key_regions),
            "watch_list": len(active.watch_actions),
            "rejected": self.updates_rejected,
            "last_rejection": self.last_rejection,
        }
