"""Emulated boards: build firmware images, write sample shards, launch boards and fleets
(native processes or QEMU mps2-an386), run on-target programs under QEMU."""
from .boards import BoardError, EmulatedBoard, Fleet, NativeBoard, QemuBoard, launch_fleet
from .build import BOARDS, board_spec, build_firmware, build_qemu_program, firmware_size, resolve_board
from .qemu import QemuTimeout, run_semihosted
from .shard import Shard, read_shard, write_shard

__all__ = [
    "BOARDS",
    "BoardError",
    "EmulatedBoard",
    "Fleet",
    "NativeBoard",
    "QemuBoard",
    "QemuTimeout",
    "Shard",
    "board_spec",
    "build_firmware",
    "build_qemu_program",
    "firmware_size",
    "launch_fleet",
    "read_shard",
    "resolve_board",
    "run_semihosted",
    "write_shard",
]
