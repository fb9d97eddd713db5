"""Cutting candidates out of a frame and making each look as MNIST's digits were made.

MNIST's digits are white on black, anti-aliased, fitted into a 20x20 box keeping their aspect ratio, and placed in a
28x28 image so that their centre of mass is at the centre. The classifier was trained on exactly that, so every
crop is brought to the same form here, including a stroke width near MNIST's: a marker's thick strokes and a fine
pen's thin ones both become MNIST's pen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from live_digits.segment import Band, along_axis, darkest_channel

MNIST_SIZE = 28
MNIST_BOX = 20  # the digit's long side inside the 28x28 image
MNIST_CENTRE = 14.0  # where MNIST's centres of mass lie (mean over its test set, in pixel indices)

# MNIST's strokes (the part brighter than half) are about 3.6 px wide when its digits' long side is WORK_BOX pixels
# (twice its box). A crop's strokes are measured and matched to that at the crop's own resolution, then it is
# shrunk to WORK_BOX and on to MNIST_BOX: two steps of averaging keep its edges soft like MNIST's.
WORK_BOX = 2 * MNIST_BOX
MNIST_STROKE = 3.6
EDGE_LOW, EDGE_HIGH = 0.15, 0.75  # ink levels (1 = the stroke's core) mapped to black and to white


def crops_to_mnist(ink: np.ndarray, boxes: np.ndarray, mask: np.ndarray, ids: np.ndarray | None = None,
                   angles: np.ndarray | None = None, finer: FinerPixels | None = None,
                   bands: list[Band | None] | None = None) -> np.ndarray:
    """(N, 28, 28) uint8 MNIST-style crops.

    ink: uint8 darkness of the ink (0 = paper, 255 = black), as `segment.ink_darkness` makes it.
    boxes: (N, 4) x, y, w, h in the same pixels as `ink` and `mask`.
    mask: the ink mask (nonzero = ink); or, with `ids`, a label image where crop i takes only the pixels labelled
    ids[i], so that a neighbouring digit reaching into the box stays out of the crop.
    angles: per crop, the degrees its writing is turned (`writing_angles`), undone before fitting.
    finer: the input's own pixels, when `ink` was made from a reduced copy: the crops are cut from them instead.
    bands: per crop, the band (`segment.Band`) of its blob it takes, or None for all of it inside its box.
    """
    boxes = np.asarray(boxes).reshape(-1, 4)
    out = np.zeros((len(boxes), MNIST_SIZE, MNIST_SIZE), np.uint8)
    for i, box in enumerate(boxes):
        out[i] = to_mnist(ink, box, mask, None if ids is None else int(ids[i]), 0.0 if angles is None else float(angles[i]),
                          finer, None if bands is None else bands[i])
    return out


def to_mnist(ink: np.ndarray, box, mask: np.ndarray, label: int | None = None, angle: float = 0.0,
             finer: FinerPixels | None = None, band: Band | None = None) -> np.ndarray:
    """One crop: the pixels of `mask` inside `box` (those labelled `label`, when given; of those, the ones in
    `band`, when given) and the grey ink near them, turned upright when its writing is turned by `angle` degrees."""
    x, y, w, h = (int(v) for v in box)
    soft, own = _soft_digit(ink, mask, x, y, w, h, label, band)
    if soft is None:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    if finer is not None:
        fine_soft, fine_own = finer.cut(max(0, x - MARGIN), max(0, y - MARGIN), own)
        if fine_soft is not None:
            soft, own = fine_soft, fine_own
            _, _, w, h = cv2.boundingRect(own)
    if angle:
        soft, own = turn(soft, -angle), turn(own, -angle)
        _, _, w, h = cv2.boundingRect(own)
    # Strokes are measured on the crop's own pixels: shrinking first would dilute a thin stroke out of sight.
    scale = WORK_BOX / max(h, w)
    soft = match_stroke(soft, mask_stroke_width(own), MNIST_STROKE / scale)
    return centre_by_mass(fit_box(_to_work_box(soft)))


def turn(image: np.ndarray, degrees: float) -> np.ndarray:
    """`image` turned counter-clockwise (as seen) by `degrees` about its centre, on a canvas grown to hold all of it."""
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin)))
    matrix[0, 2] += size[0] / 2.0 - w / 2.0
    matrix[1, 2] += size[1] / 2.0 - h / 2.0
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)


MARGIN = 2  # pixels around the digit's mask whose grey ink still belongs to it: anti-aliased edges, faint joins
_NEAR = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MARGIN + 1, 2 * MARGIN + 1))
_BESIDE = np.ones((3, 3), np.uint8)


def _soft_digit(ink: np.ndarray, mask: np.ndarray, x: int, y: int, w: int, h: int, label: int | None,
                band: Band | None = None):
    """(the digit's grey ink, white on black with its strongest stroke at 255; its own mask), or (None, None)
    when the box holds none of it. Ink a little beyond the mask is kept (an anti-aliased edge, a faint join
    between two strokes); a neighbour's ink is not."""
    rows, cols = ink.shape[:2]
    x0, y0 = max(0, x - MARGIN), max(0, y - MARGIN)
    x1, y1 = min(cols, x + w + MARGIN), min(rows, y + h + MARGIN)
    part = mask[y0:y1, x0:x1]
    inside = np.zeros(part.shape, bool)
    inside[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = True
    own = ((part == label) if label is not None else (part > 0)) & inside
    if band is not None:
        # A piece of a turned blob: the rest of the blob, reaching into its box, counts as a neighbour's ink.
        degrees, lo, hi = band
        rows, cols = np.indices(part.shape)
        along = along_axis(cols + x0, rows + y0, degrees)
        own &= (along >= lo) & (along < hi)
    if w <= 0 or h <= 0 or not own.any():
        return None, None
    own = own.astype(np.uint8)
    near = cv2.dilate(own, _NEAR)
    others = ((part > 0) & (own == 0)).astype(np.uint8)
    if others.any():
        near &= 1 - cv2.dilate(others, _BESIDE)
    patch = ink[y0:y1, x0:x1]
    grey = patch.astype(np.float32)
    # The stroke's core level from the uint8 ink itself: the same value as from its float copy, found faster.
    core = max(quantile90(patch[own > 0]), 1.0)
    # A camera blurs a stroke's edge over several pixels where MNIST's pen has about one: stretch the contrast so
    # the edge is as sharp as MNIST's once the digit is scaled to 20 px (the stroke's middle stays put).
    return _stretch(grey * near * (1.0 / core)), own


def _stretch(level: np.ndarray) -> np.ndarray:
    """Ink levels (1 = the stroke's core) to 0..255, the blurred edge made as sharp as MNIST's."""
    return np.clip((level - EDGE_LOW) * (255.0 / (EDGE_HIGH - EDGE_LOW)), 0, 255)


def quantile90(values: np.ndarray) -> float:
    """The 90th percentile without interpolation (np.partition: several times faster than np.percentile)."""
    if values.size == 0:
        return 0.0
    k = int(0.9 * (values.size - 1))
    return float(np.partition(values, k)[k])


@dataclass(frozen=True)
class FinerPixels:
    """The input (uint8 gray or BGR) beside the reduced copy it was segmented in (`scale` working pixels per input
    pixel): a small digit has lost detail in the copy that its own pixels still hold."""

    picture: np.ndarray
    scale: float

    def cut(self, left: int, top: int, own: np.ndarray) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """(soft, own) as `_soft_digit` gives them, for the digit whose working mask `own` has its corner at working
        (left, top): the ink measured afresh in the input's pixels, near where the working mask puts the digit."""
        zoom = 1.0 / self.scale
        rows, cols = self.picture.shape[:2]
        h, w = own.shape
        x0, y0 = int(left * zoom), int(top * zoom)
        x1, y1 = min(cols, math.ceil((left + w) * zoom)), min(rows, math.ceil((top + h) * zoom))
        patch = darkest_channel(self.picture[y0:y1, x0:x1])
        if patch.size == 0:
            return None, None
        # Grown by a working pixel's reach and a little more: the reduced copy lost the faint edges of the strokes.
        reach = 2 * math.ceil(zoom) + 1
        where = cv2.dilate(cv2.resize(own, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST),
                           cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
        # The paper's brightness, as in segment.ink_darkness: a closing wider than the stroke fills it in.
        size = max(5, int(3 * mask_stroke_width(own) * zoom) | 1)
        paper = cv2.morphologyEx(patch, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
        darkness = cv2.subtract(255, cv2.divide(patch, cv2.max(paper, 1), scale=255))
        inside = darkness[where > 0]
        core = max(quantile90(inside), 1.0)
        fine_own = ((darkness >= 0.5 * core) & (where > 0)).astype(np.uint8)
        if not fine_own.any():
            return None, None
        near = cv2.dilate(fine_own, _NEAR) & where
        return _stretch(darkness.astype(np.float32) * near * (1.0 / core)), fine_own


def _to_work_box(soft: np.ndarray) -> np.ndarray:
    h, w = soft.shape
    s = WORK_BOX / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(soft, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def stroke_width(soft: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the distance from the strokes' ridge to their edge."""
    return mask_stroke_width((soft > 127).astype(np.uint8))


def mask_stroke_width(strokes: np.ndarray) -> float:
    """`stroke_width` of a uint8 0/1 mask of the strokes."""
    if not strokes.any():
        return 0.0
    bordered = cv2.copyMakeBorder(strokes, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    distance = cv2.distanceTransform(bordered, cv2.DIST_L2, 3)[1:-1, 1:-1]
    ridge = (distance > 0) & (distance >= cv2.dilate(distance, _BESIDE))
    values = distance[ridge]
    middle = len(values) // 2
    return max(1.0, 2.0 * float(np.partition(values, middle)[middle]) - 1.0)


def match_stroke(soft: np.ndarray, width: float, target: float) -> np.ndarray:
    """Thicken thin strokes and thin thick ones (of `width` pixels) toward `target` pixels."""
    if width <= 0:
        return soft
    if width < 0.75 * target:
        grow = round(target - width)
        if grow >= 1:
            padded = cv2.copyMakeBorder(soft, grow, grow, grow, grow, cv2.BORDER_CONSTANT, value=0)
            return cv2.dilate(padded, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow + 1, grow + 1)))
    elif width > 1.5 * target:
        shrink = min(round(width - target), round(width / 2) - 1)  # never erase a stroke
        if shrink >= 1:
            return cv2.erode(soft, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (shrink + 1, shrink + 1)))
    return soft


def fit_box(soft: np.ndarray) -> np.ndarray:
    """Trim to the ink and scale so the long side is MNIST_BOX, keeping the aspect ratio."""
    rows = np.flatnonzero(soft.max(axis=1) > 25)
    cols = np.flatnonzero(soft.max(axis=0) > 25)
    if len(rows) == 0:
        return np.zeros((1, 1), np.float32)
    soft = soft[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = soft.shape
    s = MNIST_BOX / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(soft, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place the fitted digit in a 28x28 image with its centre of mass at MNIST's centre."""
    h, w = digit.shape
    total = float(digit.sum())
    if total <= 0:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    cy = float((digit.sum(axis=1) * np.arange(h)).sum()) / total
    cx = float((digit.sum(axis=0) * np.arange(w)).sum()) / total
    # Shift so the centre of mass lands on the centre, but never push the digit out of the image.
    dx = float(min(max(MNIST_CENTRE - cx, 0.0), MNIST_SIZE - w))  # np.clip's result, without its overhead
    dy = float(min(max(MNIST_CENTRE - cy, 0.0), MNIST_SIZE - h))
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    placed = cv2.warpAffine(digit.astype(np.float32), shift, (MNIST_SIZE, MNIST_SIZE), flags=cv2.INTER_LINEAR)
    # Every MNIST digit reaches full white somewhere; a thin stroke averaged down, or shifted by half a pixel,
    # would not.
    placed *= 255.0 / max(float(placed.max()), 1e-3)
    return np.clip(placed + 0.5, 0, 255).astype(np.uint8)
