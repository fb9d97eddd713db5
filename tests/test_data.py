import numpy as np
import pytest

from live_digits import data
from live_digits.errors import UserError


def test_mnist_matches_the_official_fingerprints(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    assert data.fingerprint(arrays) == data.FINGERPRINTS


def test_corrupt_data_is_refused(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    damaged = y_test.copy()
    damaged[0] = (damaged[0] + 1) % 10
    with pytest.raises(UserError, match="checksum"):
        data.verify({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": damaged}, "test")


def test_partial_data_is_refused(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    with pytest.raises(UserError, match="x_train"):
        data.verify({"x_train": x_train[:-1], "y_train": y_train, "x_test": x_test, "y_test": y_test}, "test")


def test_a_broken_cache_is_rebuilt(tmp_path, monkeypatch, mnist):
    monkeypatch.setenv("LIVE_DIGITS_CACHE", str(tmp_path))
    (tmp_path / "mnist.npz").write_bytes(b"not an npz file")
    (_, _), (x_test, y_test) = data.load_mnist()
    assert data.fingerprint({"x_test": x_test})["x_test"] == data.FINGERPRINTS["x_test"]
    assert data.fingerprint({"y_test": y_test})["y_test"] == data.FINGERPRINTS["y_test"]
