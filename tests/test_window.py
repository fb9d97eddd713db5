"""The live window for real: the camera command under a virtual X server (Xvfb), its screen grabbed and checked."""

import ctypes
import ctypes.util
import functools
import json
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


def start_camera(display: str, scene: Path, model_path: Path, folder: Path) -> subprocess.Popen:
    """The camera command on the scene played in real time, in `folder`; returns once the window shows digits."""
    env = {**os.environ, "DISPLAY": display}
    env.pop("WAYLAND_DISPLAY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "live_digits", "camera", "--camera", str(scene), "--json", "window.jsonl",
         "--model", str(model_path)], env=env, stderr=subprocess.PIPE, text=True, cwd=folder,
        # Ctrl-C as at a terminal, even where the tests run in the background (which ignores it, and children inherit).
        preexec_fn=functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while sum(frames_with_digits(p) for p in folder.glob(".window.*.partial.jsonl")) < 10:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the camera command never showed digits: {process.communicate()[1]}")
        time.sleep(0.05)
    return process


def window_id(display: str) -> str:
    found = subprocess.run(["xdotool", "search", "--name", "^live-digits$"], env={**os.environ, "DISPLAY": display},
                           capture_output=True, text=True, timeout=10).stdout.split()
    assert found, "no live-digits window on the screen"
    return found[0]


def press(display: str, *keys: str) -> None:
    env = {**os.environ, "DISPLAY": display}
    subprocess.run(["xdotool", "windowfocus", "--sync", window_id(display)], env=env, check=True, timeout=10)
    for key in keys:
        subprocess.run(["xdotool", "key", key], env=env, check=True, timeout=10)
        time.sleep(0.3)


def finish(process: subprocess.Popen) -> str:
    try:
        return process.communicate(timeout=30)[1]
    finally:
        if process.poll() is None:
            process.kill()


def test_camera_window_shows_the_overlay(display, long_scene, model_path, tmp_path):
    from PIL import ImageGrab

    process = start_camera(display, long_scene, model_path, tmp_path)
    time.sleep(0.3)  # a few more frames drawn since
    screen = np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB"))
    process.send_signal(signal.SIGINT)
    err = finish(process)
    assert process.returncode == 130 and "Traceback" not in err and "no display" not in err, err
    # The scene has none of the overlay's colours; the window has them: numbers read, and the status lines.
    scene = cv2.cvtColor(cv2.VideoCapture(str(long_scene)).read()[1], cv2.COLOR_BGR2RGB)
    assert pixels_near(scene, NUMBER) == 0 and pixels_near(scene, HUD_BACKGROUND, 4) < 100
    assert pixels_near(screen, NUMBER) > 50
    assert pixels_near(screen, HUD_BACKGROUND, 4) > 1000
    assert frames_with_digits(tmp_path / "window.jsonl") >= 10


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed to press keys in the window")
def test_keys_threshold_confidence_snapshot_record_and_quit(display, long_scene, model_path, tmp_path):
    process = start_camera(display, long_scene, model_path, tmp_path)
    press(display, "t")
    mask_view = grab_window(display)
    press(display, "t", "s", "r")
    press(display, *["plus"] * 5)  # confidence 0.50 -> 0.75
    time.sleep(0.5)  # recording, for a few frames
    press(display, "q")
    err = finish(process)
    assert process.returncode == 0 and "Traceback" not in err, err
    # The threshold view is the ink mask: black and white, but for the labels.
    black_or_white = np.all((mask_view == 0) | (mask_view == 255), axis=2).mean()
    assert black_or_white > 0.8
    (snapshot,) = tmp_path.glob("snapshot-*.png")
    assert cv2.imread(str(snapshot)).shape == (240, 320, 3)
    assert "digits" in json.loads(snapshot.with_suffix(".json").read_text())
    (recording,) = tmp_path.glob("recording-*.mp4")
    assert cv2.VideoCapture(str(recording)).read()[0]
    last = [json.loads(line) for line in (tmp_path / "window.jsonl").read_text().splitlines()[-3:]]
    assert all(digit["confidence"] >= 0.75 for line in last for digit in line["digits"])


def grab_window(display: str) -> np.ndarray:
    from PIL import ImageGrab

    geometry = subprocess.run(["xdotool", "getwindowgeometry", "--shell", window_id(display)], capture_output=True,
                              text=True, env={**os.environ, "DISPLAY": display}, timeout=10).stdout
    g = dict(line.split("=") for line in geometry.split())
    x, y, w, h = (int(g[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
    return np.asarray(ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=display).convert("RGB"))


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed to find the window")
def test_closing_the_window_ends_the_run_cleanly(display, long_scene, model_path, tmp_path):
    process = start_camera(display, long_scene, model_path, tmp_path)
    ask_window_to_close(display, int(window_id(display)))
    err = finish(process)
    assert process.returncode == 0 and "Traceback" not in err, err
    lines = (tmp_path / "window.jsonl").read_text().splitlines()
    frames = [json.loads(line)["frame"] for line in lines]
    assert frames == sorted(frames) and len(frames) >= 10


# What a window manager's close button sends: a WM_DELETE_WINDOW message (Xvfb has no window manager to send it).


class _ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class _Event(ctypes.Union):
    _fields_ = [("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]


def _x11():
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(_Event)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return x11


def ask_window_to_close(display: str, window: int) -> None:
    x11 = _x11()
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot connect to {display}"
    event = _Event()
    event.xclient.type = 33  # ClientMessage
    event.xclient.window = window
    event.xclient.message_type = x11.XInternAtom(connection, b"WM_PROTOCOLS", False)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", False)
    x11.XSendEvent(connection, window, False, 0, ctypes.byref(event))
    x11.XFlush(connection)
    x11.XCloseDisplay(connection)
