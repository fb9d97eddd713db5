"""How fast the live loop is, measured by running it: the figures come from the stage clock that `live-digits video`
itself keeps, on a rendered 720p video with about a dozen digits a frame.

Six measurements, in one run:
  command   `live-digits video INPUT --json FILE` run as a user runs it, timed with its start-up subtracted
            (the same command on the first frames only);
  real      the video command's work in this process: end-to-end FPS and time per stage;
  one       the same with detect on one worker, to see what the other cores add;
  threads   the same with detect on threads instead of processes;
  naive     the same frames through a textbook loop (decode, segment, then Keras `model.predict` per crop);
  camera    the webcam path (the threaded newest-frame reader) fed the video in real time: capture-to-output latency;
  memory    resident memory while the real loop runs over the video again and again (--minutes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from live_digits.classify import Classifier
from live_digits.detect_pool import DETECT_IN_PROCESSES
from live_digits.errors import UserError
from live_digits.live import RunSummary, make_recognizer, process_video, run_loop
from live_digits.sinks import JsonLinesSink, VideoSink
from live_digits.sources import Frame, open_source
from live_digits.tracking import Tracker

SIZE = (1280, 720)
FPS = 30.0
DIGITS_WANTED = (10, 14)  # digits a frame: "about a dozen"
LOOP_STAGES = ("track", "read", "draw", "write")  # the rest runs on the decoding and detect threads
FIRST_SEED = 500  # below the evaluation seeds; the scenes' content does not matter here, only their load


@dataclass
class MemoryTrace:
    minutes: float
    frames: int
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MB)

    def peaks_mb(self) -> tuple[float, float]:
        """The highest resident memory in the first and in the second half of the run, after the first tenth
        (start-up). A leak raises the second; the allocator's ups and downs, which a fitted slope mistakes for a
        trend over a short run, do not."""
        samples = self.rss_mb[len(self.rss_mb) // 10:]
        if not samples:
            return 0.0, 0.0
        half = samples[0][0] + (samples[-1][0] - samples[0][0]) / 2
        first = [mb for t, mb in samples if t <= half]
        second = [mb for t, mb in samples if t > half] or first
        return max(first), max(second)


@dataclass
class CommandTiming:
    """The video command as a process: all of it, and the part spent on frames (start-up subtracted)."""

    frames: int
    seconds: float  # the whole command
    startup_s: float  # the same command on `short_frames` frames, less those frames' share of the per-frame time
    short_frames: int
    fps: float  # frames beyond the short run over the seconds beyond it


@dataclass
class BenchmarkReport:
    video: str
    size: tuple[int, int]
    frames: int
    digits_per_frame: float
    cpu: str
    real: RunSummary
    one_worker: RunSummary | None
    threads: RunSummary | None
    command: CommandTiming | None
    naive_ms_per_frame: float | None
    naive_frames: int
    camera: RunSummary | None
    memory: MemoryTrace | None

    def speedup(self, fps: float) -> float | None:
        if not self.naive_ms_per_frame or not fps:
            return None
        return self.naive_ms_per_frame * fps / 1000

    def to_json(self) -> dict:
        data = asdict(self)
        data["real"]["fps"] = round(self.real.fps, 1)
        for name in ("one_worker", "threads"):
            if getattr(self, name) is not None:
                data[name]["fps"] = round(getattr(self, name).fps, 1)
        speedup = self.speedup(self.real.fps)
        data["speedup_over_naive"] = None if speedup is None else round(speedup, 1)
        if self.command is not None:
            command_speedup = self.speedup(self.command.fps)
            data["command_speedup_over_naive"] = None if command_speedup is None else round(command_speedup, 1)
        if self.memory is not None:
            data["memory"]["peaks_mb"] = self.memory.peaks_mb()
        return data


# ---------------------------------------------------------------------------------------------------------------
# The input


def benchmark_video(folder: Path, frames: int, size: tuple[int, int] = SIZE) -> tuple[Path, float]:
    """A rendered video with about a dozen digits a frame, made once and kept in `folder`; with its mean count of
    digits a frame."""
    from live_digits.scenes import render_video

    path = folder / f"benchmark-{size[0]}x{size[1]}-{frames}.mp4"
    truth = path.with_suffix(".digits")
    if path.exists() and truth.exists():
        return path, float(truth.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    seed = _seed_with_about_a_dozen_digits(folder, size)
    truths = render_video(path, seed=seed, kind="plain", frames=frames, fps=FPS, size=size)
    digits = float(np.mean([len(t.digits) for t in truths]))
    truth.write_text(f"{digits:.2f}\n")
    return path, digits


def _seed_with_about_a_dozen_digits(folder: Path, size: tuple[int, int]) -> int:
    from live_digits.scenes import render_video

    probe = folder / "probe.mp4"
    try:
        for seed in range(FIRST_SEED, FIRST_SEED + 200):
            (truth,) = render_video(probe, seed=seed, kind="plain", frames=1, fps=FPS, size=size)
            if DIGITS_WANTED[0] <= len(truth.digits) <= DIGITS_WANTED[1]:
                return seed
    finally:
        probe.unlink(missing_ok=True)
    raise RuntimeError(f"no scene with {DIGITS_WANTED} digits in 200 seeds")


# ---------------------------------------------------------------------------------------------------------------
# The measurements


def measure_real(video: Path, model, workdir: Path, workers: int | None = None,
                 processes: bool = DETECT_IN_PROCESSES) -> RunSummary:
    """Exactly the video command with --json, progress bar off."""
    return process_video(str(video), json_path=str(workdir / "real.jsonl"), model=model, progress=False,
                         workers=workers, processes=processes)


def measure_command(video: Path, model, workdir: Path, frames: int, short_frames: int = 10) -> CommandTiming | None:
    """`live-digits video VIDEO --json FILE` as a separate process, and the same on a copy of its first
    `short_frames` frames: the difference is what the frames beyond those cost, start-up (imports, model)
    subtracted."""
    short = workdir / f"first-{short_frames}.mp4"
    with open_source(video) as source:
        info = source.info
        with VideoSink(short, info.fps or FPS, (info.width, info.height)) as sink:
            for frame in itertools.islice(source, short_frames):
                sink.write(frame.image)
    if sink.frames_written < short_frames:
        return None

    def seconds(path: Path) -> float:
        command = [sys.executable, "-m", "live_digits", "video", str(path), "--json", str(workdir / "command.jsonl"),
                   "--no-progress", "--model", str(model)]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    whole, first = seconds(video), seconds(short)
    per_frame = max(1e-9, whole - first) / (frames - short_frames)
    return CommandTiming(frames=frames, seconds=round(whole, 3), startup_s=round(first - short_frames * per_frame, 3),
                         short_frames=short_frames, fps=round(1 / per_frame, 1))


def measure_naive(video: Path, model, frames: int) -> float | None:
    """Milliseconds a frame for the textbook loop: decode, then the same recognizer, but classifying with one
    Keras `model.predict` call per crop; then read and draw. No threads, no batching, no LiteRT, no tracker."""
    import cv2

    from live_digits.overlay import draw_result
    from live_digits.recognizer import Recognizer

    keras_path = Path(model).with_suffix(".keras")
    if not keras_path.exists():
        return None
    recognizer = Recognizer(model=PerCropKeras(keras_path))
    capture = cv2.VideoCapture(str(video))
    spent = []
    try:
        for _ in range(frames + 1):  # the first frame warms Keras up and is not counted
            started = time.perf_counter()
            ok, image = capture.read()
            if not ok:
                break
            draw_result(image, recognizer.recognize(image))
            spent.append(time.perf_counter() - started)
    finally:
        capture.release()
    return 1000 * float(np.mean(spent[1:])) if len(spent) > 1 else None


class PerCropKeras(Classifier):
    """The textbook classifier: the Keras model, called once for every crop."""

    def __init__(self, path: Path):
        super().__init__(path, prefer_tflite=False)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops).reshape(-1, 28, 28, 1).astype(np.float32)
        if len(crops) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        return np.concatenate([self._keras.predict(crop[None], verbose=0) for crop in crops])


def measure_camera(video: Path, model, workdir: Path, seconds: float) -> RunSummary:
    """The webcam path, fed the video in real time: what the loop adds between a frame's capture and its output."""
    recognizer = make_recognizer(model, 0.5)
    deadline = time.perf_counter() + seconds
    with open_source(video, realtime=True) as source, JsonLinesSink(workdir / "camera.jsonl") as json_lines:
        frames = itertools.takewhile(lambda _: time.perf_counter() < deadline, source)
        return run_loop(frames, recognizer, Tracker(), json_lines=json_lines)


def measure_memory(video: Path, model, workdir: Path, minutes: float, sample_every_s: float = 2.0) -> MemoryTrace:
    """The real loop over the video again and again for `minutes`, resident memory sampled as it goes."""
    recognizer = make_recognizer(model, 0.5)
    trace = MemoryTrace(minutes=minutes, frames=0)
    started = time.perf_counter()
    deadline = started + 60 * minutes

    def looped() -> Iterator[Frame]:
        index = 0
        next_sample = started
        while time.perf_counter() < deadline:
            with open_source(video) as source:
                for frame in source:
                    now = time.perf_counter()
                    if now >= deadline:
                        return
                    if now >= next_sample:
                        trace.rss_mb.append((round(now - started, 2), round(resident_mb(), 1)))
                        next_sample = now + sample_every_s
                    yield replace(frame, index=index, time_s=index / FPS)
                    index += 1

    with JsonLinesSink(workdir / "memory.jsonl") as json_lines:
        summary = run_loop(looped(), recognizer, Tracker(), json_lines=json_lines)
    trace.frames = summary.frames
    trace.rss_mb.append((round(time.perf_counter() - started, 2), round(resident_mb(), 1)))
    return trace


def frames_in(video: Path) -> int:
    with open_source(video) as source:
        return sum(1 for _ in source)


def resident_mb() -> float:
    """This process's resident memory now (Linux), or its peak where only that is known."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# ---------------------------------------------------------------------------------------------------------------
# The report


def cpu_description() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores usable, load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else name


def format_report(report: BenchmarkReport) -> str:
    real = report.real
    lines = [
        f"video      {report.video}: {report.size[0]}x{report.size[1]}, {report.frames} frames, "
        f"{report.digits_per_frame:.1f} digits a frame",
        f"machine    {report.cpu}",
        "",
    ]
    if report.command is not None:
        command = report.command
        lines.append(f"command    {command.fps:7.1f} FPS end to end, start-up subtracted: `live-digits video INPUT "
                     f"--json FILE` took {command.seconds:.2f} s for {command.frames} frames, "
                     f"{command.startup_s:.2f} s of it start-up")
    lines += [
        f"real loop  {real.fps:7.1f} FPS end to end ({real.frames} frames in {real.seconds:.2f} s, "
        f"detect on {real.workers} {'processes' if DETECT_IN_PROCESSES else 'threads'})",
        "           ms a frame: " + "  ".join(f"{stage} {ms:.2f}" for stage, ms in real.stage_ms.items()
                                               if stage != "show"),
        "           (decode and the recognizer's stages run on their own threads, each stage timed as it ran there;",
        "           'wait' is the loop standing idle for them)",
        f"           the loop's own work (track, read, draw, write): "
        f"{sum(real.stage_ms.get(k, 0) for k in LOOP_STAGES):.2f} ms a frame",
        f"latency    detect to written: p50 {real.latency_ms.get('p50', 0):.1f} ms, "
        f"p95 {real.latency_ms.get('p95', 0):.1f} ms, max {real.latency_ms.get('max', 0):.1f} ms",
    ]
    if report.one_worker is not None:
        one = report.one_worker
        lines.append(f"one worker {one.fps:7.1f} FPS with detect on one worker; {real.workers} are "
                     f"{real.fps / max(one.fps, 1e-9):.2f}x that")
    if report.threads is not None:
        lines.append(f"threads    {report.threads.fps:7.1f} FPS with detect on {report.threads.workers} "
                     f"{'threads' if DETECT_IN_PROCESSES else 'processes'} instead")
    if report.camera is not None:
        cam = report.camera
        lines.append(f"camera     real-time feed: {cam.fps:.1f} FPS processed; capture to output p50 "
                     f"{cam.age_ms.get('p50', 0):.1f} ms, p95 {cam.age_ms.get('p95', 0):.1f} ms, "
                     f"max {cam.age_ms.get('max', 0):.1f} ms")
    if report.naive_ms_per_frame is not None:
        lines.append(f"naive loop {report.naive_ms_per_frame:7.1f} ms a frame ({1000 / report.naive_ms_per_frame:.2f}"
                     f" FPS, Keras predict per crop, {report.naive_frames} frames)")
        lines.append(f"speed-up   {report.speedup(real.fps):7.1f}x the naive loop"
                     + (f" ({report.speedup(report.command.fps):.1f}x for the command)" if report.command else ""))
    else:
        lines.append("naive loop skipped (needs the .keras model)")
    if report.memory is not None:
        mem = report.memory
        values = [mb for _, mb in mem.rss_mb]
        first, second = mem.peaks_mb()
        lines.append(f"memory     {mem.minutes:g} min, {mem.frames} frames: RSS {values[0]:.0f} -> {values[-1]:.0f} MB, "
                     f"between {min(values):.0f} and {max(values):.0f}; peak {first:.0f} MB in the first half, "
                     f"{second:.0f} MB in the second")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model (default: the shipped one)")
    parser.add_argument("--video", help="benchmark this video instead of the rendered one")
    parser.add_argument("--frames", type=int, default=300, help="frames in the rendered video")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "live-digits-benchmark"),
                        help="where the rendered video is kept between runs")
    parser.add_argument("--naive-frames", type=int, default=10, help="frames through the (slow) naive loop")
    parser.add_argument("--no-command", dest="command", action="store_false",
                        help="skip timing the video command as a separate process")
    parser.add_argument("--no-one-worker", dest="one_worker", action="store_false",
                        help="skip the run with detect on one worker")
    parser.add_argument("--no-threads", dest="threads", action="store_false",
                        help="skip the run with detect on threads (processes, where threads are the default)")
    parser.add_argument("--camera-seconds", type=float, default=5.0, help="seconds of the real-time camera path; 0 skips")
    parser.add_argument("--minutes", type=float, default=0.25, help="minutes of the memory run; 0 skips")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    try:
        report = run(args)
    except UserError as e:
        print(f"benchmark: error: {e}", file=sys.stderr)
        return 1
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return 0


def run(args) -> BenchmarkReport:
    from live_digits.classify import default_model_path

    model = args.model or str(default_model_path())
    if args.video:
        video, digits = Path(args.video), float("nan")
    else:
        print("rendering the benchmark video (once; kept in --cache) ...", file=sys.stderr)
        video, digits = benchmark_video(Path(args.cache), args.frames)
    with tempfile.TemporaryDirectory(prefix="live-digits-benchmark-") as workdir:
        workdir = Path(workdir)
        command = None
        if args.command:
            print("video command ...", file=sys.stderr)
            command = measure_command(video, model, workdir, frames_in(video))
        print("real loop ...", file=sys.stderr)
        real = measure_real(video, model, workdir)
        one_worker = None
        if args.one_worker:
            print("real loop, one worker ...", file=sys.stderr)
            one_worker = measure_real(video, model, workdir, workers=1)
        threads = None
        if args.threads:
            print("real loop, the other kind of worker ...", file=sys.stderr)
            threads = measure_real(video, model, workdir, processes=not DETECT_IN_PROCESSES)
        camera = None
        if args.camera_seconds > 0:
            print("camera path ...", file=sys.stderr)
            camera = measure_camera(video, model, workdir, args.camera_seconds)
        # Before the naive loop, which brings in TensorFlow: the memory is the real loop's own.
        memory = None
        if args.minutes > 0:
            print(f"memory over {args.minutes:g} min ...", file=sys.stderr)
            memory = measure_memory(video, model, workdir, args.minutes)
        naive = None
        if args.naive_frames > 0:
            print("naive loop ...", file=sys.stderr)
            naive = measure_naive(video, model, args.naive_frames)
    with open_source(video) as source:
        info = source.info
    return BenchmarkReport(video=str(video), size=(info.width, info.height), frames=real.frames,
                           digits_per_frame=digits, cpu=cpu_description(), real=real, one_worker=one_worker, threads=threads,
                           command=command, naive_ms_per_frame=naive,
                           naive_frames=args.naive_frames, camera=camera, memory=memory)
