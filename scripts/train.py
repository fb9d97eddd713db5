#!/usr/bin/env python3
"""Train the shipped model: `python scripts/train.py --out models` (the same as `live-digits train`)."""

import sys

from live_digits.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
