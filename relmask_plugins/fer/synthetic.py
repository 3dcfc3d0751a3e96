"""Procedurally drawn 48×48 grayscale faces showing the 7 FER2013 expressions.

Every face is a set of shapes in a canonical face frame (face ellipse, eyes, pupils, brows, nose, mouth, hair,
an optional occluder), each given as an approximate signed distance field on the pixel grid (negative inside),
so a whole batch is drawn with a handful of vectorised NumPy operations and no Python loop over faces.

The expression lives in a few geometric parameters (mouth curvature, opening, width and tilt; brow height and
slant; eye openness; nose wrinkles). Each class has a prototype of these parameters; every face draws its own
around the prototype with spread ``difficulty``, so neighbouring classes (angry/disgust, fear/surprise,
sad/neutral) overlap and a small CNN does not reach ceiling in one epoch. Identity and nuisance variation:
face shape, skin and background tone, hair, position, scale, rotation, illumination gradient, contrast, noise
and partial occluders.

``style`` changes only how the shapes are painted, not the geometry, which gives a source set and a
differently looking target set for transfer: ``photo`` (soft shaded fills), ``sketch`` (dark pen lines on
paper) and ``cartoon`` (flat hard-edged fills with outlines).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

CLASS_NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
STYLES = ("photo", "sketch", "cartoon")
SIZE = 48
#: FER2013 class shares (Training usage), for class_distribution="fer2013"
FER2013_SHARES = np.array([3995, 436, 4097, 7215, 4830, 3171, 4965], dtype=float)

# Expression prototypes, one row per class (order of CLASS_NAMES). Columns:
#   eye_open  : eye half-height / 2.4 px
#   brow_lift : brow height above the default (px, canonical frame)
#   brow_slant: inner brow end raised (+) or lowered (-) relative to the outer end (px)
#   mouth_w   : mouth half-width (px)
#   mouth_c   : mouth-corner lift (px; + smile, - frown)
#   mouth_h   : mouth opening (px)
#   mouth_tilt: asymmetric lip raise (px over the half-width; sign drawn at random)
#   wrinkle   : nose-wrinkle strength (0..1)
_PROTO = np.array([
    # open  lift  slant  w    c     h    tilt wrinkle
    [0.55, -1.0, -2.6, 5.0, -0.8, 0.3, 0.0, 0.3],   # angry: narrowed eyes, brows down and in, pressed lips
    [0.45, -0.5, -1.4, 5.0, -1.2, 1.0, 1.6, 1.0],   # disgust: squint, wrinkled nose, raised upper lip on one side
    [1.25, 1.2, 1.6, 6.2, -0.6, 2.6, 0.0, 0.0],     # fear: wide eyes, brows up and in, stretched open mouth
    [0.55, 0.0, 0.0, 6.5, 2.6, 1.4, 0.0, 0.0],      # happy: smile, slightly closed eyes
    [0.65, 0.2, 2.0, 5.0, -2.2, 0.3, 0.0, 0.0],     # sad: frown, inner brows raised
    [1.45, 2.4, 0.4, 3.4, 0.0, 5.0, 0.0, 0.0],      # surprise: raised brows, round open mouth
    [0.85, 0.0, 0.0, 5.2, 0.0, 0.2, 0.0, 0.0],      # neutral
], dtype=np.float32)
#: spread of each expression parameter at difficulty 1 (same column order)
_SPREAD = np.array([0.16, 0.7, 0.8, 0.7, 0.7, 0.7, 0.5, 0.25], dtype=np.float32)


def class_labels(n: int, rng: np.random.Generator, class_distribution: str = "balanced") -> np.ndarray:
    """n labels: balanced (counts differ by at most one) or in FER2013's proportions, shuffled."""
    k = len(CLASS_NAMES)
    if class_distribution == "balanced":
        y = np.arange(n) % k
    elif class_distribution == "fer2013":
        shares = FER2013_SHARES / FER2013_SHARES.sum()
        counts = np.floor(shares * n).astype(int)
        counts[np.argsort(-(shares * n - counts))[: n - counts.sum()]] += 1
        y = np.repeat(np.arange(k), counts)
    else:
        raise ValueError(f"class_distribution must be 'balanced' or 'fer2013', got {class_distribution!r}")
    return rng.permutation(y).astype(np.int64)


def _ellipse(u, v, cu, cv, a, b):
    """Approximate signed distance (px) to an axis-aligned ellipse centred at (cu, cv)."""
    r = np.sqrt(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2)
    return (r - 1.0) * np.minimum(a, b)


def _segment(u, v, u0, v0, u1, v1, half_width):
    """Signed distance to a thick line segment from (u0, v0) to (u1, v1)."""
    du, dv = u1 - u0, v1 - v0
    t = np.clip(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv + 1e-6), 0.0, 1.0)
    return np.hypot(u - u0 - t * du, v - v0 - t * dv) - half_width


def _draw_parameters(y: np.ndarray, rng: np.random.Generator, difficulty: float, occlusion: float) -> dict:
    """Every random quantity of every face, drawn up front (so results do not depend on the chunk size)."""
    n = len(y)
    col = lambda a: a.astype(np.float32)[:, None, None]  # noqa: E731 - broadcast over the pixel grid
    expr = _PROTO[y] + rng.normal(size=(n, _PROTO.shape[1])).astype(np.float32) * _SPREAD * difficulty
    expr[:, 0] = np.clip(expr[:, 0], 0.15, 1.8)
    expr[:, 3] = np.clip(expr[:, 3], 2.5, 7.5)
    expr[:, 5] = np.clip(expr[:, 5], 0.0, 6.5)
    expr[:, 6] *= rng.choice([-1.0, 1.0], size=n)
    expr[:, 7] = np.clip(expr[:, 7], 0.0, 1.0)
    p = {name: col(expr[:, i]) for i, name in enumerate(
        ["eye_open", "brow_lift", "brow_slant", "mouth_w", "mouth_c", "mouth_h", "mouth_tilt", "wrinkle"])}
    u = lambda lo, hi: col(rng.uniform(lo, hi, n))  # noqa: E731
    p.update(
        cx=col(SIZE / 2 + rng.normal(0, 1.6, n)), cy=col(SIZE / 2 + 1 + rng.normal(0, 1.6, n)),
        scale=u(0.85, 1.12), angle=col(np.clip(rng.normal(0, 0.14, n), -0.35, 0.35)),
        face_a=u(13.5, 17.0), face_b=u(17.5, 21.0), eye_x=u(5.6, 7.4), eye_y=u(-4.0, -2.0),
        eye_w=u(2.6, 3.6), pupil_r=u(0.9, 1.4), brow_t=u(0.7, 1.3), mouth_y=u(8.5, 10.5),
        skin=u(0.5, 0.85), background=u(0.05, 0.55), hair=u(0.0, 0.35), hair_line=u(-15.0, -10.0),
        has_hair=col(rng.random(n) < 0.7), light_angle=u(0, 2 * np.pi), light=u(0.0, 0.45),
        contrast=u(0.75, 1.15), noise=u(0.015, 0.06),
        occ=col(rng.random(n) < occlusion), occ_x=u(8, 40), occ_y=u(10, 44), occ_w=u(3, 9), occ_h=u(3, 9),
        occ_tone=u(0.0, 1.0),
    )
    p["noise_field"] = rng.normal(size=(n, SIZE, SIZE)).astype(np.float32)
    return p


def _fields(p: dict) -> dict:
    """Signed distance fields (N, 48, 48) of every face part in image space."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    dx, dy = xx[None] - p["cx"], yy[None] - p["cy"]
    cos, sin = np.cos(p["angle"]), np.sin(p["angle"])
    u = (cos * dx + sin * dy) / p["scale"]  # canonical face frame: u right, v down, origin at face centre
    v = (-sin * dx + cos * dy) / p["scale"]
    s = p["scale"]  # distances back to pixels, so line widths look the same at every scale

    eye_h = 2.4 * p["eye_open"]
    au = np.abs(u)  # eyes, brows and wrinkles are mirror-symmetric
    eyes = _ellipse(au, v, p["eye_x"], p["eye_y"], p["eye_w"], eye_h)
    pupils = np.maximum(_ellipse(au, v, p["eye_x"], p["eye_y"], p["pupil_r"], p["pupil_r"]), eyes)
    brow_v = p["eye_y"] - 4.2 - p["brow_lift"]
    brows = _segment(au, v, p["eye_x"] - 2.8, brow_v - p["brow_slant"] / 2, p["eye_x"] + 3.0,
                     brow_v + p["brow_slant"] / 2, p["brow_t"])
    nose = _segment(u, v, 0.0, p["eye_y"] + 2.0, 0.6, 5.0, 0.55)
    wrinkles = _segment(au, v, 1.2, 1.2, 3.4, 0.4, 0.45) + 2.0 * (1.0 - p["wrinkle"])
    w = p["mouth_w"]
    un = np.clip(u / w, -1.0, 1.0)
    centre = p["mouth_y"] - p["mouth_c"] * un ** 2 - p["mouth_tilt"] * np.maximum(un, 0) ** 2
    half_open = p["mouth_h"] / 2 * (1 - un ** 2) + 0.6
    mouth = np.maximum(au - w, np.abs(v - centre) - half_open)
    opening = np.maximum(au - w + 0.8, np.abs(v - centre) - (half_open - 0.9))
    face = _ellipse(u, v, 0.0, 0.0, p["face_a"], p["face_b"])
    hair = np.maximum(_ellipse(u, v, 0.0, -1.0, p["face_a"] + 2.0, p["face_b"] + 2.5), v - p["hair_line"])
    hair = np.where(p["has_hair"], hair, 1e3)
    occ = np.maximum(np.abs(xx[None] - p["occ_x"]) - p["occ_w"], np.abs(yy[None] - p["occ_y"]) - p["occ_h"])
    occ = np.where(p["occ"], occ, 1e3)
    f = dict(face=face, hair=hair, eyes=eyes, pupils=pupils, brows=brows, nose=nose, wrinkles=wrinkles,
             mouth=mouth, opening=opening)
    f = {k: a * s for k, a in f.items()}
    f["occluder"] = occ
    f["radial"] = np.clip((u / p["face_a"]) ** 2 + (v / p["face_b"]) ** 2, 0, 1)  # for 3-D-ish shading
    f["xx"], f["yy"] = xx, yy
    return f


def _fill(d, softness):
    """Coverage in [0, 1] of a shape with signed distance d, edges smoothed over ``softness`` px."""
    return np.clip(0.5 - d / softness, 0.0, 1.0)


def _line(d, width):
    """Coverage of the outline of a shape (a pen stroke along d = 0)."""
    return np.exp(-(d / width) ** 2)


def _paint(style: str, p: dict, f: dict) -> np.ndarray:
    over = lambda img, alpha, tone: img + alpha * (tone - img)  # noqa: E731 - alpha compositing
    n = len(p["skin"])
    if style == "sketch":
        paper = 0.9 + 0.05 * (p["background"] - 0.3)
        img = np.broadcast_to(paper, (n, SIZE, SIZE)).astype(np.float32)
        ink = 0.12
        img = over(img, 0.5 * _fill(f["hair"], 1.0) * (f["face"] > 0), 0.55)
        for part, width in (("face", 0.8), ("eyes", 0.6), ("nose", 0.5), ("mouth", 0.6)):
            img = over(img, _line(f[part], width), ink)
        img = over(img, 0.8 * _fill(f["opening"], 0.8), 0.35)
        for part in ("pupils", "brows"):
            img = over(img, _fill(f[part], 0.8), ink)
        img = over(img, 0.8 * _fill(f["wrinkles"], 0.8), ink)
        img = over(img, _fill(f["occluder"], 0.8), 0.4 + 0.5 * p["occ_tone"])
        noise = 0.5
    else:
        soft = 1.2 if style == "photo" else 0.35
        skin = p["skin"]
        if style == "photo":  # soft shading: darker towards the rim of the face
            skin_img = skin * (1.0 - 0.3 * f["radial"])
            background = p["background"] * (0.8 + 0.4 * f["yy"][None] / SIZE)
        else:
            skin_img = np.broadcast_to(skin, (n, SIZE, SIZE))
            background = np.broadcast_to(p["background"], (n, SIZE, SIZE))
        img = over(background, _fill(f["face"], soft), skin_img)
        img = over(img, _fill(f["hair"], soft), p["hair"])
        dark = 0.25 * skin
        img = over(img, _fill(f["eyes"], soft), 0.95)
        img = over(img, _fill(f["pupils"], soft), 0.08)
        img = over(img, _fill(f["brows"], soft), dark)
        img = over(img, 0.6 * _fill(f["nose"], soft), 0.7 * skin)
        img = over(img, 0.8 * _fill(f["wrinkles"], soft), 0.6 * skin)
        img = over(img, _fill(f["mouth"], soft), 0.55 * skin)
        img = over(img, _fill(f["opening"], soft), 0.1)
        if style == "cartoon":  # pen outlines on top of the flat fills
            for part in ("face", "eyes", "mouth"):
                img = over(img, 0.9 * _line(f[part], 0.5), 0.05)
        img = over(img, _fill(f["occluder"], soft), p["occ_tone"])
        noise = 1.0
    # illumination: a linear ramp in a random direction, then contrast around mid-grey
    ramp = (np.cos(p["light_angle"]) * (f["xx"][None] - SIZE / 2)
            + np.sin(p["light_angle"]) * (f["yy"][None] - SIZE / 2)) / SIZE
    img = img * (1.0 + p["light"] * ramp)
    img = (img - 0.5) * p["contrast"] + 0.5
    img = img + noise * p["noise"] * p["noise_field"]
    return np.clip(img, 0.0, 1.0).astype(np.float32)


@lru_cache(maxsize=4)  # a source and a target set, twice; 10k faces are 92 MB
def _render_cached(n: int, seed: int, style: str, difficulty: float, occlusion: float,
                   class_distribution: str, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, STYLES.index(style)])
    y = class_labels(n, rng, class_distribution)
    params = _draw_parameters(y, rng, difficulty, occlusion)
    x = np.empty((n, SIZE, SIZE), dtype=np.float32)
    for start in range(0, n, chunk):  # chunks keep the temporaries small and in cache
        part = {k: (v[start:start + chunk] if isinstance(v, np.ndarray) and v.shape[0] == n else v)
                for k, v in params.items()}
        x[start:start + chunk] = _paint(style, part, _fields(part))
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def render_faces(n: int, seed: int = 0, style: str = "photo", difficulty: float = 1.0, occlusion: float = 0.25,
                 class_distribution: str = "balanced") -> tuple[np.ndarray, np.ndarray]:
    """``n`` faces (n, 48, 48) float32 in [0, 1] and their labels (n,), deterministic in all arguments.

    Results are memoised in-process (a notebook loads the same set several times); the arrays returned are
    fresh copies, so callers may modify them.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    x, y = _render_cached(int(n), int(seed), style, float(difficulty), float(occlusion), class_distribution, 1024)
    return x.copy(), y.copy()
