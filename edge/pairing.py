"""Which card belongs to which face, when the lane's flow allows more than one answer. Pure.

Cards and faces that the flow lets pair form a graph; each connected group is decided on its own. The answer
is the largest set of one-to-one pairs (most passengers regular: a card and a face each), and it is only an
answer where it is the same in every such largest set: a card or face whose partner differs between them is
ambiguous and is given to nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Groups larger than this are not searched: every member with a possible partner is ambiguous.
MAX_GROUP = 12
MAX_MATCHINGS = 64


@dataclass
class Resolution:
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (card, face) certain pairs
    ambiguous_cards: list[int] = field(default_factory=list)
    ambiguous_faces: list[int] = field(default_factory=list)
    lone_cards: list[int] = field(default_factory=list)  # certainly without a face
    lone_faces: list[int] = field(default_factory=list)  # certainly without a card


def groups(n_cards: int, n_faces: int, edges: list[tuple[int, int]]) -> list[tuple[list[int], list[int]]]:
    """Connected groups as (cards, faces), each sorted; a member without an edge is a group of its own."""
    parent = list(range(n_cards + n_faces))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for c, f in edges:
        parent[root(c)] = root(n_cards + f)
    by_root: dict[int, tuple[list[int], list[int]]] = {}
    for node in range(n_cards + n_faces):
        cards, faces = by_root.setdefault(root(node), ([], []))
        (cards if node < n_cards else faces).append(node if node < n_cards else node - n_cards)
    return list(by_root.values())


def maximum_matchings(adjacency: list[list[int]]) -> tuple[list[tuple[int | None, ...]], bool]:
    """Every largest one-to-one assignment of cards (rows) to faces; (assignments, complete)."""
    found: list[tuple[int | None, ...]] = []
    best = 0
    complete = True
    assign: list[int | None] = []
    used: set[int] = set()

    def visit(i: int, size: int) -> None:
        nonlocal best, complete
        if size + len(adjacency) - i < best:
            return
        if i == len(adjacency):
            if size > best:
                best, complete = size, True
                found.clear()
            if len(found) < MAX_MATCHINGS:
                found.append(tuple(assign))
            else:
                complete = False
            return
        for face in adjacency[i]:
            if face not in used:
                used.add(face)
                assign.append(face)
                visit(i + 1, size + 1)
                assign.pop()
                used.discard(face)
        assign.append(None)
        visit(i + 1, size)
        assign.pop()

    visit(0, 0)
    return found, complete


def resolve(cards: list[int], faces: list[int], edges: set[tuple[int, int]]) -> Resolution:
    """Decide one group (global card and face indices, `edges` between them)."""
    out = Resolution()
    adjacency = [[f for f in faces if (c, f) in edges] for c in cards]
    matchings, complete = (
        maximum_matchings(adjacency) if len(cards) + len(faces) <= MAX_GROUP else ([], False)
    )
    if not complete:
        out.ambiguous_cards = [c for c, adj in zip(cards, adjacency, strict=True) if adj]
        out.lone_cards = [c for c, adj in zip(cards, adjacency, strict=True) if not adj]
        linked = {f for _, f in edges}
        out.ambiguous_faces = [f for f in faces if f in linked]
        out.lone_faces = [f for f in faces if f not in linked]
        return out
    face_partners: dict[int, set[int | None]] = {f: set() for f in faces}
    for row, card in enumerate(cards):
        partners = {m[row] for m in matchings}
        if len(partners) > 1:
            out.ambiguous_cards.append(card)
        elif (face := next(iter(partners))) is None:
            out.lone_cards.append(card)
        else:
            out.pairs.append((card, face))
    for m in matchings:
        taken = {f: cards[row] for row, f in enumerate(m) if f is not None}
        for f in faces:
            face_partners[f].add(taken.get(f))
    for f, partners in face_partners.items():
        if len(partners) > 1:
            out.ambiguous_faces.append(f)
        elif partners == {None}:
            out.lone_faces.append(f)
    return out
