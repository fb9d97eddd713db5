"""What the recognizer returns, and the JSON lines contract that other tools depend on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the original input


@dataclass(frozen=True)
class Detection:
    """A candidate cut from one frame, before any decision: its box and the classifier's probabilities
    over the 11 classes (0-9, then "not a digit"). The tracker smooths these across frames."""

    box: Box
    probs: np.ndarray
    track_id: int | None = None
    angle: float = 0.0  # degrees its line of writing is turned (counter-clockwise as seen): its sheet's turn


@dataclass(frozen=True)
class Digit:
    digit: int
    confidence: float
    box: Box
    angle: float = 0.0  # as Detection's: the reading order follows it; not part of the JSON contract

    def to_json(self) -> dict:
        return {"digit": int(self.digit), "confidence": round(float(self.confidence), 4), "box": [int(v) for v in self.box]}


@dataclass(frozen=True)
class Number:
    text: str
    box: Box

    def to_json(self) -> dict:
        return {"text": self.text, "box": [int(v) for v in self.box]}


@dataclass
class Result:
    """Digits and the numbers they form, numbers in reading order (top to bottom, then left to right)."""

    digits: list[Digit] = field(default_factory=list)
    numbers: list[Number] = field(default_factory=list)

    def to_json(self, **where) -> dict:
        """One JSON line: `where` is `source=PATH` for an image, or `frame=I, time_s=T` for a video."""
        return {**where, "digits": [d.to_json() for d in self.digits], "numbers": [n.to_json() for n in self.numbers]}
