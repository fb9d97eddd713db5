"""Accuracy of a model on MNIST's test set: the figures in metrics.json and `live-digits evaluate`."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from live_digits.classify import NUM_CLASSES, Classifier


@dataclass
class Scores:
    accuracy: float
    per_class: list[float]
    confusion: np.ndarray  # rows: true digit 0-9; columns: predicted class 0-10 (10 = "not a digit")
    predictions: np.ndarray
    n: int

    def to_json(self) -> dict:
        return {
            "accuracy": round(self.accuracy, 6),
            "n": self.n,
            "per_class_accuracy": {str(d): round(a, 6) for d, a in enumerate(self.per_class)},
            "confusion_matrix": self.confusion.tolist(),
        }


def score(probs: np.ndarray, labels: np.ndarray) -> Scores:
    """A digit counts as right only when the argmax over all classes is that digit: a rejection is an error."""
    predictions = probs.argmax(axis=1)
    confusion = np.zeros((10, probs.shape[1]), np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class = (confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)).tolist()
    return Scores(float((predictions == labels).mean()), per_class, confusion, predictions, len(labels))


def predict_in_batches(classifier: Classifier, images: np.ndarray, batch: int = 500) -> np.ndarray:
    return np.concatenate([classifier.predict(images[i : i + batch]) for i in range(0, len(images), batch)])


def main(model: str, as_json: bool) -> None:
    from live_digits.data import load_mnist

    classifier = Classifier(model, prefer_tflite=str(model).endswith(".tflite"))
    _, (x_test, y_test) = load_mnist()
    scores = score(predict_in_batches(classifier, x_test), y_test)
    if as_json:
        print(json.dumps({"model": str(model), "backend": classifier.backend, **scores.to_json()}))
        return
    print(f"model     {model} ({classifier.backend}, {classifier.num_classes} classes)")
    print(f"accuracy  {scores.accuracy:.4%} on {scores.n} MNIST test digits")
    rejected = int(scores.confusion[:, NUM_CLASSES - 1].sum()) if classifier.num_classes == NUM_CLASSES else 0
    print(f"rejected  {rejected} as not a digit")
    print("per class " + "  ".join(f"{d}:{a:.2%}" for d, a in enumerate(scores.per_class)))
