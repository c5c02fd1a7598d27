"""Face tracking: associate faces across frames so a passenger is measured once, not once per frame.

Greedy nearest-centre association gated by face size: faces at a checkpoint move a fraction of their
width between frames, and a queue of passengers is kept apart by the one-at-a-time measurement zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from edge.screening.face_types import Face

T = TypeVar("T")


@dataclass
class Track(Generic[T]):
    track_id: int
    last_face: Face
    first_mono: float
    last_mono: float
    items: list[T] = field(default_factory=list)


class Tracker(Generic[T]):
    def __init__(self, *, max_gap_s: float, max_jump_widths: float = 1.0) -> None:
        self.max_gap_s = max_gap_s
        self.max_jump_widths = max_jump_widths
        self._tracks: dict[int, Track[T]] = {}
        self._next_id = 1

    @property
    def active(self) -> list[Track[T]]:
        return list(self._tracks.values())

    def assign(self, faces: list[Face], now_mono: float) -> list[Track[T]]:
        """Return the track of each face (same order), creating tracks for new faces."""
        pairs = []
        for fi, face in enumerate(faces):
            fx, fy = face.centre
            for track in self._tracks.values():
                tx, ty = track.last_face.centre
                scale = max(face.width, track.last_face.width, 1.0)
                dist = math.hypot(fx - tx, fy - ty) / scale
                if dist <= self.max_jump_widths:
                    pairs.append((dist, fi, track.track_id))
        pairs.sort()
        chosen: dict[int, Track[T]] = {}
        used: set[int] = set()
        for _, fi, tid in pairs:
            if fi in chosen or tid in used:
                continue
            chosen[fi] = self._tracks[tid]
            used.add(tid)
        out = []
        for fi, face in enumerate(faces):
            if fi in chosen:
                track = chosen[fi]
            else:
                track = Track(self._next_id, face, now_mono, now_mono)
                self._tracks[track.track_id] = track
                self._next_id += 1
            track.last_face = face
            track.last_mono = now_mono
            out.append(track)
        return out

    def end_idle(self, now_mono: float) -> list[Track[T]]:
        """Remove and return tracks not seen for longer than the gap, oldest first."""
        ended = [t for t in self._tracks.values() if now_mono - t.last_mono >= self.max_gap_s]
        for t in ended:
            del self._tracks[t.track_id]
        return sorted(ended, key=lambda t: t.first_mono)
