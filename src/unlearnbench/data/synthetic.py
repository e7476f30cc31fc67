"""Procedural hierarchical image dataset: the embedded default of unlearnbench (offline, CPU, seconds).

Upstream classes
----------------
``superclasses × fine_per_superclass`` classes of RGB images. A **superclass** is a visual concept: a polar
shape family (``flower`` = smooth lobes ``r(θ) ∝ 1 + a·cos(mθ)``, ``star`` = pointed lobes, a triangle wave
in θ) with ``m`` lobes, filled with one texture family (stripes, checks, dots, rings, waves, spiral).
Superclass ``s`` uses shape ``s mod 8`` and texture ``s mod 6`` of the tables below, so the first 6
superclasses differ in both shape and texture and up to 24 superclasses are distinct pairs.
A **fine class** varies the concept *within* the family: it sits on a grid of (lobe amplitude ``a``,
texture frequency ``k`` in cycles per shape diameter) inside the fixed ranges ``AMPLITUDE_RANGE`` and
``FREQUENCY_RANGE`` (centres of a ``ceil(√F) × ceil(F / ceil(√F))`` grid of equal bins). Fine classes of a
superclass therefore share shape *and* texture type and differ only in two continuous parameters, while
classes of different superclasses differ in both concepts: the hierarchy is there by construction.

Every fine class also carries a cue of its **own**: an *emblem*, a g×g pattern of bright cells on a dark
plate at the centre of the shape (rotating and scaling with it). Emblems are unique per class (no two
classes share one, nor one and its mirror image: training flips images horizontally) and differ from each
other in at least two cells. Amplitude and frequency are combinations of cues that other classes share, so
a model trained without class ``c`` still encodes them and a probe could read ``c`` off them; the emblem
of ``c`` appears in no other class, so a model trained without ``c`` has no reason to encode it. This is
the physical property the forgetting protocol needs (``emblem_size=0`` turns emblems off). With
``emblem_prob`` < 1 the other images carry a *decoy*, a pattern that belongs to no class: then an unknown
pattern is normal for every class, and a model trained without ``c`` cannot single ``c`` out by the mere
absence of a known emblem either. Patterns come
from a fixed pseudo-random sequence, 3×3 cells up to 100 classes, 4×4 beyond.

Class definitions are a pure function of ``(superclasses, fine_per_superclass)``; ``seed`` drives only
the sampling of images. Every image draws its nuisances from a ``numpy.random.Generator`` seeded by
``(seed, dataset kind, split, class)``; draws are laid out image by image, so the first ``n`` images of a
class do not depend on ``train_per_class`` (a larger set extends a smaller one).

Nuisances (keyword knobs of both generators)
--------------------------------------------
position jitter, scale, rotation, aspect-ratio stretch, per-image jitter of the class parameters
(``param_jitter``: the main accuracy knob — at ≥ 0.5 neighbouring fine classes touch, above they
overlap), random foreground hue/saturation/value with a darker texture colour and random texture phase,
random background colour with a linear gradient and a low-frequency second colour (``background_clutter``),
distractor discs behind the shape (``distractors``: expected number per image), and additive Gaussian
pixel noise (``noise_std``, fraction of the 0–255 range).

Downstream datasets
-------------------
``similar``: each class is a new fine class of an upstream superclass, derived from one upstream fine
class by moving its (amplitude, frequency) grid coordinates by ±0.35 grid spacing per axis (the first
variant points away from the grid's centre, later variants cycle through the other sign patterns). Its
centre lies at 0.49 spacing from its source and ≥ 0.74 spacing from every other fine class of that
superclass (other superclasses differ in shape and texture), so it is closer to its source than to any
other upstream class, yet it is not any upstream class. It carries its source's emblem (later variants of
the same source toggle one cell of it, so that they stay distinct from each other). Downstream class ``j``
is derived from upstream superclass ``j mod n`` (``n = ceil(superclasses / 2)``: only the first half of
the superclasses are sources), fine class ``(j // n) mod F``, variant ``j // (n·F)``.

``unrelated``: stroke glyphs (open polylines of 3–4 strokes through a jittered 3×3 lattice, like
hand-drawn characters), a concept never used upstream: no filled shape, no texture. Glyphs are drawn
near-upright (rotation capped at 30°); templates are unique up to reversal and mirror image (training
uses horizontal flips). ``source_class = superclass = -1`` for these classes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from unlearnbench.data.arrays import ArrayDataset
from unlearnbench.data.emblems import decoy_patterns, emblem_patterns
from unlearnbench.params import check_float, check_int

__all__ = [
    "AMPLITUDE_RANGE",
    "FREQUENCY_RANGE",
    "SHAPES",
    "TEXTURES",
    "DOWNSTREAM_KINDS",
    "ClassSpec",
    "upstream_class_specs",
    "downstream_class_specs",
    "generate_upstream",
    "generate_downstream",
]

# Shape families (family, lobes), in the order superclasses use them.
SHAPES: tuple[tuple[str, int], ...] = (
    ("flower", 3), ("star", 4), ("flower", 5), ("star", 3),
    ("flower", 4), ("star", 5), ("flower", 6), ("star", 6),
)
TEXTURES: tuple[str, ...] = ("stripes", "checks", "dots", "rings", "waves", "spiral")
MAX_SUPERCLASSES = 24  # lcm(len(SHAPES), len(TEXTURES)): every superclass a distinct (shape, texture) pair
MAX_FINE = 25          # a 5×5 (amplitude, frequency) grid
AMPLITUDE_RANGE = (0.12, 0.50)   # lobe depth a
FREQUENCY_RANGE = (1.5, 4.5)     # texture cycles per shape diameter
SIMILAR_STEP = 0.35              # downstream "similar" perturbation, in grid spacings per axis
MAX_SIMILAR_VARIANTS = 4
MAX_UNRELATED = 64
GLYPH_MAX_ROTATION = 30.0        # degrees: glyphs stay near-upright, like characters
DOWNSTREAM_KINDS = ("similar", "unrelated")

_KIND_CODE = {"upstream": 0, "similar": 1, "unrelated": 2}
_SPLIT_CODE = {"train": 0, "test": 1}
_CHUNK_PIXELS = 256 * 32 * 32   # pixels rendered at once (bounds temporary memory, ~1 MiB arrays)
_N_DISTRACTOR_SLOTS = 4

# Columns of the per-image uniform parameter matrix (one row per image: prefix-stable sampling).
(_CX, _CY, _SCALE, _ROT, _ASPECT, _JA, _JK, _PH1, _PH2, _FH, _FS, _FV, _DARK,
 _BH, _BS, _BV, _B2H, _B2S, _B2V, _GAMP, _GDIR, _LFREQ, _LDIR, _LPH, _LW, _THICK) = range(26)
_DIST0 = 26                                   # 4 slots × (present, x, y, radius, hue, sat, val)
_GLYPH0 = _DIST0 + 7 * _N_DISTRACTOR_SLOTS    # 5 lattice points × (dx, dy) jitter
_EMB, _DECOY = _GLYPH0 + 10, _GLYPH0 + 11      # emblem shown? / which decoy pattern otherwise
_NPARAM = _GLYPH0 + 12


@dataclass(frozen=True)
class ClassSpec:
    """Definition of one class; ``name`` is ``"<superclass name>/<fine name>"``."""

    name: str
    family: str                  # "flower" | "star" | "glyph"
    superclass: int = -1         # upstream superclass id (-1: none)
    source_class: int = -1       # upstream class it was derived from (-1: none)
    lobes: int = 0
    texture: str = ""
    amplitude: float = 0.0
    frequency: float = 0.0
    amplitude_spacing: float = 0.0   # grid spacing: scale of the per-image parameter jitter
    frequency_spacing: float = 0.0
    glyph: tuple[tuple[float, float], ...] = ()   # polyline vertices (glyph family)
    emblem: tuple[int, ...] = ()     # indices of the bright cells of the class's own g×g emblem
    emblem_grid: int = 0             # g (0: no emblem)
    emblems_owned: tuple[tuple[int, ...], ...] = ()   # every upstream class's emblem (decoys avoid them)


# ----------------------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class _Nuisance:
    position_jitter: float
    scale_range: tuple[float, float]
    rotation: float
    aspect_jitter: float
    param_jitter: float
    noise_std: float
    background_clutter: float
    distractors: float
    emblem_size: float
    emblem_prob: float

    @classmethod
    def build(cls, *, position_jitter, scale_range, rotation, aspect_jitter, param_jitter, noise_std,
              background_clutter, distractors, emblem_size, emblem_prob) -> "_Nuisance":
        try:
            lo, hi = (float(v) for v in scale_range)
        except (TypeError, ValueError):
            raise ValueError(f"scale_range must be a pair (low, high), got {scale_range!r}") from None
        if not (0.1 <= lo <= hi <= 1.0):
            raise ValueError(f"scale_range must satisfy 0.1 <= low <= high <= 1.0, got {scale_range!r}")
        return cls(
            position_jitter=check_float("position_jitter", position_jitter, 0.0, 0.5),
            scale_range=(lo, hi),
            rotation=check_float("rotation", rotation, 0.0, 180.0),
            aspect_jitter=check_float("aspect_jitter", aspect_jitter, 0.0, 1.0),
            param_jitter=check_float("param_jitter", param_jitter, 0.0, 2.0),
            noise_std=check_float("noise_std", noise_std, 0.0, 1.0),
            background_clutter=check_float("background_clutter", background_clutter, 0.0, 1.0),
            distractors=check_float("distractors", distractors, 0.0, float(_N_DISTRACTOR_SLOTS)),
            emblem_size=check_float("emblem_size", emblem_size, 0.0, 0.7),
            emblem_prob=check_float("emblem_prob", emblem_prob, 0.0, 1.0),
        )


# ----------------------------------------------------------------------------------- class definitions
def _grid_shape(fine: int) -> tuple[int, int]:
    na = math.ceil(math.sqrt(fine))
    return na, math.ceil(fine / na)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _superclass_name(s: int) -> str:
    family, lobes = SHAPES[s % len(SHAPES)]
    return f"{family}{lobes}-{TEXTURES[s % len(TEXTURES)]}"


def _lobed_spec(s: int, ia: float, ik: float, na: int, nk: int, *, source: int = -1,
                emblem: tuple[int, ...] = (), emblem_grid: int = 0,
                emblems_owned: tuple[tuple[int, ...], ...] = ()) -> ClassSpec:
    """Class of superclass ``s`` at fractional grid coordinates (ia, ik) of an na × nk grid."""
    family, lobes = SHAPES[s % len(SHAPES)]
    da = (AMPLITUDE_RANGE[1] - AMPLITUDE_RANGE[0]) / na
    dk = (FREQUENCY_RANGE[1] - FREQUENCY_RANGE[0]) / nk
    amp = AMPLITUDE_RANGE[0] + (ia + 0.5) * da
    freq = FREQUENCY_RANGE[0] + (ik + 0.5) * dk
    return ClassSpec(
        name=f"{_superclass_name(s)}/amp{_fmt(amp)}-freq{_fmt(freq)}", family=family, superclass=s,
        source_class=source, lobes=lobes, texture=TEXTURES[s % len(TEXTURES)], amplitude=amp, frequency=freq,
        amplitude_spacing=da, frequency_spacing=dk, emblem=emblem, emblem_grid=emblem_grid,
        emblems_owned=emblems_owned,
    )


def upstream_class_specs(*, superclasses: int = 4, fine_per_superclass: int = 4) -> list[ClassSpec]:
    """The upstream classes, label order ``superclass * fine_per_superclass + fine``."""
    superclasses = check_int("superclasses", superclasses, 1, MAX_SUPERCLASSES)
    fine = check_int("fine_per_superclass", fine_per_superclass, 1, MAX_FINE)
    if superclasses * fine < 2:
        raise ValueError("superclasses * fine_per_superclass must be >= 2 (a classifier needs two classes)")
    na, nk = _grid_shape(fine)
    g, emblems = emblem_patterns(superclasses * fine)
    owned = tuple(emblems)
    return [_lobed_spec(s, f % na, f // na, na, nk, emblem=emblems[s * fine + f], emblem_grid=g, emblems_owned=owned)
            for s in range(superclasses) for f in range(fine)]


def _similar_specs(classes: int, superclasses: int, fine: int) -> list[ClassSpec]:
    na, nk = _grid_shape(fine)
    n_src = math.ceil(superclasses / 2)
    limit = n_src * fine * MAX_SIMILAR_VARIANTS
    if classes > limit:
        raise ValueError(f"classes must be <= {limit} for kind 'similar' with superclasses={superclasses}, "
                         f"fine_per_superclass={fine} (at most {MAX_SIMILAR_VARIANTS} per source class), "
                         f"got {classes}")
    g, emblems = emblem_patterns(superclasses * fine)
    specs = []
    for j in range(classes):
        s, f, variant = j % n_src, (j // n_src) % fine, j // (n_src * fine)
        emblem = set(emblems[s * fine + f]) ^ ({variant - 1} if variant else set())  # later variants: one cell toggled
        ia, ik = f % na, f // na
        # outward direction per axis (away from the grid centre; + on the centre line)
        oa = 1.0 if ia >= (na - 1) / 2 else -1.0
        ok = 1.0 if ik >= (nk - 1) / 2 else -1.0
        sa, sk = ((1, 1), (1, -1), (-1, 1), (-1, -1))[variant]
        spec = _lobed_spec(s, ia + sa * oa * SIMILAR_STEP, ik + sk * ok * SIMILAR_STEP, na, nk,
                           source=s * fine + f, emblem=tuple(sorted(emblem)), emblem_grid=g,
                           emblems_owned=tuple(emblems))
        specs.append(spec)
    return specs


_LATTICE = [(x, y) for y in (-1, 0, 1) for x in (-1, 0, 1)]


def _glyph_templates(count: int) -> list[tuple[int, ...]]:
    """``count`` distinct lattice paths (vertex index sequences), a fixed deterministic sequence."""
    rng = np.random.default_rng(np.random.SeedSequence([0x9E37, 0x61F]))
    seen: set[frozenset] = set()
    out: list[tuple[int, ...]] = []
    while len(out) < count:
        n_edges = int(rng.integers(3, 5))
        path = [int(rng.integers(9))]
        while len(path) <= n_edges:
            x, y = _LATTICE[path[-1]]
            nbrs = [i for i, (u, v) in enumerate(_LATTICE)
                    if max(abs(u - x), abs(v - y)) == 1 and i not in path]
            if not nbrs:
                break
            path.append(nbrs[int(rng.integers(len(nbrs)))])
        if len(path) <= n_edges:
            continue
        edges = frozenset(frozenset((a, b)) for a, b in zip(path, path[1:]))
        mirror = frozenset(frozenset(_mirror(i) for i in e) for e in edges)
        if edges in seen or mirror in seen:
            continue
        seen.add(edges)
        out.append(tuple(path))
    return out


def _mirror(i: int) -> int:
    x, y = _LATTICE[i]
    return _LATTICE.index((-x, y))


def downstream_class_specs(kind: str, *, classes: int, superclasses: int = 4,
                           fine_per_superclass: int = 4) -> list[ClassSpec]:
    """Class definitions of a downstream dataset (see the module docstring)."""
    if kind not in DOWNSTREAM_KINDS:
        raise ValueError(f"kind must be one of {DOWNSTREAM_KINDS}, got {kind!r}")
    upstream_class_specs(superclasses=superclasses, fine_per_superclass=fine_per_superclass)  # validates
    if kind == "similar":
        classes = check_int("classes", classes, 1)
        return _similar_specs(classes, superclasses, fine_per_superclass)
    classes = check_int("classes", classes, 1, MAX_UNRELATED)
    specs = []
    for j, path in enumerate(_glyph_templates(classes)):
        verts = tuple((0.8 * _LATTICE[i][0], 0.8 * _LATTICE[i][1]) for i in path)
        specs.append(ClassSpec(name=f"glyph/strokes{j:02d}", family="glyph", glyph=verts))
    return specs


# ----------------------------------------------------------------------------------------- rendering
# Internally images are channel-first with flattened pixels: scalar fields are (n, P), colours (n, 3, P)
# with P = H·W, per-image scalars (n, 1) and colours (n, 3, 1), so that every numpy loop runs over long
# contiguous rows.
_F32 = np.float32


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV → RGB for (n,) arrays in [0, 1]; returns (n, 3, 1) float32."""
    h6 = (h % 1.0) * 6.0
    i = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([
        np.stack([v, t, p], -1), np.stack([q, v, p], -1), np.stack([p, v, t], -1),
        np.stack([p, q, v], -1), np.stack([t, p, v], -1), np.stack([v, p, q], -1),
    ])  # 6 × n × 3
    return table[i, np.arange(len(h))].astype(_F32)[:, :, None]


def _col(p: np.ndarray, j: int) -> np.ndarray:
    """Column ``j`` of the parameter matrix as an (n, 1) float32 array."""
    return p[:, j:j + 1].astype(_F32)


def _blend(dst: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    """In place: ``dst = dst + (colour - dst) · alpha`` for dst (n, 3, P), alpha (n, P)."""
    diff = colour - dst
    diff *= alpha[:, None, :]
    dst += diff


def _background(p: np.ndarray, xx: np.ndarray, yy: np.ndarray, nz: _Nuisance, size: int) -> np.ndarray:
    """(n, 3, P) background: colour + gradient + low-frequency second colour + distractor discs."""
    c = nz.background_clutter
    b0 = _hsv_to_rgb(p[:, _BH], 0.7 * p[:, _BS], 0.1 + 0.8 * p[:, _BV])
    b1 = _hsv_to_rgb(p[:, _B2H], 0.7 * p[:, _B2S], 0.1 + 0.8 * p[:, _B2V])
    gdir = _col(p, _GDIR) * _F32(2 * np.pi)
    grad = _F32(0.5 * c) * _col(p, _GAMP) * (np.cos(gdir) * xx + np.sin(gdir) * yy)
    grad += 1.0
    ldir = _col(p, _LDIR) * _F32(2 * np.pi)
    lfreq = 1.0 + 2.0 * _col(p, _LFREQ)  # rad per half-image: < 1 cycle across the image
    w = np.sin(lfreq * (np.cos(ldir) * xx + np.sin(ldir) * yy) + _col(p, _LPH) * _F32(2 * np.pi))
    w *= _F32(0.5 * c) * _col(p, _LW)
    w += _F32(0.5 * c) * _col(p, _LW)
    bg = (b1 - b0) * w[:, None, :]
    bg += b0
    bg *= grad[:, None, :]
    prob = nz.distractors / _N_DISTRACTOR_SLOTS
    half = _F32(size / 2.0)
    for slot in range(_N_DISTRACTOR_SLOTS):
        k = _DIST0 + 7 * slot
        idx = np.flatnonzero(p[:, k] < prob)
        if not len(idx):
            continue
        q = p[idx]
        dx, dy = 2 * _col(q, k + 1) - 1, 2 * _col(q, k + 2) - 1
        rad = 0.06 + 0.12 * _col(q, k + 3)
        dist = np.sqrt((xx - dx) ** 2 + (yy - dy) ** 2)
        alpha = np.clip((rad - dist) * half + 0.5, 0.0, 1.0)
        col = _hsv_to_rgb(q[:, k + 4], q[:, k + 5], 0.2 + 0.8 * q[:, k + 6])
        sub = bg[idx]
        _blend(sub, col, alpha)
        bg[idx] = sub
    return bg


def _frame(p: np.ndarray, nz: _Nuisance, size: int, max_rotation: float):
    """Pixel grid and per-image object frame: returns xx, yy (1, P) image coords in [-1, 1], u, v (n, P)
    object coords in units of the object radius, and the radius in pixels (n, 1)."""
    t = (np.arange(size, dtype=_F32) + 0.5) / size * 2 - 1
    yy = np.repeat(t, size)[None, :]
    xx = np.tile(t, size)[None, :]
    cx = (2 * _col(p, _CX) - 1) * _F32(2 * nz.position_jitter)
    cy = (2 * _col(p, _CY) - 1) * _F32(2 * nz.position_jitter)
    lo, hi = nz.scale_range
    r0 = lo + (hi - lo) * _col(p, _SCALE)
    ang = _F32(np.deg2rad(max_rotation)) * (2 * _col(p, _ROT) - 1)
    stretch = np.exp(_F32(np.log1p(nz.aspect_jitter)) * (2 * _col(p, _ASPECT) - 1))
    dx, dy = xx - cx, yy - cy
    ca, sa = np.cos(ang), np.sin(ang)
    u = ca * dx
    u += sa * dy
    u *= 1.0 / (r0 * stretch)
    v = ca * dy
    v -= sa * dx
    v *= stretch / r0
    return xx, yy, u, v, r0 * _F32(size / 2.0)


def _fg_colours(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c1 = _hsv_to_rgb(p[:, _FH], 0.45 + 0.55 * p[:, _FS], 0.55 + 0.45 * p[:, _FV])
    c2 = c1 * (0.1 + 0.35 * p[:, _DARK]).astype(_F32)[:, None, None]
    return c1, c2


def _render_lobed(spec: ClassSpec, p: np.ndarray, nz: _Nuisance, size: int) -> np.ndarray:
    xx, yy, u, v, r0px = _frame(p, nz, size, nz.rotation)
    amp = np.maximum(spec.amplitude + nz.param_jitter * spec.amplitude_spacing * (2 * _col(p, _JA) - 1), 0.02)
    freq = np.maximum(spec.frequency + nz.param_jitter * spec.frequency_spacing * (2 * _col(p, _JK) - 1), 0.5)
    r = np.hypot(u, v)
    phi = np.arctan2(v, u)
    if spec.family == "flower":
        g = np.cos(spec.lobes * phi)
    else:  # star: triangle wave in θ, peaks at the lobe tips
        g = phi * _F32(spec.lobes / (2 * np.pi))
        g -= np.floor(g)
        g -= 0.5
        np.abs(g, out=g)
        g *= 4.0
        g -= 1.0
    # boundary radius (1 + a·g) / (1 + a); alpha: signed distance to it in pixels, 1-pixel soft edge
    alpha = g * (amp / (1 + amp))
    alpha += 1.0 / (1 + amp)
    alpha -= r
    alpha *= r0px
    alpha += 0.5
    np.clip(alpha, 0.0, 1.0, out=alpha)
    w = _F32(np.pi) * freq          # texture coords: 2 units per diameter → k cycles per diameter
    ph1, ph2 = _col(p, _PH1) * _F32(2 * np.pi), _col(p, _PH2) * _F32(2 * np.pi)
    tex = spec.texture
    if tex == "stripes":
        t = np.cos(w * u + ph1)
    elif tex == "checks":
        t = np.cos(w * u + ph1)
        t *= np.cos(w * v + ph2)
        t *= 2.0
    elif tex == "dots":
        t = np.cos(w * u + ph1)
        t += np.cos(w * v + ph2)
        t -= 0.9
    elif tex == "rings":
        t = np.cos(w * r + ph1)
    elif tex == "waves":
        t = np.sin(w * v + ph2)
        t *= 1.6
        t += w * u + ph1
        np.cos(t, out=t)
    else:  # spiral: two arms
        t = w * r + ph1
        t += 2 * phi
        np.cos(t, out=t)
    t *= 1.5
    t += 0.5
    np.clip(t, 0.0, 1.0, out=t)
    c1, c2 = _fg_colours(p)
    shape = (c2 - c1) * t[:, None, :]
    shape += c1
    img = _background(p, xx, yy, nz, size)
    _blend(img, shape, alpha)
    if spec.emblem_grid and nz.emblem_size > 0:
        g = spec.emblem_grid
        cells = np.zeros((len(p), g * g), dtype=bool)  # each image's bright cells
        cells[:, list(spec.emblem)] = True
        decoy = np.flatnonzero(p[:, _EMB] >= nz.emblem_prob)  # these carry a pattern of no class instead
        if len(decoy):
            decoys = decoy_patterns(g, spec.emblems_owned)
            pick = np.minimum((p[decoy, _DECOY] * len(decoys)).astype(np.int64), len(decoys) - 1)
            cells[decoy] = False
            for row, k in zip(decoy, pick):
                cells[row, list(decoys[k])] = True
        _draw_emblem(img, g, cells, u, v, r0px, nz.emblem_size)
    return img


_EMBLEM_PLATE, _EMBLEM_CELL = _F32(0.08), _F32(0.92)   # grey levels: dark plate, bright cells


def _square_alpha(u: np.ndarray, v: np.ndarray, cu: float, cv: float, half: float, r0px: np.ndarray) -> np.ndarray:
    """Coverage of an axis-aligned square (object coordinates) with a 1-pixel soft edge."""
    d = np.maximum(np.abs(u - _F32(cu)), np.abs(v - _F32(cv)))
    alpha = (_F32(half) - d) * r0px
    alpha += 0.5
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def _draw_emblem(img: np.ndarray, g: int, cells: np.ndarray, u: np.ndarray, v: np.ndarray, r0px: np.ndarray,
                 half: float) -> None:
    """In place: every image's emblem — a dark plate and the bright cells flagged in its row of ``cells``
    (n × g²) — centred on the shape, in its frame."""
    _blend(img, _EMBLEM_PLATE, _square_alpha(u, v, 0.0, 0.0, half, r0px))
    step = 2 * half / g
    for cell in np.flatnonzero(cells.any(axis=0)):
        row, col = divmod(int(cell), g)
        cu, cv = -half + (col + 0.5) * step, -half + (row + 0.5) * step
        _blend(img, _EMBLEM_CELL, _square_alpha(u, v, cu, cv, 0.36 * step, r0px) * cells[:, cell, None])


def _render_glyph(spec: ClassSpec, p: np.ndarray, nz: _Nuisance, size: int) -> np.ndarray:
    xx, yy, u, v, r0px = _frame(p, nz, size, min(nz.rotation, GLYPH_MAX_ROTATION))
    jit = 0.25 * nz.param_jitter * 0.8   # vertex jitter: a quarter lattice spacing per unit of param_jitter
    verts = []
    for i, (vx, vy) in enumerate(spec.glyph):
        k = _GLYPH0 + 2 * i
        verts.append((vx + jit * (2 * _col(p, k) - 1), vy + jit * (2 * _col(p, k + 1) - 1)))
    dist2 = None
    for (ax, ay), (bx, by) in zip(verts, verts[1:]):
        ex, ey = bx - ax, by - ay
        px, py = u - ax, v - ay
        tt = px * ex
        tt += py * ey
        tt *= 1.0 / (ex * ex + ey * ey)
        np.clip(tt, 0.0, 1.0, out=tt)
        px -= tt * ex
        py -= tt * ey
        px *= px
        py *= py
        px += py
        dist2 = px if dist2 is None else np.minimum(dist2, px, out=dist2)
    half_width = 0.10 + 0.06 * _col(p, _THICK)   # in object-radius units
    alpha = (half_width - np.sqrt(dist2)) * r0px
    alpha += 0.5
    np.clip(alpha, 0.0, 1.0, out=alpha)
    c1, _ = _fg_colours(p)
    img = _background(p, xx, yy, nz, size)
    _blend(img, c1, alpha)
    return img


def _render_class(spec: ClassSpec, n: int, rng_key: Sequence[int], nz: _Nuisance, size: int) -> np.ndarray:
    """``n`` uint8 images (n, H, W, 3) of one class, seeded by ``rng_key``; identical for any chunking."""
    param_rng = np.random.default_rng(np.random.SeedSequence([*rng_key, 0]))
    noise_rng = np.random.default_rng(np.random.SeedSequence([*rng_key, 1]))
    params = param_rng.random((n, _NPARAM))
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    render = _render_glyph if spec.family == "glyph" else _render_lobed
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    for start in range(0, n, chunk):
        p = params[start:start + chunk]
        img = render(spec, p, nz, size)
        if nz.noise_std > 0:
            noise = noise_rng.standard_normal(img.shape, dtype=_F32)
            noise *= _F32(nz.noise_std)
            img += noise
        img *= 255.0
        img += 0.5
        np.clip(img, 0, 255, out=img)
        out[start:start + len(p)] = img.reshape(len(p), 3, size, size).transpose(0, 2, 3, 1)
    return out


def _generate(kind: str, specs: list[ClassSpec], *, train_per_class: int, test_per_class: int,
              image_size: int, seed: int, nz: _Nuisance) -> ArrayDataset:
    splits = {}
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        xs = [_render_class(spec, n, (seed, _KIND_CODE[kind], _SPLIT_CODE[split], c), nz, image_size)
              for c, spec in enumerate(specs)]
        x = np.concatenate(xs) if xs else np.empty((0, image_size, image_size, 3), np.uint8)
        y = np.repeat(np.arange(len(specs), dtype=np.int64), n)
        splits[split] = (x, y)
    return ArrayDataset(
        x_train=splits["train"][0], y_train=splits["train"][1],
        x_test=splits["test"][0], y_test=splits["test"][1],
        class_names=[s.name for s in specs],
        superclass=np.array([s.superclass for s in specs], dtype=np.int64),
        source_class=np.array([s.source_class for s in specs], dtype=np.int64),
    )


# ------------------------------------------------------------------------------------------ public API
def generate_upstream(
    *,
    superclasses: int = 4,
    fine_per_superclass: int = 4,
    train_per_class: int = 250,
    test_per_class: int = 50,
    image_size: int = 32,
    seed: int = 0,
    position_jitter: float = 0.12,
    scale_range: tuple[float, float] = (0.45, 0.75),
    rotation: float = 180.0,
    aspect_jitter: float = 0.2,
    param_jitter: float = 0.5,
    noise_std: float = 0.04,
    background_clutter: float = 0.6,
    distractors: float = 1.0,
    emblem_size: float = 0.45,
    emblem_prob: float = 1.0,
) -> ArrayDataset:
    """Generate the upstream hierarchical dataset (see the module docstring for the class design).

    Labels are ``superclass * fine_per_superclass + fine``; ``class_names[c]`` is
    ``"<shape><lobes>-<texture>/amp<a>-freq<k>"``, ``superclass[c]`` the superclass id and
    ``source_class`` all -1. Nuisance knobs: ``position_jitter`` (max centre offset, fraction of the image
    side), ``scale_range`` (object radius, fraction of half the side), ``rotation`` (max |angle|, degrees),
    ``aspect_jitter`` (max stretch ``1 + x``), ``param_jitter`` (uniform jitter of the class parameters,
    in grid spacings), ``noise_std`` (Gaussian pixel noise, fraction of 255), ``background_clutter``
    (gradient and second-colour strength), ``distractors`` (expected distractor discs per image, ≤ 4),
    ``emblem_size`` (half-side of the class emblem, in object radii; 0: no emblems), ``emblem_prob``
    (probability that an image shows its class's emblem; otherwise a decoy pattern owned by no class).
    """
    specs = upstream_class_specs(superclasses=superclasses, fine_per_superclass=fine_per_superclass)
    common = _common_args(train_per_class, test_per_class, image_size, seed)
    nz = _Nuisance.build(position_jitter=position_jitter, scale_range=scale_range, rotation=rotation,
                         aspect_jitter=aspect_jitter, param_jitter=param_jitter, noise_std=noise_std,
                         background_clutter=background_clutter, distractors=distractors,
                         emblem_size=emblem_size, emblem_prob=emblem_prob)
    return _generate("upstream", specs, nz=nz, **common)


def generate_downstream(
    kind: str,
    *,
    classes: int = 8,
    train_per_class: int = 100,
    test_per_class: int = 50,
    image_size: int = 32,
    seed: int = 0,
    superclasses: int = 4,
    fine_per_superclass: int = 4,
    position_jitter: float = 0.12,
    scale_range: tuple[float, float] = (0.45, 0.75),
    rotation: float = 180.0,
    aspect_jitter: float = 0.2,
    param_jitter: float = 0.5,
    noise_std: float = 0.04,
    background_clutter: float = 0.6,
    distractors: float = 1.0,
    emblem_size: float = 0.45,
    emblem_prob: float = 1.0,
) -> ArrayDataset:
    """Generate a downstream dataset of ``kind`` ``"similar"`` or ``"unrelated"``.

    ``superclasses`` and ``fine_per_superclass`` are the *upstream* dataset's class-definition args
    (pass the same values as to :func:`generate_upstream`): ``similar`` classes are perturbations of those
    upstream classes, with ``source_class[j]`` the upstream label and ``superclass[j]`` its superclass.
    ``unrelated`` classes are stroke glyphs with ``source_class = superclass = -1``. ``seed`` drives the
    image sampling (streams distinct from the upstream ones for the same seed); nuisance knobs as in
    :func:`generate_upstream`.
    """
    specs = downstream_class_specs(kind, classes=classes, superclasses=superclasses,
                                   fine_per_superclass=fine_per_superclass)
    common = _common_args(train_per_class, test_per_class, image_size, seed)
    nz = _Nuisance.build(position_jitter=position_jitter, scale_range=scale_range, rotation=rotation,
                         aspect_jitter=aspect_jitter, param_jitter=param_jitter, noise_std=noise_std,
                         background_clutter=background_clutter, distractors=distractors,
                         emblem_size=emblem_size, emblem_prob=emblem_prob)
    return _generate(kind, specs, nz=nz, **common)


def _common_args(train_per_class, test_per_class, image_size, seed) -> dict:
    return dict(
        train_per_class=check_int("train_per_class", train_per_class, 1),
        test_per_class=check_int("test_per_class", test_per_class, 0),
        image_size=check_int("image_size", image_size, 8, 512),
        seed=check_int("seed", seed, 0, 2**63 - 1),
    )
