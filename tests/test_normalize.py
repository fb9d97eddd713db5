"""MNIST-style crops: white on black, fitted into 20x20, centred by mass in 28x28, strokes near MNIST's width."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from live_digits import normalize as N


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = float(image.sum())
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def ink_box(image: np.ndarray, level: int = 40) -> tuple[int, int]:
    rows, cols = np.nonzero(image > level)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def drawn(shape=(120, 90), draw=None) -> tuple[np.ndarray, np.ndarray]:
    """(darkness image, mask) with a shape drawn as dark ink, its box, and the mask of its pixels."""
    ink = np.zeros(shape, np.uint8)
    draw(ink)
    return ink, (ink > 60).astype(np.uint8)


def test_crop_is_white_on_black_fitted_and_centred():
    ink, mask = drawn(draw=lambda im: cv2.ellipse(im, (40, 60), (22, 40), 0, 0, 270, 220, 4))
    box = (15, 17, 51, 87)
    crop = N.crops_to_mnist(ink, np.array([box]), mask)[0]
    assert crop.shape == (28, 28) and crop.dtype == np.uint8
    assert crop.max() >= 250 and crop[0].max() == 0 and crop[:, 0].max() == 0
    height, width = ink_box(crop)
    assert 19 <= height <= 21 and width <= 21
    cy, cx = centre_of_mass(crop.astype(np.float64))
    assert abs(cy - N.MNIST_CENTRE) < 1.0 and abs(cx - N.MNIST_CENTRE) < 1.0


def test_wide_shape_fits_by_its_width():
    ink, mask = drawn((60, 200), lambda im: cv2.line(im, (10, 30), (190, 30), 230, 9))
    crop = N.crops_to_mnist(ink, np.array([(0, 0, 200, 60)]), mask)[0]
    height, width = ink_box(crop)
    assert 19 <= width <= 21 and height <= 6


def test_thin_and_thick_strokes_come_out_alike():
    thin, thin_mask = drawn((200, 140), lambda im: cv2.ellipse(im, (70, 100), (60, 90), 0, 0, 360, 230, 2))
    thick, thick_mask = drawn((200, 140), lambda im: cv2.ellipse(im, (70, 100), (50, 80), 0, 0, 360, 230, 24))
    a = N.crops_to_mnist(thin, np.array([(0, 0, 140, 200)]), thin_mask)[0]
    b = N.crops_to_mnist(thick, np.array([(0, 0, 140, 200)]), thick_mask)[0]
    width_a = N.stroke_width(cv2.resize(a, (56, 56)).astype(np.float32))
    width_b = N.stroke_width(cv2.resize(b, (56, 56)).astype(np.float32))
    assert 2.0 <= width_a <= 6.5 and 2.0 <= width_b <= 6.5


def test_faint_ink_is_stretched_to_full_white():
    ink, mask = drawn(draw=lambda im: cv2.line(im, (45, 10), (45, 110), 70, 5))
    crop = N.crops_to_mnist(ink, np.array([(40, 5, 11, 110)]), mask)[0]
    assert crop.max() >= 240


def test_only_the_candidates_own_pixels_with_labels():
    labels = np.zeros((60, 120), np.int32)
    ink = np.zeros((60, 120), np.uint8)
    cv2.line(ink, (30, 5), (30, 55), 220, 4)
    cv2.line(labels, (30, 5), (30, 55), 1, 4)
    cv2.line(ink, (40, 5), (40, 55), 220, 4)  # a neighbour reaching into the box
    cv2.line(labels, (40, 5), (40, 55), 2, 4)
    crop = N.crops_to_mnist(ink, np.array([(20, 0, 25, 60)]), labels, np.array([1]))[0]
    height, width = ink_box(crop)
    assert width <= 6  # one upright stroke, not two


def test_batch_of_none_and_empty_boxes():
    ink = np.zeros((30, 30), np.uint8)
    assert N.crops_to_mnist(ink, np.zeros((0, 4), np.int32), ink).shape == (0, 28, 28)
    assert N.crops_to_mnist(ink, np.array([(5, 5, 10, 10)]), ink).max() == 0


@pytest.mark.parametrize("height", [8, 30, 300])
def test_any_size_of_digit(mnist, height):
    digit = mnist[1][0][0]
    ink = cv2.resize(digit, (height, height), interpolation=cv2.INTER_LINEAR)
    crop = N.crops_to_mnist(ink, np.array([(0, 0, height, height)]), (ink > 80).astype(np.uint8))[0]
    rows, cols = ink_box(crop)
    assert max(rows, cols) in (19, 20, 21)
    cy, cx = centre_of_mass(crop.astype(np.float64))
    assert abs(cy - N.MNIST_CENTRE) < 1.0 and abs(cx - N.MNIST_CENTRE) < 1.0


def test_mnist_digit_survives_the_round_trip(mnist):
    """An MNIST digit, enlarged as a camera would see it and normalized back, still looks like itself."""
    for index in range(5):
        digit = mnist[1][0][index]
        big = cv2.resize(digit, (112, 112), interpolation=cv2.INTER_CUBIC)
        rows, cols = np.nonzero(big > 60)
        box = (cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1)
        crop = N.crops_to_mnist(big, np.array([box]), (big > 60).astype(np.uint8))[0].astype(np.float64)
        agreement = np.corrcoef(crop.ravel(), digit.astype(np.float64).ravel())[0, 1]
        assert agreement > 0.75


def test_writing_on_a_turned_sheet_is_turned_upright(mnist):
    _, (x_test, _) = mnist
    upright_ink = cv2.copyMakeBorder(cv2.resize(x_test[0], (84, 84)), 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=0)
    ink = N.turn(upright_ink, 28.0)
    mask = (ink > 60).astype(np.uint8)
    box = cv2.boundingRect(mask)
    reference = N.to_mnist(upright_ink, cv2.boundingRect((upright_ink > 60).astype(np.uint8)), (upright_ink > 60).astype(np.uint8))

    def likeness(crop):
        return float(np.corrcoef(crop.ravel().astype(float), reference.ravel().astype(float))[0, 1])

    assert likeness(N.to_mnist(ink, box, mask, angle=28.0)) > 0.9 > likeness(N.to_mnist(ink, box, mask))


def test_a_small_digit_cut_from_the_finer_input_keeps_its_shape(mnist):
    """A digit 16 px tall in a 4x reduced copy has lost detail; cut from the input's own pixels it looks more like
    itself, every time."""
    from live_digits.segment import ink_darkness

    digits = mnist[1][0][:8]
    finer_wins = 0
    for digit in digits:
        paper = np.full((160, 160), 215, np.uint8)
        written = cv2.resize(digit, (64, 64), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
        paper[48:112, 48:112] = (215 - 170 * written).astype(np.uint8)
        work = cv2.resize(paper, (40, 40), interpolation=cv2.INTER_AREA)
        ink, _ = ink_darkness(work)
        mask = (ink > 60).astype(np.uint8)
        box = cv2.boundingRect(mask)
        coarse = N.to_mnist(ink, box, mask)
        fine = N.to_mnist(ink, box, mask, finer=N.FinerPixels(cv2.cvtColor(paper, cv2.COLOR_GRAY2BGR), 0.25))

        def likeness(crop):
            return float(np.corrcoef(crop.ravel().astype(float), digit.ravel().astype(float))[0, 1])

        assert likeness(fine) > 0.85
        finer_wins += likeness(fine) > likeness(coarse)
    assert finer_wins == len(digits)
