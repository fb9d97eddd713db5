"""Shared fixtures: the shipped model and MNIST, loaded once per test session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from live_digits.classify import DEFAULT_MODEL


@pytest.fixture(scope="session")
def mnist():
    from live_digits.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def model_path():
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"the shipped model {DEFAULT_MODEL} is missing: train it with `live-digits train --out models`")
    return DEFAULT_MODEL
