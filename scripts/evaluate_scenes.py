#!/usr/bin/env python3
"""Benchmark the recognizer on synthetic scenes: `python scripts/evaluate_scenes.py --count 240`
(the same as `live-digits scenes`; `--folder DIR` scores a folder with a truth.jsonl, `--help` for the rest)."""

import sys

from live_digits.cli import main

if __name__ == "__main__":
    sys.exit(main(["scenes", *sys.argv[1:]]))
