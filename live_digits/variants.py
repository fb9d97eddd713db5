"""European handwriting on MNIST's digits: a 7 crossed through its stem, a 1 with a long flag and sometimes a base.

MNIST was written in the United States: its 7s are never crossed and its 1s are mostly a bare stroke. Much of the
world writes a 1 with a long up-stroke (which would pass for a 7) and therefore crosses its 7s. The strokes are
added to the 28x28 images themselves at the digit's own stroke width, and the result stays in MNIST's format: long side
at most 20 px (refitted with `normalize.fit_box` in the rare case a stroke widens it), centre of mass at the centre
(moved by whole pixels, so the digit's own pixels stay as MNIST made them).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from live_digits.normalize import MNIST_BOX, MNIST_CENTRE, fit_box, stroke_width

UPSCALE = 4  # strokes are drawn at 4x and averaged down: anti-aliased like MNIST's pen
INK = 127  # MNIST pixels above this are the stroke's core
FLAG_DEG = (30.0, 55.0)  # a 1's flag below the horizontal: steeper than a 7's bar
FLAG_OFF_STEM_DEG = 40.0  # and at least this far off the stem's own slope


def european_seven(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 7 with a short bar across its stem, a little below half height."""
    rows, cols = np.nonzero(image > INK)
    top, bottom = rows.min(), rows.max()
    left, right = cols.min(), cols.max()
    y = top + rng.uniform(0.45, 0.62) * (bottom - top)
    stem = _stem_x(image, y)
    if stem is None:
        return image
    length = rng.uniform(0.45, 0.75) * max(right - left + 1, 0.5 * (bottom - top + 1))
    centre = stem + rng.uniform(-0.12, 0.12) * length
    tilt = math.radians(rng.normal(0, 5))
    dx, dy = 0.5 * length * math.cos(tilt), 0.5 * length * math.sin(tilt)
    # A bar reaching past the digit's sides must not widen it beyond MNIST's box, which would mean resampling it.
    half_pen = 0.5 * _pen_width(image) / UPSCALE
    x0, x1 = np.clip([centre - dx, centre + dx], right - (MNIST_BOX - 1) + half_pen, left + (MNIST_BOX - 1) - half_pen)
    return _with_strokes(image, [((float(x0), y + dy), (float(x1), y - dy))])


def european_one(image: np.ndarray, rng: np.random.Generator, base_chance: float = 0.3) -> np.ndarray:
    """A 1 with a long flag: an up-stroke from the left into the top of the stem; now and then a base.

    Only an upright 1 gets a flag: on a 1 that leans far, a flag steep enough not to pass for a 7's bar would run
    along the stem, so that 1 comes back as it was."""
    rows, cols = np.nonzero(image > INK)
    top, bottom = rows.min(), rows.max()
    height = bottom - top + 1
    half_pen = 0.5 * _pen_width(image) / UPSCALE  # the strokes' round ends stay inside the digit's height
    tip = (float(cols[rows <= top + 1].mean()), top + half_pen)
    foot = (float(cols[rows >= bottom - 1].mean()), bottom - half_pen)
    stem = math.degrees(math.atan2(foot[1] - tip[1], tip[0] - foot[0]))  # 90: upright; less: leaning right
    steepest = min(FLAG_DEG[1], stem - FLAG_OFF_STEM_DEG)
    if steepest < FLAG_DEG[0]:
        return image
    angle = math.radians(rng.uniform(FLAG_DEG[0], steepest))
    length = rng.uniform(0.28, 0.5) * height
    strokes = [((tip[0] - length * math.cos(angle), tip[1] + length * math.sin(angle)), tip)]
    if rng.random() < base_chance:
        half = rng.uniform(0.18, 0.3) * height
        strokes.append(((foot[0] - half, foot[1]), (foot[0] + half, foot[1])))
    return _with_strokes(image, strokes)


def europeanize(images: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A copy of `images` in which about `fraction` of the 1s and of the 7s are written the European way (of the
    1s, those upright enough for a flag)."""
    rng = np.random.default_rng(seed)
    out = images.copy()
    for digit, make in ((1, european_one), (7, european_seven)):
        chosen = np.flatnonzero(labels == digit)
        chosen = chosen[rng.random(len(chosen)) < fraction]
        for i in chosen:
            out[i] = make(images[i], rng)
    return out


def _stem_x(image: np.ndarray, y: float) -> float | None:
    """The middle of the stroke crossing row `y` nearest the digit's middle, or None when the row is empty."""
    row = image[int(round(y))] > INK
    cols = np.flatnonzero(row)
    if len(cols) == 0:
        return None
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    centres = [float(r.mean()) for r in runs]
    middle = float(np.nonzero(image > INK)[1].mean())
    return min(centres, key=lambda c: abs(c - middle))


def _pen_width(image: np.ndarray) -> float:
    """The digit's stroke width in UPSCALE'd pixels."""
    return max(1.5 * UPSCALE, stroke_width(cv2.resize(image, None, fx=UPSCALE, fy=UPSCALE)))


def _with_strokes(image: np.ndarray, strokes: list[tuple[tuple[float, float], tuple[float, float]]]) -> np.ndarray:
    """The image with straight strokes ((x0, y0), (x1, y1)) in 28x28 pixels added at its own pen width, still in
    MNIST's format. The digit's own pixels are not resampled unless the strokes took it past MNIST's box."""
    width = _pen_width(image)
    pen = np.zeros((28 * UPSCALE, 28 * UPSCALE), np.float32)
    shift = 4  # cv2 draws at 1/16 pixel precision with this many fractional bits
    for (x0, y0), (x1, y1) in strokes:
        ends = [int(round(((v + 0.5) * UPSCALE - 0.5) * 2**shift)) for v in (x0, y0, x1, y1)]
        cv2.line(pen, tuple(ends[:2]), tuple(ends[2:]), 255.0, int(round(width)), cv2.LINE_AA, shift)
    drawn = np.maximum(image.astype(np.float32), cv2.resize(pen, (28, 28), interpolation=cv2.INTER_AREA))
    if _long_side(drawn) > MNIST_BOX:
        fitted = fit_box(drawn)
        drawn = np.zeros((28, 28), np.float32)
        drawn[: fitted.shape[0], : fitted.shape[1]] = fitted
    return _centre_by_whole_pixels(drawn)


def _ink_span(digit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows and the columns that hold ink (the same level `normalize.fit_box` trims at)."""
    return np.flatnonzero(digit.max(axis=1) > 25), np.flatnonzero(digit.max(axis=0) > 25)


def _long_side(digit: np.ndarray) -> int:
    rows, cols = _ink_span(digit)
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


def _centre_by_whole_pixels(digit: np.ndarray) -> np.ndarray:
    """The centre of mass moved to MNIST's centre by a whole-pixel shift, which keeps the pixels as they are."""
    rows, cols = _ink_span(digit)
    total = float(digit.sum())
    cy = float((digit.sum(axis=1) * np.arange(28)).sum()) / total
    cx = float((digit.sum(axis=0) * np.arange(28)).sum()) / total
    dy = int(np.clip(round(MNIST_CENTRE - cy), -rows[0], 27 - rows[-1]))
    dx = int(np.clip(round(MNIST_CENTRE - cx), -cols[0], 27 - cols[-1]))
    out = np.zeros((28, 28), np.uint8)
    out[rows[0] + dy : rows[-1] + dy + 1, cols[0] + dx : cols[-1] + dx + 1] = np.clip(
        digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] + 0.5, 0, 255).astype(np.uint8)
    return out
