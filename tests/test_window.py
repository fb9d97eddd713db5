"""The live window for real: the camera command under a virtual X server (Xvfb), its screen grabbed and checked."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from live_digits.overlay import NUMBER
from live_digits.live import HUD_BACKGROUND
from live_digits.scenes import render_video

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None,
                                reason="Xvfb is not installed (apt-get install xvfb) to give the window a screen")

SIZE = (320, 240)
FPS = 30


def free_display() -> int:
    for number in range(91, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number")


@pytest.fixture
def display():
    number = free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 20
    while not socket.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"Xvfb did not start on :{number}")
        time.sleep(0.05)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def long_scene(tmp_path) -> Path:
    """About ten seconds of a sheet held to the camera, played back and forth: time to look at the window."""
    short = tmp_path / "short.mp4"
    render_video(short, seed=11, frames=30, fps=FPS, size=SIZE)
    capture = cv2.VideoCapture(str(short))
    images = []
    while (read := capture.read())[0]:
        images.append(read[1])
    path = tmp_path / "scene.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    for lap in range(10):
        for image in images if lap % 2 == 0 else images[::-1]:
            writer.write(image)
    writer.release()
    return path


def pixels_near(image_rgb: np.ndarray, bgr, tolerance: int = 12) -> int:
    rgb = np.array(bgr[::-1], int)
    return int(np.all(np.abs(image_rgb.astype(int) - rgb) <= tolerance, axis=2).sum())


def frames_with_digits(path: Path) -> int:
    if not path.exists():
        return 0
    return sum('"digit"' in line for line in path.read_text().splitlines())


def test_camera_window_shows_the_overlay_and_quits_on_q(display, long_scene, model_path, tmp_path):
    from PIL import ImageGrab

    jsonl = tmp_path / "window.jsonl"
    env = {**os.environ, "DISPLAY": display}
    env.pop("WAYLAND_DISPLAY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "live_digits", "camera", "--camera", str(long_scene), "--json", str(jsonl),
         "--model", str(model_path)], env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while sum(frames_with_digits(p) for p in tmp_path.glob(".window.*.partial.jsonl")) < 10:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1]
            time.sleep(0.05)
        time.sleep(0.3)  # a few more frames drawn since
        screen = np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB"))
        quit_by_key = shutil.which("xdotool") is not None  # without it, Ctrl-C ends the run instead
        if quit_by_key:
            window = subprocess.run(["xdotool", "search", "--name", "live-digits"], env=env, capture_output=True,
                                    text=True).stdout.split()
            subprocess.run(["xdotool", "windowfocus", "--sync", window[0]], env=env, check=True, timeout=10)
            subprocess.run(["xdotool", "key", "q"], env=env, check=True, timeout=10)
        else:
            process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == (0 if quit_by_key else 130), err
    assert "Traceback" not in err and "no display" not in err
    # The scene has none of the overlay's colours; the window has them: numbers read, and the status lines.
    scene = cv2.cvtColor(cv2.VideoCapture(str(long_scene)).read()[1], cv2.COLOR_BGR2RGB)
    assert pixels_near(scene, NUMBER) == 0 and pixels_near(scene, HUD_BACKGROUND, 4) < 100
    assert pixels_near(screen, NUMBER) > 50
    assert pixels_near(screen, HUD_BACKGROUND, 4) > 1000
    assert jsonl.exists() and frames_with_digits(jsonl) >= 10
