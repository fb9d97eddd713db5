"""The shipped model: accurate on MNIST, the same through LiteRT and Keras, and loaded with care."""

import json

import numpy as np
import pytest

from live_digits.classify import SHIFTS, Classifier, shifted
from live_digits.cli import main
from live_digits.errors import UserError

SLICE = slice(3000, 5000)  # a fixed 2,000-digit slice of MNIST's test set
MNIST_FLOOR = 0.995  # the test accuracy that training on camera crops must keep (issue 4)


def test_shipped_model_reads_mnist_test_set_as_its_metrics_say(model_path, mnist):
    _, (x_test, y_test) = mnist
    accuracy = (Classifier(model_path).predict(x_test).argmax(1) == y_test).mean()
    metrics = json.loads((model_path.parent / "metrics.json").read_text())
    assert accuracy >= MNIST_FLOOR and accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-4)


def test_litert_and_keras_agree(model_path, mnist):
    _, (x_test, _) = mnist
    fast = Classifier(model_path.with_suffix(".tflite")).predict(x_test[SLICE])
    slow = Classifier(model_path, prefer_tflite=False).predict(x_test[SLICE])
    assert (fast.argmax(1) == slow.argmax(1)).all()
    np.testing.assert_allclose(fast, slow, atol=1e-4)


def test_a_batch_of_any_size_works(model_path, mnist):
    _, (x_test, _) = mnist
    classifier = Classifier(model_path)
    for n in (0, 1, 7, 1):
        assert classifier.predict(x_test[:n]).shape == (n, 11)


def test_shifted_moves_each_crop_a_pixel_each_way():
    crop = np.zeros((1, 28, 28), np.uint8)
    crop[0, 10, 12] = 255
    moved = shifted(crop)
    assert moved.shape == (1, len(SHIFTS), 28, 28)
    for k, (dx, dy) in enumerate(SHIFTS):
        assert np.argwhere(moved[0, k]).tolist() == [[10 + dy, 12 + dx]]


def test_steady_reading_asks_again_only_where_unsure(model_path, mnist):
    _, (x_test, _) = mnist
    classifier = Classifier(model_path)
    crops = x_test[:200].copy()
    crops[:, :, 14:] = 0  # half a digit: many of these read unsurely
    plain, steady = classifier.predict(crops), classifier.predict_steady(crops, unsure=0.9)
    sure = plain.max(axis=1) >= 0.9
    assert 0 < sure.sum() < len(crops)
    np.testing.assert_array_equal(steady[sure], plain[sure])
    expected = (plain[~sure] + classifier.predict(shifted(crops[~sure]).reshape(-1, 28, 28)).reshape(-1, 4, 11).sum(1)) / 5
    np.testing.assert_allclose(steady[~sure], expected, atol=1e-6)
    np.testing.assert_allclose(steady.sum(axis=1), 1, atol=1e-4)


def test_metrics_report_the_test_set(model_path):
    metrics = json.loads((model_path.parent / "metrics.json").read_text())
    assert metrics["test"]["n"] == 10000 and metrics["test_accuracy"] >= MNIST_FLOOR


@pytest.mark.parametrize("suffix", [".keras", ".tflite"])
def test_missing_model_is_a_user_error(tmp_path, suffix):
    with pytest.raises(UserError, match="does not exist"):
        Classifier(tmp_path / f"absent{suffix}")


@pytest.mark.parametrize("suffix", [".keras", ".tflite"])
def test_corrupt_model_gives_one_line_and_nonzero_exit(tmp_path, capsys, suffix):
    bad = tmp_path / f"corrupt{suffix}"
    bad.write_bytes(b"\x00garbage, not a model")
    assert main(["evaluate", "--model", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("live-digits: error: model") and "\n" not in err


def test_wrong_kind_of_file_is_refused(tmp_path):
    with pytest.raises(UserError, match="expected a .keras or .tflite"):
        Classifier(tmp_path / "weights.h5")


def test_evaluate_json_reports_accuracy(model_path, capsys):
    assert main(["evaluate", "--model", str(model_path.with_suffix(".tflite")), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 10000 and report["accuracy"] >= MNIST_FLOOR
