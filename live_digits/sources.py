"""Where frames come from: one `open_source(spec)` for a webcam index, a stream URL, a video file or a folder of images.

Every source is a context manager that yields `Frame`s and releases what it opened in `finally`. Live sources
(cameras, streams) are read on their own thread that keeps only the newest frame, so a slow consumer drops frames
instead of falling behind. Files are decoded ahead on a thread too, but in order and every frame.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from live_digits.errors import UserError
from live_digits.images import IMAGE_SUFFIXES, read_image
from live_digits.overlay import as_bgr

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")

# FFmpeg and OpenCV print their own warnings ("moov atom not found", "can't open camera by index") to stderr;
# we turn each failure into one clear line instead. Set before the first capture opens; a user may override.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@dataclass(frozen=True, slots=True)
class Frame:
    index: int  # position in the source; for a live source, frames captured so far (gaps are dropped frames)
    time_s: float  # video: presentation time; live: seconds since the first frame
    image: np.ndarray  # BGR uint8, owned by whoever receives it (nothing else holds a reference)
    captured_at: float  # time.perf_counter() when the frame was decoded: latency is measured from here
    decode_s: float = 0.0  # time spent decoding it (on the reader thread)
    path: str | None = None  # for still images: the file, which the JSON line names as "source"


@dataclass(frozen=True)
class SourceInfo:
    name: str  # what the user gave, for messages
    kind: str  # "camera", "stream", "video" or "images"
    width: int
    height: int
    fps: float
    frame_count: int | None  # None when unknown or endless
    live: bool  # read on a thread that keeps the newest frame and drops the rest

    @property
    def still_images(self) -> bool:
        """Unrelated photos: nothing carries from one to the next, so they are not tracked."""
        return self.kind == "images"


class Source:
    """A context manager over an iterable of frames; `close()` is safe to call twice."""

    info: SourceInfo

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def open_source(spec: str | int | Path, width: int | None = None, height: int | None = None,
                realtime: bool = False) -> Source:
    """Open what `spec` names: "0" (webcam index), "rtsp://..." or "http://..." (stream), a video file, a folder
    of images, or a single image. `width`/`height` ask a camera for a resolution. `realtime` plays a video file
    through the live (camera) reader at its own frame rate, dropping frames a slow consumer cannot take, exactly
    as a webcam would."""
    text = str(spec).strip()
    if text.isdigit():
        return LiveSource(*_open_camera(int(text), width, height))
    if width or height:
        raise UserError(f"--width/--height apply to cameras only, not to {text}")
    if text.lower().startswith(STREAM_SCHEMES):
        return LiveSource(*_open_stream(text))
    path = Path(text)
    if path.is_dir():
        return ImageSource.from_folder(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path], name=str(path))
    capture, info = _open_video_file(path)
    if realtime:
        return LiveSource(capture, replace(info, live=True), pace_fps=info.fps)
    return VideoFileSource(capture, info)


def camera_devices() -> list[str]:
    """The video devices this machine shows (Linux), for telling the user what exists."""
    return sorted(str(p) for p in Path("/dev").glob("video*")) if sys.platform.startswith("linux") else []


def _open_camera(index: int, width: int | None, height: int | None) -> tuple[cv2.VideoCapture, SourceInfo]:
    if sys.platform.startswith("linux"):
        backend, tried = cv2.CAP_V4L2, f"/dev/video{index} with V4L2"
    elif sys.platform == "win32":
        backend, tried = cv2.CAP_DSHOW, "DirectShow"
    elif sys.platform == "darwin":
        backend, tried = cv2.CAP_AVFOUNDATION, "AVFoundation"
    else:
        backend, tried = cv2.CAP_ANY, "any backend"
    capture = cv2.VideoCapture(index, backend)
    if not capture.isOpened():
        capture.release()
        found = camera_devices()
        hint = ""
        if found:
            hint = f"; cameras found: {', '.join(found)}"
        elif sys.platform.startswith("linux"):
            hint = "; no cameras found"
        raise UserError(f"cannot open camera {index} (tried {tried}{hint})")
    # Many USB cameras give 720p and above at full rate only as MJPG; one buffered frame keeps latency low.
    capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    if width:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    if height:
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    return capture, _capture_info(capture, f"camera {index}", "camera", live=True)


def _open_stream(url: str) -> tuple[cv2.VideoCapture, SourceInfo]:
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise UserError(f"cannot open stream {url} (FFmpeg could not connect to it or read it)")
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return capture, _capture_info(capture, url, "stream", live=True)


def _open_video_file(path: Path) -> tuple[cv2.VideoCapture, SourceInfo]:
    if not os.access(path, os.R_OK) or path.is_dir():
        raise UserError(f"{path}: cannot read this file")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise UserError(f"{path}: not a video that can be read (damaged, truncated, or not a video at all)")
    info = _capture_info(capture, str(path), "video", live=False)
    if info.width <= 0 or info.height <= 0:
        capture.release()
        raise UserError(f"{path}: has no video stream")
    return capture, info


def _capture_info(capture: cv2.VideoCapture, name: str, kind: str, live: bool) -> SourceInfo:
    fps = capture.get(cv2.CAP_PROP_FPS)
    # Cameras and some containers report 0 or nonsense; 30 is what a webcam gives in practice.
    fps = fps if 1.0 <= fps <= 1000.0 else 30.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    return SourceInfo(name=name, kind=kind, width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                      height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), fps=fps,
                      frame_count=count if count > 0 and kind == "video" else None, live=live)


class LiveSource(Source):
    """A capture read on its own thread that always hands out the newest frame (the shape of imutils'
    VideoStream: start, read, stop). Cameras and streams come here; so does a video file played in real time,
    which is how tests drive the camera path without a camera."""

    FIRST_FRAME_TIMEOUT_S = 10.0
    MAX_READ_FAILURES = 30  # a camera may hiccup; this many failures in a row means it is gone

    def __init__(self, capture: cv2.VideoCapture, info: SourceInfo, pace_fps: float | None = None):
        self.info = info
        self._capture = capture
        self._pace_fps = pace_fps
        self._is_device = info.kind in ("camera", "stream")
        self._latest: Frame | None = None
        self._newest_taken = -1
        self._ended = False
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.captured = 0  # frames read from the device
        self.handed_out = 0  # of those, frames the consumer took

    @property
    def dropped(self) -> int:
        """Frames captured that the consumer never took because it was busy with an earlier one."""
        return max(0, self.captured - self.handed_out)

    def start(self) -> LiveSource:
        if self._thread is None:
            self._thread = threading.Thread(target=self._read_loop, name=f"read {self.info.name}", daemon=True)
            self._thread.start()
        return self

    def read(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet handed out, waiting for one if needed; None once the source has ended."""
        with self._changed:
            self._changed.wait_for(lambda: self._ended or (self._latest is not None
                                                           and self._latest.index > self._newest_taken), timeout)
            if self._error is not None:
                raise self._error
            frame = self._latest
            if frame is None or frame.index <= self._newest_taken:
                return None
            self._newest_taken = frame.index
            self._latest = None  # the consumer owns the array now; the reader makes a fresh one each time
            self.handed_out += 1
            return frame

    def join(self, timeout: float | None = None) -> None:
        """Wait for the reader to reach the end of the source (a file, a stream that stopped)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # A stream may block in read() for a while; releasing the capture under it would crash OpenCV,
            # so a reader that does not come back in time keeps its capture (the process is ending anyway).
            thread.join(timeout=3.0)
            if thread.is_alive():
                return
        self._capture.release()

    def close(self) -> None:
        self.stop()

    def __iter__(self) -> Iterator[Frame]:
        self.start()
        first = self.read(timeout=self.FIRST_FRAME_TIMEOUT_S)
        if first is None:
            if self._ended:
                raise UserError(f"{self.info.name} opened but gave no frames"
                                + (" (is another program using it?)" if self.info.kind == "camera" else ""))
            raise UserError(f"{self.info.name} gave no frame in {self.FIRST_FRAME_TIMEOUT_S:.0f} s")
        yield first
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def _read_loop(self) -> None:
        failures = 0
        started_at = None
        period = 1.0 / self._pace_fps if self._pace_fps else 0.0
        next_due = time.perf_counter()
        try:
            while not self._stopping.is_set():
                before = time.perf_counter()
                ok, image = self._capture.read()
                captured_at = time.perf_counter()
                if not ok:
                    failures += 1
                    if not self._is_device:
                        break
                    if failures > self.MAX_READ_FAILURES:
                        log.warning("%s stopped giving frames", self.info.name)
                        break
                    time.sleep(0.01)
                    continue
                failures = 0
                started_at = captured_at if started_at is None else started_at
                frame = Frame(self.captured, captured_at - started_at, image, captured_at, captured_at - before)
                with self._changed:
                    self._latest = frame
                    self.captured += 1
                    self._changed.notify_all()
                if period:
                    next_due += period
                    time.sleep(max(0.0, next_due - time.perf_counter()))
        except BaseException as e:  # handed to the consumer: a bug in reading shows as a traceback there
            self._error = e
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()


class VideoFileSource(Source):
    """Every frame of a video file, in order, decoded ahead on a thread so decoding overlaps recognition."""

    PREFETCH = 4
    _END = object()

    def __init__(self, capture: cv2.VideoCapture, info: SourceInfo):
        self.info = info
        self._capture = capture
        self._frames: queue.Queue = queue.Queue(maxsize=self.PREFETCH)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._decoded = 0

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._decode_loop, name=f"decode {self.info.name}", daemon=True)
            self._thread.start()
        while True:
            try:
                item = self._frames.get(timeout=0.1)
            except queue.Empty:
                if self._stopping.is_set():  # closed while a consumer (a detect worker) still waits here
                    return
                continue
            if item is self._END:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
        self._check_complete()

    def _check_complete(self) -> None:
        name, count = self.info.name, self.info.frame_count
        if self._decoded == 0:
            raise UserError(f"{name}: no frame could be decoded (damaged file or unsupported codec)")
        # The container's frame count is an estimate for some formats, so only a clear shortfall is an error.
        if count and self._decoded < count - max(2, 0.05 * count):
            raise UserError(f"{name}: ends after {self._decoded} of its {count} frames (truncated or damaged)")

    def _decode_loop(self) -> None:
        fps = self.info.fps
        try:
            while not self._stopping.is_set():
                before = time.perf_counter()
                ok, image = self._capture.read()
                decoded_at = time.perf_counter()
                if not ok:
                    break
                index = self._decoded
                self._put(Frame(index, index / fps, image, decoded_at, decoded_at - before))
                self._decoded += 1
            self._put(self._END)
        except BaseException as e:
            self._put(e)

    def _put(self, item) -> None:
        while not self._stopping.is_set():
            try:
                self._frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                return  # still inside a decode: releasing now would crash OpenCV
        self._capture.release()


class ImageSource(Source):
    """Still photos, one frame each; an image that cannot be read is reported and skipped. The first readable one
    is read on opening: its size is the size of an annotated video made from them, and none readable is an error."""

    def __init__(self, paths: list[Path], name: str):
        if not paths:
            raise UserError(f"{name}: no image files in this folder")
        self._paths = paths
        self._read: dict[int, np.ndarray] = {}  # the first readable image, kept for the first pass
        problems = []
        for index, path in enumerate(paths):
            try:
                self._read[index] = as_bgr(read_image(path))
                break
            except UserError as e:
                problems.append(str(e))
        if not self._read:
            raise UserError(problems[0] if len(paths) == 1 else f"{name}: none of its {len(paths)} images can be read")
        (first,) = self._read.values()
        # One image a second, should someone write the annotated photos as a video.
        self.info = SourceInfo(name=name, kind="images", width=first.shape[1], height=first.shape[0], fps=1.0,
                               frame_count=len(paths), live=False)

    @classmethod
    def from_folder(cls, folder: Path) -> ImageSource:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        return cls(paths, name=str(folder))

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self._paths):
            before = time.perf_counter()
            image = self._read.pop(index, None)
            if image is None:
                try:
                    image = as_bgr(read_image(path))  # the loop draws on it
                except UserError as e:
                    log.warning("skipping %s", e)
                    continue
            decoded_at = time.perf_counter()
            yield Frame(index, float(index), image, decoded_at, decoded_at - before, path=str(path))

    def close(self) -> None:
        self._read.clear()
