"""The one drawing of results: a box and "digit confidence" over every digit, the number read under every number.

Sizes follow the frame and the digits, so the labels stay legible on a 720p webcam frame and on a small photo.
Everything draws in place on a BGR uint8 frame and returns it; `as_bgr` makes such a frame from any image.
"""

from __future__ import annotations

import cv2
import numpy as np

from live_digits.results import Box, Result
from live_digits.segment import to_uint8

FONT = cv2.FONT_HERSHEY_SIMPLEX
SURE = (60, 200, 60)  # BGR: a digit read with high confidence
UNSURE = (0, 170, 255)  # a digit read with less
NUMBER = (255, 120, 0)  # the number labels
TEXT = (255, 255, 255)
SURE_LEVEL = 0.9


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A drawable uint8 BGR copy of any image the recognizer accepts (gray, 16-bit, with alpha, ...)."""
    picture = to_uint8(image)
    return cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR) if picture.ndim == 2 else picture.copy()


def font_scale_for(height_px: float) -> float:
    """The Hershey font scale whose capital letters are about `height_px` tall."""
    return max(0.3, height_px / 22.0)


def frame_text_height(frame: np.ndarray) -> float:
    """A comfortable text height for this frame: ~18 px on 720p, never below 10 px."""
    return max(10.0, min(frame.shape[:2]) / 40.0)


def label_rect(frame_shape: tuple[int, ...], text: str, anchor: tuple[int, int], height_px: float,
               above: bool = True) -> tuple[int, int, int, int]:
    """Where `draw_label` would put its background: (x, y, w, h), kept inside the frame."""
    scale, thickness = font_scale_for(height_px), _thickness(height_px)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(2, round(th * 0.25))
    w, h = tw + 2 * pad, th + base + 2 * pad
    x, y = int(anchor[0]), int(anchor[1])
    top = y - h if above else y
    rows, cols = frame_shape[:2]
    return int(np.clip(x, 0, max(0, cols - w))), int(np.clip(top, 0, max(0, rows - h))), w, h


def draw_label(frame: np.ndarray, text: str, anchor: tuple[int, int], color, height_px: float, above: bool = True) -> np.ndarray:
    """Text on a filled background, its bottom-left at `anchor` when `above`, else its top-left; kept inside the
    frame. The live view's FPS and help lines use it too."""
    x, y, w, h = label_rect(frame.shape, text, anchor, height_px, above)
    scale, thickness = font_scale_for(height_px), _thickness(height_px)
    (_, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(2, round(th * 0.25))
    cv2.rectangle(frame, (x, y), (x + w, y + h), color, cv2.FILLED)
    cv2.putText(frame, text, (x + pad, y + pad + th), FONT, scale, TEXT, thickness, cv2.LINE_AA)
    return frame


def _thickness(height_px: float) -> int:
    return max(1, round(font_scale_for(height_px) * 1.6))


def draw_box(frame: np.ndarray, box: Box, color, thickness: int | None = None) -> np.ndarray:
    x, y, w, h = (int(v) for v in box)
    if thickness is None:
        thickness = max(1, round(frame_text_height(frame) / 8))
    cv2.rectangle(frame, (x, y), (x + w - 1, y + h - 1), color, thickness, cv2.LINE_AA)
    return frame


def draw_result(frame: np.ndarray, result: Result, show_confidence: bool = True, scale: float = 1.0) -> np.ndarray:
    """Draw `result` on `frame` (BGR uint8, in place) and return it. `scale` maps the result's boxes onto the frame
    when it was resized for display."""
    base = frame_text_height(frame)
    # Numbers first, under their digits: where lines are close, a number's label reaches the next line's digits,
    # whose own labels are then drawn over it.
    for number in result.numbers:
        box = _scaled(number.box, scale)
        height = float(np.clip(0.35 * box[3], base, 1.5 * base))
        draw_label(frame, number.text, (box[0], box[1] + box[3] + 2), NUMBER, height, above=False)
    boxes = [_scaled(d.box, scale) for d in result.digits]
    heights = [float(np.clip(0.3 * b[3], 0.7 * base, 1.2 * base)) for b in boxes]
    anchors = [(b[0], b[1] - 1) for b in boxes]
    # The digit alone takes little room; its confidence is added where that does not run into a neighbour's label.
    short = [label_rect(frame.shape, str(d.digit), a, h) for d, a, h in zip(result.digits, anchors, heights)]
    for i, (digit, box) in enumerate(zip(result.digits, boxes)):
        color = SURE if digit.confidence >= SURE_LEVEL else UNSURE
        draw_box(frame, box, color)
        text = str(digit.digit)
        if show_confidence:
            full = f"{digit.digit} {digit.confidence:.2f}"
            rect = label_rect(frame.shape, full, anchors[i], heights[i])
            if not any(_overlap(rect, other) for j, other in enumerate(short) if j != i):
                text = full
        draw_label(frame, text, anchors[i], color, heights[i])
    return frame


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _scaled(box: Box, scale: float) -> Box:
    if scale == 1.0:
        return box
    return tuple(int(round(v * scale)) for v in box)
