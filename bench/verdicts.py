"""Soak instruments for the lane's temperature verdict (issue 10, "decide while the passenger is in view").

- face first seen → verdict: from the first frame the simulator rendered with the passenger's face to the
  moment the lane handed the verdict to its display and alarm (LaneSignals.verdict);
- verdict → operator page: from that moment to the arrival of the page's server-sent event carrying it, read
  by a client of the real display listener (one per lane, over loopback HTTP like the kiosk's browser);
- in view: the verdict was handed over before the passenger's face left the scene;
- decided twice: more than one verdict for one passenger.

Everything per passenger is preallocated (numpy arrays), so the soak's RSS figure stays the service's.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
import urllib.parse
from typing import Any, Protocol

import numpy as np

from edge.lane import Lane
from edge.records import PassengerMeasurement

IN_VIEW_MIN_DWELL_S = 0.75  # the target applies to passengers who stay at least this long
IN_VIEW_TARGET = 0.95
PAGE_P99_TARGET_MS = 300.0


class Renderer(Protocol):
    def index_at(self, t_mono: float) -> int | None: ...


class VerdictClock:
    def __init__(self, lanes: int, count: int) -> None:
        shape = (lanes, count)
        self.first_face = np.full(shape, np.nan)
        self.leave = np.full(shape, np.nan)
        self.verdict = np.full(shape, np.nan)
        self.last_frame = np.full(shape, np.nan)  # the last face frame the verdict rests on
        self.page = np.full(shape, np.nan)
        self.verdicts = np.zeros(shape, dtype=np.int32)
        self.stray = np.zeros(lanes, dtype=np.int64)
        self.page_events = np.zeros(lanes, dtype=np.int64)
        self.has_face = np.zeros(shape, dtype=bool)
        self._renderers: dict[int, Renderer] = {}
        self._lock = threading.Lock()

    def track(self, k: int, renderer: Any, leave_mono: list[float]) -> None:
        """Lane k's scene: its renderer reports each face frame here; leave_mono is when each face goes."""
        self._renderers[k] = renderer
        self.leave[k, : len(leave_mono)] = leave_mono
        # A tailgater's face merges into the one ahead; a passenger turning back may show no measurable face.
        self.has_face[k, : len(leave_mono)] = [
            p.has_face and getattr(p, "irregular", "") not in ("tailgating", "turning_back")
            for p in renderer.passengers
        ]
        renderer.on_face = lambda i, t_mono: self.face_rendered(k, i, t_mono)

    def face_rendered(self, k: int, i: int, t_mono: float) -> None:
        if math.isnan(self.first_face[k, i]):
            self.first_face[k, i] = t_mono

    def wrap(self, k: int, lane: Lane) -> None:
        """Stamp each verdict as the lane hands it to its signals (display and alarm)."""
        hand_over = lane.signals.verdict
        renderer = self._renderers[k]

        def verdict(m: PassengerMeasurement, decided_mono: float) -> None:
            i = renderer.index_at(m.t_first_mono)
            with self._lock:
                if i is None:
                    self.stray[k] += 1
                else:
                    self.verdicts[k, i] += 1
                    if math.isnan(self.verdict[k, i]):
                        self.verdict[k, i] = decided_mono
                        self.last_frame[k, i] = m.t_last_mono
            hand_over(m, decided_mono)

        lane.signals.verdict = verdict  # type: ignore[method-assign]

    def page_seen(self, k: int, verdict_mono: float, received_mono: float) -> None:
        with self._lock:
            self.page_events[k] += 1
            hits = np.flatnonzero(self.verdict[k] == verdict_mono)
            if len(hits) and math.isnan(self.page[k, hits[0]]):
                self.page[k, hits[0]] = received_mono

    def summary(self, dwell_s: float) -> dict[str, Any]:
        faces = self.has_face & ~np.isnan(self.first_face)
        decided = faces & ~np.isnan(self.verdict)
        first_to_verdict = (self.verdict - self.first_face)[decided]
        # Last face frame → verdict: the screening's own latency, before any card-join wait or disk commit.
        last_to_verdict = (self.verdict - self.last_frame)[decided]
        on_page = decided & ~np.isnan(self.page)
        verdict_to_page = (self.page - self.verdict)[on_page]
        in_view = (self.verdict < self.leave)[decided]
        share = float(in_view.mean()) if len(in_view) else math.nan

        def ms(values: np.ndarray, q: float) -> float:
            return round(float(np.percentile(values, q)) * 1000.0, 1) if len(values) else math.nan

        applies = dwell_s >= IN_VIEW_MIN_DWELL_S
        return {
            "passengers_with_face": int(faces.sum()),
            "verdicts": int(self.verdicts.sum()),
            "not_decided": int((faces & (self.verdicts == 0)).sum()),
            "decided_twice": int((self.verdicts > 1).sum()),
            "verdicts_outside_any_face": int(self.stray.sum()),
            "in_view_share": round(share, 4),
            "in_view_target_applies": applies,
            "first_seen_to_verdict_ms": {q: ms(first_to_verdict, p) for q, p in (("p50", 50), ("p99", 99))},
            "last_frame_to_verdict_ms": {q: ms(last_to_verdict, p) for q, p in (("p50", 50), ("p99", 99))},
            "verdict_to_page_ms": {
                q: ms(verdict_to_page, p) for q, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
            },
            "verdicts_seen_on_page": int(on_page.sum()),
            "page_events": int(self.page_events.sum()),
        }

    @staticmethod
    def checks(summary: dict[str, Any]) -> dict[str, bool]:
        out = {
            "every face decided once (verdict)": summary["decided_twice"] == 0
            and summary["not_decided"] == 0,
            f"verdict -> page p99 <= {PAGE_P99_TARGET_MS:g} ms": summary["verdict_to_page_ms"]["p99"]
            <= PAGE_P99_TARGET_MS
            and summary["verdicts_seen_on_page"] == summary["passengers_with_face"],
        }
        if summary["in_view_target_applies"]:
            out[f"verdict in view >= {IN_VIEW_TARGET:.0%}"] = summary["in_view_share"] >= IN_VIEW_TARGET
        return out


class PageWatcher:
    """A kiosk's view of one lane, without the browser: the page's event stream, over HTTP."""

    def __init__(self, base_url: str, lane_id: str, k: int, clock: VerdictClock) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.path = f"/lane/{urllib.parse.quote(lane_id)}/events?lang=zh_CN"
        self.k, self.clock = k, clock
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"page-{lane_id}", daemon=True)

    def start(self) -> PageWatcher:
        self._thread.start()
        return self

    @classmethod
    def for_lanes(cls, service: Any, clock: VerdictClock) -> list[PageWatcher]:
        url = service.web.url("display")
        if url is None:
            raise RuntimeError(f"the operator display is not serving: {service.web.status()}")
        return [cls(url, lane.lane_id, k, clock).start() for k, lane in enumerate(service.lanes)]

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                while not self._stop.is_set():
                    line = response.readline()
                    if not line:
                        break
                    if line.startswith(b"data: "):
                        received = time.monotonic()
                        verdict_mono = json.loads(line[6:]).get("verdict_mono")
                        if verdict_mono is not None:
                            self.clock.page_seen(self.k, float(verdict_mono), received)
            except (OSError, http.client.HTTPException, ValueError):
                self.errors += 1
                self._stop.wait(0.2)
            finally:
                conn.close()

    def stop(self) -> None:
        """After the service has stopped (its listener ends the stream)."""
        self._stop.set()
        self._thread.join(5.0)


def print_report(summary: dict[str, Any], dwell_s: float) -> None:
    def row(label: str, value: object) -> None:
        print(f"  {label:<44} {value}")

    print("\ntemperature verdict (display and alarm; the alert still waits for the card join)")
    row("passengers with a face / verdicts", f"{summary['passengers_with_face']} / {summary['verdicts']}")
    row("decided twice / not decided", f"{summary['decided_twice']} / {summary['not_decided']}")
    row("verdicts outside any face", summary["verdicts_outside_any_face"])
    share = summary["in_view_share"]
    note = (
        ""
        if summary["in_view_target_applies"]
        else f" (dwell {dwell_s} s < {IN_VIEW_MIN_DWELL_S} s: no target)"
    )
    row("verdict while the face is in view (share)", f"{share:.3f}{note}")
    f2v, v2p = summary["first_seen_to_verdict_ms"], summary["verdict_to_page_ms"]
    row("face first seen -> verdict p50/p99 (ms)", f"{f2v['p50']} / {f2v['p99']}")
    row(
        "verdict -> operator page p50/p90/p99/max (ms)",
        f"{v2p['p50']} / {v2p['p90']} / {v2p['p99']} / {v2p['max']}",
    )
    row("verdicts seen on the page", f"{summary['verdicts_seen_on_page']} ({summary['page_events']} events)")
