"""The libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan): each builds, replays its stored
corpus and regression inputs, and fuzzes briefly; each open finding still reproduces in the
strict build; and the device and secure-aggregation oracles catch deliberately broken firmware
(so their checks can fail).

In CI (CI set) a missing clang is a failure, not a skip. `make fuzz FUZZ_SECONDS=600` fuzzes
longer. FUZZ_SECONDS here (default 12 per harness) keeps the file near a minute on 2 cores.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import harnesses  # noqa: E402
from harnesses import HARNESSES, Patch  # noqa: E402

FUZZ_SECONDS = int(os.environ.get("TINYFL_FUZZ_SECONDS", "12"))
# Fewest executions a brief run must reach: far below what a loaded 2-core machine does
# (measured over 60 s at load 6-15: payload ~54k/s, frame ~4.7k/s, device ~1.6k/s), far above a
# harness that hangs or rebuilds its state slowly.
MIN_RUNS = {"payload": 20000, "frame": 1000, "device": 1000, "secagg": 100}


@pytest.fixture(scope="module", autouse=True)
def clang() -> None:
    if shutil.which("clang") is None:
        message = "missing clang (run scripts/bootstrap.sh)"
        if os.environ.get("CI"):
            pytest.fail(f"CI requires {message}")
        pytest.skip(message)


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_stored_corpus_and_regressions_replay_clean(name):
    inputs = harnesses.stored_inputs(name)
    assert len(inputs) >= 10, f"the {name} corpus is missing (python tests/fuzz/make_corpus.py)"
    result = harnesses.replay(name)
    assert result.ok, result.output[-4000:]
    assert result.runs == len(inputs)


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_brief_fuzzing_finds_nothing(name, tmp_path):
    result = harnesses.fuzz(name, FUZZ_SECONDS, work=tmp_path)
    assert result.ok, result.output[-4000:]
    assert result.runs >= MIN_RUNS[name], result.output[-4000:]


# OPEN_FINDINGS (tests/fuzz/harnesses.py) is empty: every finding so far is fixed, and its input
# replays as a regression and kills its mutant above. A new open finding gets a test here that
# its input still fails the strict build.


# Broken firmware the device oracle must catch on the stored corpus alone: (file, old, new, the
# oracle's message). Anchors are small and stable; if the source moves on, update them. The
# oracle reads storage through tinyfl_ledger_load, so mutants of that function also skew the
# oracle's view: they are in tinyfl_device.c or in tinyfl_ledger_store only.
MUTANTS = {
    "budget_ignored": Patch("tinyfl_device.c", "    return releases_left(dev) >= 1u;\n",
                            "    return !dev->ledger.locked;\n"),
    "charge_skipped": Patch(
        "tinyfl_ledger.c",
        "tinyfl_status tinyfl_ledger_store(tinyfl_ledger *ledger, const tinyfl_port *port)\n{\n",
        "tinyfl_status tinyfl_ledger_store(tinyfl_ledger *ledger, const tinyfl_port *port)\n{\n"
        "    if (ledger->releases_done > 1) {\n        return TINYFL_OK;\n    }\n"),
    "stored_round_forgotten": Patch("tinyfl_device.c",
                                    "    tinyfl_status ledger_st = tinyfl_ledger_load(&dev->ledger, ledger_port(dev));\n",
                                    "    tinyfl_status ledger_st = tinyfl_ledger_load(&dev->ledger, ledger_port(dev));\n"
                                    "    dev->ledger.last_round = 0;\n"),
    "replay_accepted": Patch("tinyfl_device.c", "m.round <= dev->ledger.last_round",
                             "m.round < dev->ledger.last_round"),
    "features_not_wiped": Patch("tinyfl_device.c", "    memset(dev->features, 0, sizeof(dev->features));\n", ""),
    # the first finding of these harnesses (tests/fuzz/regressions/device/no_samples_features-*)
    "no_samples_not_wiped": Patch("tinyfl_device.c", "        wipe_round(dev); /* a rejected window's", "        /*"),
    "unlocked_on_request": Patch("tinyfl_device.c", "    if (!budget_left(dev)) {\n",
                                 "    dev->ledger.locked = 0;\n    if (!budget_left(dev)) {\n"),
    "locked_ledger_released": Patch("tinyfl_ledger.c", "        ledger->locked = 1;\n        return TINYFL_E_STORAGE;",
                                    "        return TINYFL_E_STORAGE;"),
}
MUTANT_MESSAGES = {  # the oracle's possible verdicts (the first check that fails wins)
    "budget_ignored": ("a release past the budget",),
    "charge_skipped": ("an update sent before it was charged",),
    "replay_accepted": ("the same (run, round) released twice",),
    "stored_round_forgotten": ("(run, round) of releases not increasing",),
    "features_not_wiped": ("features left in memory",),
    "no_samples_not_wiped": ("features left in memory",),
    "unlocked_on_request": ("an update after a boot with a bad ledger",),
    # its hello no longer says the ledger is locked, and then it releases
    "locked_ledger_released": ("hello hides that the device refuses every release",
                               "an update after a boot with a bad ledger"),
}


# Mutants that must be caught by one scenario (not just by whichever input fails first).
MUTANT_SEEDS = {"stored_round_forgotten": "stored_round_replayed"}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_device_oracle_catches_broken_firmware(mutant):
    inputs = harnesses.stored_inputs("device")
    if mutant in MUTANT_SEEDS:
        inputs = [p for p in inputs if p.name.startswith(MUTANT_SEEDS[mutant] + "-")]
        assert inputs
    result = harnesses.replay("device", inputs, patch=MUTANTS[mutant])
    assert not result.ok, f"the oracle missed the {mutant} mutant"
    assert any(m in result.output for m in MUTANT_MESSAGES[mutant]), result.output[-3000:]


# Broken secure-aggregation firmware the secagg oracle must catch on its stored corpus alone.
SECAGG_DEVICE = "secagg/device/tinyfl_secagg_device.c"
SECAGG_MUTANTS = {
    "masked_update_not_charged": (Patch(SECAGG_DEVICE, "    st = tinyfl_device_charge_release(dev, s->run, s->round);\n",
                                        "    st = TINYFL_OK;\n"),
                                  ("a masked update sent before it was charged",)),
    "secrets_kept_on_refusal": (Patch(SECAGG_DEVICE, "    tinyfl_secagg_wipe(&s->sa);\n    memset(dev->values", "    memset(dev->values"),
                                ("a secret key left after the round ended",
                                 "received shares or agreed keys left after the round ended")),
    "round_kept_after_reveal": (Patch(SECAGG_DEVICE, "    tinyfl_secagg_device_abort(dev); /* the round is over",
                                      "    s->sa.state = TINYFL_SECAGG_MASKED; /* mutant: unmask again"),
                                ("the round still under way after its reveal", "two unmasks in one round")),
    "both_kinds_revealed": (Patch("secagg/tinyfl_secagg.c", "        m++;\n    }\n    *n_out = m;",
                                  "        m++;\n        if (m < sa->k) {\n            memcpy(out[m], out[m - 1], 4);\n"
                                  "            out[m][2] ^= 1u;\n            memcpy(out[m] + 4, lived ? peer->s_share : peer->b_share, 32);\n"
                                  "            m++;\n        }\n    }\n    *n_out = m;"),
                            ("both kinds of share (or one twice) revealed for one neighbour",)),
}


@pytest.mark.parametrize("mutant", sorted(SECAGG_MUTANTS))
def test_secagg_oracle_catches_broken_firmware(mutant):
    patch, messages = SECAGG_MUTANTS[mutant]
    result = harnesses.replay("secagg", patch=patch)
    assert not result.ok, f"the oracle missed the {mutant} mutant"
    assert any(m in result.output for m in messages), result.output[-3000:]


def test_secagg_corpus_reaches_every_step():
    """The seed corpus drives whole rounds through the real crypto: masked updates and reveals
    leave (the harness's own count, TINYFL_FUZZ_TRACE), so the oracles above have work to do."""
    import subprocess

    binary = harnesses.build("secagg")
    counts = []
    for path in harnesses.stored_inputs("secagg"):
        out = subprocess.run([str(binary), str(path)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, **harnesses.SANITIZER_ENV, "TINYFL_FUZZ_TRACE": "1"}).stderr
        counts.append(tuple(map(int, re.search(r"masked updates, reveals (\d+) (\d+)", out).groups())))
    assert sum(1 for released, revealed in counts if released and revealed) >= 15, counts
    assert any(released and not revealed for released, revealed in counts), counts  # refused unmasks


WIRE_MUTANTS = {
    "frame_not_counted": ("frame", Patch("tinyfl_frame.c", "    rx->frames_ok++;\n", "\n"),
                          "a frame not counted exactly once"),
    "encoder_drops_bits": ("payload", Patch("generated/tinyfl_wire_gen.c", "    p[1] = (uint8_t)(v >> 8);\n",
                                            "    p[1] = (uint8_t)(v >> 9);\n"),
                           "an accepted payload re-encodes to other bytes"),
    "caller_capacity_ignored": ("payload", Patch("generated/tinyfl_wire_gen.c",
                                                 "count > 1040 || count > m->values_cap) {\n"
                                                 "        return TINYFL_E_OVERSIZE;\n    }\n"
                                                 "    for (i = 0; i < count; ++i) {\n        st =",
                                                 "count > 1040) {\n"
                                                 "        return TINYFL_E_OVERSIZE;\n    }\n"
                                                 "    for (i = 0; i < count; ++i) {\n        st ="),
                                "global-buffer-overflow"),
}


@pytest.mark.parametrize("mutant", sorted(WIRE_MUTANTS))
def test_wire_oracles_catch_broken_firmware(mutant):
    name, patch, message = WIRE_MUTANTS[mutant]
    result = harnesses.replay(name, patch=patch)
    assert not result.ok and message in result.output, result.output[-4000:]


# The stored inputs are what make_corpus.py writes, in the format fuzz_device.c reads: a
# harness change that shifts an opcode or a sample kind must come with a regenerated corpus.


def _c_enum(source: Path, first: str) -> list[str]:
    """Names of the C enum whose first member is `first`, in order."""
    text = source.read_text()
    body = re.search(r"enum\s*\{\s*(" + first + r"\b[^}]*)\}", text).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return [name.split("=")[0].strip() for name in body.split(",") if name.strip()]


def test_script_constants_match_the_device_harness():
    import make_corpus as mc

    fuzz_dir = Path(harnesses.FUZZ_DIR)
    ops = _c_enum(fuzz_dir / "fuzz_device.c", "OP_RAW")
    assert ops[-1] == "OP_COUNT"
    for i, name in enumerate(ops[:-1]):
        assert getattr(mc, name) == i, name
    kinds = _c_enum(fuzz_dir / "fuzz_board.h", "TINYFL_FUZZ_SAMPLE_OK")
    python_kinds = ["S_OK", "S_NAN", "S_INF", "S_HUGE", "S_TINY", "S_LARGE", "S_BAD_LABEL", "S_FAIL", "S_NONE"]
    assert [k.replace("TINYFL_FUZZ_SAMPLE_", "S_") for k in kinds[:-1]] == python_kinds
    assert [getattr(mc, k) for k in python_kinds] == list(range(len(python_kinds)))
    modes = _c_enum(fuzz_dir / "fuzz_device.c", "STORAGE_FRESH")
    assert [m.replace("STORAGE_", "") for m in modes[:-1]] == ["FRESH", "VALID", "RAW", "FLIPPED"]
    flags = dict(re.findall(r"#define FLAG_(\w+) (0x[0-9a-fA-F]+)u", (fuzz_dir / "fuzz_device.c").read_text()))
    assert {k: int(v, 16) for k, v in flags.items()} == {
        "ENTROPY_FAILS": mc.ENTROPY_FAILS, "READ_FAILS": mc.READ_FAILS, "TORN_WRITES": mc.TORN_WRITES}


def test_script_constants_match_the_secagg_harness():
    import make_corpus as mc

    ops = _c_enum(Path(harnesses.FUZZ_DIR) / "fuzz_secagg.c", "OP_FRAME")
    assert ops[-1] == "OP_COUNT"
    assert [getattr(mc, "SA_" + name[3:]) for name in ops[:-1]] == list(range(len(ops) - 1))


def test_stored_inputs_are_what_make_corpus_writes():
    import make_corpus as mc

    payloads, links = mc.wire_seeds()
    expected = {"payload": payloads, "frame": links, "device": mc.device_scripts(), "secagg": mc.secagg_scripts()}
    for name, inputs in expected.items():
        stored = {p.read_bytes() for p in harnesses.corpus_dir(name).iterdir()}
        assert stored == set(inputs.values()), f"corpus/{name} is stale: run tests/fuzz/make_corpus.py"
    for label, data in mc.device_regressions().items():
        files = sorted(harnesses.regressions_dir("device").glob(f"{label}-*"))
        assert [p.read_bytes() for p in files] == [data], f"regressions/device/{label} is stale"
