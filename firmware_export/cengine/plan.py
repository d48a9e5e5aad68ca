"""The static memory plan: where each activation tensor lives in the arena, decided at export.

A tensor is live from the op that writes it to the last op that reads it (through its aliases);
the graph's input is read from the caller's buffer and the graph's output written into the caller's
buffer, so neither takes arena space. Placement is greedy by size (largest first, each at the lowest
offset that overlaps no already-placed tensor it is live with), the "greedy by size" strategy of
Pisarchyk & Lee, "Efficient Memory Management for Deep Neural Net Inference" (arXiv:2001.03288, 2020),
section 4.3. The liveness floor, the largest total of tensors live at one op, is a lower bound no
plan can beat.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeml.errors import EdgeMLError

ALIGNMENT_BYTES = 4


@dataclass(frozen=True)
class Lifetime:
    """An arena tensor: ``size_bytes``, live from op ``first_op`` to op ``last_op`` (execution order, inclusive)."""

    tensor: int
    size_bytes: int
    first_op: int
    last_op: int

    def overlaps_in_time(self, other: "Lifetime") -> bool:
        return self.first_op <= other.last_op and other.first_op <= self.last_op


@dataclass(frozen=True)
class Placement:
    lifetime: Lifetime
    offset: int

    @property
    def end(self) -> int:
        return self.offset + self.lifetime.size_bytes


@dataclass(frozen=True)
class MemoryPlan:
    placements: tuple[Placement, ...]
    arena_bytes: int
    liveness_floor_bytes: int

    def offset_of(self, tensor: int) -> int:
        return next(p.offset for p in self.placements if p.lifetime.tensor == tensor)


def liveness_floor(lifetimes: list[Lifetime]) -> int:
    """The largest sum of sizes of tensors live at the same op."""
    if not lifetimes:
        return 0
    last = max(lifetime.last_op for lifetime in lifetimes)
    return max(sum(lt.size_bytes for lt in lifetimes if lt.first_op <= op <= lt.last_op) for op in range(last + 1))


def plan_memory(lifetimes: list[Lifetime], alignment: int = ALIGNMENT_BYTES) -> MemoryPlan:
    """Greedy-by-size placement of ``lifetimes``; offsets are multiples of ``alignment``.

    >>> plan = plan_memory([Lifetime(1, 10, 0, 1), Lifetime(2, 6, 1, 2), Lifetime(3, 8, 2, 3)])
    >>> [(p.lifetime.tensor, p.offset) for p in plan.placements], plan.arena_bytes, plan.liveness_floor_bytes
    ([(1, 0), (3, 0), (2, 12)], 18, 16)
    """
    placed: list[Placement] = []
    for lifetime in sorted(lifetimes, key=lambda lt: (-lt.size_bytes, lt.first_op, lt.tensor)):
        offset = 0
        for other in sorted((p for p in placed if p.lifetime.overlaps_in_time(lifetime)), key=lambda p: p.offset):
            if offset + lifetime.size_bytes <= other.offset:
                break  # fits in the gap before ``other``
            offset = max(offset, _aligned(other.end, alignment))
        placed.append(Placement(lifetime, offset))
    plan = MemoryPlan(tuple(placed), max((p.end for p in placed), default=0), liveness_floor(lifetimes))
    validate_plan(plan)
    return plan


def validate_plan(plan: MemoryPlan) -> None:
    """Prove that no two tensors live at the same time share a byte, and all lie inside the arena."""
    for index, first in enumerate(plan.placements):
        if first.offset < 0 or first.end > plan.arena_bytes:
            raise EdgeMLError(f"memory plan: tensor {first.lifetime.tensor} at {first.offset}..{first.end} lies "
                              f"outside the {plan.arena_bytes}-byte arena")
        for second in plan.placements[index + 1:]:
            if (first.lifetime.overlaps_in_time(second.lifetime) and first.offset < second.end
                    and second.offset < first.end):
                raise EdgeMLError(
                    f"memory plan: tensors {first.lifetime.tensor} and {second.lifetime.tensor} are live at the "
                    f"same time and overlap ({first.offset}..{first.end} and {second.offset}..{second.end})")


def _aligned(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment
