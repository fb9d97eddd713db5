"""The recognizer: the single entry point that turns an image into digits and numbers.

segment (find candidates) -> normalize (MNIST-style crops) -> classify (one batch) -> read (digits, lines, numbers).
`detect` stops before the decision so that a tracker can smooth the probabilities across frames and then `read`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from live_digits.classify import NOT_A_DIGIT, Classifier
from live_digits.normalize import crops_to_mnist
from live_digits.reading import read
from live_digits.results import Detection, Digit, Result
from live_digits.segment import WORK_SIDE, segment

STILL_WORK_SIDE = 1280  # photos have time for a finer look than live video: small digits on a big page survive


class Recognizer:
    """Recognizer(model=None, confidence=0.5). `model` is a path (.keras or .tflite), a loaded Classifier, or None
    for the default model. A crop is a digit when its most likely class is a digit with at least `confidence`.

    `work_side` is the long side, in pixels, at which frames are segmented: the default suits live video; still
    photos read better at STILL_WORK_SIDE.
    """

    def __init__(self, model: str | Path | Classifier | None = None, confidence: float = 0.5, work_side: int = WORK_SIDE):
        self.classifier = model if isinstance(model, Classifier) else Classifier(model)
        self.confidence = confidence
        self.work_side = work_side
        self.last_timings: dict[str, float] = {}
        self.last_mask: np.ndarray | None = None
        self.last_segmentation = None

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Every candidate in the image with its 11 class probabilities (0-9, then not-a-digit)."""
        start = time.perf_counter()
        found = segment(image, self.work_side)
        cut = time.perf_counter()
        crops = crops_to_mnist(found.ink, found.work_boxes, found.labels, found.ids)
        normalized = time.perf_counter()
        probs = self.classifier.predict(crops)
        done = time.perf_counter()
        self.last_timings = {"segment": cut - start, "normalize": normalized - cut, "classify": done - normalized}
        self.last_mask = found.mask
        self.last_segmentation = found
        return [Detection(box, p) for box, p in zip(found.boxes, probs)]

    def read(self, detections: list[Detection]) -> Result:
        """Keep the confident digits and read them into numbers, in reading order."""
        return read(self.digits(detections))

    def digits(self, detections: list[Detection]) -> list[Digit]:
        kept = []
        for detection in detections:
            probs = np.asarray(detection.probs)
            best = int(np.argmax(probs))
            if best != NOT_A_DIGIT and probs[best] >= self.confidence:
                kept.append(Digit(best, float(probs[best]), detection.box))
        return kept

    def recognize(self, image: np.ndarray) -> Result:
        return self.read(self.detect(image))
