"""Class emblems of the embedded dataset: g×g cell patterns, one of each class's own (see data/synthetic.py).

Pure combinatorics (numpy only): which patterns the classes own, and which are left as decoys. Rendering
stays in :mod:`unlearnbench.data.synthetic`.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["EMBLEM_MIN_DISTANCE", "emblem_patterns", "decoy_patterns"]

EMBLEM_MIN_DISTANCE = 2     # cells in which any two emblems (or one and the other's mirror image) differ


def emblem_patterns(count: int) -> tuple[int, list[tuple[int, ...]]]:
    """``(g, patterns)``: ``count`` distinct emblems on a g×g grid (g = 3 up to 100 classes, else 4), each a
    sorted tuple of bright-cell indices; a fixed deterministic sequence (a prefix does not depend on
    ``count`` within one grid size). Any two differ in ≥ ``EMBLEM_MIN_DISTANCE`` cells, also after
    mirroring one of them, and every emblem has between 3 and g² − 3 bright cells."""
    g = 3 if count <= 100 else 4
    cells = g * g
    mirror = [r * g + (g - 1 - c) for r in range(g) for c in range(g)]
    rng = np.random.default_rng(np.random.SeedSequence([0xE4B1, g]))
    chosen: list[np.ndarray] = []
    for code in rng.permutation(1 << cells):
        bits = np.array([(int(code) >> i) & 1 for i in range(cells)], dtype=np.int8)
        if not 3 <= bits.sum() <= cells - 3:
            continue
        flipped = bits[mirror]
        if all(np.sum(bits != q) >= EMBLEM_MIN_DISTANCE and np.sum(flipped != q) >= EMBLEM_MIN_DISTANCE
               for q in chosen):
            chosen.append(bits)
            if len(chosen) == count:
                break
    if len(chosen) < count:
        raise ValueError(f"cannot make {count} distinct emblems on a {g}×{g} grid")
    return g, [tuple(int(i) for i in np.flatnonzero(b)) for b in chosen]


@functools.lru_cache(maxsize=8)
def decoy_patterns(g: int, owned: tuple[tuple[int, ...], ...]) -> list[tuple[int, ...]]:
    """Every g×g pattern with 3…g²−3 bright cells that is no class's emblem (``owned``) nor its mirror:
    what an image shows when it does not show its class's emblem (``emblem_prob`` < 1)."""
    cells = g * g
    mirror = [r * g + (g - 1 - c) for r in range(g) for c in range(g)]
    taken = {frozenset(q) for q in owned} | {frozenset(mirror[i] for i in q) for q in owned}
    return [bits for code in range(1 << cells)
            if 3 <= len(bits := tuple(i for i in range(cells) if (code >> i) & 1)) <= cells - 3
            and frozenset(bits) not in taken]
