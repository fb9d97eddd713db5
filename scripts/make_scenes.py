#!/usr/bin/env python3
"""Render synthetic webcam scenes of handwritten digits, with exact truth.

    .venv/bin/python scripts/make_scenes.py --out runs/scenes --count 60            # 60 stills + truth.jsonl
    .venv/bin/python scripts/make_scenes.py --out runs/scenes --kinds marker tilted # only these kinds, in turn
    .venv/bin/python scripts/make_scenes.py --out runs/videos --count 2 --video     # 2 videos + per-frame truth
    .venv/bin/python scripts/make_scenes.py --samples                                # regenerate sample_images/

Stills go to OUT as JPEGs with a truth.jsonl (one line per image: "source", "kind", "digits", "numbers"), the
folder `live-digits scenes --folder OUT` evaluates. Each video is OUT/video_SEED.mp4 with OUT/video_SEED.jsonl,
one line per frame ("frame", "time_s", "kind", "digits", "numbers"). Seeds from 10000 on are kept for evaluation:
make sets for looking and tuning below that.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from live_digits.errors import UserError
from live_digits.scenes import DEFAULT_SIZE, SCENE_KINDS, render_scene, render_video, write_stills, write_video_truth

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_images"
# (file name, seed, kind): picked by eye to show the range, all below the evaluation seeds.
SAMPLE_STILLS = (
    ("ruled_blue_pen.jpg", 6, "ruled"),
    ("marker_sticky_note.jpg", 4, "marker"),
    ("thin_ballpoint.jpg", 4, "thin_pen"),
    ("dim_uneven_light.jpg", 4, "dim_uneven"),
    ("tilted_squared.jpg", 2, "tilted"),
    ("close_up_held.jpg", 5, "close_up"),
)
SAMPLE_VIDEO = ("demo.mp4", 12, "plain", 90)  # name, seed, kind, frames (3 s at 30 fps)
SAMPLE_QUALITY = 88  # keeps a 720p still under 300 KB


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1280x720") from None
    if width < 64 or height < 64:
        raise argparse.ArgumentTypeError(f"{text} is too small (64x64 at least)")
    return width, height


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="make_scenes.py",
        description="Render synthetic webcam scenes (a sheet with handwritten MNIST test digits held in front of "
        "a camera) with exact truth boxes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--count", type=int, default=len(SCENE_KINDS), help="how many stills (or videos)")
    p.add_argument("--seed", type=int, default=0, help="first seed; scene i uses seed+i")
    p.add_argument("--kinds", nargs="+", choices=SCENE_KINDS, metavar="KIND",
                   help=f"kinds, taken in turn (default: all: {', '.join(SCENE_KINDS)})")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE, metavar="WxH", help="frame size")
    p.add_argument("--video", action="store_true", help="write videos of the sheet held by hand instead of stills")
    p.add_argument("--frames", type=int, default=90, help="frames per video")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second of a video")
    p.add_argument("--samples", action="store_true", help=f"regenerate the committed samples in {SAMPLE_DIR.name}/")
    return p


def make_samples(folder: Path = SAMPLE_DIR) -> list[Path]:
    """The committed samples: the stills with their truth.jsonl, and the demo video with its per-frame truth."""
    folder.mkdir(parents=True, exist_ok=True)
    written, truth = [], []
    for name, seed, kind in SAMPLE_STILLS:
        scene = render_scene(seed, kind)
        if not cv2.imwrite(str(folder / name), scene.image, [cv2.IMWRITE_JPEG_QUALITY, SAMPLE_QUALITY]):
            raise UserError(f"cannot write {folder / name}")
        truth.append(json.dumps(scene.truth_json(source=name)) + "\n")
        written.append(folder / name)
    (folder / "truth.jsonl").write_text("".join(truth))
    name, seed, kind, frames = SAMPLE_VIDEO
    write_video_truth(folder / "demo.jsonl", render_video(folder / name, seed, kind, frames=frames))
    return written + [folder / "truth.jsonl", folder / name, folder / "demo.jsonl"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.samples:
            for path in make_samples():
                print(path)
            return 0
        if not args.out:
            raise UserError("say where the scenes go: --out DIR (or --samples)")
        if args.count < 1 or args.frames < 1:
            raise UserError("--count and --frames must be at least 1")
        out = Path(args.out)
        kinds = args.kinds or list(SCENE_KINDS)
        seeds = range(args.seed, args.seed + args.count)
        if args.video:
            out.mkdir(parents=True, exist_ok=True)
            for i, seed in enumerate(seeds):
                truths = render_video(out / f"video_{seed:06d}.mp4", seed, kinds[i % len(kinds)], args.frames, args.fps, args.size)
                write_video_truth(out / f"video_{seed:06d}.jsonl", truths)
                print(out / f"video_{seed:06d}.mp4")
        else:
            print(write_stills(out, seeds, kinds, args.size, progress=True))
    except UserError as e:
        print(f"make_scenes.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
