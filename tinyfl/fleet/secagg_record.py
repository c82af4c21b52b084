"""Secure rounds read back from a run record: what the host can unmask from the frames alone.

A secure round's record holds everything its sum depends on: the neighbours (and their public
keys) and threshold each device was sent, who was asked to mask (U2) and to unmask (U3), the
masked updates and the reveals read during the round. `secure_round_from_record` replays
tinyfl.secagg.server.SecAggServer's unmask on them; it is what a resumed aggregator uses to
close a round the previous process was killed in (finished if the record already holds the
reveals, else failed with the head kept), and `recompute_secure_globals` is the secure
counterpart of tinyfl.fleet.record.recompute_globals: the head after every round, from the
record, with the same FedAvg as the live host.
"""
from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..wire import GlobalModel, SecaggMaskedUpdate, SecaggMaskRequest, SecaggNeighbours, SecaggReveal, SecaggUnmaskRequest
from .record import RunReader
from .secagg_round import SecureRoundResult, fedavg_secure

__all__ = ["RoundMessages", "device_ids_of", "recompute_secure_globals", "round_messages", "secure_round_from_record"]

# round -> device name -> messages of that direction labelled with the round, in order
RoundMessages = dict[int, dict[str, list[Any]]]


def round_messages(reader: RunReader) -> tuple[RoundMessages, RoundMessages]:
    """(sent, received): every decoded message of the record, by round label and device."""
    out: tuple[RoundMessages, RoundMessages] = (defaultdict(lambda: defaultdict(list)),
                                                defaultdict(lambda: defaultdict(list)))
    for box, direction in zip(out, ("tx", "rx")):
        for rm in reader.messages(direction):
            if rm.message is not None:
                box[rm.round][rm.device].append(rm.message)
    return out


def _first(messages: list[Any], kind: type, run: int, round_number: int) -> Any:
    """The first `kind` message of this run and round: the one the live host took."""
    return next((m for m in messages if isinstance(m, kind) and (m.run, m.round) == (run, round_number)), None)


def secure_round_from_record(sent: RoundMessages, received: RoundMessages, device_ids: dict[str, int],
                             round_number: int) -> tuple[SecureRoundResult, dict[int, str]]:
    """The round's result as the record gives it (total None and failure set when the record
    cannot unmask it), with the names of the device ids that took part."""
    from ..secagg.server import SecAggError, SecAggServer

    result = SecureRoundResult(round_number)
    tx, rx = sent.get(round_number, {}), received.get(round_number, {})
    heads = {name: m for name, msgs in tx.items() for m in msgs if isinstance(m, GlobalModel)
             and m.round == round_number}
    names = {device_ids[name]: name for name in heads if name in device_ids}
    if not heads:
        result.failure = "no head was sent"
        return result, names
    run = next(iter(heads.values())).run
    graph: dict[int, list[int]] = {}
    keys: dict[int, tuple[bytes, bytes]] = {}
    t = 0
    u2, u3 = [], []
    for u, name in names.items():
        msgs = tx.get(name, [])
        nb = _first(msgs, SecaggNeighbours, run, round_number)
        if nb is not None:
            t = int(nb.t)
            graph[u] = [struct.unpack_from("<H", rec)[0] for rec in nb.neighbours]
            for rec in nb.neighbours:
                keys[struct.unpack_from("<H", rec)[0]] = (bytes(rec[2:34]), bytes(rec[34:66]))
        if _first(msgs, SecaggMaskRequest, run, round_number) is not None:
            u2.append(u)
        if _first(msgs, SecaggUnmaskRequest, run, round_number) is not None:
            u3.append(u)
    size = len(next(iter(heads.values())).params)
    masked = {u: _first(rx.get(names[u], []), SecaggMaskedUpdate, run, round_number) for u in u3}
    # the live host asked only devices whose masked update had the head's size to unmask
    missing = sorted(u for u, m in masked.items() if m is None or len(m.values) != size)
    if not u3 or missing or not graph:
        result.failure = ("no device was asked to unmask" if not u3 or not graph else
                          f"no masked update of device {missing[0]} in the record")
        return result, names
    reveals = {u: list(m.records) for u in u3
               if (m := _first(rx.get(names[u], []), SecaggReveal, run, round_number)) is not None}
    server = SecAggServer(round=round_number, k=max(len(v) for v in graph.values()), t=t, n_min=2,
                          rng=np.random.default_rng(0))
    server.keys, server.graph, server.u2, server.u3 = keys, graph, sorted(u2), sorted(u3)
    server.masked = {u: m.values.astype(np.uint32) for u, m in sorted(masked.items())}
    for u, m in masked.items():
        result.eps[u] = (float(m.central_eps_spent), float(m.local_eps_spent))
        result.sample_counts[u] = int(m.sample_count)
        result.grid_step = float(m.grid_step)
    try:
        result.total = server.unmask(reveals)
        result.survivors = sorted(u3)
    except SecAggError as exc:
        result.failure = str(exc)
    return result, names


def device_ids_of(reader: RunReader) -> dict[str, int]:
    """Device name -> its secure-aggregation id (the device_id of its hellos)."""
    return {name: int(hellos[-1]["device_id"]) for name, hellos in reader.hellos.items() if hellos}


def recompute_secure_globals(run_dir: str | Path) -> dict[int, np.ndarray]:
    """FedAvg of a secure run recomputed from the recorded frames alone: round -> head after
    that round (unchanged where the record cannot unmask the round, as live)."""
    reader = RunReader(run_dir)
    server_lr = float(reader.config["fleet"]["server_lr"])
    sent, received = round_messages(reader)
    ids = device_ids_of(reader)
    out: dict[int, np.ndarray] = {}
    for round_number in sorted(r for r in sent if r > 0):
        heads = [m for msgs in sent[round_number].values() for m in msgs if isinstance(m, GlobalModel)]
        if not heads:
            continue
        if len({m.params.tobytes() for m in heads}) != 1:
            raise ValueError(f"round {round_number}: devices were sent different heads")
        result, _ = secure_round_from_record(sent, received, ids, round_number)
        out[round_number] = fedavg_secure(heads[0].params, result, server_lr)
    return out
