"""The training recipe: data, model, train, evaluate, export. `live-digits train` and scripts/train.py run it."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from live_digits.classify import NOT_A_DIGIT, NUM_CLASSES, Classifier, import_keras
from live_digits.errors import UserError

tf, keras = import_keras()

from live_digits import data, plots  # noqa: E402
from live_digits.augment import augment_batch  # noqa: E402
from live_digits.evaluate import predict_in_batches, score  # noqa: E402
from live_digits.negatives import make_negatives  # noqa: E402

MODEL_NAME = "live_digits"


@dataclass(frozen=True)
class Recipe:
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    validation_size: int = 5000  # carved from MNIST's training set; the test set is only reported
    negatives: int = 8000  # "not a digit" examples, about one in eight of the training set
    steps_per_epoch: int | None = None  # None: the whole training set each epoch


QUICK = Recipe(epochs=2, batch_size=64, validation_size=1000, negatives=800, steps_per_epoch=100)


def build_model(num_classes: int = NUM_CLASSES) -> keras.Model:
    """Two convolution blocks with batch normalisation, then a small dense head.

    Small enough for about a tenth of a millisecond a crop on a CPU, large enough for 99.6% on MNIST.
    """

    def conv(x, filters):
        x = keras.layers.Conv2D(filters, 3, use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        return keras.layers.ReLU()(x)

    inputs = keras.Input((28, 28, 1), name="digit")  # uint8 values as float: 0 background, 255 ink
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = conv(conv(x, 32), 32)
    x = keras.layers.MaxPooling2D()(x)
    x = conv(conv(x, 64), 64)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Dropout(0.4)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=MODEL_NAME)


def distribution_strategy() -> tf.distribute.Strategy:
    """Several GPUs on one machine, or a cluster described by TF_CONFIG, with no change to the code."""
    if "TF_CONFIG" in os.environ:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.MirroredStrategy()


@dataclass
class Split:
    x: np.ndarray  # (N, 28, 28) uint8
    y: np.ndarray  # (N,) class 0-10


def make_splits(recipe: Recipe, seed: int, quick: bool) -> tuple[Split, Split]:
    (x_train, y_train), _ = data.load_mnist()
    order = np.random.default_rng(seed).permutation(len(x_train))
    val_idx, train_idx = order[: recipe.validation_size], order[recipe.validation_size :]
    if quick:
        train_idx = train_idx[: recipe.steps_per_epoch * recipe.batch_size]
    negatives = make_negatives(recipe.negatives, seed)
    n_val_neg = len(negatives) // 10
    train = Split(np.concatenate([x_train[train_idx], negatives[n_val_neg:]]),
                  np.concatenate([y_train[train_idx], np.full(len(negatives) - n_val_neg, NOT_A_DIGIT)]))
    val = Split(np.concatenate([x_train[val_idx], negatives[:n_val_neg]]),
                np.concatenate([y_train[val_idx], np.full(n_val_neg, NOT_A_DIGIT)]))
    return train, val


def _as_float(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, 28, 28, 1).astype(np.float32)


def datasets(train: Split, val: Split, recipe: Recipe, seed: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    train_ds = (
        tf.data.Dataset.from_tensor_slices((_as_float(train.x), train.y.astype(np.int32)))
        .shuffle(len(train.y), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(recipe.batch_size, drop_remainder=True)
        .map(lambda x, y: (augment_batch(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    val_ds = tf.data.Dataset.from_tensor_slices((_as_float(val.x), val.y.astype(np.int32))).batch(512)
    return train_ds, val_ds


class EpochSeconds(keras.callbacks.Callback):
    """Adds each epoch's duration to the logs, so the CSV history adds up to the wall time across resumes."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self._start


def read_history(path: Path) -> dict[str, list[float]]:
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(r[key]) for r in rows] for key in rows[0]} if rows else {}


def export_tflite(keras_path: Path, path: Path) -> None:
    """The fast path for inference: LiteRT runs a crop in about a tenth of a millisecond.

    Exported from the saved file, not the live model, whose variables may be mirrored across devices.
    """
    tmp = path.with_name("tmp-" + path.name)
    keras.saving.load_model(keras_path).export(str(tmp), format="litert", verbose=False)
    os.replace(tmp, path)


def _write_atomically(path: Path, payload: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def _save_keras(model: keras.Model, path: Path) -> None:
    tmp = path.with_name("tmp-" + path.name)  # Keras insists on the .keras suffix
    model.save(tmp)
    os.replace(tmp, path)


def train(out_dir: str | Path = "runs/train", epochs: int | None = None, quick: bool = False,
          resume: bool = False, seed: int = 1234) -> dict:
    """Train, export and report into out_dir; returns the metrics written to metrics.json."""
    recipe = QUICK if quick else Recipe()
    if epochs is not None:
        if epochs < 1:
            raise UserError("--epochs must be at least 1")
        recipe = Recipe(**{**asdict(recipe), "epochs": epochs})
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {out}: {e.strerror}") from None
    backup = out / "checkpoint"
    history_csv = out / "history.csv"
    if resume and not backup.exists():
        raise UserError(f"nothing to resume in {out}: no checkpoint (a finished run removes it)")
    if not resume:
        shutil.rmtree(backup, ignore_errors=True)
        history_csv.unlink(missing_ok=True)

    keras.utils.set_random_seed(seed)
    train_split, val_split = make_splits(recipe, seed, quick)
    train_ds, val_ds = datasets(train_split, val_split, recipe, seed)
    steps = recipe.steps_per_epoch or len(train_split.y) // recipe.batch_size
    print(f"training on {len(train_split.y)} crops ({int((train_split.y == NOT_A_DIGIT).sum())} not digits), "
          f"validating on {len(val_split.y)}; {recipe.epochs} epochs of {steps} steps")

    with distribution_strategy().scope():
        model = build_model()
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=recipe.epochs * steps, warmup_target=recipe.learning_rate, warmup_steps=steps // 2)
        model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=recipe.epochs,
        steps_per_epoch=steps,
        callbacks=[
            EpochSeconds(),
            keras.callbacks.BackupAndRestore(str(backup)),  # a checkpoint every epoch; --resume loses at most one
            keras.callbacks.CSVLogger(str(history_csv), append=True),
        ],
        verbose=1 if os.isatty(1) else 2,
        shuffle=False,  # the dataset shuffles itself
    )
    return report(model, out, recipe, seed, read_history(history_csv))


def report(model: keras.Model, out: Path, recipe: Recipe, seed: int, history: dict[str, list[float]]) -> dict:
    keras_path = out / f"{MODEL_NAME}.keras"
    tflite_path = out / f"{MODEL_NAME}.tflite"
    _save_keras(model, keras_path)
    export_tflite(keras_path, tflite_path)

    _, (x_test, y_test) = data.load_mnist()
    test = score(predict_in_batches(Classifier(tflite_path), x_test), y_test)
    keras_test = score(predict_in_batches(Classifier(keras_path, prefer_tflite=False), x_test), y_test)
    negatives = make_negatives(2000, seed + 1)  # never seen in training: another seed
    rejected = float((predict_in_batches(Classifier(tflite_path), negatives).argmax(1) == NOT_A_DIGIT).mean())

    metrics = {
        "test": {**test.to_json(), "data": "MNIST test set (never used for training or model choice)"},
        "test_accuracy": round(test.accuracy, 6),
        "keras_test_accuracy": round(keras_test.accuracy, 6),
        "not_a_digit_rejection": round(rejected, 4),
        "validation_accuracy": history["val_accuracy"][-1] if history else None,
        "epochs": len(history.get("loss", [])),
        "wall_time_s": round(sum(history.get("seconds", [])), 1),
        "parameters": int(model.count_params()),
        "recipe": asdict(recipe),
        "seed": seed,
        "data_fingerprint": data.FINGERPRINTS,
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
        "command": " ".join(["live-digits", *sys.argv[1:]]) if sys.argv[0].endswith("live-digits") else " ".join(sys.argv),
    }
    _write_atomically(out / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    make_plots(out, history, test, x_test, y_test)
    write_model_card(out, metrics)
    print(f"test accuracy {test.accuracy:.4%} (LiteRT), {keras_test.accuracy:.4%} (Keras) on {test.n} MNIST test digits")
    print(f"wrote {keras_path}, {tflite_path}, metrics.json and plots into {out}")
    return metrics


def write_model_card(out: Path, metrics: dict) -> None:
    test = metrics["test"]
    worst = min(test["per_class_accuracy"].items(), key=lambda kv: kv[1])
    card = f"""# Model card: {MODEL_NAME}

- **What**: a CNN that reads one 28x28 MNIST-style digit crop (white on black) and answers 0-9 or "not a digit".
  {metrics["parameters"]:,} parameters; `{MODEL_NAME}.keras` (Keras) and `{MODEL_NAME}.tflite` (LiteRT, the fast path).
- **Made by**: `{metrics["command"]}` (seed {metrics["seed"]}), {metrics["epochs"]} epochs in {metrics["wall_time_s"] / 60:.0f} min
  on {metrics["machine"]}; TensorFlow {metrics["versions"]["tensorflow"]}, Keras {metrics["versions"]["keras"]}.
- **Data**: MNIST's 60,000 training digits less {metrics["recipe"]["validation_size"]:,} held out for validation, with
  camera-style augmentation (rotation, shift, scale, shear, stroke width, blur, contrast, noise), plus
  {metrics["recipe"]["negatives"]:,} generated "not a digit" crops (letters, dashes, blobs, grid crossings, scribbles).
  MNIST verified by SHA-256 before use.
- **Accuracy on MNIST's test set** (10,000 digits never used for training or model choice):
  **{test["accuracy"]:.2%}**; weakest digit {worst[0]} at {worst[1]:.2%}. Generated not-a-digit crops rejected:
  {metrics["not_a_digit_rejection"]:.1%}.
- **Limits**: trained on MNIST's American-style digits; a European 1 with a long flag or a crossed 7 is read less surely.
  See `confusion.png` and `misclassified.png`.
"""
    _write_atomically(out / "MODEL_CARD.md", card.encode())


def make_plots(out: Path, history: dict, test, x_test: np.ndarray, y_test: np.ndarray) -> None:
    names = plots.CLASS_NAMES
    if history:
        plots.learning_curves(history, out / "curves.png")
    plots.confusion_heatmap(test.confusion, out / "confusion.png", f"MNIST test: {test.accuracy:.2%} correct")
    sample = np.arange(40)
    plots.digit_grid(x_test[sample], [f"{names[p]} ({t})" for p, t in zip(test.predictions[sample], y_test[sample])],
                     out / "samples.png", "Predicted (true) on the first 40 test digits",
                     wrong=test.predictions[sample] != y_test[sample])
    wrong = np.flatnonzero(test.predictions != y_test)[:60]
    plots.digit_grid(x_test[wrong], [f"{names[p]} (true {t})" for p, t in zip(test.predictions[wrong], y_test[wrong])],
                     out / "misclassified.png", f"Misclassified test digits ({int((test.predictions != y_test).sum())})")
