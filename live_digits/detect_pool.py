"""The detect workers: `detect` runs ahead of the live loop on one worker per core, and the frames come back in the
source's order.

Frames are independent until tracking, so each worker detects whole frames side by side with the others. Workers are
processes by default (no GIL shared; each loads the model once), a frame passed to its process through a
memory-mapped file; threads where the model is Keras or when asked for.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from live_digits.results import Detection
from live_digits.sources import Frame


# Processes share the cores fully; threads share the GIL for the Python parts of detect (about a third of it).
DETECT_IN_PROCESSES = True
# Decoding and the loop's own work take 4-5 ms a frame on one core: past about four detect workers (12 ms a frame
# each) they, not detect, set the pace, and each worker holds its own model and memory.
MAX_WORKERS = 4


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class Detected:
    """A frame after `detect`, on its way back to the loop: its detections, or the error that stopped them."""

    frame: Frame
    detections: list[Detection] | None
    timings: dict[str, float]  # seconds per recognizer stage, spent on a worker
    mask: np.ndarray | None  # the ink mask, for the window's threshold view
    started_at: float  # time.perf_counter() when detect began: latency is counted from here
    error: Exception | None = None


def detect_image(recognizer, image: np.ndarray, keep_mask: bool = True):
    """(detections, seconds per stage, ink mask or None, error or None) of one image: a worker's whole job."""
    try:
        detections = recognizer.detect(image)
    except Exception as error:  # the loop decides whether one bad frame is a bug
        return None, {}, None, error
    return detections, dict(recognizer.last_timings), recognizer.last_mask if keep_mask else None, None


def detect_frame(recognizer, frame: Frame) -> Detected:
    started = time.perf_counter()
    detections, timings, mask, error = detect_image(recognizer, frame.image)
    return Detected(frame, detections, timings, mask, started, error)


def worker_recognizer(model, work_side: int, litert: bool = True):
    """A detect worker's recognizer, the one definition of its settings for threads and processes alike: the
    loop's model and working size, with a LiteRT interpreter of its own (one serves one thread at a time) on one
    LiteRT thread, as the workers already share out the cores. `model` is the model's path, or a loaded Keras
    Classifier, which is shared as it is: Keras serves many threads at once, and takes seconds to load. A worker
    only detects, so the confidence, which only reading uses, is left at its default."""
    from live_digits.classify import Classifier
    from live_digits.recognizer import Recognizer

    if not isinstance(model, Classifier):
        model = Classifier(model, prefer_tflite=litert, threads=1)
    return Recognizer(model=model, work_side=work_side)


class ThreadDetector:
    """detect in the calling thread, with a recognizer of its own."""

    def __init__(self, recognizer):
        classifier = recognizer.classifier
        model = classifier.path if classifier.backend == "litert" else classifier
        self._recognizer = worker_recognizer(model, recognizer.work_side)

    def wait_ready(self) -> None:
        pass

    def detect(self, frame: Frame) -> Detected:
        return detect_frame(self._recognizer, frame)

    def close(self) -> None:
        pass


class ProcessDetector:
    """detect in a process of its own, which loads the model once: no GIL shared with the loop or the other
    workers. The frame goes over in a memory-mapped file both map (a copy, not a pickle; in /dev/shm where
    there is one, so it never touches a disk), the detections come back pickled.
    The process runs in a session of its own, out of reach of the terminal's Ctrl-C (the loop handles that),
    and ends when its end of the socket closes."""

    def __init__(self, recognizer, keep_mask: bool):
        import socket
        import subprocess
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        classifier = recognizer.classifier
        # A plain `python -c`, not multiprocessing: a spawned child would import the caller's main script again.
        command = [sys.executable, "-c", "import sys; from live_digits.detect_pool import _detect_process; "
                   "_detect_process(*sys.argv[1:])", str(theirs.fileno()), str(classifier.path),
                   str(int(classifier.backend == "litert")), str(recognizer.work_side), str(int(keep_mask))]
        self._process = subprocess.Popen(command, pass_fds=(theirs.fileno(),), start_new_session=True)
        theirs.close()
        self._pipe = Connection(ours.detach())
        self._memory = None

    def wait_ready(self) -> None:
        """Until the process has loaded the model: start-up, not frames, pays for that."""
        self._pipe.recv()

    def detect(self, frame: Frame) -> Detected:
        image = frame.image
        if self._memory is None or len(self._memory) < image.nbytes:
            self._release_memory()
            self._memory = SharedFile(image.nbytes)
        np.ndarray(image.shape, image.dtype, self._memory.map)[...] = image
        started = time.perf_counter()
        self._pipe.send((str(self._memory.path), image.shape, image.dtype.str))
        detections, timings, mask, error = self._pipe.recv()
        return Detected(frame, detections, timings, mask, started, error)

    def close(self) -> None:
        self._pipe.close()  # the process sees the end of its socket and returns
        try:
            self._process.wait(timeout=5.0)
        except Exception:
            self._process.kill()
        self._release_memory()

    def _release_memory(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None


class SharedFile:
    """A memory-mapped temporary file of `size` bytes that another process maps by its path; removed on close."""

    def __init__(self, size: int, path: Path | None = None):
        import mmap
        import tempfile

        self.owner = path is None
        if self.owner:
            folder = "/dev/shm" if Path("/dev/shm").is_dir() else None
            fd, name = tempfile.mkstemp(prefix="live-digits-frame-", dir=folder)
            os.ftruncate(fd, max(1, size))
            self.path = Path(name)
        else:
            fd = os.open(path, os.O_RDWR)
            self.path = path
        try:
            self.map = mmap.mmap(fd, 0)
        finally:
            os.close(fd)

    def __len__(self) -> int:
        return len(self.map)

    def close(self) -> None:
        self.map.close()
        if self.owner:
            self.path.unlink(missing_ok=True)


def _detect_process(fd: str, model: str, litert: str, work_side: str, keep_mask: str) -> None:
    """A ProcessDetector's process: frames in, detections out, until the socket closes."""
    from multiprocessing.connection import Connection

    pipe = Connection(int(fd))
    keep_mask = keep_mask == "1"
    recognizer = worker_recognizer(model, int(work_side), litert == "1")
    pipe.send(None)  # ready
    attached: dict[str, SharedFile] = {}
    try:
        while True:
            try:
                name, shape, dtype = pipe.recv()
            except (EOFError, OSError):
                return
            if name not in attached:
                for old in attached.values():
                    old.close()
                attached = {name: SharedFile(0, Path(name))}
                # Both map it now: its name is no longer needed, and a parent killed outright leaves nothing behind.
                Path(name).unlink(missing_ok=True)
            image = np.ndarray(shape, np.dtype(dtype), attached[name].map)
            detected = detect_image(recognizer, image, keep_mask)
            del image  # a view of the shared memory must not outlive it
            pipe.send(detected)
    finally:
        for memory in attached.values():
            memory.close()


class DetectPool:
    """`detect` for a stream of frames by `detectors` (each run by a thread of its own), handed back in the
    source's order; the pool closes the detectors.

    Frames are independent until tracking, so they can be detected side by side. Each worker pulls its next
    frame itself when it is free: a live source then gives it the
    newest frame, a file the next one. At most `ahead` frames are out between the source and the loop, so a
    slow loop holds the workers back instead of piling frames up. An error of the source (a truncated file)
    comes after the frames before it, as it would in a plain loop."""

    def __init__(self, frames: Iterable[Frame], detectors: list, ahead: int):
        self._frames = iter(frames)
        self._detectors = detectors
        self._ahead = max(ahead, len(detectors))
        self._pulling = threading.Lock()  # one worker at a time draws from the source
        self._changed = threading.Condition()
        self._done: dict[int, Detected] = {}
        self._pulled = 0
        self._handed = 0
        self._end: int | None = None  # frames in all, once the source has ended
        self._source_error: BaseException | None = None
        self._broken: BaseException | None = None  # a worker that cannot go on (its process died): a bug
        self._stopping = False
        try:
            for detector in detectors:  # all started before this: they load side by side
                detector.wait_ready()
        except BaseException:
            for detector in detectors:
                detector.close()
            raise
        self._threads = [threading.Thread(target=self._work, args=(d,), name=f"detect {i}", daemon=True)
                         for i, d in enumerate(detectors)]
        for thread in self._threads:
            thread.start()

    def __iter__(self) -> Iterator[Detected]:
        return self

    def __next__(self) -> Detected:
        with self._changed:
            while self._handed not in self._done and self._handed != self._end:
                if self._broken is not None:
                    raise self._broken
                self._changed.wait(0.5)  # a timeout keeps Ctrl-C responsive
            if self._handed == self._end:
                if self._source_error is not None:
                    error, self._source_error = self._source_error, None
                    raise error
                raise StopIteration
            detected = self._done.pop(self._handed)
            self._handed += 1
            self._changed.notify_all()
            return detected

    def close(self, timeout: float = 2.0) -> None:
        """Stop pulling frames; wait a while for workers inside a detect (a worker waiting on a stalled
        stream is left behind: it is a daemon and stops with the source)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        deadline = time.perf_counter() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.perf_counter()))
        for thread, detector in zip(self._threads, self._detectors):
            if not thread.is_alive():
                detector.close()

    def __enter__(self) -> DetectPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _work(self, detector) -> None:
        while True:
            with self._pulling:
                with self._changed:
                    self._changed.wait_for(lambda: self._stopping or self._end is not None
                                           or self._pulled - self._handed < self._ahead)
                    if self._stopping or self._end is not None:
                        return
                try:
                    frame = next(self._frames)
                except BaseException as error:
                    with self._changed:
                        self._end = self._pulled
                        if not isinstance(error, StopIteration):
                            self._source_error = error
                        self._changed.notify_all()
                    return
                number = self._pulled
                self._pulled += 1
            try:
                detected = detector.detect(frame)
            except BaseException as error:
                with self._changed:
                    self._broken = error
                    self._changed.notify_all()
                return
            with self._changed:
                self._done[number] = detected
                self._changed.notify_all()
