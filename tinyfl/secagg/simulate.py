"""One secure-aggregation round over in-process clients (the Python reference client or the C
device through ctypes), with dropouts at any step. The server object sees only the messages;
the returned ground truth (each survivor's noised input) is for scoring, never given to it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .client import Policy, ProtocolError
from .server import SecAggServer

__all__ = ["RoundResult", "run_round"]


@dataclass
class RoundResult:
    total: np.ndarray                 # what the server unmasked
    noised: dict[int, np.ndarray]     # ground truth: each survivor's noised input
    u2: list[int]
    u3: list[int]
    refused: list[int]                # devices that refused a step (counted as dropouts)


def run_round(clients: dict, server: SecAggServer, inputs: dict[int, np.ndarray], policy: Policy,
              *, drop_after_keys=(), drop_after_share=(), drop_after_mask=()) -> RoundResult:
    refused: list[int] = []
    keys = {u: c.begin() for u, c in clients.items()}
    neighbours = server.collect_keys({u: k for u, k in keys.items() if u not in drop_after_keys})
    shares = {}
    for u, nbs in neighbours.items():
        try:
            shares[u] = clients[u].share(nbs, server.t)
        except ProtocolError:
            refused.append(u)
    inbox = server.collect_shares({u: s for u, s in shares.items() if u not in drop_after_share})
    ys, noised = {}, {}
    for u, msgs in inbox.items():
        try:
            for sender, cipher in msgs:
                clients[u].receive(sender, cipher)
            x = clients[u].noise(policy, inputs[u])
            alive, cohort = server.alive_for(u)
            ys[u] = clients[u].mask(policy, x, alive, cohort)
            noised[u] = x
        except ProtocolError:
            refused.append(u)
    server.collect_masked({u: y for u, y in ys.items() if u not in drop_after_mask})
    reveals = {}
    for u in server.u3:
        survived, cohort = server.survived_for(u)
        reveals[u] = clients[u].unmask(policy, survived, cohort)
    total = server.unmask(reveals)
    return RoundResult(total, {u: noised[u] for u in server.u3}, server.u2, server.u3, refused)
