"""Examples of "not a digit": what a camera pipeline cuts out of a page besides digits.

Drawn procedurally at 28x28 in MNIST's format (white on black, about 20 px across, centred), so the classifier learns an
eleventh class from data instead of relying on a confidence threshold alone.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Characters that could pass for a digit (O for 0, l for 1, S for 5, B for 8, ...) are left out on purpose.
LETTERS = "AEFHKMNRWXYaehkmnrwxy#*+%&@<>="
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
         cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_PLAIN)
# OpenCV's stroke fonts are not what print looks like: a printed H read as a 4. Matplotlib (a dependency already)
# ships real outline fonts, sans, serif, monospace and TeX, upright, bold and slanted (not its symbol fonts, nor the
# Display cuts that hold a few glyphs only).
TYPEFACES = tuple(sorted(path for path in (Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("*.ttf")
                         if path.stem.startswith(("DejaVu", "cmr", "cmss", "cmtt", "cmb", "cmti"))
                         and "Display" not in path.stem))


def _fit_to_mnist_box(canvas: np.ndarray) -> np.ndarray:
    """Scale the drawn shape into a 20x20 box and centre it, as MNIST's digits were made."""
    ys, xs = np.nonzero(canvas)
    if len(xs) == 0:
        return np.zeros((28, 28), np.uint8)
    crop = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    s = 20.0 / max(h, w)
    crop = cv2.resize(crop, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.zeros((28, 28), np.uint8)
    y0, x0 = (28 - crop.shape[0]) // 2, (28 - crop.shape[1]) // 2
    out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return out


def _letter(rng, canvas):
    text = LETTERS[rng.integers(len(LETTERS))]
    cv2.putText(canvas, text, (10, 70), FONTS[rng.integers(len(FONTS))], 2.2, 255, int(rng.integers(3, 9)), cv2.LINE_AA)


@lru_cache(maxsize=None)
def _typeface(path: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), 64)


def _printed_letter(rng, canvas):
    picture = Image.fromarray(canvas)
    font = _typeface(TYPEFACES[rng.integers(len(TYPEFACES))])
    text = LETTERS[rng.integers(len(LETTERS))]
    ImageDraw.Draw(picture).text((50, 50), text, fill=255, font=font, anchor="mm", stroke_width=int(rng.integers(0, 3)),
                                 stroke_fill=255)
    canvas[:] = np.asarray(picture)


def _dash(rng, canvas):
    # Flat remnants of ruled lines and underlines; never upright, where they would be a "1".
    y = int(rng.integers(40, 60))
    x0, x1 = int(rng.integers(2, 20)), int(rng.integers(70, 98))
    tilt = int(rng.integers(-8, 9))
    cv2.line(canvas, (x0, y), (x1, y + tilt), 255, int(rng.integers(3, 12)), cv2.LINE_AA)


def _blob(rng, canvas):
    axes = (int(rng.integers(15, 45)), int(rng.integers(15, 45)))
    cv2.ellipse(canvas, (50, 50), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)


def _block(rng, canvas):
    w, h = int(rng.integers(30, 80)), int(rng.integers(30, 80))
    canvas[50 - h // 2 : 50 + h // 2, 50 - w // 2 : 50 + w // 2] = 255
    if rng.random() < 0.5:  # a textured patch rather than a solid one
        canvas &= (rng.random(canvas.shape) < 0.6).astype(np.uint8) * 255


def _crossing(rng, canvas):
    # Grid crossings, corners of the sheet and of boxes: two straight strokes meeting.
    t = int(rng.integers(3, 10))
    cx, cy = int(rng.integers(30, 70)), int(rng.integers(30, 70))
    kind = rng.integers(3)
    if kind == 0:  # +
        cv2.line(canvas, (5, cy), (95, cy), 255, t)
        cv2.line(canvas, (cx, 5), (cx, 95), 255, t)
    elif kind == 1:  # L-shaped corner
        cv2.line(canvas, (cx, cy), (95, cy), 255, t)
        cv2.line(canvas, (cx, cy), (cx, 95), 255, t)
    else:  # T
        cv2.line(canvas, (5, cy), (95, cy), 255, t)
        cv2.line(canvas, (cx, cy), (cx, 95), 255, t)


def _scribble(rng, canvas):
    # Dense scratches: several crossing strokes, more ink than any digit has.
    for _ in range(int(rng.integers(4, 8))):
        pts = rng.integers(5, 95, size=(int(rng.integers(3, 6)), 2)).astype(np.int32)
        cv2.polylines(canvas, [pts], False, 255, int(rng.integers(3, 8)), cv2.LINE_AA)


def _grid(rng, canvas):
    step, t = int(rng.integers(14, 30)), int(rng.integers(2, 6))
    for v in range(int(rng.integers(0, step)), 100, step):
        cv2.line(canvas, (v, 0), (v, 99), 255, t)
        cv2.line(canvas, (0, v), (99, v), 255, t)


MAKERS = (_letter, _letter, _printed_letter, _printed_letter, _dash, _blob, _block, _crossing, _scribble, _grid)


def make_negatives(count: int, seed: int = 0) -> np.ndarray:
    """(count, 28, 28) uint8 images of things that are not digits."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, 28, 28), np.uint8)
    for i in range(count):
        canvas = np.zeros((100, 100), np.uint8)
        MAKERS[rng.integers(len(MAKERS))](rng, canvas)
        out[i] = _fit_to_mnist_box(canvas)
    return out
