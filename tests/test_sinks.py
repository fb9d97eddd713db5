import json

import cv2
import numpy as np
import pytest

from live_digits.errors import UserError
from live_digits.sinks import JsonLinesSink, VideoSink, check_writable


def hidden_partials(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_video_appears_under_its_name_only_when_closed(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with VideoSink(path, fps=25, size=(160, 120)) as sink:
        for i in range(12):
            sink.write(np.full((120, 160, 3), 10 * i, np.uint8))
        assert not path.exists() and len(hidden_partials(tmp_path)) == 1
    assert path.exists() and hidden_partials(tmp_path) == []
    capture = cv2.VideoCapture(str(path))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (160, 120)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 12


def test_frames_of_another_size_are_scaled_to_the_video(tmp_path):
    path = tmp_path / "out.avi"
    with VideoSink(path, fps=1, size=(160, 120)) as sink:
        sink.write(np.zeros((300, 200, 3), np.uint8))
    ok, image = cv2.VideoCapture(str(path)).read()
    assert ok and image.shape == (120, 160, 3)


def test_video_with_no_frames_leaves_nothing(tmp_path):
    with VideoSink(tmp_path / "out.mp4", fps=30, size=(160, 120)):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, message", [
    ("missing/out.mp4", "does not exist"),
    ("out.xyz", "cannot write a .xyz video"),
    (".", "is a folder"),
])
def test_unwritable_video_paths_are_refused(tmp_path, name, message):
    with pytest.raises(UserError, match=message):
        VideoSink(tmp_path / name, fps=30, size=(160, 120))
    assert hidden_partials(tmp_path) == []


def test_json_lines_are_flushed_as_written_and_renamed_on_close(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonLinesSink(path) as sink:
        sink.write({"frame": 0, "digits": []})
        sink.write({"frame": 1, "digits": [{"digit": 7}]})
        (partial,) = hidden_partials(tmp_path)
        assert len((tmp_path / partial).read_text().splitlines()) == 2
        assert not path.exists()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["frame"] for line in lines] == [0, 1]
    assert hidden_partials(tmp_path) == []


def test_json_lines_keep_what_was_written_when_the_run_fails(tmp_path):
    path = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), JsonLinesSink(path) as sink:
        sink.write({"frame": 0})
        raise RuntimeError("the run broke")
    assert path.read_text() == '{"frame": 0}\n'


def test_json_lines_leave_nothing_when_the_run_fails_before_the_first_line(tmp_path):
    with pytest.raises(RuntimeError), JsonLinesSink(tmp_path / "out.jsonl"):
        raise RuntimeError("the source would not open")
    assert list(tmp_path.iterdir()) == []


def test_json_lines_to_standard_output(capsys):
    with JsonLinesSink("-") as sink:
        sink.write({"frame": 3})
    assert capsys.readouterr().out == '{"frame": 3}\n'


def test_check_writable_refuses_a_missing_folder(tmp_path):
    assert check_writable(tmp_path / "a.jsonl") == tmp_path / "a.jsonl"
    with pytest.raises(UserError, match="folder .* does not exist"):
        check_writable(tmp_path / "no" / "a.jsonl")
