"""Reading recognised digits as a person would: lines top to bottom, each left to right, split into numbers at the
gaps between them.

Lines are followed mark by mark from left to right, so a line written with a slight slope stays one line. A gap
wider than a fraction of the marks' height separates two numbers. Anything with a `.box` can be grouped so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from live_digits.results import Box, Digit, Number, Result

SAME_LINE_OVERLAP = 0.4  # of the shorter digit's height, shared in y by neighbours on one line
NUMBER_GAP = 0.6  # of the line's median digit height: a wider horizontal gap starts a new number


def read(digits: list[Digit]) -> Result:
    """Digits in reading order and the numbers they form. Lines follow the writing: on a turned sheet (a digit's
    `angle`), along the sheet's lines, not the image's rows."""
    ordered: list[Digit] = []
    numbers: list[Number] = []
    for line in group_lines([_Upright(upright_box(d.box, d.angle), d) for d in digits]):
        for group in split_numbers(line):
            written = [mark.digit for mark in group]
            ordered.extend(written)
            numbers.append(Number("".join(str(d.digit) for d in written), union_box([d.box for d in written])))
    return Result(ordered, numbers)


@dataclass(frozen=True)
class _Upright:
    box: tuple[float, float, float, float]  # where the digit lies with its sheet turned upright
    digit: Digit


def upright_box(box: Box, angle: float) -> tuple[float, float, float, float]:
    """`box` moved to where it lies once the writing, turned by `angle` degrees (counter-clockwise as seen), is
    turned upright about the image's origin; its size is kept."""
    if not angle:
        return tuple(float(v) for v in box)
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    a = math.radians(angle)
    # Image rows grow downwards: turning clockwise as seen is this rotation.
    ux, uy = cx * math.cos(a) - cy * math.sin(a), cx * math.sin(a) + cy * math.cos(a)
    return (ux - w / 2.0, uy - h / 2.0, float(w), float(h))


def group_lines(digits: list[Digit]) -> list[list[Digit]]:
    """Digits grouped into lines, lines top to bottom, digits in each left to right."""
    lines: list[list[Digit]] = []
    for digit in sorted(digits, key=lambda d: (d.box[0], d.box[1])):
        best, best_distance = None, None
        for line in lines:
            last = line[-1]
            if _vertical_overlap(last.box, digit.box) < SAME_LINE_OVERLAP * min(last.box[3], digit.box[3]):
                continue
            distance = abs(_centre_y(last.box) - _centre_y(digit.box)) + 0.01 * (digit.box[0] - last.box[0])
            if best is None or distance < best_distance:
                best, best_distance = line, distance
        if best is None:
            lines.append([digit])
        else:
            best.append(digit)
    lines.sort(key=lambda line: (float(np.mean([_centre_y(d.box) for d in line])), line[0].box[0]))
    return lines


def split_numbers(line: list[Digit]) -> list[list[Digit]]:
    """One line's digits (left to right) cut into numbers where the gap is wide for digits of this height."""
    if not line:
        return []
    height = float(np.median([d.box[3] for d in line]))
    groups = [[line[0]]]
    for previous, digit in zip(line, line[1:]):
        gap = digit.box[0] - (previous.box[0] + previous.box[2])
        if gap > NUMBER_GAP * height:
            groups.append([digit])
        else:
            groups[-1].append(digit)
    return groups


def union_box(boxes: list[Box]) -> Box:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def _vertical_overlap(a: Box, b: Box) -> float:
    return min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])


def _centre_y(box: Box) -> float:
    return box[1] + box[3] / 2.0
