"""Where results go: an annotated video and JSON lines, each written under a temporary name in the destination
folder and renamed into place on close, so a half-written file never sits under the name the user asked for.

Both refuse to start when they cannot write; `check_writable` lets the caller refuse before any work starts.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from live_digits.errors import UserError

STDOUT = "-"

# The codec OpenCV's FFmpeg writer can always produce for each container (no H.264 encoder ships with the wheel).
FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


def check_writable(path: str | Path) -> Path:
    """The output path, or a UserError saying why nothing could be written there."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a file name")
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{path}: cannot write into {folder} (permission denied)")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{path}: exists and cannot be overwritten (permission denied)")
    return path


def check_video_path(path: str | Path) -> Path:
    path = check_writable(path)
    if path.suffix.lower() not in FOURCC_BY_SUFFIX:
        raise UserError(f"{path}: cannot write a {path.suffix or 'suffix-less'} video; use one of "
                        + ", ".join(FOURCC_BY_SUFFIX))
    return path


def _temporary_beside(path: Path) -> Path:
    """A fresh hidden file in the destination's folder (same file system, so os.replace is atomic),
    keeping the suffix that tells OpenCV which container to write."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent or ".")
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes it private; the output should get the usual permissions
    os.close(fd)
    return Path(name)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class VideoSink:
    """Annotated frames into a video at the input's size and frame rate.

    Frames of another size (photos of different sizes) are scaled to fit. With no frame written, nothing is left
    behind: an empty video is not a video.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        self.path = check_video_path(path)
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.frames_written = 0
        self._temporary = _temporary_beside(self.path)
        fourcc = cv2.VideoWriter_fourcc(*FOURCC_BY_SUFFIX[self.path.suffix.lower()])
        self._writer = cv2.VideoWriter(str(self._temporary), fourcc, self.fps, self.size)
        if not self._writer.isOpened():
            self._writer.release()
            self._temporary.unlink(missing_ok=True)
            raise UserError(f"{self.path}: OpenCV cannot write a {self.size[0]}x{self.size[1]} video here")

    def write(self, image: np.ndarray) -> None:
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames_written += 1

    def close(self) -> None:
        """Finalize and move into place; safe to call twice."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        writer.release()
        if self.frames_written:
            os.replace(self._temporary, self.path)
        else:
            self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonLinesSink:
    """One JSON object a line, flushed as written (a crash loses at most the line being written).
    "-" writes to standard output."""

    def __init__(self, path: str | Path):
        self.lines_written = 0
        self._temporary: Path | None = None
        if str(path) == STDOUT:
            self.path = None
            self._file: TextIO | None = sys.stdout
            return
        self.path = check_writable(path)
        self._temporary = _temporary_beside(self.path)
        self._file = open(self._temporary, "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self.lines_written += 1

    def close(self, keep: bool = True) -> None:
        """Move into place (an empty file says that no frame was processed), or with keep=False drop it;
        safe to call twice."""
        if self._file is None:
            return
        file, self._file = self._file, None
        if self._temporary is None:
            file.flush()
            return
        file.close()
        if keep:
            os.replace(self._temporary, self.path)
        else:
            self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        # A run that failed before its first frame leaves nothing; one that failed later keeps what it wrote.
        self.close(keep=exc_type is None or self.lines_written > 0)
