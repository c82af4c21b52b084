"""The two QEMU boards share one semihosting layer, port and command line (boards/qemu-common),
so the same host input must get the same answer from both, apart from the board's name."""
from __future__ import annotations

from tinyfl.emulate import build_firmware, run_semihosted
from tinyfl.firmware_config import FirmwareConfig

CONFIG = FirmwareConfig(n_classes=2, n_features=4, input_channels=1, input_steps=8, samples_per_round=4)
BOARDS = {"qemu": ("qemu", "an386"), "qemu-rv32": ("qemu_rv32", "rv32")}  # board: (tool fixture, name)


def _answers(board: str, tmp_path) -> list[tuple[int, str]]:
    """(exit code, console text with the board's name taken out) for each bad command line."""
    image = build_firmware(board, CONFIG)
    bad_shard = tmp_path / "not-a-shard.bin"
    bad_shard.write_bytes(b"TFLX" + bytes(6))
    storage = str(tmp_path / "ledger.bin")
    cases = [
        ["--shard", str(tmp_path / "s.bin")],  # no --storage
        ["--storage", "x" * 700],  # longer than the image takes
        ["--shard", str(tmp_path / "missing.bin"), "--storage", storage, "--device-id", "1"],
        ["--shard", str(bad_shard), "--storage", storage, "--device-id", "1"],
        ["--shard", str(bad_shard), "--storage", "y" * 250, "--device-id", "1"],  # path too long
    ]
    name = BOARDS[board][1]
    out = []
    for args in cases:
        code, text = run_semihosted(image, args, timeout=20)
        out.append((code, text.replace(f"tinyfl {name}: ", "tinyfl BOARD: ").strip()))
    return out


def test_both_boards_refuse_bad_command_lines_alike(request, tmp_path):
    answers = {}
    for board, (fixture, _) in BOARDS.items():
        request.getfixturevalue(fixture)
        answers[board] = _answers(board, tmp_path)
    assert answers["qemu"] == answers["qemu-rv32"]
    codes = [code for code, _ in answers["qemu"]]
    assert codes == [2, 2, 1, 1, 1], answers["qemu"]
    texts = [text for _, text in answers["qemu"]]
    assert texts[0].startswith("tinyfl BOARD: usage:")
    assert texts[1] == "tinyfl BOARD: no semihosting command line (or too long)"
    assert texts[2].startswith("tinyfl BOARD: cannot open shard ")
    assert texts[3].startswith("tinyfl BOARD: not a version 1 sample shard: ")
    assert texts[4].startswith("tinyfl BOARD: storage path too long: ")

