"""Speed of the live loop on a rendered 720p video: stages, end-to-end FPS, latency, the naive loop, memory.

    .venv/bin/python scripts/benchmark.py [--minutes 10] [--model models/live_digits.keras] [--json figures.json]

A thin front: the work is in live_digits/benchmark.py.
"""

import sys

from live_digits.classify import quiet_tensorflow

quiet_tensorflow()

from live_digits.benchmark import main  # noqa: E402  (TensorFlow must be quieted before it is imported)

if __name__ == "__main__":
    sys.exit(main())
