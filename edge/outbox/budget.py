"""The disk budget's choice of victims: pure, so its rules can be read and tested on their own.

When a new row would exceed the budget, rows of lower-or-equal priority go, lowest priority first and oldest
first within a kind (heartbeat, then stats, then status, then alerts); a row never evicts a row of a more
important kind: if even every allowed victim would not make room, the newcomer itself is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from edge.outbox.rows import DROP_PRIORITY


@dataclass(frozen=True)
class Victims:
    """Rows of one kind to drop: their ids (oldest first) and the bytes they free."""

    kind: str
    row_ids: list[int]
    freed_bytes: int


def choose_victims(
    kind: str,
    size_bytes: int,
    sizes: Mapping[str, int],
    max_bytes: int,
    oldest_first: Callable[[str], Iterable[tuple[int, int]]],
) -> list[Victims] | None:
    """What must go for a `kind` row of `size_bytes` to fit; [] if it fits, None if it cannot be made to.

    `sizes` are the bytes held per kind; `oldest_first(kind)` yields (row_id, size_bytes) of that kind's rows,
    oldest first, and is read only as far as needed.
    """
    needed = sum(sizes.values()) + size_bytes - max_bytes
    if needed <= 0:
        return []
    allowed = sorted(
        (k for k in DROP_PRIORITY if DROP_PRIORITY[k] <= DROP_PRIORITY[kind]), key=lambda k: DROP_PRIORITY[k]
    )
    chosen: list[Victims] = []
    freed = 0
    for victim_kind in allowed:
        if freed >= needed:
            break
        ids: list[int] = []
        kind_freed = 0
        for row_id, row_size in oldest_first(victim_kind):
            if freed + kind_freed >= needed:
                break
            ids.append(row_id)
            kind_freed += row_size
        if ids:
            chosen.append(Victims(victim_kind, ids, kind_freed))
            freed += kind_freed
    return chosen if freed >= needed else None


def spill_victim(priorities_and_ids: Iterable[tuple[str, int]]) -> int:
    """Index of the row to drop from a full memory spill: lowest priority, then oldest."""
    keyed = [(DROP_PRIORITY[kind], row_id, index) for index, (kind, row_id) in enumerate(priorities_and_ids)]
    return min(keyed)[2]
