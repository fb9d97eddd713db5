"""The training recipe: data, model, train, evaluate, export. `live-digits train` and scripts/train.py run it."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from live_digits.classify import NOT_A_DIGIT, NUM_CLASSES, Classifier, import_keras
from live_digits.errors import UserError

tf, keras = import_keras()

from live_digits import data, plots  # noqa: E402
from live_digits.augment import augment_batch  # noqa: E402
from live_digits.recipes import RECIPES, SHIPPED, Recipe, quick_recipe  # noqa: E402
from live_digits.evaluate import predict_in_batches, score  # noqa: E402
from live_digits.negatives import make_negatives  # noqa: E402
from live_digits.scene_crops import FIRST_TRAINING_SEED, FIRST_VALIDATION_SEED, LabelledCrops, make_scene_crops  # noqa: E402
from live_digits.scenes import DigitPool  # noqa: E402
from live_digits.variants import europeanize  # noqa: E402

MODEL_NAME = "live_digits"


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


@dataclass
class Splits:
    train: Split  # MNIST digits, generated not-digits and scene crops
    val: Split
    scene_train: LabelledCrops  # the scene crops in each, for their counts and their own score
    scene_val: LabelledCrops
    train_pool: DigitPool  # the handwriting of each side's scenes: that side's own digits
    val_pool: DigitPool


def validation_scenes(scenes: int) -> int:
    return max(1, scenes // 10) if scenes > 0 else 0


def make_splits(recipe: Recipe, seed: int, quick: bool, progress: bool = True) -> Splits:
    (x_train, y_train), _ = data.load_mnist()
    order = np.random.default_rng(seed).permutation(len(x_train))
    val_idx, train_idx = order[: recipe.validation_size], order[recipe.validation_size :]
    if quick:
        train_idx = train_idx[: recipe.steps_per_epoch * recipe.batch_size]
    x_digits = europeanize(x_train[train_idx], y_train[train_idx], recipe.european, seed)
    x_val_digits = europeanize(x_train[val_idx], y_train[val_idx], recipe.european, seed + 1)
    # Each side's scenes are written with that side's digits: no validation digit is ever trained on, in any form,
    # and the test set stays out of both.
    train_pool, val_pool = DigitPool.of(x_digits, y_train[train_idx]), DigitPool.of(x_val_digits, y_train[val_idx])
    scene_train = make_scene_crops(range(FIRST_TRAINING_SEED, FIRST_TRAINING_SEED + recipe.scenes), train_pool,
                                   progress=progress, desc="training scenes")
    scene_val = make_scene_crops(range(FIRST_VALIDATION_SEED, FIRST_VALIDATION_SEED + validation_scenes(recipe.scenes)),
                                 val_pool, progress=progress, desc="validation scenes")
    negatives = make_negatives(recipe.negatives, seed)
    n_val_neg = len(negatives) // 10
    train = Split(np.concatenate([x_digits, negatives[n_val_neg:], scene_train.crops]),
                  np.concatenate([y_train[train_idx], np.full(len(negatives) - n_val_neg, NOT_A_DIGIT),
                                  scene_train.labels]))
    val = Split(np.concatenate([x_val_digits, negatives[:n_val_neg], scene_val.crops]),
                np.concatenate([y_train[val_idx], np.full(n_val_neg, NOT_A_DIGIT), scene_val.labels]))
    return Splits(train, val, scene_train, scene_val, train_pool, val_pool)


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


def train(out_dir: str | Path = "runs/train", recipe_name: str = SHIPPED, epochs: int | None = None, quick: bool = False,
          resume: bool = False, seed: int = 1234, scenes: int | None = None) -> dict:
    """Train, export and report into out_dir; returns the metrics written to metrics.json."""
    recipe = RECIPES[recipe_name]
    if quick:
        recipe = quick_recipe(recipe)
    if epochs is not None:
        if epochs < 1:
            raise UserError("--epochs must be at least 1")
        recipe = replace(recipe, epochs=epochs)
    if scenes is not None:
        if scenes < 0:
            raise UserError("--scenes must be 0 or more")
        recipe = replace(recipe, scenes=scenes)
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
    splits = make_splits(recipe, seed, quick)
    train_split, val_split = splits.train, splits.val
    train_ds, val_ds = datasets(train_split, val_split, recipe, seed)
    steps = recipe.steps_per_epoch or len(train_split.y) // recipe.batch_size
    print(f"training on {len(train_split.y)} crops ({int((train_split.y == NOT_A_DIGIT).sum())} not digits, "
          f"{len(splits.scene_train.labels)} from {recipe.scenes} scenes), validating on {len(val_split.y)}; "
          f"{recipe.epochs} epochs of {steps} steps")

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
    return report(model, out, recipe, seed, read_history(history_csv), splits)


def european_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's test 1s and 7s, each written the European way where it can be (never trained on)."""
    _, (x_test, y_test) = data.load_mnist()
    chosen = (y_test == 1) | (y_test == 7)
    x, y = x_test[chosen], y_test[chosen]
    varied = europeanize(x, y, 1.0, seed=0)
    changed = (varied != x).reshape(len(x), -1).any(axis=1)
    return varied[changed], y[changed]


def report(model: keras.Model, out: Path, recipe: Recipe, seed: int, history: dict[str, list[float]],
           splits: Splits) -> dict:
    keras_path = out / f"{MODEL_NAME}.keras"
    tflite_path = out / f"{MODEL_NAME}.tflite"
    _save_keras(model, keras_path)
    export_tflite(keras_path, tflite_path)

    _, (x_test, y_test) = data.load_mnist()
    test = score(predict_in_batches(Classifier(tflite_path), x_test), y_test)
    keras_test = score(predict_in_batches(Classifier(keras_path, prefer_tflite=False), x_test), y_test)
    negatives = make_negatives(2000, seed + 1)  # never seen in training: another seed
    rejected = float((predict_in_batches(Classifier(tflite_path), negatives).argmax(1) == NOT_A_DIGIT).mean())
    x_european, y_european = european_test_digits()
    european = float((predict_in_batches(Classifier(tflite_path), x_european).argmax(1) == y_european).mean())
    scene_val = splits.scene_val
    scene_accuracy = (float((predict_in_batches(Classifier(tflite_path), scene_val.crops).argmax(1) == scene_val.labels).mean())
                      if len(scene_val.labels) else None)

    metrics = {
        "test": {**test.to_json(), "data": "MNIST test set (never used for training or model choice)"},
        "test_accuracy": round(test.accuracy, 6),
        "keras_test_accuracy": round(keras_test.accuracy, 6),
        "not_a_digit_rejection": round(rejected, 4),
        "european_1_7_accuracy": round(european, 4),
        "scene_crop_validation_accuracy": None if scene_accuracy is None else round(scene_accuracy, 4),
        "scene_crops": {
            "scenes": {"train": recipe.scenes, "validation": validation_scenes(recipe.scenes)},
            "train": splits.scene_train.per_class(),
            "validation": scene_val.per_class(),
        },
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
    scenes = metrics["scene_crops"]["scenes"]
    scene_counts = metrics["scene_crops"]["train"]
    scene_crops = sum(scene_counts.values())
    scene_digits = scene_crops - scene_counts["not_a_digit"]
    card = f"""# Model card: {MODEL_NAME}

- **What**: a CNN that reads one 28x28 MNIST-style digit crop (white on black) and answers 0-9 or "not a digit".
  {metrics["parameters"]:,} parameters; `{MODEL_NAME}.keras` (Keras) and `{MODEL_NAME}.tflite` (LiteRT, the fast path).
- **Made by**: `{metrics["command"]}` (seed {metrics["seed"]}), {metrics["epochs"]} epochs in {metrics["wall_time_s"] / 60:.0f} min
  on {metrics["machine"]}; TensorFlow {metrics["versions"]["tensorflow"]}, Keras {metrics["versions"]["keras"]}.
- **Data**: MNIST's 60,000 training digits less {metrics["recipe"]["validation_size"]:,} held out for validation, a
  {metrics["recipe"]["european"]:.0%} share of their 1s and 7s rewritten the European way (a flag and sometimes a base on
  the 1, a bar across the 7), with camera-style augmentation (rotation, shift, scale, shear, stroke width, blur,
  contrast, noise), plus {metrics["recipe"]["negatives"]:,} generated "not a digit" crops (letters printed in
  OpenCV's stroke fonts and matplotlib's outline fonts, dashes, blobs, grid crossings, scribbles) and
  {scene_crops:,} crops cut by the recognizer itself out of {scenes["train"]:,} rendered webcam scenes written with those
  training digits ({scene_digits:,} digits, {scene_crops - scene_digits:,} clutter, fragments and merged digits). MNIST
  verified by SHA-256 before use.
- **Accuracy on MNIST's test set** (10,000 digits never used for training or model choice):
  **{test["accuracy"]:.2%}**; weakest digit {worst[0]} at {worst[1]:.2%}. Generated not-a-digit crops rejected:
  {metrics["not_a_digit_rejection"]:.1%}. MNIST's test 1s and 7s rewritten the European way: {metrics["european_1_7_accuracy"]:.2%}.
  Crops of {scenes["validation"]:,} held-out scenes: {_percent(metrics["scene_crop_validation_accuracy"])}.
- **Limits**: MNIST's writers were American students and staff; other hands, and crops the segmenter cuts badly, are
  read less surely.
  See `confusion.png` and `misclassified.png`.
"""
    _write_atomically(out / "MODEL_CARD.md", card.encode())


def _percent(value: float | None) -> str:
    return "none held out" if value is None else f"{value:.2%}"


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
