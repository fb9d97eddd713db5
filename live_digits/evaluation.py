"""How well the recognizer reads scenes whose truth is known: box matching, tallies per scene kind, the table.

A predicted digit counts as correct when its box matches a truth digit's box (IoU >= 0.5; one-to-one, greedily
by IoU) and it names the same digit. A number is read exactly when its box matches a truth number's box the same
way and its text is equal. Read in order: the image's digits, concatenated in the order of its numbers, against the
truth's, boxes aside: one less the edit distance over the truth's length (how real photographs are judged).
Scenes come fresh from the generator (seeds from FIRST_EVALUATION_SEED on, never used for tuning) or from a folder
with a truth.jsonl made elsewhere; videos come fresh from the generator too, read by the video command's loop.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np
from rapidfuzz.distance import Levenshtein

from live_digits.errors import UserError
from live_digits.results import Box, Digit, Number, Result
from live_digits.scenes import DEFAULT_SIZE, SCENE_KINDS, TruthDigit, render_scene

MIN_IOU = 0.5
STILL_COUNT, VIDEO_COUNT = 120, 24  # scenes rendered by default: stills, or videos
VIDEO_FRAMES = 60  # frames in each rendered video, by default
OVERALL = "overall"

# --------------------------------------------------------------------------------------------------------------
# Matching


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    return float(iou_matrix([a], [b])[0, 0])


def iou_matrix(first: Sequence[Box], second: Sequence[Box]) -> np.ndarray:
    """IoU of every box of `first` (rows) with every box of `second` (columns)."""
    if len(first) == 0 or len(second) == 0:
        return np.zeros((len(first), len(second)))
    a = np.asarray(first, float).reshape(-1, 1, 4)
    b = np.asarray(second, float).reshape(1, -1, 4)
    width = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    height = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_boxes(truth: Sequence[Box], predicted: Sequence[Box], min_iou: float = MIN_IOU) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, predicted index), best IoU first, each pair with IoU >= min_iou."""
    iou = iou_matrix(truth, predicted)
    rows, cols = np.nonzero(iou >= min_iou)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_truth, used_predicted, pairs = set(), set(), []
    for t, p in zip(rows[order].tolist(), cols[order].tolist()):
        if t not in used_truth and p not in used_predicted:
            used_truth.add(t)
            used_predicted.add(p)
            pairs.append((t, p))
    return sorted(pairs)


# --------------------------------------------------------------------------------------------------------------
# Tallies


@dataclass
class Tally:
    """Counts over one or more images; the rates are derived from them, so tallies simply add up."""

    images: int = 0
    truth_digits: int = 0
    predicted_digits: int = 0
    located_digits: int = 0  # truth digits whose box a prediction matched, whatever digit it named
    correct_digits: int = 0  # ... and that named the right digit
    false_digits: int = 0  # predictions that matched no truth box
    truth_numbers: int = 0
    exact_numbers: int = 0
    order_edits: int = 0  # edits from the digits read, in reading order, to the truth's
    seconds: float = 0.0  # recognizer time

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def recall(self) -> float | None:
        return _ratio(self.correct_digits, self.truth_digits)

    @property
    def precision(self) -> float | None:
        return _ratio(self.correct_digits, self.predicted_digits)

    @property
    def located(self) -> float | None:
        return _ratio(self.located_digits, self.truth_digits)

    @property
    def numbers_exact(self) -> float | None:
        return _ratio(self.exact_numbers, self.truth_numbers)

    @property
    def in_order(self) -> float | None:
        return None if not self.truth_digits else max(0.0, 1.0 - self.order_edits / self.truth_digits)

    @property
    def f1(self) -> float | None:
        """The harmonic mean of recall and precision; 0 when nothing was read where something is written, None
        where nothing is written (there, false digits per image tell)."""
        return _ratio(2 * self.correct_digits, self.truth_digits + self.predicted_digits) if self.truth_digits else None

    @property
    def false_per_image(self) -> float | None:
        return _ratio(self.false_digits, self.images)

    @property
    def ms_per_image(self) -> float | None:
        return None if not self.images else 1000.0 * self.seconds / self.images

    def to_json(self) -> dict:
        counts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "seconds"}
        rates = {name: getattr(self, name) for name in ("recall", "precision", "located", "numbers_exact", "in_order",
                                                        "false_per_image", "ms_per_image")}
        return {**counts, **{k: None if v is None else round(v, 4) for k, v in rates.items()}}


def _ratio(part: float, whole: float) -> float | None:
    return None if whole == 0 else part / whole


def score(truth_digits: Sequence[TruthDigit], truth_numbers: Sequence[Number], result: Result, min_iou: float = MIN_IOU) -> Tally:
    """The tally of one image: what the recognizer read against what is written."""
    digit_pairs = match_boxes([d.box for d in truth_digits], [d.box for d in result.digits], min_iou)
    number_pairs = match_boxes([n.box for n in truth_numbers], [n.box for n in result.numbers], min_iou)
    return Tally(
        images=1,
        truth_digits=len(truth_digits),
        predicted_digits=len(result.digits),
        located_digits=len(digit_pairs),
        correct_digits=sum(truth_digits[t].digit == result.digits[p].digit for t, p in digit_pairs),
        false_digits=len(result.digits) - len(digit_pairs),
        truth_numbers=len(truth_numbers),
        exact_numbers=sum(truth_numbers[t].text == result.numbers[p].text for t, p in number_pairs),
        order_edits=Levenshtein.distance("".join(n.text for n in result.numbers), "".join(n.text for n in truth_numbers)),
    )


# --------------------------------------------------------------------------------------------------------------
# Cases: images with their truth


@dataclass
class Case:
    name: str
    kind: str
    image: np.ndarray
    digits: list[TruthDigit]
    numbers: list[Number]


def scene_cases(seeds: Iterable[int], kinds: Sequence[str] | None = None, size: tuple[int, int] = DEFAULT_SIZE) -> Iterator[Case]:
    """Fresh scenes, rendered one at a time: kinds taken in turn (None: each seed picks its own)."""
    kinds = list(kinds) if kinds else [None]
    for i, seed in enumerate(seeds):
        scene = render_scene(seed, kinds[i % len(kinds)], size)
        yield Case(f"scene {seed} ({scene.kind})", scene.kind, scene.image, scene.digits, scene.numbers)


def truth_from_json(record: dict) -> tuple[list[TruthDigit], list[Number]]:
    digits = [TruthDigit(int(d["digit"]), tuple(int(v) for v in d["box"])) for d in record.get("digits", [])]
    numbers = [Number(str(n["text"]), tuple(int(v) for v in n["box"])) for n in record.get("numbers", [])]
    return digits, numbers


def read_truth(folder: str | Path) -> list[dict]:
    """The records of a folder's truth.jsonl, checked enough that a broken file is a clear error, not a traceback."""
    path = Path(folder) / "truth.jsonl"
    if not path.is_file():
        raise UserError(f"{folder}: no truth.jsonl there (make one with scripts/make_scenes.py)")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "source" not in record:
                raise ValueError("no \"source\"")
            truth_from_json(record)
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path}:{number}: not a truth line ({e})") from None
        records.append(record)
    return records


def folder_cases(folder: str | Path, records: list[dict] | None = None) -> Iterator[Case]:
    """The images a folder's truth.jsonl lists ("source" relative to the folder), read one at a time."""
    from live_digits.images import read_image

    folder = Path(folder)
    for record in records if records is not None else read_truth(folder):
        path = folder / record["source"]
        if not path.is_file():
            raise UserError(f"{path}: listed in truth.jsonl but missing")
        digits, numbers = truth_from_json(record)
        yield Case(str(record["source"]), str(record.get("kind", "unknown")), read_image(path), digits, numbers)


# --------------------------------------------------------------------------------------------------------------
# Evaluation


def evaluate(
    cases: Iterable[Case],
    recognize: Callable[[np.ndarray], Result],
    total: int | None = None,
    progress: bool = True,
    failures: str | Path | None = None,
) -> dict[str, Tally]:
    """Tallies per kind (plus OVERALL) of `recognize` over the cases. With `failures`, every image with a missed,
    wrong or false digit, or a number misread, is written there with the truth and the reading drawn on it."""
    from tqdm import tqdm

    tallies: dict[str, Tally] = {}
    folder = Path(failures) if failures else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    for case in tqdm(cases, total=total, unit="image", desc="scenes", disable=not progress, leave=False):
        start = time.perf_counter()
        result = recognize(case.image)
        elapsed = time.perf_counter() - start
        tally = score(case.digits, case.numbers, result)
        tally.seconds = elapsed
        tallies[case.kind] = tallies.get(case.kind, Tally()) + tally
        if folder is not None and not _perfect(tally):
            cv2.imwrite(str(folder / (_file_name(case.name) + ".jpg")), draw_comparison(case, result))
    ordered = {kind: tallies[kind] for kind in _kind_order(tallies)}
    ordered[OVERALL] = sum(tallies.values(), Tally())
    return ordered


def _perfect(tally: Tally) -> bool:
    return tally.correct_digits == tally.truth_digits and tally.false_digits == 0 and tally.exact_numbers == tally.truth_numbers


def _file_name(name: str) -> str:
    path = Path(name)
    if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"):
        name = path.with_suffix("").as_posix()
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_")


def _kind_order(tallies: dict[str, Tally]) -> list[str]:
    known = [k for k in SCENE_KINDS if k in tallies]
    return known + sorted(k for k in tallies if k not in SCENE_KINDS)


def draw_comparison(case: Case, result: Result) -> np.ndarray:
    """The image with the truth (thin green boxes, digit above) and the reading (the usual overlay) drawn on it."""
    from live_digits.overlay import as_bgr, draw_box, draw_result

    frame = as_bgr(case.image)
    for digit in case.digits:
        draw_box(frame, digit.box, (0, 255, 0), 1)
        x, y, _, h = digit.box
        cv2.putText(frame, str(digit.digit), (x, y + h + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1, cv2.LINE_AA)
    return draw_result(frame, result)


COLUMNS = ("kind", "images", "digits", "recall", "precision", "located", "numbers", "exact", "in order", "false/img",
           "ms/img")


def format_table(tallies: dict[str, Tally]) -> str:
    """A plain-text table, one row per kind and the overall row last; '-' where a rate has no denominator."""
    rows = [COLUMNS]
    for kind, t in tallies.items():
        rows.append(
            (
                kind,
                str(t.images),
                str(t.truth_digits),
                _rate(t.recall),
                _rate(t.precision),
                _rate(t.located),
                str(t.truth_numbers),
                _rate(t.numbers_exact),
                _rate(t.in_order),
                _rate(t.false_per_image, digits=2),
                _rate(t.ms_per_image, digits=0),
            )
        )
    return _layout(rows)


def _layout(rows: list[tuple[str, ...]]) -> str:
    """Rows of cells as aligned text: names left, figures right, a rule above the last (overall) row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def _rate(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def run(
    model: str | None = None,
    confidence: float = 0.5,
    folder: str | None = None,
    count: int = STILL_COUNT,
    seed: int | None = None,
    kinds: Sequence[str] | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    live: bool = False,
    json_path: str | None = None,
    failures: str | None = None,
    progress: bool = True,
) -> dict[str, Tally]:
    """The scene benchmark as the command line runs it: prints the table, optionally writes the tallies as JSON."""
    from live_digits.recognizer import Recognizer
    from live_digits.scenes import FIRST_EVALUATION_SEED, pick_kind

    for kind in kinds or ():
        pick_kind(np.random.default_rng(0), kind)  # an unknown kind is a clear error before any work
    records = read_truth(folder) if folder is not None else None  # a wrong folder fails before the model loads
    recognizer = Recognizer(model, confidence=confidence) if live else Recognizer.for_stills(model, confidence)
    if folder is not None:
        cases, total = folder_cases(folder, records), len(records)
    else:
        first = FIRST_EVALUATION_SEED if seed is None else seed
        # Every kind in turn: the same number of scenes of each, so the rows compare.
        cases, total = scene_cases(range(first, first + count), kinds or SCENE_KINDS, size), count
    tallies = evaluate(cases, recognizer.recognize, total=total, progress=progress, failures=failures)
    print(format_table(tallies))
    if json_path:
        Path(json_path).write_text(json.dumps({kind: t.to_json() for kind, t in tallies.items()}, indent=2) + "\n")
    return tallies


# --------------------------------------------------------------------------------------------------------------
# Videos: the live loop, as `live-digits video` runs it, on rendered videos with known truth

@dataclass
class VideoTallies:
    """One kind's videos: their frames' tally pooled, and each video's F1 (None for a video with nothing written)."""

    frames: Tally
    f1s: list[float | None]

    @property
    def worst_f1(self) -> float | None:
        known = [f for f in self.f1s if f is not None]
        return min(known) if known else None


def result_from_json(record: dict) -> Result:
    """A JSON line of the contract back into a Result."""
    digits = [Digit(int(d["digit"]), float(d["confidence"]), tuple(int(v) for v in d["box"])) for d in record["digits"]]
    numbers = [Number(str(n["text"]), tuple(int(v) for v in n["box"])) for n in record["numbers"]]
    return Result(digits, numbers)


def evaluate_video(path: Path, truths: Sequence, model=None, confidence: float = 0.5) -> Tally:
    """The tally, over its frames, of the video command's JSON lines for a video whose frames' truth is known."""
    from live_digits.live import process_video

    json_path = path.with_suffix(".jsonl")
    process_video(str(path), json_path=str(json_path), model=model, confidence=confidence, progress=False)
    records = [json.loads(line) for line in json_path.read_text().splitlines() if line.strip()]
    by_frame = {int(r["frame"]): result_from_json(r) for r in records}
    total = Tally()
    for truth in truths:
        total = total + score(truth.digits, truth.numbers, by_frame.get(truth.frame, Result()))
    return total


def run_videos(model: str | None = None, confidence: float = 0.5, count: int = VIDEO_COUNT, seed: int | None = None,
               kinds: Sequence[str] | None = None, frames: int = VIDEO_FRAMES, size: tuple[int, int] = DEFAULT_SIZE,
               json_path: str | None = None, progress: bool = True) -> dict[str, VideoTallies]:
    """The video benchmark as the command line runs it: `count` videos rendered (kinds in turn), each read by the
    video command's own loop (tracking included), scored frame by frame; prints the table."""
    import tempfile

    from tqdm import tqdm

    from live_digits.classify import Classifier
    from live_digits.scenes import FIRST_EVALUATION_SEED, render_video

    kinds = list(kinds or SCENE_KINDS)
    classifier = Classifier(model)
    first = FIRST_EVALUATION_SEED if seed is None else seed
    by_kind: dict[str, VideoTallies] = {}
    with tempfile.TemporaryDirectory(prefix="live-digits-videos-") as folder:
        for i in tqdm(range(count), unit="video", desc="videos", disable=not progress, leave=False):
            path = Path(folder) / f"scene{first + i}.mp4"
            truths = render_video(path, first + i, kinds[i % len(kinds)], frames=frames, size=size)
            tally = evaluate_video(path, truths, classifier, confidence)
            kind = truths[0].kind
            entry = by_kind.setdefault(kind, VideoTallies(Tally(), []))
            entry.frames = entry.frames + tally
            entry.f1s.append(tally.f1)
    ordered = {kind: by_kind[kind] for kind in _kind_order(by_kind)}
    ordered[OVERALL] = VideoTallies(sum((v.frames for v in by_kind.values()), Tally()),
                                    [f for v in by_kind.values() for f in v.f1s])
    print(format_video_table(ordered))
    if json_path:
        Path(json_path).write_text(json.dumps({kind: {**v.frames.to_json(), "f1": v.frames.f1, "video_f1s": v.f1s}
                                               for kind, v in ordered.items()}, indent=2) + "\n")
    return ordered


VIDEO_COLUMNS = ("kind", "videos", "frames", "recall", "precision", "F1", "worst F1", "false/frame")


def format_video_table(tallies: dict[str, VideoTallies]) -> str:
    """Per kind: the frames' pooled recall, precision and F1, the worst video's F1, and false digits per frame."""
    rows = [VIDEO_COLUMNS]
    for kind, v in tallies.items():
        t = v.frames
        rows.append((kind, str(len(v.f1s)), str(t.images), _rate(t.recall), _rate(t.precision), _rate(t.f1),
                     _rate(v.worst_f1), _rate(t.false_per_image, digits=2)))
    return _layout(rows)
