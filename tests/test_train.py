"""The quick training path, end to end, into a temporary folder."""

import json

import numpy as np
import pytest

from live_digits.classify import Classifier
from live_digits.cli import main


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    assert main(["train", "--quick", "--out", str(out)]) == 0
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


def test_quick_model_loads_through_both_backends(quick_run, mnist):
    _, (x_test, _) = mnist
    fast = Classifier(quick_run / "live_digits.tflite").predict(x_test[:64])
    slow = Classifier(quick_run / "live_digits.keras", prefer_tflite=False).predict(x_test[:64])
    assert fast.shape == slow.shape == (64, 11)
    np.testing.assert_allclose(fast, slow, atol=1e-4)


def test_resume_without_checkpoint_is_a_user_error(tmp_path, capsys):
    assert main(["train", "--quick", "--resume", "--out", str(tmp_path)]) == 1
    assert "nothing to resume" in capsys.readouterr().err
