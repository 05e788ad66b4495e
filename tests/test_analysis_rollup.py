"""The rollup: flat and cum by subsystem, package and function on synthetic profiles written with the project's
model; root frames give no subsystem its cum; a profile made mostly of kubectl plugin / dashboard code is said not
to be the controller's."""

from __future__ import annotations

import pytest

from kubectl_rollouts_profile.analysis import catalog as cat
from kubectl_rollouts_profile.analysis.rollup import render_rollup, rollup
from kubectl_rollouts_profile.errors import UsageError
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
