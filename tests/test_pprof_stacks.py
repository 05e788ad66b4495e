"""StackTable, function_totals, the flame graph's tree and folded lines held against plain, obviously-correct
references on random profiles: sparse ids, more than 255 distinct frames (two-digit frame codes), deep stacks,
inlined lines, unsymbolized locations, empty stacks, repeated names in different files, negative values."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_rollouts_profile.export.flamegraph import build_tree
from kubectl_rollouts_profile.export.folded import render_folded
from kubectl_rollouts_profile.export.top import function_totals
from kubectl_rollouts_profile.pprof import stacks as stacks_module
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType
from kubectl_rollouts_profile.pprof.stacks import stack_table


@st.composite
def profiles(draw) -> Profile:
    rng = random.Random(draw(st.integers(0, 2**32)))
    function_count = draw(st.sampled_from([1, 3, 40, 300, 700]))
    location_count = draw(st.integers(1, 400))
    sample_count = draw(st.integers(0, 60))
    max_depth = draw(st.sampled_from([1, 5, 30, 300]))
    types = draw(st.integers(1, 3))
    negative = draw(st.booleans())
    function_ids = rng.sample(range(1, 10**6), function_count)  # sparse
    functions = {
        fid: Function(fid, f"pkg{rng.randrange(5)}.F{rng.randrange(function_count // 2 + 1)}",
                      filename=rng.choice(["", "a.go", "b/b.go"]), start_line=rng.choice([0, 7]))
        for fid in function_ids
    }  # fmt: skip
    location_ids = rng.sample(range(1, 10**7), location_count)
    locations = {}
    for lid in location_ids:
        lines = tuple(Line(rng.choice(function_ids), rng.randrange(100)) for _ in range(rng.choice([0, 1, 1, 2, 3])))
        locations[lid] = Location(lid, address=rng.randrange(1, 2**32), lines=lines)
    stacks = [tuple(rng.choice(location_ids) for _ in range(rng.randrange(max_depth + 1))) for _ in range(sample_count)]
    stacks += stacks[: sample_count // 3]  # repeated stacks merge
    low = -1000 if negative else 0
    values = [tuple(rng.choice([0, rng.randint(low, 1000)]) for _ in range(types)) for _ in stacks]
    return Profile(
        sample_types=tuple(ValueType(f"t{i}", "count") for i in range(types)),
        sample_locations=stacks,
        sample_values=values,
        locations=locations,
        functions=functions,
    )


def _frames(profile: Profile, location_id: int) -> list[tuple[str, str, int]]:
    """A location's frames, root first: its inlined lines outermost first, or its address."""
    location = profile.locations[location_id]
    if not location.lines:
        return [(f"0x{location.address:x}", "", 0)]
    return [
        (profile.functions[line.function_id].name, profile.functions[line.function_id].filename,
         profile.functions[line.function_id].start_line)
        for line in reversed(location.lines)
    ]  # fmt: skip


def _reference_stacks(profile: Profile) -> dict[tuple, list[int]]:
    """Each sample's frames root first, summed per identical stack of frames."""
    sums: dict[tuple, list[int]] = {}
    for location_ids, values in zip(profile.sample_locations, profile.sample_values, strict=True):
        stack = tuple(frame for location_id in reversed(location_ids) for frame in _frames(profile, location_id))
        total = sums.setdefault(stack, [0] * len(values))
        for position, value in enumerate(values):
            total[position] += value
    return sums


def _nonzero(totals: dict) -> dict:
    return {key: value for key, value in totals.items() if value}


@settings(max_examples=40, deadline=None)
@given(profiles())
def test_stack_table_equals_the_reference(profile):
    table = stack_table(profile)
    frames = [(frame.name, frame.file, frame.line) for frame in table.frames]
    ours = [(tuple(frames[i] for i in stack), list(values)) for stack, values in zip(table.stacks, table.values,
                                                                                     strict=True)]  # fmt: skip
    assert len(ours) == len(table) == len({stack for stack, _ in ours})  # each stack once
    assert dict(ours) == _reference_stacks(profile)
    # Sorted: frame by frame, a stack before the stacks it is a prefix of.
    stacks = table.stacks
    order = table.sorted_order()
    assert [stacks[i] for i in order] == sorted(stacks)


@settings(max_examples=40, deadline=None)
@given(profiles(), st.data())
def test_function_totals_equal_the_reference(profile, data):
    index = data.draw(st.integers(0, len(profile.sample_types) - 1))
    flat: Counter[str] = Counter()
    cum: Counter[str] = Counter()
    for stack, values in _reference_stacks(profile).items():
        if stack:
            flat[stack[-1][0]] += values[index]
            for name in {frame[0] for frame in stack}:  # a recursive function counts once per stack
                cum[name] += values[index]
    ours_flat, ours_cum = function_totals(profile, index)
    assert _nonzero(ours_flat) == _nonzero(dict(flat))
    assert _nonzero(ours_cum) == _nonzero(dict(cum))


@settings(max_examples=40, deadline=None)
@given(profiles(), st.sampled_from([0.0, 0.01, 0.2]))
def test_flame_graph_nodes_equal_the_reference(profile, threshold):
    table = stack_table(profile)
    frames = [(frame.name, frame.file, frame.line) for frame in table.frames]
    reference = _reference_stacks(profile)
    types = len(profile.sample_types)
    grow: dict[tuple, list[int]] = defaultdict(lambda: [0] * types)
    shrink: dict[tuple, list[int]] = defaultdict(lambda: [0] * types)
    for stack, values in reference.items():
        for depth in range(1, len(stack) + 1):  # every prefix is a node
            for position, value in enumerate(values):
                grow[stack[:depth]][position] += max(value, 0)
                shrink[stack[:depth]][position] += min(value, 0)
    tree = build_tree(table, threshold)
    kept = []
    pending = [(tree.root, ())]
    while pending:
        node, path = pending.pop()
        for child in node.children:
            child_path = (*path, frames[child.frame])
            kept.append(child_path)
            assert child.grow == grow[child_path] and child.shrink == shrink[child_path]
            pending.append((child, child_path))
    assert len(kept) == len(set(kept))
    assert len(kept) + tree.merged_nodes == len(grow)  # every node is kept or counted as merged
    magnitudes = [sum(abs(values[p]) for values in reference.values()) for p in range(types)]
    if threshold == 0.0 and any(magnitudes):
        assert tree.merged_nodes == 0
    for path in kept:  # a kept node reaches the threshold in some sample type
        assert any(grow[path][p] - shrink[path][p] >= threshold * magnitudes[p] for p in range(types) if magnitudes[p])


@settings(max_examples=40, deadline=None)
@given(profiles())
def test_folded_lines_equal_the_reference(profile):
    index = profile.sample_index()
    by_names: Counter[tuple[str, ...]] = Counter()
    for stack, values in _reference_stacks(profile).items():
        if stack:
            by_names[tuple(frame[0] for frame in stack)] += values[index]
    lines = render_folded(profile).splitlines()
    parsed = [(tuple(text.split(";")), int(value)) for text, value in (line.rsplit(" ", 1) for line in lines)]
    assert dict(parsed) == _nonzero(dict(by_names))
    assert len(parsed) == len(dict(parsed))
    assert [names for names, _ in parsed] == sorted(names for names, _ in parsed)


@settings(max_examples=25, deadline=None)
@given(profiles(), st.integers(1, 40))
def test_stacks_expanded_in_small_chunks_equal_the_reference(profile, chunk_ids):
    # Big profiles are expanded a chunk of samples at a time; tiny chunks make every profile here take many.
    with mock.patch.object(stacks_module, "_CHUNK_IDS", chunk_ids):
        table = stack_table(profile)
        flat, cum = function_totals(profile, 0)
    frames = [(frame.name, frame.file, frame.line) for frame in table.frames]
    ours = {tuple(frames[i] for i in stack): list(values) for stack, values in zip(table.stacks, table.values,
                                                                                  strict=True)}  # fmt: skip
    assert ours == _reference_stacks(profile)
    assert (flat, cum) == function_totals(profile, 0)


@given(st.lists(st.lists(st.integers(0, 70000), max_size=6), max_size=30))
def test_stack_keys_round_trip_and_sort_code_by_code(stacks: list[list[int]]) -> None:
    import numpy as np

    from kubectl_rollouts_profile.pprof.stacks import StackKey

    codec = StackKey.for_largest(max((code for stack in stacks for code in stack), default=0))
    flat = np.array([code for stack in stacks for code in stack], dtype=np.int64)
    bounds = np.cumsum([0, *map(len, stacks)])
    keys = codec.encode(codec.stored(flat), bounds)
    assert [codec.decode(key).tolist() for key in keys] == stacks
    # Bytewise order of keys is the order of the stacks compared code by code (a prefix first).
    assert sorted(range(len(keys)), key=keys.__getitem__) == sorted(range(len(stacks)), key=stacks.__getitem__)
    assert all(key != StackKey.EMPTY for key, stack in zip(keys, stacks, strict=True) if stack)
