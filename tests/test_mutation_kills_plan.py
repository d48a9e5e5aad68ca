"""The C engine's memory plan (firmware_export/cengine/plan.py, main's version) on hand-placed examples
and against a brute-force check on random lifetimes. Kills mutmut's survivors; see docs/MUTATION.md."""

from __future__ import annotations

import numpy as np
import pytest

from edgeml.errors import EdgeMLError
from firmware_export.cengine.plan import (ALIGNMENT_BYTES, Lifetime, MemoryPlan, Placement, liveness_floor,
                                          plan_memory, validate_plan)


def offsets(plan: MemoryPlan) -> dict[int, int]:
    return {p.lifetime.tensor: p.offset for p in plan.placements}


@pytest.mark.parametrize("a, b, overlap", [
    ((0, 1), (1, 2), True),    # op 1 reads a and writes b: both live at op 1
    ((0, 1), (2, 3), False),
    ((2, 3), (0, 1), False),
    ((0, 5), (2, 3), True),
    ((3, 3), (3, 3), True),
    ((0, 2), (3, 4), False),
])
def test_overlap_in_time_is_inclusive_at_both_ends(a, b, overlap):
    first, second = Lifetime(1, 4, *a), Lifetime(2, 4, *b)
    assert first.overlaps_in_time(second) is overlap
    assert second.overlaps_in_time(first) is overlap


def test_placement_end_and_offset_of():
    plan = MemoryPlan((Placement(Lifetime(7, 10, 0, 1), 4), Placement(Lifetime(9, 3, 0, 0), 20)), 23, 13)
    assert [p.end for p in plan.placements] == [14, 23]
    assert (plan.offset_of(7), plan.offset_of(9)) == (4, 20)


def test_liveness_floor_by_hand():
    assert liveness_floor([]) == 0
    lifetimes = [Lifetime(1, 10, 0, 1), Lifetime(2, 6, 1, 2), Lifetime(3, 8, 2, 3), Lifetime(4, 1, 3, 3)]
    # op 0: 10, op 1: 16, op 2: 14, op 3: 9
    assert liveness_floor(lifetimes) == 16
    assert liveness_floor([Lifetime(1, 5, 2, 2)]) == 5  # live only at the last op
    assert liveness_floor([Lifetime(1, 5, 0, 0), Lifetime(2, 7, 0, 0)]) == 12  # both at op 0


def test_the_docstring_example():
    plan = plan_memory([Lifetime(1, 10, 0, 1), Lifetime(2, 6, 1, 2), Lifetime(3, 8, 2, 3)])
    # largest first: 1 at 0; 3 (8) not live with 1 -> 0; 2 (6) live with 1 (0..10) and 3 (0..8) -> aligned 12
    assert offsets(plan) == {1: 0, 3: 0, 2: 12}
    assert (plan.arena_bytes, plan.liveness_floor_bytes) == (18, 16)
    assert [p.lifetime.tensor for p in plan.placements] == [1, 3, 2]


def test_a_tensor_goes_into_a_gap_that_fits_and_not_into_one_that_does_not():
    lifetimes = [Lifetime(1, 16, 0, 4), Lifetime(2, 12, 0, 1), Lifetime(3, 12, 0, 4), Lifetime(4, 8, 2, 4),
                 Lifetime(5, 4, 2, 4)]
    plan = plan_memory(lifetimes, alignment=4)
    # 1 at 0..16; 2 at 16..28; 3 (live with 1, 2) at 28..40; 4 (live with 1, 3; 2 is dead by op 2) fits the
    # gap 16..28 -> 16; 5 (live with 1, 3, 4) : gap 24..28 is exactly 4 bytes -> 24
    assert offsets(plan) == {1: 0, 2: 16, 3: 28, 4: 16, 5: 24}
    assert plan.arena_bytes == 40


def test_offsets_are_aligned_and_ties_break_by_first_op_then_tensor():
    plan = plan_memory([Lifetime(5, 3, 1, 2), Lifetime(4, 3, 1, 2), Lifetime(6, 3, 0, 2)], alignment=8)
    # equal sizes: first_op 0 (tensor 6) first, then tensors 4, 5; each next one at the aligned end
    assert [p.lifetime.tensor for p in plan.placements] == [6, 4, 5]
    assert offsets(plan) == {6: 0, 4: 8, 5: 16}
    assert plan.arena_bytes == 19
    assert ALIGNMENT_BYTES == 4
    assert offsets(plan_memory([Lifetime(1, 5, 0, 1), Lifetime(2, 3, 0, 1)])) == {1: 0, 2: 8}  # default: 4


def test_empty_plan():
    assert plan_memory([]) == MemoryPlan((), 0, 0)


def brute_force_check(lifetimes: list[Lifetime], plan: MemoryPlan, alignment: int) -> None:
    """Independent of plan.py: paint every byte each tensor uses at each op; none may be painted twice."""
    last_op = max(lt.last_op for lt in lifetimes)
    painted = np.zeros((last_op + 1, plan.arena_bytes), dtype=np.int64)
    for placement in plan.placements:
        lt = placement.lifetime
        assert placement.offset % alignment == 0
        painted[lt.first_op:lt.last_op + 1, placement.offset:placement.offset + lt.size_bytes] += 1
    assert painted.max() == 1
    assert plan.arena_bytes == max(p.offset + p.lifetime.size_bytes for p in plan.placements)
    floor = max(sum(lt.size_bytes for lt in lifetimes if lt.first_op <= op <= lt.last_op) for op in range(last_op + 1))
    assert plan.liveness_floor_bytes == floor <= plan.arena_bytes
    assert sorted((p.lifetime for p in plan.placements), key=lambda lt: lt.tensor) == lifetimes  # each once


@pytest.mark.parametrize("seed", range(20))
def test_random_plans_never_share_a_byte_between_live_tensors(seed):
    rng = np.random.default_rng(seed)
    lifetimes = []
    for tensor in range(int(rng.integers(1, 12))):
        first = int(rng.integers(0, 8))
        lifetimes.append(Lifetime(tensor, int(rng.integers(1, 64)), first, first + int(rng.integers(0, 4))))
    alignment = int(rng.choice([1, 4, 16]))
    brute_force_check(lifetimes, plan_memory(lifetimes, alignment=alignment), alignment)


def test_validation_names_the_overlapping_tensors():
    a, b = Lifetime(1, 8, 0, 1), Lifetime(2, 8, 1, 2)
    with pytest.raises(EdgeMLError) as error:
        validate_plan(MemoryPlan((Placement(a, 0), Placement(b, 4)), 12, 16))
    assert str(error.value) == ("memory plan: tensors 1 and 2 are live at the same time and overlap (0..8 and 4..12)")
    with pytest.raises(EdgeMLError) as error:  # second below first
        validate_plan(MemoryPlan((Placement(a, 4), Placement(b, 0)), 12, 16))
    assert str(error.value) == ("memory plan: tensors 1 and 2 are live at the same time and overlap (4..12 and 0..8)")
    validate_plan(MemoryPlan((Placement(a, 0), Placement(b, 8)), 16, 16))  # touching is fine
    validate_plan(MemoryPlan((Placement(b, 8), Placement(a, 0)), 16, 16))
    validate_plan(MemoryPlan((Placement(a, 0), Placement(Lifetime(3, 8, 2, 3), 0)), 8, 8))  # not live together


def test_validation_rejects_a_tensor_outside_the_arena():
    with pytest.raises(EdgeMLError) as error:
        validate_plan(MemoryPlan((Placement(Lifetime(3, 8, 0, 1), 4),), 11, 8))
    assert str(error.value) == "memory plan: tensor 3 at 4..12 lies outside the 11-byte arena"
    with pytest.raises(EdgeMLError) as error:
        validate_plan(MemoryPlan((Placement(Lifetime(3, 8, 0, 1), -1),), 16, 8))
    assert str(error.value) == "memory plan: tensor 3 at -1..7 lies outside the 16-byte arena"
    validate_plan(MemoryPlan((Placement(Lifetime(3, 8, 0, 1), 0),), 8, 8))  # exactly filling it is fine
    # the third tensor is the bad one: every placement is checked, not only the first
    placements = (Placement(Lifetime(1, 4, 0, 0), 0), Placement(Lifetime(2, 4, 1, 1), 0),
                  Placement(Lifetime(3, 4, 2, 2), 2))
    with pytest.raises(EdgeMLError, match="tensor 3 at 2..6 lies outside the 4-byte arena"):
        validate_plan(MemoryPlan(placements, 4, 4))
