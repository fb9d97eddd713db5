"""Reading order: lines top to bottom, digits left to right, numbers split at wide gaps."""

from __future__ import annotations

from live_digits.reading import group_lines, read, split_numbers, union_box
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
