"""The one loader of the model, and the batched classifier every other step calls."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from live_digits.errors import UserError

NOT_A_DIGIT = 10  # the eleventh class: clutter, letters, line remnants, specks
NUM_CLASSES = 11
MODEL_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODEL_DIR / "live_digits.keras"

UNSURE = 0.9  # a crop whose best class has less probability than this gets a second opinion (`predict_steady`)
SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (dx, dy) in pixels of the 28x28 crop


def shifted(crops: np.ndarray) -> np.ndarray:
    """(N, 28, 28) crops -> (N, 4, 28, 28): each moved a pixel right, left, down and up (the edge is background)."""
    padded = np.pad(crops, ((0, 0), (1, 1), (1, 1)))
    return np.stack([padded[:, 1 - dy : 29 - dy, 1 - dx : 29 - dx] for dx, dy in SHIFTS], axis=1)


def default_model_path() -> Path:
    return Path(os.environ.get("LIVE_DIGITS_MODEL", DEFAULT_MODEL))


def quiet_tensorflow() -> None:
    """TensorFlow prints CUDA and oneDNN notes that mean nothing to a user."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@contextmanager
def muted_stderr():
    """TensorFlow and LiteRT print start-up notes from C++ (CUDA, oneDNN, "Created XNNPACK delegate") that no
    log level reaches; they would spoil the one-line errors. Errors still surface as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_keras():
    quiet_tensorflow()
    with muted_stderr():
        import keras
        import tensorflow as tf
    return tf, keras


class Classifier:
    """Turns a batch of 28x28 MNIST-style crops (uint8, white on black) into class probabilities.

    The LiteRT export is the fast path (about 0.1 ms a crop); the Keras model is the fallback.
    """

    def __init__(self, path: str | Path | None = None, prefer_tflite: bool = True, threads: int = 2):
        path = Path(path) if path is not None else default_model_path()
        tflite = path.with_suffix(".tflite")
        keras_file = path.with_suffix(".keras")
        if path.suffix not in (".keras", ".tflite"):
            raise UserError(f"model {path}: expected a .keras or .tflite file")
        if not path.exists() and not (tflite.exists() or keras_file.exists()):
            raise UserError(f"model {path} does not exist (train one with `live-digits train`)")
        self.path = path
        self._interpreter = None
        self._keras = None
        if prefer_tflite and tflite.exists():
            self._load_tflite(tflite, threads)
        else:
            self._load_keras(keras_file if keras_file.exists() else path)

    def _load_tflite(self, path: Path, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            with muted_stderr():
                self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
                self._interpreter.allocate_tensors()
        except Exception as e:
            raise UserError(f"model {path} is not a valid LiteRT model ({_first_line(e)})") from None
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        if tuple(self._input["shape"][1:3]) != (28, 28):
            raise UserError(f"model {path} does not take 28x28 digits (input shape {self._input['shape']})")
        self._batch = 0

    def _load_keras(self, path: Path) -> None:
        _, keras = import_keras()
        try:
            self._keras = keras.saving.load_model(path)
        except Exception as e:
            raise UserError(f"model {path} is not a valid Keras model ({_first_line(e)})") from None
        if tuple(self._keras.input_shape[1:3]) != (28, 28):
            raise UserError(f"model {path} does not take 28x28 digits (input shape {self._keras.input_shape})")

    @property
    def backend(self) -> str:
        return "litert" if self._interpreter is not None else "keras"

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """crops: (N, 28, 28) uint8 -> (N, classes) float32 probabilities; N may be 0."""
        crops = np.asarray(crops)
        if crops.ndim == 2:
            crops = crops[None]
        if len(crops) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        batch = crops.reshape(len(crops), 28, 28, 1).astype(np.float32)
        if self._keras is not None:
            return np.asarray(self._keras(batch, training=False), dtype=np.float32)
        if self._batch != len(batch):  # resizing costs a re-allocation: only when the count changes
            self._interpreter.resize_tensor_input(self._input["index"], batch.shape)
            with muted_stderr():
                self._interpreter.allocate_tensors()
            self._batch = len(batch)
        self._interpreter.set_tensor(self._input["index"], batch)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"]).copy()

    def predict_steady(self, crops: np.ndarray, unsure: float = UNSURE) -> np.ndarray:
        """Like `predict`, but a crop read less surely than `unsure` is read again shifted a pixel each way, and its
        five readings averaged: a second opinion where the first one wavers, at a cost only for those crops.
        Measured on tuning scenes: +0.2 to +0.4 points of digit recall and precision, ~10 more crops an image."""
        probs = self.predict(crops)
        unsure_ones = np.flatnonzero(probs.max(axis=1) < unsure)
        if len(unsure_ones) == 0:
            return probs
        variants = shifted(np.asarray(crops)[unsure_ones])  # (n, 4, 28, 28)
        again = self.predict(variants.reshape(-1, 28, 28)).reshape(len(unsure_ones), len(SHIFTS), -1)
        probs = probs.copy()
        probs[unsure_ones] = (probs[unsure_ones] + again.sum(axis=1)) / (len(SHIFTS) + 1)
        return probs

    @property
    def num_classes(self) -> int:
        if self._keras is not None:
            return int(self._keras.output_shape[-1])
        return int(self._output["shape"][-1])


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
