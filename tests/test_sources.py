import functools
import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from live_digits.errors import UserError
from live_digits.sources import LiveSource, VideoFileSource, open_source

SIZE = (320, 240)
FPS = 30.0


def numbered_frame(index: int) -> np.ndarray:
    """A frame whose brightness says which one it is, robust to lossy compression."""
    return np.full((SIZE[1], SIZE[0], 3), 20 + 7 * index, np.uint8)


def frame_number(image: np.ndarray) -> int:
    return int(round((float(image.mean()) - 20) / 7))


def write_video(path: Path, frames: int = 30) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(numbered_frame(i))
    writer.release()
    return path


@pytest.fixture
def video(tmp_path) -> Path:
    return write_video(tmp_path / "in.avi")


def test_video_file_yields_every_frame_in_order(video):
    with open_source(str(video)) as source:
        assert isinstance(source, VideoFileSource)
        info = source.info
        frames = list(source)
    assert (info.kind, info.width, info.height, info.fps, info.frame_count, info.live) == ("video", 320, 240, FPS, 30,
                                                                                          False)
    assert [f.index for f in frames] == list(range(30))
    assert [frame_number(f.image) for f in frames] == list(range(30))
    assert frames[3].time_s == pytest.approx(3 / FPS)
    assert frames[0].image.shape == (240, 320, 3) and frames[0].image.dtype == np.uint8


def test_closing_early_stops_the_decoder(video):
    source = open_source(video)
    first = next(iter(source))
    source.close()
    source.close()
    assert first.index == 0
    assert not source._thread.is_alive()


def test_camera_reader_hands_out_only_the_newest_frame(video):
    """The webcam's reader, fed by a video file read flat out: once the reader has gone through the file while
    nobody asked, the one frame left to hand out is the last, and then the source has ended."""
    capture = cv2.VideoCapture(str(video))
    source = LiveSource(capture, open_source(video).info)
    with source:
        source.start()
        source.join(timeout=10)
        newest = source.read(timeout=1)
        assert newest is not None and newest.index == 29 and frame_number(newest.image) == 29
        assert source.read(timeout=1) is None
        assert source.captured == 30 and source.dropped == 29


def test_realtime_file_goes_through_the_camera_reader(video):
    with open_source(str(video), realtime=True) as source:
        assert isinstance(source, LiveSource) and source.info.live
        frames = list(source)
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices)) and indices[-1] == 29
    assert all(frame_number(f.image) == f.index for f in frames)
    assert frames[0].time_s == 0.0


def test_folder_of_images_skips_unreadable_ones(tmp_path, caplog):
    for name, size in [("b.png", (60, 80)), ("c.jpg", (90, 120))]:
        cv2.imwrite(str(tmp_path / name), np.full((*size, 3), 50, np.uint8))
    (tmp_path / "a.png").write_text("not an image")
    (tmp_path / "notes.txt").write_text("ignored")
    with open_source(tmp_path) as source:
        assert source.info.still_images
        assert (source.info.width, source.info.height) == (80, 60)  # the first readable image's
        frames = list(source)
    assert [Path(f.path).name for f in frames] == ["b.png", "c.jpg"]
    assert [f.index for f in frames] == [1, 2]
    assert "a.png" in caplog.text


def test_folder_of_unreadable_images(tmp_path):
    (tmp_path / "a.png").write_text("not an image")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(UserError, match="none of its 2 images can be read"):
        open_source(tmp_path)


def test_single_image_is_a_source_of_one_frame(tmp_path):
    path = tmp_path / "one.png"
    cv2.imwrite(str(path), np.zeros((50, 70), np.uint8))
    with open_source(path) as source:
        assert (source.info.width, source.info.height) == (70, 50)
        (frame,) = list(source)
    assert frame.image.shape == (50, 70, 3) and frame.path == str(path)


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "no such file"),
    (lambda d: (d / "text.mp4").write_text("hello") and d / "text.mp4", "not a video"),
    (lambda d: d, "no image files"),
])
def test_sources_that_cannot_open(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        open_source(make(tmp_path))


def test_truncated_video_says_so_after_its_frames(video, tmp_path):
    data = video.read_bytes()
    truncated = tmp_path / "cut.avi"
    truncated.write_bytes(data[: len(data) // 2])
    frames = []
    with pytest.raises(UserError, match="truncated"), open_source(truncated) as source:
        frames.extend(source)
    assert 0 < len(frames) < 30


def test_missing_camera_names_what_was_tried():
    with pytest.raises(UserError, match=r"cannot open camera 57 \(tried .*"):
        open_source("57")


def test_resolution_is_for_cameras_only(video):
    with pytest.raises(UserError, match="cameras only"):
        open_source(video, width=640)


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server over tmp_path: a stream URL that needs no network."""
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_stream_url_is_read_live(video, http_server):
    with open_source(f"{http_server}/{video.name}") as source:
        assert isinstance(source, LiveSource) and source.info.kind == "stream"
        frames = list(source)
    assert frames and all(frame_number(f.image) == f.index for f in frames)


def test_stream_that_cannot_be_reached(http_server):
    with pytest.raises(UserError, match="cannot open stream"):
        open_source(f"{http_server}/missing.mp4")
