"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/) and the device
harness's regression inputs (tests/fuzz/regressions/device/).

    python tests/fuzz/make_corpus.py

payload and frame: every message and link stream of tests/vectors/wire_vectors.json (the
payloads that reassemble, accepted or refused by the decoder; the link bytes as they are).
secagg: scripts in fuzz_secagg.c's input format (SecaggScript): whole secure rounds with 2 to 4
neighbours, dropouts, every step out of order or repeated, forged and misnamed shares, bad
thresholds and cohorts, replayed rounds, reboots and storage faults at the charge.
device: scripts in fuzz_device.c's input format (encoded by DeviceScript below) for the paths
that matter: rounds up to an exhausted budget, reboots, replays, storage faults at each write,
torn writes, a corrupt or unreadable ledger, failed entropy, NaN/Inf/failing samples, refused
requests and link garbage. Deterministic: running it twice writes the same files.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import struct
import sys
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUZZ_DIR.parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tinyfl.privacy.ledger import LEDGER_SIZE  # noqa: E402
from tinyfl.wire import FrameDecoder, spec  # noqa: E402

VECTORS = REPO_ROOT / "tests" / "vectors" / "wire_vectors.json"

# fuzz_device.c's constants (opcodes, storage modes, flags, sample kinds)
OP_RAW, OP_FRAME, OP_GLOBAL_MODEL, OP_POLL, OP_SAMPLES, OP_REBOOT, OP_WRITE_FAULTS, OP_LINK_FAULTS = range(8)
FRESH, VALID, RAW, FLIPPED = range(4)
ENTROPY_FAILS, READ_FAILS, TORN_WRITES = 0x01, 0x02, 0x04
S_OK, S_NAN, S_INF, S_HUGE, S_TINY, S_LARGE, S_BAD_LABEL, S_FAIL, S_NONE = range(9)
SAME_RUN, NEXT_RUN, OLDER_RUN, ANY_RUN = range(4)


class DeviceScript:
    """Builds one input of the device harness, field by field as fuzz_device.c reads it."""

    def __init__(self, mode: int = FRESH, releases_done: int = 0, last_run: int = 0,
                 last_round: int = 0, flags: int = 0, write_fails: int = 0, flip_at: int = 0,
                 raw_record: bytes = b"") -> None:
        self.out = bytearray([mode, releases_done])
        self.out += struct.pack("<II", last_run, last_round)
        if mode == FLIPPED:
            self.out.append(flip_at)
        elif mode == RAW:
            self.out += raw_record.ljust(LEDGER_SIZE, b"\0")[:LEDGER_SIZE]
        self.out.append(flags)
        self.out += struct.pack("<I", write_fails)

    def raw(self, data: bytes) -> DeviceScript:
        self.out += bytes([OP_RAW, len(data)]) + data
        return self

    def frame(self, type_id: int, payload: bytes, seq: int = 1, chunk_byte: int = 0) -> DeviceScript:
        self.out += bytes([OP_FRAME, type_id]) + struct.pack("<H", seq) + bytes([chunk_byte])
        self.out += struct.pack("<H", len(payload)) + payload
        return self

    def global_model(self, how: int = NEXT_RUN, step: int = 1, *, run: int = 0, round_: int = 0,
                     nonce: int = 7, lr: int = 5, epochs: int = 2, batch: int = 4, shape: int = 0,
                     seed: int = 3, scale: int = 8, chunk_byte: int = 0, seq: int = 3) -> DeviceScript:
        self.out += bytes([OP_GLOBAL_MODEL, how, step & 0xFF])
        if how == ANY_RUN:
            self.out += struct.pack("<II", run, round_)
        self.out += struct.pack("<I", nonce)
        self.out += bytes([lr, epochs - 1, batch - 1, shape, seed, scale, chunk_byte])
        self.out += struct.pack("<H", seq)
        return self

    def poll(self, read_size: int = 63) -> DeviceScript:
        self.out += bytes([OP_POLL, read_size])
        return self

    def samples(self, *events: tuple[int, int, int, int]) -> DeviceScript:
        self.out += bytes([OP_SAMPLES, len(events)])
        for kind, label, seed, where in events:
            self.out += bytes([kind, label, seed, where])
        return self

    def good_samples(self, n: int = 4, seed: int = 0) -> DeviceScript:
        return self.samples(*[(S_OK, i, seed + i, 0) for i in range(n)])

    def reboot(self) -> DeviceScript:
        self.out.append(OP_REBOOT)
        return self

    def write_faults(self, mask: int) -> DeviceScript:
        self.out.append(OP_WRITE_FAULTS)
        self.out += struct.pack("<I", mask)
        return self

    def link_faults(self, mask: int) -> DeviceScript:
        self.out.append(OP_LINK_FAULTS)
        self.out += struct.pack("<I", mask)
        return self

    def round(self, how: int = SAME_RUN, step: int = 1, seed: int = 0) -> DeviceScript:
        return self.good_samples(seed=seed).global_model(how, step, seed=seed + 1).poll()


def device_scripts() -> dict[str, bytes]:
    hello_request = 2
    set_dp_config = struct.pack("<fff", 0.0, 0.0, 1e9) + bytes(32)
    scripts: dict[str, DeviceScript] = {}
    s = DeviceScript().round(NEXT_RUN)
    for i in range(5):  # one past the budget
        s.round(SAME_RUN, 1, seed=10 * i)
    scripts["rounds_to_exhaustion"] = s
    scripts["one_round_small_reads"] = DeviceScript().good_samples().global_model(NEXT_RUN).poll(0).poll(5)
    scripts["replay_same_round"] = DeviceScript().round(NEXT_RUN).round(SAME_RUN, 0).round(OLDER_RUN, 3)
    scripts["reboot_then_replay"] = DeviceScript().round(NEXT_RUN).reboot().round(SAME_RUN, 0).round(SAME_RUN, 1)
    scripts["near_budget"] = DeviceScript(VALID, releases_done=3, last_run=5, last_round=9).round(SAME_RUN, 1).round(NEXT_RUN)
    scripts["stored_round_replayed"] = DeviceScript(VALID, releases_done=1, last_run=5, last_round=9).round(
        SAME_RUN, 0).round(SAME_RUN, -3).round(SAME_RUN, 1)
    scripts["at_budget"] = DeviceScript(VALID, releases_done=4, last_run=5, last_round=9).round(NEXT_RUN)
    for n in range(4):  # the n-th storage write fails (write 0 is the boot count)
        scripts[f"write_fault_{n}"] = DeviceScript(write_fails=1 << n).round(NEXT_RUN).round(SAME_RUN).reboot().round(SAME_RUN)
    scripts["torn_write"] = DeviceScript(VALID, 1, 2, 3, flags=TORN_WRITES, write_fails=0b10).round(SAME_RUN).reboot().round(NEXT_RUN)
    scripts["faults_later"] = DeviceScript().round(NEXT_RUN).write_faults(0xFFFFFFFF).round(SAME_RUN).write_faults(0).round(SAME_RUN)
    scripts["corrupt_ledger"] = DeviceScript(FLIPPED, 1, 2, 3, flip_at=13).round(NEXT_RUN)
    scripts["raw_ledger"] = DeviceScript(RAW, raw_record=b"TFLL\x02\x00" + bytes(22)).round(NEXT_RUN)  # an old v2 record
    scripts["raw_ledger_v3_no_crc"] = DeviceScript(RAW, raw_record=b"TFLL\x03\x00" + bytes(LEDGER_SIZE - 6)).round(NEXT_RUN)
    scripts["storage_read_fails"] = DeviceScript(VALID, 0, 1, 1, flags=READ_FAILS).round(NEXT_RUN)
    scripts["entropy_fails"] = DeviceScript(flags=ENTROPY_FAILS).round(NEXT_RUN)
    scripts["bad_samples"] = DeviceScript().samples(
        (S_NAN, 0, 1, 3), (S_INF, 1, 2, 5), (S_HUGE, 2, 3, 0), (S_TINY, 0, 4, 0), (S_BAD_LABEL, 200, 5, 0),
        (S_FAIL, 0, 0, 0)).global_model(NEXT_RUN).poll().samples((S_NAN, 0, 1, 0), (S_OK, 1, 2, 0)).global_model(SAME_RUN).poll()
    scripts["no_samples"] = DeviceScript().global_model(NEXT_RUN).poll().samples((S_NONE, 0, 0, 0), (S_OK, 1, 1, 0)).global_model(SAME_RUN).poll()
    scripts["crafted_and_shape"] = DeviceScript().good_samples().global_model(NEXT_RUN, scale=0).poll().global_model(
        NEXT_RUN, shape=1).poll().global_model(NEXT_RUN, shape=2).poll().global_model(NEXT_RUN, shape=3).poll().global_model(
        NEXT_RUN, shape=4).poll().global_model(NEXT_RUN, scale=255).poll()
    scripts["training_overflows"] = DeviceScript().samples(*[(S_LARGE, i, i, 18) for i in range(4)]).global_model(
        NEXT_RUN, lr=100, epochs=20, batch=1, scale=100).poll()
    scripts["link_fails_mid_update"] = DeviceScript().link_faults(1 << 5).round(NEXT_RUN).link_faults(0).round(SAME_RUN)
    scripts["other_messages"] = DeviceScript().frame(hello_request, b"").frame(7, set_dp_config).frame(
        4, b"\x01\x02").frame(200, b"x").poll().raw(b"\x00\x11\x22\x00\x05\x00").poll()
    scripts["any_run_round"] = DeviceScript().good_samples().global_model(ANY_RUN, run=0xFFFFFFFF, round_=0xFFFFFFFF).poll().round(NEXT_RUN)
    scripts["long_training"] = DeviceScript().good_samples().global_model(NEXT_RUN, epochs=20, batch=1, lr=100).poll()
    return {name: bytes(script.out) for name, script in scripts.items()}


# fuzz_secagg.c's opcodes
(SA_FRAME, SA_GLOBAL_MODEL, SA_SAMPLES, SA_NEIGHBOURS, SA_SHARE, SA_MASK, SA_UNMASK, SA_POLL, SA_DRAIN, SA_REBOOT,
 SA_WRITE_FAULTS) = range(11)
SA_NEXT_ROUND, SA_NEXT_RUN, SA_OLDER_ROUND = 0, 7, 6  # global_model `how`: the round fuzz_secagg.c builds
SA_VALID_T = 1  # neighbours `t` byte: not 0 mod 4, so the smallest t the device accepts


class SecaggScript:
    """Builds one input of the secure-aggregation harness, field by field as fuzz_secagg.c reads it."""

    def __init__(self, write_fails: int = 0) -> None:
        self.out = bytearray(struct.pack("<I", write_fails))

    def op(self, code: int, *args: int) -> SecaggScript:
        self.out += bytes([code, *args])
        return self

    def keys(self, how: int = SA_NEXT_ROUND, seed: int = 1) -> SecaggScript:
        """Samples and a global model: the device trains and answers secagg_keys."""
        return self.op(SA_SAMPLES, 4, 1, 2, 3, 4).op(SA_GLOBAL_MODEL, how, seed).op(SA_DRAIN)

    def neighbours(self, peers: int = 2, seed: int = 7, t: int = SA_VALID_T, tweak: int = 0) -> SecaggScript:
        return self.op(SA_NEIGHBOURS, peers - 2, seed, t, tweak).op(SA_DRAIN)

    def shares(self, peers: int = 2, tweak: int = 0) -> SecaggScript:
        for p in range(peers):
            self.op(SA_SHARE, p, tweak if p == 0 else 0)
        return self.op(SA_DRAIN)

    def mask(self, bits: int = 0b11, cohort: int | None = None) -> SecaggScript:
        choice, value = (0, cohort) if cohort is not None else (1, 0)  # 1: the named ones + the device
        return self.op(SA_MASK, bits, choice, value & 0xFF, value >> 8).op(SA_DRAIN)

    def unmask(self, bits: int = 0b11, cohort: int | None = None) -> SecaggScript:
        choice, value = (0, cohort) if cohort is not None else (1, 0)
        return self.op(SA_UNMASK, bits, choice, value & 0xFF, value >> 8).op(SA_DRAIN)

    def round(self, peers: int = 2, how: int = SA_NEXT_ROUND, seed: int = 1) -> SecaggScript:
        bits = (1 << peers) - 1
        return self.keys(how, seed).neighbours(peers, seed + 6).shares(peers).mask(bits).unmask(bits)


def secagg_scripts() -> dict[str, bytes]:
    s: dict[str, SecaggScript] = {}
    for peers in (2, 3, 4):
        s[f"round_{peers}_neighbours"] = SecaggScript().round(peers)
    s["rounds_to_exhaustion"] = SecaggScript().round().round(seed=2).round(3, seed=3)  # 1 release: eps_limit 5
    s["one_neighbour_dropped"] = SecaggScript().keys().neighbours(3).shares(3).mask(0b111).unmask(0b011)
    s["neighbour_dropped_before_mask"] = SecaggScript().keys().neighbours(4).shares(4).mask(0b0111).unmask(0b0011)
    s["second_unmask"] = SecaggScript().round().unmask().unmask(0b01)
    s["unmask_below_n_min"] = SecaggScript().keys().neighbours().shares().mask().unmask(0b01).unmask()
    s["claimed_cohort"] = SecaggScript().keys().neighbours().shares().mask(cohort=2).round(how=1, seed=2)
    s["huge_cohort"] = SecaggScript().keys().neighbours().shares().mask(cohort=60000).round(how=1, seed=2)
    s["mask_too_few_alive"] = SecaggScript().keys().neighbours(4).shares(4).mask(0b0001).round(how=1, seed=2)
    s["alive_named_twice"] = SecaggScript().keys().neighbours(3).shares(3).mask(0b10000011).round(how=1, seed=2)
    s["forged_share"] = SecaggScript().keys().neighbours().shares(tweak=1).mask().round(how=1, seed=2)
    s["misnamed_share"] = SecaggScript().keys().neighbours().shares(tweak=2).mask().round(how=1, seed=2)
    s["share_twice"] = SecaggScript().keys().neighbours().shares().shares().mask().unmask()
    s["flipped_neighbour_key"] = SecaggScript().keys().neighbours(tweak=1 | (0 << 2)).shares().mask().unmask()
    s["flipped_neighbour_id"] = SecaggScript().keys().neighbours(tweak=1 | (9 << 2)).shares().mask().unmask()
    s["bad_threshold"] = SecaggScript().keys().neighbours(t=4).shares().mask().round(how=1, seed=2)
    s["mask_before_shares"] = SecaggScript().keys().neighbours().mask().shares().unmask()
    s["unmask_before_mask"] = SecaggScript().keys().neighbours().shares().unmask().mask()
    s["replayed_round"] = SecaggScript().round().round(how=SA_OLDER_ROUND, seed=2).round(how=1, seed=3)
    s["next_run"] = SecaggScript().round().round(how=SA_NEXT_RUN, seed=2)
    s["new_round_mid_round"] = SecaggScript().keys().neighbours().shares().keys(seed=2).mask().round(how=1, seed=3)
    s["reboot_mid_round"] = SecaggScript().keys().neighbours().shares().op(SA_REBOOT).mask().unmask().round(how=1, seed=2)
    s["reboot_after_release"] = SecaggScript().keys().neighbours().shares().mask().op(SA_REBOOT).unmask().round(how=1, seed=2)
    for n in range(3):  # the n-th storage write fails (write 0 is the boot count)
        s[f"write_fault_{n}"] = SecaggScript(write_fails=1 << n).round().round(how=1, seed=2)
    s["faults_at_charge"] = SecaggScript().keys().neighbours().shares().op(SA_WRITE_FAULTS, 255, 255, 255, 255).mask().unmask()
    s["small_reads"] = SecaggScript().op(SA_SAMPLES, 2, 1, 2).op(SA_GLOBAL_MODEL, 0, 1).op(SA_POLL, 0).op(SA_POLL, 5)
    s["raw_secure_frames"] = SecaggScript().keys().op(SA_FRAME, 10, 3, 0, 1, 2, 3).op(SA_FRAME, 13, 0, 0).op(
        SA_FRAME, 15, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0).op(SA_DRAIN)
    s["steps_without_round"] = SecaggScript().neighbours().shares().mask().unmask()
    return {name: bytes(script.out) for name, script in s.items()}


def device_regressions() -> dict[str, bytes]:
    """Inputs of the findings (regressions/README.md), written as scripts so that they stay
    readable and follow fuzz_device.c's format when it changes. Named <finding>."""
    return {
        # the only sample of the round has a NaN: refused NO_SAMPLES, its features stay in RAM
        "no_samples_features": bytes(DeviceScript().samples((S_NAN, 0, 1, 3)).global_model(NEXT_RUN).poll().out),
    }


def wire_seeds() -> tuple[dict[str, bytes], dict[str, bytes]]:
    payloads: dict[str, bytes] = {}
    links: dict[str, bytes] = {}
    for vector in json.loads(VECTORS.read_text()):
        data = bytes.fromhex(vector["hex"])
        links[vector["name"]] = data
        for i, received in enumerate(FrameDecoder().feed(data)):
            payloads[f"{vector['name']}_{i}"] = received.payload  # refused ones too
    return payloads, links


def write_inputs(folder: Path, inputs: dict[str, bytes], *, replace_folder: bool = True) -> int:
    """One file per input, <label>-<sha1 prefix>. replace_folder False (regressions): only
    this script's labels are rewritten; inputs saved from fuzzer crashes stay."""
    if replace_folder:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[bytes] = set()
    for label, data in sorted(inputs.items()):
        for old in folder.glob(f"{label}-*"):
            old.unlink()
        if data in seen:
            continue
        seen.add(data)
        (folder / f"{label}-{hashlib.sha1(data).hexdigest()[:8]}").write_bytes(data)
    return len(seen)


def main() -> None:
    assert spec.SPEC_VERSION == 3, "fuzz_device.c and this script build spec 3 messages"
    payloads, links = wire_seeds()
    for name, inputs in (("payload", payloads), ("frame", links), ("device", device_scripts()),
                         ("secagg", secagg_scripts())):
        print(f"{name}: {write_inputs(FUZZ_DIR / 'corpus' / name, inputs)} seeds")
    count = write_inputs(FUZZ_DIR / "regressions" / "device", device_regressions(), replace_folder=False)
    print(f"device: {count} regression inputs")


if __name__ == "__main__":
    main()
