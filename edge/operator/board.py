"""What each lane's operator display shows, kept for the web pages: the current passenger, an alarm waiting
for acknowledgement, and the lane's faults.

Lane threads write (`show`, `update_outcome`, `set_faults`) and return at once: a write takes a lock held for
a few assignments and wakes the page streams with `loop.call_soon_threadsafe`, which never blocks. The web
side reads snapshots rendered in the viewer's language; a slow viewer only ever gets the newest snapshot.
Nothing here says why a passenger was held: the snapshot carries texts and a style, never reason codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from edge.i18n import translate
from edge.operator.texts import FAULTS, GUIDANCE, OUTCOMES, TEMPERATURE, UI

IDLE_AFTER_S = 15.0  # a screen still showing a passenger who left long ago misleads the next one


@dataclass(frozen=True)
class Shown:
    seq: int
    outcome: str  # a key of texts.OUTCOMES
    temperature_c: float | None
    guidance: str  # the screener's advice (a key of texts.GUIDANCE) or ""
    track_id: int | None
    verdict_mono: float
    needs_ack: bool = False
    acknowledged: bool = False


@dataclass
class _Lane:
    current: Shown | None = None
    pending: Shown | None = None  # an alarm waiting for the operator (may be the current passenger)
    faults: tuple[str, ...] = ()
    version: int = 0


class OperatorBoard:
    def __init__(self, lane_ids: list[str], idle_after_s: float = IDLE_AFTER_S) -> None:
        self.idle_after_s = idle_after_s
        self._lanes = {lane_id: _Lane() for lane_id in lane_ids}
        self._lock = threading.Lock()
        self._seq = 0
        self._watchers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {
            lane_id: [] for lane_id in lane_ids
        }
        # Called (on the web thread) when the operator acknowledges: the service stops the lane's buzzer.
        self.on_acknowledge: Callable[[str], None] | None = None

    @property
    def lane_ids(self) -> list[str]:
        return list(self._lanes)

    # -- writers (lane threads) -----------------------------------------------------------------------------

    def show(
        self,
        lane_id: str,
        outcome: str,
        *,
        temperature_c: float | None,
        guidance: str,
        track_id: int | None,
        verdict_mono: float,
    ) -> int:
        with self._lock:
            lane = self._lanes[lane_id]
            self._seq += 1
            shown = Shown(
                self._seq,
                outcome,
                temperature_c,
                guidance,
                track_id,
                verdict_mono,
                needs_ack=outcome == "medical_referral",
            )
            lane.current = shown
            if shown.needs_ack:
                lane.pending = shown
            lane.version += 1
        self._wake(lane_id)
        return shown.seq

    def update_outcome(self, lane_id: str, track_id: int, outcome: str) -> bool:
        """The joined decision (card rules) changed the outcome of the passenger still on screen."""
        with self._lock:
            lane = self._lanes[lane_id]
            cur = lane.current
            if cur is None or cur.track_id != track_id or cur.outcome == outcome:
                return False
            lane.current = replace(cur, outcome=outcome, needs_ack=outcome == "medical_referral")
            if lane.current.needs_ack:
                lane.pending = lane.current
            lane.version += 1
        self._wake(lane_id)
        return True

    def set_faults(self, lane_id: str, faults: tuple[str, ...]) -> None:
        with self._lock:
            lane = self._lanes[lane_id]
            if lane.faults == faults:
                return
            lane.faults = faults
            lane.version += 1
        self._wake(lane_id)

    # -- the page (web thread) ----------------------------------------------------------------------------

    def acknowledge(self, lane_id: str, seq: int) -> bool:
        with self._lock:
            lane = self._lanes.get(lane_id)
            if lane is None or lane.pending is None or lane.pending.seq != seq:
                return False
            done = replace(lane.pending, acknowledged=True)
            if lane.current is not None and lane.current.seq == seq:
                lane.current = done
            lane.pending = None
            lane.version += 1
        if self.on_acknowledge is not None:
            self.on_acknowledge(lane_id)
        self._wake(lane_id)
        return True

    def version(self, lane_id: str) -> int:
        with self._lock:
            return self._lanes[lane_id].version

    def snapshot(self, lane_id: str, lang: str, now_mono: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now_mono is None else now_mono
        with self._lock:
            lane = self._lanes[lane_id]
            current, pending, faults, version = lane.current, lane.pending, lane.faults, lane.version
        idle = current is None or (
            now - current.verdict_mono > self.idle_after_s
            and not (current.needs_ack and not current.acknowledged)
        )
        shown = None if idle else current
        style, headline = OUTCOMES[shown.outcome if shown is not None else "idle"]
        return {
            "lane": lane_id,
            "version": version,
            "idle": idle,
            "seq": shown.seq if shown is not None else 0,
            "style": style,
            "headline": translate(lang, headline),
            "temperature": _temperature(lang, shown.temperature_c if shown is not None else None),
            "guidance": translate(lang, GUIDANCE[shown.guidance])
            if shown is not None and shown.guidance in GUIDANCE
            else "",
            "needs_ack": bool(shown is not None and shown.needs_ack and not shown.acknowledged),
            "acknowledged": bool(shown is not None and shown.acknowledged),
            "pending": None
            if pending is None or (shown is not None and pending.seq == shown.seq)
            else {
                "seq": pending.seq,
                "text": translate(lang, UI["pending_alarm"]),
                "temperature": _temperature(lang, pending.temperature_c),
            },
            "faults": [translate(lang, FAULTS[f]) for f in faults if f in FAULTS],
            "verdict_mono": shown.verdict_mono if shown is not None else None,
        }

    # -- change notification to page streams ------------------------------------------------------------------

    def watch(self, lane_id: str, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        with self._lock:
            self._watchers[lane_id].append((loop, event))

    def unwatch(self, lane_id: str, event: asyncio.Event) -> None:
        with self._lock:
            self._watchers[lane_id] = [(lp, ev) for lp, ev in self._watchers[lane_id] if ev is not event]

    def _wake(self, lane_id: str) -> None:
        with self._lock:
            watchers = list(self._watchers[lane_id])
        for loop, event in watchers:
            with contextlib.suppress(RuntimeError):  # that page's loop has closed: it unwatches itself
                loop.call_soon_threadsafe(event.set)


def _temperature(lang: str, value: float | None) -> str:
    return translate(lang, TEMPERATURE, value=value) if value is not None else ""


def ui_strings(lang: str, lane_id: str) -> dict[str, str]:
    return {key: translate(lang, msgid, lane=lane_id) for key, msgid in UI.items()}
