"""Helpers for feeding parsers the way a serial port does: in chunks split anywhere."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st


@st.composite
def split_anywhere(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def feed_all(parser: Any, chunks: list[bytes], *, end_of_burst: bool = False) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    if end_of_burst and hasattr(parser, "end_of_burst"):
        out.extend(parser.end_of_burst())
    return out
