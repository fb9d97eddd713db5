"""Scene crops: cut by the recognizer's own steps, labelled by the scene's truth, written with the digits given."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from live_digits import scenes
from live_digits.classify import NOT_A_DIGIT, Classifier
from live_digits.evaluation import iou_matrix
from live_digits.recognizer import Recognizer
from live_digits.scene_crops import (FIRST_TRAINING_SEED, candidate_crops, crops_of_scene, label_by_truth,
                                     make_scene_crops)
from live_digits.scenes import DigitPool, TruthDigit, render_scene


@pytest.fixture(scope="module")
def training_pool(mnist):
    (x_train, y_train), _ = mnist
    return DigitPool.of(x_train[:3000], y_train[:3000])


def test_a_box_gets_the_digit_it_covers_and_anything_else_is_not_a_digit():
    truth = [TruthDigit(4, (100, 100, 20, 30)), TruthDigit(7, (140, 100, 20, 30))]
    boxes = [
        (101, 100, 20, 29),  # the 4
        (141, 102, 18, 28),  # the 7
        (100, 100, 20, 12),  # the top of the 4: a fragment (IoU 0.4)
        (100, 100, 60, 30),  # the 4 and the 7 run together (IoU 0.33 with each)
        (400, 300, 20, 30),  # clutter
    ]
    assert label_by_truth(boxes, truth).tolist() == [4, 7, NOT_A_DIGIT, NOT_A_DIGIT, NOT_A_DIGIT]
    assert label_by_truth(boxes, []).tolist() == [NOT_A_DIGIT] * 5
    assert label_by_truth([], truth).tolist() == []


def test_the_crops_of_a_written_scene_carry_its_digits(training_pool):
    scene = render_scene(FIRST_TRAINING_SEED, "plain", pool=training_pool)
    boxes, crops = candidate_crops(scene.image)
    labels = label_by_truth(boxes, scene.digits)
    assert crops.shape == (len(boxes), 28, 28) and crops.dtype == np.uint8
    written = Counter(d.digit for d in scene.digits)
    read = Counter(int(label) for label in labels if label != NOT_A_DIGIT)
    # Boxes are in the frame's pixels like the truth's: most written digits are found, and only those.
    assert set(read) <= set(written)
    assert sum(read.values()) >= len(scene.digits) // 2
    iou = iou_matrix(boxes, [d.box for d in scene.digits])
    for i, label in enumerate(labels):
        if label != NOT_A_DIGIT:
            assert scene.digits[int(iou[i].argmax())].digit == label and iou[i].max() >= 0.5
            assert crops[i].max() == 255  # a digit's crop holds its ink, in MNIST's white on black


def test_scenes_without_paper_give_only_not_a_digit(training_pool):
    seeds = range(FIRST_TRAINING_SEED, FIRST_TRAINING_SEED + 5)
    cuts = [crops_of_scene(seed, training_pool, kind="no_paper") for seed in seeds]
    labels = np.concatenate([cut.labels for cut in cuts])
    assert len(labels) > 0  # clutter that the segmenter takes for marks
    assert set(labels.tolist()) == {NOT_A_DIGIT}
    assert all(cut.per_class()["not_a_digit"] == sum(cut.per_class().values()) == len(cut.labels) for cut in cuts)


def test_the_crops_are_exactly_those_the_recognizer_classifies(training_pool, model_path):
    image = render_scene(FIRST_TRAINING_SEED + 1, "ruled", pool=training_pool).image
    boxes, crops = candidate_crops(image)
    detections = Recognizer(Classifier(model_path)).detect(image)
    assert detections
    probs = Classifier(model_path).predict(crops)
    for detection in detections:
        i = boxes.index(tuple(detection.box))
        np.testing.assert_allclose(probs[i], detection.probs, atol=1e-5)


def test_scenes_with_a_pool_never_touch_the_test_digits(training_pool):
    scenes.test_digit_pool.cache_clear()
    for seed in range(FIRST_TRAINING_SEED, FIRST_TRAINING_SEED + 4):
        render_scene(seed, pool=training_pool, size=(640, 360))
    assert scenes.test_digit_pool.cache_info().currsize == 0
    render_scene(0, "plain", size=(640, 360))  # no pool: MNIST's test digits, as evaluation wants
    assert scenes.test_digit_pool.cache_info().currsize == 1


def test_a_pool_lacking_a_digit_is_refused(mnist):
    (x_train, y_train), _ = mnist
    no_sevens = y_train[:500] != 7
    with pytest.raises(ValueError, match="7"):
        DigitPool.of(x_train[:500][no_sevens], y_train[:500][no_sevens])


def test_many_scenes_give_crops_of_every_kind_in_seed_order(training_pool):
    seeds = range(FIRST_TRAINING_SEED, FIRST_TRAINING_SEED + 6)
    together = make_scene_crops(seeds, training_pool, progress=False)
    one_by_one = [crops_of_scene(seed, training_pool) for seed in seeds]
    assert np.array_equal(together.crops, np.concatenate([c.crops for c in one_by_one]))
    assert np.array_equal(together.labels, np.concatenate([c.labels for c in one_by_one]))
    counts = together.per_class()
    assert counts["not_a_digit"] > 0 and sum(v for k, v in counts.items() if k != "not_a_digit") > 0
    assert len(make_scene_crops([], training_pool, progress=False).labels) == 0
