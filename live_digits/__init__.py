"""live-digits: real-time handwritten digit recognition."""

__version__ = "0.1.0"
