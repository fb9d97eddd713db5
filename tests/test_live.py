"""The video and camera commands end to end: real model, real OpenCV, videos the tests write."""

import functools
import itertools
import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from live_digits.cli import main
from live_digits.live import (MAX_FAILED_IN_A_ROW, RollingFps, display_problem, json_record, make_recognizer,
                              percentiles_ms, run_loop)
from live_digits.overlay import draw_result
from live_digits.results import Digit, Number, Result
from live_digits.sinks import JsonLinesSink, VideoSink
from live_digits.sources import Frame, open_source
from live_digits.tracking import Tracker
from live_digits.scenes import render_video

SIZE = (320, 240)
FPS = 30


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "scene.mp4"
    render_video(path, seed=11, frames=30, fps=FPS, size=SIZE)
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            return frames
        frames.append(image)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("live-digits: error:")]


def test_video_command_writes_the_annotated_video_and_a_json_line_per_frame(scene_video, model_path, tmp_path, capfd):
    out, jsonl = tmp_path / "annotated.avi", tmp_path / "frames.jsonl"
    code = main(["video", str(scene_video), "--output", str(out), "--json", str(jsonl), "--model", str(model_path),
                 "--no-progress"])
    assert code == 0, capfd.readouterr().err
    original, annotated = read_frames(scene_video), read_frames(out)
    assert len(annotated) == 30 and annotated[0].shape == (240, 320, 3)
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    lines = read_lines(jsonl)
    assert [line["frame"] for line in lines] == list(range(30))
    assert lines[15]["time_s"] == pytest.approx(0.5)
    # On the first frame the tracker shows only the digits read very surely; the others once seen twice.
    assert all(digit["confidence"] >= 0.97 for digit in lines[0]["digits"])
    with_digits = [line for line in lines if line["digits"]]
    assert len(with_digits) > 15
    for line in with_digits:  # what the JSON says is what the video shows
        assert set(line) == {"frame", "time_s", "digits", "numbers"}
        before = original[line["frame"]]
        expected = draw_result(before.copy(), result_from_json(line)).astype(int)
        drawn = np.any(expected != before, axis=2)
        after = annotated[line["frame"]].astype(int)
        to_expected = np.abs(after - expected)[drawn].mean()
        to_original = np.abs(after - before.astype(int))[drawn].mean()
        assert to_expected < 0.5 * to_original


def result_from_json(line: dict) -> Result:
    return Result([Digit(d["digit"], d["confidence"], tuple(d["box"])) for d in line["digits"]],
                  [Number(n["text"], tuple(n["box"])) for n in line["numbers"]])


def test_video_command_prints_json_lines_when_given_nowhere_else(scene_video, model_path, capfd):
    assert main(["video", str(scene_video), "--model", str(model_path), "--no-progress"]) == 0
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert [line["frame"] for line in lines] == list(range(30))


def test_camera_path_driven_by_a_video_file(scene_video, model_path, tmp_path, capfd, monkeypatch):
    """The webcam's threaded newest-frame reader, fed a file played in real time; headless, as there is no
    display here."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    jsonl, recording = tmp_path / "camera.jsonl", tmp_path / "rec.avi"
    code = main(["camera", "--camera", str(scene_video), "--json", str(jsonl), "--record", str(recording),
                 "--model", str(model_path)])
    err = capfd.readouterr().err
    assert code == 0, err
    assert "no display" in err and f"saved {recording}" in err
    frames = [line["frame"] for line in read_lines(jsonl)]
    assert frames == sorted(set(frames)) and frames[-1] <= 29 and len(frames) >= 5
    # Frames the loop was too busy to take are repeated: the recording keeps the camera's real time.
    assert len(frames) <= len(read_frames(recording)) <= 30


def test_outputs_are_those_of_a_plain_loop_whatever_the_number_of_workers(scene_video, model_path, tmp_path):
    """Frames are detected on several threads at once, then tracked in order: nothing may change for it."""
    recognizer, tracker = make_recognizer(str(model_path), 0.5), Tracker()
    with open_source(scene_video) as source:
        plain = [json_record(frame, recognizer.read(tracker.update(recognizer.detect(frame.image))))
                 for frame in source]
    assert sum(bool(line["digits"]) for line in plain) > 15
    for workers, processes in [(1, False), (3, False), (2, True)]:
        path = tmp_path / f"{workers}-{processes}.jsonl"
        with open_source(scene_video) as source, JsonLinesSink(path) as json_lines:
            summary = run_loop(source, make_recognizer(str(model_path), 0.5), Tracker(), json_lines=json_lines,
                               workers=workers, processes=processes)
        assert summary.frames == 30 and read_lines(path) == plain, f"{workers} workers, processes: {processes}"


def make_truncated(tmp_path: Path, scene_video: Path) -> Path:
    """A video cut in half, in a container that can still be opened (an .mp4 cut short cannot be)."""
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    for image in read_frames(scene_video):
        writer.write(image)
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return cut


@pytest.mark.parametrize("args, message", [
    (["video", "{tmp}/missing.mp4"], "no such file"),
    (["video", "{tmp}/text.mp4"], "not a video"),
    (["video", "{tmp}/half.mp4"], "not a video"),
    (["camera", "--camera", "57"], "cannot open camera 57"),
    (["video", "{video}", "--output", "{tmp}/no/such/folder/out.mp4"], "does not exist"),
    (["video", "{video}", "--json", "{tmp}"], "is a folder"),
])
def test_bad_sources_and_outputs_give_one_line_and_exit_1(args, message, scene_video, model_path, tmp_path, capfd):
    (tmp_path / "text.mp4").write_text("this is not a video\n")
    (tmp_path / "half.mp4").write_bytes(scene_video.read_bytes()[:20000])
    args = [a.format(tmp=tmp_path, video=scene_video) for a in args] + ["--model", str(model_path)]
    assert main(args) == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("live-digits: error:"), err


def test_a_truncated_video_keeps_its_frames_then_says_so(scene_video, model_path, tmp_path, capfd):
    jsonl = tmp_path / "cut.jsonl"
    code = main(["video", str(make_truncated(tmp_path, scene_video)), "--json", str(jsonl),
                 "--model", str(model_path), "--no-progress"])
    err = capfd.readouterr().err
    assert code == 1 and "Traceback" not in err
    (line,) = error_lines(err)
    assert "truncated" in line
    assert 0 < len(read_lines(jsonl)) < 30


def write_long_video(path: Path, scene_video: Path, frames: int) -> Path:
    """The scene played back and forth, long enough to interrupt: cheaper than rendering more frames."""
    images = read_frames(scene_video)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for i in range(frames):
        lap, step = divmod(i, len(images))
        writer.write(images[step if lap % 2 == 0 else -1 - step])
    writer.release()
    return path


def wait_for_partial_lines(folder: Path, stem: str, count: int, process: subprocess.Popen, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        partials = list(folder.glob(f".{stem}.*.partial.jsonl"))
        if partials and len(partials[0].read_text().splitlines()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the run never wrote {count} lines: {process.communicate()[1]}")


def test_ctrl_c_leaves_a_playable_video_and_complete_json_lines(scene_video, model_path, tmp_path):
    source = write_long_video(tmp_path / "long.mp4", scene_video, frames=900)
    out, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "live_digits", "video", str(source), "--output", str(out), "--json", str(jsonl),
         "--model", str(model_path), "--no-progress"], stderr=subprocess.PIPE, text=True,
        # Ctrl-C as at a terminal, even where the tests run in the background (which ignores it, and children inherit).
        preexec_fn=functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL))
    wait_for_partial_lines(tmp_path, "out", 5, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted after" in err
    lines = read_lines(jsonl)
    assert [line["frame"] for line in lines] == list(range(len(lines)))
    assert 5 <= len(lines) < 900
    assert len(read_frames(out)) == len(lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "out.jsonl", "out.mp4"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays are a Linux matter")
def test_display_problem_is_named_before_any_window(monkeypatch):
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert display_problem() == "no display (DISPLAY is not set)"
    monkeypatch.setenv("DISPLAY", ":4321")
    assert "nothing listens on DISPLAY=:4321" in display_problem()


def test_rolling_fps_and_percentiles():
    fps = RollingFps(window=5)
    for i in range(10):
        fps.tick(i / 50)
    assert fps.fps == pytest.approx(50)
    assert percentiles_ms([0.001, 0.002, 0.003]) == {"p50": 2.0, "p95": 2.9, "max": 3.0}
    assert percentiles_ms([]) == {}


def bad_frame(index: int) -> Frame:
    return Frame(index, index / FPS, np.zeros((240, 320, 7), np.uint8), time.perf_counter())


def test_one_bad_frame_is_logged_and_skipped(scene_video, model_path, tmp_path, caplog):
    with open_source(scene_video) as source:
        good = list(itertools.islice(source, 6))
    frames = good[:3] + [bad_frame(3)] + [replace(frame, index=frame.index + 1) for frame in good[3:]]
    recognizer = make_recognizer(str(model_path), 0.5)
    with VideoSink(tmp_path / "out.avi", FPS, SIZE) as video, JsonLinesSink(tmp_path / "out.jsonl") as json_lines:
        summary = run_loop(frames, recognizer, Tracker(), video=video, json_lines=json_lines)
    assert (summary.frames, summary.failed) == (6, 1)
    assert "frame 3: ValueError" in caplog.text
    assert [line["frame"] for line in read_lines(tmp_path / "out.jsonl")] == [0, 1, 2, 4, 5, 6]
    assert len(read_frames(tmp_path / "out.avi")) == 6  # not a picture at all: nothing to put in the video


def test_frames_failing_one_after_another_are_a_bug_and_raise(model_path):
    recognizer = make_recognizer(str(model_path), 0.5)
    with pytest.raises(ValueError, match="not an image"):
        run_loop((bad_frame(i) for i in range(MAX_FAILED_IN_A_ROW + 1)), recognizer, Tracker())
