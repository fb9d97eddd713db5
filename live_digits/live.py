"""The live loop: source -> recognizer.detect -> tracker -> recognizer.read -> overlay -> sinks and window.

`run_loop` is the one loop that the camera command, the video command and the benchmark all run; it times every
stage as it goes, so the benchmark quotes the numbers a user sees. Frames are independent until tracking, so
`detect` runs ahead on a pool of workers (a process per core: `live_digits.detect_pool`), and the loop tracks,
reads and writes the frames in the source's order. The window, keys, signals and progress bar are the edges
around it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from live_digits.detect_pool import (DETECT_IN_PROCESSES, MAX_WORKERS, Detected, DetectPool, ProcessDetector,
                                     ThreadDetector, usable_cores)
from live_digits.errors import UserError
from live_digits.overlay import draw_label, draw_result, frame_text_height
from live_digits.results import Result
from live_digits.sinks import STDOUT, JsonLinesSink, VideoSink, check_video_path, check_writable
from live_digits.sources import Frame, open_source
from live_digits.tracking import Tracker

log = logging.getLogger(__name__)

# In the order a frame meets them. "decode" runs on the reader's thread, overlapped with the rest; "wait" is the
# time the loop stood idle for a frame, which is what decoding costs the loop.
STAGES = ("decode", "wait", "segment", "normalize", "classify", "track", "read", "draw", "write", "show")
KEY_HELP = "q quit  space pause  s snapshot  r record  t threshold  +/- confidence"
WINDOW_TITLE = "live-digits"
CONFIDENCE_STEP = 0.05
MAX_FAILED_IN_A_ROW = 25  # one bad frame is logged and skipped; this many in a row is a bug, not a frame
HUD_BACKGROUND = (40, 40, 40)


class StageClock:
    """Seconds per stage (totals over the run) and per-frame latency (recent frames, for percentiles)."""

    def __init__(self, recent: int = 4096):
        self.totals = dict.fromkeys(STAGES, 0.0)
        self.frames = 0
        self.latencies: deque[float] = deque(maxlen=recent)  # detect to written, per frame
        self.ages: deque[float] = deque(maxlen=recent)  # decoded to written: what a camera user perceives

    def add(self, stage: str, seconds: float) -> None:
        self.totals[stage] += seconds

    def frame_done(self, latency_s: float, age_s: float) -> None:
        self.frames += 1
        self.latencies.append(latency_s)
        self.ages.append(age_s)

    def mean_ms(self) -> dict[str, float]:
        return {stage: 1000 * total / max(1, self.frames) for stage, total in self.totals.items()}


class RollingFps:
    """Frames per second over the last `window` frames: responsive, yet steady enough to read."""

    def __init__(self, window: int = 30):
        self._times: deque[float] = deque(maxlen=window)

    def tick(self, now: float) -> None:
        self._times.append(now)

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(1e-9, self._times[-1] - self._times[0])


@dataclass
class RunSummary:
    frames: int = 0  # frames processed (written to the sinks)
    failed: int = 0  # frames that could not be processed and were skipped
    seconds: float = 0.0  # wall time of the loop, first frame requested to last frame written
    stage_ms: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50/p95/max, detect to written
    age_ms: dict[str, float] = field(default_factory=dict)  # p50/p95/max, decoded to written
    interrupted: bool = False
    workers: int = 1  # the detect workers (processes or threads) that ran

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Controls:
    """What the keys change while the loop runs."""

    paused: bool = False
    show_mask: bool = False
    quit: bool = False


def percentiles_ms(seconds: Iterable[float]) -> dict[str, float]:
    values = np.fromiter(seconds, float)
    if values.size == 0:
        return {}
    p50, p95 = np.percentile(values, [50, 95]) * 1000
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "max": round(float(values.max() * 1000), 2)}


# ---------------------------------------------------------------------------------------------------------------
# The loop


def track_and_read(detected: Detected, recognizer, tracker: Tracker | None, clock: StageClock) -> Result:
    """One frame's detections through the tracker, then read; every stage timed."""
    if detected.error is not None:
        raise detected.error
    for stage, seconds in detected.timings.items():
        clock.add(stage, seconds)
    started = time.perf_counter()
    detections = detected.detections
    if tracker is not None:
        detections = tracker.update(detections)
    tracked = time.perf_counter()
    result = recognizer.read(detections)
    clock.add("track", tracked - started)
    clock.add("read", time.perf_counter() - tracked)
    return result


def json_record(frame: Frame, result: Result) -> dict:
    """The JSON line of a frame: a photo names its file, a video frame its index and time."""
    if frame.path is not None:
        return result.to_json(source=frame.path)
    return result.to_json(frame=frame.index, time_s=round(frame.time_s, 4))


def run_loop(frames: Iterable[Frame], recognizer, tracker: Tracker | None = None, *, video: VideoSink | None = None,
             recorder: Recorder | None = None, json_lines: JsonLinesSink | None = None, view: LiveView | None = None,
             progress=None, clock: StageClock | None = None, workers: int | None = None,
             processes: bool = DETECT_IN_PROCESSES) -> RunSummary:
    """Process every frame `frames` yields until it ends, the user quits, or Ctrl-C. `video` gets every frame of
    a file; `recorder` the camera's recording while it is on. Frames are annotated in place (the source hands each
    one over), so nothing is copied unless a window shows it.

    `detect` runs ahead of this loop on `workers` workers (default: one per core, at most MAX_WORKERS; processes
    or threads), and the loop tracks, reads, draws and writes each frame in the source's order: the outputs are
    the same whatever the workers."""
    clock = clock or StageClock()
    workers = workers or min(usable_cores(), MAX_WORKERS)
    summary = RunSummary(workers=workers)
    failed_in_a_row = 0
    info = getattr(frames, "info", None)
    # A live source's frames should be fresh when they are detected: no more waiting than there are workers.
    ahead = workers if info is not None and info.live else 2 * workers
    started = time.perf_counter()
    try:
        # A Keras model (no LiteRT export beside it) would load TensorFlow, for seconds, in every process; it
        # serves threads well, as TensorFlow lets go of the GIL.
        if processes and recognizer.classifier.backend == "litert":
            detectors = [ProcessDetector(recognizer, keep_mask=view is not None) for _ in range(workers)]
        else:
            detectors = [ThreadDetector(recognizer) for _ in range(workers)]
        with DetectPool(frames, detectors, ahead) as pool:
            started = time.perf_counter()  # the workers' start-up is not the frames' cost
            while view is None or not view.controls.quit:
                if view is not None and view.controls.paused:
                    view.idle()
                    continue
                waited = time.perf_counter()
                detected = next(pool, None)
                if detected is None:
                    break
                frame = detected.frame
                clock.add("wait", time.perf_counter() - waited)
                clock.add("decode", frame.decode_s)
                try:
                    result = track_and_read(detected, recognizer, tracker, clock)
                    drawn_at = time.perf_counter()
                    # Drawing only for someone who will see it: JSON lines alone need no pictures.
                    if video is not None or view is not None or (recorder is not None and recorder.recording):
                        draw_result(frame.image, result)
                    written_at = time.perf_counter()
                    clock.add("draw", written_at - drawn_at)
                    failed_in_a_row = 0
                except Exception as error:
                    failed_in_a_row += 1
                    summary.failed += 1
                    if failed_in_a_row > MAX_FAILED_IN_A_ROW:
                        raise
                    log.warning("frame %d: %s: %s (skipped)", frame.index, type(error).__name__, error)
                    result = None
                    written_at = time.perf_counter()
                with signals_held():  # a frame is in every output or in none: the video and JSON lines agree
                    # A failed frame goes in as it came, where it is a picture at all: the video keeps the input's
                    # timing.
                    if result is not None or is_bgr_picture(frame.image):
                        if video is not None:
                            video.write(frame.image)
                        if recorder is not None:
                            recorder.write(frame)
                    if json_lines is not None and result is not None:
                        json_lines.write(json_record(frame, result))
                done = time.perf_counter()
                clock.add("write", done - written_at)
                if result is not None:
                    clock.frame_done(done - detected.started_at, done - frame.captured_at)
                    summary.frames += 1
                if progress is not None:
                    progress.update(1)
                if view is not None:
                    view.show(frame, result, detected.mask, recognizer, clock)
                    clock.add("show", time.perf_counter() - done)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.seconds = time.perf_counter() - started
    summary.stage_ms = {k: round(v, 3) for k, v in clock.mean_ms().items()}
    summary.latency_ms = percentiles_ms(clock.latencies)
    summary.age_ms = percentiles_ms(clock.ages)
    return summary


def is_bgr_picture(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 and image.size > 0


# ---------------------------------------------------------------------------------------------------------------
# The window


def display_problem() -> str | None:
    """Why no window can open here, or None. OpenCV's GUI aborts the whole process when it finds no display,
    so this is checked before any window is made."""
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY", "")
    if os.environ.get("WAYLAND_DISPLAY"):
        return None
    if not display:
        return "no display (DISPLAY is not set)"
    local = display.split(".")[0]
    if local.startswith(":") or local.startswith("unix:"):
        socket = Path("/tmp/.X11-unix") / f"X{local.split(':', 1)[1]}"
        if not socket.exists():
            return f"no display (nothing listens on DISPLAY={display})"
    return None


class LiveView:
    """The window: the annotated frame, a status line (FPS, latency, confidence) and the key help; the keys act on
    the recognizer, the recording and `controls`."""

    def __init__(self, recorder: Recorder | None = None, snapshots: Path = Path(".")):
        self.controls = Controls()
        self.recorder = recorder
        self.snapshots = snapshots
        self.fps = RollingFps()
        self._last_display: np.ndarray | None = None
        self._last_frame: Frame | None = None
        self._last_result: Result | None = None
        self._recognizer = None
        self._sized = False
        _point_qt_at_system_fonts()
        cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)

    def show(self, frame: Frame, result: Result | None, mask: np.ndarray | None, recognizer, clock: StageClock) -> None:
        self.fps.tick(time.perf_counter())
        self._recognizer = recognizer
        self._last_frame, self._last_result = frame, result
        if self.controls.show_mask and mask is not None:
            display = self._mask_view(frame, result, mask)
        else:
            display = frame.image.copy()  # the frame itself stays clean for a snapshot
        latency = clock.latencies[-1] * 1000 if clock.latencies else 0.0
        self._draw_status(display, f"{self.fps.fps:5.1f} FPS  {latency:4.1f} ms  confidence {recognizer.confidence:.2f}")
        self._last_display = display
        if not self._sized:  # a resizable window opens small: start at the frame's own size
            cv2.resizeWindow(WINDOW_TITLE, display.shape[1], display.shape[0])
            self._sized = True
        cv2.imshow(WINDOW_TITLE, display)
        self._handle(cv2.waitKey(1))

    def idle(self) -> None:
        """While paused: keep the last picture up and keep listening."""
        if self._last_display is not None:
            cv2.imshow(WINDOW_TITLE, self._last_display)
        self._handle(cv2.waitKey(30))

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(WINDOW_TITLE)
            cv2.waitKey(1)

    def _mask_view(self, frame: Frame, result: Result | None, mask: np.ndarray) -> np.ndarray:
        height, width = frame.image.shape[:2]
        view = cv2.cvtColor(cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2BGR)
        return draw_result(view, result) if result is not None else view

    def _draw_status(self, display: np.ndarray, status: str) -> None:
        if self.controls.paused:
            status += "  PAUSED"
        if self.recorder is not None and self.recorder.recording:
            status += "  REC"
        if self.controls.show_mask:
            status += "  THRESHOLD"
        height = 0.8 * frame_text_height(display)
        draw_label(display, status, (0, 0), HUD_BACKGROUND, height, above=False)
        draw_label(display, KEY_HELP, (0, display.shape[0]), HUD_BACKGROUND, height, above=True)

    def _handle(self, key: int) -> None:
        if key == -1:
            if _window_closed():
                self.controls.quit = True
            return
        key &= 0xFF
        if key in (ord("q"), 27):
            self.controls.quit = True
        elif key == ord(" "):
            self.controls.paused = not self.controls.paused
        elif key == ord("t"):
            self.controls.show_mask = not self.controls.show_mask
        elif key in (ord("+"), ord("=")) and self._recognizer is not None:
            self._recognizer.confidence = min(0.99, round(self._recognizer.confidence + CONFIDENCE_STEP, 2))
        elif key in (ord("-"), ord("_")) and self._recognizer is not None:
            self._recognizer.confidence = max(0.05, round(self._recognizer.confidence - CONFIDENCE_STEP, 2))
        elif key == ord("s") and self._last_frame is not None:
            self._snapshot()
        elif key == ord("r") and self.recorder is not None:
            self.recorder.toggle()

    def _snapshot(self) -> None:
        stem = self.snapshots / f"snapshot-{datetime.now():%Y%m%d-%H%M%S-%f}"
        cv2.imwrite(str(stem.with_suffix(".png")), self._last_frame.image)
        if self._last_result is not None:
            with JsonLinesSink(stem.with_suffix(".json")) as sink:
                sink.write(json_record(self._last_frame, self._last_result))
        print(f"live-digits: saved {stem}.png", file=sys.stderr)


def _point_qt_at_system_fonts() -> None:
    """OpenCV's wheel points Qt at a font folder it does not ship, and Qt then warns on every window; the
    system's fonts do instead, where there are any."""
    if Path(os.environ.get("QT_QPA_FONTDIR", "/nonexistent")).is_dir():
        return
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if Path(folder).is_dir():
            os.environ["QT_QPA_FONTDIR"] = folder
            return


def _window_closed() -> bool:
    try:
        return cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) < 1
    except cv2.error:
        return True


class Recorder:
    """The camera's recording, started and stopped with a key: the first take goes to the name given, later ones
    to numbered names beside it. Each take opens at the size of the first frame it gets (a camera may not give the
    size asked for). Frames a busy loop dropped are repeated, so a recording keeps real time."""

    MAX_REPEAT = 5

    def __init__(self, path: Path, fps: float, start: bool):
        self.path = path
        self.fps = fps
        self.takes = 0
        self.recording = False
        self._sink: VideoSink | None = None
        self._last_index: int | None = None
        if start:
            self.toggle()

    def toggle(self) -> None:
        if self.recording:
            self._close_take()
        else:
            self.recording = True
            self.takes += 1

    def write(self, frame: Frame) -> None:
        if not self.recording:
            return
        if self._sink is None:
            path = self.path if self.takes == 1 else self.path.with_name(f"{self.path.stem}-{self.takes}{self.path.suffix}")
            height, width = frame.image.shape[:2]
            self._sink = VideoSink(path, self.fps, (width, height))
            self._last_index = None
        gap = 1 if self._last_index is None else frame.index - self._last_index
        for _ in range(int(np.clip(gap, 1, self.MAX_REPEAT))):
            self._sink.write(frame.image)
        self._last_index = frame.index

    def close(self) -> None:
        self._close_take()

    def _close_take(self) -> None:
        self.recording = False
        if self._sink is not None:
            sink, self._sink = self._sink, None
            sink.close()
            print(f"live-digits: saved {sink.path}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------------
# The commands


@contextlib.contextmanager
def terminate_as_interrupt():
    """`kill` (SIGTERM) ends a run like Ctrl-C does: outputs finalized, not cut off."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_held():
    """Ctrl-C or SIGTERM arriving inside the block takes effect when it ends, through the handler it would have
    met: work that must not be cut in two (one frame's outputs) is finished first."""
    arrived: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {signum: signal.signal(signum, lambda signum, _: arrived.append(signum)) for signum in held}
    except ValueError:  # not the main thread: signals are not delivered here
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in arrived[:1]:
            signal.raise_signal(signum)


def make_recognizer(model, confidence: float):
    """`model`: a path, a loaded Classifier, or None for the default."""
    from live_digits.recognizer import Recognizer

    if not 0 <= confidence <= 1:
        raise UserError(f"--confidence must be between 0 and 1, not {confidence}")
    return Recognizer(model=model, confidence=confidence)


def open_window(**kwargs) -> LiveView | None:
    problem = display_problem()
    if problem is not None:
        print(f"live-digits: {problem}: running without a window", file=sys.stderr)
        return None
    return LiveView(**kwargs)


def run_video(input: str, output: str | None = None, json_path: str | None = None, show: bool = False,
              model: str | None = None, confidence: float = 0.5, progress: bool = True) -> int:
    """`live-digits video`: every frame of a file (or every photo of a folder), headless unless `show`."""
    return finish(process_video(input, output, json_path, show, model, confidence, progress))


def process_video(input: str, output: str | None = None, json_path: str | None = None, show: bool = False,
                  model=None, confidence: float = 0.5, progress: bool = True, workers: int | None = None,
                  processes: bool = DETECT_IN_PROCESSES) -> RunSummary:
    """The video command's work, returning its summary (the benchmark runs exactly this). `model` may also be
    a loaded Classifier; `workers` and `processes` (see run_loop) are for comparing, the command has no option
    for them."""
    from tqdm import tqdm

    if output is not None:
        check_video_path(output)
    if json_path is None and output is None and not show:
        json_path = STDOUT  # with nowhere else to go, the results go to standard output
    if json_path not in (None, STDOUT):
        check_writable(json_path)
    with terminate_as_interrupt(), open_source(input) as source:
        info = source.info
        recognizer = make_recognizer(model, confidence)
        tracker = None if info.still_images else Tracker()
        view = open_window() if show else None
        with contextlib.ExitStack() as outputs:
            video = outputs.enter_context(VideoSink(output, info.fps, (info.width, info.height))) if output else None
            json_lines = outputs.enter_context(JsonLinesSink(json_path)) if json_path else None
            bar = outputs.enter_context(tqdm(total=info.frame_count, unit="frame", disable=not progress,
                                             file=sys.stderr, mininterval=0.5, dynamic_ncols=True))
            if view is not None:
                outputs.callback(view.close)
            return run_loop(source, recognizer, tracker, video=video, json_lines=json_lines, view=view,
                            progress=bar, workers=workers, processes=processes)


def run_camera(camera: str = "0", width: int | None = None, height: int | None = None, record: str | None = None,
               json_path: str | None = None, model: str | None = None, confidence: float = 0.5,
               snapshots: str = ".") -> int:
    """`live-digits camera`: the newest frame of a camera (or stream, or a file played in real time), in a window."""
    if record is not None:
        check_video_path(record)
    if json_path not in (None, STDOUT):
        check_writable(json_path)
    if not Path(snapshots).is_dir():
        raise UserError(f"--snapshots {snapshots}: no such folder")
    problem = display_problem()
    if problem is not None:
        json_path = json_path or (None if record else STDOUT)
    realtime = not str(camera).isdigit()
    with terminate_as_interrupt(), open_source(camera, width, height, realtime=realtime) as source:
        info = source.info
        if problem is not None:
            where = "" if json_path != STDOUT else "; JSON lines on standard output"
            print(f"live-digits: {problem}: running without a window{where} (Ctrl-C stops)", file=sys.stderr)
        recognizer = make_recognizer(model, confidence)
        with contextlib.ExitStack() as outputs:
            json_lines = outputs.enter_context(JsonLinesSink(json_path)) if json_path else None
            recorder = Recorder(Path(record or f"recording-{datetime.now():%Y%m%d-%H%M%S}.mp4"), info.fps,
                                start=record is not None)
            outputs.callback(recorder.close)
            view = None
            if problem is None:
                view = LiveView(recorder=recorder, snapshots=Path(snapshots))
                outputs.callback(view.close)
            summary = run_loop(source, recognizer, Tracker(), recorder=recorder, json_lines=json_lines, view=view)
    return finish(summary)


def finish(summary: RunSummary) -> int:
    if summary.failed:
        print(f"live-digits: {summary.failed} frame(s) could not be processed and were skipped", file=sys.stderr)
    if summary.interrupted:
        print(f"live-digits: interrupted after {summary.frames} frames; outputs saved", file=sys.stderr)
        return 130
    return 0
