"""European 1s and 7s: the label's shape kept, a stroke added where such writers put it, MNIST's format kept."""

from __future__ import annotations

import numpy as np
import pytest

from live_digits.variants import european_one, european_seven, europeanize


def _long_side(image: np.ndarray) -> int:
    ink = image > 25
    return int(max(ink.any(axis=1).sum(), ink.any(axis=0).sum()))


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    weights = image.astype(float)
    ys, xs = np.mgrid[0:28, 0:28]
    return float((ys * weights).sum() / weights.sum()), float((xs * weights).sum() / weights.sum())


def _upright(images: np.ndarray) -> list[np.ndarray]:
    """1s whose top and foot lie within two pixels of the same column."""
    chosen = []
    for image in images:
        rows, cols = np.nonzero(image > 127)
        if abs(cols[rows <= rows.min() + 1].mean() - cols[rows >= rows.max() - 1].mean()) <= 2:
            chosen.append(image)
    return chosen


def _added_ink(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Where `after` has ink that `before` lacks, once the two are aligned (re-centring moves a digit whole pixels)."""
    old, new = before > 127, after > 127
    shifts = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)]
    dy, dx = max(shifts, key=lambda s: (np.roll(old, s, axis=(0, 1)) & new).sum())
    return new & ~np.roll(old, (dy, dx), axis=(0, 1))


@pytest.fixture(scope="module")
def test_digits(mnist):
    _, (x_test, y_test) = mnist
    return x_test[:600], y_test[:600]


def _assert_mnist_format(image: np.ndarray):
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert _long_side(image) <= 20
    cy, cx = _centre_of_mass(image)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0


def test_a_crossed_seven_gains_a_bar_across_its_middle(test_digits):
    x, y = test_digits
    rng = np.random.default_rng(0)
    for seven in x[y == 7][:20]:
        crossed = european_seven(seven, rng)
        _assert_mnist_format(crossed)
        added = _added_ink(seven, crossed)
        assert added.sum() >= 4, "the bar adds ink"
        rows = np.nonzero(added)[0]
        top, bottom = np.nonzero(crossed > 127)[0][[0, -1]]
        assert top + 0.3 * (bottom - top) <= np.median(rows) <= top + 0.8 * (bottom - top)  # across the stem, not on top


def test_a_flagged_one_gains_a_stroke_up_into_the_top_of_its_stem(test_digits):
    x, y = test_digits
    rng = np.random.default_rng(1)
    ones = _upright(x[y == 1])
    assert len(ones) >= 10
    for one in ones[:20]:
        flagged = european_one(one, rng, base_chance=0.0)
        _assert_mnist_format(flagged)
        added = _added_ink(one, flagged)
        assert added.sum() >= 4
        # The new ink lies left of the stem and in its upper half.
        rows, cols = np.nonzero(flagged > 127)
        assert np.median(np.nonzero(added)[1]) < cols.mean()
        assert np.median(np.nonzero(added)[0]) < rows.mean()


def test_a_one_that_leans_far_stays_as_it_was():
    leaning = np.zeros((28, 28), np.uint8)
    for row in range(4, 24):  # a stroke leaning 45 degrees: no flag could stay clear of it
        col = 24 - row
        leaning[row, col + 2 : col + 5] = 255
    assert np.array_equal(european_one(leaning, np.random.default_rng(0)), leaning)


def test_europeanize_changes_only_ones_and_sevens_and_about_the_share_asked(mnist):
    (x_train, y_train), _ = mnist
    x, y = x_train[:3000], y_train[:3000]
    varied = europeanize(x, y, fraction=0.5, seed=3)
    changed = (varied != x).reshape(len(x), -1).any(axis=1)
    assert not changed[(y != 1) & (y != 7)].any()
    assert 0.35 < changed[y == 7].mean() < 0.65
    assert 0.1 < changed[y == 1].mean() < 0.65  # only the upright 1s can take a flag
    assert np.array_equal(europeanize(x, y, fraction=0.5, seed=3), varied)  # a seed gives the same variants
    assert np.array_equal(europeanize(x, y, fraction=0.0, seed=3), x)
    assert varied.dtype == np.uint8 and x is not varied
