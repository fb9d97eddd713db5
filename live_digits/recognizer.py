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
from live_digits.reading import read, without_words
from live_digits.results import Detection, Digit, Result
from live_digits.segment import WORK_SIDE, Candidate, segment, tighten_box, to_uint8

# Photos are segmented at the live working resolution too: measured on the scenes, a finer look adds more grain,
# line crumbs and false digits than it recovers small ones.
STILL_WORK_SIDE = WORK_SIDE


class Recognizer:
    """Recognizer(model=None, confidence=0.5). `model` is a path (.keras or .tflite), a loaded Classifier, or None
    for the default model. A crop is a digit when its most likely class is a digit with at least `confidence`.

    `work_side` is the long side, in pixels, at which frames are segmented.
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
        boxes, labels = crop_list(found.candidates)
        crops = crops_to_mnist(found.ink, boxes, found.labels, labels)
        normalized = time.perf_counter()
        probs = self.classifier.predict(crops)
        done = time.perf_counter()
        self.last_timings = {"segment": cut - start, "normalize": normalized - cut, "classify": done - normalized}
        self.last_mask = found.mask
        self.last_segmentation = found
        picture = to_uint8(image)
        return [Detection(tighten_box(picture, found.to_input(box)), p) for box, p in choose_cuts(found.candidates, boxes, probs)]

    def read(self, detections: list[Detection]) -> Result:
        """Keep the confident digits, drop those that are letters of a word, and read the rest into numbers, in
        reading order."""
        digits, others = self.sort(detections)
        return read(without_words(digits, others))

    def digits(self, detections: list[Detection]) -> list[Digit]:
        return self.sort(detections)[0]

    def sort(self, detections: list[Detection]) -> tuple[list[Digit], list[Detection]]:
        """(the confident digits, the rest: marks that are no digit or not surely one)."""
        digits, others = [], []
        for detection in detections:
            probs = np.asarray(detection.probs)
            best = int(np.argmax(probs))
            if best != NOT_A_DIGIT and probs[best] >= self.confidence:
                digits.append(Digit(best, float(probs[best]), detection.box))
            else:
                others.append(detection)
        return digits, others

    def recognize(self, image: np.ndarray) -> Result:
        return self.read(self.detect(image))


def crop_list(candidates: list[Candidate]) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, labels) of every crop to classify: each candidate whole, then the pieces of those that may be cut."""
    boxes, labels = [], []
    for candidate in candidates:
        boxes.append(candidate.box)
        labels.append(candidate.label)
    for candidate in candidates:
        boxes.extend(candidate.pieces)
        labels.extend([candidate.label] * len(candidate.pieces))
    return np.array(boxes, np.int32).reshape(-1, 4), np.array(labels, np.int32)


def digit_score(probs: np.ndarray) -> float:
    """How surely a crop is one digit: its best digit's probability, or 0 when "not a digit" wins."""
    best = int(np.argmax(probs))
    return 0.0 if best == NOT_A_DIGIT else float(probs[best])


SURE_PIECES = 0.5  # a blob shaped like several digits is cut when each piece reads as a digit at least this surely


def choose_cuts(candidates: list[Candidate], boxes: np.ndarray, probs: np.ndarray) -> list[tuple[tuple, np.ndarray]]:
    """(box, probs) per digit: a candidate that may hold touching digits is cut the way whose weakest piece reads
    most surely as a digit, when that piece reads more surely than the whole does (or surely enough, when its
    shape already says "several"); else it stays whole. `boxes` and `probs` are in `crop_list`'s order."""
    chosen = []
    next_piece = len(candidates)
    for i, candidate in enumerate(candidates):
        best, best_weakest = None, 0.0
        for way in candidate.cuttings():
            pieces = range(next_piece, next_piece + len(way))
            next_piece += len(way)
            weakest = min(digit_score(probs[j]) for j in pieces)
            if best is None or weakest > best_weakest:
                best, best_weakest = pieces, weakest
        if best is not None and best_weakest >= SURE_PIECES and (candidate.several or best_weakest > digit_score(probs[i])):
            chosen.extend((tuple(int(v) for v in boxes[j]), probs[j]) for j in best)
        else:
            chosen.append((tuple(int(v) for v in boxes[i]), probs[i]))
    return chosen
