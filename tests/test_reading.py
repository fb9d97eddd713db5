"""Reading order: lines top to bottom, digits left to right, numbers split at wide gaps."""

from __future__ import annotations

import math

import pytest

from live_digits.reading import group_lines, read, split_numbers, union_box, upright_box
from live_digits.results import Digit


def digit(value: int, x: int, y: int, w: int = 20, h: int = 40) -> Digit:
    return Digit(value, 0.9, (x, y, w, h))


def texts(result) -> list[str]:
    return [n.text for n in result.numbers]


def test_one_number_read_left_to_right_whatever_the_input_order():
    digits = [digit(9, 70, 10), digit(4, 10, 12), digit(5, 40, 8), digit(0, 100, 11)]
    result = read(digits)
    assert texts(result) == ["4590"]
    assert [d.digit for d in result.digits] == [4, 5, 9, 0]
    assert result.numbers[0].box == (10, 8, 110, 44)


def test_wide_gap_starts_a_new_number():
    digits = [digit(1, 10, 10), digit(2, 35, 10), digit(3, 100, 10), digit(4, 125, 10)]
    assert texts(read(digits)) == ["12", "34"]


def test_lines_top_to_bottom():
    digits = [digit(7, 10, 100), digit(8, 35, 100), digit(1, 10, 10), digit(2, 35, 10), digit(5, 200, 12)]
    assert texts(read(digits)) == ["12", "5", "78"]


def test_a_sloping_line_stays_one_line():
    # Each digit 12 px lower than the last: over five digits the line drops more than a digit's height.
    digits = [digit(i, 10 + 26 * i, 10 + 12 * i) for i in range(5)]
    assert texts(read(digits)) == ["01234"]


def test_two_sloping_lines_do_not_mix():
    top = [digit(i, 10 + 26 * i, 10 + 8 * i) for i in range(4)]
    bottom = [digit(9 - i, 10 + 26 * i, 70 + 8 * i) for i in range(4)]
    assert texts(read(bottom + top)) == ["0123", "9876"]


def test_gap_is_judged_against_the_digits_height():
    small = [digit(1, 10, 10, 5, 10), digit(2, 25, 10, 5, 10)]  # a 10 px gap between 10 px digits: two numbers
    big = [digit(1, 10, 100, 25, 60), digit(2, 45, 100, 25, 60)]  # the same gap between 60 px digits: one number
    assert texts(read(small)) == ["1", "2"]
    assert texts(read(big)) == ["12"]


def test_nothing_reads_as_nothing():
    result = read([])
    assert result.digits == [] and result.numbers == []
    assert group_lines([]) == [] and split_numbers([]) == []


def test_union_box():
    assert union_box([(0, 0, 10, 10), (20, 5, 10, 10)]) == (0, 0, 30, 15)


def written_on_a_turned_sheet(lines: list[list[str]], degrees: float) -> list[Digit]:
    """Digits written in lines on a sheet, the sheet then turned counter-clockwise (as seen) by `degrees` about
    (400, 400): each digit keeps an upright box at its turned centre, as a camera's boxes would."""
    a = math.radians(degrees)
    digits = []
    for row, numbers in enumerate(lines):
        x = 100.0
        for number in numbers:
            for char in number:
                cx, cy = x + 10 - 400, 100 + 60 * row + 20 - 400
                tx, ty = 400 + cx * math.cos(a) + cy * math.sin(a), 400 - cx * math.sin(a) + cy * math.cos(a)
                digits.append(Digit(int(char), 0.9, (round(tx - 10), round(ty - 20), 20, 40), degrees))
                x += 25
            x += 60
    return digits


def test_a_turned_sheet_is_read_along_its_lines():
    lines = [["4509", "12"], ["77", "3"], ["8610"]]
    turned = written_on_a_turned_sheet(lines, 25.0)
    assert texts(read(turned)) == ["4509", "12", "77", "3", "8610"]
    # Read by the image's rows, the same marks make another text: the angle is what puts them in order.
    level = [Digit(d.digit, d.confidence, d.box) for d in turned]
    assert texts(read(level)) != ["4509", "12", "77", "3", "8610"]


def test_upright_box_keeps_the_size_and_undoes_the_turn():
    assert upright_box((10, 20, 30, 40), 0.0) == (10.0, 20.0, 30.0, 40.0)
    # Turned a quarter counter-clockwise as seen, the point one step right of the origin went one step up.
    x, y, w, h = upright_box((90, -120, 20, 40), 90.0)  # its centre at (100, -100)
    assert (w, h) == (20.0, 40.0)
    assert (x + w / 2, y + h / 2) == pytest.approx((100.0, 100.0))
