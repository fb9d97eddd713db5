import sys

from live_digits.cli import main

sys.exit(main())
