"""The detect workers: real model, real processes, frames of a rendered scene."""

import time
from typing import Iterator

import pytest

from live_digits.detect_pool import DetectPool, ProcessDetector
from live_digits.recognizer import Recognizer
from live_digits.scenes import render_scene
from live_digits.sources import Frame


def scene_frames(count: int) -> Iterator[Frame]:
    """One rendered scene, frame after frame: the pool takes frames from any iterable, no video needed."""
    image = render_scene(seed=11, size=(320, 240)).image
    for index in range(count):
        yield Frame(index, index / 30, image.copy(), time.perf_counter())


def test_a_detect_process_that_dies_is_an_error_not_a_hang(model_path):
    detector = ProcessDetector(Recognizer(str(model_path)), keep_mask=False)
    with DetectPool(scene_frames(10), [detector], ahead=2) as pool:
        assert next(pool).frame.index == 0
        detector._process.kill()
        with pytest.raises((EOFError, OSError)):
            for _ in pool:
                pass
