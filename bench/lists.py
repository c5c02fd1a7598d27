"""Rule lists at the cap: how long a 200,000-entry signed document takes to verify and apply, and its memory.

    python bench/lists.py

Reference measured in the same run: `json.loads` of the same bytes (the least any consumer must do). The apply
runs on the rule-lists thread, never the uplink's, so this is how long a new list takes to come into force.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.list_signing import key_id, sign
from edge.rule_lists import MAX_WATCH_ENTRIES, RuleListStore


def main() -> None:
    key = Ed25519PrivateKey.generate()
    entries = [
        {"id_hmac": "k1:" + hashlib.sha256(str(i).encode()).hexdigest()} for i in range(MAX_WATCH_ENTRIES)
    ]
    raw = json.dumps(sign({"version": 1, "watch_list": entries}, key), separators=(",", ":")).encode()
    del entries
    started = time.perf_counter()
    json.loads(raw)
    reference_s = time.perf_counter() - started
    store = RuleListStore(
        [], trusted_keys={key_id(key.public_key()): key.public_key()}, held_key_ids=frozenset({"k1"})
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    applied = store.apply(raw, "bench")
    apply_s = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"document: {len(raw) / 2**20:.1f} MiB, {MAX_WATCH_ENTRIES} watch-list entries, applied: {applied}")
    print(f"json.loads (reference): {reference_s:.3f} s")
    print(f"verify + validate + swap: {apply_s:.3f} s ({apply_s / reference_s:.1f}× the reference)")
    print(f"peak RSS: {rss_before:.0f} MiB before the apply, {rss_after:.0f} MiB after")


if __name__ == "__main__":
    main()
