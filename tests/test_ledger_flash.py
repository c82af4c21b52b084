"""The privacy ledger on raw NOR flash (firmware/tinyfl_flashlog.c, issue 10): power cut at every
flash operation (before it and halfway through it) on the host with ASan/UBSan, the same on the
AN386 under QEMU, fading bits, a lost page; the ledger equals the record ledger's arithmetic
(tinyfl.privacy.ledger) and its Python reader; bench of a release's flash cost, log vs record."""
from __future__ import annotations

import subprocess

import pytest

import ledger_flash_build as lfb
from tinyfl.paths import FIRMWARE_DIR, build_dir
from tinyfl.privacy.ledger import RDP_ORDERS, decode_flash_log
from tinyfl.toolchain import cached_output, compile_host

# (page size, page count): the smallest page the log accepts rounded up, and a third page.
GEOMETRIES = [(2048, 2), (1536, 3)]
RECORD_WORDS = 7 + len(RDP_ORDERS)  # the 652-byte record, in words


def _host_harness(tag: str, steps: list[int], page_size: int, page_count: int, stride: int = 1) -> dict:
    directory = build_dir() / "ledger_flash" / f"{tag}-{page_size}x{page_count}"
    lfb.render_script(directory, steps, page_size, page_count, stride)
    sources = [*(FIRMWARE_DIR / s for s in lfb.SOURCES), lfb.HARNESS]
    headers = sorted(FIRMWARE_DIR.glob("*.h")) + sorted(directory.glob("*.h"))
    exe = cached_output("ledger_flash", [*sources, *headers, " ".join(lfb.SANITIZERS)])
    if not exe.exists():
        compile_host(sources, exe, include_dirs=[directory], opt="-O1", extra_flags=lfb.SANITIZERS)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return lfb.parse_output(proc.stdout)


@pytest.fixture(scope="module", params=GEOMETRIES, ids=lambda g: f"{g[0]}x{g[1]}")
def swept(request):
    page_size, page_count = request.param
    steps = lfb.script()
    return steps, page_size, page_count, _host_harness("sweep", steps, page_size, page_count)


def test_ledger_survives_a_power_cut_at_every_flash_operation(swept):
    steps, _, _, out = swept
    ops = out["ops"]
    # every erase and word write of the run, cut before it and in two different halves of it
    assert out["pass"] == 3 * ops and ops > 50 * 4
    # the script fills pages: compactions (erases) happened, and reflashes wrote curves
    assert out["bench_log"]["erases"] >= 2
    # torn releases were found and counted as spent (never as less loss)
    assert out["conservative"] > 0
    # fading bits: some lock the ledger, none lowers it (checked in the harness)
    assert out["faded"]["locked"] > 0 and out["faded"]["words"] > out["faded"]["locked"]


def test_log_holds_what_the_record_ledger_computes(swept):
    steps, _, _, out = swept
    want = lfb.expected(steps)
    assert out["releases"] == want.releases_done and out["boots"] == want.boot_count
    assert out["rdp"] == want.rdp


def test_python_reads_the_devices_flash_log(swept):
    steps, page_size, _, out = swept
    got = decode_flash_log(out["image"], page_size)
    want = lfb.expected(steps)
    assert (got.releases_done, got.boot_count, got.rdp) == (want.releases_done, want.boot_count, want.rdp)
    assert (got.last_run, got.last_round) == (want.last_run, want.last_round)


def test_python_reader_refuses_what_the_device_locks_on(swept):
    _, page_size, page_count, out = swept
    image = out["image"]
    assert decode_flash_log(b"\xff" * (page_size * page_count), page_size) is None
    checkpoints = [(int.from_bytes(image[p * page_size + 4:p * page_size + 8], "little"), p)
                   for p in range(page_count) if image[p * page_size:p * page_size + 4] == b"\x00\xff\xff\xff"]
    newest = max(checkpoints)[1] * page_size
    # a lost newest page: the older one is marked superseded
    lost = bytearray(image)
    lost[newest:newest + page_size] = b"\xff" * page_size
    with pytest.raises(ValueError, match="superseded"):
        decode_flash_log(bytes(lost), page_size)
    # a programmed bit fading to 1 in the newest checkpoint's loss (word 10: rdp at order 1.5)
    word = int.from_bytes(image[newest + 40:newest + 44], "little")
    assert word != 0xFFFFFFFF
    faded = bytearray(image)
    faded[newest + 40:newest + 44] = (word | (~word & (word + 1))).to_bytes(4, "little")
    with pytest.raises(ValueError):
        decode_flash_log(bytes(faded), page_size)


def test_bench_words_and_erases_per_release_log_vs_record(capsys):
    """Steady state: one configuration, 4 KiB pages (nRF52840, ESP32 sector)."""
    steps = [-1] + [0] * 400 + [-1]
    out = _host_harness("bench", steps, 4096, 2, stride=10**9)
    log, rec = out["bench_log"], out["bench_record"]
    assert log["releases"] == rec["releases"] == 400
    assert rec["words"] == 400 * RECORD_WORDS and rec["erases"] == 400
    # a release is 4 words; once per page a curve (158 words), a checkpoint (163) and an erase
    per_page = (4096 // 4 - 1 - RECORD_WORDS - (2 + len(RDP_ORDERS))) // 4
    pages = 400 // per_page
    assert 1 <= log["erases"] <= pages + 1
    assert log["words"] <= 400 * 4 + (pages + 1) * (RECORD_WORDS + 2 + len(RDP_ORDERS))
    with capsys.disabled():
        print(f"\n  ledger bench (host, 400 releases): log {log['words'] / 400:.2f} words and "
              f"{log['erases'] / 400:.4f} erases per release; record {rec['words'] / 400:.0f} words, "
              f"{rec['erases'] / 400:.0f} erase")


def _an386_harness(tag: str, steps: list[int], page_size: int, page_count: int, stride: int, icount: bool) -> dict:
    from tinyfl.emulate.build import build_qemu_program
    from tinyfl.emulate.qemu import run_semihosted

    directory = build_dir() / "ledger_flash" / f"an386-{tag}-{page_size}x{page_count}"
    lfb.render_script(directory, steps, page_size, page_count, stride)
    elf = build_qemu_program([*(FIRMWARE_DIR / s for s in lfb.SOURCES), lfb.HARNESS], name=f"ledger_flash_{tag}",
                             include_dirs=[directory], defines={"HARNESS_AN386": None})
    code, out = run_semihosted(elf, icount=icount, timeout=300)
    assert code == 0, out[-2000:]
    return lfb.parse_output(out)


def test_ledger_survives_a_power_cut_at_every_flash_operation_on_the_an386(qemu):
    """The same sweep on target: Cortex-M4 code, the emulated NOR flash in the board's RAM."""
    steps = lfb.script()
    out = _an386_harness("sweep", steps, 2048, 2, 1, icount=False)
    assert out["pass"] == 3 * out["ops"] and out["conservative"] > 0
    want = lfb.expected(steps)
    assert (out["releases"], out["boots"], out["rdp"]) == (want.releases_done, want.boot_count, want.rdp)
    assert decode_flash_log(out["image"], 2048).rdp == want.rdp


def test_bench_instructions_per_release_on_the_an386(qemu, capsys):
    """Instructions of a release's store (the ledger code and the emulated flash's own loops),
    counted with -icount; the flash's erase and program times come on top on a real board."""
    steps = [-1] + [0] * 400 + [-1]
    out = _an386_harness("bench", steps, 4096, 2, 10**9, icount=True)
    log, rec = out["bench_log"], out["bench_record"]
    assert log["releases"] == rec["releases"] == 400 and log["insns"] > 0 and rec["insns"] > 0
    assert log["words"] * 20 < rec["words"] and log["erases"] * 50 < rec["erases"]
    with capsys.disabled():
        print(f"\n  ledger bench (AN386, 400 releases): log {log['insns'] / 400:.0f} instructions, "
              f"{log['words'] / 400:.2f} words, {log['erases'] / 400:.4f} erases per release; "
              f"record {rec['insns'] / 400:.0f} instructions, {rec['words'] / 400:.0f} words, "
              f"{rec['erases'] / 400:.0f} erase")
