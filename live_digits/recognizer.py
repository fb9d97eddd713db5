"""The recognizer: the single entry point that turns an image into digits and numbers.

segment (find candidates) -> normalize (MNIST-style crops) -> classify (one batch) -> read (digits, lines, numbers).
`detect` stops before the decision so that a tracker can smooth the probabilities across frames and then `read`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from live_digits.classify import NOT_A_DIGIT, Classifier
from live_digits.normalize import FinerPixels, crops_to_mnist
from live_digits.reading import read
from live_digits.results import Detection, Digit, Result
from live_digits.segment import (LARGEST_SHEET, LEAST_TURN, WORK_SIDE, Band, BlobAxis, Candidate, Segmentation,
                                 closer_view, cut_sheet_angle, segment, sheet_angle, split_points, tighten_box, to_uint8,
                                 writing_angles)

# Photos are segmented at the live working resolution too: measured on the scenes, a finer look adds more grain,
# line crumbs and false digits than it recovers small ones.
STILL_WORK_SIDE = WORK_SIDE


class Recognizer:
    """Recognizer(model=None, confidence=0.5). `model` is a path (.keras or .tflite), a loaded Classifier, or None
    for the default model. A crop is a digit when its most likely class is a digit with at least `confidence`.

    `work_side` is the long side, in pixels, at which frames are segmented. `steady` reads crops a second time: the
    unsure ones shifted (`Classifier.predict_steady`), the small ones from the input's own pixels (`_finer_look`),
    and a frame without writing once more, on the small sheets in it (`detect`). Worth its cost (about 4 ms an
    image, a second segmentation where nothing is written) on a still; in video the tracker steadies the labels
    across frames.
    """

    def __init__(self, model: str | Path | Classifier | None = None, confidence: float = 0.5, work_side: int = WORK_SIDE,
                 steady: bool = False):
        self.classifier = model if isinstance(model, Classifier) else Classifier(model)
        self.confidence = confidence
        self.work_side = work_side
        self.steady = steady
        self.last_timings: dict[str, float] = {}
        self.last_segmentation = None

    @property
    def last_mask(self) -> np.ndarray | None:
        """The ink mask of the last detect, placed in the whole frame at the working scale (a "show ink" view)."""
        return None if self.last_segmentation is None else self.last_segmentation.frame_mask()

    @classmethod
    def for_stills(cls, model: str | Path | Classifier | None = None, confidence: float = 0.5) -> Recognizer:
        """The settings for photos, where no later frame can correct a reading."""
        return cls(model, confidence, work_side=STILL_WORK_SIDE, steady=True)

    def classify(self, crops: np.ndarray) -> np.ndarray:
        return self.classifier.predict_steady(crops) if self.steady else self.classifier.predict(crops)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Every candidate in the image with its 11 class probabilities (0-9, then not-a-digit). Small writing is
        read again in a closer view of it (`writing_view`), where the input has the pixels."""
        picture = to_uint8(image)
        timings = {"segment": 0.0, "normalize": 0.0, "classify": 0.0}
        found, boxes, probs = self._read(picture, None, timings)
        held = writing(found, probs, self.confidence)
        if held < WRITING_AT_LEAST and (found.paper or self.steady):
            # A bright wall or card can pass for the sheet while the written one is missed, and a shadow's band across
            # a page can part it into two "sheets" with the writing in neither: where the sheets found hold no
            # writing, the whole frame is read too. Where no sheet was found, one held far off may be too small to
            # stand out among the things in view, its ink lost in the grain of the whole frame: on a still, the
            # small sheets are read (in video it would cost each frame without writing a second segmentation, and
            # fresh rendered videos of small, far sheets read at an F1 of 0.999 without it). Either is taken when it
            # holds that much more writing.
            other = (self._read(picture, None, timings, sheets=False) if found.paper
                     else self._read(picture, None, timings, smallest_sheet=SMALL_SHEET))
            if writing(other[0], other[2], self.confidence) - held >= WRITING_AT_LEAST:
                found, boxes, probs = other
        view = writing_view(picture.shape, found, boxes, probs, self.confidence, self.work_side)
        if view is not None:
            closer = self._read(picture, view, timings)
            # Faint strokes may drown in the grain of the finer pixels: a view that reads fewer digits surely is
            # no closer look at them.
            if same_writing(found, closer[0]) and (sure_digits(closer[0], closer[2], self.confidence)
                                                   >= sure_digits(found, probs, self.confidence)):
                found, boxes, probs = closer
        start = time.perf_counter()
        probs = self._finer_look(found, picture, boxes, probs)
        candidates, boxes, probs = self._second_look(found, boxes, probs)
        classified = time.perf_counter()
        chosen = choose_cuts(candidates, boxes, probs)
        # The reading order follows a sheet turned however little: across a wide page, a small turn is a line.
        angles = turns_of(found, np.array([box for box, _ in chosen], np.int32).reshape(-1, 4), least=0.0)
        detections = [Detection(input_box(picture, found, box), p, angle=float(angle))
                      for (box, p), angle in zip(chosen, angles)]
        # Fitting the boxes to the marks at the input's resolution is segmentation's work, done last: counted there,
        # so that the stages add up to what a frame costs.
        timings["classify"] += classified - start
        timings["segment"] += time.perf_counter() - classified
        self.last_timings = timings
        self.last_segmentation = found
        return detections

    def _read(self, picture: np.ndarray, view, timings: dict[str, float], sheets: bool = True,
              smallest_sheet: float = LARGEST_SHEET):
        """(segmentation, crop boxes, their probabilities) of the picture, or of a closer `view` of it (`sheets`:
        False reads the whole frame, sheets or not; `smallest_sheet`: as `segment`'s); each stage's time added to
        `timings`."""
        start = time.perf_counter()
        found = segment(picture, self.work_side, view, sheets, smallest_sheet)
        cut = time.perf_counter()
        boxes, crops = crops_of(found)
        normalized = time.perf_counter()
        probs = self.classify(crops)
        timings["segment"] += cut - start
        timings["normalize"] += normalized - cut
        timings["classify"] += time.perf_counter() - normalized
        start = time.perf_counter()
        found, boxes, probs = self._turned_as_its_edges_say(found, boxes, probs)
        timings["classify"] += time.perf_counter() - start
        return found, boxes, probs

    def _turned_as_its_edges_say(self, found: Segmentation, boxes: np.ndarray, probs: np.ndarray):
        """(segmentation, boxes, probs) with the writing on a sheet that the frame cuts read again turned as the
        sheet's own edges say (`cut_sheet_angle`), where they disagree with the rectangle fitted to it, and kept so
        when its crops read more surely on average: a wrong sheet (a shadow's edge, a desk) has edges too, and only
        the writing can tell."""
        fitted = tuple(sheet_angle(outline) for outline in found.paper)
        edges = [cut_sheet_angle(outline, found.mask.shape) for outline in found.paper]
        turns = tuple(fit if edge is None or abs(edge - fit) < LEAST_TURN else edge for fit, edge in zip(fitted, edges))
        if turns == fitted:
            return found, boxes, probs
        turned = replace(found, turns=turns)
        moved = turns_of(turned, boxes) != turns_of(found, boxes)
        if not moved.any():
            return found, boxes, probs
        new_probs = self.classify(crops_of(turned)[1])
        before = np.mean([digit_score(p) for p in probs[moved]])
        after = np.mean([digit_score(p) for p in new_probs[moved]])
        return (turned, boxes, new_probs) if after >= before + TURN_MARGIN else (found, boxes, probs)

    def _finer_look(self, found: Segmentation, picture: np.ndarray, boxes: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """`probs` with the small crops read a second time, cut from the input's own pixels where it has at least
        1/FINER_SCALE times the working ones, and the two readings averaged: on tuning scenes the average beat either
        reading alone (the sharper crop reads more digits, the working one rejects more clutter)."""
        # A noisy frame's reduced copy averaged the noise away: its own pixels would give noisier crops, not finer.
        if not self.steady or found.scale > FINER_SCALE or found.noisy or len(boxes) == 0:
            return probs
        small = np.flatnonzero(boxes[:, 2:].max(axis=1) < FINER_BELOW)
        if len(small) == 0:
            return probs
        _, labels, bands = crop_list(found.candidates)
        finer = FinerPixels(found.in_view(picture), found.scale)
        crops = crops_to_mnist(found.ink, boxes[small], found.labels, labels[small],
                               turns_of(found, boxes[small]), finer, [bands[i] for i in small])
        probs = probs.copy()
        probs[small] = (probs[small] + self.classify(crops)) / 2
        return probs

    def _second_look(self, found, boxes: np.ndarray, probs: np.ndarray):
        """(candidates, boxes, probs) with a second chance for the candidates too narrow to be offered cuts that
        do not read surely as a digit: two narrow digits touching make a blob as wide as a 0, often read as "not a
        digit" (merged digits are, in training). Each such blob is offered the cut in two, classified in a second,
        small batch."""
        candidates = found.candidates
        count = len(candidates)
        turns = turns_of(found, boxes[:count])
        retry = {}
        for i, candidate in enumerate(candidates):
            if candidate.pieces or digit_score(probs[i]) >= SURE_WHOLE:
                continue
            # As wide as tall along its writing's rows (on a turned sheet, not the frame's).
            along = BlobAxis.of(found.labels, candidate.box, candidate.label, True, float(turns[i]))
            if along is not None and len(along.ink) > 0.9 * along.breadth:
                pieces = along.cut(split_points(along.ink, 2))
                if len(pieces) == 2:
                    retry[i] = tuple(pieces)
        if not retry:
            return candidates, boxes, probs
        new_boxes = np.array([box for pieces in retry.values() for box, _ in pieces], np.int32).reshape(-1, 4)
        new_labels = np.array([candidates[i].label for i, pieces in retry.items() for _ in pieces], np.int32)
        new_bands = [band for pieces in retry.values() for _, band in pieces]
        new_probs = self.classify(crops_to_mnist(found.ink, new_boxes, found.labels, new_labels,
                                                 turns_of(found, new_boxes), bands=new_bands))
        # A mark that is no digit often halves into two strokes that look like 1s: the halves must read surely.
        sure = [min(digit_score(p) for p in new_probs[2 * k : 2 * k + 2]) >= SURE_HALVES for k in range(len(retry))]
        keep = np.repeat(sure, 2)
        retry = {i: pieces for (i, pieces), ok in zip(retry.items(), sure) if ok}
        if not retry:
            return candidates, boxes, probs
        new_boxes, new_probs = new_boxes[keep], new_probs[keep]
        # Rebuilt in crop_list's order: every whole, then each candidate's pieces in turn.
        updated = [replace(c, pieces=tuple(box for box, _ in retry[i]), bands=tuple(band for _, band in retry[i]))
                   if i in retry else c for i, c in enumerate(candidates)]
        all_boxes, all_probs = [boxes[:count]], [probs[:count]]
        old_next, new_next = count, 0
        for i, candidate in enumerate(updated):
            n = len(candidate.pieces)
            if i in retry:
                all_boxes.append(new_boxes[new_next : new_next + n])
                all_probs.append(new_probs[new_next : new_next + n])
                new_next += n
            else:
                all_boxes.append(boxes[old_next : old_next + n])
                all_probs.append(probs[old_next : old_next + n])
                old_next += n
        return updated, np.concatenate(all_boxes), np.concatenate(all_probs)

    def read(self, detections: list[Detection]) -> Result:
        """Keep the confident digits and read them into numbers, in reading order."""
        return read(self.digits(detections))

    def digits(self, detections: list[Detection]) -> list[Digit]:
        """The detections whose most likely class is a digit, at least `confidence` likely. (Letters of a word
        need no rule of their own: measured on tuning scenes, the learned "not a digit" rejects them, and a rule
        dropping groups as rich in no-digits as in digits took as many true digits as false ones.)"""
        digits = []
        for detection in detections:
            probs = np.asarray(detection.probs)
            best = int(np.argmax(probs))
            if best != NOT_A_DIGIT and probs[best] >= self.confidence:
                digits.append(Digit(best, float(probs[best]), detection.box, detection.angle))
        return digits

    def recognize(self, image: np.ndarray) -> Result:
        return self.read(self.detect(image))


def crop_list(candidates: list[Candidate]) -> tuple[np.ndarray, np.ndarray, list[Band | None]]:
    """(boxes, labels, bands) of every crop to classify: each candidate whole, then the pieces of those that may be
    cut; a piece's band (`Candidate.bands`) or None where its box says what it takes."""
    boxes, labels, bands = [], [], []
    for candidate in candidates:
        boxes.append(candidate.box)
        labels.append(candidate.label)
        bands.append(None)
    for candidate in candidates:
        boxes.extend(candidate.pieces)
        labels.extend([candidate.label] * len(candidate.pieces))
        bands.extend(candidate.bands or [None] * len(candidate.pieces))
    return np.array(boxes, np.int32).reshape(-1, 4), np.array(labels, np.int32), bands


def crops_of(found: Segmentation) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, 28x28 MNIST-style crops) of everything to classify, in `crop_list`'s order, in working pixels; the
    writing on a turned sheet is turned upright."""
    boxes, labels, bands = crop_list(found.candidates)
    return boxes, crops_to_mnist(found.ink, boxes, found.labels, labels, turns_of(found, boxes), bands=bands)


def turns_of(found: Segmentation, boxes: np.ndarray, least: float = LEAST_TURN) -> np.ndarray:
    """(N,) degrees the writing in each working box of `found` is turned (`writing_angles`: its sheets' turns, or
    with none, the writing's own layout)."""
    return writing_angles(found.paper, boxes, least, found.turns, found.layout_turn)


def input_box(picture: np.ndarray, found: Segmentation, box) -> tuple[int, int, int, int]:
    """A working-resolution box as reported: in the input's pixels, tightened to its mark there."""
    return tighten_box(picture, found.to_input(tuple(int(v) for v in box)))


def digit_score(probs: np.ndarray) -> float:
    """How surely a crop is one digit: its best digit's probability, or 0 when "not a digit" wins."""
    best = int(np.argmax(probs))
    return 0.0 if best == NOT_A_DIGIT else float(probs[best])


WRITING_AT_LEAST = 3  # digits other than 1s read surely (`writing`): the least that counts as writing
SMALL_SHEET = 0.02  # of the frame: the least area of a sheet looked for where none larger was found (LARGEST_SHEET)
TURN_MARGIN = 0.05  # how much more surely, on average, the writing must read turned as a sheet's edges say


# Digits this short (median, in working pixels) are read a second time in a closer view of the writing, where the
# input has more pixels there: at the frame's scale they merge and lose their strokes.
SMALL_WRITING = 16
WRITING_MARGIN = 4.0  # in digit heights: room around the digits read, for those that were not
SAME_HEIGHT = 1.5  # how far a closer view's digit height may stray from the one its scale leads to expect


def sure_classes(found: Segmentation, probs: np.ndarray, confidence: float) -> np.ndarray:
    """The digits that the candidates in `found`, whole (the first of their crops, `crop_list`), read as at least
    `confidence` surely, one for each such candidate."""
    whole = probs[: len(found.candidates)]
    best = whole.argmax(axis=1)
    return best[(best != NOT_A_DIGIT) & (whole.max(axis=1) >= confidence)]


def sure_digits(found: Segmentation, probs: np.ndarray, confidence: float) -> int:
    """How many of the candidates in `found`, whole, read as a digit at least `confidence` surely."""
    return len(sure_classes(found, probs, confidence))


def writing(found: Segmentation, probs: np.ndarray, confidence: float) -> int:
    """How much writing the candidates in `found` hold: the digits other than 1s among them read surely (a desk's
    grain, a fold or an object's edge reads as 1s, a few other digits among them at most)."""
    return int(np.count_nonzero(sure_classes(found, probs, confidence) != 1))


def same_writing(found: Segmentation, closer: Segmentation) -> bool:
    """Whether a closer view saw the writing that `found` saw, only larger: its digits' height as much larger as its
    scale. Cut out of a textured desk, a view can take the desk's grain, broken at its edges, for strokes."""
    expected = found.digit_height * closer.scale / found.scale
    return expected > 0 and 1 / SAME_HEIGHT <= closer.digit_height / expected <= SAME_HEIGHT


def writing_view(shape: tuple[int, ...], found: Segmentation, boxes: np.ndarray, probs: np.ndarray,
                 confidence: float, work_side: int = WORK_SIDE) -> tuple[tuple[int, int, int, int], float] | None:
    """A closer view (`closer_view`, grown to a whole frame's pixels) about the digits read in `found` (its crops,
    whole or cut: `boxes`, `probs`), when they are small and the input holds more detail around them than `found`
    saw; else None. Not in a noisy frame: its reduced copy averaged the noise away, and its own pixels would bury
    faint strokes in it."""
    if found.noisy:
        return None
    sure = [i for i in range(len(boxes)) if digit_score(probs[i]) >= confidence]
    if not sure:
        return None
    digits = boxes[sure]
    height = float(np.median(digits[:, 3]))
    if height >= SMALL_WRITING:
        return None
    pad = WRITING_MARGIN * height
    x0, y0 = digits[:, 0].min() - pad, digits[:, 1].min() - pad
    x1, y1 = (digits[:, 0] + digits[:, 2]).max() + pad, (digits[:, 1] + digits[:, 3]).max() + pad
    view = closer_view(shape, found.to_input((x0, y0, x1 - x0, y1 - y0)), work_side, grow=True)
    return view if view is not None and view[1] > 1.01 * found.scale else None


# A crop this small (long side, in working pixels) is read again from the input's own pixels, where the input has at
# least 1/FINER_SCALE times the working ones.
FINER_BELOW = 24
FINER_SCALE = 0.75

SURE_WHOLE = 0.5  # a candidate read less surely than this as one digit is looked at again as two
SURE_HALVES = 0.9
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
