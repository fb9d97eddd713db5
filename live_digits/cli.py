"""`live-digits`: the command line. It parses arguments and calls the package; no logic of its own."""

from __future__ import annotations

import argparse
import sys

from live_digits.classify import DEFAULT_MODEL, quiet_tensorflow
from live_digits.errors import UserError
from live_digits.recipes import RECIPES, SHIPPED

PROG = "live-digits"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except for flags, options with none, and helps that already say it."""

    def _get_help_string(self, action):
        if action.nargs == 0 or action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _add_recognizer_options(p) -> None:
    """The options of every command that reads digits: which model, and how sure a digit must be."""
    p.add_argument("--model", default=None, help=f".keras or .tflite model (default: {DEFAULT_MODEL})")
    p.add_argument("--confidence", type=_confidence, default=0.5, help="least probability for a digit to count")


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the CNN on MNIST (offline) and export .keras, .tflite, metrics and plots",
        description="Train the digit CNN on MNIST with camera-style augmentation. Writes the model (.keras), "
        "its LiteRT export (.tflite), metrics.json and PNG plots into --out. A checkpoint is saved every "
        "epoch; --resume continues an interrupted run.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--out", default="runs/train", help="output folder")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the recipe's)")
    p.add_argument("--quick", action="store_true", help="a few hundred steps on a subset: a smoke run, not a model")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--seed", type=int, default=1234, help="random seed")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=SHIPPED,
                   help="camera: the shipped model's recipe, MNIST with European 1s and 7s, generated negatives and "
                   "crops cut by the recognizer from rendered scenes; mnist: MNIST and negatives alone, faster")
    p.add_argument("--scenes", type=int, default=None,
                   help="rendered webcam scenes whose crops (cut by the recognizer itself) join the training set; a "
                   "tenth as many more go to validation (default: the recipe's; at most 3 with --quick)")
    p.set_defaults(handler=_run_train)


def _run_train(args) -> int:
    from live_digits import train

    train.train(out_dir=args.out, recipe_name=args.recipe, epochs=args.epochs, quick=args.quick, resume=args.resume, seed=args.seed,
                scenes=args.scenes)
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy of a model on the MNIST test set",
        description="Evaluate a model on the 10,000 MNIST test digits: overall and per-class accuracy.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", default=str(DEFAULT_MODEL), help=".keras or .tflite model")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a table")
    p.set_defaults(handler=_run_evaluate)


def _run_evaluate(args) -> int:
    from live_digits import evaluate

    evaluate.main(model=args.model, as_json=args.json)
    return 0


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _add_image(sub) -> None:
    p = sub.add_parser(
        "image",
        help="read the digits in photos: annotated copies, JSON lines and a summary",
        description="Recognise the handwritten digits and numbers in image files (or in every image inside the "
        "folders given, sorted by name). Prints the numbers read per image. A file that cannot be read is reported "
        "and skipped; the command then exits with status 1 after the others are done.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    p.add_argument("--output", metavar="DIR", help="write annotated copies into this folder (created if missing)")
    p.add_argument("--json", metavar="FILE", help="write one JSON line per image to FILE ('-' for stdout)")
    _add_recognizer_options(p)
    p.set_defaults(handler=_run_image)


def _run_image(args) -> int:
    from live_digits import images

    return images.run(args.inputs, output=args.output, json_path=args.json, model=args.model, confidence=args.confidence)


def _add_video(sub) -> None:
    p = sub.add_parser(
        "video",
        help="read the digits in every frame of a video file: annotated video and JSON lines",
        description="Run the live pipeline over every frame of a video file (or every image of a folder), headless "
        "unless --show. Writes the annotated video at the input's size and frame rate and/or one JSON line per "
        "frame (\"frame\", \"time_s\", \"digits\", \"numbers\"); with neither, the JSON lines go to stdout. "
        "Ctrl-C stops early and keeps what was done.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="video file (or a folder of images)")
    p.add_argument("--output", metavar="FILE", help="annotated video (.mp4, .avi, .mkv, .mov)")
    p.add_argument("--json", metavar="FILE", help="one JSON line per frame ('-' for stdout)")
    p.add_argument("--show", action="store_true", help="also show the video in a window")
    _add_recognizer_options(p)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(handler=_run_video)


def _run_video(args) -> int:
    from live_digits import live

    return live.run_video(args.input, output=args.output, json_path=args.json, show=args.show, model=args.model,
                          confidence=args.confidence, progress=args.progress)


def _add_camera(sub) -> None:
    p = sub.add_parser(
        "camera",
        help="read digits live from a webcam, in a window",
        description="Show the webcam with a box and the recognised digit over every digit, and the numbers read. "
        "Keys: q/Esc quit, space pause, s snapshot (PNG + JSON), r start/stop recording, t show the ink mask, "
        "+/- confidence threshold. With no display it runs headless (JSON lines to stdout unless --json/--record).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--camera", default="0", metavar="SOURCE",
                   help="camera index, stream URL (rtsp://, http://), or a video file played in real time")
    p.add_argument("--width", type=_positive_int, help="ask the camera for this frame width")
    p.add_argument("--height", type=_positive_int, help="ask the camera for this frame height")
    p.add_argument("--record", metavar="FILE", help="record the annotated video from the start ('r' toggles)")
    p.add_argument("--json", metavar="FILE", help="one JSON line per processed frame ('-' for stdout)")
    p.add_argument("--snapshots", metavar="DIR", default=".", help="folder for the 's' key's snapshots")
    _add_recognizer_options(p)
    p.set_defaults(handler=_run_camera)


def _run_camera(args) -> int:
    from live_digits import live

    return live.run_camera(args.camera, width=args.width, height=args.height, record=args.record,
                           json_path=args.json, model=args.model, confidence=args.confidence,
                           snapshots=args.snapshots)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return value


def _add_scenes(sub) -> None:
    from live_digits.evaluation import STILL_COUNT, VIDEO_COUNT, VIDEO_FRAMES
    from live_digits.scenes import FIRST_EVALUATION_SEED, SCENE_KINDS

    p = sub.add_parser(
        "scenes",
        help="benchmark the recognizer on synthetic webcam scenes with known truth",
        description="Render fresh synthetic scenes (or read a folder with a truth.jsonl), recognise them and print "
        "per scene kind: digit recall and precision (box IoU >= 0.5 and the right digit), boxes located, numbers "
        "read exactly, digits read in order (1 - edit distance / digits, boxes aside), false digits per image, and "
        "recognizer time. With --videos, rendered videos go through the video command's loop instead.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--folder", metavar="DIR", help="evaluate the images listed in DIR/truth.jsonl instead")
    p.add_argument("--count", type=_positive_int,
                   help=f"how many scenes to render (default: {STILL_COUNT} stills, {VIDEO_COUNT} videos)")
    p.add_argument("--seed", type=int, default=FIRST_EVALUATION_SEED, help="first seed (scene i uses seed+i)")
    p.add_argument("--kinds", nargs="+", choices=SCENE_KINDS, metavar="KIND",
                   help=f"scene kinds, taken in turn (default: all of {', '.join(SCENE_KINDS)})")
    _add_recognizer_options(p)
    p.add_argument("--live", action="store_true", help="segment at the live video resolution, not the photo one")
    p.add_argument("--videos", action="store_true",
                   help="render short videos of a sheet held by hand instead, and read each with the video command's "
                   "own loop (tracking included): prints per kind the frames' recall, precision and F1, the worst "
                   "video's F1, and false digits per frame")
    p.add_argument("--frames", type=_positive_int, default=VIDEO_FRAMES, help="frames in each video, with --videos")
    p.add_argument("--json", metavar="FILE", help="also write the tallies per kind as JSON")
    p.add_argument("--failures", metavar="DIR", help="write every imperfectly read scene there, truth and reading drawn")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(handler=_run_scenes)


def _run_scenes(args) -> int:
    from live_digits import evaluation

    if args.videos:
        if args.folder or args.failures or args.live:
            raise UserError("--videos renders its own videos: --folder, --failures and --live are for stills")
        evaluation.run_videos(model=args.model, confidence=args.confidence, count=args.count or evaluation.VIDEO_COUNT,
                              seed=args.seed, kinds=args.kinds, frames=args.frames, json_path=args.json,
                              progress=args.progress)
        return 0
    evaluation.run(model=args.model, confidence=args.confidence, folder=args.folder,
                   count=args.count or evaluation.STILL_COUNT, seed=args.seed, kinds=args.kinds, live=args.live,
                   json_path=args.json, failures=args.failures, progress=args.progress)
    return 0


# Each subcommand adds itself here, in the order --help lists them.
COMMANDS = [_add_train, _add_evaluate, _add_image, _add_video, _add_camera, _add_scenes]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read handwritten digits live from a webcam, a video file or photos.",
        epilog="Run `live-digits COMMAND --help` for each command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow()
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
