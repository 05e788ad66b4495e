"""The rollup: flat and cum by subsystem, package and function on synthetic profiles written with the project's
model; root frames give no subsystem its cum; a profile made mostly of kubectl plugin / dashboard code is said not
to be the controller's."""

from __future__ import annotations

import random

import pytest

from kubectl_rollouts_profile.analysis import catalog as cat
from kubectl_rollouts_profile.analysis.rollup import key_function, render_rollup, rollup, stacks
from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType
from tests.test_analysis_catalog import make_profile

AR = "github.com/argoproj/argo-rollouts"


def test_rollup_flat_and_cum_by_subsystem() -> None:
    profile = make_profile([
        (["encoding/json.checkValid", "k8s.io/client-go/rest.Result.Into", f"{AR}/rollout.(*Controller).sync"], 30),
        (["runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"], 50),
        (["main.burnCPU"], 20),
    ])  # fmt: skip
    table = rollup(profile, "subsystem")
    assert table.total == 100
    assert (table.row(cat.GC_MARK).flat, table.row(cat.GC_MARK).cum) == (50, 50)
    assert (table.row(cat.JSON).flat, table.row(cat.JSON).cum) == (30, 30)
    assert (table.row(cat.REST).flat, table.row(cat.REST).cum) == (0, 30)
    assert table.row("other (main)").flat == 20
    assert [row.key for row in table.rows[:2]] == [cat.GC_MARK, cat.JSON]
    assert table.share(cat.GC_MARK) == 0.5
    text = render_rollup(table, title="cpu")
    assert "by subsystem" in text and "Go GC (marking)" in text and "50.00%" in text


def test_rollup_by_package_and_function_and_recursion_counts_once() -> None:
    profile = make_profile([(["a/b.f", "a/b.f", "c.g"], 7), (["c.g"], 3)], "samples", "count")
    by_package = rollup(profile, "package")
    assert (by_package.row("a/b").flat, by_package.row("a/b").cum) == (7, 7)
    assert (by_package.row("c").flat, by_package.row("c").cum) == (3, 10)
    by_function = rollup(profile, "function")
    assert by_function.row("a/b.f").cum == 7  # twice on one stack, counted once


def test_unknown_grouping_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        rollup(make_profile([(["main.f"], 1)]), "file")


def test_empty_profile_rolls_up_to_nothing() -> None:
    table = rollup(make_profile([]), "subsystem")
    assert (table.total, table.rows) == (0, ())
    assert "total 0" in render_rollup(table, title="empty")


def test_root_frames_give_no_subsystem_their_cum() -> None:
    profile = make_profile([
        (["runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker", "runtime.goexit"], 40),
        (["main.burnCPU", "main.main", "runtime.main", "runtime.goexit"], 60),
        (["runtime.mallocgc", "runtime.systemstack", f"{AR}/rollout.(*Controller).syncHandler", "runtime.goexit"], 10),
    ])  # fmt: skip
    table = rollup(profile, "subsystem")
    assert table.row(cat.ROOT) is None
    assert table.row(cat.SCHEDULER) is None  # runtime.goexit is not the scheduler's
    assert table.row(cat.RUNTIME_OTHER) is None  # nor is systemstack the runtime's "other"
    assert table.row(cat.GC_MARK).cum == 40 and table.row("other (main)").cum == 60
    assert table.row(cat.ROLLOUT_RECONCILE).cum == 10
    # by function the roots keep their cum, as in go tool pprof -top
    assert rollup(profile, "function").row("runtime.goexit").cum == 110


def test_a_profile_mostly_of_cli_code_is_not_the_controllers() -> None:
    cli = f"{AR}/pkg/kubectl-argo-rollouts/cmd/get.(*GetOptions).PrintRollout"
    dashboard = f"{AR}/server.(*ArgoRolloutsServer).ListRolloutInfos"
    mostly_cli = make_profile([(["encoding/json.Marshal", dashboard, "runtime.goexit"], 50), ([cli, "main.main"], 30),
                               ([f"{AR}/rollout.(*Controller).syncHandler"], 20)])  # fmt: skip
    for by in ("subsystem", "package", "function"):
        table = rollup(mostly_cli, by)
        assert table.not_controller_share == pytest.approx(0.8) and table.not_controller
    assert "not the controller's" in (rollup(mostly_cli).note() or "")
    controller = make_profile([([cli], 30), ([f"{AR}/rollout.(*Controller).syncHandler"], 70)])
    assert not rollup(controller).not_controller and rollup(controller).note() is None


def _inlined_profile() -> Profile:
    """Random stacks over locations of one to three inlined frames, with recursion, CLI, root frames, zero values
    and an unsymbolized address: the array rollup is checked against a plain reading of its stacks."""
    names = ["runtime.goexit", "runtime.main", "main.main", "runtime.mallocgc", "runtime.scanobject",
             f"{AR}/rollout.(*Controller).syncHandler", f"{AR}/server.(*ArgoRolloutsServer).ListRolloutInfos",
             "k8s.io/client-go/tools/cache.(*Reflector).ListAndWatch", "encoding/json.Marshal",
             "k8s.io/api/apps/v1.(*ReplicaSet).Unmarshal", "github.com/sirupsen/logrus.(*Entry).Logf"]  # fmt: skip
    rng = random.Random(7)
    functions = {i + 1: Function(i + 1, name) for i, name in enumerate(names)}
    locations = {i: Location(i, lines=tuple(Line(rng.randrange(1, len(names) + 1), 1)
                                            for _ in range(rng.choice((1, 1, 2, 3))))) for i in range(1, 40)}
    locations[40] = Location(40, address=0x4A5B6C)
    samples = [tuple(rng.randrange(1, 41) for _ in range(rng.randrange(0, 12))) for _ in range(400)]
    return Profile(sample_types=(ValueType("cpu", "nanoseconds"),), sample_locations=samples,
                   sample_values=[(rng.choice((0, 1, 5, 20)),) for _ in samples], locations=locations,
                   functions=functions)  # fmt: skip


@pytest.mark.parametrize("by", ["subsystem", "package", "function"])
def test_array_rollup_matches_a_plain_reading_of_the_stacks(by: str) -> None:
    profile = _inlined_profile()
    key_of = key_function(by)
    catalog = cat.default_catalog()
    flat: dict[str, int] = {}
    cum: dict[str, int] = {}
    cli = 0
    for stack in stacks(profile):
        keys = {key_of(name) for name in stack.functions}
        if stack.functions:
            leaf = key_of(stack.functions[0])
            flat[leaf] = flat.get(leaf, 0) + stack.value
            if by == "subsystem" and leaf != cat.ROOT:
                keys.discard(cat.ROOT)
        for key in keys:
            cum[key] = cum.get(key, 0) + stack.value
        cli += stack.value if any(catalog.match(name).layer == "cli" for name in stack.functions) else 0
    table = rollup(profile, by)
    assert {row.key: (row.flat, row.cum) for row in table.rows} == {key: (flat.get(key, 0), cum[key]) for key in cum}
    assert table.total == sum(value for (value,) in profile.sample_values)
    assert table.cli == cli


def test_stacks_within_subsystems_are_the_stacks_that_have_them() -> None:
    profile = _inlined_profile()
    every = list(stacks(profile))
    for subsystems in ({cat.INFORMERS}, {cat.DECODING, cat.LOGGING}, {cat.CLI_DASHBOARD}, {"no such subsystem"}):
        having = [stack for stack in every if subsystems & set(cat.default_catalog().subsystems_of(stack.functions))]
        assert list(stacks(profile, within=subsystems)) == having
    assert any(stack.functions == ("0x4a5b6c",) or "0x4a5b6c" in stack.functions for stack in every)
