"""tinyfl: on-device TinyML learning with private updates.

Build a model, generate firmware that fine-tunes its last layer on a microcontroller, protect
each update on the device (clip, discrete Gaussian noise, an enforced budget), aggregate over a
fleet, and attack and audit what the server received.
"""
__version__ = "0.1.0"
__all__ = ["__version__"]
