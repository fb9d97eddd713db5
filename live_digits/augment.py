"""Camera-style augmentation for 28x28 digits, as TensorFlow ops over a batch.

MNIST's digits are clean, centred and evenly stroked; crops cut from a webcam frame are slightly rotated, shifted,
scaled, thicker or thinner, blurred and noisy. Each sample draws its own distortion, and about a third of the
samples stay clean so that accuracy on MNIST itself does not suffer.
"""

from __future__ import annotations

import math

import tensorflow as tf

MAX_ROTATION_DEG = 12.0
SCALE_RANGE = (0.85, 1.12)
MAX_SHIFT_PX = 2.5
MAX_SHEAR = 0.15


def _affine_matrices(n: tf.Tensor) -> tf.Tensor:
    """Per-sample projective transforms (output -> input mapping, as ImageProjectiveTransformV3 wants)."""
    angle = tf.random.uniform([n], -1.0, 1.0) * MAX_ROTATION_DEG * math.pi / 180.0
    scale = tf.random.uniform([n], *SCALE_RANGE)
    shear = tf.random.uniform([n], -MAX_SHEAR, MAX_SHEAR)
    tx = tf.random.uniform([n], -MAX_SHIFT_PX, MAX_SHIFT_PX)
    ty = tf.random.uniform([n], -MAX_SHIFT_PX, MAX_SHIFT_PX)
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1 = cos, -sin + shear * cos
    b0, b1 = sin, cos + shear * sin
    c = 13.5  # rotate and scale about the image centre
    a2 = c - a0 * c - a1 * c - tx
    b2 = c - b0 * c - b1 * c - ty
    zeros = tf.zeros([n])
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _choose(mask: tf.Tensor, yes: tf.Tensor, no: tf.Tensor) -> tf.Tensor:
    return tf.where(tf.reshape(mask, [-1, 1, 1, 1]), yes, no)


def augment_batch(images: tf.Tensor) -> tf.Tensor:
    """images: (N, 28, 28, 1) float32 in 0..255 -> the same, distorted."""
    n = tf.shape(images)[0]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=_affine_matrices(n),
        output_shape=tf.constant([28, 28]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    x = _choose(tf.random.uniform([n]) < 0.7, warped, images)

    # Stroke width: a marker is thicker than MNIST's pen, a ballpoint thinner.
    u = tf.random.uniform([n])
    thicker = tf.nn.max_pool2d(x, 2, 1, "SAME")
    thinner = -tf.nn.max_pool2d(-x, 2, 1, "SAME")
    x = _choose(u < 0.15, thicker, _choose(u > 0.9, thinner, x))

    # Defocus: a small Gaussian blur.
    g = tf.constant([0.25, 0.5, 0.25])
    kernel = tf.reshape(tf.tensordot(g, g, axes=0), [3, 3, 1, 1])
    blurred = tf.nn.conv2d(x, kernel, 1, "SAME")
    x = _choose(tf.random.uniform([n]) < 0.2, blurred, x)

    # Ink that is not fully saturated, and sensor noise.
    contrast = tf.random.uniform([n, 1, 1, 1], 0.6, 1.0)
    x = _choose(tf.random.uniform([n]) < 0.3, x * contrast, x)
    noise = tf.random.normal(tf.shape(x)) * tf.random.uniform([n, 1, 1, 1], 0.0, 12.0)
    x = _choose(tf.random.uniform([n]) < 0.3, x + noise, x)
    return tf.clip_by_value(x, 0.0, 255.0)
