"""Static memory plan: every activation buffer gets a fixed offset in one arena.

Buffers whose lifetimes (inclusive step ranges) overlap never share bytes; the rest may. The
placement is greedy, largest buffer first, each at the lowest aligned offset that fits between
already placed, time-overlapping buffers (the strategy of TFLM's GreedyMemoryPlanner). It is
deterministic: ties break on the buffer's first use and then its id.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Buffer:
    id: int
    size: int
    first: int  # step that writes it
    last: int  # last step that reads it

    def overlaps(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Plan:
    offsets: dict[int, int]
    arena_bytes: int


def _align(v: int, alignment: int) -> int:
    return (v + alignment - 1) // alignment * alignment


def plan_memory(buffers: list[Buffer], alignment: int = 4) -> Plan:
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.id)):
        conflicts = sorted(
            ((off, off + other.size) for other, off in placed if other.overlaps(buf)),
        )
        offset = 0
        for start, end in conflicts:
            if offset + buf.size <= start:
                break
            offset = max(offset, _align(end, alignment))
        offsets[buf.id] = offset
        placed.append((buf, offset))
    arena = max((off + b.size for b, off in placed), default=0)
    return Plan(offsets=offsets, arena_bytes=_align(arena, alignment))


def check_plan(buffers: list[Buffer], plan: Plan) -> None:
    """Raise if two time-overlapping buffers share a byte (a guard on the planner itself)."""
    for i, a in enumerate(buffers):
        oa = plan.offsets[a.id]
        if oa + a.size > plan.arena_bytes:
            raise AssertionError(f"buffer {a.id} exceeds the arena")
        for b in buffers[i + 1 :]:
            ob = plan.offsets[b.id]
            if a.overlaps(b) and oa < ob + b.size and ob < oa + a.size:
                raise AssertionError(f"buffers {a.id} and {b.id} overlap in time and space")
