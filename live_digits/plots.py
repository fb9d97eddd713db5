"""The training report's pictures: learning curves, confusion matrix, sample and misclassified digits."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed: plots go to PNG files
import matplotlib.pyplot as plt
import numpy as np

CLASS_NAMES = [str(d) for d in range(10)] + ["not"]


def learning_curves(history: dict[str, list[float]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, key, title in ((axes[0], "accuracy", "Accuracy"), (axes[1], "loss", "Loss")):
        ax.plot(epochs, history[key], "o-", label="train (augmented)")
        ax.plot(epochs, history[f"val_{key}"], "o-", label="validation")
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_heatmap(matrix: np.ndarray, path: Path, title: str) -> None:
    n = matrix.shape[0]
    fig, ax = plt.subplots(figsize=(7, 6))
    # Log colour scale: the few errors matter more than the thousands on the diagonal.
    im = ax.imshow(np.log1p(matrix), cmap="Blues")
    for i in range(n):
        for j in range(matrix.shape[1]):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if i == j else "black")
    ax.set(xticks=range(matrix.shape[1]), yticks=range(n), xticklabels=CLASS_NAMES[: matrix.shape[1]],
           yticklabels=CLASS_NAMES[:n], xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, label="log(1 + count)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def digit_grid(images: np.ndarray, captions: list[str], path: Path, title: str, columns: int = 10,
               wrong: np.ndarray | None = None) -> None:
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            color = "red" if wrong is not None and wrong[i] else "black"
            ax.set_title(captions[i], fontsize=8, color=color)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
