"""The scene generator: deterministic, exact truth that lies on the ink, and readable stills and videos."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from live_digits.errors import UserError
from live_digits.scenes import SCENE_KINDS, render_scene, render_video, skeletonize, write_stills

SMALL = (640, 360)  # a quarter of 720p: digits 10 to 48 px, fast to render
WRITING_KINDS = [k for k in SCENE_KINDS if k not in ("blank_paper", "no_paper")]


def test_a_seed_and_kind_always_give_the_same_scene():
    first, again = render_scene(7, "ruled", SMALL), render_scene(7, "ruled", SMALL)
    assert np.array_equal(first.image, again.image)
    assert first.digits == again.digits and first.numbers == again.numbers
    other = render_scene(8, "ruled", SMALL)
    assert not np.array_equal(first.image, other.image)


def test_a_seed_without_a_kind_picks_one_of_the_kinds():
    kinds = {render_scene(seed, size=SMALL).kind for seed in range(6)}
    assert kinds <= set(SCENE_KINDS) and len(kinds) > 1


def test_scene_is_a_bgr_frame_of_the_size_asked():
    scene = render_scene(3, "plain", (320, 240))
    assert scene.image.shape == (240, 320, 3) and scene.image.dtype == np.uint8


@pytest.mark.parametrize("kind", WRITING_KINDS)
def test_truth_boxes_lie_in_the_frame_and_on_dark_ink(kind):
    scene = render_scene(11, kind, SMALL)
    assert scene.digits, f"a {kind} scene should have writing"
    gray = cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    h, w = gray.shape
    for digit in scene.digits:
        x, y, bw, bh = digit.box
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and bw >= 1 and bh >= 2, digit
        # The box holds the digit's ink: its darkest pixels are well below the paper just around it.
        pad = max(3, bh // 3)
        around = gray[max(0, y - pad) : y + bh + pad, max(0, x - pad) : x + bw + pad]
        inside = gray[y : y + bh, x : x + bw]
        assert np.percentile(inside, 3) < np.median(around) - 8, (kind, digit)


def test_digit_boxes_hug_the_ink_after_perspective():
    """Ink a few pixels outside every box would mean the label map and the image were warped differently."""
    scene = render_scene(21, "marker", SMALL)
    gray = cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    for digit in scene.digits:
        x, y, bw, bh = digit.box
        inside = gray[y : y + bh, x : x + bw]
        paper = np.percentile(inside, 90)
        ink = inside < paper - 0.5 * (paper - inside.min())
        rows, cols = np.nonzero(ink)
        # The darkest ink reaches within a pixel or two of each side of the box.
        assert rows.min() <= 2 and cols.min() <= 2 and bh - 1 - rows.max() <= 2 and bw - 1 - cols.max() <= 2, digit


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numbers_are_their_digits_in_reading_order(seed):
    scene = render_scene(seed, "plain", SMALL)
    assert "".join(n.text for n in scene.numbers) == "".join(str(d.digit) for d in scene.digits)
    remaining = list(scene.digits)
    for number in scene.numbers:
        members, remaining = remaining[: len(number.text)], remaining[len(number.text) :]
        assert "".join(str(d.digit) for d in members) == number.text
        x0 = min(d.box[0] for d in members)
        y0 = min(d.box[1] for d in members)
        x1 = max(d.box[0] + d.box[2] for d in members)
        y1 = max(d.box[1] + d.box[3] for d in members)
        assert number.box == (x0, y0, x1 - x0, y1 - y0)


def test_gaps_inside_numbers_are_smaller_than_between_them():
    inside, between = [], []
    for seed in range(4):
        scene = render_scene(seed, "plain", SMALL)
        digits = iter(scene.digits)
        for number in scene.numbers:
            members = [next(digits) for _ in number.text]
            inside += [b.box[0] - (a.box[0] + a.box[2]) for a, b in zip(members, members[1:])]
        for a, b in zip(scene.numbers, scene.numbers[1:]):
            if abs(a.box[1] - b.box[1]) < a.box[3] / 2:  # same line
                between.append(b.box[0] - (a.box[0] + a.box[2]))
    assert inside and between
    assert np.median(inside) < 0.5 * np.median(between)


@pytest.mark.parametrize("kind", ["blank_paper", "no_paper"])
def test_scenes_without_writing_have_no_truth(kind):
    for seed in range(3):
        scene = render_scene(seed, kind, SMALL)
        assert scene.kind == kind and scene.digits == [] and scene.numbers == []


def test_an_unknown_kind_is_a_user_error():
    with pytest.raises(UserError, match="unknown scene kind"):
        render_scene(0, "crumpled")


def test_skeleton_is_one_pixel_wide_and_keeps_the_shape_connected():
    bar = np.zeros((20, 40), bool)
    bar[6:14, 4:36] = True
    skeleton = skeletonize(bar)
    assert skeleton.any() and (skeleton & ~bar).sum() == 0
    assert skeleton.sum(axis=0)[8:32].max() == 1  # one pixel across the bar
    assert cv2.connectedComponents(skeleton.astype(np.uint8))[0] == 2  # background + one stroke


def test_video_has_the_promised_frames_and_truth_per_frame(tmp_path):
    path = tmp_path / "held.mp4"
    truths = render_video(path, seed=5, kind="marker", frames=12, fps=24, size=(320, 240))
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 12 and frames[0].shape == (240, 320, 3)
    assert [t.frame for t in truths] == list(range(12))
    assert truths[6].time_s == pytest.approx(6 / 24)
    assert all(t.digits and len(t.digits) == len(truths[0].digits) for t in truths)
    # The sheet moves: the boxes drift between the first frame and the last.
    assert truths[0].digits[0].box != truths[-1].digits[0].box
    line = truths[3].to_json()
    assert line["frame"] == 3 and line["kind"] == "marker" and line["digits"][0]["box"] == list(truths[3].digits[0].box)


def test_video_that_cannot_be_written_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        render_video(tmp_path / "missing" / "folder" / "x.mp4", seed=1, frames=2, size=(160, 120))


def test_stills_folder_has_images_and_truth_lines(tmp_path):
    truth = write_stills(tmp_path, seeds=[3, 4, 5], kinds=["squared", "no_paper"], size=(320, 180))
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["squared", "no_paper", "squared"]
    for line in lines:
        image = cv2.imread(str(tmp_path / line["source"]))
        assert image is not None and image.shape == (180, 320, 3)
        assert set(line) == {"source", "kind", "digits", "numbers"}
    assert lines[0]["digits"] and lines[1]["digits"] == []
    assert lines[0]["digits"][0].keys() == {"digit", "box"} and lines[0]["numbers"][0].keys() == {"text", "box"}


def test_make_scenes_script_writes_stills_and_videos(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("make_scenes", Path(__file__).parent.parent / "scripts" / "make_scenes.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--out", str(tmp_path / "stills"), "--count", "2", "--size", "320x180", "--seed", "40"]) == 0
    assert len(list((tmp_path / "stills").glob("*.jpg"))) == 2
    assert script.main(["--out", str(tmp_path / "videos"), "--count", "1", "--video", "--frames", "3", "--size", "160x120"]) == 0
    assert (tmp_path / "videos" / "video_000000.mp4").exists()
    assert len((tmp_path / "videos" / "video_000000.jsonl").read_text().splitlines()) == 3
    assert script.main([]) == 1  # no --out: one line on stderr, not a traceback
    with pytest.raises(SystemExit):
        script.main(["--out", str(tmp_path), "--kinds", "crumpled"])
