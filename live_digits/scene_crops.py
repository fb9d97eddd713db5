"""Training crops cut out of rendered scenes by the recognizer's own segment and normalize steps.

MNIST's digits are scanned, clean and centred; what the classifier meets at inference are crops that segment.py
and normalize.py cut out of a camera frame: digits with a broken stroke or a bit of ruled line, fragments, two
digits run together, specks and clutter. Rendering scenes whose truth is known and cutting them up with the same
code gives crops that look exactly as they will at inference, each labelled by the truth: a crop whose box matches
a written digit (IoU >= 0.5, the same test the scene evaluation scores by) is that digit; everything else (clutter,
a fragment of a digit, digits merged into one blob) is "not a digit".

Training scenes draw their handwriting from the trainer's own training digits (a `DigitPool`), never from MNIST's
test set, and use seeds far from those kept for tuning and evaluation.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

from live_digits.classify import NOT_A_DIGIT, NUM_CLASSES
from live_digits.evaluation import MIN_IOU, iou_matrix
from live_digits.recognizer import crops_of, input_box
from live_digits.results import Box
from live_digits.scenes import FIRST_EVALUATION_SEED, DigitPool, TruthDigit, render_scene
from live_digits.segment import segment, to_uint8

# Tuning uses seeds below FIRST_EVALUATION_SEED (10,000) and evaluation a few thousand from it: training keeps
# well clear, and its validation scenes are apart from its training scenes.
FIRST_TRAINING_SEED = 100 * FIRST_EVALUATION_SEED
FIRST_VALIDATION_SEED = 200 * FIRST_EVALUATION_SEED

SCENES_PER_WORKER_STARTUP = 25  # a worker process costs about as much to start as rendering this many scenes


@dataclass
class LabelledCrops:
    crops: np.ndarray  # (M, 28, 28) uint8, white on black, as the classifier sees them
    labels: np.ndarray  # (M,) int: 0-9, or NOT_A_DIGIT

    def per_class(self) -> dict[str, int]:
        """How many crops of each class, keyed "0".."9" and "not_a_digit"."""
        counts = np.bincount(self.labels, minlength=NUM_CLASSES)
        return {("not_a_digit" if c == NOT_A_DIGIT else str(c)): int(counts[c]) for c in range(NUM_CLASSES)}


def candidate_crops(image: np.ndarray) -> tuple[list[Box], np.ndarray]:
    """Every crop the Recognizer classifies for `image`, in its order: (boxes in the image's pixels, crops).

    The same steps as `Recognizer.detect` up to the classifier: each candidate whole, then the pieces it may be
    cut into; each box as the Recognizer reports it (tightened in the input's pixels), since that is what
    evaluation matches against the truth."""
    found = segment(image)
    boxes, crops = crops_of(found)
    picture = to_uint8(image)
    return [input_box(picture, found, box) for box in boxes], crops


def label_by_truth(boxes: list[Box], truth: list[TruthDigit]) -> np.ndarray:
    """Each box's class: the digit it matches (IoU >= MIN_IOU with the truth box it overlaps most), else
    NOT_A_DIGIT: a box on no digit, or one that covers a digit only in part (a fragment, digits merged)."""
    labels = np.full(len(boxes), NOT_A_DIGIT, np.int64)
    if not boxes or not truth:
        return labels
    iou = iou_matrix(boxes, [t.box for t in truth])
    best = iou.argmax(axis=1)
    digits = np.array([t.digit for t in truth])
    matched = iou[np.arange(len(boxes)), best] >= MIN_IOU
    labels[matched] = digits[best[matched]]
    return labels


def crops_of_scene(seed: int, pool: DigitPool, kind: str | None = None) -> LabelledCrops:
    """The labelled crops of the scene rendered from `seed` with `pool`'s handwriting, at the default webcam size
    (`kind`: None lets the seed pick one, as training does)."""
    scene = render_scene(seed, kind, pool=pool)
    boxes, crops = candidate_crops(scene.image)
    return LabelledCrops(crops, label_by_truth(boxes, scene.digits))


def make_scene_crops(seeds: Iterable[int], pool: DigitPool, workers: int | None = None, progress: bool = True,
                     desc: str = "scene crops") -> LabelledCrops:
    """The labelled crops of every scene in `seeds`, in seed order. `workers`: processes (None: one per CPU
    core when there are scenes enough to pay for starting them)."""
    from tqdm import tqdm

    seeds = [int(s) for s in seeds]
    if workers is None:
        workers = min(len(os.sched_getaffinity(0)), len(seeds) // SCENES_PER_WORKER_STARTUP)
    parts = []
    with tqdm(total=len(seeds), desc=desc, unit="scene", disable=not progress) as bar:
        for part in _crops_of_seeds(seeds, pool, workers):
            parts.append(part)
            bar.update()
            bar.set_postfix(crops=sum(len(p.labels) for p in parts), refresh=False)
    if not parts:
        return LabelledCrops(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64))
    return LabelledCrops(np.concatenate([p.crops for p in parts]), np.concatenate([p.labels for p in parts]))


def _crops_of_seeds(seeds: list[int], pool: DigitPool, workers: int) -> Iterator[LabelledCrops]:
    if workers <= 1:
        for seed in seeds:
            yield crops_of_scene(seed, pool)
        return
    # Spawned, not forked: the trainer has TensorFlow's threads running, and a fork copies their locks.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(pool,)) as processes:
        yield from processes.imap(_crops_in_worker, seeds, chunksize=4)


_worker_pool: DigitPool | None = None


def _start_worker(pool: DigitPool) -> None:
    global _worker_pool
    _worker_pool = pool
    cv2.setNumThreads(1)  # the processes share the cores already


def _crops_in_worker(seed: int) -> LabelledCrops:
    return crops_of_scene(seed, _worker_pool)
