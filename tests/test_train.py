"""The quick training path, end to end, into a temporary folder."""

import json
from dataclasses import replace

import numpy as np
import pytest

from live_digits.classify import Classifier
from live_digits.cli import main


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    assert main(["train", "--quick", "--scenes", "2", "--out", str(out)]) == 0
    return out


def test_quick_training_writes_model_export_metrics_and_plots(quick_run):
    for name in ("live_digits.keras", "live_digits.tflite", "metrics.json", "curves.png", "confusion.png",
                 "samples.png", "misclassified.png"):
        assert (quick_run / name).stat().st_size > 0, name
    assert not (quick_run / "checkpoint").exists()  # a finished run leaves no checkpoint behind
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    assert metrics["test"]["n"] == 10000
    assert len(metrics["test"]["confusion_matrix"]) == 10
    # A few hundred steps already learn far more than chance.
    assert metrics["test_accuracy"] > 0.8
    assert 0 <= metrics["european_1_7_accuracy"] <= 1


def test_scene_crops_join_training_and_are_counted_per_class(quick_run):
    metrics = json.loads((quick_run / "metrics.json").read_text())
    scene_crops = metrics["scene_crops"]
    assert scene_crops["scenes"] == {"train": 2, "validation": 1}
    assert set(scene_crops["train"]) == {*map(str, range(10)), "not_a_digit"}
    assert sum(scene_crops["train"].values()) > 0 and sum(scene_crops["validation"].values()) > 0
    assert metrics["recipe"]["scenes"] == 2
    assert 0 <= metrics["scene_crop_validation_accuracy"] <= 1


def test_training_scenes_are_written_with_training_digits_only(mnist):
    from live_digits.recipes import RECIPES, quick_recipe
    from live_digits.train import make_splits

    (x_train, _), (x_test, _) = mnist
    splits = make_splits(replace(quick_recipe(RECIPES["camera"]), scenes=1), seed=7, quick=True, progress=False)
    test_images = {image.tobytes() for image in x_test}
    train_images = {image.tobytes() for image in splits.train_pool.images}
    val_images = {image.tobytes() for image in splits.val_pool.images}
    assert not train_images & test_images and not val_images & test_images
    assert not train_images & val_images
    # The pools are the splits' own MNIST digits (European variants aside, which are new images).
    mnist_train = {image.tobytes() for image in x_train}
    assert len(train_images & mnist_train) > 0.9 * len(train_images)
    assert train_images <= {image.tobytes() for image in splits.train.x}
    assert val_images <= {image.tobytes() for image in splits.val.x}
    assert len(splits.scene_train.labels) > 0 and len(splits.scene_val.labels) > 0


def test_quick_model_loads_through_both_backends(quick_run, mnist):
    _, (x_test, _) = mnist
    fast = Classifier(quick_run / "live_digits.tflite").predict(x_test[:64])
    slow = Classifier(quick_run / "live_digits.keras", prefer_tflite=False).predict(x_test[:64])
    assert fast.shape == slow.shape == (64, 11)
    np.testing.assert_allclose(fast, slow, atol=1e-4)


def test_negative_scene_count_is_a_user_error(tmp_path, capsys):
    assert main(["train", "--quick", "--scenes", "-1", "--out", str(tmp_path)]) == 1
    assert "--scenes" in capsys.readouterr().err


def test_resume_without_checkpoint_is_a_user_error(tmp_path, capsys):
    assert main(["train", "--quick", "--resume", "--out", str(tmp_path)]) == 1
    assert "nothing to resume" in capsys.readouterr().err


def test_negatives_are_mnist_shaped_and_include_letters_in_real_fonts():
    from live_digits.negatives import TYPEFACES, _printed_letter, make_negatives

    crops = make_negatives(200, seed=5)
    assert crops.shape == (200, 28, 28) and crops.dtype == np.uint8
    inked = crops > 0
    assert inked.any(axis=(1, 2)).all()
    assert not inked[:, :4].any() and not inked[:, -4:].any()  # fitted into MNIST's 20x20 box, with its border
    assert len(TYPEFACES) >= 10  # matplotlib's sans, serif, monospace and TeX outlines, found offline
    rng = np.random.default_rng(0)
    for _ in range(len(TYPEFACES)):
        canvas = np.zeros((100, 100), np.uint8)
        _printed_letter(rng, canvas)
        assert np.count_nonzero(canvas) > 100  # a glyph, not an empty box
