"""Folded stacks: one ``root;...;leaf value`` line per distinct stack, values summing to the profile's total."""

from __future__ import annotations

from kubectl_rollouts_profile.export import render
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType


def _profile() -> Profile:
    functions = {1: Function(1, "main.main"), 2: Function(2, "main.a;b"), 3: Function(3, "main.inl")}
    return Profile(
        sample_types=(ValueType("alloc_space", "bytes"), ValueType("inuse_space", "bytes")),
        sample_locations=((2, 1), (3, 1), (2, 1), (1,)),
        sample_values=((10, 1), (5, 0), (7, 2), (0, 4)),
        sample_labels=((),) * 4,
        locations={
            1: Location(1, lines=(Line(1, 3),)),
            2: Location(2, lines=(Line(2, 9),)),
            3: Location(3, lines=(Line(3, 1), Line(2, 8))),  # main.inl inlined into main.a;b
        },
        functions=functions,
    )


def test_folded_lines_merge_identical_stacks_and_expand_inlining():
    text = render(_profile(), "folded", title="t", sample_index="alloc_space").decode()
    assert text.splitlines() == ["main.main;main.a:b 17", "main.main;main.a:b;main.inl 5"]


def test_folded_default_type_and_total():
    text = render(_profile(), "folded", title="t").decode()
    assert sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()) == _profile().total("inuse_space")
    assert "main.main 4" in text.splitlines()


def test_folded_of_a_sample_less_profile_is_empty():
    assert render(Profile(sample_types=(ValueType("samples", "count"),)), "folded", title="t") == b""
