"""The `image` command's work: read photos, recognise them, write annotated copies and JSON lines, summarise.

Any image a person is likely to have works: 8- or 16-bit, gray, colour or with an alpha channel, tiny or huge, upright
by its EXIF orientation; OpenCV reads it, and Pillow what OpenCV cannot (GIF, some TIFFs, a phone's HEIC, ...).

A file that cannot be read is reported on stderr in one line and skipped, the others are still processed, and the
command then exits non-zero: one bad file among a thousand should not cost the other 999, nor pass unnoticed.
Every file is written under a temporary name and renamed into place, so nothing half-written is ever left.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from live_digits.errors import UserError
from live_digits.overlay import as_bgr, draw_result
from live_digits.recognizer import Recognizer
from live_digits.results import Result
from live_digits.sinks import JsonLinesSink, check_writable

# What a folder's image files end with; other files in it (notes, JSON) are passed over.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm",
                  ".pnm", ".pxm", ".gif", ".jp2", ".sr", ".ras", ".hdr", ".exr", ".heic", ".heif")
WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MIN_ANNOTATED_SIDE = 480  # annotate tiny images on an enlarged copy, so the labels can be read
BAR_FROM = 10  # show a progress bar from this many images on


@dataclass(frozen=True)
class ImageInput:
    path: Path
    name: str  # the path as the user gave it (or the folder as given joined with the file's name)


def collect_inputs(specs: list[str]) -> tuple[list[ImageInput], list[str]]:
    """The image files named (folders give the image files inside, sorted by name), and a message for each name
    that gave nothing."""
    inputs, problems = [], []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                problems.append(f"{spec}: no image files in this folder")
            inputs.extend(ImageInput(p, os.path.join(spec, p.name)) for p in files)
        elif path.is_file():
            inputs.append(ImageInput(path, spec))
        elif path.exists():
            problems.append(f"{spec}: not a file or a folder")
        else:
            problems.append(f"{spec}: no such file or folder")
    return inputs, problems


def read_image(path: Path) -> np.ndarray:
    """The image's pixels as stored (uint8 or uint16; gray, BGR or BGRA), turned upright by its EXIF orientation."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        return _read_with_pillow(path)
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return cv2.imdecode(data, cv2.IMREAD_COLOR)  # a plain colour photo: OpenCV applies the EXIF orientation itself
    return _upright(image, _exif_orientation(path))


def _read_with_pillow(path: Path) -> np.ndarray:
    import pillow_heif
    from PIL import Image, ImageOps, UnidentifiedImageError

    pillow_heif.register_heif_opener()  # once is enough; again is harmless

    try:
        with Image.open(path) as opened:
            opened.seek(0)  # an animation: its first frame
            picture = ImageOps.exif_transpose(opened)
            picture.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        detail = "empty file" if path.stat().st_size == 0 else "not an image that can be read"
        raise UserError(f"{path}: {detail}") from None
    if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.clip(np.asarray(picture), 0, 65535).astype(np.uint16)
    if picture.mode == "F":
        return np.asarray(picture, np.float32)
    if picture.mode in ("1", "L"):
        return np.asarray(picture.convert("L"))
    if picture.mode == "LA" or "transparency" in picture.info or picture.mode in ("RGBA", "PA", "P"):
        rgba = np.asarray(picture.convert("RGBA"))
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
    return cv2.cvtColor(np.asarray(picture.convert("RGB")), cv2.COLOR_RGB2BGR)


def _exif_orientation(path: Path) -> int:
    try:
        from PIL import Image

        with Image.open(path) as opened:
            return int(opened.getexif().get(0x0112, 1))
    except Exception:  # no EXIF, or a format Pillow does not know: upright as stored
        return 1


def _upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to the pixels."""
    if orientation in (2, 4, 5, 7):
        image = cv2.flip(image, 1)
    rotate = {3: cv2.ROTATE_180, 4: cv2.ROTATE_180, 5: cv2.ROTATE_90_COUNTERCLOCKWISE,
              6: cv2.ROTATE_90_CLOCKWISE, 7: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}
    if orientation in rotate:
        image = cv2.rotate(image, rotate[orientation])
    return image


def annotate(image: np.ndarray, result: Result) -> np.ndarray:
    """A BGR copy with the result drawn; tiny images are enlarged first so the labels stay legible."""
    canvas = as_bgr(image)
    scale = 1.0
    long_side = max(canvas.shape[:2])
    if long_side < MIN_ANNOTATED_SIDE:
        scale = MIN_ANNOTATED_SIDE / long_side
        canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST if scale >= 4 else cv2.INTER_LINEAR)
    return draw_result(canvas, result, scale=scale)


def write_image_atomically(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(path.suffix, image)
    if not ok:
        raise UserError(f"{path}: OpenCV cannot write this format")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(encoded.tobytes())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def output_name(source: Path, taken: set[str]) -> str:
    """The annotated copy's file name: the input's, as .png when OpenCV cannot write its format, made unique when
    two inputs share a name (a/1.png and b/1.png)."""
    suffix = source.suffix.lower() if source.suffix.lower() in WRITABLE_SUFFIXES else ".png"
    name, n = f"{source.stem}{suffix}", 2
    while name in taken:
        name, n = f"{source.stem}-{n}{suffix}", n + 1
    taken.add(name)
    return name


def prepare_output_folder(folder: str | Path) -> Path:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{folder}: cannot create the folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{folder}: cannot write into it (permission denied)")
    return folder


def summary_line(name: str, result: Result) -> str:
    if not result.numbers:
        return f"{name}: no digits"
    return f"{name}: " + " ".join(n.text for n in result.numbers)


def run(specs: list[str], output: str | None = None, json_path: str | None = None, model: str | None = None,
        confidence: float = 0.5) -> int:
    """Recognise every image named; 0 when all were read, 1 when any could not be (each reported on stderr)."""
    inputs, problems = collect_inputs(specs)
    if not inputs:  # nothing to do: the last problem is the error itself, not a line before it
        for problem in problems[:-1]:
            _report(problem)
        raise UserError(problems[-1] if problems else "no images to read")
    for problem in problems:
        _report(problem)
    folder = prepare_output_folder(output) if output else None
    if json_path and json_path != "-":
        check_writable(json_path)
    recognizer = Recognizer.for_stills(model, confidence)
    # The summary goes to stdout unless the JSON lines do: then it moves to stderr so stdout stays parseable.
    summary = sys.stderr if json_path == "-" else sys.stdout
    failures = len(problems)
    taken: set[str] = set()
    sink = JsonLinesSink(json_path) if json_path else None
    try:
        for item in tqdm(inputs, unit="image", file=sys.stderr, leave=False, disable=len(inputs) < BAR_FROM):
            try:
                image = read_image(item.path)
            except UserError as e:
                _report(str(e))
                failures += 1
                continue
            result = recognizer.recognize(image)
            if sink is not None:
                sink.write(result.to_json(source=item.name))
            if folder is not None:
                write_image_atomically(folder / output_name(item.path, taken), annotate(image, result))
            _say(summary_line(item.name, result), summary)
    finally:
        if sink is not None:
            sink.close()
    if failures:
        _report(f"{failures} of {len(inputs) + len(problems)} inputs could not be read")
    return 1 if failures else 0


def _say(text: str, stream) -> None:
    tqdm.write(text, file=stream)  # prints above the progress bar when one is shown


def _report(text: str) -> None:
    _say(f"live-digits: error: {text}", sys.stderr)
