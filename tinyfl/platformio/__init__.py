"""PlatformIO projects for real boards (Nano 33 BLE, ESP32 family) and the QEMU board.

`write_project(out_dir, board, config, model_sources, defines)` writes a project a user builds
with `pio run -t upload` (with `secagg=SecaggImage(...)`: secure aggregation, Monocypher as a
local library: tinyfl.platformio.secure); `offline_core_dir()` lets `pio run` / `pio test` build the QEMU
board's project without PlatformIO's registry (tests, CI); `send_capture()` starts a capture of
labelled windows on a board from the owner's machine.
"""
from .capture import CaptureError, capture_line, parse_replies, send_capture
from .offline import PioError, find_pio, offline_core_dir, pio_env
from .project import PIO_BOARDS, PioBoard, PioEnv, pio_board, write_project

__all__ = [
    "CaptureError",
    "capture_line",
    "parse_replies",
    "send_capture",
    "PIO_BOARDS",
    "PioBoard",
    "PioEnv",
    "PioError",
    "find_pio",
    "offline_core_dir",
    "pio_board",
    "pio_env",
    "write_project",
]
