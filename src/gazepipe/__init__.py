"""gazepipe: live gaze, blink and attention from a browser's webcam stream."""

__version__ = "0.1.0"
