"""Synthetic webcam frames of a sheet of paper with handwritten digits, with exact ground truth.

The digits are MNIST *test* digits by default (never training digits: the scenes measure the recognizer); training
draws from its own pool (a `DigitPool` of training digits, see scene_crops.py). They are re-drawn as pen,
pencil or marker strokes on a textured sheet that is held in front of a background, seen in perspective, lit
unevenly and passed through a webcam's blur, noise and JPEG. Each digit's ink is also written into a label map
that is warped with nearest-neighbour along with the sheet, so every truth box is the box of that digit's ink
in the final frame.

Every random choice comes from `np.random.default_rng(seed)`: a seed and a kind always give the same scene.
Pixel sizes (digit heights, stroke widths) are specified for a 720-pixel-high frame and scale with the frame.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from live_digits.data import load_mnist
from live_digits.errors import UserError
from live_digits.results import Box, Number

SCENE_KINDS = (
    "plain",  # plain paper, everything else varies
    "ruled",  # ruled paper: light blue lines, sometimes a red margin
    "squared",  # squared (grid) paper
    "marker",  # fat marker strokes
    "thin_pen",  # thin ballpoint or pencil strokes
    "dim_uneven",  # low light, strong gradients and shadows, sensor noise
    "tilted",  # strong rotation and perspective
    "small_far",  # sheet far away: digits 18 to 30 px high
    "close_up",  # sheet fills the frame: digits 60 to 95 px high
    "blurry",  # defocus or motion blur
    "blank_paper",  # a sheet with nothing written on it
    "no_paper",  # background and clutter only
)
DEFAULT_SIZE = (1280, 720)  # width, height
REFERENCE_HEIGHT = 720  # the frame height the pixel sizes below are chosen for
FIRST_EVALUATION_SEED = 10_000  # seeds from here on are kept for evaluation, never for tuning


# ----------------------------------------------------------------------------------------------------------------
# Truth


@dataclass(frozen=True)
class TruthDigit:
    digit: int
    box: Box

    def to_json(self) -> dict:
        return {"digit": int(self.digit), "box": [int(v) for v in self.box]}


@dataclass
class Scene:
    """One rendered frame and what is written in it, digits and numbers in reading order."""

    image: np.ndarray  # BGR uint8
    digits: list[TruthDigit]
    numbers: list[Number]
    kind: str

    def truth_json(self, **where) -> dict:
        """One line of a truth.jsonl, the same shape as the recognizer's JSON lines (`where`: source=NAME)."""
        return _truth_json(where, self.kind, self.digits, self.numbers)


@dataclass
class FrameTruth:
    """What is written in one frame of a rendered video."""

    frame: int
    time_s: float
    digits: list[TruthDigit]
    numbers: list[Number]
    kind: str

    def to_json(self) -> dict:
        return _truth_json({"frame": self.frame, "time_s": round(self.time_s, 4)}, self.kind, self.digits, self.numbers)


def _truth_json(where: dict, kind: str, digits: list[TruthDigit], numbers: list[Number]) -> dict:
    return {
        **where,
        "kind": kind,
        "digits": [d.to_json() for d in digits],
        "numbers": [n.to_json() for n in numbers],
    }


# ----------------------------------------------------------------------------------------------------------------
# The look of a scene: every random choice that shapes it, drawn once so that a video keeps it across frames.

PAPER_BGR = {
    "white": (0.96, 0.96, 0.95),
    "cream": (0.80, 0.92, 0.96),
    "grey": (0.80, 0.81, 0.80),
    "recycled": (0.78, 0.84, 0.86),
    "bluish": (0.97, 0.94, 0.90),
    "yellow_note": (0.55, 0.92, 0.98),
    "pink_note": (0.82, 0.72, 0.98),
    "green_note": (0.72, 0.95, 0.80),
    "blue_note": (0.96, 0.86, 0.72),
}
PAPER_WEIGHTS = (0.3, 0.17, 0.1, 0.1, 0.1, 0.07, 0.06, 0.05, 0.05)  # mostly paper, now and then a sticky note
INK_BGR = {  # reflectance of the ink where it fully covers the paper
    "blue": (0.62, 0.26, 0.12),
    "royal_blue": (0.75, 0.35, 0.15),
    "black": (0.13, 0.13, 0.14),
    "dark_red": (0.18, 0.14, 0.55),
    "dark_green": (0.30, 0.42, 0.15),
    "graphite": (0.42, 0.42, 0.42),
    "purple": (0.45, 0.15, 0.35),
}
PEN_INKS = {
    "ballpoint": ["blue", "blue", "royal_blue", "black", "black", "dark_red", "dark_green"],
    "pencil": ["graphite"],
    "felt": ["black", "black", "blue", "royal_blue", "dark_red", "dark_green", "purple"],
    "marker": ["black", "black", "blue", "dark_red", "dark_green", "purple"],
}
BACKGROUNDS = ("wood", "dark_room", "wall", "fabric")


@dataclass(frozen=True)
class Look:
    kind: str
    paper: str | None  # "plain", "ruled", "squared"; None: no sheet in view
    paper_bgr: tuple[float, float, float]
    pen: str  # "ballpoint", "pencil", "felt", "marker"
    ink_bgr: tuple[float, float, float]
    ink_strength: float  # 1: the ink's full colour; less: faint ink
    stroke_px: float  # pen width, frame pixels
    digit_height: float  # frame pixels
    wish: tuple[int, int, int]  # at most this many lines, numbers a line, digits a number (space permitting)
    sheet_height: float  # frame pixels, before perspective
    sheet_aspect: float  # width / height
    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    focal: float  # frame pixels
    curl: float  # bend of the sheet, a fraction of its height
    background: str
    clutter: int  # objects scattered over the background
    exposure: float
    gradient: float  # strength of the light's slope across the frame
    shadows: int
    thumb: bool  # a thumb holding the sheet's edge
    blur_sigma: float
    motion_px: float  # camera shake: length of the motion blur
    noise_sigma: float  # sensor noise, 0..1 scale
    soften: float  # webcam resampling factor; 1: none
    sharpen: float  # webcam sharpening amount; 0: none
    jpeg_quality: int


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _pick(rng: np.random.Generator, options, p=None):
    return options[int(rng.choice(len(options), p=p))]


def pick_kind(rng: np.random.Generator, kind: str | None) -> str:
    if kind is None:
        return _pick(rng, SCENE_KINDS)
    if kind not in SCENE_KINDS:
        raise UserError(f"unknown scene kind {kind!r}; choose from {', '.join(SCENE_KINDS)}")
    return kind


def draw_look(rng: np.random.Generator, kind: str, size: tuple[int, int] = DEFAULT_SIZE) -> Look:
    """Draw every factor of a scene; `kind` pushes its own factor to the hard end while the rest still varies."""
    k = size[1] / REFERENCE_HEIGHT
    paper = {"plain": "plain", "ruled": "ruled", "squared": "squared", "no_paper": None}.get(
        kind, _pick(rng, ("plain", "ruled", "squared"), p=(0.45, 0.35, 0.2))
    )
    pen = {
        "marker": "marker",
        "thin_pen": _pick(rng, ("ballpoint", "pencil"), p=(0.8, 0.2)),
        "dim_uneven": _pick(rng, ("ballpoint", "felt", "marker"), p=(0.4, 0.4, 0.2)),  # pencil in the dark: unreadable
    }.get(kind, _pick(rng, ("ballpoint", "pencil", "felt", "marker"), p=(0.35, 0.08, 0.37, 0.2)))
    digit_height = {"small_far": _u(rng, 20, 32), "close_up": _u(rng, 60, 95)}.get(kind, _u(rng, 26, 70)) * k
    stroke_fraction = {"ballpoint": (0.025, 0.05), "pencil": (0.025, 0.045), "felt": (0.06, 0.11), "marker": (0.14, 0.24)}
    stroke_px = max(1.3 * k, digit_height * _u(rng, *stroke_fraction[pen]))
    if kind == "thin_pen":
        stroke_px = max(1.1 * k, min(stroke_px, _u(rng, 1.1, 2.0) * k))
    ink = _pick(rng, PEN_INKS[pen])
    ink_strength = _u(rng, 0.45, 0.8) if pen == "pencil" else _u(rng, 0.7, 1.0)
    lines, numbers, digits = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(2, 6))
    if kind == "close_up":
        lines, numbers = min(lines, 3), min(numbers, 2)

    sheet_height = {"small_far": _u(rng, 0.28, 0.5), "close_up": _u(rng, 1.3, 2.2)}.get(kind, _u(rng, 0.55, 1.3))
    roll = float(np.clip(rng.normal(0, 7), -15, 15))
    tilt = 15.0
    if kind == "tilted":
        roll = _u(rng, 15, 30) * _pick(rng, (-1, 1))
        tilt = 40.0

    dim = kind == "dim_uneven"
    blurry = kind == "blurry"
    camera_shake = blurry and rng.random() < 0.5
    look = Look(
        kind=kind,
        paper=paper,
        paper_bgr=_jitter_colour(rng, PAPER_BGR[_pick(rng, tuple(PAPER_BGR), p=PAPER_WEIGHTS)], 0.03),
        pen=pen,
        ink_bgr=_jitter_colour(rng, INK_BGR[ink], 0.05),
        ink_strength=ink_strength,
        stroke_px=stroke_px,
        digit_height=digit_height,
        wish=(lines, numbers, digits),
        sheet_height=sheet_height * size[1],
        sheet_aspect=_pick(rng, (0.707, 1.414, 0.773, 1.294, 1.0)),
        roll_deg=roll,
        pitch_deg=_u(rng, -tilt, tilt),
        yaw_deg=_u(rng, -tilt, tilt),
        focal=_u(rng, 0.8, 1.5) * size[0],
        curl=_u(rng, 0, 0.012),
        background=_pick(rng, BACKGROUNDS),
        clutter=int(rng.integers(3, 12)) if kind == "no_paper" else int(rng.integers(0, 8)),
        exposure=_u(rng, 0.3, 0.6) if dim else _u(rng, 0.8, 1.15),
        gradient=_u(rng, 0.4, 0.8) if dim else _u(rng, 0.0, 0.35),
        shadows=int(rng.integers(1, 3)) if dim else int(rng.random() < 0.35),
        thumb=bool(rng.random() < 0.5),
        blur_sigma=(_u(rng, 1.4, 2.8) if blurry and not camera_shake else _u(rng, 0.0, 1.0)) * k,
        motion_px=(_u(rng, 6, 14) if camera_shake else (_u(rng, 2, 5) if rng.random() < 0.15 else 0.0)) * k,
        noise_sigma=_u(rng, 0.02, 0.045) if dim else _u(rng, 0.003, 0.018),
        soften=1.0 if rng.random() < 0.6 else _u(rng, 0.5, 0.9),
        sharpen=0.0 if rng.random() < 0.6 else _u(rng, 0.3, 1.0),
        jpeg_quality=int(rng.integers(35, 70)) if dim else int(rng.integers(45, 93)),
    )
    return legible(look)


LEAST_CONTRAST = 0.25  # ink against paper, relative to the paper's brightness, after blur: below it a person squints


def legible(look: Look) -> Look:
    """A person must be able to read every digit: faint, thin ink under blur and noise gets firmer, wider strokes
    and a steadier camera until it stands out. Scenes are hard the way real photos are, not unreadable."""
    paper = float(np.mean(look.paper_bgr))
    ink = float(np.mean(look.ink_bgr))
    for _ in range(20):
        blur = math.hypot(look.blur_sigma, look.motion_px / 3, 0.8 * (1 / look.soften - 1))
        spread = math.hypot(1.0, 2.5 * blur / look.stroke_px)  # a thin line's peak fades under blur
        seen = look.ink_strength * (1 - ink / paper) / spread
        noise = look.noise_sigma / max(0.05, look.exposure * paper)
        if seen >= max(LEAST_CONTRAST, 2 * noise):
            break
        look = replace(
            look,
            ink_strength=min(1.0, look.ink_strength * 1.1),
            stroke_px=min(look.stroke_px * 1.15, max(look.stroke_px, 0.16 * look.digit_height)),
            blur_sigma=look.blur_sigma * 0.9,
            motion_px=look.motion_px * 0.9,
            noise_sigma=look.noise_sigma * 0.93,
            soften=min(1.0, look.soften * 1.1),
        )
    return look


def _jitter_colour(rng: np.random.Generator, bgr, amount: float) -> tuple[float, float, float]:
    return tuple(float(np.clip(c + rng.uniform(-amount, amount), 0.0, 1.0)) for c in bgr)


# ----------------------------------------------------------------------------------------------------------------
# Handwriting: MNIST digits re-drawn as strokes of a chosen pen


@dataclass(frozen=True, eq=False)
class DigitPool:
    """The handwriting a scene draws from: MNIST-format digit images, and for each digit the indices of its images."""

    images: np.ndarray  # (N, 28, 28) uint8, white on black
    by_label: tuple[np.ndarray, ...]  # ten index arrays, one per digit

    @classmethod
    def of(cls, images: np.ndarray, labels: np.ndarray) -> DigitPool:
        by_label = tuple(np.flatnonzero(labels == d) for d in range(10))
        missing = [d for d in range(10) if len(by_label[d]) == 0]
        if missing:
            raise ValueError(f"a digit pool needs every digit; it has no {missing}")
        return cls(images, by_label)


@lru_cache(maxsize=1)
def test_digit_pool() -> DigitPool:
    """MNIST's test digits: the default pool, for evaluation and samples."""
    _, (x_test, y_test) = load_mnist()
    return DigitPool.of(x_test, y_test)


def _zhang_suen_tables() -> np.ndarray:
    """For each 8-neighbourhood code (bit i = neighbour P(i+2), clockwise from north), whether each of the two
    Zhang-Suen sub-iterations deletes the centre pixel."""
    tables = np.zeros((2, 256), bool)
    for code in range(256):
        p = [(code >> i) & 1 for i in range(8)]
        p2, _, p4, _, p6, _, p8, _ = p
        neighbours = sum(p)
        transitions = sum(p[i] == 0 and p[(i + 1) % 8] == 1 for i in range(8))
        removable = 2 <= neighbours <= 6 and transitions == 1
        tables[0, code] = removable and p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        tables[1, code] = removable and p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
    return tables


_THINNING_TABLES = _zhang_suen_tables()
_NEIGHBOUR_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide centre lines of a binary shape (Zhang-Suen thinning)."""
    h, w = mask.shape
    padded = np.pad(mask.astype(np.uint8), 1)
    centre = padded[1:-1, 1:-1]
    changed = True
    while changed:
        changed = False
        for table in _THINNING_TABLES:
            code = np.zeros((h, w), np.uint8)
            for bit, (dy, dx) in enumerate(_NEIGHBOUR_OFFSETS):
                code |= padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] << bit
            delete = table[code] & (centre == 1)
            if delete.any():
                centre[delete] = 0
                changed = True
    return centre.astype(bool)


def glyph_shape(glyph: np.ndarray, height: float, angle_deg: float, slant: float) -> np.ndarray:
    """The filled shape (bool) of an MNIST digit drawn `height` pixels high, rotated and slanted, smooth-edged."""
    ys, xs = np.nonzero(glyph > 40)
    crop = np.pad(glyph[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255.0, 2)
    scale = height / 20.0  # MNIST fits every digit into a 20-pixel box
    a = math.radians(angle_deg)
    rotate = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    linear = rotate @ np.array([[1.0, -slant], [0.0, 1.0]]) * scale
    ch, cw = crop.shape
    corners = (np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], float) - (cw / 2, ch / 2)) @ linear.T
    out_w, out_h = (np.ceil(corners.max(0) - corners.min(0)) + 6).astype(int)
    offset = np.array([out_w / 2, out_h / 2]) - linear @ np.array([cw / 2, ch / 2])
    matrix = np.hstack([linear, offset[:, None]])
    big = cv2.warpAffine(crop, matrix, (int(out_w), int(out_h)), flags=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), max(0.5, 0.35 * scale))
    return big > 0.3 * big.max()  # low enough to keep the faint joins some MNIST strokes have


def pen_stroke(shape: np.ndarray, width: float) -> np.ndarray:
    """Ink coverage (float32 0..1) of the shape's centre lines traced with a round pen `width` pixels wide."""
    margin = int(math.ceil(width / 2)) + 2
    skeleton = skeletonize(np.pad(shape, margin))
    distance = cv2.distanceTransform((~skeleton).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.clip(width / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


@dataclass
class _Written:
    """One digit written on the sheet: its ink coverage placed at (x, y) of the sheet."""

    digit: int
    number: int  # index of the number it belongs to, in reading order
    x: int
    y: int
    coverage: np.ndarray  # float32, 0..1, tight around the ink
    strength: float

    @property
    def corners(self) -> np.ndarray:
        h, w = self.coverage.shape
        return np.array([[self.x, self.y], [self.x + w, self.y], [self.x + w, self.y + h], [self.x, self.y + h]], float)


def _write_digit(rng: np.random.Generator, look: Look, pool: DigitPool, digit: int, height: float, width: float) -> np.ndarray:
    glyph = pool.images[int(rng.choice(pool.by_label[digit]))]
    shape = glyph_shape(glyph, height, angle_deg=rng.normal(0, 4), slant=rng.normal(0.05, 0.12))
    coverage = pen_stroke(shape, width)
    # Pens put down uneven ink: pressure varies along the stroke, pencil is grainy.
    pressure = _smooth_noise(rng, coverage.shape, cells=3, lo=0.65 if look.pen in ("ballpoint", "pencil") else 0.85)
    coverage *= pressure
    if look.pen == "pencil":
        coverage *= rng.uniform(0.6, 1.0, coverage.shape).astype(np.float32)
    ys, xs = np.nonzero(coverage > 0.02)
    return coverage[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """Gaussian samples drawn once: a slice at a random offset is a fresh-looking noise field for free
    (drawing a megapixel of normals costs more than the rest of a scene's noise)."""
    return np.random.default_rng(20_240_601).standard_normal(1 << 22, dtype=np.float32)


def gaussian_field(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    bank = _noise_bank()
    n = math.prod(shape)
    if n >= bank.size:
        return rng.standard_normal(shape, dtype=np.float32)
    start = int(rng.integers(0, bank.size - n))
    return bank[start : start + n].reshape(shape)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int, lo: float, hi: float = 1.0) -> np.ndarray:
    grid = rng.uniform(lo, hi, (cells, cells)).astype(np.float32)
    return upsample_smooth(grid, shape).clip(min(lo, hi), max(lo, hi))


def upsample_smooth(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A smooth field enlarged to `shape` (rows, cols): cubic to an eighth of the size, then linear, which looks
    the same as cubic all the way for a field this smooth at a fraction of the cost."""
    rows, cols = shape
    if rows > 64 and cols > 64:
        small = cv2.resize(small, (max(2, cols // 8), max(2, rows // 8)), interpolation=cv2.INTER_CUBIC)
        return cv2.resize(small, (cols, rows), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(small, (cols, rows), interpolation=cv2.INTER_CUBIC)


# ----------------------------------------------------------------------------------------------------------------
# The sheet: paper, its printed lines and the handwriting, in the sheet's own pixels


@dataclass
class _Sheet:
    image: np.ndarray  # float32 BGR 0..1: paper and ink, before light
    labels: np.ndarray  # uint16: 1 + index into `written` where that digit's ink is, 0 elsewhere
    written: list[_Written]  # reading order
    scale: float  # sheet pixels to frame pixels, before perspective
    focus: np.ndarray  # (4, 2) corners of the region that must stay in view: the writing, or the middle of a blank sheet


@dataclass(frozen=True)
class _Rules:
    kind: str  # "plain", "ruled", "squared"
    spacing: float  # between ruled lines or grid lines
    first: float  # y of the first ruled line
    margin_x: float | None  # red margin line of ruled paper


def _make_sheet(rng: np.random.Generator, look: Look, pool: DigitPool, size: tuple[int, int], writes: bool) -> _Sheet:
    scale = _u(rng, 0.85, 1.2)
    height = look.sheet_height / scale
    width = height * look.sheet_aspect
    most_pixels = 1.0e6  # keeps a close-up sheet cheap; the warp then enlarges it a little
    if width * height > most_pixels:
        shrink = math.sqrt(most_pixels / (width * height))
        width, height, scale = width * shrink, height * shrink, scale / shrink
    width, height = int(width), int(height)

    digit_height = look.digit_height / scale
    rules = _draw_rules(rng, look.paper, digit_height, width, height)
    image = _paper(rng, look, rules, width, height)
    if rng.random() < 0.2:
        _show_through(rng, image, pool, digit_height, look.stroke_px / scale)
    written = _layout(rng, look, pool, rules, digit_height, width, height, scale, size) if writes else []
    labels = np.zeros((height, width), np.uint16)
    ink = 1.0 - np.array(look.ink_bgr, np.float32)
    for x, y, coverage in _marks(rng, look, written, digit_height, look.stroke_px / scale, (width, height)):
        image[y : y + coverage.shape[0], x : x + coverage.shape[1]] *= 1.0 - (coverage * look.ink_strength)[..., None] * ink
    for index, w in enumerate(written):
        h_, w_ = w.coverage.shape
        patch = image[w.y : w.y + h_, w.x : w.x + w_]
        patch *= 1.0 - (w.coverage * w.strength)[..., None] * ink
        # The truth is where the pen drew, not every faint grain of it.
        labels[w.y : w.y + h_, w.x : w.x + w_][w.coverage > 0.25] = index + 1
    if written:
        points = np.vstack([w.corners for w in written])
        (x0, y0), (x1, y1) = points.min(0), points.max(0)
    else:
        x0, y0, x1, y1 = 0.3 * width, 0.3 * height, 0.7 * width, 0.7 * height
    focus = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)
    return _Sheet(image=image, labels=labels, written=written, scale=scale, focus=focus)


def _draw_rules(rng: np.random.Generator, paper: str, digit_height: float, width: int, height: int) -> _Rules:
    if paper == "ruled":
        spacing = digit_height / _u(rng, 0.6, 0.9)  # digits fill most of the space between two lines
        margin_x = _u(rng, 0.08, 0.15) * width if rng.random() < 0.6 else None
        return _Rules("ruled", spacing, _u(rng, 0.06, 0.14) * height, margin_x)
    if paper == "squared":
        spacing = digit_height / _u(rng, 1.0, 1.9)  # a digit spans one or two squares
        return _Rules("squared", spacing, _u(rng, 0, spacing), None)
    return _Rules("plain", 0.0, 0.0, None)


def _paper(rng: np.random.Generator, look: Look, rules: _Rules, width: int, height: int) -> np.ndarray:
    half = ((height + 1) // 2, (width + 1) // 2)
    shading = _smooth_noise(rng, half, cells=5, lo=0.95, hi=1.03)
    # A bent sheet faces the light at different angles across its width.
    across = np.cos(np.linspace(0, math.pi, half[1], dtype=np.float32) + _u(rng, 0, math.pi))
    shading *= 1.0 + 6.0 * look.curl * across[None, :]
    shading *= 1.0 + 0.012 * gaussian_field(rng, half)  # the grain of the paper
    image = cv2.resize(shading, (width, height))[..., None] * np.array(look.paper_bgr, np.float32)
    if rules.kind == "plain":
        return image
    thickness = 1  # printed lines are finer than any pen
    strength = _u(rng, 0.25, 0.65)
    lines = np.zeros((height, width), np.uint8)
    if rules.kind == "ruled":
        for y in np.arange(rules.first, height, rules.spacing):
            cv2.line(lines, (0, int(y)), (width, int(y)), 255, thickness, cv2.LINE_AA)
        colour = _jitter_colour(rng, (0.95, 0.78, 0.6), 0.05)
    else:
        for v in np.arange(rules.first, max(width, height), rules.spacing):
            cv2.line(lines, (0, int(v)), (width, int(v)), 255, thickness, cv2.LINE_AA)
            cv2.line(lines, (int(v), 0), (int(v), height), 255, thickness, cv2.LINE_AA)
        colour = _jitter_colour(rng, _pick(rng, ((0.9, 0.8, 0.65), (0.7, 0.7, 0.7), (0.7, 0.85, 0.7))), 0.05)
    image *= 1.0 - (lines.astype(np.float32) * (strength / 255.0))[..., None] * (1.0 - np.array(colour, np.float32))
    if rules.margin_x is not None:
        margin = np.zeros((height, width), np.uint8)
        cv2.line(margin, (int(rules.margin_x), 0), (int(rules.margin_x), height), 255, thickness, cv2.LINE_AA)
        image *= 1.0 - (margin.astype(np.float32) * (strength / 255.0))[..., None] * (1.0 - np.array((0.55, 0.55, 0.95), np.float32))
    return image


def _layout(
    rng: np.random.Generator,
    look: Look,
    pool: DigitPool,
    rules: _Rules,
    digit_height: float,
    width: int,
    height: int,
    scale: float,
    size: tuple[int, int],
) -> list[_Written]:
    """Lines of numbers in reading order, inside the sheet and small enough to fit in the frame."""
    wish_lines, wish_numbers, wish_digits = look.wish
    stroke = look.stroke_px / scale
    left = max(0.06 * width, (rules.margin_x or 0) + 0.3 * digit_height)
    room_w = min(0.95 * width - left, 0.85 * size[0] / scale)
    room_h = min(0.9 * height - 0.06 * height, 0.8 * size[1] / scale)
    left += _u(rng, 0, max(0.0, 0.95 * width - left - room_w))
    top = 0.06 * height + _u(rng, 0, max(0.0, 0.84 * height - room_h))
    right, bottom = left + room_w, top + room_h

    if rules.kind == "plain":
        pitch = digit_height * _u(rng, 1.5, 2.6)
        baseline = top + digit_height * _u(rng, 1.0, 1.5)
    else:
        pitch = rules.spacing * (1 if rules.kind == "ruled" and rng.random() < 0.6 else 2)
        if rules.kind == "squared":
            pitch = rules.spacing * math.ceil(digit_height * 1.4 / rules.spacing)
        first_line = rules.first + rules.spacing * math.ceil(max(0.0, top + digit_height - rules.first) / rules.spacing)
        baseline = first_line - _u(rng, 0.0, 0.1) * digit_height

    written: list[_Written] = []
    number_index = 0
    digit_gap = digit_height * _u(rng, 0.0 if rng.random() < 0.15 else 0.06, 0.3)  # this writer's spacing; some let digits touch
    for _ in range(wish_lines):
        if baseline > bottom:
            break
        slope = math.tan(math.radians(rng.normal(0, 1.5)))
        x = left + _u(rng, 0, 1.5) * digit_height
        line_start = x
        for n in range(int(rng.integers(max(1, wish_numbers - 1), wish_numbers + 1))):
            count = int(rng.integers(1, wish_digits + 1))
            digits = rng.integers(0, 10, count)
            if count > 1 and digits[0] == 0 and rng.random() < 0.8:
                digits[0] = rng.integers(1, 10)  # numbers seldom start with 0
            placed = []
            cursor = x
            size_of_number = _u(rng, 0.88, 1.12)  # some numbers are written bigger than others
            for d in digits:
                h = digit_height * size_of_number * _u(rng, 0.9, 1.1)
                coverage = _write_digit(rng, look, pool, int(d), h, stroke)
                ch, cw = coverage.shape
                if cursor + cw > right:
                    break
                y = baseline - ch + h * rng.normal(0, 0.04) + (cursor - line_start) * slope
                placed.append((int(d), int(cursor), int(y), coverage))
                cursor += cw + max(1.0, digit_gap * _u(rng, 0.6, 1.4))
            if len(placed) < len(digits) and n > 0:
                break  # the number does not fit in what is left of the line: it would go on the next one
            if not placed:
                break
            strength = look.ink_strength
            for d, px, py, coverage in placed:
                py = int(np.clip(py, 1, height - coverage.shape[0] - 1))
                written.append(_Written(d, number_index, px, py, coverage, strength * _u(rng, 0.93, 1.0)))
            number_index += 1
            # Between numbers, a gap well beyond any gap inside one.
            x = cursor + digit_height * _u(rng, 0.9, 2.5) + 2 * digit_gap
            if x > right:
                break
        baseline += pitch
    return written


UNITS = ("cm", "kg", "km", "mm", "min", "x", "m", "mL")  # written after numbers; none looks like a digit
MARKS = ("underline", "circle", "unit", "plus", "minus", "equals", "tick")


def _marks(rng: np.random.Generator, look: Look, written: list[_Written], digit_height: float, stroke: float,
           sheet_size: tuple[int, int]) -> list[tuple[int, int, np.ndarray]]:
    """What else a hand writes around numbers: underlines, circles, units, operators, ticks. Drawn in the same ink,
    kept clear of every digit, never in the truth: the recognizer has to leave them alone."""
    if not written or rng.random() < 0.4:
        return []
    boxes = np.array([[w.x, w.y, w.x + w.coverage.shape[1], w.y + w.coverage.shape[0]] for w in written], float)
    clearance = max(2.0, 0.12 * digit_height)
    thickness = max(1, int(round(stroke)))
    marks = []
    for number in sorted({w.number for w in written}):
        if rng.random() > 0.35:
            continue
        mine = boxes[[w.number == number for w in written]]
        x0, y0 = mine[:, :2].min(0)
        x1, y1 = mine[:, 2:].max(0)
        h = digit_height
        kind = _pick(rng, MARKS)
        strokes: list[np.ndarray] = []  # polylines in sheet pixels
        text = None
        if kind == "underline":
            y = y1 + _u(rng, 0.15, 0.3) * h
            xs = np.linspace(x0 - 0.1 * h, x1 + 0.1 * h, 6)
            strokes.append(np.stack([xs, y + np.cumsum(rng.normal(0, 0.02 * h, 6))], 1))
        elif kind == "circle":
            t = np.linspace(0, 2 * math.pi * _u(rng, 1.0, 1.12), 40)
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 + 0.35 * h, (y1 - y0) / 2 + 0.3 * h
            strokes.append(np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t) * _u(rng, 0.95, 1.05)], 1))
        elif kind == "unit":
            text = (_pick(rng, UNITS), x1 + _u(rng, 0.3, 0.7) * h, y1)
        elif kind in ("plus", "minus", "equals"):
            size, cx, cy = 0.4 * h, x0 - _u(rng, 0.5, 0.9) * h, (y0 + y1) / 2
            strokes.append(np.array([[cx - size / 2, cy], [cx + size / 2, cy]]))
            if kind == "plus":
                strokes.append(np.array([[cx, cy - size / 2], [cx, cy + size / 2]]))
            if kind == "equals":
                strokes = [s + (0, d) for s in strokes for d in (-0.15 * h, 0.15 * h)]
        else:  # a tick after the number
            cx, cy = x1 + _u(rng, 0.4, 0.8) * h, (y0 + y1) / 2
            strokes.append(np.array([[cx, cy], [cx + 0.15 * h, cy + 0.25 * h], [cx + 0.45 * h, cy - 0.3 * h]]))
        mark = _draw_mark(strokes, text, h, thickness)
        if mark is None:
            continue
        mx, my, coverage = mark
        mh, mw = coverage.shape
        if mx < 0 or my < 0 or mx + mw > sheet_size[0] or my + mh > sheet_size[1]:
            continue
        # A circle encloses its own number; everything else stays clear of all digits.
        others = boxes if kind != "circle" else boxes[[w.number != number for w in written]]
        if kind == "circle":
            ring = coverage > 0
            hits = any(ring[max(0, int(b[1] - clearance - my)) : max(0, int(b[3] + clearance - my)),
                            max(0, int(b[0] - clearance - mx)) : max(0, int(b[2] + clearance - mx))].any() for b in mine)
            if hits:
                continue
        if _hits_any(others, (mx, my, mx + mw, my + mh), clearance):
            continue
        pressure = _smooth_noise(rng, coverage.shape, cells=3, lo=0.75)
        marks.append((mx, my, coverage * pressure))
    return marks


def _draw_mark(strokes: list[np.ndarray], text, height: float, thickness: int):
    """Rasterises polylines (or a short handwritten-looking word) into a coverage patch and its top-left corner."""
    if text is not None:
        word, x, baseline = text
        scale = 0.5 * height / 22.0  # Hershey script's lower case is about 22 px high at scale 1
        (tw, th), base = cv2.getTextSize(word, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, scale, thickness)
        pad = thickness + 2
        canvas = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
        cv2.putText(canvas, word, (pad, pad + th), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
        return int(x), int(baseline - pad - th), canvas.astype(np.float32) / 255.0
    points = np.vstack(strokes)
    pad = thickness + 2
    (x0, y0), (x1, y1) = points.min(0) - pad, points.max(0) + pad
    if not np.isfinite([x0, y0, x1, y1]).all() or x1 - x0 < 2 or y1 - y0 < 2:
        return None
    canvas = np.zeros((int(y1 - y0) + 1, int(x1 - x0) + 1), np.uint8)
    shift = 4  # sub-pixel precision for cv2's drawing
    for line in strokes:
        pts = np.round((line - (x0, y0)) * (1 << shift)).astype(np.int32)
        cv2.polylines(canvas, [pts], False, 255, thickness, cv2.LINE_AA, shift)
    return int(x0), int(y0), canvas.astype(np.float32) / 255.0


def _hits_any(boxes: np.ndarray, box: tuple[float, float, float, float], clearance: float) -> bool:
    if len(boxes) == 0:
        return False
    x0, y0, x1, y1 = box
    return bool(np.any((boxes[:, 0] - clearance < x1) & (x0 < boxes[:, 2] + clearance) & (boxes[:, 1] - clearance < y1) & (y0 < boxes[:, 3] + clearance)))


def _show_through(rng: np.random.Generator, image: np.ndarray, pool: DigitPool, digit_height: float, stroke: float) -> None:
    """Writing on the back of thin paper shows through faintly, mirrored: marks that are not there to read."""
    images = pool.images
    height, width = image.shape[:2]
    for _ in range(int(rng.integers(3, 10))):
        glyph = images[int(rng.integers(0, len(images)))][:, ::-1]
        coverage = cv2.GaussianBlur(pen_stroke(glyph_shape(glyph, digit_height * _u(rng, 0.8, 1.2), rng.normal(0, 5), 0.0), stroke * 1.5), (0, 0), 1.5)
        ch, cw = coverage.shape
        if ch >= height or cw >= width:
            continue
        x, y = int(rng.integers(0, width - cw)), int(rng.integers(0, height - ch))
        image[y : y + ch, x : x + cw] *= (1.0 - _u(rng, 0.03, 0.07) * coverage)[..., None]


# ----------------------------------------------------------------------------------------------------------------
# Backgrounds and clutter, in frame pixels

WORDS = (
    "NOTES", "office", "Meeting", "coffee", "the quick brown fox", "LAB", "Report", "Chapter", "welcome",
    "Monday", "Agenda", "keep calm", "HELLO", "draft", "Science", "milk", "Thanks", "Project", "Library",
)  # letters only: printed digits would be digits the truth does not list


def _background(rng: np.random.Generator, look: Look, size: tuple[int, int]) -> np.ndarray:
    """Float32 BGR 0..1 frame-sized background with its clutter. It is drawn at half size and enlarged: the camera
    focuses on the sheet, so what is behind it is a little soft anyway (and this halves the cost of a scene)."""
    w, h = size
    hw, hh = max(16, w // 2), max(16, h // 2)
    maker = {"wood": _wood, "dark_room": _dark_room, "wall": _wall, "fabric": _fabric}[look.background]
    image = np.ascontiguousarray(np.clip(maker(rng, hw, hh) * 255.0, 0, 255).astype(np.uint8))
    for _ in range(look.clutter):
        _clutter_object(rng, image)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) * np.float32(1 / 255.0)


def _wood(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    along_x = rng.random() < 0.6
    gw, gh = (w, h) if along_x else (h, w)  # grain runs along the first axis
    warp = upsample_smooth(rng.random((6, 8)).astype(np.float32), (gh, gw))
    rows = np.arange(gh, dtype=np.float32)[:, None]
    grain = np.sin(rows * (2 * math.pi / _u(rng, 5, 25)) + warp * _u(rng, 10, 40))
    streaks = cv2.resize(rng.random((max(2, gh // 3), 5)).astype(np.float32), (gw, gh), interpolation=cv2.INTER_LINEAR)
    value = 1.0 + 0.06 * grain + 0.18 * (streaks - 0.5) + 0.1 * (warp - 0.5)
    if not along_x:
        value = value.T
    base = _pick(rng, ((0.42, 0.6, 0.78), (0.16, 0.25, 0.36), (0.55, 0.73, 0.86), (0.5, 0.52, 0.53), (0.25, 0.36, 0.55)))
    return value[..., None] * np.array(_jitter_colour(rng, base, 0.05), np.float32)


def _dark_room(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    glow = _smooth_noise(rng, (h, w), cells=4, lo=0.02, hi=0.25)
    tint = np.array(_jitter_colour(rng, (0.7, 0.75, 0.8), 0.2), np.float32)
    image = glow[..., None] * tint
    if rng.random() < 0.5:  # a lamp or a window somewhere behind
        spot = np.zeros((h // 8, w // 8), np.float32)
        cv2.circle(spot, (int(rng.integers(0, w // 8)), int(rng.integers(0, h // 8))), int(rng.integers(2, h // 48 + 3)), 1.0, -1)
        spot = cv2.resize(cv2.GaussianBlur(spot, (0, 0), 3), (w, h))
        image += spot[..., None] * np.array(_jitter_colour(rng, (0.7, 0.9, 1.0), 0.1), np.float32) * _u(rng, 0.2, 0.7)
    return image


def _wall(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    base = _pick(rng, ((0.85, 0.88, 0.9), (0.7, 0.8, 0.85), (0.8, 0.75, 0.65), (0.6, 0.62, 0.62), (0.75, 0.85, 0.8)))
    image = _smooth_noise(rng, (h, w), cells=3, lo=0.8, hi=1.05)[..., None] * np.array(_jitter_colour(rng, base, 0.06), np.float32)
    if rng.random() < 0.5:  # a corner or door frame: a second face lit differently
        x = int(rng.integers(w // 8, w - w // 8))
        side = slice(x, w) if rng.random() < 0.5 else slice(0, x)
        image[:, side] *= _u(rng, 0.6, 0.9)
    texture = 1.0 + 0.02 * cv2.resize(gaussian_field(rng, (h // 2, w // 2)), (w, h))
    return image * texture[..., None]


def _fabric(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A shirt or a sofa: a saturated colour with folds."""
    colour = np.array(rng.uniform(0.1, 0.85, 3), np.float32)
    folds = _smooth_noise(rng, (h, w), cells=int(rng.integers(3, 8)), lo=0.55, hi=1.1)
    weave = 1.0 + 0.04 * cv2.resize(gaussian_field(rng, (h // 2, w // 2)), (w, h))
    return (folds * weave)[..., None] * colour


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """The colours of things in a room: mostly muted, now and then bright."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(10, 180 if rng.random() < 0.7 else 255), rng.integers(30, 240)]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _rotated_rect(rng: np.random.Generator, w: int, h: int, lo: float, hi: float) -> np.ndarray:
    centre = (_u(rng, -0.1, 1.1) * w, _u(rng, -0.1, 1.1) * h)
    box = ((centre), (_u(rng, lo, hi) * h, _u(rng, lo, hi) * h), _u(rng, 0, 180))
    return cv2.boxPoints(box).astype(np.int32)


def _clutter_object(rng: np.random.Generator, image: np.ndarray) -> None:
    """Draws one object of a cluttered room onto the uint8 image."""
    h, w = image.shape[:2]
    what = _pick(rng, ("box", "page", "mug", "cable", "keyboard", "text", "edge"))
    if what == "box":  # a book, a box, a phone
        corners = _rotated_rect(rng, w, h, 0.1, 0.6)
        cv2.fillPoly(image, [corners], _random_colour(rng), cv2.LINE_AA)
        cv2.polylines(image, [corners], True, _random_colour(rng), int(rng.integers(1, 4)), cv2.LINE_AA)
        if rng.random() < 0.5:
            _print_text(rng, image, corners.mean(0), dark=rng.random() < 0.5)
    elif what == "page":  # printed paper lying around: letters in lines, a hard negative
        corners = _rotated_rect(rng, w, h, 0.2, 0.6)
        light = int(rng.integers(200, 250))
        cv2.fillPoly(image, [corners], (light, light, light - int(rng.integers(0, 20))), cv2.LINE_AA)
        (x0, y0), (x1, y1) = corners.min(0).clip(0, (w, h)), corners.max(0).clip(0, (w, h))
        if x1 - x0 < 20 or y1 - y0 < 20:
            return
        region = image[y0:y1, x0:x1]
        printed = region.copy()
        for y in range(12, y1 - y0 - 4, int(rng.integers(12, 22))):
            _print_text(rng, printed, (_u(rng, 0.05, 0.2) * (x1 - x0), y), dark=True, scale=_u(rng, 0.3, 0.5))
        on_page = np.zeros(region.shape[:2], np.uint8)
        cv2.fillPoly(on_page, [corners - (x0, y0)], 1)
        region[on_page > 0] = printed[on_page > 0]
    elif what == "mug":
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        radius = int(rng.integers(h // 20, h // 6))
        cv2.circle(image, centre, radius, _random_colour(rng), -1, cv2.LINE_AA)
        cv2.circle(image, centre, int(radius * 0.8), tuple(int(c * 0.4) for c in _random_colour(rng)), -1, cv2.LINE_AA)
    elif what == "cable":
        points = np.cumsum(rng.normal(0, h / 10, (6, 2)), axis=0) + (rng.integers(0, w), rng.integers(0, h))
        cv2.polylines(image, [points.astype(np.int32)], False, _random_colour(rng) if rng.random() < 0.3 else (20, 20, 20), int(rng.integers(3, 10)), cv2.LINE_AA)
    elif what == "keyboard":
        x, y = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        key = int(rng.integers(h // 40, h // 18))
        cv2.rectangle(image, (x, y), (x + 15 * key, y + 5 * key), (30, 30, 32), -1)
        grey = int(rng.integers(50, 220))
        for r in range(4):
            for c in range(14):
                x0, y0 = x + c * key + key // 2, y + r * key + key // 2
                cv2.rectangle(image, (x0 + 1, y0 + 1), (x0 + key - 2, y0 + key - 2), (grey, grey, grey), -1)
    elif what == "text":
        _print_text(rng, image, (rng.integers(0, w), rng.integers(0, h)), dark=rng.random() < 0.6, scale=_u(rng, 0.6, 2.5))
    else:  # the edge of a table, a monitor or a door: a long straight contrast edge
        corners = _rotated_rect(rng, w, h, 0.8, 2.0)
        cv2.fillPoly(image, [corners], _random_colour(rng), cv2.LINE_AA)


def _print_text(rng: np.random.Generator, image: np.ndarray, origin, dark: bool, scale: float | None = None) -> None:
    font = _pick(rng, (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN))
    scale = scale if scale is not None else _u(rng, 0.5, 1.5)
    value = int(rng.integers(0, 80)) if dark else int(rng.integers(180, 256))
    thickness = max(1, int(scale * _u(rng, 0.8, 2.0)))
    cv2.putText(image, _pick(rng, WORDS), (int(origin[0]), int(origin[1])), font, scale, (value, value, value), thickness, cv2.LINE_AA)


# ----------------------------------------------------------------------------------------------------------------
# Holding the sheet in front of the camera


def sheet_pose(look: Look, sheet_size: tuple[int, int], scale: float, size: tuple[int, int]) -> np.ndarray:
    """Homography from sheet pixels to frame pixels: the sheet turned in 3-D, centred in front of a pinhole camera."""
    w, h = sheet_size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    points = np.hstack([(corners - (w / 2, h / 2)) * scale, np.zeros((4, 1))])
    r, p, y = (math.radians(v) for v in (look.roll_deg, look.pitch_deg, look.yaw_deg))
    roll = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    pitch = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    yaw = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    points = points @ (roll @ pitch @ yaw).T + (0, 0, look.focal)
    projected = look.focal * points[:, :2] / points[:, 2:3] + (size[0] / 2, size[1] / 2)
    return cv2.getPerspectiveTransform(corners.astype(np.float32), projected.astype(np.float32))


def _project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), homography).reshape(-1, 2)


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], float)


def _zoom_about(factor: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[factor, 0, cx * (1 - factor)], [0, factor, cy * (1 - factor)], [0, 0, 1]], float)


def _fit_in_frame(homography: np.ndarray, focus: np.ndarray, size: tuple[int, int], margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shrinks the pose until the focus region fits in the frame; returns it and the range of shifts that keep it in."""
    w, h = size
    for _ in range(8):
        box = _project(homography, focus)
        (x0, y0), (x1, y1) = box.min(0), box.max(0)
        factor = min((w - 2 * margin) / max(x1 - x0, 1e-6), (h - 2 * margin) / max(y1 - y0, 1e-6))
        if factor >= 1:
            break
        homography = _zoom_about(0.98 * factor, (x0 + x1) / 2, (y0 + y1) / 2) @ homography
    lo = np.array([margin - x0, margin - y0])
    hi = np.array([w - margin - x1, h - margin - y1])
    return homography, lo, np.maximum(lo, hi)


def _place(rng: np.random.Generator, look: Look, sheet: _Sheet, size: tuple[int, int], margin: float) -> np.ndarray:
    sheet_h, sheet_w = sheet.labels.shape
    pose = sheet_pose(look, (sheet_w, sheet_h), sheet.scale, size)
    pose, lo, hi = _fit_in_frame(pose, sheet.focus, size, margin)
    # Most people centre what they show; some hold it off to one side.
    centre = (lo + hi) / 2
    offset = centre + (hi - lo) / 2 * np.clip(rng.normal(0, 0.5, 2), -1, 1)
    return _shift(*offset) @ pose


def _sheet_maps(homography: np.ndarray, sheet: _Sheet, curl: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For each frame pixel, where it comes from on the sheet (a bent sheet: the pose, then a gentle curl)."""
    w, h = size
    step = 4  # the maps are smooth: compute them coarse and interpolate
    gx, gy = np.meshgrid(np.arange(0, w + step, step, dtype=np.float64), np.arange(0, h + step, step, dtype=np.float64))
    points = np.stack([gx, gy], -1).reshape(-1, 1, 2)
    source = cv2.perspectiveTransform(points, np.linalg.inv(homography)).reshape(gy.shape + (2,))
    sheet_h, sheet_w = sheet.labels.shape
    u, v = source[..., 0], source[..., 1]
    v = v + curl * sheet_h * np.sin(math.pi * u / sheet_w)
    map_x = cv2.resize(u.astype(np.float32), None, fx=step, fy=step, interpolation=cv2.INTER_LINEAR)[:h, :w]
    map_y = cv2.resize(v.astype(np.float32), None, fx=step, fy=step, interpolation=cv2.INTER_LINEAR)[:h, :w]
    return map_x, map_y


@dataclass
class _Warped:
    image: np.ndarray  # float32 BGR, the sheet in the frame
    alpha: np.ndarray  # float32 0..1, where the sheet is
    labels: np.ndarray  # uint16, nearest-neighbour


def _warp_sheet(sheet: _Sheet, homography: np.ndarray, curl: float, size: tuple[int, int]) -> _Warped:
    map_x, map_y = _sheet_maps(homography, sheet, curl, size)
    image = cv2.remap(sheet.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sheet_h, sheet_w = sheet.labels.shape
    # A coverage map with a one-pixel soft rim: the sheet's edge is anti-aliased like a real edge.
    inside = ((map_x >= -0.5) & (map_x <= sheet_w - 0.5) & (map_y >= -0.5) & (map_y <= sheet_h - 0.5)).astype(np.float32)
    alpha = cv2.blur(inside, (2, 2))
    labels = cv2.remap(sheet.labels, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return _Warped(image, alpha, labels)


def _composite(background: np.ndarray, warped: _Warped | None, drop_shadow: float) -> np.ndarray:
    if warped is None:
        return background.copy()
    behind = background
    if drop_shadow > 0:  # the sheet, held a little in front, darkens what is behind it
        h, w = warped.alpha.shape
        small = cv2.resize(warped.alpha, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(np.roll(small, (2, 2), (0, 1)), (0, 0), 2)
        behind = background * (1.0 - drop_shadow * cv2.resize(small, (w, h)))[..., None]
    return cv2.blendLinear(behind, warped.image, 1.0 - warped.alpha, warped.alpha)


def _draw_thumb(rng: np.random.Generator, image: np.ndarray, homography: np.ndarray, sheet: _Sheet, avoid: list[Box]) -> None:
    """A thumb gripping the sheet's edge, the hand beyond it, where they cover no digit (the fingers are behind)."""
    h, w = image.shape[:2]
    sheet_h, sheet_w = sheet.labels.shape
    edge = int(rng.integers(0, 4))
    t = _u(rng, 0.15, 0.85)
    on_edge = [(t * sheet_w, 0), (sheet_w, t * sheet_h), (t * sheet_w, sheet_h), (0, t * sheet_h)][edge]
    inward = [(0, 1), (-1, 0), (0, -1), (1, 0)][edge]
    step = 0.05 * min(sheet_w, sheet_h)
    p0, p1 = _project(homography, np.array([on_edge, (on_edge[0] + inward[0] * step, on_edge[1] + inward[1] * step)]))
    direction = (p1 - p0) / max(np.linalg.norm(p1 - p0), 1e-6)
    turn = math.radians(rng.normal(0, 20))
    direction = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]]) @ direction
    length = _u(rng, 0.14, 0.24) * h
    thickness = length * _u(rng, 0.34, 0.44)
    tip = p0 + direction * length * _u(rng, 0.2, 0.45)
    thumb_centre = tip - direction * length / 2
    hand_centre = p0 - direction * length * 0.6
    thumb_box = (int(min(tip[0], p0[0]) - thickness), int(min(tip[1], p0[1]) - thickness),
                 int(abs(tip[0] - p0[0]) + 2 * thickness), int(abs(tip[1] - p0[1]) + 2 * thickness))
    if not (0 <= p0[0] < w and 0 <= p0[1] < h) or any(_overlap(thumb_box, b) for b in avoid):
        return
    x0, y0, x1, y1 = 0, 0, w, h
    if x1 - x0 < 4 or y1 - y0 < 4:
        return
    angle = math.degrees(math.atan2(direction[1], direction[0]))
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.ellipse(mask, (int(thumb_centre[0] - x0), int(thumb_centre[1] - y0)), (int(length / 2), int(thickness / 2)), angle, 0, 360, 255, -1, cv2.LINE_AA)
    # The hand and wrist carry on out of the frame.
    far = hand_centre - direction * 4 * h
    cv2.line(mask, (int(hand_centre[0] - x0), int(hand_centre[1] - y0)), (int(far[0] - x0), int(far[1] - y0)), 255, int(length * _u(rng, 0.8, 1.1)), cv2.LINE_AA)
    cover = cv2.GaussianBlur(mask, (0, 0), 1.0).astype(np.float32)[..., None] / 255.0
    # Rounded flesh: lit in the middle, darker towards the sides.
    body = cv2.GaussianBlur(mask, (0, 0), thickness / 4).astype(np.float32)[..., None] / 255.0
    skin = np.array(_jitter_colour(rng, _pick(rng, ((0.62, 0.72, 0.88), (0.5, 0.6, 0.78), (0.35, 0.45, 0.62), (0.2, 0.27, 0.4))), 0.04), np.float32)
    region = image[y0:y1, x0:x1]
    region *= 1.0 - cover
    region += cover * skin * (0.55 + 0.5 * body)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


# ----------------------------------------------------------------------------------------------------------------
# Light and camera


def _light(rng: np.random.Generator, look: Look, size: tuple[int, int]) -> np.ndarray:
    """Per-pixel gain (float32 HxWx3): exposure, a slope of light, a hotspot, vignetting, soft shadows, colour cast."""
    w, h = size
    sw, sh = max(8, w // 8), max(8, h // 8)
    gy, gx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    gx, gy = gx / sw - 0.5, gy / sh - 0.5
    angle = _u(rng, 0, 2 * math.pi)
    gain = 1.0 + look.gradient * (gx * math.cos(angle) + gy * math.sin(angle)) * 1.4
    hx, hy = _u(rng, -0.5, 0.5), _u(rng, -0.5, 0.5)
    gain += _u(rng, 0, 0.25) * np.exp(-((gx - hx) ** 2 + (gy - hy) ** 2) / _u(rng, 0.02, 0.2))
    gain *= 1.0 - _u(rng, 0, 0.35) * (gx**2 + gy**2)
    for _ in range(look.shadows):
        shadow = np.zeros((sh, sw), np.float32)
        if rng.random() < 0.5:  # a band: the shadow of an arm, a lamp's arm, a shelf
            x0 = _u(rng, 0, sw)
            slope = _u(rng, -0.8, 0.8) * sw
            band = _u(rng, 0.08, 0.3) * sw
            pts = np.array([[x0, 0], [x0 + band, 0], [x0 + band + slope, sh], [x0 + slope, sh]], np.int32)
            cv2.fillPoly(shadow, [pts], 1.0)
        else:  # the blob of a hand or a head
            centre = (int(_u(rng, 0, sw)), int(_u(rng, 0, sh)))
            cv2.ellipse(shadow, centre, (int(_u(rng, 0.08, 0.25) * sw), int(_u(rng, 0.1, 0.3) * sh)), _u(rng, 0, 180), 0, 360, 1.0, -1)
        shadow = cv2.GaussianBlur(shadow, (0, 0), _u(rng, 1.0, 4.0))
        gain *= 1.0 - _u(rng, 0.2, 0.5) * shadow
    gain = np.clip(gain * look.exposure, 0.05, 2.0)
    cast = np.array(_jitter_colour(rng, (1.0, 1.0, 1.0), 0.08), np.float32)  # white balance off by a little
    return cv2.resize(gain[..., None] * cast, (w, h), interpolation=cv2.INTER_LINEAR)


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    size = int(math.ceil(length)) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = math.cos(math.radians(angle_deg)) * length / 2, math.sin(math.radians(angle_deg)) * length / 2
    cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1, cv2.LINE_AA)
    return kernel / kernel.sum()


def _camera(rng: np.random.Generator, look: Look, image: np.ndarray, compress: bool = True) -> np.ndarray:
    """What a webcam does to the light: defocus, shake, resampling, noise, sharpening, 8 bits, JPEG."""
    h, w = image.shape[:2]
    if look.blur_sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), look.blur_sigma)
    if look.motion_px >= 2:
        image = cv2.filter2D(image, -1, motion_kernel(look.motion_px, _u(rng, 0, 180)))
    if look.soften < 1:
        small = cv2.resize(image, (int(w * look.soften), int(h * look.soften)), interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    # Sensor noise: grain at full resolution, blotchy colour noise at half; brighter frames are noisier (shot noise).
    sigma = look.noise_sigma * (0.5 + math.sqrt(min(1.0, max(0.0, cv2.mean(image)[1]))))
    grain = gaussian_field(rng, (h, w))
    image = cv2.scaleAdd(cv2.merge([grain, grain, grain]), sigma, image)
    image = cv2.scaleAdd(cv2.resize(gaussian_field(rng, (h // 2, w // 2, 3)), (w, h)), 0.5 * sigma, image)
    if look.sharpen > 0:
        image = cv2.addWeighted(image, 1 + look.sharpen, cv2.GaussianBlur(image, (0, 0), 1.5), -look.sharpen, 0)
    np.maximum(image, 0, out=image)
    out = cv2.convertScaleAbs(image, alpha=255.0)  # rounds and saturates at 255
    if compress:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
        out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Truth from the warped label map


def _truth(labels: np.ndarray, written: list[_Written]) -> tuple[list[TruthDigit], list[Number]]:
    ys, xs = np.nonzero(labels)
    if len(ys) == 0:
        return [], []
    ids = labels[ys, xs].astype(np.intp) - 1
    count = len(written)
    x0, y0 = np.full(count, np.iinfo(np.intp).max), np.full(count, np.iinfo(np.intp).max)
    x1, y1 = np.full(count, -1), np.full(count, -1)
    np.minimum.at(x0, ids, xs)
    np.minimum.at(y0, ids, ys)
    np.maximum.at(x1, ids, xs)
    np.maximum.at(y1, ids, ys)
    digits: list[TruthDigit] = []
    members: dict[int, list[TruthDigit]] = {}
    for i, w in enumerate(written):
        if x1[i] < 0:
            continue  # out of view
        digit = TruthDigit(w.digit, (int(x0[i]), int(y0[i]), int(x1[i] - x0[i] + 1), int(y1[i] - y0[i] + 1)))
        digits.append(digit)
        members.setdefault(w.number, []).append(digit)
    numbers = [Number("".join(str(d.digit) for d in group), union_box([d.box for d in group])) for _, group in sorted(members.items())]
    return digits, numbers


def union_box(boxes: Iterable[Box]) -> Box:
    boxes = list(boxes)
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


# ----------------------------------------------------------------------------------------------------------------
# Public entry points


@dataclass
class _Stage:
    """Everything about a scene that stays put while the sheet moves: a video renders it once."""

    look: Look
    sheet: _Sheet | None
    background: np.ndarray
    light: np.ndarray
    pose: np.ndarray | None
    margin: float


def scene_random(seed: int, kind: str | None) -> tuple[np.random.Generator, str]:
    """The scene's kind (drawn from the seed when not given) and the generator for everything else, keyed by both:
    one seed gives unrelated scenes of different kinds."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"a scene seed is a whole number from 0 up, not {seed!r}")
    kind = pick_kind(np.random.default_rng(seed), kind)
    return np.random.default_rng([int(seed), SCENE_KINDS.index(kind)]), kind


def _set_stage(rng: np.random.Generator, kind: str, size: tuple[int, int], pool: DigitPool | None,
               margin_extra: float = 0.0) -> _Stage:
    look = draw_look(rng, kind, size)
    pool = pool or test_digit_pool()
    sheet = None if look.paper is None else _make_sheet(rng, look, pool, size, writes=kind != "blank_paper")
    background = _background(rng, look, size)
    margin = 4 + margin_extra + (look.curl * look.sheet_height if sheet is not None else 0)
    pose = None if sheet is None else _place(rng, look, sheet, size, margin)
    light = _light(rng, look, size)
    return _Stage(look, sheet, background, light, pose, margin)


def _shoot(rng: np.random.Generator, stage: _Stage, pose: np.ndarray | None, size: tuple[int, int], thumb_rng, sheet_motion=None, compress=True):
    look, sheet = stage.look, stage.sheet
    warped = None if sheet is None else _warp_sheet(sheet, pose, look.curl, size)
    if warped is not None and sheet_motion is not None and np.hypot(*sheet_motion) >= 1.5:
        kernel = motion_kernel(float(np.hypot(*sheet_motion)), math.degrees(math.atan2(sheet_motion[1], sheet_motion[0])))
        warped.image = cv2.filter2D(warped.image, -1, kernel)
        warped.alpha = cv2.filter2D(warped.alpha, -1, kernel)
    image = _composite(stage.background, warped, drop_shadow=0.35 if look.sheet_height < 1.1 * size[1] else 0.0)
    digits, numbers = _truth(warped.labels, sheet.written) if warped is not None else ([], [])
    if warped is not None and look.thumb:
        _draw_thumb(thumb_rng, image, pose, sheet, [d.box for d in digits])
    image *= stage.light
    return _camera(rng, look, image, compress=compress), digits, numbers


def render_scene(seed: int, kind: str | None = None, size: tuple[int, int] = DEFAULT_SIZE,
                 pool: DigitPool | None = None) -> Scene:
    """One webcam still of a sheet with handwritten digits (none for blank_paper and no_paper), with its truth.
    The digits come from `pool`; None: MNIST's test digits."""
    rng, kind = scene_random(seed, kind)
    stage = _set_stage(rng, kind, size, pool)
    image, digits, numbers = _shoot(rng, stage, stage.pose, size, thumb_rng=rng)
    return Scene(image=image, digits=digits, numbers=numbers, kind=stage.look.kind)


def _hand_motion(rng: np.random.Generator, frames: int, fps: float, k: float) -> np.ndarray:
    """Per frame (dx, dy, angle_deg, zoom) of a sheet held by hand: slow sway plus a little tremor."""
    t = np.arange(frames) / fps
    motion = np.zeros((frames, 4))
    amplitude = (_u(rng, 10, 40) * k, _u(rng, 8, 30) * k, _u(rng, 1, 4), _u(rng, 0.01, 0.04))
    for axis, a in enumerate(amplitude):
        for _ in range(2):
            period = _u(rng, 1.5, 6.0)
            motion[:, axis] += a / 2 * np.sin(2 * math.pi * t / period + _u(rng, 0, 2 * math.pi))
        tremor = np.cumsum(rng.normal(0, a * 0.03, frames))
        motion[:, axis] += tremor - tremor.mean()
    return motion


def _hold(pose: np.ndarray, motion: np.ndarray, focus: np.ndarray, size: tuple[int, int], margin: float) -> np.ndarray:
    dx, dy, angle, zoom = motion
    centre = _project(pose, focus).mean(0)
    turn = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), 1.0 + float(zoom))
    moved = _shift(dx, dy) @ np.vstack([turn, [0, 0, 1]]) @ pose
    # The hand never takes the writing out of view: nudge it back in.
    box = _project(moved, focus)
    (x0, y0), (x1, y1) = box.min(0), box.max(0)
    w, h = size
    nudge_x = max(0.0, margin - x0) - max(0.0, x1 - (w - margin))
    nudge_y = max(0.0, margin - y0) - max(0.0, y1 - (h - margin))
    return _shift(nudge_x, nudge_y) @ moved


def render_video(
    path: str | Path,
    seed: int,
    kind: str | None = None,
    frames: int = 90,
    fps: float = 30,
    size: tuple[int, int] = DEFAULT_SIZE,
    pool: DigitPool | None = None,
) -> list[FrameTruth]:
    """Writes an mp4 of a sheet held by hand in front of a still camera; returns each frame's truth.
    The digits come from `pool`; None: MNIST's test digits."""
    rng, kind = scene_random(seed, kind)
    k = size[1] / REFERENCE_HEIGHT
    stage = _set_stage(rng, kind, size, pool, margin_extra=45 * k)
    motion = _hand_motion(rng, frames, fps, k)
    shutter = _u(rng, 0.3, 0.8)  # fraction of a frame interval the shutter is open: how much motion blurs
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise UserError(f"cannot write video {path}")
    truths: list[FrameTruth] = []
    previous_centre = None
    try:
        for i in range(frames):
            pose = None
            sheet_motion = None
            if stage.pose is not None:
                pose = _hold(stage.pose, motion[i], stage.sheet.focus, size, stage.margin)
                centre = _project(pose, stage.sheet.focus).mean(0)
                if previous_centre is not None:
                    sheet_motion = (centre - previous_centre) * shutter
                previous_centre = centre
            # The thumb stays where it grips: the same draw every frame.
            thumb_rng = np.random.default_rng([int(seed), SCENE_KINDS.index(kind), 1])
            image, digits, numbers = _shoot(rng, stage, pose, size, thumb_rng, sheet_motion, compress=False)
            writer.write(image)
            truths.append(FrameTruth(i, i / fps, digits, numbers, stage.look.kind))
    finally:
        writer.release()
    return truths


def scene_seeds(first: int, count: int) -> range:
    return range(first, first + count)


def write_stills(
    out_dir: str | Path,
    seeds: Iterable[int],
    kinds: Iterable[str] | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    quality: int = 95,
    progress: bool = False,
) -> Path:
    """Renders one JPEG per seed into `out_dir` (kinds taken in turn; None: each seed picks one) and writes
    `truth.jsonl` there, one line per image. Returns the truth file's path."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(seeds)
    kinds = list(kinds) if kinds else [None]
    lines = []
    for i, seed in enumerate(tqdm(seeds, desc="scenes", unit="image", disable=not progress)):
        scene = render_scene(seed, kinds[i % len(kinds)], size)
        name = f"scene_{seed:06d}_{scene.kind}.jpg"
        if not cv2.imwrite(str(out / name), scene.image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise UserError(f"cannot write {out / name}")
        lines.append(json.dumps(scene.truth_json(source=name)))
    truth = out / "truth.jsonl"
    truth.write_text("".join(line + "\n" for line in lines))
    return truth


def write_video_truth(path: str | Path, truths: list[FrameTruth]) -> None:
    Path(path).write_text("".join(json.dumps(t.to_json()) + "\n" for t in truths))
